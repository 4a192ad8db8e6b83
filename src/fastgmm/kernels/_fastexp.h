/* exp(x) for x <= 0, branch-free so that loops calling it vectorise.
 *
 * The E-step needs exp(lp - max) in [0, 1] for every (row, component): after
 * the two GEMMs, the largest cost of the diagonal-covariance pass. The
 * method is the textbook table-driven one: x = (64 m + j) ln2/64 + r with
 * |r| <= ln2/128 (Cody-Waite: ln2/64 in two parts, the first with 29
 * significant bits so that k ln2/64 is exact for every |k| < 2^24), and
 * exp(x) = 2^m 2^(j/64) exp(r), with 2^(j/64) from a 64-entry table of
 * correctly rounded doubles and exp(r) - 1 = r + r^2/2 + ... + r^5/120 (the
 * Taylor polynomial: its truncation, r^6/720 < 3.5e-17, is a sixth of an
 * ulp), evaluated in a shallow order (Estrin) so that the loop is not one
 * long chain of dependent operations. The result is s + s q with s = 2^m
 * 2^(j/64) (m added to the table entry's exponent bits) and q = exp(r) - 1,
 * so the polynomial's rounding lands on the small term. k = 64 m + j is read
 * from the bits of the rounding shifter (integer add and mask only), which
 * vectorises even on baseline SSE2 where double -> int64 conversion does
 * not; the table read becomes a gather on AVX2 and AVX-512. Plain IEEE
 * arithmetic only (no -ffast-math, no fused multiply-add): the result is the
 * same on every machine and for every thread count. Measured against
 * long-double expl on 2e7 points of [-708, 0]: relative error below
 * 1.25 * 2^-52 (the degree-13 polynomial without a table it replaced: 0.82 *
 * 2^-52, at 1.3x the time per exp).
 * Arguments outside [-708, 0] return exactly 0: below -708 and -inf (a
 * responsibility under 1e-307 is zero for every purpose here; 2^m stays a
 * normal number above), and also +inf, NaN and x > 0, which the E-step's
 * log-sum-exp only meets for log-densities that overflowed (a row infinitely
 * far from everything) and reads as an impossible term. That result is
 * masked in the integer bits rather than selected by a ?: (in the callers
 * too): gcc turns such a select into a conditional (masked) table read,
 * which it does not vectorise.
 */
#ifndef FASTGMM_FASTEXP_H
#define FASTGMM_FASTEXP_H

#include <stdint.h>
#include <string.h>

/* 2^(j/64), j = 0..63, correctly rounded, as IEEE double bit patterns. */
static const uint64_t fastgmm_exp2_64[64] = {
    UINT64_C(0x3ff0000000000000), UINT64_C(0x3ff02c9a3e778061), UINT64_C(0x3ff059b0d3158574), UINT64_C(0x3ff0874518759bc8),
    UINT64_C(0x3ff0b5586cf9890f), UINT64_C(0x3ff0e3ec32d3d1a2), UINT64_C(0x3ff11301d0125b51), UINT64_C(0x3ff1429aaea92de0),
    UINT64_C(0x3ff172b83c7d517b), UINT64_C(0x3ff1a35beb6fcb75), UINT64_C(0x3ff1d4873168b9aa), UINT64_C(0x3ff2063b88628cd6),
    UINT64_C(0x3ff2387a6e756238), UINT64_C(0x3ff26b4565e27cdd), UINT64_C(0x3ff29e9df51fdee1), UINT64_C(0x3ff2d285a6e4030b),
    UINT64_C(0x3ff306fe0a31b715), UINT64_C(0x3ff33c08b26416ff), UINT64_C(0x3ff371a7373aa9cb), UINT64_C(0x3ff3a7db34e59ff7),
    UINT64_C(0x3ff3dea64c123422), UINT64_C(0x3ff4160a21f72e2a), UINT64_C(0x3ff44e086061892d), UINT64_C(0x3ff486a2b5c13cd0),
    UINT64_C(0x3ff4bfdad5362a27), UINT64_C(0x3ff4f9b2769d2ca7), UINT64_C(0x3ff5342b569d4f82), UINT64_C(0x3ff56f4736b527da),
    UINT64_C(0x3ff5ab07dd485429), UINT64_C(0x3ff5e76f15ad2148), UINT64_C(0x3ff6247eb03a5585), UINT64_C(0x3ff6623882552225),
    UINT64_C(0x3ff6a09e667f3bcd), UINT64_C(0x3ff6dfb23c651a2f), UINT64_C(0x3ff71f75e8ec5f74), UINT64_C(0x3ff75feb564267c9),
    UINT64_C(0x3ff7a11473eb0187), UINT64_C(0x3ff7e2f336cf4e62), UINT64_C(0x3ff82589994cce13), UINT64_C(0x3ff868d99b4492ed),
    UINT64_C(0x3ff8ace5422aa0db), UINT64_C(0x3ff8f1ae99157736), UINT64_C(0x3ff93737b0cdc5e5), UINT64_C(0x3ff97d829fde4e50),
    UINT64_C(0x3ff9c49182a3f090), UINT64_C(0x3ffa0c667b5de565), UINT64_C(0x3ffa5503b23e255d), UINT64_C(0x3ffa9e6b5579fdbf),
    UINT64_C(0x3ffae89f995ad3ad), UINT64_C(0x3ffb33a2b84f15fb), UINT64_C(0x3ffb7f76f2fb5e47), UINT64_C(0x3ffbcc1e904bc1d2),
    UINT64_C(0x3ffc199bdd85529c), UINT64_C(0x3ffc67f12e57d14b), UINT64_C(0x3ffcb720dcef9069), UINT64_C(0x3ffd072d4a07897c),
    UINT64_C(0x3ffd5818dcfba487), UINT64_C(0x3ffda9e603db3285), UINT64_C(0x3ffdfc97337b9b5f), UINT64_C(0x3ffe502ee78b3ff6),
    UINT64_C(0x3ffea4afa2a490da), UINT64_C(0x3ffefa1bee615a27), UINT64_C(0x3fff50765b6e4540), UINT64_C(0x3fffa7c1819e90d8),
};

static inline double fastgmm_exp_nonpos(double x)
{
    const double inv_step = 0x1.71547652b82fep+6;      /* 64 / ln2 */
    const double step_hi = 0x1.62e42ff000000p-7;       /* ln2 / 64, 29 bits */
    const double step_lo = -0x1.718432a1b0e26p-41;     /* ln2 / 64 - step_hi */
    const double shifter = 6755399441055744.0;         /* 1.5 * 2^52: rounds to integer */
    double t = x * inv_step + shifter;
    double k = t - shifter;
    double r = (x - k * step_hi) - k * step_lo;
    uint64_t kb;
    memcpy(&kb, &t, sizeof kb);
    kb -= UINT64_C(0x4338000000000000);                /* k, two's complement */
    uint64_t j = kb & 63;
    /* 2^m 2^(j/64): m = (k - j) / 64 added to the exponent field; the table
     * index is masked to 0..63 whatever x is (also for NaN or huge |x|). */
    uint64_t sbits = fastgmm_exp2_64[j] + ((kb - j) << 46);
    double s;
    memcpy(&s, &sbits, sizeof s);
    double r2 = r * r;
    double a = 0.5 + r * (1.0 / 6.0);
    double b = 1.0 / 24.0 + r * (1.0 / 120.0);
    double q = r + r2 * (a + r2 * b);
    double y = s + s * q;
    uint64_t ybits;
    memcpy(&ybits, &y, sizeof ybits);
    ybits &= UINT64_C(0) - (uint64_t) ((x >= -708.0) & (x <= 0.0));
    memcpy(&y, &ybits, sizeof y);
    return y;
}

/* On x86-64 Linux with gcc, the loops that call these (_rowops.h) are
 * compiled for AVX-512 and AVX2 as well as the baseline, and the loader picks
 * the best the CPU has (an ifunc, as glibc does for its own routines). The
 * build uses -ffp-contract=off, so every version performs the same IEEE
 * operations and gives bitwise identical results. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FASTGMM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define FASTGMM_X8 1
#else
#define FASTGMM_CLONES
#define FASTGMM_X8 0
#endif

#if FASTGMM_X8
/* fastgmm_exp_nonpos on the 8 lanes of an AVX-512 register: the same IEEE
 * operations in the same order (no fused multiply-add), so every lane is
 * bitwise the scalar result (tested). The one difference is how the table
 * is read. gcc vectorises the scalar version's fastgmm_exp2_64[j] lane by
 * lane (extract, load, insert: about half of a vector exp's instructions)
 * and a hardware gather was no faster on AMD Zen 4; here the 64 entries sit
 * in 8 registers (`table`, loaded once per call of the caller), and four
 * two-register permutes (entries 0-15, 16-31, 32-47, 48-63, by bits 0-3 of
 * j) and two blends (bits 4 and 5) pick each lane's entry: 0.77 -> 0.72 ns
 * an exp (1792 values in L1, AMD EPYC Zen 4, best of 1e5). The caller
 * checks fastgmm_have_x8 first (fastgmm_normalise_d, _rowops.h). */
#include <immintrin.h>

__attribute__((target("avx512f"), always_inline))
static inline __m512d fastgmm_exp_nonpos_x8(__m512d x, const __m512i *table)
{
    const __m512d shifter = _mm512_set1_pd(6755399441055744.0);
    __m512d t = _mm512_add_pd(_mm512_mul_pd(x, _mm512_set1_pd(0x1.71547652b82fep+6)), shifter);
    __m512d k = _mm512_sub_pd(t, shifter);
    __m512d r = _mm512_sub_pd(_mm512_sub_pd(x, _mm512_mul_pd(k, _mm512_set1_pd(0x1.62e42ff000000p-7))),
                              _mm512_mul_pd(k, _mm512_set1_pd(-0x1.718432a1b0e26p-41)));
    __m512i kb = _mm512_sub_epi64(_mm512_castpd_si512(t), _mm512_set1_epi64(INT64_C(0x4338000000000000)));
    __m512i j = _mm512_and_si512(kb, _mm512_set1_epi64(63));
    __m512i e0 = _mm512_permutex2var_epi64(table[0], j, table[1]);
    __m512i e1 = _mm512_permutex2var_epi64(table[2], j, table[3]);
    __m512i e2 = _mm512_permutex2var_epi64(table[4], j, table[5]);
    __m512i e3 = _mm512_permutex2var_epi64(table[6], j, table[7]);
    __mmask8 b4 = _mm512_test_epi64_mask(j, _mm512_set1_epi64(16));
    __mmask8 b5 = _mm512_test_epi64_mask(j, _mm512_set1_epi64(32));
    __m512i entry = _mm512_mask_blend_epi64(b5, _mm512_mask_blend_epi64(b4, e0, e1),
                                            _mm512_mask_blend_epi64(b4, e2, e3));
    __m512d s = _mm512_castsi512_pd(_mm512_add_epi64(entry, _mm512_slli_epi64(_mm512_sub_epi64(kb, j), 46)));
    __m512d r2 = _mm512_mul_pd(r, r);
    __m512d a = _mm512_add_pd(_mm512_set1_pd(0.5), _mm512_mul_pd(r, _mm512_set1_pd(1.0 / 6.0)));
    __m512d b = _mm512_add_pd(_mm512_set1_pd(1.0 / 24.0), _mm512_mul_pd(r, _mm512_set1_pd(1.0 / 120.0)));
    __m512d q = _mm512_add_pd(r, _mm512_mul_pd(r2, _mm512_add_pd(a, _mm512_mul_pd(r2, b))));
    __m512d y = _mm512_add_pd(s, _mm512_mul_pd(s, q));
    __mmask8 in_range = _mm512_cmp_pd_mask(x, _mm512_set1_pd(-708.0), _CMP_GE_OQ)
                      & _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_LE_OQ);
    return _mm512_maskz_mov_pd(in_range, y);
}

/* Whether this CPU (and its OS) runs AVX-512F: set once when the module is
 * loaded, before any thread reads it. */
static int fastgmm_have_x8 = 0;

__attribute__((constructor))
static void fastgmm_detect_x8(void)
{
    __builtin_cpu_init();
    fastgmm_have_x8 = __builtin_cpu_supports("avx512f") != 0;
}
#else
#define fastgmm_have_x8 0
#endif

#endif
