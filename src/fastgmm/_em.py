"""EM driver: calls the compiled kernels on chunks and owns the small M-step.

The unit of work of the kernels is "statistics of a block of rows" (counts,
centred first and second moments, log-likelihood). This module decides how the
blocks are cut (chunk and slot sizes that depend only on the problem's shape,
never on the thread count), sums the slot partials in a fixed order, and
turns statistics into parameters on the K x D x D scale.
"""

import functools
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from . import _estep
from ._layout import chunk_rows_for, slot_rows_for

COV_TYPES = ("full", "tied", "diag", "spherical")
_QUAD = {
    "full": _estep.QFULL,
    "tied": _estep.QTIED,
    "diag": _estep.QDIAG,
    "spherical": _estep.QSPHERICAL,
}
_LOG_2PI = np.log(2 * np.pi)

@dataclass
class Statistics:
    """Sufficient statistics of a block of rows about one centre ``c`` (D,).

    ``nk`` (K,) sums of responsibilities; ``s1`` (K, D) = sum_i r_ik (x_i - c);
    ``s2`` = sum_i r_ik (x_i - c)(x_i - c)^T (full, (K, D, D)), its diagonal
    (diag, (K, D)), its trace (spherical, (K,)), or the unweighted
    sum_i (x_i - c)(x_i - c)^T (tied, (D, D)); ``loglik`` the sum of
    per-row log-likelihoods; ``n_samples``. Statistics of disjoint blocks
    about the same centre add up.
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    loglik: float
    n_samples: int
    centre: np.ndarray

    def __iadd__(self, other):
        if not np.array_equal(self.centre, other.centre):
            raise ValueError("statistics about different centres do not add")
        self.nk += other.nk
        self.s1 += other.s1
        self.s2 += other.s2
        self.loglik += other.loglik
        self.n_samples += other.n_samples
        return self


def log_det_cholesky(prec_chol, cov_type, n_features):
    """log det of the precision's Cholesky factor (= -1/2 log det covariance)."""
    if cov_type == "full":
        k = prec_chol.shape[0]
        diag = prec_chol.reshape(k, -1)[:, :: n_features + 1]
        return np.sum(np.log(diag), axis=1)
    if cov_type == "tied":
        return np.sum(np.log(np.diag(prec_chol)))
    if cov_type == "diag":
        return np.sum(np.log(prec_chol), axis=1)
    return n_features * np.log(prec_chol)


def log_norm(weights, prec_chol, cov_type, n_features):
    """log w_k + log det U_k - D/2 log(2 pi), float64 (K,)."""
    with np.errstate(divide="ignore"):  # a zero weight is a legal -inf
        lw = np.log(np.asarray(weights, dtype=np.float64))
    ld = log_det_cholesky(np.asarray(prec_chol, dtype=np.float64), cov_type, n_features)
    return np.ascontiguousarray(lw + ld - 0.5 * n_features * _LOG_2PI, dtype=np.float64)


@functools.lru_cache(maxsize=64)
def full_pairs(n_features):
    """(i, j) index arrays: the kernel's order of the products z_i z_j (full).

    Each unordered pair once, in the "circulant" order of ``_rowops.h``: for
    j = 0, 1, ..., D // 2 the pairs (d, (d + j) mod D), d < D (d < D / 2 for
    j = D / 2 when D is even), so that the kernel builds them as whole
    length-D vector products. Cached (two calls per EM iteration), so the
    arrays are read-only.
    """
    D = n_features
    rows, cols = [], []
    for j in range(D // 2 + 1):
        n = j if 2 * j == D else D
        d = np.arange(n)
        rows.append(d)
        cols.append((d + j) % D)
    i, j = np.concatenate(rows), np.concatenate(cols)
    i.flags.writeable = False
    j.flags.writeable = False
    return i, j


def mixture_shift(weights, means):
    """The centre of the features: the mixture's mean sum_k w_k mu_k (float64)."""
    w = np.asarray(weights, dtype=np.float64)
    return (w @ np.asarray(means, dtype=np.float64)) / max(w.sum(), np.finfo(np.float64).tiny)


def linear_coefficients(weights, means, prec_chol, cov_type, shift):
    """W (K, P), float64, with f(x) . W[k] = log w_k + log N(x | mu_k, Sigma_k).

    f(x) = [1, z, q(z)] with z = x - shift (see ``fastgmm._estep``). Writing
    a_k = mu_k - shift and Lambda_k = U_k U_k^T:
    log N = log_norm_k - 1/2 a^T Lambda a + z^T (Lambda a) - 1/2 z^T Lambda z.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        # Overflow here (data ~1e150 under tiny variances) yields -inf/nan
        # coefficients; the kernels treat such log-densities as -inf and the
        # caller reports rows that no component can produce.
        return _linear_coefficients(weights, means, prec_chol, cov_type, shift)


def _linear_coefficients(weights, means, prec_chol, cov_type, shift):
    means = np.asarray(means, dtype=np.float64)
    pc = np.asarray(prec_chol, dtype=np.float64)
    K, D = means.shape
    ln = log_norm(weights, pc, cov_type, D)
    a = means - shift
    W = np.empty((K, _estep.n_features_out(_QUAD[cov_type], D)))
    if cov_type == "full":
        aU = np.einsum("kd,kde->ke", a, pc)                   # U_k^T a_k
        W[:, 0] = ln - 0.5 * np.sum(aU * aU, axis=1)
        W[:, 1:D + 1] = np.einsum("kde,ke->kd", pc, aU)       # Lambda_k a_k
        iu, ju = full_pairs(D)                                # the kernel's feature order
        half_diag = np.where(iu == ju, 0.5, 1.0)
        for k in range(K):                                    # no K x D x D temporary
            lam = pc[k] @ pc[k].T
            W[k, D + 1:] = -lam[iu, ju] * half_diag
    elif cov_type == "tied":
        aU = a @ pc
        W[:, 0] = ln - 0.5 * np.sum(aU * aU, axis=1)
        W[:, 1:D + 1] = aU @ pc.T
        W[:, D + 1] = -0.5                                    # feature |z U|^2
    else:
        p = pc ** 2 if cov_type == "diag" else np.repeat((pc ** 2)[:, None], D, axis=1)
        W[:, 0] = ln - 0.5 * np.sum(p * a * a, axis=1)
        W[:, 1:D + 1] = p * a
        if cov_type == "diag":
            W[:, D + 1:] = -0.5 * p
        else:
            W[:, D + 1] = -0.5 * p[:, 0]                      # feature |z|^2
    return W


def _kernel_inputs(X, weights, means, prec_chol, cov_type, shift=None):
    """(quad, shift, W (P, K), U) in the dtypes and layouts the kernels take."""
    dtype = X.dtype
    D = X.shape[1]
    if shift is None:
        shift = mixture_shift(weights, means)
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    if weights is None:   # no E-step: only the shape of W matters
        W = np.zeros((_estep.n_features_out(_QUAD[cov_type], D), means.shape[0]), dtype=dtype)
    else:
        W = linear_coefficients(weights, means, prec_chol, cov_type, shift)
        _check_fits_dtype(W, dtype, "the log-density coefficients (from the precisions)")
        # P x K: the layout the E-step GEMM reads without repacking.
        W = np.ascontiguousarray(W.T, dtype=dtype)
    if cov_type == "tied" and prec_chol is not None:
        _check_fits_dtype(prec_chol, dtype, "the tied precision factor")
        U = np.ascontiguousarray(prec_chol, dtype=dtype)
    else:
        U = np.zeros((1, 1) if cov_type != "tied" else (D, D), dtype=dtype)
    return _QUAD[cov_type], shift, W, U


def _check_fits_dtype(a, dtype, what):
    """float32 kernels cannot take parameters beyond float32's range."""
    if dtype != np.float32:
        return
    a = np.asarray(a, dtype=np.float64)
    finite = np.abs(a[np.isfinite(a)])
    if finite.size and finite.max() > np.finfo(np.float32).max:
        raise ValueError(
            f"The model does not fit in float32: {what} reach {finite.max():.3g}, beyond float32's "
            f"range ({np.finfo(np.float32).max:.3g}); the data's spread is too small for float32. "
            "Pass X as float64, or scale the data."
        )


def accumulate(X, weights, means, prec_chol, cov_type, n_threads, *, resp=None, labels=None,
               shift=None, chunk_rows=None, slot_rows=None):
    """One pass over X: E-step and sufficient statistics.

    Parameters
    ----------
    X : ndarray (n_samples, n_features), C-contiguous float32 or float64
    weights, means, prec_chol : the current parameters. With ``resp`` or
        ``labels`` given no E-step runs: ``weights`` and ``prec_chol`` may be
        None and ``means`` only gives the number of components.
    cov_type : str
    n_threads : int, resolved thread count
    resp : ndarray (n_samples, K) of X's dtype, optional
        Use these responsibilities instead of an E-step.
    labels : int64 ndarray (n_samples,), optional
        Hard assignments (-1: none) instead of an E-step.
    shift : ndarray (D,), optional
        Centre of the statistics; default the mixture's mean.
    chunk_rows, slot_rows : int, optional
        Override the layout (tests use it to cross chunk and slot boundaries
        on small data); by default both follow from the problem's shape.

    Returns
    -------
    Statistics
    """
    N, D = X.shape
    K = means.shape[0]
    quad, shift, W, U = _kernel_inputs(X, weights, means, prec_chol, cov_type, shift)
    P = W.shape[0]
    t_size = D * D if cov_type == "tied" else 0
    chunk = chunk_rows or chunk_rows_for(P, K)
    slot = slot_rows or slot_rows_for(N, D, K, K * P + t_size + 1, X.itemsize, chunk)
    n_slots = max(1, -(-N // slot))
    G = np.zeros((n_slots, K * P))
    T = np.zeros((n_slots, t_size))
    ll = np.zeros(n_slots)
    if resp is not None:
        resp = np.ascontiguousarray(resp, dtype=X.dtype)
    if labels is not None:
        labels = np.ascontiguousarray(labels, dtype=np.int64)
    status = _estep.accumulate_statistics(X, quad, shift, W, U, resp, labels, chunk, slot, G, T, ll, n_threads)
    if status != 0:
        raise MemoryError("fastgmm: could not allocate the kernels' per-thread scratch memory")
    W = U = None   # freed before the statistics are unpacked (memory peak)
    # Slot partials are added in slot order: identical for any thread count.
    G = G.sum(axis=0).reshape(K, P)
    nk, s1, q = G[:, 0].copy(), G[:, 1:D + 1].copy(), G[:, D + 1:]
    if cov_type == "full":
        iu, ju = full_pairs(D)
        s2 = np.empty((K, D, D))
        s2[:, iu, ju] = q
        s2[:, ju, iu] = q
    elif cov_type == "diag":
        s2 = q.copy()
    elif cov_type == "spherical":
        s2 = q[:, 0].copy()
    else:
        low = T.sum(axis=0).reshape(D, D)
        s2 = np.tril(low) + np.tril(low, -1).T
    return Statistics(nk, s1, s2, float(ll.sum()), N, shift)


def m_step(stats, cov_type, reg_covar, eps):
    """Parameters from the statistics, with scikit-learn's definitions.

    ``nk_eps = nk + 10 eps``; the mean is ``sum_i r_ik x_i / nk_eps``; the
    covariance is ``sum_i r_ik (x_i - mean_k)(x_i - mean_k)^T / nk_eps +
    reg_covar I`` (tied: summed over k and divided by ``sum nk_eps``; diag: its
    diagonal; spherical: the diagonal's mean), all computed about the
    statistics' centre.

    Returns
    -------
    nk_eps, means, covariances : float64 arrays
    """
    nk = stats.nk
    nk_eps = nk + 10 * eps
    s1 = stats.s1
    c = np.asarray(stats.centre, dtype=np.float64)[None, :]
    # mean_k - c = sum r (x - c) / nk_eps - c (1 - nk / nk_eps); the second
    # term is what makes an empty component's mean 0, as in scikit-learn.
    d = s1 / nk_eps[:, None] - c * (10 * eps / nk_eps)[:, None]
    means = c + d
    D = means.shape[1]
    if cov_type == "full":
        # One component at a time: no K x D x D temporaries (4+ MB at K=32, D=64).
        cov = np.empty_like(stats.s2)
        for k in range(cov.shape[0]):
            outer = np.outer(d[k], s1[k])
            c_k = stats.s2[k] - outer - outer.T + nk[k] * np.outer(d[k], d[k])
            c_k /= nk_eps[k]
            cov[k] = 0.5 * (c_k + c_k.T)
        cov[:, np.arange(D), np.arange(D)] += reg_covar
    elif cov_type == "tied":
        outer = np.einsum("kd,ke->de", d, s1)
        cov = stats.s2 - outer - outer.T + np.einsum("k,kd,ke->de", nk, d, d)
        cov /= np.sum(nk_eps)
        cov = 0.5 * (cov + cov.T)
        cov[np.arange(D), np.arange(D)] += reg_covar
    elif cov_type == "diag":
        var = (stats.s2 - 2 * d * s1 + nk[:, None] * d * d) / nk_eps[:, None]
        cov = np.maximum(var, 0.0) + reg_covar
    else:
        total = (stats.s2 - 2 * np.sum(d * s1, axis=1) + nk * np.sum(d * d, axis=1)) / nk_eps
        cov = np.maximum(total, 0.0) / D + reg_covar
    return nk_eps, means, cov


SINGULAR_ADVICE = (
    "Increase reg_covar (currently {reg}), use fewer components, or scale the data "
    "(each feature to unit variance)."
)


def precision_cholesky(covariances, cov_type, *, reg_covar=None, float32=False):
    """Upper-triangular U with precision = U U^T (sklearn's ``precisions_cholesky_``).

    Raises ValueError naming the component whose covariance is not positive
    definite, and what to do about it.
    """
    advice = SINGULAR_ADVICE.format(reg=reg_covar)
    if float32:
        advice += " Float64 input gives more accuracy than float32."
    cov = np.asarray(covariances, dtype=np.float64)
    if cov_type in ("full", "tied"):
        mats = cov[None] if cov_type == "tied" else cov
        D = mats.shape[-1]
        out = np.empty_like(mats)
        eye = np.eye(D)
        for k, c in enumerate(mats):
            if not np.all(np.isfinite(c)):
                raise ValueError(_singular_message(cov_type, k, "has non-finite entries", advice))
            try:
                L = linalg.cholesky(c, lower=True, check_finite=False)
            except linalg.LinAlgError:
                raise ValueError(
                    _singular_message(cov_type, k, "is not positive definite (singular or collapsed)", advice)
                ) from None
            out[k] = linalg.solve_triangular(L, eye, lower=True, check_finite=False).T
        return out[0] if cov_type == "tied" else out
    bad = ~(cov > 0) | ~np.isfinite(cov)
    if np.any(bad):
        k = int(np.argwhere(bad)[0][0])
        raise ValueError(_singular_message(cov_type, k, "has a zero or negative variance", advice))
    return 1.0 / np.sqrt(cov)


def _singular_message(cov_type, k, what, advice):
    who = "The tied covariance" if cov_type == "tied" else f"The covariance of component {k}"
    return (
        f"Fitting the mixture model failed: {who} {what}, typically because a component "
        f"collapsed onto too few or identical points. {advice}"
    )


def estimate(X, weights, means, prec_chol, cov_type, n_threads, *, row_ll=False, labels=False, resp=False,
             chunk_ll=False):
    """E-step outputs under the given parameters, chunked; only the requested ones are allocated.

    Returns
    -------
    row_ll (N,), labels (N,) int64, resp (N, K), chunk_ll (n_chunks,) : arrays or None
        Per-row log-likelihoods, most probable components, responsibilities,
        and the per-chunk sums of the log-likelihoods (for ``score``).
    """
    N, D = X.shape
    K = means.shape[0]
    quad, shift, W, U = _kernel_inputs(X, weights, means, prec_chol, cov_type)
    chunk = chunk_rows_for(W.shape[0], K)
    out_ll = np.empty(N) if row_ll else None
    out_lab = np.empty(N, dtype=np.int64) if labels else None
    out_resp = np.empty((N, K), dtype=X.dtype) if resp else None
    out_sum = np.zeros(max(1, -(-N // chunk))) if chunk_ll else None
    status = _estep.estimate(X, quad, shift, W, U, chunk, out_ll, out_lab, out_resp, out_sum, n_threads)
    if status != 0:
        raise MemoryError("fastgmm: could not allocate the kernels' per-thread scratch memory")
    return out_ll, out_lab, out_resp, out_sum


__all__ = [
    "COV_TYPES", "Statistics", "accumulate", "m_step", "precision_cholesky", "estimate",
    "linear_coefficients", "mixture_shift", "log_norm",
]
