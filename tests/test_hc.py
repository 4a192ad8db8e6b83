"""mclust's hierarchical start (``fastgmm.families._hc``, ``init_params="hc"``).

The tree against the O(n^3) NumPy reference (tests/_reference_hc.py) and against R's mclust 6.0
(tests/data/mclust/hc_*.json, made by tests/data/mclust/make_hc.R); the start of the estimators.
"""

import json
import pathlib
import warnings

import numpy as np
import pytest
from _reference_hc import (reference_cut, reference_extension, reference_transform, reference_tree)

from fastgmm import BayesianGaussianMixture, GaussianMixture
from fastgmm.families import _hc
from fastgmm.kernels import _hc as _kernel

ROOT = pathlib.Path(__file__).resolve().parent.parent
R_CASES = sorted((ROOT / "tests" / "data" / "mclust").glob("hc_*.json"))
# Raw iris (use="VARS") has exact ties deep in the tree that mclust's Givens rotations and the
# kernel's Cholesky factors round differently: its merge order differs from merge 68 on, its
# partitions for K = 1..9 do not.
R_SAME_MERGES = [c for c in R_CASES if c.stem != "hc_iris_vars"]


def _r_case(path):
    case = json.loads(path.read_text())
    X = np.genfromtxt(ROOT / case["file"], delimiter=",", skip_header=1)
    X = X.reshape(len(X), -1)
    if case.get("columns"):         # R's NULL arrives as {}
        X = X[:, np.atleast_1d(case["columns"]) - 1]
    return case, np.ascontiguousarray(X)


def _small(D, layout, n=60):
    """Two groups; "ties": rows 40..54 repeat rows 0..14 (exactly equal costs); "far": at 1e6."""
    rng = np.random.default_rng(7 * D + len(layout))
    X = rng.normal(size=(n, D)) * rng.uniform(0.5, 2.0, size=D)
    X[:n // 3] += 4.0
    if layout == "ties":
        X[40:50] = X[0:10]
        X[50:55] = X[0:5]
    if layout == "far":
        X += 1e6
    return X


def _same_partition(a, b):
    """Equal up to a permutation of the labels."""
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(np.asarray(a).tolist())) == len(set(np.asarray(b).tolist()))


# ---------------------------------------------------------------------------
# The tree against the reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("D,model", [(1, "V"), (1, "E"), (2, "VVV"), (4, "VVV")])
@pytest.mark.parametrize("layout", ["plain", "ties", "far"])
def test_merges_equal_the_reference(D, model, layout):
    X = _small(D, layout)
    merges, _ = _hc.hc_tree(X, model=model)
    np.testing.assert_array_equal(merges, reference_tree(X, model=model)[0])


@pytest.mark.parametrize("D,model", [(1, "V"), (1, "E"), (4, "VVV")])
def test_costs_equal_the_reference(D, model):
    X = _small(D, "plain")
    _, costs = _hc.hc_tree(X, model=model)
    np.testing.assert_allclose(costs, reference_tree(X, model=model)[1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("D,model", [(1, "V"), (1, "E"), (3, "VVV")])
def test_weighted_merges_equal_the_reference(D, model):
    X = _small(D, "plain", n=40)
    w = np.random.default_rng(3).uniform(0.2, 3.0, size=40)
    merges, _ = _hc.hc_tree(X, sample_weight=w, model=model)
    np.testing.assert_array_equal(merges, reference_tree(X, weights=w, model=model)[0])


def test_equal_weights_give_the_unweighted_tree():
    X = _small(3, "ties")
    np.testing.assert_array_equal(_hc.hc_tree(X, sample_weight=np.full(60, 2.0))[0], _hc.hc_tree(X)[0])


def test_alpha_and_beta_reach_the_criterion():
    X = _small(2, "plain")
    merges, _ = _hc.hc_tree(X, alpha=50.0, beta=0.1)
    np.testing.assert_array_equal(merges, reference_tree(X, alpha=50.0, beta=0.1)[0])


def test_merges_do_not_depend_on_the_thread_count():
    Z = np.random.default_rng(5).normal(size=(300, 6))
    out = []
    for n_threads in (1, 2, 3):
        merges = np.empty((299, 2), dtype=np.int64)
        costs = np.empty(299)
        # min_work=1: every merge step runs on all the threads.
        assert _kernel.agglomerate(Z, np.ones(300), _kernel.MODEL_VVV, 0.1, 1.0, merges, costs, n_threads,
                                   1.0) == _kernel.OK
        out.append((merges, costs))
    for merges, costs in out[1:]:
        np.testing.assert_array_equal(merges, out[0][0])
        np.testing.assert_array_equal(costs, out[0][1])


def test_cut_equals_the_reference_cut():
    X = _small(2, "ties")
    merges, _ = _hc.hc_tree(X)
    cuts = _hc.cut_tree(merges, 60, [1, 2, 5, 17, 60])
    for K in (1, 2, 5, 17, 60):
        np.testing.assert_array_equal(cuts[K], reference_cut(merges, 60, K))


@pytest.mark.parametrize("use", ["SVD", "STD", "VARS"])
@pytest.mark.parametrize("weighted", [False, True])
def test_transform_equals_the_reference(use, weighted):
    X = np.genfromtxt(ROOT / "tests" / "data" / "diabetes.csv", delimiter=",", skip_header=1)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(X)) if weighted else None
    Z, ref = _hc.hc_transform(X, use, w), reference_transform(X, use, w)
    sign = np.sign(np.sum(Z * ref, axis=0))     # singular vectors: up to sign
    np.testing.assert_allclose(Z * sign, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


def test_transform_drops_constant_and_collinear_directions():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3))
    X = np.column_stack([X, np.full(50, 7.0), X[:, 0] + X[:, 1]])
    assert _hc.hc_transform(X, "STD").shape == (50, 4)
    assert _hc.hc_transform(X, "SVD").shape == (50, 3)


# ---------------------------------------------------------------------------
# Against R's mclust 6.0
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", R_SAME_MERGES, ids=lambda p: p.stem)
def test_merges_equal_mclust(path):
    case, X = _r_case(path)
    merges, _ = _hc.hc_tree(_hc.hc_transform(X, case["use"]), model=case["modelName"])
    np.testing.assert_array_equal(merges + 1, case["merges"])


@pytest.mark.parametrize("path", R_CASES, ids=lambda p: p.stem)
def test_partitions_equal_mclust(path):
    case, X = _r_case(path)
    labels = _hc.hc_labels(X, range(1, 10), use=case["use"], model=case["modelName"])
    for K in range(1, 10):
        assert _same_partition(labels[K], case["classes"][str(K)]), K


def test_partitions_equal_mclust_far_from_the_origin():
    case, X = _r_case(ROOT / "tests" / "data" / "mclust" / "hc_generated.json")   # at ~1e3 already
    labels = _hc.hc_labels(X + 1e6, range(1, 10))
    for K in range(1, 10):
        assert _same_partition(labels[K], case["classes"][str(K)]), K


# ---------------------------------------------------------------------------
# Rows outside the tree: subsets and rows of weight 0
# ---------------------------------------------------------------------------

def test_rows_beyond_the_subset_get_the_e_step_labels():
    X = _small(3, "plain", n=400)
    labels = _hc.hc_labels(X, [2, 4], subset=150, random_state=0)
    cut = _hc.hc_partitions(X, [2, 4], subset=150, random_state=0)
    assert len(cut.rows) == 150 and not cut.complete
    for K in (2, 4):
        np.testing.assert_array_equal(labels[K], reference_extension(X, cut.rows, cut.labels[K], K, 1e-6))


def test_subset_draw_is_seeded():
    X = _small(2, "plain", n=300)
    a = _hc.hc_labels(X, 3, subset=100, random_state=4)[3]
    np.testing.assert_array_equal(a, _hc.hc_labels(X, 3, subset=100, random_state=4)[3])


def test_rows_of_weight_zero_stay_out_of_the_tree():
    case, X = _r_case(ROOT / "tests" / "data" / "mclust" / "hc_generated.json")
    w = np.ones(len(X))
    w[::7] = 0.0
    cut = _hc.hc_partitions(X, [3, 6], sample_weight=w)
    np.testing.assert_array_equal(cut.rows, np.flatnonzero(w))
    alone = _hc.hc_labels(X[w > 0], [3, 6])
    for K in (3, 6):
        assert _same_partition(cut.labels[K], alone[K])


# ---------------------------------------------------------------------------
# The estimators' start
# ---------------------------------------------------------------------------

def _fit(X, init, dtype, K=3, sample_weight=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # two iterations do not converge
        return GaussianMixture(K, init_params=init, max_iter=2, tol=0, random_state=0, **kw).fit(
            X.astype(dtype), sample_weight=sample_weight)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("path", [p for p in R_CASES if p.stem in ("hc_faithful", "hc_iris", "hc_diabetes",
                                                                   "hc_generated")], ids=lambda p: p.stem)
def test_gaussian_mixture_starts_from_mclusts_partition(path, dtype):
    case, X = _r_case(path)
    mclust = np.asarray(case["classes"]["3"]) - 1
    got = _fit(X, "hc", dtype)
    want = _fit(X, lambda X, K, rs: mclust, dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got.means_, want.means_, rtol=tol)
    np.testing.assert_allclose(got.covariances_, want.covariances_, rtol=tol * 10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_start_is_the_weighted_partition(dtype):
    _, X = _r_case(ROOT / "tests" / "data" / "mclust" / "hc_faithful.json")
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(X))
    labels = _hc.hc_labels(X, 3, sample_weight=w)[3]
    got = _fit(X, "hc", dtype, sample_weight=w)
    want = _fit(X, lambda X, K, rs: labels, dtype, sample_weight=w)
    np.testing.assert_allclose(got.means_, want.means_, rtol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("covariance_type", ["diag"])
def test_gaussian_mixture_past_the_subset_starts_from_the_e_step(covariance_type):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(1100, 2)), rng.normal(size=(1000, 2)) + 5.0])
    a = _fit(X, "hc", np.float64, K=2, covariance_type=covariance_type)
    b = _fit(X, "hc", np.float64, K=2, covariance_type=covariance_type)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert np.all(np.isfinite(a.covariances_)) and np.abs(a.means_[0] - a.means_[1]).min() > 3.0


def test_one_column_starts_from_the_univariate_tree():
    case, X = _r_case(ROOT / "tests" / "data" / "mclust" / "hc_faithful_eruptions_V.json")
    mclust = np.asarray(case["classes"]["3"]) - 1
    got = _fit(X, "hc", np.float64)
    want = _fit(X, lambda X, K, rs: mclust, np.float64)
    np.testing.assert_allclose(got.means_, want.means_, rtol=1e-12)


def test_bayesian_mixture_takes_hc():
    _, X = _r_case(ROOT / "tests" / "data" / "mclust" / "hc_iris.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = BayesianGaussianMixture(n_components=3, init_params="hc", max_iter=5, random_state=0).fit(X)
    assert np.all(np.isfinite(b.means_))


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

def test_one_row_is_refused():
    with pytest.raises(ValueError, match="at least 2 rows"):
        _hc.hc_labels(np.ones((1, 2)), 1)


def test_more_clusters_than_rows_is_refused():
    X = _small(2, "plain", n=20)
    with pytest.raises(ValueError, match="n_clusters_list"):
        _hc.hc_labels(X, 21)
    w = np.zeros(20)
    w[:3] = 1.0
    with pytest.raises(ValueError, match="4 clusters need at least as many rows of positive weight"):
        _hc.hc_labels(X, 4, sample_weight=w)
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(25, init_params="hc").fit(X)


@pytest.mark.parametrize("kw,match", [({"use": "PCS"}, "'use'"), ({"model": "EII"}, "'model'"),
                                      ({"model": "V"}, "for one column"), ({"subset": 1}, "'subset'"),
                                      ({"alpha": 0.0}, "'alpha'")])
def test_bad_options_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        _hc.hc_labels(_small(2, "plain", n=20), 2, **kw)


def test_constant_or_nan_data_are_refused():
    with pytest.raises(ValueError, match="constant"):
        _hc.hc_labels(np.ones((10, 3)), 2)
    X = _small(2, "plain", n=20)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _hc.hc_labels(X, 2)


def test_overflowing_costs_are_refused():
    X = _small(2, "plain", n=20) * 1e160
    with pytest.raises(ValueError, match="overflowed"):
        _hc.hc_labels(X, 2, use="VARS")


def test_two_rows_make_one_merge():
    labels = _hc.hc_labels(np.array([[0.0, 1.0], [2.0, 5.0]]), [1, 2])
    np.testing.assert_array_equal(labels[1], [0, 0])
    np.testing.assert_array_equal(labels[2], [0, 1])


def test_kernel_reports_overflowing_costs():
    Z = _small(2, "plain", n=20) * 1e160
    merges, costs = np.empty((19, 2), dtype=np.int64), np.empty(19)
    assert _kernel.agglomerate(Z, np.ones(20), _kernel.MODEL_VVV, 1.0, 1.0, merges, costs, 1, 1.0) == \
        _kernel.NOT_FINITE
