"""One measurement in a fresh interpreter; prints ``RESULT {json}`` as its last line.

Run by ``run.py`` and ``scaling.py``, but usable by hand::

    python benchmarks/_worker.py fit --workload W2 --n-samples 1000 --dtype float64 \\
        --threads 1 --impl sklearn
    python benchmarks/_worker.py machine --threads 2 --gemm-n 1000 --stream-mb 64

The thread limits are set in the environment before numpy is imported.

``fit --mode em`` is the protocol of BENCHMARKS.md: start from the workload's
perturbed true parameters, ``max_iter`` iterations (10), ``tol=0``.
``fit --mode default`` times a whole default ``fit()`` (k-means initialisation,
``tol=1e-3``, ``max_iter=100``, ``random_state=0``).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import threading
import time
import traceback
import warnings

from _common import IMPLS, RESULT_PREFIX, limit_threads

_STATUS = "/proc/self/status"


def _status_kb(field):
    with open(_STATUS) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in {_STATUS}")


def _reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0); True when that worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_kb("VmHWM") <= _status_kb("VmRSS")
    except OSError:
        return False


class PeakRSS:
    """Measure how far the resident set size rises above its level at entry.

    Uses the kernel's high-water mark (VmHWM) after resetting it; where that
    cannot be reset, a background thread samples VmRSS every ``interval`` s.

    Attributes
    ----------
    before_bytes, peak_extra_bytes : int
    method : {"VmHWM", "sampler"}
    """

    def __init__(self, interval=0.005, anon=False):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None
        self._peak_kb = 0
        # Anonymous memory (RssAnon: heap, thread stacks; not the code pages a
        # first call of a library brings in), sampled every millisecond.
        self.anon = anon
        self._anon_thread = None
        self._anon_peak_kb = 0
        self.peak_anon_extra_bytes = None

    def _sample_anon(self):
        while not self._stop.wait(0.001):
            self._anon_peak_kb = max(self._anon_peak_kb, _status_kb("RssAnon"))

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._peak_kb = max(self._peak_kb, _status_kb("VmRSS"))

    def __enter__(self):
        gc.collect()
        before_kb = _status_kb("VmRSS")
        self.before_bytes = before_kb * 1024
        self._peak_kb = before_kb
        self.method = "VmHWM" if _reset_peak_rss() else "sampler"
        if self.anon:
            self._anon_before_kb = self._anon_peak_kb = _status_kb("RssAnon")
            self._anon_thread = threading.Thread(target=self._sample_anon, daemon=True)
            self._anon_thread.start()
        if self.method == "sampler":
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        for thread in (self._thread, self._anon_thread):
            if thread is not None:
                thread.join()
        if self._anon_thread is not None:
            peak = max(self._anon_peak_kb, _status_kb("RssAnon"))
            self.peak_anon_extra_bytes = (peak - self._anon_before_kb) * 1024
        peak_kb = max(self._peak_kb, _status_kb("VmRSS" if self._thread else "VmHWM"))
        self.peak_extra_bytes = peak_kb * 1024 - self.before_bytes
        return False


def _estimator_factory(impl, wl, init, args):
    """Return ``fit()`` -> fitted estimator, for scikit-learn or fastgmm."""
    if impl == "sklearn":
        from sklearn.mixture import GaussianMixture

        extra = {}
    else:
        from fastgmm import GaussianMixture

        extra = {"n_threads": args.threads}
    if args.mode == "em":
        params = dict(
            tol=0.0,
            max_iter=args.max_iter,
            reg_covar=args.reg_covar,
            weights_init=init["weights"],
            means_init=init["means"],
            precisions_init=init["precisions"],
        )
    else:
        params = dict(random_state=0)
    est = GaussianMixture(
        n_components=wl.n_components, covariance_type=wl.covariance_type, **params, **extra
    )
    if args.weighted:
        return lambda X, sample_weight: est.fit(X, sample_weight=sample_weight)
    return lambda X, sample_weight: est.fit(X)


def _onedal_factory(wl, init, args):
    """Return ``fit()`` -> result of Intel oneDAL's EM (``daal4py.em_gmm``) from the same start.

    oneDAL stops when the log-likelihood changes by at most ``accuracyThreshold``
    and refuses a negative one, so with 0 a fit that has converged exactly (the
    well-separated workloads) stops before ``max_iter``; its s/iter is then over
    the iterations it ran. It regularises a covariance only when it is
    ill-conditioned (``regularizationFactor``), where scikit-learn always adds
    ``reg_covar``: the lower bounds differ by ~1e-10 relative on these workloads.
    """
    if args.mode != "em":
        raise ValueError("oneDAL is run from the protocol's initial parameters only (--mode em)")
    import daal4py as d4p
    import numpy as np

    storage = {"full": "full", "diag": "diagonal"}.get(wl.covariance_type)
    if storage is None:
        raise ValueError(f"oneDAL's em_gmm has no {wl.covariance_type!r} covariance")
    d4p.daalinit(args.threads)  # TBB threads: the OMP/BLAS variables do not reach them
    dtype = init["means"].dtype
    weights = np.ascontiguousarray(init["weights"][None, :])
    means = np.ascontiguousarray(init["means"])
    covs = [np.ascontiguousarray(c if c.ndim == 2 else c[None, :], dtype=dtype)
            for c in init["covariances"]]
    algorithm = d4p.em_gmm(
        nComponents=wl.n_components, maxIterations=args.max_iter, accuracyThreshold=0.0,
        covarianceStorage=storage, regularizationFactor=args.reg_covar,
        fptype="double" if dtype == np.float64 else "float",
    )

    def fit(X, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("oneDAL's em_gmm takes no sample weights")
        result = algorithm.compute(X, weights, means, covs)
        return {"goal": float(np.asarray(result.goalFunction).ravel()[0]),
                "n_iter": int(np.asarray(result.nIterations).ravel()[0]),
                "n_samples": X.shape[0], "max_iter": args.max_iter,
                "threads": int(d4p.num_threads())}

    return fit


def _summarize_onedal(result):
    # goalFunction is the log-likelihood summed over the rows, at the parameters
    # of the last E-step, as scikit-learn's last lower_bound_ (per row).
    return {
        "lower_bound": result["goal"] / result["n_samples"],
        "lower_bounds": [],
        "n_iter": result["n_iter"],
        "converged": result["n_iter"] < result["max_iter"],
        "onedal_threads": result["threads"],
    }


def _summarize_estimator(est):
    return {
        "lower_bound": float(est.lower_bound_),
        "lower_bounds": [float(v) for v in getattr(est, "lower_bounds_", [])],
        "n_iter": int(est.n_iter_),
        "converged": bool(est.converged_),
    }


def _reference_factory(wl, init, args):
    """Return ``fit()`` -> result dict of the pure-NumPy reference EM."""
    if args.mode != "em":
        raise ValueError("the numpy reference has no default initialisation")
    import _paths  # noqa: F401 (tests/ on the path: the NumPy reference)
    from _reference import fit_em

    def fit(X, sample_weight=None):
        return fit_em(
            X,
            init["weights"],
            init["means"],
            init["precisions_cholesky"],
            wl.covariance_type,
            reg_covar=args.reg_covar,
            max_iter=args.max_iter,
            tol=0.0,
        )

    return fit


def _summarize_reference(result):
    return {
        "lower_bound": float(result["lower_bound"]),
        "lower_bounds": [float(v) for v in result.get("lower_bounds", [])],
        "n_iter": int(result["n_iter"]),
        "converged": bool(result["converged"]),
    }


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return {f"{d['user_api']}:{d['internal_api']}": d["num_threads"] for d in threadpool_info()}


def fit_once(args):
    """Load a workload, fit it once under the protocol, and measure time and memory.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``fit`` command line.

    Returns
    -------
    dict
        ``fit_seconds``, ``seconds_per_iter`` (fit time / n_iter), ``n_iter``,
        ``lower_bound``, ``lower_bounds``, ``converged``, ``rss_before_mb``,
        ``peak_extra_mb``, ``x_mb``, ``rss_method``, ``warnings``, ``thread_pools``.
    """
    import datasets

    wl = datasets.get_workload(args.workload, n_samples=args.n_samples)
    X = datasets.load_data(wl, args.dtype)
    init = datasets.initial_parameters(wl, args.dtype)
    if args.impl == "numpy":
        fit, summarize = _reference_factory(wl, init, args), _summarize_reference
    elif args.impl == "onedal":
        fit, summarize = _onedal_factory(wl, init, args), _summarize_onedal
    else:
        fit, summarize = _estimator_factory(args.impl, wl, init, args), _summarize_estimator
    sample_weight = None
    if args.weighted:
        import numpy as np

        # Weights that change the model (not all equal), drawn before timing.
        sample_weight = np.random.default_rng(0).uniform(0.5, 1.5, X.shape[0])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with PeakRSS(anon=args.anon) as mem:
            start = time.perf_counter()
            fitted = fit(X, sample_weight)
            elapsed = time.perf_counter() - start

    result = summarize(fitted)
    # With tol=0 the fit never converges, so a ConvergenceWarning is expected in "em" mode.
    messages = sorted(
        {
            f"{w.category.__name__}: {w.message}"[:200]
            for w in caught
            if not (args.mode == "em" and w.category.__name__ == "ConvergenceWarning")
        }
    )
    result.update(
        fit_seconds=elapsed,
        seconds_per_iter=elapsed / max(result["n_iter"], 1),
        x_mb=X.nbytes / 2**20,
        rss_before_mb=mem.before_bytes / 2**20,
        peak_extra_mb=mem.peak_extra_bytes / 2**20,
        peak_anon_extra_mb=None if mem.peak_anon_extra_bytes is None else mem.peak_anon_extra_bytes / 2**20,
        rss_method=mem.method,
        warnings=messages,
        thread_pools=_blas_threads(),
    )
    if "onedal_threads" in result:
        result["thread_pools"] = {**(result["thread_pools"] or {}),
                                  "tbb:onedal": result.pop("onedal_threads")}
    return result


def machine_rates(args):
    """Measure GEMM GFLOP/s (float64 and float32) and streaming-read GB/s.

    Parameters
    ----------
    args : argparse.Namespace
        ``threads``, ``gemm_n``, ``stream_mb``, ``repeats``.

    Returns
    -------
    dict
        ``dgemm_gflops``, ``sgemm_gflops``, ``exp_per_s`` (float64 exponentials per
        second), ``stream_gbs`` (best of ``repeats``).
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    def best_time(func):
        func()  # warm-up: thread pools, page faults
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            func()
            times.append(time.perf_counter() - start)
        return min(times)

    rng = np.random.default_rng(0)
    n = args.gemm_n
    result = {"gemm_n": n, "stream_mb": args.stream_mb, "repeats": args.repeats}
    for dtype, key in ((np.float64, "dgemm_gflops"), (np.float32, "sgemm_gflops")):
        a = rng.standard_normal((n, n)).astype(dtype)
        b = rng.standard_normal((n, n)).astype(dtype)
        result[key] = 2 * n**3 / best_time(lambda: a @ b) / 1e9
        del a, b

    # exp rate: NumPy's vectorised float64 exp (SIMD where NumPy has it) on
    # cache-resident blocks, one block per thread; used for the floor of the
    # E-step's N·K exponentials.
    block, rounds = 1 << 15, 64
    vals = [rng.uniform(-30.0, 0.0, block) for _ in range(args.threads)]
    outs = [np.empty(block) for _ in range(args.threads)]

    def exps(j):
        for _ in range(rounds):
            np.exp(vals[j], out=outs[j])

    with ThreadPoolExecutor(args.threads) as pool:
        seconds = best_time(lambda: list(pool.map(exps, range(args.threads))))
    result["exp_per_s"] = args.threads * block * rounds / seconds

    data = np.ones(args.stream_mb * 2**20 // 8)
    parts = np.array_split(data, args.threads)  # views: each thread reads its own slice
    with ThreadPoolExecutor(args.threads) as pool:
        seconds = best_time(lambda: sum(pool.map(np.sum, parts)))
    result["stream_gbs"] = data.nbytes / seconds / 1e9
    result["thread_pools"] = _blas_threads()
    return result


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="time one fit")
    fit.add_argument("--workload", required=True)
    fit.add_argument("--n-samples", type=int, required=True)
    fit.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    fit.add_argument("--threads", type=int, required=True)
    fit.add_argument("--impl", required=True, choices=IMPLS)
    fit.add_argument("--mode", default="em", choices=["em", "default"])
    fit.add_argument("--max-iter", type=int, default=10)
    fit.add_argument("--reg-covar", type=float, default=1e-6)
    fit.add_argument("--weighted", action="store_true", help="fit with random sample weights (fastgmm only)")
    fit.add_argument("--anon", action="store_true", help="also sample the peak of anonymous memory (RssAnon)")
    machine = sub.add_parser("machine", help="measure GEMM and streaming rates")
    machine.add_argument("--threads", type=int, required=True)
    machine.add_argument("--gemm-n", type=int, default=4000)
    machine.add_argument("--stream-mb", type=int, default=1024)
    machine.add_argument("--repeats", type=int, default=3)
    return parser


def main(argv=None):
    """Parse the command line, cap the threads, run, and print the JSON result."""
    args = _parser().parse_args(argv)
    limit_threads(args.threads)  # before numpy is first imported
    try:
        result = fit_once(args) if args.command == "fit" else machine_rates(args)
        status = 0
    except Exception as exc:  # reported to the parent, which marks the run as failed
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        status = 1
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
