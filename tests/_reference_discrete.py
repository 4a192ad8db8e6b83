"""Plain NumPy EM for the discrete families, written to be obviously right (tests and benchmarks).

Everything is float64 on dense (N, K) arrays, straight from the formulas:
no kernels, no chunks, no shared code with the estimators beyond the
documented M-step rules (smoothing ``alpha``, the clipping of the
probabilities, scikit-learn's ``10 eps`` guard on the weights).
"""

import numpy as np
from scipy.special import gammaln, logsumexp


def log_density(family, X, means, categories=None):
    """(N, K) log p(x_i | component k) under ``means`` (K x D, or a list of K x n_d tables)."""
    X = np.asarray(X, dtype=np.float64)
    if family == "bernoulli":
        p = np.asarray(means, dtype=np.float64)
        return X @ np.log(p).T + (1 - X) @ np.log(1 - p).T
    if family == "poisson":
        lam = np.asarray(means, dtype=np.float64)
        return X @ np.log(lam).T - lam.sum(axis=1)[None, :] - gammaln(X + 1).sum(axis=1)[:, None]
    out = np.zeros((X.shape[0], len(means[0])))
    for d, (cats, table) in enumerate(zip(categories, means)):
        idx = np.searchsorted(cats, X[:, d])
        out += np.log(np.asarray(table, dtype=np.float64))[:, idx].T
    return out


def e_step(family, X, weights, means, categories=None):
    """(per-row log-likelihood (N,), responsibilities (N, K))."""
    with np.errstate(divide="ignore"):
        wlp = log_density(family, X, means, categories) + np.log(np.asarray(weights, dtype=np.float64))
    row_ll = logsumexp(wlp, axis=1)
    return row_ll, np.exp(wlp - row_ll[:, None])


def m_step(family, X, R, alpha, dtype=np.float64, categories=None):
    """(weights, means) from weighted responsibilities R (N, K) = sample weight x responsibility."""
    X = np.asarray(X, dtype=np.float64)
    eps = float(np.finfo(dtype).eps)
    nk = R.sum(axis=0)
    weights = (nk + 10 * eps) / np.sum(nk + 10 * eps)
    if family == "bernoulli":
        p = (R.T @ X + alpha) / (nk[:, None] + 2 * alpha)
        return weights, np.clip(p, eps / 2, 1 - eps / 2)
    if family == "poisson":
        lam = (R.T @ X + alpha) / (nk[:, None] + alpha)
        return weights, np.maximum(lam, np.finfo(dtype).tiny)
    tables = []
    for d, cats in enumerate(categories):
        onehot = (X[:, d][:, None] == cats[None, :]).astype(np.float64)
        t = (R.T @ onehot + alpha) / (nk[:, None] + len(cats) * alpha)
        tables.append(np.maximum(t, np.finfo(dtype).tiny))
    return weights, tables


def fit_em(family, X, weights, means, n_iter, alpha, sample_weight=None, dtype=np.float64, categories=None):
    """``n_iter`` EM iterations from (weights, means); returns (weights, means, lower bounds).

    Each lower bound is the weighted mean log-likelihood under the parameters
    before that iteration's M-step (scikit-learn's definition).
    """
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    bounds = []
    for _ in range(n_iter):
        row_ll, resp = e_step(family, X, weights, means, categories)
        keep = w > 0
        bounds.append(float(np.sum(w[keep] * row_ll[keep]) / w.sum()))
        weights, means = m_step(family, X, resp * w[:, None], alpha, dtype, categories)
    return weights, means, bounds
