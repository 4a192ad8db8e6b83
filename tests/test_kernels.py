"""Compiled kernels against the pure-NumPy reference, in float64 and float32.

Covers every covariance type, chunk and slot boundaries (N smaller than a
chunk, N not a multiple of it, many slots), K=1 and D=1, thread-count
invariance (bitwise), the given-responsibility and given-label modes used by
initialisation (the k-means kernels are in test_kmeans.py).
"""

import numpy as np
import pytest
from scipy.special import logsumexp

from fastgmm import _em, _estep
from fastgmm import _reference as ref

COV_TYPES = ["full", "tied", "diag", "spherical"]
DTYPES = [np.float64, np.float32]
# (rtol, atol) per dtype: float32 log-densities carry ~1e-7 relative error on
# Mahalanobis terms of order 10-100, statistics are accumulated in float64.
TOL = {np.float64: (1e-10, 1e-10), np.float32: (2e-4, 2e-4)}


def _random_params(rng, X, K, cov_type):
    N, D = X.shape
    weights = rng.dirichlet(np.full(K, 3.0))
    means = X[rng.choice(N, K, replace=N < K)] + rng.normal(0, 0.1, (K, D))
    covs = []
    for _ in range(K):
        A = rng.normal(size=(D, D))
        covs.append(A @ A.T / D + 0.5 * np.eye(D))
    covs = np.array(covs)
    cov = {
        "full": covs,
        "tied": covs.mean(axis=0),
        "diag": np.array([np.diag(c) for c in covs]),
        "spherical": np.array([np.diag(c).mean() for c in covs]),
    }[cov_type]
    return weights, means, ref.compute_precision_cholesky(cov, cov_type)


def _data(rng, N, D, K=3, offset=0.0):
    centres = rng.normal(0, 3, (K, D))
    return centres[rng.integers(0, K, N)] + rng.normal(size=(N, D)) + offset


def _as(dtype, *arrays):
    """Parameters as the kernel sees them: cast to dtype; the reference gets the same values in float64."""
    return [np.asarray(a, dtype=dtype).astype(np.float64) for a in arrays]


def _expected_statistics(X, r, c, cov_type):
    """Statistics about the centre c computed directly from responsibilities r (N, K)."""
    Z = X - c
    nk = r.sum(axis=0)
    s1 = r.T @ Z
    if cov_type == "full":
        s2 = np.einsum("nk,nd,ne->kde", r, Z, Z)
    elif cov_type == "diag":
        s2 = r.T @ (Z * Z)
    elif cov_type == "spherical":
        s2 = r.T @ np.sum(Z * Z, axis=1)
    else:
        s2 = Z.T @ Z
    return nk, s1, s2


@pytest.mark.parametrize("D", [1, 2, 3, 4, 7, 8, 16, 17, 64])
def test_full_pairs_cover_each_pair_once(D):
    """The kernel's order of the products z_i z_j: every unordered pair exactly once."""
    i, j = _em.full_pairs(D)
    assert len(i) == _estep.n_features_out(_estep.QFULL, D) - 1 - D == D * (D + 1) // 2
    pairs = {(min(a, b), max(a, b)) for a, b in zip(i.tolist(), j.tolist())}
    assert pairs == {(a, b) for a in range(D) for b in range(a, D)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize(
    "N, D, K, chunk, slot",
    [
        (1, 3, 2, 16, 32),      # a single row
        (37, 3, 4, 16, 32),     # partial last chunk, partial last slot
        (500, 4, 3, 64, 128),   # many slots
        (300, 1, 3, 32, 64),    # D = 1
        (300, 3, 1, 32, 64),    # K = 1
        (2000, 5, 4, None, None),  # the production layout
        (700, 11, 3, 64, 128),  # odd D past one 8-lane block of the row sums
        (400, 16, 5, None, None),  # even D: the last circulant run is half length
    ],
)
def test_statistics_match_reference(dtype, cov_type, N, D, K, chunk, slot, seed):
    rng = np.random.default_rng(seed)
    X = _data(rng, N, D).astype(dtype)
    weights, means, pc = _random_params(rng, X.astype(np.float64), K, cov_type)
    stats = _em.accumulate(X, weights, means, pc, cov_type, 2, chunk_rows=chunk, slot_rows=slot)

    w64, m64, pc64 = _as(dtype, weights, means, pc)
    X64 = X.astype(np.float64)
    ll, log_resp = ref.e_step(X64, w64, m64, pc64, cov_type)
    c = _em.mixture_shift(weights, means)
    np.testing.assert_array_equal(stats.centre, c)
    nk, s1, s2 = _expected_statistics(X64, np.exp(log_resp), c, cov_type)
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(stats.loglik, ll * N, rtol=rtol, atol=atol * N)
    np.testing.assert_allclose(stats.nk, nk, rtol=rtol, atol=atol * N)
    np.testing.assert_allclose(stats.s1, s1, rtol=rtol, atol=atol * N)
    np.testing.assert_allclose(stats.s2, s2, rtol=rtol, atol=atol * N)
    assert stats.n_samples == N


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_estimate_matches_reference(dtype, cov_type, seed):
    rng = np.random.default_rng(seed)
    X = _data(rng, 1111, 3).astype(dtype)
    weights, means, pc = _random_params(rng, X.astype(np.float64), 4, cov_type)
    row_ll, labels, resp, chunk_ll = _em.estimate(
        X, weights, means, pc, cov_type, 2, row_ll=True, labels=True, resp=True, chunk_ll=True
    )
    w64, m64, pc64 = _as(dtype, weights, means, pc)
    wlp = ref.estimate_weighted_log_prob(X.astype(np.float64), w64, m64, pc64, cov_type)
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(row_ll, logsumexp(wlp, axis=1), rtol=rtol, atol=atol)
    np.testing.assert_allclose(resp, np.exp(wlp - logsumexp(wlp, axis=1, keepdims=True)), rtol=rtol, atol=atol)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=10 * np.finfo(dtype).eps)
    assert resp.dtype == dtype and labels.dtype == np.int64
    # Labels are the argmax of the weighted log-densities; in float32 only
    # compare rows whose top two components are clearly apart.
    top2 = np.sort(wlp, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > (1e-6 if dtype == np.float64 else 1e-2)
    np.testing.assert_array_equal(labels[clear], wlp.argmax(axis=1)[clear])
    np.testing.assert_allclose(chunk_ll.sum(), row_ll.sum(), rtol=1e-12)
    # Each output alone gives the same values as all together.
    alone = _em.estimate(X, weights, means, pc, cov_type, 1, row_ll=True)
    np.testing.assert_array_equal(alone[0], row_ll)
    assert alone[1] is None and alone[2] is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_results_bitwise_identical_for_any_thread_count(dtype, cov_type, seed):
    rng = np.random.default_rng(seed)
    X = _data(rng, 5000, 4).astype(dtype)
    weights, means, pc = _random_params(rng, X.astype(np.float64), 5, cov_type)
    runs = [_em.accumulate(X, weights, means, pc, cov_type, t, chunk_rows=64, slot_rows=256) for t in (1, 2, 3, 8)]
    for other in runs[1:]:
        for name in ("nk", "s1", "s2"):
            assert np.array_equal(getattr(runs[0], name), getattr(other, name)), name
        assert runs[0].loglik == other.loglik
    outs = [_em.estimate(X, weights, means, pc, cov_type, t, row_ll=True, labels=True, resp=True, chunk_ll=True)
            for t in (1, 2, 3)]
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_given_responsibilities_and_labels(dtype, cov_type, seed):
    """The initialisation modes: statistics of given responsibilities or hard labels."""
    rng = np.random.default_rng(seed)
    N, D, K = 700, 3, 4
    X = _data(rng, N, D).astype(dtype)
    X64 = X.astype(np.float64)
    shift = rng.normal(0, 1, D)
    resp = rng.uniform(size=(N, K))
    resp /= resp.sum(axis=1, keepdims=True)
    resp = resp.astype(dtype)
    labels = rng.integers(-1, K, N)   # -1: the row belongs to no component
    onehot = (labels[:, None] == np.arange(K)).astype(np.float64)
    rtol, atol = TOL[dtype]
    for given, r in (({"resp": resp}, resp.astype(np.float64)), ({"labels": labels}, onehot)):
        stats = _em.accumulate(X, None, np.empty((K, D)), None, cov_type, 2, shift=shift,
                               chunk_rows=32, slot_rows=96, **given)
        nk, s1, s2 = _expected_statistics(X64, r, shift, cov_type)
        np.testing.assert_allclose(stats.nk, nk, rtol=rtol, atol=atol)
        np.testing.assert_allclose(stats.s1, s1, rtol=rtol, atol=atol * N)
        np.testing.assert_allclose(stats.s2, s2, rtol=rtol, atol=atol * N)
        assert stats.loglik == 0.0


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_m_step_matches_reference(cov_type, seed):
    """Statistics -> parameters reproduces scikit-learn's M-step formulas (via the reference)."""
    rng = np.random.default_rng(seed)
    X = _data(rng, 800, 3, offset=50.0)
    weights, means, pc = _random_params(rng, X, 3, cov_type)
    stats = _em.accumulate(X, weights, means, pc, cov_type, 2)
    nk_eps, new_means, cov = _em.m_step(stats, cov_type, 1e-6, np.finfo(np.float64).eps)
    _, log_resp = ref.e_step(X, weights, means, pc, cov_type)
    w_ref, m_ref, c_ref, _ = ref.m_step(X, log_resp, 1e-6, cov_type)
    np.testing.assert_allclose(nk_eps / nk_eps.sum(), w_ref, rtol=1e-12)
    np.testing.assert_allclose(new_means, m_ref, rtol=1e-12)
    np.testing.assert_allclose(cov, c_ref, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical", "tied"])
def test_float32_far_from_origin_keeps_variances_positive(cov_type):
    """Data at 1e4 with unit spread: centred statistics keep float32 variances right.

    scikit-learn's float32 diag fit computes E[x^2] - E[x]^2 here and can
    return negative variances (its issue #30382).
    """
    from fastgmm import GaussianMixture

    rng = np.random.default_rng(0)
    scales = np.array([1.0, 0.01, 3.0])
    centres = np.array([[0.0, 0.0, 0.0], [20.0, 0.5, 0.0]])
    X = (1e4 + centres[rng.integers(0, 2, 4000)] + rng.normal(size=(4000, 3)) * scales).astype(np.float32)
    kw = dict(covariance_type=cov_type, random_state=0, reg_covar=1e-9, tol=1e-7, max_iter=500)
    gm32 = GaussianMixture(2, **kw).fit(X)
    gm64 = GaussianMixture(2, **kw).fit(X.astype(np.float64))
    assert gm32.covariances_.dtype == np.float32
    cov32 = gm32.covariances_.astype(np.float64)
    if cov_type in ("diag", "spherical"):
        assert np.all(cov32 > 0)
    else:
        mats = cov32[None] if cov_type == "tied" else cov32
        assert all(np.all(np.linalg.eigvalsh(m) > 0) for m in mats)
    # The same model in both precisions, to float32 accuracy: entries compared
    # on the scale of their variances (sqrt(var_i var_j)).
    cov64 = gm64.covariances_
    if cov_type != "tied":
        cov32 = cov32[np.argsort(gm32.means_[:, 0])]
        cov64 = cov64[np.argsort(gm64.means_[:, 0])]
    if cov_type in ("full", "tied"):
        d = np.sqrt(np.diagonal(cov64, axis1=-2, axis2=-1))
        scale = d[..., :, None] * d[..., None, :]
    else:
        scale = np.abs(cov64)
    assert np.all(np.abs(cov32 - cov64) <= 1e-3 * scale)


def test_impossible_rows_give_minus_inf_not_nan():
    """A row no component can produce: log-likelihood -inf, responsibilities 0, no NaN."""
    X = np.array([[0.0, 0.0], [1e200, 1e200]])
    weights = np.array([0.5, 0.5])
    means = np.zeros((2, 2))
    pc = np.ones((2, 2))
    row_ll, labels, resp, _ = _em.estimate(X, weights, means, pc, "diag", 1, row_ll=True, labels=True, resp=True)
    assert np.isfinite(row_ll[0]) and row_ll[1] == -np.inf
    assert not np.isnan(resp).any()
    np.testing.assert_allclose(resp[0].sum(), 1.0)
    assert resp[1].sum() == 0.0


def test_zero_weight_component_is_never_chosen():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    weights = np.array([1.0, 0.0])
    means = np.array([[0.0, 0.0], [0.1, 0.1]])
    row_ll, labels, resp, _ = _em.estimate(X, weights, means, np.ones((2, 2)), "diag", 2,
                                           row_ll=True, labels=True, resp=True)
    assert np.all(labels == 0) and np.all(resp[:, 1] == 0) and np.all(np.isfinite(row_ll))


def test_kernel_rejects_mismatched_layouts():
    X = np.zeros((10, 2))
    c, U = np.zeros(2), np.zeros((1, 1))
    W = np.zeros((_estep.n_features_out(_estep.QDIAG, 2), 2))
    outs = (np.zeros((1, W.size)), np.zeros((1, 0)), np.zeros(1))
    with pytest.raises(ValueError, match="multiple of chunk_rows"):
        _estep.accumulate_statistics(X, _estep.QDIAG, c, W, U, None, None, 4, 6, *outs, 1)
    with pytest.raises(ValueError, match="rows"):
        _estep.accumulate_statistics(X, _estep.QDIAG, c, np.ascontiguousarray(W[:-1]), U, None, None, 16, 16, *outs, 1)
    with pytest.raises(ValueError):  # mixed dtypes are refused by the fused signature
        _estep.accumulate_statistics(X.astype(np.float32), _estep.QDIAG, c, W, U, None, None, 16, 16, *outs, 1)
