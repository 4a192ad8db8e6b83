# Fused-type wrappers around scipy's BLAS (scipy.linalg.cython_blas).
#
# BLAS is column-major. The kernels hold a chunk's features row-major
# (F[i * P + p], n x P, built straight from the rows of X), which BLAS reads as
# the column-major P x n matrix F^T with leading dimension P; the weighted
# log-densities are held feature-major (LP[k * n + i]), a column-major n x K
# matrix, so that the log-sum-exp runs along contiguous rows. The transpose
# flags below say which of the two each call sees. Callers keep BLAS
# single-threaded while OpenMP threads call into it (threadpoolctl in the
# Python layer).

from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, dsyrk, dtrmm, sgemm, ssyrk, strmm

# The transpose flags are chosen for OpenBLAS's small-matrix kernels, which
# are what makes these thin, chunk-sized GEMMs fast: with F transposed and W
# not (W as K x P), OpenBLAS refuses its small-matrix path for this shape
# (n_rows * K > 1200 with transa = 'T', transb = 'N') and the call spends as
# long packing operands as multiplying (measured: diag pass 0.054 -> 0.068 s).
# So W is passed as P x K.

cdef inline void _gemm_f_w(
    int n_rows,             # IN
    int n_feat,             # IN  P
    int n_comp,             # IN  K
    const floating *F,      # IN  row-major (n_rows, P)
    const floating *WT,     # IN  row-major (P, K): the coefficients, one column per component
    floating *LP,           # OUT column-major (n_rows, K), ld = n_rows: LP := F WT
) noexcept nogil:
    cdef char tt = b'T'
    cdef floating one = 1.0, zero = 0.0
    if floating is float:
        sgemm(&tt, &tt, &n_rows, &n_comp, &n_feat, &one, <float *> F, &n_feat,
              <float *> WT, &n_comp, &zero, LP, &n_rows)
    else:
        dgemm(&tt, &tt, &n_rows, &n_comp, &n_feat, &one, <double *> F, &n_feat,
              <double *> WT, &n_comp, &zero, LP, &n_rows)


cdef inline void _gemm_f_w_lead(
    int n_rows,             # IN
    int n_used,             # IN  the leading features used (<= ld_f)
    int ld_f,               # IN  P
    int n_comp,             # IN  K
    const double *F,        # IN  row-major (n_rows, P)
    const double *WT,       # IN  row-major (n_used, K)
    double *LP,             # OUT column-major (n_rows, K), ld = n_rows: LP := F[:, :n_used] WT
) noexcept nogil:
    # _gemm_f_w on the first n_used features of each row (same transpose flags).
    cdef char tt = b'T'
    cdef double one = 1.0, zero = 0.0
    dgemm(&tt, &tt, &n_rows, &n_comp, &n_used, &one, <double *> F, &ld_f,
          <double *> WT, &n_comp, &zero, LP, &n_rows)


cdef inline void _gemm_ft_r(
    int n_rows,             # IN
    int n_feat,             # IN  P
    int n_comp,             # IN  K
    const double *F,        # IN  row-major (n_rows, P)
    const double *R,        # IN  column-major (n_rows, K), ld = n_rows
    double *G,              # IN/OUT row-major (K, P), i.e. column-major (P, K): G^T += F^T R
) noexcept nogil:
    cdef char tn = b'N'
    cdef double one = 1.0
    dgemm(&tn, &tn, &n_feat, &n_comp, &n_rows, &one, <double *> F, &n_feat,
          <double *> R, &n_rows, &one, G, &n_feat)


cdef inline void _trmm_rows_upper(
    int n_rows,             # IN
    int n_features,         # IN  D
    const floating *U,      # IN  (D, D) row-major upper-triangular factor
    floating *Y,            # IN/OUT row-major (n_rows, D): Y := Y U
) noexcept nogil:
    """Y := Y @ U, row by row. Costs n_rows * D^2 flops (half a GEMM).

    BLAS sees Y as the column-major D x n_rows matrix Y^T and U as U^T
    (lower), and (Y U)^T = U^T Y^T: side 'L', uplo 'L', transa 'N'.
    """
    cdef char side = b'L', uplo = b'L', transa = b'N', diag = b'N'
    cdef floating alpha = 1.0
    if floating is float:
        strmm(&side, &uplo, &transa, &diag, &n_features, &n_rows, &alpha,
              <float *> U, &n_features, Y, &n_features)
    else:
        dtrmm(&side, &uplo, &transa, &diag, &n_features, &n_rows, &alpha,
              <double *> U, &n_features, Y, &n_features)


cdef inline void _syrk_gram(
    int n_rows,             # IN
    int n_features,         # IN  D
    const double *Z,        # IN  row i at Z[i * ldz], D entries
    int ldz,                # IN  row stride of Z (>= D)
    double *C,              # OUT (D, D): C := Z^T Z, one triangle
) noexcept nogil:
    """C := Z^T Z (uplo 'U' column-major: the lower triangle of row-major C).

    BLAS sees Z as the column-major D x n_rows matrix Z^T, so C = Z^T (Z^T)^T
    is trans 'N'. The other triangle of C is not touched.
    """
    cdef char uplo = b'U', trans = b'N'
    cdef double alpha = 1.0, beta = 0.0
    dsyrk(&uplo, &trans, &n_features, &n_rows, &alpha, <double *> Z, &ldz,
          &beta, C, &n_features)


cdef inline void _gemm_ft_r_set(
    int n_rows,             # IN
    int n_feat,             # IN  P
    int n_comp,             # IN  K
    const floating *F,      # IN  row-major (n_rows, P)
    const floating *R,      # IN  column-major (n_rows, K), ld = n_rows
    floating *G,            # OUT row-major (K, P), i.e. column-major (P, K): G^T := F^T R
) noexcept nogil:
    """As _gemm_ft_r but overwriting G (beta = 0): the float32 path sums one chunk in its own
    buffer and adds it into the float64 partial (see _estep.pyx, _chunk32)."""
    cdef char tn = b'N'
    cdef floating one = 1.0, zero = 0.0
    if floating is float:
        sgemm(&tn, &tn, &n_feat, &n_comp, &n_rows, &one, <float *> F, &n_feat,
              <float *> R, &n_rows, &zero, G, &n_feat)
    else:
        dgemm(&tn, &tn, &n_feat, &n_comp, &n_rows, &one, <double *> F, &n_feat,
              <double *> R, &n_rows, &zero, G, &n_feat)
