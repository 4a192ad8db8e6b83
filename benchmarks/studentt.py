"""Seconds per EM iteration of StudentTMixture against a NumPy EM and against GaussianMixture.

For each covariance type (full, diag; 1M x 16, K=8 by default) X is drawn
from a known t mixture (nu = 5, seeded); every variant starts from the same
parameters (the true ones, perturbed) and each repeat times, interleaved, one
EM iteration (E-step, statistics, M-step) of

* ``fastgmm-t``: ``StudentTMixture._em_pass`` (the fused kernel, dof estimated);
* ``numpy-t``: the vectorised NumPy EM of ``_reference_studentt``
  (N x K responsibilities and scale weights, one vectorised solve per
  component), BLAS limited to the same thread count;
* ``fastgmm-gauss``: ``GaussianMixture._em_pass`` from the same weights,
  means and covariances: what the t step costs over the Gaussian one.

Prints the median s/iter of each, the ratios numpy-t / fastgmm-t and
fastgmm-t / fastgmm-gauss, and the largest relative difference between the
fastgmm and NumPy means after the iteration (a check that both did the same
work). Run alone on the machine::

    python benchmarks/studentt.py                      # 1M x 16, K=8, full and diag, 1 and 2 threads
    python benchmarks/studentt.py --quick              # seconds: a smoke run at small N
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastgmm import GaussianMixture, StudentTMixture
from fastgmm.families import _gaussian
import _reference_studentt as ref


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--cov", default="full,diag")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=None, help="timed iterations per variant (default 3; 1 with --quick)")
    p.add_argument("--dof", type=float, default=5.0, help="degrees of freedom of the data")
    p.add_argument("--quick", action="store_true", help="smoke run: N=20,000, D=4, K=3")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.d, args.k = 20_000, 4, 3
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    return args


def make_data(n, d, k, cov_type, dof, seed=0):
    """(X, (weights, means, covariances) true, perturbed) of a t mixture with these shapes."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(5 * np.ones(k))
    means = rng.normal(0, 4, size=(k, d))
    if cov_type == "full":
        A = rng.normal(size=(k, d, d))
        cov = np.einsum("kij,klj->kil", A, A) / d + 0.5 * np.eye(d)
        L = np.linalg.cholesky(cov)
    else:
        cov = rng.uniform(0.5, 2, size=(k, d))
        L = np.stack([np.diag(np.sqrt(c)) for c in cov])
    y = rng.choice(k, size=n, p=weights)
    X = np.empty((n, d))
    for j in range(k):
        rows = np.flatnonzero(y == j)
        g = rng.gamma(dof / 2, 2 / dof, size=len(rows))
        X[rows] = means[j] + (rng.standard_normal((len(rows), d)) @ L[j].T) / np.sqrt(g)[:, None]
    start_means = means + rng.normal(0, 0.3, size=means.shape)
    start_cov = cov * 1.2
    return np.ascontiguousarray(X), (weights, start_means, start_cov)


def numpy_iteration(X, params, cov_type):
    w, m, c, nu = params
    _, resp, u = ref.e_step(X, w, m, c, nu, cov_type)
    return ref.m_step(X, resp, u, nu, cov_type, 1e-6, False, (0.1, 1000.0))


def main(argv=None):
    args = parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    print(f"StudentTMixture EM iteration: N={args.n:,} D={args.d} K={args.k}, median of {args.repeats}")
    print(f"{'cov':5} {'thr':>3} {'fastgmm-t':>10} {'numpy-t':>10} {'gauss':>10} {'numpy/t':>8} {'t/gauss':>8} "
          f"{'max rel diff':>12}")
    for cov_type in args.cov.split(","):
        X, (w, m, c) = make_data(args.n, args.d, args.k, cov_type, args.dof)
        nu = np.full(args.k, 10.0)
        pc = _gaussian.precision_cholesky(c, cov_type)
        tm = StudentTMixture(args.k, covariance_type=cov_type)
        gm = GaussianMixture(args.k, covariance_type=cov_type)
        for t in threads:
            times = {"t": [], "numpy": [], "gauss": []}
            diff = None
            for _ in range(args.repeats):
                with threadpool_limits(1):      # BLAS single-threaded under the OpenMP kernels, as fit does
                    t0 = time.perf_counter()
                    new_t, _ = tm._em_pass(X, None, (w, m, c, pc, nu), t)
                    times["t"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    gm._em_pass(X, None, (w, m, c, pc), t)
                    times["gauss"].append(time.perf_counter() - t0)
                with threadpool_limits(t):
                    t0 = time.perf_counter()
                    new_np = numpy_iteration(X, (w, m, c, nu), cov_type)
                    times["numpy"].append(time.perf_counter() - t0)
                diff = float(np.max(np.abs(new_t[1] - new_np[1])) / np.max(np.abs(new_np[1])))
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"{cov_type:5} {t:>3} {med['t']:>10.4f} {med['numpy']:>10.4f} {med['gauss']:>10.4f} "
                  f"{med['numpy'] / med['t']:>8.2f} {med['t'] / med['gauss']:>8.2f} {diff:>12.2e}")


if __name__ == "__main__":
    main()
