# Fused-type wrappers around scipy's BLAS (scipy.linalg.cython_blas).
#
# BLAS is column-major; the kernels keep each chunk transposed (feature-major:
# element (row i, feature d) at d * n_rows + i), which is exactly a
# column-major n_rows x D matrix with leading dimension n_rows, so the calls
# below need no operand swapping. Callers keep BLAS single-threaded while
# OpenMP threads call into it (threadpoolctl in the Python layer).

from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm, strmm, dtrmm, ssyrk, dsyrk


cdef inline void _gemm_f_w(
    int n_rows,             # IN
    int n_feat,             # IN  P
    int n_comp,             # IN  K
    const floating *F,      # IN  column-major (n_rows, P), ld = n_rows
    const floating *W,      # IN  row-major (K, P), i.e. column-major (P, K), ld = P
    floating *LP,           # OUT column-major (n_rows, K), ld = n_rows: LP := F W^T
) noexcept nogil:
    cdef char tn = b'N'
    cdef floating one = 1.0, zero = 0.0
    if floating is float:
        sgemm(&tn, &tn, &n_rows, &n_comp, &n_feat, &one, <float *> F, &n_rows,
              <float *> W, &n_feat, &zero, LP, &n_rows)
    else:
        dgemm(&tn, &tn, &n_rows, &n_comp, &n_feat, &one, <double *> F, &n_rows,
              <double *> W, &n_feat, &zero, LP, &n_rows)


cdef inline void _gemm_ft_r(
    int n_rows,             # IN
    int n_feat,             # IN  P
    int n_comp,             # IN  K
    const double *F,        # IN  column-major (n_rows, P), ld = n_rows
    const double *R,        # IN  column-major (n_rows, K), ld = n_rows
    double *G,              # IN/OUT row-major (P, K), i.e. column-major (K, P): G += R^T F
) noexcept nogil:
    # R^T F (K x P) rather than F^T R: OpenBLAS then packs the small R, not F.
    cdef char tt = b'T', tn = b'N'
    cdef double one = 1.0
    dgemm(&tt, &tn, &n_comp, &n_feat, &n_rows, &one, <double *> R, &n_rows,
          <double *> F, &n_rows, &one, G, &n_comp)


cdef inline void _trmm_right_upper(
    int n_rows,             # IN
    int n_features,         # IN
    const floating *U,      # IN  (D, D) row-major upper-triangular factor
    floating *B,            # IN/OUT column-major (n_rows, D), ld = n_rows
) noexcept nogil:
    """B := B @ U for a row-major upper-triangular U.

    U's memory read column-major is U^T (lower), so B @ U = B @ (U^T)^T:
    side 'R', uplo 'L', transa 'T'. Costs n_rows * D^2 flops (half a GEMM).
    """
    cdef char side = b'R', uplo = b'L', transa = b'T', diag = b'N'
    cdef floating alpha = 1.0
    if floating is float:
        strmm(&side, &uplo, &transa, &diag, &n_rows, &n_features, &alpha,
              <float *> U, &n_features, B, &n_rows)
    else:
        dtrmm(&side, &uplo, &transa, &diag, &n_rows, &n_features, &alpha,
              <double *> U, &n_features, B, &n_rows)


cdef inline void _syrk_gram(
    int n_rows,             # IN
    int n_features,         # IN
    const floating *A,      # IN  column-major (n_rows, D), ld = n_rows
    floating *C,            # OUT (D, D): C := A^T A, one triangle
) noexcept nogil:
    """C := A^T A (uplo 'U' column-major: the lower triangle of row-major C).

    The other triangle of C is not touched.
    """
    cdef char uplo = b'U', trans = b'T'
    cdef floating alpha = 1.0, beta = 0.0
    if floating is float:
        ssyrk(&uplo, &trans, &n_features, &n_rows, &alpha, <float *> A, &n_rows,
              &beta, C, &n_features)
    else:
        dsyrk(&uplo, &trans, &n_features, &n_rows, &alpha, <double *> A, &n_rows,
              &beta, C, &n_features)
