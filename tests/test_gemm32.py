"""The float32 path's own products (``_gemm32.h``): LP = F W and G += R^T F without SGEMM.

Checked here: both products against float64 NumPy on odd shapes (K not a
multiple of 8 or above one 32-wide block, P odd and across W's row blocks,
single rows, row and column tails), the x86-64-v3 version bit for bit against
the portable one, whole float32 passes computed with them against the NumPy
reference, bitwise thread invariance, the float64 fallback of an overflowing
chunk, and which products a pass chooses by its shape.
"""

import numpy as np
import pytest

from fastgmm.families._gaussian_passes import gaussian_statistics
from fastgmm.kernels import _estep

import _reference as ref
from conftest import needs_openmp
from test_float32_fast import _overlapping, _params, _uses_float32

EPS32 = 2.0 ** -24
FAST = [1, 2]   # _estep._set_gemm32 versions: portable, x86-64-v3


def _has_fma():
    try:
        _estep._set_gemm32(2)
    except ValueError:
        return False
    finally:
        _estep._set_gemm32(-1)
    return True


HAS_FMA = _has_fma()
needs_fma = pytest.mark.skipif(not HAS_FMA, reason="the x86-64-v3 kernels need a CPU with AVX2 and FMA")


def _version(v):
    return pytest.param(v, marks=needs_fma) if v == 2 else v


@pytest.fixture
def products():
    """Force the float32 path's products for a test (``_estep._set_gemm32``), back to the default after it."""
    yield _estep._set_gemm32
    _estep._set_gemm32(-1)


def _operands(rng, n, P, K):
    """F (n, P rounded up to 8), W (P, K rounded up to 8), R (K, n), G (K, P). The padding is NaN: the
    kernels compute sums of it in vector lanes and must never let them out."""
    ldf, Kp = -(-P // 8) * 8, -(-K // 8) * 8
    F = np.full((n, ldf), np.nan, np.float32)
    F[:, :P] = rng.normal(size=(n, P))
    W = np.full((P, Kp), np.nan, np.float32)
    W[:, :K] = rng.normal(size=(P, K))
    R = rng.uniform(0, 1, (K, n)).astype(np.float32)
    G = rng.normal(size=(K, P))
    return F, W, R, G


def _run(F, P, W, K, R, G, version):
    LP = np.empty((K, F.shape[0]), np.float32)
    G = G.copy()
    _estep._gemm32_kernels(F, P, W, K, R, G, LP, version)
    return LP, G


SHAPES = [
    (1, 3, 1),        # one row, one component (one 8-lane vector of K), P below a vector
    (7, 37, 9),       # K = 9: two vectors, the second padded; P with a tail of 5
    (50, 300, 17),    # three vectors of K; P across three row blocks of W (128 each)
    (31, 129, 32),    # four vectors (the main tile); P one past a block; rows not a multiple of 3
    (5, 2145, 37),    # W6's P; K past the 32-wide block (32 + 8)
    (64, 24, 70),     # K in three blocks (32 + 32 + 8); P exactly one 24-wide tile of G
    (9, 17, 6),       # G's tiles of 3 vectors with a 1-wide tail; K with a 2-component tail
    (3, 23, 11),      # a 7-wide tail (one short of a vector); K with a 3-component tail
]


@pytest.mark.parametrize("version", [_version(v) for v in FAST])
@pytest.mark.parametrize("n, P, K", SHAPES)
def test_products_match_numpy(n, P, K, version, seed):
    """LP = F W and G += R F in float32 against float64 products of the same values.

    Bounds: every sum of m float32 terms in a fixed order is within m eps32 of
    the sum of its absolute terms (m = one block of W's rows plus the number
    of blocks, or the chunk's rows); an index or padding error is off by
    whole terms.
    """
    rng = np.random.default_rng(seed)
    F, W, R, G0 = _operands(rng, n, P, K)
    LP, G = _run(F, P, W, K, R, G0, version)
    F64, W64, R64 = F[:, :P].astype(np.float64), W[:, :K].astype(np.float64), R.astype(np.float64)
    m_a = min(P, 128) + -(-P // 128) + 1
    np.testing.assert_array_less(np.abs(LP.T - F64 @ W64), m_a * EPS32 * (np.abs(F64) @ np.abs(W64)) + 1e-30)
    bound = (n + 1) * EPS32 * (np.abs(R64) @ np.abs(F64)) + 2.0 ** -52 * np.abs(G0 + R64 @ F64)
    np.testing.assert_array_less(np.abs(G - (G0 + R64 @ F64)), bound + 1e-30)


@needs_fma
@pytest.mark.parametrize("n, P, K", SHAPES)
def test_x86_64_v3_kernels_bitwise_equal_to_portable(n, P, K, seed):
    """The vector FMAs round as fmaf does, in the same order: the same bits."""
    rng = np.random.default_rng(seed)
    F, W, R, G0 = _operands(rng, n, P, K)
    LP1, G1 = _run(F, P, W, K, R, G0, 1)
    LP2, G2 = _run(F, P, W, K, R, G0, 2)
    np.testing.assert_array_equal(LP1, LP2)
    np.testing.assert_array_equal(G1, G2)


def test_kernels_refuse_mismatched_shapes():
    F, W, R, G = _operands(np.random.default_rng(0), 4, 10, 3)
    with pytest.raises(ValueError, match="shapes do not match"):
        _estep._gemm32_kernels(np.ascontiguousarray(F[:, :8]), 10, W, 3, R, G, np.empty((3, 4), np.float32), 1)


def test_kernels_refuse_unknown_versions():
    F, W, R, G = _operands(np.random.default_rng(0), 4, 10, 3)
    with pytest.raises(ValueError, match="version must be 1 or 2"):
        _estep._gemm32_kernels(F, 10, W, 3, R, G, np.empty((3, 4), np.float32), 0)


def test_set_gemm32_refuses_unknown_modes():
    with pytest.raises(ValueError, match="mode must be"):
        _estep._set_gemm32(3)


def _reference_sums(X, weights, means, pc, cov_type, w, centre):
    X64 = X.astype(np.float64)
    wlp = ref.estimate_weighted_log_prob(X64, weights, means, pc, cov_type)
    row_ll = np.logaddexp.reduce(wlp, axis=1)
    r = np.exp(wlp - row_ll[:, None]) * (1.0 if w is None else w[:, None])
    Z = X64 - centre
    s2 = {"full": lambda: np.einsum("nk,nd,ne->kde", r, Z, Z), "diag": lambda: r.T @ (Z * Z),
          "spherical": lambda: r.T @ np.sum(Z * Z, axis=1)}[cov_type]()
    return row_ll @ (np.ones(len(X)) if w is None else w), r.sum(axis=0), r.T @ Z, s2, max(1.0, r.sum()), Z


@pytest.mark.parametrize("version", [_version(v) for v in FAST])
@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize(
    "N, D, K, chunk, slot",
    [
        (1, 3, 2, 16, 32),          # a single row
        (37, 3, 9, 16, 32),         # partial last chunk and slot; K = 9 (padded lanes)
        (700, 11, 3, 64, 128),      # odd D; full P = 78
        (500, 23, 5, 48, 96),       # full P = 300, across W's row blocks
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_float32_pass_with_own_products_matches_reference(products, version, cov_type, N, D, K, chunk, slot,
                                                          weighted, seed):
    """A whole float32 pass computed with _gemm32.h: the statistics and log-likelihood against float64 NumPy
    at the float32 path's tolerances (tests/test_float32_fast.py)."""
    rng = np.random.default_rng(seed)
    X = _overlapping(rng, N, D, 3)
    weights, means, pc = _params(rng, X, K, cov_type) if N >= K else _params(rng, np.repeat(X, K, 0), K, cov_type)
    assert _uses_float32(weights, means, pc, cov_type)
    w = rng.uniform(0, 3, N) if weighted else None
    if weighted:
        w[rng.random(N) < 0.2] = 0.0
    products(version)
    stats = gaussian_statistics(X, weights, means, pc, cov_type, 2, sample_weight=w, chunk_rows=chunk,
                                slot_rows=slot, allow_float32=True)
    ll, nk, s1, s2, scale, Z = _reference_sums(X, weights, means, pc, cov_type, w, stats.centre)
    np.testing.assert_allclose(stats.loglik, ll, rtol=1e-6)
    np.testing.assert_allclose(stats.nk, nk, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(stats.s1, s1, rtol=0, atol=1e-6 * scale * np.abs(Z).max())
    np.testing.assert_allclose(stats.s2, s2, rtol=0, atol=1e-6 * scale * np.abs(Z).max() ** 2)


def _pass(X, params, cov_type, threads, **kw):
    s = gaussian_statistics(X, *params, cov_type, threads, allow_float32=True, **kw)
    return s.nk, s.s1, s.s2, np.array([s.loglik])


@needs_openmp
@pytest.mark.parametrize("version", [_version(v) for v in FAST])
@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_own_products_bitwise_identical_for_any_thread_count(products, version, cov_type, seed):
    rng = np.random.default_rng(seed)
    X = _overlapping(rng, 3000, 9, 5)
    params = _params(rng, X, 5, cov_type)
    w = rng.uniform(0, 2, len(X))
    products(version)
    runs = [_pass(X, params, cov_type, t, sample_weight=w, chunk_rows=32, slot_rows=96) for t in (1, 2, 3)]
    for other in runs[1:]:
        for a, b in zip(other, runs[0]):
            np.testing.assert_array_equal(a, b)


@needs_fma
@pytest.mark.parametrize("cov_type", ["full", "spherical"])
def test_pass_with_x86_64_v3_products_bitwise_equal_to_portable(products, cov_type):
    rng = np.random.default_rng(3)
    X = _overlapping(rng, 2000, 12, 7)
    params = _params(rng, X, 7, cov_type)
    runs = []
    for version in (1, 2):
        products(version)
        runs.append(_pass(X, params, cov_type, 2, chunk_rows=48, slot_rows=96))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("version", [_version(v) for v in FAST])
def test_overflowing_row_with_own_products_gets_the_float64_result(products, version):
    """A row at 1e25 overflows its float32 features: its chunk is done again in float64, as with SGEMM."""
    rng = np.random.default_rng(0)
    X = _overlapping(rng, 600, 3, 2)
    X[250] = 1e25
    weights, means, pc = _params(rng, X[:200], 2, "full")
    products(version)
    a = gaussian_statistics(X, weights, means, pc, "full", 2, allow_float32=True)
    b = gaussian_statistics(X.astype(np.float64), weights, means, pc, "full", 2)
    assert np.isfinite(a.loglik)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-6)
    assert np.all(np.isfinite(a.s2))
    np.testing.assert_allclose(a.nk, b.nk, rtol=1e-6)


@needs_fma
@pytest.mark.parametrize("D, chosen", [(31, 2), (30, 0)])
def test_passes_choose_the_products_by_width(products, D, chosen):
    """Full covariances with D = 31 (P = 528 >= 512) take _gemm32.h, D = 30 (P = 497) SGEMM: the default
    pass gives the bits of the forced one."""
    rng = np.random.default_rng(5)
    X = _overlapping(rng, 700, D, 3)
    params = _params(rng, X, 3, "full")
    default = _pass(X, params, "full", 1)
    products(chosen)
    forced = _pass(X, params, "full", 1)
    for a, b in zip(default, forced):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
def test_wide_float32_fit_with_own_products_matches_the_float64_fit(products):
    """D = 32 (P = 561, so the default takes _gemm32.h where the CPU has FMA; else forced portable): a float32
    fit's lower bound within 1e-6 relative of the float64 fit of the same values, the parameters to float32
    accuracy, as tests/test_float32_fast.py asks of the SGEMM products."""
    from fastgmm import GaussianMixture

    if not HAS_FMA:
        products(1)
    rng = np.random.default_rng(12)
    X32 = _overlapping(rng, 6000, 32, 4)
    weights, means, pc = _params(rng, X32, 4, "full")
    assert _uses_float32(weights, means, pc, "full")
    kw = dict(covariance_type="full", weights_init=weights, means_init=means,
              precisions_init=pc @ np.swapaxes(pc, -1, -2), max_iter=15, tol=0)
    a = GaussianMixture(4, **kw).fit(X32)
    b = GaussianMixture(4, **kw).fit(X32.astype(np.float64))
    assert a.n_iter_ == b.n_iter_ == 15
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-6, abs=0)
    np.testing.assert_allclose(a.means_, b.means_, rtol=0, atol=1e-4 * np.sqrt(np.max(b.covariances_)))
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=0, atol=1e-4 * np.max(b.covariances_))
