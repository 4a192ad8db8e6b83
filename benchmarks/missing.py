"""Seconds per EM iteration with entries missing at random against the complete data, in one run.

For each workload (W2: full, W3: diag; 1M x 16, K=16) X is the workload's
data and, for each fraction p of ``--fractions`` (default 5 % and 20 %), Xp
is X with each entry set to NaN independently with probability p (missing
completely at random: 5 % gives ~1,750 distinct patterns on 200k rows, 20 %
~17,500). Each repeat times, in turn, one EM pass (E-step, statistics,
M-step: ``GaussianMixture._em_pass``) from the workload's perturbed true
parameters on X (``complete``) and on every Xp (``nan_policy="marginalize"``,
exact EM), interleaved. The one-off grouping of rows by pattern (once per
fit) is timed apart. Prints median s/iter per variant and its ratio to
``complete``. Run by hand, alone on the machine::

    python benchmarks/missing.py --workloads W2,W3 --threads 2 --repeats 5
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
    p.add_argument("--fractions", default="0.05,0.2", help="fractions of entries missing at random")
    p.add_argument("--out", help="write OUT.json and OUT.md")
    return p.parse_args(argv)


def with_missing(X, fraction, seed=0):
    """X with each entry NaN with probability ``fraction`` (block-wise: no N x D boolean temporary)."""
    rng = np.random.default_rng(seed)
    Xm = X.copy()
    for a in range(0, X.shape[0], 1 << 16):
        block = Xm[a:a + (1 << 16)]
        block[rng.random(block.shape) < fraction] = np.nan
    return Xm


def main(argv=None):
    args = parse_args(argv)
    from fastgmm import GaussianMixture
    from fastgmm.families import _gaussian_missing as _missing
    from fastgmm.utils._threadpool import blas_single_thread

    rows, results = [], []
    fractions = [float(f) for f in args.fractions.split(",")]
    for name in args.workloads.split(","):
        wl = datasets.get_workload(name, scale=args.scale)
        X = datasets.load_data(wl, args.dtype)
        init = datasets.initial_parameters(wl, "float64")
        params = (init["weights"], init["means"], init["covariances"], init["precisions_cholesky"])
        data = {"complete": (X, None, None, 0.0)}
        for f in fractions:
            Xm = with_missing(X, f)
            t0 = time.perf_counter()
            missing = _missing.group_patterns(Xm)
            t_group = time.perf_counter() - t0
            data[f"{f:.0%} missing"] = (Xm, missing, missing.n_patterns, t_group)
            print(f"{name} {f:.0%}: {missing.n_patterns} patterns, grouping {t_group:.3f} s", file=sys.stderr)
        for threads in map(int, args.threads.split(",")):
            gm = GaussianMixture(wl.n_components, covariance_type=wl.covariance_type, nan_policy="marginalize")

            def one_pass(Xv, missing):
                if missing is None:
                    return gm._em_pass(Xv, None, params, threads)
                return gm._em_pass(Xv, None, params, threads, missing=missing)

            times = {label: [] for label in data}
            with blas_single_thread():
                for label, (Xv, missing, _, _) in data.items():     # warm-up
                    one_pass(Xv, missing)
                for _ in range(args.repeats):
                    for label, (Xv, missing, _, _) in data.items():
                        t0 = time.perf_counter()
                        _, lb = one_pass(Xv, missing)
                        times[label].append(time.perf_counter() - t0)
                        results.append(dict(workload=name, threads=threads, variant=label,
                                            seconds=times[label][-1], lower_bound=lb))
            first = C.median(times["complete"])
            for label, t in times.items():
                m = C.median(t)
                _, _, n_pat, t_group = data[label]
                print(f"{name} {threads} thr {label}: {m:.4g} s/iter ({m / first:.3f}x)", file=sys.stderr)
                rows.append([name, wl.covariance_type, threads, label, "–" if n_pat is None else f"{n_pat:,}",
                             C.fmt(m, ".4g"), ", ".join(f"{v:.4g}" for v in t), C.fmt_ratio(m / first, ".2f"),
                             "–" if n_pat is None else C.fmt(t_group, ".3f")])
    table = C.markdown_table(["workload", "covariance", "threads", "data", "patterns", "median s/iter", "runs",
                              "vs complete", "grouping s (once per fit)"], rows)
    C.report("fastgmm: EM iteration with entries missing at random (nan_policy='marginalize')", table, args,
             results)


if __name__ == "__main__":
    main()
