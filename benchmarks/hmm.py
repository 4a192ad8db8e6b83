"""Seconds per EM iteration of fastgmm.hmm against hmmlearn (issue 20's three workloads).

Each workload's data are drawn from a known HMM (seeded); every
implementation starts from the same parameters (the true ones, perturbed) and
runs ``n_iter`` EM iterations with ``tol=0`` and ``init_params=""``, in a fresh
subprocess of this script (so that peak memory is the fit's own):

* (a) ``gauss-long``: one sequence of 1,000,000 frames, D=16, K=8, full covariances;
* (b) ``gauss-many``: 10,000 sequences of 100 frames, D=8, K=4, diagonal covariances;
* (c) ``categorical``: 1,000 sequences of 1,000 symbols (32 symbols), K=8.

fastgmm runs at 1 and 2 threads (``n_threads``); hmmlearn is single-threaded
(its BLAS limited to the same thread count). Reported: seconds per iteration
(the fit's time divided by its iterations; a fit includes its validation and
its final parameters, nothing else), peak extra memory of the fit (VmHWM
after a reset, minus the RSS before it) next to the size of X, the ratio
hmmlearn / fastgmm, and the relative difference of the final log-likelihoods
(both must have done the same work). Run it alone on the machine::

    python benchmarks/hmm.py                 # all three, 1 and 2 threads
    python benchmarks/hmm.py --quick         # a smoke run at 1/50 of the size
    python benchmarks/hmm.py --workloads b --threads 1,2 --out benchmarks/results/hmm
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

WORKLOADS = {
    "a": dict(name="gauss-long", kind="gaussian", cov="full", K=8, D=16, lengths=[1_000_000], n_iter=5, ref_iter=2),
    "b": dict(name="gauss-many", kind="gaussian", cov="diag", K=4, D=8, lengths=[100] * 10_000, n_iter=10,
              ref_iter=3),
    "c": dict(name="categorical", kind="categorical", K=8, S=32, lengths=[1_000] * 1_000, n_iter=10, ref_iter=3),
}


def _truth(wl, rng):
    K = wl["K"]
    trans = rng.dirichlet(np.full(K, 1.0), size=K) + 4 * np.eye(K)
    trans /= trans.sum(axis=1, keepdims=True)
    start = rng.dirichlet(np.ones(K))
    if wl["kind"] == "categorical":
        return dict(startprob_=start, transmat_=trans, emissionprob_=rng.dirichlet(np.full(wl["S"], 0.5), size=K))
    D = wl["D"]
    means = rng.normal(0, 2.0, (K, D))
    if wl["cov"] == "full":
        A = rng.normal(size=(K, D, D))
        cov = A @ np.swapaxes(A, 1, 2) / D + 0.5 * np.eye(D)
    else:
        cov = rng.uniform(0.5, 2.0, (K, D))
    return dict(startprob_=start, transmat_=trans, means_=means, covars_=cov)


def _perturb(params, rng):
    out = {}
    for k, v in params.items():
        if k in ("startprob_", "transmat_", "emissionprob_"):
            p = v * rng.uniform(0.8, 1.2, v.shape)
            out[k] = p / p.sum(axis=-1, keepdims=True)
        elif k == "means_":
            out[k] = v + rng.normal(0, 0.3, v.shape)
        elif v.ndim == 3:     # full covariances: each matrix scaled
            out[k] = v * rng.uniform(0.9, 1.1, (v.shape[0], 1, 1))
        else:
            out[k] = v * rng.uniform(0.9, 1.1, v.shape)
    return out


def make_data(wl, scale):
    """(X, lengths, start parameters) of a workload, seeded."""
    from fastgmm import hmm
    rng = np.random.RandomState(0)
    truth = _truth(wl, rng)
    lengths = np.asarray(wl["lengths"])
    if scale != 1:
        lengths = np.maximum(lengths // scale, 2) if len(lengths) == 1 else lengths[:max(len(lengths) // scale, 2)]
    model = (hmm.CategoricalHMM(wl["K"], n_features=wl["S"]) if wl["kind"] == "categorical"
             else hmm.GaussianHMM(wl["K"], wl["cov"]))
    for k, v in truth.items():
        setattr(model, k, v)
    parts = []
    for i, n in enumerate(lengths):
        X, _ = model.sample(int(n), random_state=1000 + i)
        parts.append(X)
    X = np.vstack(parts)
    return X, lengths, _perturb(truth, np.random.RandomState(1))


def child(args):
    """One fit in this process; prints a JSON line."""
    from _worker import PeakRSS
    wl = WORKLOADS[args.workload]
    X, lengths, start = make_data(wl, args.scale)
    n_iter = wl["ref_iter"] if args.impl == "hmmlearn" else wl["n_iter"]
    if args.impl == "hmmlearn":
        import logging
        from hmmlearn import hmm as lib
        logging.getLogger("hmmlearn").setLevel(logging.ERROR)
        kw = {}
    else:
        from fastgmm import hmm as lib
        kw = {"n_threads": args.threads}
    if wl["kind"] == "categorical":
        model = lib.CategoricalHMM(wl["K"], n_features=wl["S"], init_params="", n_iter=n_iter, tol=0,
                                   implementation="scaling", **kw)
    else:
        model = lib.GaussianHMM(wl["K"], wl["cov"], init_params="", n_iter=n_iter, tol=0,
                                implementation="scaling", **kw)
    for k, v in start.items():
        setattr(model, k, np.array(v))
    from threadpoolctl import threadpool_limits
    with threadpool_limits(args.threads), PeakRSS() as mem:
        t0 = time.perf_counter()
        model.fit(X, lengths)
        seconds = time.perf_counter() - t0
    iters = model.monitor_.iter
    print("RESULT " + json.dumps(dict(impl=args.impl, threads=args.threads, workload=args.workload, iters=iters,
                                      s_per_iter=seconds / iters, peak_extra_mb=mem.peak_extra_bytes / 2**20,
                                      x_mb=X.nbytes / 2**20, n_frames=int(X.shape[0]),
                                      history=list(model.monitor_.history))))


def run_child(workload, impl, threads, scale):
    cmd = [sys.executable, __file__, "--child", "--workload", workload, "--impl", impl, "--threads", str(threads),
           "--scale", str(scale)]
    env = dict(__import__("os").environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{impl} on {workload} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--workload", default="a", help=argparse.SUPPRESS)
    p.add_argument("--impl", default="fastgmm", help=argparse.SUPPRESS)
    p.add_argument("--workloads", default="a,b,c")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=3, help="fits per (workload, implementation, threads)")
    p.add_argument("--scale", type=int, default=1, help="divide the data by this (smoke runs)")
    p.add_argument("--quick", action="store_true", help="--scale 50 --repeats 1")
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    args = p.parse_args(argv)
    if args.child:
        args.threads = int(args.threads)
        return child(args)
    if args.quick:
        args.scale, args.repeats = 50, 1
    from _common import machine_info, machine_markdown
    info = machine_info()
    threads = [int(t) for t in args.threads.split(",")]
    rows, results = [], []
    for w in args.workloads.split(","):
        wl = WORKLOADS[w]
        best = {}
        for _ in range(args.repeats):   # interleaved: each repeat runs every implementation once
            for impl, t in [("fastgmm", t) for t in threads] + [("hmmlearn", t) for t in threads]:
                r = run_child(w, impl, t, args.scale)
                results.append(r)
                key = (impl, t)
                if key not in best or r["s_per_iter"] < best[key]["s_per_iter"]:
                    best[key] = r
                print(f"{wl['name']:12s} {impl:8s} {t} thr: {r['s_per_iter']:.4f} s/iter, peak extra "
                      f"{r['peak_extra_mb']:.0f} MB (X {r['x_mb']:.0f} MB)", flush=True)
        for t in threads:
            f, h = best[("fastgmm", t)], best[("hmmlearn", t)]
            n = min(len(f["history"]), len(h["history"]))
            agree = abs(f["history"][n - 1] - h["history"][n - 1]) / abs(h["history"][n - 1])
            rows.append([wl["name"], str(t), f"{f['s_per_iter']:.4f}", f"{h['s_per_iter']:.3f}",
                         f"{h['s_per_iter'] / f['s_per_iter']:.1f}x",
                         f"{1e9 * f['s_per_iter'] / f['n_frames']:.0f}", f"{1e9 * h['s_per_iter'] / h['n_frames']:.0f}",
                         f"{f['peak_extra_mb']:.0f} / {h['peak_extra_mb']:.0f} (X {f['x_mb']:.0f})",
                         f"{agree:.1e}"])
        if len(threads) > 1:
            f1, f2 = best[("fastgmm", threads[0])], best[("fastgmm", threads[-1])]
            print(f"{wl['name']}: fastgmm {threads[-1]} threads / {threads[0]}: "
                  f"{f1['s_per_iter'] / f2['s_per_iter']:.2f}x")
    head = ["workload", "threads", "fastgmm s/iter", "hmmlearn s/iter", "hmmlearn / fastgmm", "fastgmm ns/frame",
            "hmmlearn ns/frame", "peak extra MB fastgmm / hmmlearn", "log-lik rel. diff"]
    table = "| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n" + "\n".join(
        "| " + " | ".join(r) + " |" for r in rows)
    text = f"# fastgmm.hmm vs hmmlearn, fastest of {args.repeats}\n\n{machine_markdown(info)}\n\n{table}\n"
    print(text)
    if args.out:
        Path(args.out + ".md").write_text(text)
        Path(args.out + ".json").write_text(json.dumps(dict(machine=info, results=results), indent=1))


if __name__ == "__main__":
    main()
