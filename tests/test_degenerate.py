"""Degenerate components (issue 14): on_degenerate = "raise" | "reinit" | "drop".

Two kinds of data make components degenerate: a cluster of exactly repeated
rows with reg_covar=0 makes a component collapse onto it (its covariance
singular), and a mean started far from every row empties its component.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

import fastgmm
from fastgmm.datasets import load_faithful
from fastgmm import GaussianMixture, StudentTMixture
from fastgmm.families import _degenerate
import _reference as ref
from fastgmm.utils._validation import InvalidParameterError

from conftest import needs_openmp

COV_TYPES = ("full", "tied", "diag", "spherical")
COLLAPSING = ("full", "diag", "spherical")      # a tied covariance is shared: no single component collapses
DTYPES = [np.float64, np.float32]
DTYPE_IDS = ["float64", "float32"]
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def collapse_data(dtype=np.float64, n=120):
    """5/6 of n Gaussian rows about (3, 3) and 1/6 exactly at the origin."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(3.0, 1.0, (n - n // 6, 2)), np.zeros((n // 6, 2))])
    return np.ascontiguousarray(X, dtype=dtype)


def two_clusters(dtype=np.float64, n=150):
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0.0, 1.0, (n // 2, 2)), rng.normal(6.0, 1.0, (n - n // 2, 2))])
    return np.ascontiguousarray(X, dtype=dtype)


# Two means at the clusters and one far from every row (its responsibilities underflow to 0): its
# component empties at iteration 1. Not farther: the statistics are summed about the mixture's mean,
# and a mean at 1e4 would cost the covariances ~1e-7 of relative precision (not this test's subject).
FAR_MEANS = np.array([[0.0, 0.0], [6.0, 6.0], [100.0, 100.0]])


def weights_for(X, weighted):
    if not weighted:
        return None
    return np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])


def quiet_fit(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # ConvergenceWarning of runs cut short by max_iter
        return model.fit(X, **kw)


def empty_fit(cov_type, policy, dtype=np.float64, weighted=False, n=150, **kw):
    X = two_clusters(dtype, n)
    gm = GaussianMixture(3, covariance_type=cov_type, means_init=FAR_MEANS, on_degenerate=policy,
                         random_state=0, **kw)
    return quiet_fit(gm, X, sample_weight=weights_for(X, weighted)), X


def collapse_fit(cov_type, policy, dtype=np.float64, weighted=False, estimator=GaussianMixture, n=120, seed=0,
                 **kw):
    X = collapse_data(dtype, n)
    gm = estimator(3, covariance_type=cov_type, reg_covar=0.0, on_degenerate=policy, random_state=seed, **kw)
    return quiet_fit(gm, X, sample_weight=weights_for(X, weighted)), X


# ---------------------------------------------------------------------------
# The parameter
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("estimator", [GaussianMixture, StudentTMixture])
def test_unknown_policy_is_an_invalid_parameter_error(estimator):
    with pytest.raises(InvalidParameterError, match=r"'on_degenerate' parameter of \w+ must be a str among"):
        estimator(2, on_degenerate="ignore").fit(two_clusters())


def test_default_policy_is_raise():
    assert GaussianMixture().on_degenerate == "raise"


# ---------------------------------------------------------------------------
# A collapsing component
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COLLAPSING)
def test_collapse_under_raise_is_scikit_learns_error(cov_type):
    # Whether EM reaches an exactly singular component depends on the start: from the
    # k-means start of seed 0, 'diag' converges with the origin component's variances
    # 2e-15 and 2e-47 (tiny responsibilities of the other rows), not 0.
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        collapse_fit(cov_type, "raise", seed=1)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cov_type", COLLAPSING)
def test_collapse_under_reinit_records_a_reseed(cov_type, dtype):
    gm, _ = collapse_fit(cov_type, "reinit", dtype)
    assert ("singular", "reinit") in [e[2:] for e in gm.degenerate_events_]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cov_type", COLLAPSING)
def test_collapse_under_drop_removes_components(cov_type, dtype):
    gm, _ = collapse_fit(cov_type, "drop", dtype)
    assert gm.means_.shape[0] == 3 - gm.n_dropped_ < 3


def test_reinit_gives_up_after_the_limit_and_drops():
    # The repeated rows pull a re-seeded component back onto them every time.
    gm, _ = collapse_fit("full", "reinit")
    actions = [e[3] for e in gm.degenerate_events_]
    assert actions[:_degenerate.REINIT_LIMIT + 1] == ["reinit"] * _degenerate.REINIT_LIMIT + ["drop"]


def test_singular_tied_covariance_raises_under_every_policy():
    X = np.column_stack([np.arange(50.0), np.zeros(50)])     # a zero column: singular with reg_covar=0
    for policy in ("raise", "reinit", "drop"):
        with pytest.raises(ValueError, match="The tied covariance is not positive definite"):
            GaussianMixture(2, covariance_type="tied", reg_covar=0.0, on_degenerate=policy).fit(X)


def single_row_starts(policy, X=None):
    # Single rows as components (random_from_data) with reg_covar=0: every one singular at once.
    X = two_clusters() if X is None else X
    return X, GaussianMixture(3, init_params="random_from_data", reg_covar=0.0, on_degenerate=policy, random_state=0)


def test_every_component_degenerate_under_drop_is_the_documented_error():
    X, gm = single_row_starts("drop")
    with pytest.raises(ValueError, match="every component became degenerate at EM iteration 0"):
        gm.fit(X)


def test_every_component_degenerate_under_reinit_restarts_from_the_data_variance():
    X, gm = single_row_starts("reinit")
    quiet_fit(gm, X)
    assert [e[0] for e in gm.degenerate_events_] == [0, 0, 0]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_restart_covariance_is_the_data_variance_over_k(weighted):
    X, gm = single_row_starts("reinit")
    sw = weights_for(X, weighted)
    gm.set_params(max_iter=0)                  # only initialise: the restarted start itself
    gm.fit(X, sample_weight=sw)
    mean = np.average(X, axis=0, weights=sw)
    var = np.average((X - mean) ** 2, axis=0, weights=sw)
    assert_allclose(gm.covariances_, np.broadcast_to(np.diag(var / 3), (3, 2, 2)), rtol=1e-10)


def test_every_component_degenerate_with_a_constant_feature_is_a_clear_error():
    X = np.column_stack([two_clusters()[:, 0], np.full(150, 2.0)])
    X, gm = single_row_starts("reinit", X)
    with pytest.raises(ValueError, match="feature 1 of X has zero variance with reg_covar=0"):
        gm.fit(X)


# ---------------------------------------------------------------------------
# An emptying component
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_empty_component_under_raise_is_kept(cov_type):
    gm, _ = empty_fit(cov_type, "raise")
    assert gm.weights_[2] < 1e-10


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_empty_component_under_reinit_is_reseeded_at_iteration_1(cov_type, dtype, weighted):
    gm, _ = empty_fit(cov_type, "reinit", dtype, weighted)
    assert gm.degenerate_events_[0] == (1, 2, "empty", "reinit")


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_empty_component_under_drop_leaves_two(cov_type, dtype, weighted):
    gm, _ = empty_fit(cov_type, "drop", dtype, weighted)
    assert (gm.degenerate_events_, gm.means_.shape) == ([(1, 2, "empty", "drop")], (2, 2))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_reseed_matches_numpy_reference(cov_type):
    """One iteration from the same initial parameters: the re-seeded model as the NumPy reference makes it."""
    X = two_clusters()
    kw = dict(covariance_type=cov_type, means_init=FAR_MEANS, random_state=0)
    start = GaussianMixture(3, max_iter=0, **kw).fit(X)
    gm = quiet_fit(GaussianMixture(3, max_iter=1, on_degenerate="reinit", **kw), X)
    _, log_resp = ref.e_step(X, start.weights_, start.means_, start.precisions_cholesky_, cov_type)
    nk, means, cov = ref.estimate_gaussian_parameters(X, np.exp(log_resp), 1e-6, cov_type)
    w = nk / nk.sum()
    hw = w[:2] / w[:2].sum()
    h_cov = cov if cov_type == "tied" else cov[:2]
    pc = ref.compute_precision_cholesky(h_cov, cov_type)
    ll = logsumexp(ref.estimate_weighted_log_prob(X, hw, means[:2], pc, cov_type), axis=1)
    means[2] = X[np.argmin(ll)]
    if cov_type != "tied":
        cov[2] = np.tensordot(hw, cov[:2], axes=1)
    w = np.append(hw * (1 - 0.1 / 3), 0.1 / 3)
    for name, expected in (("weights_", w / w.sum()), ("means_", means), ("covariances_", cov)):
        assert_allclose(getattr(gm, name), expected, rtol=1e-8, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_reseed_float32_matches_float64(cov_type):
    a, _ = empty_fit(cov_type, "reinit", np.float32, max_iter=1)
    b, _ = empty_fit(cov_type, "reinit", np.float64, max_iter=1)
    assert_allclose(a.means_, b.means_, rtol=1e-5, atol=1e-5)


def test_reseed_skips_rows_of_weight_zero():
    X = two_clusters()
    X[0] = [-40.0, 40.0]                       # the worst-explained row, but weight 0: not there
    sw = np.ones(X.shape[0])
    sw[0] = 0.0
    gm = quiet_fit(GaussianMixture(3, means_init=FAR_MEANS, max_iter=1, on_degenerate="reinit", random_state=0),
                   X, sample_weight=sw)
    assert not np.any(np.all(gm.means_ == X[0], axis=1))


def test_two_reseeds_go_to_distinct_rows():
    X = np.vstack([two_clusters(), np.full((5, 2), 30.0)])   # the worst rows are 5 copies of one point
    means = np.array([[0.0, 0.0], [6.0, 6.0], [100.0, 100.0], [-100.0, 100.0]])
    gm = quiet_fit(GaussianMixture(4, means_init=means, max_iter=1, on_degenerate="reinit", random_state=0), X)
    assert not np.array_equal(gm.means_[2], gm.means_[3])


# ---------------------------------------------------------------------------
# Whatever the policy: finite, usable, reproducible, thread invariant
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("policy", ["reinit", "drop"])
@pytest.mark.parametrize("cov_type", COLLAPSING)
def test_no_nan_or_inf_in_a_fitted_model(cov_type, policy, dtype, weighted):
    gm, _ = collapse_fit(cov_type, policy, dtype, weighted)
    bad = [name for name in FITTED if not np.all(np.isfinite(getattr(gm, name)))]
    assert bad == []


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_every_method_works_after_drop(cov_type):
    gm, X = empty_fit(cov_type, "drop")
    values = {
        "predict": gm.predict(X).max(), "predict_proba": gm.predict_proba(X).shape[1],
        "score": np.isfinite(gm.score(X)), "bic": np.isfinite(gm.bic(X)), "aic": np.isfinite(gm.aic(X)),
        "score_samples": np.all(np.isfinite(gm.score_samples(X))), "sample": gm.sample(10)[1].max() <= 1,
    }
    assert values == {"predict": 1, "predict_proba": 2, "score": True, "bic": True, "aic": True,
                      "score_samples": True, "sample": True}


def test_parameter_count_after_drop_is_of_the_fitted_components():
    gm, _ = empty_fit("diag", "drop")
    assert gm._n_parameters() == 2 * 2 + 2 * 2 + 1


def test_fit_predict_equals_predict_after_reinit():
    gm, X = empty_fit("full", "reinit")
    labels = quiet_fit_predict(gm, X)
    assert_array_equal(labels, gm.predict(X))


def quiet_fit_predict(gm, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit_predict(X)


@pytest.mark.parametrize("policy", ["reinit", "drop"])
def test_reproducible_with_random_state(policy):
    a, _ = collapse_fit("full", policy, init_params="random")
    b, _ = collapse_fit("full", policy, init_params="random")
    assert_array_equal(a.means_, b.means_)


@needs_openmp
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("policy", ["reinit", "drop"])
def test_bitwise_identical_for_one_and_two_threads(policy, dtype, every_thread):
    # 3000 rows: several slots, so that two threads really split the passes.
    fits = [empty_fit("full", policy, dtype, n=3000, n_threads=t)[0] for t in (1, 2)]
    assert fits[0].degenerate_events_[0][3] == policy
    for name in FITTED:
        assert_array_equal(getattr(fits[0], name), getattr(fits[1], name), err_msg=name)
    assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)


@pytest.mark.parametrize("policy", ["reinit", "drop"])
@pytest.mark.parametrize("cov_type", COLLAPSING)
def test_lower_bound_never_decreases_between_events(cov_type, policy):
    gm, _ = collapse_fit(cov_type, policy, tol=0.0, max_iter=40)
    lb = np.asarray(gm.lower_bounds_, dtype=np.float64)
    # Entry i is under the parameters after iteration i's M-step (i counting
    # from 1); an event at iteration e changes the parameters that entry e + 1 is under.
    event_entries = {e[0] for e in gm.degenerate_events_}     # 0-based index of entry e + 1
    steps = [(i, lb[i] - lb[i - 1]) for i in range(1, len(lb)) if i not in event_entries]
    assert [s for s in steps if s[1] < -1e-9 * max(1.0, abs(lb[s[0]]))] == []


def test_events_reset_on_refit():
    gm, X = empty_fit("full", "reinit")
    gm.set_params(means_init=None)
    quiet_fit(gm, X)
    assert gm.degenerate_events_ == []


def test_counts_match_the_events():
    gm, _ = collapse_fit("full", "reinit")
    actions = [e[3] for e in gm.degenerate_events_]
    assert (gm.n_reinit_, gm.n_dropped_) == (actions.count("reinit"), actions.count("drop"))


def test_verbose_prints_one_line_per_event(capsys):
    empty_fit("full", "reinit", verbose=1)
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if "degenerate" in line] == [
        "  Iteration 1: component 2 is degenerate (empty), reinit."]


def test_partial_fit_records_the_events_of_its_start():
    X, gm = single_row_starts("reinit")
    gm.partial_fit(X)
    assert [e[0] for e in gm.degenerate_events_] == [0, 0, 0]


def test_reinit_of_an_out_of_core_array_is_a_type_error(tmp_path):
    X = two_clusters()
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    mm[:] = X
    with pytest.raises(TypeError, match="on_degenerate='reinit'.*in-memory array"):
        GaussianMixture(2, on_degenerate="reinit").fit(np.load(tmp_path / "x.npy", mmap_mode="r"))


def test_marginalize_reseeds_an_empty_component_with_missing_values():
    X = two_clusters()
    X[::7, 1] = np.nan
    gm = GaussianMixture(3, means_init=FAR_MEANS, nan_policy="marginalize", on_degenerate="reinit", random_state=0)
    quiet_fit(gm, X)
    assert (gm.degenerate_events_[0], np.all(np.isfinite(gm.means_))) == ((1, 2, "empty", "reinit"), True)


# ---------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["reinit", "drop"])
def test_save_load_round_trip_gaussian(policy, tmp_path):
    gm, X = empty_fit("full", policy)
    gm.save(tmp_path / "m.npz")
    back = fastgmm.load(tmp_path / "m.npz")
    assert (back.degenerate_events_, back.n_reinit_, back.n_dropped_) == (
        gm.degenerate_events_, gm.n_reinit_, gm.n_dropped_)


def test_save_load_after_drop_predicts_identically(tmp_path):
    gm, X = empty_fit("diag", "drop")
    gm.save(tmp_path / "m.npz")
    assert_array_equal(fastgmm.load(tmp_path / "m.npz").predict_proba(X), gm.predict_proba(X))


def test_load_rejects_events_that_disagree_with_the_arrays(tmp_path):
    gm, _ = empty_fit("full", "drop")
    gm.degenerate_events_ = []                  # 2 components fitted, 3 asked for, no drop recorded
    gm.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="less the 0 dropped"):
        fastgmm.load(tmp_path / "m.npz")


@pytest.mark.parametrize("policy", ["reinit", "drop"])
def test_save_load_round_trip_studentt(policy, tmp_path):
    tm, X = collapse_fit("full", policy, estimator=StudentTMixture)
    tm.save(tmp_path / "t.npz")
    back = fastgmm.load(tmp_path / "t.npz")
    assert (back.degenerate_events_, back.scale_weights(X).tolist()) == (
        tm.degenerate_events_, tm.scale_weights(X).tolist())


# ---------------------------------------------------------------------------
# Student-t mixture
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COLLAPSING)
def test_studentt_collapse_under_raise_is_the_singular_error(cov_type):
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        collapse_fit(cov_type, "raise", estimator=StudentTMixture)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("policy", ["reinit", "drop"])
@pytest.mark.parametrize("cov_type", COLLAPSING)
def test_studentt_degenerate_fit_is_finite_with_events(cov_type, policy, dtype, weighted):
    tm, _ = collapse_fit(cov_type, policy, dtype, weighted, estimator=StudentTMixture)
    finite = all(np.all(np.isfinite(getattr(tm, n))) for n in FITTED + ("degrees_of_freedom_",))
    assert (finite, len(tm.degenerate_events_) > 0) == (True, True)


@needs_openmp
@pytest.mark.parametrize("policy", ["reinit", "drop"])
def test_studentt_bitwise_identical_for_one_and_two_threads(policy, every_thread):
    fits = [collapse_fit("full", policy, estimator=StudentTMixture, n=3000, n_threads=t)[0] for t in (1, 2)]
    assert fits[0].degenerate_events_[0][3] == policy
    for name in FITTED + ("degrees_of_freedom_",):
        assert_array_equal(getattr(fits[0], name), getattr(fits[1], name), err_msg=name)
    assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)


@pytest.mark.parametrize("cov_type", COLLAPSING)
def test_studentt_drop_keeps_dof_aligned(cov_type):
    tm, _ = collapse_fit(cov_type, "drop", estimator=StudentTMixture)
    assert tm.degrees_of_freedom_.shape == tm.weights_.shape


def test_studentt_reseeded_dof_is_the_healthy_weighted_mean():
    X = two_clusters()
    tm = StudentTMixture(3, means_init=FAR_MEANS, dof_init=[4.0, 8.0, 100.0], fix_dof=True, max_iter=1,
                         on_degenerate="reinit", random_state=0)
    quiet_fit(tm, X)
    w = np.asarray(tm.weights_, dtype=np.float64)
    hw = w[:2] / w[:2].sum()
    assert_allclose(tm.degrees_of_freedom_[2], hw @ [4.0, 8.0], rtol=1e-6)


# ---------------------------------------------------------------------------
# Old Faithful (issue 14's sweep): tied values, every K, type, seed, reg_covar
# ---------------------------------------------------------------------------

FAITHFUL_DOCUMENTED = (
    "Fitting the mixture model failed because some components have ill-defined empirical covariance",
    "Some samples have zero probability under every component",
)


@pytest.mark.parametrize("policy", ["raise", "reinit", "drop"])
def test_faithful_sweep(policy):
    X = load_faithful(return_X_y=True)[0]
    problems = []
    for cov_type in COV_TYPES:
        for K in range(1, 9):
            for reg in (0.0, 1e-6):
                for seed in range(20):
                    gm = GaussianMixture(K, covariance_type=cov_type, reg_covar=reg, random_state=seed,
                                         on_degenerate=policy)
                    try:
                        quiet_fit(gm, X)
                    except ValueError as e:
                        if policy != "raise" or not str(e).startswith(FAITHFUL_DOCUMENTED):
                            problems.append((cov_type, K, reg, seed, str(e)[:80]))
                        continue
                    if not all(np.all(np.isfinite(getattr(gm, n))) for n in FITTED):
                        problems.append((cov_type, K, reg, seed, "non-finite"))
    assert problems == []
