"""fastgmm's model selection against R's ``Mclust()`` (mclust 6.0): the same fourteen models, K = 1..9.

Issue 21 asks for the selection to be faster than ``Mclust()`` at every size (at least 20x at
100k rows) and to choose a model at least as good. For every data set this script

* writes X to a file (``benchmarks/.cache/mclust/NAME.bin``: int32 n, d, then float64
  column-major) and runs ``Rscript benchmarks/mclust_fit.R FILE``, which reads it and times
  ``Mclust(X, G = 1:9)`` with mclust's defaults (all fourteen models, hierarchical start; on more
  than 2,000 rows mclust starts from a random subset of 2,000, seeded);
* times ``GaussianMixtureSelection(n_components=range(1, 10), covariance_types="mclust",
  init_params="hc").fit(X)`` in this process (fastgmm's defaults otherwise, ``random_state=0``).

What each time includes:

* ``R Mclust() s``: ``system.time(Mclust(X, G = 1:9))`` inside R: the hierarchical clustering,
  every EM run, the BIC table and the final fit. Single-threaded (mclust's Fortran; R's BLAS as
  printed in the report).
* ``Rscript s``: the whole ``Rscript`` process as seen from here: R's start, loading mclust,
  reading the file, ``Mclust()``, printing the result.
* ``fastgmm s``: ``fit(X)`` alone, X already in memory as float64 (import, data generation and a
  warm-up fit on other data excluded): validation, every start, every EM run, the selection and
  the final estimator; ``n_threads`` as given (default: all usable cores).
* ``ratio``: R Mclust() s / fastgmm s (R's process overhead not counted for R).

BIC is reported in mclust's sign (``2 log L - p log n``, larger is better) for both sides;
``ΔBIC`` = fastgmm's chosen BIC - mclust's chosen BIC (>= 0: fastgmm's choice at least as good),
``cells >= mclust`` counts the (model, K) cells mclust fits where fastgmm's BIC is at least
mclust's (less ``--cell-tol``); fastgmm cells it marks degenerate or failed count as below.

Data: the real sets of ``tests/data`` (faithful, iris, diabetes) and ``tests/data/mclust``
(see make_references.R there), and generated mixtures (``--sizes``, default 1k, 10k, 100k, 1M
rows; D=4, K=4: one spherical, one diagonal, two full components of different shape and
orientation, partly overlapping; a fixed seed per size). mclust at 1M rows can take very long:
R's side runs once per data set with a timeout (``--r-timeout``, default 1800 s) and reports
"timeout" instead of waiting. Run it alone on the machine::

    python benchmarks/mclust.py --out benchmarks/results/NAME          # everything
    python benchmarks/mclust.py --real none --sizes 1k,10k --skip-r    # fastgmm only, generated data
    python benchmarks/mclust.py --real iris,banknote --sizes none      # two real sets

Until ``covariance_types="mclust"`` and ``init_params="hc"`` exist, ``--fastgmm-config auto``
(the default) falls back to the four types (spherical, diag, tied, full = VII, VVI, EEE, VVV) with
``init_params="auto"`` and says so in the report; ``--fastgmm-config four`` forces that.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import fmt, machine_info, machine_markdown, markdown_table, write_json, write_markdown  # noqa: E402

TESTS_DATA = HERE.parent / "tests" / "data"
CACHE = HERE / ".cache" / "mclust"
R_SCRIPT = HERE / "mclust_fit.R"
REAL = ("faithful", "iris", "diabetes", "banknote", "thyroid", "wreath", "chevron", "crabs", "geyser", "swiss",
        "USArrests")
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1M": 1_000_000}
MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")
#: fastgmm's names of the four models it had before the fourteen; the others go by mclust's code
CODE = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}
CONFIGS = {
    "mclust": dict(covariance_types="mclust", init_params="hc"),
    "four": dict(covariance_types=("spherical", "diag", "tied", "full"), init_params="auto"),
}


def real_data(name):
    """A real data set's numeric columns (float64) from the committed CSV."""
    path = TESTS_DATA / "mclust" / f"{name}.csv"
    if not path.exists():
        path = TESTS_DATA / f"{name}.csv"
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def generated_data(n, seed=0):
    """n rows of a fixed D=4, K=4 mixture; the same parameters for every n, rows seeded by (seed, n)."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.35, 0.3, 0.2, 0.15])
    means = np.array([[0.0, 0.0, 0.0, 0.0], [4.0, 1.0, -2.0, 0.5], [-3.0, 3.5, 1.0, -1.0], [1.0, -4.0, 2.5, 3.0]])
    rot = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    covs = np.array([
        np.eye(4),                                            # spherical
        np.diag([0.3, 1.0, 2.0, 4.0]),                        # axis-aligned, unequal variances
        rot @ np.diag([6.0, 1.0, 0.5, 0.2]) @ rot.T,          # elongated, rotated
        0.7 * np.full((4, 4), 0.8) + 0.7 * 0.2 * np.eye(4),   # correlated, equicorrelation 0.8
    ])
    rng = np.random.default_rng([seed, n])
    labels = rng.choice(4, size=n, p=weights)
    X = np.empty((n, 4))
    for k in range(4):
        rows = labels == k
        X[rows] = rng.multivariate_normal(means[k], covs[k], size=int(rows.sum()), method="cholesky")
    return X


def write_bin(X, path):
    """int32 n, d then float64 column-major: what mclust_fit.R reads without parsing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.array(X.shape, dtype="<i4").tofile(f)
        np.asfortranarray(X, dtype="<f8").T.tofile(f)   # X.T in C order is X in Fortran order
    return path


def run_r(path, timeout, seed=0):
    """Time ``Rscript mclust_fit.R path``; its RESULT dict plus ``rscript_s``, or ``{"status": ...}``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(["Rscript", str(R_SCRIPT), str(path), str(seed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # Rscript may run R as a child: end the whole group
        proc.communicate()
        return {"status": "timeout", "rscript_s": time.perf_counter() - t0}
    elapsed = time.perf_counter() - t0
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]), status="ok", rscript_s=elapsed)
    return {"status": "error", "rscript_s": elapsed, "error": (out + err)[-2000:]}


def r_choice(r):
    """mclust's chosen model code: Mclust() names a G = 1 choice "XXX", the table's first best cell
    names it by model."""
    table = r.get("bic_table") or {}
    if r.get("model") in table or r.get("G") is None:
        return r.get("model")
    g = r["G"] - 1
    return max(table, key=lambda m: -np.inf if table[m][g] is None else table[m][g])


def config_supported(name):
    """Whether this fastgmm accepts the configuration (the fourteen models are being added)."""
    from fastgmm import GaussianMixtureSelection
    X = np.random.default_rng(0).normal(size=(60, 2))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GaussianMixtureSelection(n_components=[1, 2], random_state=0, **CONFIGS[name]).fit(X)
    except (ValueError, TypeError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def run_fastgmm(X, config, threads, repeats):
    """Fastest of ``repeats`` fits; the chosen cell, its BIC in mclust's sign, and every cell's BIC."""
    from fastgmm import GaussianMixtureSelection
    best = None
    for _ in range(repeats):
        sel = GaussianMixtureSelection(n_components=range(1, 10), random_state=0, n_threads=threads,
                                       **CONFIGS[config])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            sel.fit(X)
            seconds = time.perf_counter() - t0
        best = seconds if best is None else min(best, seconds)
    r = sel.results_
    cells = {}
    for i, (ct, k) in enumerate(zip(r["covariance_type"], r["n_components"])):
        bad = bool(r["failed"][i] or r["degenerate"][i])
        cells[f"{CODE.get(ct, ct)},{int(k)}"] = None if bad else float(-r["bic"][i])
    ct = sel.best_params_["covariance_type"]
    return {"fastgmm_s": best, "model": CODE.get(ct, ct), "G": int(sel.best_params_["n_components"]),
            "bic": float(-r["bic"][sel.best_index_]), "loglik": float(r["log_likelihood"][sel.best_index_]),
            "cells": cells}


def cells_at_or_above(fast_cells, r_table, tol):
    """(fastgmm cells at or above mclust's, cells mclust fits that fastgmm also ran)."""
    hits = total = 0
    for model, column in (r_table or {}).items():
        for g, ref in enumerate(column, start=1):
            key = f"{model},{g}"
            if ref is None or key not in fast_cells:
                continue
            total += 1
            ours = fast_cells[key]
            hits += ours is not None and ours >= ref - max(tol, 1e-6 * abs(ref))
    return hits, total


def datasets(args):
    for name in args.real:
        yield name, lambda name=name: real_data(name)
    for size in args.sizes:
        yield f"generated {size}", lambda n=SIZES[size]: generated_data(n)


def row_of(name, X, r, f, tol):
    rs = "–" if r is None else (fmt(r.get("mclust_s"), ".2f") if r["status"] == "ok" else r["status"])
    rtotal = "–" if r is None else fmt(r.get("rscript_s"), ".2f")
    r_ok = r is not None and r["status"] == "ok" and r.get("G") is not None
    ratio = (f"{r['mclust_s'] / f['fastgmm_s']:.1f}x" if r_ok and f is not None else "–")
    if r is not None and r["status"] == "timeout" and f is not None:   # R took at least its timeout
        ratio = f"> {r['rscript_s'] / f['fastgmm_s']:.1f}x"
    if f is not None and r_ok:
        hits, total = cells_at_or_above(f["cells"], r["bic_table"], tol)
        delta, cells = f"{f['bic'] - r['bic']:+.2f}", f"{hits}/{total}"
    else:
        delta = cells = "–"
    return [name, f"{X.shape[0]:,}", X.shape[1], rs, rtotal, "–" if f is None else f"{f['fastgmm_s']:.2f}", ratio,
            f"{r_choice(r)} {r['G']}" if r_ok else "–", f"{r['bic']:.2f}" if r_ok else "–",
            "–" if f is None else f"{f['model']} {f['G']}", "–" if f is None else f"{f['bic']:.2f}", delta, cells]


def parse_names(text, allowed, what):
    if text.strip().lower() == "none":
        return []
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in allowed]
    if unknown:
        raise SystemExit(f"{what}: unknown {unknown}; choose from {', '.join(allowed)} or 'none'")
    return names


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--real", default=",".join(REAL), help="real data sets, comma-separated, or 'none'")
    p.add_argument("--sizes", default=",".join(SIZES), help="generated sizes among 1k,10k,100k,1M, or 'none'")
    p.add_argument("--skip-r", action="store_true", help="do not run R")
    p.add_argument("--skip-fastgmm", action="store_true", help="do not run fastgmm")
    p.add_argument("--r-timeout", type=float, default=1800, help="seconds before Rscript is stopped")
    p.add_argument("--fastgmm-config", choices=("auto", "mclust", "four"), default="auto")
    p.add_argument("--threads", type=int, default=None, help="fastgmm's n_threads (default: all usable cores)")
    p.add_argument("--repeats", type=int, default=3, help="fastgmm fits per data set (the fastest is reported)")
    p.add_argument("--cell-tol", type=float, default=0.1, help="BIC slack of 'cells >= mclust' (and 1e-6 relative)")
    p.add_argument("--out", default=None, help="write OUT.md and OUT.json (e.g. benchmarks/results/NAME)")
    args = p.parse_args(argv)
    args.real = parse_names(args.real, REAL, "--real")
    args.sizes = parse_names(args.sizes, tuple(SIZES), "--sizes")

    config, note = args.fastgmm_config, ""
    if not args.skip_fastgmm:
        if config in ("auto", "mclust"):
            ok, why = config_supported("mclust")
            if not ok and config == "mclust":
                raise SystemExit(f"fastgmm does not take covariance_types='mclust', init_params='hc' yet ({why})")
            config = "mclust" if ok else "four"
            if not ok:
                note = ("fastgmm ran the four types spherical/diag/tied/full (VII/VVI/EEE/VVV) with "
                        "init_params='auto': this build does not take covariance_types='mclust' yet "
                        f"({why.splitlines()[0][:160]}). mclust ran all fourteen models.")
                print("NOTE: " + note, file=sys.stderr, flush=True)
        run_fastgmm(generated_data(500), config, args.threads, 1)   # warm-up: lazy imports, first-call costs

    rows, results, r_facts = [], [], None
    for name, load in datasets(args):
        X = load()
        r = f = None
        if not args.skip_r:
            path = write_bin(X, CACHE / f"{name.replace(' ', '-')}.bin")
            r = run_r(path, args.r_timeout)
            r_facts = r_facts or ({k: r[k] for k in ("R_version", "mclust_version", "blas", "lapack")}
                                  if r["status"] == "ok" else None)
        if not args.skip_fastgmm:
            f = run_fastgmm(X, config, args.threads, args.repeats)
        rows.append(row_of(name, X, r, f, args.cell_tol))
        results.append({"data": name, "n": X.shape[0], "d": X.shape[1], "r": r, "fastgmm": f})
        print(" | ".join(map(str, rows[-1])), flush=True)

    head = ["data", "rows", "D", "R Mclust() s", "Rscript s", "fastgmm s", "ratio", "mclust choice", "mclust BIC",
            "fastgmm choice", "fastgmm BIC", "ΔBIC", "cells >= mclust"]
    threads = args.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    facts = [f"- fastgmm: {'skipped' if args.skip_fastgmm else config + ' configuration'}, n_threads={threads}, "
             f"fastest of {args.repeats} fits; R: one run per data set, timeout {args.r_timeout:.0f} s, "
             "single-threaded"]
    if r_facts:
        facts.append(f"- {r_facts['R_version']}, mclust {r_facts['mclust_version']}, BLAS {r_facts['blas']}, "
                     f"LAPACK {r_facts['lapack']}")
    if note:
        facts.append(f"- NOTE: {note}")
    text = (f"# fastgmm's selection vs R's Mclust(), 14 models x K = 1..9\n\n{machine_markdown(machine_info())}\n"
            + "\n".join(facts) + "\n\n" + markdown_table(head, rows) + "\n\n"
            "BIC in mclust's sign (larger is better). ΔBIC = fastgmm's chosen BIC - mclust's. Times in seconds; "
            "ratio = R Mclust() / fastgmm fit() (after a timeout: at least Rscript's time until then / fastgmm). See the script's docstring for what each time includes.\n")
    print(text)
    if args.out:
        write_json(args.out, {"args": vars(args), "config": config, "note": note, "results": results})
        write_markdown(args.out, text)


if __name__ == "__main__":
    main()
