"""The Old Faithful sweep of issue 14: degenerate components on tied data, every policy.

Fits ``fastgmm.GaussianMixture`` to the Old Faithful data (272 x 2, many
tied values) for K = 1..8, every covariance type, random_state 0..19 and
reg_covar in {0, 1e-6}, under each ``on_degenerate`` policy, and counts the
outcomes: fits that succeeded, fits that raised the documented ValueError
(only acceptable for "raise"), fits that recorded degenerate-component
events, re-seeds and drops. Any other exception, a non-finite fitted
parameter, or (on the issue's grid, init_params="kmeans") a "reinit"/"drop"
fit that raised, is a failure: the script lists them and exits 1. With a
harsher --init-params (single rows as starting components), "drop" may
raise the documented every-component-degenerate error where every start is
singular (reg_covar=0, 'full'): counted as raised, not as a failure.

This is a correctness sweep, not a timing benchmark (it prints the wall
time only as a smoke figure). Run::

    python benchmarks/faithful_sweep.py            # the full sweep (3840 fits)
    python benchmarks/faithful_sweep.py --quick    # K <= 4, random_state 0..4
    python benchmarks/faithful_sweep.py --float32 --init-params random_from_data   # harsher variants
"""

import argparse
import sys
import time
import warnings

import numpy as np

import fastgmm
from fastgmm.datasets import load_faithful

COV_TYPES = ("full", "tied", "diag", "spherical")
POLICIES = ("raise", "reinit", "drop")
REG_COVARS = (0.0, 1e-6)
# The start of the documented ValueErrors: scikit-learn's singular-covariance
# sentence, the every-component-degenerate one, and zero-probability rows.
DOCUMENTED = (
    "Fitting the mixture model failed because some components have ill-defined empirical covariance",
    "GaussianMixture: every component became degenerate",
    "Some samples have zero probability under every component",
)
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def fit_one(X, K, cov_type, seed, reg_covar, policy, init_params="kmeans"):
    """("ok" | "raised", n_events, n_reinit, n_dropped, problem or None) of one fit."""
    may_raise = policy == "raise" or init_params != "kmeans"
    gm = fastgmm.GaussianMixture(K, covariance_type=cov_type, random_state=seed, reg_covar=reg_covar,
                                 on_degenerate=policy, n_threads=1, init_params=init_params)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(X)
    except ValueError as e:
        if str(e).startswith(DOCUMENTED) and may_raise:
            return "raised", 0, 0, 0, None
        return "raised", 0, 0, 0, f"{type(e).__name__}: {e}"
    except Exception as e:  # anything else is a bug, whatever the policy
        return "raised", 0, 0, 0, f"{type(e).__name__}: {e}"
    for name in FITTED:
        if not np.all(np.isfinite(getattr(gm, name))):
            return "ok", 0, 0, 0, f"{name} is not finite"
    return "ok", len(gm.degenerate_events_), gm.n_reinit_, gm.n_dropped_, None


def sweep(ks=range(1, 9), seeds=range(20), cov_types=COV_TYPES, policies=POLICIES, reg_covars=REG_COVARS,
          dtype=np.float64, init_params="kmeans"):
    """{policy: counts} and the list of failures over the grid."""
    X = load_faithful(return_X_y=True)[0].astype(dtype)
    counts = {p: {"fits": 0, "ok": 0, "raised": 0, "with_events": 0, "reinit": 0, "dropped": 0} for p in policies}
    failures = []
    for policy in policies:
        c = counts[policy]
        for cov_type in cov_types:
            for K in ks:
                for reg in reg_covars:
                    for seed in seeds:
                        outcome, n_ev, n_re, n_dr, problem = fit_one(X, K, cov_type, seed, reg, policy,
                                                                     init_params)
                        c["fits"] += 1
                        c[outcome] += 1
                        c["with_events"] += n_ev > 0
                        c["reinit"] += n_re
                        c["dropped"] += n_dr
                        if problem is not None:
                            failures.append((policy, cov_type, K, reg, seed, problem))
    return counts, failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K <= 4 and random_state 0..4 only")
    parser.add_argument("--float32", action="store_true", help="fit the data as float32")
    parser.add_argument("--init-params", default="kmeans", help="init_params of every fit (default kmeans)")
    args = parser.parse_args(argv)
    grid = {"ks": range(1, 5), "seeds": range(5)} if args.quick else {}
    grid["dtype"] = np.float32 if args.float32 else np.float64
    grid["init_params"] = args.init_params
    t0 = time.perf_counter()
    counts, failures = sweep(**grid)
    elapsed = time.perf_counter() - t0
    print(f"{'policy':8} {'fits':>6} {'ok':>6} {'raised':>7} {'w/events':>9} {'reinit':>7} {'dropped':>8}")
    for policy, c in counts.items():
        print(f"{policy:8} {c['fits']:6d} {c['ok']:6d} {c['raised']:7d} {c['with_events']:9d} {c['reinit']:7d} "
              f"{c['dropped']:8d}")
    print(f"({elapsed:.1f} s)")
    for f in failures:
        print("FAILURE", *f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
