"""fastgmm.BayesianGaussianMixture: scikit-learn's variational mixture on the Gaussian kernel.

scikit-learn's estimator is the reference (it is the contract): from the
same initial responsibilities (``init_params`` 'random' or
'random_from_data' draw the same ones from the same seed) every fitted
attribute, the lower bounds and the predictions agree to 1e-8 in float64.
One independent NumPy computation of the expected log-density ('full')
checks the maths without scikit-learn.
"""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import digamma, logsumexp

import fastgmm
from fastgmm import BayesianGaussianMixture

from conftest import COV_TYPES, mixture_data, needs_openmp

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
POSTERIOR_ATTRS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "mean_precision_",
                   "degrees_of_freedom_", "mean_prior_", "covariance_prior_")

pytestmark = [pytest.mark.filterwarnings("ignore::fastgmm.ConvergenceWarning")]


def sklearn_fit(X, **kw):
    """scikit-learn's BayesianGaussianMixture(**kw) fitted on X (its convergence warnings silenced)."""
    pytest.importorskip("sklearn")
    from sklearn import mixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixture.BayesianGaussianMixture(**kw).fit(X)


def _sorted_options(msg):
    """Option sets sorted (scikit-learn prints them in set order, which varies between runs)."""
    return re.sub(r"\{([^}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", msg)


def assert_close(actual, desired, rtol, err_msg=""):
    """allclose with an absolute floor of ``rtol * max|desired|`` (entries near 0 on their array's scale)."""
    desired = np.asarray(desired, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == desired.shape, (err_msg, actual.shape, desired.shape)
    scale = np.max(np.abs(desired)) if desired.size else 0.0
    assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=err_msg)


def concentrations(model):
    wc = model.weight_concentration_
    return np.stack(wc) if isinstance(wc, tuple) else np.asarray(wc)


def assert_same_fit(ours, theirs, rtol=1e-8):
    for name in POSTERIOR_ATTRS:
        assert_close(getattr(ours, name), getattr(theirs, name), rtol, err_msg=name)
    assert_close(concentrations(ours), concentrations(theirs), rtol, err_msg="weight_concentration_")
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    # scikit-learn's 'tied' lower bounds are 1-element arrays
    theirs_lb = np.array(theirs.lower_bounds_, dtype=np.float64).ravel()
    assert_allclose(np.array(ours.lower_bounds_, dtype=np.float64), theirs_lb, rtol=rtol)


def assert_bitwise_same_fit(a, b):
    for name in POSTERIOR_ATTRS:
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert_array_equal(concentrations(a), concentrations(b))
    assert a.lower_bounds_ == b.lower_bounds_
    assert a.n_iter_ == b.n_iter_


# ---------------------------------------------------------------------------
# The same answers as scikit-learn
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("init_params", ["random", "k-means++"])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_fit_matches_sklearn(cov_type, prior_type, init_params):
    # Both initialisations draw scikit-learn's numbers from the same seed.
    X, _ = mixture_data(600, 3, 3, 0)
    kw = dict(n_components=4, covariance_type=cov_type, weight_concentration_prior_type=prior_type,
              init_params=init_params, random_state=0, max_iter=30, tol=1e-6)
    theirs = sklearn_fit(X, **kw)
    assert_same_fit(BayesianGaussianMixture(**kw).fit(X), theirs)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_predictions_match_sklearn(cov_type, prior_type):
    X, _ = mixture_data(500, 2, 3, 1)
    X_new, _ = mixture_data(200, 2, 3, 2)
    kw = dict(n_components=3, covariance_type=cov_type, weight_concentration_prior_type=prior_type,
              init_params="random_from_data", random_state=1, max_iter=10, tol=0.0)
    theirs = sklearn_fit(X, **kw)
    ours = BayesianGaussianMixture(**kw).fit(X)
    assert_allclose(ours.score_samples(X_new), theirs.score_samples(X_new), rtol=1e-8)
    assert_allclose(ours.predict_proba(X_new), theirs.predict_proba(X_new), rtol=1e-8, atol=1e-12)
    assert_array_equal(ours.predict(X_new), theirs.predict(X_new))
    assert_allclose(ours.score(X_new), theirs.score(X_new), rtol=1e-8)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_given_priors_match_sklearn(cov_type):
    X, _ = mixture_data(400, 3, 2, 3)
    D = X.shape[1]
    prior = {"full": np.cov(X.T) * 2 + np.eye(D), "tied": np.cov(X.T) + 0.5 * np.eye(D),
             "diag": np.var(X, axis=0) + 1.0, "spherical": 1.7}[cov_type]
    kw = dict(n_components=3, covariance_type=cov_type, init_params="random", random_state=2, max_iter=15,
              tol=0.0, weight_concentration_prior=0.3, mean_precision_prior=0.5, mean_prior=np.arange(D) * 0.1,
              degrees_of_freedom_prior=D + 1.5, covariance_prior=prior)
    theirs = sklearn_fit(X, **kw)
    assert_same_fit(BayesianGaussianMixture(**kw).fit(X), theirs)


def test_n_init_and_default_kmeans_match_sklearn_lower_bound_choice():
    X, _ = mixture_data(500, 2, 3, 4)
    kw = dict(n_components=4, init_params="random", n_init=3, random_state=3, max_iter=200, tol=1e-6)
    theirs = sklearn_fit(X, **kw)
    assert_same_fit(BayesianGaussianMixture(**kw).fit(X), theirs)


def test_max_iter_zero_is_sklearns_initialisation():
    X, _ = mixture_data(300, 3, 3, 5)
    kw = dict(n_components=3, init_params="random", random_state=0, max_iter=0)
    theirs = sklearn_fit(X, **kw)
    assert_same_fit(BayesianGaussianMixture(**kw).fit(X), theirs, rtol=1e-10)


def test_warm_start_continues_like_sklearn():
    X, _ = mixture_data(400, 2, 3, 6)
    kw = dict(n_components=3, init_params="random", random_state=0, max_iter=2, tol=0.0, warm_start=True)
    ours, theirs = BayesianGaussianMixture(**kw), sklearn_fit(X, **kw)
    for _ in range(3):
        ours.fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.fit(X)
        theirs.fit(X)
    assert_same_fit(ours, theirs)


# ---------------------------------------------------------------------------
# An independent check of the expected log-density (no scikit-learn)
# ---------------------------------------------------------------------------

def _expected_log_density_full(model, X):
    """E[log pi_k] + E[log N(x | mu_k, Lambda_k)] per row and component, from Bishop (10.64-10.66, 10.69)."""
    K, D = model.means_.shape
    nu = np.asarray(model.degrees_of_freedom_, dtype=np.float64)
    beta = np.asarray(model.mean_precision_, dtype=np.float64)
    alpha = concentrations(model).astype(np.float64)
    if model.weight_concentration_prior_type == "dirichlet_process":
        a, b = alpha
        e_log_v, e_log_1mv = digamma(a) - digamma(a + b), digamma(b) - digamma(a + b)
        e_log_pi = e_log_v + np.concatenate(([0.0], np.cumsum(e_log_1mv)[:-1]))
    else:
        e_log_pi = digamma(alpha) - digamma(alpha.sum())
    out = np.empty((X.shape[0], K))
    for k in range(K):
        # covariances_ = W_k^-1 / nu_k: the Wishart scale W_k = inv(nu_k covariances_)
        Wk = np.linalg.inv(nu[k] * model.covariances_[k])
        e_log_det = np.sum(digamma((nu[k] - np.arange(D)) / 2)) + D * np.log(2) + np.linalg.slogdet(Wk)[1]
        d = X - model.means_[k]
        e_quad = D / beta[k] + nu[k] * np.einsum("ni,ij,nj->n", d, Wk, d)
        out[:, k] = e_log_pi[k] + 0.5 * e_log_det - 0.5 * D * np.log(2 * np.pi) - 0.5 * e_quad
    return out


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_expected_log_density_full_against_bishop(prior_type):
    X, _ = mixture_data(400, 3, 3, 7)
    model = BayesianGaussianMixture(n_components=4, weight_concentration_prior_type=prior_type, random_state=0,
                                    max_iter=5).fit(X)
    X_new, _ = mixture_data(100, 3, 3, 8)
    ref = _expected_log_density_full(model, X_new)
    assert_allclose(model.score_samples(X_new), logsumexp(ref, axis=1), rtol=1e-10)
    assert_allclose(model.predict_proba(X_new), np.exp(ref - logsumexp(ref, axis=1)[:, None]), atol=1e-12)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_entropy_from_statistics_equals_the_direct_sum(cov_type):
    # The lower bound's -sum r log r comes from the kernel's sums (sum_i lse_i
    # - sum_k <G_k, W_k>, read back from the statistics); here it is checked
    # against the direct sum over an explicit responsibility matrix, on data
    # far from the origin.
    from fastgmm.families._variational import expected_log_density_sum, variational_statistics

    X, _ = mixture_data(5000, 4, 3, 9)
    X += 1000.0
    model = BayesianGaussianMixture(n_components=3, covariance_type=cov_type, init_params="random", random_state=0,
                                    max_iter=3).fit(X)
    shift, W, U = model._coefficients(model._get_parameters())
    stats = variational_statistics(X, None, shift, W, U, cov_type, 1)
    r = model.predict_proba(X)
    direct = -np.sum(r * np.log(np.maximum(r, 1e-300)))
    assert_allclose(stats.loglik - expected_log_density_sum(stats, W, U), direct, rtol=1e-9, atol=1e-6)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_lower_bound_never_decreases(cov_type, prior_type):
    X, _ = mixture_data(800, 3, 3, 10, scale=6.0)
    model = BayesianGaussianMixture(n_components=6, covariance_type=cov_type,
                                    weight_concentration_prior_type=prior_type, init_params="random",
                                    random_state=0, max_iter=200, tol=1e-8, reg_covar=0).fit(X)
    lb = np.array(model.lower_bounds_, dtype=np.float64)
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:]))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_same_random_state_gives_bitwise_identical_fits(init_params):
    X, _ = mixture_data(700, 2, 3, 11)
    kw = dict(n_components=3, init_params=init_params, random_state=5, max_iter=10)
    assert_bitwise_same_fit(BayesianGaussianMixture(**kw).fit(X), BayesianGaussianMixture(**kw).fit(X))


@needs_openmp
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_results_do_not_depend_on_n_threads(cov_type, dtype, every_thread):
    # 20000 rows: several chunks and slots, so two threads really split the work.
    X, _ = mixture_data(20000, 3, 3, 12, dtype=dtype)
    X_new, _ = mixture_data(3000, 3, 3, 13, dtype=dtype)
    fits = []
    for n_threads in (1, 2):
        model = BayesianGaussianMixture(n_components=4, covariance_type=cov_type, random_state=0, max_iter=6,
                                        tol=0.0, n_threads=n_threads)
        labels = model.fit_predict(X)
        fits.append((model, labels, model.predict_proba(X_new), model.score_samples(X_new)))
    (a, *out_a), (b, *out_b) = fits
    assert_bitwise_same_fit(a, b)
    for x, y in zip(out_a, out_b):
        assert_array_equal(x, y)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_float32_fit_is_float32_and_close_to_float64(cov_type, prior_type):
    X64, _ = mixture_data(3000, 3, 3, 14, scale=8.0)
    X32 = X64.astype(np.float32)
    kw = dict(n_components=3, covariance_type=cov_type, weight_concentration_prior_type=prior_type,
              init_params="random_from_data", random_state=0, max_iter=20, tol=0.0)
    m32 = BayesianGaussianMixture(**kw).fit(X32)
    m64 = BayesianGaussianMixture(**kw).fit(X64)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "mean_precision_"):
        assert getattr(m32, name).dtype == np.float32, name
    assert_close(m32.means_, m64.means_, rtol=1e-4)
    assert_close(m32.covariances_, m64.covariances_, rtol=1e-4)
    assert_allclose(np.array(m32.lower_bounds_, dtype=np.float64), np.array(m64.lower_bounds_), rtol=1e-5)
    assert_allclose(m32.score_samples(X32), m64.score_samples(X64), rtol=1e-4, atol=1e-4)
    assert m32.predict_proba(X32).dtype == np.float32


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("shape", [(300, 1, 3), (300, 3, 1), (7, 2, 2)], ids=["D=1", "K=1", "N<chunk"])
def test_hard_layouts_match_sklearn(cov_type, shape):
    n, d, k = shape
    X, _ = mixture_data(n, d, max(k, 2), 15)
    kw = dict(n_components=k, covariance_type=cov_type, init_params="random", random_state=0, max_iter=10,
              tol=0.0)
    theirs = sklearn_fit(X, **kw)
    ours = BayesianGaussianMixture(**kw).fit(X)
    assert_same_fit(ours, theirs)
    assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-8)


def test_fit_predict_is_fit_then_predict():
    X, _ = mixture_data(400, 2, 3, 16)
    kw = dict(n_components=4, random_state=0, max_iter=3)
    assert_array_equal(BayesianGaussianMixture(**kw).fit_predict(X), BayesianGaussianMixture(**kw).fit(X).predict(X))


def test_dirichlet_process_prunes_unused_components():
    # The README's example: K=10 fitted to 3 clusters keeps 3 components.
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 1.0, size=(2000, 2)) for c in ([0, 0], [8, 0], [0, 8])])
    model = BayesianGaussianMixture(n_components=10, init_params="k-means++", max_iter=1000, random_state=0).fit(X)
    assert_allclose(np.sort(model.weights_)[::-1], [1 / 3] * 3 + [0.0] * 7, atol=2e-3)


def test_covariance_types_agree_after_initialisation():
    # What scikit-learn's test_compare_covar_type checks through private methods:
    # after the initial update the tied, diag and spherical scale matrices are
    # the mean, diagonal and mean diagonal of the full ones.
    X, _ = mixture_data(400, 2, 3, 18)
    fits = {ct: BayesianGaussianMixture(n_components=4, covariance_type=ct, init_params="random", random_state=0,
                                        max_iter=0).fit(X) for ct in COV_TYPES}
    full = fits["full"].covariances_ * fits["full"].degrees_of_freedom_[:, None, None]
    diag = fits["diag"].covariances_ * fits["diag"].degrees_of_freedom_[:, None]
    assert_allclose(fits["tied"].covariances_ * fits["tied"].degrees_of_freedom_, full.mean(axis=0), rtol=1e-10)
    assert_allclose(diag, np.array([np.diag(c) for c in full]), rtol=1e-10)
    assert_allclose(fits["spherical"].covariances_ * fits["spherical"].degrees_of_freedom_, diag.mean(axis=1),
                    rtol=1e-10)


def test_sample_draws_from_the_fitted_mixture():
    X, _ = mixture_data(600, 2, 3, 19)
    model = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    Xs, ys = model.sample(500)
    assert Xs.shape == (500, 2)
    assert_array_equal(np.bincount(ys, minlength=3), np.random.RandomState(0).multinomial(500, model.weights_))


def test_callback_sees_each_iteration_and_can_stop():
    X, _ = mixture_data(300, 2, 3, 30)
    seen = []

    def stop_at_three(iteration, lower_bound, model):
        seen.append((iteration, float(lower_bound), model.weights_.sum()))
        return iteration == 3

    model = BayesianGaussianMixture(n_components=3, random_state=0, callback=stop_at_three).fit(X)
    assert [s[0] for s in seen] == [1, 2, 3]
    assert model.n_iter_ == 3
    assert_allclose([s[1] for s in seen], model.lower_bounds_)


def test_has_no_information_criteria():
    X, _ = mixture_data(100, 2, 2, 20)
    model = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    assert not hasattr(model, "bic")


# ---------------------------------------------------------------------------
# Sample weights
# ---------------------------------------------------------------------------

def _warm_pair(X, sample_weight, X_rep, cov_type):
    """Fit the weighted and the repeated data from the same starting posterior (warm start)."""
    start = BayesianGaussianMixture(n_components=3, covariance_type=cov_type, init_params="random", random_state=0,
                                    max_iter=1).fit(X_rep)
    fits = []
    for data, w in ((X, sample_weight), (X_rep, None)):
        model = BayesianGaussianMixture(n_components=3, covariance_type=cov_type, warm_start=True, max_iter=10,
                                        tol=0.0)
        model.__dict__.update({k: v for k, v in start.__dict__.items() if k.endswith("_") and not k.startswith("_")})
        fits.append(model.fit(data, sample_weight=w))
    return fits


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_integer_weights_are_repeated_rows(cov_type):
    X, _ = mixture_data(300, 2, 3, 21)
    w = np.random.default_rng(0).integers(0, 4, size=len(X))
    weighted, repeated = _warm_pair(X, w.astype(float), np.repeat(X, w, axis=0), cov_type)
    for name in POSTERIOR_ATTRS:
        assert_close(getattr(weighted, name), getattr(repeated, name), 1e-10, err_msg=name)
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10)


def test_zero_weight_rows_are_absent():
    X, _ = mixture_data(300, 2, 3, 22)
    w = np.ones(len(X))
    w[::3] = 0.0
    kw = dict(n_components=3, init_params="random_from_data", max_iter=8, tol=0.0)
    # random_from_data draws in proportion to the weights: give both the same first draw
    weighted = BayesianGaussianMixture(**kw, random_state=0).fit(X, sample_weight=w)
    absent = BayesianGaussianMixture(**kw, random_state=0).fit(X[w > 0])
    assert_allclose(weighted.mean_prior_, absent.mean_prior_, rtol=1e-12)
    assert_allclose(weighted.covariance_prior_, absent.covariance_prior_, rtol=1e-12)


def test_weights_summing_to_at_most_one_need_a_covariance_prior():
    X, _ = mixture_data(50, 2, 2, 23)
    with pytest.raises(ValueError, match="needs sum\\(sample_weight\\) > 1"):
        BayesianGaussianMixture(n_components=2).fit(X, sample_weight=np.full(len(X), 0.01))


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

@pytest.fixture
def X_small():
    return mixture_data(60, 2, 2, 24)[0]


@pytest.mark.parametrize("param, value", [
    ("weight_concentration_prior_type", "dirichlet"),
    ("weight_concentration_prior", 0.0),
    ("mean_precision_prior", -1.0),
    ("degrees_of_freedom_prior", "3"),
    ("covariance_type", "banded"),
    ("init_params", "kmedoids"),
    ("covariance_prior", -1.0),
])
def test_bad_parameters_are_sklearns_errors(X_small, param, value):
    with pytest.raises(ValueError) as theirs:
        sklearn_fit(X_small, **{param: value})
    with pytest.raises(ValueError) as ours:
        BayesianGaussianMixture(**{param: value}).fit(X_small)
    want = str(theirs.value)
    if param == "init_params":      # fastgmm also offers mclust's start, "hc"
        want = want.replace("{", "{'hc', ", 1)
    assert _sorted_options(str(ours.value)) == _sorted_options(want)


def test_degrees_of_freedom_prior_too_small(X_small):
    with pytest.raises(ValueError, match="'degrees_of_freedom_prior' should be greater than 1, but got 0.500"):
        BayesianGaussianMixture(degrees_of_freedom_prior=0.5).fit(X_small)


@pytest.mark.parametrize("cov_type, prior, match", [
    ("full", np.eye(3), "should have the shape of \\(2, 2\\)"),
    ("full", np.array([[1.0, 2.0], [2.0, 1.0]]), "symmetric, positive-definite"),
    ("tied", 2.0, "should be an array of shape \\(2, 2\\)"),
    ("diag", np.array([1.0, -1.0]), "'diag covariance_prior' should be positive"),
    ("spherical", np.ones(2), "one positive number"),
    ("diag", np.array([1.0, np.nan]), "contains NaN or infinity"),
])
def test_bad_covariance_prior(X_small, cov_type, prior, match):
    with pytest.raises(ValueError, match=match):
        BayesianGaussianMixture(covariance_type=cov_type, covariance_prior=prior).fit(X_small)


def test_bad_mean_prior_shape(X_small):
    with pytest.raises(ValueError, match="'means' should have the shape of \\(2,\\)"):
        BayesianGaussianMixture(mean_prior=np.zeros(3)).fit(X_small)


def test_marginalize_fits_rows_with_nan(X_small):
    """nan_policy='marginalize' is offered (its maths: tests/test_bayesian_missing.py): NaN rows are scored."""
    Xn = X_small.copy()
    Xn[3, 1] = np.nan
    model = BayesianGaussianMixture(n_components=2, nan_policy="marginalize", random_state=0).fit(Xn)
    assert np.all(np.isfinite(model.score_samples(Xn)))


def test_nan_policy_omit_drops_rows(X_small):
    Xn = X_small.copy()
    Xn[3, 1] = np.nan
    model = BayesianGaussianMixture(n_components=2, nan_policy="omit", random_state=0).fit(Xn)
    assert model.n_omitted_ == 1


def _fit_on(X, cov_type, **kw):
    return BayesianGaussianMixture(n_components=3, covariance_type=cov_type, init_params="random", random_state=0,
                                   max_iter=15, tol=0.0, **kw).fit(X)


def _assert_same_up_to_summation_order(a, b):
    for name in POSTERIOR_ATTRS:
        assert_close(getattr(a, name), getattr(b, name), 1e-10, err_msg=name)
    assert_allclose(np.array(a.lower_bounds_), np.array(b.lower_bounds_), rtol=1e-10)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_memmap_fit_equals_in_memory(tmp_path, cov_type):
    # 2000 rows in blocks of 700: the statistics are summed over 3 blocks.
    X, _ = mixture_data(2000, 3, 3, 26)
    path = tmp_path / "x.npy"
    np.save(path, X)
    streamed = _fit_on(np.load(path, mmap_mode="r"), cov_type, block_rows=700)
    _assert_same_up_to_summation_order(streamed, _fit_on(X, cov_type))
    assert_allclose(streamed.predict_proba(np.load(path, mmap_mode="r")), streamed.predict_proba(X), rtol=1e-12)


@pytest.mark.parametrize("cov_type", ["full", "tied"])
def test_dask_fit_equals_in_memory(cov_type):
    da = pytest.importorskip("dask.array")
    import dask

    X, _ = mixture_data(2000, 3, 3, 27)
    with dask.config.set(scheduler="synchronous"):
        streamed = _fit_on(da.from_array(X, chunks=(700, 3)), cov_type)
    _assert_same_up_to_summation_order(streamed, _fit_on(X, cov_type))


def test_not_fitted(X_small):
    with pytest.raises(fastgmm.NotFittedError, match="This BayesianGaussianMixture instance is not fitted yet"):
        BayesianGaussianMixture().predict(X_small)


# ---------------------------------------------------------------------------
# Persistence hooks
# ---------------------------------------------------------------------------

@pytest.fixture
def fitted():
    X, _ = mixture_data(200, 2, 2, 25)
    return BayesianGaussianMixture(n_components=2, random_state=0).fit(X)


def test_persisted_names_are_fitted_attributes(fitted):
    names = fitted._schema.attributes("array") + fitted._PRIORS
    assert [n for n in names if not hasattr(fitted, n)] == []


def test_validate_loaded_accepts_the_stored_forms(fitted):
    fitted.weight_concentration_ = np.stack(fitted.weight_concentration_)   # as an .npz holds it
    fitted._validate_loaded()
    assert isinstance(fitted.weight_concentration_, tuple)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_validate_loaded_accepts_every_fit_as_stored(cov_type, prior_type):
    X, _ = mixture_data(200, 2, 2, 28)
    kw = dict(n_components=2, covariance_type=cov_type, weight_concentration_prior_type=prior_type, random_state=0)
    model = BayesianGaussianMixture(**kw).fit(X)
    before = {n: np.array(getattr(model, n)) for n in model._schema.attributes("array")}
    for name, value in before.items():
        setattr(model, name, value)   # ndarrays, as a loader sets them (0-d where the fit has a number)
    model._validate_loaded()
    X_new, _ = mixture_data(50, 2, 2, 29)
    assert_array_equal(model.score_samples(X_new), BayesianGaussianMixture(**kw).fit(X).score_samples(X_new))


@pytest.mark.parametrize("name, value, match", [
    ("weights_", np.array([0.5, 0.6]), "weights_ must be probabilities"),
    ("means_", np.zeros((3, 2)), "means_ has shape"),
    ("mean_precision_", np.array([1.0, -1.0]), "mean_precision_ must be positive"),
    ("degrees_of_freedom_", np.array([0.5, 3.0]), "greater than n_features - 1"),
    ("covariances_", np.full((2, 2, 2), np.nan), "covariances_ contains NaN"),
    ("precisions_", np.stack([np.eye(2)] * 2) * 7, "precisions_ does not equal"),
    ("mean_precision_prior_", 0.0, "mean_precision_prior_ must be a positive"),
])
def test_validate_loaded_names_the_problem(fitted, name, value, match):
    setattr(fitted, name, value)
    with pytest.raises(ValueError, match=match):
        fitted._validate_loaded()


def test_old_faithful_dirichlet_process_keeps_two_eruption_types():
    """Real data (shipped with fastgmm): with 8 components allowed, the Dirichlet process prior
    leaves the two well-known eruption types and empties the rest."""
    from fastgmm.datasets import load_faithful

    X = load_faithful().data
    bgm = BayesianGaussianMixture(n_components=8, max_iter=500, random_state=0).fit(X)
    assert np.count_nonzero(bgm.weights_ > 0.02) == 2
    short = bgm.means_[np.argmin(bgm.means_[:, 0])]
    assert short[0] < 2.5 and short[1] < 65          # short eruptions, short waits
