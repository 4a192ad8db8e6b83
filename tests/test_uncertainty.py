"""uncertainty(X): mclust's classification uncertainty, 1 - max_k P(k | x), on every mixture estimator."""

import numpy as np
import pytest

from fastgmm import (BayesianGaussianMixture, BernoulliMixture, GaussianMixture, GaussianMixtureSelection,
                     NotFittedError, PoissonMixture, StudentTMixture)
from fastgmm.datasets import load_faithful

from _reference_discriminant import posteriors, uncertainty as reference_uncertainty

COV_TYPES = ("full", "tied", "diag", "spherical")


def _blobs(rng, n=300, d=2, offset=0.0):
    centres = np.array([[0.0] * d, [3.0] * d, [0.0] + [3.0] * (d - 1)])[:, :d]
    X = np.vstack([c + rng.normal(size=(n // 3, d)) for c in centres])
    return X + offset


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_the_scipy_reference(covariance_type, dtype, rng):
    X = _blobs(rng).astype(dtype)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    u = gm.uncertainty(X)
    assert u.dtype == dtype and u.shape == (X.shape[0],)
    atol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(u, reference_uncertainty(X, gm), rtol=0, atol=atol)


def test_is_one_minus_the_largest_posterior(rng):
    X = _blobs(rng)
    gm = GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_allclose(gm.uncertainty(X), 1 - posteriors(X, gm).max(axis=1), rtol=0, atol=1e-12)


def test_small_uncertainty_keeps_its_relative_precision(rng):
    # x = -2 with components near 0 and 10 (sd 1): the other posterior is ~exp(-70); 1 - max would round to 0.
    X = np.concatenate([rng.normal(0, 1, 100), rng.normal(10, 1, 100)])[:, None]
    gm = GaussianMixture(2, random_state=0).fit(X)
    x = np.array([[-2.0]])
    ref = reference_uncertainty(x, gm)[0]
    assert 0 < ref < 1e-25
    assert gm.uncertainty(x)[0] == pytest.approx(ref, rel=1e-9)


def test_one_component_is_certain(rng):
    X = rng.normal(size=(50, 3))
    assert np.all(GaussianMixture(1).fit(X).uncertainty(X) == 0)


def test_one_feature_far_from_the_origin(rng):
    X = np.concatenate([rng.normal(0, 1, 100), rng.normal(5, 1, 100)])[:, None] + 1e6
    gm = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_allclose(gm.uncertainty(X), reference_uncertainty(X, gm), rtol=0, atol=1e-9)


def test_out_of_core_blocks_stitch(rng, tmp_path):
    X = _blobs(rng)
    gm = GaussianMixture(3, random_state=0, block_rows=64).fit(X)
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=X.shape)
    mm[:] = X
    mm.flush()
    np.testing.assert_array_equal(gm.uncertainty(np.load(tmp_path / "X.npy", mmap_mode="r")), gm.uncertainty(X))


def test_dask_is_lazy_and_equal(rng):
    da = pytest.importorskip("dask.array")
    X = _blobs(rng)
    gm = GaussianMixture(3, random_state=0).fit(X)
    lazy = gm.uncertainty(da.from_array(X, chunks=(70, 2)))
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), gm.uncertainty(X), rtol=0, atol=1e-15)


def test_missing_values_as_predict_proba(rng):
    X = _blobs(rng)
    gm = GaussianMixture(3, random_state=0, nan_policy="marginalize").fit(X)
    Xn = X[:6].copy()
    Xn[0, 0] = np.nan
    Xn[1, :] = np.nan
    u = gm.uncertainty(Xn)
    np.testing.assert_allclose(u, 1 - gm.predict_proba(Xn).max(axis=1), rtol=0, atol=1e-12)
    assert u[1] == pytest.approx(1 - gm.weights_.max())     # no value observed: the weights alone
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(3, random_state=0).fit(X).uncertainty(Xn)


@pytest.mark.parametrize("make", [
    lambda: BayesianGaussianMixture(n_components=3, random_state=0),
    lambda: StudentTMixture(3, random_state=0),
])
def test_other_gaussian_families(make, rng):
    X = _blobs(rng)
    model = make().fit(X)
    np.testing.assert_allclose(model.uncertainty(X), 1 - model.predict_proba(X).max(axis=1), rtol=0, atol=1e-12)


def test_count_and_binary_families(rng):
    counts = np.vstack([rng.poisson(2, (60, 3)), rng.poisson(9, (60, 3))]).astype(float)
    pm = PoissonMixture(2, random_state=0).fit(counts)
    np.testing.assert_allclose(pm.uncertainty(counts), 1 - pm.predict_proba(counts).max(axis=1), atol=1e-12)
    binary = (rng.random((120, 5)) < np.repeat([[0.2], [0.8]], 60, axis=0)).astype(float)
    bm = BernoulliMixture(2, random_state=0).fit(binary)
    np.testing.assert_allclose(bm.uncertainty(binary), 1 - bm.predict_proba(binary).max(axis=1), atol=1e-12)


def test_selection_delegates_to_the_chosen_mixture():
    X = load_faithful().data
    sel = GaussianMixtureSelection(n_components=range(1, 4), covariance_types=["tied"], random_state=0).fit(X)
    np.testing.assert_array_equal(sel.uncertainty(X), sel.best_estimator_.uncertainty(X))


def test_bad_input():
    with pytest.raises(NotFittedError):
        GaussianMixture(2).uncertainty(np.zeros((3, 2)))
    gm = GaussianMixture(2, random_state=0).fit(np.random.default_rng(0).normal(size=(40, 2)))
    with pytest.raises(ValueError, match="features"):
        gm.uncertainty(np.zeros((3, 3)))
    with pytest.raises(NotFittedError):
        GaussianMixtureSelection().uncertainty(np.zeros((3, 2)))
