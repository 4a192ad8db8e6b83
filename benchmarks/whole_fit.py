"""What users time: a whole default ``fit()``, initialisation included, fastgmm vs scikit-learn.

Each fit runs in a fresh interpreter (``_worker.py fit --mode default``):
``GaussianMixture(n_components=K, covariance_type=..., random_state=0)`` with
every other parameter at its default (k-means initialisation, tol=1e-3,
max_iter=100, n_init=1), fastgmm and scikit-learn interleaved on the same
data. Reports wall time, both sides' EM iteration counts, the final lower
bound, and the peak extra memory of the fit as a fraction of X, two ways:
peak RSS during fit() minus RSS before it (VmHWM; this includes the code
pages of BLAS and of the extensions that a first fit in a fresh process
brings in, about 3 MB for fastgmm), and the peak of anonymous memory (RssAnon,
sampled every millisecond: what the fit allocates). Both are the largest over
the repeats.

Workloads (``datasets.py``): F16, the README's usage example (1M x 16
standard normal, K=16, full); F10, 2M x 10, K=8, overlapping, full; F2, a
small 500 x 2, K=3 fit (repeated, median); F8, 200k x 8, K=8, full (well
separated).

Run alone on the machine::

    python benchmarks/whole_fit.py --out benchmarks/results/NAME-whole-fit
"""

from __future__ import annotations

import argparse

import _common as C
import datasets


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="F16,F10,F8,F2")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1, help="runs per implementation (F2: at least 5)")
    p.add_argument("--impls", default="fastgmm,sklearn")
    p.add_argument("--scale", type=float, default=1.0, help="multiply N (smoke tests)")
    p.add_argument("--out", help="write OUT.json and OUT.md")
    return p.parse_args(argv)


def _mem(summary):
    if not summary:
        return "–"
    x = summary["x_mb"]
    return (f"{summary['mem']:.3g} / {summary['anon']:.3g} "
            f"({100 * summary['mem'] / x:.2g} % / {100 * summary['anon'] / x:.2g} %)")


def main(argv=None):
    args = parse_args(argv)
    impls, notes = C.available_impls([i for i in args.impls.split(",") if i != "numpy"])
    for note in notes:
        print(note)
    rows, results = [], []
    for name in args.workloads.split(","):
        wl = datasets.get_workload(name, scale=args.scale)
        datasets.ensure_data(wl, "float64")
        repeats = max(args.repeats, 5) if wl.n_samples < 10_000 else args.repeats
        runs = {impl: [] for impl in impls}
        for _ in range(repeats):
            for impl in impls:
                r = C.run_fit(wl, "float64", args.threads, impl, mode="default", extra_args=["--anon"])
                runs[impl].append(r)
                results.append(r)
                C.report_progress(len(results), None, r)
        summary = {}
        for impl, rs in runs.items():
            ok = [r for r in rs if "error" not in r]
            if not ok:
                summary[impl] = None
                continue
            t = C.median([r["fit_seconds"] for r in ok])
            best = min(ok, key=lambda r: abs(r["fit_seconds"] - t))
            summary[impl] = dict(seconds=t, n_iter=best["n_iter"], lower_bound=best["lower_bound"],
                                 mem=max(r["peak_extra_mb"] for r in ok),
                                 anon=max(r["peak_anon_extra_mb"] for r in ok), x_mb=best["x_mb"])
        f, s = summary.get("fastgmm"), summary.get("sklearn")
        rows.append([
            name, f"{wl.n_samples:,} x {wl.n_features}, K={wl.n_components}, {wl.covariance_type}",
            C.fmt(f and f["seconds"], ".3g"), C.fmt(s and s["seconds"], ".3g"),
            C.fmt_ratio(s["seconds"] / f["seconds"]) if f and s else "–",
            f"{f['n_iter']} / {s['n_iter']}" if f and s else "–",
            f"{f['lower_bound']:.6g} / {s['lower_bound']:.6g}" if f and s else "–",
            _mem(f), _mem(s),
        ])
    table = C.markdown_table(
        ["workload", "data", "fastgmm s", "sklearn s", "speedup", "EM iterations fastgmm / sklearn",
         "lower bound fastgmm / sklearn", "fastgmm peak extra MB: RSS / anonymous (% of X)",
         "sklearn peak extra MB: RSS / anonymous (% of X)"],
        rows)
    C.report(f"Whole default fit(), {args.threads} threads", table, args, results)


if __name__ == "__main__":
    main()
