/* exp(x) for x <= 0, branch-free so that loops calling it vectorise.
 *
 * The E-step needs exp(lp - max) in [0, 1] for every (row, component): libm's
 * scalar exp dominated the diagonal-covariance pass. This is the textbook
 * method: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite two-part ln2), exp(r)
 * by its Taylor polynomial (degree 13: truncation far below an ulp), times 2^n assembled in the exponent bits. n is read
 * from the bits of the rounding shifter (integer add and shift only), which
 * vectorises even on baseline SSE2 where double -> int64 conversion does not. Plain IEEE
 * arithmetic only (no -ffast-math): the result is the same on every machine
 * and for every thread count. Measured error against libm: at most 1 ulp
 * (2e7 points on [-750, 0]).
 * Arguments below the normal range (and -inf) return exactly 0 (a
 * responsibility under 1e-307 is zero for every purpose here); NaN propagates as NaN.
 */
#ifndef FASTGMM_FASTEXP_H
#define FASTGMM_FASTEXP_H

#include <stdint.h>
#include <string.h>

static inline double fastgmm_exp_nonpos(double x)
{
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: rounds to integer */
    double xc = x < -708.0 ? -708.0 : x;       /* keeps 2^n normal */
    double t = xc * log2e + shifter;
    double n = t - shifter;
    double r = (xc - n * ln2_hi) - n * ln2_lo;
    double p = 1.0 / 6227020800.0;             /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t tb;
    memcpy(&tb, &t, sizeof tb);
    uint64_t bits = (tb - UINT64_C(0x4338000000000000) + 1023) << 52;  /* 2^n */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    double y = p * scale;
    return x < -708.0 ? 0.0 : y;               /* NaN fails the test and stays NaN */
}

/* On x86-64 Linux with gcc, the loops that call these (_rowops.h) are
 * compiled for AVX-512 and AVX2 as well as the baseline, and the loader picks
 * the best the CPU has (an ifunc, as glibc does for its own routines). The
 * build uses -ffp-contract=off, so every version performs the same IEEE
 * operations and gives bitwise identical results. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FASTGMM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FASTGMM_CLONES
#endif

#endif
