"""Seconds per EM iteration of fastgmm variants, interleaved in one run: builds A/B, weighted vs not.

Each variant is ``LABEL=PYTHON[:weighted][:float32|:float64]``: the interpreter
whose installed fastgmm to time (e.g. a virtual environment holding a build of
an earlier commit), whether to fit with random sample weights (uniform in
[0.5, 1.5]), and the dtype of X (default: ``--dtype``).
Every run is the BENCHMARKS.md protocol (perturbed true parameters,
max_iter=10, tol=0) in a fresh worker; variants take turns, repeat after
repeat, so they share the machine's noise. Prints median s/iter per variant
and its ratio to the first variant.

Example (alone on the machine)::

    python benchmarks/ab_iteration.py --workloads W2,W3 --threads 1,2 \\
        --variant before=/path/to/old/venv/bin/python \\
        --variant after=.venv/bin/python --variant weighted=.venv/bin/python:weighted
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import _common as C
import datasets


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="W2,W3")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--dtype", default="float64")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--variant", action="append", required=True, help="LABEL=PYTHON[:weighted][:float32|:float64]")
    p.add_argument("--out", help="write OUT.json and OUT.md")
    return p.parse_args(argv)


def run(python, wl, dtype, threads, weighted):
    cmd = [python, str(C.WORKER), "fit", "--workload", wl.name, "--n-samples", str(wl.n_samples),
           "--dtype", dtype, "--threads", str(threads), "--impl", "fastgmm", "--mode", "em"]
    if weighted:
        cmd.append("--weighted")
    env = C.limit_threads(threads, dict(os.environ))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(C.RESULT_PREFIX):
            return json.loads(line[len(C.RESULT_PREFIX):])
    return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}


def main(argv=None):
    args = parse_args(argv)
    variants = []
    for v in args.variant:
        label, _, rest = v.partition("=")
        python, *flags = rest.split(":")
        dtype = next((f for f in flags if f in ("float32", "float64")), args.dtype)
        variants.append((label, python, "weighted" in flags, dtype))
    rows, results = [], []
    for name in args.workloads.split(","):
        wl = datasets.get_workload(name, scale=args.scale)
        for dtype in {v[3] for v in variants}:
            datasets.ensure_data(wl, dtype)
        for threads in map(int, args.threads.split(",")):
            times = {label: [] for label, *_ in variants}
            lbs = {}
            for _ in range(args.repeats):
                for label, python, weighted, dtype in variants:
                    r = run(python, wl, dtype, threads, weighted)
                    r.update(variant=label, workload=name, threads=threads)
                    results.append(r)
                    if "error" in r:
                        print(f"{name} {threads} thr {label}: ERROR {r['error']}", file=sys.stderr)
                        continue
                    times[label].append(r["seconds_per_iter"])
                    lbs[label] = r["lower_bound"]
                    print(f"{name} {threads} thr {label}: {r['seconds_per_iter']:.4g} s/iter", file=sys.stderr)
            med = {label: C.median(t) for label, t in times.items()}
            first = med[variants[0][0]]
            for label, _, weighted, dtype in variants:
                m = med[label]
                rows.append([name, dtype, threads, label, "yes" if weighted else "no", C.fmt(m, ".4g"),
                             ", ".join(f"{t:.4g}" for t in times[label]),
                             C.fmt_ratio(m / first, ".3f") if m and first else "–",
                             C.fmt(lbs.get(label), ".12g")])
    table = C.markdown_table(["workload", "dtype", "threads", "variant", "weighted", "median s/iter", "runs",
                              "vs first", "lower bound"], rows)
    C.report("fastgmm per-iteration A/B", table, args, results)


if __name__ == "__main__":
    main()
