"""StudentTMixture: the kernel and the estimator against the NumPy reference EM
(_reference_studentt), thread invariance, monotone lower bounds,
robustness to outliers, scale weights, parameter checks, hard layouts."""

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgmm import ConvergenceWarning, GaussianMixture, StudentTMixture
import _reference_studentt as ref
from fastgmm.families import _studentt as st
from fastgmm.utils._validation import InvalidParameterError

from conftest import mixture_data, needs_openmp

COV_TYPES = ("full", "diag", "spherical")
# Fits stopped after a fixed number of iterations are the point of many tests here.
pytestmark = pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")


def t_data(n, d, k, seed, dof=4.0, dtype=np.float64):
    """Rows of a t mixture: the conftest Gaussian mixture with each row scaled by 1 / sqrt(g), g ~ chi2(dof)/dof."""
    X, y = mixture_data(n, d, k, seed)
    rng = np.random.default_rng(seed + 100)
    centres = np.stack([X[y == j].mean(axis=0) if np.any(y == j) else np.zeros(d) for j in range(k)])
    g = rng.gamma(dof / 2, 2 / dof, size=n)
    X = centres[y] + (X - centres[y]) / np.sqrt(g)[:, None]
    return np.ascontiguousarray(X, dtype=dtype), y


def start(X, K, cov_type, seed=0):
    """Initial parameters (weights, means, covariances, precisions) from random rows: a fixed start."""
    rng = np.random.default_rng(seed)
    N, D = X.shape
    means = np.asarray(X[rng.choice(N, K, replace=False)], dtype=np.float64)
    var = np.var(np.asarray(X, dtype=np.float64), axis=0) + 0.1
    weights = np.full(K, 1.0 / K)
    if cov_type == "full":
        cov = np.stack([np.diag(var) for _ in range(K)])
        prec = np.linalg.inv(cov)
    elif cov_type == "diag":
        cov = np.tile(var, (K, 1))
        prec = 1 / cov
    else:
        cov = np.full(K, var.mean())
        prec = 1 / cov
    return weights, means, cov, prec


def fit_from(X, K, cov_type, n_iter, dof=(5.0,), fix_dof=False, sample_weight=None, start_from=None, **kw):
    """The estimator after n_iter EM iterations from ``start`` of ``start_from`` (default X; tol=0: no early stop)."""
    w, m, _, p = start(X if start_from is None else start_from, K, cov_type)
    tm = StudentTMixture(K, covariance_type=cov_type, weights_init=w, means_init=m, precisions_init=p,
                         dof_init=np.resize(np.asarray(dof, float), K), fix_dof=fix_dof, max_iter=n_iter, tol=0,
                         **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return tm.fit(X, sample_weight=sample_weight)


def reference_from(X, K, cov_type, n_iter, dof=(5.0,), fix_dof=False, sample_weight=None, reg_covar=1e-6):
    w, m, c, _ = start(X, K, cov_type)
    return ref.fit_em(X, w, m, c, np.resize(np.asarray(dof, float), K), cov_type, n_iter, reg_covar=reg_covar,
                      fix_dof=fix_dof, sample_weight=sample_weight)


def assert_matches_reference(tm, params, bounds, rtol):
    w, m, c, nu = params
    scale = np.max(np.abs(m))
    assert_allclose(tm.weights_, w, rtol=rtol, atol=rtol * 1e-2)
    assert_allclose(tm.means_, m, rtol=rtol, atol=rtol * scale)
    assert_allclose(tm.covariances_, c, rtol=rtol, atol=rtol * np.max(np.abs(c)))
    assert_allclose(tm.degrees_of_freedom_, nu, rtol=rtol)
    assert_allclose(tm.lower_bounds_, bounds, rtol=rtol)


# ---------------------------------------------------------------------------
# Against the reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("fix_dof", [False, True], ids=["estimated", "fixed"])
def test_fit_matches_reference_float64(cov_type, fix_dof):
    X, _ = t_data(700, 3, 3, 0)
    tm = fit_from(X, 3, cov_type, 6, dof=(3.0, 8.0, 20.0), fix_dof=fix_dof)
    params, bounds = reference_from(X, 3, cov_type, 6, dof=(3.0, 8.0, 20.0), fix_dof=fix_dof)
    assert_matches_reference(tm, params, bounds, 1e-8)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_fit_matches_reference_with_sample_weights(cov_type):
    X, _ = t_data(500, 2, 2, 1)
    sw = np.random.default_rng(3).uniform(0, 2, size=len(X))
    tm = fit_from(X, 2, cov_type, 5, sample_weight=sw)
    params, bounds = reference_from(X, 2, cov_type, 5, sample_weight=sw)
    assert_matches_reference(tm, params, bounds, 1e-8)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_fit_float32_matches_reference_to_float32_accuracy(cov_type):
    X32, _ = t_data(800, 3, 2, 2, dtype=np.float32)
    tm = fit_from(X32, 2, cov_type, 5)
    # The reference on the same float32 values in float64: the kernel computes
    # in float64 too, so the difference is the float32 rounding of each
    # iteration's parameters.
    params, bounds = reference_from(X32.astype(np.float64), 2, cov_type, 5)
    assert tm.means_.dtype == np.float32
    assert_matches_reference(tm, params, bounds, 2e-4)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_statistics_pass_matches_reference_across_chunks_and_slots(cov_type):
    X, _ = t_data(1003, 4, 3, 3)
    w, m, c, p = start(X, 3, cov_type)
    dof = np.array([2.5, 6.0, 40.0])
    sw = np.random.default_rng(0).uniform(0, 3, size=len(X))
    pc = st._gaussian.precisions_cholesky_from_precisions(p, cov_type)
    stats = st.t_statistics(X, w, m, pc, dof, cov_type, 2, sample_weight=sw, chunk_rows=16, slot_rows=48,
                            range_slots=5)
    row_ll, resp, u = ref.e_step(X, w, m, c, dof, cov_type)
    wr = sw[:, None] * resp
    assert_allclose(stats.nk, wr.sum(axis=0), rtol=1e-10)
    assert_allclose(stats.h, np.sum(wr * (np.log(u) - u), axis=0), rtol=1e-10)
    assert_allclose(stats.u_stats.nk, np.sum(wr * u, axis=0), rtol=1e-10)
    z = X - stats.u_stats.centre
    assert_allclose(stats.u_stats.s1, (wr * u).T @ z, rtol=1e-10, atol=1e-10 * np.abs(z).max() * len(X))
    assert_allclose(stats.loglik, np.sum(sw * row_ll), rtol=1e-12)


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-6)], ids=["float64", "float32"])
def test_estimate_outputs_match_reference(cov_type, dtype, rtol):
    X, _ = t_data(777, 3, 3, 4, dtype=dtype)
    w, m, c, p = start(X, 3, cov_type)
    dof = np.array([1.5, 7.0, 100.0])
    pc = st._gaussian.precisions_cholesky_from_precisions(p, cov_type)
    row_ll, labels, resp, total, u, u_mix = st.t_estimate(X, w, m, pc, dof, cov_type, 1, row_ll=True, labels=True,
                                                          resp=True, total=True, u=True, u_mix=True, range_slots=1)
    r_ll, r_resp, r_u = ref.e_step(X.astype(np.float64), w, m, c, dof, cov_type)
    # float32 rows are read as float64: only the float32 outputs are rounded.
    assert_allclose(row_ll, r_ll, rtol=1e-10)
    assert_allclose(resp, r_resp, rtol=rtol, atol=1e-7 if dtype == np.float32 else 1e-14)
    assert_allclose(u, r_u, rtol=rtol)
    assert_allclose(u_mix, np.sum(r_resp * r_u, axis=1), rtol=rtol)
    assert_array_equal(labels, np.argmax(r_resp, axis=1))
    assert_allclose(total, r_ll.sum(), rtol=1e-12)


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("shape", [(40, 1, 2), (60, 3, 1), (25, 2, 3)], ids=["D1", "K1", "N-below-a-chunk"])
def test_hard_layouts_match_reference(cov_type, shape):
    N, D, K = shape
    X, _ = t_data(N, D, K, 5)
    tm = fit_from(X, K, cov_type, 4)
    params, bounds = reference_from(X, K, cov_type, 4)
    assert_matches_reference(tm, params, bounds, 1e-8)


# ---------------------------------------------------------------------------
# Invariants of the fit
# ---------------------------------------------------------------------------

@needs_openmp
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_bitwise_identical_for_one_and_two_threads(cov_type, dtype, every_thread):
    X, _ = t_data(3000, 3, 3, 6, dtype=dtype)
    fits = [StudentTMixture(3, covariance_type=cov_type, random_state=0, n_threads=t, max_iter=8).fit(X)
            for t in (1, 2)]
    for name in ("weights_", "means_", "covariances_", "degrees_of_freedom_"):
        assert_array_equal(getattr(fits[0], name), getattr(fits[1], name), err_msg=name)
    assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)
    assert_array_equal(fits[0].scale_weights(X), fits[1].scale_weights(X))


@needs_openmp
def test_statistics_bitwise_identical_for_one_and_two_threads(every_thread):
    X, _ = t_data(2000, 4, 3, 7)
    w, m, _, p = start(X, 3, "full")
    pc = st._gaussian.precisions_cholesky_from_precisions(p, "full")
    a, b = (st.t_statistics(X, w, m, pc, np.array([3.0, 5.0, 9.0]), "full", t, chunk_rows=32, slot_rows=64)
            for t in (1, 2))
    assert_array_equal(a.u_stats.s2, b.u_stats.s2)
    assert_array_equal(a.h, b.h)


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("fix_dof", [False, True], ids=["estimated", "fixed"])
def test_lower_bound_never_decreases(cov_type, fix_dof):
    X, _ = t_data(1500, 3, 3, 8, dof=3.0)
    tm = fit_from(X, 3, cov_type, 40, dof=(30.0,), fix_dof=fix_dof, reg_covar=0.0)
    lb = np.asarray(tm.lower_bounds_, dtype=np.float64)
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:])), np.diff(lb).min()


def test_estimated_dof_recovers_heavy_tails():
    X, _ = t_data(20000, 2, 1, 9, dof=3.0)
    tm = StudentTMixture(1, random_state=0, tol=1e-8, max_iter=500).fit(X)
    assert abs(tm.degrees_of_freedom_[0] - 3.0) < 0.5


def test_gaussian_data_push_dof_to_the_upper_bound():
    X = np.random.default_rng(0).normal(size=(4000, 2))
    tm = StudentTMixture(1, random_state=0, dof_bounds=(0.5, 200.0), max_iter=300, tol=1e-9).fit(X)
    assert tm.degrees_of_freedom_[0] > 50


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_large_fixed_dof_approaches_gaussian_mixture(cov_type):
    X, _ = mixture_data(800, 2, 2, 10)
    w, m, _, p = start(X, 2, cov_type)
    kw = dict(covariance_type=cov_type, weights_init=w, means_init=m, precisions_init=p, max_iter=10, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tm = StudentTMixture(2, dof_init=1e8, fix_dof=True, **kw).fit(X)
        gm = GaussianMixture(2, **kw).fit(X)
    assert_allclose(tm.means_, gm.means_, rtol=1e-5, atol=1e-5)
    assert_allclose(tm.covariances_, gm.covariances_, rtol=1e-5, atol=1e-5)
    assert_allclose(tm.lower_bounds_, gm.lower_bounds_, rtol=1e-6)


def test_same_random_state_same_fit():
    X, _ = t_data(900, 3, 3, 11)
    a, b = (StudentTMixture(3, random_state=5, init_params="k-means++").fit(X) for _ in range(2))
    assert_array_equal(a.means_, b.means_)
    assert_array_equal(a.degrees_of_freedom_, b.degrees_of_freedom_)


def test_integer_weights_give_the_model_of_repeated_rows():
    X, _ = t_data(300, 2, 2, 12)
    reps = np.random.default_rng(0).integers(0, 4, size=len(X))
    a = fit_from(X, 2, "full", 6, sample_weight=reps.astype(float))
    b = fit_from(np.repeat(X, reps, axis=0), 2, "full", 6, start_from=X)
    assert_allclose(a.means_, b.means_, rtol=1e-9)
    assert_allclose(a.degrees_of_freedom_, b.degrees_of_freedom_, rtol=1e-9)


def test_fit_predict_equals_fit_then_predict():
    X, _ = t_data(600, 2, 3, 13)
    labels = StudentTMixture(3, random_state=0).fit_predict(X)
    assert_array_equal(labels, StudentTMixture(3, random_state=0).fit(X).predict(X))


def test_warm_start_continues_from_the_fitted_attributes():
    X, _ = t_data(600, 2, 2, 14)
    one = fit_from(X, 2, "full", 6)
    tm = fit_from(X, 2, "full", 3)
    tm.set_params(warm_start=True, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tm.fit(X)
    assert_allclose(tm.means_, one.means_, rtol=1e-10)


def test_memmap_fit_equals_in_memory_fit(tmp_path):
    X, _ = t_data(5000, 3, 2, 15)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    mm[:] = X
    mm.flush()
    a = fit_from(X, 2, "diag", 5)
    b = fit_from(np.load(tmp_path / "x.npy", mmap_mode="r"), 2, "diag", 5, block_rows=1024)
    assert_allclose(b.means_, a.means_, rtol=1e-10)


# ---------------------------------------------------------------------------
# Outliers
# ---------------------------------------------------------------------------

def test_planted_outlier_gets_the_smallest_scale_weight():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (400, 2)), rng.normal(7, 1, (400, 2)), [[-25.0, 30.0]]])
    u = StudentTMixture(2, random_state=0).fit(X).scale_weights(X)
    assert int(np.argmin(u)) == len(X) - 1


def test_planted_outlier_scale_weight_is_small():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (400, 2)), rng.normal(7, 1, (400, 2)), [[-25.0, 30.0]]])
    u = StudentTMixture(2, random_state=0).fit(X).scale_weights(X)
    assert u[-1] < 0.05 * np.median(u[:-1])


def test_scale_weights_mix_per_component_ones_by_responsibility():
    X, _ = t_data(500, 3, 3, 16)
    tm = StudentTMixture(3, random_state=0).fit(X)
    mixed = np.sum(tm.predict_proba(X) * tm.scale_weights(X, per_component=True), axis=1)
    assert_allclose(tm.scale_weights(X), mixed, rtol=1e-12)


def test_per_component_scale_weights_are_the_formula():
    X, _ = t_data(300, 2, 2, 17)
    tm = StudentTMixture(2, random_state=0).fit(X)
    _, _, u = ref.e_step(X, tm.weights_, tm.means_, tm.covariances_, tm.degrees_of_freedom_, "full")
    assert_allclose(tm.scale_weights(X, per_component=True), u, rtol=1e-10)


def _gross_outliers(seed=0):
    """Two unit-variance clusters 6 apart, 5 % gross outliers over a 120 x 120 box, and a start near the truth.

    Both models start from the same parameters (means 0.7 from the truth,
    unit covariances): k-means itself is not robust, and with outliers this
    spread it starts both models from one centre on the outliers.
    """
    rng = np.random.default_rng(seed)
    truth = np.array([[0.0, 0.0], [6.0, 0.0]])
    X = np.vstack([rng.normal(truth[0], 1, (950, 2)), rng.normal(truth[1], 1, (950, 2)),
                   rng.uniform(-60, 60, size=(100, 2))])
    start = dict(weights_init=[0.5, 0.5], means_init=truth + [[0.5, 0.5], [-0.5, 0.5]],
                 precisions_init=np.stack([np.eye(2)] * 2))
    return X, truth, start


def _mean_error(means, truth):
    """The largest distance from a true centre to the nearest fitted mean."""
    return max(np.min(np.linalg.norm(means - t, axis=1)) for t in truth)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_student_t_means_stay_at_the_truth_under_gross_outliers(seed):
    X, truth, start = _gross_outliers(seed)
    tm = StudentTMixture(2, **start).fit(X)
    assert _mean_error(tm.means_, truth) < 0.15


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gaussian_means_are_pulled_away_by_the_same_outliers(seed):
    X, truth, start = _gross_outliers(seed)
    gm = GaussianMixture(2, **start).fit(X)
    assert _mean_error(gm.means_, truth) > 1.0


# ---------------------------------------------------------------------------
# Criteria, sampling, persistence hooks
# ---------------------------------------------------------------------------

def test_bic_counts_estimated_dof():
    X, _ = t_data(400, 2, 2, 18)
    tm = StudentTMixture(2, random_state=0).fit(X)
    estimated = tm.bic(X)
    tm.set_params(fix_dof=True)
    assert_allclose(estimated - tm.bic(X), 2 * math.log(len(X)), rtol=1e-12)


def test_aic_is_minus_twice_the_log_likelihood_plus_twice_the_parameters():
    X, _ = t_data(400, 2, 2, 19)
    tm = StudentTMixture(2, covariance_type="diag", random_state=0).fit(X)
    n_params = 2 * 2 + 2 * 2 + 1 + 2
    assert_allclose(tm.aic(X), -2 * tm.score(X) * len(X) + 2 * n_params, rtol=1e-12)


def test_score_samples_are_the_t_mixture_density():
    X, _ = t_data(300, 3, 2, 20)
    tm = StudentTMixture(2, covariance_type="spherical", random_state=0).fit(X)
    r_ll, _, _ = ref.e_step(X, tm.weights_, tm.means_, tm.covariances_, tm.degrees_of_freedom_, "spherical")
    assert_allclose(tm.score_samples(X), r_ll, rtol=1e-10)


def test_sample_draws_heavy_tails_of_the_fitted_dof():
    tm = StudentTMixture(1, covariance_type="diag", random_state=0)
    tm.fit(np.random.default_rng(0).standard_t(3, size=(3000, 1)))
    tm.degrees_of_freedom_ = np.array([3.0])
    tm.means_ = np.zeros((1, 1))
    tm.covariances_ = np.ones((1, 1))
    Xs, _ = tm.sample(200000)
    # a t(3) has P(|x| > 5) = 0.0154; a normal 6e-7
    assert abs(np.mean(np.abs(Xs) > 5) - 0.0154) < 0.002


def test_sample_is_reproducible_with_random_state():
    X, _ = t_data(300, 2, 2, 21)
    tm = StudentTMixture(2, random_state=3).fit(X)
    assert_array_equal(tm.sample(50)[0], tm.sample(50)[0])


def test_validate_loaded_accepts_a_fitted_model():
    X, _ = t_data(300, 2, 2, 22)
    tm = StudentTMixture(2, random_state=0).fit(X)
    tm._validate_loaded()


@pytest.mark.parametrize("name, value, message", [
    ("weights_", np.array([0.7, 0.7]), "weights_"),
    ("degrees_of_freedom_", np.array([-1.0, 3.0]), "degrees_of_freedom_"),
    ("degrees_of_freedom_", np.array([3.0]), "degrees_of_freedom_ has shape"),
    ("means_", np.full((2, 2), np.nan), "means_ contains NaN"),
    ("precisions_", np.stack([np.eye(2) * 9, np.eye(2) * 9]), "precisions_ does not match"),
])
def test_validate_loaded_names_the_inconsistent_attribute(name, value, message):
    X, _ = t_data(300, 2, 2, 22)
    tm = StudentTMixture(2, random_state=0).fit(X)
    setattr(tm, name, value)
    with pytest.raises(ValueError, match=message):
        tm._validate_loaded()


def test_persisted_arrays_are_fitted_attributes():
    X, _ = t_data(100, 2, 2, 23)
    tm = StudentTMixture(2, random_state=0).fit(X)
    assert all(isinstance(getattr(tm, n), np.ndarray) for n in StudentTMixture._schema.attributes("array"))


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("params, message", [
    ({"covariance_type": "tied"}, "'covariance_type' parameter of StudentTMixture"),
    ({"dof_init": 0.0}, "dof_init"),
    ({"dof_init": -2.0}, "dof_init"),
    ({"dof_init": np.nan}, "dof_init"),
    ({"dof_init": [3.0, 4.0, 5.0]}, r"dof_init.*shape of \(2,\)"),
    ({"dof_init": "many"}, "dof_init"),
    ({"dof_init": True}, "dof_init"),
    ({"dof_bounds": (5.0, 1.0)}, "dof_bounds"),
    ({"dof_bounds": (0.0, 10.0)}, "dof_bounds"),
    ({"dof_bounds": (1.0, np.inf)}, "dof_bounds"),
    ({"dof_bounds": "wide"}, "dof_bounds"),
    ({"dof_bounds": 5.0}, "dof_bounds"),
    ({"fix_dof": "yes"}, "fix_dof"),
    ({"n_components": 0}, "n_components"),
    ({"reg_covar": -1.0}, "reg_covar"),
    ({"init_params": "best"}, "init_params"),
    ({"weights_init": [0.2, 0.2]}, "normalized"),
    ({"means_init": np.zeros((3, 2))}, "means"),
])
def test_bad_parameters_are_named(params, message):
    X, _ = t_data(100, 2, 2, 24)
    with pytest.raises(ValueError, match=message):
        StudentTMixture(**{"n_components": 2, **params}).fit(X)


def test_bad_parameters_are_invalid_parameter_errors():
    X, _ = t_data(100, 2, 2, 24)
    with pytest.raises(InvalidParameterError):
        StudentTMixture(2, dof_bounds=(3.0, 1.0)).fit(X)


def test_nan_in_x_is_refused():
    X, _ = t_data(100, 2, 2, 25)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        StudentTMixture(2).fit(X)


def test_wrong_feature_count_at_predict():
    X, _ = t_data(100, 2, 2, 26)
    tm = StudentTMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        tm.scale_weights(np.zeros((3, 3)))


def test_per_component_must_be_a_bool():
    X, _ = t_data(100, 2, 2, 27)
    tm = StudentTMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="per_component"):
        tm.scale_weights(X, per_component="yes")


def test_unfitted_scale_weights_is_not_fitted_error():
    from fastgmm import NotFittedError

    with pytest.raises(NotFittedError):
        StudentTMixture(2).scale_weights(np.zeros((3, 2)))


def test_kernel_refuses_tied_features():
    from fastgmm.kernels import _estep

    X = np.zeros((4, 2))
    P = _estep.n_features_out(_estep.QTIED, 2)
    with pytest.raises(ValueError, match="full, diag or spherical"):
        _estep.accumulate_t_statistics(X, _estep.QTIED, np.zeros(2), np.zeros((P, 1)), np.zeros(1), np.ones(1),
                                       None, 16, 16, np.zeros(P), np.zeros(1), np.zeros(1), np.zeros(1), 1)


def test_gaussian_entry_refuses_the_student_t_mode():
    from fastgmm.kernels import _estep

    X = np.zeros((4, 2))
    P = _estep.n_features_out(_estep.QDIAG, 2)
    with pytest.raises(ValueError, match="accumulate_t_statistics"):
        _estep.accumulate_statistics(X, _estep.QDIAG, 1, np.zeros(2), _estep.RESP_STUDENT_T, np.zeros((P, 1)), None,
                                     None, None, None, 16, 16, np.zeros((1, P)), None, np.zeros(1), 1)


def _readme_data():
    """The README's example: two clusters of 5,000 rows and 50 gross outliers (the last rows)."""
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(0, 1, (5000, 2)), rng.normal(6, 1, (5000, 2)), rng.uniform(-40, 40, size=(50, 2))])


def test_readme_example_flags_no_cluster_row():
    X = _readme_data()
    u = StudentTMixture(n_components=2, random_state=0).fit(X).scale_weights(X)
    assert np.count_nonzero(u[:10000] < 0.2) == 0


def test_readme_example_flags_most_outliers():
    X = _readme_data()
    u = StudentTMixture(n_components=2, random_state=0).fit(X).scale_weights(X)
    assert np.count_nonzero(u[10000:] < 0.2) >= 45


def test_kernel_log1p_is_within_two_ulps_of_numpy():
    from fastgmm.kernels import _estep

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0, 1e-12, 10000), rng.uniform(0, 1, 10000), np.exp(rng.uniform(-40, 700, 10000)),
                        [1.0, np.sqrt(2) - 1, 1e308]])
    out = np.empty_like(x)
    _estep.log1p_nonnegative(x, out)
    expected = np.log1p(x)
    assert np.max(np.abs(out - expected) / expected) <= 2 * np.finfo(float).eps


@pytest.mark.parametrize("x, expected", [(0.0, 0.0), (np.inf, np.inf)])
def test_kernel_log1p_edges(x, expected):
    from fastgmm.kernels import _estep

    out = np.empty(1)
    _estep.log1p_nonnegative(np.array([x]), out)
    assert out[0] == expected


def test_f_distribution_cut_off_flags_its_level():
    from scipy import stats

    tm = StudentTMixture(1, covariance_type="diag", random_state=0).fit(np.random.default_rng(0).normal(size=(50, 3)))
    tm.weights_, tm.means_, tm.degrees_of_freedom_ = np.ones(1), np.zeros((1, 3)), np.array([4.0])
    tm.covariances_ = np.ones((1, 3))
    tm.precisions_cholesky_ = tm.precisions_ = np.ones((1, 3))
    X, _ = tm.sample(400000)
    cut = (4.0 + 3) / (4.0 + 3 * stats.f.ppf(0.999, 3, 4.0))
    assert abs(np.mean(tm.scale_weights(X, per_component=True)[:, 0] < cut) - 0.001) < 0.0002


def test_save_load_round_trip_predicts_identically(tmp_path):
    from fastgmm import load, save

    X, _ = t_data(300, 2, 2, 28)
    tm = StudentTMixture(2, dof_init=[3.0, 9.0], random_state=0).fit(X)
    save(tm, tmp_path / "t.npz")
    assert_array_equal(load(tmp_path / "t.npz").scale_weights(X), tm.scale_weights(X))


# ---------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type, floor", [("full", 0.85), ("diag", 0.65)])
def test_iris_species_are_recovered(covariance_type, floor):
    """Fisher's iris (shipped with scikit-learn): three species, far above chance (ARI 0)."""
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.metrics import adjusted_rand_score

    iris = datasets.load_iris()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = StudentTMixture(3, covariance_type=covariance_type, n_init=5, random_state=0).fit_predict(iris.data)
    assert adjusted_rand_score(iris.target, labels) > floor


def test_wine_cultivars_are_recovered():
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.metrics import adjusted_rand_score

    wine = datasets.load_wine()
    X = (wine.data - wine.data.mean(axis=0)) / wine.data.std(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = StudentTMixture(3, covariance_type="diag", n_init=5, random_state=0).fit_predict(X)
    assert adjusted_rand_score(wine.target, labels) > 0.75
