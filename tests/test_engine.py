"""Engine v2: sample weights, float32 accuracy far from the shift, additive
statistics, the public attributes as the single source of truth, and the
warning for a fit whose components stayed identical.

None of these tests needs scikit-learn.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from fastgmm import ConvergenceWarning, GaussianMixture
from fastgmm.families import _gaussian
import _reference as ref
from fastgmm.families._gaussian_passes import gaussian_statistics
from fastgmm.families._gaussian_statistics import Statistics

from conftest import COV_TYPES, mixture_data

PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def given_start(X, K, cov_type, seed=0):
    """weights_init, means_init, precisions_init: an imprecise but fixed start."""
    rng = np.random.default_rng(seed)
    N, D = X.shape
    means = X[rng.choice(N, K, replace=False)] + rng.normal(scale=0.1, size=(K, D))
    var = X.var(axis=0)
    prec = {
        "full": np.array([np.diag(1 / var)] * K),
        "tied": np.diag(1 / var),
        "diag": np.tile(1 / var, (K, 1)),
        "spherical": np.full(K, 1 / var.mean()),
    }[cov_type]
    return dict(weights_init=np.full(K, 1.0 / K), means_init=means, precisions_init=prec)


def exact_log_density(X, gm):
    """log p(x) of the fitted model, in float64 from its (possibly float32) parameters."""
    wlp = ref.estimate_weighted_log_prob(
        X.astype(np.float64), gm.weights_.astype(np.float64), gm.means_.astype(np.float64),
        gm.precisions_cholesky_.astype(np.float64), gm.covariance_type)
    return wlp


# ---------------------------------------------------------------------------
# Sample weights
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_integer_weights_give_the_model_of_repeated_rows(cov_type):
    X, _ = mixture_data(400, 3, 3, 1)
    reps = np.random.default_rng(2).integers(0, 4, len(X))
    kw = dict(covariance_type=cov_type, tol=1e-8, max_iter=50, **given_start(X, 3, cov_type))
    weighted = GaussianMixture(3, **kw).fit(X, sample_weight=reps)
    repeated = GaussianMixture(3, **kw).fit(np.repeat(X, reps, axis=0))
    for name in PARAMS:
        assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-10, atol=1e-10, err_msg=name)
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10)
    assert weighted.n_iter_ == repeated.n_iter_


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_integer_weights_with_random_initialisations(cov_type, init_params):
    """Random starts draw differently with weights, but reach a model as good as the repeated rows'."""
    X, _ = mixture_data(600, 2, 3, 4, scale=8.0)
    reps = np.random.default_rng(5).integers(1, 4, len(X))
    Xr = np.repeat(X, reps, axis=0)
    kw = dict(covariance_type=cov_type, init_params=init_params, n_init=3, random_state=0, tol=1e-6,
              max_iter=300)
    weighted = GaussianMixture(3, **kw).fit(X, sample_weight=reps)
    repeated = GaussianMixture(3, **kw).fit(Xr)
    assert weighted.score(Xr) >= repeated.score(Xr) - 1e-2


def test_zero_weight_rows_are_absent():
    X, _ = mixture_data(500, 2, 2, 6)
    outliers = np.full((20, 2), 1e3)
    Xo = np.vstack([X, outliers])
    w = np.r_[np.ones(len(X)), np.zeros(len(outliers))]
    kw = dict(tol=1e-8, **given_start(X, 2, "full"))
    a = GaussianMixture(2, **kw).fit(Xo, sample_weight=w)
    b = GaussianMixture(2, **kw).fit(X)
    for name in PARAMS:
        assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_weighted_kmeans_initialisation_is_as_good_as_repeating_rows(cov_type):
    X, _ = mixture_data(800, 2, 4, 7, scale=6.0)
    reps = np.random.default_rng(8).integers(1, 5, len(X))
    Xr = np.repeat(X, reps, axis=0)
    kw = dict(covariance_type=cov_type, random_state=0, tol=1e-6, max_iter=300, n_init=2)
    weighted = GaussianMixture(4, **kw).fit(X, sample_weight=reps)
    repeated = GaussianMixture(4, **kw).fit(Xr)
    assert weighted.score(Xr) >= repeated.score(Xr) - 1e-2


def test_weighted_score_bic_aic():
    X, _ = mixture_data(300, 2, 2, 9)
    w = np.random.default_rng(1).integers(0, 3, len(X)).astype(float)
    gm = GaussianMixture(2, random_state=0).fit(X)
    Xr = np.repeat(X, w.astype(int), axis=0)
    assert gm.score(X, sample_weight=w) == pytest.approx(gm.score(Xr), rel=1e-12)
    assert gm.bic(X, sample_weight=w) == pytest.approx(gm.bic(Xr), rel=1e-12)
    assert gm.aic(X, sample_weight=w) == pytest.approx(gm.aic(Xr), rel=1e-12)


def test_fit_predict_with_weights_equals_fit_then_predict():
    X, _ = mixture_data(500, 3, 3, 10)
    w = np.random.default_rng(0).uniform(0, 2, len(X))
    labels = GaussianMixture(3, random_state=0).fit_predict(X, sample_weight=w)
    gm = GaussianMixture(3, random_state=0).fit(X, sample_weight=w)
    assert_array_equal(labels, gm.predict(X))


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.zeros(50), "at least one non-zero"),
        (-np.ones(50), "Negative values"),
        (np.r_[np.ones(49), np.nan], "NaN or infinity"),
        (np.r_[np.ones(49), np.inf], "NaN or infinity"),
        (np.ones(49), r"sample_weight.shape == \(49,\), expected \(50,\)"),
        (np.ones((50, 1)), "1D array or scalar"),
        (np.array(["a"] * 50), "real numbers"),
    ],
    ids=["all-zero", "negative", "nan", "inf", "wrong-length", "2-d", "strings"],
)
@pytest.mark.parametrize("method", ["fit", "fit_predict", "score", "bic", "aic"])
def test_bad_weights_are_refused_by_name(weights, message, method):
    X, _ = mixture_data(50, 2, 2, 11)
    gm = GaussianMixture(2, random_state=0)
    if method in ("score", "bic", "aic"):
        gm.fit(X)
    with pytest.raises(ValueError, match=message):
        getattr(gm, method)(X, sample_weight=weights)


def test_weights_are_validated_before_any_work(monkeypatch):
    from fastgmm.families import _gaussian_mixture

    def boom(*args, **kwargs):
        raise AssertionError("initialisation ran before the weights were checked")

    monkeypatch.setattr(_gaussian_mixture, "initial_statistics", boom)
    X, _ = mixture_data(50, 2, 2, 12)
    with pytest.raises(ValueError, match="Negative"):
        GaussianMixture(2).fit(X, sample_weight=-np.ones(50))


def test_too_few_positively_weighted_rows():
    X, _ = mixture_data(50, 2, 2, 13)
    w = np.zeros(50)
    w[:2] = 1.0
    with pytest.raises(ValueError, match="n_samples with a positive sample_weight = 2"):
        GaussianMixture(3).fit(X, sample_weight=w)


def test_scalar_weight_is_uniform():
    X, _ = mixture_data(200, 2, 2, 14)
    kw = dict(random_state=0, **given_start(X, 2, "diag"), covariance_type="diag")
    a = GaussianMixture(2, **kw).fit(X, sample_weight=3.0)
    b = GaussianMixture(2, **kw).fit(X)
    assert_allclose(a.means_, b.means_, rtol=1e-12)


def test_weights_array_is_not_modified():
    X, _ = mixture_data(200, 2, 2, 15)
    w = np.random.default_rng(0).uniform(0, 1, 200)
    w0 = w.copy()
    GaussianMixture(2, random_state=0).fit(X, sample_weight=w)
    assert_array_equal(w, w0)


# ---------------------------------------------------------------------------
# float32 accuracy
# ---------------------------------------------------------------------------

def _far_apart(sep, dtype, n=3000, D=3, seed=0):
    """Three tight components (sigma 1) drawn ``sep`` sigma apart along a line."""
    rng = np.random.default_rng(seed)
    centres = np.arange(3)[:, None] * np.r_[sep, np.zeros(D - 1)]
    y = rng.integers(3, size=n)
    X = centres[y] + rng.normal(size=(n, D))
    return X.astype(dtype), centres


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("sep", [1e3, 1e4])
def test_float32_log_densities_are_float32_accurate_far_apart(cov_type, sep):
    X, centres = _far_apart(sep, np.float32)
    D = X.shape[1]
    prec = {"full": np.array([np.eye(D)] * 3), "tied": np.eye(D), "diag": np.ones((3, D)),
            "spherical": np.ones(3)}[cov_type]
    gm = GaussianMixture(3, covariance_type=cov_type, weights_init=np.full(3, 1 / 3), means_init=centres,
                         precisions_init=prec, tol=1e-6).fit(X)
    wlp = exact_log_density(X, gm)
    exact = logsumexp(wlp, axis=1)
    got = gm.score_samples(X)
    assert got.dtype == np.float32
    assert np.mean(np.abs(got.astype(np.float64) - exact)) <= 1e-3
    resp = np.exp(wlp - exact[:, None])
    assert np.max(np.abs(gm.predict_proba(X) - resp)) <= 1e-5
    # the lower bound of the final pass against the exact value under the
    # parameters it was computed with is checked through score on the data
    assert gm.score(X) == pytest.approx(exact.mean(), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_component_far_from_the_shift_keeps_its_variance(cov_type, dtype):
    """A component 1e6 sigma from the mixture's mean: its variance is estimated, not clamped.

    The statistics are float64 sums about the mixture's mean, so a variance
    carries a relative error of about eps64 * (distance / sigma)^2 times a
    small factor: ~1e-3 at 1e6 sigma (measured 4e-4), where float32 sums
    (or sums about the origin) would return reg_covar or a negative value."""
    rng = np.random.default_rng(3)
    n = 4000
    y = rng.integers(2, size=n)
    X = (np.c_[y * 1e6, np.zeros(n)] + rng.normal(size=(n, 2))).astype(dtype)
    X64 = X.astype(np.float64)
    means = np.array([[0.0, 0.0], [1e6, 0.0]])
    prec = {"full": np.array([np.eye(2)] * 2), "tied": np.eye(2), "diag": np.ones((2, 2)),
            "spherical": np.ones(2)}[cov_type]
    gm = GaussianMixture(2, covariance_type=cov_type, weights_init=[0.5, 0.5], means_init=means,
                         precisions_init=prec, reg_covar=1e-9, max_iter=3, tol=0).fit(X)
    true_var = np.array([X64[y == k].var(axis=0) for k in range(2)])
    cov = gm.covariances_.astype(np.float64)
    if cov_type == "full":
        got = np.array([np.diag(c) for c in cov])
    elif cov_type == "tied":
        got = np.tile(np.diag(cov), (2, 1))
        true_var = np.tile((np.bincount(y)[:, None] * true_var).sum(0) / n, (2, 1))
    elif cov_type == "diag":
        got = cov
    else:
        got = np.repeat(cov[:, None], 2, axis=1)
        true_var = np.repeat(true_var.mean(axis=1)[:, None], 2, axis=1)
    assert_allclose(got, true_var, rtol=5e-3)


def test_float32_is_not_less_accurate_than_float64_near_the_origin():
    X, _ = mixture_data(2000, 4, 3, 16)
    kw = dict(covariance_type="full", **given_start(X, 3, "full"), tol=1e-8, max_iter=200)
    a = GaussianMixture(3, **kw).fit(X.astype(np.float32))
    b = GaussianMixture(3, **kw).fit(X)
    assert_allclose(a.means_, b.means_, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Statistics: additive, scalable, re-centrable
# ---------------------------------------------------------------------------

def _stats(X, cov_type, seed=0, shift=None, sample_weight=None):
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=seed, max_iter=2).fit(X)
    s = gaussian_statistics(X, gm.weights_, gm.means_, gm.precisions_cholesky_, cov_type, 1,
                            sample_weight=sample_weight)
    return gm, s


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_statistics_of_blocks_add_up(cov_type):
    X, _ = mixture_data(900, 3, 3, 17)
    gm, whole = _stats(X, cov_type)
    args = (gm.weights_, gm.means_, gm.precisions_cholesky_, cov_type, 1)
    parts = [gaussian_statistics(X[a:a + 300], *args) for a in range(0, 900, 300)]
    total = parts[0] + parts[1]
    total += parts[2]
    for name in ("nk", "s1", "s2", "loglik", "weight", "n_samples"):
        assert_allclose(getattr(total, name), getattr(whole, name), rtol=1e-12, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_recentred_statistics_equal_a_pass_about_the_new_centre(cov_type):
    X, _ = mixture_data(600, 3, 3, 18)
    gm, s = _stats(X, cov_type)
    new_centre = s.centre + np.array([3.0, -2.0, 0.5])
    # the same responsibilities about another centre: through the kernel's given-resp mode
    from fastgmm.kernels import _driver as _kernels

    resp = gm.predict_proba(X).astype(np.float64)
    G, T, _ = _kernels.accumulate(X, _gaussian.QUAD[cov_type], 3, new_centre, 1, mode=_kernels.RESP_GIVEN,
                                  resp=resp)
    direct = _gaussian.statistics_from_sums(G, T, cov_type, new_centre, 0.0, 600, 600)
    moved = s.recentred(new_centre)
    for name in ("nk", "s1", "s2"):
        assert_allclose(getattr(moved, name), getattr(direct, name), rtol=1e-9, atol=1e-8, err_msg=name)


def test_statistics_about_different_centres_add_after_recentring():
    X, _ = mixture_data(600, 2, 3, 19)
    gm, s = _stats(X, "full")
    moved = s.recentred(s.centre + 1.0)
    total = moved + s
    assert_array_equal(total.centre, moved.centre)
    assert_allclose(total.nk, 2 * s.nk, rtol=1e-12)
    assert_allclose(total.s1, 2 * moved.s1, rtol=1e-9, atol=1e-8)


def test_scaled_statistics_give_the_same_m_step():
    X, _ = mixture_data(600, 2, 3, 20)
    _, s = _stats(X, "diag")
    half = s.scaled(0.5)
    assert half.weight == s.weight / 2
    a = _gaussian.m_step(s, 1e-6, 0.0)
    b = _gaussian.m_step(half, 1e-6, 0.0)
    for x, y in zip(a[1:], b[1:]):
        assert_allclose(x, y, rtol=1e-12)


def test_statistics_dict_round_trip():
    X, _ = mixture_data(300, 2, 3, 21)
    _, s = _stats(X, "tied")
    back = Statistics.from_dict(s.to_dict())
    for name in ("nk", "s1", "s2", "centre"):
        assert_array_equal(getattr(back, name), getattr(s, name))
    assert (back.loglik, back.weight, back.n_samples, back.cov_type) == (s.loglik, s.weight, s.n_samples, s.cov_type)


# ---------------------------------------------------------------------------
# Public attributes are the single source of truth
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_hand_set_attributes_predict_like_the_fitted_model(cov_type):
    X, _ = mixture_data(500, 3, 3, 22)
    fitted = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    by_hand = GaussianMixture(3, covariance_type=cov_type)
    for name in PARAMS + ("precisions_", "n_features_in_"):
        setattr(by_hand, name, getattr(fitted, name).copy() if name != "n_features_in_" else 3)
    assert_array_equal(by_hand.predict(X), fitted.predict(X))
    assert_array_equal(by_hand.score_samples(X), fitted.score_samples(X))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_warm_start_continues_from_the_public_attributes(cov_type):
    X, _ = mixture_data(500, 3, 3, 23)
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=0, warm_start=True, max_iter=3, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
        # Edit the fitted means: the next fit must start from the edited model.
        gm.means_ = gm.means_ + 0.5
        edited = {name: getattr(gm, name).copy() for name in PARAMS}
        gm.fit(X)
    fresh = GaussianMixture(3, covariance_type=cov_type, max_iter=3, tol=0, weights_init=edited["weights_"],
                            means_init=edited["means_"],
                            precisions_init=_gaussian.precisions_from_cholesky(edited["precisions_cholesky_"],
                                                                               cov_type))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fresh.fit(X)
    assert_allclose(gm.means_, fresh.means_, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------
# Identical components
# ---------------------------------------------------------------------------

def test_tutorial_example_that_merges_components_warns():
    """1-D, means 20 and 40, sd 5, 4,000 + 8,000 points, random init: both components end near 33."""
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(20, 5, 4000), rng.normal(40, 5, 8000)][:, None]
    with pytest.warns(ConvergenceWarning, match="nearly identical.*init_params='kmeans'"):
        gm = GaussianMixture(2, init_params="random", random_state=0).fit(X)
    assert abs(gm.means_[0, 0] - gm.means_[1, 0]) < 0.1


def test_separated_fit_does_not_warn_about_identical_components():
    X, _ = mixture_data(1000, 2, 3, 24, scale=8.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GaussianMixture(3, random_state=0).fit(X)


def test_duplicated_rows_warn_about_distinct_clusters_only():
    """More components than distinct points: scikit-learn's k-means warning, and no
    "nearly identical" warning about the empty components."""
    X = np.repeat(np.random.default_rng(0).normal(size=(10, 2)), 20, axis=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(15, random_state=0).fit(X)
    messages = [str(w.message) for w in caught]
    assert any("Number of distinct clusters (10) found smaller than n_clusters (15)" in m for m in messages)
    assert not any("nearly identical" in m for m in messages)
    assert np.sum(gm.weights_ > 1e-8) == 10
