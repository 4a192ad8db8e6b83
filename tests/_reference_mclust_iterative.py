"""Plain NumPy reference of the five iterative mclust M-steps (VEI, VEV, VEE, EVE, VVE), written to be obviously
right; the compiled kernel (fastgmm.kernels._mclust_mstep) is tested against it.

The algorithms, starting values and stopping rules are described in fastgmm.families._mclust_iterative's
docstring. Each function takes the weights ``nk`` (K,), the scatter in its layout's shape, the boolean mask of
non-empty components, ``tol``, ``max_iter`` and ``start`` (covariances or None), and returns the covariances in
the layout's shape and the number of iterations made.
"""

import numpy as np
from scipy.linalg import lapack

from fastgmm.families._mclust_iterative import common_orientation, geomean, sorted_eigh

_FLMAX_HALF = np.finfo(np.float64).max / 2


def _unit_det(x):
    """``x`` scaled to geometric mean 1 along the last axis, and the scale."""
    g = geomean(x)
    return x / g[..., None], g


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
    return lam, a, it


def vei(nk, W, active, tol, max_iter, start):
    e, n = W[active], nk[active]
    if start is None:
        lam, a = np.ones(n.shape), np.ones(W.shape[1])
    else:
        a, lam = _unit_det(start[active])
        a, _ = _unit_det(np.mean(a, axis=0))
    lam, a, it = _volumes_and_shape(e, n, lam, a, tol, max_iter, strict=False)
    out = np.zeros_like(W)
    out[active] = lam[:, None] * a
    return out, it


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
    lam, a, it = _volumes_and_shape(e, n, lam, a, tol, max_iter, strict=True)
    out = np.zeros_like(W)
    out[active] = np.einsum("kij,kj,klj->kil", V, lam[:, None] * a, V)
    return out, it


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
    return out, it


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
    P, _, Qt, info = lapack.dgesdd(G)
    if info != 0:
        return np.full_like(G, np.nan)
    return -(Qt.T @ P.T)


def _rotation_sweep(B, O, A, weights):
    """One cyclic sweep of plane rotations of ``O`` (columns), each minimising ``f(O) = sum_k weights_k
    tr(O^T W_k O A_k^-1)`` exactly in its plane (``B`` holds ``O^T W_k O``). In the plane (p, q) a rotation
    by t gives ``f = const + alpha cos 2t + beta sin 2t``; the minimiser is where ``(cos 2t, sin 2t)`` points
    opposite to ``(alpha, beta)``. Returns the new ``O`` and ``B``."""
    K, D = A.shape
    c = weights[:, None] / A
    for p in range(D - 1):
        for q in range(p + 1, D):
            dc = c[:, p] - c[:, q]
            alpha = 0.5 * np.sum(dc * (B[:, p, p] - B[:, q, q]))
            beta = np.sum(dc * B[:, p, q])
            if alpha == 0.0 and beta == 0.0:
                continue
            t = 0.5 * np.arctan2(-beta, -alpha)
            R = np.eye(D)
            R[p, p] = R[q, q] = np.cos(t)
            R[q, p] = np.sin(t)
            R[p, q] = -np.sin(t)
            O = O @ R
            B = np.einsum("ip,kij,jq->kpq", R, B, R)
    return O, B


def _common_orientation_models(nk, W, active, tol, max_iter, start, variable_volume, unweighted=False,
                               steps="rotations"):
    """EVE / VVE. ``steps``: the orientation iteration, "rotations" (fastgmm's sweeps) or "mm" (Browne &
    McNicholas's two majorise-minimise steps, mclust's; always for ``unweighted``, mclust's VVE)."""
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
        if unweighted or steps == "mm":      # mclust 6.0's majorise-minimise steps
            O, OtW = _mm_orientation(Wa, omega, O, A, weights)
            d = np.einsum("kjl,lj->kj", OtW, O)
        else:
            O, _ = _rotation_sweep(np.einsum("ip,kij,jq->kpq", O, Wa, O), O, A, weights)
            d = np.einsum("ip,kij,jp->kp", O, Wa, O)
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
    return out, it


def eve(nk, W, active, tol, max_iter, start, *, steps="rotations"):
    return _common_orientation_models(nk, W, active, tol, max_iter, start, variable_volume=False, steps=steps)


def vve(nk, W, active, tol, max_iter, start, *, as_mclust=False, steps="rotations"):
    """VVE; ``as_mclust``: mclust 6.0's orientation step, without the ``1 / lambda_k`` weights."""
    return _common_orientation_models(nk, W, active, tol, max_iter, start, variable_volume=True,
                                      unweighted=as_mclust, steps=steps)


ITERATIVE = {"VEI": vei, "VEV": vev, "VEE": vee, "EVE": eve, "VVE": vve}


def closed_full(model, nk, W, active):
    """EEV's and EVV's closed forms (not iterative; compiled in the same kernel), one component at a time.

    EEV: each orientation is W_k's eigenvectors, the shared lambda A the summed eigenvalues (largest with
    largest) over N; empty components take lambda A with the identity orientation. EVV: C_k = W_k /
    |W_k|^(1/D) with one volume sum_k |W_k|^(1/D) / N; a singular active W_k keeps W_k / n_k, an empty
    component lambda I.
    """
    K, D = W.shape[0], W.shape[1]
    out = np.empty_like(W)
    if model == "EEV":
        parts = [sorted_eigh(w) for w in W]
        common = sum(e for (e, _), a in zip(parts, active) if a) / np.sum(nk)
        for k, (e, V) in enumerate(parts):
            out[k] = V @ np.diag(common) @ V.T if active[k] else np.diag(common)
        return out
    scales = []
    for w in W:
        sign, logdet = np.linalg.slogdet(w)
        scales.append(np.exp(logdet / D) if sign > 0 else 0.0)
    lam = sum(g for g, a in zip(scales, active) if a and g > 0) / np.sum(nk)
    for k in range(K):
        if active[k] and scales[k] > 0:
            out[k] = lam * W[k] / scales[k]
        elif active[k]:
            out[k] = W[k] / max(nk[k], np.finfo(np.float64).tiny)
        else:
            out[k] = lam * np.eye(D)
    return out
