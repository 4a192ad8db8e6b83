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
- EVE, VVE: the common orientation D minimising ``sum_k w_k tr(D^T W_k D A_k^-1)`` (w_k = 1 / lambda_k for
  VVE, 1 for EVE), then each component's shape (and, VVE, volume) in closed form given the orientation,
  from the identity orientation and unit shapes; stop on the relative change of
  ``sum_k tr(D^T W_k D A_k^-1)``. mclust finds D by the two majorise-minimise steps of Browne & McNicholas
  (2014) per iteration; fastgmm by a cyclic sweep of plane rotations, each the exact minimiser in its
  plane (the objective restricted to a plane is ``const + alpha cos 2t + beta sin 2t``), without an SVD.
  From mclust's start on eight real sets' M-step scatters (``benchmarks/orientation.py``) it took 1.7-27x
  fewer iterations (about as many on diabetes) to the same or a higher expected log-likelihood. mclust's
  own steps are kept for its VVE (``vve(..., as_mclust=True)``), which leaves the volumes out of them.

mclust's EM (``me``) carries the shape and orientation of VEI, VEV, EVE and VVE from one M-step to the next;
``start`` does the same here.

Each function takes the weights ``nk`` (K,), the scatter in its layout's shape, the mask of non-empty
components, ``tol``, ``max_iter`` and ``start`` (covariances or None), and returns covariances in the layout's
shape. Empty components take no part; they get the shared parts and a zero volume where theirs is free.

The iterations run in the compiled kernel ``fastgmm.kernels._mclust_mstep`` (for a mixture's small D and K a
NumPy version spends its time in call overhead); tests/_reference_mclust_iterative.py is that NumPy version,
which the kernel is tested against.
"""

import numpy as np

from ..kernels import _mclust_mstep as _kernel


def geomean(x):
    """Geometric mean along the last axis; 0 where an entry is 0."""
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(x), axis=-1))


def sorted_eigh(W):
    """Eigenvalues (largest first, negative rounding errors set to 0) and eigenvectors of symmetric matrices."""
    e, V = np.linalg.eigh(W)
    return np.maximum(e[..., ::-1], 0.0), V[..., ::-1]


def common_orientation(covariances):
    """The orientation shared by covariances with equal orientations (columns: eigenvectors), found from a
    generic combination of them so that an eigenvalue repeated within one matrix leaves no ambiguity."""
    K = covariances.shape[0]
    weights = 1.0 + np.arange(K) / (np.pi * K)
    return sorted_eigh(np.einsum("k,kij->ij", weights, covariances))[1]


def _run(nk, W, active, tol, max_iter, start, model=None):
    """The kernel's M-step (VEI for ``model=None``) with contiguous float64 inputs, into a new array."""
    W = np.ascontiguousarray(W, dtype=np.float64)
    if start is not None:
        start = np.ascontiguousarray(start, dtype=np.float64)
    out = np.empty_like(W)
    args = (np.ascontiguousarray(nk, dtype=np.float64), W, np.ascontiguousarray(active, dtype=np.uint8),
            float(tol), int(max_iter), start, out)
    n_iter = _kernel.vei(*args) if model is None else _kernel.full(model, *args)
    if n_iter < 0:
        raise MemoryError("The iterative M-step could not allocate its scratch memory (a few D x D matrices per "
                          "component); free memory or use fewer components.")
    return out


def vei(nk, W, active, tol, max_iter, start):
    return _run(nk, W, active, tol, max_iter, start)


def vev(nk, W, active, tol, max_iter, start):
    return _run(nk, W, active, tol, max_iter, start, _kernel.VEV)


def vee(nk, W, active, tol, max_iter, start):
    return _run(nk, W, active, tol, max_iter, start, _kernel.VEE)


def eve(nk, W, active, tol, max_iter, start):
    return _run(nk, W, active, tol, max_iter, start, _kernel.EVE)


def vve(nk, W, active, tol, max_iter, start, *, as_mclust=False):
    """VVE's M-step. The orientation step minimises ``sum_k tr(O^T W_k O A_k^-1) / lambda_k``, the expected
    log-likelihood's dependence on the orientation. mclust 6.0 (``msvve``, ``mevve``) leaves out the
    ``1 / lambda_k``, so its iteration stops at an orientation that is not the maximiser when the volumes
    differ (its expected log-likelihood is lower: 0.58 on iris, tests/test_mclust_mstep.py). ``as_mclust``
    reproduces its iteration exactly, for the comparison with mclust's numbers."""
    return _run(nk, W, active, tol, max_iter, start, _kernel.VVE_MCLUST if as_mclust else _kernel.VVE)


ITERATIVE = {"VEI": vei, "VEV": vev, "VEE": vee, "EVE": eve, "VVE": vve}
