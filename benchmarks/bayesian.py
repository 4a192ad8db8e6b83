"""Seconds per iteration of fastgmm.BayesianGaussianMixture against scikit-learn's and fastgmm.GaussianMixture.

The BENCHMARKS.md protocol adapted to the variational model, on W2 (1M x 16,
K=16, full) and W3 (diag) by default. scikit-learn's BayesianGaussianMixture
takes no initial parameters, so both variational fits start from the same
posterior set as attributes with ``warm_start=True``: the one the workload's
perturbed true parameters give (nk = N w_k, mean_precision_ = 1 + nk,
degrees_of_freedom_ = D + nk, means_, covariances_ and precisions_cholesky_
those parameters; weight_concentration_prior_ = 1 / K). fastgmm's
GaussianMixture starts from the same parameters via ``*_init``.

A fit with warm start also computes the default priors (the data's mean and
covariance), and every fit validates X: to time the iterations alone each
worker fits twice from the same start, with 1 and with 11 iterations
(``tol=0``), and reports (t11 - t1) / 10. Workers are fresh interpreters with
the thread limits set before numpy loads; implementations take turns repeat
after repeat, so they share the machine's noise. Before speed, the lower
bounds of the two variational fits are compared (relative difference,
expected ~1e-12 in float64).

Run it alone on the machine::

    python benchmarks/bayesian.py --out benchmarks/results/NAME-bayesian

Smoke run (10k rows, one repeat, one thread; not a measurement)::

    python benchmarks/bayesian.py --quick
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import _common as C
import datasets

IMPLS = ("fastgmm-bayes", "sklearn-bayes", "fastgmm-gm")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="W2,W3")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--dtype", default="float64")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.0, help="multiply N by this (smoke runs)")
    p.add_argument("--impl", default=",".join(IMPLS))
    p.add_argument("--quick", action="store_true", help="--scale 0.01 --repeats 1 --threads 1")
    p.add_argument("--out", help="write OUT.json and OUT.md")
    p.add_argument("--worker", nargs=5, metavar=("IMPL", "WORKLOAD", "N", "THREADS", "DTYPE"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.scale, args.repeats, args.threads = 0.01, 1, "1"
    return args


# ---------------------------------------------------------------------------
# Worker: one implementation, one workload, in a fresh interpreter
# ---------------------------------------------------------------------------

def _starting_posterior(wl, init, n_samples):
    """Fitted attributes of a variational posterior centred on the initial parameters (float64)."""
    import numpy as np

    K, D = wl.n_components, wl.n_features
    nk = n_samples * np.asarray(init["weights"], dtype=np.float64)
    gamma0 = 1.0 / K
    after = np.concatenate((np.cumsum(nk[::-1])[-2::-1], [0.0]))
    dof = D + (nk.sum() / K if wl.covariance_type == "tied" else nk)
    return {
        "weight_concentration_": (1.0 + nk, gamma0 + after),
        "mean_precision_": 1.0 + nk,
        "means_": np.asarray(init["means"], dtype=np.float64),
        "degrees_of_freedom_": dof,
        "covariances_": np.asarray(init["covariances"], dtype=np.float64),
        "precisions_cholesky_": np.asarray(init["precisions_cholesky"], dtype=np.float64),
        "converged_": False,
        "lower_bound_": -np.inf,
    }


def _fit_seconds(impl, wl, X, init, threads, max_iter):
    """(seconds, fitted estimator) of one fit of ``max_iter`` iterations from the common start."""
    if impl == "fastgmm-gm":
        from fastgmm import GaussianMixture

        est = GaussianMixture(wl.n_components, covariance_type=wl.covariance_type, tol=0.0, max_iter=max_iter,
                              weights_init=init["weights"], means_init=init["means"],
                              precisions_init=init["precisions"], n_threads=threads)
    else:
        if impl == "sklearn-bayes":
            from sklearn.mixture import BayesianGaussianMixture
            extra = {}
        else:
            from fastgmm import BayesianGaussianMixture
            extra = {"n_threads": threads}
        est = BayesianGaussianMixture(n_components=wl.n_components, covariance_type=wl.covariance_type, tol=0.0,
                                      max_iter=max_iter, warm_start=True, **extra)
        est.__dict__.update(_starting_posterior(wl, init, X.shape[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # tol=0 never converges
        start = time.perf_counter()
        est.fit(X)
        return time.perf_counter() - start, est


def worker(impl, workload, n_samples, threads, dtype):
    wl = datasets.get_workload(workload, n_samples=int(n_samples))
    X = datasets.load_data(wl, dtype)
    init = datasets.initial_parameters(wl, "float64")
    t1, _ = _fit_seconds(impl, wl, X, init, int(threads), 1)
    t11, est = _fit_seconds(impl, wl, X, init, int(threads), 11)
    lb = est.lower_bound_
    result = {"seconds_per_iter": (t11 - t1) / 10, "t1": t1, "t11": t11, "n_iter": int(est.n_iter_),
              "lower_bound": float(lb[0] if getattr(lb, "ndim", 0) else lb)}
    print(C.RESULT_PREFIX + json.dumps(result))


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

def run(impl, wl, dtype, threads):
    return C.run_worker(["--worker", impl, wl.name, str(wl.n_samples), str(threads), dtype], threads,
                        script=__file__)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(*args.worker)
    impls = args.impl.split(",")
    rows, results = [], []
    for name in args.workloads.split(","):
        wl = datasets.get_workload(name, scale=args.scale)
        datasets.ensure_data(wl, args.dtype)
        for threads in map(int, args.threads.split(",")):
            times = {impl: [] for impl in impls}
            lbs = {}
            for _ in range(args.repeats):
                for impl in impls:
                    r = run(impl, wl, args.dtype, threads)
                    r.update(impl=impl, workload=name, n_samples=wl.n_samples, threads=threads, dtype=args.dtype)
                    results.append(r)
                    if "error" in r:
                        print(f"{name} {threads} thr {impl}: ERROR {r['error']}", file=sys.stderr)
                        continue
                    times[impl].append(r["seconds_per_iter"])
                    lbs[impl] = r["lower_bound"]
                    print(f"{name} N={wl.n_samples} {threads} thr {impl}: {r['seconds_per_iter']:.4g} s/iter",
                          file=sys.stderr)
            med = {impl: C.median(t) for impl, t in times.items()}
            ours = med.get("fastgmm-bayes")
            agree = "–"
            if "fastgmm-bayes" in lbs and "sklearn-bayes" in lbs:
                agree = C.fmt(C.rel_diff([lbs["fastgmm-bayes"]], [lbs["sklearn-bayes"]]), ".1e")
            for impl in impls:
                m = med[impl]
                rows.append([name, wl.n_samples, args.dtype, threads, impl, C.fmt(m, ".4g"),
                             ", ".join(f"{t:.4g}" for t in times[impl]),
                             C.fmt_ratio(m / ours, ".2f") if m and ours else "–",
                             C.fmt(lbs.get(impl), ".12g"), agree if impl == "sklearn-bayes" else ""])
    table = C.markdown_table(["workload", "N", "dtype", "threads", "implementation", "median s/iter", "runs",
                              "vs fastgmm-bayes", "lower bound", "rel. diff of lower bounds"], rows)
    C.report("BayesianGaussianMixture per-iteration time", table, args, results)


if __name__ == "__main__":
    main()
