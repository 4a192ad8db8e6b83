"""StudentTMixture with nan_policy='marginalize': exact EM for values missing at random, against the
row-by-row reference (_reference_t_missing), and its properties (monotone, thread-invariant, streamed)."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import special

from fastgmm import ConvergenceWarning, StudentTMixture
from fastgmm.kernels import _estep
from fastgmm.families import _gaussian, _gaussian_missing as _missing
from fastgmm.families import _studentt_maths as st
from fastgmm.families._studentt import TParams

import _reference_t_missing as ref
from conftest import mixture_data, needs_openmp

COV_TYPES = ("full", "diag", "spherical")
pytestmark = pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")


def _t_data(n, d, k, seed, dof=4.0, dtype=np.float64):
    """Rows of a t mixture: conftest's Gaussian mixture with each row's deviation scaled by 1 / sqrt(g)."""
    X, y = mixture_data(n, d, k, seed, scale=6.0)
    rng = np.random.default_rng(seed + 100)
    centres = np.stack([X[y == j].mean(axis=0) for j in range(k)])
    g = rng.gamma(dof / 2, 2 / dof, size=n)
    X = centres[y] + (X - centres[y]) / np.sqrt(g)[:, None]
    return np.ascontiguousarray(X, dtype=dtype), y


def _mask(X, frac, seed):
    """X with a fraction ``frac`` of its entries NaN, completely at random; every row keeps one value."""
    rng = np.random.default_rng(seed)
    Xm = X.copy()
    nan = rng.random(X.shape) < frac
    empty = nan.all(axis=1)
    nan[empty, rng.integers(X.shape[1], size=int(empty.sum()))] = False
    Xm[nan] = np.nan
    return Xm


def _start(Xm, K, cov_type, seed):
    """Initial (weights, means, scale matrices in the type's shape, precisions, dof)."""
    rng = np.random.default_rng(seed + 200)
    D = Xm.shape[1]
    spread = np.nanstd(Xm.astype(np.float64), axis=0)
    weights = rng.dirichlet(np.full(K, 5.0))
    means = np.nanmean(Xm.astype(np.float64), axis=0) + rng.normal(size=(K, D)) * spread
    if cov_type == "full":
        A = rng.normal(size=(K, D, D)) * 0.3
        cov = np.eye(D) * spread ** 2 + np.einsum("kij,klj->kil", A, A)
        prec = np.linalg.inv(cov)
    elif cov_type == "diag":
        cov = spread ** 2 * rng.uniform(0.5, 2.0, size=(K, D))
        prec = 1.0 / cov
    else:
        cov = np.mean(spread ** 2) * rng.uniform(0.5, 2.0, size=K)
        prec = 1.0 / cov
    dof = rng.uniform(2.0, 15.0, size=K)
    return weights, means, cov, prec, dof


def _model(start, cov_type, n_iter, **kw):
    weights, means, _, prec, dof = start
    return StudentTMixture(len(weights), covariance_type=cov_type, nan_policy="marginalize", weights_init=weights,
                           means_init=means, precisions_init=prec, dof_init=dof, max_iter=n_iter, tol=0, **kw)


def _params(start, cov_type):
    weights, means, cov, _, dof = start
    return TParams(weights, means, cov, _gaussian.precision_cholesky(cov, cov_type), dof)


def _quiet_fit(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kw)


# ---------------------------------------------------------------------------
# Exactness against the row-by-row reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_statistics_match_reference(cov_type, dtype, weighted, seed):
    X, _ = _t_data(150, 4, 3, seed, dtype=dtype)
    Xm = _mask(X, 0.25, seed)
    start = _start(Xm, 3, cov_type, seed)
    sw = np.random.default_rng(seed).uniform(0.2, 3.0, size=len(X)) if weighted else None
    stats = st.t_missing_statistics(Xm, _missing.group_patterns(Xm), *_params(start, cov_type), cov_type, 1,
                                    sample_weight=sw)
    want = ref.sums(Xm, start[0], start[1], start[2], cov_type, start[4], sample_weight=sw)
    u = stats.u_stats.recentred(np.zeros(X.shape[1]))          # the reference's sums are about the origin
    s2 = {"full": want["s2"], "diag": np.diagonal(want["s2"], axis1=1, axis2=2),
          "spherical": np.trace(want["s2"], axis1=1, axis2=2)}[cov_type]
    tol = dict(rtol=1e-6, atol=1e-8)
    assert_allclose(stats.nk, want["nk"], **tol)
    assert_allclose(u.nk, want["su"], **tol)
    assert_allclose(u.s1, want["s1"], **tol)
    assert_allclose(u.s2, s2, **tol)
    assert_allclose(stats.loglik, want["loglik"], **tol)
    # h leaves the D-dimensional digamma term to dof_equation, which adds it once
    D, nu = X.shape[1], start[4]
    psi_full = special.digamma((nu + D) / 2) - np.log((nu + D) / 2)
    assert_allclose(stats.h + psi_full * stats.nk, want["h"], **tol)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_em_iterations_match_reference(cov_type, dtype, weighted, seed):
    X, _ = _t_data(150, 4, 3, seed, dtype=dtype)
    Xm = _mask(X, 0.25, seed)
    start = _start(Xm, 3, cov_type, seed)
    sw = np.random.default_rng(seed).uniform(0.2, 3.0, size=len(X)) if weighted else None
    reg, n_iter = 1e-4, 3
    tm = _quiet_fit(_model(start, cov_type, n_iter, reg_covar=reg), Xm, sample_weight=sw)
    (w, m, c, dof), bounds = ref.fit(Xm, start[0], start[1], start[2], cov_type, start[4], n_iter, reg,
                                     sample_weight=sw)
    tol = dict(rtol=1e-6, atol=1e-6)
    assert_allclose(tm.weights_, w, **tol)
    assert_allclose(tm.means_, m, **tol)
    assert_allclose(tm.covariances_, c, **tol)
    assert_allclose(tm.degrees_of_freedom_, dof, **tol)
    assert_allclose(tm.lower_bounds_, bounds, **tol)
    assert tm.means_.dtype == dtype


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_prediction_matches_reference(cov_type, seed):
    X, _ = _t_data(300, 3, 2, seed)
    tm = StudentTMixture(2, covariance_type=cov_type, nan_policy="marginalize", random_state=0)
    _quiet_fit(tm, _mask(X, 0.3, seed + 7))
    Xp = _mask(X[:90], 0.3, seed)
    Xp[5] = np.nan                       # nothing observed: the prior
    scales = ref.full_scales(tm.covariances_, cov_type, 2, 3)
    row_ll, resp, eu, _ = ref.e_step(Xp, tm.weights_, tm.means_, scales, tm.degrees_of_freedom_)
    assert_allclose(tm.predict_proba(Xp), resp, rtol=1e-9, atol=1e-12)
    assert_allclose(tm.score_samples(Xp), row_ll, rtol=1e-9, atol=1e-12)
    assert_array_equal(tm.predict(Xp), np.argmax(resp, axis=1))
    assert_allclose(tm.score(Xp), row_ll.mean(), rtol=1e-10)
    assert_allclose(tm.scale_weights(Xp, per_component=True), eu, rtol=1e-9)
    assert_allclose(tm.scale_weights(Xp), np.sum(resp * eu, axis=1), rtol=1e-9)
    assert_allclose(tm.predict_proba(Xp)[5], tm.weights_, rtol=1e-12)
    assert abs(tm.score_samples(Xp)[5]) < 1e-12
    assert_allclose(tm.scale_weights(Xp, per_component=True)[5], 1.0, rtol=1e-12)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_many_distinct_patterns_and_split_calls(cov_type):
    """Every row its own pattern, small chunks and slots, split kernel calls: the same sums."""
    X, _ = _t_data(200, 12, 2, 3)
    Xm = _mask(X, 0.5, 3)
    missing = _missing.group_patterns(Xm)
    assert missing.n_patterns > 190
    params = _params(_start(Xm, 2, cov_type, 3), cov_type)
    whole = st.t_missing_statistics(Xm, missing, *params, cov_type, 1, chunk_rows=4, slot_rows=8)
    split = st.t_missing_statistics(Xm, missing, *params, cov_type, 1, chunk_rows=4, slot_rows=8, range_slots=3)
    # Split calls add their slots in order after the earlier calls': bitwise one call.
    for name in ("nk", "h"):
        assert_array_equal(getattr(split, name), getattr(whole, name))
    for name in ("nk", "s1", "s2"):
        assert_array_equal(getattr(split.u_stats, name), getattr(whole.u_stats, name))
    assert split.loglik == whole.loglik
    default = st.t_missing_statistics(Xm, missing, *params, cov_type, 1)
    for name in ("nk", "h"):
        assert_allclose(getattr(default, name), getattr(whole, name), rtol=1e-11, atol=1e-9)
    for name in ("nk", "s1", "s2"):
        assert_allclose(getattr(default.u_stats, name), getattr(whole.u_stats, name), rtol=1e-11, atol=1e-9)
    assert_allclose(default.loglik, whole.loglik, rtol=1e-12)


# ---------------------------------------------------------------------------
# EM properties
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_lower_bound_never_decreases(cov_type):
    X, _ = _t_data(400, 3, 3, 5)
    Xm = _mask(X, 0.3, 5)
    tm = _quiet_fit(StudentTMixture(3, covariance_type=cov_type, nan_policy="marginalize", tol=0, max_iter=50,
                                    reg_covar=1e-10, random_state=0), Xm)
    lb = np.asarray(tm.lower_bounds_, dtype=np.float64)
    assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:]))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_twenty_percent_missing_is_close_to_complete_fit(cov_type):
    X, _ = _t_data(4000, 3, 3, 11)
    full = StudentTMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    miss = StudentTMixture(3, covariance_type=cov_type, random_state=0, nan_policy="marginalize")
    miss.fit(_mask(X, 0.2, 11))
    a, b = np.argsort(full.means_[:, 0]), np.argsort(miss.means_[:, 0])
    assert_allclose(miss.means_[b], full.means_[a], atol=0.2)
    assert_allclose(miss.weights_[b], full.weights_[a], atol=0.02)
    assert_allclose(miss.degrees_of_freedom_[b], full.degrees_of_freedom_[a], rtol=0.35)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_complete_data_is_the_default_fit_bitwise(cov_type, dtype):
    X, _ = _t_data(300, 3, 2, 1, dtype=dtype)
    a = StudentTMixture(2, covariance_type=cov_type, random_state=0).fit(X)
    b = StudentTMixture(2, covariance_type=cov_type, random_state=0, nan_policy="marginalize").fit(X)
    for name in ("weights_", "means_", "covariances_", "degrees_of_freedom_", "lower_bound_"):
        assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_complete_rows_score_as_without_missing_values(cov_type):
    X, _ = _t_data(400, 4, 2, 2)
    Xm = _mask(X, 0.05, 2)
    tm = StudentTMixture(2, covariance_type=cov_type, random_state=0, nan_policy="marginalize").fit(Xm)
    complete = ~np.isnan(Xm).any(axis=1)
    assert 0 < complete.sum() < len(X)
    assert_allclose(tm.score_samples(Xm)[complete], tm.score_samples(X[complete]), rtol=1e-13)
    assert_allclose(tm.predict_proba(Xm)[complete], tm.predict_proba(X[complete]), rtol=1e-12, atol=1e-15)
    assert_allclose(tm.scale_weights(Xm)[complete], tm.scale_weights(X[complete]), rtol=1e-13)


@needs_openmp
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_thread_invariance(cov_type, every_thread):
    X, _ = _t_data(3000, 5, 3, 4)
    Xm = _mask(X, 0.15, 4)
    sw = np.random.default_rng(4).uniform(0.5, 2, size=len(X))
    fits = [_quiet_fit(StudentTMixture(3, covariance_type=cov_type, random_state=0, nan_policy="marginalize",
                                       max_iter=6, tol=0, n_threads=t), Xm, sample_weight=sw) for t in (1, 2, 3)]
    for other in fits[1:]:
        for name in ("weights_", "means_", "covariances_", "degrees_of_freedom_", "lower_bounds_"):
            assert_array_equal(getattr(other, name), getattr(fits[0], name))
        for method in ("score_samples", "predict_proba", "predict", "scale_weights"):
            assert_array_equal(getattr(other, method)(Xm), getattr(fits[0], method)(Xm))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_streamed_memmap_equals_in_memory(cov_type, tmp_path):
    X, _ = _t_data(3000, 3, 3, 6)
    Xm = _mask(X, 0.1, 6)
    path = tmp_path / "x.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=Xm.dtype, shape=Xm.shape)
    mm[:] = Xm
    mm.flush()
    del mm
    start = _start(Xm, 3, cov_type, 6)
    a = _quiet_fit(_model(start, cov_type, 6), Xm)
    b = _quiet_fit(_model(start, cov_type, 6, block_rows=640), np.load(path, mmap_mode="r"))
    for name in ("weights_", "means_", "covariances_", "degrees_of_freedom_", "lower_bounds_"):
        assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-10, atol=1e-10, err_msg=name)


def test_partial_fit_first_batch_is_one_em_step():
    X, _ = _t_data(1000, 3, 2, 8)
    Xm = _mask(X, 0.2, 8)
    online = StudentTMixture(2, random_state=0, nan_policy="marginalize").partial_fit(Xm)
    batch = _quiet_fit(StudentTMixture(2, random_state=0, nan_policy="marginalize", max_iter=1), Xm)
    for name in ("weights_", "means_", "covariances_", "degrees_of_freedom_"):
        assert_allclose(getattr(online, name), getattr(batch, name), rtol=1e-10, err_msg=name)


def test_reinit_reseeds_an_empty_component_with_missing_values():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-4, 1, (300, 2)), rng.normal(4, 1, (300, 2))])
    X[::7, 1] = np.nan
    far = np.array([[-4.0, 0.0], [4.0, 0.0], [1e3, 1e3]])
    tm = StudentTMixture(3, means_init=far, nan_policy="marginalize", on_degenerate="reinit", random_state=0)
    _quiet_fit(tm, X)
    assert tm.degenerate_events_[0][1:] == (2, "empty", "reinit")
    assert np.all(np.isfinite(tm.means_)) and np.all(np.isfinite(tm.covariances_))


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

def test_a_row_with_every_value_missing_is_an_error_in_fit():
    X, _ = _t_data(100, 3, 2, 9)
    X[4] = np.nan
    with pytest.raises(ValueError, match=r"Row 4 of X has every value missing \(1 such row"):
        StudentTMixture(2, nan_policy="marginalize").fit(X)


@pytest.mark.parametrize("streamed", [False, True], ids=["in_memory", "memmap"])
def test_a_column_observed_in_fewer_than_two_rows_is_an_error(streamed, tmp_path):
    """The engine's column check (fastgmm.families._gaussian_missing.check_observed_columns) covers the Student-t family."""
    X, _ = _t_data(100, 3, 2, 11)
    X[:, 1] = np.nan
    X[7, 1] = 1.0                        # one observed value: no variance to estimate
    if streamed:
        np.save(tmp_path / "x.npy", X)
        X = np.load(tmp_path / "x.npy", mmap_mode="r")
    with pytest.raises(ValueError, match=r"StudentTMixture with nan_policy='marginalize' needs at least 2 observed "
                                         r"values in every column.*column 1 has 1"):
        StudentTMixture(2, nan_policy="marginalize", block_rows=40 if streamed else None).fit(X)


def test_kernel_missing_mode_refuses_inconsistent_tables():
    """The t missing mode needs a normaliser per observed dimension and, for statistics, psi."""
    X, _ = _t_data(50, 3, 2, 10)
    X[::7, 1] = np.nan
    w, m, pc, nu = np.full(2, 0.5), X[:2].copy(), np.ones(2), np.full(2, 5.0)
    m[np.isnan(m)] = 0.0
    shift, W, a0, nu = st.t_coefficients(w, m, pc, nu, "spherical")
    a, psi = st._t_missing_tables(w, m, pc, nu, "spherical", a0)
    arrays = _missing.missing_arrays(_missing.group_patterns(X), m, pc, "spherical", shift)
    out = dict(G_out=np.zeros(W.size), R_out=np.zeros(2), H_out=np.zeros(2), ll_out=np.zeros(1))
    args = (X, _estep.QSPHERICAL, shift, W)
    kw = {name: arrays[name] for name in ("pat_start", "miss_ptr", "miss_idx", "prec", "dev")}
    tail = (nu, None, 16, 64, *out.values(), 1, arrays["rows"])
    with pytest.raises(ValueError, match="each observed dimension"):
        _estep.accumulate_t_statistics(*args, a0, *tail, **kw, psi=psi)
    with pytest.raises(ValueError, match="need psi"):
        _estep.accumulate_t_statistics(*args, a, *tail, **kw)
    with pytest.raises(ValueError, match="missing mode"):
        _estep.accumulate_t_statistics(*args, a0, *tail)
    assert _estep.accumulate_t_statistics(*args, a, *tail, **kw, psi=psi) == 0
