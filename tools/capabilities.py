"""Print the models x capabilities table by trying each capability on each estimator, as a new user would.

    python tools/capabilities.py

Each cell runs the capability on small data the estimator accepts and says "yes" when it works (and, where there
is an in-memory answer to compare with, gives it), or what went wrong. Needs the test extra (dask, matplotlib).
The README's and the docs' tables are this script's output.
"""

import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

import fastgmm

warnings.simplefilter("ignore")


def _continuous(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0, 1, (n // 2, 2)), rng.normal(5, 1, (n - n // 2, 2))])


def _binary(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.random((n // 2, 4)) < 0.85, rng.random((n - n // 2, 4)) < 0.15]).astype(float)


def _counts(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.poisson(1.0, (n // 2, 3)), rng.poisson(7.0, (n - n // 2, 3))]).astype(float)


def _codes(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.integers(0, 2, (n // 2, 3)), rng.integers(2, 4, (n - n // 2, 3))]).astype(float)


ESTIMATORS = {
    "GaussianMixture": (lambda **k: fastgmm.GaussianMixture(2, random_state=0, **k), _continuous, "gaussian"),
    "BayesianGaussianMixture": (lambda **k: fastgmm.BayesianGaussianMixture(n_components=2, random_state=0, **k),
                                _continuous, "bayesian"),
    "GaussianMixtureSelection": (lambda **k: fastgmm.GaussianMixtureSelection(n_components=[1, 2], random_state=0,
                                                                              **k), _continuous, None),
    "StudentTMixture": (lambda **k: fastgmm.StudentTMixture(2, random_state=0, **k), _continuous, "student-t"),
    "BernoulliMixture": (lambda **k: fastgmm.BernoulliMixture(2, random_state=0, **k), _binary, "bernoulli"),
    "PoissonMixture": (lambda **k: fastgmm.PoissonMixture(2, random_state=0, **k), _counts, "poisson"),
    "CategoricalMixture": (lambda **k: fastgmm.CategoricalMixture(2, random_state=0, **k), _codes, "categorical"),
}


def _close(a, b):
    return np.allclose(a.predict_proba(_X), b.predict_proba(_X), rtol=1e-6, atol=1e-8)


def weights(make, X):
    w = np.random.default_rng(1).uniform(0.5, 2, len(X))
    make().fit(X, sample_weight=w)
    return "yes"


def omit(make, X):
    Xn = X.copy()
    Xn[::9, 0] = np.nan
    m = make(nan_policy="omit").fit(Xn)
    return "yes" if m.n_omitted_ == int(np.isnan(Xn).any(axis=1).sum()) else "wrong count"


def marginalize(make, X):
    if not getattr(type(make()), "_MARGINALIZE", True):
        return "–"     # no exact missing-value EM for this family (discrete values)
    Xn = X.copy()
    Xn[::9, 0] = np.nan
    m = make(nan_policy="marginalize").fit(Xn)
    return "yes" if np.all(np.isfinite(m.score_samples(Xn))) else "non-finite scores"


def memmap(make, X):
    with tempfile.TemporaryDirectory() as d:
        mm = np.lib.format.open_memmap(os.path.join(d, "X.npy"), mode="w+", dtype=X.dtype, shape=X.shape)
        mm[:] = X
        mm.flush()
        a, b = make().fit(mm), make().fit(X)
        return "yes" if _close(a, b) else "differs from in memory"


def partial_fit(make, X):
    m = make()
    # batches drawn at random (a categorical model must see every category in its first batch)
    for part in np.array_split(X[np.random.default_rng(2).permutation(len(X))], 4):
        m.partial_fit(part)
    return "yes"


def dask(make, X):
    import dask.array as da

    a, b = make().fit(da.from_array(X, chunks=100)), make().fit(X)
    lazy = a.predict(da.from_array(X, chunks=100))
    ok = _close(a, b) and hasattr(lazy, "compute") and np.array_equal(lazy.compute(), b.predict(X))
    return "yes" if ok else "differs from in memory"


def save_load(make, X):
    with tempfile.TemporaryDirectory() as d:
        m = make().fit(X)
        path = os.path.join(d, "m.npz")
        m.save(path)
        return "yes" if np.array_equal(fastgmm.load(path).predict_proba(X), m.predict_proba(X)) else "differs"


def cli(make, X, model):
    with tempfile.TemporaryDirectory() as d:
        data, out = os.path.join(d, "X.csv"), os.path.join(d, "m.npz")
        np.savetxt(data, X, delimiter=",")
        run = lambda *a: subprocess.run([sys.executable, "-m", "fastgmm", *a], capture_output=True, text=True)
        if model is None:
            fit = run("select", data, "-k", "1-2", "-o", out)
        else:
            fit = run("fit", data, "-k", "2", "--model", model, "-o", out)
        info = run("info", out)
        pred = run("predict", out, data)
        codes = (fit.returncode, info.returncode, pred.returncode)
        if codes == (0, 0, 0) and "Traceback" not in info.stderr + pred.stderr + fit.stderr:
            return "yes" if model is not None else "select / yes / yes"
        return f"exit codes {codes}"


def plots(make, X):
    import matplotlib

    matplotlib.use("Agg")
    from fastgmm import plot

    m = make().fit(X)
    if isinstance(m, (fastgmm.BernoulliMixture, fastgmm.PoissonMixture, fastgmm.CategoricalMixture)):
        plot.parameters(m)
        return "yes (parameters)"
    plot.ellipses(m, X)
    plot.density_1d(m if X.shape[1] == 1 else make().fit(X[:, :1]), X[:, :1])
    plot.convergence(m)
    return "yes"


# ----------------------------------------------------------------------
# hidden Markov models (fastgmm.hmm): the same columns, tried on sequences
# ----------------------------------------------------------------------
_LENGTHS = [150, 100, 150]


def _symbols(n=400, seed=0):
    return _codes(n, seed)[:, :1]


HMMS = {
    "hmm.GaussianHMM": (lambda **k: fastgmm.hmm.GaussianHMM(2, random_state=0, **k), _continuous, "gaussian-hmm"),
    "hmm.GMMHMM": (lambda **k: fastgmm.hmm.GMMHMM(2, n_mix=2, random_state=0, **k), _continuous, "gmm-hmm"),
    "hmm.CategoricalHMM": (lambda **k: fastgmm.hmm.CategoricalHMM(2, random_state=0, **k), _symbols,
                           "categorical-hmm"),
    "hmm.MultinomialHMM": (lambda **k: fastgmm.hmm.MultinomialHMM(2, random_state=0, **k), _counts,
                           "multinomial-hmm"),
    "hmm.PoissonHMM": (lambda **k: fastgmm.hmm.PoissonHMM(2, random_state=0, **k), _counts, "poisson-hmm"),
    "hmm.BernoulliHMM": (lambda **k: fastgmm.hmm.BernoulliHMM(2, random_state=0, **k), _binary, "bernoulli-hmm"),
    "hmm.StudentTHMM": (lambda **k: fastgmm.hmm.StudentTHMM(2, random_state=0, **k), _continuous, "student-t-hmm"),
}


def _hmm_close(a, b, X):
    return np.allclose(a.predict_proba(X, _LENGTHS), b.predict_proba(X, _LENGTHS), rtol=1e-6, atol=1e-8)


def hmm_weights(make, X):
    make().fit(X, _LENGTHS, sample_weight=[1.0, 2.0, 0.5])
    return "yes (per sequence)"


def hmm_marginalize(make, X):
    if not make()._MARGINALIZE:
        return "not yet⁵"
    Xn = X.astype(float)
    Xn[::9, 0] = np.nan
    m = make(nan_policy="marginalize").fit(Xn, _LENGTHS)
    return "yes" if np.isfinite(m.score(Xn, _LENGTHS)) else "non-finite score"


def _from_the_same_start(make, X, source):
    """(fit on ``source``, fit in memory), both from the parameters of a short in-memory fit."""
    start = make(n_iter=3).fit(X, _LENGTHS)
    fits = []
    for data, kw in ((source, {"block_rows": 160}), (X, {})):
        m = make(init_params="", n_iter=5, tol=0, **kw)
        for name, value in vars(start).items():
            if name.endswith("_") and not name.startswith("__") and name != "monitor_" or name in (
                    "_covars_", "n_features"):
                setattr(m, name, np.copy(value) if isinstance(value, np.ndarray) else value)
        fits.append(m.fit(data, _LENGTHS))
    return fits


def hmm_memmap(make, X):
    with tempfile.TemporaryDirectory() as d:
        mm = np.lib.format.open_memmap(os.path.join(d, "X.npy"), mode="w+", dtype=X.dtype, shape=X.shape)
        mm[:] = X
        mm.flush()
        # blocks of at most 160 frames: each of the three sequences is read as a block of its own
        a, b = _from_the_same_start(make, X, mm)
        return "yes⁴" if _hmm_close(a, b, X) else "differs from in memory"


def hmm_dask(make, X):
    import dask.array as da

    a, b = _from_the_same_start(make, X, da.from_array(X, chunks=100))
    return "yes⁴" if _hmm_close(a, b, X) else "differs from in memory"


def hmm_save_load(make, X):
    with tempfile.TemporaryDirectory() as d:
        m = make().fit(X, _LENGTHS)
        path = os.path.join(d, "m.npz")
        m.save(path)
        same = np.array_equal(fastgmm.load(path).predict_proba(X, _LENGTHS), m.predict_proba(X, _LENGTHS))
        return "yes" if same else "differs"


def hmm_cli(make, X, model):
    with tempfile.TemporaryDirectory() as d:
        data, out, lengths = os.path.join(d, "X.csv"), os.path.join(d, "m.npz"), os.path.join(d, "lengths.txt")
        np.savetxt(data, X, delimiter=",")
        with open(lengths, "w") as f:
            f.write("\n".join(map(str, _LENGTHS)) + "\n")
        run = lambda *a: subprocess.run([sys.executable, "-m", "fastgmm", *a], capture_output=True, text=True)
        fit = run("fit", data, "-k", "2", "--model", model, "--lengths", lengths, "-o", out)
        info = run("info", out)
        pred = run("predict", out, data, "--lengths", lengths)
        codes = (fit.returncode, info.returncode, pred.returncode)
        if codes == (0, 0, 0) and "Traceback" not in info.stderr + pred.stderr + fit.stderr:
            return "yes"
        return f"exit codes {codes}"


def hmm_plots(make, X):
    import matplotlib

    matplotlib.use("Agg")
    from fastgmm import plot

    m = make().fit(X, _LENGTHS)
    plot.state_sequence(m, X, _LENGTHS)
    plot.transition_matrix(m)
    return "yes (states, transitions)"


HMM_COLUMNS = {"weights": hmm_weights, "nan_policy omit": None, "nan_policy marginalize": hmm_marginalize,
               "memmap": hmm_memmap, "partial_fit": None, "Dask": hmm_dask, "save/load": hmm_save_load,
               "CLI fit / info / predict": hmm_cli, "plots": hmm_plots}


COLUMNS = [("weights", weights), ("nan_policy omit", omit), ("nan_policy marginalize", marginalize),
           ("memmap", memmap), ("partial_fit", partial_fit), ("Dask", dask), ("save/load", save_load),
           ("CLI fit / info / predict", cli), ("plots", plots)]


def main():
    global _X
    print("| estimator | " + " | ".join(c for c, _ in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, (make, data, model) in {**ESTIMATORS, **HMMS}.items():
        _X = X = data()
        cells = []
        for col, check in COLUMNS:
            if name in HMMS:
                check = HMM_COLUMNS[col]
                if check is None:     # not offered: a sequence cannot skip a frame or come in batches
                    cells.append("–")
                    continue
            try:
                cells.append(check(make, X, model) if check in (cli, hmm_cli) else check(make, X))
            except Exception as e:   # the table reports the failure, whatever it is
                cells.append(f"no ({type(e).__name__})")
        print(f"| {'`' + name + '`' if name in HMMS else name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
