"""fastgmm's model selection against R's mclust 6.0, cell by cell, on real (rounded, tied) data.

For every (covariance type, K) cell of ``tests/data/<name>.json`` (mclust's
fits of faithful, iris and diabetes; VII/VVI/EEE/VVV = spherical/diag/tied/
full) it prints fastgmm's log-likelihood for that cell next to mclust's and
counts:

* ``at/above``: fastgmm's cell at mclust's optimum or better (within 1e-3
  relative or 0.01 absolute), among the non-degenerate cells;
* ``degenerate``: cells whose every start collapsed or emptied a component
  (mclust calls none of these cells singular; see fastgmm._selection);
* the chosen model (best BIC) against mclust's choice among the four models.

Usage::

    python benchmarks/mclust_cells.py                       # the selection's defaults
    python benchmarks/mclust_cells.py --init kmeans          # GaussianMixture's single k-means start
    python benchmarks/mclust_cells.py --seeds 0 1 2 --quiet  # several seeds, summary only
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from fastgmm import GaussianMixtureSelection

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
NAMES = ("faithful", "iris", "diabetes")
MODEL = {"spherical": "VII", "diag": "VVI", "tied": "EEE", "full": "VVV"}


def load(name):
    X = np.loadtxt(DATA / f"{name}.csv", delimiter=",", skiprows=1)
    with open(DATA / f"{name}.json") as f:
        return X, json.load(f)


def at_or_above(ll, ref):
    return ll >= ref - max(1e-3 * abs(ref), 0.01)


def compare(name, args, seed):
    X, ref = load(name)
    Ks = sorted({c["G"] for c in ref["cells"]})
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = GaussianMixtureSelection(n_components=Ks, init_params=args.init, n_init=args.n_init,
                                       tol=args.tol, random_state=seed).fit(X)
    elapsed = time.perf_counter() - t0
    r = sel.results_
    row = {(ct, int(k)): i for i, (ct, k) in enumerate(zip(r["covariance_type"], r["n_components"]))}
    counts = {"cells": 0, "at_or_above": 0, "below": 0, "degenerate": 0, "failed": 0}
    below = []
    for cell in ref["cells"]:
        i = row[(cell["covariance_type"], cell["G"])]
        ll, ref_ll = r["log_likelihood"][i], cell["loglik"]
        counts["cells"] += 1
        if r["failed"][i]:
            status = "failed"
        elif r["degenerate"][i]:
            status = "degenerate"
        elif at_or_above(ll, ref_ll):
            status = "at_or_above"
        else:
            status = "below"
            below.append(f"{cell['covariance_type']} K={cell['G']} ({ll - ref_ll:+.2f})")
        counts[status] += 1
        if not args.quiet:
            print(f"  {name:9} {MODEL[cell['covariance_type']]} {cell['covariance_type']:9} K={cell['G']}: "
                  f"fastgmm {ll:12.4f}  mclust {ref_ll:12.4f}  diff {ll - ref_ll:+9.4f}  {status}"
                  f"{'' if status != 'degenerate' else ' (' + r['degenerate_reason'][i] + ')'}"
                  f"  [{r['init'][i]}]")
    chosen = (sel.best_params_["covariance_type"], sel.best_params_["n_components"])
    m = ref["four_models_selected"]
    mc = (ref["model_map"][m["model"]], m["G"])
    print(f"{name:9} seed {seed}: {counts['at_or_above']}/{counts['cells'] - counts['degenerate'] - counts['failed']}"
          f" non-degenerate cells at/above mclust, {counts['degenerate']} degenerate, {counts['failed']} failed; "
          f"chosen {MODEL[chosen[0]]} K={chosen[1]} (BIC {-sel.results_['bic'][sel.best_index_]:.2f} in "
          f"mclust's sign), mclust {m['model']} K={mc[1]} (BIC {m['bic']:.2f})"
          f"{' MATCH' if chosen == mc else ' DIFFERENT'}; {elapsed:.2f} s")
    if below:
        print(f"          below: {', '.join(below)}")
    return counts, chosen == mc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", default=list(NAMES))
    p.add_argument("--init", default="auto", help="the selection's init_params (default auto)")
    p.add_argument("--n-init", type=int, default=1)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--quiet", action="store_true", help="summary lines only")
    args = p.parse_args(argv)
    total = {"cells": 0, "at_or_above": 0, "below": 0, "degenerate": 0, "failed": 0}
    matches = runs = 0
    for seed in args.seeds:
        for name in args.names:
            counts, match = compare(name, args, seed)
            for k in total:
                total[k] += counts[k]
            matches += match
            runs += 1
    print(f"total: {total['at_or_above']}/{total['cells'] - total['degenerate'] - total['failed']} non-degenerate "
          f"cells at/above mclust's optimum, {total['below']} below, {total['degenerate']} degenerate, "
          f"{total['failed']} failed; chosen model = mclust's in {matches}/{runs} runs")


if __name__ == "__main__":
    main()
