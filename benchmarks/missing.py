"""Seconds per EM iteration with missing values against the complete data, interleaved in one run.

For each workload (W3: diag, W2: full; 1M x 16, K=16) X is the workload's
data, and Xm is X with one random coordinate of a random 10 % of the rows set
to NaN (17 patterns). Each repeat times, in turn, one EM pass (E-step,
statistics, M-step: ``GaussianMixture._em_pass``) from the workload's
perturbed true parameters on

* ``complete``: X, today's contiguous path;
* ``gathered``: X through the missing-value path with its one pattern (every
  row visited by index): the cost of the gather alone;
* ``missing``: Xm with ``nan_policy="marginalize"`` (exact EM).

The one-off grouping of rows by pattern (once per fit) is timed separately.
Prints median s/iter per variant and its ratio to ``complete``. Run by hand,
alone on the machine if possible::

    python benchmarks/missing.py --workloads W3,W2 --threads 1,2 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import _common as C
import datasets


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="W3,W2")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--dtype", default="float64")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--row-fraction", type=float, default=0.1, help="fraction of rows missing one coordinate")
    p.add_argument("--out", help="write OUT.json and OUT.md")
    return p.parse_args(argv)


def with_missing(X, fraction, seed=0):
    rng = np.random.default_rng(seed)
    Xm = X.copy()
    rows = rng.choice(X.shape[0], size=int(fraction * X.shape[0]), replace=False)
    Xm[rows, rng.integers(X.shape[1], size=len(rows))] = np.nan
    return Xm


def main(argv=None):
    args = parse_args(argv)
    from fastgmm import GaussianMixture
    from fastgmm.families import _gaussian_missing as _missing
    from fastgmm.utils._threadpool import blas_single_thread

    rows, results = [], []
    for name in args.workloads.split(","):
        wl = datasets.get_workload(name, scale=args.scale)
        X = datasets.load_data(wl, args.dtype)
        Xm = with_missing(X, args.row_fraction)
        init = datasets.initial_parameters(wl, "float64")
        params = (init["weights"], init["means"], init["covariances"], init["precisions_cholesky"])
        t0 = time.perf_counter()
        missing = _missing.group_patterns(Xm)
        t_group = time.perf_counter() - t0
        one = _missing.group_patterns(X)            # a single (complete) pattern
        print(f"{name}: {missing.n_patterns} patterns, grouping {t_group:.3f} s", file=sys.stderr)
        for threads in map(int, args.threads.split(",")):
            gm = GaussianMixture(wl.n_components, covariance_type=wl.covariance_type, nan_policy="marginalize")
            variants = {
                "complete": lambda: gm._em_pass(X, None, params, threads),
                "gathered": lambda: gm._em_pass(X, None, params, threads, missing=one),
                "missing": lambda: gm._em_pass(Xm, None, params, threads, missing=missing),
            }
            times = {label: [] for label in variants}
            with blas_single_thread():
                for label, f in variants.items():    # warm-up
                    f()
                for _ in range(args.repeats):
                    for label, f in variants.items():
                        t0 = time.perf_counter()
                        _, lb = f()
                        times[label].append(time.perf_counter() - t0)
                        results.append(dict(workload=name, threads=threads, variant=label,
                                            seconds=times[label][-1], lower_bound=lb))
            first = C.median(times["complete"])
            for label, t in times.items():
                m = C.median(t)
                print(f"{name} {threads} thr {label}: {m:.4g} s/iter ({m / first:.3f}x)", file=sys.stderr)
                rows.append([name, wl.covariance_type, threads, label, C.fmt(m, ".4g"),
                             ", ".join(f"{v:.4g}" for v in t), C.fmt_ratio(m / first, ".3f"),
                             C.fmt(t_group, ".3f") if label == "missing" else "–"])
    table = C.markdown_table(["workload", "covariance", "threads", "variant", "median s/iter", "runs",
                              "vs complete", "grouping s (once per fit)"], rows)
    C.report("fastgmm: EM iteration with 10 % of rows missing one coordinate", table, args, results)


if __name__ == "__main__":
    main()
