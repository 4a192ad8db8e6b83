"""Plain NumPy/SciPy reference of EM with a noise component (R mclust's ``Vinv``), written to be obviously right.

The mixture is K Gaussians plus a uniform density 1/V with proportion pi_0:

    p(x) = pi_0 / V + sum_k w_k N(x | mu_k, Sigma_k),   pi_0 + sum_k w_k = 1.

E-step: r_i0 = (pi_0 / V) / p(x_i), r_ik = w_k N(x_i | mu_k, Sigma_k) / p(x_i),
row by row with SciPy's log-densities. M-step, with sample weights s_i:
n_k = sum_i s_i r_ik, w_k = n_k / sum_i s_i, pi_0 = n_0 / sum_i s_i; the
means and scatters use the Gaussian responsibilities only:
W_k = sum_i s_i r_ik (x_i - mu_k)(x_i - mu_k)^T, and the covariances are
the covariance model's maximum-likelihood ones from the W_k (each written
out below), plus ``reg_covar`` on the diagonal. Covariances are carried as
full (K, D, D) matrices for every model.
"""

import numpy as np
from scipy.stats import multivariate_normal

__all__ = ["hypvol_reference", "em_step_noise", "covariances_from_scatter"]


def hypvol_reference(X):
    """mclust's hypvol by its definition: min(volume of the columns' box, volume of the principal scores' box).

    The principal axes from an SVD of the centred data (not the covariance's eigenvectors, as the package does).
    """
    X = np.asarray(X, dtype=np.float64)
    box = np.prod(X.max(axis=0) - X.min(axis=0))
    if X.shape[1] == 1:
        return box
    Z = X - X.mean(axis=0)
    scores = Z @ np.linalg.svd(Z, full_matrices=False)[2].T
    return min(box, np.prod(scores.max(axis=0) - scores.min(axis=0)))


def covariances_from_scatter(model, W, nk):
    """The ML covariances (K, D, D) of ``model`` from the scatters W (K, D, D) and weights n_k (K,)."""
    K, D = W.shape[0], W.shape[1]
    n = nk.sum()
    if model in ("full", "VVV"):
        return np.stack([W[k] / nk[k] for k in range(K)])
    if model in ("tied", "EEE"):
        return np.repeat((W.sum(axis=0) / n)[None], K, axis=0)
    if model in ("diag", "VVI"):
        return np.stack([np.diag(np.diag(W[k]) / nk[k]) for k in range(K)])
    if model in ("spherical", "VII"):
        return np.stack([np.eye(D) * np.trace(W[k]) / (D * nk[k]) for k in range(K)])
    if model == "EII":
        return np.repeat((np.eye(D) * sum(np.trace(W[k]) for k in range(K)) / (D * n))[None], K, axis=0)
    if model == "EEV":
        # Sigma_k = lambda D_k A D_k^T: D_k the eigenvectors of W_k, A and lambda from the summed eigenvalues.
        vals, vecs = zip(*(np.linalg.eigh(W[k]) for k in range(K)))
        omega = np.sum(vals, axis=0)
        lam = np.prod(omega) ** (1.0 / D) / n
        A = omega / np.prod(omega) ** (1.0 / D)
        return np.stack([lam * vecs[k] @ np.diag(A) @ vecs[k].T for k in range(K)])
    raise ValueError(model)


def em_step_noise(X, sample_weight, weights, means, covariances, noise_weight, volume, model, reg_covar):
    """One EM step: (weights, means, covariances (K, D, D), noise_weight, loglik, resp (N, K + 1)).

    ``loglik`` is sum_i s_i log p(x_i) under the given parameters (before the step).
    """
    X = np.asarray(X, dtype=np.float64)
    N, D = X.shape
    K = len(weights)
    s = np.ones(N) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    log_p = np.empty((N, K + 1))
    for i in range(N):
        for k in range(K):
            log_p[i, k] = np.log(weights[k]) + multivariate_normal.logpdf(X[i], means[k], covariances[k])
        log_p[i, K] = np.log(noise_weight) - np.log(volume)
    top = log_p.max(axis=1, keepdims=True)
    row_ll = top[:, 0] + np.log(np.exp(log_p - top).sum(axis=1))
    resp = np.exp(log_p - row_ll[:, None])
    loglik = float(np.sum(s * row_ll))
    nk_all = (s[:, None] * resp).sum(axis=0)
    total = s.sum()
    nk = nk_all[:K]
    new_means = np.stack([(s * resp[:, k]) @ X / nk[k] for k in range(K)])
    W = np.zeros((K, D, D))
    for k in range(K):
        for i in range(N):
            d = X[i] - new_means[k]
            W[k] += s[i] * resp[i, k] * np.outer(d, d)
    cov = covariances_from_scatter(model, W, nk) + reg_covar * np.eye(D)
    return nk / total, new_means, cov, nk_all[K] / total, loglik, resp
