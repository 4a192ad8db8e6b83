"""bootstrap_lrt: mclust's bootstrap likelihood-ratio test for the number of components.

tests/data/mclust/bootstrap_lrt.json was written by tests/data/mclust/make_bootstrap_lrt.R (R 4.2, mclust 6.0.0,
999 bootstrap samples per test). The bootstrap draws differ, so p-values are compared by decision.
"""

import json
import pathlib

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from fastgmm import BootstrapLRTResult, bootstrap_lrt
from fastgmm.datasets import load_faithful

from _reference_discriminant import bootstrap_p_value

REF = json.loads((pathlib.Path(__file__).parent / "data" / "mclust" / "bootstrap_lrt.json").read_text())["runs"]
FAITHFUL = load_faithful().data


@pytest.mark.parametrize("covariance_type,model,n_tests", [("full", "VVV", 1), ("tied", "EEE", 2), ("diag", "VVI", 1)])
def test_faithful_statistics_and_decisions_match_mclust(covariance_type, model, n_tests):
    ref = REF[model]
    res = bootstrap_lrt(FAITHFUL, covariance_type, max_components=n_tests, n_bootstrap=39, sequential=False,
                        random_state=0)
    np.testing.assert_allclose(res.statistics, ref["obs"][:n_tests], rtol=1e-3)
    level = 0.05
    assert list(res.p_values <= level) == [p <= level for p in ref["p_value"][:n_tests]]


def test_faithful_three_full_components_reach_a_higher_likelihood_than_mclust():
    # mclust's VVV G=3 (its hierarchical start) ends at log L = -1127.2, where the 2-vs-3 statistic is 6.13
    # (p = 0.58: 2 components). fastgmm's selection finds -1114.4 (a tight component of short eruptions), so
    # its 2-vs-3 statistic is larger: the log-likelihoods are never below mclust's.
    res = bootstrap_lrt(FAITHFUL, "full", max_components=2, n_bootstrap=9, sequential=False, random_state=0)
    ref = REF["VVV"]["loglik"]
    np.testing.assert_allclose(res.log_likelihoods[:2], ref[:2], rtol=1e-6)
    assert res.log_likelihoods[2] >= ref[2]


def test_one_component_log_likelihood_and_statistics_are_consistent(rng):
    X = rng.normal(size=(150, 2)) @ np.array([[2.0, 0.5], [0.0, 1.0]])
    res = bootstrap_lrt(X, "full", max_components=1, n_bootstrap=19, random_state=0)
    cov = np.cov(X, rowvar=False, bias=True) + 1e-6 * np.eye(2)
    ll1 = multivariate_normal(X.mean(axis=0), cov).logpdf(X).sum()
    assert res.log_likelihoods[0] == pytest.approx(ll1, rel=1e-10)
    np.testing.assert_allclose(res.statistics, 2 * np.diff(res.log_likelihoods), rtol=1e-12)
    np.testing.assert_allclose(res.p_values, [bootstrap_p_value(s, res.bootstrap[:, j])
                                              for j, s in enumerate(res.statistics)])


def test_one_gaussian_is_not_split():
    X = np.random.default_rng(3).normal(size=(200, 2))
    res = bootstrap_lrt(X, "full", max_components=2, n_bootstrap=19, random_state=0)
    assert res.selected == 1 and res.stopped_early       # the sequence stopped at the first test
    assert list(res.n_components) == [1] and res.p_values[0] > 0.05
    assert res.bootstrap.shape == (19, 1) and np.all(np.isfinite(res.bootstrap))


def test_every_test_runs_without_sequential():
    res = bootstrap_lrt(FAITHFUL, "spherical", max_components=2, n_bootstrap=19, sequential=False, random_state=1)
    assert list(res.n_components) == [1, 2] and not res.stopped_early
    assert res.selected == 3      # every test rejected: the largest K fitted
    assert "try more components" in repr(res)


def test_reproducible_and_readable():
    a = bootstrap_lrt(FAITHFUL, "diag", max_components=1, n_bootstrap=19, random_state=5)
    b = bootstrap_lrt(FAITHFUL, "diag", max_components=1, n_bootstrap=19, random_state=5)
    np.testing.assert_array_equal(a.bootstrap, b.bootstrap)
    assert isinstance(a, BootstrapLRTResult)
    text = repr(a)
    assert "1 vs 2" in text and "p-value" in text and "selected: 2" in text


def test_bad_input():
    with pytest.raises(TypeError, match="one covariance type"):
        bootstrap_lrt(FAITHFUL, ["full", "tied"])
    with pytest.raises(ValueError, match="n_bootstrap"):
        bootstrap_lrt(FAITHFUL, n_bootstrap=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_lrt(FAITHFUL, level=1.5)
    with pytest.raises(ValueError, match="max_components"):
        bootstrap_lrt(FAITHFUL, max_components=0)
    X = FAITHFUL.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_lrt(X, max_components=1, n_bootstrap=9)
    with pytest.raises(ValueError, match="covariance_type"):
        bootstrap_lrt(FAITHFUL, "nope", max_components=1, n_bootstrap=9)
