"""Row-by-row NumPy reference of exact EM for Student-t mixtures with missing values.

Written to be obviously right, not fast: Python loops over the rows and the
components, every matrix taken by index from the full D x D scale matrix,
nothing shared with fastgmm. For a row with observed coordinates o (non-NaN)
and missing ones m, under component k with (mu, Sigma, nu):

* E-step: x_o follows the t in D_o = |o| dimensions with (mu_o, Sigma_oo, nu);
  delta_o is the Mahalanobis distance of x_o, and the latent scale u given
  x_o is Gamma((nu + D_o) / 2, rate (nu + delta_o) / 2), so
  E[u] = (nu + D_o) / (nu + delta_o) and
  E[log u] = digamma((nu + D_o) / 2) - log((nu + delta_o) / 2).
* Given u, x_m is Gaussian with mean x_hat_m = mu_m + Sigma_mo Sigma_oo^-1
  (x_o - mu_o) (not depending on u) and covariance C / u,
  C = Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om. So E[u x] = E[u] x_hat and
  E[u x x^T] = E[u] x_hat x_hat^T + C (the u cancels in C's term).
* M-step (Peel & McLachlan with these expectations): weights_k = n_k / n,
  mu_k = sum w r E[u] x_hat / sum w r E[u],
  Sigma_k = sum w r (E[u] (x_hat - mu_k)(x_hat - mu_k)^T + C) / n_k
  (+ reg_covar; diag: the diagonal, spherical: its mean), and nu_k the root
  of 1 - digamma(nu / 2) + log(nu / 2) + sum w r (E[log u] - E[u]) / n_k = 0
  within the bounds.
"""

import numpy as np
from scipy import optimize, special


def full_scales(cov, cov_type, n_components, n_features):
    """Every component's scale matrix as a (K, D, D) array."""
    cov = np.asarray(cov, dtype=np.float64)
    if cov_type == "full":
        return cov.copy()
    if cov_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(n_features) * c for c in cov])


def log_t_marginal(x, o, mean, S, nu):
    """(log t_{D_o}(x_o | mean_o, S_oo, nu), delta_o); (0, 0) when nothing is observed."""
    d_o = int(o.sum())
    if d_o == 0:
        return 0.0, 0.0
    diff = x[o] - mean[o]
    S_oo = S[np.ix_(o, o)]
    delta = float(diff @ np.linalg.solve(S_oo, diff))
    _, logdet = np.linalg.slogdet(S_oo)
    log_p = (special.gammaln((nu + d_o) / 2) - special.gammaln(nu / 2) - d_o / 2 * np.log(nu * np.pi)
             - logdet / 2 - (nu + d_o) / 2 * np.log1p(delta / nu))
    return float(log_p), delta


def conditional(x, o, mean, S):
    """(x_hat (D,), C (D, D)): x with its missing part replaced by its conditional mean given x_o,
    and the conditional covariance of the missing part (zero elsewhere)."""
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


def e_step(X, weights, means, scales, dof):
    """(row log-likelihoods (N,), resp (N, K), E[u] (N, K), E[log u] (N, K)) from each row's observed part."""
    X = np.asarray(X, dtype=np.float64)
    N, K = X.shape[0], len(weights)
    lp = np.empty((N, K))
    eu = np.empty((N, K))
    elogu = np.empty((N, K))
    for i in range(N):
        o = ~np.isnan(X[i])
        d_o = int(o.sum())
        for k in range(K):
            log_t, delta = log_t_marginal(X[i], o, means[k], scales[k], dof[k])
            lp[i, k] = np.log(weights[k]) + log_t
            eu[i, k] = (dof[k] + d_o) / (dof[k] + delta)
            elogu[i, k] = special.digamma((dof[k] + d_o) / 2) - np.log((dof[k] + delta) / 2)
    row_ll = special.logsumexp(lp, axis=1)
    return row_ll, np.exp(lp - row_ll[:, None]), eu, elogu


def sums(X, weights, means, cov, cov_type, dof, sample_weight=None):
    """The expected sufficient sums of one E-step, about the origin.

    Returns a dict: ``nk`` sum w r, ``su`` sum w r E[u], ``s1`` (K, D)
    sum w r E[u] x_hat, ``s2`` (K, D, D) sum w r (E[u] x_hat x_hat^T + C),
    ``sc`` (K, D, D) sum w r C alone, ``h`` sum w r (E[log u] - E[u]),
    ``loglik`` sum w log p(x_o).
    """
    X = np.asarray(X, dtype=np.float64)
    N, D = X.shape
    K = len(weights)
    sw = np.ones(N) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    scales = full_scales(cov, cov_type, K, D)
    row_ll, resp, eu, elogu = e_step(X, weights, means, scales, dof)
    out = {"nk": np.zeros(K), "su": np.zeros(K), "s1": np.zeros((K, D)), "s2": np.zeros((K, D, D)),
           "sc": np.zeros((K, D, D)), "h": np.zeros(K)}
    for i in range(N):
        o = ~np.isnan(X[i])
        for k in range(K):
            r = sw[i] * resp[i, k]
            x_hat, C = conditional(X[i], o, means[k], scales[k])
            out["nk"][k] += r
            out["su"][k] += r * eu[i, k]
            out["s1"][k] += r * eu[i, k] * x_hat
            out["s2"][k] += r * (eu[i, k] * np.outer(x_hat, x_hat) + C)
            out["sc"][k] += r * C
            out["h"][k] += r * (elogu[i, k] - eu[i, k])
    keep = sw > 0
    out["loglik"] = float(np.dot(sw[keep], row_ll[keep]))
    out["weight"] = float(sw.sum())
    return out


def dof_root(mean_elogu_minus_eu, bounds):
    """The root in ``bounds`` of 1 - digamma(nu/2) + log(nu/2) + mean_elogu_minus_eu (a bound when outside)."""
    def f(nu):
        return 1 - special.digamma(nu / 2) + np.log(nu / 2) + mean_elogu_minus_eu

    low, high = bounds
    if f(low) <= 0:
        return low
    if f(high) >= 0:
        return high
    return optimize.brentq(f, low, high, xtol=1e-13, rtol=1e-15)


def em_step(X, weights, means, cov, cov_type, dof, reg_covar, *, fix_dof=False, dof_bounds=(0.1, 1000.0),
            sample_weight=None):
    """One exact EM iteration: ((weights, means, covariances, dof), lower bound).

    The covariances are in the shape of ``cov_type``; the lower bound is the
    weighted mean log-likelihood under the old parameters.
    """
    X = np.asarray(X, dtype=np.float64)
    N, D = X.shape
    K = len(weights)
    sw = np.ones(N) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    s = sums(X, weights, means, cov, cov_type, dof, sample_weight)
    new_w = s["nk"] / s["nk"].sum()
    new_m = s["s1"] / s["su"][:, None]
    # The scatter about the new means, row by row: sum w r (E[u] (x_hat - mu)(x_hat - mu)^T + C) / n_k.
    scales = full_scales(cov, cov_type, K, D)
    _, resp, eu, _ = e_step(X, weights, means, scales, dof)
    scatter = np.zeros((K, D, D))
    for i in range(N):
        o = ~np.isnan(X[i])
        for k in range(K):
            x_hat, C = conditional(X[i], o, means[k], scales[k])
            diff = x_hat - new_m[k]
            scatter[k] += sw[i] * resp[i, k] * (eu[i, k] * np.outer(diff, diff) + C)
    scatter /= s["nk"][:, None, None]
    if cov_type == "full":
        new_c = scatter + reg_covar * np.eye(D)
    elif cov_type == "diag":
        new_c = np.array([np.diag(S) for S in scatter]) + reg_covar
    else:
        new_c = np.array([np.trace(S) / D for S in scatter]) + reg_covar
    new_dof = np.array(dof, dtype=np.float64)
    if not fix_dof:
        new_dof = np.array([dof_root(s["h"][k] / s["nk"][k], dof_bounds) for k in range(K)])
    return (new_w, new_m, new_c, new_dof), s["loglik"] / s["weight"]


def fit(X, weights, means, cov, cov_type, dof, n_iter, reg_covar, **kw):
    """``n_iter`` EM iterations: ((weights, means, covariances, dof), lower bounds)."""
    params = (np.asarray(weights, float), np.asarray(means, float), np.asarray(cov, float), np.asarray(dof, float))
    bounds = []
    for _ in range(n_iter):
        w, m, c, nu = params
        params, lb = em_step(X, w, m, c, cov_type, nu, reg_covar, **kw)
        bounds.append(lb)
    return params, bounds
