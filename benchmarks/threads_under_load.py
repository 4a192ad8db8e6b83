"""EM time per iteration with and without a busy process on another core.

Compares, in fresh interpreters run in turns (interleaved, repeated):

* ``spin``: libgomp's own default (``GOMP_SPINCOUNT=300000``, what it uses
  when nothing is set; setting it also stops fastgmm from choosing a policy),
  i.e. fastgmm before it set a wait policy;
* ``passive``: fastgmm's default now (``OMP_WAIT_POLICY=PASSIVE`` set at import).

For each: a small fit (9,000 x 4, K=3, full) with ``n_threads=None``, 1, and
what ``threads_for_work`` picks for its pass; and a large one (1M x 16, K=16,
diag, 10 iterations from given parameters) with ``n_threads=None`` and 1.
Runs first on the machine as it is ("idle"), then with a busy Python loop on
the other core ("loaded"); the busy process is started and stopped here and
ends by itself after ``--busy-seconds`` in any case.

Usage::

    python benchmarks/threads_under_load.py                # ~3 min on 2 cores
    python benchmarks/threads_under_load.py --repeats 1 --no-large

Timings on a shared machine are noisy: the script reports medians over the
repeats and the ratios it prints are what to read.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

POLICIES = {
    "spin": {"GOMP_SPINCOUNT": "300000"},
    "passive": {},
}
WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def _worker(large, fits):
    import warnings

    import numpy as np

    import fastgmm
    from fastgmm.kernels import _openmp_helpers

    warnings.simplefilter("ignore")   # tol=0 fits never converge, by design

    def per_iter(X, kw, n_threads, n_iter):
        gm = fastgmm.GaussianMixture(max_iter=n_iter, tol=0, n_threads=n_threads, **kw)
        t = time.perf_counter()
        gm.fit(X)
        return (time.perf_counter() - t) / n_iter

    out = {"wait": fastgmm.build_info()["wait_policy"]}
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9000, 4))
    X[:3000] += 4
    X[3000:6000] -= 4
    start = fastgmm.GaussianMixture(3, max_iter=3, random_state=0).fit(X)
    kw = dict(n_components=3, means_init=start.means_, weights_init=start.weights_,
              precisions_init=start.precisions_)
    D, K = 4, 3
    P = 1 + D + D * (D + 1) // 2
    chosen = _openmp_helpers.threads_for_work(_openmp_helpers.effective_n_threads(None), len(X), 4 * P * K)
    out["small_chosen"] = chosen
    small = {"None": [], "1": [], "chosen": []}
    for _ in range(fits):
        for name, nt in (("None", None), ("1", 1), ("chosen", chosen)):
            small[name].append(per_iter(X, kw, nt, 30))
    out["small"] = {k: statistics.median(v) for k, v in small.items()}

    if large:
        N, D, K = 1_000_000, 16, 16
        means = rng.normal(0, 4, (K, D))
        X = means[rng.integers(K, size=N)] + rng.normal(size=(N, D))
        kw = dict(n_components=K, covariance_type="diag", means_init=means,
                  weights_init=np.full(K, 1 / K), precisions_init=np.ones((K, D)))
        big = {"None": [], "1": []}
        for _ in range(2):
            for name, nt in (("None", None), ("1", 1)):
                big[name].append(per_iter(X, kw, nt, 10))
        out["large"] = {k: statistics.median(v) for k, v in big.items()}
    print("RESULT " + json.dumps(out), flush=True)


def _run(policy, large, fits):
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARS}
    env.update(POLICIES[policy])
    cmd = [sys.executable, __file__, "--worker", "--fits", str(fits)] + ([] if large else ["--no-large"])
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=True)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _start_busy(seconds):
    # Bounded: the loop stops by itself even if this script is killed.
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def main(argv=None):
    """Run the comparison and print per-iteration times and ratios."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="worker runs per policy and load (interleaved)")
    p.add_argument("--fits", type=int, default=5, help="small fits per thread setting in one worker")
    p.add_argument("--no-large", dest="large", action="store_false")
    p.add_argument("--busy-seconds", type=float, default=600)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(args.large, args.fits)
        return

    results = {}
    for load in ("idle", "loaded"):
        busy = _start_busy(args.busy_seconds) if load == "loaded" else None
        try:
            time.sleep(0.5 if busy else 0)
            for _ in range(args.repeats):
                for policy in POLICIES:
                    results.setdefault((load, policy), []).append(_run(policy, args.large, args.fits))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()

    def med(runs, part, key):
        return statistics.median(r[part][key] for r in runs) * 1e3

    print(f"{'load':7s} {'policy':8s} {'small None':>11s} {'small 1':>9s} {'chosen':>9s} "
          f"{'None/1':>7s} {'chosen/1':>8s}" + (f" {'large None':>11s} {'large 1':>9s}" if args.large else ""))
    for (load, policy), runs in results.items():
        n, one, ch = (med(runs, "small", k) for k in ("None", "1", "chosen"))
        line = (f"{load:7s} {policy:8s} {n:9.3f}ms {one:7.3f}ms {ch:7.3f}ms {n / one:7.2f} {ch / one:8.2f}"
                f"  (threads_for_work -> {runs[0]['small_chosen']})")
        if args.large:
            ln, l1 = med(runs, "large", "None"), med(runs, "large", "1")
            line += f" {ln:9.1f}ms {l1:7.1f}ms"
        print(line)
    if args.large:
        for load in ("idle", "loaded"):
            s, pz = (med(results[(load, pol)], "large", "None") for pol in ("spin", "passive"))
            print(f"large n_threads=None, {load}: passive/spin = {pz / s:.3f}")
    for load in ("idle", "loaded"):
        s, pz = (med(results[(load, pol)], "small", "None") for pol in ("spin", "passive"))
        print(f"small n_threads=None, {load}: passive/spin = {pz / s:.3f}")


if __name__ == "__main__":
    main()
