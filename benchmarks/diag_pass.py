"""Time one E-step + statistics pass of the diagonal and spherical kernels (issue 19, part 3).

A profiling aid, not the benchmark protocol (that is ``run.py``): it calls
``fastgmm.kernels._driver.accumulate`` (BLAS single-threaded, as in a fit) on
the standard workloads' data and initial parameters (``datasets.py``: W3, W3o,
W4 by default), at each thread count, with the thread count used as given.
Workloads and thread counts are interleaved within each repeat, and the best
of ``--repeats`` is printed with the 1 -> 2 thread speed-up, so that on a
shared machine the comparison stays fair even when the absolute times drift.

With ``--compare`` it also checks that the pass gives the same bits for every
thread count (the lower bound and every statistic).

Usage::

    python benchmarks/diag_pass.py                         # W3, W3o, W4 at 1 and 2 threads
    python benchmarks/diag_pass.py --workloads W3o --repeats 20 --n 200000
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

import datasets  # benchmarks/datasets.py, beside this script
from fastgmm.families import _gaussian
from fastgmm.kernels import _driver


def problem(name, n_samples=None):
    """(X, quad, K, shift, W, U) of a workload at its initial parameters (as run.py starts a fit)."""
    wl = datasets.get_workload(name, n_samples=n_samples)
    X = datasets.load_data(wl)
    init = datasets.initial_parameters(wl)
    cov_type = wl.covariance_type
    shift, W, U = _gaussian.kernel_coefficients(init["weights"], init["means"], init["precisions_cholesky"],
                                                cov_type)
    return X, _gaussian.QUAD[cov_type], wl.n_components, shift, W, U


def one_pass(prob, threads):
    X, quad, K, shift, W, U = prob
    return _driver.accumulate(X, quad, K, shift, threads, W=W, U=U)


def main(argv=None):
    """Parse the options, load the data once, time the passes interleaved."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="W3,W3o,W4")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--n", type=int, default=None, help="rows (default: the workload's)")
    p.add_argument("--compare", action="store_true", help="check the bits agree across thread counts")
    args = p.parse_args(argv)
    names = args.workloads.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    probs = {name: problem(name, args.n) for name in names}
    # Every thread count as given, however small the pass.
    _driver.threads_for_work = lambda n_threads, n_rows, row_cost: n_threads
    best = {(name, t): np.inf for name in names for t in threads}
    with threadpool_limits(1, "blas"):
        for name in names:
            one_pass(probs[name], max(threads))   # warm up: pages, BLAS, OpenMP pool
            if args.compare:
                outs = [one_pass(probs[name], t) for t in threads]
                same = all(np.array_equal(o[0], outs[0][0]) and o[2] == outs[0][2] for o in outs)
                print(f"{name}: bitwise identical for threads {threads}: {same}")
        for _ in range(args.repeats):
            for name in names:
                for t in threads:
                    t0 = time.perf_counter()
                    one_pass(probs[name], t)
                    best[name, t] = min(best[name, t], time.perf_counter() - t0)
    print(f"best of {args.repeats} passes, s/pass (shared machine: compare within one run only)")
    for name in names:
        row = "  ".join(f"{t} thr {best[name, t]:.4f}" for t in threads)
        scale = f"  speed-up {best[name, threads[0]] / best[name, threads[-1]]:.2f}x" if len(threads) > 1 else ""
        print(f"{name:>4}: {row}{scale}")


if __name__ == "__main__":
    main()
