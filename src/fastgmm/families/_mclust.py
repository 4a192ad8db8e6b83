"""mclust's fourteen covariance models: their M-steps, parameter counts and volume/shape/orientation parts.

Celeux & Govaert (1995) write a component covariance as ``Sigma_k = lambda_k D_k A_k D_k^T``: a volume
``lambda_k > 0``, a diagonal shape ``A_k`` with determinant 1 and an orthogonal orientation ``D_k``. Each of the
three letters of a model name says whether that part is Equal across components, Variable, or the Identity
(volume, shape, orientation, in that order): ``VEV`` has its own volume and orientation per component and one
shape shared by all. mclust (Fraley & Raftery 2002) fits fourteen of these; four are scikit-learn's covariance
types under another name (``SKLEARN_EQUIVALENT``).

Everything here works on the within-component scatter ``W_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T`` and the
component weights ``n_k``, in the shape of the scikit-learn layout whose E-step kernel the model uses
(``layout``): a model that has no orientation, or an identity shape, never needs more than the diagonal or the
trace of ``W_k``. Nine models have a closed-form M-step; five (VEI, VEE, VVE, EVE, VEV) iterate, as mclust
does, in ``_mclust_iterative``.

Two cases the maximum-likelihood formulas do not cover:

- an *empty* component (``n_k`` at most ``EMPTY_WEIGHT`` times the total weight) takes no part in the
  parameters the components share; it gets the shared parts and, where its own part is free, a zero volume
  (its covariance is 0, as ``scatter / n_k`` would be), so the caller's ``reg_covar`` and degeneracy checks
  treat it as they treat an empty scikit-learn component;
- a scatter that is singular where the model needs it to be positive definite (say a constant feature
  inside one component of EVI) has no maximiser. Such a component gets its own ``W_k / n_k``, which is
  singular, and the caller's singular-covariance check reports it. In an iterative model the shared part
  is then undefined too, and every component whose estimate came out non-finite gets its own ``W_k / n_k``.
  Nothing raises and nothing is NaN: the caller decides what a singular covariance means.
"""

import numbers

import numpy as np

from ..kernels import _mclust_mstep as _kernel
from . import _mclust_iterative as _it

MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")
SKLEARN_EQUIVALENT = {"VII": "spherical", "VVI": "diag", "EEE": "tied", "VVV": "full"}
_FROM_SKLEARN = {v: k for k, v in SKLEARN_EQUIVALENT.items()}
#: The models whose M-step iterates (and starts from the previous covariances).
ITERATIVE_MODELS = frozenset(_it.ITERATIVE)
_SKLEARN = ("spherical", "diag", "tied", "full")
_LAYOUT = {"EII": "spherical", "VII": "spherical", "EEI": "diag", "VEI": "diag", "EVI": "diag",
           "VVI": "diag", "EEE": "tied"}
#: A component whose weight is at most this fraction of the total is empty (see the module docstring).
EMPTY_WEIGHT = 100 * np.finfo(np.float64).eps
#: mclust's inner tolerance, emControl()$tol[2]: the iterative M-steps stop at this relative change.
DEFAULT_TOL = float(np.sqrt(np.finfo(np.float64).eps))
#: mclust's emControl()$itmax[2] is .Machine$integer.max; a finite bound keeps a flat objective from looping
#: for ever (the iterations that converge at all do so in far fewer steps).
DEFAULT_MAX_ITER = 100_000


def _check_model(model, name="model"):
    if not isinstance(model, str) or (model not in MODELS and model not in _SKLEARN):
        raise ValueError(f"The parameter '{name}' must be one of mclust's models {', '.join(MODELS)} or one of "
                         f"scikit-learn's covariance types {', '.join(_SKLEARN)}; got {model!r}.")
    return model


def layout(model):
    """The scikit-learn covariance type whose kernel, statistics and attribute shapes ``model`` uses.

    Parameters
    ----------
    model : str
        One of ``MODELS`` or a scikit-learn covariance type (which maps to itself).

    Returns
    -------
    str
        ``'spherical'`` for EII and VII, ``'diag'`` for EEI, VEI, EVI and VVI, ``'tied'`` for EEE and
        ``'full'`` for the other seven.
    """
    _check_model(model)
    if model in _SKLEARN:
        return model
    return _LAYOUT.get(model, "full")


def _as_count(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"The parameter '{name}' must be an integer >= 1, got {value!r}.")
    return int(value)


def n_covariance_parameters(model, n_components, n_features):
    """Free covariance parameters of ``model``, counted as mclust's ``nVarParams`` counts them.

    Parameters
    ----------
    model : str
        One of ``MODELS`` or a scikit-learn covariance type (counted as fastgmm counts it, which for the four
        equals mclust's count of the equivalent model).
    n_components, n_features : int
        K and D, both at least 1.

    Returns
    -------
    int
        The count. A volume is one parameter, a shape D - 1 (its determinant is fixed), an orientation
        D (D - 1) / 2; EVV counts ``1 - K + K D (D + 1) / 2`` (a shared volume of otherwise free matrices).
    """
    model = _check_model(model)
    K = _as_count(n_components, "n_components")
    D = _as_count(n_features, "n_features")
    model = _FROM_SKLEARN.get(model, model)
    volume = 1 if model[0] == "E" else K
    shape = {"I": 0, "E": D - 1, "V": K * (D - 1)}[model[1]]
    orientation = {"I": 0, "E": D * (D - 1) // 2, "V": K * D * (D - 1) // 2}[model[2]]
    if model == "EVV":
        return 1 - K + K * D * (D + 1) // 2
    return volume + shape + orientation


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

def _check_nk(nk):
    try:
        nk = np.asarray(nk, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("The parameter 'nk' must be an array of component weights (numbers).") from None
    if nk.ndim != 1 or nk.size == 0:
        raise ValueError(f"The parameter 'nk' must have the shape (n_components,), got {nk.shape}.")
    if not np.all(np.isfinite(nk)) or np.any(nk < 0):
        raise ValueError("The parameter 'nk' must hold finite weights >= 0 (the responsibility sums).")
    if not np.sum(nk) > 0:
        raise ValueError("The parameter 'nk' sums to 0: no component has weight, so there is nothing to fit.")
    return nk


def scatter_shape(lay, K, D):
    """The shape of a layout's scatter (and covariances) for K components of D features."""
    return {"full": (K, D, D), "diag": (K, D), "spherical": (K,), "tied": (D, D)}[lay]


def _check_scatter(scatter, lay, K, name="scatter"):
    try:
        s = np.asarray(scatter, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"The parameter '{name}' must be an array of numbers.") from None
    ndim = {"full": 3, "diag": 2, "spherical": 1, "tied": 2}[lay]
    D = 1 if lay == "spherical" else (s.shape[-1] if s.ndim == ndim else 0)
    want = scatter_shape(lay, K, D)
    if s.shape != want or D == 0:
        hint = {"full": "(n_components, n_features, n_features)", "diag": "(n_components, n_features)",
                "spherical": "(n_components,)", "tied": "(n_features, n_features)"}[lay]
        raise ValueError(f"The parameter '{name}' must have the shape {hint} for the '{lay}' layout with "
                         f"{K} components, got {s.shape}.")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"The parameter '{name}' must be finite.")
    if lay in ("full", "tied"):
        t = s if lay == "full" else s[None]
        # Relative to each matrix's largest entry: sums of outer products made in another order (or in
        # float32) differ in the last bits, most visibly in entries near 0.
        scale = np.max(np.abs(t), axis=(1, 2), keepdims=True)
        if np.any(np.abs(t - np.swapaxes(t, -1, -2)) > 1e-6 * scale):
            raise ValueError(f"The parameter '{name}' must be symmetric (scatter matrices).")
        s = 0.5 * (t + np.swapaxes(t, -1, -2))
        s = s if lay == "full" else s[0]
    diagonal = s if lay in ("diag", "spherical") else np.diagonal(s, axis1=-2, axis2=-1)
    if np.any(diagonal < 0):
        raise ValueError(f"The parameter '{name}' must be positive semi-definite (it has a negative variance).")
    return s


def _check_options(tol, max_iter):
    tol = DEFAULT_TOL if tol is None else tol
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real) or not 0 < tol < 1:
        raise ValueError(f"The parameter 'tol' must be a number in (0, 1) (relative change), got {tol!r}.")
    max_iter = DEFAULT_MAX_ITER if max_iter is None else _as_count(max_iter, "max_iter")
    return float(tol), max_iter


def _check_n_features(n_features, lay, W):
    if n_features is None:
        if lay == "spherical":
            raise ValueError("The parameter 'n_features' is required for the spherical layout (EII, VII, "
                             "spherical): its scatter is a trace, which does not say how many features it sums.")
        return W.shape[-1]
    n_features = _as_count(n_features, "n_features")
    if lay != "spherical" and n_features != W.shape[-1]:
        raise ValueError(f"The parameter 'n_features' ({n_features}) does not match the scatter's "
                         f"{W.shape[-1]} features.")
    return n_features


# ---------------------------------------------------------------------------
# M-steps
# ---------------------------------------------------------------------------

def constrained_covariances(model, nk, scatter, *, tol=None, max_iter=None, start=None, n_features=None):
    """The maximum-likelihood covariances of ``model`` given component weights and scatters.

    Parameters
    ----------
    model : str
        One of ``MODELS`` or a scikit-learn covariance type.
    nk : array-like of shape (n_components,)
        Component weights ``n_k = sum_i w_i r_ik`` (>= 0, not all 0).
    scatter : array-like
        The within-component scatter ``W_k`` about each component's mean, in the shape of ``layout(model)``:
        'full' (K, D, D) ``W_k``; 'diag' (K, D) its diagonal; 'spherical' (K,) its trace; 'tied' (D, D)
        ``sum_k W_k``.
    tol : float, optional
        Relative change at which an iterative M-step stops (default mclust's ``sqrt(eps)``).
    max_iter : int, optional
        Bound on the iterations of an iterative M-step (default 100,000).
    start : array-like, optional
        Covariances in the layout's shape (the previous EM iteration's) to start an iterative M-step from,
        as mclust's EM does for VEI, VEV, EVE and VVE. Without it the M-step starts where mclust's ``mstep``
        does. Ignored by the closed-form models.
    n_features : int, optional
        D. Required for the 'spherical' layout (EII, VII, spherical), whose scatter, a trace, does not say it;
        checked against the scatter's shape otherwise.

    Returns
    -------
    ndarray
        float64 covariances in the layout's shape, without regularisation (the caller adds ``reg_covar``).
    """
    model = _check_model(model)
    lay = layout(model)
    nk = _check_nk(nk)
    K = nk.shape[0]
    W = _check_scatter(scatter, lay, K)
    D = _check_n_features(n_features, lay, W)
    tol, max_iter = _check_options(tol, max_iter)
    if start is not None:
        start = _check_scatter(start, lay, K, name="start")
    return constrained_unchecked(model, nk, W, D, tol, max_iter, start)


def constrained_unchecked(model, nk, W, D, tol, max_iter, start):
    """:func:`constrained_covariances` without its checks, for callers whose statistics are valid by
    construction (float64, the layout's shape, symmetric, weights > 0)."""
    return constrained_step(model, nk, W, D, tol, max_iter, start, from_moments=False, reg_covar=0.0)


def constrained_step(model, nk, values, D, tol, max_iter, start, *, from_moments, reg_covar):
    """The model's covariances plus ``reg_covar`` in one compiled call (``fastgmm.kernels._mclust_mstep``).

    ``values``: the scatters W (``from_moments=False``) or the unregularised covariances of the moments'
    M-step, from which W = n_k cov (a rounding-negative variance set to 0); ``start``: the iterative models'
    previous covariances with ``reg_covar`` (None: mclust's own start). Closed forms for nine models, the
    iterations of five; an empty component (weight at most ``EMPTY_WEIGHT`` of the total) takes no part in
    the shared parts, a component whose iterative estimate is not finite gets its own W_k / n_k, full
    covariances come out exactly symmetric (the module docstring). The NumPy code this replaced is
    tests/_reference_mclust_closed.py, which the kernel is tested against.
    """
    model = _FROM_SKLEARN.get(model, model)
    values = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty(values.shape)
    if start is not None:
        start = np.ascontiguousarray(start, dtype=np.float64).ravel()
    status = _kernel.constrained_step(_kernel.MODEL_CODES[model], np.ascontiguousarray(nk, dtype=np.float64),
                                      values.ravel(), D, from_moments, float(reg_covar), float(tol),
                                      int(max_iter), start, EMPTY_WEIGHT, out.ravel())
    if status < 0:
        raise MemoryError(f"The {model} M-step could not allocate its scratch memory (a few D x D matrices per "
                          "component); free memory or use fewer components.")
    return out


# ---------------------------------------------------------------------------
# Volume, shape, orientation
# ---------------------------------------------------------------------------

def decompose(model, covariances, *, n_features=None, n_components=None):
    """mclust's parametrisation of covariances of ``model`` (in the layout's shape).

    Parameters
    ----------
    model : str
        One of ``MODELS`` or a scikit-learn covariance type.
    covariances : array-like
        Positive-definite covariances in the shape of ``layout(model)``.
    n_features : int, optional
        D; required for the 'spherical' layout, whose covariances (K,) do not say it.
    n_components : int, optional
        K for the 'tied' layout, whose one matrix is repeated K times in 'sigma' (default 1).

    Returns
    -------
    dict
        ``'scale'``: lambda, a float for E-volume models, (K,) otherwise; ``'shape'``: A with determinant 1,
        (D,) when shared, (K, D) otherwise, sorted largest first where there is an orientation;
        ``'orientation'``: D, (D, D) when shared, (K, D, D) otherwise (columns are eigenvectors, in the order
        of the shape), None for the diagonal models; ``'sigma'``: the (K, D, D) matrices
        ``lambda_k D_k A_k D_k^T``, as mclust's ``parameters$variance`` reports them. Shared parts are read
        from the first component: the covariances are assumed to satisfy the model's constraints.
    """
    model = _check_model(model)
    lay = layout(model)
    C = np.asarray(covariances, dtype=np.float64)
    K = 1 if lay == "tied" else (C.shape[0] if C.ndim >= 1 else 0)
    C = _check_scatter(C, lay, K, name="covariances")
    D = _check_n_features(n_features, lay, C)
    model = _FROM_SKLEARN.get(model, model)
    if lay == "spherical":
        _check_positive(C)
        return _parts(model, np.repeat(C[:, None], D, axis=1), None)
    if lay == "diag":
        _check_positive(C)
        return _parts(model, C, None)
    if lay == "tied":
        C = np.repeat(C[None], 1 if n_components is None else _as_count(n_components, "n_components"), axis=0)
    e, V = _it.sorted_eigh(C)
    _check_positive(e)
    if model[2] == "E":
        V = np.broadcast_to(_it.common_orientation(C), C.shape)
        e = np.einsum("kij,kil,klj->kj", V, C, V)
    return _parts(model, e, V, C)


def _check_positive(values):
    if np.any(values <= 0):
        raise ValueError("The parameter 'covariances' must be positive definite to be decomposed into volume, "
                         "shape and orientation (a variance or eigenvalue is <= 0).")


def _parts(model, values, V, sigma=None):
    """Split per-component variances or eigenvalues (K, D) into volume and shape as the model shares them."""
    scale = _it.geomean(values)
    shape = values / scale[:, None]
    if sigma is None:
        sigma = np.einsum("kd,de->kde", values, np.eye(values.shape[1]))
    shared = {"I": np.ones(values.shape[1]), "E": shape[0], "V": shape}
    out = {"scale": float(scale[0]) if model[0] == "E" else scale, "shape": shared[model[1]],
           "orientation": None, "sigma": sigma}
    if V is not None:
        out["orientation"] = np.array(V[0]) if model[2] == "E" else np.array(V)
    return out
