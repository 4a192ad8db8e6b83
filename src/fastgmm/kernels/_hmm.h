/* Per-sequence forward-backward and Viterbi of a hidden Markov model, for
 * fastgmm/kernels/_hmm.pyx (which validates, schedules the sequences over
 * threads and reduces the statistics in a fixed order).
 *
 * K states; a sequence is T consecutive rows of x (T x K, row-major), the
 * emission log-densities log p(x_t | k). The model (fastgmm_hmm) carries the
 * transition matrix A (rows = from-state) and its transpose as probabilities
 * and as logs, and the start probabilities both ways.
 *
 * The scaled recursion (fastgmm_hmm_scaled) works in probabilities relative
 * to each frame's largest emission, e_t(k) = exp(x_tk - m_t): alpha and beta
 * are kept in range by rescaling (beta by its own sum, not by c_{t+1}: then it
 * cannot overflow), and gamma_t = alpha_t beta_t and xi_t = alpha_t(i) A_ij
 * e_{t+1}(j) beta_{t+1}(j) are each divided by their own total, so no exp or
 * log runs in a K x K loop. Its only failure is underflow: a value that
 * should be small but nonzero read as 0 or as a subnormal. Every such loss is
 * at most a few subnormal ulps (~1e-323) relative to the sum of the vector it
 * is in, so it matters only relative to c_t (the probability of frame t's
 * emissions given the past, in units of the best emission) or to the
 * agreement between past and future, sum_i alpha_t(i) beta_t(i) with both
 * summing to 1 (and, in the backward direction, to s_t, the counterpart of
 * c_t: beta_t's sum before rescaling, relative to beta_{t+1}'s; the other
 * two tests nearly always fire first, but this one bounds the error of
 * beta_t itself). The scaled recursion therefore gives up, and the caller
 * redoes the sequence in log space, when any of them falls below
 * FASTGMM_HMM_THETA (1e-120): the error left is then below ~K 1e-323 /
 * 1e-240, far under the 1e-16 of ordinary rounding. The second test is needed: a state whose
 * forward probability underflowed long ago can be the one the future demands
 * (two states that never switch, the first favoured by the first half of the
 * data, the second by the second half), and no c_t is small then
 * (tests/test_hmm_kernel.py has that case).
 *
 * The log-space recursion (fastgmm_hmm_logspace) never underflows (the log of
 * a sum is its largest term's log plus log(1 + the rest)); it costs K^2 exps
 * per frame in each direction and for xi, and decides exactly which
 * sequences are impossible (every path has a -inf term).
 *
 * Speed: for K <= 16 the scaled recursion and the Viterbi run on vectors of
 * 4 states (GCC vector extensions, fastgmm_hmm_scaled_v), with the number of
 * vectors (and, for the scaled recursion, K) a compile-time constant and the
 * frame-to-frame chain of dependent operations kept short; a sequence of up
 * to FASTGMM_HMM_KEEP_E frames keeps its exponentiated emissions for the
 * backward pass (longer ones recompute them a block at a time); larger K (and compilers without vector extensions)
 * run plain loops over K (fastgmm_hmm_scaled_k). The exps of the emissions
 * run a block of frames at a time, in one flat loop that vectorises. Every
 * sum has a fixed order and the build contracts nothing into fused
 * multiply-adds, so the baseline, AVX2 and AVX-512 versions (FASTGMM_CLONES)
 * give bitwise identical results; nothing depends on the thread that runs a
 * sequence.
 */
#ifndef FASTGMM_HMM_H
#define FASTGMM_HMM_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "_fastexp.h"

#define FASTGMM_HMM_OK 0
#define FASTGMM_HMM_LOG 1          /* the scaled recursion lost accuracy: redo in log space */
#define FASTGMM_HMM_IMPOSSIBLE 2   /* every path has probability 0 */
#define FASTGMM_HMM_BAD 3          /* NaN or +inf among the emissions */

#define FASTGMM_HMM_THETA 1e-120

#if defined(_MSC_VER) || defined(__cplusplus)
#define FASTGMM_HMM_RESTRICT __restrict
#else
#define FASTGMM_HMM_RESTRICT restrict
#endif

typedef struct {
    ptrdiff_t K;
    const double *A;      /* K x K, A[i K + j] = P(j | i) */
    const double *AT;     /* its transpose */
    const double *LA;     /* log A (may hold -inf) */
    const double *LAT;    /* its transpose */
    const double *pi;     /* K start probabilities */
    const double *lpi;    /* their logs */
    /* The same padded to KP = 4 ceil(K / 4) columns for the vector code
     * (K <= FASTGMM_HMM_KMAX): A and its transpose (KP x KP, zeros beyond K),
     * log A (-inf beyond K), pi (KP, zeros beyond K). */
    ptrdiff_t KP;
    const double *Ap;
    const double *ATp;
    const double *LAp;
    const double *pip;
} fastgmm_hmm;

/* One thread's scratch: a is T_max x KP, m T_max, v0..v3 K, kk and xi K x K, eb 64 x KP, e
 * min(T_max, FASTGMM_HMM_KEEP_E) x KP (K <= FASTGMM_HMM_KMAX; may be NULL). */
typedef struct {
    double *a;
    double *m;
    double *v0, *v1, *v2, *v3;
    double *kk;
    double *xi;           /* out: the sequence's sum of xi_t (when asked for) */
    double *eb;           /* FASTGMM_HMM_BLOCK x KP */
    double *e;            /* the e_t of a sequence of up to FASTGMM_HMM_KEEP_E frames, kept for the backward pass */
} fastgmm_hmm_work;

/* Sequences of up to this many frames keep their e_t = exp(x_t - m_t) from
 * the forward pass for the backward one (in w->e, at most 2 MB at K = 16,
 * cache-resident for the usual lengths) instead of computing them again
 * (10% of the instructions at K = 4..8); longer ones recompute them a block
 * at a time, so that the scratch does not double for one long sequence. */
#define FASTGMM_HMM_KEEP_E 16384

/* The per-sequence recursions for up to FASTGMM_HMM_KMAX states are
 * written with GCC's vector extensions on vectors of 4 doubles (compiled to
 * one AVX2 or AVX-512 instruction, or two SSE2 ones), inlined into a
 * dispatcher that calls them with the number of vectors NB = ceil(K / 4) a
 * compile-time constant. Written as plain loops over K states (kept below
 * for larger K and other compilers) gcc vectorised none of the K x K loops
 * at K = 8, and with K known only at run time each inner loop carried its
 * vector prologue, epilogue and alias checks: both cost more than the
 * arithmetic. */
#if defined(__GNUC__) || defined(__clang__)
#define FASTGMM_HMM_BODY static inline __attribute__((always_inline))
/* Every call inside the dispatchers inlined, _fastexp.h's exp included:
 * left to its heuristics, gcc stopped inlining that exp into these large
 * functions in the extension build, and the exp loops became scalar calls
 * (twice the time per frame at K = 8). */
#define FASTGMM_HMM_FLATTEN __attribute__((flatten))
#define FASTGMM_HMM_VECTORS 1
typedef double fastgmm_hmm_v4 __attribute__((vector_size(32)));
typedef int64_t fastgmm_hmm_v4i __attribute__((vector_size(32)));
FASTGMM_HMM_BODY fastgmm_hmm_v4 fastgmm_hmm_v4_load(const double *p)
{
    fastgmm_hmm_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
FASTGMM_HMM_BODY void fastgmm_hmm_v4_store(double *p, fastgmm_hmm_v4 v) { memcpy(p, &v, sizeof v); }
FASTGMM_HMM_BODY fastgmm_hmm_v4 fastgmm_hmm_v4_zero(void)
{
    fastgmm_hmm_v4 v = {0.0, 0.0, 0.0, 0.0};
    return v;
}
/* The sum of NB vectors' lanes in a fixed order. */
FASTGMM_HMM_BODY double fastgmm_hmm_hsum(const fastgmm_hmm_v4 *v, int NB)
{
    fastgmm_hmm_v4 s = v[0];
    for (int q = 1; q < NB; q++)
        s += v[q];
    return (s[0] + s[2]) + (s[1] + s[3]);
}
#define FASTGMM_HMM_DISPATCH(VCALL, KCALL)                                     \
    switch ((h->K + 3) / 4) {                                                  \
    case 1: return VCALL(1);                                                   \
    case 2: return VCALL(2);                                                   \
    case 3: return VCALL(3);                                                   \
    case 4: return VCALL(4);                                                   \
    default: return KCALL(h->K);                                               \
    }
/* The scaled recursion's dispatch: K itself a compile-time constant too, so
 * that the per-frame loops over the K states of a row (its largest value,
 * the shifted copy, the output) unroll instead of running as scalar loops of
 * unknown length (at K = 4 they were a third of its instructions). */
#define FASTGMM_HMM_DISPATCH_K(VCALL, KCALL)                                   \
    switch (h->K) {                                                            \
    case 1: return VCALL(1, 1);                                                \
    case 2: return VCALL(1, 2);                                                \
    case 3: return VCALL(1, 3);                                                \
    case 4: return VCALL(1, 4);                                                \
    case 5: return VCALL(2, 5);                                                \
    case 6: return VCALL(2, 6);                                                \
    case 7: return VCALL(2, 7);                                                \
    case 8: return VCALL(2, 8);                                                \
    case 9: return VCALL(3, 9);                                                \
    case 10: return VCALL(3, 10);                                              \
    case 11: return VCALL(3, 11);                                              \
    case 12: return VCALL(3, 12);                                              \
    case 13: return VCALL(4, 13);                                              \
    case 14: return VCALL(4, 14);                                              \
    case 15: return VCALL(4, 15);                                              \
    case 16: return VCALL(4, 16);                                              \
    default: return KCALL(h->K);                                               \
    }
#else
#define FASTGMM_HMM_BODY static inline
#define FASTGMM_HMM_FLATTEN
#define FASTGMM_HMM_VECTORS 0
#define FASTGMM_HMM_DISPATCH(VCALL, KCALL) return KCALL(h->K);
#define FASTGMM_HMM_DISPATCH_K(VCALL, KCALL) return KCALL(h->K);
#endif

/* The largest K the vector code takes. */
#define FASTGMM_HMM_KMAX 16

/* Frames per block of exps (see fastgmm_hmm_scaled_k). */
#define FASTGMM_HMM_BLOCK 64

/* v[i] = exp(v[i]) for n values <= 0 (a flat loop: it vectorises, table reads as gathers). */
FASTGMM_HMM_BODY void fastgmm_hmm_exp_inplace(double *FASTGMM_HMM_RESTRICT v, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++)
        v[i] = fastgmm_exp_nonpos(v[i]);
}

/* Sum of n values in a fixed order: 4 interleaved partial sums, then a fixed tree. */
FASTGMM_HMM_BODY double fastgmm_hmm_sum(const double *v, ptrdiff_t n)
{
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    ptrdiff_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (ptrdiff_t j = 0; j < 4; j++)
            acc[j] += v[i + j];
    for (ptrdiff_t j = 0; i + j < n; j++)
        acc[j] += v[i + j];
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);
}

/* The row's largest value; *nbad gets the number of NaN and +inf entries. */
FASTGMM_HMM_BODY double fastgmm_hmm_rowmax(const double *row, ptrdiff_t K, ptrdiff_t *nbad)
{
    double m = -INFINITY;
    ptrdiff_t bad = 0;
    for (ptrdiff_t k = 0; k < K; k++) {
        double v = row[k];
        m = v > m ? v : m;
        bad += !(v <= DBL_MAX);
    }
    *nbad = bad;
    return m;
}

/* Scaled forward-backward of one sequence (T >= 1). On FASTGMM_HMM_OK, x
 * holds the posteriors gamma, *ll the log-likelihood and (want_xi) w->xi the
 * sum over t of xi_t. On any other status x is untouched; with
 * FASTGMM_HMM_BAD, *bad is the offending row. */
FASTGMM_HMM_BODY int
fastgmm_hmm_scaled_k(const fastgmm_hmm *h, double *FASTGMM_HMM_RESTRICT x, ptrdiff_t T,
                     const fastgmm_hmm_work *w, int want_xi, double *ll, ptrdiff_t *bad, const ptrdiff_t K)
{
    const double *FASTGMM_HMM_RESTRICT A = h->A;
    const double *FASTGMM_HMM_RESTRICT AT = h->AT;
    double *FASTGMM_HMM_RESTRICT a = w->a;
    double *FASTGMM_HMM_RESTRICT mrow = w->m;
    double *FASTGMM_HMM_RESTRICT eb = w->eb;
    double *FASTGMM_HMM_RESTRICT u = w->v0;
    double *FASTGMM_HMM_RESTRICT e = w->v1;
    double *FASTGMM_HMM_RESTRICT beta = w->v2;
    double *FASTGMM_HMM_RESTRICT b = w->v3;
    double *FASTGMM_HMM_RESTRICT xi = w->xi;
    double msum = 0.0, logc = 0.0, prod = 1.0;

    /* Forward, FASTGMM_HMM_BLOCK frames at a time: first the block's e_t
     * (into its rows of the scratch, one flat loop of exps that vectorises;
     * inside the recursion, K exps at a time did not), then the recursion,
     * which overwrites e_t by alpha_t. */
    for (ptrdiff_t t0 = 0; t0 < T; t0 += FASTGMM_HMM_BLOCK) {
        const ptrdiff_t t1 = T - t0 < FASTGMM_HMM_BLOCK ? T : t0 + FASTGMM_HMM_BLOCK;
        for (ptrdiff_t t = t0; t < t1; t++) {
            const double *FASTGMM_HMM_RESTRICT row = x + t * K;
            ptrdiff_t nbad;
            double m = fastgmm_hmm_rowmax(row, K, &nbad);
            if (nbad) {
                *bad = t;
                return FASTGMM_HMM_BAD;
            }
            if (m == -INFINITY)
                return FASTGMM_HMM_IMPOSSIBLE;    /* no state can emit this frame */
            mrow[t] = m;
            msum += m;
            for (ptrdiff_t k = 0; k < K; k++)
                a[t * K + k] = row[k] - m;
        }
        fastgmm_hmm_exp_inplace(a + t0 * K, (t1 - t0) * K);
        for (ptrdiff_t t = t0; t < t1; t++) {
            double *FASTGMM_HMM_RESTRICT at = a + t * K;
            if (t == 0) {
                for (ptrdiff_t k = 0; k < K; k++)
                    u[k] = h->pi[k] * at[k];
            } else {
                const double *FASTGMM_HMM_RESTRICT ap = at - K;
                for (ptrdiff_t j = 0; j < K; j++)
                    u[j] = 0.0;
                for (ptrdiff_t i = 0; i < K; i++) {
                    const double ai = ap[i];
                    const double *FASTGMM_HMM_RESTRICT Ai = A + i * K;
                    for (ptrdiff_t j = 0; j < K; j++)
                        u[j] += ai * Ai[j];
                }
                for (ptrdiff_t j = 0; j < K; j++)
                    u[j] *= at[j];
            }
            double c = fastgmm_hmm_sum(u, K);
            if (!(c >= FASTGMM_HMM_THETA && c <= 1.0 / FASTGMM_HMM_THETA))
                return FASTGMM_HMM_LOG;
            const double r = 1.0 / c;
            for (ptrdiff_t k = 0; k < K; k++)
                at[k] = u[k] * r;
            /* log of the product of the c_t, one log per 32 frames; the
             * product stays in [1e-270, 1e270] (c_t is in [THETA, 1 / THETA]). */
            prod *= c;
            if ((t & 31) == 31 || prod < 1e-150 || prod > 1e150) {
                logc += log(prod);
                prod = 1.0;
            }
        }
    }
    logc += log(prod);

    /* Backward. beta_{T-1} = 1; at step t, b = A (e_{t+1} beta_{t+1}) is
     * beta_t before normalisation, Z = alpha_t . b normalises gamma_t and
     * xi_t, and s = sum b normalises beta_t. gamma_t overwrites alpha_t in
     * the scratch once xi_t no longer needs it. The e_{t+1} are computed
     * again, a block of frames f = t + 1 in [f0, f1] at a time, into eb. */
    for (ptrdiff_t k = 0; k < K; k++)
        beta[k] = 1.0;
    if (want_xi)
        memset(xi, 0, (size_t) (K * K) * sizeof(double));
    {
        double *FASTGMM_HMM_RESTRICT at = a + (T - 1) * K;
        const double Z = fastgmm_hmm_sum(at, K);
        const double rz = 1.0 / Z;
        for (ptrdiff_t k = 0; k < K; k++)
            at[k] = at[k] * rz;
    }
    for (ptrdiff_t f1 = T - 1; f1 >= 1; f1 -= FASTGMM_HMM_BLOCK) {
        const ptrdiff_t f0 = f1 - FASTGMM_HMM_BLOCK + 1 < 1 ? 1 : f1 - FASTGMM_HMM_BLOCK + 1;
        for (ptrdiff_t f = f0; f <= f1; f++) {
            const double m = mrow[f];
            for (ptrdiff_t k = 0; k < K; k++)
                eb[(f - f0) * K + k] = x[f * K + k] - m;
        }
        fastgmm_hmm_exp_inplace(eb, (f1 - f0 + 1) * K);
        for (ptrdiff_t t = f1 - 1; t >= f0 - 1; t--) {
            const double *FASTGMM_HMM_RESTRICT et = eb + (t + 1 - f0) * K;
            double *FASTGMM_HMM_RESTRICT at = a + t * K;
            const double Sb = fastgmm_hmm_sum(beta, K);
            for (ptrdiff_t j = 0; j < K; j++)
                e[j] = et[j] * beta[j];
            for (ptrdiff_t i = 0; i < K; i++)
                b[i] = 0.0;
            for (ptrdiff_t j = 0; j < K; j++) {
                const double ej = e[j];
                const double *FASTGMM_HMM_RESTRICT ATj = AT + j * K;
                for (ptrdiff_t i = 0; i < K; i++)
                    b[i] += ATj[i] * ej;
            }
            for (ptrdiff_t i = 0; i < K; i++)
                u[i] = at[i] * b[i];
            const double Z = fastgmm_hmm_sum(u, K);
            const double s = fastgmm_hmm_sum(b, K);
            if (!(Z > 0.0 && Z >= FASTGMM_HMM_THETA * s && s >= FASTGMM_HMM_THETA * Sb
                  && s <= 1.0 / FASTGMM_HMM_THETA))
                return FASTGMM_HMM_LOG;
            const double rz = 1.0 / Z;
            if (want_xi) {
                for (ptrdiff_t j = 0; j < K; j++)
                    e[j] *= rz;
                for (ptrdiff_t i = 0; i < K; i++) {
                    const double ai = at[i];
                    const double *FASTGMM_HMM_RESTRICT Ai = A + i * K;
                    double *FASTGMM_HMM_RESTRICT xii = xi + i * K;
                    for (ptrdiff_t j = 0; j < K; j++)
                        xii[j] += ai * (Ai[j] * e[j]);
                }
            }
            for (ptrdiff_t i = 0; i < K; i++)
                at[i] = u[i] * rz;
            const double rs = 1.0 / s;
            for (ptrdiff_t i = 0; i < K; i++)
                beta[i] = b[i] * rs;
        }
    }
    memcpy(x, a, (size_t) (T * K) * sizeof(double));
    *ll = msum + logc;
    return FASTGMM_HMM_OK;
}

#if FASTGMM_HMM_VECTORS
/* 2^-e for the exponent e of c > 0, a normal number: multiplying by it is
 * exact and leaves c's significand, in [1, 2). *e_sum += e. */
FASTGMM_HMM_BODY double fastgmm_hmm_pow2_scale(double c, int64_t *e_sum)
{
    uint64_t bits;
    memcpy(&bits, &c, sizeof bits);
    const int64_t biased = (int64_t) ((bits >> 52) & 0x7ff);
    *e_sum += biased - 1023;
    const uint64_t sbits = (uint64_t) (2046 - biased) << 52;
    double r;
    memcpy(&r, &sbits, sizeof r);
    return r;
}

/* The scaled recursion for K <= FASTGMM_HMM_KMAX, on NB vectors of 4 states
 * (K padded to KP = 4 NB with states that have probability 0 throughout: the
 * padded A, pi and emissions are 0, so the padded lanes stay 0 and add
 * nothing); K-vectors and xi's sum live in registers or on the stack.
 *
 * The same recursion and the same two tests as fastgmm_hmm_scaled_k, with
 * the chain of dependent operations from one frame to the next (which is
 * what limits it at small K) made short: alpha and beta are not normalised
 * every frame but rescaled, by the exact power of 2 that brings their sum
 * into [1, 2), only when that sum leaves [2^-64, 2^64] (a branch the CPU
 * predicts; the log-likelihood adds the exponents). The tests use the sums
 * instead: c_t >= THETA S_{t-1} (S the sum of the unnormalised alpha) and Z
 * >= THETA S_t s; a rescaled value stays far above the subnormals, so the
 * error analysis is unchanged. The sums over states run as two interleaved
 * halves (two chains of K/2 additions, not one of K). */
#define FASTGMM_HMM_LO 0x1p-64
#define FASTGMM_HMM_HI 0x1p64
FASTGMM_HMM_BODY int
fastgmm_hmm_scaled_v(const fastgmm_hmm *h, double *FASTGMM_HMM_RESTRICT x, ptrdiff_t T,
                     const fastgmm_hmm_work *w, int want_xi, double *ll, ptrdiff_t *bad, const int NB,
                     const ptrdiff_t K)
{
    const ptrdiff_t KP = 4 * NB;
    const double *FASTGMM_HMM_RESTRICT Ap = h->Ap;
    const double *FASTGMM_HMM_RESTRICT ATp = h->ATp;
    double *FASTGMM_HMM_RESTRICT a = w->a;
    double *FASTGMM_HMM_RESTRICT mrow = w->m;
    double *FASTGMM_HMM_RESTRICT eb = w->eb;
    fastgmm_hmm_v4 u[4], u1[4], beta[4], b[4], b1[4], ev[4], al[4];
    fastgmm_hmm_v4 xi[FASTGMM_HMM_KMAX * 4];
    double msum = 0.0, S = 1.0;
    int64_t e_sum = 0, e_unused = 0;
    /* where the forward pass puts e_t: the kept array, or alpha's row (which it overwrites) */
    const int keep_e = w->e != NULL && T <= FASTGMM_HMM_KEEP_E;
    double *ek = keep_e ? w->e : a;

    for (ptrdiff_t t0 = 0; t0 < T; t0 += FASTGMM_HMM_BLOCK) {
        const ptrdiff_t t1 = T - t0 < FASTGMM_HMM_BLOCK ? T : t0 + FASTGMM_HMM_BLOCK;
        for (ptrdiff_t t = t0; t < t1; t++) {
            const double *FASTGMM_HMM_RESTRICT row = x + t * K;
            ptrdiff_t nbad;
            double m = fastgmm_hmm_rowmax(row, K, &nbad);
            if (nbad) {
                *bad = t;
                return FASTGMM_HMM_BAD;
            }
            if (m == -INFINITY)
                return FASTGMM_HMM_IMPOSSIBLE;
            mrow[t] = m;
            msum += m;
            for (ptrdiff_t k = 0; k < K; k++)
                ek[t * KP + k] = row[k] - m;
            for (ptrdiff_t k = K; k < KP; k++)
                ek[t * KP + k] = -INFINITY;
        }
        fastgmm_hmm_exp_inplace(ek + t0 * KP, (t1 - t0) * KP);
        for (ptrdiff_t t = t0; t < t1; t++) {
            double *at = a + t * KP;
            const double *et = ek + t * KP;
            if (t == 0) {
                for (int q = 0; q < NB; q++)
                    u[q] = fastgmm_hmm_v4_load(h->pip + 4 * q) * fastgmm_hmm_v4_load(et + 4 * q);
            } else {
                /* over all KP rows, a compile-time count: the loop unrolls and
                 * alpha_{t-1}(i) comes from a register lane (padded rows add
                 * 0 * 0 = +0, which changes nothing) */
                for (int q = 0; q < NB; q++) {
                    u[q] = fastgmm_hmm_v4_zero();
                    u1[q] = fastgmm_hmm_v4_zero();
                }
                for (ptrdiff_t i = 0; i < KP; i += 2) {
                    const double a0 = al[i >> 2][i & 3], a1 = al[(i + 1) >> 2][(i + 1) & 3];
                    for (int q = 0; q < NB; q++) {
                        u[q] += a0 * fastgmm_hmm_v4_load(Ap + i * KP + 4 * q);
                        u1[q] += a1 * fastgmm_hmm_v4_load(Ap + (i + 1) * KP + 4 * q);
                    }
                }
                for (int q = 0; q < NB; q++)
                    u[q] = (u[q] + u1[q]) * fastgmm_hmm_v4_load(et + 4 * q);
            }
            double c = fastgmm_hmm_hsum(u, NB);
            if (!(c >= FASTGMM_HMM_THETA * S && c <= S / FASTGMM_HMM_THETA))
                return FASTGMM_HMM_LOG;
            if (c < FASTGMM_HMM_LO || c > FASTGMM_HMM_HI) {
                const double r = fastgmm_hmm_pow2_scale(c, &e_sum);
                c *= r;
                for (int q = 0; q < NB; q++)
                    u[q] *= r;
            }
            S = c;
            for (int q = 0; q < NB; q++) {
                al[q] = u[q];
                fastgmm_hmm_v4_store(at + 4 * q, al[q]);
            }
        }
    }

    for (int q = 0; q < NB; q++)
        beta[q] = fastgmm_hmm_v4_zero() + 1.0;
    if (want_xi)
        for (ptrdiff_t i = 0; i < KP * NB; i++)
            xi[i] = fastgmm_hmm_v4_zero();
    {
        /* the log-likelihood, and gamma_{T-1} = alpha_{T-1} normalised */
        double *FASTGMM_HMM_RESTRICT at = a + (T - 1) * KP;
        for (int q = 0; q < NB; q++)
            u[q] = fastgmm_hmm_v4_load(at + 4 * q);
        const double Z = fastgmm_hmm_hsum(u, NB);
        *ll = msum + ((double) e_sum * 0.69314718055994530942 + log(Z));
        const double rz = 1.0 / Z;
        for (int q = 0; q < NB; q++)
            fastgmm_hmm_v4_store(at + 4 * q, u[q] * rz);
    }
    for (ptrdiff_t f1 = T - 1; f1 >= 1; f1 -= FASTGMM_HMM_BLOCK) {
        const ptrdiff_t f0 = f1 - FASTGMM_HMM_BLOCK + 1 < 1 ? 1 : f1 - FASTGMM_HMM_BLOCK + 1;
        /* e_f for the frames f = t + 1 in [f0, f1]: kept, or computed again into eb */
        const double *eblock = keep_e ? ek + f0 * KP : eb;
        if (!keep_e) {
            for (ptrdiff_t f = f0; f <= f1; f++) {
                const double m = mrow[f];
                for (ptrdiff_t k = 0; k < K; k++)
                    eb[(f - f0) * KP + k] = x[f * K + k] - m;
                for (ptrdiff_t k = K; k < KP; k++)
                    eb[(f - f0) * KP + k] = -INFINITY;
            }
            fastgmm_hmm_exp_inplace(eb, (f1 - f0 + 1) * KP);
        }
        for (ptrdiff_t t = f1 - 1; t >= f0 - 1; t--) {
            const double *FASTGMM_HMM_RESTRICT et = eblock + (t + 1 - f0) * KP;
            double *FASTGMM_HMM_RESTRICT at = a + t * KP;
            const double Sb = fastgmm_hmm_hsum(beta, NB);
            for (int q = 0; q < NB; q++) {
                ev[q] = fastgmm_hmm_v4_load(et + 4 * q) * beta[q];
                b[q] = fastgmm_hmm_v4_zero();
                b1[q] = fastgmm_hmm_v4_zero();
            }
            for (ptrdiff_t j = 0; j < KP; j += 2) {
                const double e0 = ev[j >> 2][j & 3], e1 = ev[(j + 1) >> 2][(j + 1) & 3];
                for (int q = 0; q < NB; q++) {
                    b[q] += fastgmm_hmm_v4_load(ATp + j * KP + 4 * q) * e0;
                    b1[q] += fastgmm_hmm_v4_load(ATp + (j + 1) * KP + 4 * q) * e1;
                }
            }
            for (int q = 0; q < NB; q++) {
                b[q] += b1[q];
                al[q] = fastgmm_hmm_v4_load(at + 4 * q);
                u[q] = al[q] * b[q];
            }
            const double Z = fastgmm_hmm_hsum(u, NB);
            const double s = fastgmm_hmm_hsum(b, NB);
            const double Sa = fastgmm_hmm_hsum(al, NB);
            if (!(Z > 0.0 && Z >= (FASTGMM_HMM_THETA * Sa) * s && s >= FASTGMM_HMM_THETA * Sb
                  && s <= 1.0 / FASTGMM_HMM_THETA))
                return FASTGMM_HMM_LOG;
            if (s < FASTGMM_HMM_LO || s > FASTGMM_HMM_HI) {
                const double rs = fastgmm_hmm_pow2_scale(s, &e_unused);
                for (int q = 0; q < NB; q++)
                    beta[q] = b[q] * rs;
            } else {
                for (int q = 0; q < NB; q++)
                    beta[q] = b[q];
            }
            const double rz = 1.0 / Z;
            if (want_xi) {
                for (int q = 0; q < NB; q++)
                    ev[q] *= rz;
                /* all KP rows (a constant count, the loop unrolls): the padded
                 * ones add +0 to rows never read */
                for (ptrdiff_t i = 0; i < KP; i++) {
                    const double ai = al[i >> 2][i & 3];
                    for (int q = 0; q < NB; q++)
                        xi[i * NB + q] += ai * (fastgmm_hmm_v4_load(Ap + i * KP + 4 * q) * ev[q]);
                }
            }
            for (int q = 0; q < NB; q++)
                fastgmm_hmm_v4_store(at + 4 * q, u[q] * rz);
        }
    }
    if (KP == K) {
        memcpy(x, a, (size_t) (T * K) * sizeof(double));
    } else {
        for (ptrdiff_t t = 0; t < T; t++)
            for (ptrdiff_t k = 0; k < K; k++)
                x[t * K + k] = a[t * KP + k];
    }
    if (want_xi)
        for (ptrdiff_t i = 0; i < K; i++)
            for (ptrdiff_t j = 0; j < K; j++)
                w->xi[i * K + j] = xi[i * NB + (j >> 2)][j & 3];
    return FASTGMM_HMM_OK;
}
#endif

#define FASTGMM_HMM_SCALED_V(NB, KK) fastgmm_hmm_scaled_v(h, x, T, w, want_xi, ll, bad, NB, KK)
#define FASTGMM_HMM_SCALED_K(KK) fastgmm_hmm_scaled_k(h, x, T, w, want_xi, ll, bad, KK)
FASTGMM_CLONES FASTGMM_HMM_FLATTEN static int
fastgmm_hmm_scaled(const fastgmm_hmm *h, double *x, ptrdiff_t T, const fastgmm_hmm_work *w, int want_xi,
                   double *ll, ptrdiff_t *bad)
{
    FASTGMM_HMM_DISPATCH_K(FASTGMM_HMM_SCALED_V, FASTGMM_HMM_SCALED_K)
}

/* out = softmax(p + q) over K values (p + q has a finite entry). */
static inline void fastgmm_hmm_softmax_sum(const double *p, const double *q, ptrdiff_t K, double *tmp, double *out)
{
    double M = -INFINITY;
    for (ptrdiff_t k = 0; k < K; k++) {
        tmp[k] = p[k] + q[k];
        M = tmp[k] > M ? tmp[k] : M;
    }
    if (M == -INFINITY) {
        memset(out, 0, (size_t) K * sizeof(double));
        return;
    }
    for (ptrdiff_t k = 0; k < K; k++)
        tmp[k] = fastgmm_exp_nonpos(tmp[k] - M);
    const double r = 1.0 / fastgmm_hmm_sum(tmp, K);
    for (ptrdiff_t k = 0; k < K; k++)
        out[k] = tmp[k] * r;
}

/* s[j] += sum_i exp(kk[i, j] - mx[j]) over a K x K array (kk overwritten),
 * summed over i in order. */
FASTGMM_HMM_BODY void fastgmm_hmm_lse_columns(double *FASTGMM_HMM_RESTRICT kk, const double *FASTGMM_HMM_RESTRICT mx,
                                              double *FASTGMM_HMM_RESTRICT s, ptrdiff_t K)
{
    for (ptrdiff_t i = 0; i < K; i++)
        for (ptrdiff_t j = 0; j < K; j++)
            kk[i * K + j] -= mx[j];
    fastgmm_hmm_exp_inplace(kk, K * K);
    for (ptrdiff_t i = 0; i < K; i++)
        for (ptrdiff_t j = 0; j < K; j++)
            s[j] += kk[i * K + j];
}

/* Subtract the largest of v's K values from each, add it to *acc; 0 (and v
 * unchanged) if every value is -inf. */
static inline int fastgmm_hmm_shift_max(double *v, ptrdiff_t K, double *acc)
{
    double M = -INFINITY;
    for (ptrdiff_t k = 0; k < K; k++)
        M = v[k] > M ? v[k] : M;
    if (M == -INFINITY)
        return 0;
    for (ptrdiff_t k = 0; k < K; k++)
        v[k] -= M;
    *acc += M;
    return 1;
}

/* Log-space forward-backward of one sequence (T >= 1): the same outputs and
 * statuses as fastgmm_hmm_scaled, but never FASTGMM_HMM_LOG. log alpha lives
 * in the scratch; gamma_{t+1} replaces row t + 1 of x as soon as the
 * backward step t has read it. Each row of log alpha and of log beta is
 * shifted so that its largest entry is 0 (the shifts of alpha add up to the
 * log-likelihood): unshifted, they grow like t, and their rounding (eps |log
 * alpha|) put errors of ~1e-9 into the posteriors of a 20,000-frame sequence;
 * shifted, the recursion is as accurate as the scaled one. */
FASTGMM_CLONES FASTGMM_HMM_FLATTEN static int
fastgmm_hmm_logspace(const fastgmm_hmm *h, double *FASTGMM_HMM_RESTRICT x, ptrdiff_t T,
                     const fastgmm_hmm_work *w, int want_xi, double *ll, ptrdiff_t *bad)
{
    const ptrdiff_t K = h->K;
    const double *FASTGMM_HMM_RESTRICT LA = h->LA;
    const double *FASTGMM_HMM_RESTRICT LAT = h->LAT;
    double *FASTGMM_HMM_RESTRICT la = w->a;
    double *FASTGMM_HMM_RESTRICT mx = w->v0;
    double *FASTGMM_HMM_RESTRICT s = w->v1;
    double *FASTGMM_HMM_RESTRICT lb = w->v2;
    double *FASTGMM_HMM_RESTRICT wv = w->v3;
    double *FASTGMM_HMM_RESTRICT kk = w->kk;
    double *FASTGMM_HMM_RESTRICT xi = w->xi;
    double msum = 0.0, lbsum = 0.0;

    for (ptrdiff_t t = 0; t < T; t++) {
        const double *FASTGMM_HMM_RESTRICT row = x + t * K;
        double *FASTGMM_HMM_RESTRICT lt = la + t * K;
        ptrdiff_t nbad;
        (void) fastgmm_hmm_rowmax(row, K, &nbad);
        if (nbad) {
            *bad = t;
            return FASTGMM_HMM_BAD;
        }
        if (t == 0) {
            for (ptrdiff_t k = 0; k < K; k++)
                lt[k] = h->lpi[k] + row[k];
            if (!fastgmm_hmm_shift_max(lt, K, &msum))
                return FASTGMM_HMM_IMPOSSIBLE;
            continue;
        }
        const double *FASTGMM_HMM_RESTRICT lp = lt - K;
        /* kk[i, j] = la_{t-1}(i) + LA_ij - max_i(...), then all K^2 exps in
         * one flat loop (it vectorises; per column it did not). exp(-inf -
         * -inf) is exp(NaN), which fastgmm_exp_nonpos reads as 0: a state no
         * path reaches gets log(0) = -inf, no NaN. */
        for (ptrdiff_t j = 0; j < K; j++) {
            mx[j] = -INFINITY;
            s[j] = 0.0;
        }
        for (ptrdiff_t i = 0; i < K; i++) {
            const double li = lp[i];
            const double *FASTGMM_HMM_RESTRICT LAi = LA + i * K;
            double *FASTGMM_HMM_RESTRICT kki = kk + i * K;
            for (ptrdiff_t j = 0; j < K; j++) {
                double v = li + LAi[j];
                kki[j] = v;
                mx[j] = v > mx[j] ? v : mx[j];
            }
        }
        fastgmm_hmm_lse_columns(kk, mx, s, K);
        for (ptrdiff_t j = 0; j < K; j++)
            lt[j] = row[j] + (mx[j] + log(s[j]));
        if (!fastgmm_hmm_shift_max(lt, K, &msum))
            return FASTGMM_HMM_IMPOSSIBLE;
    }
    {
        /* the last row's largest entry is now 0 */
        const double *FASTGMM_HMM_RESTRICT lt = la + (T - 1) * K;
        for (ptrdiff_t k = 0; k < K; k++)
            s[k] = fastgmm_exp_nonpos(lt[k]);
        *ll = msum + log(fastgmm_hmm_sum(s, K));
    }

    if (want_xi)
        memset(xi, 0, (size_t) (K * K) * sizeof(double));
    for (ptrdiff_t k = 0; k < K; k++)
        lb[k] = 0.0;
    for (ptrdiff_t t = T - 2; t >= 0; t--) {
        double *FASTGMM_HMM_RESTRICT row = x + (t + 1) * K;
        const double *FASTGMM_HMM_RESTRICT lt = la + t * K;
        for (ptrdiff_t j = 0; j < K; j++)
            wv[j] = row[j] + lb[j];
        if (want_xi) {
            /* xi_t(i, j) ~ exp(la_t(i) + LA_ij + wv_j), normalised to sum 1 */
            double M = -INFINITY;
            for (ptrdiff_t i = 0; i < K; i++) {
                const double li = lt[i];
                const double *FASTGMM_HMM_RESTRICT LAi = LA + i * K;
                double *FASTGMM_HMM_RESTRICT kki = kk + i * K;
                for (ptrdiff_t j = 0; j < K; j++) {
                    double v = (li + LAi[j]) + wv[j];
                    kki[j] = v;
                    M = v > M ? v : M;
                }
            }
            for (ptrdiff_t ij = 0; ij < K * K; ij++)
                kk[ij] -= M;
            fastgmm_hmm_exp_inplace(kk, K * K);
            const double r = 1.0 / fastgmm_hmm_sum(kk, K * K);
            for (ptrdiff_t ij = 0; ij < K * K; ij++)
                xi[ij] += kk[ij] * r;
        }
        /* gamma_{t+1} from log alpha_{t+1} and log beta_{t+1}, into row t + 1 */
        fastgmm_hmm_softmax_sum(lt + K, lb, K, s, row);
        /* log beta_t(i) = logsumexp_j(LA_ij + wv_j), with the transpose so
         * that the inner loop runs over i */
        for (ptrdiff_t i = 0; i < K; i++) {
            mx[i] = -INFINITY;
            s[i] = 0.0;
        }
        for (ptrdiff_t j = 0; j < K; j++) {
            const double wj = wv[j];
            const double *FASTGMM_HMM_RESTRICT LATj = LAT + j * K;
            double *FASTGMM_HMM_RESTRICT kkj = kk + j * K;
            for (ptrdiff_t i = 0; i < K; i++) {
                double v = LATj[i] + wj;
                kkj[i] = v;
                mx[i] = v > mx[i] ? v : mx[i];
            }
        }
        fastgmm_hmm_lse_columns(kk, mx, s, K);
        for (ptrdiff_t i = 0; i < K; i++)
            lb[i] = mx[i] + log(s[i]);
        (void) fastgmm_hmm_shift_max(lb, K, &lbsum);
    }
    fastgmm_hmm_softmax_sum(la, lb, K, s, x);
    return FASTGMM_HMM_OK;
}

/* Viterbi of one sequence (T >= 1), with hmmlearn 0.3's tie-breaking: the
 * last state is the first of the largest final scores, and going back, the
 * predecessor of state j is the LAST i among those with the largest
 * delta_{t-1}(i) + log A_ij (every i when all are -inf). The backpointers
 * (T x K, bp) are those predecessors, computed in the forward pass from the
 * same sums the backtrack would form. delta_t(j) = max_i(...) + x_tj, summed
 * in that order, as hmmlearn does. */
#define FASTGMM_HMM_DEFINE_VITERBI(NAME, BP_T)                                  \
FASTGMM_HMM_BODY int                                                           \
NAME##_k(const fastgmm_hmm *h, const double *FASTGMM_HMM_RESTRICT x, ptrdiff_t T, \
         BP_T *FASTGMM_HMM_RESTRICT bp, double *v, double *vn,                 \
         double *FASTGMM_HMM_RESTRICT arg, int64_t *path, double *logprob,     \
         ptrdiff_t *bad, const ptrdiff_t K)                                    \
{                                                                              \
    const double *FASTGMM_HMM_RESTRICT LA = h->LA;                             \
    ptrdiff_t nbad;                                                            \
    for (ptrdiff_t t = 0; t < T; t++) {                                        \
        (void) fastgmm_hmm_rowmax(x + t * K, K, &nbad);                        \
        if (nbad) {                                                            \
            *bad = t;                                                          \
            return FASTGMM_HMM_BAD;                                            \
        }                                                                      \
    }                                                                          \
    for (ptrdiff_t k = 0; k < K; k++)                                          \
        v[k] = h->lpi[k] + x[k];                                               \
    for (ptrdiff_t t = 1; t < T; t++) {                                        \
        const double *FASTGMM_HMM_RESTRICT row = x + t * K;                    \
        BP_T *FASTGMM_HMM_RESTRICT bpt = bp + t * K;                           \
        for (ptrdiff_t j = 0; j < K; j++) {                                    \
            vn[j] = -INFINITY;                                                 \
            arg[j] = 0.0;                                                      \
        }                                                                      \
        for (ptrdiff_t i = 0; i < K; i++) {                                    \
            const double vi = v[i];                                            \
            const double di = (double) i;                                      \
            const double *FASTGMM_HMM_RESTRICT LAi = LA + i * K;               \
            for (ptrdiff_t j = 0; j < K; j++) {                                \
                const double c = vi + LAi[j];                                  \
                arg[j] = c >= vn[j] ? di : arg[j];                             \
                vn[j] = vn[j] < c ? c : vn[j];                                 \
            }                                                                  \
        }                                                                      \
        for (ptrdiff_t j = 0; j < K; j++) {                                    \
            vn[j] += row[j];                                                   \
            bpt[j] = (BP_T) arg[j];                                            \
        }                                                                      \
        double *tmp = v;                                                       \
        v = vn;                                                                \
        vn = tmp;                                                              \
    }                                                                          \
    return fastgmm_hmm_backtrack_##BP_T(v, K, T, bp, path, logprob);           \
}                                                                              \
FASTGMM_HMM_VITERBI_V(NAME, BP_T)                                              \
                                                                               \
FASTGMM_CLONES FASTGMM_HMM_FLATTEN static int                                 \
NAME(const fastgmm_hmm *h, const double *x, ptrdiff_t T, BP_T *bp, double *v,  \
     int64_t *path, double *logprob, ptrdiff_t *bad)                           \
{                                                                              \
    /* v: 3 K doubles of scratch (the K-state version) */                      \
    double *vn = v + h->K, *arg = v + 2 * h->K;                                \
    (void) vn;                                                                 \
    (void) arg;                                                                \
    FASTGMM_HMM_DISPATCH(NAME##_VCALL, NAME##_KCALL)                           \
}

/* The last state, the log-probability and the path back from the backpointers. */
#define FASTGMM_HMM_DEFINE_BACKTRACK(BP_T)                                      \
FASTGMM_HMM_BODY int                                                           \
fastgmm_hmm_backtrack_##BP_T(const double *v, ptrdiff_t K, ptrdiff_t T,        \
                             const BP_T *bp, int64_t *path, double *logprob)   \
{                                                                              \
    ptrdiff_t best = 0;                                                        \
    for (ptrdiff_t k = 1; k < K; k++)                                          \
        if (v[best] < v[k])                                                    \
            best = k;                                                          \
    *logprob = v[best];                                                        \
    path[T - 1] = best;                                                        \
    for (ptrdiff_t t = T - 1; t > 0; t--) {                                    \
        best = bp[t * K + best];                                               \
        path[t - 1] = best;                                                    \
    }                                                                          \
    return FASTGMM_HMM_OK;                                                     \
}
FASTGMM_HMM_DEFINE_BACKTRACK(int16_t)
FASTGMM_HMM_DEFINE_BACKTRACK(int32_t)

#if FASTGMM_HMM_VECTORS
/* Viterbi on NB vectors of 4 states (log A padded with -inf, lanes beyond K
 * never read): the same sums and comparisons as the K-state version, the
 * selects as bit masks. */
#define FASTGMM_HMM_VITERBI_V(NAME, BP_T)                                       \
FASTGMM_HMM_BODY int                                                           \
NAME##_v(const fastgmm_hmm *h, const double *FASTGMM_HMM_RESTRICT x, ptrdiff_t T, \
         BP_T *FASTGMM_HMM_RESTRICT bp, int64_t *path, double *logprob,        \
         ptrdiff_t *bad, const int NB)                                         \
{                                                                              \
    const ptrdiff_t K = h->K, KP = 4 * NB;                                     \
    const double *FASTGMM_HMM_RESTRICT LAp = h->LAp;                           \
    double v[FASTGMM_HMM_KMAX];                                                \
    ptrdiff_t nbad;                                                            \
    for (ptrdiff_t t = 0; t < T; t++) {                                        \
        (void) fastgmm_hmm_rowmax(x + t * K, K, &nbad);                        \
        if (nbad) {                                                            \
            *bad = t;                                                          \
            return FASTGMM_HMM_BAD;                                            \
        }                                                                      \
    }                                                                          \
    for (ptrdiff_t k = 0; k < K; k++)                                          \
        v[k] = h->lpi[k] + x[k];                                               \
    for (ptrdiff_t t = 1; t < T; t++) {                                        \
        const double *FASTGMM_HMM_RESTRICT row = x + t * K;                    \
        BP_T *FASTGMM_HMM_RESTRICT bpt = bp + t * K;                           \
        fastgmm_hmm_v4 vn[4], arg[4];                                          \
        for (int q = 0; q < NB; q++) {                                         \
            vn[q] = fastgmm_hmm_v4_zero() - INFINITY;                          \
            arg[q] = fastgmm_hmm_v4_zero();                                    \
        }                                                                      \
        for (ptrdiff_t i = 0; i < K; i++) {                                    \
            const double vi = v[i];                                            \
            const fastgmm_hmm_v4 di = fastgmm_hmm_v4_zero() + (double) i;      \
            for (int q = 0; q < NB; q++) {                                     \
                fastgmm_hmm_v4 c = vi + fastgmm_hmm_v4_load(LAp + i * KP + 4 * q); \
                fastgmm_hmm_v4i ge = c >= vn[q];                               \
                fastgmm_hmm_v4i gt = vn[q] < c;                                \
                arg[q] = (fastgmm_hmm_v4) (((fastgmm_hmm_v4i) di & ge)         \
                                           | ((fastgmm_hmm_v4i) arg[q] & ~ge)); \
                vn[q] = (fastgmm_hmm_v4) (((fastgmm_hmm_v4i) c & gt)           \
                                          | ((fastgmm_hmm_v4i) vn[q] & ~gt));  \
            }                                                                  \
        }                                                                      \
        for (ptrdiff_t j = 0; j < K; j++) {                                    \
            v[j] = vn[j >> 2][j & 3] + row[j];                                 \
            bpt[j] = (BP_T) arg[j >> 2][j & 3];                                \
        }                                                                      \
    }                                                                          \
    return fastgmm_hmm_backtrack_##BP_T(v, K, T, bp, path, logprob);           \
}
#else
#define FASTGMM_HMM_VITERBI_V(NAME, BP_T)
#endif

#define fastgmm_hmm_viterbi16_KCALL(KK) fastgmm_hmm_viterbi16_k(h, x, T, bp, v, vn, arg, path, logprob, bad, KK)
#define fastgmm_hmm_viterbi32_KCALL(KK) fastgmm_hmm_viterbi32_k(h, x, T, bp, v, vn, arg, path, logprob, bad, KK)
#define fastgmm_hmm_viterbi16_VCALL(NB) fastgmm_hmm_viterbi16_v(h, x, T, bp, path, logprob, bad, NB)
#define fastgmm_hmm_viterbi32_VCALL(NB) fastgmm_hmm_viterbi32_v(h, x, T, bp, path, logprob, bad, NB)
FASTGMM_HMM_DEFINE_VITERBI(fastgmm_hmm_viterbi16, int16_t)
FASTGMM_HMM_DEFINE_VITERBI(fastgmm_hmm_viterbi32, int32_t)

/* GMM-HMM helpers, rows [r0, r1) of an n x (K M) array of log(w_km) + log
 * N(x | km). collapse: out (n x K) = per-state log-sum-exp (-inf when all
 * are -inf). expand: in place, sub := gamma_tk * softmax_m(sub[t, kM:kM+M]). */
FASTGMM_CLONES FASTGMM_HMM_FLATTEN static void
fastgmm_hmm_collapse_rows(const double *sub, ptrdiff_t K, ptrdiff_t M, double *out, ptrdiff_t r0, ptrdiff_t r1)
{
    for (ptrdiff_t r = r0; r < r1; r++) {
        for (ptrdiff_t k = 0; k < K; k++) {
            const double *FASTGMM_HMM_RESTRICT v = sub + (r * K + k) * M;
            double mx = -INFINITY, s = 0.0;
            for (ptrdiff_t q = 0; q < M; q++)
                mx = v[q] > mx ? v[q] : mx;
            for (ptrdiff_t q = 0; q < M; q++)
                s += fastgmm_exp_nonpos(v[q] - mx);
            out[r * K + k] = mx == -INFINITY ? -INFINITY : mx + log(s);
        }
    }
}

FASTGMM_CLONES FASTGMM_HMM_FLATTEN static void
fastgmm_hmm_expand_rows(const double *gamma, double *sub, ptrdiff_t K, ptrdiff_t M, ptrdiff_t r0, ptrdiff_t r1)
{
    for (ptrdiff_t r = r0; r < r1; r++) {
        for (ptrdiff_t k = 0; k < K; k++) {
            double *FASTGMM_HMM_RESTRICT v = sub + (r * K + k) * M;
            const double g = gamma[r * K + k];
            double mx = -INFINITY, s = 0.0;
            for (ptrdiff_t q = 0; q < M; q++)
                mx = v[q] > mx ? v[q] : mx;
            if (mx == -INFINITY || g == 0.0) {
                for (ptrdiff_t q = 0; q < M; q++)
                    v[q] = 0.0;
                continue;
            }
            for (ptrdiff_t q = 0; q < M; q++) {
                v[q] = fastgmm_exp_nonpos(v[q] - mx);
                s += v[q];
            }
            const double f = g / s;
            for (ptrdiff_t q = 0; q < M; q++)
                v[q] *= f;
        }
    }
}

#endif
