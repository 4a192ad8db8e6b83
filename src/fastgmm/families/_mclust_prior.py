"""mclust's conjugate priors: its default prior and the MAP M-steps of the ten models it offers one for.

Fraley & Raftery (2007) regularise a Gaussian mixture with a conjugate prior: each mean is normal about a prior
mean ``mu_p`` with its component's covariance shrunk by ``kappa`` (``mu_k | Sigma_k ~ N(mu_p, Sigma_k / kappa)``),
and each covariance part has an inverse-gamma (variances) or inverse-Wishart (matrices) prior with ``nu`` degrees
of freedom and scale ``Lambda``. The EM then maximises the posterior instead of the likelihood: the E-step is
unchanged, the M-step (``map_m_step``) finds the posterior mode. mclust offers this for EII, VII, EEI, VEI, EVI,
VVI, EEE, EEV, VEV and VVV (``PRIOR_MODELS``) and for univariate data (its E and V models).

With ``B_k = Lambda + W_k + c_k (xbar_k - mu_p)(xbar_k - mu_p)^T``, ``c_k = kappa n_k / (kappa + n_k)`` (the
scatter about the ML mean ``xbar_k``, the prior's scale and the price of shrinking the mean), every covariance
below maximises ``-1/2 sum_k [m_k log|Sigma_k| + tr(B_k Sigma_k^-1)]`` over the model's covariances, with these
counts ``m_k`` (only their sum matters where the volume is shared; ``N = sum_k n_k``, ``K`` components, ``D``
features, ``s = 1`` if ``kappa > 0`` else 0). They are the counts of mclust's EM (``me``), which is what
``Mclust()`` fits and reports BIC for:

==========  ====================================  =============================================================
model       counts                                the M-step
==========  ====================================  =============================================================
EII         D sum m_k = nu + (N + K) D + 2        sigma^2 = sum_k tr(B_k - Lambda) / (nu + (N + K) D + 2)
VII         D m_k = nu + n_k D + 2 + s D          sigma_k^2 = tr(B_k) / (D m_k)
EEI         sum m_k = nu + N + 1 + s              Sigma = diag(Lambda + sum_k (B_k - Lambda)) / sum m_k
VEI         D m_k = nu + n_k D + 2 + s            iterated: volumes given the shape, the shape given them
EVI         sum m_k = nu + N + 1 + s              lambda = sum_k |B_k|^(1/D) / sum m_k, A_k ~ diag B_k
VVI         m_k = nu + n_k + 2 + s                Sigma_k = diag(B_k) / m_k
EEE         sum m_k = nu + N + D + 1 + s K        Sigma = (Lambda + sum_k (B_k - Lambda)) / sum m_k
EEV         sum m_k = nu + N + D + 1 + s          lambda, A from the summed eigenvalues of the B_k
VEV         m_k = n_k                             iterated as VEI, on the eigenvalues of B_k
VVV         m_k = nu + n_k + D + 2                Sigma_k = B_k / m_k
==========  ====================================  =============================================================

(The diagonal models' ``Lambda`` is the prior's number times the identity and only the diagonal of ``B_k``
enters; the spherical models add the number once to the trace of ``B_k``, the scale of the inverse-gamma prior on
``sigma_k^2``. So each covariance is the maximum-likelihood one of the model, ``_mclust``'s
``constrained_covariances``, with ``n_k`` replaced by ``m_k`` and ``W_k`` by ``B_k``.) VII, VVI, EEE and VVV are exactly the posterior modes under the prior above; the others are
what mclust computes, which differs from that mode in ways worth knowing:

- EII leaves the prior's scale out (mclust's Fortran never adds it), so its variance is not kept from 0 by it;
- EEI keeps the ML means (no shrinkage), yet puts the shrinkage term into the variances;
- the volume counts of EEI, VEI, EVI and EEV are not those of the joint mode (EEI's lacks the K means' priors);
- VEV's counts have no prior degrees of freedom at all: an empty component's volume is unbounded, so
  ``map_m_step`` refuses one (use VVV or EEV, or drop the component).

mclust's ``mstep()`` (one M-step from given responsibilities) differs from its EM for EII, EEI, EVI and EEV
(other denominators; for EEV it drops the shrinkage, a bug in its Fortran): this module follows the EM.

Where mclust takes another route, so does this module: with one component (``Mclust(G = 1)`` fits its ``XII``,
``XXI`` and ``XXX`` models) the spherical models take VII's M-step, the diagonal ones VVI's and the full ones
EEE's; with one feature (mclust's univariate E and V models) the models with an equal volume (first letter E)
take ``sigma^2 = (Lambda + sum_k (B_k - Lambda)) / (nu + N + K + 2)`` and the others
``sigma_k^2 = B_k / (nu + n_k + 3)`` (with one component, either: ``B / (nu + N + 2 + s)``). Means are shrunk, ``(n_k xbar_k + kappa mu_p) / (n_k + kappa)``,
except EEI's with more than one component and feature.

mclust's BIC under a prior is ``2 loglik - n_params log n`` with the log-likelihood at the MAP estimate (no log
prior density term; ``tests/data/mclust/make_prior.R`` checks this in R), so nothing here computes the prior's
density. mclust counts rows where this module uses ``N = sum_k n_k`` (equal without sample weights).
"""

import numbers
from dataclasses import dataclass

import numpy as np

from ._mclust_iterative import geomean, sorted_eigh

PRIOR_MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "EEV", "VEV", "VVV")
#: scikit-learn's covariance types and the mclust models they are.
SKLEARN_EQUIVALENT = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}
_LAYOUT = {"EII": "spherical", "VII": "spherical", "EEI": "diag", "VEI": "diag", "EVI": "diag", "VVI": "diag",
           "EEE": "tied", "EEV": "full", "VEV": "full", "VVV": "full"}
#: Models whose prior scale is a (D, D) matrix; the others take a number (mclust's defaultPrior).
_MATRIX_SCALE = ("EEE", "EEV", "VEV", "VVV")
#: mclust's inner tolerance (emControl()$tol[2]) for the iterated VEI and VEV M-steps.
DEFAULT_TOL = float(np.sqrt(np.finfo(np.float64).eps))
DEFAULT_MAX_ITER = 100_000


@dataclass(frozen=True)
class Prior:
    """A conjugate prior as mclust's ``defaultPrior`` returns it.

    Attributes
    ----------
    shrinkage : float
        ``kappa``: the prior mean counts as this many observations (0: no prior on the means).
    mean : ndarray of shape (n_features,)
        ``mu_p``, the prior mean.
    dof : float
        ``nu``, the degrees of freedom of the covariance prior.
    scale : float or ndarray of shape (n_features, n_features)
        ``Lambda``: a (D, D) matrix for EEE, EEV, VEV and VVV with more than one feature, otherwise a number
        (the diagonal and spherical models' ``Lambda`` is this number times the identity).
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: object


def _mclust_name(model, name="model"):
    if isinstance(model, str) and model in SKLEARN_EQUIVALENT:
        return SKLEARN_EQUIVALENT[model]
    if not isinstance(model, str) or model not in PRIOR_MODELS:
        raise ValueError(f"The parameter '{name}' must be one of the models mclust has a prior for "
                         f"({', '.join(PRIOR_MODELS)}) or one of scikit-learn's covariance types "
                         f"({', '.join(SKLEARN_EQUIVALENT)}); got {model!r}. mclust has no prior for EVE, VEE, "
                         f"VVE or EVV.")
    return model


def _real(value, name, *, low=0.0, strict=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value < low or (strict and value == low):
        relation = ">" if strict else ">="
        raise ValueError(f"The parameter '{name}' must be a finite number {relation} {low:g}, got {value!r}.")
    return float(value)


def _float_array(value, name):
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"The parameter '{name}' must be an array of numbers.") from None
    if not np.all(np.isfinite(out)):
        raise ValueError(f"The parameter '{name}' must be finite (no NaN or infinity).")
    return out


# ---------------------------------------------------------------------------
# The default prior
# ---------------------------------------------------------------------------

def _weighted_moments(X, sample_weight):
    """Column means and the covariance with the ``n - 1`` denominator (R's ``var``), for frequency weights."""
    if sample_weight is None:
        w = np.ones(X.shape[0])
    else:
        w = _float_array(sample_weight, "sample_weight")
        if w.shape != (X.shape[0],):
            raise ValueError(f"The parameter 'sample_weight' must have the shape ({X.shape[0]},) (one weight per "
                             f"row of X), got {w.shape}.")
        if np.any(w < 0):
            raise ValueError("The parameter 'sample_weight' must hold weights >= 0.")
    total = float(np.sum(w))
    if not total > 1:
        raise ValueError("The default prior needs a sample variance, so the rows of X (or their weights) must "
                         f"sum to more than 1; got {total:g}. Give 'scale' yourself for so little data.")
    mean = w @ X / total
    centred = X - mean
    cov = (centred * w[:, None]).T @ centred / (total - 1.0)
    return mean, cov, int(np.count_nonzero(w))


def default_prior(X, n_components, model, *, sample_weight=None, shrinkage=0.01, mean=None, dof=None,
                  scale=None):
    """mclust's ``defaultPrior(X, G, modelName)`` (Fraley & Raftery 2007's default conjugate prior).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data (a 1-D array is one feature).
    n_components : int
        ``G``: the default scale shrinks with it, ``var(X) / G^(2/D)``.
    model : str
        One of ``PRIOR_MODELS`` or scikit-learn's ``spherical``, ``diag``, ``tied``, ``full``.
    sample_weight : array-like of shape (n_samples,), optional
        Frequency weights: the mean and variances are those of the data with each row repeated ``w`` times
        (the variance divides by ``sum(w) - 1``, as R's ``var`` divides by ``n - 1``), so integer weights give
        exactly mclust's prior for the repeated rows.
    shrinkage : float, default 0.01
        ``kappa`` (>= 0); 0 puts no prior on the means.
    mean : array-like of shape (n_features,), optional
        The prior mean (default the column means). Needs ``shrinkage > 0``, as in mclust.
    dof : float, optional
        The prior's degrees of freedom (default ``D + 2``; 3 for one feature). mclust's ``defaultPrior`` always
        uses the default; this lets a caller choose.
    scale : float or array-like of shape (n_features, n_features), optional
        ``Lambda`` (default: the sample covariance divided by ``G^(2/D)`` for EEE, EEV, VEV and VVV, its
        diagonal if ``n_samples <= D``; the mean of the column variances divided by ``G^(2/D)`` for the others;
        ``var / G^2`` with one feature). A number >= 0 for the diagonal and spherical models and for one
        feature, a symmetric positive semi-definite (D, D) matrix otherwise.

    Returns
    -------
    Prior
    """
    model = _mclust_name(model)
    X = _float_array(X, "X")
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"The parameter 'X' must have the shape (n_samples, n_features), got {X.shape}.")
    if isinstance(n_components, (bool, np.bool_)) or not isinstance(n_components, numbers.Integral) \
            or n_components < 1:
        raise ValueError(f"The parameter 'n_components' must be an integer >= 1, got {n_components!r}.")
    shrinkage = _real(shrinkage, "shrinkage")
    D = X.shape[1]
    xmean, cov, n_rows = _weighted_moments(X, sample_weight)
    if mean is None:
        mean = xmean
    else:
        if shrinkage == 0:
            raise ValueError("The parameter 'mean' is given but 'shrinkage' is 0, so the prior mean would not be "
                             "used: give a shrinkage > 0 (mclust's default is 0.01) or leave 'mean' out.")
        mean = _float_array(mean, "mean")
        if mean.shape != (D,):
            raise ValueError(f"The parameter 'mean' must have the shape ({D},) (one value per feature), "
                             f"got {mean.shape}.")
    dof = float(D + 2) if dof is None else _real(dof, "dof", strict=True)
    factor = float(n_components) ** (-2.0 / D)
    if scale is None:
        if D == 1:
            scale = float(cov[0, 0]) * factor
        elif model in _MATRIX_SCALE:
            scale = factor * (cov if n_rows > D else np.diag(np.diag(cov)))
        else:
            scale = factor * float(np.trace(cov)) / D
    else:
        scale = _check_scale(scale, model, D)
    return Prior(shrinkage=shrinkage, mean=np.array(mean, dtype=np.float64), dof=dof, scale=scale)


def _check_scale(scale, model, D):
    if D > 1 and model in _MATRIX_SCALE:
        S = _float_array(scale, "scale")
        if S.shape != (D, D):
            raise ValueError(f"The parameter 'scale' must be a ({D}, {D}) matrix for the model {model}, got the "
                             f"shape {S.shape}.")
        if not np.allclose(S, S.T, rtol=1e-10, atol=0.0):
            raise ValueError("The parameter 'scale' must be a symmetric matrix.")
        S = 0.5 * (S + S.T)
        if np.linalg.eigvalsh(S)[0] < -1e-12 * np.max(np.abs(S)):
            raise ValueError("The parameter 'scale' must be positive semi-definite (an inverse-Wishart scale).")
        return S
    S = _float_array(scale, "scale")
    if S.size != 1:
        raise ValueError(f"The parameter 'scale' must be a number for the model {model}"
                         f"{' with one feature' if D == 1 else ''} (Lambda times the identity), got the shape "
                         f"{S.shape}.")
    return _real(float(S.reshape(())), "scale")


# ---------------------------------------------------------------------------
# Checks of the M-step's inputs
# ---------------------------------------------------------------------------

def _check_nk(nk):
    nk = _float_array(nk, "nk")
    if nk.ndim != 1 or nk.size == 0:
        raise ValueError(f"The parameter 'nk' must have the shape (n_components,), got {nk.shape}.")
    if np.any(nk < 0):
        raise ValueError("The parameter 'nk' must hold weights >= 0 (the responsibility sums).")
    if not np.sum(nk) > 0:
        raise ValueError("The parameter 'nk' sums to 0: no component has weight, so there is nothing to fit.")
    return nk


def _check_scatter(scatter, lay, K, D):
    s = _float_array(scatter, "scatter")
    want = {"full": (K, D, D), "diag": (K, D), "spherical": (K,), "tied": (D, D)}[lay]
    if s.shape != want:
        hint = {"full": "(n_components, n_features, n_features): W_k", "diag": "(n_components, n_features): "
                "the diagonal of W_k", "spherical": "(n_components,): the trace of W_k",
                "tied": "(n_features, n_features): sum_k W_k"}[lay]
        raise ValueError(f"The parameter 'scatter' must have the shape {hint}, for the '{lay}' layout with {K} "
                         f"components and {D} features; got {s.shape}.")
    if lay in ("full", "tied"):
        if not np.allclose(s, np.swapaxes(s, -1, -2), rtol=1e-10, atol=0.0):
            raise ValueError("The parameter 'scatter' must be symmetric (scatter matrices).")
        s = 0.5 * (s + np.swapaxes(s, -1, -2))
    diagonal = s if lay in ("diag", "spherical") else np.diagonal(s, axis1=-2, axis2=-1)
    if np.any(diagonal < 0):
        raise ValueError("The parameter 'scatter' must be positive semi-definite (it has a negative variance).")
    return s


def _check_prior(prior, model, D):
    if not isinstance(prior, Prior):
        raise TypeError(f"The parameter 'prior' must be a Prior (see default_prior), got {type(prior).__name__}.")
    shrinkage = _real(prior.shrinkage, "prior.shrinkage")
    mean = _float_array(prior.mean, "prior.mean")
    if mean.shape != (D,):
        raise ValueError(f"The parameter 'prior.mean' must have the shape ({D},) (one value per feature), "
                         f"got {mean.shape}.")
    dof = _real(prior.dof, "prior.dof", strict=True)
    return shrinkage, mean, dof, _check_scale(prior.scale, model, D)


def _check_iteration(tol, max_iter):
    tol = DEFAULT_TOL if tol is None else tol
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real) or not 0 < tol < 1:
        raise ValueError(f"The parameter 'tol' must be a number in (0, 1) (relative change), got {tol!r}.")
    max_iter = DEFAULT_MAX_ITER if max_iter is None else max_iter
    if isinstance(max_iter, (bool, np.bool_)) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"The parameter 'max_iter' must be an integer >= 1, got {max_iter!r}.")
    return float(tol), int(max_iter)


# ---------------------------------------------------------------------------
# The MAP M-step
# ---------------------------------------------------------------------------

def map_m_step(model, nk, xbar, scatter, prior, *, start=None, tol=None, max_iter=None):
    """The MAP means and covariances of ``model`` under a conjugate prior, as mclust's EM computes them.

    Parameters
    ----------
    model : str
        One of ``PRIOR_MODELS`` or scikit-learn's ``spherical``, ``diag``, ``tied``, ``full`` (VII, VVI, EEE,
        VVV).
    nk : array-like of shape (n_components,)
        Component weights ``n_k = sum_i w_i r_ik`` (>= 0, not all 0; a component may be empty).
    xbar : array-like of shape (n_components, n_features)
        The ML means ``sum_i w_i r_ik x_i / n_k`` (any finite value for an empty component).
    scatter : array-like
        The within-component scatter ``W_k = sum_i w_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T`` in the shape of the
        model's layout: (K,) its trace for EII and VII; (K, D) its diagonal for EEI, VEI, EVI and VVI; (D, D)
        ``sum_k W_k`` for EEE; (K, D, D) for EEV, VEV and VVV.
    prior : Prior
        From ``default_prior`` (its scale a matrix for EEE, EEV, VEV, VVV with D > 1, otherwise a number).
    start : array-like, optional
        VEI and VEV only: the previous EM iteration's covariances in the layout's shape, whose volumes and shape
        the iteration starts from, as mclust's EM carries them from one M-step to the next. Without it the
        iteration starts where mclust's first EM iteration does.
    tol, max_iter : optional
        The iteration's stopping rule for VEI and VEV: no volume or shape entry changes by more than
        ``tol (1 + new value)`` (default mclust's ``sqrt(eps)``), or ``max_iter`` iterations (default 100,000).

    Returns
    -------
    means : ndarray of shape (n_components, n_features)
        The means mclust's EM uses: shrunk towards the prior mean, ``(n_k xbar_k + kappa mu_p) / (n_k + kappa)``,
        except EEI's (the ML means, with K > 1 and D > 1; the prior mean for an empty component).
    covariances : ndarray
        float64 covariances in the layout's shape: (K,) variances, (K, D) diagonals, (D, D) or (K, D, D).

    Raises
    ------
    ValueError
        On inputs of the wrong shape or sign; for VEV with an empty component (its volume is unbounded under
        mclust's counts); where a zero prior scale leaves a covariance singular or undefined.
    """
    model = _mclust_name(model)
    lay = _LAYOUT[model]
    nk = _check_nk(nk)
    K = nk.size
    xbar = _float_array(xbar, "xbar")
    if xbar.ndim != 2 or xbar.shape[0] != K or xbar.shape[1] == 0:
        raise ValueError(f"The parameter 'xbar' must have the shape ({K}, n_features) (one ML mean per "
                         f"component), got {xbar.shape}.")
    D = xbar.shape[1]
    W = _check_scatter(scatter, lay, K, D)
    kappa, mu_p, nu, Lam = _check_prior(prior, model, D)
    tol, max_iter = _check_iteration(tol, max_iter)
    s = 1.0 if kappa > 0 else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(nk + kappa > 0, kappa * nk / (nk + kappa), 0.0)
        shrunk = np.where((nk + kappa > 0)[:, None], (nk[:, None] * xbar + kappa * mu_p) / (nk + kappa)[:, None],
                          xbar)
    S = W + _shrinkage_term(lay, c, xbar - mu_p)     # B_k - Lambda, in the layout's form
    N = float(np.sum(nk))
    if D == 1:
        covariances = _univariate(model, lay, nk, S, Lam, nu, s)
    elif K == 1:
        covariances = _one_component(lay, N, S, Lam, nu, s, D)
    else:
        covariances = _several(model, nk, S, Lam, nu, s, D, start, tol, max_iter)
    if not np.all(np.isfinite(covariances)):
        raise ValueError(f"The {model} MAP covariances are not finite: with a prior scale of 0 a constant feature "
                         f"leaves them undefined. Give the prior a scale > 0 (default_prior's default).")
    if model == "EEI" and K > 1 and D > 1:      # mclust's EM keeps EEI's ML means (an empty one: the prior's)
        shrunk = np.where((nk > 0)[:, None], xbar, shrunk)
    return shrunk, covariances


def _shrinkage_term(lay, c, d):
    """``c_k d_k d_k^T`` (the price of moving a mean to the prior mean) in the layout's form."""
    if lay == "spherical":
        return c * np.sum(d * d, axis=1)
    if lay == "diag":
        return c[:, None] * d * d
    outer = c[:, None, None] * d[:, :, None] * d[:, None, :]
    return outer.sum(axis=0) if lay == "tied" else outer


def _in_layout(lay, values, K, D):
    """Variances (K,) of one feature, or one (D, D) / (D,) covariance, broadcast to the layout's shape."""
    if lay == "spherical":
        return np.broadcast_to(values, (K,)).astype(np.float64)
    if lay == "diag":
        return np.broadcast_to(np.reshape(values, (-1, D)), (K, D)).astype(np.float64)
    if lay == "tied":
        return np.reshape(values, (D, D)).astype(np.float64)
    return np.broadcast_to(np.reshape(values, (-1, D, D)), (K, D, D)).astype(np.float64)


def _univariate(model, lay, nk, S, Lam, nu, s):
    """mclust's E and V models (and its X with one component) for one feature."""
    K = nk.size
    total = float(np.sum(S))
    if K == 1:
        return _in_layout(lay, (Lam + total) / (nu + nk[0] + 2.0 + s), 1, 1)
    if model[0] == "E":
        return _in_layout(lay, (Lam + total) / (nu + np.sum(nk) + K + 2.0), K, 1)
    own = S.reshape(K, -1)[:, 0]        # one feature: each component's scatter is a number (no V model is tied)
    return _in_layout(lay, (Lam + own) / (nu + nk + 3.0), K, 1)


def _one_component(lay, N, S, Lam, nu, s, D):
    """mclust's XII, XXI and XXX (what Mclust fits for G = 1): VII's, VVI's and EEE's M-steps."""
    if lay == "spherical":
        return (Lam + S) / (nu + N * D + 2.0 + s * D)
    if lay == "diag":
        return (Lam + S) / (nu + N + 2.0 + s)
    total = S if lay == "tied" else S[0]
    return _in_layout(lay, (Lam + total) / (nu + N + D + 1.0 + s), 1, D)


def _several(model, nk, S, Lam, nu, s, D, start, tol, max_iter):
    K = nk.size
    N = float(np.sum(nk))
    if model == "EII":      # mclust's EM leaves the prior scale out of EII's variance
        return np.full(K, np.sum(S) / (nu + (N + K) * D + 2.0))
    if model == "VII":
        return (Lam + S) / (nu + nk * D + 2.0 + s * D)
    if model == "EEI":
        return _in_layout("diag", (Lam + S.sum(axis=0)) / (nu + N + 1.0 + s), K, D)
    if model == "VVI":
        return (Lam + S) / (nu + nk + 2.0 + s)[:, None]
    if model == "EVI":
        B = Lam + S
        g = geomean(B)
        with np.errstate(invalid="ignore", divide="ignore"):
            return B / g[:, None] * (np.sum(g) / (nu + N + 1.0 + s))
    if model == "EEE":
        return (Lam + S) / (nu + N + D + 1.0 + s * K)
    if model == "VVV":
        return (Lam + S) / (nu + nk + D + 2.0)[:, None, None]
    if model == "VEI":
        e = Lam + S
        lam, a = _volumes_and_shape(e, nu + nk * D + 2.0 + s, _vei_start(start, K, D), tol, max_iter)
        return lam[:, None] * a
    e, V = sorted_eigh(Lam + S)
    if model == "EEV":
        a = e.sum(axis=0)
        return (V * (a / (nu + N + D + 1.0 + s))) @ np.swapaxes(V, 1, 2)
    # VEV: mclust's counts are n_k D, with no prior degrees of freedom
    if np.any(nk <= 100 * np.finfo(np.float64).eps * N):
        raise ValueError("VEV under mclust's prior cannot fit an empty component (its volume's count is n_k = 0, "
                         "the prior adds none): drop the component, or use VVV or EEV, whose prior keeps it "
                         "finite.")
    initial = _vev_start(start, e, nk, K, D)
    lam, a = _volumes_and_shape(e, nk * D, initial, tol, max_iter)
    cov = (V * (lam[:, None] * a)[:, None, :]) @ np.swapaxes(V, 1, 2)
    return 0.5 * (cov + np.swapaxes(cov, 1, 2))


def _volumes_and_shape(e, counts, initial, tol, max_iter):
    """Alternate ``lambda_k = sum_j e_kj / a_j / counts_k`` and ``a ~ sum_k e_k / lambda_k`` (determinant 1)."""
    lam, a = initial
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(max_iter):
            new_lam = np.sum(e / a, axis=1) / counts
            new_a = np.sum(e / new_lam[:, None], axis=0)
            new_a = new_a / geomean(new_a)
            change = max(np.max(np.abs(lam - new_lam) / (1.0 + new_lam)), np.max(np.abs(a - new_a) / (1.0 + new_a)))
            lam, a = new_lam, new_a
            if not change > tol:
                break
    return lam, a


def _vei_start(start, K, D):
    if start is None:
        return np.ones(K), np.ones(D)        # mclust's first EM iteration: unit volumes and shape
    values = _float_array(start, "start")
    if values.shape != (K, D) or np.any(values <= 0):
        raise ValueError(f"The parameter 'start' must be the previous VEI covariances: positive, of the shape "
                         f"({K}, {D}); got the shape {values.shape}.")
    return _volumes_and_common_shape(values)


def _vev_start(start, e, nk, K, D):
    if start is None:               # mclust: the shape of the summed eigenvalues, volumes from it over n_k
        a = e.sum(axis=0)
        g = geomean(a)
        return g / nk, a / g
    values = _float_array(start, "start")
    if values.shape != (K, D, D):
        raise ValueError(f"The parameter 'start' must be the previous VEV covariances, of the shape ({K}, {D}, "
                         f"{D}); got {values.shape}.")
    eig = np.linalg.eigvalsh(0.5 * (values + np.swapaxes(values, 1, 2)))[:, ::-1]
    if np.any(eig <= 0):
        raise ValueError("The parameter 'start' must hold positive-definite covariances.")
    return _volumes_and_common_shape(eig)


def _volumes_and_common_shape(values):
    """Per-component volumes (geometric means) and the common shape (their mean, determinant 1)."""
    lam = geomean(values)
    a = np.mean(values / lam[:, None], axis=0)
    return lam, a / geomean(a)
