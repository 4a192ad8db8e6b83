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


cdef int precision_cholesky_c(int K, int D, const double *cov, double *out, double *a) noexcept nogil:
    """:func:`precision_cholesky` on pointers (``cov``, ``out`` K x D x D row-major, ``a`` D x D scratch):
    -1, or K + k for the first non-finite component, or the first k that is not positive definite."""
    cdef int info = 0, k, i
    cdef char lower = b"L"
    cdef char notrans = b"N"
    cdef char nonunit = b"N"
    cdef size_t nbytes = D * D * sizeof(double)
    cdef const double *c
    for k in range(K):     # the finite check first, as np.isfinite over all of them was
        c = cov + k * D * D
        for i in range(D * D):
            if not isfinite(c[i]):
                return K + k
    for k in range(K):
        # A symmetric matrix in C order is the same matrix in Fortran's column order.
        memcpy(a, cov + k * D * D, nbytes)
        dpotrf(&lower, &D, a, &D, &info)
        if info != 0:
            return k
        # L X = I: X = L^-1 in column order, whose memory read in C order is L^-T = U.
        memset(out + k * D * D, 0, nbytes)
        for i in range(D):
            out[k * D * D + i * D + i] = 1.0
        dtrtrs(&lower, &notrans, &nonunit, &D, &D, a, &D, out + k * D * D, &D, &info)
        if info != 0:
            return k
    return -1


def precision_cholesky(const double[:, :, ::1] cov, double[:, :, ::1] out):
    """Fill ``out[k]`` with U_k (upper triangular, ``U_k U_k^T = cov[k]^-1``) for every k.

    Returns -1 when every covariance is finite and positive definite; else K + k for the first component
    k with a non-finite entry, if any, or else the first component k that is not positive definite.
    ``cov`` must be symmetric; ``out`` is written up to that component.
    """
    cdef int K = cov.shape[0]
    cdef int D = cov.shape[1]
    cdef int bad
    if cov.shape[2] != D or out.shape[0] != K or out.shape[1] != D or out.shape[2] != D:
        raise ValueError("precision_cholesky: cov and out must both have the shape (K, D, D).")
    if D == 0 or K == 0:
        return -1
    cdef double[::1] a = np.empty(D * D)
    with nogil:
        bad = precision_cholesky_c(K, D, &cov[0, 0, 0], &out[0, 0, 0], &a[0])
    return bad


cdef double LOG_2PI = 1.8378770664093453  # log(2 pi)
cdef double TINY = 2.2250738585072014e-308     # float64's smallest normal number


cdef double total_c(const double *x, Py_ssize_t n) noexcept nogil:
    """x[0] + x[1] + ... in that order: one summation order for the compiled EM step and the Python one."""
    cdef Py_ssize_t i
    cdef double acc = 0.0
    for i in range(n):
        acc = acc + x[i]
    return acc


def total(const double[::1] x):
    """The sum of ``x`` in index order (:func:`total_c`), where two paths must give the same bits."""
    return total_c(&x[0], x.shape[0]) if x.shape[0] else 0.0


cdef void mixture_shift_c(Py_ssize_t K, Py_ssize_t D, const double *weights, const double *means,
                          double *out) noexcept nogil:
    """out = sum_k w_k mu_k / max(sum_k w_k, tiny), sums in index order."""
    cdef Py_ssize_t k, d
    cdef double acc, w = total_c(weights, K)
    if not w > TINY:        # NaN too, as max(nan, tiny) is
        w = TINY if w == w else w
    for d in range(D):
        acc = 0.0
        for k in range(K):
            acc = acc + weights[k] * means[k * D + d]
        out[d] = acc / w


def mixture_shift(const double[::1] weights, const double[:, ::1] means, double[::1] out):
    """Fill ``out`` (D,) with the mixture's mean (:func:`mixture_shift_c`)."""
    if means.shape[0] != weights.shape[0] or out.shape[0] != means.shape[1]:
        raise ValueError("mixture_shift: inconsistent shapes.")
    if means.shape[0] == 0 or means.shape[1] == 0:
        out[:] = 0.0
        return out
    mixture_shift_c(means.shape[0], means.shape[1], &weights[0], &means[0, 0], &out[0])
    return out


cdef void linear_coefficients_c(int kind, Py_ssize_t K, Py_ssize_t D, Py_ssize_t P, const double *weights,
                                const double *means, const double *pc, const double *shift, const Py_ssize_t *pair_i,
                                const Py_ssize_t *pair_j, const double *pair_scale, Py_ssize_t n_pairs, double *out,
                                double *a, double *aU) noexcept nogil:
    """:func:`linear_coefficients` on pointers (row-major arrays; ``out`` P x K, ``a`` and ``aU`` D scratch)."""
    cdef Py_ssize_t k, d, e, p, DD = D * D
    cdef double ln, acc, q
    for k in range(K):
        for d in range(D):
            a[d] = means[k * D + d] - shift[d]
        ln = log(weights[k]) - 0.5 * D * LOG_2PI
        if kind == 0 or kind == 1:
            # (U^T a)_e = sum_d a_d U_de; log det U = sum log U_dd (U is upper triangular; the sums
            # run over whole rows and columns all the same, as the NumPy definition's do).
            for e in range(D):
                acc = 0.0
                for d in range(D):
                    acc = acc + a[d] * (pc[k * DD + d * D + e] if kind == 0 else pc[d * D + e])
                aU[e] = acc
                ln = ln + log(pc[k * DD + e * D + e] if kind == 0 else pc[e * D + e])
            acc = 0.0
            for e in range(D):
                acc = acc + aU[e] * aU[e]
            out[k] = ln - 0.5 * acc
            for d in range(D):          # Lambda a = U (U^T a)
                acc = 0.0
                for e in range(D):
                    acc = acc + (pc[k * DD + d * D + e] if kind == 0 else pc[d * D + e]) * aU[e]
                out[(1 + d) * K + k] = acc
            if kind == 1:
                out[(D + 1) * K + k] = -0.5     # the feature |z U|^2
            else:
                for p in range(n_pairs):   # Lambda_ij = sum_e U_ie U_je
                    acc = 0.0
                    for e in range(D):
                        acc = acc + pc[k * DD + pair_i[p] * D + e] * pc[k * DD + pair_j[p] * D + e]
                    out[(D + 1 + p) * K + k] = acc * pair_scale[p]
        elif kind == 2:
            acc = 0.0
            for d in range(D):
                q = pc[k * D + d] * pc[k * D + d]
                ln = ln + log(pc[k * D + d])
                acc = acc + q * a[d] * a[d]
                out[(1 + d) * K + k] = q * a[d]
                out[(D + 1 + d) * K + k] = -0.5 * q
            out[k] = ln - 0.5 * acc
        else:
            q = pc[k] * pc[k]
            ln = ln + D * log(pc[k])
            acc = 0.0
            for d in range(D):
                acc = acc + a[d] * a[d]
                out[(1 + d) * K + k] = q * a[d]
            out[k] = ln - 0.5 * q * acc
            out[(D + 1) * K + k] = -0.5 * q


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
    if K == 0 or D == 0:
        return out
    cdef double[::1] a = np.empty(D)
    cdef double[::1] aU = np.empty(D)
    cdef const double *pc = &full[0, 0, 0] if kind == 0 else (&mat[0, 0] if kind <= 2 else &vec[0])
    with nogil:
        linear_coefficients_c(kind, K, D, P, &weights[0], &means[0, 0], pc, &shift[0],
                              &pair_i[0] if pair_i.shape[0] else NULL, &pair_j[0] if pair_j.shape[0] else NULL,
                              &pair_scale[0] if pair_scale.shape[0] else NULL, pair_i.shape[0], &out[0, 0],
                              &a[0], &aU[0])
    return out


cdef void gaussian_m_step_c(int kind, Py_ssize_t K, Py_ssize_t D, const double *nk, const double *s1,
                            const double *s2, const double *centre, double eps, double reg_covar,
                            const double *frozen, double *nk_eps, double *means, double *cov,
                            double *d) noexcept nogil:
    """:func:`gaussian_m_step` on pointers (row-major arrays in the kind's shapes; ``frozen`` NULL when the
    means are not frozen; ``d`` K x D scratch)."""
    cdef Py_ssize_t k, i, j, DD = D * D
    cdef double eps64 = 2.220446049250313e-16     # the uncentred term's eps is always float64's
    cdef double total, v, o, o2
    for k in range(K):
        nk_eps[k] = nk[k] + 10 * eps
        for i in range(D):
            if frozen != NULL:
                means[k * D + i] = frozen[k * D + i]
                d[k * D + i] = frozen[k * D + i] - centre[i]
            else:
                d[k * D + i] = s1[k * D + i] / nk_eps[k] - centre[i] * (10 * eps / nk_eps[k])
                means[k * D + i] = centre[i] + d[k * D + i]
    if kind == 0:
        for k in range(K):
            for i in range(D):
                for j in range(D):
                    cov[k * DD + i * D + j] = (s2[k * DD + i * D + j] - d[k * D + i] * s1[k * D + j]
                                               - d[k * D + j] * s1[k * D + i]
                                               + nk[k] * (d[k * D + i] * d[k * D + j])) / nk_eps[k]
            for i in range(D):
                for j in range(i + 1):
                    v = (cov[k * DD + i * D + j] + cov[k * DD + j * D + i]) * 0.5
                    cov[k * DD + i * D + j] = v
                    cov[k * DD + j * D + i] = v
                cov[k * DD + i * D + i] = cov[k * DD + i * D + i] + reg_covar
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
                    o = o + d[k * D + i] * s1[k * D + j]
                    o2 = o2 + d[k * D + j] * s1[k * D + i]
                    v = v + nk[k] * d[k * D + i] * d[k * D + j]
                cov[i * D + j] = (s2[i * D + j] - o - o2 + v) / total
        for i in range(D):
            for j in range(i + 1):
                v = (cov[i * D + j] + cov[j * D + i]) * 0.5
                cov[i * D + j] = v
                cov[j * D + i] = v
            cov[i * D + i] = cov[i * D + i] + reg_covar
    elif kind == 2:
        for k in range(K):
            for i in range(D):
                v = (s2[k * D + i] - 2 * d[k * D + i] * s1[k * D + i]
                     + nk[k] * d[k * D + i] * d[k * D + i]) / nk_eps[k]
                cov[k * D + i] = (0.0 if v < 0.0 else v) \
                    + means[k * D + i] * means[k * D + i] * (10 * eps64 / nk_eps[k]) + reg_covar
    else:
        for k in range(K):
            o = 0.0
            v = 0.0
            total = 0.0
            for i in range(D):
                o = o + d[k * D + i] * s1[k * D + i]
                v = v + d[k * D + i] * d[k * D + i]
                total = total + means[k * D + i] * means[k * D + i] * (10 * eps64 / nk_eps[k])
            v = (s2[k] - 2 * o + nk[k] * v) / nk_eps[k]
            cov[k] = (0.0 if v < 0.0 else v) / D + total / D + reg_covar


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
    if K == 0 or D == 0:
        return
    cdef double[:, ::1] d = np.empty((K, D))
    cdef const double *s2p
    cdef double *covp
    if kind == 0:
        s2p, covp = &S3[0, 0, 0], &C3[0, 0, 0]
    elif kind <= 2:
        s2p, covp = &S2[0, 0], &C2[0, 0]
    else:
        s2p, covp = &S1[0], &C1[0]
    with nogil:
        gaussian_m_step_c(kind, K, D, &nk[0], &s1[0, 0], s2p, &centre[0], eps, reg_covar,
                          &given[0, 0] if frozen else NULL, &nk_eps[0], &means[0, 0], covp, &d[0, 0])
