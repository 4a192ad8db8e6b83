"""The NumPy code that ``fastgmm.kernels._mclust_mstep.constrained_step`` replaced, kept as its reference.

Each model's M-step from the component weights and scatters, as ``fastgmm.families._mclust`` computed it in
NumPy before the one compiled call: the closed forms of EII, VII, EEI, VVI, EVI, EEE and VVV, the
compiled EEV and EVV (``closed_full``) and iterative VEI, VEV, VEE, EVE and VVE
(``fastgmm.families._mclust_iterative``; their own NumPy references are in _reference_mclust_iterative.py) with
a component whose iterative estimate is not finite replaced by its own W_k / n_k, full covariances made exactly
symmetric; and ``m_step_from_moments``, the EM M-step's path around it (the scatter from the moments'
covariances, reg_covar off the start and onto the result). Calling the same compiled iterations, the two
agree to rounding even where a singular scatter leaves an orientation undetermined.
"""

import numpy as np

from fastgmm.families import _mclust_iterative as _it
from fastgmm.kernels import _mclust_mstep as _kernel

EMPTY_WEIGHT = 100 * np.finfo(np.float64).eps
_LAYOUT = {"EII": "spherical", "VII": "spherical", "EEI": "diag", "VEI": "diag", "EVI": "diag",
           "VVI": "diag", "EEE": "tied"}


def layout(model):
    return _LAYOUT.get(model, "full")


def geomean(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.mean(np.log(x), axis=-1))


def constrained(model, nk, W, D, tol, max_iter, start):
    total = float(np.sum(nk))
    if model == "EEE":
        return W / total
    active = nk > EMPTY_WEIGHT * total
    if model in ("EII", "VII"):
        return _spherical(model, nk, W, active, D)
    if model in ("EEI", "VVI", "EVI"):
        return _diagonal(model, nk, W, active)
    if model in ("VVV", "EVV", "EEV"):
        return _symmetric(_full(model, nk, W, active))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = _it.ITERATIVE[model](nk, W, active, tol, max_iter, start)
    return _symmetric(_finite_or_own(out, nk, W, active))


def _symmetric(out):
    return 0.5 * (out + np.swapaxes(out, -1, -2)) if out.ndim == 3 else out


def _own(nk, W):
    shape = (-1,) + (1,) * (W.ndim - 1)
    return W / np.maximum(nk, np.finfo(np.float64).tiny).reshape(shape)


def _finite_or_own(out, nk, W, active):
    axes = tuple(range(1, out.ndim))
    bad = ~np.all(np.isfinite(out), axis=axes) if axes else ~np.isfinite(out)
    if np.any(bad):
        out = out.copy()
        out[bad] = _own(nk, W)[bad]
    return out


def _spherical(model, nk, W, active, D):
    if model == "VII":
        return _own(nk, W) / D
    return np.full(nk.shape, np.sum(W[active]) / (D * np.sum(nk)))


def _diagonal(model, nk, W, active):
    if model == "VVI":
        return _own(nk, W)
    if model == "EEI":
        return np.broadcast_to(np.sum(W[active], axis=0) / np.sum(nk), W.shape).copy()
    g = geomean(W)
    ok = active & (g > 0)
    lam = np.sum(g[ok]) / np.sum(nk)
    out = np.empty_like(W)
    out[ok] = lam * W[ok] / g[ok, None]
    out[~active] = lam
    singular = active & ~ok
    out[singular] = _own(nk[singular], W[singular])
    return out


def _full(model, nk, W, active):
    if model == "VVV":
        return _own(nk, W)
    out = np.empty_like(W)
    _kernel.closed_full(_kernel.EEV if model == "EEV" else _kernel.EVV, nk, np.ascontiguousarray(W),
                        active.astype(np.uint8), out)
    return out


def scatter_from_moments(cov, nk, lay, D):
    """W_k = n_k cov_k in the layout's form (tied: times sum n_k); a rounding-negative variance set to 0."""
    if lay == "tied":
        W = cov * np.sum(nk)
    elif lay == "spherical":
        return np.maximum(cov * nk * D, 0.0)
    else:
        W = cov * nk.reshape((-1,) + (1,) * (cov.ndim - 1))
    if lay == "diag":
        return np.maximum(W, 0.0)
    W = W.copy()
    diag = np.einsum("...ii->...i", W)
    np.maximum(diag, 0.0, out=diag)
    return W


def _add_reg(cov, reg, lay):
    cov = np.array(cov, dtype=np.float64)
    if lay in ("full", "tied"):
        diag = np.einsum("...ii->...i", cov)
        diag += reg
        return cov
    return cov + reg


def m_step_from_moments(model, nk, cov, D, tol, max_iter, start, reg):
    """The EM M-step's constrained covariances with reg_covar, from the moments' unregularised covariances."""
    lay = layout(model)
    W = scatter_from_moments(cov, nk, lay, D)
    if start is not None:
        start = _add_reg(start, -reg, lay)
    return _add_reg(constrained(model, nk, W, D, tol, max_iter, start), reg, lay)
