"""The compiled M-step of every mclust model (``_mclust_mstep.constrained_step``) against the NumPy code it
replaced (tests/_reference_mclust_closed.py): closed forms, iterative models, empty and singular components,
and the EM M-step's path from the moments with reg_covar."""

import numpy as np
import pytest

import _reference_mclust_closed as ref
from fastgmm.families import _mclust
from fastgmm.kernels import _mclust_mstep as kernel

MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")
TOL, MAX_ITER = 1e-13, 100_000


def _scatters(rng, K, D, rank=None):
    """Full scatters W_k = sum of n_k outer products (rank-deficient when ``rank`` < D)."""
    out = np.empty((K, D, D))
    for k in range(K):
        A = rng.normal(size=(D, rank or D + 3)) * rng.uniform(0.5, 3.0, size=(D, 1))
        out[k] = A @ A.T
    return out


def _in_layout(W, model):
    lay = ref.layout(model)
    if lay == "spherical":
        return np.trace(W, axis1=1, axis2=2).copy()
    if lay == "diag":
        return np.diagonal(W, axis1=1, axis2=2).copy()
    if lay == "tied":
        return W.sum(axis=0)
    return W


def _kernel(model, nk, values, D, *, start=None, from_moments=False, reg=0.0):
    return _mclust.constrained_step(model, nk, values, D, TOL, MAX_ITER, start, from_moments=from_moments,
                                    reg_covar=reg)


def _assert_close(got, want):
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12 * scale)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("K, D", [(1, 1), (1, 3), (3, 1), (3, 2), (4, 4)])
def test_every_model_matches_the_numpy_m_step(model, K, D):
    rng = np.random.default_rng(K * 10 + D)
    nk = rng.uniform(5.0, 40.0, K)
    W = _in_layout(_scatters(rng, K, D), model)
    _assert_close(_kernel(model, nk, W, D), ref.constrained(model, nk, W, D, TOL, MAX_ITER, None))


@pytest.mark.parametrize("model", MODELS)
def test_from_the_moments_with_reg_and_start(model):
    # The EM M-step's path: W from the moments' covariances (a rounding-negative variance set to 0), the
    # previous covariances minus reg_covar as the iterative models' start, reg_covar added to the result.
    rng = np.random.default_rng(5)
    K, D, reg = 3, 3, 1e-3
    nk = rng.uniform(5.0, 40.0, K)
    cov = _in_layout(_scatters(rng, K, D), model) / (nk.sum() if ref.layout(model) == "tied" else
                                                      nk.reshape((-1,) + (1,) * (_in_layout(np.eye(D)[None], model).ndim - 1)))
    lay = ref.layout(model)
    if lay in ("spherical", "diag"):
        cov.flat[0] = -1e-17
    start = ref._add_reg(ref.constrained(model, nk, ref.scatter_from_moments(cov, nk, lay, D), D, 1e-3, 5, None),
                         reg, lay)
    got = _kernel(model, nk, cov, D, start=start, from_moments=True, reg=reg)
    _assert_close(got, ref.m_step_from_moments(model, nk, cov, D, TOL, MAX_ITER, start, reg))


@pytest.mark.parametrize("model", [m for m in MODELS if m != "EEE"])
def test_an_empty_component_takes_no_part(model):
    rng = np.random.default_rng(11)
    K, D = 3, 3
    nk = np.array([20.0, 1e-20, 30.0])
    W = _scatters(rng, K, D)
    W[1] *= 1e-21
    W = _in_layout(W, model)
    got = _kernel(model, nk, W, D)
    assert np.all(np.isfinite(got))
    _assert_close(got, ref.constrained(model, nk, W, D, TOL, MAX_ITER, None))


@pytest.mark.parametrize("model", ["EVI", "VEI", "VEV", "VEE", "EVE", "VVE", "EVV", "EEV", "VVV"])
def test_a_singular_scatter_gets_its_own_covariance(model):
    # A component on fewer distinct points than dimensions: no maximiser; it keeps its own W_k / n_k
    # (singular), nothing is NaN.
    rng = np.random.default_rng(2)
    K, D = 3, 4
    nk = np.array([12.0, 9.0, 15.0])
    W = _scatters(rng, K, D)
    W[1] = _scatters(rng, 1, D, rank=2)[0]
    if ref.layout(model) == "diag":
        W[1][0, :] = W[1][:, 0] = 0.0
    W = _in_layout(W, model)
    got = _kernel(model, nk, W, D)
    assert np.all(np.isfinite(got))
    _assert_close(got, ref.constrained(model, nk, W, D, TOL, MAX_ITER, None))


@pytest.mark.parametrize("model", ["EEE", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV"])
def test_full_covariances_are_exactly_symmetric(model):
    rng = np.random.default_rng(8)
    W = _in_layout(_scatters(rng, 4, 5), model)
    got = _kernel(model, rng.uniform(5.0, 40.0, 4), W, 5, reg=1e-6)
    np.testing.assert_array_equal(got, np.swapaxes(got, -1, -2))


def test_bad_arguments_are_refused():
    nk, W, out = np.ones(2), np.ones(4), np.empty(4)
    with pytest.raises(ValueError, match="unknown model code"):
        kernel.constrained_step(99, nk, W, 2, False, 0.0, 1e-8, 10, None, 1e-14, out)
    with pytest.raises(ValueError, match="values expected"):
        kernel.constrained_step(kernel.MODEL_CODES["VVI"], nk, np.ones(3), 2, False, 0.0, 1e-8, 10, None, 1e-14,
                                out)
    with pytest.raises(ValueError, match="start must have"):
        kernel.constrained_step(kernel.MODEL_CODES["VEI"], nk, W, 2, False, 0.0, 1e-8, 10, np.ones(3), 1e-14,
                                out)
    with pytest.raises(ValueError, match="tol must be"):
        kernel.constrained_step(kernel.MODEL_CODES["VEI"], nk, W, 2, False, 0.0, 0.0, 10, None, 1e-14, out)


@pytest.mark.parametrize("model", ["EEE", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV"])
def test_one_component_is_its_own_scatter_for_every_full_model(model):
    # With one component every full-layout model is the same model: W / n, closed form or iteration.
    rng = np.random.default_rng(4)
    W = _scatters(rng, 1, 4)
    nk = np.array([37.0])
    got = _kernel(model, nk, _in_layout(W, model), 4)
    np.testing.assert_allclose(np.reshape(got, (4, 4)), W[0] / nk[0], rtol=1e-10, atol=1e-12)
