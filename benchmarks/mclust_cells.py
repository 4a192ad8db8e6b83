"""fastgmm's model selection against R's mclust 6.0, cell by cell, on real (rounded, tied) data.

For every (model, K) cell of mclust's BIC table of a data set (``overall.bic_table``
of ``tests/data/<name>.json`` or ``tests/data/mclust/<name>.json``: mclust's
``Mclust(X, G = 1:9)`` with its defaults, all fourteen models) it prints
fastgmm's BIC for that cell next to mclust's, both in mclust's sign (larger is
better: ``2 log L - p log n``), and counts:

* ``at/above``: fastgmm's cell at mclust's BIC or better (within 1e-3 relative
  or 0.02 absolute), among the cells mclust fitted and fastgmm did not find
  degenerate;
* ``degenerate``: cells whose every start collapsed or emptied a component;
* ``mclust NA``: cells mclust could not fit (singular): not counted;
* the chosen model (best BIC) against mclust's overall choice: fastgmm's BIC
  must be at least mclust's.

Usage::

    python benchmarks/mclust_cells.py                          # all fourteen models, the selection's defaults
    python benchmarks/mclust_cells.py --models four            # scikit-learn's four (VII, VVI, EEE, VVV)
    python benchmarks/mclust_cells.py --init hc                # the selection with init_params="hc"
    python benchmarks/mclust_cells.py --seeds 0 1 2 --quiet    # several seeds, summary only
"""

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np

from fastgmm import GaussianMixtureSelection
from fastgmm.families._mclust import MODELS

TESTS = Path(__file__).resolve().parents[1] / "tests" / "data"
FOUR = ("VII", "VVI", "EEE", "VVV")


def data_sets():
    """{name: (csv path, json path)} of every data set with an mclust BIC table."""
    found = {}
    for folder in (TESTS, TESTS / "mclust"):
        for js in sorted(folder.glob("*.json")):
            csv = js.with_suffix(".csv")
            if csv.exists():
                with open(js) as f:
                    head = json.load(f)
                if isinstance(head, dict) and "bic_table" in head.get("overall", {}):
                    found.setdefault(js.stem, (csv, js))
    return found


def load(paths):
    csv, js = paths
    X = np.loadtxt(csv, delimiter=",", skiprows=1, ndmin=2)
    with open(js) as f:
        return X, json.load(f)


def at_or_above(bic, ref):
    return bic >= ref - max(1e-3 * abs(ref), 0.02)


def compare(name, paths, args, seed):
    X, ref = load(paths)
    table = ref["overall"]["bic_table"]
    models = [m for m in (FOUR if args.models == "four" else MODELS) if m in table]
    Ks = list(range(1, 1 + max(len(v) for v in table.values())))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = GaussianMixtureSelection(n_components=Ks, covariance_types=models, init_params=args.init,
                                       n_init=args.n_init, tol=args.tol, random_state=seed).fit(X)
    elapsed = time.perf_counter() - t0
    r = sel.results_
    row = {(ct, int(k)): i for i, (ct, k) in enumerate(zip(r["covariance_type"], r["n_components"]))}
    counts = {"cells": 0, "at_or_above": 0, "below": 0, "degenerate": 0, "failed": 0, "mclust_na": 0}
    below = []
    for model in models:
        for K, ref_bic in zip(Ks, table[model]):
            counts["cells"] += 1
            if ref_bic is None or (isinstance(ref_bic, float) and math.isnan(ref_bic)):
                counts["mclust_na"] += 1
                continue
            i = row[(model, K)]
            bic = -r["bic"][i]
            if r["failed"][i]:
                status = "failed"
            elif r["degenerate"][i]:
                status = "degenerate"
            elif at_or_above(bic, ref_bic):
                status = "at_or_above"
            else:
                status = "below"
                below.append(f"{model} K={K} ({bic - ref_bic:+.2f})")
            counts[status] += 1
            if not args.quiet:
                print(f"  {name:10} {model} K={K}: fastgmm {bic:12.3f}  mclust {ref_bic:12.3f}  "
                      f"diff {bic - ref_bic:+9.3f}  {status}"
                      f"{'' if status != 'degenerate' else ' (' + r['degenerate_reason'][i] + ')'}"
                      f"  [{r['init'][i]}]")
    chosen = (sel.best_params_["covariance_type"], sel.best_params_["n_components"])
    best = -r["bic"][sel.best_index_]
    if args.models == "four":
        fitted = [(m, K, b) for m in models for K, b in zip(Ks, table[m]) if b is not None]
        m_model, m_G, m_bic = max(fitted, key=lambda t: t[2])
    else:
        m_model, m_G, m_bic = ref["overall"]["model"], ref["overall"]["G"], ref["overall"]["bic"]
    good = at_or_above(best, m_bic)
    n_fit = counts["cells"] - counts["mclust_na"] - counts["degenerate"] - counts["failed"]
    print(f"{name:10} seed {seed}: {counts['at_or_above']}/{n_fit} cells at/above mclust, "
          f"{counts['degenerate']} degenerate, {counts['failed']} failed, {counts['mclust_na']} mclust NA; "
          f"chosen {chosen[0]} K={chosen[1]} (BIC {best:.2f}), mclust {m_model} K={m_G} (BIC {m_bic:.2f})"
          f"{' SAME' if chosen == (m_model, m_G) else ''}{' AT LEAST AS GOOD' if good else ' WORSE'}; "
          f"{elapsed:.2f} s")
    if below:
        print(f"           below: {', '.join(below)}")
    return counts, good


def main(argv=None):
    sets = data_sets()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", default=sorted(sets), help=f"data sets (default: all: {', '.join(sets)})")
    p.add_argument("--models", choices=("mclust", "four"), default="mclust")
    p.add_argument("--init", default="auto", help="the selection's init_params (default auto)")
    p.add_argument("--n-init", type=int, default=1)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--quiet", action="store_true", help="summary lines only")
    args = p.parse_args(argv)
    total = {"cells": 0, "at_or_above": 0, "below": 0, "degenerate": 0, "failed": 0, "mclust_na": 0}
    good = runs = 0
    for seed in args.seeds:
        for name in args.names:
            counts, ok = compare(name, sets[name], args, seed)
            for k in total:
                total[k] += counts[k]
            good += ok
            runs += 1
    n_fit = total["cells"] - total["mclust_na"] - total["degenerate"] - total["failed"]
    print(f"total: {total['at_or_above']}/{n_fit} cells at/above mclust's BIC, {total['below']} below, "
          f"{total['degenerate']} degenerate, {total['failed']} failed, {total['mclust_na']} mclust NA; "
          f"choice at least as good as mclust's in {good}/{runs} runs")


if __name__ == "__main__":
    main()
