"""Every estimator in a long-running process: repeated fits do not grow memory, and fits in
concurrent Python threads give exactly the results of the same fits one after the other."""

import gc
import sys
import threading
import tracemalloc
import warnings

import numpy as np
import pytest

import fastgmm

from conftest import measures_rss


def _data(name, seed):
    rng = np.random.default_rng(seed)
    if name == "BernoulliMixture":
        return (rng.random((3000, 8)) < np.where(rng.integers(0, 2, (3000, 1)) == 1, 0.8, 0.2)) * 1.0
    if name == "PoissonMixture":
        return rng.poisson(np.where(rng.integers(0, 2, (3000, 1)) == 1, 2.0, 9.0), (3000, 4)).astype(float)
    if name == "CategoricalMixture":
        return rng.integers(0, 4, (3000, 5)).astype(float)
    X = rng.normal(size=(3000, 4))
    X[:1500] += 5
    return X


MODELS = {
    "GaussianMixture": lambda: fastgmm.GaussianMixture(3, random_state=0),
    "GaussianMixture-diag": lambda: fastgmm.GaussianMixture(3, covariance_type="diag", random_state=0),
    "GaussianMixtureSelection": lambda: fastgmm.GaussianMixtureSelection([1, 2, 3], ["full", "diag"], random_state=0),
    "BayesianGaussianMixture": lambda: fastgmm.BayesianGaussianMixture(n_components=3, random_state=0),
    "StudentTMixture": lambda: fastgmm.StudentTMixture(3, random_state=0),
    "BernoulliMixture": lambda: fastgmm.BernoulliMixture(3, random_state=0),
    "PoissonMixture": lambda: fastgmm.PoissonMixture(3, random_state=0),
    "CategoricalMixture": lambda: fastgmm.CategoricalMixture(3, random_state=0),
}


def _family(name):
    return name.split("-")[0]


def _fit(name, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MODELS[name]().fit(X)
    return model


def _result(model, X):
    fitted = getattr(model, "best_estimator_", model)
    means = fitted.means_
    means = np.hstack(means) if isinstance(means, list) else means
    return np.asarray(fitted.weights_), np.asarray(means), model.score_samples(X)


@pytest.mark.parametrize("name", list(MODELS))
def test_fits_in_two_python_threads_equal_sequential_fits(name):
    Xa, Xb = _data(_family(name), 1), _data(_family(name), 2)
    expected = [_result(_fit(name, Xa), Xa), _result(_fit(name, Xb), Xb)]
    got, errors = [None, None], []
    barrier = threading.Barrier(2)

    def work(i, X):
        try:
            barrier.wait(10)
            for _ in range(2):           # several rounds, to interleave the kernels' passes
                got[i] = _result(_fit(name, X), X)
        except BaseException as e:      # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(0, Xa)), threading.Thread(target=work, args=(1, Xb))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for g, e in zip(got, expected):
        for a, b in zip(g, e):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(MODELS))
def test_repeated_fits_do_not_grow_python_memory(name):
    X = _data(_family(name), 3)
    for _ in range(3):                   # warm-up: caches, lazily imported modules
        _fit(name, X).predict(X)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(10):
            _fit(name, X).predict(X)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024, f"{name}: {grown} bytes still allocated after 10 more fits"


@measures_rss
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS from /proc/self/statm")
def test_repeated_fits_do_not_grow_the_process():
    """The kernels' C scratch (malloc/free per pass) is not seen by tracemalloc: RSS instead, over
    every family at once, after a warm-up; a leak of one chunk buffer per pass would add MBs."""
    import resource

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    data = {name: _data(_family(name), 4) for name in MODELS}
    for _ in range(3):
        for name, X in data.items():
            _fit(name, X)
    gc.collect()
    base = rss()
    for _ in range(10):
        for name, X in data.items():
            _fit(name, X)
    gc.collect()
    assert rss() - base < 8 * 2**20, f"RSS grew by {(rss() - base) / 2**20:.1f} MiB over 80 fits"
