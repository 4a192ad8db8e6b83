"""Seconds per EM iteration of a discrete family, builds A and B interleaved in one run.

Each variant is ``LABEL=PYTHON``: the interpreter whose installed fastgmm to time. Every run is a fresh
process that fits the same data from the same given start (``weights_init``, ``means_init``; max_iter=10,
tol=0), after one warm-up fit; variants take turns, repeat after repeat, so they share the machine's noise.
Prints the median s/iter per variant and its ratio to the first variant.

Example (alone on the machine)::

    python benchmarks/ab_discrete.py --family bernoulli --threads 1,2 --repeats 7 \\
        --variant before=/path/to/old/venv/bin/python --variant after=.venv/bin/python
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

_CHILD = r"""
import json, sys, time, warnings
import numpy as np
import fastgmm
family, n, d, k, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = np.random.default_rng(7)
y = rng.integers(k, size=n)
if family == "bernoulli":
    p = rng.uniform(0.05, 0.95, size=(k, d))
    X = (rng.random((n, d)) < p[y]).astype(np.float64)
    start = np.clip(p + rng.normal(0, 0.05, size=p.shape), 0.02, 0.98)
    cls = fastgmm.BernoulliMixture
else:
    lam = rng.uniform(0.5, 8.0, size=(k, d))
    X = rng.poisson(lam[y]).astype(np.float64)
    start = np.maximum(lam + rng.normal(0, 0.2, size=lam.shape), 0.1)
    cls = fastgmm.PoissonMixture
w = np.full(k, 1.0 / k)
make = lambda: cls(k, weights_init=w, means_init=start, max_iter=10, tol=0.0, n_threads=threads)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    make().fit(X[:5000])
    t0 = time.perf_counter()
    m = make().fit(X)
    dt = time.perf_counter() - t0
print("RESULT " + json.dumps({"s_per_iter": dt / m.n_iter_, "lower_bound": float(m.lower_bound_)}))
"""


def run(python, family, n, d, k, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([python, "-c", _CHILD, family, str(n), str(d), str(k), str(threads)], env=env,
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(proc.stderr[-2000:])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--family", default="bernoulli", choices=["bernoulli", "poisson"])
    p.add_argument("--n-samples", type=int, default=1_000_000)
    p.add_argument("--n-features", type=int, default=32)
    p.add_argument("--n-components", type=int, default=8)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--variant", action="append", required=True, help="LABEL=PYTHON")
    args = p.parse_args(argv)
    variants = [v.split("=", 1) for v in args.variant]
    print(f"{args.family}: {args.n_samples:,} x {args.n_features}, K={args.n_components}, float64, 10 iterations "
          "from the same start; median s/iter over the repeats")
    for threads in (int(t) for t in args.threads.split(",")):
        times = {label: [] for label, _ in variants}
        bounds = {}
        for _ in range(args.repeats):
            for label, python in variants:
                r = run(python, args.family, args.n_samples, args.n_features, args.n_components, threads)
                times[label].append(r["s_per_iter"])
                bounds[label] = r["lower_bound"]
        base = statistics.median(times[variants[0][0]])
        for label, _ in variants:
            med = statistics.median(times[label])
            print(f"  threads={threads} {label:>8}: {med:.4f} s/iter ({med / base:.3f}x of {variants[0][0]}; "
                  f"min {min(times[label]):.4f}) lower bound {bounds[label]:.12g}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
