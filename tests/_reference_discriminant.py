"""Plain NumPy/SciPy references for mixture discriminant analysis, classification uncertainty and the LRT.

Written to be obviously right, not fast: every density is
``scipy.stats.multivariate_normal.logpdf`` with the full covariance matrix
spelled out from the covariance type, every sum over components or classes a
``scipy.special.logsumexp``.
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal


def full_covariance(covariances, covariance_type, k, n_features):
    """The (D, D) covariance of component k of a fitted GaussianMixture's ``covariances_``."""
    c = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return c[k]
    if covariance_type == "tied":
        return c
    if covariance_type == "diag":
        return np.diag(c[k])
    if covariance_type == "spherical":
        return np.eye(n_features) * c[k]
    raise ValueError(covariance_type)


def component_log_densities(X, weights, means, covariances, covariance_type):
    """(N, K): log w_k + log N(x; mu_k, Sigma_k)."""
    X = np.asarray(X, dtype=np.float64)
    D = X.shape[1]
    return np.column_stack([
        np.log(weights[k]) + multivariate_normal(np.asarray(means[k], dtype=np.float64),
                                                 full_covariance(covariances, covariance_type, k, D)).logpdf(X)
        .reshape(-1)
        for k in range(len(weights))])


def mixture_log_density(X, gm):
    """(N,): log of the mixture density of a fitted GaussianMixture ``gm``."""
    return logsumexp(component_log_densities(X, gm.weights_, gm.means_, gm.covariances_, gm.covariance_type), axis=1)


def posteriors(X, gm):
    """(N, K): P(k | x) under a fitted GaussianMixture."""
    lp = component_log_densities(X, gm.weights_, gm.means_, gm.covariances_, gm.covariance_type)
    return np.exp(lp - logsumexp(lp, axis=1, keepdims=True))


def uncertainty(X, gm):
    """(N,): 1 - max_k P(k | x), as the sum of the other posteriors computed in log space (no cancellation)."""
    lp = component_log_densities(X, gm.weights_, gm.means_, gm.covariances_, gm.covariance_type)
    top = np.argmax(lp, axis=1)
    others = lp.copy()
    others[np.arange(len(top)), top] = -np.inf
    return np.exp(logsumexp(others, axis=1) - logsumexp(lp, axis=1))


def class_posteriors(X, class_mixtures, priors):
    """(N, C): P(c | x) = pi_c f_c(x) / sum_j pi_j f_j(x), f_c the mixture density of ``class_mixtures[c]``."""
    lj = np.column_stack([np.log(p) + mixture_log_density(X, gm) for gm, p in zip(class_mixtures, priors)])
    return np.exp(lj - logsumexp(lj, axis=1, keepdims=True))


def edda_parameters(X, codes, covariance_type, reg_covar, sample_weight=None):
    """EDDA's M-step on the class labels: (proportions, means, covariances as GaussianMixture holds them)."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    C, D = codes.max() + 1, X.shape[1]
    nk = np.array([w[codes == c].sum() for c in range(C)])
    means = np.array([np.average(X[codes == c], axis=0, weights=w[codes == c]) for c in range(C)])
    scatter = [((X[codes == c] - means[c]) * w[codes == c, None]).T @ (X[codes == c] - means[c]) for c in range(C)]
    if covariance_type == "full":
        cov = np.array([S / nk[c] + reg_covar * np.eye(D) for c, S in enumerate(scatter)])
    elif covariance_type == "tied":
        cov = sum(scatter) / nk.sum() + reg_covar * np.eye(D)
    elif covariance_type == "diag":
        cov = np.array([np.diag(S) / nk[c] + reg_covar for c, S in enumerate(scatter)])
    else:
        cov = np.array([np.trace(S) / nk[c] / D + reg_covar for c, S in enumerate(scatter)])
    return nk / nk.sum(), means, cov


def edda_posteriors(X, priors, means, covariances, covariance_type):
    lp = component_log_densities(X, priors, means, covariances, covariance_type)
    return np.exp(lp - logsumexp(lp, axis=1, keepdims=True))


def bootstrap_p_value(observed, bootstrap):
    """mclust's p-value: the observed statistic counted as one of the B + 1."""
    bootstrap = np.asarray(bootstrap)
    return (1 + np.sum(bootstrap >= observed)) / (len(bootstrap) + 1)
