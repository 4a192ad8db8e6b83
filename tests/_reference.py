"""Plain float64 NumPy/SciPy reference implementation of Gaussian mixture EM.

This module is the ground truth that fastgmm's compiled kernels are tested
against, and the "pure NumPy" baseline of the benchmarks. It is written for
clarity, not speed, and it depends on NumPy and SciPy only.

Every formula follows :class:`sklearn.mixture.GaussianMixture` (the version
fastgmm targets is 1.9), operation for operation where that matters for
rounding, so that a fit started from the same parameters gives the same
answers:

* precisions are stored as sklearn's ``precisions_cholesky_``: for ``'full'``
  and ``'tied'`` an upper-triangular ``U`` with ``precision = U @ U.T``; for
  ``'diag'`` and ``'spherical'`` ``1 / sqrt(variance)``;
* the M-step adds ``10 * eps`` to the component counts, and ``reg_covar`` to
  the diagonal of every covariance;
* the EM loop stops when the change of the mean log-likelihood per sample is
  below ``tol``.

Two functions have no sklearn counterpart: :func:`chunk_statistics` computes
the centred sufficient statistics that fastgmm's fused kernel returns for a
block of rows, and :func:`m_step_from_statistics` turns them into parameters.

Notes
-----
Like sklearn, the ``'diag'``, ``'spherical'`` and ``'tied'`` formulas of
:func:`estimate_log_gaussian_prob` and :func:`estimate_gaussian_parameters`
expand squares (``E[x^2] - mean^2``). They lose accuracy when the data lie far
from the origin compared with their spread; the centred formulas of
:func:`m_step_from_statistics` do not.
"""

import math

import numpy as np
from scipy import linalg
from scipy.special import logsumexp

__all__ = [
    "COVARIANCE_TYPES",
    "chunk_statistics",
    "compute_precision_cholesky",
    "covariances_from_precisions_cholesky",
    "e_step",
    "estimate_gaussian_parameters",
    "estimate_log_gaussian_prob",
    "estimate_weighted_log_prob",
    "fit_em",
    "log_det_cholesky",
    "m_step",
    "m_step_from_statistics",
    "precisions_cholesky_from_precisions",
    "precisions_from_precisions_cholesky",
]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# sklearn adds this to every component count (``nk``) in the M-step so that an
# empty component does not divide by zero.
_NK_EPS = 10 * np.finfo(np.float64).eps

_ILL_DEFINED = (
    "has an ill-defined covariance (for instance caused by singleton or "
    "collapsed samples). Try to decrease the number of components, increase "
    "reg_covar, or scale the input data."
)


def _check_covariance_type(covariance_type):
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, "
            f"got {covariance_type!r}"
        )


def _flipudlr(a):
    """Reverse the rows and the columns of a matrix (``J @ a @ J``)."""
    return a[::-1, ::-1]


###############################################################################
# Precision parametrisation


def compute_precision_cholesky(covariances, covariance_type):
    """Cholesky factors of the precisions, from the covariances.

    Parameters
    ----------
    covariances : ndarray
        ``'full'``: (n_components, n_features, n_features);
        ``'tied'``: (n_features, n_features);
        ``'diag'``: (n_components, n_features);
        ``'spherical'``: (n_components,).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.

    Returns
    -------
    precisions_cholesky : ndarray
        Same shape as `covariances`. For ``'full'`` and ``'tied'`` the
        upper-triangular ``U = inv(L).T`` where ``covariance = L @ L.T``, so
        that ``precision = U @ U.T``; otherwise ``1 / sqrt(covariances)``.

    Raises
    ------
    ValueError
        If a Cholesky factorisation fails, or a variance is not > 0 (or is
        NaN). The message names the offending component.
    """
    _check_covariance_type(covariance_type)
    covariances = np.asarray(covariances, dtype=np.float64)

    def _factor(cov, what):
        n_features = cov.shape[0]
        try:
            cov_chol = linalg.cholesky(cov, lower=True)
        except (linalg.LinAlgError, ValueError) as exc:
            raise ValueError(f"{what} {_ILL_DEFINED}") from exc
        return linalg.solve_triangular(
            cov_chol, np.eye(n_features), lower=True
        ).T

    if covariance_type == "full":
        precisions_chol = np.empty_like(covariances)
        for k in range(covariances.shape[0]):
            precisions_chol[k] = _factor(covariances[k], f"Component {k}")
        return precisions_chol
    if covariance_type == "tied":
        return _factor(covariances, "The tied covariance")

    # diag / spherical: every variance must be strictly positive.
    bad = ~(covariances > 0.0)
    if np.any(bad):
        k = int(np.argwhere(bad)[0][0])
        raise ValueError(
            f"Component {k} {_ILL_DEFINED} (a variance is not positive)"
        )
    return 1.0 / np.sqrt(covariances)


def precisions_cholesky_from_precisions(precisions, covariance_type):
    """Cholesky factors of the precisions, from the precisions themselves.

    This is how sklearn turns ``precisions_init`` into
    ``precisions_cholesky_``. For ``'full'`` and ``'tied'`` it needs an
    upper-triangular ``U`` with ``P = U @ U.T``; with the exchange matrix
    ``J`` (ones on the anti-diagonal), ``J P J = L L^T`` (lower Cholesky) gives
    ``U = J L J``.

    Parameters
    ----------
    precisions : ndarray
        Precision matrices (``'full'``, ``'tied'``) or precisions (``'diag'``,
        ``'spherical'``), shaped as the covariances.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.

    Returns
    -------
    precisions_cholesky : ndarray
        Same shape as `precisions`.
    """
    _check_covariance_type(covariance_type)
    precisions = np.asarray(precisions, dtype=np.float64)
    if covariance_type == "full":
        return np.stack(
            [
                _flipudlr(linalg.cholesky(_flipudlr(p), lower=True))
                for p in precisions
            ]
        )
    if covariance_type == "tied":
        return _flipudlr(linalg.cholesky(_flipudlr(precisions), lower=True))
    return np.sqrt(precisions)


def precisions_from_precisions_cholesky(precisions_cholesky, covariance_type):
    """Precisions from their Cholesky factors (sklearn's ``precisions_``).

    Parameters
    ----------
    precisions_cholesky : ndarray
        As returned by :func:`compute_precision_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.

    Returns
    -------
    precisions : ndarray
        ``U @ U.T`` per component (``'full'``), ``U @ U.T`` (``'tied'``), or
        the elementwise square (``'diag'``, ``'spherical'``).
    """
    _check_covariance_type(covariance_type)
    u = np.asarray(precisions_cholesky, dtype=np.float64)
    if covariance_type == "full":
        return np.stack([uk @ uk.T for uk in u])
    if covariance_type == "tied":
        return u @ u.T
    return u**2


def covariances_from_precisions_cholesky(precisions_cholesky, covariance_type):
    """Covariances from the Cholesky factors of the precisions.

    Parameters
    ----------
    precisions_cholesky : ndarray
        As returned by :func:`compute_precision_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.

    Returns
    -------
    covariances : ndarray
        Same shape as `precisions_cholesky`. For ``'full'``/``'tied'``,
        ``inv(U @ U.T) = V.T @ V`` with ``V = inv(U)`` (exactly symmetrised);
        otherwise ``1 / precisions_cholesky**2``.
    """
    _check_covariance_type(covariance_type)
    u = np.asarray(precisions_cholesky, dtype=np.float64)

    def _inverse_gram(uk):
        v = linalg.solve_triangular(uk, np.eye(uk.shape[0]), lower=False)
        cov = v.T @ v
        return 0.5 * (cov + cov.T)

    if covariance_type == "full":
        return np.stack([_inverse_gram(uk) for uk in u])
    if covariance_type == "tied":
        return _inverse_gram(u)
    return 1.0 / u**2


def log_det_cholesky(precisions_cholesky, covariance_type, n_features):
    """Log-determinant of the Cholesky factors of the precisions.

    ``log det(U) = 0.5 * log det(precision) = -0.5 * log det(covariance)``.

    Parameters
    ----------
    precisions_cholesky : ndarray
        As returned by :func:`compute_precision_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.
    n_features : int
        Number of features (used by ``'spherical'``).

    Returns
    -------
    log_det : ndarray of shape (n_components,) or float
        A float for ``'tied'`` (one shared matrix), as in sklearn.
    """
    _check_covariance_type(covariance_type)
    u = np.asarray(precisions_cholesky, dtype=np.float64)
    if covariance_type == "full":
        return np.sum(np.log(np.diagonal(u, axis1=1, axis2=2)), axis=1)
    if covariance_type == "tied":
        return np.sum(np.log(np.diag(u)))
    if covariance_type == "diag":
        return np.sum(np.log(u), axis=1)
    return n_features * np.log(u)


###############################################################################
# E-step


def estimate_log_gaussian_prob(X, means, precisions_cholesky, covariance_type):
    """Log-density of every sample under every component.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data.
    means : ndarray of shape (n_components, n_features)
        Component means.
    precisions_cholesky : ndarray
        As returned by :func:`compute_precision_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.

    Returns
    -------
    log_prob : ndarray of shape (n_samples, n_components)
        ``log N(x_i | mu_k, Sigma_k)``.
    """
    _check_covariance_type(covariance_type)
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    u = np.asarray(precisions_cholesky, dtype=np.float64)
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    log_det = log_det_cholesky(u, covariance_type, n_features)

    # Squared Mahalanobis distances, with sklearn's expressions.
    if covariance_type == "full":
        maha = np.empty((n_samples, n_components))
        for k in range(n_components):
            y = X @ u[k] - means[k] @ u[k]
            maha[:, k] = np.sum(np.square(y), axis=1)
    elif covariance_type == "tied":
        maha = np.empty((n_samples, n_components))
        Xu = X @ u
        for k in range(n_components):
            y = Xu - means[k] @ u
            maha[:, k] = np.sum(np.square(y), axis=1)
    elif covariance_type == "diag":
        precisions = u**2
        maha = (
            np.sum(means**2 * precisions, axis=1)
            - 2.0 * (X @ (means * precisions).T)
            + (X**2 @ precisions.T)
        )
    else:  # spherical
        precisions = u**2
        row_sq_norms = np.einsum("ij,ij->i", X, X)
        maha = (
            np.sum(means**2, axis=1) * precisions
            - 2 * (X @ means.T * precisions)
            + np.outer(row_sq_norms, precisions)
        )
    return -0.5 * (n_features * math.log(2 * math.pi) + maha) + log_det


def estimate_weighted_log_prob(X, weights, means, precisions_cholesky, covariance_type):
    """Log-density plus log-weight of every sample under every component.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data.
    weights : ndarray of shape (n_components,)
        Mixture weights.
    means : ndarray of shape (n_components, n_features)
        Component means.
    precisions_cholesky : ndarray
        As returned by :func:`compute_precision_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.

    Returns
    -------
    weighted_log_prob : ndarray of shape (n_samples, n_components)
        ``log w_k + log N(x_i | mu_k, Sigma_k)``. A zero weight gives
        ``-inf``.
    """
    log_prob = estimate_log_gaussian_prob(
        X, means, precisions_cholesky, covariance_type
    )
    with np.errstate(divide="ignore"):
        log_weights = np.log(np.asarray(weights, dtype=np.float64))
    return log_prob + log_weights


def e_step(X, weights, means, precisions_cholesky, covariance_type):
    """E-step: mean log-likelihood and log-responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data.
    weights : ndarray of shape (n_components,)
        Mixture weights.
    means : ndarray of shape (n_components, n_features)
        Component means.
    precisions_cholesky : ndarray
        As returned by :func:`compute_precision_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.

    Returns
    -------
    mean_log_likelihood : float
        ``mean_i log sum_k w_k N(x_i | mu_k, Sigma_k)`` (sklearn's lower
        bound).
    log_resp : ndarray of shape (n_samples, n_components)
        Log-responsibilities ``log r_ik``.
    """
    weighted_log_prob = estimate_weighted_log_prob(
        X, weights, means, precisions_cholesky, covariance_type
    )
    log_prob_norm = logsumexp(weighted_log_prob, axis=1)
    with np.errstate(under="ignore"):
        log_resp = weighted_log_prob - log_prob_norm[:, np.newaxis]
    return float(np.mean(log_prob_norm)), log_resp


###############################################################################
# M-step


def estimate_gaussian_parameters(X, resp, reg_covar, covariance_type):
    """Component counts, means and covariances from responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data.
    resp : ndarray of shape (n_samples, n_components)
        Responsibilities (rows sum to 1).
    reg_covar : float
        Added to the diagonal of every covariance.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.

    Returns
    -------
    nk : ndarray of shape (n_components,)
        ``sum_i r_ik + 10 * eps``.
    means : ndarray of shape (n_components, n_features)
        ``sum_i r_ik x_i / nk``.
    covariances : ndarray
        ``'full'``: ``sum_i r_ik (x_i - m_k)(x_i - m_k)^T / nk_k + reg I``;
        ``'tied'``: ``(X^T X - sum_k nk_k m_k m_k^T) / sum(nk) + reg I``;
        ``'diag'``: ``sum_i r_ik x_i^2 / nk_k - m_k^2 + reg``;
        ``'spherical'``: the ``'diag'`` variances averaged over features.
    """
    _check_covariance_type(covariance_type)
    X = np.asarray(X, dtype=np.float64)
    resp = np.asarray(resp, dtype=np.float64)
    n_features = X.shape[1]
    nk = resp.sum(axis=0) + _NK_EPS
    means = (resp.T @ X) / nk[:, np.newaxis]

    if covariance_type == "full":
        covariances = np.empty((means.shape[0], n_features, n_features))
        for k in range(means.shape[0]):
            diff = X - means[k]
            covariances[k] = ((resp[:, k] * diff.T) @ diff) / nk[k]
            covariances[k].flat[:: n_features + 1] += reg_covar
    elif covariance_type == "tied":
        covariances = X.T @ X - (nk * means.T) @ means
        covariances /= nk.sum()
        covariances.flat[:: n_features + 1] += reg_covar
    else:
        avg_X2 = (resp.T @ (X * X)) / nk[:, np.newaxis]
        covariances = avg_X2 - means**2 + reg_covar
        if covariance_type == "spherical":
            covariances = covariances.mean(axis=1)
    return nk, means, covariances


def m_step(X, log_resp, reg_covar, covariance_type):
    """M-step: new parameters from log-responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data.
    log_resp : ndarray of shape (n_samples, n_components)
        Log-responsibilities from :func:`e_step`.
    reg_covar : float
        Added to the diagonal of every covariance.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.

    Returns
    -------
    weights : ndarray of shape (n_components,)
        ``nk / sum(nk)`` (sklearn normalises ``nk`` directly; this equals
        ``nk / n_samples`` renormalised).
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
    precisions_cholesky : ndarray
    """
    nk, means, covariances = estimate_gaussian_parameters(
        X, np.exp(log_resp), reg_covar, covariance_type
    )
    weights = nk / np.sum(nk)
    precisions_cholesky = compute_precision_cholesky(covariances, covariance_type)
    return weights, means, covariances, precisions_cholesky


###############################################################################
# EM loop


def fit_em(
    X,
    weights,
    means,
    precisions_cholesky,
    covariance_type,
    *,
    reg_covar=1e-6,
    max_iter=100,
    tol=1e-3,
):
    """Run EM from given initial parameters, exactly as sklearn's loop.

    Each iteration runs an E-step with the current parameters (its mean
    log-likelihood is the lower bound of that iteration), then an M-step. The
    loop stops after the first iteration whose lower bound changed by less
    than `tol` from the previous one (the first iteration compares with
    ``-inf`` and never stops), or after `max_iter` iterations.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data.
    weights : ndarray of shape (n_components,)
        Initial mixture weights.
    means : ndarray of shape (n_components, n_features)
        Initial means.
    precisions_cholesky : ndarray
        Initial Cholesky factors of the precisions.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance in the M-step.
    max_iter : int, default=100
        Maximum number of EM iterations.
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound.

    Returns
    -------
    result : dict
        ``weights``, ``means``, ``covariances``, ``precisions_cholesky`` (the
        parameters after the last M-step), ``lower_bound`` (the last lower
        bound, ``-inf`` if ``max_iter == 0``), ``lower_bounds`` (list of
        floats, one per iteration), ``n_iter`` and ``converged``. With
        ``max_iter == 0`` the initial parameters are returned, with
        covariances recomputed from `precisions_cholesky`.
    """
    _check_covariance_type(covariance_type)
    X = np.asarray(X, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    precisions_cholesky = np.asarray(precisions_cholesky, dtype=np.float64)
    covariances = covariances_from_precisions_cholesky(
        precisions_cholesky, covariance_type
    )

    lower_bound = -np.inf
    lower_bounds = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        prev_lower_bound = lower_bound
        lower_bound, log_resp = e_step(
            X, weights, means, precisions_cholesky, covariance_type
        )
        weights, means, covariances, precisions_cholesky = m_step(
            X, log_resp, reg_covar, covariance_type
        )
        lower_bounds.append(lower_bound)
        if abs(lower_bound - prev_lower_bound) < tol:
            converged = True
            break

    return {
        "weights": weights,
        "means": means,
        "covariances": covariances,
        "precisions_cholesky": precisions_cholesky,
        "lower_bound": lower_bound,
        "lower_bounds": lower_bounds,
        "n_iter": n_iter,
        "converged": converged,
    }


###############################################################################
# Centred sufficient statistics (what fastgmm's fused kernel computes)


def _centres(means, covariance_type, shift):
    """Centres ``c_k`` of the statistics, shape (n_components, n_features)."""
    means = np.asarray(means, dtype=np.float64)
    if covariance_type != "tied":
        return means
    if shift is None:
        raise ValueError("shift (a vector of n_features) is required for 'tied'")
    shift = np.asarray(shift, dtype=np.float64)
    if shift.shape != (means.shape[1],):
        raise ValueError(
            f"shift must have shape ({means.shape[1]},), got {shift.shape}"
        )
    return np.broadcast_to(shift, means.shape)


def chunk_statistics(
    X, weights, means, precisions_cholesky, covariance_type, shift=None
):
    """Centred sufficient statistics of a block of rows.

    With the responsibilities ``r_ik`` of the given parameters and centres
    ``c_k`` (``means[k]`` for ``'full'``, ``'diag'``, ``'spherical'``; the
    vector `shift` for every component for ``'tied'``), computes

    * ``loglik = sum_i log sum_k w_k N(x_i | mu_k, Sigma_k)``;
    * ``nk[k] = sum_i r_ik`` (no ``10 * eps``);
    * ``s1[k] = sum_i r_ik (x_i - c_k)``;
    * ``s2``: ``'full'`` ``sum_i r_ik (x_i - c_k)(x_i - c_k)^T`` (K, D, D);
      ``'diag'`` ``sum_i r_ik (x_i - c_k)**2`` (K, D); ``'spherical'``
      ``sum_i r_ik ||x_i - c_k||^2`` (K,); ``'tied'``
      ``sum_i (x_i - c)(x_i - c)^T`` (D, D), *not* weighted by ``r``.

    All are sums over rows, so the statistics of a data set are the sums of
    the statistics of its row blocks.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        A block of rows.
    weights : ndarray of shape (n_components,)
        Mixture weights.
    means : ndarray of shape (n_components, n_features)
        Component means (the centres, except for ``'tied'``).
    precisions_cholesky : ndarray
        As returned by :func:`compute_precision_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.
    shift : ndarray of shape (n_features,), optional
        Centre of the ``'tied'`` statistics (required for ``'tied'``, ignored
        otherwise).

    Returns
    -------
    stats : dict
        Keys ``loglik`` (float), ``nk``, ``s1``, ``s2``.
    """
    _check_covariance_type(covariance_type)
    X = np.asarray(X, dtype=np.float64)
    centres = _centres(means, covariance_type, shift)
    weighted_log_prob = estimate_weighted_log_prob(
        X, weights, means, precisions_cholesky, covariance_type
    )
    log_lik = logsumexp(weighted_log_prob, axis=1)
    with np.errstate(under="ignore"):
        resp = np.exp(weighted_log_prob - log_lik[:, np.newaxis])

    n_components, n_features = centres.shape
    nk = resp.sum(axis=0)
    s1 = np.empty((n_components, n_features))
    if covariance_type == "full":
        s2 = np.empty((n_components, n_features, n_features))
    elif covariance_type == "diag":
        s2 = np.empty((n_components, n_features))
    elif covariance_type == "spherical":
        s2 = np.empty(n_components)
    else:
        diff = X - centres[0]
        s2 = diff.T @ diff

    for k in range(n_components):
        diff = X - centres[k]
        r = resp[:, k]
        s1[k] = r @ diff
        if covariance_type == "full":
            s2[k] = (r * diff.T) @ diff
        elif covariance_type == "diag":
            s2[k] = r @ diff**2
        elif covariance_type == "spherical":
            s2[k] = r @ np.sum(diff**2, axis=1)

    return {"loglik": float(np.sum(log_lik)), "nk": nk, "s1": s1, "s2": s2}


def m_step_from_statistics(
    stats, n_samples, means, covariance_type, reg_covar, shift=None
):
    """M-step from the centred statistics of :func:`chunk_statistics`.

    This is sklearn's M-step carried out in coordinates centred on ``c_k``
    (``x' = x - c_k``), then translated back, so it gives the parameters of
    :func:`m_step` on the same responsibilities up to rounding, without the
    cancellation of sklearn's expanded formulas when the data lie far from
    the origin. With ``nk' = nk + 10 * eps`` and ``d_k = s1_k / nk'_k``:

    * ``weights = nk' / n_samples``, renormalised to sum to 1;
    * ``means_k = c_k + d_k``;
    * ``'full'``: ``(s2_k - s1_k d_k^T - d_k s1_k^T + nk_k d_k d_k^T) / nk'_k
      + reg I`` (``= sum_i r_ik (x_i - m_k)(x_i - m_k)^T / nk'_k + reg I``);
    * ``'diag'``: ``max(s2_k / nk'_k - d_k**2, 0) + reg``, which is sklearn's
      ``E_r[x'^2] - mean'^2``;
    * ``'spherical'``: ``max(s2_k / nk'_k - ||d_k||^2, 0) / D + reg``, the
      ``'diag'`` variances averaged over features;
    * ``'tied'``: ``(s2 - sum_k nk'_k d_k d_k^T) / sum_k nk'_k + reg I``,
      sklearn's ``(X'^T X' - sum_k nk'_k m'_k m'_k^T) / sum(nk')``. Since
      ``sum_k r_ik = 1`` this is the pooled within-component scatter
      ``sum_k sum_i r_ik (x_i - m_k)(x_i - m_k)^T / sum(nk')`` (up to terms
      of order ``10 * eps``).

    The ``10 * eps`` of sklearn is added in the centred frame, so the means
    differ from sklearn's ``sum_i r_ik x_i / nk'_k`` by
    ``c_k * 10 * eps / nk'_k``: below rounding unless a component is empty
    (``nk_k ~ 0``), where sklearn moves its mean to about 0 and this keeps
    it at ``c_k``.

    Parameters
    ----------
    stats : dict
        ``nk``, ``s1``, ``s2`` as returned by :func:`chunk_statistics` (or
        their sums over row blocks); ``loglik`` is not used.
    n_samples : int
        Total number of rows the statistics were summed over.
    means : ndarray of shape (n_components, n_features)
        The means the statistics are centred on (the centres, except for
        ``'tied'``).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance parametrisation.
    reg_covar : float
        Added to the diagonal of every covariance.
    shift : ndarray of shape (n_features,), optional
        Centre of the ``'tied'`` statistics (required for ``'tied'``).

    Returns
    -------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
    """
    _check_covariance_type(covariance_type)
    centres = _centres(means, covariance_type, shift)
    nk = np.asarray(stats["nk"], dtype=np.float64)
    s1 = np.asarray(stats["s1"], dtype=np.float64)
    s2 = np.asarray(stats["s2"], dtype=np.float64)
    n_components, n_features = centres.shape

    nk_eps = nk + _NK_EPS
    d = s1 / nk_eps[:, np.newaxis]
    new_means = centres + d
    weights = nk_eps / n_samples
    weights = weights / weights.sum()

    if covariance_type == "full":
        covariances = np.empty((n_components, n_features, n_features))
        for k in range(n_components):
            cross = np.outer(s1[k], d[k])
            cov = (s2[k] - cross - cross.T + nk[k] * np.outer(d[k], d[k])) / nk_eps[k]
            cov.flat[:: n_features + 1] += reg_covar
            covariances[k] = cov
    elif covariance_type == "tied":
        covariances = (s2 - (nk_eps * d.T) @ d) / nk_eps.sum()
        covariances.flat[:: n_features + 1] += reg_covar
    elif covariance_type == "diag":
        covariances = np.maximum(s2 / nk_eps[:, np.newaxis] - d**2, 0.0) + reg_covar
    else:  # spherical
        var = s2 / nk_eps - np.sum(d**2, axis=1)
        covariances = np.maximum(var, 0.0) / n_features + reg_covar
    return weights, new_means, covariances
