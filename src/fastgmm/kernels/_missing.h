/* Exact E-step and statistics for rows with missing coordinates, as
 * corrections to the complete-data pass (fastgmm/_estep.pyx, "missing mode").
 *
 * The kernel reads a row's missing coordinates as z_m = 0 and computes the
 * complete-data weighted log-density f(z) . W[:, k] with the component's full
 * precision Lambda. With y = z - d_k (d_k = mu_k - shift) and M the row's
 * missing coordinates (m of them), the observed part's marginal is exactly
 *
 *   log N(x_o | k) = f(z) . W[:, k] + m/2 log 2 pi - 1/2 log det Lambda_MM
 *                    + 1/2 b^T Lambda_MM^-1 b,          b = (Lambda y)_M,
 *
 * because y^T Lambda y - b^T Lambda_MM^-1 b is the Schur complement's form
 * y_o^T (Sigma_oo)^-1 y_o, and det Sigma_oo = det Sigma det Lambda_MM. So a
 * row costs O(m D + m^2) more per component, and the pattern's m x m
 * Cholesky factor of Lambda_MM is computed once per run of rows sharing the
 * pattern (rows are visited sorted by pattern). The same factor gives the
 * M-step: under component k the missing coordinates are Gaussian with mean
 * z_M = -s, s = Lambda_MM^-1 b, and covariance Lambda_MM^-1, so the completed
 * sums are the kernel's sums (z_M = 0) plus, per component,
 *
 *   sum r z_M        += -sum r s
 *   sum r z_o z_M^T  += -sum r z_o s^T
 *   sum r z_M z_M^T  += sum r s s^T + (sum r) Lambda_MM^-1
 *
 * (tied: the same corrections of sum_k sum_i r z z^T go to the shared Gram).
 * Diagonal and spherical precisions make every term a per-(run, component)
 * constant: s = -d_kM, so the completion is the component's mean and variance.
 *
 * Plain IEEE arithmetic in a fixed order (no reassociated reductions: the
 * loops over rows are vectorised across rows, each row's sums in a fixed
 * order), so results do not depend on the thread count or on which version
 * (FASTGMM_CLONES) the loader picked.
 */
#ifndef FASTGMM_MISSING_H
#define FASTGMM_MISSING_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "_fastexp.h"

#define FASTGMM_LOG_2PI 1.8378770664093454836

/* Eight doubles, element-wise arithmetic only (each lane is one row, or one
 * coordinate): GCC's and clang's vector extensions, which the FASTGMM_CLONES
 * versions compile to one AVX-512 or two AVX2 instructions; elsewhere plain
 * loops. Either way every lane performs the same IEEE operations. */
#include <string.h>
#define FASTGMM_V 8
/* The helpers pass vectors by value, so they must always be inlined into
 * their caller: a separate copy compiled for the baseline ISA and called from
 * the AVX-512 version would disagree with it on how a 64-byte vector is
 * passed (GCC's -Wpsabi), which a build without inlining (-O0) would hit. */
#if defined(__GNUC__) || defined(__clang__)
#define FASTGMM_VINLINE static inline __attribute__((always_inline))
#else
#define FASTGMM_VINLINE static inline
#endif
#if defined(__GNUC__) || defined(__clang__)
typedef double fastgmm_v8 __attribute__((vector_size(64)));
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_load(const double *p) { fastgmm_v8 v; memcpy(&v, p, sizeof v); return v; }
FASTGMM_VINLINE void fastgmm_v8_store(double *p, fastgmm_v8 v) { memcpy(p, &v, sizeof v); }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_zero(void) { fastgmm_v8 v = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}; return v; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_madd(fastgmm_v8 acc, double a, fastgmm_v8 x) { return acc + a * x; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_msub(fastgmm_v8 acc, double a, fastgmm_v8 x) { return acc - a * x; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_vmadd(fastgmm_v8 acc, fastgmm_v8 a, fastgmm_v8 x) { return acc + a * x; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_scale(fastgmm_v8 x, double a) { return x * a; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_subs(fastgmm_v8 x, double a) { return x - a; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_add(fastgmm_v8 a, fastgmm_v8 b) { return a + b; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_sub(fastgmm_v8 a, fastgmm_v8 b) { return a - b; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_mul(fastgmm_v8 a, fastgmm_v8 b) { return a * b; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_vmsub(fastgmm_v8 acc, fastgmm_v8 a, fastgmm_v8 x) { return acc - a * x; }
#else
typedef struct { double v[FASTGMM_V]; } fastgmm_v8;
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_load(const double *p) { fastgmm_v8 r; memcpy(r.v, p, sizeof r.v); return r; }
FASTGMM_VINLINE void fastgmm_v8_store(double *p, fastgmm_v8 x) { memcpy(p, x.v, sizeof x.v); }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_zero(void) { fastgmm_v8 r; for (int l = 0; l < FASTGMM_V; l++) r.v[l] = 0.0; return r; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_madd(fastgmm_v8 acc, double a, fastgmm_v8 x)
{ for (int l = 0; l < FASTGMM_V; l++) acc.v[l] = acc.v[l] + a * x.v[l]; return acc; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_msub(fastgmm_v8 acc, double a, fastgmm_v8 x)
{ for (int l = 0; l < FASTGMM_V; l++) acc.v[l] = acc.v[l] - a * x.v[l]; return acc; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_vmadd(fastgmm_v8 acc, fastgmm_v8 a, fastgmm_v8 x)
{ for (int l = 0; l < FASTGMM_V; l++) acc.v[l] = acc.v[l] + a.v[l] * x.v[l]; return acc; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_scale(fastgmm_v8 x, double a) { for (int l = 0; l < FASTGMM_V; l++) x.v[l] *= a; return x; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_subs(fastgmm_v8 x, double a) { for (int l = 0; l < FASTGMM_V; l++) x.v[l] -= a; return x; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_add(fastgmm_v8 a, fastgmm_v8 b) { for (int l = 0; l < FASTGMM_V; l++) a.v[l] += b.v[l]; return a; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_sub(fastgmm_v8 a, fastgmm_v8 b) { for (int l = 0; l < FASTGMM_V; l++) a.v[l] -= b.v[l]; return a; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_mul(fastgmm_v8 a, fastgmm_v8 b) { for (int l = 0; l < FASTGMM_V; l++) a.v[l] *= b.v[l]; return a; }
FASTGMM_VINLINE fastgmm_v8 fastgmm_v8_vmsub(fastgmm_v8 acc, fastgmm_v8 a, fastgmm_v8 x)
{ for (int l = 0; l < FASTGMM_V; l++) acc.v[l] = acc.v[l] - a.v[l] * x.v[l]; return acc; }
#endif

/* acc[d] += a * x[d], d < n: vectors of eight, then the rest one by one. */
FASTGMM_VINLINE void fastgmm_axpy(double *acc, double a, const double *x, ptrdiff_t n)
{
    ptrdiff_t d = 0;
    for (; d + FASTGMM_V <= n; d += FASTGMM_V)
        fastgmm_v8_store(acc + d, fastgmm_v8_madd(fastgmm_v8_load(acc + d), a, fastgmm_v8_load(x + d)));
    for (; d < n; d++)
        acc[d] += a * x[d];
}

/* log(prod v[j]) for v[j] > 0: one log of the product where it is a normal
 * finite number (the common case), else the sum of the logs. */
static inline double fastgmm_log_prod(const double *v, ptrdiff_t n)
{
    double prod = 1.0;
    for (ptrdiff_t j = 0; j < n; j++)
        prod *= v[j];
    if (prod >= DBL_MIN && prod <= DBL_MAX)
        return log(prod);
    double s = 0.0;
    for (ptrdiff_t j = 0; j < n; j++)
        s += log(v[j]);
    return s;
}

/* Lower Cholesky factor L (m x m, row-major) of the principal submatrix
 * A[M, M] of the symmetric D x D matrix A, with inv[j] = 1 / L[j][j] and
 * diag[j] = L[j][j]. Returns 1/2 log det A[M, M], or NaN if A[M, M] is not
 * (numerically) positive definite. */
static inline double fastgmm_miss_factor(const double *A, ptrdiff_t D, const int64_t *M, ptrdiff_t m,
                                         double *L, double *inv, double *diag)
{
    for (ptrdiff_t j = 0; j < m; j++) {
        for (ptrdiff_t l = 0; l <= j; l++) {
            double s = A[M[j] * D + M[l]];
            for (ptrdiff_t q = 0; q < l; q++)
                s -= L[j * m + q] * L[l * m + q];
            if (l < j) {
                L[j * m + l] = s * inv[l];
            } else {
                if (!(s > 0.0) || !(s <= DBL_MAX))
                    return NAN;
                double r = sqrt(s);
                L[j * m + j] = r;
                diag[j] = r;
                inv[j] = 1.0 / r;
            }
        }
    }
    return fastgmm_log_prod(diag, m);
}

/* C = (L L^T)^-1 = L^-T L^-1 (m x m, full, row-major) from the factor; Li
 * (m x m) is scratch for L^-1. */
static inline void fastgmm_miss_inverse(const double *L, const double *inv, ptrdiff_t m, double *Li, double *C)
{
    for (ptrdiff_t c = 0; c < m; c++) {
        for (ptrdiff_t j = 0; j < c; j++)
            Li[j * m + c] = 0.0;
        Li[c * m + c] = inv[c];
        for (ptrdiff_t j = c + 1; j < m; j++) {
            double s = 0.0;
            for (ptrdiff_t q = c; q < j; q++)
                s -= L[j * m + q] * Li[q * m + c];
            Li[j * m + c] = s * inv[j];
        }
    }
    for (ptrdiff_t a = 0; a < m; a++)
        for (ptrdiff_t b = 0; b <= a; b++) {
            double s = 0.0;
            for (ptrdiff_t q = a; q < m; q++)
                s += Li[q * m + a] * Li[q * m + b];
            C[a * m + b] = s;
            C[b * m + a] = s;
        }
}

/* Quadratic-feature codes: the same as _estep.pyx's enum (and _rowops.h). */
#define FASTGMM_MQFULL 0
#define FASTGMM_MQDIAG 1
#define FASTGMM_MQSPHERICAL 2
#define FASTGMM_MQTIED 3

/* Rows are processed in blocks of FASTGMM_MISS_LANES, one vector of doubles
 * (the per-lane loops below vectorise without reassociating any sum: each
 * lane is one row). A run's last block is padded with zero rows. */
#define FASTGMM_MISS_LANES FASTGMM_V

/* Doubles of scratch the two functions below need for a run of up to n rows. */
static inline ptrdiff_t fastgmm_miss_work_size(ptrdiff_t D, ptrdiff_t n)
{
    ptrdiff_t padded = n + FASTGMM_MISS_LANES;
    return (2 * D + 1) * padded + 5 * D * D + 4 * D;
}

/* The log-density corrections of one run of `len` rows sharing the missing
 * coordinates M (m >= 1): LP[k * ldlp + i] += the terms above, for every
 * component k and row i < len (tied, diag and spherical covariances; full ones
 * put the components in lanes, below). Z: the rows' z (z_M = 0), row i at
 * Z + i * ldz. prec: tied, the row-major D x D precision matrix shared by the
 * components; diag, spherical: (K, D) diagonal precisions. dev: (K, D) the
 * d_k. S (tied; K * m * len) gets s for the statistics: S[(k * m + j) * len + i]. Returns 0, or -1 if a Lambda_MM is not
 * positive definite.
 *
 * Student-t (hld not NULL): LP holds Mahalanobis distances, which lose
 * b^T Lambda_MM^-1 b (the observed part's distance), and hld[k] gets
 * 1/2 log det Lambda_k,MM for the caller's t normaliser.
 *
 * b = Lambda_M. z - Lambda_M. d_k rather than Lambda_M. (z - d_k): half the
 * work, and its rounding (eps |Lambda| |z|) is far below that of the
 * complete-data form it corrects (eps |Lambda| |z|^2). */
FASTGMM_CLONES
static int fastgmm_miss_loglik(ptrdiff_t D, ptrdiff_t K, int quad, const double *prec,
                               const double *dev, const int64_t *M, ptrdiff_t m, const double *Z, ptrdiff_t ldz,
                               ptrdiff_t len, double *LP, ptrdiff_t ldlp, double *S, double *work, double *hld)
{
    const ptrdiff_t V = FASTGMM_MISS_LANES;
    if (quad == FASTGMM_MQDIAG || quad == FASTGMM_MQSPHERICAL) {
        double *lam = work;
        for (ptrdiff_t k = 0; k < K; k++) {
            const double *pk = prec + k * D, *dk = dev + k * D;
            double quad_sum = 0.0;
            for (ptrdiff_t j = 0; j < m; j++) {
                double l = pk[M[j]], d = dk[M[j]];
                lam[j] = l;
                quad_sum += l * d * d;
            }
            double half_logdet = 0.5 * fastgmm_log_prod(lam, m);
            double cst = 0.5 * (double) m * FASTGMM_LOG_2PI - half_logdet + 0.5 * quad_sum;
            if (hld != NULL) {          /* Student-t: LP holds distances */
                hld[k] = half_logdet;
                cst = -quad_sum;
            }
            double *lp = LP + k * ldlp;
            for (ptrdiff_t i = 0; i < len; i++)
                lp[i] += cst;
        }
        return 0;
    }
    ptrdiff_t nblk = (len + V - 1) / V, padded = nblk * V;
    double *Zb = work;                 /* nblk blocks of D x V: Zb[(blk * D + d) * V + l] = z_{blk V + l, d} */
    double *B = Zb + D * padded;       /* m x padded: b, then y, then s, of one component */
    double *q = B + D * padded;        /* padded */
    double *L = q + padded;            /* m x m */
    double *inv = L + D * D;           /* m */
    double *diag = inv + D;            /* m */
    double *o = diag + D;              /* m: (Lambda d_k)_M */
    for (ptrdiff_t blk = 0; blk < nblk; blk++) {
        double *zb = Zb + blk * D * V;
        for (ptrdiff_t l = 0; l < V; l++) {
            ptrdiff_t i = blk * V + l;
            if (i < len)
                for (ptrdiff_t d = 0; d < D; d++)
                    zb[d * V + l] = Z[i * ldz + d];
            else
                for (ptrdiff_t d = 0; d < D; d++)
                    zb[d * V + l] = 0.0;
        }
    }
    const double *A = prec;            /* tied: one factor of Lambda_MM for every component */
    double half_logdet = fastgmm_miss_factor(A, D, M, m, L, inv, diag);
    if (isnan(half_logdet))
        return -1;
    for (ptrdiff_t k = 0; k < K; k++) {
        const double *dk = dev + k * D;
        for (ptrdiff_t j = 0; j < m; j++) {
            const double *row = A + M[j] * D;
            double acc = 0.0;
            for (ptrdiff_t d = 0; d < D; d++)
                acc += row[d] * dk[d];
            o[j] = acc;
        }
        for (ptrdiff_t blk = 0; blk < nblk; blk++) {
            const double *zb = Zb + blk * D * V;
            double *bb = B + blk * V;
            /* b_j: each lane's sum over d in order d = 0 .. D - 1 */
            for (ptrdiff_t j = 0; j < m; j++) {
                const double *row = A + M[j] * D;
                fastgmm_v8 acc = fastgmm_v8_zero();
                for (ptrdiff_t d = 0; d < D; d++)
                    acc = fastgmm_v8_madd(acc, row[d], fastgmm_v8_load(zb + d * V));
                fastgmm_v8_store(bb + j * padded, fastgmm_v8_subs(acc, o[j]));
            }
            /* y = L^-1 b (forward) and |y|^2 = b^T Lambda_MM^-1 b */
            fastgmm_v8 qq = fastgmm_v8_zero();
            for (ptrdiff_t j = 0; j < m; j++) {
                fastgmm_v8 y = fastgmm_v8_load(bb + j * padded);
                for (ptrdiff_t t = 0; t < j; t++)
                    y = fastgmm_v8_msub(y, L[j * m + t], fastgmm_v8_load(bb + t * padded));
                y = fastgmm_v8_scale(y, inv[j]);
                fastgmm_v8_store(bb + j * padded, y);
                qq = fastgmm_v8_vmadd(qq, y, y);
            }
            fastgmm_v8_store(q + blk * V, qq);
            /* s = L^-T y (backward), in place */
            for (ptrdiff_t j = m - 1; j >= 0; j--) {
                fastgmm_v8 sv = fastgmm_v8_load(bb + j * padded);
                for (ptrdiff_t t = j + 1; t < m; t++)
                    sv = fastgmm_v8_msub(sv, L[t * m + j], fastgmm_v8_load(bb + t * padded));
                fastgmm_v8_store(bb + j * padded, fastgmm_v8_scale(sv, inv[j]));
            }
        }
        double *lp = LP + k * ldlp;
        if (hld != NULL) {              /* Student-t: the distance loses b^T Lambda_MM^-1 b */
            hld[k] = half_logdet;
            for (ptrdiff_t i = 0; i < len; i++)
                lp[i] -= q[i];
        } else {
            double cst = 0.5 * (double) m * FASTGMM_LOG_2PI - half_logdet;
            for (ptrdiff_t i = 0; i < len; i++)
                lp[i] += cst + 0.5 * q[i];
        }
        double *Sk = S + k * m * len;
        for (ptrdiff_t j = 0; j < m; j++)
            for (ptrdiff_t i = 0; i < len; i++)
                Sk[j * len + i] = B[j * padded + i];
    }
    return 0;
}

/* The statistics' corrections of the same run, once R[k * ldr + i] holds the
 * rows' weighted responsibilities: added into G (K x P, the component sums of
 * f(z): G[k * P + 0] sum r, G[k * P + 1 + d] sum r z_d, then the quadratic
 * features) and, for tied, into the lower triangle of T (D x D, the shared sum
 * of z z^T). S: as fastgmm_miss_loglik left it. Rc (same layout as
 * R): the weights of the conditional covariance Lambda_MM^-1, when they are
 * not R's (Student-t: the sums are weighted by r u, E[u z z^T | x_o] =
 * u z_hat z_hat^T + Lambda_MM^-1, so the covariance enters with weight r).
 * Rows with r = 0 add nothing and are skipped. Returns 0, or -1 as
 * fastgmm_miss_loglik. */
FASTGMM_CLONES
static int fastgmm_miss_stats(ptrdiff_t D, ptrdiff_t K, int quad, const double *prec, const double *dev,
                              const int64_t *M, ptrdiff_t m, const double *Z, ptrdiff_t ldz, ptrdiff_t len,
                              const double *R, ptrdiff_t ldr, const double *Rc, const double *S, double *G,
                              ptrdiff_t P, double *T, double *work)
{
    if (quad == FASTGMM_MQDIAG || quad == FASTGMM_MQSPHERICAL) {
        for (ptrdiff_t k = 0; k < K; k++) {
            const double *r = R + k * ldr, *rc = Rc + k * ldr;
            double Rk = 0.0, Rck = 0.0;
            for (ptrdiff_t i = 0; i < len; i++)
                Rk += r[i];
            for (ptrdiff_t i = 0; i < len; i++)
                Rck += rc[i];
            if (Rk == 0.0 && Rck == 0.0)
                continue;
            const double *pk = prec + k * D, *dk = dev + k * D;
            double *g = G + k * P;
            double second = 0.0;
            for (ptrdiff_t j = 0; j < m; j++) {
                double d = dk[M[j]];
                double e2 = d * d * Rk + Rck / pk[M[j]];
                g[1 + M[j]] += d * Rk;
                if (quad == FASTGMM_MQDIAG)
                    g[1 + D + M[j]] += e2;
                else
                    second += e2;
            }
            if (quad == FASTGMM_MQSPHERICAL)
                g[1 + D] += second;
        }
        return 0;
    }
    double *L = work;                  /* m x m */
    double *Li = L + D * D;            /* m x m */
    double *C = Li + D * D;            /* m x m: Lambda_MM^-1 */
    double *X = C + D * D;             /* m x D: sum r s_j z */
    double *Y = X + D * D;             /* m x m: sum r s s^T */
    double *inv = Y + D * D;           /* m */
    double *diag = inv + D;            /* m */
    double *t = diag + D;              /* m: sum r s */
    double *rs = t + D;                /* m */
    /* tied: one Lambda_MM, so one factor and one inverse for every component */
    if (isnan(fastgmm_miss_factor(prec, D, M, m, L, inv, diag)))
        return -1;
    fastgmm_miss_inverse(L, inv, m, Li, C);
    for (ptrdiff_t k = 0; k < K; k++) {
        const double *r = R + k * ldr, *rc = Rc + k * ldr;
        const double *Sk = S + k * m * len;
        double Rk = 0.0;
        for (ptrdiff_t i = 0; i < len; i++)
            Rk += r[i];
        double Rck = 0.0;
        for (ptrdiff_t i = 0; i < len; i++)
            Rck += rc[i];
        if (Rk == 0.0 && Rck == 0.0)
            continue;
        for (ptrdiff_t j = 0; j < m; j++) {
            t[j] = 0.0;
            for (ptrdiff_t d = 0; d < D; d++)
                X[j * D + d] = 0.0;
            for (ptrdiff_t l = 0; l < m; l++)
                Y[j * m + l] = 0.0;
        }
        for (ptrdiff_t i = 0; i < len; i++) {
            double ri = r[i];
            if (ri == 0.0)
                continue;
            const double *z = Z + i * ldz;
            for (ptrdiff_t j = 0; j < m; j++)
                rs[j] = ri * Sk[j * len + i];
            for (ptrdiff_t j = 0; j < m; j++) {
                double a = rs[j];
                t[j] += a;
                fastgmm_axpy(X + j * D, a, z, D);
                for (ptrdiff_t l = 0; l <= j; l++)
                    Y[j * m + l] += a * Sk[l * len + i];
            }
        }
        double *g = G + k * P;
        for (ptrdiff_t j = 0; j < m; j++) {
            ptrdiff_t mj = M[j];
            g[1 + mj] -= t[j];
            /* z_o s_j^T: X's entries at missing d are sums of r s_j * 0 and stay 0 */
            for (ptrdiff_t d = 0; d < D; d++) {
                double v = X[j * D + d];
                if (v != 0.0)
                    T[(d > mj ? d : mj) * D + (d > mj ? mj : d)] -= v;
            }
            for (ptrdiff_t l = 0; l <= j; l++) {
                ptrdiff_t ml = M[l];
                T[(mj > ml ? mj : ml) * D + (mj > ml ? ml : mj)] += Y[j * m + l] + Rck * C[j * m + l];
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Full covariances: the components in vector lanes.
 *
 * Rows of one pattern are often few (at 20 % missing on 16 columns, half the
 * patterns have one or two rows), so the per-pattern work, K factorisations
 * of Lambda_k,MM, must be cheap, and the per-row work must not depend on a
 * run being long. Here the lanes are the components: the K factorisations of
 * a run are done eight at a time (each lane its own component, the same
 * arithmetic), and each row's b, solves and sums for eight components are one
 * vector operation each. The precisions are laid out for it by the caller:
 * precT[(a * D + d) * Kp + k] = Lambda_k[a, d] and pdT[a * Kp + k] =
 * (Lambda_k d_k)[a], with K padded to Kp (a multiple of eight) by identity
 * precisions (and zero offsets).
 *
 * The statistics' corrections go to dense per-thread accumulators, A
 * (D x D x Kp: A[(a * D + b) * Kp + k] for the product z_a z_b) and lin
 * (D x Kp: z_a), instead of G: a row adds to them at its missing coordinates
 * without looking up where each product lives in G's feature order, and
 * fastgmm_miss_full_fold moves them into G once per slot.
 * ------------------------------------------------------------------------- */

/* Doubles of scratch for a run whose patterns miss at most mmax coordinates. */
static inline ptrdiff_t fastgmm_miss_full_work_size(ptrdiff_t D, ptrdiff_t Kp, ptrdiff_t mmax)
{
    return (4 * mmax * mmax + 3 * mmax + 2) * Kp + 2 * D + FASTGMM_V;
}

/* The m x m factors L[(j * m + l) * Kp + k] of Lambda_k,MM for every lane,
 * inv[j * Kp + k] = 1 / L_jj, and hld[k] = 1/2 log det Lambda_k,MM. Returns
 * -1 if one of the first K lanes is not positive definite. hld may be NULL
 * (the statistics need the factor, not its determinant). */
FASTGMM_CLONES
static int fastgmm_miss_factor_lanes(const double *precT, ptrdiff_t D, ptrdiff_t K, ptrdiff_t Kp,
                                            const int64_t *M, ptrdiff_t m, double *L, double *inv, double *hld)
{
    const ptrdiff_t V = FASTGMM_V;
    for (ptrdiff_t off = 0; off < Kp; off += V) {
        fastgmm_v8 prod = fastgmm_v8_zero();
        prod = fastgmm_v8_subs(prod, -1.0);
        for (ptrdiff_t j = 0; j < m; j++) {
            for (ptrdiff_t l = 0; l <= j; l++) {
                fastgmm_v8 sv = fastgmm_v8_load(precT + (M[j] * D + M[l]) * Kp + off);
                for (ptrdiff_t q = 0; q < l; q++)
                    sv = fastgmm_v8_vmsub(sv, fastgmm_v8_load(L + (j * m + q) * Kp + off),
                                          fastgmm_v8_load(L + (l * m + q) * Kp + off));
                if (l < j) {
                    fastgmm_v8_store(L + (j * m + l) * Kp + off,
                                     fastgmm_v8_mul(sv, fastgmm_v8_load(inv + l * Kp + off)));
                } else {
                    double sl[FASTGMM_V], r[FASTGMM_V], iv[FASTGMM_V];
                    fastgmm_v8_store(sl, sv);
                    int bad = 0;
                    for (ptrdiff_t t = 0; t < V; t++) {
                        int ok = sl[t] > 0.0 && sl[t] <= DBL_MAX;
                        bad |= !ok && off + t < K;
                        sl[t] = ok ? sl[t] : 1.0;      /* a padding lane: never read */
                    }
                    if (bad)
                        return -1;
                    for (ptrdiff_t t = 0; t < V; t++)
                        r[t] = sqrt(sl[t]);
                    for (ptrdiff_t t = 0; t < V; t++)
                        iv[t] = 1.0 / r[t];
                    fastgmm_v8 rv = fastgmm_v8_load(r);
                    fastgmm_v8_store(L + (j * m + j) * Kp + off, rv);
                    fastgmm_v8_store(inv + j * Kp + off, fastgmm_v8_load(iv));
                    prod = fastgmm_v8_mul(prod, rv);
                }
            }
        }
        if (hld == NULL)
            continue;
        double pr[FASTGMM_V];
        fastgmm_v8_store(pr, prod);
        for (ptrdiff_t t = 0; t < V; t++) {
            if (pr[t] >= DBL_MIN && pr[t] <= DBL_MAX) {
                hld[off + t] = log(pr[t]);
            } else {
                double acc = 0.0;
                for (ptrdiff_t j = 0; j < m; j++)
                    acc += log(L[(j * m + j) * Kp + off + t]);
                hld[off + t] = acc;
            }
        }
    }
    return 0;
}

/* The observed coordinates (the complement of the increasing M) into O; returns their count. */
static inline ptrdiff_t fastgmm_miss_observed(ptrdiff_t D, const int64_t *M, ptrdiff_t m, int64_t *O)
{
    ptrdiff_t n = 0, j = 0;
    for (ptrdiff_t d = 0; d < D; d++) {
        if (j < m && M[j] == d)
            j++;
        else
            O[n++] = d;
    }
    return n;
}

/* fastgmm_miss_loglik for full covariances, components in lanes. S gets s as
 * S[(i * m + j) * Kp + k]. */
FASTGMM_CLONES
static int fastgmm_miss_full_loglik(ptrdiff_t D, ptrdiff_t K, ptrdiff_t Kp, const double *precT, const double *pdT,
                                    const int64_t *M, ptrdiff_t m, const double *Z, ptrdiff_t ldz, ptrdiff_t len,
                                    double *LP, ptrdiff_t ldlp, double *S, double *work, double *hld)
{
    const ptrdiff_t V = FASTGMM_V;
    double *L = work;                  /* m * m * Kp */
    double *inv = L + m * m * Kp;      /* m * Kp */
    double *cst = inv + m * Kp;        /* Kp */
    double *qq = cst + Kp;             /* V */
    int64_t *O = (int64_t *) (qq + V); /* D */
    if (fastgmm_miss_factor_lanes(precT, D, K, Kp, M, m, L, inv, cst) < 0)
        return -1;
    if (hld != NULL)                   /* Student-t: the caller's normaliser needs 1/2 log det Lambda_MM */
        for (ptrdiff_t k = 0; k < K; k++)
            hld[k] = cst[k];
    for (ptrdiff_t k = 0; k < Kp; k++)
        cst[k] = 0.5 * (double) m * FASTGMM_LOG_2PI - cst[k];
    ptrdiff_t nO = fastgmm_miss_observed(D, M, m, O);
    for (ptrdiff_t i = 0; i < len; i++) {
        const double *z = Z + i * ldz;
        double *s = S + i * m * Kp;
        for (ptrdiff_t off = 0; off < Kp; off += V) {
            /* b_j = Lambda_M_j,O z_O - o_j, each lane's sum in order over O */
            for (ptrdiff_t j = 0; j < m; j++) {
                const double *col = precT + M[j] * D * Kp + off;
                fastgmm_v8 acc = fastgmm_v8_zero();
                for (ptrdiff_t t = 0; t < nO; t++)
                    acc = fastgmm_v8_madd(acc, z[O[t]], fastgmm_v8_load(col + O[t] * Kp));
                fastgmm_v8_store(s + j * Kp + off, fastgmm_v8_sub(acc, fastgmm_v8_load(pdT + M[j] * Kp + off)));
            }
            /* y = L^-1 b and |y|^2 */
            fastgmm_v8 q = fastgmm_v8_zero();
            for (ptrdiff_t j = 0; j < m; j++) {
                fastgmm_v8 y = fastgmm_v8_load(s + j * Kp + off);
                for (ptrdiff_t t = 0; t < j; t++)
                    y = fastgmm_v8_vmsub(y, fastgmm_v8_load(L + (j * m + t) * Kp + off),
                                         fastgmm_v8_load(s + t * Kp + off));
                y = fastgmm_v8_mul(y, fastgmm_v8_load(inv + j * Kp + off));
                fastgmm_v8_store(s + j * Kp + off, y);
                q = fastgmm_v8_vmadd(q, y, y);
            }
            fastgmm_v8_store(qq, q);
            if (hld != NULL)
                for (ptrdiff_t t = 0; t < V && off + t < K; t++)
                    LP[(off + t) * ldlp + i] -= qq[t];
            else
                for (ptrdiff_t t = 0; t < V && off + t < K; t++)
                    LP[(off + t) * ldlp + i] += cst[off + t] + 0.5 * qq[t];
            /* s = L^-T y */
            for (ptrdiff_t j = m - 1; j >= 0; j--) {
                fastgmm_v8 sv = fastgmm_v8_load(s + j * Kp + off);
                for (ptrdiff_t t = j + 1; t < m; t++)
                    sv = fastgmm_v8_vmsub(sv, fastgmm_v8_load(L + (t * m + j) * Kp + off),
                                          fastgmm_v8_load(s + t * Kp + off));
                fastgmm_v8_store(s + j * Kp + off, fastgmm_v8_mul(sv, fastgmm_v8_load(inv + j * Kp + off)));
            }
        }
    }
    return 0;
}

/* fastgmm_miss_stats for full covariances, components in lanes (S as
 * fastgmm_miss_full_loglik left it; Rc as there), into the accumulators A
 * and lin. A row's group of eight components whose responsibilities are all
 * 0 adds nothing and is skipped. */
FASTGMM_CLONES
static int fastgmm_miss_full_stats(ptrdiff_t D, ptrdiff_t K, ptrdiff_t Kp, const double *precT, const int64_t *M,
                                   ptrdiff_t m, const double *Z, ptrdiff_t ldz, ptrdiff_t len, const double *R,
                                   ptrdiff_t ldr, const double *Rc, const double *S, double *A, double *lin,
                                   double *work)
{
    const ptrdiff_t V = FASTGMM_V;
    double *L = work;                  /* m * m * Kp, then Lambda_MM^-1 */
    double *Li = L + m * m * Kp;       /* m * m * Kp: L^-1 */
    double *inv = Li + m * m * Kp;     /* m * Kp */
    double *Rs = inv + m * Kp;         /* Kp: sum Rc */
    double *rb = Rs + Kp;              /* Kp: one row's r */
    int64_t *O = (int64_t *) (rb + Kp);     /* D */
    ptrdiff_t nO = fastgmm_miss_observed(D, M, m, O);
    for (ptrdiff_t k = 0; k < Kp; k++) {     /* the covariance's weights: sum Rc */
        double acc = 0.0;
        if (k < K)
            for (ptrdiff_t i = 0; i < len; i++)
                acc += Rc[k * ldr + i];
        Rs[k] = acc;
    }
    for (ptrdiff_t i = 0; i < len; i++) {
        for (ptrdiff_t k = 0; k < Kp; k++)
            rb[k] = k < K ? R[k * ldr + i] : 0.0;
        const double *z = Z + i * ldz;
        const double *s = S + i * m * Kp;
        for (ptrdiff_t off = 0; off < Kp; off += V) {
            int any = 0;
            for (ptrdiff_t t = 0; t < V; t++)
                any |= rb[off + t] != 0.0;
            if (!any)
                continue;
            fastgmm_v8 rv = fastgmm_v8_load(rb + off);
            for (ptrdiff_t j = 0; j < m; j++) {
                /* z_M = -s: sum r z_M -= sum r s, sum r z_o z_M^T -= sum r z_o s^T, sum r z_M z_M^T += sum r s s^T */
                fastgmm_v8 rs = fastgmm_v8_mul(rv, fastgmm_v8_load(s + j * Kp + off));
                double *lj = lin + M[j] * Kp + off;
                fastgmm_v8_store(lj, fastgmm_v8_sub(fastgmm_v8_load(lj), rs));
                double *aj = A + M[j] * D * Kp + off;
                for (ptrdiff_t t = 0; t < nO; t++) {
                    double *c = aj + O[t] * Kp;
                    fastgmm_v8_store(c, fastgmm_v8_msub(fastgmm_v8_load(c), z[O[t]], rs));
                }
                for (ptrdiff_t l = 0; l <= j; l++) {
                    double *c = aj + M[l] * Kp;
                    fastgmm_v8_store(c, fastgmm_v8_vmadd(fastgmm_v8_load(c), rs, fastgmm_v8_load(s + l * Kp + off)));
                }
            }
        }
    }
    if (fastgmm_miss_factor_lanes(precT, D, K, Kp, M, m, L, inv, NULL) < 0)
        return -1;
    /* (sum r) Lambda_MM^-1 = (sum r) L^-T L^-1: L^-1 by columns, then the lower triangle */
    for (ptrdiff_t off = 0; off < Kp; off += V) {
        for (ptrdiff_t c = 0; c < m; c++) {
            fastgmm_v8_store(Li + (c * m + c) * Kp + off, fastgmm_v8_load(inv + c * Kp + off));
            for (ptrdiff_t j = c + 1; j < m; j++) {
                fastgmm_v8 acc = fastgmm_v8_zero();
                for (ptrdiff_t q = c; q < j; q++)
                    acc = fastgmm_v8_vmsub(acc, fastgmm_v8_load(L + (j * m + q) * Kp + off),
                                           fastgmm_v8_load(Li + (q * m + c) * Kp + off));
                fastgmm_v8_store(Li + (j * m + c) * Kp + off,
                                 fastgmm_v8_mul(acc, fastgmm_v8_load(inv + j * Kp + off)));
            }
        }
        fastgmm_v8 rs = fastgmm_v8_load(Rs + off);
        for (ptrdiff_t a = 0; a < m; a++)
            for (ptrdiff_t b = 0; b <= a; b++) {
                fastgmm_v8 acc = fastgmm_v8_zero();
                for (ptrdiff_t q = a; q < m; q++)
                    acc = fastgmm_v8_vmadd(acc, fastgmm_v8_load(Li + (q * m + a) * Kp + off),
                                           fastgmm_v8_load(Li + (q * m + b) * Kp + off));
                double *c = A + (M[a] * D + M[b]) * Kp + off;
                fastgmm_v8_store(c, fastgmm_v8_vmadd(fastgmm_v8_load(c), rs, acc));
            }
    }
    return 0;
}

/* The accumulators A and lin into G (K x P; pair: the feature index of z_a
 * z_b), then zeroed: each unordered pair {a, b} of G gets A[a, b] + A[b, a]
 * (a row adds at (missing, observed) or (later missing, earlier missing)). */
FASTGMM_CLONES
static void fastgmm_miss_full_fold(ptrdiff_t D, ptrdiff_t K, ptrdiff_t Kp, const int64_t *pair, double *A,
                                   double *lin, double *G, ptrdiff_t P)
{
    for (ptrdiff_t k = 0; k < K; k++) {
        double *g = G + k * P;
        for (ptrdiff_t a = 0; a < D; a++) {
            g[1 + a] += lin[a * Kp + k];
            for (ptrdiff_t b = 0; b < a; b++)
                g[pair[a * D + b]] += A[(a * D + b) * Kp + k] + A[(b * D + a) * Kp + k];
            g[pair[a * D + a]] += A[(a * D + a) * Kp + k];
        }
    }
    memset(A, 0, (size_t) (D * D * Kp) * sizeof(double));
    memset(lin, 0, (size_t) (D * Kp) * sizeof(double));
}

/* Imputation: each missing coordinate of the run's rows replaced by its
 * conditional expectation under the mixture, sum_k r_k E[z_M | x_o, k], in
 * Zf (row i at Zf + i * ldz, the rows' z with z_M = 0, about the shift c;
 * the caller adds c back). R: the rows' responsibilities (R[k * ldr + i]).
 * S: as the loglik pass left it (full: components in lanes, Kp of them;
 * tied: S[(k * m + j) * len + i]); diag and spherical need none (the
 * expectation is the component's mean, d_k = mu_k - c). */
static void fastgmm_miss_fill(ptrdiff_t D, ptrdiff_t K, ptrdiff_t Kp, int quad, const double *dev, const int64_t *M,
                              ptrdiff_t m, ptrdiff_t len, const double *R, ptrdiff_t ldr, const double *S,
                              double *Zf, ptrdiff_t ldz)
{
    for (ptrdiff_t i = 0; i < len; i++)
        for (ptrdiff_t j = 0; j < m; j++) {
            double acc = 0.0;
            for (ptrdiff_t k = 0; k < K; k++) {
                double s;
                if (quad == FASTGMM_MQFULL)
                    s = S[(i * m + j) * Kp + k];
                else if (quad == FASTGMM_MQTIED)
                    s = S[(k * m + j) * len + i];
                else
                    s = -dev[k * D + M[j]];
                acc += R[k * ldr + i] * s;
            }
            Zf[i * ldz + M[j]] = -acc;       /* z_M = -s under each component */
        }
}

#endif
