"""The ordered slot reduction of the EM kernel: scaling with threads, and what waiting costs.

Times one E-step + statistics pass (``fastgmm.kernels._driver.accumulate``, BLAS
single-threaded as in a fit) on data of a workload's shape, for each thread
count, in three layouts:

* ``ordered``: the default, ~2 sqrt(N)-row slots added in slot order with two
  partials per thread;
* ``1-partial``: the same slots with one partial per thread, so a thread that
  finishes before the slot ahead of it has been added waits instead of
  computing its next slot (what the second partial hides);
* ``old-slots``: the same kernel with the slot count of the layout before the
  ordered reduction (``fastgmm.kernels._layout.slot_rows_for``: 4..128 slots within a
  memory budget), to see what the slot count alone did.

Besides the best time of ``--repeats`` passes it prints the slot count and
the fraction of slot additions that found an earlier slot not yet added
(``waits``: the thread then spun or yielded), from the kernel's diagnostics.
The thread counts are used as given (small passes are not cut down to fewer
threads as in a fit), so oversubscribed counts show the waiting at its worst.

Usage::

    python benchmarks/ordered_reduction.py                             # W2: 1M x 16, K=16, full
    python benchmarks/ordered_reduction.py --workload W6 --threads 1,2,4,8,16
    python benchmarks/ordered_reduction.py --workload W3 --n 100000 --repeats 3

Run it alone on the machine.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastgmm.kernels import _estep, _driver as _kernels, _layout
from fastgmm.families import _gaussian
import _paths  # noqa: F401 (tests/ on the path: the NumPy references)
import _reference as ref

WORKLOADS = {             # N, D, K, covariance type
    "W1": (1_000_000, 2, 4, "full"),
    "W2": (1_000_000, 16, 16, "full"),
    "W3": (1_000_000, 16, 16, "diag"),
    "W6": (200_000, 64, 32, "full"),
}


def _problem(N, D, K, cov_type, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 4.0, (K, D))
    X = means[rng.integers(0, K, N)] + rng.standard_normal((N, D))
    covs = np.array([np.eye(D) * rng.uniform(0.5, 2) for _ in range(K)])
    cov = {"full": covs, "tied": covs.mean(axis=0), "diag": np.array([np.diag(c) for c in covs]),
           "spherical": np.array([np.diag(c).mean() for c in covs])}[cov_type]
    pc = ref.compute_precision_cholesky(cov, cov_type)
    shift, W, U = _gaussian.kernel_coefficients(np.full(K, 1.0 / K), means, pc, cov_type)
    return X, shift, W, U, _gaussian.QUAD[cov_type]


def _time_pass(X, quad, K, shift, W, U, threads, repeats, slot_rows):
    best = np.inf
    _estep._slot_waits(reset=True)
    for _ in range(repeats):
        t0 = time.perf_counter()
        _kernels.accumulate(X, quad, K, shift, threads, W=W, U=U, slot_rows=slot_rows)
        best = min(best, time.perf_counter() - t0)
    return best, _estep._slot_waits(reset=True)


def main(argv=None):
    """Parse the options, build the data once, time the passes."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="W2", choices=sorted(WORKLOADS))
    p.add_argument("--n", type=int, default=None, help="rows (default: the workload's)")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    N, D, K, cov_type = WORKLOADS[args.workload]
    N = args.n or N
    X, shift, W, U, quad = _problem(N, D, K, cov_type)
    P = W.shape[0]
    chunk, slot, n_slots = _kernels._layout(N, D, K, P, 8, cov_type == "tied", None, None)
    old_slot = _layout.slot_rows_for(N, D, K, K * P + 1, 8, chunk)
    print(f"{args.workload}: N={N:,} D={D} K={K} {cov_type}, P={P}; {chunk}-row chunks; ordered: {n_slots} slots "
          f"of {slot} rows, partial {K * P * 8 / 1024:.1f} KiB per thread (x2); old layout: "
          f"{_layout.n_slots_for(N, old_slot)} slots; best of {args.repeats} passes")
    print(f"{'threads':>7} {'layout':>10} {'s/pass':>9} {'slots':>6} {'waits':>6}")
    # Every thread count as given, however small the pass (the tests' every_thread does the same).
    _kernels.threads_for_work = lambda n_threads, n_rows, row_cost: n_threads
    with threadpool_limits(1, "blas"):
        _kernels.accumulate(X, quad, K, shift, 1, W=W, U=U)       # warm up: pages, BLAS, OpenMP pool
        for t in (int(x) for x in args.threads.split(",")):
            for name, partials, slot_rows in (("ordered", 2, None), ("1-partial", 1, None),
                                              ("old-slots", 2, old_slot)):
                _estep._set_max_partials(partials)
                try:
                    sec, (slots, waits) = _time_pass(X, quad, K, shift, W, U, t, args.repeats, slot_rows)
                finally:
                    _estep._set_max_partials(2)
                print(f"{t:>7} {name:>10} {sec:>9.4f} {slots // args.repeats:>6} {waits / max(slots, 1):>6.1%}")


if __name__ == "__main__":
    main()
