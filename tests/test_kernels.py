"""Compiled kernels against the pure-NumPy reference, in float64 and float32.

Covers every covariance type, chunk and slot boundaries (N smaller than a
chunk, N not a multiple of it, many slots), K=1 and D=1, thread-count
invariance (bitwise), sample weights, and the given-responsibility,
given-label and hard-assignment modes used by initialisation.

All arithmetic after reading X is float64 for either dtype, so float32 data
are compared with the reference on the same (float32) values at float64
tolerances; only outputs returned in float32 (responsibilities) carry
float32 rounding.
"""

import numpy as np
import pytest
from scipy.special import logsumexp

from fastgmm.kernels import _estep, _driver as _kernels
from fastgmm.families import _gaussian
import _reference as ref
from fastgmm.families._gaussian_passes import gaussian_estimate, gaussian_statistics

from conftest import needs_openmp

COV_TYPES = ["full", "tied", "diag", "spherical"]
DTYPES = [np.float64, np.float32]
# (rtol, atol): float64 arithmetic for both dtypes.
TOL = (1e-10, 1e-10)
# Outputs returned in X's dtype (responsibilities): its rounding on top.
OUT_TOL = {np.float64: 1e-10, np.float32: 2e-7}


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


def _expected_statistics(X, r, c, cov_type, w=None):
    """Statistics about the centre c computed directly from responsibilities r (N, K)
    and row weights w (N,) (None: 1)."""
    Z = X - c
    w = np.ones(len(X)) if w is None else w
    r = r * w[:, None]
    nk = r.sum(axis=0)
    s1 = r.T @ Z
    if cov_type == "full":
        s2 = np.einsum("nk,nd,ne->kde", r, Z, Z)
    elif cov_type == "diag":
        s2 = r.T @ (Z * Z)
    elif cov_type == "spherical":
        s2 = r.T @ np.sum(Z * Z, axis=1)
    else:
        s2 = (Z * w[:, None]).T @ Z
    return nk, s1, s2


@pytest.mark.parametrize("D", [1, 2, 3, 4, 7, 8, 16, 17, 64])
def test_full_pairs_cover_each_pair_once(D):
    """The kernel's order of the products z_i z_j: every unordered pair exactly once."""
    i, j = _gaussian.full_pairs(D)
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
    stats = gaussian_statistics(X, weights, means, pc, cov_type, 2, chunk_rows=chunk, slot_rows=slot)

    X64 = X.astype(np.float64)
    ll, log_resp = ref.e_step(X64, weights, means, pc, cov_type)
    c = _gaussian.mixture_shift(weights, means)
    np.testing.assert_array_equal(stats.centre, c)
    nk, s1, s2 = _expected_statistics(X64, np.exp(log_resp), c, cov_type)
    rtol, atol = TOL
    np.testing.assert_allclose(stats.loglik, ll * N, rtol=rtol, atol=atol * N)
    np.testing.assert_allclose(stats.nk, nk, rtol=rtol, atol=atol * N)
    np.testing.assert_allclose(stats.s1, s1, rtol=rtol, atol=atol * N)
    np.testing.assert_allclose(stats.s2, s2, rtol=rtol, atol=atol * N)
    assert stats.n_samples == N


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_components_far_apart_match_reference(dtype, cov_type, seed):
    """Components 1,000 sigma apart (not one common offset, which the shift would cancel):
    log-densities and statistics keep float64 accuracy for float32 data too."""
    rng = np.random.default_rng(seed)
    N, D, K = 1500, 3, 3
    centres = rng.normal(0, 1000, (K, D))
    y = rng.integers(0, K, N)
    X = (centres[y] + rng.normal(size=(N, D))).astype(dtype)
    X64 = X.astype(np.float64)
    weights, _, pc = _random_params(rng, X64, K, cov_type)
    means = centres + rng.normal(0, 0.1, (K, D))
    row_ll = gaussian_estimate(X, weights, means, pc, cov_type, 2, row_ll=True)[0]
    wlp = ref.estimate_weighted_log_prob(X64, weights, means, pc, cov_type)
    np.testing.assert_allclose(row_ll, logsumexp(wlp, axis=1), rtol=1e-10, atol=1e-8)
    stats = gaussian_statistics(X, weights, means, pc, cov_type, 2)
    nk, s1, s2 = _expected_statistics(X64, np.exp(wlp - logsumexp(wlp, axis=1, keepdims=True)), stats.centre,
                                      cov_type)
    np.testing.assert_allclose(stats.nk, nk, rtol=1e-10)
    np.testing.assert_allclose(stats.s2, s2, rtol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("N, chunk, slot", [(37, 16, 32), (900, 64, 128), (2000, None, None)])
def test_weighted_statistics_match_reference(dtype, cov_type, N, chunk, slot, seed):
    """Weights scale each row's responsibilities (and the tied scatter); zero weights drop rows."""
    rng = np.random.default_rng(seed)
    X = _data(rng, N, 3).astype(dtype)
    weights, means, pc = _random_params(rng, X.astype(np.float64), 4, cov_type)
    w = rng.uniform(0, 3, N)
    w[rng.random(N) < 0.2] = 0.0
    stats = gaussian_statistics(X, weights, means, pc, cov_type, 2, sample_weight=w,
                                chunk_rows=chunk, slot_rows=slot)
    X64 = X.astype(np.float64)
    log_prob, log_resp = ref.e_step(X64, weights, means, pc, cov_type)
    row_ll = logsumexp(ref.estimate_weighted_log_prob(X64, weights, means, pc, cov_type), axis=1)
    nk, s1, s2 = _expected_statistics(X64, np.exp(log_resp), stats.centre, cov_type, w)
    rtol, atol = TOL
    np.testing.assert_allclose(stats.loglik, row_ll @ w, rtol=rtol, atol=atol * N)
    np.testing.assert_allclose(stats.nk, nk, rtol=rtol, atol=atol * N)
    np.testing.assert_allclose(stats.s1, s1, rtol=rtol, atol=atol * N)
    np.testing.assert_allclose(stats.s2, s2, rtol=rtol, atol=atol * N)
    assert stats.weight == pytest.approx(w.sum(), rel=1e-15)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_integer_weights_equal_repeated_rows(cov_type, seed):
    rng = np.random.default_rng(seed)
    X = _data(rng, 500, 3)
    weights, means, pc = _random_params(rng, X, 3, cov_type)
    reps = rng.integers(0, 4, 500)
    a = gaussian_statistics(X, weights, means, pc, cov_type, 2, sample_weight=reps.astype(np.float64))
    b = gaussian_statistics(np.repeat(X, reps, axis=0), weights, means, pc, cov_type, 2)
    for name in ("nk", "s1", "s2", "loglik", "weight"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=1e-9, err_msg=name)


def test_zero_weight_impossible_row_is_absent():
    """A row no component can produce, with weight 0, leaves the log-likelihood finite."""
    X = np.array([[0.0, 0.0], [0.5, 0.1], [1e200, 1e200]])
    pc = np.ones((2, 2))
    args = (np.array([0.5, 0.5]), np.zeros((2, 2)), pc, "diag", 1)
    stats = gaussian_statistics(X, *args, sample_weight=np.array([1.0, 2.0, 0.0]))
    assert np.isfinite(stats.loglik)
    assert gaussian_statistics(X, *args).loglik == -np.inf


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("D", [3, 9])
def test_hard_assignment_mode_is_nearest_centre(dtype, cov_type, D, seed):
    """k-means initialisation: one-hot responsibilities of the nearest centre, weighted."""
    rng = np.random.default_rng(seed)
    N, K = 900, 5
    X = _data(rng, N, D, offset=1e3).astype(dtype)
    X64 = X.astype(np.float64)
    centres = X64[rng.choice(N, K, replace=False)]
    w = rng.uniform(0, 2, N)
    shift = centres.mean(axis=0)
    W = _gaussian.nearest_centre_coefficients(centres, shift)
    G, T, ll = _kernels.accumulate(X, _gaussian.QUAD[cov_type], K, shift, 2, mode=_kernels.RESP_HARD, W=W,
                                   sample_weight=w, chunk_rows=32, slot_rows=96)
    stats = _gaussian.statistics_from_sums(G, T, cov_type, shift, ll, w.sum(), N)
    d = ((X64[:, None, :] - centres[None]) ** 2).sum(-1)
    onehot = (d.argmin(axis=1)[:, None] == np.arange(K)).astype(np.float64)
    nk, s1, s2 = _expected_statistics(X64, onehot, shift, cov_type, w)
    np.testing.assert_allclose(stats.nk, nk, rtol=1e-12)
    np.testing.assert_allclose(stats.s1, s1, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(stats.s2, s2, rtol=1e-9, atol=1e-6)


def test_linear_coefficients_are_for_the_hard_assignment_only():
    """W of 1 + D rows (the nearest-centre scores) is refused where the log-densities need all P."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 4))
    centres = X[:3]
    shift = centres.mean(axis=0)
    W = _gaussian.nearest_centre_coefficients(centres, shift)
    assert W.shape == (5, 3)
    with pytest.raises(ValueError, match="W must have shape"):
        _kernels.accumulate(X, _gaussian.QUAD["full"], 3, shift, 1, mode=_kernels.RESP_ESTEP, W=W)


def test_hard_assignment_at_tiny_scale():
    """Data of spread 1e-21: nearest centres are still told apart (no constant term swamps them)."""
    X = np.array([[0.0], [0.1], [5.0], [5.1]]) * 1e-21
    centres = np.array([[0.05], [5.05]]) * 1e-21
    shift = centres.mean(axis=0)
    W = _gaussian.nearest_centre_coefficients(centres, shift)
    G, _, _ = _kernels.accumulate(X, _gaussian.QUAD["diag"], 2, shift, 1, mode=_kernels.RESP_HARD, W=W)
    np.testing.assert_array_equal(G[:, 0], [2.0, 2.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_estimate_matches_reference(dtype, cov_type, seed):
    rng = np.random.default_rng(seed)
    X = _data(rng, 1111, 3).astype(dtype)
    weights, means, pc = _random_params(rng, X.astype(np.float64), 4, cov_type)
    row_ll, labels, resp, total = gaussian_estimate(
        X, weights, means, pc, cov_type, 2, row_ll=True, labels=True, resp=True, total=True
    )
    wlp = ref.estimate_weighted_log_prob(X.astype(np.float64), weights, means, pc, cov_type)
    rtol, atol = TOL
    np.testing.assert_allclose(row_ll, logsumexp(wlp, axis=1), rtol=rtol, atol=atol)
    np.testing.assert_allclose(resp, np.exp(wlp - logsumexp(wlp, axis=1, keepdims=True)), rtol=OUT_TOL[dtype],
                               atol=OUT_TOL[dtype])
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=10 * np.finfo(dtype).eps)
    assert resp.dtype == dtype
    assert labels.dtype == np.int64
    # Labels are the argmax of the weighted log-densities (rows with a clear winner).
    top2 = np.sort(wlp, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-6
    np.testing.assert_array_equal(labels[clear], wlp.argmax(axis=1)[clear])
    np.testing.assert_allclose(total, row_ll.sum(), rtol=1e-12)
    # Each output alone gives the same values as all together.
    alone = gaussian_estimate(X, weights, means, pc, cov_type, 1, row_ll=True)
    np.testing.assert_array_equal(alone[0], row_ll)
    assert alone[1] is None
    assert alone[2] is None


@needs_openmp
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_statistics_bitwise_identical_for_any_thread_count(dtype, cov_type, weighted, seed, every_thread):
    rng = np.random.default_rng(seed)
    X = _data(rng, 5000, 4).astype(dtype)
    weights, means, pc = _random_params(rng, X.astype(np.float64), 5, cov_type)
    sw = rng.uniform(0, 2, len(X)) if weighted else None
    runs = [gaussian_statistics(X, weights, means, pc, cov_type, t, sample_weight=sw, chunk_rows=64, slot_rows=256)
            for t in (1, 2, 3, 8)]
    for other in runs[1:]:
        for name in ("nk", "s1", "s2", "loglik"):
            np.testing.assert_array_equal(getattr(runs[0], name), getattr(other, name), err_msg=name)


@needs_openmp
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_estimate_bitwise_identical_for_any_thread_count(dtype, cov_type, seed, every_thread):
    rng = np.random.default_rng(seed)
    X = _data(rng, 5000, 4).astype(dtype)
    weights, means, pc = _random_params(rng, X.astype(np.float64), 5, cov_type)
    outs = [gaussian_estimate(X, weights, means, pc, cov_type, t, row_ll=True, labels=True, resp=True, total=True)
            for t in (1, 2, 3)]
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            np.testing.assert_array_equal(a, b)


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
    labels = rng.integers(-1, K, N)   # -1: the row belongs to no component
    onehot = (labels[:, None] == np.arange(K)).astype(np.float64)
    rtol, atol = TOL
    quad = _gaussian.QUAD[cov_type]
    for mode, given, r in ((_kernels.RESP_GIVEN, {"resp": resp}, resp), (_kernels.RESP_LABELS, {"labels": labels}, onehot)):
        G, T, ll = _kernels.accumulate(X, quad, K, shift, 2, mode=mode, chunk_rows=32, slot_rows=96, **given)
        stats = _gaussian.statistics_from_sums(G, T, cov_type, shift, ll, N, N)
        nk, s1, s2 = _expected_statistics(X64, r, shift, cov_type)
        np.testing.assert_allclose(stats.nk, nk, rtol=rtol, atol=atol)
        np.testing.assert_allclose(stats.s1, s1, rtol=rtol, atol=atol * N)
        np.testing.assert_allclose(stats.s2, s2, rtol=rtol, atol=atol * N)
        assert stats.loglik == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_weighted_labels(dtype, cov_type, seed):
    """Hard labels with sample weights: each row's features go to its component, times its weight."""
    rng = np.random.default_rng(seed)
    N, D, K = 500, 3, 4
    X = _data(rng, N, D).astype(dtype)
    shift = rng.normal(0, 1, D)
    labels = rng.integers(-1, K, N)
    sw = rng.uniform(0.0, 3.0, N)
    onehot = (labels[:, None] == np.arange(K)).astype(np.float64)
    G, T, ll = _kernels.accumulate(X, _gaussian.QUAD[cov_type], K, shift, 2, mode=_kernels.RESP_LABELS,
                                   labels=labels, sample_weight=sw, chunk_rows=32, slot_rows=96)
    stats = _gaussian.statistics_from_sums(G, T, cov_type, shift, ll, N, sw.sum())
    # (tied: the weighted Gram of every row, labelled or not, as scikit-learn's tied M-step)
    nk, s1, s2 = _expected_statistics(X.astype(np.float64), onehot, shift, cov_type, w=sw)
    rtol, atol = TOL
    np.testing.assert_allclose(stats.s2, s2, rtol=rtol, atol=atol * N)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_m_step_matches_reference(cov_type, seed):
    """Statistics -> parameters reproduces scikit-learn's M-step formulas (via the reference)."""
    rng = np.random.default_rng(seed)
    X = _data(rng, 800, 3, offset=50.0)
    weights, means, pc = _random_params(rng, X, 3, cov_type)
    stats = gaussian_statistics(X, weights, means, pc, cov_type, 2)
    nk_eps, new_means, cov = _gaussian.m_step(stats, 1e-6, np.finfo(np.float64).eps)
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
    row_ll, labels, resp, _ = gaussian_estimate(X, weights, means, pc, "diag", 1, row_ll=True, labels=True, resp=True)
    assert np.isfinite(row_ll[0])
    assert row_ll[1] == -np.inf
    assert not np.isnan(resp).any()
    np.testing.assert_allclose(resp[0].sum(), 1.0)
    assert resp[1].sum() == 0.0


def test_zero_weight_component_is_never_chosen():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    weights = np.array([1.0, 0.0])
    means = np.array([[0.0, 0.0], [0.1, 0.1]])
    row_ll, labels, resp, _ = gaussian_estimate(X, weights, means, np.ones((2, 2)), "diag", 2,
                                                row_ll=True, labels=True, resp=True)
    np.testing.assert_array_equal(labels, 0)
    np.testing.assert_array_equal(resp[:, 1], 0)
    assert np.all(np.isfinite(row_ll))


def test_kernel_rejects_mismatched_layouts():
    X = np.zeros((10, 2))
    c = np.zeros(2)
    quad = _estep.QDIAG
    W = np.zeros((_estep.n_features_out(quad, 2), 2))
    outs = (np.zeros((1, W.size)), None, np.zeros(1))
    mode = _estep.RESP_ESTEP
    with pytest.raises(ValueError, match="multiple of chunk_rows"):
        _estep.accumulate_statistics(X, quad, 2, c, mode, W, None, None, None, None, 4, 6, *outs, 1)
    with pytest.raises(ValueError, match="W must have shape"):
        _estep.accumulate_statistics(X, quad, 2, c, mode, np.ascontiguousarray(W[:-1]), None, None, None, None,
                                     16, 16, *outs, 1)
    with pytest.raises(ValueError, match="sample_weight"):
        _estep.accumulate_statistics(X, quad, 2, c, mode, W, None, None, None, np.ones(9), 16, 16, *outs, 1)
    with pytest.raises(ValueError, match="needs the coefficients"):
        _estep.accumulate_statistics(X, quad, 2, c, mode, None, None, None, None, None, 16, 16, *outs, 1)
    with pytest.raises(ValueError, match="resp must have shape"):
        _estep.accumulate_statistics(X, quad, 2, c, _estep.RESP_GIVEN, None, None, np.zeros((9, 2)), None, None,
                                     16, 16, *outs, 1)
