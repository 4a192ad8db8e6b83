"""mclust's start: model-based agglomerative hierarchical clustering (``init_params="hc"``).

R's mclust (6.0) starts EM from the partitions of one hierarchical tree
(Fraley 1998), made with its defaults ``hcModelName = "VVV"``,
``hcUse = "SVD"``, ``subset = 2000``. This module makes the same tree and
the same partitions:

1. The data are transformed as mclust's ``hc(use=)`` does. ``"SVD"`` (its
   default): each column centred and divided by its standard deviation
   (denominator n - 1; constant columns dropped), then rotated onto the right
   singular vectors V of that matrix and each direction divided by the square
   root of its singular value d: ``Z = scale(X) V diag(1 / sqrt(d))``.
   Directions with d = 0 (collinear columns) are dropped, where mclust would
   divide by zero. ``"STD"``: the scaled columns only. ``"VARS"``: the columns
   as they are (the kernel works with differences of means, so data far from
   the origin lose no accuracy).
2. The merge loop with mclust's criteria (``fastgmm.kernels._hc``): "VVV" for
   D >= 2 with mclust's regularisation, ``alpha = max(1 * trace(W_all) /
   (n D), eps)`` (``trace(W_all)``: the total scatter of Z) and ``beta = 1``;
   for one column, "V" (default) or "E". mclust 6.0's "V" takes
   ``min(alpha * var, eps)`` where it means the max, so its alpha is always
   eps; that is reproduced. Ties go as in mclust's Fortran (see the kernel).
3. The tree is cut at each K as mclust's ``hclass`` does (labels numbered in
   order of first appearance).

More rows than ``subset`` (2000): mclust draws ``subset`` rows at random,
builds the tree on them, fits the model's M-step to each cut of the subset
and starts EM from the E-step of those parameters over all rows (its
``mclustBIC``: ``mstep`` on ``data[subset, ]`` then ``estep`` on ``data``).
The same here: :func:`subset_parameters` is that M-step (regularised by
``reg_covar``, which mclust does not have), and the start is the E-step's
soft responsibilities (``fastgmm.families._gaussian_init``); :func:`hc_labels`
returns their most probable component. The draw is numpy's
``choice(N, subset, replace=False)`` from ``random_state``, not R's.

Sample weights. A weight counts as a multiplicity: a row of weight w is w
coincident rows already merged into one cluster (weight sum n_k in the
criterion, weighted scatter). The weights are first scaled to mean 1 over
the tree's rows, so scaling all of them changes nothing and unit weights
give mclust's tree; the transform uses weighted means, weighted standard
deviations (denominator n - 1, n the number of rows) and the singular
vectors of the weighted matrix (rows times sqrt(w)). Rows of weight 0 are
left out of the tree (and out of the subset draw) and get their label from
the E-step, as rows outside the subset do. mclust has no weights in ``hc``.

Differences from mclust, on purpose: mclust's ``Mclust`` does not use ``hc``
for univariate data (it starts from quantile classes, ``qclass``); here
``init_params="hc"`` on one column runs the "V" tree. mclust switches to the
"EII" tree when N <= D; here the "VVV" criterion stays (with N <= D every
determinant is 0 and it compares traces, close to EII).
"""

from typing import NamedTuple

import numpy as np

from ..kernels import _driver as _kernels
from ..kernels import _hc
from ..kernels._openmp_helpers import THREAD_MIN_WORK, effective_n_threads
from ..utils._validation import check_array, check_option, check_random_state, check_sample_weight, check_scalar
from ._gaussian import QUAD, m_step, precision_cholesky, statistics_from_sums
from ._gaussian_passes import gaussian_estimate

HC_USES = ("SVD", "STD", "VARS")
HC_MODELS = ("VVV", "V", "E")
#: mclust.options("subset"): the largest tree mclust builds on all rows.
HC_SUBSET = 2000
#: The M-step of the subset's partition (rows outside the subset) is regularised by this much.
HC_REG_COVAR = 1e-6
_EPS = np.finfo(np.float64).eps
_CODES = {"VVV": _hc.MODEL_VVV, "V": _hc.MODEL_V, "E": _hc.MODEL_E}
_OVERFLOW = "hc: a merge cost overflowed (the data are too large to square); scale the data."


class HcCuts(NamedTuple):
    """The tree's rows of X and its partitions of them."""

    rows: np.ndarray       # int64 indices into X of the rows in the tree
    labels: dict           # K -> int64 labels (len(rows),) in [0, K)
    complete: bool         # the tree holds every row of positive weight


def _unit_mean(sample_weight, n):
    return np.ones(n) if sample_weight is None else sample_weight * (n / sample_weight.sum())


def _sequential_sum(A, dtype=np.float64):
    """Column sums of A added row after row (R's and reference BLAS's order), in ``dtype``."""
    return np.cumsum(np.asarray(A, dtype=dtype), axis=0)[-1]


def hc_transform(X, use="SVD", sample_weight=None):
    """X (n, D) transformed as mclust's ``hc(use=)``: float64 (n, q), q <= D (see the module's notes).

    ``sample_weight`` (n,) > 0 or None: weighted means, standard deviations
    and singular vectors (scaled to mean weight 1: unit weights are mclust's).
    Without weights the arithmetic is R's (``scale``: long double sums added
    in row order; the rotation's products added in order, each direction
    multiplied by 1 / sqrt(d)), so that the exact ties of data on a grid (the
    iris measurements) break as they do in mclust.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if use == "VARS":
        return np.ascontiguousarray(X)
    with np.errstate(over="ignore", invalid="ignore"):
        if sample_weight is None:
            mean = (_sequential_sum(X, np.longdouble) / n).astype(np.float64)
            Z = X - mean
            sd = np.sqrt(_sequential_sum(Z * Z, np.longdouble).astype(np.float64) / (n - 1))
            w = np.ones(n)
        else:
            w = _unit_mean(sample_weight, n)
            Z = X - (w @ X) / n
            sd = np.sqrt((w @ (Z * Z)) / (n - 1))
    if not np.all(np.isfinite(sd)):
        raise ValueError(_OVERFLOW)
    keep = sd > 0
    Z = Z[:, keep] / sd[keep]
    if use == "STD":
        return np.ascontiguousarray(Z)
    _, d, vt = np.linalg.svd(np.sqrt(w)[:, None] * Z, full_matrices=False)
    ok = d > d[0] * max(Z.shape) * _EPS if d.size else d > 0
    V = vt[ok].T
    ZV = np.zeros((n, V.shape[1]))
    for col in range(Z.shape[1]):
        ZV += Z[:, col, None] * V[col]
    return np.ascontiguousarray(ZV * (1.0 / np.sqrt(d[ok])))


def _mclust_alpha(Z, w, alpha):
    """mclust's ``alpha * traceW(Z / sqrt(n p))``: the total scatter of Z over n p, times alpha.

    Without weights in mclust's order of operations (its Fortran ``mcltrw``).
    """
    n, p = Z.shape
    if w is None:
        Zs = Z / np.sqrt(float(n * p))
        fac = 1.0 / np.sqrt(float(n))
        u = _sequential_sum(fac * Zs)
        dev = Zs + (-fac) * u
        scatter = 0.0
        for col in _sequential_sum(dev * dev):
            scatter = scatter + col
        return alpha * scatter
    return alpha * float(w @ np.sum((Z - (w @ Z) / n) ** 2, axis=1)) / (n * p)


def hc_tree(Z, *, sample_weight=None, model="VVV", alpha=1.0, beta=1.0, n_threads=None):
    """The merge sequence of mclust's hc on the (already transformed) rows Z.

    Returns
    -------
    merges : int64 (n - 1, 2)
        Step by step the two clusters merged, each named by its smallest row
        index (0-based), the smaller name first: mclust's ``hc`` pairs minus one.
    costs : float64 (n - 1,)
        The criterion's change at each merge.
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    n, p = Z.shape
    w = None if sample_weight is None else _unit_mean(sample_weight, n)
    with np.errstate(over="ignore", invalid="ignore"):
        a = _mclust_alpha(Z, w, alpha) if model != "E" else 1.0
    if not np.isfinite(a):
        raise ValueError(_OVERFLOW)
    if model == "VVV":
        a = max(a, _EPS)
    elif model == "V":
        a = max(min(a, _EPS), _EPS)    # mclust 6.0's hcV: always eps
    merges = np.empty((max(n - 1, 0), 2), dtype=np.int64)
    costs = np.empty(max(n - 1, 0))
    w = np.ones(n) if w is None else np.ascontiguousarray(w)
    status = _hc.agglomerate(Z, w, _CODES[model], float(a), float(beta), merges, costs,
                             effective_n_threads(n_threads), float(THREAD_MIN_WORK))
    if status == _hc.NO_MEMORY:
        raise MemoryError(f"hc on {n} rows needs {n * (n - 1) // 2 * 8 / 1e6:.0f} MB of merge costs; use a "
                          "smaller subset.")
    if status == _hc.NOT_FINITE:
        raise ValueError(_OVERFLOW)
    return merges, costs


def cut_tree(merges, n_rows, n_clusters):
    """Labels (n_rows,) in [0, K) for each K of ``n_clusters`` (a dict), as mclust's ``hclass``.

    The first ``n_rows - K`` merges are applied; labels are numbered in the
    order in which the clusters first appear among the rows.
    """
    parent = np.arange(n_rows)
    out = {}
    done = 0
    for K in sorted(set(int(k) for k in n_clusters), reverse=True):
        for a, b in merges[done:n_rows - K]:
            parent[b] = a          # merges name clusters by their smallest row: b's root is b
        done = max(done, n_rows - K)
        root = parent.copy()
        while True:
            up = root[root]
            if np.array_equal(up, root):
                break
            root = up
        _, first, inverse = np.unique(root, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first)] = np.arange(len(first))
        out[K] = rank[inverse]
    return out


def _check_model(model, n_features):
    check_option(model, "model", set(HC_MODELS), estimator_name="hc")
    if n_features == 1:
        return "V" if model == "VVV" else model
    if model != "VVV":
        raise ValueError(f"hc: model={model!r} is for one column; X has {n_features} (use model='VVV').")
    return model


def hc_partitions(X, n_clusters_list, *, sample_weight=None, use="SVD", model="VVV", subset=HC_SUBSET,
                  random_state=None, alpha=1.0, beta=1.0, n_threads=None):
    """The tree (on a subset when X has more rows than ``subset``) and its cuts: :class:`HcCuts`.

    X and sample_weight are validated arrays; every K must be at most the
    number of rows in the tree.
    """
    N = X.shape[0]
    rows = np.arange(N) if sample_weight is None else np.flatnonzero(sample_weight > 0)
    complete = True
    if subset is not None and len(rows) > subset:
        rs = check_random_state(random_state, estimator_name="hc")
        rows = np.sort(rs.choice(rows, size=subset, replace=False))
        complete = False
    Ks = sorted(set(int(k) for k in n_clusters_list))
    if len(rows) < 2:
        raise ValueError(f"hc needs at least 2 rows of positive weight; X has {len(rows)}.")
    if Ks[-1] > len(rows):
        raise ValueError(f"hc: {Ks[-1]} clusters need at least as many rows of positive weight in the tree, "
                         f"which has {len(rows)}; ask for fewer clusters"
                         + (" or use a larger subset." if not complete else "."))
    w = None if sample_weight is None else sample_weight[rows]
    Xr = X[rows] if len(rows) < N else X
    Z = hc_transform(Xr, use, w)
    if Z.shape[1] == 0:
        raise ValueError("hc: every column of X is constant (on the rows of the tree); there is nothing to "
                         "cluster.")
    model = _check_model(model, Z.shape[1])
    merges, _ = hc_tree(Z, sample_weight=w, model=model, alpha=alpha, beta=beta, n_threads=n_threads)
    return HcCuts(rows, cut_tree(merges, len(rows), Ks), complete)


def subset_parameters(X, rows, labels, n_components, cov_type, sample_weight, reg_covar, n_threads):
    """The M-step of ``labels`` on ``X[rows]``: (weights, means, precisions_cholesky), float64.

    mclust's ``mstep`` on the subset's partition, regularised by ``reg_covar``
    (a cluster of one row would otherwise have a singular covariance).
    """
    Xs = np.ascontiguousarray(X[rows])
    sw = None if sample_weight is None else np.ascontiguousarray(sample_weight[rows])
    shift = np.ascontiguousarray(Xs.mean(axis=0, dtype=np.float64))
    G, T, ll = _kernels.accumulate(Xs, QUAD[cov_type], n_components, shift, n_threads, sample_weight=sw,
                                   mode=_kernels.RESP_LABELS, labels=np.ascontiguousarray(labels, dtype=np.int64))
    weight = len(rows) if sw is None else float(sw.sum())
    stats = statistics_from_sums(G, T, cov_type, shift, ll, weight, len(rows))
    nk_eps, means, cov = m_step(stats, reg_covar, float(np.finfo(X.dtype).eps))
    return nk_eps / nk_eps.sum(), means, precision_cholesky(cov, cov_type, reg_covar=reg_covar)


def hc_labels(X, n_clusters_list, *, sample_weight=None, use="SVD", model="VVV", subset=HC_SUBSET,
              random_state=None, alpha=1.0, beta=1.0, covariance_type="full", reg_covar=HC_REG_COVAR,
              n_threads=None):
    """The partitions mclust starts EM from: model-based hierarchical clustering (mclust's ``hc``).

    Parameters
    ----------
    X : array-like (n_samples, n_features)
    n_clusters_list : int or iterable of int
        The numbers of clusters K, each in [1, rows in the tree].
    sample_weight : array-like (n_samples,), optional
        Multiplicities (see the module's notes); rows of weight 0 are not in the tree.
    use : {"SVD", "STD", "VARS"}, default "SVD"
        mclust's ``hcUse``: the transformation of the data the tree is built on.
    model : {"VVV", "V", "E"}, default "VVV"
        mclust's ``hcModelName``; with one column "VVV" means "V".
    subset : int or None, default 2000
        More rows (of positive weight) than this: the tree is built on a
        random subset of this size and every row is labelled by the E-step of
        the subset partition's M-step (``covariance_type``, ``reg_covar``), as
        mclust does. None: always every row.
    random_state : None, int or numpy.random.RandomState
        Draws the subset.
    alpha, beta : float, default 1.0
        mclust's regularisation multipliers (``hc(..., alpha=, beta=)``).
    covariance_type : str, default "full"
        The model of the subset's M-step.
    reg_covar : float, default 1e-6
    n_threads : int or None

    Returns
    -------
    dict
        K -> int64 labels (n_samples,) in [0, K).
    """
    X = check_array(X, estimator_name="hc_labels")
    N = X.shape[0]
    sample_weight = check_sample_weight(sample_weight, N)
    Ks = [n_clusters_list] if np.ndim(n_clusters_list) == 0 else list(n_clusters_list)
    if not Ks:
        raise ValueError("hc_labels: n_clusters_list is empty; give at least one number of clusters.")
    for K in Ks:
        check_scalar(K, "n_clusters_list", "int", low=1, high=N, estimator_name="hc_labels",
                     detail=f"Each number of clusters must be between 1 and the number of rows ({N}).")
    check_option(use.upper() if isinstance(use, str) else use, "use", set(HC_USES), estimator_name="hc_labels")
    check_scalar(subset, "subset", "int", low=2, allow_none=True, estimator_name="hc_labels")
    check_scalar(alpha, "alpha", "real", low=0, low_open=True, estimator_name="hc_labels")
    check_scalar(beta, "beta", "real", low=0, low_open=True, estimator_name="hc_labels")
    check_scalar(reg_covar, "reg_covar", "real", low=0, estimator_name="hc_labels")
    check_option(covariance_type, "covariance_type", set(QUAD), estimator_name="hc_labels")
    cuts = hc_partitions(X, Ks, sample_weight=sample_weight, use=use.upper(), model=model, subset=subset,
                         random_state=random_state, alpha=alpha, beta=beta, n_threads=n_threads)
    if cuts.complete and len(cuts.rows) == N:
        return {int(K): _in_order_of_appearance(cuts.labels[int(K)], sample_weight) for K in Ks}
    nt = effective_n_threads(n_threads)
    out = {}
    for K in Ks:
        K = int(K)
        params = subset_parameters(X, cuts.rows, cuts.labels[K], K, covariance_type, sample_weight, reg_covar, nt)
        out[K] = _in_order_of_appearance(gaussian_estimate(X, *params, covariance_type, nt, labels=True)[1],
                                         sample_weight)
    return out


def _in_order_of_appearance(labels, sample_weight):
    """The partition with its parts numbered in the order of their first row of positive weight.

    The tree's own numbering depends on the merge order, which differs
    between a weighted row and the row repeated: numbered by first
    appearance, weights and repeated rows give the same labels (and the
    same fit, component for component).
    """
    rows = labels if sample_weight is None else labels[np.asarray(sample_weight) > 0]
    _, first = np.unique(rows, return_index=True)
    order = np.unique(rows)[np.argsort(first)]
    new = np.empty(max(int(labels.max()) + 1, order.size), dtype=labels.dtype)
    new[order] = np.arange(order.size, dtype=labels.dtype)
    missing = np.setdiff1d(np.unique(labels), order)       # parts holding only rows of weight 0
    new[missing] = np.arange(order.size, order.size + missing.size, dtype=labels.dtype)
    return new[labels]
