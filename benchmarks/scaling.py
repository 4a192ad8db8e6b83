"""How the cost per EM iteration grows with N, and where fixed per-fit/per-iteration overhead matters.

Part 1 (EM sweep): W3's shape (D=16, K=16, diag) at a range of N, under the
protocol of BENCHMARKS.md (same perturbed true parameters, ``max_iter=10``,
``tol=0``, a fresh process per run, implementations interleaved, median of the
repeats). The data at N are the first N rows of W3, so every N is a sample of
the same mixture. A straight-line fit ``s/iter = a + b·N`` gives each
implementation's fixed cost per iteration ``a``, its cost per point ``b``, and
the N = a/b below which the fixed cost dominates.

Part 2 (default fit): a whole default ``fit()`` (k-means initialisation,
``tol=1e-3``, ``max_iter=100``, ``random_state=0``) at small N with W7's shape
(D=8, K=8, diag): what a user fitting a small data set actually waits for.

Examples
--------
Standard run (alone on the machine)::

    python benchmarks/scaling.py --out benchmarks/results/NAME

Smoke test::

    python benchmarks/scaling.py --ns 1e3,3e3 --default-fit-ns 1e3 --repeats 1 --threads 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _common as C
import datasets

SWEEP_WORKLOAD = "W3"
DEFAULT_FIT_WORKLOAD = "W7"
AGREEMENT_TOL = {"float64": 1e-8, "float32": 1e-4}


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--ns", default="1e4,3e4,1e5,3e5,1e6,3e6,1e7",
                        help="N of the EM sweep (W3 shape)")
    parser.add_argument("--default-fit-ns", default="1e3,1e4,1e5",
                        help="N of the whole default fit() (W7 shape); empty to skip")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--impl", default="fastgmm,sklearn",
                        help="comma-separated, from fastgmm,sklearn,numpy")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=10,
                        help="EM iterations of the sweep; the protocol is 10")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--out", help="output path without suffix "
                                      "(default benchmarks/results/local-scaling-DATE)")
    args = parser.parse_args(argv)
    args.ns = sorted(C.parse_list(args.ns, C.parse_count))
    args.default_fit_ns = sorted(C.parse_list(args.default_fit_ns, C.parse_count))
    args.threads = C.parse_list(args.threads, int)
    args.impl = C.parse_list(args.impl)
    args.out = args.out or C.default_out("scaling")
    return args


def run_series(workload, ns, impls, args, mode):
    """Run every (threads, N, repeat, impl), implementations interleaved; return the results."""
    total = len(args.threads) * len(ns) * args.repeats * len(impls)
    runs = []
    for threads in args.threads:
        for n in ns:
            wl = datasets.get_workload(workload, n_samples=n)
            for rep in range(args.repeats):
                for impl in impls:
                    result = C.run_fit(wl, args.dtype, threads, impl, mode=mode,
                                       max_iter=args.max_iter, timeout=args.timeout)
                    result["repeat"] = rep
                    runs.append(result)
                    C.report_progress(len(runs), total, result)
    return runs


def aggregate(runs, key):
    """Median of ``key`` and the lower bounds per (threads, N, impl), from successful runs."""
    groups = {}
    for r in runs:
        groups.setdefault((r["threads"], r["n_samples"], r["impl"]), []).append(r)
    out = {}
    for group_key, rs in groups.items():
        good = [r for r in rs if "error" not in r]
        out[group_key] = {
            key: C.median([r[key] for r in good]),
            "n_iter": sorted({r["n_iter"] for r in good}),
            "lower_bounds": [r["lower_bound"] for r in good],
            "peak_extra_mb": C.median([r["peak_extra_mb"] for r in good]),
            "errors": sorted({r["error"] for r in rs if "error" in r}),
        }
    return out


def overhead_fit(ns, seconds):
    """Fit ``seconds = a + b·N`` with ``a, b >= 0``, minimising relative errors.

    Parameters
    ----------
    ns, seconds : sequence of float
        At least two points.

    Returns
    -------
    dict or None
        ``fixed_s`` (a), ``per_point_ns`` (b in ns), ``crossover_n`` (a / b: the N
        where fixed and per-point costs are equal), or None with too few points.
    """
    import numpy as np
    from scipy.optimize import nnls

    points = [(n, s) for n, s in zip(ns, seconds) if s]
    if len(points) < 2:
        return None
    n, s = np.array(points, dtype=float).T
    design = np.column_stack([np.ones_like(n), n * 1e-9]) / s[:, None]  # b in s per 1e9 points
    (a, b), _ = nnls(design, np.ones_like(s))
    crossover = float(a / (b * 1e-9)) if a > 0 and b > 0 else None
    return {"fixed_s": float(a), "per_point_ns": float(b), "crossover_n": crossover}


def _flags(entry, expected_iter, reference=None, tol=None):
    flags = [f"ERROR: {e}" for e in entry["errors"]]
    if expected_iter is not None and entry["n_iter"] not in ([], [expected_iter]):
        flags.append(f"n_iter {entry['n_iter']} ≠ {expected_iter}")
    if reference and reference["lower_bounds"] and entry["lower_bounds"]:
        diff = C.rel_diff(entry["lower_bounds"], reference["lower_bounds"])
        if not diff <= tol:
            flags.append(f"DISAGREES with sklearn: {diff:.1e}")
    return flags


def sweep_markdown(stats, fits, impls, args):
    """Markdown of the EM sweep: per (threads, N) times, per-point cost, speedup, checks."""
    headers = ["threads", "N"] + [f"{i} s/iter" for i in impls]
    headers += [f"{i} ns/point/iter" for i in impls]
    headers += ["fastgmm vs sklearn", "check"]
    rows = []
    for t in args.threads:
        for n in args.ns:
            entries = {i: stats.get((t, n, i)) for i in impls}
            secs = {i: e and e["seconds_per_iter"] for i, e in entries.items()}
            flags = [f"{i} {f}" for i, e in entries.items() if e
                     for f in _flags(e, args.max_iter, i != "sklearn" and entries.get("sklearn"),
                                     AGREEMENT_TOL[args.dtype])]
            speedup = (secs["sklearn"] / secs["fastgmm"]
                       if secs.get("sklearn") and secs.get("fastgmm") else None)
            rows.append(
                [t, f"{n:,}"] + [C.fmt(secs[i], ".4g") for i in impls]
                + [C.fmt(secs[i] and secs[i] / n * 1e9, ".3g") for i in impls]
                + [C.fmt_ratio(speedup), "**" + "; ".join(flags) + "**" if flags else "ok"]
            )
    fit_rows = [[t, i, C.fmt(f["fixed_s"] * 1e3, ".3g"), C.fmt(f["per_point_ns"], ".3g"),
                 C.fmt(f["crossover_n"], ",.0f")]
                for (t, i), f in fits.items() if f]
    return "\n\n".join([
        C.markdown_table(headers, rows),
        "Least-squares fit of s/iter = a + b·N (relative errors, a, b ≥ 0):",
        C.markdown_table(["threads", "impl", "a: fixed ms/iter", "b: ns/point/iter",
                          "N where a = b·N"], fit_rows),
    ])


def default_fit_markdown(stats, impls, args):
    """Markdown of the whole default fits: total time, iterations, lower bound."""
    headers = ["threads", "N"] + [f"{i} {col}" for i in impls
                                  for col in ("fit s", "n_iter", "lower bound")]
    headers += ["fastgmm vs sklearn (fit time)", "errors"]
    rows = []
    for t in args.threads:
        for n in args.default_fit_ns:
            entries = {i: stats.get((t, n, i)) or {} for i in impls}
            row = [t, f"{n:,}"]
            for i in impls:
                e = entries[i]
                row += [C.fmt(e.get("fit_seconds"), ".4g"),
                        ",".join(map(str, e.get("n_iter", []))) or "–",
                        C.fmt(C.median(e.get("lower_bounds", [])), ".8g")]
            a = entries.get("sklearn", {}).get("fit_seconds")
            b = entries.get("fastgmm", {}).get("fit_seconds")
            errors = [f"{i}: {err}" for i, e in entries.items() for err in e.get("errors", [])]
            row += [C.fmt_ratio(a / b if a and b else None),
                    "**" + "; ".join(errors) + "**" if errors else ""]
            rows.append(row)
    return C.markdown_table(headers, rows)


def chart(stats, impls, args, path):
    """Log-log s/iter vs N per (impl, threads), and fastgmm's speedup vs N."""
    plt = C.pyplot()
    if plt is None:
        return None
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for impl in impls:
        for t in args.threads:
            pts = [(n, stats[(t, n, impl)]["seconds_per_iter"]) for n in args.ns
                   if (t, n, impl) in stats and stats[(t, n, impl)]["seconds_per_iter"]]
            if pts:
                ax.loglog(*zip(*pts), marker="o", label=f"{impl}, {t} thr")
        if impl != "sklearn":
            for t in args.threads:
                pts = [(n, stats[(t, n, "sklearn")]["seconds_per_iter"]
                        / stats[(t, n, impl)]["seconds_per_iter"]) for n in args.ns
                       if all((t, n, i) in stats and stats[(t, n, i)]["seconds_per_iter"]
                              for i in ("sklearn", impl))]
                if pts:
                    ax2.semilogx(*zip(*pts), marker="o", label=f"{impl}, {t} thr")
    ax.set_xlabel("N (rows)")
    ax.set_ylabel("seconds per EM iteration")
    ax.set_title(f"{SWEEP_WORKLOAD} shape (D=16, K=16, diag), {args.dtype}")
    ax.legend()
    ax2.axhline(1.0, color="black", linewidth=0.8)
    ax2.set_xlabel("N (rows)")
    ax2.set_ylabel("speedup over scikit-learn")
    ax2.set_title("s/iter ratio")
    if ax2.has_data():
        ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    """Run both parts and write OUT.md, OUT.json and OUT.png."""
    args = parse_args(argv)
    impls, impl_notes = C.available_impls(args.impl)
    if not impls:
        sys.exit("no implementation available: " + "; ".join(impl_notes))
    info = C.machine_info()

    # Generate the largest N only: smaller N reuse its first rows.
    for name, ns in ((SWEEP_WORKLOAD, args.ns), (DEFAULT_FIT_WORKLOAD, args.default_fit_ns)):
        if ns:
            datasets.ensure_data(datasets.get_workload(name, n_samples=ns[-1]), args.dtype)

    sweep_runs = run_series(SWEEP_WORKLOAD, args.ns, impls, args, "em")
    default_impls = [i for i in impls if i != "numpy"]  # the reference has no k-means init
    default_runs = run_series(DEFAULT_FIT_WORKLOAD, args.default_fit_ns, default_impls, args,
                              "default")

    sweep = aggregate(sweep_runs, "seconds_per_iter")
    default = aggregate(default_runs, "fit_seconds")
    fits = {(t, i): overhead_fit(args.ns, [sweep.get((t, n, i), {}).get("seconds_per_iter")
                                           for n in args.ns])
            for t in args.threads for i in impls}

    md = [f"# fastgmm scaling with N ({info['date']})", "", "## Machine",
          C.machine_markdown(info), "",
          f"## EM iterations vs N ({SWEEP_WORKLOAD} shape: D=16, K=16, diag; {args.dtype})",
          sweep_markdown(sweep, fits, impls, args)]
    if args.default_fit_ns:
        md += ["", f"## Whole default fit() ({DEFAULT_FIT_WORKLOAD} shape: D=8, K=8, diag; "
                   "k-means init, tol=1e-3, max_iter=100, random_state=0)",
               default_fit_markdown(default, default_impls, args)]
    notes = [
        f"EM sweep: protocol of BENCHMARKS.md (perturbed true parameters, max_iter="
        f"{args.max_iter}, tol=0), s/iter = fit() time / n_iter, median of {args.repeats} runs "
        "in fresh processes. scikit-learn's fit() includes one extra final E-step.",
        "check: n_iter as expected and lower bounds agree with scikit-learn to "
        f"{AGREEMENT_TOL[args.dtype]:.0e} relative.",
        "Default fit: whole fit() time including initialisation; the implementations' k-means "
        "initialisations differ, so n_iter and the lower bound may differ too.",
    ] + [f"**{n}**" for n in impl_notes]
    md += ["", "## Notes"] + [f"- {n}" for n in notes]
    png = chart(sweep, impls, args, f"{args.out}.png")
    if png:
        md += ["", f"![time per iteration vs N]({Path(png).name})"]
    text = "\n".join(md)

    def table(stats):
        return [{"threads": t, "n_samples": n, "impl": i, **v} for (t, n, i), v in stats.items()]

    C.write_json(args.out, {
        "machine": info, "settings": dict(vars(args)), "notes": notes,
        "sweep": table(sweep), "overhead_fit": [{"threads": t, "impl": i, **(f or {})}
                                                for (t, i), f in fits.items()],
        "default_fit": table(default), "runs": sweep_runs + default_runs,
    })
    C.write_markdown(args.out, text)
    print(text)
    print(f"\nwrote {args.out}.md, {args.out}.json" + (f", {png}" if png else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
