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
 * to each frame's largest emission, e_t(k) = exp(x_tk - m_t): alpha is
 * normalised every frame (c_t its sum before), beta every frame by its own
 * sum (not by c_{t+1}: then beta is at most 1 and cannot overflow), and
 * gamma_t = alpha_t beta_t and xi_t = alpha_t(i) A_ij e_{t+1}(j) beta_{t+1}(j)
 * are each divided by their own total, so no exp or log runs in a K x K loop.
 * Its only failure is underflow: a value that should be small but nonzero
 * read as 0 or as a subnormal. Every such loss is at most a few subnormal
 * ulps (~1e-323) in a quantity normalised to sum to 1, so it matters only
 * relative to c_t (the probability of frame t's emissions given the past, in
 * units of the best emission) or to Z_t / s_t = sum_i alpha_t(i) beta_t(i)
 * (the agreement between past and future, beta summing to 1). The scaled
 * recursion therefore gives up, and the caller redoes the sequence in log
 * space, when either falls below FASTGMM_HMM_THETA (1e-120): the error left
 * is then below ~K 1e-323 / 1e-240, far under the 1e-16 of ordinary rounding.
 * The second test is needed: a state whose forward probability underflowed
 * long ago can be the one the future demands (two states that never switch,
 * the first favoured by the first half of the data, the second by the second
 * half), and no c_t is small then (tests/test_hmm_kernel.py has that case).
 *
 * The log-space recursion (fastgmm_hmm_logspace) never underflows (the log of
 * a sum is its largest term's log plus log(1 + the rest)); it costs K^2 exps
 * per frame in each direction and for xi, and decides exactly which
 * sequences are impossible (every path has a -inf term).
 *
 * The K x K loops keep their inner loop contiguous (over j with A's rows,
 * over i with the transpose) so that they vectorise, and every sum has a
 * fixed order (fastgmm_hmm_sum: 4 lanes, then a fixed tree), so the baseline,
 * AVX2 and AVX-512 versions (FASTGMM_CLONES) give bitwise identical results.
 * Nothing here depends on the thread that runs it.
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
} fastgmm_hmm;

/* One thread's scratch: a is T_max x K, m T_max, v0..v3 K, kk and xi K x K. */
typedef struct {
    double *a;
    double *m;
    double *v0, *v1, *v2, *v3;
    double *kk;
    double *xi;           /* out: the sequence's sum of xi_t (when asked for) */
} fastgmm_hmm_work;

/* Sum of n values in a fixed order: 4 interleaved partial sums, then a fixed tree. */
static inline double fastgmm_hmm_sum(const double *v, ptrdiff_t n)
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
static inline double fastgmm_hmm_rowmax(const double *row, ptrdiff_t K, ptrdiff_t *nbad)
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
FASTGMM_CLONES static int
fastgmm_hmm_scaled(const fastgmm_hmm *h, double *FASTGMM_HMM_RESTRICT x, ptrdiff_t T,
                   const fastgmm_hmm_work *w, int want_xi, double *ll, ptrdiff_t *bad)
{
    const ptrdiff_t K = h->K;
    const double *FASTGMM_HMM_RESTRICT A = h->A;
    const double *FASTGMM_HMM_RESTRICT AT = h->AT;
    double *FASTGMM_HMM_RESTRICT a = w->a;
    double *FASTGMM_HMM_RESTRICT mrow = w->m;
    double *FASTGMM_HMM_RESTRICT u = w->v0;
    double *FASTGMM_HMM_RESTRICT e = w->v1;
    double *FASTGMM_HMM_RESTRICT beta = w->v2;
    double *FASTGMM_HMM_RESTRICT b = w->v3;
    double *FASTGMM_HMM_RESTRICT xi = w->xi;
    double msum = 0.0, logc = 0.0, prod = 1.0;

    for (ptrdiff_t t = 0; t < T; t++) {
        const double *FASTGMM_HMM_RESTRICT row = x + t * K;
        double *FASTGMM_HMM_RESTRICT at = a + t * K;
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
        if (t == 0) {
            for (ptrdiff_t k = 0; k < K; k++)
                u[k] = h->pi[k] * fastgmm_exp_nonpos(row[k] - m);
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
                u[j] *= fastgmm_exp_nonpos(row[j] - m);
        }
        double c = fastgmm_hmm_sum(u, K);
        if (!(c >= FASTGMM_HMM_THETA && c <= 1.0 / FASTGMM_HMM_THETA))
            return FASTGMM_HMM_LOG;
        const double r = 1.0 / c;
        for (ptrdiff_t k = 0; k < K; k++)
            at[k] = u[k] * r;
        /* log of the product of the c_t, one log per 32 frames; the product
         * stays in [1e-270, 1e270] (c_t is in [THETA, 1 / THETA]). */
        prod *= c;
        if ((t & 31) == 31 || prod < 1e-150 || prod > 1e150) {
            logc += log(prod);
            prod = 1.0;
        }
    }
    logc += log(prod);

    /* Backward. beta_{T-1} = 1; at step t, b = A (e_{t+1} beta_{t+1}) is
     * beta_t before normalisation, Z = alpha_t . b normalises gamma_t and
     * xi_t, and s = sum b normalises beta_t. gamma_t overwrites alpha_t in
     * the scratch once xi_t no longer needs it. */
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
    for (ptrdiff_t t = T - 2; t >= 0; t--) {
        const double *FASTGMM_HMM_RESTRICT row = x + (t + 1) * K;
        const double m = mrow[t + 1];
        double *FASTGMM_HMM_RESTRICT at = a + t * K;
        for (ptrdiff_t j = 0; j < K; j++)
            e[j] = fastgmm_exp_nonpos(row[j] - m) * beta[j];
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
        if (!(Z > 0.0 && Z >= FASTGMM_HMM_THETA * s && s <= 1.0 / FASTGMM_HMM_THETA))
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
    memcpy(x, a, (size_t) (T * K) * sizeof(double));
    *ll = msum + logc;
    return FASTGMM_HMM_OK;
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
FASTGMM_CLONES static int
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
        for (ptrdiff_t j = 0; j < K; j++) {
            mx[j] = -INFINITY;
            s[j] = 0.0;
        }
        for (ptrdiff_t i = 0; i < K; i++) {
            const double li = lp[i];
            const double *FASTGMM_HMM_RESTRICT LAi = LA + i * K;
            for (ptrdiff_t j = 0; j < K; j++) {
                double v = li + LAi[j];
                mx[j] = v > mx[j] ? v : mx[j];
            }
        }
        /* exp(-inf - -inf) is exp(NaN), which fastgmm_exp_nonpos reads as 0:
         * a state no path reaches gets log(0) = -inf, no NaN. */
        for (ptrdiff_t i = 0; i < K; i++) {
            const double li = lp[i];
            const double *FASTGMM_HMM_RESTRICT LAi = LA + i * K;
            for (ptrdiff_t j = 0; j < K; j++)
                s[j] += fastgmm_exp_nonpos((li + LAi[j]) - mx[j]);
        }
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
                kk[ij] = fastgmm_exp_nonpos(kk[ij] - M);
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
            for (ptrdiff_t i = 0; i < K; i++) {
                double v = LATj[i] + wj;
                mx[i] = v > mx[i] ? v : mx[i];
            }
        }
        for (ptrdiff_t j = 0; j < K; j++) {
            const double wj = wv[j];
            const double *FASTGMM_HMM_RESTRICT LATj = LAT + j * K;
            for (ptrdiff_t i = 0; i < K; i++)
                s[i] += fastgmm_exp_nonpos((LATj[i] + wj) - mx[i]);
        }
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
FASTGMM_CLONES static int                                                      \
NAME(const fastgmm_hmm *h, const double *FASTGMM_HMM_RESTRICT x, ptrdiff_t T,  \
     BP_T *FASTGMM_HMM_RESTRICT bp, double *v, double *vn, int64_t *path,      \
     double *logprob, ptrdiff_t *bad)                                          \
{                                                                              \
    const ptrdiff_t K = h->K;                                                  \
    const double *FASTGMM_HMM_RESTRICT LA = h->LA;                             \
    ptrdiff_t nbad;                                                            \
    (void) fastgmm_hmm_rowmax(x, K, &nbad);                                    \
    if (nbad) {                                                                \
        *bad = 0;                                                              \
        return FASTGMM_HMM_BAD;                                                \
    }                                                                          \
    for (ptrdiff_t k = 0; k < K; k++)                                          \
        v[k] = h->lpi[k] + x[k];                                               \
    for (ptrdiff_t t = 1; t < T; t++) {                                        \
        const double *FASTGMM_HMM_RESTRICT row = x + t * K;                    \
        BP_T *FASTGMM_HMM_RESTRICT bpt = bp + t * K;                           \
        (void) fastgmm_hmm_rowmax(row, K, &nbad);                              \
        if (nbad) {                                                            \
            *bad = t;                                                          \
            return FASTGMM_HMM_BAD;                                            \
        }                                                                      \
        for (ptrdiff_t j = 0; j < K; j++) {                                    \
            vn[j] = -INFINITY;                                                 \
            bpt[j] = 0;                                                        \
        }                                                                      \
        for (ptrdiff_t i = 0; i < K; i++) {                                    \
            const double vi = v[i];                                            \
            const double *FASTGMM_HMM_RESTRICT LAi = LA + i * K;               \
            for (ptrdiff_t j = 0; j < K; j++) {                                \
                const double c = vi + LAi[j];                                  \
                bpt[j] = c >= vn[j] ? (BP_T) i : bpt[j];                       \
                vn[j] = vn[j] < c ? c : vn[j];                                 \
            }                                                                  \
        }                                                                      \
        for (ptrdiff_t j = 0; j < K; j++)                                      \
            vn[j] += row[j];                                                   \
        double *tmp = v;                                                       \
        v = vn;                                                                \
        vn = tmp;                                                              \
    }                                                                          \
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

FASTGMM_HMM_DEFINE_VITERBI(fastgmm_hmm_viterbi16, int16_t)
FASTGMM_HMM_DEFINE_VITERBI(fastgmm_hmm_viterbi32, int32_t)

/* GMM-HMM helpers, rows [r0, r1) of an n x (K M) array of log(w_km) + log
 * N(x | km). collapse: out (n x K) = per-state log-sum-exp (-inf when all
 * are -inf). expand: in place, sub := gamma_tk * softmax_m(sub[t, kM:kM+M]). */
FASTGMM_CLONES static void
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

FASTGMM_CLONES static void
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
