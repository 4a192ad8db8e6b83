"""Small dense linear algebra done once per EM iteration, for every component in one call.

The M-step turns each component's covariance into the upper-triangular factor U of its precision
(``precision = U U^T``, scikit-learn's ``precisions_cholesky_``): LAPACK's ``dpotrf`` (L L^T = Sigma) and
``dtrtrs`` (L^-1), U = L^-T. Called through SciPy's Python wrappers that cost ~5 us per routine per
component, which on small data (iris: 150 rows, one kernel pass ~10 us) is a large part of an EM
iteration. Here one call runs the same two LAPACK routines (SciPy's, through ``cython_lapack``) for all
components, so the factors are bitwise those of the wrappers.
"""

import numpy as np

from scipy.linalg.cython_lapack cimport dpotrf, dtrtrs
from libc.math cimport log
from libc.string cimport memcpy, memset


def precision_cholesky(const double[:, :, ::1] cov, double[:, :, ::1] out):
    """Fill ``out[k]`` with U_k (upper triangular, ``U_k U_k^T = cov[k]^-1``) for every k.

    Returns the first component whose covariance is not positive definite, or -1 when all are.
    ``cov`` must be symmetric and finite (the caller checks); ``out`` is written up to that component.
    """
    cdef int K = cov.shape[0]
    cdef int D = cov.shape[1]
    cdef int info = 0, k, i, bad = -1
    cdef char lower = b"L"
    cdef char notrans = b"N"
    cdef char nonunit = b"N"
    if cov.shape[2] != D or out.shape[0] != K or out.shape[1] != D or out.shape[2] != D:
        raise ValueError("precision_cholesky: cov and out must both have the shape (K, D, D).")
    if D == 0:
        return -1
    cdef double[::1] a = np.empty(D * D)
    cdef size_t nbytes = D * D * sizeof(double)
    with nogil:
        for k in range(K):
            # A symmetric matrix in C order is the same matrix in Fortran's column order.
            memcpy(&a[0], &cov[k, 0, 0], nbytes)
            dpotrf(&lower, &D, &a[0], &D, &info)
            if info != 0:
                bad = k
                break
            # L X = I: X = L^-1 in column order, whose memory read in C order is L^-T = U.
            memset(&out[k, 0, 0], 0, nbytes)
            for i in range(D):
                out[k, i, i] = 1.0
            dtrtrs(&lower, &notrans, &nonunit, &D, &D, &a[0], &D, &out[k, 0, 0], &D, &info)
            if info != 0:
                bad = k
                break
    return bad


cdef double LOG_2PI = 1.8378770664093453  # log(2 pi)


def linear_coefficients(int kind, const double[::1] weights, const double[:, ::1] means, prec_chol,
                        const double[::1] shift, const Py_ssize_t[::1] pair_i, const Py_ssize_t[::1] pair_j,
                        const double[::1] pair_scale, double[:, ::1] out):
    """The E-step's coefficients W (P x K, the kernel's layout) of every component, in one call.

    ``f(x) . W[:, k] = log w_k + log N(x | mu_k, Sigma_k)`` with ``f(x) = [1, z, q(z)]``, ``z = x - shift``
    (see ``fastgmm.families._gaussian.linear_coefficients``, whose definition this computes). ``kind``:
    0 full (``prec_chol`` (K, D, D) upper factors U_k, ``pair_*`` the kernel's order of the products
    z_i z_j and their coefficient in -1/2 z^T Lambda z), 1 tied ((D, D)), 2 diag ((K, D)), 3 spherical
    ((K,)). IEEE arithmetic throughout: a zero weight gives -inf, overflow gives inf or NaN, as NumPy's
    would (the callers handle them).
    """
    cdef Py_ssize_t K = means.shape[0], D = means.shape[1], P = out.shape[0]
    cdef Py_ssize_t k, d, e, p
    cdef double ln, acc, q
    cdef const double[:, :, ::1] full
    cdef const double[:, ::1] mat
    cdef const double[::1] vec
    if out.shape[1] != K or weights.shape[0] != K or shift.shape[0] != D:
        raise ValueError("linear_coefficients: inconsistent shapes.")
    if kind == 0:
        full = prec_chol
        if full.shape[0] != K or full.shape[1] != D or full.shape[2] != D or P != 1 + D + pair_i.shape[0]:
            raise ValueError("linear_coefficients: inconsistent shapes (full).")
    elif kind == 1:
        mat = prec_chol
        if mat.shape[0] != D or mat.shape[1] != D or P != D + 2:
            raise ValueError("linear_coefficients: inconsistent shapes (tied).")
    elif kind == 2:
        mat = prec_chol
        if mat.shape[0] != K or mat.shape[1] != D or P != 2 * D + 1:
            raise ValueError("linear_coefficients: inconsistent shapes (diag).")
    elif kind == 3:
        vec = prec_chol
        if vec.shape[0] != K or P != D + 2:
            raise ValueError("linear_coefficients: inconsistent shapes (spherical).")
    else:
        raise ValueError(f"linear_coefficients: unknown kind {kind}.")
    cdef double[::1] a = np.empty(D)
    cdef double[::1] aU = np.empty(D)
    with nogil:
        for k in range(K):
            for d in range(D):
                a[d] = means[k, d] - shift[d]
            ln = log(weights[k]) - 0.5 * D * LOG_2PI
            if kind == 0 or kind == 1:
                # (U^T a)_e = sum_d a_d U_de; log det U = sum log U_dd (U is upper triangular; the sums
                # run over whole rows and columns all the same, as the NumPy definition's do).
                for e in range(D):
                    acc = 0.0
                    for d in range(D):
                        acc = acc + a[d] * (full[k, d, e] if kind == 0 else mat[d, e])
                    aU[e] = acc
                    ln = ln + log(full[k, e, e] if kind == 0 else mat[e, e])
                acc = 0.0
                for e in range(D):
                    acc = acc + aU[e] * aU[e]
                out[0, k] = ln - 0.5 * acc
                for d in range(D):          # Lambda a = U (U^T a)
                    acc = 0.0
                    for e in range(D):
                        acc = acc + (full[k, d, e] if kind == 0 else mat[d, e]) * aU[e]
                    out[1 + d, k] = acc
                if kind == 1:
                    out[D + 1, k] = -0.5     # the feature |z U|^2
                else:
                    for p in range(pair_i.shape[0]):   # Lambda_ij = sum_e U_ie U_je
                        acc = 0.0
                        for e in range(D):
                            acc = acc + full[k, pair_i[p], e] * full[k, pair_j[p], e]
                        out[D + 1 + p, k] = acc * pair_scale[p]
            elif kind == 2:
                acc = 0.0
                for d in range(D):
                    q = mat[k, d] * mat[k, d]
                    ln = ln + log(mat[k, d])
                    acc = acc + q * a[d] * a[d]
                    out[1 + d, k] = q * a[d]
                    out[D + 1 + d, k] = -0.5 * q
                out[0, k] = ln - 0.5 * acc
            else:
                q = vec[k] * vec[k]
                ln = ln + D * log(vec[k])
                acc = 0.0
                for d in range(D):
                    acc = acc + a[d] * a[d]
                    out[1 + d, k] = q * a[d]
                out[0, k] = ln - 0.5 * q * acc
                out[D + 1, k] = -0.5 * q
    return out
