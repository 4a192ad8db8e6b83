/* The float32 compute path of the E-step kernel (_estep.pyx, _chunk32): the
 * feature rows in float32, a float32 exp and the float32 log-sum-exp.
 *
 * Why: for float32 data whose components all lie near the shift (few
 * Mahalanobis units, the bound of fastgmm.families._gaussian
 * .float32_coefficients), the whole chunk can be computed in float32: half
 * the bytes through the caches, twice the lanes per vector, and SGEMM at
 * about twice DGEMM's rate. The statistics of a chunk (a few hundred rows) are
 * summed in float32 by the GEMM and then added into the float64 partials, so
 * only a chunk's rows are ever summed in float32.
 *
 * As in _rowops.h: compiled for AVX-512, AVX2 and the baseline (FASTGMM_CLONES)
 * with -ffp-contract=off and a fixed order of operations, so every version
 * gives bitwise identical results. New functions only: nothing of _rowops.h
 * or _fastexp.h is redefined.
 */
#ifndef FASTGMM_ROWOPS32_H
#define FASTGMM_ROWOPS32_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "_rowops.h"

FASTGMM_DEFINE_SUMSQ(fastgmm_sumsq_f, float)

/* Feature rows f = [1, z, q(z)] in float32 from float32 rows: z = x - c is
 * formed in float64 and rounded once, the products q(z) in float32 (the
 * layout and order of _rowops.h's fastgmm_features_dd). */
FASTGMM_DEFINE_FEATURES(fastgmm_features_ff, float, float, fastgmm_sumsq_f)

/* exp(x) for x <= 0 in float32, branch-free (vectorises, 16 lanes with
 * AVX-512): x = n ln2 + r, |r| <= ln2 / 2 (Cody-Waite two-part ln2, the high
 * part with 9 significant bits so that n * ln2_hi is exact for |n| <= 2^15),
 * exp(r) by its Taylor polynomial of degree 7 (truncation 5e-9 relative,
 * below half an ulp), times 2^n built in the exponent bits. Measured against
 * float64 exp: at most 2 ulp (float32) on [-87, 0]. Arguments below -87 (where
 * the result would leave float32's normal range) and -inf return exactly 0;
 * NaN stays NaN. */
static inline float fastgmm_exp_nonpos_f(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;
    const float ln2_lo = -2.12194440e-4f;
    const float shifter = 12582912.0f;        /* 1.5 * 2^23: rounds to integer */
    float xc = x < -87.0f ? -87.0f : x;
    float t = xc * log2e + shifter;
    float n = t - shifter;
    float r = (xc - n * ln2_hi) - n * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    uint32_t bits = (tb - UINT32_C(0x4B400000) + 127) << 23;   /* 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    return x < -87.0f ? 0.0f : y;              /* NaN fails the test and stays NaN */
}

/* The float32 exp over an array (tests). */
static void fastgmm_exp_nonpos_f_array(const float *x, float *y, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++)
        y[i] = fastgmm_exp_nonpos_f(x[i]);
}

/* Per-row log-sum-exp of a (K, n) feature-major float32 block of weighted
 * log-densities, turned in place into responsibilities (times the row's
 * sample weight w[i] if w is given), as _rowops.h's fastgmm_normalise_d:
 * non-finite values read as -inf, one exp per (row, component), the maxima,
 * sums and responsibilities in float32. The rows' (weighted) sum of
 * log-likelihoods mx + log(sum) is returned in float64 (without weights with
 * one log per 32 rows, as fastgmm_normalise_d).
 *
 * *n_dead gets the number of rows every component of which read -inf (a sum
 * of 0): in float32 that can be an overflow of the features rather than a
 * row no component can produce, so the caller computes such a chunk again in
 * float64 (whatever the row's weight: its zero responsibilities times
 * infinite features would make NaN statistics). */
FASTGMM_CLONES
static double fastgmm_normalise_f(float *lp, ptrdiff_t n, ptrdiff_t K, float *mx, float *sm,
                                  const double *w, ptrdiff_t *n_dead)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = lp[i];
        v = v < INFINITY ? v : -INFINITY;
        lp[i] = v;
        mx[i] = v;
    }
    for (ptrdiff_t k = 1; k < K; k++) {
        float *lpk = lp + k * n;
        for (ptrdiff_t i = 0; i < n; i++) {
            float v = lpk[i];
            v = v < INFINITY ? v : -INFINITY;
            lpk[i] = v;
            mx[i] = v > mx[i] ? v : mx[i];
        }
    }
    ptrdiff_t dead = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        sm[i] = 0;
        dead += mx[i] == -INFINITY;
        mx[i] = mx[i] == -INFINITY ? 0 : mx[i];   /* exp(-inf) = 0, not nan */
    }
    *n_dead = dead;
    for (ptrdiff_t k = 0; k < K; k++) {
        float *lpk = lp + k * n;
        for (ptrdiff_t i = 0; i < n; i++) {
            float e = fastgmm_exp_nonpos_f(lpk[i] - mx[i]);
            lpk[i] = e;
            sm[i] += e;
        }
    }
    double total = 0.0;
    if (w) {
        for (ptrdiff_t i = 0; i < n; i++) {
            double lse = sm[i] > 0 ? (double) mx[i] + log((double) sm[i]) : -INFINITY;
            if (w[i] != 0)
                total += w[i] * lse;
        }
    } else {
        /* one log per 32 rows, as fastgmm_normalise_d: each sum is in [1, K] */
        double prod = 1.0;
        for (ptrdiff_t i = 0; i < n; i++) {
            total += (double) mx[i];
            prod *= (double) sm[i];
            if ((i & 31) == 31) {
                total += log(prod);
                prod = 1.0;
            }
        }
        if (n & 31)
            total += log(prod);
    }
    for (ptrdiff_t i = 0; i < n; i++)
        sm[i] = sm[i] > 0 ? (w ? (float) w[i] : 1.0f) / sm[i] : 0.0f;
    for (ptrdiff_t k = 0; k < K; k++) {
        float *lpk = lp + k * n;
        for (ptrdiff_t i = 0; i < n; i++)
            lpk[i] *= sm[i];
    }
    return total;
}

/* acc[j] += (double) part[j], j < m: a chunk's float32 statistics into the
 * float64 partial of its slot. */
FASTGMM_CLONES
static void fastgmm_add_f_to_d(double *FASTGMM_RESTRICT acc, const float *FASTGMM_RESTRICT part, ptrdiff_t m)
{
    for (ptrdiff_t j = 0; j < m; j++)
        acc[j] += (double) part[j];
}

#endif
