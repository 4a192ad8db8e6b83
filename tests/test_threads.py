"""Thread handling: BLAS limits under concurrent fits, thread counts, CPU quotas."""

import math
import os
import threading

import numpy as np
import pytest
import threadpoolctl

import fastgmm
from fastgmm import GaussianMixture
from fastgmm.kernels import _openmp_helpers
from fastgmm.utils import _threadpool
from fastgmm.utils._threadpool import blas_single_thread, cgroup_cpu_limit, usable_cpu_count

from conftest import mixture_data

requires_openmp = pytest.mark.skipif(
    not _openmp_helpers.openmp_enabled(),
    reason="built without OpenMP: every thread count runs one thread, the comparison would pass trivially",
)


def _blas_threads():
    return [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]


@pytest.fixture
def blas_two_threads():
    """BLAS at 2 threads for the test, so a limit left at 1 afterwards is visible."""
    # Not threadpool_limits: with threadpoolctl >= 3.8 the thread that sets a
    # pthreads OpenBLAS limit becomes its only controller while the limit
    # lasts, and the fits' threads would be ignored, so a broken save/restore
    # would go unseen. Set the libraries directly instead.
    libs = _threadpool._find_blas_libs()
    if not libs:
        pytest.skip("no BLAS library visible to threadpoolctl")
    original = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        _threadpool._set_num_threads(lib, 2)
    try:
        before = _blas_threads()
        if min(before) < 2:
            pytest.skip(f"BLAS would not take 2 threads here ({before}): a lost limit would go unseen")
        yield before
    finally:
        for lib, n in zip(libs, original):
            _threadpool._set_num_threads(lib, n)
    assert _threadpool._blas_depth() == 0


@pytest.fixture
def fits_use_shared_limit(monkeypatch):
    """Make the estimator use ``blas_single_thread`` while it still has its own helper.

    Once _gaussian_mixture.py calls ``_threadpool.blas_single_thread`` itself
    the attribute is gone and this does nothing.
    """
    from fastgmm.families import _gaussian_mixture

    if hasattr(_gaussian_mixture, "_blas_single_thread"):
        monkeypatch.setattr(_gaussian_mixture, "_blas_single_thread", blas_single_thread)


# ----------------------------------------------------------------------
# blas_single_thread
# ----------------------------------------------------------------------
@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="the quick BLAS search reads /proc/self/maps")
def test_quick_blas_search_finds_what_threadpoolctl_finds():
    import scipy.linalg  # noqa: F401  (the BLAS the kernels call)

    quick = _threadpool._blas_libs_from_maps(threadpoolctl.ThreadpoolController)
    if quick is None:
        pytest.skip("this threadpoolctl lacks the internals of the quick search (the full one is used)")
    full = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
    assert sorted(lib.filepath for lib in quick) == sorted(lib.filepath for lib in full)


def test_quick_blas_search_falls_back_when_internals_change(monkeypatch):
    monkeypatch.delattr(threadpoolctl.ThreadpoolController, "_make_controller_from_path")
    assert _threadpool._blas_libs_from_maps(threadpoolctl.ThreadpoolController) is None


def test_blas_single_thread_limits_and_restores(blas_two_threads):
    with blas_single_thread():
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == blas_two_threads


def test_blas_single_thread_nested(blas_two_threads):
    with blas_single_thread():
        with blas_single_thread():
            assert set(_blas_threads()) == {1}
        # The inner exit must not restore while the outer one is still inside.
        assert set(_blas_threads()) == {1}
        with blas_single_thread():
            assert _threadpool._blas_depth() == 2
    assert _blas_threads() == blas_two_threads


def test_blas_single_thread_restores_on_error(blas_two_threads):
    with pytest.raises(RuntimeError, match="inside"):
        with blas_single_thread():
            raise RuntimeError("inside")
    assert _blas_threads() == blas_two_threads


def test_blas_single_thread_crosswise_threads(blas_two_threads):
    # A enters, B enters, A leaves, B leaves: the interleaving after which a
    # save/restore per caller leaves BLAS at 1 thread (B saved A's 1) and
    # runs B's kernels with BLAS multi-threaded after A's restore.
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}
    errors = []

    def a():
        try:
            with blas_single_thread():
                a_in.set()
                assert b_in.wait(10)
            a_out.set()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
            a_out.set()

    def b():
        try:
            assert a_in.wait(10)
            with blas_single_thread():
                b_in.set()
                assert a_out.wait(10)
                seen["after_a_left"] = _blas_threads()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
            b_in.set()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert set(seen["after_a_left"]) == {1}
    assert _blas_threads() == blas_two_threads


def test_blas_single_thread_many_threads(blas_two_threads):
    n, rounds = 8, 200
    barrier = threading.Barrier(n)
    errors = []

    def work():
        try:
            barrier.wait(10)
            for _ in range(rounds):
                with blas_single_thread():
                    with blas_single_thread():
                        pass
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert _threadpool._blas_depth() == 0
    assert _blas_threads() == blas_two_threads


# ----------------------------------------------------------------------
# Two fits in two Python threads
# ----------------------------------------------------------------------
def _assert_same_model(a, b):
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr), err_msg=attr)
    assert a.n_iter_ == b.n_iter_
    assert a.lower_bound_ == b.lower_bound_


def test_concurrent_fits(blas_two_threads, fits_use_shared_limit):
    # Different problems and sizes so the two fits leave in either order.
    X1, _ = mixture_data(6000, 5, 3, seed=0)
    X2, _ = mixture_data(3000, 3, 4, seed=1)
    jobs = [
        (X1, dict(n_components=3, covariance_type="full", random_state=0)),
        (X2, dict(n_components=4, covariance_type="diag", random_state=1)),
    ]
    expected = [GaussianMixture(**kw).fit(X) for X, kw in jobs]
    assert _blas_threads() == blas_two_threads

    for _ in range(5):
        barrier = threading.Barrier(len(jobs))
        models = [None] * len(jobs)
        errors = []

        def fit(i):
            try:
                X, kw = jobs[i]
                gm = GaussianMixture(**kw)
                barrier.wait(10)
                models[i] = gm.fit(X)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=fit, args=(i,)) for i in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        for got, want in zip(models, expected):
            _assert_same_model(got, want)
        assert _blas_threads() == blas_two_threads


def test_predict_inside_outer_limit(blas_two_threads, fits_use_shared_limit):
    X, _ = mixture_data(2000, 3, 2, seed=0)
    gm = GaussianMixture(2, random_state=0).fit(X)
    labels = gm.predict(X)
    with blas_single_thread():
        np.testing.assert_array_equal(gm.predict(X), labels)
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == blas_two_threads


@requires_openmp
@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_fit_same_for_any_thread_count(cov_type):
    X, _ = mixture_data(5000, 4, 3, seed=2)
    models = [GaussianMixture(3, covariance_type=cov_type, random_state=0, n_threads=t).fit(X) for t in (1, 2, 3)]
    for m in models[1:]:
        _assert_same_model(m, models[0])


# ----------------------------------------------------------------------
# threads_for_work
# ----------------------------------------------------------------------
threads_for_work = _openmp_helpers.threads_for_work


def test_threads_for_work_small_pass_single_thread():
    # The 9,000 x 4, K=3 fit of the report: P = 9 for diag.
    assert threads_for_work(2, 9000, 4 * 9 * 3) == 1
    assert threads_for_work(64, 100, 1e4) == 1
    assert threads_for_work(8, 0, 1e6) == 1


def test_threads_for_work_large_pass_all_threads():
    assert threads_for_work(2, 1_000_000, 4 * 33 * 16) == 2
    assert threads_for_work(16, 10_000_000, 4 * 33 * 16) == 16


def test_threads_for_work_bounds():
    for n_threads in (1, 2, 3, 7):
        last = 1
        for n_rows in np.unique(np.geomspace(1, 1e8, 60).astype(int)):
            t = threads_for_work(n_threads, int(n_rows), 200.0)
            assert 1 <= t <= n_threads
            assert t >= last   # more work never means fewer threads
            last = t
        assert last == n_threads
    assert threads_for_work(4, 10_000_000, float("nan")) >= 1
    assert threads_for_work(4, 10_000_000, -5) >= 1


@pytest.mark.parametrize("bad", [0, -1])
def test_threads_for_work_rejects_unresolved_count(bad):
    with pytest.raises(ValueError, match="resolved"):
        threads_for_work(bad, 1000, 10.0)


# ----------------------------------------------------------------------
# cgroup CPU quota
# ----------------------------------------------------------------------
def _write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("200000 100000\n", 2),
        ("150000 100000\n", 2),      # ceil: 1.5 CPUs -> 2 threads
        ("50000 100000\n", 1),       # at least 1
        ("1 100000\n", 1),
        ("max 100000\n", None),
        ("max\n", None),
        ("", None),
        ("garbage here\n", None),
        ("-1 100000\n", None),
        ("100000 0\n", None),
        ("4000000 1000000\n", 4),
    ],
)
def test_cgroup_v2(tmp_path, text, expected):
    _write(tmp_path, "cpu.max", text)
    assert cgroup_cpu_limit(tmp_path) == expected


@pytest.mark.parametrize(
    "quota, period, expected",
    [
        ("300000", "100000", 3),
        ("250000", "100000", 3),
        ("20000", "100000", 1),
        ("-1", "100000", None),
        ("abc", "100000", None),
        ("100000", "", None),
        ("100000", "0", None),
    ],
)
@pytest.mark.parametrize("controller", ["cpu", "cpu,cpuacct"])
def test_cgroup_v1(tmp_path, controller, quota, period, expected):
    _write(tmp_path, f"{controller}/cpu.cfs_quota_us", quota + "\n")
    _write(tmp_path, f"{controller}/cpu.cfs_period_us", period + "\n")
    assert cgroup_cpu_limit(tmp_path) == expected


def test_cgroup_missing_files(tmp_path):
    assert cgroup_cpu_limit(tmp_path) is None
    assert cgroup_cpu_limit(tmp_path / "does-not-exist") is None
    _write(tmp_path, "cpu/cpu.cfs_quota_us", "100000\n")   # period missing
    assert cgroup_cpu_limit(tmp_path) is None


def test_cgroup_v2_wins_over_v1(tmp_path):
    _write(tmp_path, "cpu.max", "max 100000\n")
    _write(tmp_path, "cpu/cpu.cfs_quota_us", "100000\n")
    _write(tmp_path, "cpu/cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_limit(tmp_path) is None


def test_usable_cpu_count_takes_the_quota(tmp_path):
    affinity = _threadpool._affinity_cpu_count()
    _write(tmp_path, "cpu.max", "100000 100000\n")
    assert usable_cpu_count(tmp_path) == 1
    big = tmp_path / "big"
    _write(big, "cpu.max", f"{(affinity + 3) * 100000} 100000\n")
    assert usable_cpu_count(big) == affinity   # a quota above the affinity mask does not add CPUs


@pytest.fixture
def fake_cgroup(tmp_path, monkeypatch):
    """Point fastgmm at a fake cgroup root allowing 1 CPU; OMP_NUM_THREADS unset."""
    _write(tmp_path, "cpu.max", "80000 100000\n")
    monkeypatch.setattr(_threadpool, "CGROUP_ROOT", str(tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return tmp_path


def test_effective_n_threads_honours_quota(fake_cgroup):
    assert _openmp_helpers.effective_n_threads(None) == 1
    assert _openmp_helpers.effective_n_threads(-1) == 1
    assert fastgmm.build_info()["max_threads"] == 1


@requires_openmp
def test_omp_num_threads_wins_over_quota(fake_cgroup, monkeypatch):
    # The runtime read OMP_NUM_THREADS when it started; setting it now only
    # tells effective_n_threads that the user has chosen.
    monkeypatch.setenv("OMP_NUM_THREADS", str(_openmp_helpers.openmp_max_threads()))
    assert _openmp_helpers.effective_n_threads(None) == _openmp_helpers.openmp_max_threads()


# ----------------------------------------------------------------------
# OpenMP wait policy
# ----------------------------------------------------------------------
def test_wait_policy_not_left_in_environment():
    # fastgmm sets OMP_WAIT_POLICY only while its OpenMP runtime starts.
    if _threadpool.wait_policy_source == "fastgmm":
        assert "OMP_WAIT_POLICY" not in os.environ
    else:
        assert _threadpool.wait_policy_source == "user"


def test_wait_policy_respects_user_choice(monkeypatch):
    calls = []
    monkeypatch.setattr(_threadpool, "wait_policy_source", None)
    monkeypatch.setenv("GOMP_SPINCOUNT", "1000")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    _threadpool.start_openmp_runtime_passive(lambda: calls.append(os.environ.get("OMP_WAIT_POLICY")))
    assert calls == [None]
    assert _threadpool.wait_policy_source == "user"

    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.delenv("KMP_BLOCKTIME", raising=False)
    calls.clear()
    _threadpool.start_openmp_runtime_passive(lambda: calls.append(os.environ.get("OMP_WAIT_POLICY")))
    assert calls == ["PASSIVE"]
    assert _threadpool.wait_policy_source == "fastgmm"
    assert "OMP_WAIT_POLICY" not in os.environ


def test_ceil_semantics_match_loky_doc():
    # loky.cpu_count: ceil(quota / period), at least 1 (a sanity check of the
    # helper on its own, without files).
    for q, p in [(1, 3), (3, 3), (4, 3), (10**6, 7)]:
        assert _threadpool._quota_cpus(str(q), str(p)) == max(1, math.ceil(q / p))
