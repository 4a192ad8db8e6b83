"""k-means kernels for initialisation: a Lloyd pass and k-means++ trials.

``lloyd_pass`` is the hot kernel of the default init. Per chunk of rows it
forms squared distances as ||x - s||^2 - 2 (x - s).(c - s) + ||c - s||^2 with
one GEMM, where ``s`` is a shift the caller chooses (the mean of the current
centres): subtracting it before the GEMM keeps the cancellation of that
formula at the scale of the data's spread, not of its distance from the
origin (data at 1e6 with unit spread would otherwise lose every digit in
float32 and most of them in float64). In float64, when the shift is within
1e3 times the centres' spread, rows go to the GEMM unshifted (only the
centres are, and -2 s.(c - s) moves into each centre's constant): the error
is then below ~1e3 eps of the spread's square, and the pass saves a sweep
over each chunk. Every row is assigned and added to its
slot's per-centre sums on the fly: the kernel keeps no per-row state, and
writes labels only when asked for them. For few centres of few features
(``D * K <= DIRECT_MAX_WORK``) the whole chunk (distances, argmin, sums) is
instead one loop over blocks of 8 centred rows held in vector registers, with
no GEMM and no second sweep over the rows. Measured alone on the machine (one
thread, interleaved in-process A/B, 2026-12-01): 1.25x faster on 2M x 10, K=8,
1.07-1.27x on 1M rows with D x K of 2 x 3, 8 x 8, 8 x 16, 12 x 12 and 16 x 8;
at 16 x 16 (over the limit) 1.04x, and on a shared machine 64 x 16 was 0.65x.

``candidate_potentials`` (k-means++ trials) computes distances directly,
sum_d (x_d - c_d)^2, so they are never negative and have no cancellation; it
runs on the small seeding sample in the default init and on all of X only for
``init_params="k-means++"``.

Sums go to per-slot partials (fixed row ranges) that the caller adds in slot
order: no result depends on the thread count.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from ._blas cimport _gemm_f_w


# The two element-wise loops of a Lloyd chunk, in C: with restrict pointers
# gcc vectorises them (the argmin update only once it is branch-free), and
# FASTGMM_CLONES (see _fastexp.h) compiles them for AVX-512 and AVX2 too. The
# build uses -ffp-contract=off and neither loop reassociates, so every version
# gives bitwise identical results.
cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #include "_fastexp.h"
    #if defined(__GNUC__)
    #define FASTGMM_KM_PREFETCH(p) __builtin_prefetch((const void *) (p), 0, 3)
    #else
    #define FASTGMM_KM_PREFETCH(p) ((void) 0)
    #endif
    #if defined(_MSC_VER) || defined(__cplusplus)
    #define FASTGMM_KM_RESTRICT __restrict
    #else
    #define FASTGMM_KM_RESTRICT restrict
    #endif

    /* XC = X - shift row by row (in X's type), xnorm_i = |x_i - shift|^2 in
     * double, summed in 8 interleaved lanes combined in a fixed tree: the
     * lanes vectorise (a single running sum is a chain of dependent adds per
     * row) and the order of operations is still fixed. */
    #define FASTGMM_KM_CENTRE(NAME, T)                                           \
    FASTGMM_CLONES                                                               \
    static void NAME(const T *FASTGMM_KM_RESTRICT X, ptrdiff_t n, ptrdiff_t D,   \
                     const double *FASTGMM_KM_RESTRICT shift,                    \
                     T *FASTGMM_KM_RESTRICT XC, double *FASTGMM_KM_RESTRICT xnorm) \
    {                                                                            \
        for (ptrdiff_t i = 0; i < n; i++) {                                      \
            double acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};            \
            const T *x = X + i * D;                                              \
            T *xc = XC + i * D;                                                  \
            ptrdiff_t d0 = 0;                                                    \
            for (; d0 + 8 <= D; d0 += 8) {                                       \
                for (int l = 0; l < 8; l++) {                                    \
                    double v = (double) x[d0 + l] - shift[d0 + l];               \
                    xc[d0 + l] = (T) v;                                          \
                    acc[l] += v * v;                                             \
                }                                                                \
            }                                                                    \
            for (int l = 0; d0 + l < D; l++) {                                   \
                double v = (double) x[d0 + l] - shift[d0 + l];                   \
                xc[d0 + l] = (T) v;                                              \
                acc[l] += v * v;                                                 \
            }                                                                    \
            xnorm[i] = ((acc[0] + acc[4]) + (acc[2] + acc[6]))                   \
                     + ((acc[1] + acc[5]) + (acc[3] + acc[7]));                  \
        }                                                                        \
    }

    /* best_i = min_k (cnorm_k + DOT[k n + i]) and its first minimiser lab_i.
     * Rows go in blocks of FASTGMM_KM_BLOCK whose running minima stay in
     * registers while k runs, so DOT is the only array read per (i, k). */
    #define FASTGMM_KM_BLOCK 8
    #define FASTGMM_KM_ARGMIN(NAME, T, TX)                                           \
    FASTGMM_CLONES                                                               \
    static void NAME(ptrdiff_t n, ptrdiff_t K, const double *FASTGMM_KM_RESTRICT cnorm, \
                     const T *FASTGMM_KM_RESTRICT DOT,                           \
                     double *FASTGMM_KM_RESTRICT best, int64_t *FASTGMM_KM_RESTRICT lab, \
                     const TX *next, ptrdiff_t n_next, ptrdiff_t D)              \
    {                                                                            \
        ptrdiff_t i0 = 0;                                                        \
        for (; i0 + FASTGMM_KM_BLOCK <= n; i0 += FASTGMM_KM_BLOCK) {             \
            /* The next chunk's rows i0.. are asked for from memory here, a */   \
            /* few lines per block: a single core only keeps a few misses   */   \
            /* in flight, so reading X in bursts (at the start of each      */   \
            /* chunk) leaves it waiting on memory while its compute waits.  */   \
            if (i0 < n_next) {                                                   \
                const char *p = (const char *) (next + i0 * D);                  \
                const char *q = (const char *) (next + ((i0 + FASTGMM_KM_BLOCK < n_next ? i0 + FASTGMM_KM_BLOCK : n_next) * D)); \
                for (; p < q; p += 64)                                           \
                    FASTGMM_KM_PREFETCH(p);                                      \
            }                                                                    \
            double b[FASTGMM_KM_BLOCK];                                          \
            int64_t l[FASTGMM_KM_BLOCK];                                         \
            for (int j = 0; j < FASTGMM_KM_BLOCK; j++) {                         \
                b[j] = cnorm[0] + (double) DOT[i0 + j];                          \
                l[j] = 0;                                                        \
            }                                                                    \
            for (ptrdiff_t k = 1; k < K; k++) {                                  \
                const double ck = cnorm[k];                                      \
                const int64_t kk = (int64_t) k;                                  \
                const T *dk = DOT + k * n + i0;                                  \
                /* A loop, not straight code (gcc does not vectorise that    */  \
                /* form); the label by a bit mask, not a select, which gcc   */  \
                /* turns into a masked store and a mispredicted branch.      */  \
                _Pragma("GCC unroll 1")                                          \
                for (int j = 0; j < FASTGMM_KM_BLOCK; j++) {                     \
                    double v = ck + (double) dk[j];                              \
                    double bj = b[j];                                            \
                    int64_t m = -(int64_t) (v < bj);                             \
                    l[j] = (l[j] & ~m) | (kk & m);                               \
                    b[j] = v < bj ? v : bj;                                      \
                }                                                                \
            }                                                                    \
            for (int j = 0; j < FASTGMM_KM_BLOCK; j++) {                         \
                best[i0 + j] = b[j];                                             \
                lab[i0 + j] = l[j];                                              \
            }                                                                    \
        }                                                                        \
        for (ptrdiff_t i = i0; i < n; i++) {                                     \
            double bi = cnorm[0] + (double) DOT[i];                              \
            int64_t li = 0;                                                      \
            for (ptrdiff_t k = 1; k < K; k++) {                                  \
                double v = cnorm[k] + (double) DOT[k * n + i];                   \
                if (v < bi) { bi = v; li = k; }                                  \
            }                                                                    \
            best[i] = bi;                                                        \
            lab[i] = li;                                                         \
        }                                                                        \
    }

    /* Adds row i (weight w_i, 1 if w is NULL; rows of weight 0 are skipped) to
     * its centre's sums of (x - shift) and weight and to the inertia, and
     * turns best_i into its squared distance (never negative). xnorm NULL:
     * |x_i - shift|^2 is computed here, in the same lanes and order as
     * FASTGMM_KM_CENTRE. */
    #define FASTGMM_KM_ACCUMULATE(NAME, T)                                       \
    FASTGMM_CLONES                                                               \
    static void NAME(const T *FASTGMM_KM_RESTRICT X, const double *FASTGMM_KM_RESTRICT w, \
                     ptrdiff_t n, ptrdiff_t D, const double *FASTGMM_KM_RESTRICT shift, \
                     const int64_t *FASTGMM_KM_RESTRICT lab,                     \
                     const double *FASTGMM_KM_RESTRICT xnorm,                    \
                     double *FASTGMM_KM_RESTRICT best,                           \
                     double *FASTGMM_KM_RESTRICT sums, double *FASTGMM_KM_RESTRICT counts, \
                     double *FASTGMM_KM_RESTRICT inertia)                        \
    {                                                                            \
        double in = *inertia;                                                    \
        for (ptrdiff_t i = 0; i < n; i++) {                                      \
            double wi = w == NULL ? 1.0 : w[i];                                  \
            if (wi == 0.0)                                                       \
                continue;                                                        \
            int64_t k = lab[i];                                                  \
            double *sk = sums + k * D;                                           \
            const T *x = X + i * D;                                              \
            double xn;                                                           \
            if (xnorm != NULL) {                                                 \
                xn = xnorm[i];                                                   \
                for (ptrdiff_t d = 0; d < D; d++)                                \
                    sk[d] += wi * ((double) x[d] - shift[d]);                    \
            } else {                                                             \
                double acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};        \
                ptrdiff_t d0 = 0;                                                \
                for (; d0 + 8 <= D; d0 += 8) {                                   \
                    for (int l = 0; l < 8; l++) {                                \
                        double v = (double) x[d0 + l] - shift[d0 + l];           \
                        sk[d0 + l] += wi * v;                                    \
                        acc[l] += v * v;                                         \
                    }                                                            \
                }                                                                \
                for (int l = 0; d0 + l < D; l++) {                               \
                    double v = (double) x[d0 + l] - shift[d0 + l];               \
                    sk[d0 + l] += wi * v;                                        \
                    acc[l] += v * v;                                             \
                }                                                                \
                xn = ((acc[0] + acc[4]) + (acc[2] + acc[6]))                     \
                   + ((acc[1] + acc[5]) + (acc[3] + acc[7]));                    \
            }                                                                    \
            double dsq = best[i] + xn;                                           \
            dsq = dsq < 0.0 ? 0.0 : dsq;                                         \
            best[i] = dsq;                                                       \
            counts[k] += wi;                                                     \
            in += wi * dsq;                                                      \
        }                                                                        \
        *inertia = in;                                                           \
    }

    /* A whole Lloyd chunk without a GEMM, for few centres of few features
     * (small D K: see DIRECT_MAX_WORK), where a 384 x D x K GEMM spends most
     * of its time packing and in edge cases, and the argmin and the
     * accumulation then re-read its K x n output and the rows. Rows go in
     * blocks of 8, centred and transposed into XT (D x 8, double), so that
     * every operation acts on the 8 rows of a block at once (one vector:
     * GCC's vector extensions, as the auto-vectoriser kept the lanes in
     * memory and ran 4x slower), four centres at a time (four independent
     * chains of adds). Per row i of the block:
     *   best_i = min_k (cnorm_k + sum_d z_id C[d K + k])   (z = x - shift; C
     *            is the GEMM path's operand CT; the sum in the order of d, in T)
     *   lab_i  = its first minimiser
     *   dsq_i  = max(best_i + |z_i|^2, 0), written to best
     * then, for rows of positive weight, sums[lab] += w z, counts[lab] += w,
     * inertia += w dsq (the block's 8 lanes, added in a fixed order at the
     * end of the chunk). The missing rows of a short last block repeat its
     * first row with weight 0 and are not written. Without GCC's extensions
     * the same per-row operations run as scalar loops. */
    #if defined(__GNUC__)
    typedef double fastgmm_v8d __attribute__((vector_size(64)));
    typedef float fastgmm_v8f __attribute__((vector_size(32)));
    typedef int64_t fastgmm_v8i __attribute__((vector_size(64)));
    #define FASTGMM_KM_DIRECT(NAME, T, VT)                                       \
    FASTGMM_CLONES                                                               \
    static void NAME(const T *FASTGMM_KM_RESTRICT X, const double *FASTGMM_KM_RESTRICT w, \
                     ptrdiff_t n, ptrdiff_t D, const double *FASTGMM_KM_RESTRICT shift, \
                     const T *FASTGMM_KM_RESTRICT C, ptrdiff_t K,                \
                     const double *FASTGMM_KM_RESTRICT cnorm,                    \
                     double *FASTGMM_KM_RESTRICT XT,                             \
                     double *FASTGMM_KM_RESTRICT best, int64_t *FASTGMM_KM_RESTRICT lab, \
                     double *FASTGMM_KM_RESTRICT sums, double *FASTGMM_KM_RESTRICT counts, \
                     double *FASTGMM_KM_RESTRICT inertia,                        \
                     const T *next, ptrdiff_t n_next)                            \
    {                                                                            \
        fastgmm_v8d in = {0};                                                    \
        for (ptrdiff_t i0 = 0; i0 < n; i0 += 8) {                                \
            ptrdiff_t nb = n - i0 < 8 ? n - i0 : 8;                              \
            FASTGMM_KM_NEXT_LINES                                                \
            for (int j = 0; j < 8; j++) {                                        \
                const T *x = X + (i0 + (j < nb ? j : 0)) * D;                    \
                for (ptrdiff_t d = 0; d < D; d++)                                \
                    XT[d * 8 + j] = (double) x[d] - shift[d];                    \
            }                                                                    \
            fastgmm_v8d b = (fastgmm_v8d) {0} + 1.0 / 0.0;                       \
            fastgmm_v8i l = {0};                                                 \
            ptrdiff_t k = 0;                                                     \
            for (; k + 4 <= K; k += 4) {                                         \
                VT a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                       \
                const T *c0 = C + k, *c1 = c0 + 1, *c2 = c1 + 1, *c3 = c2 + 1;     \
                for (ptrdiff_t d = 0; d < D; d++) {                              \
                    VT z = FASTGMM_KM_LOAD(VT, d);                               \
                    a0 += z * c0[d * K];                                         \
                    a1 += z * c1[d * K];                                         \
                    a2 += z * c2[d * K];                                         \
                    a3 += z * c3[d * K];                                         \
                }                                                                \
                FASTGMM_KM_TAKE(a0, k)                                           \
                FASTGMM_KM_TAKE(a1, k + 1)                                       \
                FASTGMM_KM_TAKE(a2, k + 2)                                       \
                FASTGMM_KM_TAKE(a3, k + 3)                                       \
            }                                                                    \
            for (; k < K; k++) {                                                 \
                VT a0 = {0};                                                     \
                const T *c0 = C + k;                                             \
                for (ptrdiff_t d = 0; d < D; d++)                                \
                    a0 += FASTGMM_KM_LOAD(VT, d) * c0[d * K];                    \
                FASTGMM_KM_TAKE(a0, k)                                           \
            }                                                                    \
            fastgmm_v8d zn = {0};                                                \
            for (ptrdiff_t d = 0; d < D; d++) {                                  \
                fastgmm_v8d z = FASTGMM_KM_LOAD(fastgmm_v8d, d);                 \
                zn += z * z;                                                     \
            }                                                                    \
            fastgmm_v8d dsq = b + zn;                                            \
            dsq = (fastgmm_v8d) ((fastgmm_v8i) dsq & ~(dsq < 0.0));              \
            fastgmm_v8d wv;                                                      \
            for (int j = 0; j < 8; j++)                                          \
                wv[j] = j >= nb ? 0.0 : (w == NULL ? 1.0 : w[i0 + j]);           \
            /* weight 0: absent, even with an infinite distance */               \
            in += (fastgmm_v8d) ((fastgmm_v8i) (wv * dsq) & (wv > 0.0));         \
            for (int j = 0; j < nb; j++) {                                       \
                best[i0 + j] = dsq[j];                                           \
                lab[i0 + j] = l[j];                                              \
                double wj = wv[j];                                               \
                if (wj == 0.0)                                                   \
                    continue;                                                    \
                double *sk = sums + l[j] * D;                                    \
                const T *x = X + (i0 + j) * D;                                   \
                if (w == NULL) {                                                 \
                    for (ptrdiff_t d = 0; d < D; d++)                            \
                        sk[d] += (double) x[d] - shift[d];                       \
                } else {                                                         \
                    for (ptrdiff_t d = 0; d < D; d++)                            \
                        sk[d] += wj * ((double) x[d] - shift[d]);                \
                }                                                                \
                counts[l[j]] += wj;                                              \
            }                                                                    \
        }                                                                        \
        *inertia += (((in[0] + in[4]) + (in[2] + in[6])) + ((in[1] + in[5]) + (in[3] + in[7]))); \
    }
    /* Row d of XT as a vector of 8 VT (converted from double when VT is float). */
    #define FASTGMM_KM_LOAD(VT, d)                                               \
        __extension__ ({ fastgmm_v8d t_;                                         \
                         memcpy(&t_, XT + (d) * 8, sizeof t_);                   \
                         __builtin_convertvector(t_, VT); })
    /* Lanes whose cnorm_k + a_j is below the running minimum take centre k
     * (bit masks: the vector extensions have no select in C). */
    #define FASTGMM_KM_TAKE(a, kc)                                               \
        {                                                                        \
            fastgmm_v8d v = cnorm[kc] + __builtin_convertvector(a, fastgmm_v8d); \
            fastgmm_v8i m = v < b;                                               \
            l = (l & ~m) | (((fastgmm_v8i) {0} + (int64_t) (kc)) & m);           \
            b = (fastgmm_v8d) (((fastgmm_v8i) b & ~m) | ((fastgmm_v8i) v & m));  \
        }
    #else
    #define FASTGMM_KM_DIRECT(NAME, T, VT)                                       \
    static void NAME(const T *FASTGMM_KM_RESTRICT X, const double *FASTGMM_KM_RESTRICT w, \
                     ptrdiff_t n, ptrdiff_t D, const double *FASTGMM_KM_RESTRICT shift, \
                     const T *FASTGMM_KM_RESTRICT C, ptrdiff_t K,                \
                     const double *FASTGMM_KM_RESTRICT cnorm,                    \
                     double *FASTGMM_KM_RESTRICT XT,                             \
                     double *FASTGMM_KM_RESTRICT best, int64_t *FASTGMM_KM_RESTRICT lab, \
                     double *FASTGMM_KM_RESTRICT sums, double *FASTGMM_KM_RESTRICT counts, \
                     double *FASTGMM_KM_RESTRICT inertia,                        \
                     const T *next, ptrdiff_t n_next)                            \
    {                                                                            \
        (void) next; (void) n_next;                                              \
        double in = 0.0;                                                         \
        for (ptrdiff_t i = 0; i < n; i++) {                                      \
            const T *x = X + i * D;                                              \
            double zn = 0.0, bi = 1.0 / 0.0;                                     \
            int64_t li = 0;                                                      \
            for (ptrdiff_t d = 0; d < D; d++) {                                  \
                XT[d] = (double) x[d] - shift[d];                                \
                zn += XT[d] * XT[d];                                             \
            }                                                                    \
            for (ptrdiff_t k = 0; k < K; k++) {                                  \
                T a = 0;                                                         \
                for (ptrdiff_t d = 0; d < D; d++)                                \
                    a += (T) XT[d] * C[d * K + k];                               \
                double v = cnorm[k] + (double) a;                                \
                if (v < bi) { bi = v; li = k; }                                  \
            }                                                                    \
            double dsq = bi + zn < 0.0 ? 0.0 : bi + zn;                          \
            double wi = w == NULL ? 1.0 : w[i];                                  \
            best[i] = dsq;                                                       \
            lab[i] = li;                                                         \
            if (wi == 0.0)                                                       \
                continue;                                                        \
            for (ptrdiff_t d = 0; d < D; d++)                                    \
                sums[li * D + d] += wi * XT[d];                                  \
            counts[li] += wi;                                                    \
            in += wi * dsq;                                                      \
        }                                                                        \
        *inertia += in;                                                          \
    }
    #endif
    /* The next chunk's rows i0.. asked for from memory (see FASTGMM_KM_ARGMIN). */
    #define FASTGMM_KM_NEXT_LINES                                                \
            if (i0 < n_next) {                                                   \
                const char *p = (const char *) (next + i0 * D);                  \
                const char *q = (const char *) (next + ((i0 + 8 < n_next ? i0 + 8 : n_next) * D)); \
                for (; p < q; p += 64)                                           \
                    FASTGMM_KM_PREFETCH(p);                                      \
            }

    FASTGMM_KM_CENTRE(fastgmm_km_centre_d, double)
    FASTGMM_KM_CENTRE(fastgmm_km_centre_f, float)
    FASTGMM_KM_ARGMIN(fastgmm_km_argmin_d, double, double)
    FASTGMM_KM_ARGMIN(fastgmm_km_argmin_f, float, float)
    FASTGMM_KM_ACCUMULATE(fastgmm_km_accumulate_d, double)
    FASTGMM_KM_ACCUMULATE(fastgmm_km_accumulate_f, float)
    FASTGMM_KM_DIRECT(fastgmm_km_direct_d, double, fastgmm_v8d)
    FASTGMM_KM_DIRECT(fastgmm_km_direct_f, float, fastgmm_v8f)
    """
    void fastgmm_km_centre_d(const double *X, Py_ssize_t n, Py_ssize_t D, const double *shift,
                             double *XC, double *xnorm) noexcept nogil
    void fastgmm_km_centre_f(const float *X, Py_ssize_t n, Py_ssize_t D, const double *shift,
                             float *XC, double *xnorm) noexcept nogil
    void fastgmm_km_argmin_d(Py_ssize_t n, Py_ssize_t K, const double *cnorm, const double *DOT,
                             double *best, int64_t *lab, const double *next, Py_ssize_t n_next,
                             Py_ssize_t D) noexcept nogil
    void fastgmm_km_argmin_f(Py_ssize_t n, Py_ssize_t K, const double *cnorm, const float *DOT,
                             double *best, int64_t *lab, const float *next, Py_ssize_t n_next,
                             Py_ssize_t D) noexcept nogil
    void fastgmm_km_accumulate_d(const double *X, const double *w, Py_ssize_t n, Py_ssize_t D,
                                 const double *shift, const int64_t *lab, const double *xnorm,
                                 double *best, double *sums, double *counts, double *inertia) noexcept nogil
    void fastgmm_km_accumulate_f(const float *X, const double *w, Py_ssize_t n, Py_ssize_t D,
                                 const double *shift, const int64_t *lab, const double *xnorm,
                                 double *best, double *sums, double *counts, double *inertia) noexcept nogil
    void fastgmm_km_direct_d(const double *X, const double *w, Py_ssize_t n, Py_ssize_t D,
                             const double *shift, const double *C, Py_ssize_t K, const double *cnorm,
                             double *XT, double *best, int64_t *lab, double *sums, double *counts,
                             double *inertia, const double *next, Py_ssize_t n_next) noexcept nogil
    void fastgmm_km_direct_f(const float *X, const double *w, Py_ssize_t n, Py_ssize_t D,
                             const double *shift, const float *C, Py_ssize_t K, const double *cnorm,
                             double *XT, double *best, int64_t *lab, double *sums, double *counts,
                             double *inertia, const float *next, Py_ssize_t n_next) noexcept nogil


# Largest D * K whose Lloyd distances come from the direct loop rather than a
# GEMM (see lloyd_pass).
DIRECT_MAX_WORK = 144


cdef inline Py_ssize_t _min(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline void _load_transposed(
    const floating *X,        # IN  (n, D) row-major rows of the chunk
    Py_ssize_t n, Py_ssize_t D,
    floating *XT,             # OUT (D, n) feature-major: XT[d * n + i] = x_id
) noexcept nogil:
    # Rows go in tiles of 8 so that every store run fills a whole cache line.
    cdef Py_ssize_t i, i0, d, l
    cdef Py_ssize_t n8 = n - n % 8
    for i0 in range(0, n8, 8):
        for d in range(D):
            for l in range(8):
                XT[d * n + i0 + l] = X[(i0 + l) * D + d]
    for i in range(n8, n):
        for d in range(D):
            XT[d * n + i] = X[i * D + d]


cdef void _sq_dist(
    const floating *XT, Py_ssize_t n, Py_ssize_t D,
    const floating *c,      # IN (D,) one centre
    double *out,            # OUT (n,) squared distances
) noexcept nogil:
    cdef Py_ssize_t d, i
    cdef double z, cd
    cdef const floating *xd
    for i in range(n):
        out[i] = 0.0
    for d in range(D):
        cd = c[d]
        xd = XT + d * n
        for i in range(n):
            z = <double> xd[i] - cd
            out[i] += z * z


cdef inline void _far_push(
    double *fd, int64_t *fr, int64_t *fl, Py_ssize_t R,   # IN/OUT min-heap of the slot's R farthest rows
    double dist, int64_t row, int64_t lab,                # IN  a row whose dist exceeds the heap's root
) noexcept nogil:
    # Replace the root (the nearest of the R farthest so far) and sift down.
    cdef Py_ssize_t j = 0, c
    while True:
        c = 2 * j + 1
        if c >= R:
            break
        if c + 1 < R and fd[c + 1] < fd[c]:
            c = c + 1
        if fd[c] >= dist:
            break
        fd[j] = fd[c]
        fr[j] = fr[c]
        fl[j] = fl[c]
        j = c
    fd[j] = dist
    fr[j] = row
    fl[j] = lab


cdef void _lloyd_chunk(
    const floating *X,      # IN  (n, D) rows of the chunk
    const double *w,        # IN  (n,) their weights, or NULL (all 1)
    Py_ssize_t r0,          # IN  index of the chunk's first row in X
    Py_ssize_t n, Py_ssize_t D, Py_ssize_t K, Py_ssize_t R,
    Py_ssize_t n_next,      # IN  rows of the slot's next chunk (prefetched), 0 for none
    const double *shift,    # IN  (D,)
    const floating *CT,     # IN  (D, K) row-major: CT[d * K + k] = -2 (c_kd - s_d)
    bint direct,            # IN  the direct path (no GEMM; see FASTGMM_KM_DIRECT)
    const double *cnorm,    # IN  (K,) ||c_k - s||^2 of the rounded CT, + 2 s.(c_k - s) if not centre_rows
    bint centre_rows,       # IN  subtract s from the rows before the GEMM (always for float32)
    floating *XC,           # scratch (n, D): x - s
    floating *DOT,          # scratch (K, n): DOT[k * n + i] = -2 (x_i - s).(c_k - s)
    double *XT,             # scratch (D, 8): a block of rows, centred and transposed (direct path)
    double *xnorm,          # scratch (n,)
    double *best,           # scratch (n,)
    int64_t *blab,          # scratch (n,)
    double *sums,           # IN/OUT (K, D) the slot's sum of w (x - s) per centre
    double *counts,         # IN/OUT (K,)   the slot's sum of w per centre
    double *inertia,        # IN/OUT (1,)
    double *fd, int64_t *fr, int64_t *fl,   # IN/OUT (R,) the slot's heap of far rows
    int64_t *labels,        # OUT (n,) or NULL
) noexcept nogil:
    cdef Py_ssize_t i
    if direct:
        if floating is float:
            fastgmm_km_direct_f(X, w, n, D, shift, CT, K, cnorm, XT, best, blab, sums, counts,
                                inertia, X + n * D, n_next)
        else:
            fastgmm_km_direct_d(X, w, n, D, shift, CT, K, cnorm, XT, best, blab, sums, counts,
                                inertia, X + n * D, n_next)
    elif floating is float:
        fastgmm_km_centre_f(X, n, D, shift, XC, xnorm)
        _gemm_f_w(<int> n, <int> D, <int> K, XC, CT, DOT)
        fastgmm_km_argmin_f(n, K, cnorm, DOT, best, blab, X + n * D, n_next, D)
        fastgmm_km_accumulate_f(X, w, n, D, shift, blab, xnorm, best, sums, counts, inertia)
    elif centre_rows:
        fastgmm_km_centre_d(X, n, D, shift, XC, xnorm)
        _gemm_f_w(<int> n, <int> D, <int> K, XC, CT, DOT)
        fastgmm_km_argmin_d(n, K, cnorm, DOT, best, blab, X + n * D, n_next, D)
        fastgmm_km_accumulate_d(X, w, n, D, shift, blab, xnorm, best, sums, counts, inertia)
    else:
        _gemm_f_w(<int> n, <int> D, <int> K, X, CT, DOT)
        fastgmm_km_argmin_d(n, K, cnorm, DOT, best, blab, X + n * D, n_next, D)
        fastgmm_km_accumulate_d(X, w, n, D, shift, blab, NULL, best, sums, counts, inertia)
    if labels != NULL:
        for i in range(n):
            labels[i] = blab[i]
    if R > 0:
        for i in range(n):
            if best[i] > fd[0] and (w == NULL or w[i] != 0.0):
                _far_push(fd, fr, fl, R, best[i], r0 + i, blab[i])


def lloyd_pass(
    const floating[:, ::1] X,           # IN  (n_samples, D)
    const double[::1] sample_weight,    # IN  (n_samples,) non-negative, or None (all 1)
    const double[:, ::1] centres,       # IN  (K, D)
    const double[::1] shift,            # IN  (D,) subtracted from rows and centres before the GEMM
    Py_ssize_t chunk_rows,              # IN
    Py_ssize_t slot_rows,               # IN  multiple of chunk_rows
    double[:, ::1] sums,                # OUT (n_slots, K * D), zero-filled: sum of w (x - shift) per centre
    double[:, ::1] counts,              # OUT (n_slots, K), zero-filled: sum of w per centre
    double[::1] inertia,                # OUT (n_slots,), zero-filled: sum of w |x - nearest centre|^2
    double[:, ::1] far_dist,            # OUT (n_slots, R), filled with -1: squared distances of the
                                        #     R rows of positive weight farthest from their centre
    int64_t[:, ::1] far_row,            # OUT (n_slots, R): those rows (-1 where fewer than R)
    int64_t[:, ::1] far_label,          # OUT (n_slots, R): their nearest centre
    int64_t[::1] labels,                # OUT (n_samples,) nearest centre, or None
    int n_threads,                      # IN
    int direct=-1,                      # IN  distances without a GEMM: 1 yes, 0 no, -1 by the shape
):
    """One Lloyd pass: assign every row to its nearest centre, add per-slot statistics.

    The distances come from a GEMM per chunk, or, for few centres of few
    features (``D * K <= DIRECT_MAX_WORK``, or as ``direct`` says), from a
    loop over blocks of 8 rows that keeps them in registers (the choice
    depends on the shape only, so results never depend on the thread count).

    Rows of zero weight get a label but add nothing (they are absent). The
    far-row heaps of each slot are in heap order, not sorted. Returns -1 if
    scratch memory could not be allocated, else 0.
    """
    cdef Py_ssize_t N = X.shape[0], D = X.shape[1], K = centres.shape[0]
    cdef Py_ssize_t n_slots = counts.shape[0], R = far_dist.shape[1]
    if centres.shape[1] != D or shift.shape[0] != D:
        raise ValueError("centres and shift must have n_features columns")
    if K < 1:
        raise ValueError("need at least one centre")
    if chunk_rows < 1 or slot_rows < chunk_rows or slot_rows % chunk_rows:
        raise ValueError("slot_rows must be a positive multiple of chunk_rows")
    if n_slots != max(1, (N + slot_rows - 1) // slot_rows):
        raise ValueError("n_slots does not match the data and slot_rows")
    if (sums.shape[0] != n_slots or sums.shape[1] != K * D or counts.shape[1] != K
            or inertia.shape[0] != n_slots or far_dist.shape[0] != n_slots
            or far_row.shape[0] != n_slots or far_row.shape[1] != R
            or far_label.shape[0] != n_slots or far_label.shape[1] != R):
        raise ValueError("output shapes do not match")
    cdef bint weighted = sample_weight is not None
    if weighted and sample_weight.shape[0] != N:
        raise ValueError("sample_weight must have n_samples entries")
    cdef bint want_labels = labels is not None
    if want_labels and labels.shape[0] != N:
        raise ValueError("labels must have n_samples entries")
    if N == 0:
        return 0
    n_threads = <int> _min(max(n_threads, 1), n_slots)

    # The shifted centres in X's dtype, transposed for the GEMM, and their
    # norms from the rounded values (what the GEMM sees).
    if direct < 0:
        direct = D * K <= DIRECT_MAX_WORK
    cdef floating *CT = <floating *> malloc(K * D * sizeof(floating))
    cdef double *cnorm = <double *> malloc(K * sizeof(double))
    cdef double *ranks_bias = <double *> malloc(K * sizeof(double))
    if CT == NULL or cnorm == NULL or ranks_bias == NULL:
        free(CT)
        free(cnorm)
        free(ranks_bias)
        return -1
    cdef Py_ssize_t s, r0, r_end, n, k, d
    cdef double acc, acc_s, v, shift_sq = 0.0, spread_sq = 0.0
    for k in range(K):
        acc = 0.0
        acc_s = 0.0
        for d in range(D):
            v = <double> <floating> (centres[k, d] - shift[d])
            acc = acc + v * v
            acc_s = acc_s + shift[d] * v
            # -2 folded into the GEMM's operand: exact (a power of two), and
            # the argmin is then one add per row and centre.
            CT[d * K + k] = <floating> (-2.0 * v)
        cnorm[k] = acc
        spread_sq = max(spread_sq, acc)
        if k == 0:
            for d in range(D):
                shift_sq = shift_sq + shift[d] * shift[d]
        ranks_bias[k] = acc + 2.0 * acc_s
    # Rows need not be centred when the shift is small against the centres'
    # spread: -2 x.(c - s) then carries an error of about eps |x| |c - s|,
    # under 1e3 eps of the spread's square, and the pass skips one sweep over
    # each chunk (~25 % of its time). Far from the origin (|s| > 1e3 times the
    # spread), and always in float32, rows are centred first.
    cdef bint centre_rows = floating is float or direct or not (shift_sq <= 1e6 * spread_sq)
    if not centre_rows:
        for k in range(K):
            cnorm[k] = ranks_bias[k]

    cdef const floating *Xp = &X[0, 0]
    cdef const double *wp = NULL
    if weighted:
        wp = &sample_weight[0]
    cdef const double *shp = &shift[0]
    cdef double *sp = &sums[0, 0]
    cdef double *cntp = &counts[0, 0]
    cdef double *inp = &inertia[0]
    cdef double *fdp = NULL
    cdef int64_t *frp = NULL
    cdef int64_t *flp = NULL
    if R > 0:
        fdp = &far_dist[0, 0]
        frp = &far_row[0, 0]
        flp = &far_label[0, 0]
    cdef int64_t *lbp = NULL
    if want_labels:
        lbp = &labels[0]
    cdef int status[1]
    status[0] = 0
    cdef floating *XC
    cdef floating *DOT
    cdef double *XT
    cdef double *xnorm
    cdef double *best
    cdef int64_t *blab
    cdef bint ok

    # A slot's sums, counts, inertia and far-row heap are accumulated in the
    # thread's own cache-line-aligned scratch and copied to the slot's output
    # rows when the slot is done: the output rows of adjacent slots share
    # cache lines (a slot's K counts are 64 bytes for K = 8, at 16-byte
    # alignment), and with the two threads on adjacent slots every row's
    # count update bounced a line between the cores (2M x 10, K = 8: 33 ms
    # per pass on 2 threads against 29 on one). The additions are the same,
    # in the same order, so the results are unchanged.
    cdef Py_ssize_t n_acc = K * D + K + 1 + R
    cdef char *raw
    cdef double *slot_acc
    cdef int64_t *slot_rows_acc
    with nogil, parallel(num_threads=n_threads):
        XC = <floating *> malloc(chunk_rows * D * sizeof(floating))
        DOT = <floating *> malloc(chunk_rows * K * sizeof(floating))
        XT = <double *> malloc(8 * D * sizeof(double))
        xnorm = <double *> malloc(chunk_rows * sizeof(double))
        best = <double *> malloc(chunk_rows * sizeof(double))
        blab = <int64_t *> malloc(chunk_rows * sizeof(int64_t))
        raw = <char *> malloc((n_acc + 2 * R) * 8 + 128)
        ok = (XC != NULL and DOT != NULL and XT != NULL and xnorm != NULL and best != NULL
              and blab != NULL and raw != NULL)
        if not ok:
            status[0] = 1
        slot_acc = NULL
        slot_rows_acc = NULL
        if raw != NULL:
            slot_acc = <double *> (raw + (64 - (<size_t> raw) % 64))
            slot_rows_acc = <int64_t *> (slot_acc + n_acc)
        for s in prange(n_slots, schedule='dynamic'):
            if ok:
                for k in range(K * D + K + 1):
                    slot_acc[k] = 0.0
                for k in range(R):
                    slot_acc[K * D + K + 1 + k] = -1.0
                    slot_rows_acc[k] = -1
                    slot_rows_acc[R + k] = -1
                r0 = s * slot_rows
                r_end = _min(N, r0 + slot_rows)
                while r0 < r_end:
                    n = _min(chunk_rows, r_end - r0)
                    _lloyd_chunk(
                        Xp + r0 * D, (wp + r0) if weighted else NULL, r0, n, D, K, R,
                        _min(chunk_rows, r_end - r0 - n),
                        shp, CT, direct, cnorm, centre_rows, XC, DOT, XT, xnorm, best, blab,
                        slot_acc, slot_acc + K * D, slot_acc + K * D + K,
                        (slot_acc + K * D + K + 1) if R > 0 else NULL,
                        slot_rows_acc if R > 0 else NULL,
                        (slot_rows_acc + R) if R > 0 else NULL,
                        (lbp + r0) if want_labels else NULL,
                    )
                    r0 = r0 + n
                for k in range(K * D):
                    sp[s * K * D + k] = slot_acc[k]
                for k in range(K):
                    cntp[s * K + k] = slot_acc[K * D + k]
                inp[s] = slot_acc[K * D + K]
                for k in range(R):
                    fdp[s * R + k] = slot_acc[K * D + K + 1 + k]
                    frp[s * R + k] = slot_rows_acc[k]
                    flp[s * R + k] = slot_rows_acc[R + k]
        free(XC)
        free(DOT)
        free(XT)
        free(xnorm)
        free(best)
        free(blab)
        free(raw)
    free(CT)
    free(cnorm)
    free(ranks_bias)
    return -1 if status[0] else 0


def candidate_potentials(
    const floating[:, ::1] X,           # IN  (n_samples, D)
    const double[::1] sample_weight,    # IN  (n_samples,) or None (all 1)
    const floating[:, ::1] candidates,  # IN  (T, D)
    const double[::1] closest,          # IN  (n_samples,) current squared distance to the nearest centre
    Py_ssize_t chunk_rows,              # IN
    Py_ssize_t slot_rows,               # IN
    double[:, ::1] potentials,          # OUT (n_slots, T), zero-filled: sum_i w_i min(closest_i, |x_i - cand_t|^2)
    double[:, ::1] new_closest,         # OUT (T, n_samples) or None: min(closest, dist to candidate t)
    int n_threads,                      # IN
):
    """k-means++ trial: the (weighted) potential each candidate centre would leave.

    With ``new_closest`` given (one candidate row per output row) the updated
    nearest-centre distances are written too. Returns -1 on allocation
    failure, else 0.
    """
    cdef Py_ssize_t N = X.shape[0], D = X.shape[1], T = candidates.shape[0]
    cdef Py_ssize_t n_slots = potentials.shape[0]
    if candidates.shape[1] != D or closest.shape[0] != N or potentials.shape[1] != T:
        raise ValueError("shapes do not match")
    if chunk_rows < 1 or slot_rows < chunk_rows or slot_rows % chunk_rows:
        raise ValueError("slot_rows must be a positive multiple of chunk_rows")
    if n_slots != (N + slot_rows - 1) // slot_rows:
        raise ValueError("n_slots does not match the data and slot_rows")
    cdef bint want_new = new_closest is not None
    if want_new and (new_closest.shape[0] != T or new_closest.shape[1] != N):
        raise ValueError("new_closest must have shape (n_candidates, n_samples)")
    cdef bint weighted = sample_weight is not None
    if weighted and sample_weight.shape[0] != N:
        raise ValueError("sample_weight must have n_samples entries")
    if N == 0:
        return 0
    n_threads = <int> _min(max(n_threads, 1), n_slots)

    cdef const floating *Xp = &X[0, 0]
    cdef const floating *cp = &candidates[0, 0]
    cdef const double *clp = &closest[0]
    cdef const double *wp = NULL
    if weighted:
        wp = &sample_weight[0]
    cdef double *pp = &potentials[0, 0]
    cdef double *ncp = NULL
    if want_new:
        ncp = &new_closest[0, 0]
    cdef int status[1]
    status[0] = 0
    cdef Py_ssize_t s, r0, r_end, n, i, t
    cdef floating *XT
    cdef double *dist
    cdef double acc, v
    cdef bint ok

    with nogil, parallel(num_threads=n_threads):
        XT = <floating *> malloc(chunk_rows * D * sizeof(floating))
        dist = <double *> malloc(chunk_rows * sizeof(double))
        ok = XT != NULL and dist != NULL
        if not ok:
            status[0] = 1
        for s in prange(n_slots, schedule='dynamic'):
            if ok:
                r0 = s * slot_rows
                r_end = _min(N, r0 + slot_rows)
                while r0 < r_end:
                    n = _min(chunk_rows, r_end - r0)
                    _load_transposed(Xp + r0 * D, n, D, XT)
                    for t in range(T):
                        _sq_dist(XT, n, D, cp + t * D, dist)
                        acc = 0.0
                        for i in range(n):
                            v = dist[i] if dist[i] < clp[r0 + i] else clp[r0 + i]
                            if weighted:
                                acc = acc + wp[r0 + i] * v
                            else:
                                acc = acc + v
                            if want_new:
                                ncp[t * N + r0 + i] = v
                        pp[s * T + t] += acc
                    r0 = r0 + n
        free(XT)
        free(dist)
    return -1 if status[0] else 0
