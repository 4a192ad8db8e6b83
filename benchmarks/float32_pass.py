"""Seconds per EM iteration of float32 against float64 fits (issue 19), and scikit-learn float32.

For each workload (default W2o, W3o, W6) the same data in float64 and cast
to float32 are fitted from the workload's initial parameters (the true ones,
perturbed; ``datasets.initial_parameters``) with ``max_iter`` iterations and
``tol=0``, as BENCHMARKS.md's protocol: seconds per iteration = fit time /
iterations run (checked to be ``max_iter``). The implementations are
interleaved within each repeat, in one process, and the median of the
repeats is reported with the float64/float32 ratio. float32 fits are
computed in float32 where ``fastgmm.families._gaussian.float32_coefficients``
allows it; the script prints whether it did for the initial parameters.

scikit-learn (which keeps float32 data in float32) runs ``--sklearn-iter``
iterations (default 3: it takes seconds per iteration at full size); 0 skips it.

``--clock cpu`` times by the process's CPU time instead of wall time: on a
machine other jobs are loading, a 1-thread fit's CPU time moves much less
than its wall time (with more threads it also counts time spent waiting).

Usage::

    python benchmarks/float32_pass.py                        # W2o, W3o, W6, 2 threads, 3 repeats
    python benchmarks/float32_pass.py --scale 0.25 --threads 1,2
    python benchmarks/float32_pass.py --workloads W2o --sklearn-iter 0

Machines here are shared: compare the ratios, and run it alone for absolute figures.
"""

import argparse
import statistics
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import datasets  # benchmarks/datasets.py, beside this script
from fastgmm import GaussianMixture
from fastgmm.families import _gaussian


def _init(wl):
    p = datasets.initial_parameters(wl)
    return dict(weights_init=p["weights"], means_init=p["means"], precisions_init=p["precisions"])


def _uses_float32(wl):
    p = datasets.initial_parameters(wl)
    ct = wl.covariance_type
    shift, W, _ = _gaussian.kernel_coefficients(p["weights"], p["means"], p["precisions_cholesky"], ct)
    return _gaussian.float32_coefficients(W, p["weights"], p["precisions_cholesky"], ct, shift,
                                          p["means"]) is not None


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


def _fastgmm(X, wl, threads, max_iter):
    gm = GaussianMixture(wl.n_components, covariance_type=wl.covariance_type, max_iter=max_iter, tol=0,
                         n_threads=threads, **_init(wl))
    t = _clock()
    gm.fit(X)
    t = _clock() - t
    if gm.n_iter_ != max_iter:
        raise RuntimeError(f"fastgmm ran {gm.n_iter_} iterations, not {max_iter}")
    return t / gm.n_iter_, gm.lower_bound_


def _sklearn(X, wl, threads, max_iter):
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    gm = SkGaussianMixture(wl.n_components, covariance_type=wl.covariance_type, max_iter=max_iter, tol=0,
                           **_init(wl))
    with threadpool_limits(threads):
        t = _clock()
        gm.fit(X)
        t = _clock() - t
    if gm.n_iter_ != max_iter:
        raise RuntimeError(f"scikit-learn ran {gm.n_iter_} iterations, not {max_iter}")
    return t / gm.n_iter_, gm.lower_bound_


def main(argv=None):
    """Parse the options, time the fits, print one line per workload and thread count."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="W2o,W3o,W6")
    p.add_argument("--scale", type=float, default=1.0, help="multiply each workload's N by this")
    p.add_argument("--threads", default="2")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-iter", type=int, default=10)
    p.add_argument("--sklearn-iter", type=int, default=3)
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = p.parse_args(argv)
    global _clock
    _clock = CLOCKS[args.clock]
    warnings.simplefilter("ignore")     # ConvergenceWarning: tol=0 never converges, by design
    print(f"s/iter ({args.clock} time, median of repeats); ratio = float64 / float32")
    for name in args.workloads.split(","):
        wl = datasets.get_workload(name, scale=args.scale)
        X64 = datasets.load_data(wl, "float64")
        X32 = datasets.load_data(wl, "float32")
        print(f"{name}: N={wl.n_samples:,} D={wl.n_features} K={wl.n_components} {wl.covariance_type}; "
              f"float32 path at the start: {_uses_float32(wl)}")
        for threads in (int(t) for t in args.threads.split(",")):
            times = {"f64": [], "f32": [], "sk32": []}
            bounds = {}
            for _ in range(args.repeats):
                for key, X in (("f64", X64), ("f32", X32)):
                    t, lb = _fastgmm(X, wl, threads, args.max_iter)
                    times[key].append(t)
                    bounds[key] = lb
                if args.sklearn_iter:
                    times["sk32"].append(_sklearn(X32, wl, threads, args.sklearn_iter)[0])
            med = {k: statistics.median(v) for k, v in times.items() if v}
            low = {k: min(v) for k, v in times.items() if v}
            line = (f"  {threads} thread(s): float64 {med['f64']:.4f}  float32 {med['f32']:.4f}  "
                    f"ratio {med['f64'] / med['f32']:.2f}x (of the fastest runs {low['f64'] / low['f32']:.2f}x)  "
                    f"(lower bounds rel. diff "
                    f"{abs(bounds['f32'] - bounds['f64']) / abs(bounds['f64']):.1e})")
            if "sk32" in med:
                line += f"  sklearn float32 {med['sk32']:.3f} ({med['sk32'] / med['f32']:.0f}x fastgmm float32)"
            print(line, flush=True)


if __name__ == "__main__":
    main()
