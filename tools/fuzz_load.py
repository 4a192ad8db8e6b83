"""Coverage-guided fuzzing of ``fastgmm.load`` with atheris (libFuzzer), for long runs by hand.

tests/test_fuzz.py fuzzes model files for a bounded time in every test run;
this harness runs for as long as it is given, mutating valid model files of
every family (written to the corpus directory when it is empty). A crash is
any exception other than ValueError from ``load`` or from predicting on a
loaded model, a RuntimeWarning or ComplexWarning from fastgmm, or a loaded
model predicting non-finite probabilities; libFuzzer saves the input as
``crash-*``.

Usage::

    pip install atheris
    python tools/fuzz_load.py CORPUS_DIR -max_total_time=600      # seconds
    python tools/fuzz_load.py crash-<hash>                        # replay one input
"""

import os
import sys
import tempfile
import warnings

import numpy as np

import atheris

with atheris.instrument_imports(include=["fastgmm"]):
    import fastgmm

_rng = np.random.default_rng(0)
_REAL = np.vstack([_rng.normal(size=(30, 2)), _rng.normal(size=(30, 2)) + 5])
_DATA = {
    "BernoulliMixture": (_rng.random((60, 3)) < 0.5).astype(np.float64),
    "PoissonMixture": _rng.poisson(3.0, size=(60, 3)).astype(np.float64),
    "CategoricalMixture": _rng.integers(0, 3, size=(60, 3)).astype(np.float64),
}


def _seed_models():
    """One fitted model of each family (and a model selection), named for their corpus files."""
    real = [fastgmm.GaussianMixture(2, covariance_type=ct, random_state=0) for ct in
            ("full", "tied", "diag", "spherical")]
    real += [fastgmm.BayesianGaussianMixture(n_components=2, random_state=0),
             fastgmm.StudentTMixture(2, random_state=0),
             fastgmm.GaussianMixtureSelection(n_components=(1, 2), random_state=0)]
    models = [(m, _REAL) for m in real]
    models += [(getattr(fastgmm, name)(2, random_state=0), X) for name, X in _DATA.items()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [(f"{type(m).__name__}-{i}", m.fit(X)) for i, (m, X) in enumerate(models)]


def _write_corpus(directory):
    os.makedirs(directory, exist_ok=True)
    if os.listdir(directory):
        return
    for name, model in _seed_models():
        fastgmm.save(model, os.path.join(directory, name + ".npz"))


_SCRATCH = os.path.join(tempfile.mkdtemp(prefix="fastgmm-fuzz-"), "model.npz")


def test_one_input(data):
    """Load ``data`` as a model file: only ValueError, and finite predictions if it loads."""
    with open(_SCRATCH, "wb") as f:
        f.write(data)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=RuntimeWarning, module="fastgmm")
        warnings.filterwarnings("error", category=np.exceptions.ComplexWarning)
        try:
            model = fastgmm.load(_SCRATCH)
        except ValueError:
            return
        X = _DATA.get(type(model).__name__, _REAL)
        try:
            proba = model.predict_proba(X)
        except ValueError:
            return           # e.g. the file's n_features_in_ no longer matches X
    if not np.all(np.isfinite(proba)):
        raise AssertionError(f"a loaded model predicts non-finite probabilities: {proba}")


def main(argv):
    corpora = [a for a in argv[1:] if not a.startswith("-") and not os.path.isfile(a)]   # files: replays
    for directory in corpora:
        _write_corpus(directory)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
