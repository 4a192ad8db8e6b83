"""Time one fused pass of the EM kernel (E-step + all sufficient statistics).

A quick profiling aid, not the benchmark protocol (that is ``run.py``): it
calls ``fastgmm.families._gaussian_mixture.gaussian_statistics`` directly on data of a standard workload's
shape, for each covariance type, dtype and thread count, and prints the best
of ``--repeats`` passes with the achieved rate under two flop conventions:

* ``work``: 2·N·K·D² for full (E-step with a triangular factor N·K·D² plus the
  symmetric weighted Gram N·K·D²), the convention of run.py;
* ``exec``: what the kernel actually executes, two GEMMs of 2·N·P·K flops
  (P = the length of a row's feature vector, see fastgmm.kernels._estep).

Usage::

    python benchmarks/kernel_pass.py                      # W2's shape, all types, 1 and 2 threads
    python benchmarks/kernel_pass.py --n 200000 --d 64 --k 32 --types full
    python benchmarks/kernel_pass.py --dtype float32 --types full,diag

Run it alone on the machine.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastgmm.families import _gaussian
from fastgmm.families._gaussian_passes import gaussian_statistics
import _paths  # noqa: F401 (tests/ on the path: the NumPy references)
import _reference as ref

import datasets  # benchmarks/datasets.py, beside this script


def _params(rng, K, D, cov_type, scale):
    means = rng.normal(0, scale, (K, D))
    covs = []
    for _ in range(K):
        A = rng.standard_normal((D, D))
        covs.append((A @ A.T / D + 0.5 * np.eye(D)) * rng.uniform(0.5, 2))
    weights = np.full(K, 1.0 / K)
    cov = datasets.reduce_covariances(np.array(covs), weights, cov_type)
    return weights, means, ref.compute_precision_cholesky(cov, cov_type)


def main(argv=None):
    """Parse the options, build the data once, time the passes."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--types", default="full,tied,diag,spherical")
    p.add_argument("--dtype", default="float64,float32")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--scale", type=float, default=4.0, help="spread of the means (4: W2, 1: W2o)")
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    N, D, K = args.n, args.d, args.k
    means_true = rng.normal(0, args.scale, (K, D))
    X = np.empty((N, D))
    labels = rng.integers(0, K, N)
    for a in range(0, N, 100_000):
        X[a:a + 100_000] = means_true[labels[a:a + 100_000]] + rng.standard_normal((min(100_000, N - a), D))
    print(f"N={N:,} D={D} K={K}; best of {args.repeats} passes; s/pass, GFLOP/s (work | executed)")
    print("(the thread count is the upper bound given to the pass; small passes use fewer)")
    with threadpool_limits(1, "blas"):
        for dtype in args.dtype.split(","):
            Xd = X.astype(dtype, copy=False)
            for cov_type in args.types.split(","):
                w, m, pc = _params(rng, K, D, cov_type, args.scale)
                P = _gaussian.n_features_out(cov_type, D)
                work = {"full": 2 * N * K * D * D, "tied": N * K * D * D + N * D * D}.get(cov_type)
                executed = 4 * N * P * K
                for t in (int(x) for x in args.threads.split(",")):
                    best = np.inf
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        gaussian_statistics(Xd, w, m, pc, cov_type, t)
                        best = min(best, time.perf_counter() - t0)
                    w_rate = f"{work / best / 1e9:6.1f}" if work else "     -"
                    print(f"{cov_type:>9} {dtype} threads={t}: {best:.4f} s/pass   "
                          f"{w_rate} | {executed / best / 1e9:6.1f} GFLOP/s   "
                          f"{Xd.nbytes / best / 1e9:5.1f} GB/s of X")


if __name__ == "__main__":
    main()
