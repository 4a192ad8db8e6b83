/* The per-(row, component) step of the E-step kernel's Student-t mode
 * (fastgmm/_estep.pyx, RESP_STUDENT_T):
 * Mahalanobis distances -> t log-densities, scale weights u and log u - u.
 *
 * It is C, not Cython, for the reason _rowops.h is: a loop with a libm
 * log1p call per element does not vectorise, and at K = 8, D = 16 that
 * call alone took as long as both GEMMs of the pass. Here log1p is
 * computed inline from a branch-free log (exponent by bit manipulation, the
 * atanh series of the mantissa), so gcc vectorises the whole loop, and the
 * loop is compiled for AVX-512 and AVX2 as well as the baseline
 * (FASTGMM_CLONES). The build's -ffp-contract=off and the fixed order of
 * operations make every version give bitwise identical results.
 */
#ifndef FASTGMM_STUDENTT_TERMS_H
#define FASTGMM_STUDENTT_TERMS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "_fastexp.h"    /* FASTGMM_CLONES */

/* log(y) for finite y >= 1 (what the t terms need), to about 1 ulp.
 *
 * y = 2^e m with m in [sqrt(1/2), sqrt(2)); log y = e log 2 + 2 atanh(s),
 * s = (m - 1) / (m + 1), |s| <= 0.1716, and the series 2 sum s^(2j+1) / (2j+1)
 * to j = 10 is below 1e-17 relative. log 2 is split (fdlibm's constants) so
 * that e * ln2_hi is exact. The exponent is turned into a double by the
 * 2^52 trick rather than an int64 conversion, which AVX2 does not have. */
static inline double fastgmm_log_ge1(double y)
{
    uint64_t bits, mbits, ebits;
    memcpy(&bits, &y, sizeof bits);
    mbits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    double m;
    memcpy(&m, &mbits, sizeof m);                       /* y's mantissa, in [1, 2) */
    ebits = 0x4330000000000000ULL | (bits >> 52);       /* 2^52 + biased exponent */
    double e;
    memcpy(&e, &ebits, sizeof e);
    e = e - (4503599627370496.0 + 1023.0);
    int big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    e = big ? e + 1.0 : e;
    double s = (m - 1.0) / (m + 1.0);
    double s2 = s * s;
    double p = 1.0 / 21.0;
    p = p * s2 + 1.0 / 19.0;
    p = p * s2 + 1.0 / 17.0;
    p = p * s2 + 1.0 / 15.0;
    p = p * s2 + 1.0 / 13.0;
    p = p * s2 + 1.0 / 11.0;
    p = p * s2 + 1.0 / 9.0;
    p = p * s2 + 1.0 / 7.0;
    p = p * s2 + 1.0 / 5.0;
    p = p * s2 + 1.0 / 3.0;
    double tail = 2.0 * (s * s2 * p);                  /* 2 (s^3/3 + s^5/5 + ...) */
    return e * 6.93147180369123816490e-01 + ((2.0 * s + tail) + e * 1.90821492927058770002e-10);
}

/* log1p(x) for x >= 0, +inf at +inf: log(1 + x) corrected for the rounding
 * of 1 + x (the classic -((y - 1) - x) / y term), so small x keep their
 * relative accuracy: at nu = 1e8 a row's log-density is (nu + D) / 2 times
 * this, and a plain log(1 + x) would cost 1e-8 nats there. */
static inline double fastgmm_log1p_ge0(double x)
{
    double y = 1.0 + x;
    double l = fastgmm_log_ge1(y) - ((y - 1.0) - x) / y;
    return y < (double) INFINITY ? l : (double) INFINITY;
}

/* For n rows of a feature-major block of squared Mahalanobis distances LP
 * (LP[k * ld + i], i < n; likewise U and V), in place: LP := a_k - (nu_k + D) / 2 l,
 * U := u = (nu_k + D) / (nu_k + delta), V := log u - u = log1p(D / nu_k) - l - u,
 * with l = log1p(delta / nu_k). A distance below 0 (rounding) reads as 0, NaN
 * or +inf (features that overflowed) as +inf: log-density -inf, u = 0. */
FASTGMM_CLONES
static void fastgmm_t_terms_d(double *LP, double *U, double *V, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t K, ptrdiff_t D,
                              const double *a, const double *nu)
{
    for (ptrdiff_t k = 0; k < K; k++) {
        const double nk = nu[k], ak = a[k];
        const double nud = nk + (double) D;
        const double half = 0.5 * nud;
        const double lognud = log1p((double) D / nk);
        double *lp = LP + k * ld, *u = U + k * ld, *v = V + k * ld;
        for (ptrdiff_t i = 0; i < n; i++) {
            double d = lp[i];
            d = d < (double) INFINITY ? d : (double) INFINITY;    /* NaN -> +inf */
            d = d > 0.0 ? d : 0.0;
            double l = fastgmm_log1p_ge0(d / nk);
            double ui = nud / (nk + d);
            lp[i] = ak - half * l;
            u[i] = ui;
            v[i] = (lognud - l) - ui;
        }
    }
}

#endif
