"""Plain NumPy EM for the Student-t mixture, written to be obviously right.

The tests check the compiled kernel and the estimator against it (Peel &
McLachlan 2000): the densities from a Cholesky factor of each scale matrix,
the E-step with an N x K matrix of everything, the M-step from its
definitions, the degrees of freedom by brentq on their equation. Nothing
here is fast or memory-frugal, on purpose; it does not share code with the
estimator beyond numpy and scipy.
"""

import numpy as np
from scipy import linalg, optimize, special


def scale_matrices(covariances, covariance_type, n_features):
    """Each component's D x D scale matrix from the 'full', 'diag' or 'spherical' parameters."""
    cov = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return cov
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([c * np.eye(n_features) for c in cov])


def log_t_density(X, mean, scale, nu):
    """(log t(x_i | mean, scale, nu), Mahalanobis distance delta_i) for every row."""
    D = X.shape[1]
    L = linalg.cholesky(scale, lower=True)
    sol = linalg.solve_triangular(L, (X - mean).T, lower=True)
    delta = np.sum(sol ** 2, axis=0)
    log_det = 2 * np.sum(np.log(np.diag(L)))
    log_p = (special.gammaln((nu + D) / 2) - special.gammaln(nu / 2) - D / 2 * np.log(nu * np.pi)
             - log_det / 2 - (nu + D) / 2 * np.log1p(delta / nu))
    return log_p, delta


def e_step(X, weights, means, covariances, dof, covariance_type):
    """(row log-likelihoods (N,), responsibilities (N, K), scale weights u (N, K))."""
    X = np.asarray(X, dtype=np.float64)
    N, D = X.shape
    scales = scale_matrices(covariances, covariance_type, D)
    K = len(weights)
    log_p = np.empty((N, K))
    u = np.empty((N, K))
    for k in range(K):
        lp, delta = log_t_density(X, means[k], scales[k], dof[k])
        with np.errstate(divide="ignore"):
            log_p[:, k] = np.log(weights[k]) + lp
        u[:, k] = (dof[k] + D) / (dof[k] + delta)
    row_ll = special.logsumexp(log_p, axis=1)
    resp = np.exp(log_p - row_ll[:, None])
    return row_ll, resp, u


def dof_update(nu_old, resp_k, u_k, n_features, bounds):
    """The root in ``bounds`` of Peel & McLachlan's eq. 30 (a bound when the root is outside)."""
    c = (np.sum(resp_k * (np.log(u_k) - u_k)) / np.sum(resp_k)
         + special.digamma((nu_old + n_features) / 2) - np.log((nu_old + n_features) / 2))

    def f(nu):
        return 1 - special.digamma(nu / 2) + np.log(nu / 2) + c

    low, high = bounds
    if f(low) <= 0:
        return low
    if f(high) >= 0:
        return high
    return optimize.brentq(f, low, high, xtol=1e-13, rtol=1e-15)


def m_step(X, resp, u, dof, covariance_type, reg_covar, fix_dof, dof_bounds, sample_weight=None):
    """(weights, means, covariances, dof) from the E-step's responsibilities and scale weights."""
    X = np.asarray(X, dtype=np.float64)
    N, D = X.shape
    sw = np.ones(N) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    wr = sw[:, None] * resp
    nk = wr.sum(axis=0)
    weights = nk / nk.sum()
    wru = wr * u
    means = (wru.T @ X) / wru.sum(axis=0)[:, None]
    K = len(nk)
    covs = []
    for k in range(K):
        diff = X - means[k]
        S = (wru[:, k, None] * diff).T @ diff / nk[k]
        if covariance_type == "full":
            covs.append(S + reg_covar * np.eye(D))
        elif covariance_type == "diag":
            covs.append(np.diag(S) + reg_covar)
        else:
            covs.append(np.trace(S) / D + reg_covar)
    new_dof = np.array(dof, dtype=np.float64)
    if not fix_dof:
        for k in range(K):
            # resp weighted by the sample weights: rows count as w_i copies
            new_dof[k] = dof_update(dof[k], wr[:, k], u[:, k], D, dof_bounds)
    return weights, means, np.array(covs), new_dof


def fit_em(X, weights, means, covariances, dof, covariance_type, n_iter, *, reg_covar=1e-6, fix_dof=False,
           dof_bounds=(0.1, 1000.0), sample_weight=None):
    """``n_iter`` EM iterations from the given parameters.

    Returns
    -------
    (weights, means, covariances, dof), lower_bounds
        The parameters after the last M-step, and each iteration's weighted
        mean log-likelihood under the parameters before its M-step.
    """
    X = np.asarray(X, dtype=np.float64)
    sw = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    params = (np.asarray(weights, float), np.asarray(means, float), np.asarray(covariances, float),
              np.asarray(dof, float))
    bounds = []
    for _ in range(n_iter):
        row_ll, resp, u = e_step(X, *params, covariance_type)
        bounds.append(float(np.sum(sw * row_ll) / np.sum(sw)))
        params = m_step(X, resp, u, params[3], covariance_type, reg_covar, fix_dof, dof_bounds,
                        sample_weight=sample_weight)
    return params, bounds
