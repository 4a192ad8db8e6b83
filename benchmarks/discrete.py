"""Time per EM iteration of the discrete families against the vectorised NumPy EM.

For each family, on data of the issue's sizes (default: 1M x 64 Bernoulli
K=10, 1M x 16 Poisson K=8, 1M x 10 categorical columns of 5 levels K=6), both
implementations start from the same random initial parameters and run
``--iters`` EM iterations (no initialisation, no convergence test):

* fastgmm: ``fit`` with ``weights_init`` / ``means_init``, ``tol=0``;
* numpy: ``_reference_discrete.fit_em`` (dense (N, K) arrays, BLAS
  matrix products), the plain EM the tests check fastgmm against.

Each is run for 1 and for 1 + ``--iters`` iterations, interleaved,
``--repeats`` times: the time per iteration is the difference over
``--iters`` (median), and fastgmm's once-per-fit work (value checks, the
categorical codes, the Poisson log-factorial sum, the final E-step) is
reported on its own as the 1-iteration fit minus one iteration. It prints
both, the ratio numpy / fastgmm per iteration, and the largest difference of
the fitted parameters (they must agree to rounding). BLAS gets the same
thread count as fastgmm's kernels.

Optional peer: pomegranate (1.x, on PyTorch), from the same start, in its own
environment (it needs torch, which fastgmm's does not have)::

    python3 -m venv /tmp/venv-pom && /tmp/venv-pom/bin/pip install pomegranate
    python benchmarks/discrete.py --pomegranate /tmp/venv-pom/bin/python

(``_pomegranate_worker.py`` runs its EM on the same data; its M-step has no
smoothing, so its parameters differ from fastgmm's by about alpha.)

Usage::

    python benchmarks/discrete.py --quick           # smoke run: 20,000 rows
    python benchmarks/discrete.py                   # the full sizes; run alone on the machine
    python benchmarks/discrete.py --threads 1 --families poisson --iters 5
"""

import argparse
import os
import subprocess
import tempfile
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from fastgmm import BernoulliMixture, CategoricalMixture, ConvergenceWarning, PoissonMixture
import _paths  # noqa: F401 (tests/ on the path: the NumPy references)
import _reference_discrete as ref

SIZES = {"bernoulli": (64, 10), "poisson": (16, 8), "categorical": (10, 6)}   # (D, K)
LEVELS = 5


def make(family, N, seed=0):
    """Data and initial (weights, means) of the family's benchmark shape."""
    D, K = SIZES[family]
    rng = np.random.default_rng(seed)
    y = rng.integers(K, size=N)
    weights = rng.dirichlet(np.full(K, 5.0))
    if family == "bernoulli":
        X = (rng.random((N, D)) < rng.uniform(0.05, 0.95, (K, D))[y]).astype(np.float64)
        means = rng.uniform(0.2, 0.8, (K, D))
    elif family == "poisson":
        X = rng.poisson(rng.uniform(0.5, 10.0, (K, D))[y]).astype(np.float64)
        means = rng.uniform(1.0, 8.0, (K, D))
    else:
        tables = rng.dirichlet(np.full(LEVELS, 0.7), size=(K, D))           # (K, D, LEVELS)
        cum = np.cumsum(tables[y], axis=2)
        X = (rng.random((N, D, 1)) > cum).sum(axis=2).astype(np.float64)    # a draw per (row, column)
        X = np.minimum(X, LEVELS - 1)
        means = [rng.dirichlet(np.ones(LEVELS), size=K) for _ in range(D)]
    return X, weights, means


def run_fastgmm(family, X, weights, means, iters, threads):
    cls = {"bernoulli": BernoulliMixture, "poisson": PoissonMixture, "categorical": CategoricalMixture}[family]
    model = cls(len(weights), weights_init=weights, means_init=means, max_iter=iters, tol=0.0, n_threads=threads)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return (time.perf_counter() - t) / iters, model.means_


def run_numpy(family, X, weights, means, iters, threads):
    categories = [np.unique(X[:, d]) for d in range(X.shape[1])] if family == "categorical" else None
    t = time.perf_counter()
    with threadpool_limits(threads):
        _, m, _ = ref.fit_em(family, X, weights, means, iters, 1e-10, categories=categories)
    return (time.perf_counter() - t) / iters, m


def run_pomegranate(python, family, X, weights, means, iters, threads):
    """(seconds per iteration, means) of pomegranate's EM, run by ``python`` in its own environment."""
    stacked = np.stack(means) if isinstance(means, list) else means        # categorical: (D, K, n)
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_pomegranate_worker.py")
    with tempfile.TemporaryDirectory() as tmp:
        path_in, path_out = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(path_in, family=family, X=X, weights=weights, means=stacked, iters=iters, threads=threads)
        subprocess.run([python, worker, path_in, path_out], check=True)
        out = np.load(path_out)
        return float(out["seconds_per_iteration"]), out["means"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on 20,000 rows")
    parser.add_argument("--n", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("--iters", type=int, default=5, help="EM iterations timed (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median; default 3)")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: all usable cores)")
    parser.add_argument("--families", default="bernoulli,poisson,categorical")
    parser.add_argument("--pomegranate", metavar="PYTHON", default=None,
                        help="interpreter of an environment with pomegranate: compare with it too")
    args = parser.parse_args(argv)
    N = 20_000 if args.quick else args.n
    from fastgmm.kernels._openmp_helpers import effective_n_threads

    threads = effective_n_threads(args.threads)
    print(f"N={N:,}  iterations={args.iters}  threads={threads}")
    peer = "" if args.pomegranate is None else f" {'pomegranate s/it':>17} {'ratio':>7} {'max |diff|':>11}"
    print(f"{'family':<12} {'D':>3} {'K':>3} {'fastgmm s/it':>13} {'once/fit s':>11} {'numpy s/it':>11} "
          f"{'ratio':>7} {'max |diff|':>11}" + peer)
    for family in args.families.split(","):
        X, weights, means = make(family, N)
        fast, numpy_ = [], []
        for _ in range(args.repeats):
            t1, _ = run_fastgmm(family, X, weights, means, 1, threads)
            tn, m_fast = run_fastgmm(family, X, weights, means, 1 + args.iters, threads)
            fast.append((tn * (1 + args.iters) - t1, t1))
            u1, _ = run_numpy(family, X, weights, means, 1, threads)
            un, m_np = run_numpy(family, X, weights, means, 1 + args.iters, threads)
            numpy_.append(un * (1 + args.iters) - u1)
        t_fast = float(np.median([a for a, _ in fast])) / args.iters
        once = float(np.median([b for _, b in fast])) - t_fast
        t_np = float(np.median(numpy_)) / args.iters
        flat = (lambda m: np.hstack(m) if isinstance(m, list) else np.asarray(m))
        diff = float(np.max(np.abs(flat(m_fast) - flat(m_np))))
        D, K = SIZES[family]
        line = (f"{family:<12} {D:>3} {K:>3} {t_fast:>13.4f} {once:>11.4f} {t_np:>11.4f} {t_np / t_fast:>7.2f} "
                f"{diff:>11.2e}")
        if args.pomegranate is not None:
            t_pom, m_pom = run_pomegranate(args.pomegranate, family, X, weights, means, args.iters, threads)
            _, m_same = run_fastgmm(family, X, weights, means, args.iters, threads)   # as many iterations
            diff_pom = float(np.max(np.abs(flat(m_same) - m_pom)))
            line += f" {t_pom:>17.4f} {t_pom / t_fast:>7.2f} {diff_pom:>11.2e}"
        print(line)


if __name__ == "__main__":
    main()
