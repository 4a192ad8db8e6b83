"""Checks and repairs of Gaussian parameters: on_degenerate (find and repair degenerate components), overflow and
representability of fitted parameters, the *_init arrays, and the merged-components warning (the overlap of two
fitted components)."""

import math

import numpy as np

from ..engine._schema import check_loaded_events
from ..kernels._finite import all_finite
from ..utils._validation import check_option
from . import _degenerate, _gaussian
from ._gaussian import MODEL_NAMES


def _check_degenerate_policy(model, X):
    """``on_degenerate`` checked; 'reinit' reads rows of X, so X must be in memory."""
    name = type(model).__name__
    policy = getattr(model, "on_degenerate", "raise")
    _degenerate.check_policy(policy, name)
    if policy == "reinit" and not isinstance(X, np.ndarray):
        raise TypeError(f"{name}(on_degenerate='reinit') re-seeds components at rows of X, so it fits an "
                        "in-memory array only: pass np.asarray(X), or use on_degenerate='drop' or 'raise' "
                        "for out-of-core and Dask data.")


def degenerate_m_step(model, X, sample_weight, gaussian, extra, nk, total, n_threads, row_ll):
    """The parameters after an M-step under ``model.on_degenerate`` ('reinit' or 'drop').

    ``gaussian`` is (weights, means, cov) from the M-step, ``extra`` a tuple
    of further per-component arrays; returns (weights, means, cov, pc, *extra)
    with the degenerate components re-seeded or removed, and the events
    recorded (``fastgmm.families._degenerate``).
    """
    weights, means, cov = gaussian
    lay = _gaussian.layout(model.covariance_type)
    bad, pc, noise = _degenerate.find_degenerate(nk, means, cov, lay, total, X.dtype, model.reg_covar)
    if len(bad) == weights.shape[0] and noise:
        # Nothing healthy to re-seed from or keep, but the components whose
        # variance is only at the rounding level still factorise: keep them,
        # as 'raise' would (e.g. single-row starts with reg_covar=0 spread out
        # at the next E-step).
        bad = [b for b in bad if b[0] not in noise]
    if not bad:
        return (weights, means, cov, pc, *extra)
    name = type(model).__name__
    policy = _degenerate.effective_policy(model)
    if len(bad) == weights.shape[0] and policy == "drop":
        _check_no_overflow(means, cov, X)      # data too large for the dtype: that message, not this one
        raise _degenerate.all_degenerate_error(bad, getattr(model, "_em_iteration", 0), name)
    _degenerate.record(model, bad, policy)
    weights, means, cov, pc, extra = _degenerate.repair(policy, weights, means, cov, pc, extra, bad,
                                                        lay, row_ll=row_ll, X=X,
                                                        sample_weight=sample_weight, reg_covar=model.reg_covar)
    _check_no_overflow(means, cov, X)
    return (weights, means, cov, pc, *extra)


def check_finite_loglik(stats, reg_covar):
    """A pass whose log-likelihood is not finite: some rows have zero probability under every component."""
    lower_bound = stats.loglik / stats.weight
    if not math.isfinite(lower_bound):
        raise ValueError(
            "Some samples have zero probability under every component (their log-likelihood is "
            f"{lower_bound}). The data are far outside the model or a component has collapsed: "
            f"increase reg_covar (currently {reg_covar}), use fewer components, or scale the data."
        )


def _eps(X):
    """scikit-learn's eps in the M-step (nk + 10 eps) is that of X's dtype."""
    return float(np.finfo(X.dtype).eps)


def _nearly_identical_pair(weights, means, covariances, cov_type, reg_covar=0.0):
    """(j, k, overlap) of the most overlapping pair of merged components, or None.

    The overlap of components j and k is the Bhattacharyya coefficient of
    the pair (weights and densities) with its swap,

        BC_jk * 2 sqrt(w_j w_k) / (w_j + w_k),

    with BC_jk that of their densities (:func:`bhattacharyya_coefficients`)
    and the factor that of the categorical distributions (w_j, w_k) and
    (w_k, w_j), normalised. It is 1 when swapping the two changes nothing,
    the mark of a start where every component was alike (EM keeps such
    components alike, weights included), and they are merged when it is at
    least :data:`_MERGED_OVERLAP`.

    Not compared: empty components (weight below 1e-8: no row chose them,
    e.g. more components than distinct points, which k-means warns about;
    they sit at the origin with variance reg_covar, all alike), and pairs of
    components whose covariances are mostly ``reg_covar`` (largest
    eigenvalue at most 2 reg_covar: the data add less variance than the
    regularisation in every direction). A regularisation wider than each
    component's own rows holds them together from any start, so the
    warning's advice (another start) would not help.
    With full covariances, pairs that two exact lower bounds of the
    Bhattacharyya distance already rule out (from the traces and the log
    determinants of the two covariances, no D x D work per pair) are not
    factorised.
    """
    m = np.asarray(means, dtype=np.float64)
    cov = np.asarray(covariances, dtype=np.float64)
    K, D = m.shape
    w = np.asarray(weights, dtype=np.float64)
    live = np.flatnonzero(w >= 1e-8)
    if live.size < 2:
        return None
    limit = -np.log(_MERGED_OVERLAP)      # merged only if the densities' Bhattacharyya distance <= limit
    if cov_type == "full":
        trace = np.trace(cov, axis1=1, axis2=2)
        sign, log_det = np.linalg.slogdet(cov)
        log_det = np.where(sign > 0, log_det, np.nan)
    best = None
    for i, j in enumerate(live[:-1]):
        ks = live[i + 1:]
        if cov_type == "full":
            # With S = (S_j + S_k) / 2: lambda_max(S) <= tr(S), so the mean term is at
            # least |m_j - m_k|^2 / (8 tr S); Minkowski's det(S)^(1/D) >= (det(S_j)^(1/D)
            # + det(S_k)^(1/D)) / 2 bounds the determinant term below.
            d2 = np.sum((m[ks] - m[j]) ** 2, axis=1)
            g_j, g_k = log_det[j] / D, log_det[ks] / D
            with np.errstate(invalid="ignore", divide="ignore"):
                lower = (d2 / (4.0 * (trace[j] + trace[ks]))
                         + 0.5 * D * (np.logaddexp(g_j, g_k) - np.log(2.0) - 0.5 * (g_j + g_k)))
            ks = ks[~(lower > limit)]                 # NaN bounds (a singular covariance) stay candidates
            if ks.size == 0:
                continue
        overlap = bhattacharyya_coefficients(m, cov, cov_type, j, ks) * (
            2.0 * np.sqrt(w[j] * w[ks]) / (w[j] + w[ks]))
        hit = np.flatnonzero(overlap >= _MERGED_OVERLAP)
        if hit.size and reg_covar > 0:
            regularised = _largest_variance(cov, cov_type, ks[hit]) <= 2.0 * reg_covar
            if _largest_variance(cov, cov_type, [j])[0] <= 2.0 * reg_covar:
                hit = hit[~regularised]
        if hit.size:
            h = hit[np.argmax(overlap[hit])]
            if best is None or overlap[h] > best[2]:
                best = (int(j), int(ks[h]), float(overlap[h]))
    return best


def _as_float_param(value, name):
    """An initial parameter as a float64 array, or a ValueError naming it."""
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"The parameter '{name}' must be an array of numbers: {e}") from None


def _too_large_advice(dtype):
    if dtype == np.float32:
        return "Pass X as float64, or scale the data (each feature to unit variance)."
    return "Scale the data (each feature to unit variance) first."


def _finite_array(a):
    """Whether every entry of ``a`` is finite: the compiled check (one thread), NumPy where it does not apply."""
    ok = all_finite(a)
    return bool(np.all(np.isfinite(a))) if ok is None else ok


def _check_no_overflow(means, cov, X):
    """Finite data and parameters give infinite or NaN moments only by overflow: say so."""
    if _finite_array(means) and _finite_array(cov):
        return
    largest = max(float(np.nanmax(np.abs(X[a:a + 65536]), initial=0.0)) for a in range(0, X.shape[0], 65536))
    raise ValueError(
        "Fitting the mixture model failed: the means or covariances overflowed to infinity, because "
        f"the values of X (largest magnitude {largest:.3g}) are too large for {X.dtype.name} "
        f"arithmetic. {_too_large_advice(X.dtype)}"
    )


def _check_representable(arrays, dtype):
    """The fitted parameters (float64) must be finite once cast to X's dtype."""
    limit = float(np.finfo(dtype).max)
    for name, a in arrays.items():
        a = np.asarray(a, dtype=np.float64)
        if dtype == np.float64 and _finite_array(a):     # |a| <= float64's max: finite (compiled check)
            continue
        if not np.all(np.abs(a) <= limit):
            biggest = float(np.max(np.abs(a)))
            raise ValueError(
                f"The fitted {name} has entries too large for {np.dtype(dtype).name} (largest magnitude "
                f"{biggest:.3g}, the limit is {limit:.3g}): the data's scale is too extreme. "
                f"{_too_large_advice(dtype)}"
            )


def _check_shape(param, shape, name, given):
    # scikit-learn's wording names the parameter initialised ('means'); the
    # remedy names the constructor parameter the user passed (means_init).
    if param.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got {param.shape}: "
                         f"pass {given} of that shape.")


def _check_finite_param(p, name):
    if not np.all(np.isfinite(p)):
        raise ValueError(f"The parameter '{name}' contains NaN or infinity.")


# ---------------------------------------------------------------------------
# Overlap of two components
# ---------------------------------------------------------------------------

#: Overlap (Bhattacharyya coefficient, weights included; see
#: ``_nearly_identical_pair``) from which two fitted components are one
#: cluster and ``_check_solution`` warns. With the weights as priors, the
#: best rule telling which of the two generated a point errs with
#: probability at least (1 - sqrt(1 - A^2)) / 2: 0.43 at A = 0.99, against 0.5
#: for identical components, i.e. it is right for at most 57% of the points.
#: In one dimension, at equal weights, 0.99 is a separation of 0.28 sd at
#: equal variances (two components stay one mode up to 2 sd apart, BC 0.61;
#: 1 sd apart is 0.88) or, at one mean, an sd ratio of 1.22. The merged fits
#: of examples/plot_classic_1d.py with init_params='random' score 0.9996 and
#: above; no k-means-started fit of the faithful data or of the tests'
#: mixtures (K = 2..4, every covariance type) scores above 0.91.
_MERGED_OVERLAP = 0.99


def bhattacharyya_coefficients(means, covariances, cov_type, a, b):
    """Bhattacharyya coefficients of pairs of Gaussian components: how much their densities overlap.

    For N(m_a, S_a) and N(m_b, S_b) with S = (S_a + S_b) / 2,

        BC = integral of sqrt(p_a(x) p_b(x)) dx = exp(-D_B),
        D_B = (m_a - m_b)^T S^-1 (m_a - m_b) / 8 + log(det S / sqrt(det S_a det S_b)) / 2.

    BC is 1 for identical densities and falls to 0 as they separate; it
    ignores the mixture weights.

    Parameters
    ----------
    means : array-like of shape (n_components, n_features)
    covariances : array-like
        In the layout of ``covariance_type`` (GaussianMixture's ``covariances_``).
    cov_type : {'full', 'tied', 'diag', 'spherical'}
    a, b : int or array-like of int
        Component indices of the pairs (broadcast against each other).

    Returns
    -------
    overlap : ndarray of shape (n_pairs,)
        BC of each pair (float64); NaN where a covariance is not positive definite.
    """
    m = np.asarray(means, dtype=np.float64)
    cov = np.asarray(covariances, dtype=np.float64)
    a, b = np.broadcast_arrays(np.atleast_1d(np.asarray(a, dtype=np.intp)),
                               np.atleast_1d(np.asarray(b, dtype=np.intp)))
    D = m.shape[1]
    diff = m[a] - m[b]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if cov_type == "full":
            S = 0.5 * (cov[a] + cov[b])
            sign, log_det = np.linalg.slogdet(S)
            sign_a, log_a = np.linalg.slogdet(cov[a])
            sign_b, log_b = np.linalg.slogdet(cov[b])
            singular = (sign <= 0) | (sign_a <= 0) | (sign_b <= 0)
            S[singular] = np.eye(D)                    # a placeholder: those pairs become NaN
            quad = np.einsum("nd,nd->n", diff, np.linalg.solve(S, diff[..., None])[..., 0])
            log_ratio = log_det - 0.5 * (log_a + log_b)
        elif cov_type == "tied":
            sign, _ = np.linalg.slogdet(cov)
            singular = np.full(a.shape, sign <= 0)
            quad = np.einsum("nd,nd->n", diff, np.linalg.solve(cov, diff.T).T) if sign > 0 else np.zeros(a.shape)
            log_ratio = np.zeros(a.shape)
        elif cov_type == "diag":
            S = 0.5 * (cov[a] + cov[b])
            singular = np.any((cov[a] <= 0) | (cov[b] <= 0), axis=1)
            quad = np.sum(diff ** 2 / S, axis=1)
            log_ratio = np.sum(np.log(S) - 0.5 * (np.log(cov[a]) + np.log(cov[b])), axis=1)
        else:
            S = 0.5 * (cov[a] + cov[b])
            singular = (cov[a] <= 0) | (cov[b] <= 0)
            quad = np.sum(diff ** 2, axis=1) / S
            log_ratio = D * (np.log(S) - 0.5 * (np.log(cov[a]) + np.log(cov[b])))
        # log_ratio >= 0 (the determinant of a mean of covariances is at least the
        # geometric mean of theirs); rounding may take an exact 0 just below.
        overlap = np.exp(-(quad / 8.0 + 0.5 * np.maximum(log_ratio, 0.0)))
    overlap[singular] = np.nan
    return overlap


def _largest_variance(covariances, cov_type, components):
    """The largest eigenvalue of the covariance of each of ``components`` (float64 array)."""
    cov = np.asarray(covariances, dtype=np.float64)
    if cov_type == "full":
        return np.linalg.eigvalsh(cov[components])[:, -1]
    if cov_type == "tied":
        return np.full(len(components), np.linalg.eigvalsh(cov)[-1])
    if cov_type == "diag":
        return cov[components].max(axis=1)
    return cov[components]


def check_loaded(self):
    """A loaded GaussianMixture's fitted attributes checked; ``degenerate_events_`` counted.

    Raises
    ------
    ValueError
        Naming the first attribute with a wrong shape, a non-finite or
        out-of-range value, or that disagrees with another.
    """
    check_option(self.covariance_type, "covariance_type", set(MODEL_NAMES), estimator_name=type(self).__name__)
    ct = _gaussian.layout(self.covariance_type)
    w = self.weights_
    if w.ndim != 1 or w.shape[0] < 1:
        raise ValueError(f"weights_ has shape {w.shape}; it holds one weight per component (K,), K >= 1.")
    K, D = w.shape[0], self.n_features_in_
    # Fewer components than n_components after on_degenerate="drop": the log must say so.
    check_loaded_events(self, K)
    shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[ct]
    for name, wanted in (("means_", (K, D)), ("covariances_", shape), ("precisions_", shape),
                         ("precisions_cholesky_", shape)):
        a = getattr(self, name)
        if a.shape != wanted:
            raise ValueError(f"{name} has shape {a.shape}; a {ct} model with K={K} and {D} features "
                             f"needs shape {wanted}.")
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        if not np.all(np.isfinite(getattr(self, name))):
            raise ValueError(f"{name} contains NaN or infinity.")
    w = w.astype(np.float64)
    tol = max(1e-8, 10 * K * float(np.finfo(self.weights_.dtype).eps))
    total = self._check_loaded_noise(w)
    if np.any(w < 0) or np.any(w > 1) or abs(w.sum() - total) > tol:
        raise ValueError(f"the weights must lie in [0, 1] and sum to {total:.17g} (1 less noise_weight_; "
                         f"they sum to {w.sum():.17g}).")
    prec = self.precisions_.astype(np.float64)
    pc = self.precisions_cholesky_.astype(np.float64)
    try:
        _gaussian.check_precisions(prec, ct)
    except (ValueError, np.linalg.LinAlgError) as e:
        raise ValueError(f"the precisions are not positive definite ({e}).") from None
    if ct in ("full", "tied"):
        if np.any(np.diagonal(pc, axis1=-2, axis2=-1) <= 0):
            raise ValueError("precisions_cholesky_ has a non-positive diagonal.")
    elif np.any(pc <= 0):
        raise ValueError("precisions_cholesky_ must be positive.")
    # A huge (altered) factor overflows when squared: inf then fails the comparison below.
    with np.errstate(over="ignore", invalid="ignore"):
        rebuilt = _gaussian.precisions_from_cholesky(pc, ct)
    rtol = 1e-4 if self.precisions_.dtype == np.float32 else 1e-9
    if not np.allclose(rebuilt, prec, rtol=rtol, atol=1e-6 * np.max(np.abs(prec))):
        raise ValueError("precisions_ and precisions_cholesky_ disagree.")
    if not _gaussian.obeys_model(self.covariance_type, w, self.covariances_.astype(np.float64), self.reg_covar,
                                 D, rtol=1e-3 if self.covariances_.dtype == np.float32 else 1e-6):
        raise ValueError(f"covariances_ do not have the form of the {self.covariance_type} model (its "
                         "equal volumes, shapes or orientations differ between components).")
