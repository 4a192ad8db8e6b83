"""HMMs on data read in blocks of whole sequences: memmap, h5py, zarr and Dask fit as in memory."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgmm import hmm

LENGTHS = [130, 70, 1, 250, 90, 159]


def _data(nan=False):
    m = hmm.GaussianHMM(3, "full", init_params="")
    m.startprob_ = np.array([0.5, 0.3, 0.2])
    m.transmat_ = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    m.means_ = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [-2.0, 4.0, 2.0]])
    m.covars_ = np.tile(np.eye(3), (3, 1, 1))
    X = np.vstack([m.sample(n, random_state=i)[0] for i, n in enumerate(LENGTHS)])
    if nan:
        X[np.random.RandomState(0).rand(*X.shape) < 0.05] = np.nan
    return X


def _model(**kw):
    m = hmm.GaussianHMM(3, "full", init_params="", n_iter=5, tol=0, **kw)
    m.startprob_ = np.full(3, 1 / 3)
    m.transmat_ = np.full((3, 3), 1 / 3)
    m.means_ = np.array([[0.5, 0.0, 0.0], [2.0, 1.0, 0.0], [-1.0, 3.0, 1.0]])
    m.covars_ = np.tile(2 * np.eye(3), (3, 1, 1))
    return m


def _assert_same(streamed_model, reference, X_src, X):
    assert_allclose(list(streamed_model.monitor_.history), list(reference.monitor_.history), rtol=1e-10)
    assert_allclose(streamed_model.means_, reference.means_, rtol=1e-9, atol=1e-12)
    assert_allclose(streamed_model.covars_, reference.covars_, rtol=1e-9)
    assert_allclose(streamed_model.transmat_, reference.transmat_, rtol=1e-9)
    assert_allclose(streamed_model.score(X_src, LENGTHS), reference.score(X, LENGTHS), rtol=1e-10)
    assert_array_equal(streamed_model.predict(X_src, LENGTHS), reference.predict(X, LENGTHS))
    assert_allclose(streamed_model.predict_proba(X_src, LENGTHS), reference.predict_proba(X, LENGTHS), atol=1e-10)


@pytest.mark.parametrize("nan", [False, True])
def test_memmap_in_blocks_fits_as_in_memory(tmp_path, nan):
    X = _data(nan)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    mm[:] = X
    mm.flush()
    policy = "marginalize" if nan else "raise"
    ref = _model(nan_policy=policy).fit(X, LENGTHS)
    # block_rows 200: five blocks of whole sequences, the 250-frame sequence a block of its own
    src = _model(nan_policy=policy, block_rows=200).fit(np.load(tmp_path / "x.npy", mmap_mode="r"), LENGTHS)
    _assert_same(src, ref, np.load(tmp_path / "x.npy", mmap_mode="r"), X)


def test_h5py_and_zarr(tmp_path):
    h5py = pytest.importorskip("h5py")
    zarr = pytest.importorskip("zarr")
    X = _data()
    ref = _model().fit(X, LENGTHS)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["X"] = X
    with h5py.File(tmp_path / "x.h5", "r") as f:
        _assert_same(_model(block_rows=300).fit(f["X"], LENGTHS), ref, f["X"], X)
    z = zarr.open(str(tmp_path / "x.zarr"), mode="w", shape=X.shape, chunks=(100, 3), dtype=X.dtype)
    z[:] = X
    _assert_same(_model(block_rows=150).fit(z, LENGTHS), ref, z, X)


def test_dask_blocks_are_tasks():
    da = pytest.importorskip("dask.array")
    X = _data()
    ref = _model().fit(X, LENGTHS)
    Xd = da.from_array(X, chunks=(100, 3))
    _assert_same(_model(block_rows=250).fit(Xd, LENGTHS, sample_weight=None), ref, Xd, X)


def test_sequence_weights_in_blocks(tmp_path):
    X = _data()
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    ref = _model().fit(X, LENGTHS, sample_weight=w)
    np.save(tmp_path / "x.npy", X)
    src = _model(block_rows=100).fit(np.load(tmp_path / "x.npy", mmap_mode="r"), LENGTHS, sample_weight=w)
    assert_allclose(src.means_, ref.means_, rtol=1e-9)
    assert_allclose(list(src.monitor_.history), list(ref.monitor_.history), rtol=1e-10)


def test_bad_lengths_for_a_streamed_source(tmp_path):
    X = _data()
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(ValueError, match="lengths sum to"):
        _model().fit(np.load(tmp_path / "x.npy", mmap_mode="r"), [10, 20])
