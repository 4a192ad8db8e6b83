/* The two products of the float32 chunk worker (_estep.pyx, _chunk32), as
 * register-blocked kernels of our own instead of SGEMM calls:
 *
 *   (a) LP = F W:      LP[k, i] = sum_p F[i, p] W[p, k]   (K x n, feature-major)
 *   (b) G += R^T F:    G[k, p] += (double) sum_i R[k, i] F[i, p]
 *
 * with F a chunk's feature rows (n x P, row stride ldf), W the pass's
 * coefficients (P x Kp, K padded to a multiple of 8: vector lanes) and R
 * the chunk's responsibilities (K x n). Why: these products are thin (n of
 * a few hundred rows, K outputs per row), so each feature feeds only 2 K
 * flops per product, and SGEMM spent half as long packing F (twice per
 * chunk) as multiplying it (W6 float32, 1 thread: sgemm_kernel 49 % of the
 * fit, the packing routines 28 %). Here F is read in place: in (a) a few
 * rows' features are broadcast against K-wide vectors of W, whose block of
 * FASTGMM_G32_PB rows stays in L1 while every row of the chunk goes by; in
 * (b) a tile of G (4 components x 24 features) stays in registers while the
 * chunk's rows go by, and is then added into the float64 partial of the slot
 * (no float32 copy of G, no separate conversion pass).
 *
 * The arithmetic is fixed, whatever the machine, the version the loader
 * picked or the thread count:
 *   (a) for each (i, k): the sum over p in blocks of FASTGMM_G32_PB, each
 *       block a chain of fused multiply-adds from 0 in increasing p, the
 *       blocks' sums added in order (((b0 + b1) + b2) + ...; blocked
 *       summation: an error of about (PB + P / PB) instead of P roundings);
 *   (b) for each (k, p): a chain of fused multiply-adds over the chunk's rows
 *       from 0 in increasing i, then one addition into G in float64.
 * A fused multiply-add rounds once (fmaf), also in the vector lanes, and the
 * build's -ffp-contract=off keeps the compiler from fusing anything else.
 * The code is written once (macros over the vector FMA) and compiled twice:
 * with GCC on x86-64 for x86-64-v3 (AVX2 with FMA, one vfmadd per vector),
 * and portably (fmaf per lane: the same roundings, but a library routine on a
 * CPU without FMA). The kernel (_estep.pyx) calls the x86-64-v3 version where
 * fastgmm_gemm32_fast() finds AVX2 and FMA at run time and keeps SGEMM
 * elsewhere; the tests check that the two versions agree bit for bit.
 */
#ifndef FASTGMM_GEMM32_H
#define FASTGMM_GEMM32_H

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Rows of W per block of (a): 128 x 32 floats = 16 KiB, half of L1. */
#define FASTGMM_G32_PB 128

/* The tiles' loops over their registers must be unrolled for the
 * accumulators to stay in registers (GCC otherwise keeps the array in memory
 * and stores it at every step). */
#if defined(__GNUC__) && !defined(__clang__)
#define FASTGMM_G32_UNROLL _Pragma("GCC unroll 8")
#elif defined(__clang__)
#define FASTGMM_G32_UNROLL _Pragma("unroll")
#else
#define FASTGMM_G32_UNROLL
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FASTGMM_G32_X86 1
#else
#define FASTGMM_G32_X86 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FASTGMM_G32_INLINE static inline __attribute__((always_inline))
/* Eight floats, element-wise operations only (GCC's and clang's vector
 * extensions; elsewhere a struct and loops). fastgmm_f8_fma is the portable
 * fused multiply-add, lane by lane. */
typedef float fastgmm_f8 __attribute__((vector_size(32)));
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_load(const float *p) { fastgmm_f8 v; memcpy(&v, p, sizeof v); return v; }
FASTGMM_G32_INLINE void fastgmm_f8_store(float *p, fastgmm_f8 v) { memcpy(p, &v, sizeof v); }
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_zero(void) { fastgmm_f8 v = {0}; return v; }
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_bcast(const float *a) { fastgmm_f8 v = {*a, *a, *a, *a, *a, *a, *a, *a}; return v; }
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_add(fastgmm_f8 a, fastgmm_f8 b) { return a + b; }
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_fma(fastgmm_f8 a, fastgmm_f8 b, fastgmm_f8 c)
{
    fastgmm_f8 r;
    for (int l = 0; l < 8; l++)
        r[l] = __builtin_fmaf(a[l], b[l], c[l]);
    return r;
}
#if FASTGMM_G32_X86
/* The same operation as one AVX2 instruction (vfmadd: a * b + c rounded once). */
__attribute__((target("avx2,fma")))
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_fma_v3(fastgmm_f8 a, fastgmm_f8 b, fastgmm_f8 c)
{
    return __builtin_ia32_vfmaddps256(a, b, c);
}
/* And a broadcast from memory as one instruction (GCC builds {a, ..., a} from inserts). */
__attribute__((target("avx2,fma")))
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_bcast_v3(const float *a)
{
    return __builtin_ia32_vbroadcastss256(a);
}
#endif
#else
#define FASTGMM_G32_INLINE static inline
typedef struct { float v[8]; } fastgmm_f8;
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_load(const float *p) { fastgmm_f8 r; memcpy(r.v, p, sizeof r.v); return r; }
FASTGMM_G32_INLINE void fastgmm_f8_store(float *p, fastgmm_f8 x) { memcpy(p, x.v, sizeof x.v); }
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_zero(void) { fastgmm_f8 r; for (int l = 0; l < 8; l++) r.v[l] = 0.0f; return r; }
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_bcast(const float *a) { fastgmm_f8 r; for (int l = 0; l < 8; l++) r.v[l] = *a; return r; }
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_add(fastgmm_f8 a, fastgmm_f8 b)
{ for (int l = 0; l < 8; l++) a.v[l] = a.v[l] + b.v[l]; return a; }
FASTGMM_G32_INLINE fastgmm_f8 fastgmm_f8_fma(fastgmm_f8 a, fastgmm_f8 b, fastgmm_f8 c)
{ for (int l = 0; l < 8; l++) c.v[l] = fmaf(a.v[l], b.v[l], c.v[l]); return c; }
#endif

/* Whether the x86-64-v3 kernels can run here (an x86-64 CPU with AVX2 and
 * FMA); elsewhere the float32 worker keeps SGEMM, faster than fmaf calls. */
static int fastgmm_gemm32_fast(void)
{
#if FASTGMM_G32_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* (a)'s register tile: rows 0 .. MR - 1 of F (already offset to the tile's
 * first row), components 0 .. 8 NV - 1 of W and S (already offset to the
 * block of components), features p0 .. p1 - 1: the block's sums, stored into
 * S (first block) or added to it. MR <= 8, NV <= 4, constants after
 * inlining, so the accumulators live in registers: 8-12 of them, enough
 * independent chains to cover the FMA latency (3 rows x 4 vectors ran W6's
 * shape at 1.6x the speed of 2 x 4). */
#define FASTGMM_G32_FW_TILE(F, ldf, p0, p1, W, ldw, S, lds, first, MR, NV, FMA, BCAST)               \
    do {                                                                                     \
        fastgmm_f8 acc_[8][4];                                                               \
        FASTGMM_G32_UNROLL for (int r_ = 0; r_ < (MR); r_++)                                                    \
            FASTGMM_G32_UNROLL for (int v_ = 0; v_ < (NV); v_++)                                                \
                acc_[r_][v_] = fastgmm_f8_zero();                                            \
        for (ptrdiff_t p_ = (p0); p_ < (p1); p_++) {                                         \
            fastgmm_f8 w_[4];                                                                \
            FASTGMM_G32_UNROLL for (int v_ = 0; v_ < (NV); v_++)                                                \
                w_[v_] = fastgmm_f8_load((W) + p_ * (ldw) + 8 * v_);                         \
            FASTGMM_G32_UNROLL for (int r_ = 0; r_ < (MR); r_++) {                                              \
                fastgmm_f8 b_ = BCAST((F) + r_ * (ldf) + p_);                      \
                FASTGMM_G32_UNROLL for (int v_ = 0; v_ < (NV); v_++)                                            \
                    acc_[r_][v_] = FMA(b_, w_[v_], acc_[r_][v_]);                            \
            }                                                                                \
        }                                                                                    \
        FASTGMM_G32_UNROLL for (int r_ = 0; r_ < (MR); r_++)                                                    \
            FASTGMM_G32_UNROLL for (int v_ = 0; v_ < (NV); v_++) {                                              \
                float *s_ = (S) + r_ * (lds) + 8 * v_;                                       \
                fastgmm_f8_store(s_, (first) ? acc_[r_][v_]                                  \
                                             : fastgmm_f8_add(fastgmm_f8_load(s_), acc_[r_][v_])); \
            }                                                                                \
    } while (0)

/* (a) over the chunk's rows in tiles of MR rows, then single rows. */
#define FASTGMM_G32_FW_ROWS(MR, NV, FMA, BCAST)                                                     \
    do {                                                                                     \
        ptrdiff_t i_ = 0;                                                                    \
        for (; i_ + (MR) <= n; i_ += (MR))                                                   \
            FASTGMM_G32_FW_TILE(F + i_ * ldf, ldf, p0, p1, W + k0, Kp, S + i_ * Kp + k0, Kp, \
                                first, (MR), (NV), FMA, BCAST);                                     \
        for (; i_ < n; i_++)                                                                 \
            FASTGMM_G32_FW_TILE(F + i_ * ldf, ldf, p0, p1, W + k0, Kp, S + i_ * Kp + k0, Kp, \
                                first, 1, (NV), FMA, BCAST);                                        \
    } while (0)

/* (a): LP (K x n, LP[k * n + i]) = F W, F (n x P, row stride ldf), W (P x Kp,
 * Kp a multiple of 8: the columns from K on are computed in their lanes of
 * S, never copied to LP); S: scratch of n x Kp. */
#define FASTGMM_DEFINE_GEMM32_FW(NAME, ATTR, FMA, BCAST)                                            \
ATTR                                                                                         \
static void NAME(const float *F, ptrdiff_t ldf, ptrdiff_t n, ptrdiff_t P, const float *W,    \
                 ptrdiff_t Kp, ptrdiff_t K, float *S, float *LP)                             \
{                                                                                            \
    for (ptrdiff_t k0 = 0; k0 < Kp; k0 += 32) {                                              \
        ptrdiff_t nv = (Kp - k0) / 8 < 4 ? (Kp - k0) / 8 : 4;                                \
        for (ptrdiff_t p0 = 0; p0 < P; p0 += FASTGMM_G32_PB) {                               \
            ptrdiff_t p1 = P - p0 < FASTGMM_G32_PB ? P : p0 + FASTGMM_G32_PB;                \
            int first = p0 == 0;                                                             \
            if (nv == 4)                                                                     \
                FASTGMM_G32_FW_ROWS(3, 4, FMA, BCAST);                                              \
            else if (nv == 3)                                                                \
                FASTGMM_G32_FW_ROWS(4, 3, FMA, BCAST);                                              \
            else if (nv == 2)                                                                \
                FASTGMM_G32_FW_ROWS(6, 2, FMA, BCAST);                                              \
            else                                                                             \
                FASTGMM_G32_FW_ROWS(8, 1, FMA, BCAST);                                              \
        }                                                                                    \
    }                                                                                        \
    for (ptrdiff_t k = 0; k < K; k++)                                                        \
        for (ptrdiff_t i = 0; i < n; i++)                                                    \
            LP[k * n + i] = S[i * Kp + k];                                                   \
}

/* (b)'s register tile: components k0 .. k0 + MK - 1, features p0 .. p0 +
 * 8 NPV - 1 (those below P are added into G). */
#define FASTGMM_G32_RTF_TILE(k0, MK, NPV, FMA, BCAST)                                               \
    do {                                                                                     \
        fastgmm_f8 acc_[4][3];                                                               \
        const float *r0_ = R + (k0) * n;                                                     \
        FASTGMM_G32_UNROLL for (int k_ = 0; k_ < (MK); k_++)                                                    \
            FASTGMM_G32_UNROLL for (int v_ = 0; v_ < (NPV); v_++)                                               \
                acc_[k_][v_] = fastgmm_f8_zero();                                            \
        for (ptrdiff_t i_ = 0; i_ < n; i_++) {                                               \
            fastgmm_f8 f_[3];                                                                \
            FASTGMM_G32_UNROLL for (int v_ = 0; v_ < (NPV); v_++)                                               \
                f_[v_] = fastgmm_f8_load(F + i_ * ldf + p0 + 8 * v_);                        \
            FASTGMM_G32_UNROLL for (int k_ = 0; k_ < (MK); k_++) {                                              \
                fastgmm_f8 b_ = BCAST(r0_ + k_ * n + i_);                          \
                FASTGMM_G32_UNROLL for (int v_ = 0; v_ < (NPV); v_++)                                           \
                    acc_[k_][v_] = FMA(b_, f_[v_], acc_[k_][v_]);                            \
            }                                                                                \
        }                                                                                    \
        FASTGMM_G32_UNROLL for (int k_ = 0; k_ < (MK); k_++)                                                    \
            FASTGMM_G32_UNROLL for (int v_ = 0; v_ < (NPV); v_++) {                                             \
                float t_[8];                                                                 \
                double *g_ = G + ((k0) + k_) * P + p0 + 8 * v_;                              \
                ptrdiff_t m_ = P - (p0 + 8 * v_);                                            \
                fastgmm_f8_store(t_, acc_[k_][v_]);                                          \
                if (m_ >= 8) {                                                               \
                    FASTGMM_G32_UNROLL for (int l_ = 0; l_ < 8; l_++)                                           \
                        g_[l_] += (double) t_[l_];                                           \
                } else {                                                                     \
                    for (ptrdiff_t l_ = 0; l_ < m_; l_++)                                    \
                        g_[l_] += (double) t_[l_];                                           \
                }                                                                            \
            }                                                                                \
    } while (0)

/* (b) for the features p0 .. p0 + 8 NPV - 1: components in tiles of 6, then the rest. */
#define FASTGMM_G32_RTF_COMPONENTS(NPV, FMA, BCAST)                                          \
    do {                                                                                     \
        ptrdiff_t k0 = 0;                                                                    \
        for (; k0 + 4 <= K; k0 += 4)                                                         \
            FASTGMM_G32_RTF_TILE(k0, 4, (NPV), FMA, BCAST);                                  \
        switch (K - k0) {                                                                    \
        case 3: FASTGMM_G32_RTF_TILE(k0, 3, (NPV), FMA, BCAST); break;                       \
        case 2: FASTGMM_G32_RTF_TILE(k0, 2, (NPV), FMA, BCAST); break;                       \
        case 1: FASTGMM_G32_RTF_TILE(k0, 1, (NPV), FMA, BCAST); break;                       \
        default: break;                                                                      \
        }                                                                                    \
    } while (0)

/* (b): G (K x P, row-major, float64) += R^T F summed in float32, R (K x n,
 * R[k * n + i]), F (n x P, row stride ldf >= P rounded up to a multiple of
 * 8: the columns beyond P are read, their sums discarded). A tile of 24
 * features keeps its rows of F (96 bytes each) in L1 while the tiles of
 * components go by. */
#define FASTGMM_DEFINE_GEMM32_RTF(NAME, ATTR, FMA, BCAST)                                           \
ATTR                                                                                         \
static void NAME(const float *F, ptrdiff_t ldf, ptrdiff_t n, ptrdiff_t P, const float *R,    \
                 ptrdiff_t K, double *G)                                                     \
{                                                                                            \
    for (ptrdiff_t p0 = 0; p0 < P; p0 += 24) {                                               \
        if (P - p0 > 16)                                                                     \
            FASTGMM_G32_RTF_COMPONENTS(3, FMA, BCAST);                                       \
        else if (P - p0 > 8)                                                                 \
            FASTGMM_G32_RTF_COMPONENTS(2, FMA, BCAST);                                       \
        else                                                                                 \
            FASTGMM_G32_RTF_COMPONENTS(1, FMA, BCAST);                                       \
    }                                                                                        \
}

/* The portable versions (fmaf: a library call on an x86-64 CPU without FMA). */
FASTGMM_DEFINE_GEMM32_FW(fastgmm_gemm32_fw_ref, , fastgmm_f8_fma, fastgmm_f8_bcast)
FASTGMM_DEFINE_GEMM32_RTF(fastgmm_gemm32_rtf_ref, , fastgmm_f8_fma, fastgmm_f8_bcast)

#if FASTGMM_G32_X86
FASTGMM_DEFINE_GEMM32_FW(fastgmm_gemm32_fw_v3, __attribute__((target("avx2,fma"))), fastgmm_f8_fma_v3, fastgmm_f8_bcast_v3)
FASTGMM_DEFINE_GEMM32_RTF(fastgmm_gemm32_rtf_v3, __attribute__((target("avx2,fma"))), fastgmm_f8_fma_v3, fastgmm_f8_bcast_v3)
#endif

/* The kernels the float32 worker calls: x86-64-v3 where the CPU has it
 * (the caller checks fastgmm_gemm32_fast() once per pass), else portable. */
static void fastgmm_gemm32_fw(const float *F, ptrdiff_t ldf, ptrdiff_t n, ptrdiff_t P, const float *W,
                              ptrdiff_t Kp, ptrdiff_t K, float *S, float *LP, int fast)
{
#if FASTGMM_G32_X86
    if (fast) {
        fastgmm_gemm32_fw_v3(F, ldf, n, P, W, Kp, K, S, LP);
        return;
    }
#endif
    (void) fast;
    fastgmm_gemm32_fw_ref(F, ldf, n, P, W, Kp, K, S, LP);
}

static void fastgmm_gemm32_rtf(const float *F, ptrdiff_t ldf, ptrdiff_t n, ptrdiff_t P, const float *R,
                               ptrdiff_t K, double *G, int fast)
{
#if FASTGMM_G32_X86
    if (fast) {
        fastgmm_gemm32_rtf_v3(F, ldf, n, P, R, K, G);
        return;
    }
#endif
    (void) fast;
    fastgmm_gemm32_rtf_ref(F, ldf, n, P, R, K, G);
}

#endif
