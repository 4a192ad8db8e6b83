"""The float32 compute path of the fit pass (``_estep._chunk32``).

float32 data with full, diag or spherical covariances are computed in float32 (features,
SGEMMs, log-sum-exp) when ``_gaussian.float32_coefficients`` says every
component lies close enough to the shift; the chunk sums are added into
float64 partials. Checked here: the path is taken where it should be and not
elsewhere, its statistics against the NumPy reference at float32 tolerances,
bitwise thread invariance, a whole fit against the float64 fit of the same
values, the fallback of an overflowing chunk to float64, and the float32 exp.
"""

import numpy as np
import pytest
from scipy.special import logsumexp

from fastgmm import GaussianMixture
from fastgmm.families import _gaussian
from fastgmm.families._gaussian_passes import gaussian_statistics
from fastgmm.kernels import _estep

import _reference as ref
from conftest import mixture_data, needs_openmp

FAST_TYPES = ["full", "diag", "spherical"]


def _params(rng, X, K, cov_type):
    """Weights, means near rows of X and random well-conditioned covariances, as precision factors."""
    N, D = X.shape
    weights = rng.dirichlet(np.full(K, 3.0))
    means = X[rng.choice(N, K, replace=False)].astype(np.float64) + rng.normal(0, 0.1, (K, D))
    covs = []
    for _ in range(K):
        A = rng.normal(size=(D, D))
        covs.append(A @ A.T / D + 0.5 * np.eye(D))
    covs = np.array(covs)
    if cov_type == "diag":
        covs = np.array([np.diag(c) for c in covs])
    elif cov_type == "spherical":
        covs = np.array([np.diag(c).mean() for c in covs])
    return weights, means, ref.compute_precision_cholesky(covs, cov_type)


def _uses_float32(weights, means, pc, cov_type):
    shift, W, _ = _gaussian.kernel_coefficients(weights, means, pc, cov_type)
    return _gaussian.float32_coefficients(W, weights, pc, cov_type, shift, means) is not None


def _overlapping(rng, N, D, K):
    """float32 rows of K overlapping unit-variance blobs (means drawn with scale 1)."""
    centres = rng.normal(0, 1, (K, D))
    return (centres[rng.integers(0, K, N)] + rng.normal(size=(N, D))).astype(np.float32)


@pytest.mark.parametrize("cov_type", FAST_TYPES)
def test_overlapping_components_take_the_float32_path(cov_type, rng):
    X = _overlapping(rng, 500, 5, 4)
    assert _uses_float32(*_params(rng, X, 4, cov_type), cov_type)


@pytest.mark.parametrize("cov_type", FAST_TYPES)
def test_components_far_from_the_shift_stay_float64(cov_type, rng):
    """Components 1,000 sigma apart: the cancellation bound sends the pass to float64, bitwise."""
    D, K = 3, 3
    centres = rng.normal(0, 1000, (K, D))
    X = (centres[rng.integers(0, K, 900)] + rng.normal(size=(900, D))).astype(np.float32)
    weights, _, pc = _params(rng, X, K, cov_type)
    assert not _uses_float32(weights, centres, pc, cov_type)
    a = gaussian_statistics(X, weights, centres, pc, cov_type, 2, allow_float32=True)
    b = gaussian_statistics(X, weights, centres, pc, cov_type, 2)
    np.testing.assert_array_equal(a.s2, b.s2)
    assert a.loglik == b.loglik


def test_tied_stays_float64():
    W = np.zeros((_gaussian.n_features_out("tied", 2), 1))
    assert _gaussian.float32_coefficients(W, np.ones(1), np.eye(2), "tied", np.zeros(2), np.zeros((1, 2))) is None


@pytest.mark.parametrize("cov_type", FAST_TYPES)
@pytest.mark.parametrize(
    "N, D, K, chunk, slot",
    [
        (1, 3, 2, 16, 32),          # a single row
        (37, 3, 4, 16, 32),         # partial last chunk, partial last slot
        (700, 11, 3, 64, 128),      # odd D past one 8-lane block
        (2000, 16, 5, None, None),  # the production layout; even D (half-length last circulant run)
        (300, 1, 3, 32, 64),        # D = 1
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_float32_statistics_match_reference(cov_type, N, D, K, chunk, slot, weighted, seed):
    """Statistics and log-likelihood of the float32 path against float64 NumPy on the same values.

    Tolerances are float32's: sums relative to their scale (every term of a
    sum carries its float32 rounding, 6e-8 relative, times the cancellation
    of a few units these well-placed components have).
    """
    rng = np.random.default_rng(seed)
    X = _overlapping(rng, N, D, 3)
    weights, means, pc = _params(rng, X, K, cov_type) if N >= K else _params(rng, np.repeat(X, K, 0), K, cov_type)
    assert _uses_float32(weights, means, pc, cov_type)
    w = rng.uniform(0, 3, N) if weighted else None
    if weighted:
        w[rng.random(N) < 0.2] = 0.0
    stats = gaussian_statistics(X, weights, means, pc, cov_type, 2, sample_weight=w, chunk_rows=chunk,
                                slot_rows=slot, allow_float32=True)
    X64 = X.astype(np.float64)
    wlp = ref.estimate_weighted_log_prob(X64, weights, means, pc, cov_type)
    row_ll = logsumexp(wlp, axis=1)
    r = np.exp(wlp - row_ll[:, None]) * (1.0 if w is None else w[:, None])
    Z = X64 - stats.centre
    nk = r.sum(axis=0)
    s1 = r.T @ Z
    s2 = {"full": lambda: np.einsum("nk,nd,ne->kde", r, Z, Z), "diag": lambda: r.T @ (Z * Z),
          "spherical": lambda: r.T @ np.sum(Z * Z, axis=1)}[cov_type]()
    np.testing.assert_allclose(stats.loglik, row_ll @ (np.ones(N) if w is None else w), rtol=1e-6)
    scale = max(1.0, r.sum())
    np.testing.assert_allclose(stats.nk, nk, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(stats.s1, s1, rtol=0, atol=1e-6 * scale * np.abs(Z).max())
    np.testing.assert_allclose(stats.s2, s2, rtol=0, atol=1e-6 * scale * np.abs(Z).max() ** 2)


@pytest.mark.parametrize("cov_type", FAST_TYPES)
def test_zero_weight_component_in_the_float32_path(cov_type, rng):
    """A component of weight 0 (coefficient -inf in both precisions) gets nothing; the others are right."""
    X = _overlapping(rng, 800, 4, 3)
    weights, means, pc = _params(rng, X, 3, cov_type)
    weights = np.array([0.0, weights[1], weights[2]]) / (weights[1] + weights[2])
    assert _uses_float32(weights, means, pc, cov_type)
    a = gaussian_statistics(X, weights, means, pc, cov_type, 2, allow_float32=True)
    b = gaussian_statistics(X.astype(np.float64), weights, means, pc, cov_type, 2)
    assert a.nk[0] == 0.0
    assert a.loglik == pytest.approx(b.loglik, rel=1e-6)
    np.testing.assert_allclose(a.nk, b.nk, rtol=1e-5)


@needs_openmp
@pytest.mark.parametrize("cov_type", FAST_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_float32_statistics_bitwise_identical_for_any_thread_count(cov_type, weighted, seed, every_thread):
    rng = np.random.default_rng(seed)
    X = _overlapping(rng, 3000, 6, 4)
    weights, means, pc = _params(rng, X, 4, cov_type)
    assert _uses_float32(weights, means, pc, cov_type)
    w = rng.uniform(0, 2, len(X)) if weighted else None
    runs = [gaussian_statistics(X, weights, means, pc, cov_type, t, sample_weight=w, chunk_rows=32,
                                slot_rows=96, allow_float32=True) for t in (1, 2, 3, 4)]
    for other in runs[1:]:
        for name in ("nk", "s1", "s2"):
            np.testing.assert_array_equal(getattr(other, name), getattr(runs[0], name), err_msg=name)
        assert other.loglik == runs[0].loglik


@needs_openmp
@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
@pytest.mark.parametrize("cov_type", FAST_TYPES)
def test_float32_fit_bitwise_identical_for_any_thread_count(cov_type):
    X, _ = mixture_data(4000, 5, 3, 7, dtype=np.float32, scale=1.0)
    kw = dict(covariance_type=cov_type, random_state=0, max_iter=5, tol=0)
    fits = [GaussianMixture(3, n_threads=t, **kw).fit(X) for t in (1, 2)]
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    np.testing.assert_array_equal(fits[0].covariances_, fits[1].covariances_)
    assert fits[0].lower_bound_ == fits[1].lower_bound_


@pytest.mark.parametrize("dtype, expected", [(np.float32, True), (np.float64, False)])
@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
def test_fit_passes_take_the_float32_path_for_float32_data_only(dtype, expected, monkeypatch):
    calls = []
    original = _gaussian.float32_coefficients

    def spy(*args):
        W32 = original(*args)
        calls.append(W32 is not None)
        return W32

    monkeypatch.setattr(_gaussian, "float32_coefficients", spy)
    X, _ = mixture_data(2000, 4, 3, 5, dtype=dtype, scale=1.0)
    GaussianMixture(3, covariance_type="full", random_state=0, max_iter=3, tol=0).fit(X)
    if expected:
        assert len(calls) >= 3 and all(calls)
    else:
        assert calls == []


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
@pytest.mark.parametrize("cov_type", FAST_TYPES)
def test_float32_fit_matches_the_float64_fit_of_the_same_values(cov_type):
    """A float32 fit (float32 passes) and the float64 fit of the same values, same start.

    The lower bound agrees to 1e-6 relative; the parameters to float32
    accuracy after 30 iterations (means on the scale of the standard
    deviations, covariances relative to their largest entry).
    """
    rng = np.random.default_rng(11)
    X32 = _overlapping(rng, 20000, 8, 6)
    X64 = X32.astype(np.float64)
    weights, means, pc = _params(rng, X32, 6, cov_type)
    assert _uses_float32(weights, means, pc, cov_type)
    prec = pc @ np.swapaxes(pc, -1, -2) if cov_type == "full" else pc ** 2
    kw = dict(covariance_type=cov_type, weights_init=weights, means_init=means, precisions_init=prec,
              max_iter=30, tol=0)
    a = GaussianMixture(6, **kw).fit(X32)
    b = GaussianMixture(6, **kw).fit(X64)
    assert a.n_iter_ == b.n_iter_ == 30
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-6, abs=0)
    sd = np.sqrt(np.max(b.covariances_))
    np.testing.assert_allclose(a.means_, b.means_, rtol=0, atol=1e-4 * sd)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=0, atol=1e-4 * np.max(b.covariances_))
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cov_type", FAST_TYPES)
def test_pass_near_the_limit_keeps_the_log_likelihood(cov_type):
    """Components moved 8 sigma per coordinate from the shift (cancellation factor ~90, under the
    limit of 128): the pass's log-likelihood within 1e-7 relative of float64's. The first-order
    correction for W's rounding (``float32_loglik_correction``) is what holds it there: without it
    this pass is 4e-7 off, a bias of the same sign for every row."""
    rng = np.random.default_rng(0)
    D, K = 8, 4
    centres = rng.normal(0, 1, (K, D))
    centres[:2] += 8
    centres[2:] -= 8
    X = (centres[rng.integers(0, K, 20000)] + rng.normal(size=(20000, D))).astype(np.float32)
    covs = {"full": np.array([np.eye(D)] * K), "diag": np.ones((K, D)), "spherical": np.ones(K)}[cov_type]
    pc = ref.compute_precision_cholesky(covs, cov_type)
    weights = np.full(K, 1 / K)
    assert _uses_float32(weights, centres, pc, cov_type)
    a = gaussian_statistics(X, weights, centres, pc, cov_type, 2, allow_float32=True)
    b = gaussian_statistics(X.astype(np.float64), weights, centres, pc, cov_type, 2)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-7, abs=0)


@pytest.mark.parametrize("cov_type", FAST_TYPES)
@pytest.mark.parametrize("weight", [1.0, 0.0])
def test_overflowing_row_gets_the_float64_result(cov_type, weight):
    """A row at 1e25 (its float32 squares overflow): its chunk is computed in float64.

    With weight 1 its finite float64 log-likelihood (~ -1e50) dominates the
    sum; with weight 0 it is absent, and nothing becomes NaN (its zero
    responsibilities must not meet infinite float32 features).
    """
    rng = np.random.default_rng(0)
    X = _overlapping(rng, 600, 3, 2)
    X[250] = 1e25
    weights, means, pc = _params(rng, X[:200], 2, cov_type)
    assert _uses_float32(weights, means, pc, cov_type)
    w = np.ones(len(X))
    w[250] = weight
    a = gaussian_statistics(X, weights, means, pc, cov_type, 2, sample_weight=w, allow_float32=True)
    b = gaussian_statistics(X.astype(np.float64), weights, means, pc, cov_type, 2, sample_weight=w)
    assert np.isfinite(a.loglik)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-6)
    assert np.all(np.isfinite(a.s2))
    np.testing.assert_allclose(a.nk, b.nk, rtol=1e-6)


def _kernel_pass(X, quad, W32):
    N, D = X.shape
    P = _estep.n_features_out(quad, D)
    tied = quad == _estep.QTIED
    return _estep.accumulate_statistics(X, quad, 1, np.zeros(D), _estep.RESP_ESTEP, np.zeros((P, 1)),
                                        np.eye(D) if tied else None, None, None, None, 16, 32, np.zeros((1, P)),
                                        np.zeros((1, D * D)) if tied else None, np.zeros(1), 1,
                                        W32=np.zeros(W32, dtype=np.float32))


def test_kernel_refuses_the_float32_path_for_float64_data():
    with pytest.raises(ValueError, match="for float32 data"):
        _kernel_pass(np.zeros((4, 2)), _estep.QDIAG, (5, 1))


def test_kernel_refuses_the_float32_path_for_tied():
    with pytest.raises(ValueError, match="full, diag and spherical"):
        _kernel_pass(np.zeros((4, 2), dtype=np.float32), _estep.QTIED, (4, 1))


def test_kernel_refuses_float32_coefficients_of_the_wrong_shape():
    with pytest.raises(ValueError, match="W32 must have shape"):
        _kernel_pass(np.zeros((4, 2), dtype=np.float32), _estep.QDIAG, (4, 1))


def test_float32_exp_within_two_ulps():
    x = np.concatenate([-np.geomspace(1e-8, 87, 200000), [0.0, -0.0]]).astype(np.float32)
    got = np.empty_like(x)
    _estep._exp_nonpos_f(x, got)
    exact = np.exp(x.astype(np.float64))
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - exact) / ulp) <= 2.0


def test_float32_exp_below_the_normal_range_is_zero():
    x = np.array([-87.5, -100.0, -1e30, -np.inf, np.nan], dtype=np.float32)
    got = np.empty_like(x)
    _estep._exp_nonpos_f(x, got)
    np.testing.assert_array_equal(got[:4], 0.0)
    assert np.isnan(got[4])
