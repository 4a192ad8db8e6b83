"""The variational Gaussian mixture's maths on the small arrays: expected weights and log-weights (Dirichlet or
stick-breaking), the expected log-density's constant, the Wishart normaliser, the statistics pass and its entropy
term, the data moments of the default priors, and the checks of given priors. The estimator is
``fastgmm.families._bayesian_mixture.BayesianGaussianMixture``."""

import math

import numpy as np
from scipy.special import digamma, gammaln

from ..kernels import _driver as _kernels
from ..utils._validation import _interval, check_option, check_scalar, invalid_parameter
from . import _gaussian
from ._gaussian import COV_TYPES, QUAD

_LOG_2 = math.log(2.0)
_POSITIVE = _interval("real", 0, None, low_open=True)
_BLOCK = 65536
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")


def expected_weights(wc, prior_type):
    """weights_: the posterior mean of the weights (stick-breaking: of each stick), normalised."""
    if prior_type == "dirichlet_process":
        a, b = wc
        rest = b / (a + b)
        w = a / (a + b) * np.concatenate(([1.0], np.cumprod(rest[:-1])))
        return w / np.sum(w)
    return wc / np.sum(wc)


def expected_log_weights(wc, prior_type):
    """E[log pi_k] under the posterior (Dirichlet, or the sticks' Beta distributions)."""
    if prior_type == "dirichlet_process":
        a, b = wc
        total = digamma(a + b)
        # E log pi_k = E log v_k + sum_{j < k} E log (1 - v_j)
        return digamma(a) - total + np.concatenate(([0.0], np.cumsum(digamma(b) - total)[:-1]))
    return digamma(wc) - digamma(np.sum(wc))


def expected_log_density_offset(dof, beta, n_features):
    """E[log N(x | mu_k, Lambda_k)] - log N(x | means_k, precisions_k), per component.

    With precisions_ = nu W (the normalised Wishart scale):
    E log|Lambda| = sum_j digamma((nu - j) / 2) + D log 2 + log|W|, and
    E[(x - mu)^T Lambda (x - mu)] = nu (x - m)^T W (x - m) + D / beta.
    """
    D = n_features
    j = np.arange(D)[:, None]
    e_log_det = D * _LOG_2 + np.sum(digamma(0.5 * (np.atleast_1d(dof)[None, :] - j)), axis=0)
    # beta -> 0 (an altered file, or a tiny mean_precision_prior on an empty
    # component) is a mean of unbounded variance: the offset's limit, -inf,
    # rules the component out, and D / beta overflowing to it is no error.
    with np.errstate(over="ignore", divide="ignore"):
        return 0.5 * (e_log_det - D * np.log(dof) - D / beta)


def log_wishart_norm(dof, log_det_chol, n_features):
    """log B(W, nu) of the Wishart distribution, without its pi term (as scikit-learn)."""
    D = n_features
    j = np.arange(D)[:, None]
    dof = np.asarray(dof, dtype=np.float64)
    return -(dof * log_det_chol + dof * D * 0.5 * _LOG_2
             + np.sum(gammaln(0.5 * (np.atleast_1d(dof)[None, :] - j)), axis=0).reshape(dof.shape))


def variational_statistics(X, sample_weight, shift, W, U, cov_type, n_threads):
    """The :class:`Statistics` of X (an array or one block of a source) under the coefficients W."""
    G, T, loglik = _kernels.accumulate(X, QUAD[cov_type], W.shape[1], shift, n_threads, W=W, U=U,
                                       sample_weight=sample_weight)
    weight = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    return _gaussian.statistics_from_sums(G, T, cov_type, shift, loglik, weight, X.shape[0])


def expected_log_density_sum(stats, W, U):
    """sum_ik w_i r_ik lp_ik = sum_k <G_k, W_k>: the kernel's sums G, read back from the statistics.

    W (P, K) must be the coefficients the statistics were computed under
    (about their centre). For 'tied' the statistics hold sum_i w_i z_i z_i^T
    over all rows instead of per component; the feature |z U|^2 has the
    coefficient -1/2 in every component and each row's responsibilities
    sum to 1, so its part is -1/2 tr(U^T S U).
    """
    D = stats.s1.shape[1]
    total = stats.nk @ W[0] + np.sum(stats.s1 * W[1:D + 1].T)
    q = W[D + 1:]
    if stats.cov_type == "full":
        iu, ju = _gaussian.full_pairs(D)
        total += np.sum(stats.s2[:, iu, ju] * q.T)
    elif stats.cov_type == "diag":
        total += np.sum(stats.s2 * q.T)
    elif stats.cov_type == "spherical":
        total += stats.s2 @ q[0]
    else:
        total += q[0, 0] * np.sum(U * (stats.s2 @ U))
    return float(total)


def moment_statistics(X, sample_weight, quad_type, shift, n_threads):
    """sum_i w_i, sum_i w_i z_i and sum_i w_i z_i z_i^T (or its diagonal) about ``shift``: one component."""
    W = _gaussian.nearest_centre_coefficients(shift[None, :], shift)
    G, T, _ = _kernels.accumulate(X, QUAD[quad_type], 1, shift, n_threads, mode=_kernels.RESP_HARD, W=W,
                                  sample_weight=sample_weight)
    weight = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    return _gaussian.statistics_from_sums(G, T, quad_type, shift, 0.0, weight, X.shape[0])


def data_moments(X, sample_weight, cov_type, n_threads):
    """The (weighted) mean of X and its covariance with ddof=1 (weights as frequencies), float64.

    The covariance is the full matrix for 'full' and 'tied', the variances
    otherwise. Two kernel passes (the sums, then the moments about the
    mean, which keeps every digit for data far from the origin), over an
    array or a source, with no N x D temporary.
    """
    def statistics(quad_type, shift):
        args = (quad_type, np.ascontiguousarray(shift, dtype=np.float64), n_threads)
        if isinstance(X, np.ndarray):
            return moment_statistics(X, sample_weight, *args)
        return X.statistics(moment_statistics, args, sample_weight)

    D = X.shape[1]
    first = statistics("spherical", np.zeros(D))
    mean = first.s1[0] / first.nk[0]
    second = statistics("full" if cov_type in ("full", "tied") else "diag", mean)
    n = float(second.nk[0])
    if n <= 1.0:
        raise ValueError(
            f"The default covariance_prior is the covariance of X with ddof=1, which needs "
            f"sum(sample_weight) > 1 (got {n:.6g}); scale the weights or pass covariance_prior."
        )
    s1 = second.s1[0]   # ~0: the rounding of the mean
    if cov_type in ("full", "tied"):
        cov = (second.s2[0] - np.outer(s1, s1) / n) / (n - 1.0)
    else:
        cov = (second.s2[0] - s1 * s1 / n) / (n - 1.0)
    return second.centre + s1 / n, cov


def _observed_sums(X, sample_weight, centre, n_threads):
    """Per column, over its observed values: [sum w, sum w (x - centre), sum w (x - centre)^2, NaN count]
    (4, D), float64; additive over blocks (a source's ``statistics`` adds them)."""
    out = np.zeros((4, X.shape[1]))
    for a in range(0, X.shape[0], _BLOCK):
        xb = np.asarray(X[a:a + _BLOCK], dtype=np.float64)
        nan = np.isnan(xb)
        z = np.where(nan, 0.0, xb - centre)
        w = (~nan).astype(np.float64)
        if sample_weight is not None:
            w *= sample_weight[a:a + _BLOCK, None]
        out[0] += w.sum(axis=0)
        out[1] += np.sum(w * z, axis=0)
        out[2] += np.sum(w * z * z, axis=0)
        out[3] += nan.sum(axis=0)
    return out


def data_moments_missing(X, sample_weight, cov_type, n_threads):
    """:func:`data_moments` of X that may hold NaN (``nan_policy='marginalize'``), float64.

    Without a NaN it is :func:`data_moments` (same passes, same digits).
    With NaNs each column's mean and variance (ddof=1, weights as
    frequencies) are over the rows that observe it, and for 'full' and
    'tied' the covariance is the diagonal matrix of those variances: the
    covariances over pairs observed together need not make a
    positive-definite matrix, a Wishart prior's scale must be one, and the
    prior is a weak one (``degrees_of_freedom_prior`` pseudo-rows) that the
    completed data then correct. Two passes (the sums, then the squares
    about the means).
    """
    def sums(centre):
        args = (np.ascontiguousarray(centre, dtype=np.float64), n_threads)
        if isinstance(X, np.ndarray):
            return _observed_sums(X, sample_weight, *args)
        return X.statistics(_observed_sums, args, sample_weight)

    D = X.shape[1]
    first = sums(np.zeros(D))
    if not first[3].any():
        return data_moments(X, sample_weight, cov_type, n_threads)
    n = first[0]
    if np.any(n <= 1.0):
        j = int(np.argmax(n <= 1.0))
        raise ValueError(
            f"The default covariance_prior is the variance of each column over its observed values with "
            f"ddof=1, which needs a total sample_weight > 1 of the rows observing it; column {j} has "
            f"{n[j]:.6g}. Scale the weights, or pass covariance_prior and mean_prior."
        )
    mean = first[1] / n
    second = sums(mean)
    s1 = second[1]   # ~0: the rounding of the mean
    var = (second[2] - s1 * s1 / n) / (n - 1.0)
    mean = mean + s1 / n
    return mean, (np.diag(var) if cov_type in ("full", "tied") else var)


def _check_positive_or_none(value, name, estimator_name):
    """scikit-learn's [None, Interval(Real, 0, None, closed="neither")], listed in that order."""
    if value is None:
        return
    try:
        check_scalar(value, name, "real", low=0, low_open=True, estimator_name=estimator_name)
    except ValueError:
        raise invalid_parameter(name, ["None", _POSITIVE], value, estimator_name=estimator_name) from None


def _prior_array(value, name, estimator_name):
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"The parameter '{name}' of {estimator_name} must be an array of numbers: {e}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"The parameter '{name}' contains NaN or infinity.")
    return a


def _check_prior_shape(param, shape, name, given):
    # scikit-learn's wording says 'means' for mean_prior; the remedy names it.
    if param.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got {param.shape}: "
                         f"pass {given} of that shape.")


def _loaded(model, name, shape, positive=False):
    a = np.asarray(getattr(model, name))
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape}.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinity.")
    if positive and np.any(a <= 0):
        raise ValueError(f"{name} must be positive.")
    return a


def check_loaded(model, prior_names):
    """Check (and normalise the stored forms of) a loaded BayesianGaussianMixture's fitted attributes.

    ``prior_names``: the scalar ``*_prior_`` attributes, each a positive finite number.

    Raises
    ------
    ValueError
        Naming the first attribute with a wrong shape, a non-finite or
        out-of-range value, or that disagrees with another.
    """
    K, ct, prior = model.n_components, model.covariance_type, model.weight_concentration_prior_type
    # The loader checks only the parameters every family shares; the
    # shapes below and predict look these two up (a KeyError otherwise).
    name = type(model).__name__
    check_option(ct, "covariance_type", set(COV_TYPES), estimator_name=name)
    check_option(prior, "weight_concentration_prior_type", set(PRIOR_TYPES), estimator_name=name)
    means = _loaded(model, "means_", None)
    if means.ndim != 2 or means.shape[0] != K:
        raise ValueError(f"means_ has shape {means.shape}, expected (n_components={K}, n_features).")
    D = means.shape[1]
    w = _loaded(model, "weights_", (K,))
    if np.any(w < 0) or np.any(w > 1) or not np.isclose(w.sum(), 1.0, atol=1e-5):
        raise ValueError("weights_ must be probabilities in [0, 1] that sum to 1.")
    wc = model.weight_concentration_
    wc = np.asarray(np.stack(wc) if isinstance(wc, (tuple, list)) else wc)
    model.weight_concentration_ = wc
    _loaded(model, "weight_concentration_", (2, K) if prior == "dirichlet_process" else (K,), positive=True)
    if prior == "dirichlet_process":
        model.weight_concentration_ = (wc[0], wc[1])
    _loaded(model, "mean_precision_", (K,), positive=True)
    dof = _loaded(model, "degrees_of_freedom_", () if ct == "tied" else (K,))
    if np.any(dof <= D - 1):
        raise ValueError(f"degrees_of_freedom_ must be greater than n_features - 1 = {D - 1}.")
    if ct == "tied":
        model.degrees_of_freedom_ = dof.dtype.type(dof)
    shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[ct]
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        _loaded(model, name, shape)
    _loaded(model, "mean_prior_", (D,))
    cp = _loaded(model, "covariance_prior_", {"full": (D, D), "tied": (D, D), "diag": (D,), "spherical": ()}[ct])
    if ct == "spherical":
        model.covariance_prior_ = float(cp)
    for name in prior_names:
        value = getattr(model, name)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    with np.errstate(over="ignore", invalid="ignore"):   # a huge altered factor: inf, refused below
        prec = _gaussian.precisions_from_cholesky(model.precisions_cholesky_, ct)
    if not (np.all(np.isfinite(prec))
            and np.allclose(prec, model.precisions_, rtol=1e-4, atol=1e-6 * np.max(np.abs(prec)))):
        raise ValueError("precisions_ does not equal the product of precisions_cholesky_ with its transpose.")
