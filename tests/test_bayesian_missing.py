"""BayesianGaussianMixture with nan_policy='marginalize': missing values as latent variables of the VB fit.

The references here are row by row and written to be obviously right: the
E-step of a row with NaNs is E[log pi_k] + c_k + log N(x_o | m_ko,
(covariances_k)_oo) (scipy's density of the observed part), softmax; the
completed statistics are the conditional means and covariances of the
missing coordinates under N(m_k, covariances_k). They use no fastgmm maths.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import digamma, logsumexp
from scipy.stats import multivariate_normal

from fastgmm import BayesianGaussianMixture
from fastgmm.sources._nan import group_patterns

from conftest import COV_TYPES, mixture_data, needs_openmp

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "mean_precision_", "degrees_of_freedom_",
          "mean_prior_", "covariance_prior_")

pytestmark = [pytest.mark.filterwarnings("ignore::fastgmm.ConvergenceWarning")]


def _mask(X, frac, seed):
    """X with a fraction ``frac`` of its entries NaN at random, every row keeping one value."""
    rng = np.random.default_rng(seed)
    nan = rng.random(X.shape) < frac
    empty = nan.all(axis=1)
    nan[empty, rng.integers(X.shape[1], size=int(empty.sum()))] = False
    Xm = X.copy()
    Xm[nan] = np.nan
    return Xm


def _fit(Xm, cov_type, prior_type="dirichlet_process", sample_weight=None, **kw):
    params = dict(n_components=3, covariance_type=cov_type, weight_concentration_prior_type=prior_type,
                  nan_policy="marginalize", random_state=0, max_iter=10, tol=0.0)
    params.update(kw)
    return BayesianGaussianMixture(**params).fit(Xm, sample_weight=sample_weight)


# ---------------------------------------------------------------------------
# The row-by-row reference
# ---------------------------------------------------------------------------

def _full_covariances(model):
    cov = np.asarray(model.covariances_, dtype=np.float64)
    K, D = model.means_.shape
    if model.covariance_type == "full":
        return cov
    if model.covariance_type == "tied":
        return np.broadcast_to(cov, (K, D, D))
    if model.covariance_type == "diag":
        return np.array([np.diag(c) for c in cov])
    return np.array([c * np.eye(D) for c in cov])


def _log_weights(model):
    """E[log pi_k] + c_k, c_k = 1/2 (E log|Lambda_k| - log|nu_k W_k|) - D / (2 beta_k), from the attributes."""
    K, D = model.means_.shape
    if model.weight_concentration_prior_type == "dirichlet_process":
        a, b = (np.asarray(c, dtype=np.float64) for c in model.weight_concentration_)
        e_log_v = digamma(a) - digamma(a + b)
        e_log_rest = digamma(b) - digamma(a + b)
        e_log_pi = np.array([e_log_v[k] + e_log_rest[:k].sum() for k in range(K)])
    else:
        wc = np.asarray(model.weight_concentration_, dtype=np.float64)
        e_log_pi = digamma(wc) - digamma(wc.sum())
    dof = np.broadcast_to(np.asarray(model.degrees_of_freedom_, dtype=np.float64), (K,))
    beta = np.asarray(model.mean_precision_, dtype=np.float64)
    c = np.empty(K)
    for k in range(K):
        # E log|Lambda| - log|nu W| = sum_j digamma((nu - j) / 2) + D log 2 - D log nu
        gap = sum(digamma((dof[k] - j) / 2.0) for j in range(D)) + D * np.log(2.0) - D * np.log(dof[k])
        c[k] = 0.5 * gap - D / (2.0 * beta[k])
    return e_log_pi + c


def _reference_estep(model, X):
    """(responsibilities (N, K), log-normalisers (N,)) of the rows of X, one at a time."""
    means = np.asarray(model.means_, dtype=np.float64)
    covs = _full_covariances(model)
    lw = _log_weights(model)
    K = len(lw)
    resp, lse = np.empty((X.shape[0], K)), np.empty(X.shape[0])
    for i, x in enumerate(np.asarray(X, dtype=np.float64)):
        o = ~np.isnan(x)
        lp = np.array([lw[k] + multivariate_normal.logpdf(x[o], means[k, o], covs[k][np.ix_(o, o)])
                       for k in range(K)])
        lse[i] = logsumexp(lp)
        resp[i] = np.exp(lp - lse[i])
    return resp, lse


def _reference_completed(model, X, sample_weight, centre):
    """(nk, s1, s2 full (K, D, D), entropy) of one E-step: conditional means and covariances, row by row.

    entropy = sum_i w_i sum_k r_ik (H[q(x_m | k)] - log r_ik), the ELBO's -E[log q(z, x_m)].
    """
    means = np.asarray(model.means_, dtype=np.float64)
    covs = _full_covariances(model)
    resp, _ = _reference_estep(model, X)
    K, D = means.shape
    nk, s1, s2 = np.zeros(K), np.zeros((K, D)), np.zeros((K, D, D))
    entropy = 0.0
    for i, x in enumerate(np.asarray(X, dtype=np.float64)):
        o = ~np.isnan(x)
        m = ~o
        w = 1.0 if sample_weight is None else sample_weight[i]
        for k in range(K):
            S = covs[k]
            reg = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
            xhat = x.copy()
            xhat[m] = means[k, m] + reg @ (x[o] - means[k, o])
            C = np.zeros((D, D))
            C[np.ix_(m, m)] = S[np.ix_(m, m)] - reg @ S[np.ix_(o, m)]
            z = xhat - centre
            r = w * resp[i, k]
            nk[k] += r
            s1[k] += r * z
            s2[k] += r * (np.outer(z, z) + C)
            h = 0.5 * np.linalg.slogdet(2 * np.pi * np.e * C[np.ix_(m, m)])[1] if m.any() else 0.0
            entropy += r * (h - np.log(resp[i, k]))
    return nk, s1, s2, entropy


def _as_type(s2_full, cov_type):
    if cov_type == "full":
        return s2_full
    if cov_type == "tied":
        return s2_full.sum(axis=0)
    diag = np.diagonal(s2_full, axis1=1, axis2=2)
    return diag if cov_type == "diag" else diag.sum(axis=1)


# ---------------------------------------------------------------------------
# Exactness
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-8), (np.float32, 1e-4)], ids=["float64", "float32"])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_predictions_equal_the_row_by_row_estep(cov_type, prior_type, dtype, tol, seed):
    X, _ = mixture_data(150, 4, 3, seed, dtype=dtype)
    Xm = _mask(X, 0.3, seed)
    sw = np.random.default_rng(seed).uniform(0.2, 3.0, size=len(X))
    model = _fit(Xm, cov_type, prior_type, sample_weight=sw)
    resp, lse = _reference_estep(model, Xm)
    assert_allclose(model.predict_proba(Xm), resp, rtol=tol, atol=tol)
    assert_allclose(model.score_samples(Xm), lse, rtol=tol, atol=tol)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_one_pass_completed_statistics_equal_the_row_by_row_ones(cov_type, seed):
    X, _ = mixture_data(80, 3, 3, seed)
    Xm = _mask(X, 0.35, seed)
    sw = np.random.default_rng(seed + 1).uniform(0.2, 3.0, size=len(X))
    model = _fit(Xm, cov_type, sample_weight=sw, max_iter=3)
    stats = model._statistics(Xm, sw, model._get_parameters(), 1, missing=group_patterns(Xm))
    nk, s1, s2, _ = _reference_completed(model, Xm, sw, stats.gauss.centre)
    got = (stats.gauss.nk, stats.gauss.s1, stats.gauss.s2)
    for name, a, b in zip(("nk", "s1", "s2"), got, (nk, s1, _as_type(s2, cov_type))):
        assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.max(np.abs(b)), err_msg=name)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_entropy_term_is_minus_the_expected_log_q(cov_type, seed):
    """The bound's entropy term on completed statistics is sum w r (H[q(x_m | k)] - log r): the true ELBO's."""
    X, _ = mixture_data(80, 3, 3, seed)
    Xm = _mask(X, 0.35, seed)
    sw = np.random.default_rng(seed + 2).uniform(0.2, 3.0, size=len(X))
    model = _fit(Xm, cov_type, sample_weight=sw, max_iter=3)
    stats = model._statistics(Xm, sw, model._get_parameters(), 1, missing=group_patterns(Xm))
    *_, entropy = _reference_completed(model, Xm, sw, stats.gauss.centre)
    assert_allclose(stats.entropy, entropy, rtol=1e-9)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_lower_bound_never_decreases(cov_type, prior_type):
    X, _ = mixture_data(800, 3, 3, 10, scale=6.0)
    Xm = _mask(X, 0.25, 10)
    model = _fit(Xm, cov_type, prior_type, n_components=6, init_params="random", max_iter=200, tol=1e-8,
                 reg_covar=0)
    lb = np.array(model.lower_bounds_, dtype=np.float64)
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_data_without_nan_is_the_default_fit_bitwise(cov_type, dtype):
    X, _ = mixture_data(300, 3, 3, 1, dtype=dtype)
    a = _fit(X, cov_type, nan_policy="raise")
    b = _fit(X, cov_type)
    for name in FITTED + ("lower_bounds_",):
        assert_array_equal(np.asarray(getattr(b, name)), np.asarray(getattr(a, name)), err_msg=name)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_complete_rows_among_nan_rows_score_as_without_nan(cov_type):
    X, _ = mixture_data(300, 4, 3, 2)
    Xm = _mask(X, 0.05, 2)
    model = _fit(Xm, cov_type)
    complete = ~np.isnan(Xm).any(axis=1)
    assert_array_equal(model.score_samples(Xm)[complete], model.score_samples(X[complete]))


def test_default_priors_are_the_moments_of_the_observed_values():
    X, _ = mixture_data(400, 3, 3, 4)
    Xm = _mask(X, 0.3, 4)
    model = _fit(Xm, "full", max_iter=1)
    assert_allclose(model.mean_prior_, np.nanmean(Xm, axis=0), rtol=1e-12)
    assert_allclose(model.covariance_prior_, np.diag(np.nanvar(Xm, axis=0, ddof=1)), rtol=1e-12)


def test_a_row_with_nothing_observed_gets_the_expected_weights_constants():
    X, _ = mixture_data(200, 3, 3, 5)
    model = _fit(_mask(X, 0.2, 5), "full")
    empty = np.full((1, 3), np.nan)
    lw = _log_weights(model)
    assert_allclose(model.predict_proba(empty)[0], np.exp(lw - logsumexp(lw)), rtol=1e-12)


# ---------------------------------------------------------------------------
# Threads, streamed sources, online
# ---------------------------------------------------------------------------

@needs_openmp
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_thread_invariance(cov_type, every_thread):
    X, _ = mixture_data(3000, 5, 3, 4)
    Xm = _mask(X, 0.15, 4)
    sw = np.random.default_rng(4).uniform(0.5, 2, size=len(X))
    fits = [_fit(Xm, cov_type, sample_weight=sw, max_iter=8, n_threads=t) for t in (1, 2)]
    for name in FITTED + ("lower_bounds_",):
        assert_array_equal(np.asarray(getattr(fits[0], name)), np.asarray(getattr(fits[1], name)), err_msg=name)
    for method in ("score_samples", "predict_proba"):
        assert_array_equal(getattr(fits[0], method)(Xm), getattr(fits[1], method)(Xm), err_msg=method)


def _assert_same_fit(a, b, tol=1e-10):
    for name in FITTED:
        assert_allclose(np.asarray(getattr(b, name)), np.asarray(getattr(a, name)), rtol=tol, atol=tol,
                        err_msg=name)
    assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=tol)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_memmap_blocks_equal_in_memory(tmp_path, cov_type):
    X, _ = mixture_data(1500, 3, 3, 6)
    Xm = _mask(X, 0.2, 6)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64, shape=Xm.shape)
    mm[:] = Xm
    mm.flush()
    a = _fit(Xm, cov_type)
    b = _fit(mm, cov_type, block_rows=400)
    _assert_same_fit(a, b)
    assert_allclose(b.score_samples(mm), a.score_samples(Xm), rtol=1e-10)


def test_dask_equals_in_memory():
    da = pytest.importorskip("dask.array")
    import dask

    X, _ = mixture_data(1500, 3, 3, 7)
    Xm = _mask(X, 0.2, 7)
    sw = np.random.default_rng(7).uniform(0.5, 2, size=len(X))
    with dask.config.set(scheduler="synchronous"):
        a = _fit(Xm, "full", sample_weight=sw)
        b = _fit(da.from_array(Xm, chunks=(400, 3)), "full", sample_weight=da.from_array(sw, chunks=400))
    _assert_same_fit(a, b)


def test_partial_fit_on_a_first_batch_with_nan_is_one_fit_iteration():
    X, _ = mixture_data(600, 3, 3, 8)
    Xm = _mask(X, 0.2, 8)
    online = BayesianGaussianMixture(n_components=3, nan_policy="marginalize", random_state=0).partial_fit(Xm)
    batch = _fit(Xm, "full", max_iter=1)
    _assert_same_fit(batch, online, tol=1e-12)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_partial_fit_on_batches_with_nan_follows_the_complete_batches(cov_type):
    X, _ = mixture_data(3000, 3, 3, 9, scale=6.0)
    Xm = _mask(X, 0.2, 9)
    models = [BayesianGaussianMixture(n_components=3, covariance_type=cov_type, nan_policy="marginalize",
                                      random_state=0) for _ in range(2)]
    for i in range(3):
        models[0].partial_fit(Xm[i * 1000:(i + 1) * 1000])
        models[1].partial_fit(X[i * 1000:(i + 1) * 1000])
    a, b = (np.argsort(m.means_[:, 0]) for m in models)
    assert_allclose(models[0].means_[a], models[1].means_[b], atol=0.3)
