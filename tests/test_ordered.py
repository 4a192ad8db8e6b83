"""The ordered slot reduction of the EM kernel (_estep's Gaussian and Student-t modes; _ordered.h).

Each thread sums one slot into a private partial and adds it into the single
result only after every earlier slot: results must be bitwise identical for
any thread count. 1 to 8 threads on a 2-core machine oversubscribe it, so
threads often wait for a slot whose thread is not even running: a stress
test of the waiting. Every mode that uses the slot outputs is covered (the
covariance types, tied's T, weights, the given-responsibility and label
modes, missing-value segments, one-hot codes and their first bad code,
Student-t), plus the layouts: a pass smaller than one slot, many slots, a
split into several kernel calls, and one thread failing its allocation.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastgmm.kernels import _estep, _driver as _kernels, _layout
from fastgmm.families import _gaussian, _gaussian_missing as _missing
import _reference as ref
from fastgmm.families import _studentt as st
from fastgmm.families._gaussian_passes import gaussian_statistics

from conftest import needs_openmp
from test_kernels import _data, _random_params

COV_TYPES = ["full", "tied", "diag", "spherical"]
DTYPES = [np.float64, np.float32]
THREADS = range(1, 9)


def _problem(seed, cov_type, dtype, N=3000, D=3, K=4):
    """(rng, X, weights, means, covariances, precision factors) of a random mixture."""
    rng = np.random.default_rng(seed)
    X = _data(rng, N, D, K).astype(dtype)
    weights, means, pc = _random_params(rng, X.astype(np.float64), K, cov_type)
    return rng, X, weights, means, ref.covariances_from_precisions_cholesky(pc, cov_type), pc


def _coefficients(weights, means, pc, cov_type):
    shift, W, U = _gaussian.kernel_coefficients(weights, means, pc, cov_type)
    return shift, W, U, _gaussian.QUAD[cov_type]


def _assert_all_bitwise_equal(runs):
    """Every run's outputs (tuples of arrays, floats or None) equal the first run's bit for bit."""
    first = runs[0]
    for t, other in enumerate(runs[1:], start=2):
        for i, (a, b) in enumerate(zip(first, other)):
            if a is None:
                assert b is None, f"output {i}: None at 1 thread, not at {t}"
            else:
                np.testing.assert_array_equal(a, b, err_msg=f"output {i} differs at {t} threads")


# ---------------------------------------------------------------------------
# thread invariance, 1 to 8 threads, many slots
# ---------------------------------------------------------------------------

@needs_openmp
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_estep_statistics_bitwise_identical_at_1_to_8_threads(cov_type, dtype, weighted, every_thread):
    rng, X, weights, means, _, pc = _problem(0, cov_type, dtype)
    shift, W, U, quad = _coefficients(weights, means, pc, cov_type)
    sw = rng.uniform(0, 2, len(X)) if weighted else None
    # 16-row chunks, 32-row slots: 94 slots, the last one partial
    runs = [_kernels.accumulate(X, quad, len(weights), shift, t, W=W, U=U, sample_weight=sw, chunk_rows=16,
                                slot_rows=32) for t in THREADS]
    _assert_all_bitwise_equal(runs)


@pytest.mark.parametrize("n_threads", [1, 2, 8])
@pytest.mark.parametrize("cov_type", ["full", "tied"])
def test_result_is_the_slots_summed_in_slot_order(cov_type, n_threads, every_thread):
    # The reference: each slot's sums alone (a pass over its rows only), added one after the other.
    rng, X, weights, means, _, pc = _problem(12, cov_type, np.float64, N=1000)
    shift, W, U, quad = _coefficients(weights, means, pc, cov_type)
    sw = rng.uniform(0, 2, len(X))
    kw = dict(W=W, U=U, chunk_rows=16, slot_rows=48)
    G = np.zeros((4, _gaussian.n_features_out(cov_type, 3)))
    T = np.zeros((3, 3)) if cov_type == "tied" else None
    ll = 0.0
    for r0 in range(0, len(X), 48):
        g, t, l = _kernels.accumulate(X[r0:r0 + 48], quad, 4, shift, 1, sample_weight=sw[r0:r0 + 48], **kw)
        G = G + g
        T = None if T is None else T + t
        ll = ll + l
    got = _kernels.accumulate(X, quad, 4, shift, n_threads, sample_weight=sw, **kw)
    _assert_all_bitwise_equal([(G, T, ll), got])


@needs_openmp
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_given_and_label_modes_bitwise_identical_at_1_to_8_threads(cov_type, every_thread):
    rng, X, weights, means, _, pc = _problem(1, cov_type, np.float64)
    shift, W, U, quad = _coefficients(weights, means, pc, cov_type)
    K = len(weights)
    resp = rng.dirichlet(np.ones(K), len(X))
    labels = rng.integers(-1, K, len(X))
    sw = rng.uniform(0, 2, len(X))
    for mode, kw in ((_kernels.RESP_GIVEN, {"resp": resp, "sample_weight": sw}),
                     (_kernels.RESP_LABELS, {"labels": labels}),
                     (_kernels.RESP_HARD, {"W": W, "U": U})):
        runs = [_kernels.accumulate(X, quad, K, shift, t, mode=mode, chunk_rows=16, slot_rows=48, **kw)
                for t in THREADS]
        _assert_all_bitwise_equal(runs)


@needs_openmp
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_estimate_total_bitwise_identical_at_1_to_8_threads(cov_type, every_thread):
    _, X, weights, means, _, pc = _problem(2, cov_type, np.float32, N=40_000)
    shift, W, U, quad = _coefficients(weights, means, pc, cov_type)
    # the default layout: 105 slots of one 384-row chunk
    runs = [_kernels.estimate(X, quad, shift, W, U, t, row_ll=True, labels=True, resp=True, total=True)
            for t in THREADS]
    _assert_all_bitwise_equal(runs)


@needs_openmp
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_missing_value_segments_bitwise_identical_at_1_to_8_threads(cov_type, every_thread):
    rng, X, weights, means, cov, pc = _problem(3, cov_type, np.float64, N=2000, D=4)
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    X[0] = np.nan                      # a row with nothing observed
    missing = _missing.group_patterns(X)
    sw = rng.uniform(0, 2, len(X))

    def run(t):
        stats = _missing.missing_statistics(X, missing, weights, means, cov, pc, cov_type, t, sample_weight=sw,
                                            chunk_rows=4, slot_rows=8)
        est = _missing.missing_estimate(X, missing, weights, means, cov, pc, cov_type, t, row_ll=True,
                                        total=True)
        return stats.nk, stats.s1, stats.s2, stats.loglik, est[0], est[3]

    _assert_all_bitwise_equal([run(t) for t in THREADS])


@needs_openmp
def test_onehot_statistics_bitwise_identical_at_1_to_8_threads(every_thread):
    rng = np.random.default_rng(4)
    n_levels = [2, 4, 3]
    N = 3000
    codes = np.ascontiguousarray(np.column_stack([rng.integers(n, size=N) for n in n_levels]), dtype=np.int32)
    offsets = np.array([0, 2, 6, 9], dtype=np.int64)
    W = rng.normal(size=(10, 3))
    runs = [_kernels.accumulate(np.zeros((N, 3)), _estep.QONEHOT, 3, np.zeros(3), t, W=W, codes=codes,
                                offsets=offsets, chunk_rows=48, slot_rows=96) for t in THREADS]
    _assert_all_bitwise_equal(runs)


@needs_openmp
@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical"])
def test_studentt_statistics_bitwise_identical_at_1_to_8_threads(cov_type, every_thread):
    rng, X, weights, means, _, pc = _problem(5, cov_type, np.float64)
    dof = np.array([3.0, 5.0, 9.0, 30.0])
    sw = rng.uniform(0, 2, len(X))

    def run(t):
        s = st.t_statistics(X, weights, means, pc, dof, cov_type, t, sample_weight=sw, chunk_rows=16, slot_rows=32)
        est = st.t_estimate(X, weights, means, pc, dof, cov_type, t, total=True)
        return s.u_stats.nk, s.u_stats.s1, s.u_stats.s2, s.loglik, s.nk, s.h, est[3]

    _assert_all_bitwise_equal([run(t) for t in THREADS])


# ---------------------------------------------------------------------------
# pipelined additions: a partial added block by block, each block in slot order
# ---------------------------------------------------------------------------

@pytest.fixture
def tiny_add_blocks():
    """Additions in blocks of 3 doubles: many blocks, each with its own turn, even on small problems."""
    _estep._set_add_block(3)
    yield
    _estep._set_add_block(0)


@needs_openmp
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_additions_in_tiny_blocks_are_bitwise_the_default_at_1_to_8_threads(cov_type, every_thread):
    rng, X, weights, means, _, pc = _problem(9, cov_type, np.float64)
    shift, W, U, quad = _coefficients(weights, means, pc, cov_type)
    sw = rng.uniform(0, 2, len(X))
    kw = dict(W=W, U=U, sample_weight=sw, chunk_rows=16, slot_rows=32)
    default = _kernels.accumulate(X, quad, len(weights), shift, 1, **kw)
    _estep._set_add_block(3)
    try:
        runs = [_kernels.accumulate(X, quad, len(weights), shift, t, **kw) for t in THREADS]
    finally:
        _estep._set_add_block(0)
    _assert_all_bitwise_equal([default] + runs)


@needs_openmp
def test_studentt_additions_in_tiny_blocks_are_bitwise_the_default_at_1_to_8_threads(every_thread):
    # R and H lie between G and ll in the Student-t partial: blocks of 3 doubles cut through all four
    rng, X, weights, means, _, pc = _problem(12, "full", np.float64)
    dof = np.array([3.0, 5.0, 9.0, 30.0])
    sw = rng.uniform(0, 2, len(X))

    def run(t):
        s = st.t_statistics(X, weights, means, pc, dof, "full", t, sample_weight=sw, chunk_rows=16, slot_rows=32)
        return s.u_stats.nk, s.u_stats.s1, s.u_stats.s2, s.loglik, s.nk, s.h

    default = run(1)
    _estep._set_add_block(3)
    try:
        runs = [run(t) for t in THREADS]
    finally:
        _estep._set_add_block(0)
    _assert_all_bitwise_equal([default] + runs)


@needs_openmp
def test_segments_in_tiny_blocks_are_bitwise_identical_at_1_to_8_threads(every_thread, tiny_add_blocks):
    rng, X, weights, means, cov, pc = _problem(10, "full", np.float64, N=1500, D=4)
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    missing = _missing.group_patterns(X)

    def run(t):
        stats = _missing.missing_statistics(X, missing, weights, means, cov, pc, "full", t, chunk_rows=4,
                                            slot_rows=8)
        return stats.nk, stats.s1, stats.s2, stats.loglik

    _assert_all_bitwise_equal([run(t) for t in THREADS])


@pytest.mark.parametrize("n_threads", [1, 3, 8])
def test_onehot_first_bad_code_with_tiny_blocks(n_threads, every_thread, tiny_add_blocks):
    codes = np.zeros((3000, 2), dtype=np.int32)
    codes[2990, 0] = 7
    codes[1000, 1] = 9
    with pytest.raises(ValueError, match="code 9 at row 1000, column 1"):
        _kernels.accumulate(np.zeros((3000, 2)), _estep.QONEHOT, 2, np.zeros(2), n_threads, W=np.zeros((5, 2)),
                            codes=codes, offsets=np.array([0, 2, 4], dtype=np.int64), chunk_rows=48, slot_rows=96)


@needs_openmp
def test_studentt_wide_partial_is_bitwise_identical_at_1_to_8_threads(every_thread):
    # K = 48, D = 8 full: a partial of 1 + 2 K + K P = 2,257 doubles, two blocks of the default additions
    rng, X, weights, means, _, pc = _problem(11, "full", np.float64, N=2000, D=8, K=48)
    dof = rng.uniform(2, 30, 48)

    def run(t):
        s = st.t_statistics(X, weights, means, pc, dof, "full", t, chunk_rows=16, slot_rows=32)
        return s.u_stats.nk, s.u_stats.s1, s.u_stats.s2, s.loglik, s.nk, s.h

    _assert_all_bitwise_equal([run(t) for t in THREADS])


# ---------------------------------------------------------------------------
# the first invalid one-hot code is the first by row order, whoever finds it
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n_threads", THREADS)
def test_onehot_reports_the_first_bad_code_by_row_order(n_threads, every_thread):
    codes = np.zeros((3000, 2), dtype=np.int32)
    # in 96-row slots 31, 20 (twice, in one chunk) and 27: the earliest row must win, not the first found
    codes[2990, 0] = 7
    codes[1930, 1] = 9
    codes[1925, 0] = -1
    codes[2600, 1] = 4
    with pytest.raises(ValueError, match="code -1 at row 1925, column 0"):
        _kernels.accumulate(np.zeros((3000, 2)), _estep.QONEHOT, 2, np.zeros(2), n_threads, W=np.zeros((5, 2)),
                            codes=codes, offsets=np.array([0, 2, 4], dtype=np.int64), chunk_rows=48, slot_rows=96)


# ---------------------------------------------------------------------------
# layouts
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_pass_smaller_than_one_slot_matches_the_reference(cov_type, every_thread):
    rng, X, weights, means, _, pc = _problem(6, cov_type, np.float64, N=200)
    _, slot, n_slots = _kernels._layout(200, 3, 4, _gaussian.n_features_out(cov_type, 3), 8, cov_type == "tied",
                                        None, None)
    assert n_slots == 1 and slot > 200
    stats = gaussian_statistics(X, weights, means, pc, cov_type, 8)
    _, log_resp = ref.e_step(X, weights, means, pc, cov_type)
    r = np.exp(log_resp)
    np.testing.assert_allclose(stats.nk, r.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(stats.s1, r.T @ (X - stats.centre), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_many_small_slots_match_one_slot(cov_type):
    _, X, weights, means, _, pc = _problem(7, cov_type, np.float64, N=1000)
    one = gaussian_statistics(X, weights, means, pc, cov_type, 2, chunk_rows=16, slot_rows=1008)
    many = gaussian_statistics(X, weights, means, pc, cov_type, 2, chunk_rows=16, slot_rows=16)
    for name in ("nk", "s1", "s2", "loglik"):
        np.testing.assert_allclose(getattr(many, name), getattr(one, name), rtol=1e-12, atol=1e-9, err_msg=name)


@needs_openmp
@pytest.mark.parametrize("range_slots", [1, 3, 7])
def test_split_pass_at_8_threads_is_bitwise_one_call(range_slots, every_thread):
    _, X, weights, means, _, pc = _problem(8, "tied", np.float64)
    shift, W, U, quad = _coefficients(weights, means, pc, "tied")
    one = _kernels.accumulate(X, quad, 4, shift, 8, W=W, U=U, chunk_rows=16, slot_rows=32, range_slots=10**6)
    split = _kernels.accumulate(X, quad, 4, shift, 8, W=W, U=U, chunk_rows=16, slot_rows=32,
                                range_slots=range_slots)
    _assert_all_bitwise_equal([one, split])


@pytest.mark.parametrize("N, D, K, cov_type, at_least", [
    (200_000, 64, 32, "full", 128),       # W6: 4 slots in the old memory-bound layout
    (10**6, 64, 32, "full", 3 * 128),
    (10**6, 16, 16, "full", 3 * 128),     # W2: 16 slots before
    (10**6, 16, 16, "diag", 3 * 128),     # W3
])
def test_default_layout_has_slots_for_128_threads(N, D, K, cov_type, at_least):
    P = _gaussian.n_features_out(cov_type, D)
    _, _, n_slots = _kernels._layout(N, D, K, P, 8, False, None, None)
    assert n_slots >= at_least


def test_slot_rows_depend_on_the_shape_only():
    # ~2 sqrt(N) rows, whole chunks, at least one
    assert _layout.ordered_slot_rows_for(10**6, 48) == 42 * 48
    assert _layout.ordered_slot_rows_for(10, 48) == 48
    # (not the dtype: float32 and float64 X give the same layout; tied has its own chunk budget)
    assert _kernels._layout(10**6, 16, 16, 153, 8, False, None, None) == \
        _kernels._layout(10**6, 16, 16, 153, 4, False, None, None)


# ---------------------------------------------------------------------------
# one thread failing its allocation: a clean MemoryError, no thread left waiting
# ---------------------------------------------------------------------------

_FAIL_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from fastgmm.kernels import _estep, _driver as _kernels
    thread, n_threads, family = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    X = np.random.default_rng(0).normal(size=(20_000, 3))
    W = np.zeros((_estep.n_features_out(_estep.QFULL, 3), 4))
    _kernels.threads_for_work = lambda n_threads, n_rows, row_cost: n_threads   # as the every_thread fixture

    def run():
        if family == "gaussian":
            return _kernels.accumulate(X, _estep.QFULL, 4, np.zeros(3), n_threads, W=W, chunk_rows=16,
                                       slot_rows=32)[0].ravel()
        G, R, H, ll = np.zeros(W.size), np.zeros(4), np.zeros(4), np.zeros(1)
        # a = 0, nu = 1: equal t log-densities, so again every responsibility is 1/4
        _kernels._check_status(_estep.accumulate_t_statistics(
            X, _estep.QFULL, np.zeros(3), W, np.zeros(4), np.ones(4), None, 16, 32, G, R, H, ll, n_threads))
        return R

    _estep._fail_allocation_in_thread(thread)
    for _ in range(20):
        try:
            run()
        except MemoryError:
            continue
        print("no MemoryError")
        sys.exit(3)
    _estep._fail_allocation_in_thread(-1)
    print("ok", run()[0])
""")


@needs_openmp
@pytest.mark.parametrize("family", ["gaussian", "student-t"])
@pytest.mark.parametrize("thread", [0, 1, 5])
def test_one_thread_failing_its_allocation_is_a_memory_error_not_a_hang(thread, family):
    # A child process, so that a deadlock is a timeout here rather than a hung test run.
    proc = subprocess.run([sys.executable, "-c", _FAIL_CHILD, str(thread), "6", family], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # W = 0: every responsibility is 1/4, so sum_i r_i0 = 5000 once the injected failure is off
    assert proc.stdout.split() == ["ok", "5000.0"], proc.stdout
