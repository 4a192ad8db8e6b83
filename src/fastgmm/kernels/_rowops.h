/* The per-chunk loops of the E-step kernel (fastgmm/_estep.pyx) that are not
 * BLAS: building each row's feature vector, and the log-sum-exp that turns
 * weighted log-densities into responsibilities.
 *
 * They live in C rather than in the .pyx for one reason: on x86-64 Linux with
 * gcc they are compiled for AVX-512 and AVX2 as well as the baseline, and the
 * loader picks the best version the CPU has (FASTGMM_CLONES, an ifunc). The
 * Cython-generated code is baseline SSE2 only, and in that form these loops
 * took as long as both GEMMs together on the diagonal workloads. The build
 * uses -ffp-contract=off and the loops fix their own order of operations
 * (no reassociated reductions), so every version gives bitwise identical
 * results, on every machine and for every thread count.
 *
 * Each operation is written once as a macro over its element types and
 * instantiated for the types the kernel needs.
 */
#ifndef FASTGMM_ROWOPS_H
#define FASTGMM_ROWOPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "_fastexp.h"

/* Quadratic-feature codes: the same as _estep.pyx's enum. */
#define FASTGMM_QFULL 0
#define FASTGMM_QDIAG 1
#define FASTGMM_QSPHERICAL 2
#define FASTGMM_QTIED 3
/* Codes without a quadratic part (the discrete families): [1, z] and the
 * one-hot expansion of categorical codes (fastgmm_features_onehot). */
#define FASTGMM_QLINEAR 4
#define FASTGMM_QONEHOT 5

/* Row-sum accumulators: |z|^2 is summed in 8 interleaved partial sums
 * combined in a fixed tree, so the loop vectorises without reassociation. */
#define FASTGMM_LANES 8

/* |v|^2 of a length-D vector, in a fixed order (see FASTGMM_LANES). */
#define FASTGMM_DEFINE_SUMSQ(NAME, T)                                          \
static inline T NAME(const T *v, ptrdiff_t D)                                  \
{                                                                              \
    T acc[FASTGMM_LANES] = {0};                                                \
    ptrdiff_t d0 = 0;                                                          \
    for (; d0 + FASTGMM_LANES <= D; d0 += FASTGMM_LANES)                       \
        for (ptrdiff_t j = 0; j < FASTGMM_LANES; j++)                          \
            acc[j] += v[d0 + j] * v[d0 + j];                                   \
    for (ptrdiff_t j = 0; d0 + j < D; j++)                                     \
        acc[j] += v[d0 + j] * v[d0 + j];                                       \
    return ((acc[0] + acc[4]) + (acc[2] + acc[6]))                             \
         + ((acc[1] + acc[5]) + (acc[3] + acc[7]));                            \
}

FASTGMM_DEFINE_SUMSQ(fastgmm_sumsq_d, double)

#if defined(_MSC_VER) || defined(__cplusplus)
#define FASTGMM_RESTRICT __restrict
#else
#define FASTGMM_RESTRICT restrict
#endif

/* The n rows that follow a chunk's in memory are (but for a slot's last
 * chunk, or rows gathered into a buffer) the next chunk's: each feature loop
 * asks for row i + n as it reads row i, so that it comes from memory while
 * this chunk's GEMMs and exps run. Without it a diag pass waited on memory
 * for over half of its feature-building time (D = 16, timed per stage in a
 * C harness of the chunk loop: 12.5 ns a row with X read from memory, 5 with
 * X in L2; with the prefetch 5, and the whole pass 11 % faster). Into L2
 * only (locality 1, prefetcht2), spread one row at a time: all of the next
 * chunk asked for at once, or into L1, hid almost none of the wait. A
 * prefetch never faults, and the address is formed as an integer, not as a
 * pointer past the end of X. */
#if defined(__GNUC__)
#define FASTGMM_PREFETCH_ROW(x, ahead, row_bytes)                              \
    for (ptrdiff_t b_ = 0; b_ < (row_bytes); b_ += 64)                         \
        __builtin_prefetch((const void *) ((uintptr_t) (x) + (uintptr_t) (ahead) \
                                           + (uintptr_t) b_), 0, 1)
#else
#define FASTGMM_PREFETCH_ROW(x, ahead, row_bytes) ((void) 0)
#endif

/* Narrow rows (D below a vector of doubles, e.g. W1's D = 2): per-row loops
 * of 1-4 iterations cost more in loop overhead than in arithmetic (W1's pass
 * took 0.026 s instead of 0.019 with the transposed layout it replaced), so
 * each feature is computed for all the chunk's rows in turn instead: the
 * same values, in the same order of operations. */
#define FASTGMM_NARROW_D 8
#define FASTGMM_NARROW_FEATURES(TX, TF, SUMSQ)                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                        \
        FASTGMM_PREFETCH_ROW(X + i * D, ahead, row_bytes);                     \
        F[i * P] = 1;                                                          \
        for (ptrdiff_t d = 0; d < D; d++)                                      \
            F[i * P + 1 + d] = (TF) ((double) X[i * D + d] - c[d]);            \
    }                                                                          \
    if (quad == FASTGMM_QFULL) {                                               \
        ptrdiff_t p = 1 + D;                                                   \
        for (ptrdiff_t j = 0; 2 * j <= D; j++) {                               \
            ptrdiff_t len = 2 * j == D ? j : D;                                \
            for (ptrdiff_t d = 0; d < len; d++, p++) {                         \
                ptrdiff_t a = 1 + d, b = 1 + (d + j) % D;                      \
                for (ptrdiff_t i = 0; i < n; i++)                              \
                    F[i * P + p] = F[i * P + a] * F[i * P + b];                \
            }                                                                  \
        }                                                                      \
    } else if (quad == FASTGMM_QDIAG) {                                        \
        for (ptrdiff_t d = 0; d < D; d++)                                      \
            for (ptrdiff_t i = 0; i < n; i++)                                  \
                F[i * P + 1 + D + d] = F[i * P + 1 + d] * F[i * P + 1 + d];    \
    } else if (quad != FASTGMM_QLINEAR) {                                     \
        for (ptrdiff_t i = 0; i < n; i++)                                      \
            F[i * P + 1 + D] = quad == FASTGMM_QSPHERICAL                      \
                ? SUMSQ(F + i * P + 1, D) : 0;                                 \
    }

/* The full code's products of every row from its doubled z (zz, 2 DD per
 * row) into F, in the circulant order below. Written once per width: with
 * DD a constant (8, 16) the loops unroll into whole vectors. */
#define FASTGMM_FULL_PRODUCTS(TF, DD)                                          \
    {                                                                          \
        const ptrdiff_t dd = (DD);                                             \
        for (ptrdiff_t i = 0; i < n; i++) {                                    \
            const TF *z2 = zz + i * 2 * dd;                                    \
            TF *q = F + i * P + 1 + dd;                                        \
            for (ptrdiff_t j = 0; 2 * j <= dd; j++) {                          \
                ptrdiff_t len = 2 * j == dd ? j : dd;                          \
                for (ptrdiff_t d = 0; d < len; d++)                            \
                    q[d] = z2[d] * z2[d + j];                                  \
                q += len;                                                      \
            }                                                                  \
        }                                                                      \
    }

/* Feature rows f = [1, z, q(z)], z = x - c, for n rows of X (row-major,
 * n x D) into F (row-major, n x P): no transposition, every row is read and
 * written contiguously. z is computed in float64 and rounded once to TF.
 * q: z^2 (diag), |z|^2 (spherical), and for full the D (D + 1) / 2 products
 * z_d z_e in "circulant" order: for j = 0, 1, ..., D / 2 the D products
 * z_d z_{(d + j) mod D}, d = 0..D-1 (only d < D / 2 for j = D / 2 when D is
 * even, the rest being repeats). Every pair appears exactly once, and every
 * run is a whole length-D vector product (z times z rotated by j, read from
 * the doubled copy zz), so the loop is full-width vector code with no ragged
 * triangle edges; fastgmm._em.full_pairs gives the same order. For tied q is
 * left 0 here (the caller writes |z U|^2 after its TRMM, and the statistics
 * do not use it); QLINEAR has no q at all (P = 1 + D). zz: scratch of 2 D n
 * values (full).
 * Full: every row's z (and its doubled copy) first, then the products. With
 * the products read right after the copy was written, each wide load of
 * z rotated by j spanned two stores still in flight and waited for them
 * (store forwarding fails): 36 % of a labels pass at D = 8 (perf, 1 thread),
 * the vmulpd on zz. Same operations, same bits.
 * One row loop per feature code, and q computed from the z just formed (in
 * registers) in the same loop as z: with the code tested inside the row loop
 * and q read back from F, a chunk of D = 16 rows took 9.5 ns a row for diag
 * and 16 for spherical (the sum of squares waited on its own stores), now
 * 3.9 and 4.4 (one 80-row chunk in cache, AVX-512 clone, best of many runs).
 * The sum of squares keeps SUMSQ's lanes and tree: the same bits as before. */
#define FASTGMM_DEFINE_FEATURES(NAME, TX, TF, SUMSQ)                           \
FASTGMM_CLONES                                                                 \
static void NAME(const TX *FASTGMM_RESTRICT X, ptrdiff_t n, ptrdiff_t D,      \
                 const double *FASTGMM_RESTRICT c, int quad,                   \
                 TF *FASTGMM_RESTRICT F, ptrdiff_t P, TF *FASTGMM_RESTRICT zz) \
{                                                                              \
    const ptrdiff_t row_bytes = D * (ptrdiff_t) sizeof(TX);                    \
    const ptrdiff_t ahead = n * row_bytes;  /* row i + n */                    \
    if (D < FASTGMM_NARROW_D) {                                                \
        FASTGMM_NARROW_FEATURES(TX, TF, SUMSQ)                                 \
        return;                                                                \
    }                                                                          \
    if (quad == FASTGMM_QFULL) {                                               \
        for (ptrdiff_t i = 0; i < n; i++) {                                    \
            const TX *x = X + i * D;                                           \
            TF *f = F + i * P;                                                 \
            TF *z2 = zz + i * 2 * D;                                           \
            FASTGMM_PREFETCH_ROW(x, ahead, row_bytes);                         \
            f[0] = 1;                                                          \
            for (ptrdiff_t d = 0; d < D; d++) {                                \
                TF v = (TF) ((double) x[d] - c[d]);                            \
                f[1 + d] = v;                                                  \
                z2[d] = v;                                                     \
                z2[D + d] = v;                                                 \
            }                                                                  \
        }                                                                      \
        if (D == 8)                                                            \
            FASTGMM_FULL_PRODUCTS(TF, 8)                                       \
        else if (D == 16)                                                      \
            FASTGMM_FULL_PRODUCTS(TF, 16)                                      \
        else                                                                   \
            FASTGMM_FULL_PRODUCTS(TF, D)                                       \
    } else if (quad == FASTGMM_QDIAG) {                                        \
        for (ptrdiff_t i = 0; i < n; i++) {                                    \
            const TX *x = X + i * D;                                           \
            TF *f = F + i * P;                                                 \
            FASTGMM_PREFETCH_ROW(x, ahead, row_bytes);                         \
            f[0] = 1;                                                          \
            for (ptrdiff_t d = 0; d < D; d++) {                                \
                TF v = (TF) ((double) x[d] - c[d]);                            \
                f[1 + d] = v;                                                  \
                f[1 + D + d] = v * v;                                          \
            }                                                                  \
        }                                                                      \
    } else if (quad == FASTGMM_QSPHERICAL && D % FASTGMM_LANES == 0) {         \
        /* The loop below without its tail, the same operations: with the   \
         * tail GCC kept the lanes on the stack for its scalar updates and    \
         * the sum read them back, one chunk of 112 rows in L1, best of many  \
         * (AVX-512 clone): 5.1-5.4 -> 3.2-3.4 ns a row at D = 16, 13.3 ->  \
         * 10.8 at D = 64 (D = 13 unchanged, 7.5); W4's pass (1 thread, CPU  \
         * time, interleaved) 0.0496 -> 0.0475 s, the same bits. */          \
        for (ptrdiff_t i = 0; i < n; i++) {                                    \
            const TX *x = X + i * D;                                           \
            TF *f = F + i * P;                                                 \
            FASTGMM_PREFETCH_ROW(x, ahead, row_bytes);                         \
            TF acc[FASTGMM_LANES] = {0};                                       \
            f[0] = 1;                                                          \
            for (ptrdiff_t d0 = 0; d0 < D; d0 += FASTGMM_LANES)                \
                for (ptrdiff_t j = 0; j < FASTGMM_LANES; j++) {                \
                    TF v = (TF) ((double) x[d0 + j] - c[d0 + j]);              \
                    f[1 + d0 + j] = v;                                         \
                    acc[j] += v * v;                                           \
                }                                                              \
            f[1 + D] = ((acc[0] + acc[4]) + (acc[2] + acc[6]))                 \
                     + ((acc[1] + acc[5]) + (acc[3] + acc[7]));                \
        }                                                                      \
    } else if (quad == FASTGMM_QSPHERICAL) {                                   \
        for (ptrdiff_t i = 0; i < n; i++) {                                    \
            const TX *x = X + i * D;                                           \
            TF *f = F + i * P;                                                 \
            FASTGMM_PREFETCH_ROW(x, ahead, row_bytes);                         \
            TF acc[FASTGMM_LANES] = {0};                                       \
            ptrdiff_t d0 = 0;                                                  \
            f[0] = 1;                                                          \
            for (; d0 + FASTGMM_LANES <= D; d0 += FASTGMM_LANES)               \
                for (ptrdiff_t j = 0; j < FASTGMM_LANES; j++) {                \
                    TF v = (TF) ((double) x[d0 + j] - c[d0 + j]);              \
                    f[1 + d0 + j] = v;                                         \
                    acc[j] += v * v;                                           \
                }                                                              \
            for (ptrdiff_t j = 0; d0 + j < D; j++) {                           \
                TF v = (TF) ((double) x[d0 + j] - c[d0 + j]);                  \
                f[1 + d0 + j] = v;                                             \
                acc[j] += v * v;                                               \
            }                                                                  \
            f[1 + D] = ((acc[0] + acc[4]) + (acc[2] + acc[6]))                 \
                     + ((acc[1] + acc[5]) + (acc[3] + acc[7]));                \
        }                                                                      \
    } else {   /* QTIED: q written later by the caller; QLINEAR: no q */       \
        for (ptrdiff_t i = 0; i < n; i++) {                                    \
            const TX *x = X + i * D;                                           \
            TF *f = F + i * P;                                                 \
            FASTGMM_PREFETCH_ROW(x, ahead, row_bytes);                         \
            f[0] = 1;                                                          \
            for (ptrdiff_t d = 0; d < D; d++)                                  \
                f[1 + d] = (TF) ((double) x[d] - c[d]);                        \
            if (quad == FASTGMM_QTIED)                                         \
                f[1 + D] = 0;                                                  \
        }                                                                      \
    }                                                                          \
}

FASTGMM_DEFINE_FEATURES(fastgmm_features_dd, double, double, fastgmm_sumsq_d)
FASTGMM_DEFINE_FEATURES(fastgmm_features_fd, float, double, fastgmm_sumsq_d)

/* One-hot feature rows [1, onehot(x_1), ..., onehot(x_D)] for n rows of
 * categorical codes (row-major, n x D, code of column d in [0, n_d)) into F
 * (row-major, n x P, P = 1 + offsets[D]): column d's indicator block starts
 * at 1 + offsets[d]. Only zeros and ones are written, so the features are
 * exact and the GEMMs that follow see the same numbers on every machine.
 * Each code is checked as it is read (the check rides on the load, in
 * every thread, instead of a separate serial pass over all codes): a code
 * outside its column's range writes nothing, and the position i * D + d of
 * the chunk's first such code is returned (-1 if there is none), for the
 * caller to report. */
FASTGMM_CLONES
static ptrdiff_t fastgmm_features_onehot(const int32_t *FASTGMM_RESTRICT codes, ptrdiff_t n, ptrdiff_t D,
                                         const int64_t *FASTGMM_RESTRICT offsets,
                                         double *FASTGMM_RESTRICT F, ptrdiff_t P)
{
    ptrdiff_t bad = -1;
    for (ptrdiff_t i = 0; i < n; i++) {
        double *f = F + i * P;
        const int32_t *x = codes + i * D;
        for (ptrdiff_t p = 0; p < P; p++)
            f[p] = 0;
        f[0] = 1;
        for (ptrdiff_t d = 0; d < D; d++) {
            int64_t c = x[d];
            if (c < 0 || c >= offsets[d + 1] - offsets[d]) {
                if (bad < 0)
                    bad = i * D + d;
                continue;
            }
            f[1 + offsets[d] + c] = 1;
        }
    }
    return bad;
}

/* One-hot statistics: each row's feature row (times its weight w[i], or 1
 * when w is NULL) added to its component's sums, G[lab * P ..] += w f, for
 * labels lab[i] given as doubles (exact small integers); a label outside
 * 0 .. K - 1 adds nothing. Rows are added in order, as the GEMM's one-hot
 * products would be. In the Cython loop it was 2-wide SSE2 code (F and G
 * might alias there): 30 % of a 200k x 8, K = 8 labels pass (perf, 1 thread).
 * Same operations (a product, then a sum), same bits. */
FASTGMM_CLONES
static void fastgmm_add_by_label_d(const double *FASTGMM_RESTRICT F, ptrdiff_t n, ptrdiff_t P,
                                   const double *FASTGMM_RESTRICT lab, ptrdiff_t K,
                                   const double *FASTGMM_RESTRICT w, double *FASTGMM_RESTRICT G)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        double l = lab[i];
        if (!(l >= 0 && l < (double) K))
            continue;
        double wi = w != NULL ? w[i] : 1.0;
        double *g = G + (ptrdiff_t) l * P;
        const double *f = F + i * P;
        for (ptrdiff_t d = 0; d < P; d++)
            g[d] += wi * f[d];
    }
}

/* Rows X[rows[i]] (i < n) gathered into G (n x D, row-major) in float64,
 * each NaN replaced by the shift c, so that its z = x - c is exactly 0 (the
 * missing-value passes of _estep.pyx). A select, not a branch, so the loop
 * vectorises. */
#define FASTGMM_DEFINE_GATHER(NAME, TX)                                        \
FASTGMM_CLONES                                                                 \
static void NAME(const TX *FASTGMM_RESTRICT X, const int64_t *rows,            \
                 ptrdiff_t n, ptrdiff_t D, const double *FASTGMM_RESTRICT c,   \
                 double *FASTGMM_RESTRICT G)                                   \
{                                                                              \
    for (ptrdiff_t i = 0; i < n; i++) {                                        \
        const TX *x = X + (ptrdiff_t) rows[i] * D;                             \
        double *g = G + i * D;                                                 \
        for (ptrdiff_t d = 0; d < D; d++) {                                    \
            double v = (double) x[d];                                          \
            g[d] = v == v ? v : c[d];                                          \
        }                                                                      \
    }                                                                          \
}

FASTGMM_DEFINE_GATHER(fastgmm_gather_d, double)
FASTGMM_DEFINE_GATHER(fastgmm_gather_f, float)

/* Tied: q = |y|^2 for the rows of Y (n x D, row-major) into F[i * P + 1 + D]. */
#define FASTGMM_DEFINE_TIED_Q(NAME, T, SUMSQ)                                  \
FASTGMM_CLONES                                                                 \
static void NAME(const T *Y, ptrdiff_t n, ptrdiff_t D, T *F, ptrdiff_t P)      \
{                                                                              \
    for (ptrdiff_t i = 0; i < n; i++)                                          \
        F[i * P + 1 + D] = SUMSQ(Y + i * D, D);                                \
}

FASTGMM_DEFINE_TIED_Q(fastgmm_tied_q_d, double, fastgmm_sumsq_d)

/* A weighted log-density is finite or -inf: +inf or NaN can only come from
 * features that overflowed (a row astronomically far from the shift), and
 * such a row is infinitely unlikely. */
#define FASTGMM_DEFINE_FIX(NAME, T)                                            \
FASTGMM_CLONES                                                                 \
static void NAME(T *lp, ptrdiff_t m)                                           \
{                                                                              \
    for (ptrdiff_t i = 0; i < m; i++) {                                        \
        T v = lp[i];                                                           \
        lp[i] = v < (T) INFINITY ? v : (T) -INFINITY;                          \
    }                                                                          \
}

FASTGMM_DEFINE_FIX(fastgmm_fix_d, double)

/* Per-row log-sum-exp of a (K, n) feature-major block of weighted
 * log-densities (non-finite values read as -inf), turned in place into
 * responsibilities. One exp per (row, component).
 *
 * Returns the sum of the rows' log-likelihoods in float64. With row_ll, each
 * row's log-likelihood is written there (one log per row); without it the
 * sum takes one log per 32 rows: sum_i log s_i = log prod_i s_i, where every
 * s_i is in [1, K] (the row's largest term is exp(0) = 1), so a product of 32
 * stays finite for any K < 2^31. A row that no component can produce (every
 * log-density -inf) gets log-likelihood -inf and zero responsibilities.
 * With sample weights w (else NULL) the responsibilities of row i come out
 * multiplied by w[i] (in the same final scaling, no extra pass) and the sum
 * is sum_i w_i log p(x_i), in which a row of weight 0 counts for nothing even
 * if its log-likelihood is -inf.
 *
 * Two versions of the same arithmetic, bitwise equal (tested): the portable
 * one below, a pass over the block per step, and on CPUs with AVX-512 one
 * with eight rows in the lanes of a register (fastgmm_normalise_d_x8). */

/* The rows' log-likelihoods from their maxima mx and sums sm of exp(lp - mx):
 * their (weighted) total, and each row's in row_ll if asked. */
__attribute__((always_inline))
static inline double fastgmm_lse_total(const double *mx, const double *sm, ptrdiff_t n, double *row_ll,
                                       const double *w)
{
    double total = 0.0;
    if (row_ll || w) {
        for (ptrdiff_t i = 0; i < n; i++) {
            double lse = sm[i] > 0 ? mx[i] + log(sm[i]) : -INFINITY;
            if (row_ll)
                row_ll[i] = lse;
            if (!w)
                total += lse;
            else if (w[i] != 0)
                total += w[i] * lse;
        }
    } else {
        double prod = 1.0;
        for (ptrdiff_t i = 0; i < n; i++) {
            total += mx[i];
            prod *= sm[i];
            if ((i & 31) == 31) {
                total += log(prod);
                prod = 1.0;
            }
        }
        if (n & 31)
            total += log(prod);
    }
    return total;
}

FASTGMM_CLONES
static double fastgmm_normalise_d_any(double *lp, ptrdiff_t n, ptrdiff_t K, double *mx, double *sm,
                                      double *row_ll, const double *w)
{
    /* The max of the values read as finite-or--inf, without writing them
     * back: the exp pass reads them the same way. */
    for (ptrdiff_t i = 0; i < n; i++) {
        double v = lp[i];
        mx[i] = v < INFINITY ? v : -INFINITY;
    }
    for (ptrdiff_t k = 1; k < K; k++) {
        const double *lpk = lp + k * n;
        for (ptrdiff_t i = 0; i < n; i++) {
            double v = lpk[i];
            v = v < INFINITY ? v : -INFINITY;
            mx[i] = v > mx[i] ? v : mx[i];
        }
    }
    for (ptrdiff_t i = 0; i < n; i++)
        mx[i] = mx[i] == -INFINITY ? 0 : mx[i]; /* exp(-inf) = 0, not nan */
    /* fastgmm_exp_nonpos gives 0 for the differences that are not in
     * [-708, 0], so +inf and NaN read as -inf here too. The sum starts from
     * the first component's term (0 + e = e exactly). */
    for (ptrdiff_t i = 0; i < n; i++) {
        double e = fastgmm_exp_nonpos(lp[i] - mx[i]);
        lp[i] = e;
        sm[i] = e;
    }
    for (ptrdiff_t k = 1; k < K; k++) {
        double *lpk = lp + k * n;
        for (ptrdiff_t i = 0; i < n; i++) {
            double e = fastgmm_exp_nonpos(lpk[i] - mx[i]);
            lpk[i] = e;
            sm[i] += e;
        }
    }
    double total = fastgmm_lse_total(mx, sm, n, row_ll, w);
    for (ptrdiff_t i = 0; i < n; i++)
        sm[i] = sm[i] > 0 ? (w ? w[i] : 1) / sm[i] : 0;
    for (ptrdiff_t k = 0; k < K; k++) {
        double *lpk = lp + k * n;
        for (ptrdiff_t i = 0; i < n; i++)
            lpk[i] *= sm[i];
    }
    return total;
}

#if FASTGMM_X8
/* The same, eight rows at a time in the lanes of AVX-512 registers: each
 * row's max, exps, sum and final scaling in registers, one read of the
 * block for the max, one for the exps (fastgmm_exp_nonpos_x8) and one for
 * the scaling, where the portable version also reads and writes mx and sm
 * at every step; the rows left over (n mod 8) and the total take the
 * portable operations. Every result is the portable version's, bit for bit
 * (the same operations on each (row, component), in the same order: a
 * lane-wise max is the portable v > m ? v : m, the sum starts from the first
 * term). One chunk of 112 rows x 16 components in L1, AMD EPYC Zen 4, best
 * of 1e5: 1.14 -> 0.97 ns per (row, component). */
__attribute__((target("avx512f")))
static double fastgmm_normalise_d_x8(double *lp, ptrdiff_t n, ptrdiff_t K, double *mx, double *sm,
                                     double *row_ll, const double *w)
{
    __m512i table[8];
    for (int q = 0; q < 8; q++)
        table[q] = _mm512_loadu_si512((const void *) (fastgmm_exp2_64 + 8 * q));
    const __m512d inf = _mm512_set1_pd(INFINITY), ninf = _mm512_set1_pd(-INFINITY);
    const __m512d zero = _mm512_setzero_pd();
    ptrdiff_t i0 = 0;
    for (; i0 + 8 <= n; i0 += 8) {
        __m512d m = ninf;
        for (ptrdiff_t k = 0; k < K; k++) {
            __m512d v = _mm512_loadu_pd(lp + k * n + i0);
            v = _mm512_mask_mov_pd(ninf, _mm512_cmp_pd_mask(v, inf, _CMP_LT_OQ), v);
            m = k == 0 ? v : _mm512_max_pd(v, m);
        }
        m = _mm512_mask_mov_pd(m, _mm512_cmp_pd_mask(m, ninf, _CMP_EQ_OQ), zero);
        _mm512_storeu_pd(mx + i0, m);
        __m512d s = zero;
        for (ptrdiff_t k = 0; k < K; k++) {
            __m512d e = fastgmm_exp_nonpos_x8(_mm512_sub_pd(_mm512_loadu_pd(lp + k * n + i0), m), table);
            _mm512_storeu_pd(lp + k * n + i0, e);
            s = k == 0 ? e : _mm512_add_pd(s, e);
        }
        _mm512_storeu_pd(sm + i0, s);
        __m512d num = w ? _mm512_loadu_pd(w + i0) : _mm512_set1_pd(1.0);
        __m512d scale = _mm512_maskz_div_pd(_mm512_cmp_pd_mask(s, zero, _CMP_GT_OQ), num, s);
        for (ptrdiff_t k = 0; k < K; k++)
            _mm512_storeu_pd(lp + k * n + i0, _mm512_mul_pd(_mm512_loadu_pd(lp + k * n + i0), scale));
    }
    for (ptrdiff_t i = i0; i < n; i++) {
        double m = -INFINITY, s = 0;
        for (ptrdiff_t k = 0; k < K; k++) {
            double v = lp[k * n + i];
            v = v < INFINITY ? v : -INFINITY;
            m = k == 0 || v > m ? v : m;
        }
        mx[i] = m = m == -INFINITY ? 0 : m;
        for (ptrdiff_t k = 0; k < K; k++) {
            double e = fastgmm_exp_nonpos(lp[k * n + i] - m);
            lp[k * n + i] = e;
            s = k == 0 ? e : s + e;
        }
        sm[i] = s;
        double scale = s > 0 ? (w ? w[i] : 1) / s : 0;
        for (ptrdiff_t k = 0; k < K; k++)
            lp[k * n + i] *= scale;
    }
    return fastgmm_lse_total(mx, sm, n, row_ll, w);
}
#endif

static double fastgmm_normalise_d(double *lp, ptrdiff_t n, ptrdiff_t K, double *mx, double *sm, double *row_ll,
                                  const double *w)
{
#if FASTGMM_X8
    if (fastgmm_have_x8)
        return fastgmm_normalise_d_x8(lp, n, K, mx, sm, row_ll, w);
#endif
    return fastgmm_normalise_d_any(lp, n, K, mx, sm, row_ll, w);
}

#endif
