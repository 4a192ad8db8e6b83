"""Benchmark fastgmm against scikit-learn and the pure-NumPy reference on the standard workloads.

Follows the protocol of ``/work/shared/BENCHMARKS.md``: every implementation
starts from the same perturbed true parameters, runs ``max_iter=10`` with
``tol=0``, and must run exactly 10 iterations. Each (workload, dtype, threads,
implementation) run happens in a fresh interpreter whose thread limits are set
before numpy loads; the implementations are interleaved (fastgmm, sklearn,
numpy, fastgmm, ...) so they share the machine's noise. Lower bounds are
checked for agreement before any speed is reported.

Examples
--------
Full standard run (alone on the machine)::

    python benchmarks/run.py --out benchmarks/results/NAME

About 4 minutes on 2 cores (221 s measured on 2026-11-22)
(W1-W3 at N/5, float64, 1 and 2 threads, 3 repeats; N/5 is not the standard size)::

    python benchmarks/run.py --quick

Smoke test::

    python benchmarks/run.py --scale 0.001 --repeats 1 --workloads W1,W3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import _common as C
import datasets

#: The per-iteration workloads of BENCHMARKS.md (W1-W7, W2o, W3o); the F* ones
#: are whole-fit workloads of whole_fit.py.
ALL_WORKLOADS = ",".join(name for name in datasets.WORKLOADS if name.startswith("W"))

#: Settings of ``--quick``; explicit options still override them.
QUICK = {"workloads": "W1,W2,W3", "threads": "1,2", "dtype": "float64", "repeats": 3,
         "scale": 0.2}
DEFAULTS = {"workloads": ALL_WORKLOADS, "threads": "1,2", "dtype": "float64", "repeats": 3,
            "scale": 1.0}

#: Relative tolerance on the lower bound, per dtype.
AGREEMENT_TOL = {"float64": 1e-8, "float32": 1e-4}

#: Machine-rate measurement sizes: (GEMM matrix size, streaming array MB).
MACHINE_SIZES = {"full": (4000, 1024), "small": (1000, 64)}


def parse_args(argv=None):
    """Parse the command line, filling unset options from ``--quick`` or the defaults."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--quick", action="store_true",
                        help=f"about 4 min on 2 cores (221 s measured): {QUICK} (not the standard sizes)")
    parser.add_argument("--workloads", help=f"comma-separated ids (default {ALL_WORKLOADS})")
    parser.add_argument("--threads", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--dtype", help="float64 and/or float32 (default float64)")
    parser.add_argument("--repeats", type=int, help="runs per configuration (default 3)")
    parser.add_argument("--baseline-repeats", type=int,
                        help="runs per configuration for scikit-learn and numpy (default: --repeats); "
                             "their fits take minutes on the standard sizes, so 1 keeps a full run "
                             "near an hour while fastgmm still gets --repeats runs")
    parser.add_argument("--impl",
                        help=f"comma-separated, from {','.join(C.IMPLS)} (default "
                             f"{','.join(C.DEFAULT_IMPLS)}, and onedal when --onedal-python is given)")
    parser.add_argument("--onedal-python",
                        help="interpreter with daal4py 2024.7 that runs Intel oneDAL's em_gmm as a "
                             f"peer (default: ${C.ONEDAL_PYTHON_ENV}); see benchmarks/_common.py "
                             "for the one-line setup of its virtual environment")
    parser.add_argument("--scale", type=float, help="multiply every N by this (default 1)")
    parser.add_argument("--max-iter", type=int, default=10,
                        help="EM iterations per fit; the protocol is 10")
    parser.add_argument("--machine-size", choices=[*MACHINE_SIZES, "none"],
                        help="size of the GEMM/streaming measurement "
                             "(default: full, or small when --scale < 0.1)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds before a worker is killed")
    parser.add_argument("--out", help="output path without suffix "
                                      "(default benchmarks/results/local-run-DATE)")
    args = parser.parse_args(argv)
    fallback = QUICK if args.quick else DEFAULTS
    for name, value in fallback.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.onedal_python:
        os.environ[C.ONEDAL_PYTHON_ENV] = args.onedal_python
    if args.impl is None:
        args.impl = ",".join(C.DEFAULT_IMPLS + (("onedal",) if C.interpreter_for("onedal") else ()))
    args.workloads = C.parse_list(args.workloads)
    args.threads = C.parse_list(args.threads, int)
    args.dtype = C.parse_list(args.dtype)
    args.impl = C.parse_list(args.impl)
    if args.machine_size is None:
        args.machine_size = "full" if args.scale >= 0.1 else "small"
    if args.baseline_repeats is None:
        args.baseline_repeats = args.repeats
    args.baseline_repeats = min(args.baseline_repeats, args.repeats)
    args.out = args.out or C.default_out("run")
    return args


def flops_per_iteration(wl):
    """Useful floating-point operations of one EM iteration (the arithmetic floor's count).

    full: ``2·N·K·D²`` = E-step with a triangular factor (``N·K·D²``) + symmetric
    weighted Gram of the M-step (``N·K·D²``). tied: ``N·K·D² + N·D²`` (one
    symmetric Gram of X in the M-step). diag: ``8·N·K·D`` (E-step: two
    multiply-adds per row, component and coordinate on ``z`` and ``z²``;
    M-step: the same for the weighted sums of ``z`` and ``z²``). spherical:
    ``4·N·K·(D + 1)`` (one multiply-add per coordinate and one for ``|z|²``, in
    each step).
    """
    n, d, k = wl.n_samples, wl.n_features, wl.n_components
    if wl.covariance_type == "full":
        return 2 * n * k * d * d
    if wl.covariance_type == "tied":
        return n * k * d * d + n * d * d
    if wl.covariance_type == "diag":
        return 8 * n * k * d
    return 4 * n * k * (d + 1)


def floor_seconds(wl, dtype, rates):
    """The arithmetic floor of one iteration on this machine, or None without the rates.

    ``max(flops / GEMM rate + N·K / exp rate, N·D·itemsize / streaming rate)``:
    the useful flops at the GEMM rate (DGEMM for float64, SGEMM for float32)
    measured in the same run, plus one exponential per row and component at
    NumPy's SIMD exp rate, or one read of X at the streaming-read rate,
    whichever is longer (a perfect kernel overlaps the read with the compute).
    """
    gemm = rates.get("dgemm_gflops" if dtype == "float64" else "sgemm_gflops")
    exp_rate, stream = rates.get("exp_per_s"), rates.get("stream_gbs")
    if not (gemm and exp_rate and stream):
        return None
    compute = flops_per_iteration(wl) / (gemm * 1e9) + wl.n_samples * wl.n_components / exp_rate
    return max(compute, wl.itemsize_bytes(dtype) / (stream * 1e9))


def summarize_config(wl, dtype, threads, runs, impls, rates, max_iter):
    """Aggregate the runs of one (workload, dtype, threads) configuration.

    Parameters
    ----------
    wl : datasets.Workload
    dtype : str
    threads : int
    runs : list of dict
        Worker results of this configuration.
    impls : list of str
    rates : dict
        Machine rates at this thread count (see ``_common.measure_machine``).
    max_iter : int

    Returns
    -------
    dict
        Per implementation: median seconds per iteration, memory, lower bounds
        and errors; speedups of fastgmm; throughput; agreement flags.
    """
    x_mb = wl.itemsize_bytes(dtype) / 2**20
    per_impl, flags, config_notes = {}, [], []
    for impl in impls:
        mine = [r for r in runs if r["impl"] == impl]
        if not C.supports(impl, wl.covariance_type):
            config_notes.append(f"{impl} has no {wl.covariance_type!r} covariance: not run")
        good = [r for r in mine if "error" not in r]
        errors = sorted({r["error"] for r in mine if "error" in r})
        flags += [f"{impl} ERROR: {e}" for e in errors]
        bad_iter = sorted({r["n_iter"] for r in good if r["n_iter"] != max_iter})
        if bad_iter and impl == "onedal" and max(bad_iter) < max_iter:
            # Its stopping rule cannot be turned off (see _worker._onedal_factory);
            # the lower-bound check below still compares it with scikit-learn's.
            config_notes.append(f"onedal stopped after {bad_iter} iterations (converged: its "
                                "change in log-likelihood was 0); its s/iter is over those")
        elif bad_iter:
            flags.append(f"{impl} ran {bad_iter} iterations, not {max_iter}")
        pools = {f"{name}={n}" for r in good for name, n in (r.get("thread_pools") or {}).items()
                 if n != threads}
        if pools:
            flags.append(f"{impl} thread pools not limited to {threads}: {', '.join(sorted(pools))}")
        peak = C.median([r["peak_extra_mb"] for r in good])
        per_impl[impl] = {
            "s_per_iter": C.median([r["seconds_per_iter"] for r in good]),
            "s_per_iter_all": [r["seconds_per_iter"] for r in good],
            "peak_extra_mb": peak,
            "peak_extra_over_x": None if peak is None else peak / x_mb,
            "lower_bounds": [r["lower_bound"] for r in good],
            "warnings": sorted({w for r in good for w in r.get("warnings", [])}),
            "errors": errors,
        }

    have = [i for i in impls if per_impl[i]["lower_bounds"]]
    reference = "sklearn" if "sklearn" in have else (have[0] if have else None)
    tol = AGREEMENT_TOL[dtype]
    agreement = {}
    for impl in have:
        if impl != reference:
            diff = C.rel_diff(per_impl[impl]["lower_bounds"], per_impl[reference]["lower_bounds"])
            agreement[impl] = diff
            if not diff <= tol:  # also catches NaN
                flags.append(f"{impl} DISAGREES with {reference}: lower bound rel. diff "
                             f"{diff:.1e} > {tol:.0e}")

    def ratio(slow, fast):
        a, b = per_impl.get(slow, {}).get("s_per_iter"), per_impl.get(fast, {}).get("s_per_iter")
        return a / b if a and b else None

    floor = floor_seconds(wl, dtype, rates)
    throughput = {}
    for impl in have:
        seconds = per_impl[impl]["s_per_iter"]
        flops = flops_per_iteration(wl)
        gemm = rates.get("dgemm_gflops" if dtype == "float64" else "sgemm_gflops")
        stream = rates.get("stream_gbs")
        gflops = flops / seconds / 1e9
        x_gbs = wl.itemsize_bytes(dtype) / seconds / 1e9
        throughput[impl] = {
            "gflops": gflops,
            "gflops_fraction_of_gemm": gflops / gemm if gflops and gemm else None,
            "x_gbs": x_gbs,
            "x_gbs_fraction_of_stream": x_gbs / stream if stream else None,
        }
    return {
        "workload": wl.name, "dtype": dtype, "threads": threads, "n_samples": wl.n_samples,
        "x_mb": x_mb, "impls": per_impl,
        "speedup_vs_sklearn": ratio("sklearn", "fastgmm"),
        "speedup_vs_numpy": ratio("numpy", "fastgmm"),
        "speedup_vs_onedal": ratio("onedal", "fastgmm"),
        "floor_s_per_iter": floor, "fastgmm_over_floor": (
            per_impl["fastgmm"]["s_per_iter"] / floor
            if floor and per_impl.get("fastgmm", {}).get("s_per_iter") else None),
        "notes": config_notes,
        "numpy_vs_sklearn": ratio("sklearn", "numpy"),
        "agreement_reference": reference, "agreement_rel_diff": agreement,
        "agreement_tol": tol, "throughput": throughput, "flags": flags,
    }


def _mem_cell(entry):
    mb = entry["peak_extra_mb"]
    if mb is None:
        return "–"
    return f"{mb:{'.0f' if mb >= 10 else '.2g'}} ({entry['peak_extra_over_x']:.1f}×)"


def _check_cell(summary):
    if summary["flags"]:
        return "**" + "; ".join(summary["flags"]) + "**"
    diffs = summary["agreement_rel_diff"].values()
    return f"ok (Δ ≤ {max(diffs):.0e})" if diffs else "ok"


def _pct(value):
    return "–" if value is None else f"{100 * value:.0f}%"


def results_table(summary, impls):
    """The main markdown table: one row per (workload, dtype, threads)."""
    headers = ["workload", "dtype", "thr"]
    headers += [f"{i} s/iter" for i in impls]
    peers = [i for i in ("sklearn", "numpy", "onedal") if i in impls]
    headers += [f"fastgmm vs {i}" for i in peers]
    headers += ["floor s/iter", "fastgmm / floor"]
    headers += [f"{i} peak extra MB (×X)" for i in impls]
    headers += ["fastgmm GFLOP/s (of GEMM)", "fastgmm X GB/s (of stream)",
                "check (max rel. Δ lower bound)"]
    rows = []
    for s in summary:
        row = [s["workload"], s["dtype"], s["threads"]]
        row += [C.fmt(s["impls"][i]["s_per_iter"], ".4g") for i in impls]
        row += [C.fmt_ratio(s[f"speedup_vs_{i}"]) for i in peers]
        row += [C.fmt(s["floor_s_per_iter"], ".4g"), C.fmt_ratio(s["fastgmm_over_floor"], ".2f")]
        row += [_mem_cell(s["impls"][i]) for i in impls]
        tp = s["throughput"].get("fastgmm", {})
        row.append(f"{C.fmt(tp.get('gflops'), '.1f')} ({_pct(tp.get('gflops_fraction_of_gemm'))})"
                   if tp.get("gflops") else "–")
        row.append(f"{C.fmt(tp.get('x_gbs'), '.2f')} ({_pct(tp.get('x_gbs_fraction_of_stream'))})"
                   if tp else "–")
        row.append(_check_cell(s))
        rows.append(row)
    return C.markdown_table(headers, rows)


def thread_scaling(summary, impls, threads):
    """Speed at each thread count relative to the first: ``s/iter(t0) / s/iter(t)``.

    Returns
    -------
    list of dict
        One per (workload, dtype): ``{"workload", "dtype", impl: {t: ratio}}``.
    """
    by_key = {(s["workload"], s["dtype"], s["threads"]): s for s in summary}
    out = []
    for wl_name, dtype in dict.fromkeys((s["workload"], s["dtype"]) for s in summary):
        entry = {"workload": wl_name, "dtype": dtype}
        base = by_key.get((wl_name, dtype, threads[0]))
        for impl in impls:
            entry[impl] = {}
            for t in threads[1:]:
                other = by_key.get((wl_name, dtype, t))
                a = base and base["impls"][impl]["s_per_iter"]
                b = other and other["impls"][impl]["s_per_iter"]
                entry[impl][t] = a / b if a and b else None
        out.append(entry)
    return out


def scaling_table(scaling, impls, threads):
    """Markdown table of :func:`thread_scaling`."""
    headers = ["workload", "dtype"] + [f"{i} {t} thr / {threads[0]} thr" for i in impls
                                       for t in threads[1:]]
    rows = [[e["workload"], e["dtype"]] + [C.fmt_ratio(e[i][t], ".2f") for i in impls
                                           for t in threads[1:]] for e in scaling]
    return C.markdown_table(headers, rows)


def workloads_table(workloads, dtypes):
    """Markdown table of the workloads as run (N after --scale)."""
    rows = [[wl.name, f"{wl.n_samples:,}", wl.n_features, wl.n_components, wl.covariance_type,
             wl.mean_scale, " / ".join(f"{wl.itemsize_bytes(d) / 2**20:.1f}" for d in dtypes),
             wl.description] for wl in workloads]
    return C.markdown_table(
        ["id", "N", "D", "K", "covariance", "mean scale", f"X MB ({' / '.join(dtypes)})", "what"],
        rows,
    )


def notes(args, impl_notes):
    """The explanatory notes printed under the tables."""
    lines = [
        f"s/iter = fit() wall time / {args.max_iter}, median of {args.repeats} runs for fastgmm "
        f"and {args.baseline_repeats} for each peer (scikit-learn, numpy, onedal), each in a "
        "fresh process, from the same perturbed true parameters with tol=0. scikit-learn's fit() "
        "also validates X and runs one extra final E-step after the loop (for fit_predict "
        "consistency), so its s/iter includes 1/10 of an E-step; the numpy reference "
        "(_reference.fit_em) does not; fastgmm's does what its fit() does.",
        "Peak extra MB = peak RSS during fit() minus RSS just before it (kernel high-water mark "
        "reset via /proc/self/clear_refs, or a 5 ms sampler); ×X = relative to the size of X.",
        "GFLOP/s counts useful work: full 2·N·K·D² per iteration (E-step with a triangular "
        "factor N·K·D² + symmetric weighted Gram of the M-step N·K·D²); tied N·K·D² + N·D²; "
        "diag 8·N·K·D; spherical 4·N·K·(D+1) (see flops_per_iteration). "
        "Multiply by 1.5 for the 3·N·K·D² convention of BENCHMARKS.md's W2 floor (12 GFLOP). "
        "'of GEMM' is the fraction of the DGEMM (float64) or SGEMM (float32) rate measured in "
        "this run at the same thread count.",
        "X GB/s = N·D·itemsize per iteration / s/iter, i.e. as if X were read once per "
        "iteration; 'of stream' is the fraction of the streaming-read rate measured in this run.",
        "floor s/iter = max(useful flops / the GEMM rate of this run + N·K exponentials / the "
        "exp rate of this run, one read of X / the streaming rate of this run): what a perfect "
        "kernel would take on this machine; fastgmm / floor is how far it is from it.",
        "onedal = Intel oneDAL's daal4py.em_gmm (2024.7, in its own interpreter, TBB threads "
        "set with daalinit to the same count), from the same initial parameters; it has full "
        "and diagonal covariances only, and no way to turn off its stop on an unchanged "
        "log-likelihood, so on the well-separated workloads it stops once converged and its "
        "s/iter is over the iterations it ran (said per row under the table).",
        f"check: n_iter == {args.max_iter} for every run, and lower bounds agree with "
        "scikit-learn (else with the first available implementation) to 1e-8 relative in "
        "float64, 1e-4 in float32. The numpy reference computes in float64 whatever X's dtype.",
    ]
    if args.scale != 1.0:
        lines.append(f"**N scaled by {args.scale}: not the standard workload sizes.**")
    if args.max_iter != 10:
        lines.append(f"**max_iter={args.max_iter}: not the standard protocol (10).**")
    lines += [f"**{n}**" for n in impl_notes]
    return lines


def chart(summary, impls, threads, path):
    """Bar chart of the speedup over scikit-learn per workload, one bar per thread count.

    Returns the path written, or None when matplotlib or the data are missing.
    """
    plt = C.pyplot()
    shown = [i for i in impls if i != "sklearn"]
    if plt is None or "sklearn" not in impls or not shown:
        return None
    labels = list(dict.fromkeys(f"{s['workload']} {s['dtype']}" for s in summary))
    fig, axes = plt.subplots(1, len(shown), figsize=(max(6, 1.2 * len(labels)) * len(shown), 4.5),
                             squeeze=False)
    width = 0.8 / len(threads)
    for ax, impl in zip(axes[0], shown):
        for j, t in enumerate(threads):
            values = []
            for label in labels:
                s = next((s for s in summary if f"{s['workload']} {s['dtype']}" == label
                          and s["threads"] == t), None)
                a = s and s["impls"]["sklearn"]["s_per_iter"]
                b = s and s["impls"][impl]["s_per_iter"]
                values.append(a / b if a and b else 0.0)
            xs = [i + (j - (len(threads) - 1) / 2) * width for i in range(len(labels))]
            bars = ax.bar(xs, values, width, label=f"{t} thread{'s' * (t > 1)}")
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel("speedup over scikit-learn (s/iter ratio)")
        ax.set_title(f"{impl} vs scikit-learn")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_all(args, impls, workloads, rates, save_partial):
    """Run every configuration, interleaving the implementations; return all worker results."""
    configs = [(wl, d, t) for wl in workloads for d in args.dtype for t in args.threads]
    total = sum(args.repeats if impl == "fastgmm" else args.baseline_repeats
                for wl, _, _ in configs for impl in impls if C.supports(impl, wl.covariance_type))
    runs = []
    for wl, dtype, threads in configs:
        for rep in range(args.repeats):
            for impl in impls:
                if impl != "fastgmm" and rep >= args.baseline_repeats:
                    continue
                if not C.supports(impl, wl.covariance_type):
                    continue
                result = C.run_fit(wl, dtype, threads, impl, max_iter=args.max_iter,
                                   timeout=args.timeout)
                result["repeat"] = rep
                runs.append(result)
                C.report_progress(len(runs), total, result)
                save_partial(runs)
    return runs


def main(argv=None):
    """Run the benchmark and write OUT.md, OUT.json and OUT.png."""
    args = parse_args(argv)
    impls, impl_notes = C.available_impls(args.impl)
    if not impls:
        sys.exit("no implementation available: " + "; ".join(impl_notes))
    workloads = [datasets.get_workload(name, scale=args.scale) for name in args.workloads]
    info = C.machine_info()
    settings = dict(vars(args))
    settings["impl"] = impls

    for wl in workloads:
        for dtype in args.dtype:
            print(f"data {wl.name} {dtype} N={wl.n_samples}: {datasets.ensure_data(wl, dtype)}",
                  file=sys.stderr, flush=True)
    rates = ({} if args.machine_size == "none" else
             C.measure_machine(args.threads, *MACHINE_SIZES[args.machine_size], args.timeout))

    def document(runs, summary=None, scaling=None, complete=False):
        return {
            "complete": complete, "machine": info, "settings": settings, "rates": rates,
            "workloads": {wl.name: dataclasses.asdict(wl) for wl in workloads},
            "runs": runs, "summary": summary, "thread_scaling": scaling,
            "notes": notes(args, impl_notes),
        }

    runs = run_all(args, impls, workloads, rates,
                   lambda runs: C.write_json(args.out, document(runs)))

    summary = [
        summarize_config(wl, d, t, [r for r in runs if (r["workload"], r["dtype"], r["threads"])
                                    == (wl.name, d, t)], impls, rates.get(t, {}), args.max_iter)
        for wl in workloads for d in args.dtype for t in args.threads
    ]
    scaling = thread_scaling(summary, impls, args.threads) if len(args.threads) > 1 else []
    disagreements = [f"{s['workload']} {s['dtype']} {s['threads']} thr: {f}"
                     for s in summary for f in s["flags"]]

    md = [f"# fastgmm benchmark ({info['date']})", "", "## Machine", C.machine_markdown(info)]
    if rates:
        md += ["", "## Machine rates (this run)", C.rates_markdown(rates)]
    md += ["", "## Workloads", workloads_table(workloads, args.dtype), "",
           "## Correctness check (done before comparing speed)"]
    md += ([f"- **FAILED: {d}**" for d in disagreements] if disagreements else
           ["- all runs did the expected number of iterations and their lower bounds agree"])
    md += ["", "## Results", results_table(summary, impls)]
    config_notes = [f"{s['workload']} {s['dtype']} {s['threads']} thr: {n}"
                    for s in summary for n in s["notes"]]
    if config_notes:
        md += [""] + [f"- {n}" for n in config_notes]
    warned = sorted({f"{i}: {w}" for s in summary for i in impls for w in s["impls"][i]["warnings"]})
    if warned:
        md += ["", "Warnings raised during the fits (other than ConvergenceWarning):"]
        md += [f"- {w}" for w in warned]
    if scaling:
        md += ["", "## Thread scaling (speed ratio)", scaling_table(scaling, impls, args.threads)]
    md += ["", "## Notes"] + [f"- {line}" for line in notes(args, impl_notes)]
    png = chart(summary, impls, args.threads, f"{args.out}.png")
    if png:
        md += ["", f"![speedup over scikit-learn]({Path(png).name})"]
    text = "\n".join(md)

    C.write_json(args.out, document(runs, summary, scaling, complete=True))
    C.write_markdown(args.out, text)
    print(text)
    print(f"\nwrote {args.out}.md, {args.out}.json" + (f", {png}" if png else ""), file=sys.stderr)
    if disagreements:
        print("\n!!! CORRECTNESS CHECK FAILED: " + " | ".join(disagreements), file=sys.stderr)
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
