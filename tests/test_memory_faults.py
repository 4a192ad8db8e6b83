"""Allocation failure and failed fits: a clean MemoryError, and nothing lost.

The kernels allocate their per-thread scratch with malloc inside the parallel
region and report failure as a status the Python layer turns into a
MemoryError. To make that allocation fail for real, a child process caps its
own address space (RLIMIT_AS) a little above what it uses and fits a model
whose scratch needs more (full covariances of 1,200 features: 721,801 features
per row, 277 MB for one thread's 48-row chunk, so it fails whatever the
thread count). Linux only (RLIMIT_AS semantics), and not
under AddressSanitizer (it reserves terabytes of address space).
"""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import fastgmm

CHILD = textwrap.dedent(
    """
    import resource, sys, numpy as np, fastgmm
    name, params = sys.argv[1], eval(sys.argv[2])
    X = np.random.default_rng(0).normal(size=(200, 1200))
    small = np.random.default_rng(1).normal(size=(200, 2))
    model = getattr(fastgmm, name)(**params)
    previous = None
    if sys.argv[3] == "refit":
        model.fit(small)
        previous = model.means_.copy()
    # Threads (OpenMP workers, BLAS) start before the cap: a thread stack
    # that cannot be mapped is not what this test is about.
    fastgmm.GaussianMixture(1).fit(small)
    with open("/proc/self/statm") as f:
        vm = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (vm + 120 * 2**20, resource.RLIM_INFINITY))
    try:
        model.fit(X)
    except MemoryError as e:
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        fitted = [a for a in ("means_", "weights_", "converged_", "n_iter_") if hasattr(model, a)]
        if previous is None:
            assert fitted == [], fitted
        else:
            assert np.array_equal(model.means_, previous) and model.n_features_in_ == 2
            model.predict(small)          # the previous model still works
        print("MemoryError:", e)
        sys.exit(0)
    print("no MemoryError")
    sys.exit(3)
    """
)

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS as Linux implements it"),
    pytest.mark.skipif(os.environ.get("FASTGMM_SANITIZED") == "1", reason="ASan reserves the address space"),
]

CASES = [
    ("GaussianMixture", {"n_components": 2, "init_params": "random", "max_iter": 2}),
    ("GaussianMixture", {"n_components": 2, "max_iter": 2}),             # k-means init first
    ("BayesianGaussianMixture", {"n_components": 2, "init_params": "random", "max_iter": 2}),
    ("StudentTMixture", {"n_components": 2, "init_params": "random", "max_iter": 2}),
]


@pytest.mark.parametrize("mode", ["fresh", "refit"])
@pytest.mark.parametrize("name, params", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_allocation_failure_is_a_clean_memory_error(name, params, mode):
    r = subprocess.run([sys.executable, "-c", CHILD, name, repr(params), mode],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-2000:]}"
    assert "MemoryError: fastgmm: could not allocate the kernels' per-thread scratch memory" in r.stdout
    assert "Free memory" in r.stdout


@pytest.mark.parametrize("name", ["GaussianMixture", "BayesianGaussianMixture", "StudentTMixture",
                                  "BernoulliMixture", "PoissonMixture", "CategoricalMixture"])
def test_a_failed_refit_keeps_the_previous_model(name):
    """Bad input to a second fit (here a NaN) raises, and the first fit's model is intact."""
    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, (200, 3)).astype(float) if name != "BernoulliMixture" else (rng.random((200, 3)) < 0.5) * 1.0
    model = getattr(fastgmm, name)(n_components=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    before = {k: v for k, v in vars(model).items() if k.endswith("_")}
    bad = np.hstack([X, X[:, :1]])
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        model.fit(bad)
    after = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    for k in before:
        assert after[k] is before[k], k
    np.testing.assert_array_equal(model.predict(X), model.predict(X))


def test_a_failed_first_fit_leaves_the_estimator_unfitted():
    model = fastgmm.GaussianMixture(2)
    with pytest.raises(ValueError):
        model.fit(np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]))
    assert [k for k in vars(model) if k.endswith("_")] == []
    with pytest.raises(fastgmm.NotFittedError):
        model.predict(np.zeros((1, 2)))


DISCRETE_CHILD = textwrap.dedent(
    """
    import resource, sys, warnings, numpy as np, fastgmm
    warnings.simplefilter("ignore")
    name = sys.argv[1]
    rng = np.random.default_rng(0)
    X = (rng.random((60, 400_000)) < 0.3).astype(np.float64) * (3.0 if name == "PoissonMixture" else 1.0)
    fastgmm.GaussianMixture(1).fit(rng.normal(size=(50, 2)))      # threads start before the cap
    model = getattr(fastgmm, name)(2, init_params="random", max_iter=2)
    with open("/proc/self/statm") as f:
        vm = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (vm + 120 * 2**20, resource.RLIM_INFINITY))
    try:
        model.fit(X)
    except MemoryError as e:
        assert [a for a in vars(model) if a.endswith("_")] == [], vars(model).keys()
        print("MemoryError:", e)
        sys.exit(0)
    sys.exit(3)
    """
)


@pytest.mark.parametrize("name", ["BernoulliMixture", "PoissonMixture", "CategoricalMixture"])
def test_discrete_families_out_of_memory_is_a_clean_memory_error(name):
    """400,000 binary/count/code columns: the kernels' scratch (154 MB per thread for Bernoulli) or
    the once-per-fit arrays (Poisson's log-factorials, the categorical codes) exceed the cap; either
    way a MemoryError and an unfitted estimator."""
    r = subprocess.run([sys.executable, "-c", DISCRETE_CHILD, name], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-2000:]}"
    assert r.stdout.startswith("MemoryError: ")
