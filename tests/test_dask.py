"""Dask: EM over the blocks of a dask array on a distributed LocalCluster."""

import os

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from fastgmm import GaussianMixture  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit="1GiB")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    return np.ascontiguousarray(rng.normal(size=(n, 3)) + 4.0 * k[:, None])


def _start(X):
    g = GaussianMixture(3, random_state=0, max_iter=2, tol=0).fit(X)
    return dict(weights_init=g.weights_, means_init=g.means_, precisions_init=g.precisions_)


def _same(a, b, tol=1e-10):
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=tol, atol=tol)
    assert abs(float(a.lower_bound_) - float(b.lower_bound_)) < tol


def test_importing_fastgmm_does_not_import_dask():
    import subprocess
    import sys
    code = "import sys, fastgmm; fastgmm.GaussianMixture(2).fit([[0.,1],[1,2],[3,3]]); print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_dask_fit_equals_in_memory(client, cov_type):
    X = _data()
    start = _start(X)
    if cov_type == "diag":
        start["precisions_init"] = np.array([np.diag(p) for p in start["precisions_init"]])
    dX = da.from_array(X, chunks=(900, 3))
    a = GaussianMixture(3, covariance_type=cov_type, max_iter=10, tol=0, **start).fit(X)
    b = GaussianMixture(3, covariance_type=cov_type, max_iter=10, tol=0, **start).fit(dX)
    _same(a, b)
    w = np.random.default_rng(1).uniform(0, 2, X.shape[0])
    a = GaussianMixture(3, covariance_type=cov_type, max_iter=5, tol=0, **start).fit(X, sample_weight=w)
    b = GaussianMixture(3, covariance_type=cov_type, max_iter=5, tol=0, **start).fit(
        dX, sample_weight=da.from_array(w, chunks=1000))
    _same(a, b)


def test_lazy_predictions_and_sampled_init(client):
    X = _data()
    dX = da.from_array(X, chunks=(1000, 3))
    g = GaussianMixture(3, random_state=0).fit(dX)   # k-means on a sample computed to the client
    ref = GaussianMixture(3, random_state=0).fit(X)
    assert abs(float(g.lower_bound_) - float(ref.lower_bound_)) < 1e-3
    p = g.predict(dX)
    assert isinstance(p, da.Array)
    np.testing.assert_array_equal(p.compute(), g.predict(X))
    np.testing.assert_allclose(g.predict_proba(dX).compute(), g.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(g.score_samples(dX).compute(), g.score_samples(X), rtol=1e-12)
    assert abs(g.score(dX) - g.score(X)) < 1e-12


def test_partial_fit_on_dask(client):
    X = _data()
    a = GaussianMixture(3, random_state=0)
    b = GaussianMixture(3, random_state=0, **_start(X))
    a = GaussianMixture(3, **_start(X))
    for i in range(2):
        a.partial_fit(X[i * 2000:(i + 1) * 2000])
        b.partial_fit(da.from_array(X[i * 2000:(i + 1) * 2000], chunks=700))
    _same(a, b)


def test_dask_sample_weight_errors_are_those_in_memory(client):
    X = _data(n=1200)
    dX = da.from_array(X, chunks=(500, 3))
    for w, match in ((np.zeros(1200), "Sample weights must contain at least one non-zero number"),
                     (np.r_[np.ones(700), -1.0, np.ones(499)], r"Negative values .*first at row 700: -1\.0"),
                     (np.r_[np.ones(900), np.nan, np.ones(299)], r"NaN or infinity \(first at row 900: nan\)")):
        with pytest.raises(ValueError, match=match):
            GaussianMixture(3, random_state=0).fit(X, sample_weight=w)
        with pytest.raises(ValueError, match=match):
            GaussianMixture(3, random_state=0).fit(dX, sample_weight=da.from_array(w, chunks=400))
        with pytest.raises(ValueError, match=match):
            GaussianMixture(3, random_state=0).fit(dX, sample_weight=w)
        with pytest.raises(ValueError, match=match):
            GaussianMixture(3, random_state=0).partial_fit(dX, sample_weight=da.from_array(w, chunks=400))


def test_nan_in_a_block_names_the_global_row(client, monkeypatch):
    X = _data()
    X[2500, 2] = np.nan
    with pytest.raises(ValueError, match="row 2500, column 2"):
        GaussianMixture(3, random_state=0).fit(da.from_array(X, chunks=(1000, 3)))
    from fastgmm.sources import _blocks as _sources
    monkeypatch.setattr(_sources, "INIT_SAMPLE_ROWS", 500)   # a sample of 1000 rows (one block) of 12000
    big = np.concatenate([X] * 3)
    big[2500:, 2] = np.nan   # the sample holds NaN rows, at positions that are not their rows in X
    with pytest.raises(ValueError, match="row 2500, column 2"):
        GaussianMixture(3, random_state=0).fit(da.from_array(big, chunks=(1000, 3)))
    g = GaussianMixture(3, max_iter=2, **_start(X[:2000]))   # no sampled init: the tasks find it
    X[2600:2610, 0] = np.nan
    X[3500:, 1] = np.nan   # later blocks fail too, maybe first: the error is still the first block's
    with pytest.raises(ValueError, match=r"row 2500, column 2; the block of rows 2000 to 2999 of X has 11 NaN "):
        g.fit(da.from_array(X, chunks=(1000, 3)))


def _kill_once(block, flag):
    # The first execution of this task anywhere kills its worker process.
    # (map_blocks also calls it on an empty block, in the client, to infer meta)
    if block.size and not os.path.exists(flag):
        open(flag, "w").close()
        os._exit(1)
    return block


def test_a_killed_worker_is_survived(client, tmp_path):
    """Deterministic: one task kills its worker on first execution (a file flag);
    Dask reschedules it and the fit is the same."""
    X = _data()
    start = _start(X)
    flag = str(tmp_path / "killed")
    dX = da.from_array(X, chunks=(1000, 3)).map_blocks(_kill_once, flag, dtype=X.dtype,
                                                                  meta=np.empty((0, 3)))
    a = GaussianMixture(3, max_iter=5, tol=0, **start).fit(X)
    b = GaussianMixture(3, max_iter=5, tol=0, **start).fit(dX)
    assert os.path.exists(flag)
    _same(a, b)


def test_dask_dataframe(client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X = _data()
    df = dd.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), npartitions=3)
    start = _start(X)
    a = GaussianMixture(3, max_iter=5, tol=0, **start).fit(X)
    b = GaussianMixture(3, max_iter=5, tol=0, **start).fit(df)
    _same(a, b)
    assert list(b.feature_names_in_) == ["a", "b", "c"]
