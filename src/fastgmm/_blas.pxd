# Fused-type wrappers around scipy's BLAS (scipy.linalg.cython_blas).
#
# BLAS is column-major; the kernels keep each chunk transposed (feature-major:
# element (row i, feature d) at d * n_rows + i), which is exactly a
# column-major n_rows x D matrix with leading dimension n_rows, so the calls
# below need no operand swapping. Callers keep BLAS single-threaded while
# OpenMP threads call into it (threadpoolctl in the Python layer).

from cython cimport floating
from scipy.linalg.cython_blas cimport strmm, dtrmm, ssyrk, dsyrk


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
