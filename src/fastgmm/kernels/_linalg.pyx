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
from libc.math cimport isfinite, log
from libc.string cimport memcpy, memset


def precision_cholesky(const double[:, :, ::1] cov, double[:, :, ::1] out):
    """Fill ``out[k]`` with U_k (upper triangular, ``U_k U_k^T = cov[k]^-1``) for every k.

    Returns -1 when every covariance is finite and positive definite; else K + k for the first component
    k with a non-finite entry, if any, or else the first component k that is not positive definite.
    ``cov`` must be symmetric; ``out`` is written up to that component.
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
    cdef const double *c
    with nogil:
        for k in range(K):     # the finite check first, as np.isfinite over all of them was
            c = &cov[k, 0, 0]
            for i in range(D * D):
                if not isfinite(c[i]):
                    bad = K + k
                    break
            if bad >= 0:
                break
        for k in range(K if bad < 0 else 0):
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


def gaussian_m_step(int kind, const double[::1] nk, const double[:, ::1] s1, s2, const double[::1] centre,
                    double eps, double reg_covar, frozen_means, double[::1] nk_eps, double[:, ::1] means, cov):
    """scikit-learn's M-step from the weighted sums about ``centre``, for every component in one call.

    Computes what ``fastgmm.families._gaussian.m_step`` documents, operation for operation in the same
    order (full and diag give the same bits as the NumPy expressions): ``nk_eps = nk + 10 eps``; the means
    ``centre + d`` with ``d = s1 / nk_eps - centre 10 eps / nk_eps`` (or the given ``frozen_means``); the
    covariances from the centred sums. ``kind``: 0 full (``s2``, ``cov`` (K, D, D)), 1 tied ((D, D)), 2 diag
    ((K, D)), 3 spherical (``s2``, ``cov`` (K,)). A negative variance of the centred sums (rounding, for a
    collapsed component) is set to 0, a NaN stays NaN, as ``np.maximum`` does.
    """
    cdef Py_ssize_t K = nk.shape[0], D = centre.shape[0]
    cdef Py_ssize_t k, i, j
    cdef double eps64 = 2.220446049250313e-16     # the uncentred term's eps is always float64's
    cdef double total, v, o, o2
    cdef const double[:, ::1] given
    cdef const double[:, :, ::1] S3
    cdef const double[:, ::1] S2
    cdef const double[::1] S1
    cdef double[:, :, ::1] C3
    cdef double[:, ::1] C2
    cdef double[::1] C1
    if s1.shape[0] != K or s1.shape[1] != D or means.shape[0] != K or means.shape[1] != D \
            or nk_eps.shape[0] != K:
        raise ValueError("gaussian_m_step: inconsistent shapes.")
    if kind == 0:
        S3 = s2
        C3 = cov
        if S3.shape[0] != K or S3.shape[1] != D or S3.shape[2] != D or C3.shape[0] != K \
                or C3.shape[1] != D or C3.shape[2] != D:
            raise ValueError("gaussian_m_step: inconsistent shapes (full).")
    elif kind == 1:
        S2 = s2
        C2 = cov
        if S2.shape[0] != D or S2.shape[1] != D or C2.shape[0] != D or C2.shape[1] != D:
            raise ValueError("gaussian_m_step: inconsistent shapes (tied).")
    elif kind == 2:
        S2 = s2
        C2 = cov
        if S2.shape[0] != K or S2.shape[1] != D or C2.shape[0] != K or C2.shape[1] != D:
            raise ValueError("gaussian_m_step: inconsistent shapes (diag).")
    elif kind == 3:
        S1 = s2
        C1 = cov
        if S1.shape[0] != K or C1.shape[0] != K:
            raise ValueError("gaussian_m_step: inconsistent shapes (spherical).")
    else:
        raise ValueError(f"gaussian_m_step: unknown kind {kind}.")
    cdef bint frozen = frozen_means is not None
    if frozen:
        given = frozen_means
        if given.shape[0] != K or given.shape[1] != D:
            raise ValueError("gaussian_m_step: inconsistent shapes (frozen means).")
    cdef double[:, ::1] d = np.empty((K, D))
    with nogil:
        for k in range(K):
            nk_eps[k] = nk[k] + 10 * eps
            for i in range(D):
                if frozen:
                    means[k, i] = given[k, i]
                    d[k, i] = given[k, i] - centre[i]
                else:
                    d[k, i] = s1[k, i] / nk_eps[k] - centre[i] * (10 * eps / nk_eps[k])
                    means[k, i] = centre[i] + d[k, i]
        if kind == 0:
            for k in range(K):
                for i in range(D):
                    for j in range(D):
                        C3[k, i, j] = (S3[k, i, j] - d[k, i] * s1[k, j] - d[k, j] * s1[k, i]
                                       + nk[k] * (d[k, i] * d[k, j])) / nk_eps[k]
                for i in range(D):
                    for j in range(i + 1):
                        v = (C3[k, i, j] + C3[k, j, i]) * 0.5
                        C3[k, i, j] = v
                        C3[k, j, i] = v
                    C3[k, i, i] = C3[k, i, i] + reg_covar
        elif kind == 1:
            total = 0.0
            for k in range(K):
                total = total + nk_eps[k]
            for i in range(D):
                for j in range(D):
                    o = 0.0       # sum_k d_ki s1_kj
                    o2 = 0.0      # its transpose's entry, sum_k d_kj s1_ki
                    v = 0.0
                    for k in range(K):
                        o = o + d[k, i] * s1[k, j]
                        o2 = o2 + d[k, j] * s1[k, i]
                        v = v + nk[k] * d[k, i] * d[k, j]
                    C2[i, j] = (S2[i, j] - o - o2 + v) / total
            for i in range(D):
                for j in range(i + 1):
                    v = (C2[i, j] + C2[j, i]) * 0.5
                    C2[i, j] = v
                    C2[j, i] = v
                C2[i, i] = C2[i, i] + reg_covar
        elif kind == 2:
            for k in range(K):
                for i in range(D):
                    v = (S2[k, i] - 2 * d[k, i] * s1[k, i] + nk[k] * d[k, i] * d[k, i]) / nk_eps[k]
                    C2[k, i] = (0.0 if v < 0.0 else v) + means[k, i] * means[k, i] * (10 * eps64 / nk_eps[k]) \
                        + reg_covar
        else:
            for k in range(K):
                o = 0.0
                v = 0.0
                total = 0.0
                for i in range(D):
                    o = o + d[k, i] * s1[k, i]
                    v = v + d[k, i] * d[k, i]
                    total = total + means[k, i] * means[k, i] * (10 * eps64 / nk_eps[k])
                v = (S1[k] - 2 * o + nk[k] * v) / nk_eps[k]
                C1[k] = (0.0 if v < 0.0 else v) / D + total / D + reg_covar

