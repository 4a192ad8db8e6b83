"""Initial sufficient statistics for the Gaussian families, as scikit-learn initialises.

scikit-learn initialises a GaussianMixture from responsibilities: k-means
labels (``"kmeans"``), k-means++ seeds or random rows as single-point
components (``"k-means++"``, ``"random_from_data"``), or random
responsibilities (``"random"``), followed by one M-step. Here the same
responsibilities go through the statistics kernel, so no N x K matrix is
formed: k-means labels are the kernel's hard nearest-centre assignment,
seeds are int64 labels (-1 for every other row), random responsibilities
are drawn block by block from the same stream as scikit-learn's single
(N, K) draw.

Sample weights enter every scheme: weighted k-means (++ seeding and Lloyd),
seeds and random rows drawn with probability proportional to the weight
(a zero-weight row is never drawn), and random responsibilities scaled by
the row's weight in the kernel. Without weights the draws are exactly
scikit-learn's for the same ``random_state``.
"""

import numpy as np

from . import _kernels
from ._gaussian import QUAD, nearest_centre_coefficients, statistics_from_sums
from ._kmeans_driver import kmeans, kmeans_plusplus

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
_RANDOM_RESP_BLOCK = 8192


def weighted_mean(X, sample_weight=None, block=65536):
    """Column means of X (weighted), in float64 and in blocks (no N x D copy)."""
    total = np.zeros(X.shape[1])
    for a in range(0, X.shape[0], block):
        xb = X[a:a + block]
        if sample_weight is None:
            total += xb.sum(axis=0, dtype=np.float64)
        else:
            total += sample_weight[a:a + block] @ xb.astype(np.float64, copy=False)
    return total / (X.shape[0] if sample_weight is None else sample_weight.sum())


def _statistics(X, cov_type, K, shift, n_threads, sample_weight, **kw):
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    G, T, ll = _kernels.accumulate(X, QUAD[cov_type], K, shift, n_threads, sample_weight=sample_weight, **kw)
    weight = X.shape[0] if sample_weight is None else sample_weight.sum()
    return statistics_from_sums(G, T, cov_type, shift, ll, weight, X.shape[0])


def _seed_labels(N, indices):
    labels = np.full(N, -1, dtype=np.int64)
    labels[indices] = np.arange(len(indices))
    return labels


def initial_statistics(X, sample_weight, init_params, cov_type, n_components, random_state, n_threads):
    """Statistics of the initial responsibilities (float64 :class:`Statistics`)."""
    N, D = X.shape
    K = n_components
    if init_params == "kmeans":
        centres = kmeans(X, K, random_state, n_threads, sample_weight=sample_weight)
        shift = centres.mean(axis=0)
        W, U = nearest_centre_coefficients(centres, cov_type, shift)
        return _statistics(X, cov_type, K, shift, n_threads, sample_weight, mode=_kernels.RESP_HARD, W=W, U=U)
    if init_params == "random":
        shift = weighted_mean(X, sample_weight)
        stats = None
        # Drawn block by block from the same stream: identical to
        # scikit-learn's single (N, K) draw, in bounded memory.
        for a in range(0, N, _RANDOM_RESP_BLOCK):
            b = min(N, a + _RANDOM_RESP_BLOCK)
            resp = random_state.uniform(size=(b - a, K))
            resp /= resp.sum(axis=1)[:, None]
            sw = None if sample_weight is None else sample_weight[a:b]
            s = _statistics(X[a:b], cov_type, K, shift, n_threads, sw, mode=_kernels.RESP_GIVEN, resp=resp)
            if stats is None:
                stats = s
            else:
                stats += s
        return stats
    if init_params == "k-means++":
        centres, indices = kmeans_plusplus(X, K, random_state, n_threads, sample_weight=sample_weight)
    else:  # random_from_data
        p = None if sample_weight is None else sample_weight / sample_weight.sum()
        indices = random_state.choice(N, size=K, replace=False, p=p)
        centres = X[indices]
    # scikit-learn's tied covariance counts every row's x x^T even when only
    # K rows carry responsibility: about 0 to match it.
    shift = np.zeros(D) if cov_type == "tied" else np.asarray(centres, dtype=np.float64).mean(axis=0)
    return _statistics(X, cov_type, K, shift, n_threads, sample_weight, mode=_kernels.RESP_LABELS,
                       labels=_seed_labels(N, indices))


def initialisation_rows(X, sample_weight, missing, n_components):
    """The rows k-means (or any scheme) initialises from when X has NaNs: (X_init, weight).

    The rows without NaN when at least ``max(10 K, D + 1)`` of them have a
    positive weight: under data missing completely at random they are a
    sample of the same distribution, and k-means cannot take NaN. Otherwise
    X with each NaN replaced by its column's (weighted) mean over the
    observed values, a coarse start that the exact EM then corrects. Either
    is a temporary copy, freed once the initial parameters are made.
    """
    N, D = X.shape
    if missing.complete:
        rows = missing.rows_of(0)
        w = None if sample_weight is None else sample_weight[rows]
        n_ok = len(rows) if w is None else int(np.count_nonzero(w))
        if n_ok >= max(10 * n_components, D + 1):
            return np.ascontiguousarray(X[rows]), (None if w is None else np.ascontiguousarray(w))
    total = np.zeros(D)
    weight = np.zeros(D)
    for a in range(0, N, 65536):
        xb = X[a:a + 65536].astype(np.float64)
        ob = ~np.isnan(xb)
        wb = np.ones(len(xb)) if sample_weight is None else sample_weight[a:a + 65536]
        total += wb @ np.where(ob, xb, 0.0)
        weight += wb @ ob
    col_mean = np.divide(total, weight, out=np.zeros(D), where=weight > 0)
    Xi = np.array(X, copy=True)
    for a in range(0, N, 65536):
        xb = Xi[a:a + 65536]
        nan = np.isnan(xb)
        xb[nan] = np.broadcast_to(col_mean.astype(X.dtype), xb.shape)[nan]
    return Xi, sample_weight
