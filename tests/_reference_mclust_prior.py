"""Plain references for mclust's conjugate-prior M-steps: maximise the objective numerically with scipy.

Two objectives, both written from the definitions and evaluated one component and one row at a time:

- ``joint_objective``: the expected complete-data log-likelihood plus the log prior density of Fraley & Raftery
  (2007) -- each mean normal about the prior mean with covariance ``Sigma_k / kappa``; an inverse-Wishart
  ``IW(nu, Lambda)`` on each full covariance, an inverse-gamma ``IG(nu / 2, Lambda / 2)`` on each variance --
  over the means and the covariances together. VII, VVI, EEE, VVV and mclust's univariate E and V are the
  modes of this; EII too, with the inverse-gamma's scale 0 (mclust leaves it out).
- ``profile_objective``: ``-1/2 sum_k [m_k log|Sigma_k| + tr(B_k Sigma_k^-1)]`` with
  ``B_k = Lambda + W_k + c_k (xbar_k - mu_p)(xbar_k - mu_p)^T`` built from the rows, and mclust's counts
  ``m_k`` (``COUNTS``) -- what its EEI, VEI, EVI, EEV and VEV covariances maximise.

Covariances are parametrised without constraints (log variances, log volume and log shape with the shape's
determinant fixed at 1, orientations as the Cayley transform of a skew-symmetric matrix, Cholesky factors with a log
diagonal) and the objective is maximised by BFGS.
"""

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats


def statistics(X, resp, sample_weight=None):
    """``n_k``, ``xbar_k`` and the full scatter ``W_k`` (K, D, D), row by row."""
    N, D = X.shape
    K = resp.shape[1]
    w = np.ones(N) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    nk = np.zeros(K)
    xbar = np.zeros((K, D))
    W = np.zeros((K, D, D))
    for k in range(K):
        for i in range(N):
            nk[k] += w[i] * resp[i, k]
            xbar[k] += w[i] * resp[i, k] * X[i]
        xbar[k] /= nk[k]
        for i in range(N):
            d = X[i] - xbar[k]
            W[k] += w[i] * resp[i, k] * np.outer(d, d)
    return nk, xbar, W


def in_layout(W, layout):
    """The full scatters (K, D, D) in the shape ``map_m_step`` takes for ``layout``."""
    return {"full": W, "tied": W.sum(axis=0), "diag": np.diagonal(W, axis1=1, axis2=2).copy(),
            "spherical": np.trace(W, axis1=1, axis2=2)}[layout]


def as_full(cov, layout, K, D):
    """Covariances of any layout as (K, D, D) matrices."""
    cov = np.asarray(cov)
    if layout == "full":
        return cov
    if layout == "tied":
        return np.array([cov] * K)
    if layout == "diag":
        return np.array([np.diag(c) for c in cov])
    return np.array([c * np.eye(D) for c in cov])


# ---------------------------------------------------------------------------
# Covariance parametrisations
# ---------------------------------------------------------------------------

def _shape(free):
    """A positive diagonal with determinant 1 from D - 1 free log values."""
    logs = np.append(free, -np.sum(free))
    return np.exp(logs)


def _rotation(free, D):
    """The Cayley transform of a skew-symmetric matrix: every rotation without the eigenvalue -1."""
    S = np.zeros((D, D))
    S[np.triu_indices(D, 1)] = free
    S = S - S.T
    return np.linalg.solve(np.eye(D) - S, np.eye(D) + S)


def _cholesky_cov(free, D):
    L = np.zeros((D, D))
    L[np.tril_indices(D)] = free
    L[np.diag_indices(D)] = np.exp(np.diag(L))
    return L @ L.T


def n_free(model, K, D):
    """How many free numbers ``covariances(model, theta, K, D)`` reads."""
    rot, tri = D * (D - 1) // 2, D * (D + 1) // 2
    return {"EII": 1, "VII": K, "EEI": D, "VVI": K * D, "VEI": K + D - 1, "EVI": 1 + K * (D - 1),
            "EEE": tri, "VVV": K * tri, "EEV": 1 + D - 1 + K * rot, "VEV": K + D - 1 + K * rot}[model]


def covariances(model, theta, K, D):
    """(K, D, D) covariances of ``model`` from unconstrained parameters ``theta``."""
    rot, tri = D * (D - 1) // 2, D * (D + 1) // 2
    eye = np.eye(D)
    if model == "EII":
        return np.array([np.exp(theta[0]) * eye] * K)
    if model == "VII":
        return np.array([np.exp(t) * eye for t in theta[:K]])
    if model == "EEI":
        return np.array([np.diag(np.exp(theta[:D]))] * K)
    if model == "VVI":
        return np.array([np.diag(np.exp(theta[k * D:(k + 1) * D])) for k in range(K)])
    if model == "VEI":
        A = np.diag(_shape(theta[K:K + D - 1]))
        return np.array([np.exp(theta[k]) * A for k in range(K)])
    if model == "EVI":
        return np.array([np.exp(theta[0]) * np.diag(_shape(theta[1 + k * (D - 1):1 + (k + 1) * (D - 1)]))
                         for k in range(K)])
    if model == "EEE":
        return np.array([_cholesky_cov(theta[:tri], D)] * K)
    if model == "VVV":
        return np.array([_cholesky_cov(theta[k * tri:(k + 1) * tri], D) for k in range(K)])
    n_volumes = 1 if model == "EEV" else K
    A = np.diag(_shape(theta[n_volumes:n_volumes + D - 1]))
    first = n_volumes + D - 1
    out = []
    for k in range(K):
        O = _rotation(theta[first + k * rot:first + (k + 1) * rot], D)
        out.append(np.exp(theta[0 if model == "EEV" else k]) * O @ A @ O.T)
    return np.array(out)


# ---------------------------------------------------------------------------
# The joint objective: expected complete-data log-likelihood plus the log prior density
# ---------------------------------------------------------------------------

def _log_inverse_gamma(v, dof, scale):
    """log IG(v | dof / 2, scale / 2); with scale 0 the kernel only (mclust's EII)."""
    if scale == 0:
        return -(dof / 2 + 1) * np.log(v)
    a, b = dof / 2, scale / 2
    return a * np.log(b) - scipy.special.gammaln(a) - (a + 1) * np.log(v) - b / v


def log_prior_density(model, means, covs, prior):
    """Fraley & Raftery (2007)'s conjugate prior for ``model`` (one of the six that are its exact modes)."""
    K, D = means.shape
    out = 0.0
    for k in range(K):
        out += scipy.stats.multivariate_normal.logpdf(means[k], prior.mean, covs[k] / prior.shrinkage)
    if model in ("EEE", "VVV"):
        scale = np.atleast_2d(prior.scale)
        for k in range(1 if model == "EEE" else K):
            out += scipy.stats.invwishart.logpdf(covs[k], df=prior.dof, scale=scale) if D > 1 else \
                _log_inverse_gamma(covs[k][0, 0], prior.dof, float(prior.scale))
    elif model in ("VII", "EII"):
        scale = 0.0 if model == "EII" else prior.scale
        for k in range(1 if model == "EII" else K):
            out += _log_inverse_gamma(covs[k][0, 0], prior.dof, scale)
    elif model == "VVI":
        for k in range(K):
            for j in range(D):
                out += _log_inverse_gamma(covs[k][j, j], prior.dof, prior.scale)
    else:
        raise ValueError(f"{model}'s mclust M-step is not the mode of this prior: use profile_objective")
    return out


def joint_objective(model, means, covs, X, resp, prior, sample_weight=None):
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    total = log_prior_density(model, means, covs, prior)
    for k in range(means.shape[0]):
        total += np.sum(w * resp[:, k] * scipy.stats.multivariate_normal.logpdf(X, means[k], covs[k]))
    return total


def joint_map(model, X, resp, prior, sample_weight=None):
    """The means and (K, D, D) covariances maximising ``joint_objective``, by BFGS."""
    K, D = resp.shape[1], X.shape[1]
    start = np.concatenate([np.tile(np.mean(X, axis=0), K), np.zeros(n_free(model, K, D))])

    def loss(theta):
        means = theta[:K * D].reshape(K, D)
        return -joint_objective(model, means, covariances(model, theta[K * D:], K, D), X, resp, prior,
                                sample_weight)

    best = scipy.optimize.minimize(loss, start, method="BFGS", options={"gtol": 1e-9, "maxiter": 20000})
    return best.x[:K * D].reshape(K, D), covariances(model, best.x[K * D:], K, D)


# ---------------------------------------------------------------------------
# The profile objective with mclust's counts
# ---------------------------------------------------------------------------

def counts(model, nk, D, prior):
    """mclust's EM counts ``m_k`` (K,) for the models that are not the joint mode (multivariate, K > 1)."""
    nu, s = prior.dof, float(prior.shrinkage > 0)
    K, N = nk.size, np.sum(nk)
    per_total = {"EEI": nu + N + 1 + s, "EVI": nu + N + 1 + s, "EEV": nu + N + D + 1 + s}
    if model in per_total:
        return np.full(K, per_total[model] / K)          # only the sum matters: the volume is shared
    return {"VEI": (nu + nk * D + 2 + s) / D, "VEV": nk}[model]


def posterior_scatter(model, X, resp, prior, sample_weight=None):
    """``B_k`` (K, D, D) from the rows: the prior scale (once for EEI), the scatter, the shrinkage term."""
    nk, xbar, W = statistics(X, resp, sample_weight)
    K, D = xbar.shape
    B = W.copy()
    for k in range(K):
        d = xbar[k] - prior.mean
        B[k] += prior.shrinkage * nk[k] / (prior.shrinkage + nk[k]) * np.outer(d, d)
        if model != "EEI" or k == 0:
            B[k] += prior.scale * np.eye(D) if np.ndim(prior.scale) == 0 else prior.scale
    return nk, B


def profile_objective(model, covs, nk, B, prior):
    m = counts(model, nk, B.shape[1], prior)
    total = 0.0
    for k in range(B.shape[0]):
        total -= 0.5 * (m[k] * np.linalg.slogdet(covs[k])[1] + np.trace(np.linalg.solve(covs[k], B[k])))
    return total


def profile_map(model, X, resp, prior, sample_weight=None, n_starts=4):
    """The (K, D, D) covariances maximising ``profile_objective``: the best of BFGS from a few random starts
    (an orientation can stall where the Cayley transform cannot reach a rotation)."""
    nk, B = posterior_scatter(model, X, resp, prior, sample_weight)
    K, D = B.shape[0], B.shape[1]

    def loss(theta):
        return -profile_objective(model, covariances(model, theta, K, D), nk, B, prior)

    rng = np.random.default_rng(0)
    runs = [scipy.optimize.minimize(loss, rng.normal(scale=0.3, size=n_free(model, K, D)), method="BFGS",
                                    options={"gtol": 1e-10, "maxiter": 50000}) for _ in range(n_starts)]
    return covariances(model, min(runs, key=lambda r: r.fun).x, K, D)
