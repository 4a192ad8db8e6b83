"""fastgmm.GaussianMixture as a user sees it: the same results as scikit-learn's
estimator, thread-count invariance, dtypes, the estimator protocol, and the
input forms it must accept."""

import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment

import fastgmm
from fastgmm import GaussianMixture

from conftest import COV_TYPES, mixture_data, needs_openmp

sklearn = pytest.importorskip("sklearn")
from sklearn import mixture as skm  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from hypothesis import given, settings, strategies as st  # noqa: E402

# Runs capped at max_iter warn by design; tests about the warning catch it themselves.
pytestmark = [
    pytest.mark.filterwarnings("ignore::fastgmm.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

PARAM_ATTRS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
FITTED_ARRAYS = PARAM_ATTRS
HYPOTHESIS = settings(max_examples=25, deadline=None)   # derandomized but for the "long" profile (conftest.py)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def assert_close(actual, desired, rtol, err_msg=""):
    """allclose with an absolute floor of ``rtol * max|desired|``: entries near zero
    (off-diagonal covariances) are compared on the scale of their array."""
    desired = np.asarray(desired, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == desired.shape, (err_msg, actual.shape, desired.shape)
    scale = np.max(np.abs(desired)) if desired.size else 0.0
    assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=err_msg)


def assert_same_fit(ours, theirs, rtol=1e-8, lower_bounds_from=0):
    """Every fitted attribute of two GaussianMixture fits agrees."""
    for name in PARAM_ATTRS:
        assert_close(getattr(ours, name), getattr(theirs, name), rtol, err_msg=name)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    assert len(ours.lower_bounds_) == len(theirs.lower_bounds_) == ours.n_iter_
    if np.isfinite(theirs.lower_bound_):
        assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=rtol)
    else:
        assert ours.lower_bound_ == theirs.lower_bound_
    assert_allclose(ours.lower_bounds_[lower_bounds_from:], theirs.lower_bounds_[lower_bounds_from:], rtol=rtol)


def assert_bitwise_same_fit(a, b):
    for name in PARAM_ATTRS:
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype
    assert a.lower_bound_ == b.lower_bound_
    assert a.lower_bounds_ == b.lower_bounds_
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_


def initial_parameters(X, n_components, cov_type, seed):
    """Explicit, deliberately imprecise starting parameters (weights, means, precisions)."""
    rng = np.random.default_rng(seed)
    N, D = X.shape
    weights = rng.dirichlet(np.full(n_components, 5.0))
    means = X[rng.choice(N, n_components, replace=False)] + rng.normal(scale=0.1, size=(n_components, D))
    var = X.var(axis=0)
    covs = []
    for _ in range(n_components):
        A = rng.normal(size=(D, D))
        covs.append(0.2 * A @ A.T / D + np.diag(var * rng.uniform(0.3, 1.0, D)))
    covs = np.array(covs)
    precisions = {
        "full": np.linalg.inv(covs),
        "tied": np.linalg.inv(covs.mean(axis=0)),
        "diag": 1.0 / np.array([np.diag(c) for c in covs]),
        "spherical": 1.0 / np.array([np.diag(c).mean() for c in covs]),
    }[cov_type]
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def separated_data(n, seed, dtype=np.float64):
    """Three well-separated round clusters in 2-D, and their centres."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])
    y = rng.integers(3, size=n)
    X = centres[y] + rng.normal(size=(n, 2)) * np.array([1.0, 0.7])
    return X.astype(dtype), y, centres


def match_components(estimated_means, true_means):
    """Permutation p such that estimated_means[p] lines up with true_means."""
    cost = ((true_means[:, None, :] - estimated_means[None, :, :]) ** 2).sum(-1)
    _, p = linear_sum_assignment(cost)
    return p


def sklearn_twin(gm):
    """A scikit-learn GaussianMixture holding exactly gm's fitted parameters."""
    sk = skm.GaussianMixture(gm.n_components, covariance_type=gm.covariance_type, random_state=gm.random_state)
    for name in PARAM_ATTRS + ("converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_"):
        setattr(sk, name, getattr(gm, name))
    return sk


def variances_1d(gm):
    """Per-component variance of a 1-D fit, for any covariance type."""
    cov = np.asarray(gm.covariances_, dtype=np.float64)
    return {
        "full": lambda: cov[:, 0, 0],
        "tied": lambda: np.full(gm.n_components, cov[0, 0]),
        "diag": lambda: cov[:, 0],
        "spherical": lambda: cov,
    }[gm.covariance_type]()


# ---------------------------------------------------------------------------
# Same results as scikit-learn
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("run", ["capped", "converged"])
def test_matches_sklearn_from_identical_initial_parameters(cov_type, run, seed):
    X, _ = mixture_data(1500, 3, 3, seed)
    init = initial_parameters(X, 3, cov_type, seed + 100)
    kw = dict(max_iter=5, tol=0.0) if run == "capped" else dict(max_iter=1000, tol=1e-6)
    ours = GaussianMixture(3, covariance_type=cov_type, **init, **kw).fit(X)
    theirs = skm.GaussianMixture(3, covariance_type=cov_type, **init, **kw).fit(X)
    assert_same_fit(ours, theirs, rtol=1e-8)
    if run == "converged":
        assert ours.converged_
        assert ours.n_iter_ > 3
    else:
        assert not ours.converged_
        assert ours.n_iter_ == 5


# scikit-learn computes diag/spherical variances as E[x^2] - mean^2
# (_estimate_gaussian_covariances_diag), which is not the centred
# sum r (x - mean)^2 / nk it uses for 'full' once nk = sum(r) + 10 eps: the two
# differ by about mean^2 * 10 eps. For the single-row components of
# 'random_from_data' and 'k-means++' that difference (~1e-14 for |x| ~ 5) is a
# relative 1e-8 of the reg_covar-sized initial variances, and the first
# lower bound (about -1e6, inversely proportional to them) differs by ~1e-8
# relative. fastgmm computes the centred value; see
# test_point_initialisation_variance_is_the_centred_one. Every later entry and
# every fitted parameter agrees to 1e-8.
_SKLEARN_UNCENTRED_FIRST_BOUND = {("random_from_data", "diag"), ("random_from_data", "spherical"),
                                  ("k-means++", "diag"), ("k-means++", "spherical")}


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("init_params", ["random", "random_from_data", "k-means++"])
@pytest.mark.parametrize("run", ["capped", "converged"])
def test_matches_sklearn_for_random_initialisations(init_params, cov_type, run, seed):
    X, _ = mixture_data(1500, 3, 3, seed)
    kw = dict(max_iter=5, tol=0.0) if run == "capped" else dict(max_iter=1000, tol=1e-6)
    kw.update(n_components=3, covariance_type=cov_type, init_params=init_params, random_state=seed)
    ours = GaussianMixture(**kw).fit(X)
    theirs = skm.GaussianMixture(**kw).fit(X)
    if (init_params, cov_type) in _SKLEARN_UNCENTRED_FIRST_BOUND:
        assert_same_fit(ours, theirs, rtol=1e-8, lower_bounds_from=1)
        assert_allclose(ours.lower_bounds_[0], theirs.lower_bounds_[0], rtol=1e-7)
    else:
        assert_same_fit(ours, theirs, rtol=1e-8)


@pytest.mark.parametrize("cov_type", ["diag", "spherical"])
def test_point_initialisation_variance_is_the_centred_one(cov_type):
    """Initial variances of single-row components are scikit-learn's: reg_covar plus the
    centred spread about the (10 eps-shrunk) mean plus mean^2 (10 eps / nk_eps), which is
    what its uncentred E[x^2] - mean^2 equals exactly, here computed without cancellation."""
    X, _ = mixture_data(400, 3, 3, 0)
    kw = dict(n_components=3, covariance_type=cov_type, init_params="random_from_data", random_state=0,
              max_iter=0, reg_covar=1e-6)
    ours = GaussianMixture(**kw).fit(X)
    rows = np.random.RandomState(0).choice(len(X), 3, replace=False)
    eps = np.finfo(np.float64).eps
    nk = 1.0 + 10 * eps
    means = X[rows] / nk
    var = (X[rows] - means) ** 2 / nk + means ** 2 * (10 * eps / nk) + 1e-6
    expected = var if cov_type == "diag" else var.mean(axis=1)
    assert_allclose(ours.means_, means, rtol=1e-13)
    rounding = 4 * eps * np.max(X[rows] ** 2)
    assert_allclose(ours.covariances_, expected, rtol=0, atol=rounding)
    theirs = skm.GaussianMixture(**kw).fit(X)   # the same, up to its E[x^2] - mean^2 cancellation
    assert_allclose(ours.covariances_, theirs.covariances_, rtol=0, atol=rounding)


def test_kmeans_initialisation_finds_sklearns_solution(seed):
    """fastgmm's own k-means cannot reproduce sklearn's draws, but on separated
    clusters both reach the same optimum."""
    X, _, centres = separated_data(3000, seed)
    kw = dict(n_components=3, init_params="kmeans", random_state=seed, tol=1e-8, max_iter=500)
    ours = GaussianMixture(**kw).fit(X)
    theirs = skm.GaussianMixture(**kw).fit(X)
    assert ours.converged_
    assert abs(ours.lower_bound_ - theirs.lower_bound_) < 1e-3
    p, q = match_components(ours.means_, centres), match_components(theirs.means_, centres)
    assert_allclose(ours.means_[p], theirs.means_[q], atol=1e-4)
    assert_allclose(ours.weights_[p], theirs.weights_[q], atol=1e-4)
    assert_allclose(ours.means_[p], centres, atol=0.1)


@pytest.mark.parametrize("init_params", ["random", "random_from_data", "k-means++"])
def test_consumes_the_random_state_like_sklearn(init_params):
    X, _ = mixture_data(500, 2, 3, 0)
    ours_rs, theirs_rs = np.random.RandomState(7), np.random.RandomState(7)
    GaussianMixture(3, init_params=init_params, random_state=ours_rs).fit(X)
    skm.GaussianMixture(3, init_params=init_params, random_state=theirs_rs).fit(X)
    a, b = ours_rs.get_state(), theirs_rs.get_state()
    assert a[0] == b[0]
    assert np.array_equal(a[1], b[1])
    assert a[2:] == b[2:]


def test_n_init_matches_sklearn():
    X, _ = mixture_data(800, 2, 4, 3)
    kw = dict(n_components=4, init_params="random", n_init=3, random_state=5, tol=1e-6, max_iter=500)
    assert_same_fit(GaussianMixture(**kw).fit(X), skm.GaussianMixture(**kw).fit(X), rtol=1e-8)


def test_max_iter_zero_matches_sklearn_initialisation():
    X, _ = mixture_data(600, 3, 3, 1)
    kw = dict(n_components=3, covariance_type="full", init_params="random", random_state=0, max_iter=0)
    assert_same_fit(GaussianMixture(**kw).fit(X), skm.GaussianMixture(**kw).fit(X), rtol=1e-10)


# ---------------------------------------------------------------------------
# dtypes and threads
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_float32_fit_is_float32_and_close_to_float64(cov_type):
    X64, _, _ = separated_data(3000, 0)
    X32 = X64.astype(np.float32)
    init = initial_parameters(X64, 3, cov_type, 1)
    kw = dict(n_components=3, covariance_type=cov_type, tol=1e-6, max_iter=500, **init)
    gm32 = GaussianMixture(**kw).fit(X32)
    gm64 = GaussianMixture(**kw).fit(X64)
    for name in FITTED_ARRAYS:
        assert getattr(gm32, name).dtype == np.float32, name
        assert getattr(gm64, name).dtype == np.float64, name
    assert gm32.lower_bound_.dtype == np.float32    # a numpy scalar of X's dtype, as scikit-learn's
    assert gm64.lower_bound_.dtype == np.float64
    assert_allclose(gm32.lower_bound_, gm64.lower_bound_, rtol=1e-4)
    assert_allclose(gm32.means_, gm64.means_, rtol=1e-4, atol=1e-4)
    assert_array_equal(gm32.predict(X32), gm64.predict(X64))
    assert gm32.predict_proba(X32).dtype == np.float32
    assert_allclose(gm32.score_samples(X32), gm64.score_samples(X64), rtol=1e-4, atol=1e-4)


@needs_openmp
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_results_do_not_depend_on_n_threads(cov_type, dtype, every_thread):
    # 20000 rows: about ten chunks, each its own slot, so threads really split the work.
    X, _ = mixture_data(20000, 3, 3, 2, dtype=dtype)
    X_new, _ = mixture_data(5000, 3, 3, 3, dtype=dtype)
    fits = []
    for n_threads in (1, 2, 3, None):
        gm = GaussianMixture(3, covariance_type=cov_type, random_state=0, max_iter=8, tol=0.0,
                             n_threads=n_threads)
        labels = gm.fit_predict(X)
        fits.append((gm, labels, gm.predict(X_new), gm.predict_proba(X_new), gm.score_samples(X_new),
                     gm.score(X_new)))
    gm1, *outputs1 = fits[0]
    for gm, *outputs in fits[1:]:
        assert_bitwise_same_fit(gm, gm1)
        for a, b in zip(outputs, outputs1):
            assert np.array_equal(a, b)


# ---------------------------------------------------------------------------
# Reproducibility and random_state
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_same_random_state_gives_bitwise_identical_fits(init_params):
    X, _ = mixture_data(1000, 2, 3, 4)
    a = GaussianMixture(3, init_params=init_params, random_state=11).fit(X)
    b = GaussianMixture(3, init_params=init_params, random_state=11).fit(X)
    assert_bitwise_same_fit(a, b)
    assert_array_equal(a.predict(X), b.predict(X))


def test_random_state_instance_semantics():
    X, _ = mixture_data(600, 2, 3, 5)
    kw = dict(n_components=3, init_params="random", max_iter=3, tol=0.0)
    from_int = GaussianMixture(random_state=3, **kw).fit(X)
    shared = GaussianMixture(random_state=np.random.RandomState(3), **kw)
    first = shared.fit(X).means_.copy()
    assert_array_equal(first, from_int.means_)
    # the instance is consumed, as in scikit-learn: a refit starts elsewhere
    second = shared.fit(X).means_
    assert not np.array_equal(first, second)
    sk = skm.GaussianMixture(random_state=np.random.RandomState(3), **kw)
    sk.fit(X)
    assert_close(second, sk.fit(X).means_, rtol=1e-8)
    # an int seed is re-read at every fit
    assert_array_equal(GaussianMixture(random_state=3, **kw).fit(X).fit(X).means_, from_int.means_)


# ---------------------------------------------------------------------------
# EM behaviour
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("init", ["random", "bad-means"])
def test_lower_bounds_never_decrease(cov_type, init):
    # reg_covar=0: EM proper, whose likelihood cannot decrease. (With reg_covar
    # the M-step is not the exact maximiser and, near convergence, the bound
    # can dip by ~1e-10 relative: scikit-learn's does too.)
    X, _ = mixture_data(1500, 3, 4, 6)
    if init == "random":
        kw = dict(init_params="random")
    else:   # every mean next to the same row
        kw = dict(means_init=X[0] + 0.01 * np.arange(12.0).reshape(4, 3))
    gm = GaussianMixture(4, covariance_type=cov_type, random_state=1, max_iter=30, tol=0.0, reg_covar=0.0,
                         **kw).fit(X)
    lb = np.asarray(gm.lower_bounds_)
    assert len(lb) == gm.n_iter_ == 30
    assert gm.lower_bound_ == lb[-1]
    assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:]))
    assert lb[-1] > lb[0]


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_recovers_two_gaussians_in_one_dimension(cov_type):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(20, 5, 4000), rng.normal(40, 5, 8000)])[:, None]
    gm = GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(X)
    assert gm.converged_
    order = np.argsort(gm.means_[:, 0])
    assert_allclose(gm.weights_[order], [1 / 3, 2 / 3], atol=0.02)
    assert_allclose(gm.means_[order, 0], [20, 40], atol=0.5)
    assert_allclose(np.sqrt(variances_1d(gm)[order]), [5, 5], atol=0.3)


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("max_iter", [1, 100])
def test_fit_predict_equals_fit_then_predict(cov_type, max_iter):
    X, _ = mixture_data(1200, 2, 3, 7)
    kw = dict(n_components=3, covariance_type=cov_type, random_state=2, max_iter=max_iter)
    labels = GaussianMixture(**kw).fit_predict(X)
    gm = GaussianMixture(**kw).fit(X)
    assert_array_equal(labels, gm.predict(X))
    if max_iter == 1:
        assert not gm.converged_


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_predictions_match_sklearn_on_the_same_parameters(cov_type):
    X, _ = mixture_data(1500, 3, 3, 8)
    X_new, _ = mixture_data(700, 3, 3, 9)
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    sk = sklearn_twin(gm)
    proba = gm.predict_proba(X_new)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all((proba >= 0) & (proba <= 1))
    assert_array_equal(proba.argmax(axis=1), gm.predict(X_new))
    assert_allclose(proba, sk.predict_proba(X_new), rtol=1e-10, atol=1e-12)
    assert_array_equal(gm.predict(X_new), sk.predict(X_new))
    ss = gm.score_samples(X_new)
    assert_allclose(ss, sk.score_samples(X_new), rtol=1e-10)
    assert_allclose(gm.score(X_new), ss.mean(), rtol=1e-12)
    assert_allclose(gm.score(X_new), sk.score(X_new), rtol=1e-10)
    assert_allclose(gm.bic(X_new), sk.bic(X_new), rtol=1e-10)
    assert_allclose(gm.aic(X_new), sk.aic(X_new), rtol=1e-10)
    assert gm._n_parameters() == sk._n_parameters()


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_sample_draws_like_sklearn(cov_type):
    X, _ = mixture_data(1500, 3, 3, 10)
    init = initial_parameters(X, 3, cov_type, 3)
    kw = dict(n_components=3, covariance_type=cov_type, random_state=4, tol=1e-6, max_iter=500, **init)
    ours = GaussianMixture(**kw).fit(X)
    theirs = skm.GaussianMixture(**kw).fit(X)
    Xs, ys = ours.sample(1000)
    Xt, yt = theirs.sample(1000)
    assert Xs.shape == (1000, 3)
    assert ys.shape == (1000,)
    assert_array_equal(ys, yt)
    assert_allclose(Xs, Xt, rtol=1e-8, atol=1e-8)
    assert set(np.unique(ys)) <= {0, 1, 2}
    assert np.all(np.diff(ys) >= 0)
    # bitwise the same draws when the parameters are bitwise the same
    Xu, yu = sklearn_twin(ours).sample(1000)
    assert_array_equal(Xs, Xu)
    assert_array_equal(ys, yu)
    # an int random_state gives the same draws every call
    assert_array_equal(ours.sample(1000)[0], Xs)
    assert ours.sample(1)[0].shape == (1, 3)


def test_warm_start_continues_the_previous_fit():
    X, _ = mixture_data(1500, 2, 3, 11)
    init = initial_parameters(X, 3, "full", 0)
    straight = GaussianMixture(3, max_iter=10, tol=0.0, **init).fit(X)
    warm = GaussianMixture(3, max_iter=5, tol=0.0, warm_start=True, **init).fit(X)
    first_half = list(warm.lower_bounds_)
    warm.fit(X)
    assert_allclose(first_half + warm.lower_bounds_, straight.lower_bounds_, rtol=1e-12)
    assert_close(warm.means_, straight.means_, rtol=1e-12)
    assert_close(warm.covariances_, straight.covariances_, rtol=1e-12)

    # from a converged fit, another warm fit stops at once, not worse
    conv = GaussianMixture(3, random_state=0, warm_start=True, tol=1e-6, max_iter=500).fit(X)
    lb = conv.lower_bound_
    assert conv.converged_
    conv.fit(X)
    assert conv.converged_
    assert conv.n_iter_ <= 2
    assert conv.lower_bound_ >= lb - 1e-10 * abs(lb)


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_n_init_keeps_the_best(random_state):
    X, _ = mixture_data(1000, 2, 5, 12)
    kw = dict(n_components=5, init_params="random_from_data", random_state=random_state, max_iter=200)
    one = GaussianMixture(n_init=1, **kw).fit(X)
    three = GaussianMixture(n_init=3, **kw).fit(X)
    assert three.lower_bound_ >= one.lower_bound_
    assert three.lower_bound_ == three.lower_bounds_[-1]


def test_max_iter_zero_only_initialises():
    X, _ = mixture_data(500, 2, 3, 13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(3, max_iter=0, random_state=0).fit(X)
    assert gm.n_iter_ == 0
    assert gm.lower_bounds_ == []
    assert not gm.converged_
    assert gm.lower_bound_ == -np.inf
    assert gm.predict(X).shape == (500,)
    assert np.all(np.isfinite(gm.score_samples(X)))


def test_convergence_warning_is_fastgmms_and_sklearns():
    X, _ = mixture_data(500, 2, 3, 14)
    with pytest.warns(fastgmm.ConvergenceWarning, match="did not converge"):
        GaussianMixture(3, max_iter=2, tol=0.0, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkConvergenceWarning)
        with pytest.raises(SkConvergenceWarning, match="max_iter"):
            GaussianMixture(3, max_iter=2, tol=0.0, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", SkConvergenceWarning)  # the later filter wins
        GaussianMixture(3, max_iter=2, tol=0.0, random_state=0).fit(X)  # silenced by sklearn's filter
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GaussianMixture(3, random_state=0).fit(X)  # a converging fit does not warn


# ---------------------------------------------------------------------------
# The estimator protocol
# ---------------------------------------------------------------------------

def test_pickle_round_trip():
    X, _ = mixture_data(800, 3, 3, 15)
    gm = GaussianMixture(3, covariance_type="diag", random_state=0, n_threads=2).fit(X)
    back = pickle.loads(pickle.dumps(gm))
    assert_array_equal(back.predict(X), gm.predict(X))
    assert_array_equal(back.score_samples(X), gm.score_samples(X))
    assert back.get_params() == gm.get_params()


def test_clone_pipeline_and_grid_search():
    X, _, _ = separated_data(900, 1)
    gm = GaussianMixture(3, covariance_type="tied", n_threads=2, random_state=0)
    c = clone(gm)
    assert c.get_params() == gm.get_params()
    assert not hasattr(c, "means_")
    assert "n_threads=2" in repr(c)

    pipe = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (900,)
    assert np.isfinite(pipe.score(X))

    search = GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 2, 3]}, cv=3).fit(X)
    assert search.best_params_ == {"n_components": 3}
    assert isinstance(search.best_estimator_, GaussianMixture)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


# fastgmm implements the estimator protocol without subclassing sklearn's
# BaseEstimator (it must import without scikit-learn); sklearn says so once.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base.BaseEstimator`",
                            category=UserWarning)
    _sklearn_checks = parametrize_with_checks([GaussianMixture(covariance_type=ct) for ct in COV_TYPES])


@_sklearn_checks
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_dataframe_input_records_feature_names():
    pd = pytest.importorskip("pandas")
    X, _ = mixture_data(400, 3, 2, 16)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    gm = GaussianMixture(2, random_state=0).fit(df)
    assert gm.n_features_in_ == 3
    assert list(gm.feature_names_in_) == ["a", "b", "c"]
    assert_array_equal(gm.predict(df), GaussianMixture(2, random_state=0).fit(X).predict(X))
    with pytest.raises(ValueError, match="feature names should match"):
        gm.predict(df.rename(columns={"c": "z"}))
    with pytest.raises(ValueError, match="feature names should match"):
        gm.score_samples(df[["b", "a", "c"]])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        gm.predict(X)
    # refitting on an array forgets the names
    gm.fit(X)
    assert not hasattr(gm, "feature_names_in_")


def test_works_without_sklearn():
    code = textwrap.dedent(
        """
        import sys, warnings
        sys.modules["sklearn"] = None
        import numpy as np
        import fastgmm
        try:
            import sklearn  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("sklearn is importable")
        rng = np.random.default_rng(0)
        X = np.concatenate([rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 8])
        for init in ["kmeans", "k-means++", "random", "random_from_data"]:
            for cov_type in ["full", "tied", "diag", "spherical"]:
                gm = fastgmm.GaussianMixture(2, covariance_type=cov_type, init_params=init, random_state=0)
                labels = gm.fit(X).predict(X)
                assert labels.shape == (600,) and set(labels) <= {0, 1}
                assert np.allclose(gm.predict_proba(X).sum(axis=1), 1)
                assert np.isfinite(gm.score(X))
                if init == "kmeans":   # (tied from single-row seeds settles on one blob, as in sklearn)
                    assert len(set(labels[:300])) == 1 and len(set(labels[300:])) == 1, (init, cov_type)
                    assert labels[0] != labels[-1]
        try:
            fastgmm.GaussianMixture().predict(X)
        except fastgmm.NotFittedError:
            pass
        else:
            raise SystemExit("predict before fit did not raise NotFittedError")
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            fastgmm.GaussianMixture(2, max_iter=1, tol=0.0, random_state=0).fit(X)
        assert [x.category for x in w] == [fastgmm.ConvergenceWarning], w
        assert "sklearn" not in sys.modules or sys.modules["sklearn"] is None
        print("OK")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK"


# ---------------------------------------------------------------------------
# Merged components: the overlap behind the "nearly identical" warning
# ---------------------------------------------------------------------------

def _normal_pdf(x, mean, var):
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)


def _layout(variances, cov_type):
    """The covariances of 1-D components (a list of variances) in ``cov_type``'s layout."""
    v = np.asarray(variances, dtype=np.float64)
    return {"full": v[:, None, None], "tied": v[:1, None], "diag": v[:, None], "spherical": v}[cov_type]


OVERLAP_CASES = [   # (mean_a, var_a, mean_b, var_b)
    (0.0, 1.0, 0.0, 1.0),        # identical
    (0.0, 1.0, 1.0, 1.0),        # 1 sd apart
    (2.0, 0.3, -1.5, 0.3),       # well apart
    (0.0, 1.0, 0.0, 2.25),       # one mean, sd ratio 1.5
    (3.0, 0.5, -1.0, 4.0),       # both differ
]


@pytest.mark.parametrize("case", OVERLAP_CASES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_bhattacharyya_coefficient_equals_the_integral_in_one_dimension(cov_type, case):
    from fastgmm.families._gaussian_checks import bhattacharyya_coefficients

    ma, va, mb, vb = case
    if cov_type == "tied" and va != vb:
        pytest.skip("a tied covariance is one variance for both components")
    x = np.linspace(min(ma, mb) - 40.0, max(ma, mb) + 40.0, 400_001)
    integral = np.trapezoid(np.sqrt(_normal_pdf(x, ma, va) * _normal_pdf(x, mb, vb)), x)
    bc = bhattacharyya_coefficients([[ma], [mb]], _layout([va, vb], cov_type), cov_type, 0, 1)
    assert_allclose(bc, [integral], rtol=1e-9)


def test_bhattacharyya_coefficient_equals_the_integral_for_two_dimensional_full_covariances():
    from fastgmm.families._gaussian_checks import bhattacharyya_coefficients

    means = np.array([[0.0, 0.0], [1.0, 0.5]])
    cov = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.6, -0.2], [-0.2, 1.5]]])
    g = np.linspace(-12.0, 12.0, 1201)
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1)
    dens = [np.exp(-0.5 * np.einsum("...d,de,...e->...", grid - m, np.linalg.inv(c), grid - m))
            / (2 * np.pi * np.sqrt(np.linalg.det(c))) for m, c in zip(means, cov)]
    integral = np.trapezoid(np.trapezoid(np.sqrt(dens[0] * dens[1]), g, axis=1), g)
    assert_allclose(bhattacharyya_coefficients(means, cov, "full", 0, 1), [integral], rtol=1e-7)


def test_the_screened_search_finds_the_pair_a_full_search_finds():
    from fastgmm.families._gaussian_checks import _MERGED_OVERLAP, _nearly_identical_pair, bhattacharyya_coefficients

    rng = np.random.default_rng(3)
    K, D = 8, 4
    means = rng.normal(scale=3.0, size=(K, D))
    A = rng.normal(size=(K, D, D))
    cov = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(D)
    means[5], cov[5] = means[2] + 0.01, cov[2] * 1.02       # one merged pair among well-separated ones
    weights = np.full(K, 1.0 / K)
    j, k = np.triu_indices(K, 1)
    every = bhattacharyya_coefficients(means, cov, "full", j, k)
    best = int(np.argmax(every))
    assert every[best] >= _MERGED_OVERLAP
    assert _nearly_identical_pair(weights, means, cov, "full")[:2] == (j[best], k[best])


def test_identical_densities_of_unequal_weights_are_not_a_stalled_start():
    from fastgmm.families._gaussian_checks import _nearly_identical_pair

    means, cov = np.zeros((2, 1)), np.ones((2, 1, 1))
    assert _nearly_identical_pair([0.5, 0.5], means, cov, "full")[:2] == (0, 1)
    assert _nearly_identical_pair([0.3, 0.7], means, cov, "full") is None     # overlap 2 sqrt(0.21) = 0.917


def test_components_held_together_by_reg_covar_are_not_a_stalled_start():
    # 10 uniform points (variance 0.08) under reg_covar=0.1: every start, also a separated one, ends merged.
    X = np.random.RandomState(0).rand(10, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(2, reg_covar=0.1, means_init=[[0.25, 0.5], [0.75, 0.5]], tol=1e-10,
                             max_iter=1000).fit(X)
    assert_allclose(gm.means_[0], gm.means_[1], atol=1e-3)
    assert not [w for w in caught if "nearly identical" in str(w.message)]


def _classic_1d():
    """The data of examples/plot_classic_1d.py: 4,000 points around 20, 8,000 around 40, sd 5."""
    rng = np.random.default_rng(1)
    return np.concatenate([rng.normal(20, 5, 4000), rng.normal(40, 5, 8000)]).reshape(-1, 1)


@pytest.mark.parametrize("random_state", [1, 2, 5, 25])   # unnoticed by the former 1% check
def test_the_classic_example_merged_by_a_random_start_warns(random_state):
    with pytest.warns(fastgmm.ConvergenceWarning, match="nearly identical.*init_params='kmeans'"):
        gm = GaussianMixture(2, init_params="random", random_state=random_state).fit(_classic_1d())
    assert abs(gm.means_[0, 0] - gm.means_[1, 0]) < 1.0


def test_initial_parameters_alone_do_not_warn_about_merged_components():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GaussianMixture(2, init_params="random", max_iter=0, random_state=0).fit(_classic_1d())
    assert not [w for w in caught if "nearly identical" in str(w.message)]


def _merged_warnings(X, **params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GaussianMixture(**params).fit(X)
    return [str(w.message) for w in caught if "nearly identical" in str(w.message)]


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_faithful_fits_do_not_warn_about_merged_components(cov_type):
    from fastgmm.datasets import load_faithful

    X = load_faithful().data
    for k in (2, 3, 4):
        assert _merged_warnings(X, n_components=k, covariance_type=cov_type, random_state=0) == [], k


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_moderately_overlapping_components_do_not_warn(cov_type):
    # Two 1-D Gaussians 1 sd apart (Bhattacharyya coefficient 0.88), fitted from the truth.
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0.0, 1.0, 5000), rng.normal(1.0, 1.0, 5000)])[:, None]
    assert _merged_warnings(X, n_components=2, covariance_type=cov_type, means_init=[[0.0], [1.0]],
                            weights_init=[0.5, 0.5], precisions_init=_layout([1.0, 1.0], cov_type)) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixture_data_fits_do_not_warn_about_merged_components(seed):
    X, _ = mixture_data(1000, 3, 3, seed)
    for cov_type in COV_TYPES:
        for k in (2, 3, 4):
            assert _merged_warnings(X, n_components=k, covariance_type=cov_type, random_state=seed) == [], \
                (cov_type, k)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

@HYPOTHESIS
@given(
    seed=st.integers(0, 2**32 - 1),
    cov_type=st.sampled_from(COV_TYPES),
    n_components=st.integers(1, 4),
    n_features=st.integers(1, 4),
    spread=st.floats(0.1, 1000.0),
)
def test_responsibilities_are_probabilities(seed, cov_type, n_components, n_features, spread):
    rng = np.random.default_rng(seed)
    X_fit = rng.normal(size=(max(2, n_components), n_features))
    weights = rng.dirichlet(np.ones(n_components))
    means = rng.normal(scale=spread, size=(n_components, n_features))
    scales = rng.uniform(0.05, 3.0, size=(n_components, n_features))
    precisions = {
        "full": np.array([np.linalg.inv(np.diag(s ** 2) + 0.1 * np.outer(s, s)) for s in scales]),
        "tied": np.linalg.inv(np.diag(scales[0] ** 2) + 0.1 * np.outer(scales[0], scales[0])),
        "diag": 1.0 / scales ** 2,
        "spherical": 1.0 / scales[:, 0] ** 2,
    }[cov_type]
    gm = GaussianMixture(n_components, covariance_type=cov_type, weights_init=weights, means_init=means,
                         precisions_init=precisions, max_iter=0).fit(X_fit)
    assert_allclose(gm.means_, means)
    X = rng.normal(scale=spread, size=(200, n_features))
    proba = gm.predict_proba(X)
    assert proba.shape == (200, n_components)
    assert np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(proba.argmax(axis=1), gm.predict(X))
    assert np.all(np.isfinite(gm.score_samples(X)))


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), cov_type=st.sampled_from(COV_TYPES))
def test_row_order_does_not_change_the_fit(seed, cov_type):
    X, _ = mixture_data(300, 2, 3, seed % 1000)
    perm = np.random.default_rng(seed).permutation(len(X))
    init = initial_parameters(X, 3, cov_type, seed % 997)
    kw = dict(n_components=3, covariance_type=cov_type, max_iter=10, tol=0.0, **init)
    a = GaussianMixture(**kw).fit(X)
    b = GaussianMixture(**kw).fit(X[perm])
    for name in PARAM_ATTRS:
        assert_close(getattr(b, name), getattr(a, name), rtol=1e-9, err_msg=name)
    assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-9)
    assert_array_equal(b.predict(X), a.predict(X))


@HYPOTHESIS
@given(
    seed=st.integers(0, 2**32 - 1),
    cov_type=st.sampled_from(COV_TYPES),
    shift=st.floats(-100.0, 100.0),
    factor=st.floats(0.01, 100.0),
)
def test_means_are_translation_and_scale_equivariant(seed, cov_type, shift, factor):
    X, _ = mixture_data(300, 2, 3, seed % 1000)
    init = initial_parameters(X, 3, cov_type, seed % 997)
    kw = dict(n_components=3, covariance_type=cov_type, max_iter=10, tol=0.0, reg_covar=0.0)
    base = GaussianMixture(**kw, **init).fit(X)
    c = shift * np.array([1.0, -0.5])
    moved = GaussianMixture(**kw, weights_init=init["weights_init"], means_init=init["means_init"] + c,
                            precisions_init=init["precisions_init"]).fit(X + c)
    assert_allclose(moved.means_, base.means_ + c, rtol=1e-9, atol=1e-9 * (1 + abs(shift)))
    assert_close(moved.covariances_, base.covariances_, rtol=1e-7)
    assert_allclose(moved.weights_, base.weights_, rtol=1e-9, atol=1e-12)
    scaled = GaussianMixture(**kw, weights_init=init["weights_init"], means_init=init["means_init"] * factor,
                             precisions_init=init["precisions_init"] / factor ** 2).fit(X * factor)
    assert_close(scaled.means_, base.means_ * factor, rtol=1e-9)
    assert_close(scaled.covariances_, base.covariances_ * factor ** 2, rtol=1e-9)
    assert_allclose(scaled.weights_, base.weights_, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# Input forms
# ---------------------------------------------------------------------------

def _fit_outputs(X, X_pred, **kw):
    gm = GaussianMixture(3, random_state=0, **kw).fit(X)
    return gm, gm.predict(X_pred), gm.score_samples(X_pred)


def test_read_only_and_memmap_input(tmp_path):
    X, _ = mixture_data(1000, 3, 3, 17)
    ref, labels, ll = _fit_outputs(X, X)
    ro = X.copy()
    ro.setflags(write=False)
    gm, l2, s2 = _fit_outputs(ro, ro)
    assert_bitwise_same_fit(gm, ref)
    assert_array_equal(l2, labels)
    assert_array_equal(s2, ll)

    path = tmp_path / "X.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    del mm
    mm = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    gm, l3, s3 = _fit_outputs(mm, mm)
    assert_bitwise_same_fit(gm, ref)
    assert_array_equal(l3, labels)
    assert_array_equal(s3, ll)
    del mm


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_non_contiguous_input_gives_the_same_result(dtype):
    X, _ = mixture_data(1000, 3, 3, 18, dtype=dtype)
    ref, labels, ll = _fit_outputs(X, X)
    wide = np.zeros((2000, 6), dtype=dtype)
    wide[::2, ::2] = X
    for other in (np.asfortranarray(X), wide[::2, ::2], wide[::2][:, [0, 2, 4]]):
        gm, l2, s2 = _fit_outputs(other, other)
        assert_bitwise_same_fit(gm, ref)
        assert_array_equal(l2, labels)
        assert_array_equal(s2, ll)
    assert wide[1::2].sum() == 0  # input untouched


@pytest.mark.parametrize("int_dtype", [np.int64, np.int32, np.uint8])
def test_integer_input_is_converted_to_float64(int_dtype):
    X, _ = mixture_data(600, 2, 3, 19, scale=40.0)
    Xi = np.clip(np.round(X + 60), 0, 255).astype(int_dtype)
    gm, labels, ll = _fit_outputs(Xi, Xi)
    ref, ref_labels, ref_ll = _fit_outputs(Xi.astype(np.float64), Xi.astype(np.float64))
    for name in FITTED_ARRAYS:
        assert getattr(gm, name).dtype == np.float64
    assert_bitwise_same_fit(gm, ref)
    assert_array_equal(labels, ref_labels)
    assert_array_equal(ll, ref_ll)
    # lists of numbers work too
    gm_list = GaussianMixture(3, random_state=0).fit(Xi.tolist())
    assert_bitwise_same_fit(gm_list, ref)
