"""EM driver: calls the compiled kernels on chunks and owns the small M-step.

The unit of work of the kernels is "statistics of a block of rows" (counts,
centred first and second moments, log-likelihood). This module decides how the
blocks are cut (chunk and slot sizes that depend only on the problem's shape,
never on the thread count), sums the slot partials in a fixed order, and
turns statistics into parameters on the K x D x D scale.
"""

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from . import _estep
from ._openmp_helpers import effective_n_threads

COV_TYPES = ("full", "tied", "diag", "spherical")
_KERNEL_TYPE = {"full": _estep.FULL, "tied": _estep.TIED, "diag": _estep.DIAG, "spherical": _estep.DIAG}
_LOG_2PI = np.log(2 * np.pi)

# Memory the per-slot partial sums may use, as a fraction of X's size (with a
# 1 MiB floor), and the slot-count bounds. More slots balance threads better;
# the bounds keep the reduction cheap and the memory small.
_SLOT_MEMORY_FRACTION = 0.03
_MIN_SLOTS, _MAX_SLOTS = 8, 256


def chunk_rows_for(n_features, n_components):
    """Rows per chunk: the per-thread scratch (about rows x (2 D + K) values) stays in L2."""
    rows = (1 << 16) // (2 * n_features + n_components)
    return int(max(16, min(2048, rows - rows % 16)))


def slot_rows_for(n_samples, n_features, n_components, stats_size, itemsize, chunk_rows):
    """Rows per slot, a multiple of ``chunk_rows``, from the problem's shape only."""
    n_chunks = max(1, -(-n_samples // chunk_rows))
    budget = max(1 << 20, _SLOT_MEMORY_FRACTION * n_samples * n_features * itemsize)
    max_slots = int(np.clip(budget // (8 * stats_size), _MIN_SLOTS, _MAX_SLOTS))
    n_slots = min(n_chunks, max_slots)
    return -(-n_chunks // n_slots) * chunk_rows


@dataclass
class Statistics:
    """Sufficient statistics of a block of rows, centred (see ``fastgmm._estep``).

    ``nk`` (K,) sums of responsibilities; ``s1`` (K, D); ``s2``: full (K, D, D),
    tied (D, D), diag (K, D), spherical (K, D) (per-feature, reduced in the
    M-step); ``loglik`` the sum of per-row log-likelihoods; ``n_samples``.
    Statistics of disjoint blocks with the same centres add up.
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    loglik: float
    n_samples: int

    def __iadd__(self, other):
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


def _kernel_params(X, weights, means, prec_chol, cov_type):
    """Arrays in the layout and dtype the kernels take."""
    dtype = X.dtype
    D = X.shape[1]
    K = means.shape[0]
    m = np.ascontiguousarray(means, dtype=dtype)
    if cov_type == "spherical":
        pc = np.repeat(np.asarray(prec_chol, dtype=dtype)[:, None], D, axis=1)
    else:
        pc = np.asarray(prec_chol, dtype=dtype)
    pc = np.ascontiguousarray(pc).ravel()
    if cov_type == "tied" and weights is not None:
        # Centre of the tied statistics and of the whitened E-step: the
        # mixture's mean, which is close to every row's region of the data.
        shift = np.asarray(weights, dtype=np.float64) @ np.asarray(means, dtype=np.float64)
        shift /= max(np.sum(weights), np.finfo(np.float64).tiny)
    else:
        shift = np.zeros(D)
    shift = np.ascontiguousarray(shift, dtype=dtype)
    return m, pc, log_norm(weights, prec_chol, cov_type, D) if weights is not None else np.zeros(K), shift


def _s2_size(cov_type, K, D):
    return {"full": K * D * D, "tied": D * D, "diag": K * D, "spherical": K * D}[cov_type]


def accumulate(X, weights, means, prec_chol, cov_type, n_threads, *, resp=None, labels=None,
               centres=None, shift=None, chunk_rows=None, slot_rows=None):
    """One pass over X: E-step and sufficient statistics.

    Parameters
    ----------
    X : ndarray (n_samples, n_features), C-contiguous float32 or float64
    weights, means, prec_chol : the current parameters (``weights`` may be
        None when ``resp`` or ``labels`` is given)
    cov_type : str
    n_threads : int, resolved thread count
    resp : ndarray (n_samples, K) of X's dtype, optional
        Use these responsibilities instead of an E-step.
    labels : int64 ndarray (n_samples,), optional
        Hard assignments (-1: none) instead of an E-step.
    centres : ndarray (K, D), optional
        Centres of the statistics when no E-step runs (default ``means``).
    shift : ndarray (D,), optional
        Centre of the tied statistics when no E-step runs.
    chunk_rows, slot_rows : int, optional
        Override the layout (tests use it to cross chunk and slot boundaries
        on small data); by default both follow from the problem's shape.

    Returns
    -------
    Statistics
    """
    N, D = X.shape
    K = (means if centres is None else centres).shape[0]
    if centres is not None:
        means = centres
    m, pc, ln, sh = _kernel_params(X, weights, means, prec_chol, cov_type)
    if shift is not None:
        sh = np.ascontiguousarray(shift, dtype=X.dtype)
    s2_size = _s2_size(cov_type, K, D)
    chunk = chunk_rows or chunk_rows_for(D, K)
    slot = slot_rows or slot_rows_for(N, D, K, K + K * D + s2_size + 1, X.itemsize, chunk)
    n_slots = max(1, -(-N // slot))
    nk = np.zeros((n_slots, K))
    s1 = np.zeros((n_slots, K * D))
    s2 = np.zeros((n_slots, s2_size))
    ll = np.zeros(n_slots)
    if resp is not None:
        resp = np.ascontiguousarray(resp, dtype=X.dtype)
    if labels is not None:
        labels = np.ascontiguousarray(labels, dtype=np.int64)
    status = _estep.accumulate_statistics(
        X, _KERNEL_TYPE[cov_type], m, pc, ln, sh, resp, labels, chunk, slot,
        nk, s1, s2, ll, n_threads,
    )
    if status != 0:
        raise MemoryError("fastgmm: could not allocate the kernels' per-thread scratch memory")
    # Slot partials are added in slot order: identical for any thread count.
    s2 = s2.sum(axis=0)
    if cov_type == "full":
        s2 = _symmetrise_lower(s2.reshape(K, D, D))
    elif cov_type == "tied":
        s2 = _symmetrise_lower(s2.reshape(D, D))
    else:
        s2 = s2.reshape(K, D)
    return Statistics(nk.sum(axis=0), s1.sum(axis=0).reshape(K, D), s2, float(ll.sum()), N)


def _symmetrise_lower(a):
    """Fill the upper triangle(s) from the lower: the kernels add one triangle."""
    low = np.tril(a)
    return low + np.swapaxes(np.tril(a, -1), -1, -2)


def m_step(stats, centres, cov_type, reg_covar, eps, shift=None):
    """Parameters from centred statistics, with scikit-learn's definitions.

    ``nk_eps = nk + 10 eps``; the mean is ``sum_i r_ik x_i / nk_eps``; the
    covariance is ``sum_i r_ik (x_i - mean_k)(x_i - mean_k)^T / nk_eps +
    reg_covar I`` (tied: summed over k and divided by ``sum nk_eps``; diag: its
    diagonal; spherical: the diagonal's mean). Computed about the centres, so
    no variance is a difference of large numbers.

    Returns
    -------
    nk_eps, means, covariances : float64 arrays
    """
    nk = stats.nk
    nk_eps = nk + 10 * eps
    s1 = stats.s1
    c = np.asarray(centres, dtype=np.float64) if cov_type != "tied" else np.asarray(shift, dtype=np.float64)[None, :]
    # mean_k - c_k, exactly sum r (x - c) / nk_eps - c (1 - nk / nk_eps); the
    # second term is what makes an empty component's mean 0 as in sklearn.
    d = s1 / nk_eps[:, None] - c * (10 * eps / nk_eps)[:, None]
    means = c + d
    D = means.shape[1]
    if cov_type == "full":
        S2 = stats.s2
        outer = d[:, :, None] * s1[:, None, :]
        cov = S2 - outer - np.swapaxes(outer, 1, 2) + nk[:, None, None] * d[:, :, None] * d[:, None, :]
        cov /= nk_eps[:, None, None]
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        cov[:, np.arange(D), np.arange(D)] += reg_covar
    elif cov_type == "tied":
        outer = np.einsum("kd,ke->de", d, s1)
        cov = stats.s2 - outer - outer.T + np.einsum("k,kd,ke->de", nk, d, d)
        cov /= np.sum(nk_eps)
        cov = 0.5 * (cov + cov.T)
        cov[np.arange(D), np.arange(D)] += reg_covar
    else:
        var = (stats.s2 - 2 * d * s1 + nk[:, None] * d * d) / nk_eps[:, None]
        np.maximum(var, 0.0, out=var)
        cov = var + reg_covar
        if cov_type == "spherical":
            cov = cov.mean(axis=1)
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
    m, pc, ln, sh = _kernel_params(X, weights, means, prec_chol, cov_type)
    chunk = chunk_rows_for(D, K)
    out_ll = np.empty(N) if row_ll else None
    out_lab = np.empty(N, dtype=np.int64) if labels else None
    out_resp = np.empty((N, K), dtype=X.dtype) if resp else None
    out_sum = np.zeros(max(1, -(-N // chunk))) if chunk_ll else None
    status = _estep.estimate(
        X, _KERNEL_TYPE[cov_type], m, pc, ln, sh, chunk,
        out_ll, out_lab, out_resp, out_sum, n_threads,
    )
    if status != 0:
        raise MemoryError("fastgmm: could not allocate the kernels' per-thread scratch memory")
    return out_ll, out_lab, out_resp, out_sum


__all__ = [
    "COV_TYPES", "Statistics", "accumulate", "m_step", "precision_cholesky", "estimate",
    "log_norm", "effective_n_threads",
]
