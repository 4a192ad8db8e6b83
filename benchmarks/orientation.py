"""EVE's and VVE's common orientation: fastgmm's plane-rotation sweeps against mclust's majorise-minimise steps.

The M-step of EVE and VVE finds one orientation for every component, by iterating an orientation step and
the shapes' (and VVE's volumes') closed form until the objective changes by less than mclust's sqrt(eps).
mclust's orientation step is Browne & McNicholas's (2014) two majorise-minimise (MM) steps; fastgmm's is a
cyclic sweep of plane rotations, each the exact minimiser in its plane (``fastgmm.families._mclust_iterative``).
For the M-step scatters of real data sets (the responsibilities of a 3-iteration VVV fit, K components) this
runs both, as the NumPy reference the kernel is tested against (tests/_reference_mclust_iterative.py), from
mclust's start (identity orientation, unit shapes), and prints each one's iterations and the expected
log-likelihood Q it reaches (higher is better; ``Q rot - Q mm`` > 0: the sweeps got further). Iteration
counts, not times (the reference is NumPy; the kernel's per-iteration times are in small_fits.py)::

    python benchmarks/orientation.py
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import _reference_mclust as ref  # noqa: E402
import _reference_mclust_iterative as it  # noqa: E402

from fastgmm import GaussianMixture  # noqa: E402
from fastgmm.families._mclust import DEFAULT_MAX_ITER, DEFAULT_TOL  # noqa: E402

DATA = HERE.parent / "tests" / "data"
CASES = [("swiss", 3), ("USArrests", 3), ("USArrests", 4), ("iris", 3), ("banknote", 4), ("crabs", 4),
         ("thyroid", 3), ("diabetes", 4)]


def _load(name):
    for path in (DATA / f"{name}.csv", DATA / "mclust" / f"{name}.csv"):
        if path.exists():
            return np.loadtxt(path, delimiter=",", skiprows=1)
    raise SystemExit(f"no data set {name!r} in tests/data or tests/data/mclust")


def scatters(X, K):
    """nk (K,) and the full scatters W (K, D, D) of a short VVV fit's responsibilities."""
    resp = GaussianMixture(K, covariance_type="VVV", random_state=0, max_iter=3).fit(X).predict_proba(X)
    nk = resp.sum(axis=0)
    means = resp.T @ X / nk[:, None]
    W = np.stack([(resp[:, k, None] * (X - means[k])).T @ (X - means[k]) for k in range(K)])
    return nk, W


def main():
    warnings.simplefilter("ignore")
    print("| data | K | model | MM iterations | rotation sweeps | Q rot - Q mm |")
    print("|---|---|---|---|---|---|")
    for name, K in CASES:
        nk, W = scatters(_load(name), K)
        active = np.ones(K, dtype=bool)
        for model, fit in (("EVE", it.eve), ("VVE", it.vve)):
            got = {steps: fit(nk, W, active, DEFAULT_TOL, DEFAULT_MAX_ITER, None, steps=steps)
                   for steps in ("mm", "rotations")}
            q = {steps: ref.expected_loglik(nk, W, sigma) for steps, (sigma, _) in got.items()}
            print(f"| {name} | {K} | {model} | {got['mm'][1]} | {got['rotations'][1]} | "
                  f"{q['rotations'] - q['mm']:+.2e} |")


if __name__ == "__main__":
    main()
