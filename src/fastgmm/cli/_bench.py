"""``fastgmm bench``: a quick timing of this build against scikit-learn and the NumPy reference.

Not the project's benchmark (benchmarks/PROTOCOL.md): one small workload,
one run each, to see in seconds whether an installed build is as fast as it
should be. Every implementation starts from the same parameters and runs the
same number of EM iterations with tol=0; the lower bounds are compared first.
"""

import importlib.util
import pathlib
import time
import warnings

import numpy as np


def _numpy_reference():
    """The test suite's NumPy reference EM (tests/_reference.py) when fastgmm runs from a source checkout, else
    None: the test oracles are not part of the installed package."""
    for parent in pathlib.Path(__file__).resolve().parents:
        path = parent / "tests" / "_reference.py"
        if path.is_file() and (parent / "src" / "fastgmm").is_dir():
            spec = importlib.util.spec_from_file_location("fastgmm_tests_reference", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    return None


def run(n_samples=100_000, n_features=8, n_components=8, n_iter=3, seed=0, file=None):
    """Print seconds per EM iteration of fastgmm, scikit-learn (if installed) and the NumPy reference (from a
    source checkout)."""
    import fastgmm

    from ..datasets import make_mixture

    reference = _numpy_reference()

    def say(*a):
        print(*a, file=file)

    info = fastgmm.build_info()
    X, _, truth = make_mixture(n_samples, n_features, n_components, "full", random_state=seed)
    rng = np.random.default_rng(seed)
    means = truth["means"] + rng.normal(scale=0.1, size=truth["means"].shape)   # the true parameters, perturbed
    start = fastgmm.GaussianMixture(n_components, weights_init=truth["weights"], means_init=means,
                                    precisions_init=np.linalg.inv(truth["covariances"]), max_iter=0).fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
    say(f"fastgmm {info['version']} (OpenMP {'on' if info['openmp'] else 'OFF'}, {info['max_threads']} threads): "
        f"{n_samples:,} x {n_features}, K={n_components}, full, float64, {n_iter} EM iterations from one start")

    times, bounds = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = fastgmm.GaussianMixture(n_components, max_iter=n_iter, tol=0.0, **init)
        gm.fit(X[:1000])          # pays the first call's one-off costs outside the timing
        t0 = time.perf_counter()
        gm.fit(X)
        times["fastgmm"] = (time.perf_counter() - t0) / n_iter
        bounds["fastgmm"] = float(gm.lower_bound_)
        try:
            from sklearn.mixture import GaussianMixture as SkGM
        except ImportError:
            say("(scikit-learn is not installed: no comparison with it)")
        else:
            sk = SkGM(n_components, max_iter=n_iter, tol=0.0, **init)
            t0 = time.perf_counter()
            sk.fit(X)
            times["scikit-learn"] = (time.perf_counter() - t0) / n_iter
            bounds["scikit-learn"] = float(sk.lower_bound_)
        if reference is None:
            say("(the NumPy reference lives with the tests: run from a source checkout to include it)")
        else:
            t0 = time.perf_counter()
            ref = reference.fit_em(X, start.weights_, start.means_, start.precisions_cholesky_, "full",
                                   max_iter=n_iter, tol=0.0)
            times["NumPy reference"] = (time.perf_counter() - t0) / n_iter
            bounds["NumPy reference"] = float(ref["lower_bound"])
    say(f"{'implementation':<16} {'s / iteration':>14} {'fastgmm is':>12}  lower bound")
    for name, t in times.items():
        ratio = "" if name == "fastgmm" else f"{t / times['fastgmm']:.1f}x faster"
        say(f"{name:<16} {t:>14.4f} {ratio:>12}  {bounds[name]:.12g}")
    spread = max(abs(b - bounds["fastgmm"]) for b in bounds.values()) / abs(bounds["fastgmm"])
    say(f"lower bounds agree to {spread:.1e} (relative); one run each on a possibly busy machine")
    return times
