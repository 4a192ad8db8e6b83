"""Every bad input gets a clear error: the right exception type, and a message
that names the problem (and, where there is one, the remedy). Never a crash,
never a silent NaN."""

import re
import warnings

import numpy as np
import pytest

import fastgmm
from fastgmm import GaussianMixture

from conftest import COV_TYPES, mixture_data


@pytest.fixture(scope="module")
def X():
    return mixture_data(200, 3, 2, 0)[0]


@pytest.fixture(scope="module")
def fitted(X):
    return GaussianMixture(2, random_state=0).fit(X)


PREDICT_METHODS = ["predict", "predict_proba", "score", "score_samples", "bic", "aic"]


# ---------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------

def test_1d_input_asks_for_a_reshape(X):
    with pytest.raises(ValueError, match=r"Expected 2D array, got 1D array(.|\n)*reshape\(-1, 1\)"):
        GaussianMixture().fit(X[:, 0])


def test_1d_input_at_predict(fitted, X):
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        fitted.predict(X[0])


def test_scalar_input():
    with pytest.raises(ValueError, match="Expected 2D array, got scalar array"):
        GaussianMixture().fit(3.0)


def test_3d_input(X):
    with pytest.raises(ValueError, match="Found array with dim 3"):
        GaussianMixture().fit(X[None])


def test_empty_input():
    with pytest.raises(ValueError, match=r"0 sample\(s\) \(shape=\(0, 3\)\) while a minimum of 2 is required"):
        GaussianMixture().fit(np.empty((0, 3)))
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(10, 0\)\) while a minimum of 1 is required"):
        GaussianMixture().fit(np.empty((10, 0)))


def test_empty_input_at_predict(fitted):
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        fitted.predict(np.empty((0, 3)))


def test_one_sample(X):
    with pytest.raises(ValueError, match=r"1 sample\(s\) \(shape=\(1, 3\)\) while a minimum of 2"):
        GaussianMixture().fit(X[:1])


def test_fewer_samples_than_components(X):
    with pytest.raises(ValueError, match=r"n_samples >= n_components.*n_components = 5, n_samples = 4"):
        GaussianMixture(5).fit(X[:4])


@pytest.mark.parametrize("method", PREDICT_METHODS)
def test_wrong_feature_count_at_prediction(fitted, X, method):
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3 features"):
        getattr(fitted, method)(X[:, :2])


@pytest.mark.parametrize("method", PREDICT_METHODS + ["sample"])
def test_use_before_fit(X, method):
    arg = 3 if method == "sample" else X
    with pytest.raises(fastgmm.NotFittedError, match="not fitted yet. Call 'fit'") as info:
        getattr(GaussianMixture(), method)(arg)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AttributeError)


@pytest.mark.parametrize("method", ["predict", "score_samples", "sample"])
def test_use_before_fit_is_sklearns_not_fitted_error(X, method):
    # Code written for scikit-learn, which has imported sklearn.exceptions, catches it.
    sk_exceptions = pytest.importorskip("sklearn.exceptions")
    arg = 3 if method == "sample" else X
    with pytest.raises(sk_exceptions.NotFittedError, match="not fitted yet"):
        getattr(GaussianMixture(), method)(arg)


# ---------------------------------------------------------------------------
# values and types of X
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_at_fit(X, dtype, bad):
    Xb = X.astype(dtype)
    Xb[17, 2] = bad
    # scikit-learn's sentence first, then where and what to do
    word = "NaN" if np.isnan(bad) else re.escape(f"infinity or a value too large for {np.dtype(dtype)!r}")
    with pytest.raises(ValueError, match=rf"^Input X contains {word}\. The first is at row 17, column 2;.*"
                                         "[Rr]emove or impute"):
        GaussianMixture().fit(Xb)


@pytest.mark.parametrize("method", PREDICT_METHODS)
@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nan_and_inf_at_prediction(fitted, X, method, bad, word):
    Xb = X.copy()
    Xb[150, 0] = bad
    with pytest.raises(ValueError, match=rf"^Input X contains {word}.*\. The first is at row 150, column 0;"):
        getattr(fitted, method)(Xb)


def test_nan_in_a_list(X):
    rows = X.tolist()
    rows[3][1] = float("nan")
    with pytest.raises(ValueError, match=r"^Input X contains NaN\. The first is at row 3, column 1;"):
        GaussianMixture().fit(rows)


def test_complex_input(X):
    with pytest.raises(ValueError, match="Complex data not supported"):
        GaussianMixture().fit(X + 1j)
    with pytest.raises(ValueError, match="Complex data not supported"):
        GaussianMixture().fit([[1 + 1j, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_input_says_use_toarray(X, fitted, fmt):
    sparse = pytest.importorskip("scipy.sparse")
    S = sparse.random(50, 3, density=0.5, format=fmt, random_state=0)
    with pytest.raises(TypeError, match=r"sparse.*dense data is required.*toarray\(\)"):
        GaussianMixture().fit(S)
    with pytest.raises(TypeError, match=r"toarray\(\)"):
        fitted.predict(S)
    with pytest.raises(TypeError, match=r"toarray\(\)"):
        GaussianMixture().fit(sparse.csr_array(X))


@pytest.mark.parametrize(
    "junk",
    [
        [["a", "b"], ["c", "d"], ["e", "f"]],
        np.array([[1.0, object()], [2.0, 3.0]], dtype=object),
        [[1.0, {}], [2.0, 3.0]],
        {"a": [1, 2]},
    ],
    ids=["strings", "object", "dict-cell", "dict"],
)
def test_non_numeric_input(junk):
    with pytest.raises((TypeError, ValueError), match="X must contain only numbers"):
        GaussianMixture().fit(junk)


def test_ragged_input():
    with pytest.raises(ValueError, match="inhomogeneous"):
        GaussianMixture().fit([[1.0, 2.0], [3.0]])


# ---------------------------------------------------------------------------
# constructor parameters: checked at fit, naming the parameter and what is allowed
# ---------------------------------------------------------------------------

RANDOM_STATES = "an int in the range [0, 4294967295], an instance of 'numpy.random.mtrand.RandomState' or None"

BAD_PARAMS = [
    ("n_components", 0, "an int in the range [1, inf)"),
    ("n_components", -1, "an int in the range [1, inf)"),
    ("n_components", 1.5, "an int in the range [1, inf)"),
    ("n_components", "3", "an int in the range [1, inf)"),
    ("n_components", True, "an int in the range [1, inf)"),
    ("covariance_type", "foo", "a str among {'EEE', 'EEI', 'EEV', 'EII', 'EVE', 'EVI', 'EVV', 'VEE', 'VEI', 'VEV', 'VII', 'VVE', 'VVI', 'VVV', 'diag', 'full', 'spherical', 'tied'}"),
    ("tol", -1, "a float in the range [0.0, inf)"),
    ("tol", np.nan, "a float in the range [0.0, inf)"),
    ("reg_covar", -1, "a float in the range [0.0, inf)"),
    ("reg_covar", np.inf, "a float in the range [0.0, inf)"),
    ("max_iter", -1, "an int in the range [0, inf)"),
    ("max_iter", 1.5, "an int in the range [0, inf)"),
    ("n_init", 0, "an int in the range [1, inf)"),
    ("init_params", "bar", "a str among {'hc', 'k-means++', 'kmeans', 'random', 'random_from_data'}"),
    ("warm_start", "yes", "an instance of 'bool'"),
    ("verbose", -1, "an int in the range [0, inf), an instance of 'bool'"),
    ("verbose_interval", 0, "an int in the range [1, inf)"),
    ("n_threads", 0, "must be None, an int in the range [1, inf) or an int in the range (-inf, -1]"),
    ("n_threads", 1.5, "must be None, an int in the range [1, inf) or an int in the range (-inf, -1]"),
    ("n_threads", True, "must be None, an int in the range [1, inf) or an int in the range (-inf, -1]"),
    ("random_state", "x", RANDOM_STATES),
    ("random_state", 1.5, RANDOM_STATES),
    ("random_state", -1, RANDOM_STATES),
    ("random_state", 2**32, RANDOM_STATES),
]


@pytest.mark.parametrize("name, value, allowed", BAD_PARAMS, ids=[f"{n}={v!r}" for n, v, _ in BAD_PARAMS])
def test_bad_parameter_values(X, name, value, allowed):
    gm = GaussianMixture(**{name: value})  # the constructor only stores, as in scikit-learn
    with pytest.raises(ValueError) as info:
        gm.fit(X)
    msg = str(info.value)
    assert f"'{name}'" in msg
    assert allowed in msg
    assert repr(value) in msg


def test_set_params_rejects_unknown_names():
    with pytest.raises(ValueError, match="Invalid parameter 'n_component'.*Valid parameters are"):
        GaussianMixture().set_params(n_component=2)


@pytest.mark.parametrize("n_samples", [0, -1, 1.5, True])
def test_bad_sample_count(fitted, n_samples):
    with pytest.raises(ValueError, match="'n_samples'.*at least one sample"):
        fitted.sample(n_samples)


# ---------------------------------------------------------------------------
# initial parameters
# ---------------------------------------------------------------------------

def test_weights_init_wrong_shape(X):
    with pytest.raises(ValueError, match=r"'weights' should have the shape of \(2,\), but got \(3,\)"):
        GaussianMixture(2, weights_init=[0.2, 0.3, 0.5]).fit(X)


def test_weights_init_negative(X):
    with pytest.raises(ValueError, match=r"'weights' should be in the range \[0, 1\].*min value -0.5"):
        GaussianMixture(2, weights_init=[1.5, -0.5]).fit(X)


def test_weights_init_not_normalised(X):
    with pytest.raises(ValueError, match=r"'weights' should be normalized.*sum\(weights\) = 0.6"):
        GaussianMixture(2, weights_init=[0.3, 0.3]).fit(X)


def test_weights_init_nan(X):
    with pytest.raises(ValueError, match="'weights_init' contains NaN or infinity"):
        GaussianMixture(2, weights_init=[np.nan, 0.5]).fit(X)


def test_means_init_wrong_shape(X):
    with pytest.raises(ValueError, match=r"'means' should have the shape of \(2, 3\), but got \(2, 2\)"):
        GaussianMixture(2, means_init=np.zeros((2, 2))).fit(X)


def test_means_init_nan(X):
    means = np.zeros((2, 3))
    means[1, 1] = np.nan
    with pytest.raises(ValueError, match="'means_init' contains NaN or infinity"):
        GaussianMixture(2, means_init=means).fit(X)


def test_non_numeric_initial_parameters_are_named(X):
    with pytest.raises(ValueError, match="'means_init' must be an array of numbers"):
        GaussianMixture(2, means_init="abc").fit(X)
    with pytest.raises(ValueError, match="'weights_init' must be an array of numbers"):
        GaussianMixture(2, weights_init=["a", "b"]).fit(X)
    with pytest.raises(ValueError, match="'precisions_init' must be an array of numbers"):
        GaussianMixture(2, covariance_type="spherical", precisions_init=[1.0, "x"]).fit(X)


@pytest.mark.parametrize("cov_type, shape", [("full", (2, 3, 3)), ("tied", (3, 3)), ("diag", (2, 3)),
                                             ("spherical", (2,))])
def test_precisions_init_wrong_shape(X, cov_type, shape):
    with pytest.raises(ValueError, match=rf"'{cov_type} precision' should have the shape of {shape!r}".replace(
            "(", r"\(").replace(")", r"\)")):
        GaussianMixture(2, covariance_type=cov_type, precisions_init=np.ones((4, 4, 4))).fit(X)


def test_precisions_init_not_symmetric(X):
    A = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    with pytest.raises(ValueError, match=r"'full precision' should be symmetric, positive-definite \(component 1\)"):
        GaussianMixture(2, covariance_type="full", precisions_init=np.stack([np.eye(3), A])).fit(X)
    with pytest.raises(ValueError, match="'tied precision' should be symmetric, positive-definite"):
        GaussianMixture(2, covariance_type="tied", precisions_init=A).fit(X)


def test_precisions_init_not_positive_definite(X):
    with pytest.raises(ValueError, match=r"'full precision' should be symmetric, positive-definite \(component 0\)"):
        GaussianMixture(2, covariance_type="full", precisions_init=np.stack([-np.eye(3), np.eye(3)])).fit(X)
    with pytest.raises(ValueError, match="'tied precision' should be symmetric, positive-definite"):
        GaussianMixture(2, covariance_type="tied", precisions_init=np.diag([1.0, 0.0, 1.0])).fit(X)


@pytest.mark.parametrize("cov_type, bad", [("diag", [[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]]),
                                           ("diag", [[1.0, 1.0, 1.0], [1.0, -2.0, 1.0]]),
                                           ("spherical", [1.0, 0.0]), ("spherical", [-1.0, 1.0])])
def test_precisions_init_not_positive(X, cov_type, bad):
    with pytest.raises(ValueError, match=f"'{cov_type} precision' should be positive"):
        GaussianMixture(2, covariance_type=cov_type, precisions_init=np.array(bad)).fit(X)


def test_precisions_init_nan(X):
    with pytest.raises(ValueError, match="'precisions_init' contains NaN or infinity"):
        GaussianMixture(2, covariance_type="spherical", precisions_init=[1.0, np.inf]).fit(X)


# ---------------------------------------------------------------------------
# degenerate data
# ---------------------------------------------------------------------------

def _degenerate(kind):
    X = mixture_data(200, 3, 2, 1)[0]
    if kind == "duplicates":
        return np.repeat(X[:10], 20, axis=0)   # 10 distinct points, 20 copies each
    X = X.copy()
    X[:, 1] = 3.0                               # a constant feature
    return X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["duplicates", "constant-feature"])
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_singular_covariance_names_the_remedies(kind, dtype, init_params):
    Xd = _degenerate(kind).astype(dtype)
    gm = GaussianMixture(4, covariance_type="full", reg_covar=0.0, init_params=init_params, random_state=0)
    with pytest.raises(ValueError) as info:
        gm.fit(Xd)
    msg = str(info.value)
    assert "not positive definite" in msg
    assert "reg_covar" in msg
    assert "fewer components" in msg
    assert ("float64" in msg.lower()) == (dtype == np.float32)
    # the default regularisation handles the same data
    fine = GaussianMixture(4, covariance_type="full", init_params=init_params, random_state=0).fit(Xd)
    assert np.all(np.isfinite(fine.score_samples(Xd)))
    assert np.isfinite(fine.lower_bound_)


# The compiled E-step writes each log-density as a linear form in the features
# [1, z, q(z)] (q: the squares / products of z = x - shift). Where q overflows
# to inf, terms of both signs make the log-density NaN instead of -inf; the
# row's log-likelihood still comes out -inf but its responsibilities are NaN.


@pytest.mark.parametrize(
    "dtype, cov_type",
    [
        (np.float64, "full"),
        (np.float64, "tied"),
        (np.float64, "diag"),
        (np.float64, "spherical"),
        (np.float32, "full"),
        (np.float32, "tied"),
        (np.float32, "diag"),
        (np.float32, "spherical"),
    ],
)
def test_rows_impossible_under_every_component(dtype, cov_type):
    """Rows so far away that every component's log-density overflows (float64 at 1e200):
    log-likelihood -inf, responsibilities all 0; float32 rows at 3e38 are still finite in
    the kernels' float64 arithmetic. No NaN, no warning."""
    X = mixture_data(500, 2, 2, 2, dtype=dtype)[0]
    gm = GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(X)
    big = 1e200 if dtype == np.float64 else 3e38
    far = np.array([[big, 0.0], [-big, big], [big, big], [1e15, 0.0], [0.0, 0.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no overflow/invalid RuntimeWarning either
        ll = gm.score_samples(far)
        proba = gm.predict_proba(far)
        labels = gm.predict(far)
        score = gm.score(far)
    assert not np.isnan(ll).any()
    assert np.all(ll[:3] == -np.inf)
    assert ll[3] < -1e20               # -inf in float32 (1e30 overflows there), finite in float64
    assert np.isfinite(ll[4])
    if dtype == np.float64:
        assert score == -np.inf        # squares of 1e200 overflow float64
    else:
        # float32 rows are evaluated in float64: at 3e38 the log-density is about -1e76,
        # -inf once returned by score_samples in float32, finite in score's float64 mean.
        assert score < -1e70
    assert set(labels) <= {0, 1}
    assert not np.isnan(proba).any()
    assert np.all((proba >= 0) & (proba <= 1))
    row_sums = proba.sum(axis=1)
    if dtype == np.float64:
        assert np.all(row_sums[:3] == 0)
    else:   # finite in the float64 arithmetic of the kernels: proper responsibilities
        np.testing.assert_allclose(row_sums[:3], 1.0, rtol=1e-6)
    np.testing.assert_allclose(row_sums[4], 1.0, rtol=1e-6)
    assert row_sums[3] == 0 or abs(row_sums[3] - 1) < 1e-6


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("scale", [1e300, 1e200])
def test_huge_values_give_a_clear_error(cov_type, scale):
    """Squares of 1e200 overflow float64: the fit cannot be computed, and says why."""
    X = mixture_data(300, 2, 2, 3)[0] * scale
    with pytest.raises(ValueError, match=r"overflowed to infinity.*too large for float64.*[Ss]cale the data"):
        GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(X)


def test_one_huge_row_gives_a_clear_error():
    X = mixture_data(300, 2, 2, 3)[0]
    X[7, 0] = 1e300
    with pytest.raises(ValueError, match=r"overflowed.*largest magnitude 1e\+300"):
        GaussianMixture(2, random_state=0).fit(X)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_float32_values_whose_variance_float32_cannot_hold(cov_type):
    """float32 data at 1e30: variances of 1e60 do not fit in float32. The error says
    so (or that float32 arithmetic overflowed) and points to float64."""
    X = (mixture_data(300, 2, 2, 3)[0] * 1e30).astype(np.float32)
    with pytest.raises(ValueError, match=r"(?s)(too large for float32|zero probability).*[Ff]loat64"):
        GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(X)
    # ... which works
    gm = GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(X.astype(np.float64))
    assert np.all(np.isfinite(gm.covariances_))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_large_but_representable_values_fit(cov_type):
    """At 1e150 the squares still fit in float64: the fit is scikit-learn's, scaled."""
    X = mixture_data(300, 2, 2, 3)[0]
    base = GaussianMixture(2, covariance_type=cov_type, random_state=0, reg_covar=0.0).fit(X)
    gm = GaussianMixture(2, covariance_type=cov_type, random_state=0, reg_covar=0.0).fit(X * 1e150)
    assert np.all(np.isfinite(gm.covariances_))
    assert np.all(np.isfinite(gm.precisions_))
    np.testing.assert_allclose(gm.means_, base.means_ * 1e150, rtol=1e-6)
    np.testing.assert_array_equal(gm.predict(X * 1e150), base.predict(X))


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("scale", [1e-300, 1e-310])
def test_tiny_values_fit_without_nan(cov_type, scale):
    """Data of size 1e-300 is far below reg_covar: one blob of variance reg_covar, finite everywhere."""
    X = mixture_data(300, 2, 2, 3)[0] * scale
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        gm = GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(X)
        ll = gm.score_samples(X)
        proba = gm.predict_proba(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    assert np.isfinite(gm.lower_bound_)
    np.testing.assert_allclose(ll, -np.log(2 * np.pi * 1e-6), rtol=1e-6)  # N(0, 1e-6 I) at ~0
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)




@pytest.mark.parametrize("cov_type", ["full", "tied", "diag",
                                      "spherical"])
def test_float32_spread_too_small_for_its_precision(cov_type):
    """float32 data of spread 1e-21 and reg_covar=0: precisions of ~1e42 do not fit
    in float32. A ValueError pointing to float64, and no RuntimeWarning."""
    X = (mixture_data(300, 2, 2, 3)[0] * 1e-21).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="(?s)float32.*[Ff]loat64|[Ff]loat64.*float32"):
            GaussianMixture(2, covariance_type=cov_type, random_state=0, reg_covar=0.0).fit(X)
    # the same data in float64 fits
    gm = GaussianMixture(2, covariance_type=cov_type, random_state=0, reg_covar=0.0).fit(X.astype(np.float64))
    assert np.all(np.isfinite(gm.precisions_))




@pytest.mark.parametrize("cov_type", ["diag", "full"])
def test_large_values_with_single_row_initialisation(cov_type):
    """Data at 1e152 squares fine. 'k-means++' seeds single-row components: with full
    covariances of variance reg_covar every other row has density 0 (a ValueError, as in
    scikit-learn); diag adds scikit-learn's mean^2 10 eps / nk_eps (~1e290 here), so the
    fit goes on, as scikit-learn's does. No RuntimeWarning either way."""
    X = mixture_data(300, 2, 2, 3)[0] * 1e152
    kw = dict(covariance_type=cov_type, init_params="k-means++", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        if cov_type == "full":
            with pytest.raises(ValueError, match="reg_covar"):
                GaussianMixture(2, **kw).fit(X)
        else:
            gm = GaussianMixture(2, **kw).fit(X)
            assert np.all(np.isfinite(gm.covariances_))
