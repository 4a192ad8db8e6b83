"""Initial sufficient statistics for the Gaussian families, as scikit-learn initialises.

scikit-learn initialises a GaussianMixture from responsibilities: k-means
labels (``"kmeans"``), k-means++ seeds or random rows as single-point
components (``"k-means++"``, ``"random_from_data"``), or random
responsibilities (``"random"``), followed by one M-step. Here the same
responsibilities go through the statistics kernel, so no N x K matrix is
formed: k-means labels are the kernel's hard nearest-centre assignment,
seeds are K one-row components (the seed rows alone go through the kernel,
plus every row for the tied second moment), random responsibilities are
drawn block by block from the same stream as scikit-learn's single (N, K)
draw. Without weights the draws of ``"k-means++"``, ``"random"`` and
``"random_from_data"`` are exactly scikit-learn's for the same
``random_state``.

Sample weights. Every weighted draw inverts the running sum of the weights
(``u ~ U(0, total)`` picks the row whose interval holds ``u``), so a row of
integer weight ``w`` is drawn exactly when one of ``w`` adjacent copies of it
would be, and a row of weight 0 never is; a seed carries one unit of weight,
as one copy does (or its row's whole weight, when that is less than one).
What holds, for a row of integer weight ``w`` against ``w`` adjacent copies
of it:

- ``"kmeans"``: the same initial parameters (up to the rounding of sums in
  another order), and when the data set is no larger than the k-means
  seeding sample, whatever the order of the rows (``fastgmm.kernels._kmeans_driver``).
- ``"k-means++"``: the same initial parameters (scikit-learn's draws are
  inverse-CDF draws; a tie between cumulative sums rounded differently is
  the only exception).
- ``"random_from_data"``: the same initial parameters as the copies given
  weight 1 (``sample_weight=np.ones``). Without weights the K rows are
  scikit-learn's ``choice(N, K, replace=False)``, a permutation, which no
  draw on the weights can reproduce: there the weighted start is drawn from
  the same distribution, not the same start.
- ``"random"``: a row of weight 0 draws nothing, so it is exactly a removed
  row. A row of weight ``w`` has one random responsibility vector where its
  copies have ``w`` independent ones: the same start in expectation only.
"""

from dataclasses import replace

import numpy as np

from ..engine._custom_init import initial_assignment, is_custom
from ..kernels import _driver as _kernels
from ..kernels._kmeans_driver import draw_units, kmeans, kmeans_plusplus
from ._gaussian import QUAD, nearest_centre_coefficients, statistics_from_sums
from ._gaussian_passes import gaussian_statistics
from ._hc import HC_REG_COVAR, hc_partitions, subset_parameters

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data", "hc")
_RANDOM_RESP_BLOCK = 8192
#: Rows per kernel call of the tied second moment of the seeds' start (no N-vector of labels).
_LABEL_BLOCK = 65536


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


def random_responsibilities(N, K, random_state, sample_weight=None, block=_RANDOM_RESP_BLOCK):
    """Random responsibilities in blocks of rows: yields (a, b, resp (b - a, K)).

    Without weights the blocks together are scikit-learn's single
    ``uniform(size=(N, K))`` draw, row-normalised. A row of weight 0 draws
    nothing (its responsibilities are 1/K and add nothing), so the weighted
    draws are those of the data without it.
    """
    for a in range(0, N, block):
        b = min(N, a + block)
        if sample_weight is None:
            resp = random_state.uniform(size=(b - a, K))
        else:
            present = sample_weight[a:b] > 0
            resp = np.ones((b - a, K))
            resp[present] = random_state.uniform(size=(int(np.count_nonzero(present)), K))
        resp /= resp.sum(axis=1)[:, None]
        yield a, b, resp


def _seed_mass(sample_weight, rows):
    """Weight each seed row carries: one unit, as one of its copies would (its weight, when less)."""
    return None if sample_weight is None else np.minimum(sample_weight[rows], 1.0)


def _seed_statistics(X, rows, mass, cov_type, K, sample_weight, n_threads):
    """Statistics of K one-row components: row ``rows[k]`` with weight ``mass[k]`` (None: 1).

    Only the K rows go through the kernel; for "tied" the second moment is
    every row's, with its weight (as scikit-learn's tied M-step counts every
    row's x x^T even when only K rows carry responsibility). The total
    weight and row count are X's.
    """
    N, D = X.shape
    centres = np.ascontiguousarray(X[rows])
    # Tied: about 0, to match scikit-learn's sum of x x^T over every row.
    shift = np.zeros(D) if cov_type == "tied" else np.asarray(centres, dtype=np.float64).mean(axis=0)
    stats = _statistics(centres, cov_type, K, shift, n_threads, mass, mode=_kernels.RESP_LABELS,
                        labels=np.arange(K, dtype=np.int64))
    if cov_type == "tied":
        s2 = 0.0
        none = np.full(min(N, _LABEL_BLOCK), -1, dtype=np.int64)   # no component: the rows add to x x^T only
        for a in range(0, N, _LABEL_BLOCK):
            b = min(N, a + _LABEL_BLOCK)
            sw = None if sample_weight is None else sample_weight[a:b]
            s2 = s2 + _statistics(X[a:b], cov_type, K, shift, n_threads, sw, mode=_kernels.RESP_LABELS,
                                  labels=none[:b - a]).s2
        stats = replace(stats, s2=s2)
    weight = N if sample_weight is None else sample_weight.sum()
    return replace(stats, weight=float(weight), n_samples=N)


def initial_statistics(X, sample_weight, init_params, cov_type, n_components, random_state, n_threads,
                       assignment=None):
    """Statistics of the initial responsibilities (float64 :class:`Statistics`). ``assignment``: a callable
    ``init_params``'s checked result when the caller has it already (the callable is called once)."""
    N = X.shape[0]
    K = n_components
    if is_custom(init_params):
        kind, value = assignment or initial_assignment(init_params, X, K, random_state, "the estimator")
        shift = weighted_mean(X, sample_weight)
        if kind == "labels":
            return _statistics(X, cov_type, K, shift, n_threads, sample_weight, mode=_kernels.RESP_LABELS,
                               labels=value)
        return _statistics(X, cov_type, K, shift, n_threads, sample_weight, mode=_kernels.RESP_GIVEN, resp=value)
    if init_params == "kmeans":
        centres = kmeans(X, K, random_state, n_threads, sample_weight=sample_weight)
        shift = centres.mean(axis=0)
        W = nearest_centre_coefficients(centres, shift)
        return _statistics(X, cov_type, K, shift, n_threads, sample_weight, mode=_kernels.RESP_HARD, W=W)
    if init_params == "hc":
        # mclust's start (fastgmm.families._hc): the tree's partition, or past 2000 rows the E-step of
        # the M-step fitted to a random subset's partition.
        cut = hc_partitions(X, [K], sample_weight=sample_weight, random_state=random_state, n_threads=n_threads)
        if not cut.complete:
            params = subset_parameters(X, cut.rows, cut.labels[K], K, cov_type, sample_weight, HC_REG_COVAR,
                                       n_threads)
            return gaussian_statistics(X, *params, cov_type, n_threads, sample_weight=sample_weight)
        labels = np.zeros(N, dtype=np.int64)    # rows of weight 0 (outside the tree) add nothing
        labels[cut.rows] = cut.labels[K]
        return _statistics(X, cov_type, K, weighted_mean(X, sample_weight), n_threads, sample_weight,
                           mode=_kernels.RESP_LABELS, labels=labels)
    if init_params == "random":
        shift = weighted_mean(X, sample_weight)
        stats = None
        # Drawn block by block from the same stream: identical to
        # scikit-learn's single (N, K) draw, in bounded memory.
        for a, b, resp in random_responsibilities(N, K, random_state, sample_weight):
            sw = None if sample_weight is None else sample_weight[a:b]
            s = _statistics(X[a:b], cov_type, K, shift, n_threads, sw, mode=_kernels.RESP_GIVEN, resp=resp)
            if stats is None:
                stats = s
            else:
                stats += s
        return stats
    if init_params == "k-means++":
        _, rows = kmeans_plusplus(X, K, random_state, n_threads, sample_weight=sample_weight)
        mass = _seed_mass(sample_weight, rows)
    elif sample_weight is None:   # random_from_data: scikit-learn's draw
        rows, mass = random_state.choice(N, size=K, replace=False), None
    else:
        rows, mass = draw_units(N, K, random_state, sample_weight)
    return _seed_statistics(X, rows, mass, cov_type, K, sample_weight, n_threads)


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
