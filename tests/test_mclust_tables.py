"""The fourteen-model selection against mclust 6.0's own BIC tables (Mclust(X, G = 1:9), its defaults).

faithful, iris and diabetes are ../shared/data/mclust's tables (tests/data/*.json), banknote one of
the references made by tests/data/mclust/make_references.R (mclust picks VVE with 3 components there).
With mclust's scheme (init_params="hc": its hierarchical start, one start per cell) the selection must
reach mclust's BIC in nearly every cell mclust fits and choose a model at least as good as mclust's.
benchmarks/mclust_cells.py runs the same comparison on all eleven data sets, for either scheme.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from fastgmm import GaussianMixtureSelection
from fastgmm.families._mclust import MODELS

DATA = Path(__file__).parent / "data"
SETS = {"faithful": DATA, "iris": DATA, "diabetes": DATA, "banknote": DATA / "mclust"}


def _at_or_above(bic, ref):
    return bic >= ref - max(1e-3 * abs(ref), 0.02)


@pytest.fixture(scope="module", params=sorted(SETS))
def fitted(request):
    name = request.param
    X = np.loadtxt(SETS[name] / f"{name}.csv", delimiter=",", skiprows=1)
    with open(SETS[name] / f"{name}.json") as f:
        ref = json.load(f)["overall"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = GaussianMixtureSelection(n_components=range(1, 10), covariance_types="mclust", init_params="hc",
                                       random_state=0).fit(X)
    return name, sel, ref


def test_cells_reach_mclusts_bic(fitted):
    name, sel, ref = fitted
    r = sel.results_
    row = {(ct, int(k)): i for i, (ct, k) in enumerate(zip(r["covariance_type"], r["n_components"]))}
    fitted_cells, below = 0, []
    for model in MODELS:
        for K, ref_bic in enumerate(ref["bic_table"][model], start=1):
            i = row[(model, K)]
            if ref_bic is None or r["failed"][i] or r["degenerate"][i]:
                continue
            fitted_cells += 1
            if not _at_or_above(-r["bic"][i], ref_bic):
                below.append((model, K, round(-r["bic"][i] - ref_bic, 2)))
    # the measured misses are VVE cells (fastgmm's VVE M-step takes a different, higher, path) and a few
    # others of 126 per data set: at most 5 %
    assert len(below) <= 0.05 * fitted_cells, below


def test_choice_is_at_least_as_good_as_mclusts(fitted):
    name, sel, ref = fitted
    assert _at_or_above(-sel.results_["bic"][sel.best_index_], ref["bic"])
    assert not sel.results_["degenerate"][sel.best_index_]
