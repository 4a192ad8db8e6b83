"""An obviously-right reference for mclust's constrained M-steps: maximise the expected complete-data
log-likelihood numerically over each model's own parameters.

For weights n_k and scatters W_k the M-step's covariances maximise

    Q(Sigma) = sum_k [ -n_k / 2 log det Sigma_k - 1/2 tr(W_k Sigma_k^-1) ]

over Sigma_k = lambda_k D_k A_k D_k^T with the parts shared as the model's letters say (volume, shape,
orientation; E = one for all components, V = one per component, I = identity). Here each part is written
without constraints: log-volumes; log-shapes as D - 1 free numbers with the last one making the sum 0
(determinant 1); orientations as the Cayley transform (I - S)^-1 (I + S) of a skew-symmetric S (its
D (D - 1) / 2 upper entries; every rotation without an eigenvalue -1, and a column's sign does not change
D A D^T, so that leaves out no covariance that matters). BFGS with central-difference gradients maximises Q from several starts (one from the
eigen-decompositions of the scatters, the rest random with a fixed seed) and keeps the best.
"""

import numpy as np
from scipy import optimize


def expected_loglik(nk, W, sigma):
    """Q for full scatters W (K, D, D) and covariances sigma (K, D, D)."""
    sign, logdet = np.linalg.slogdet(sigma)
    if np.any(sign <= 0):
        return -np.inf
    return float(np.sum(-0.5 * nk * logdet - 0.5 * np.trace(np.linalg.solve(sigma, W), axis1=1, axis2=2)))


def cayley(S):
    """The rotation (I - S)^-1 (I + S) of skew-symmetric matrices S (..., D, D)."""
    eye = np.eye(S.shape[-1])
    return np.linalg.solve(eye - S, eye + S)


def inverse_cayley(R):
    """The skew-symmetric S with cayley(S) = R (R a rotation without eigenvalue -1)."""
    eye = np.eye(R.shape[-1])
    return np.linalg.solve((R + eye).T, (R - eye).T).T


def _counts(model, K, D):
    count = {"I": 0, "E": 1, "V": K}
    return (count["V" if model[0] == "V" else "E"] * 1, count[model[1]] * (D - 1),
            count[model[2]] * (D * (D - 1) // 2))


def covariances_from(theta, model, K, D):
    """Sigma (K, D, D) from the unconstrained parameter vector of ``model``."""
    n_vol, n_shape, n_orient = _counts(model, K, D)
    log_vol = theta[:n_vol]
    free_shape = theta[n_vol:n_vol + n_shape].reshape(-1, D - 1)
    skew_parts = theta[n_vol + n_shape:].reshape(-1, D * (D - 1) // 2)
    vol = np.exp(np.broadcast_to(log_vol, (K,)))
    if model[1] == "I":
        shapes = np.ones((K, D))
    else:
        log_shape = np.concatenate([free_shape, -free_shape.sum(axis=1, keepdims=True)], axis=1)
        shapes = np.broadcast_to(np.exp(log_shape), (K, D))
    S = np.zeros((skew_parts.shape[0], D, D))
    S[:, np.triu_indices(D, 1)[0], np.triu_indices(D, 1)[1]] = skew_parts
    rotations = cayley(S - np.swapaxes(S, 1, 2)) if model[2] != "I" else np.eye(D)[None]
    rotations = np.broadcast_to(rotations, (K, D, D))
    return np.einsum("k,kij,kj,klj->kil", vol, rotations, shapes, rotations)


def _start_from_scatter(model, nk, W, rng, random):
    """A parameter vector from each scatter's own eigen-decomposition (or random orientations)."""
    K, D = W.shape[0], W.shape[1]
    cov = W / nk[:, None, None]
    e, V = np.linalg.eigh(cov)
    e, V = e[:, ::-1], V[:, :, ::-1]
    if model[2] == "I":
        e = np.diagonal(cov, axis1=1, axis2=2).copy()
    log_e = np.log(e)
    log_vol = log_e.mean(axis=1)
    log_shape = log_e - log_vol[:, None]
    parts = [log_vol if model[0] == "V" else [log_vol.mean()]]
    if model[1] == "V":
        parts.append(log_shape[:, :-1].ravel())
    elif model[1] == "E":
        parts.append(log_shape.mean(axis=0)[:-1])
    iu = np.triu_indices(D, 1)
    n_orient = {"I": 0, "E": 1, "V": K}[model[2]]
    for k in range(n_orient):
        if random:
            parts.append(rng.normal(scale=1.0, size=len(iu[0])))
            continue
        # Column signs do not change the covariance: make the diagonal >= 0 and the determinant +1, which
        # keeps R away from an eigenvalue -1 (where the Cayley parameters would be infinite).
        R = V[k] * np.where(np.diagonal(V[k]) < 0, -1.0, 1.0)
        if np.linalg.det(R) < 0:
            R[:, np.argmin(np.abs(np.diagonal(R)))] *= -1
        parts.append(inverse_cayley(R)[iu])
    theta = np.concatenate([np.atleast_1d(np.asarray(p, dtype=float)) for p in parts])
    return theta + (rng.normal(scale=0.3, size=theta.shape) if random else 0.0)


def _central_gradient(f, theta, h=1e-6):
    g = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h
        g[i] = (f(theta + step) - f(theta - step)) / (2 * h)
    return g


def maximise(model, nk, W, n_starts=4, seed=0):
    """The covariances (K, D, D) with the largest Q found, and that Q.

    Parameters
    ----------
    model : str
        One of mclust's fourteen models.
    nk : ndarray (K,)
        Component weights.
    W : ndarray (K, D, D)
        Full scatter matrices (positive definite).
    """
    nk, W = np.asarray(nk, float), np.asarray(W, float)
    K, D = W.shape[0], W.shape[1]
    rng = np.random.default_rng(seed)

    def negative_q(theta):
        value = expected_loglik(nk, W, covariances_from(theta, model, K, D))
        return -value if np.isfinite(value) else 1e300

    best = None
    for start in range(n_starts):
        theta0 = _start_from_scatter(model, nk, W, rng, random=start > 0)
        if theta0.size == 0:
            result_x = theta0
        else:
            result = optimize.minimize(negative_q, theta0, jac=lambda t: _central_gradient(negative_q, t),
                                       method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
            result_x = result.x
        value = -negative_q(result_x)
        if best is None or value > best[1]:
            best = (covariances_from(result_x, model, K, D), value)
    return best
