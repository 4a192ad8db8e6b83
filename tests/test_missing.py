"""Missing values: nan_policy 'raise', 'omit' and 'marginalize' (exact EM), impute."""

import numpy as np
import pytest

from fastgmm import GaussianMixture
from fastgmm.families import _gaussian, _gaussian_missing as _missing
from _reference_missing import em_step_missing, estimate_missing, full_covariances, impute_missing

from conftest import COV_TYPES, mixture_data, needs_openmp


def _mask(X, frac, seed, keep_one=True):
    """X with a fraction ``frac`` of its entries NaN, completely at random (each row keeps one value)."""
    rng = np.random.default_rng(seed)
    Xm = X.copy()
    nan = rng.random(X.shape) < frac
    if keep_one:
        empty = nan.all(axis=1)
        nan[empty, rng.integers(X.shape[1], size=int(empty.sum()))] = False
    Xm[nan] = np.nan
    return Xm


def _start(X, K, cov_type, seed):
    """Initial parameters (weights, means, covariances in the type's shape) and precisions_init."""
    rng = np.random.default_rng(seed + 100)
    D = X.shape[1]
    weights = rng.dirichlet(np.full(K, 5.0))
    spread = np.nanstd(X.astype(np.float64), axis=0)
    means = np.nanmean(X.astype(np.float64), axis=0) + rng.normal(size=(K, D)) * spread
    if cov_type == "full":
        A = rng.normal(size=(K, D, D)) * 0.3
        cov = np.eye(D) * spread ** 2 + np.einsum("kij,klj->kil", A, A)
        prec = np.linalg.inv(cov)
    elif cov_type == "tied":
        A = rng.normal(size=(D, D)) * 0.3
        cov = np.eye(D) * spread ** 2 + A @ A.T
        prec = np.linalg.inv(cov)
    elif cov_type == "diag":
        cov = spread ** 2 * rng.uniform(0.5, 2.0, size=(K, D))
        prec = 1.0 / cov
    else:
        cov = np.mean(spread ** 2) * rng.uniform(0.5, 2.0, size=K)
        prec = 1.0 / cov
    return weights, means, cov, prec


def _reference_fit(Xm, params, cov_type, n_iter, reg_covar, sample_weight, eps):
    w, m, c = params
    bounds = []
    for _ in range(n_iter):
        (w, m, c), lb = em_step_missing(Xm, w, m, c, cov_type, reg_covar, sample_weight, eps=eps)
        bounds.append(lb)
    return w, m, c, bounds


# ---------------------------------------------------------------------------
# Exactness against the row-by-row reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_exact_em_matches_reference(cov_type, dtype, weighted, seed):
    X, _ = mixture_data(120, 4, 3, seed, dtype=dtype)
    Xm = _mask(X, 0.25, seed)
    K = 3
    weights, means, cov, prec = _start(Xm, K, cov_type, seed)
    sw = np.random.default_rng(seed).uniform(0.2, 3.0, size=len(X)) if weighted else None
    reg, n_iter = 1e-4, 4
    gm = GaussianMixture(K, covariance_type=cov_type, nan_policy="marginalize", weights_init=weights,
                         means_init=means, precisions_init=prec, max_iter=n_iter, tol=0, reg_covar=reg)
    with pytest.warns(Warning):   # did not converge at tol=0
        gm.fit(Xm, sample_weight=sw)
    eps = np.finfo(dtype).eps
    w, m, c, bounds = _reference_fit(Xm, (weights, means, cov), cov_type, n_iter, reg, sw, eps)
    tol = dict(rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gm.weights_, w, **tol)
    np.testing.assert_allclose(gm.means_, m, **tol)
    np.testing.assert_allclose(gm.covariances_, c, **tol)
    np.testing.assert_allclose(gm.lower_bounds_, bounds, **tol)
    assert gm.means_.dtype == dtype


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_prediction_and_impute_match_reference(cov_type, seed):
    X, _ = mixture_data(90, 3, 2, seed)
    Xm = _mask(X, 0.3, seed)
    Xm[5] = np.nan                   # a row with nothing observed: the prior
    gm = GaussianMixture(2, covariance_type=cov_type, nan_policy="marginalize", random_state=0)
    gm.fit(_mask(X, 0.3, seed + 7))
    covs = full_covariances(gm.covariances_, cov_type, 2, 3)
    resp, row_ll = estimate_missing(Xm, gm.weights_, gm.means_, covs)
    np.testing.assert_allclose(gm.predict_proba(Xm), resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gm.score_samples(Xm), row_ll, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(gm.predict(Xm), np.argmax(resp, axis=1))
    np.testing.assert_allclose(gm.score(Xm), row_ll.mean(), rtol=1e-10)
    np.testing.assert_allclose(gm.predict_proba(Xm)[5], gm.weights_, rtol=1e-12)
    assert abs(gm.score_samples(Xm)[5]) < 1e-12       # log sum_k w_k
    imputed = gm.impute(Xm)
    np.testing.assert_allclose(imputed, impute_missing(Xm, gm.weights_, gm.means_, gm.covariances_, cov_type),
                               rtol=1e-9, atol=1e-9)
    observed = ~np.isnan(Xm)
    np.testing.assert_array_equal(imputed[observed], Xm[observed])
    np.testing.assert_allclose(imputed[5], gm.weights_ @ gm.means_, rtol=1e-9)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_many_distinct_patterns(cov_type):
    """Every row its own pattern (runs of one row, cut by small chunks and slots): still the exact EM."""
    X, _ = mixture_data(200, 12, 2, 3)
    Xm = _mask(X, 0.5, 3)
    missing = _missing.group_patterns(Xm)
    assert missing.n_patterns > 190
    weights, means, cov, prec = _start(Xm, 2, cov_type, 3)
    pc = _gaussian.precision_cholesky(cov, cov_type)
    whole = _missing.missing_statistics(Xm, missing, weights, means, cov, pc, cov_type, 1)
    small = _missing.missing_statistics(Xm, missing, weights, means, cov, pc, cov_type, 1, chunk_rows=4,
                                        slot_rows=8)
    for name in ("nk", "s1", "s2"):
        np.testing.assert_allclose(getattr(small, name), getattr(whole, name), rtol=1e-11, atol=1e-9)
    np.testing.assert_allclose(small.loglik, whole.loglik, rtol=1e-12)
    # and the M-step from them is the reference's
    gm = GaussianMixture(2, covariance_type=cov_type, nan_policy="marginalize", weights_init=weights,
                         means_init=means, precisions_init=prec, max_iter=1, tol=0, reg_covar=1e-4)
    with pytest.warns(Warning):
        gm.fit(Xm)
    w, m, c, _ = _reference_fit(Xm, (weights, means, cov), cov_type, 1, 1e-4, None, np.finfo(float).eps)
    np.testing.assert_allclose(gm.means_, m, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gm.covariances_, c, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# EM properties
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_lower_bound_never_decreases(cov_type):
    X, _ = mixture_data(300, 3, 3, 5, scale=2.0)
    Xm = _mask(X, 0.3, 5)
    gm = GaussianMixture(3, covariance_type=cov_type, nan_policy="marginalize", tol=0, max_iter=60,
                         reg_covar=1e-10, random_state=0)
    with pytest.warns(Warning):
        gm.fit(Xm)
    lb = np.asarray(gm.lower_bounds_, dtype=np.float64)
    assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:]))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_twenty_percent_missing_is_close_to_complete_fit(cov_type):
    X, y = mixture_data(4000, 3, 3, 11, scale=6.0)
    Xm = _mask(X, 0.2, 11)
    full = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    miss = GaussianMixture(3, covariance_type=cov_type, random_state=0, nan_policy="marginalize").fit(Xm)
    a, b = np.argsort(full.means_[:, 0]), np.argsort(miss.means_[:, 0])
    np.testing.assert_allclose(miss.means_[b], full.means_[a], atol=0.15)
    np.testing.assert_allclose(miss.weights_[b], full.weights_[a], atol=0.02)
    np.testing.assert_allclose(miss.covariances_[b] if cov_type != "tied" else miss.covariances_,
                               full.covariances_[a] if cov_type != "tied" else full.covariances_,
                               atol=0.25 * np.max(full.covariances_))
    # and the missing entries are imputed better than by the column means
    nan = np.isnan(Xm)
    imputed = miss.impute(Xm)
    col = np.where(nan, np.nanmean(Xm, axis=0), Xm)
    assert np.mean((imputed[nan] - X[nan]) ** 2) < 0.8 * np.mean((col[nan] - X[nan]) ** 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_complete_data_is_the_default_fit_bitwise(cov_type, dtype):
    X, _ = mixture_data(300, 3, 2, 1, dtype=dtype)
    a = GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(X)
    b = GaussianMixture(2, covariance_type=cov_type, random_state=0, nan_policy="marginalize").fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert b.n_omitted_ == 0
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_complete_rows_keep_todays_coefficients(cov_type):
    """Among rows with NaNs, a fully observed row's outputs are the complete-data path's."""
    X, _ = mixture_data(400, 4, 2, 2)
    Xm = _mask(X, 0.05, 2)
    gm = GaussianMixture(2, covariance_type=cov_type, random_state=0, nan_policy="marginalize").fit(Xm)
    complete = ~np.isnan(Xm).any(axis=1)
    assert 0 < complete.sum() < len(X)
    np.testing.assert_allclose(gm.score_samples(Xm)[complete], gm.score_samples(X[complete]), rtol=1e-13)
    np.testing.assert_allclose(gm.predict_proba(Xm)[complete], gm.predict_proba(X[complete]), rtol=1e-12,
                               atol=1e-15)


@needs_openmp
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_thread_invariance(cov_type, every_thread):
    X, _ = mixture_data(3000, 5, 3, 4)
    Xm = _mask(X, 0.15, 4)
    sw = np.random.default_rng(4).uniform(0.5, 2, size=len(X))
    fits = [GaussianMixture(3, covariance_type=cov_type, random_state=0, nan_policy="marginalize", max_iter=8,
                            tol=0, n_threads=t) for t in (1, 2)]
    with pytest.warns(Warning):
        fits[0].fit(Xm, sample_weight=sw)
    with pytest.warns(Warning):
        fits[1].fit(Xm, sample_weight=sw)
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        np.testing.assert_array_equal(getattr(fits[0], name), getattr(fits[1], name))
    for method in ("score_samples", "predict_proba", "predict", "impute"):
        np.testing.assert_array_equal(getattr(fits[0], method)(Xm), getattr(fits[1], method)(Xm))


# ---------------------------------------------------------------------------
# Small and degenerate shapes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_fewer_rows_than_a_chunk_and_one_component(cov_type):
    X, _ = mixture_data(12, 3, 1, 6)
    Xm = _mask(X, 0.2, 6)
    for K in (1, 2):
        weights, means, cov, prec = _start(Xm, K, cov_type, 6)
        gm = GaussianMixture(K, covariance_type=cov_type, nan_policy="marginalize", weights_init=weights,
                             means_init=means, precisions_init=prec, max_iter=3, tol=0, reg_covar=1e-3)
        with pytest.warns(Warning):
            gm.fit(Xm)
        w, m, c, bounds = _reference_fit(Xm, (weights, means, cov), cov_type, 3, 1e-3, None, np.finfo(float).eps)
        np.testing.assert_allclose(gm.means_, m, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(gm.covariances_, c, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(gm.lower_bounds_, bounds, rtol=1e-6, atol=1e-6)
    # default initialisation: too few complete rows for k-means, so column means
    GaussianMixture(2, covariance_type=cov_type, nan_policy="marginalize", random_state=0).fit(Xm)


def test_one_feature_rows_are_complete_or_empty():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(-3, 1, 100), rng.normal(3, 1, 100)][:, None]
    Xm = X.copy()
    Xm[::7] = np.nan
    with pytest.raises(ValueError, match=r"Row 0 of X has every value missing \(29 such row"):
        GaussianMixture(2, nan_policy="marginalize").fit(Xm)
    gm = GaussianMixture(2, nan_policy="marginalize", random_state=0).fit(X)
    proba = gm.predict_proba(Xm)
    np.testing.assert_allclose(proba[::7], np.broadcast_to(gm.weights_, (29, 2)), rtol=1e-12)
    np.testing.assert_array_equal(proba[1:7], gm.predict_proba(X[1:7]))
    np.testing.assert_allclose(gm.score_samples(Xm)[::7], 0.0, atol=1e-12)
    np.testing.assert_allclose(gm.impute(Xm)[::7, 0], gm.weights_ @ gm.means_[:, 0])
    np.testing.assert_array_equal(gm.predict(Xm)[::7], np.argmax(gm.weights_))


# ---------------------------------------------------------------------------
# nan_policy 'raise' and 'omit', validation
# ---------------------------------------------------------------------------

def test_raise_says_how_many_and_where():
    X, _ = mixture_data(50, 3, 2, 0)
    X[[4, 4, 9], [1, 2, 0]] = np.nan
    with pytest.raises(ValueError, match=r"^Input X contains NaN\. The first is at row 4, column 1; X has 3 NaN "
                                         r"values in 2 rows\. GaussianMixture does not accept missing values"):
        GaussianMixture(2).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(np.nan_to_num(X))
    with pytest.raises(ValueError, match="nan_policy='marginalize'"):
        gm.predict(X)


@pytest.mark.parametrize("policy", ["omit", "marginalize"])
def test_infinity_is_always_an_error(policy):
    X, _ = mixture_data(50, 3, 2, 0)
    X[3, 1] = np.nan
    X[7, 2] = np.inf
    with pytest.raises(ValueError, match=r"^Input X contains infinity.*row 7, column 2"):
        GaussianMixture(2, nan_policy=policy).fit(X)


def test_invalid_policy():
    with pytest.raises(ValueError, match="'nan_policy' parameter of GaussianMixture must be a str among"):
        GaussianMixture(nan_policy="ignore").fit(np.ones((5, 2)))


@pytest.mark.parametrize("weighted", [False, True])
def test_omit_drops_the_rows_with_nan(weighted):
    X, _ = mixture_data(200, 3, 2, 0)
    Xm = _mask(X, 0.1, 0)
    kept = ~np.isnan(Xm).any(axis=1)
    sw = np.random.default_rng(0).uniform(0.5, 2, size=len(X)) if weighted else None
    gm = GaussianMixture(2, nan_policy="omit", random_state=0).fit(Xm, sample_weight=sw)
    ref = GaussianMixture(2, random_state=0).fit(X[kept], sample_weight=None if sw is None else sw[kept])
    assert gm.n_omitted_ == int((~kept).sum()) > 0
    np.testing.assert_array_equal(gm.means_, ref.means_)
    np.testing.assert_array_equal(gm.covariances_, ref.covariances_)
    labels = GaussianMixture(2, nan_policy="omit", random_state=0).fit_predict(Xm, sample_weight=sw)
    np.testing.assert_array_equal(labels[~kept], -1)
    np.testing.assert_array_equal(labels[kept], ref.predict(X[kept]))
    with pytest.raises(ValueError, match="^Input X contains NaN"):
        gm.predict(Xm)
    np.testing.assert_array_equal(gm.predict(X[kept]), ref.predict(X[kept]))


def test_initialisation_uses_complete_rows_when_enough():
    X, _ = mixture_data(400, 3, 2, 8)
    Xm = _mask(X, 0.1, 8)
    kept = ~np.isnan(Xm).any(axis=1)
    a = GaussianMixture(2, nan_policy="marginalize", random_state=0, max_iter=0).fit(Xm)
    b = GaussianMixture(2, random_state=0, max_iter=0).fit(X[kept])
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)


def test_initialisation_falls_back_to_column_means():
    X, _ = mixture_data(400, 8, 2, 9, scale=8.0)
    Xm = _mask(X, 0.5, 9)                # 0.5^8 * 400: about 2 complete rows
    missing = _missing.group_patterns(Xm)
    from fastgmm.families._gaussian_init import initialisation_rows
    Xi, _ = initialisation_rows(Xm, None, missing, 2)
    assert Xi.shape == X.shape
    assert not np.isnan(Xi).any()
    np.testing.assert_allclose(Xi[np.isnan(Xm)], np.broadcast_to(np.nanmean(Xm, axis=0), X.shape)[np.isnan(Xm)])
    full = GaussianMixture(2, random_state=0).fit(X)
    miss = GaussianMixture(2, random_state=0, nan_policy="marginalize").fit(Xm)
    a, b = np.argsort(full.means_[:, 0]), np.argsort(miss.means_[:, 0])
    np.testing.assert_allclose(miss.means_[b], full.means_[a], atol=0.5)


# ---------------------------------------------------------------------------
# Columns with too few observed values (nothing to estimate them from)
# ---------------------------------------------------------------------------

def _column_data(observed_rows):
    """200 x 3 rows of two clusters whose column 1 is observed in ``observed_rows`` only."""
    X, _ = mixture_data(200, 3, 2, 0, scale=6.0)
    keep = np.zeros(len(X), dtype=bool)
    keep[list(observed_rows)] = True
    X[~keep, 1] = np.nan
    return X


def test_a_column_missing_in_every_row_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"column 1 has 0\. .*Drop such columns .*np\.delete\(X, \[1\], axis=1\)"):
        GaussianMixture(2, nan_policy="marginalize", random_state=0).fit(_column_data([]))


def test_a_dataframe_column_missing_in_every_row_is_named():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(_column_data([]), columns=["height", "weight", "age"])
    with pytest.raises(ValueError, match=r"column 1 \('weight'\) has 0\. .*X\.drop\(columns=\['weight'\]\)"):
        GaussianMixture(2, nan_policy="marginalize", random_state=0).fit(df)


def test_a_column_observed_once_is_an_error():
    with pytest.raises(ValueError, match=r"at least 2 observed values in every column .* column 1 has 1\."):
        GaussianMixture(2, nan_policy="marginalize", random_state=0).fit(_column_data([7]))


def test_a_column_observed_only_in_rows_of_weight_zero_is_an_error():
    X = _column_data([3, 4, 5])
    sw = np.ones(len(X))
    sw[[3, 4]] = 0.0            # row 5 alone observes column 1 in the fit
    with pytest.raises(ValueError, match=r"observed values \(in rows with a positive sample_weight\) in every "
                                         r"column .* column 1 has 1\."):
        GaussianMixture(2, nan_policy="marginalize", random_state=0).fit(X, sample_weight=sw)


def test_a_column_observed_twice_fits():
    X = _column_data([3, 150])
    gm = GaussianMixture(2, nan_policy="marginalize", random_state=0).fit(X)
    assert np.all(np.isfinite(gm.means_)) and gm.converged_


def test_observed_counts_from_patterns_equal_a_direct_count():
    X = _mask(mixture_data(300, 5, 2, 1)[0], 0.4, 1)
    sw = np.random.default_rng(1).integers(0, 3, size=len(X)).astype(np.float64)
    expected = np.count_nonzero(~np.isnan(X) & (sw > 0)[:, None], axis=0)
    missing = _missing.group_patterns(X)
    np.testing.assert_array_equal(_missing.observed_counts(X, sw, missing), expected)
    np.testing.assert_array_equal(_missing.observed_counts(X, sw), expected)


def test_a_memmap_column_missing_in_every_row_is_an_error(tmp_path):
    X = _column_data([])
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64, shape=X.shape)
    mm[:] = X
    mm.flush()
    with pytest.raises(ValueError, match=r"column 1 has 0\."):
        GaussianMixture(2, nan_policy="marginalize", random_state=0, block_rows=64).fit(
            np.load(tmp_path / "x.npy", mmap_mode="r"))


def test_a_dask_column_observed_only_in_rows_of_weight_zero_is_an_error():
    da = pytest.importorskip("dask.array")
    X = _column_data([3, 120])
    sw = np.ones(len(X))
    sw[3] = 0.0
    with pytest.raises(ValueError, match=r"column 1 has 1\."):
        GaussianMixture(2, nan_policy="marginalize", random_state=0).fit(da.from_array(X, chunks=(64, 3)),
                                                                          sample_weight=sw)


def test_partial_fit_checks_the_first_batch_only():
    X = _column_data(range(0, 200, 2))
    gm = GaussianMixture(2, nan_policy="marginalize", random_state=0)
    with pytest.raises(ValueError, match=r"column 1 has 0\."):
        gm.partial_fit(X[1::2])          # the odd rows: column 1 never observed, nothing to start it from
    gm.partial_fit(X[:100])
    gm.partial_fit(X[101:102])           # one row without column 1: completed from the running model
    assert gm.n_steps_ == 2
