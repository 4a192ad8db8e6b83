"""The five mclust covariance models whose M-step iterates: VEI, VEV, VEE, EVE and VVE.

Each alternates between the parts of ``Sigma_k = lambda_k D_k A_k D_k^T`` that have a closed form when the
others are held fixed, from mclust's starting values and with mclust's stopping rule, so that a fit agrees with
mclust's to its tolerance:

- VEI, VEV (Celeux & Govaert 1995): volumes given the shape, ``lambda_k = sum_j e_kj / a_j / (D n_k)``, then
  the shape given the volumes, ``A ~ sum_k E_k / lambda_k`` scaled to determinant 1, where ``e_k`` is the
  diagonal of ``W_k`` (VEI) or its eigenvalues, largest first (VEV, whose orientations are ``W_k``'s
  eigenvectors). Start: unit volumes and shape (VEI) or the shape of the summed eigenvalues (VEV). Stop when
  no volume or shape entry changes by more than ``tol (1 + new value)``.
- VEE: ``C = sum_k W_k / lambda_k`` scaled to determinant 1, then ``lambda_k = tr(W_k C^-1) / (D n_k)``,
  from unit volumes; stop when ``sum_k n_k D (1 + log lambda_k)`` (minus twice the maximised expected
  log-likelihood, up to a constant) changes by at most ``tol (1 + |value|)``.
- EVE, VVE: the common orientation by the two majorise-minimise steps of Browne & McNicholas (2014), then
  each component's shape (and, VVE, volume) in closed form given the orientation, from the identity
  orientation and unit shapes; stop on the relative change of ``sum_k tr(D^T W_k D A_k^-1)``.

mclust's EM (``me``) carries the shape and orientation of VEI, VEV, EVE and VVE from one M-step to the next;
``start`` does the same here.

Each function takes the weights ``nk`` (K,), the scatter in its layout's shape, the mask of non-empty
components, ``tol``, ``max_iter`` and ``start`` (covariances or None), and returns covariances in the layout's
shape. Empty components take no part; they get the shared parts and a zero volume where theirs is free.
"""

import numpy as np
from scipy.linalg import lapack

_FLMAX_HALF = np.finfo(np.float64).max / 2


def geomean(x):
    """Geometric mean along the last axis; 0 where an entry is 0."""
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(x), axis=-1))


def _unit_det(x):
    """``x`` scaled to geometric mean 1 along the last axis, and the scale."""
    g = geomean(x)
    return x / g[..., None], g


def sorted_eigh(W):
    """Eigenvalues (largest first, negative rounding errors set to 0) and eigenvectors of symmetric matrices."""
    e, V = np.linalg.eigh(W)
    return np.maximum(e[..., ::-1], 0.0), V[..., ::-1]


def _inverse_or_zero(lam):
    """1 / lambda, with 0 where lambda is 0 (a component with zero scatter adds nothing to the shared part)."""
    return np.divide(1.0, lam, out=np.zeros_like(lam), where=lam > 0)


def _relative_change(old, new):
    return np.max(np.abs(old - new) / (1.0 + new))


def _volumes_and_shape(e, n, lam, a, tol, max_iter, strict):
    """Alternate VEI's / VEV's volume and shape updates for per-component values ``e`` (K, D).

    ``strict`` is mclust's VEV loop condition (continue while the change is >= tol and fewer than max_iter
    steps were made); VEI continues while the change is > tol and at most max_iter steps were made.
    """
    D = e.shape[1]
    for it in range(1, max_iter + 2):
        lam_new = np.sum(e / a, axis=1) / (D * n)
        a_new, _ = _unit_det(np.sum(e * _inverse_or_zero(lam_new)[:, None], axis=0))
        err = max(_relative_change(lam, lam_new), _relative_change(a, a_new))
        lam, a = lam_new, a_new
        more = (err >= tol and it < max_iter) if strict else (err > tol and it <= max_iter)
        if not more:
            break
    return lam, a


def vei(nk, W, active, tol, max_iter, start):
    e, n = W[active], nk[active]
    if start is None:
        lam, a = np.ones(n.shape), np.ones(W.shape[1])
    else:
        a, lam = _unit_det(start[active])
        a, _ = _unit_det(np.mean(a, axis=0))
    lam, a = _volumes_and_shape(e, n, lam, a, tol, max_iter, strict=False)
    out = np.zeros_like(W)
    out[active] = lam[:, None] * a
    return out


def vev(nk, W, active, tol, max_iter, start):
    e, V = sorted_eigh(W[active])
    n = nk[active]
    if start is None:
        # mclust's start: the shape of the summed eigenvalues.
        a, g = _unit_det(np.sum(e, axis=0))
        lam = g / n
    else:
        a, lam = _unit_det(sorted_eigh(start[active])[0])
        a, _ = _unit_det(np.mean(a, axis=0))
    lam, a = _volumes_and_shape(e, n, lam, a, tol, max_iter, strict=True)
    out = np.zeros_like(W)
    out[active] = np.einsum("kij,kj,klj->kil", V, lam[:, None] * a, V)
    return out


def vee(nk, W, active, tol, max_iter, start):
    Wa, n = W[active], nk[active]
    D = W.shape[1]
    lam = np.ones(n.shape) if start is None else np.exp(np.linalg.slogdet(start[active])[1] / D)
    previous = _FLMAX_HALF
    for it in range(1, max_iter + 1):
        C = np.einsum("k,kij->ij", _inverse_or_zero(lam), Wa)
        C /= np.exp(np.mean(np.log(np.linalg.eigvalsh(C))))
        lam = np.einsum("kij,ji->k", Wa, np.linalg.inv(C)) / (D * n)
        target = D * np.sum(n) + D * np.sum(n * np.log(lam))
        err = abs(target - previous) / (1.0 + abs(target))
        previous = target
        if not (err > tol and it < max_iter):
            break
    out = np.zeros_like(W)
    out[active] = lam[:, None, None] * C
    return out


def common_orientation(covariances):
    """The orientation shared by covariances with equal orientations (columns: eigenvectors), found from a
    generic combination of them so that an eigenvalue repeated within one matrix leaves no ambiguity."""
    K = covariances.shape[0]
    weights = 1.0 + np.arange(K) / (np.pi * K)
    return sorted_eigh(np.einsum("k,kij->ij", weights, covariances))[1]


def _mm_orientation(Wa, omega, O, A, weights):
    """Browne & McNicholas's two majorise-minimise steps for the common orientation ``O`` (columns).

    Minimises ``f(O) = sum_k weights_k tr(O^T W_k O A_k^-1)`` over orthogonal ``O``. Step 1 bounds each
    ``W_k`` by its largest eigenvalue ``omega_k``, step 2 each ``A_k^-1`` by its largest entry; both bounds
    are linear in ``O``, ``tr(G O)``, minimised by ``O = -Q P^T`` for ``G = P S Q^T``. Returns the new ``O``
    and ``O^T W_k`` (K, D, D) for it.
    """
    OtW = O.T @ Wa
    G = np.einsum("kj,kjl->jl", weights[:, None] / A, OtW - omega[:, None, None] * O.T)
    O = _polar_minimiser(G)
    OtW = O.T @ Wa
    inv_a = 1.0 / A
    G = np.einsum("kj,kjl->jl", weights[:, None] * (inv_a - inv_a.max(axis=1, keepdims=True)), OtW)
    O = _polar_minimiser(G)
    return O, O.T @ Wa


def _polar_minimiser(G):
    """The orthogonal ``O`` minimising ``tr(G O)``: ``-Q P^T`` for ``G = P S Q^T``."""
    # LAPACK directly: numpy's svd wrapper costs more than the decomposition of a small matrix.
    P, _, Qt, info = lapack.dgesdd(G)
    if info != 0:
        return np.full_like(G, np.nan)
    return -(Qt.T @ P.T)


def _common_orientation_models(nk, W, active, tol, max_iter, start, variable_volume, unweighted=False):
    Wa, n = W[active], nk[active]
    K, D = Wa.shape[0], W.shape[1]
    omega = np.linalg.eigvalsh(Wa)[:, -1]
    if start is None:
        O, A, lam = np.eye(D), np.ones((K, D)), np.ones(K)
    else:
        O = common_orientation(start[active])
        A, lam = _unit_det(np.einsum("ij,kil,lj->kj", O, start[active], O))
    previous = _FLMAX_HALF
    for it in range(1, max_iter + 1):
        weights = _inverse_or_zero(lam) if variable_volume and not unweighted else np.ones(K)
        O, OtW = _mm_orientation(Wa, omega, O, A, weights)
        d = np.einsum("kjl,lj->kj", OtW, O)
        if variable_volume:
            A, lam = _unit_det(d / n[:, None])
        else:
            A, _ = _unit_det(d)
        target = np.sum(d / A)
        err = abs(target - previous) / (1.0 + abs(target))
        previous = target
        if not (err > tol and it < max_iter):
            break
    if not variable_volume:
        lam = np.full(K, target / (D * np.sum(nk)))
    out = np.zeros_like(W)
    out[active] = np.einsum("ij,kj,lj->kil", O, lam[:, None] * A, O)
    if not variable_volume:
        out[~active] = lam[0] * np.eye(D) if K else 0.0
    return out


def eve(nk, W, active, tol, max_iter, start):
    return _common_orientation_models(nk, W, active, tol, max_iter, start, variable_volume=False)


def vve(nk, W, active, tol, max_iter, start, *, as_mclust=False):
    """VVE's M-step. The orientation step minimises ``sum_k tr(O^T W_k O A_k^-1) / lambda_k``, the expected
    log-likelihood's dependence on the orientation. mclust 6.0 (``msvve``, ``mevve``) leaves out the
    ``1 / lambda_k``, so its iteration stops at an orientation that is not the maximiser when the volumes
    differ (its expected log-likelihood is lower: 0.58 on iris, tests/test_mclust_mstep.py). ``as_mclust``
    reproduces its iteration exactly, for the comparison with mclust's numbers."""
    return _common_orientation_models(nk, W, active, tol, max_iter, start, variable_volume=True,
                                      unweighted=as_mclust)


ITERATIVE = {"VEI": vei, "VEV": vev, "VEE": vee, "EVE": eve, "VVE": vve}
