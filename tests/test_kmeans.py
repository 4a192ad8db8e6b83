"""k-means for initialisation: the Lloyd kernel and driver against a plain NumPy Lloyd.

Covers weights (real, integer = repeated rows, zero = absent), thread-count
invariance (bitwise), data far from the origin, D=1, K=1, N smaller than a
chunk, empty clusters, duplicate points, the weighted seeding draws, k-means++
against scikit-learn's draws, and the memory bound of the default init.
"""

import re
import tracemalloc

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from fastgmm.kernels import _kmeans
from fastgmm.kernels import _kmeans_driver as kd
from fastgmm.kernels._kmeans_driver import kmeans, kmeans_plusplus, nearest_centre_labels
from fastgmm.kernels._openmp_helpers import openmp_enabled
from fastgmm.utils._validation import ConvergenceWarning

DTYPES = [np.float64, np.float32]
# Centres after a few passes: float64 agrees with the reference to rounding;
# float32 GEMM distances differ from exact ones by ~1e-6 relative, and the
# sums are float64 sums of float32 values.
RTOL = {np.float64: 1e-10, np.float32: 1e-5}


@pytest.fixture(autouse=True)
def _single_threaded_blas():
    # The kernels call BLAS from OpenMP threads, as they do inside fit().
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _blobs(rng, N, D, K, scale=4.0, offset=0.0):
    centres = rng.normal(0, scale, (K, D))
    return centres[rng.integers(0, K, N)] + rng.normal(size=(N, D)) + offset


def _sorted(c):
    """Rows of c in lexicographic order of their rounded values (centres near a grid)."""
    return c[np.lexsort(np.round(c).T[::-1])]


def reference_lloyd(X, centres, n_iter, w=None):
    """Plain Lloyd: exact distances, argmin, weighted means; an empty centre stays put."""
    X = np.asarray(X, dtype=np.float64)
    c = np.array(centres, dtype=np.float64)
    w = np.ones(len(X)) if w is None else np.asarray(w, dtype=np.float64)
    for _ in range(n_iter):
        d = ((X[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        lab = d.argmin(axis=1)
        for k in range(len(c)):
            m = lab == k
            if w[m].sum() > 0:
                c[k] = (w[m, None] * X[m]).sum(axis=0) / w[m].sum()
    return c


def _passes(X, centres, n_iter, w=None, n_threads=2):
    """Exactly ``n_iter`` Lloyd passes of the driver (a negative tol never stops early)."""
    c, it, _, _ = kd._lloyd(X, w, centres, n_threads, tol=-1.0, max_iter=n_iter)
    assert it == n_iter
    return c


# ---------------------------------------------------------------------------
# the kernel
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1000, 3, 4), (1003, 1, 7), (77, 5, 1), (500, 11, 6)])
@pytest.mark.parametrize("direct", [0, 1], ids=["gemm", "direct"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lloyd_pass_matches_numpy(dtype, weighted, direct, shape, seed):
    """Both ways of forming the distances (GEMM and the direct loop over blocks of 8 rows,
    with short last blocks and centre counts that are not a multiple of 4)."""
    rng = np.random.default_rng(seed)
    N, D, K = shape
    R = 5
    X = _blobs(rng, N, D, K).astype(dtype)
    w = rng.uniform(0, 2, N) if weighted else None
    if weighted:
        w[rng.choice(N, N // 10, replace=False)] = 0.0
    centres = X[rng.choice(N, K, replace=False)].astype(np.float64)
    shift = centres.mean(axis=0)
    chunk, slot = 64, 192
    n_slots = -(-N // slot)
    sums, counts, inertia = np.zeros((n_slots, K * D)), np.zeros((n_slots, K)), np.zeros(n_slots)
    far_d = np.zeros((n_slots, R))
    far_r = np.zeros((n_slots, R), dtype=np.int64)
    far_l = np.zeros((n_slots, R), dtype=np.int64)
    labels = np.empty(N, dtype=np.int64)
    assert _kmeans.lloyd_pass(X, w, centres, shift, chunk, slot, sums, counts, inertia,
                              far_d, far_r, far_l, labels, 2, direct) == 0
    Xd = X.astype(np.float64)
    d = ((Xd[:, None, :] - centres[None]) ** 2).sum(-1)
    ww = np.ones(N) if w is None else w
    np.testing.assert_array_equal(labels, d.argmin(axis=1))
    dmin = d.min(axis=1)
    np.testing.assert_allclose(counts.sum(0), np.bincount(labels, weights=ww, minlength=K), rtol=1e-12)
    for k in range(K):
        m = labels == k
        np.testing.assert_allclose(sums.sum(0).reshape(K, D)[k], (ww[m, None] * (Xd[m] - shift)).sum(0),
                                   rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(inertia.sum(), ww @ dmin, rtol={np.float64: 1e-10, np.float32: 1e-5}[dtype])
    for s in range(n_slots):   # each slot's heap holds its R farthest present rows
        rows = np.arange(s * slot, min(N, (s + 1) * slot))
        rows = rows[ww[rows] > 0]
        top = rows[np.argsort(-dmin[rows], kind="stable")[:R]]
        assert set(far_r[s]) == set(top)
        np.testing.assert_array_equal(far_l[s], labels[far_r[s]])
        np.testing.assert_allclose(far_d[s], dmin[far_r[s]], rtol=1e-4 if dtype == np.float32 else 1e-9)


def test_lloyd_pass_rejects_mismatched_layouts():
    X, c, s = np.zeros((10, 2)), np.zeros((2, 2)), np.zeros(2)
    far = (np.zeros((1, 1)), np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1), dtype=np.int64))
    ok = (np.zeros((1, 4)), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="multiple of chunk_rows"):
        _kmeans.lloyd_pass(X, None, c, s, 4, 6, *ok, *far, None, 1)
    with pytest.raises(ValueError, match="shapes"):
        _kmeans.lloyd_pass(X, None, c, s, 16, 16, np.zeros((1, 3)), ok[1], ok[2], *far, None, 1)
    with pytest.raises(ValueError, match="sample_weight"):
        _kmeans.lloyd_pass(X, np.ones(9), c, s, 16, 16, *ok, *far, None, 1)


# ---------------------------------------------------------------------------
# Lloyd passes against the reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_lloyd_matches_reference(dtype, seed):
    rng = np.random.default_rng(seed)
    X = _blobs(rng, 3000, 5, 6, scale=2.0).astype(dtype)
    start = X[rng.choice(3000, 6, replace=False)].astype(np.float64)
    np.testing.assert_allclose(_passes(X, start, 6), reference_lloyd(X, start, 6), rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_lloyd_matches_reference(dtype, seed):
    rng = np.random.default_rng(seed)
    X = _blobs(rng, 3000, 4, 5, scale=2.0).astype(dtype)
    w = rng.exponential(size=3000)
    start = X[rng.choice(3000, 5, replace=False)].astype(np.float64)
    np.testing.assert_allclose(_passes(X, start, 5, w), reference_lloyd(X, start, 5, w),
                               rtol=RTOL[dtype], atol=RTOL[dtype])


def test_integer_weights_equal_repeated_rows(seed):
    rng = np.random.default_rng(seed)
    X = _blobs(rng, 2000, 3, 4, scale=2.0)
    reps = rng.integers(0, 4, 2000)
    start = X[rng.choice(np.flatnonzero(reps), 4, replace=False)]
    weighted = _passes(X, start, 5, reps.astype(np.float64))
    repeated = _passes(np.repeat(X, reps, axis=0), start, 5)
    np.testing.assert_allclose(weighted, repeated, rtol=1e-12, atol=1e-12)


def test_zero_weight_rows_are_absent(seed):
    rng = np.random.default_rng(seed)
    X = _blobs(rng, 6000, 3, 4)
    w = rng.uniform(0.5, 1.5, 6000)
    absent = rng.choice(6000, 600, replace=False)
    X[absent] = 1e3 + rng.normal(size=(600, 3))   # would pull a centre (or become one) if present
    w[absent] = 0.0
    start = X[np.flatnonzero(w)[:4]]
    np.testing.assert_allclose(_passes(X, start, 4, w), _passes(X[w > 0], start, 4, w[w > 0]),
                               rtol=1e-12, atol=1e-12)
    for s in range(5):
        centres = kmeans(X, 6, np.random.RandomState(s), 2, sample_weight=w)
        assert np.abs(centres).max() < 100
        _, idx = kmeans_plusplus(X, 6, np.random.RandomState(s), 2, sample_weight=w)
        assert np.all(w[idx] > 0)


@pytest.mark.parametrize("weighted", [False, True])
def test_results_bitwise_identical_for_any_thread_count(weighted):
    if not openmp_enabled():
        pytest.skip("built without OpenMP")
    rng = np.random.default_rng(5)
    X = _blobs(rng, 30000, 5, 6, scale=1.0)    # overlapping: many passes, many slots
    w = rng.uniform(0, 3, 30000) if weighted else None
    runs = [kmeans(X, 6, np.random.RandomState(0), t, sample_weight=w) for t in (1, 2, 3)]
    labels = [nearest_centre_labels(X, runs[0], t) for t in (1, 2, 3)]
    for t in (1, 2):
        np.testing.assert_array_equal(runs[t], runs[0])
        np.testing.assert_array_equal(labels[t], labels[0])


# ---------------------------------------------------------------------------
# shapes and data at the edges
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_data_far_from_origin(dtype):
    rng = np.random.default_rng(1)
    true = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])
    y = rng.integers(0, 4, 20000)
    X = (1e6 + true[y] + rng.normal(size=(20000, 2))).astype(dtype)
    centres = kmeans(X, 4, np.random.RandomState(0), 2)
    # float32 holds 1e6 only to 1/16: its centres are as good as its data.
    np.testing.assert_allclose(_sorted(centres) - 1e6, _sorted(true), atol=0.05 if dtype == np.float64 else 0.15)
    # Every row goes to the centre that is truly nearest (a row near a tie may not, in float32).
    Xd = X.astype(np.float64)
    d = ((Xd[:, None, :] - centres[None]) ** 2).sum(-1)
    agree = np.mean(nearest_centre_labels(X, centres, 2) == d.argmin(axis=1))
    assert agree == 1.0 if dtype == np.float64 else agree > 0.999
    start = Xd[:4] + 0.5
    np.testing.assert_allclose(_passes(X, start, 3), reference_lloyd(X, start, 3),
                               rtol=1e-12 if dtype == np.float64 else 1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_feature(dtype, seed):
    rng = np.random.default_rng(seed)
    X = _blobs(rng, 1500, 1, 3).astype(dtype)
    start = np.sort(X[:3].astype(np.float64), axis=0)
    np.testing.assert_allclose(_passes(X, start, 4), reference_lloyd(X, start, 4), rtol=RTOL[dtype])
    assert kmeans(X, 3, np.random.RandomState(seed), 2).shape == (3, 1)


def test_one_cluster_is_the_weighted_mean(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(10000, 3)) + 50
    w = rng.uniform(0, 1, 10000)
    np.testing.assert_allclose(kmeans(X, 1, np.random.RandomState(seed), 2, sample_weight=w)[0],
                               np.average(X, axis=0, weights=w), rtol=1e-12)


def test_fewer_rows_than_a_chunk(seed):
    rng = np.random.default_rng(seed)
    X = _blobs(rng, 20, 3, 3)
    start = X[:3].copy()
    np.testing.assert_allclose(_passes(X, start, 3), reference_lloyd(X, start, 3), rtol=1e-10, atol=1e-12)
    centres = kmeans(X, 3, np.random.RandomState(seed), 2)
    np.testing.assert_array_equal(nearest_centre_labels(X, centres, 2),
                                  ((X[:, None] - centres[None]) ** 2).sum(-1).argmin(1))


@pytest.mark.parametrize("repeats", [20, 1000])   # the whole data / a seeding sample
def test_duplicate_points_warn_like_sklearn(repeats):
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(10, 2)), repeats, axis=0)
    msg = re.escape("Number of distinct clusters (10) found smaller than n_clusters (15). "
                    "Possibly due to duplicate points in X.")
    with pytest.warns(ConvergenceWarning, match=msg):
        centres = kmeans(X, 15, np.random.RandomState(0), 2)
    assert len(np.unique(nearest_centre_labels(X, centres, 2))) == 10


def test_empty_cluster_moves_to_the_farthest_row(seed):
    rng = np.random.default_rng(seed)
    X = _blobs(rng, 2000, 2, 3)
    start = np.vstack([X[:3], [[1e4, 1e4]]])     # the last centre attracts no row
    d = ((X[:, None] - start[None, :3]) ** 2).sum(-1).min(1)
    c, _, n_nonempty, _ = kd._lloyd(X, None, start, 2, tol=-1.0, max_iter=1)
    assert n_nonempty == 3
    np.testing.assert_array_equal(c[3], X[np.argmax(d)])
    np.testing.assert_allclose(c[:3], reference_lloyd(X, start, 1)[:3], rtol=1e-10, atol=1e-12)


def test_separated_clusters_are_found_in_few_passes():
    rng = np.random.default_rng(3)
    true = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    X = true[rng.integers(0, 4, 20000)] + rng.normal(size=(20000, 2))
    centres, info = kd._kmeans_with_info(X, 4, np.random.RandomState(0), 2)
    np.testing.assert_allclose(_sorted(centres), _sorted(true), atol=0.05)
    assert info["sample_rows"] < 20000
    assert info["n_iter"] <= 3


# ---------------------------------------------------------------------------
# seeding
# ---------------------------------------------------------------------------

def test_weighted_draws_follow_the_weights(monkeypatch):
    monkeypatch.setattr(kd, "_BLOCK", 7)              # draws cross many blocks
    w = np.array([0.0, 1.0, 0.0, 0.0, 3.0, 2.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    draws = kd._weighted_draws(w, 200000, np.random.RandomState(0))
    freq = np.bincount(draws, minlength=len(w)) / draws.size
    assert np.all(freq[w == 0] == 0)
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.005)


def test_seeding_sample_is_bounded_and_carries_weight():
    X = np.zeros((100000, 16))
    S, ws = kd._seeding_sample(X, 16, np.random.RandomState(0), None)
    assert S.shape[0] <= 4096
    assert ws.sum() == 4096
    S, ws = kd._seeding_sample(X, 1000, np.random.RandomState(0), np.ones(100000))
    assert S.nbytes <= kd.SEED_MAX_BYTES
    assert ws.sum() == kd.SEED_MAX_BYTES // (8 * 16)


def test_kmeans_plusplus_picks_sklearns_rows(seed):
    sk = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(seed)
    X = _blobs(rng, 3000, 4, 6, scale=3.0)
    _, ours = kmeans_plusplus(X, 6, np.random.RandomState(seed), 2)
    _, theirs = sk.kmeans_plusplus(X, 6, random_state=np.random.RandomState(seed))
    np.testing.assert_array_equal(ours, theirs)


def test_weighted_kmeans_plusplus_picks_sklearns_rows(seed):
    sk = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(seed)
    X = _blobs(rng, 3000, 4, 6, scale=3.0)
    w = rng.exponential(size=3000)
    w[rng.choice(3000, 300, replace=False)] = 0.0
    _, ours = kmeans_plusplus(X, 6, np.random.RandomState(seed), 2, sample_weight=w)
    _, theirs = sk.kmeans_plusplus(X, 6, sample_weight=w, random_state=np.random.RandomState(seed))
    np.testing.assert_array_equal(ours, theirs)


def test_kmeans_memory_is_bounded():
    rng = np.random.default_rng(0)
    X = _blobs(rng, 400000, 4, 5, scale=1.0)   # 12.8 MB
    w = rng.uniform(0, 1, 400000)
    for sample_weight in (None, w):
        tracemalloc.start()
        kmeans(X, 5, np.random.RandomState(0), 2, sample_weight=sample_weight)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 1_000_000, peak   # an N-vector alone would be 3.2 MB


def test_rows_centred_or_not_give_the_same_passes(seed):
    # Near the origin float64 rows go to the GEMM as they are; 1e5 away (far
    # beyond 1e3 times the centres' spread) they are centred first.
    rng = np.random.default_rng(seed)
    X = _blobs(rng, 4000, 3, 4, scale=0.5)
    start = X[:4].copy()
    near = _passes(X, start, 4)
    far = _passes(X + 1e5, start + 1e5, 4) - 1e5
    np.testing.assert_allclose(far, near, rtol=0, atol=1e-8)
    np.testing.assert_allclose(near, reference_lloyd(X, start, 4), rtol=1e-10, atol=1e-12)


def test_distinct_rows_are_numpys_unique_rows():
    # The seeding sample's merge of identical rows: np.unique(axis=0)'s answer, by a stable argsort
    # of the first column when it has no ties (continuous rows), by lexsort otherwise (repeats).
    from fastgmm.kernels._kmeans_driver import _distinct_rows
    rng = np.random.default_rng(12)
    for dtype in (np.float64, np.float32):
        for n, d, continuous in [(1, 1, False), (7, 1, False), (50, 3, False), (300, 5, False),
                                 (1, 4, True), (2, 1, True), (300, 5, True), (4063, 8, True)]:
            if continuous:
                rows = rng.standard_normal((n, d)).astype(dtype)
            else:
                rows = (rng.integers(-2, 3, size=(n, d)) + rng.choice([0.0, 0.5], size=(n, d))).astype(dtype)
            want, want_inverse = np.unique(rows, axis=0, return_inverse=True)
            got, inverse = _distinct_rows(rows)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(inverse, want_inverse.ravel())
