"""Out-of-core fitting: numpy.memmap, h5py and zarr datasets streamed in blocks."""

import sys
import threading
import time

import numpy as np
import pytest

from fastgmm import GaussianMixture
from fastgmm.sources import _blocks as _sources
from conftest import measures_rss

COV_TYPES = ("full", "tied", "diag", "spherical")


def _mixture(n=3000, d=3, seed=0):
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    return np.ascontiguousarray(rng.normal(size=(n, d)) + 4.0 * k[:, None])


def _memmap(tmp_path, X, name="x.npy"):
    path = tmp_path / name
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=X.dtype, shape=X.shape)
    mm[:] = X
    mm.flush()
    del mm
    return np.load(path, mmap_mode="r")


def _start(X, cov_type, **kw):
    """Initial parameters from a short in-memory fit (the 'same start' of both fits)."""
    g = GaussianMixture(3, covariance_type=cov_type, random_state=0, max_iter=2, tol=0, **kw).fit(X)
    return dict(weights_init=g.weights_, means_init=g.means_, precisions_init=g.precisions_)


def _assert_same_model(a, b, tol=1e-10):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=tol, atol=tol, err_msg=name)
    assert abs(float(a.lower_bound_) - float(b.lower_bound_)) < tol
    assert a.n_iter_ == b.n_iter_


def test_detection():
    X = np.zeros((4, 2))
    assert not _sources.is_out_of_core(X)
    assert not _sources.is_out_of_core([[0.0, 1.0]])
    assert _sources.is_out_of_core(X.view(np.memmap))

    class Like:
        shape, dtype = (4, 2), np.dtype(np.float64)

        def __getitem__(self, key):
            return X[key]
    assert _sources.is_out_of_core(Like())


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_memmap_equals_in_memory(tmp_path, cov_type):
    X = _mixture()
    mm = _memmap(tmp_path, X)
    start = _start(X, cov_type)
    a = GaussianMixture(3, covariance_type=cov_type, max_iter=15, tol=0, **start).fit(X)
    b = GaussianMixture(3, covariance_type=cov_type, max_iter=15, tol=0, block_rows=701, **start).fit(mm)
    _assert_same_model(a, b)
    np.testing.assert_array_equal(a.predict(X), b.predict(mm))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(mm), atol=1e-10)
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(mm), rtol=1e-10)
    assert abs(a.score(X) - b.score(mm)) < 1e-10
    assert abs(a.bic(X) - b.bic(mm)) < 1e-6
    labels = GaussianMixture(3, covariance_type=cov_type, max_iter=15, tol=0, block_rows=701,
                             **start).fit_predict(mm)
    np.testing.assert_array_equal(labels, a.predict(X))


def test_memmap_float32_and_weights(tmp_path):
    X = _mixture().astype(np.float32)
    mm = _memmap(tmp_path, X)
    w = np.random.default_rng(1).uniform(0, 2, X.shape[0])
    start = _start(X, "full")
    a = GaussianMixture(3, max_iter=10, tol=0, **start).fit(X, sample_weight=w)
    b = GaussianMixture(3, max_iter=10, tol=0, block_rows=500, **start).fit(mm, sample_weight=w)
    assert b.means_.dtype == np.float32
    _assert_same_model(a, b, tol=1e-5)


def test_integer_memmap_is_converted_per_block(tmp_path):
    X = np.rint(_mixture() * 10).astype(np.int32)
    mm = _memmap(tmp_path, X)
    start = _start(X, "diag")
    a = GaussianMixture(3, covariance_type="diag", max_iter=5, tol=0, **start).fit(X)
    b = GaussianMixture(3, covariance_type="diag", max_iter=5, tol=0, block_rows=333, **start).fit(mm)
    _assert_same_model(a, b)


def test_nan_reports_the_global_row(tmp_path):
    X = _mixture()
    X[2345, 1] = np.nan
    mm = _memmap(tmp_path, X)
    with pytest.raises(ValueError, match="row 2345, column 1"):
        GaussianMixture(3, block_rows=500, random_state=0).fit(mm)
    X[2345:2360, 0] = np.nan   # and 15 more in the same block; 1 in another
    X[10, 2] = np.nan
    mm = _memmap(tmp_path, X, "nan16.npy")
    # The sampled init reads the blocks in order: the first NaN is row 10's,
    # counted in its own block (rows 0 to 499), not in all of X.
    with pytest.raises(ValueError, match=r"row 10, column 2; the block of rows 0 to 499 of X has 1 NaN value in 1 row\."):
        GaussianMixture(3, block_rows=500, random_state=0).fit(mm)
    start = _start(_mixture(), "full")
    with pytest.raises(ValueError, match=r"row 2345, column 0; the block of rows 2000 to 2499 of X has 16 NaN "
                                         r"values in 15 rows\."):
        X[10, 2] = 0.0
        GaussianMixture(3, block_rows=500, **start).fit(_memmap(tmp_path, X, "nan16b.npy"))
    X[:] = _mixture()
    X[2345, 1] = np.inf
    mm = _memmap(tmp_path, X, "inf.npy")
    with pytest.raises(ValueError, match="infinity.*row 2345"):
        GaussianMixture(3, block_rows=500, random_state=0).fit(mm)


def test_each_block_is_validated_once_per_fit(tmp_path, monkeypatch):
    """The finiteness check reads the whole block: once per fit, not every iteration."""
    X = _mixture()
    mm = _memmap(tmp_path, X)
    start = _start(X, "diag")
    checked = []
    real = _sources.check_array
    monkeypatch.setattr(_sources, "check_array", lambda b, **kw: checked.append(kw["row_offset"]) or real(b, **kw))
    g = GaussianMixture(3, covariance_type="diag", max_iter=6, tol=0, block_rows=700, **start).fit(mm)
    assert g.n_iter_ == 6
    assert checked == [0, 700, 1400, 2100, 2800]
    checked.clear()
    GaussianMixture(3, covariance_type="diag", max_iter=3, tol=0, block_rows=700, random_state=0).fit(mm)
    assert checked == [0, 700, 1400, 2100, 2800]   # sampled init first: the EM passes check nothing more
    checked.clear()
    g.predict(mm)   # a new call: validated again
    assert checked == [0, 700, 1400, 2100, 2800]
    # Later passes still convert a non-float file per block (no check, same values)
    Xi = np.rint(X).astype(np.int32)
    src = _sources.ArraySource(_memmap(tmp_path, Xi, "i.npy"), estimator_name="GaussianMixture", block_rows=700)
    first, again = src.read(700, 1400), src.read(700, 1400)
    assert again.dtype == np.float64
    assert again.flags.c_contiguous
    np.testing.assert_array_equal(first, again)
    # and a float64 C-contiguous memmap block is a view of the file, no copy
    src = _sources.ArraySource(mm, estimator_name="GaussianMixture", block_rows=700)
    for _ in range(2):
        assert np.shares_memory(src.read(700, 1400), mm)


@pytest.mark.parametrize("policy", ["omit", "marginalize"])
def test_nan_policies_per_block(tmp_path, policy):
    X = _mixture()
    rng = np.random.default_rng(3)
    X[rng.integers(0, X.shape[0], 200), rng.integers(0, 3, 200)] = np.nan
    mm = _memmap(tmp_path, X)
    start = _start(X[~np.isnan(X).any(axis=1)], "full")
    a = GaussianMixture(3, max_iter=8, tol=0, nan_policy=policy, **start).fit(X)
    b = GaussianMixture(3, max_iter=8, tol=0, nan_policy=policy, block_rows=640, **start).fit(mm)
    _assert_same_model(a, b)
    assert a.n_omitted_ == b.n_omitted_


def test_init_on_a_sample_is_as_good(tmp_path, monkeypatch):
    """k-means on a bounded uniform sample: the fit ends where the in-memory init's does."""
    X = _mixture(n=20000, d=4, seed=5)
    mm = _memmap(tmp_path, X)
    monkeypatch.setattr(_sources, "INIT_SAMPLE_ROWS", 2000)
    for init in ("kmeans", "k-means++", "random_from_data"):
        a = GaussianMixture(3, random_state=0, init_params=init).fit(X)
        b = GaussianMixture(3, random_state=0, init_params=init, block_rows=3000).fit(mm)
        assert abs(float(a.lower_bound_) - float(b.lower_bound_)) < 1e-3, init


def test_h5py_and_zarr(tmp_path):
    X = _mixture(n=2000)
    start = _start(X, "full")
    a = GaussianMixture(3, max_iter=10, tol=0, **start).fit(X)
    tried = 0
    try:
        import h5py
    except ImportError:
        h5py = None
    if h5py is not None:
        tried += 1
        with h5py.File(tmp_path / "x.h5", "w") as f:
            f.create_dataset("X", data=X, chunks=(256, 3))
        with h5py.File(tmp_path / "x.h5", "r") as f:
            b = GaussianMixture(3, max_iter=10, tol=0, block_rows=512, **start).fit(f["X"])
            _assert_same_model(a, b)
            np.testing.assert_array_equal(b.predict(f["X"]), a.predict(X))
    try:
        import zarr
    except ImportError:
        zarr = None
    if zarr is not None:
        tried += 1
        z = zarr.open(str(tmp_path / "x.zarr"), mode="w", shape=X.shape, chunks=(300, 3), dtype="f8")
        z[:] = X
        b = GaussianMixture(3, max_iter=10, tol=0, block_rows=450, **start).fit(z)
        _assert_same_model(a, b)
        np.testing.assert_allclose(b.score_samples(z), a.score_samples(X), rtol=1e-10)
    if not tried:
        pytest.skip("neither h5py nor zarr is installed")


def _rss_anon_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("no RssAnon")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RssAnon is Linux's /proc/self/status")
@measures_rss
def test_anonymous_memory_stays_bounded(tmp_path, monkeypatch):
    """A 64 MB memmap fitted with 16 KiB-row blocks: RssAnon grows by a few MB at most,
    and the model equals the in-memory fit from the same start."""
    n, d = 1_000_000, 8          # 64 MB of float64 on disk
    path = tmp_path / "big.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    rng = np.random.default_rng(0)
    for a in range(0, n, 100_000):
        k = rng.integers(0, 3, 100_000)
        mm[a:a + 100_000] = rng.normal(size=(100_000, d)) + 3.0 * k[:, None]
    mm.flush()
    del mm
    mm = np.load(path, mmap_mode="r")
    small = np.ascontiguousarray(mm[:5000])
    start = _start(small, "full")
    monkeypatch.setattr(_sources, "INIT_SAMPLE_ROWS", 20_000)

    bound_kib = 8 * 1024        # 8 MiB: blocks of 2048 x 8 float64 are 128 KiB
    base = _rss_anon_kib()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_anon_kib())
            time.sleep(0.002)
    t = threading.Thread(target=sample)
    t.start()
    try:
        b = GaussianMixture(3, max_iter=3, tol=0, block_rows=2048, **start).fit(mm)
        GaussianMixture(3, max_iter=1, tol=0, block_rows=2048, random_state=0).fit(mm)   # sampled k-means init
        b.score(mm)
    finally:
        done.set()
        t.join()
    grew = peak[0] - base
    print(f"RssAnon growth {grew} KiB")
    assert grew < bound_kib, f"RssAnon grew by {grew} KiB during the out-of-core fit"
    X = np.asarray(mm)  # now in memory, after the measurement
    a = GaussianMixture(3, max_iter=3, tol=0, **start).fit(np.array(X))
    _assert_same_model(a, b)


_PEAK_ANON_FIT = """
import sys, threading, time
import numpy as np
from fastgmm import GaussianMixture

def anon_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])

mm = np.load(sys.argv[1], mmap_mode="r")
base = anon_kib()
peak = [base]
done = threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anon_kib())
        time.sleep(0.001)

t = threading.Thread(target=sample)
t.start()
try:
    GaussianMixture(16, max_iter=2, tol=0, random_state=0).fit(mm)
finally:
    done.set()
    t.join()
print(peak[0] - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RssAnon is Linux's /proc/self/status")
@measures_rss
def test_default_fit_of_a_memmap_adds_under_16_mib(tmp_path):
    """GaussianMixture(16).fit on a 400k x 16 float64 memmap (51 MB) with the default k-means
    init adds under 16 MiB of anonymous memory at its peak: the initialisation sample is bounded
    in bytes (fastgmm.sources._blocks.INIT_SAMPLE_BYTES) and copied once. (It added ~46 MiB when the sample
    was one 32 MiB block, copied twice.) Measured in a fresh interpreter, so that heap memory
    freed by earlier tests cannot hide the growth."""
    import os
    import subprocess
    from pathlib import Path

    import fastgmm

    n, d = 400_000, 16
    path = tmp_path / "x.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=4.0, size=(16, d))
    for a in range(0, n, 50_000):
        mm[a:a + 50_000] = rng.normal(size=(50_000, d)) + centres[rng.integers(0, 16, 50_000)]
    mm.flush()
    del mm
    env = dict(os.environ)
    package_root = str(Path(fastgmm.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", _PEAK_ANON_FIT, str(path)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    grew_kib = int(proc.stdout.split()[-1])
    print(f"RssAnon growth {grew_kib} KiB")
    assert grew_kib < 16 * 1024, f"the out-of-core fit added {grew_kib / 1024:.1f} MiB of anonymous memory"
