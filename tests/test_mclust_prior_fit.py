"""GaussianMixture(prior=...): mclust's MAP fits against Mclust(X, prior = priorControl()).

tests/data/mclust/prior_bic.json holds mclust 6.0's BIC table under its
default prior on faithful and iris (G = 1..4, the ten models with a prior),
made by tests/data/mclust/make_prior.R. From mclust's own start (init_params=
"hc" reproduces its hierarchical partitions) the MAP EM reaches mclust's BIC;
mclust stops at a relative change of 1e-5, so a tighter fit may end a little
higher, never more than rounding lower.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from fastgmm import GaussianMixture
from fastgmm.families import _mclust_prior

DATA = Path(__file__).parent / "data"
with open(DATA / "mclust" / "prior_bic.json") as f:
    TABLES = json.load(f)

CELLS = [(name, G, model) for name in TABLES for G in (1, 2, 3) for model in TABLES[name]["models"]]


def _load(name):
    return np.loadtxt(DATA / f"{name}.csv", delimiter=",", skiprows=1)


@pytest.mark.parametrize("name, G, model", CELLS)
def test_map_fit_reaches_mclusts_bic(name, G, model):
    t = TABLES[name]
    ref = t["bic"][t["G"].index(G)][t["models"].index(model)]
    X = _load(name)
    gm = GaussianMixture(G, covariance_type=model, prior="default", init_params="hc", reg_covar=0, tol=1e-9,
                         max_iter=5000).fit(X)
    assert -gm.bic(X) >= ref - 0.05


def test_prior_shrinks_means_towards_the_data_mean():
    X = _load("iris")
    a = GaussianMixture(3, covariance_type="VVV", init_params="hc", max_iter=0).fit(X)
    b = GaussianMixture(3, covariance_type="VVV", init_params="hc", max_iter=0, prior={"shrinkage": 50.0}).fit(X)
    centre = X.mean(axis=0)
    assert np.all(np.linalg.norm(b.means_ - centre, axis=1) < np.linalg.norm(a.means_ - centre, axis=1))


def test_prior_keeps_a_fit_of_tied_values_from_collapsing():
    # three distinct values repeated: without a prior a component sits on one value (singular)
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 3.0]]), 20, axis=0)
    X += np.random.default_rng(0).normal(scale=1e-9, size=X.shape)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(3, covariance_type="VVV", init_params="hc", reg_covar=0).fit(X)
    gm = GaussianMixture(3, covariance_type="VVV", init_params="hc", reg_covar=0, prior="default").fit(X)
    assert np.all(np.linalg.eigvalsh(gm.covariances_) > 1e-4)      # the data alone: ~1e-18


@pytest.mark.parametrize("model", ["EVE", "VEE", "VVE", "EVV"])
def test_models_without_a_prior_are_refused(model):
    with pytest.raises(ValueError, match="a prior is available for the models"):
        GaussianMixture(2, covariance_type=model, prior="default").fit(_load("faithful"))


@pytest.mark.parametrize("prior", ["mclust", {"shrinkage": 0.1, "bogus": 1}, 3])
def test_bad_prior_values(prior):
    with pytest.raises(ValueError, match="'prior' parameter"):
        GaussianMixture(2, prior=prior).fit(_load("faithful"))


def test_prior_with_frozen_means_is_refused():
    X = _load("faithful")
    with pytest.raises(ValueError, match="frozen means"):
        GaussianMixture(2, prior="default", means_init=X[:2], frozen=("means",)).fit(X)


def test_default_prior_is_mclusts_default():
    X = _load("iris")
    gm = GaussianMixture(3, covariance_type="VVV", prior="default", max_iter=1, tol=0)
    with pytest.warns(Warning):
        gm.fit(X)
    want = _mclust_prior.default_prior(X, 3, "VVV")
    np.testing.assert_array_equal(gm._prior.scale, want.scale)
    assert gm._prior.dof == X.shape[1] + 2


def test_prior_saves_and_loads(tmp_path):
    from fastgmm import load
    X = _load("faithful")
    gm = GaussianMixture(2, covariance_type="EEV", prior="default", random_state=0).fit(X)
    gm.save(tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    assert back.prior == "default"
    np.testing.assert_array_equal(back.predict(X), gm.predict(X))
