"""Shared plumbing of the benchmark scripts: workers, machine facts, reports.

Standard library only at import time: ``_worker.py`` imports this module before
it has set the thread limits, and those must be in place before numpy loads.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORKER = BENCH_DIR / "_worker.py"
RESULTS_DIR = BENCH_DIR / "results"

#: Every implementation the harness knows, in the order runs are interleaved.
IMPLS = ("fastgmm", "sklearn", "numpy", "onedal")

#: Implementations run by default (oneDAL needs an interpreter of its own, see below).
DEFAULT_IMPLS = ("fastgmm", "sklearn", "numpy")

#: Interpreter that runs the "onedal" implementation (Intel oneDAL's ``daal4py.em_gmm``).
#: daal4py 2024.7, its last release with ``em_gmm``, does not import beside
#: scikit-learn 1.9 and NumPy 2, so it lives in a virtual environment of its own:
#: ``python3 -m venv /tmp/venv-daal && /tmp/venv-daal/bin/pip install daal4py==2024.7.0
#: "numpy<2" scipy "scikit-learn==1.5.2" packaging threadpoolctl``; then pass
#: ``--onedal-python /tmp/venv-daal/bin/python`` (or set this variable).
ONEDAL_PYTHON_ENV = "FASTGMM_BENCH_ONEDAL_PYTHON"

#: Environment variables that cap the thread pools of OpenMP and the BLAS libraries.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

RESULT_PREFIX = "RESULT "


def limit_threads(threads, environ=None):
    """Set every thread-count variable of ``environ`` (default ``os.environ``) to ``threads``.

    Parameters
    ----------
    threads : int
    environ : dict, optional

    Returns
    -------
    dict
        The updated mapping.
    """
    environ = os.environ if environ is None else environ
    environ.update({var: str(threads) for var in THREAD_ENV_VARS})
    return environ


def run_worker(args, threads, timeout=None, script=WORKER, python=None):
    """Run ``_worker.py ARGS`` (or ``script ARGS``) in a fresh interpreter limited to ``threads`` threads.

    Parameters
    ----------
    args : list of str
        Command line of the worker (without the interpreter and script).
    threads : int
        Thread limit put in the subprocess environment before it starts.
    timeout : float, optional
        Seconds before the worker is killed.
    script : path, default ``_worker.py``
        A script that prints ``RESULT {json}`` as its last line like the worker.
    python : path, optional
        Interpreter to run it with (default: this one).

    Returns
    -------
    dict
        The worker's JSON result; on failure ``{"error": message}``.
    """
    env = limit_threads(threads, dict(os.environ))
    cmd = [python or sys.executable, str(script), *args]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"error": f"worker exited with code {proc.returncode}: {tail}"}


def run_fit(wl, dtype, threads, impl, *, mode="em", max_iter=10, timeout=None, extra_args=()):
    """Run one fit of a workload in a fresh worker (see ``_worker.py fit``).

    Parameters
    ----------
    wl : datasets.Workload
        Workload, with the N to use.
    dtype : {"float64", "float32"}
    threads : int
    impl : {"fastgmm", "sklearn", "numpy"}
    mode : {"em", "default"}, default="em"
        "em": the protocol (perturbed true parameters, tol=0); "default": a
        whole default ``fit()`` with k-means initialisation.
    max_iter : int, default=10
        EM iterations in "em" mode.
    timeout : float, optional
    extra_args : sequence of str
        More options of ``_worker.py fit`` (e.g. ``["--anon"]``).

    Returns
    -------
    dict
        The worker's result, labelled with workload, n_samples, dtype,
        threads, impl and mode.
    """
    result = run_worker(
        ["fit", "--workload", wl.name, "--n-samples", str(wl.n_samples), "--dtype", dtype,
         "--threads", str(threads), "--impl", impl, "--mode", mode, "--max-iter", str(max_iter), *extra_args],
        threads,
        timeout,
        python=interpreter_for(impl),
    )
    result.update(workload=wl.name, n_samples=wl.n_samples, dtype=dtype, threads=threads,
                  impl=impl, mode=mode)
    return result


def interpreter_for(impl):
    """The interpreter that runs ``impl``: this one, or for "onedal" the one named by
    :data:`ONEDAL_PYTHON_ENV` (None when unset)."""
    if impl == "onedal":
        return os.environ.get(ONEDAL_PYTHON_ENV) or None
    return sys.executable


def supports(impl, covariance_type):
    """Whether ``impl`` can fit this covariance type (oneDAL's em_gmm has full and diagonal only)."""
    return impl != "onedal" or covariance_type in ("full", "diag")


def report_progress(done, total, result):
    """Print one line about a finished run to stderr."""
    if "error" in result:
        status = "ERROR " + result["error"]
    else:
        status = (f"{result['fit_seconds']:.4g} s fit, {result['seconds_per_iter']:.4g} s/iter, "
                  f"+{result['peak_extra_mb']:.0f} MB, n_iter {result['n_iter']}, "
                  f"lower bound {result['lower_bound']:.12g}")
    print(f"[{done}/{total}] {result['workload']} N={result['n_samples']} {result['dtype']} "
          f"{result['threads']} thr {result['impl']} ({result['mode']}): {status}",
          file=sys.stderr, flush=True)


def rel_diff(values, reference):
    """Largest relative difference between any of ``values`` and any of ``reference``."""
    return max(abs(v - r) / max(abs(r), 1e-300) for v in values for r in reference)


def parse_list(text, convert=str):
    """Split a comma-separated command-line value, e.g. ``"1,2"`` -> ``[1, 2]``."""
    return [convert(item.strip()) for item in text.split(",") if item.strip()]


def parse_count(text):
    """Parse an integer that may be written in float notation, e.g. ``"3e5"``."""
    return int(float(text))


def available_impls(impls):
    """Keep the implementations that can be imported here; explain the others.

    Parameters
    ----------
    impls : list of str
        Names from :data:`IMPLS`.

    Returns
    -------
    available : list of str
    notes : list of str
        One line per dropped implementation.
    """
    probes = {
        "fastgmm": ("fastgmm", "GaussianMixture"),
        "sklearn": ("sklearn.mixture", "GaussianMixture"),
        "numpy": ("_reference", "fit_em"),
        "onedal": ("daal4py", "em_gmm"),
    }
    available, notes = [], []
    for impl in impls:
        if impl not in probes:
            raise ValueError(f"unknown implementation {impl!r}; known: {', '.join(IMPLS)}")
        module, attr = probes[impl]
        if impl == "onedal":
            python = interpreter_for(impl)
            if python is None:
                notes.append(f"onedal skipped: no interpreter for it (set {ONEDAL_PYTHON_ENV} or "
                             "--onedal-python to a Python with daal4py 2024.7)")
                continue
            probe = subprocess.run([python, "-c", f"import {module}; {module}.{attr}"],
                                   capture_output=True, text=True)
            if probe.returncode:
                tail = (probe.stderr.strip().splitlines() or ["(no output)"])[-1]
                notes.append(f"onedal skipped: {python} cannot import {module}.{attr} ({tail})")
            else:
                available.append(impl)
            continue
        try:
            getattr(__import__(module, fromlist=[attr]), attr)
        except (ImportError, AttributeError) as exc:
            notes.append(f"{impl} skipped: {module}.{attr} is not available ({exc})")
        else:
            available.append(impl)
    return available, notes


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_revision():
    repo = BENCH_DIR.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + (" (with uncommitted changes)" if dirty else "")


def machine_info():
    """Facts about the machine and the software, for the report header.

    Returns
    -------
    dict
        CPU model, core counts, memory, library versions, ``fastgmm.build_info()``
        when available, git revision, date and command line.
    """
    import numpy
    import scipy

    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": _mem_total_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "git": _git_revision(),
    }
    try:
        import sklearn

        info["sklearn"] = sklearn.__version__
    except ImportError:
        info["sklearn"] = None
    try:
        import fastgmm

        info["fastgmm"] = fastgmm.__version__
        info["fastgmm_build"] = fastgmm.build_info() if hasattr(fastgmm, "build_info") else None
    except ImportError:
        info["fastgmm"] = None
    return info


def machine_markdown(info):
    """Render :func:`machine_info` as a markdown bullet list."""
    lines = [
        f"- CPU: {info['cpu']}; {info['logical_cpus']} logical CPUs "
        f"({info['usable_cpus']} usable); {info['memory_gb']} GB RAM",
        f"- {info['platform']}, Python {info['python']}",
        f"- numpy {info['numpy']}, scipy {info['scipy']}, scikit-learn {info['sklearn']}, "
        f"fastgmm {info['fastgmm']}",
    ]
    build = info.get("fastgmm_build")
    if build:
        lines.append(
            "- fastgmm build: "
            + ", ".join(f"{k}={build[k]}" for k in ("openmp", "openmp_version", "debug_build", "blas")
                        if k in build)
        )
    lines.append(f"- git: {info['git']}; date {info['date']}")
    lines.append(f"- command: `{info['command']}`")
    return "\n".join(lines)


def measure_machine(threads_list, gemm_n, stream_mb, timeout=None):
    """Measure DGEMM/SGEMM GFLOP/s and streaming-read GB/s, one fresh worker per thread count.

    Parameters
    ----------
    threads_list : list of int
    gemm_n : int
        Size of the square matrices multiplied.
    stream_mb : int
        Size of the array summed, in MB.
    timeout : float, optional

    Returns
    -------
    dict
        ``{threads: {"dgemm_gflops", "sgemm_gflops", "stream_gbs", ...}}``.
    """
    rates = {}
    for threads in threads_list:
        print(f"measuring machine rates with {threads} thread(s)...", file=sys.stderr, flush=True)
        rates[threads] = run_worker(
            ["machine", "--threads", str(threads), "--gemm-n", str(gemm_n),
             "--stream-mb", str(stream_mb)],
            threads,
            timeout,
        )
    return rates


def rates_markdown(rates):
    """Render :func:`measure_machine` output as a markdown table."""
    rows = [
        [t, fmt(r.get("dgemm_gflops"), ".1f"), fmt(r.get("sgemm_gflops"), ".1f"),
         fmt(r.get("exp_per_s") and r["exp_per_s"] / 1e9, ".2f"),
         fmt(r.get("stream_gbs"), ".1f"), r.get("error", "")]
        for t, r in rates.items()
    ]
    some = next(iter(rates.values()), {})
    caption = (
        f"GEMM: best of 3 `a @ b`, {some.get('gemm_n')}² matrices; exp: best of 3 runs of "
        "NumPy's float64 `np.exp` over 32,768-value blocks, one per thread; streaming read: best "
        f"of 3 sums of a {some.get('stream_mb')} MB float64 array split across the threads."
    )
    return markdown_table(
        ["threads", "DGEMM GFLOP/s", "SGEMM GFLOP/s", "exp G/s", "stream read GB/s", "error"], rows
    ) + "\n\n" + caption


def median(values):
    """Median of the non-None values, or None."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec):
    """Format a number, or an en dash for None."""
    return "–" if value is None else format(value, spec)


def fmt_ratio(value, spec=".1f"):
    """Format a ratio as e.g. ``"12.3×"``, or an en dash for None."""
    return "–" if value is None else format(value, spec) + "×"


def markdown_table(headers, rows):
    """A GitHub markdown table from a header list and a list of rows."""
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def default_out(kind):
    """``benchmarks/results/local-KIND-YYYYmmdd-HHMMSS`` (gitignored)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return RESULTS_DIR / f"local-{kind}-{stamp}"


def write_json(out_base, data):
    """Write ``OUT.json`` (``out_base`` without suffix); return its path."""
    path = Path(f"{out_base}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return path


def report(title, table, args, results):
    """Print a titled report (machine facts, then the table); with ``args.out`` also save OUT.md and
    OUT.json (the arguments and every worker result)."""
    text = f"# {title}\n\n" + machine_markdown(machine_info()) + "\n\n" + table + "\n"
    print(text)
    if args.out:
        write_json(args.out, {"args": vars(args), "results": results})
        write_markdown(args.out, text)


def write_markdown(out_base, text):
    """Write ``OUT.md``; return its path."""
    path = Path(f"{out_base}.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n")
    return path


def pyplot():
    """matplotlib.pyplot with the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt
