"""Plain NumPy reference of mclust's model-based hierarchical clustering (``hc``), written to be obviously right.

The tree: clusters are lists of rows in slots; at every step the cost of
every pair of slots is the criterion of the union minus those of the two
clusters, each computed from the cluster's rows (weights, mean, scatter,
determinant by ``numpy.linalg.slogdet``); the least cost wins, and among
equal costs the pair scanned last in mclust's packed order (higher slot
largest, then lower slot largest). The union goes to the lower slot and the
last slot's cluster moves into the higher one. The criterion of a set of rows
is a pure function of the set, so it is memoised: that changes no result.
O(n^3) pairs: for small data only.

Also a plain transform (``scale`` + SVD, as mclust's ``hc(use=)``
documents it) and the extension to rows outside the tree (M-step of the
subset's partition, E-step argmax), in float64.
"""

import math

import numpy as np
from scipy.special import logsumexp

EPS = np.finfo(np.float64).eps


def criterion(Z, w, rows, model, alpha, beta):
    """The term of the cluster made of ``rows`` (see fastgmm.kernels._hc for the formulas)."""
    rows = list(rows)
    x, wr = Z[rows], w[rows]
    # Rows in the order of their values, and the mean as an offset from the first: sets of equal rows
    # (duplicates) give bitwise equal terms, so exact ties stay exact ties.
    order = np.lexsort(np.column_stack([x, wr]).T)
    x, wr = x[order], wr[order]
    n = wr.sum()
    mean = x[0] + wr @ (x - x[0]) / n
    dev = x - mean
    scatter = (dev * wr[:, None]).T @ dev
    tr = float(np.trace(scatter))
    if model == "E":
        return tr
    if model == "V":
        return n * math.log((tr + alpha) / n)
    det = 0.0
    if len(rows) > Z.shape[1] and tr > 0:
        sign, logdet = np.linalg.slogdet(scatter / n)
        det = math.exp(logdet) if sign > 0 else 0.0
    return n * math.log(det + beta * (tr + alpha) / n)


def reference_alpha(Z, w, model, alpha=1.0):
    """mclust's alpha: ``alpha * traceW(Z / sqrt(n p))`` for VVV, eps for V (mclust 6.0), unused for E."""
    n, p = Z.shape
    w = np.ones(n) if w is None else w * (n / w.sum())
    scatter = float(np.sum(w[:, None] * (Z - w @ Z / n) ** 2))
    if model == "VVV":
        return max(alpha * scatter / (n * p), EPS)
    return EPS


def reference_tree(Z, weights=None, model="VVV", alpha=1.0, beta=1.0):
    """Merges (n - 1, 2): clusters named by their smallest row, smaller first; and their costs."""
    Z = np.asarray(Z, dtype=np.float64)
    n = Z.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, float) * (n / np.sum(weights))
    a = reference_alpha(Z, None if weights is None else w, model, alpha)
    memo = {}

    def term(rows):
        key = frozenset(rows)
        if key not in memo:
            memo[key] = criterion(Z, w, rows, model, a, beta)
        return memo[key]

    slots = [[i] for i in range(n)]
    merges, costs = [], []
    while len(slots) > 1:
        best, pair = None, None
        for s in range(1, len(slots)):
            for t in range(s):
                c = term(slots[s] + slots[t]) - (term(slots[s]) + term(slots[t]))
                if best is None or c <= best:
                    best, pair = c, (t, s)
        t, s = pair
        merges.append(sorted((min(slots[t]), min(slots[s]))))
        costs.append(best)
        slots[t] = slots[t] + slots[s]
        last = slots.pop()
        if s < len(slots):
            slots[s] = last
    return np.array(merges, dtype=np.int64).reshape(-1, 2), np.array(costs)


def reference_cut(merges, n, K):
    """Labels after the first n - K merges, numbered by first appearance (mclust's hclass)."""
    label = np.arange(n)
    for a, b in merges[:n - K]:
        label[label == b] = a
    order = {}
    return np.array([order.setdefault(v, len(order)) for v in label])


def reference_transform(X, use, weights=None):
    """mclust's hc(use=): "VARS" as is; "STD" columns centred and scaled (sd, n - 1); "SVD" then rotated
    onto the right singular vectors and divided by the square roots of the singular values.

    With weights (scaled to mean 1): weighted mean and sd, singular vectors of sqrt(w) Z.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, float) * (n / np.sum(weights))
    if use == "VARS":
        return X.copy()
    mean = np.average(X, axis=0, weights=w)
    sd = np.sqrt(np.sum(w[:, None] * (X - mean) ** 2, axis=0) / (n - 1))
    Z = (X - mean)[:, sd > 0] / sd[sd > 0]
    if use == "STD":
        return Z
    _, d, vt = np.linalg.svd(np.sqrt(w)[:, None] * Z, full_matrices=False)
    return Z @ vt.T / np.sqrt(d)


def reference_extension(X, rows, labels, K, reg_covar, weights=None):
    """Full-covariance M-step of ``labels`` on X[rows] (``reg_covar`` on the diagonal), then every row's
    most probable component."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if weights is None else np.asarray(weights, float)
    xs, ws = X[rows], w[rows]
    logp = np.empty((len(X), K))
    for k in range(K):
        r = ws * (labels == k)
        nk = r.sum()
        mean = r @ xs / nk
        dev = xs - mean
        cov = (dev * r[:, None]).T @ dev / nk + reg_covar * np.eye(X.shape[1])
        _, logdet = np.linalg.slogdet(cov)
        diff = X - mean
        maha = np.sum(diff @ np.linalg.inv(cov) * diff, axis=1)
        logp[:, k] = math.log(nk / ws.sum()) - 0.5 * (logdet + maha + X.shape[1] * math.log(2 * math.pi))
    return np.argmax(logp - logsumexp(logp, axis=1, keepdims=True), axis=1)
