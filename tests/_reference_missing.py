"""Row-by-row NumPy reference of exact EM for Gaussian mixtures with missing values.

Written to be obviously right, not fast: one Python loop over the rows and
the components. For each row, the observed coordinates o (non-NaN) and the
missing ones m; under component k

* the E-step uses the marginal Gaussian N(x_o | mu_o, Sigma_oo);
* the M-step uses the conditional mean of the missing part,
  x_m_hat = mu_m + Sigma_mo Sigma_oo^-1 (x_o - mu_o), and its conditional
  covariance Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om (Ghahramani and Jordan):
  the completed statistics are sum r x_hat and sum r (x_hat x_hat^T + C).

The M-step then follows scikit-learn's definitions (``nk + 10 eps``,
``reg_covar`` on the diagonal; diag: the diagonal, spherical: its mean, tied:
the components' scatter summed over ``sum nk_eps``), as fastgmm's does.
Covariances are carried as full D x D matrices for every type.
"""

import numpy as np

__all__ = ["full_covariances", "em_step_missing", "estimate_missing", "impute_missing"]


def full_covariances(cov, cov_type, n_components, n_features):
    """Every component's covariance as a (K, D, D) array."""
    K, D = n_components, n_features
    cov = np.asarray(cov, dtype=np.float64)
    if cov_type == "full":
        return cov.copy()
    if cov_type == "tied":
        return np.repeat(cov[None], K, axis=0)
    if cov_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(D) * c for c in cov])


def _log_marginal(x, o, mean, S):
    """log N(x_o | mean_o, S_oo); 0 when nothing is observed."""
    if not o.any():
        return 0.0
    d = x[o] - mean[o]
    S_oo = S[np.ix_(o, o)]
    L = np.linalg.cholesky(S_oo)
    y = np.linalg.solve(L, d)
    return -0.5 * (o.sum() * np.log(2 * np.pi) + 2 * np.sum(np.log(np.diag(L))) + y @ y)


def _conditional(x, o, mean, S):
    """(x_hat (D,), C (D, D)): x completed by its conditional mean, the conditional covariance."""
    m = ~o
    x_hat = np.where(o, x, 0.0)
    C = np.zeros_like(S)
    if not m.any():
        return x_hat, C
    if not o.any():
        return mean.copy(), S.copy()
    B = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
    x_hat[m] = mean[m] + B @ (x[o] - mean[o])
    C[np.ix_(m, m)] = S[np.ix_(m, m)] - B @ S[np.ix_(o, m)]
    return x_hat, C


def estimate_missing(X, weights, means, covs):
    """(resp (N, K), row log-likelihoods (N,)) from the observed part of each row."""
    X = np.asarray(X, dtype=np.float64)
    N, K = X.shape[0], len(weights)
    lp = np.empty((N, K))
    for i in range(N):
        o = ~np.isnan(X[i])
        for k in range(K):
            lp[i, k] = np.log(weights[k]) + _log_marginal(X[i], o, means[k], covs[k])
    mx = lp.max(axis=1, keepdims=True)
    row_ll = (mx + np.log(np.exp(lp - mx).sum(axis=1, keepdims=True)))[:, 0]
    return np.exp(lp - row_ll[:, None]), row_ll


def em_step_missing(X, weights, means, cov, cov_type, reg_covar, sample_weight=None, eps=None, constrain=None):
    """One exact EM iteration on X with NaNs: ((weights, means, covariances), lower bound).

    ``cov`` is in the shape of ``covariance_type``; so are the new covariances.
    The lower bound is the weighted mean log-likelihood under the old parameters.
    ``constrain(scatter, nk_eps, cov)``: a constrained covariance model's
    M-step from the full (K, D, D) scatter about the new means (``cov``: the
    previous covariances, a warm start), giving covariances in
    ``covariance_type``'s shape (before ``reg_covar``).
    """
    X = np.asarray(X, dtype=np.float64)
    N, D = X.shape
    K = len(weights)
    eps = np.finfo(np.float64).eps if eps is None else eps
    sw = np.ones(N) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    covs = full_covariances(cov, cov_type, K, D)
    resp, row_ll = estimate_missing(X, weights, means, covs)
    nk = np.zeros(K)
    s1 = np.zeros((K, D))
    s2 = np.zeros((K, D, D))
    for i in range(N):
        o = ~np.isnan(X[i])
        for k in range(K):
            r = sw[i] * resp[i, k]
            x_hat, C = _conditional(X[i], o, means[k], covs[k])
            nk[k] += r
            s1[k] += r * x_hat
            s2[k] += r * (np.outer(x_hat, x_hat) + C)
    nk_eps = nk + 10 * eps
    new_means = s1 / nk_eps[:, None]
    scatter = np.stack([s2[k] - np.outer(new_means[k], s1[k]) - np.outer(s1[k], new_means[k])
                        + nk[k] * np.outer(new_means[k], new_means[k]) for k in range(K)])
    eye = np.eye(D)
    if constrain is not None:
        new_cov = constrain(scatter, nk_eps, cov)
        new_cov = new_cov + (reg_covar * eye if cov_type in ("full", "tied") else reg_covar)
    elif cov_type == "full":
        new_cov = scatter / nk_eps[:, None, None] + reg_covar * eye
    elif cov_type == "tied":
        new_cov = scatter.sum(axis=0) / nk_eps.sum() + reg_covar * eye
    else:
        var = np.stack([np.diag(s) for s in scatter]) / nk_eps[:, None]
        var = var + new_means ** 2 * (10 * np.finfo(np.float64).eps / nk_eps)[:, None]
        new_cov = var + reg_covar if cov_type == "diag" else var.mean(axis=1) + reg_covar
    keep = sw > 0
    lower_bound = float(np.dot(sw[keep], row_ll[keep]) / sw.sum())
    return (nk_eps / nk_eps.sum(), new_means, new_cov), lower_bound


def impute_missing(X, weights, means, cov, cov_type):
    """X with each NaN replaced by sum_k r_k E[x_m | x_o, k]."""
    X = np.asarray(X, dtype=np.float64)
    K, D = np.shape(means)
    covs = full_covariances(cov, cov_type, K, D)
    resp, _ = estimate_missing(X, weights, means, covs)
    out = X.copy()
    for i in range(X.shape[0]):
        o = ~np.isnan(X[i])
        fill = sum(resp[i, k] * _conditional(X[i], o, means[k], covs[k])[0] for k in range(K))
        out[i, ~o] = fill[~o]
    return out
