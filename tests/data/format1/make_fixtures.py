"""Write the format-1 model files of this folder (kept to test that newer fastgmm still reads them).

They were written by fastgmm at commit 3adf080 (the last writer of format 1), with

    PYTHONPATH=<that checkout>/src python tests/data/format1/make_fixtures.py

Running this with a newer fastgmm writes files of its own format instead: do
not, unless adding fixtures of a new format to a folder of its own.
``expected.npz`` holds, for each model file ``<name>.npz``, the rows
``<name>/X`` it was checked on and what the model predicted from memory
before it was saved: ``<name>/labels``, ``<name>/proba``, ``<name>/score_samples``.
"""

import os
import warnings

import numpy as np
import pandas as pd

import fastgmm

HERE = os.path.dirname(os.path.abspath(__file__))


def _models():
    rng = np.random.default_rng(18)
    real = np.vstack([rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) * 0.5 + [4.0, 1.0]])
    frame = pd.DataFrame(real, columns=["width", "height"])
    codes = np.column_stack([rng.integers(0, 3, 80), rng.integers(0, 2, 80) * 5, rng.integers(1, 5, 80)])
    codes = codes.astype(np.float64)
    real32 = real.astype(np.float32)

    online = fastgmm.GaussianMixture(2, covariance_type="diag", means_init=[[0.0, 0.0], [4.0, 1.0]],
                                     random_state=0)
    for batch in np.array_split(real32, 4):
        online.partial_fit(batch)
    yield "gaussian_full_names", fastgmm.GaussianMixture(2, random_state=0).fit(frame), frame
    yield "gaussian_diag_float32_online", online, real32
    yield "selection", fastgmm.GaussianMixtureSelection(
        n_components=(1, 2, 3), covariance_types=("full", "spherical"), random_state=0).fit(real), real
    yield "categorical", fastgmm.CategoricalMixture(2, alpha=1.0, random_state=0).fit(codes), codes
    yield "studentt_full", fastgmm.StudentTMixture(2, random_state=0).fit(real), real
    yield "bayesian_tied_process", fastgmm.BayesianGaussianMixture(
        n_components=3, covariance_type="tied", random_state=0).fit(real), real
    yield "bayesian_spherical_float32", fastgmm.BayesianGaussianMixture(
        n_components=2, covariance_type="spherical", weight_concentration_prior_type="dirichlet_distribution",
        covariance_prior=0.5, random_state=0).fit(real32), real32


def main():
    expected = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model, X in _models():
            fastgmm.save(model, os.path.join(HERE, name + ".npz"))
            X = np.asarray(X)[::4]     # 20 rows are enough to see that predictions agree
            expected[name + "/X"] = X
            expected[name + "/labels"] = model.predict(X)
            expected[name + "/proba"] = model.predict_proba(X)
            expected[name + "/score_samples"] = model.score_samples(X)
    np.savez_compressed(os.path.join(HERE, "expected.npz"), **expected)


if __name__ == "__main__":
    main()
