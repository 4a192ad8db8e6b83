"""Where the time of a small fit goes: microseconds per EM iteration and per M-step, and per fit besides.

On data of a few dozen rows a fit is Python overhead more than arithmetic (docs/guide/mclust.rst,
"How close to mclust, and how fast"). For one data set of ``tests/data`` and K components this prints,
for each model, the median time of

* ``em_step``: one EM iteration on the Python path (``GaussianMixture._em_step``: the kernel pass, the
  statistics, the M-step, the checks) from the parameters of a converged fit;
* ``compiled``: the same iteration by the compiled step the fits use on in-memory float64 data
  (``fastgmm.families._gaussian_runner``, one call for the whole iteration), from the same parameters;
* ``model_m_step``: the model's M-step from the same pass's statistics
  (``fastgmm.families._gaussian.model_m_step``);

and for the whole selection ``GaussianMixtureSelection(range(1, 10), covariance_types="mclust",
init_params="hc")`` its time with ``max_iter=1`` over its number of fits (each fit's cost besides its
iterations, plus one iteration). All in this process, after a warm-up, 1 thread for the kernels' small
passes as the fits choose. Run it alone on the machine::

    python benchmarks/small_fits.py                          # USArrests, K = 3
    python benchmarks/small_fits.py --data diabetes --k 4
"""

from __future__ import annotations

import argparse
import time
import timeit
import warnings
from pathlib import Path

import numpy as np

from fastgmm import GaussianMixture, GaussianMixtureSelection
from fastgmm.families import _gaussian
from fastgmm.families._gaussian_runner import runner_for
from fastgmm.families._mclust import MODELS

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def _load(name):
    for path in (DATA / f"{name}.csv", DATA / "mclust" / f"{name}.csv"):
        if path.exists():
            return np.loadtxt(path, delimiter=",", skiprows=1)
    raise SystemExit(f"no data set {name!r} in tests/data or tests/data/mclust")


def _median_us(fn, number, repeat=5):
    return 1e6 * float(np.median([timeit.timeit(fn, number=number) / number for _ in range(repeat)]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="USArrests")
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--number", type=int, default=2000, help="calls per timing")
    args = p.parse_args(argv)
    X = _load(args.data)
    warnings.simplefilter("ignore")
    print(f"{args.data}: {X.shape[0]} rows x {X.shape[1]}, K = {args.k}")
    print("| model | em_step us | compiled us | model_m_step us |")
    print("|---|---|---|---|")
    for model in MODELS:
        gm = GaussianMixture(args.k, covariance_type=model, random_state=0).fit(X)
        params = gm._get_parameters()
        stats = gm._statistics(X, None, params, 1)
        step = _median_us(lambda: gm._em_step(X, None, params, params, 1, None), args.number)
        runner = runner_for(gm, X, None, params, 1, None)
        compiled = _median_us(lambda: runner._core.step(0), args.number)   # set 0 (params) -> set 1, repeated
        mstep = _median_us(lambda: _gaussian.model_m_step(stats, model, gm.reg_covar, float(np.finfo(X.dtype).eps),
                                                          start=params.covariances), args.number)
        print(f"| {model} | {step:.1f} | {compiled:.1f} | {mstep:.1f} |")

    def sweep():
        return GaussianMixtureSelection(n_components=range(1, 10), covariance_types="mclust", init_params="hc",
                                        random_state=0, max_iter=1).fit(X)

    sweep()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        sel = sweep()
        times.append(time.perf_counter() - t0)
    n_fits = int(np.sum(sel.results_["n_starts"]))
    print(f"selection with max_iter=1: {min(times):.4f} s for {n_fits} fits, "
          f"{1e3 * min(times) / n_fits:.2f} ms per fit (one EM iteration included)")


if __name__ == "__main__":
    main()
