"""Ctrl-C during a fit: passes split into slot ranges, bitwise as one call; a real SIGINT."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastgmm.families import _gaussian
from fastgmm.kernels import _driver as _kernels
import _reference as ref

COV_TYPES = ["full", "tied", "diag", "spherical"]


def _problem(seed, cov_type, dtype, N=1000, D=3, K=4):
    rng = np.random.default_rng(seed)
    X = (rng.normal(0, 3, (K, D))[rng.integers(0, K, N)] + rng.normal(size=(N, D))).astype(dtype)
    weights = rng.dirichlet(np.full(K, 3.0))
    means = X[rng.choice(N, K, replace=False)].astype(np.float64)
    covs = np.array([a @ a.T / D + 0.5 * np.eye(D) for a in rng.normal(size=(K, D, D))])
    cov = {"full": covs, "tied": covs.mean(axis=0), "diag": np.array([np.diag(c) for c in covs]),
           "spherical": np.array([np.diag(c).mean() for c in covs])}[cov_type]
    shift, W, U = _gaussian.kernel_coefficients(weights, means, ref.compute_precision_cholesky(cov, cov_type),
                                                cov_type)
    return rng, X, K, shift, W, U, _gaussian.QUAD[cov_type]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("range_slots", [1, 2, 3])
def test_split_pass_is_bitwise_one_call(cov_type, dtype, range_slots):
    rng, X, K, shift, W, U, quad = _problem(0, cov_type, dtype)
    N = X.shape[0]
    sw = rng.uniform(0, 2, N)
    resp = rng.dirichlet(np.ones(K), N)
    labels = rng.integers(-1, K, N)
    for mode, kw in ((_kernels.RESP_ESTEP, {"W": W, "U": U, "sample_weight": sw}),
                     (_kernels.RESP_HARD, {"W": W, "U": U}),
                     (_kernels.RESP_GIVEN, {"resp": resp}),
                     (_kernels.RESP_LABELS, {"labels": labels, "sample_weight": sw})):
        # 32-row chunks, 96-row slots: 11 slots, the last one partial
        one = _kernels.accumulate(X, quad, K, shift, 2, mode=mode, chunk_rows=32, slot_rows=96,
                                  range_slots=10**6, **kw)
        split = _kernels.accumulate(X, quad, K, shift, 2, mode=mode, chunk_rows=32, slot_rows=96,
                                    range_slots=range_slots, **kw)
        for a, b in zip(one, split):
            assert (a is None and b is None) or np.array_equal(a, b)
    everything = {"row_ll": True, "labels": True, "resp": True, "total": True}
    one = _kernels.estimate(X, quad, shift, W, U, 2, range_slots=10**6, **everything)
    split = _kernels.estimate(X, quad, shift, W, U, 2, range_slots=range_slots, **everything)
    for a, b in zip(one, split):
        assert np.array_equal(a, b)


def test_default_split_matches_one_call_on_a_pass_of_several_ranges(monkeypatch):
    # 20,000 rows: 52 slots of one 384-row chunk
    rng, X, K, shift, W, U, quad = _problem(1, "full", np.float64, N=20_000, D=4, K=5)
    one = _kernels.accumulate(X, quad, K, shift, 2, W=W, U=U)
    # a range budget of a few slots' work, as on a large pass
    monkeypatch.setattr(_kernels, "RANGE_WORK_PER_THREAD", 2e5)
    chunk, slot, n_slots = _kernels._layout(20_000, 4, K, W.shape[0], 8, False, None, None)
    assert len(_kernels._slot_ranges(20_000, slot, n_slots, _kernels._row_cost(W.shape[0], K), 2)) > 1
    split = _kernels.accumulate(X, quad, K, shift, 2, W=W, U=U)
    assert np.array_equal(one[0], split[0])
    assert one[2] == split[2]


def test_slot_ranges_cover_every_slot_in_order():
    # small passes: one call
    assert _kernels._slot_ranges(1000, 96, 11, 100, 2) == [(0, 11)]
    # a 1M x 16 full K=16 pass (16 slots) on 2 threads: several calls of whole slots,
    # each a multiple of the thread count but the last
    N, P, K = 10**6, 153, 16
    ranges = _kernels._slot_ranges(N, 62_592, 16, _kernels._row_cost(P, K), 2)
    assert len(ranges) > 1
    assert ranges[0][0] == 0
    assert ranges[-1][1] == 16
    assert all(a1 == b0 for (_, a1), (b0, _) in zip(ranges, ranges[1:]))
    assert all((b - a) % 2 == 0 for a, b in ranges[:-1])
    assert _kernels._slot_ranges(N, 96, 11, 1, 1, range_slots=4) == [(0, 4), (4, 8), (8, 11)]


_CHILD = textwrap.dedent("""
    import numpy as np
    import fastgmm
    X = np.random.default_rng(0).standard_normal(({n}, 16))
    def callback(n_iter, lower_bound, est):
        if n_iter == 1:
            print("READY", flush=True)
    gm = fastgmm.GaussianMixture({k}, covariance_type="full", max_iter=1000, tol=0, random_state=0,
                                 init_params="random_from_data", callback=callback, n_threads=2)
    try:
        gm.fit(X)
    except KeyboardInterrupt:
        # never half-updated: the attributes are one complete iteration's
        ok = (gm.n_iter_ >= 1 and len(gm.lower_bounds_) == gm.n_iter_
              and gm.lower_bound_ == gm.lower_bounds_[-1] and not gm.converged_
              and np.all(np.isfinite(gm.means_)) and np.isclose(gm.weights_.sum(), 1.0))
        print("STATE", "ok" if ok else "BAD", gm.n_iter_, flush=True)
        raise
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_real_ctrl_c_stops_the_fit_mid_pass():
    # 300,000 x 16 rows, K=64 full: a pass is ~0.3-0.5 s on 2 cores, split into several kernel calls
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", _CHILD.format(n=300_000, k=64)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(0.15)   # inside the second pass
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)   # a generous bound, not a timing assertion
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "FitInterruptedWarning" in err, err
    assert "last complete EM iteration" in err, err
    assert "KeyboardInterrupt" in err, err
    assert "STATE ok" in out, out
    # An uncaught KeyboardInterrupt ends CPython by re-raising SIGINT with the
    # default action (exit status 130 in a shell); anything else, e.g. SIGSEGV
    # or SIGABRT (a core dump), is a crash.
    assert proc.returncode in (-signal.SIGINT, 130), (proc.returncode, err)
    assert "Fatal Python error" not in err
    assert "core dumped" not in err


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_missing_value_pass_split_into_ranges_is_bitwise_identical(cov_type, monkeypatch):
    """The missing-value pass is cut into kernel calls over ranges of whole slots too
    (Ctrl-C is seen between them): any split gives the same fit."""
    import functools

    from fastgmm import GaussianMixture
    from fastgmm.kernels import _driver as _kernels
    from fastgmm.datasets import make_mixture

    X, _, _ = make_mixture(3000, 4, 3, cov_type, random_state=0)
    rng = np.random.default_rng(0)
    rows = np.flatnonzero(rng.random(len(X)) < 0.3)
    X[rows, rng.integers(0, 4, rows.size)] = np.nan
    kw = dict(n_components=3, covariance_type=cov_type, nan_policy="marginalize", random_state=0,
              max_iter=5, tol=0)
    whole = GaussianMixture(**kw).fit(X)
    monkeypatch.setattr(_kernels, "accumulate", functools.partial(_kernels.accumulate, range_slots=3))
    split = GaussianMixture(**kw).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(split, name), getattr(whole, name), err_msg=name)
    assert split.lower_bounds_ == whole.lower_bounds_
