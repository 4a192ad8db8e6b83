"""partial_fit: online (stepwise) EM over mini-batches."""

import numpy as np
import pytest

from fastgmm import GaussianMixture
from fastgmm.families import _gaussian_mixture, _gaussian_online as _online

COV_TYPES = ("full", "tied", "diag", "spherical")
MEANS = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 5.0, 2.0]])


def _draw(rng, n):
    k = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    return rng.normal(size=(n, 3)) * np.array([1.0, 0.5, 1.5]) + MEANS[k]


def _order(g):
    return np.argsort(g.means_[:, 0] + 10 * g.means_[:, 1])


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_stream_ends_close_to_the_full_fit(cov_type):
    rng = np.random.default_rng(0)
    X = _draw(rng, 100 * 500)
    full = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    on = GaussianMixture(3, covariance_type=cov_type, random_state=0)
    for b in range(100):
        on.partial_fit(X[b * 500:(b + 1) * 500])
    assert on.n_steps_ == 100
    o, f = _order(on), _order(full)
    np.testing.assert_allclose(on.means_[o], full.means_[f], atol=0.08)
    np.testing.assert_allclose(on.weights_[o], full.weights_[f], atol=0.01)
    assert full.score(X) - on.score(X) < 2e-3


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_running_statistics_are_the_inverse_of_the_m_step(cov_type):
    """At EM's fixed point a step on the same data changes nothing: the statistics
    rebuilt from the attributes are those the data give."""
    X = _draw(np.random.default_rng(1), 3000)
    # reg_covar large enough that adding it twice would show
    g = GaussianMixture(3, covariance_type=cov_type, random_state=0, tol=1e-12, max_iter=2000,
                        reg_covar=1e-2).fit(X)
    before = g.means_.copy(), g.covariances_.copy(), g.weights_.copy()
    g.partial_fit(X)
    for a, b in zip(before, (g.means_, g.covariances_, g.weights_)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)   # EM's own last step is ~1e-7


def test_one_kernel_pass_per_batch(monkeypatch):
    X = _draw(np.random.default_rng(2), 1000)
    g = GaussianMixture(3, random_state=0).fit(X)
    calls = []
    real = _gaussian_mixture.gaussian_statistics
    monkeypatch.setattr(_gaussian_mixture, "gaussian_statistics", lambda *a, **k: calls.append(1) or real(*a, **k))
    g.partial_fit(X[:300])
    assert len(calls) == 1


def test_step_size_schedule():
    assert _online.step_size(0, 0.7, 2) == pytest.approx(2 ** -0.7)
    assert _online.step_size(8, 1.0, 2) == pytest.approx(0.1)
    X = np.random.default_rng(0).random((20, 2))
    with pytest.raises(ValueError, match="online_decay"):
        GaussianMixture(2, online_decay=0.4).partial_fit(X)
    with pytest.raises(ValueError, match="online_offset"):
        GaussianMixture(2, online_offset=0.5).partial_fit(X)


def test_integer_weights_are_repeated_rows():
    rng = np.random.default_rng(3)
    X = _draw(rng, 400)
    w = rng.integers(0, 3, 400)
    start = GaussianMixture(3, random_state=0).fit(X)
    kw = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
    a = GaussianMixture(3, **kw)
    b = GaussianMixture(3, **kw)
    for i in range(3):
        Xi, wi = X[i * 100:(i + 1) * 100], w[i * 100:(i + 1) * 100]
        a.partial_fit(Xi, sample_weight=wi)
        b.partial_fit(np.repeat(Xi, wi, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-10, atol=1e-10)


def test_nan_policies():
    rng = np.random.default_rng(4)
    X = _draw(rng, 3000)
    X[rng.integers(0, 3000, 150), rng.integers(0, 3, 150)] = np.nan
    ok = ~np.isnan(X).any(axis=1)
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(3, random_state=0).partial_fit(X)
    a = GaussianMixture(3, random_state=0, nan_policy="omit")
    b = GaussianMixture(3, random_state=0)
    for i in range(3):
        a.partial_fit(X[i * 1000:(i + 1) * 1000])
        Xi = X[i * 1000:(i + 1) * 1000]
        b.partial_fit(Xi[ok[i * 1000:(i + 1) * 1000]])
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10, atol=1e-10)
    m = GaussianMixture(3, random_state=0, nan_policy="marginalize")
    for i in range(3):
        m.partial_fit(X[i * 1000:(i + 1) * 1000])
    np.testing.assert_allclose(m.means_[_order(m)], MEANS, atol=0.3)


def test_feature_count_checked_after_the_first_batch():
    rng = np.random.default_rng(0)
    g = GaussianMixture(2, random_state=0).partial_fit(rng.random((20, 2)))
    with pytest.raises(ValueError, match="features"):
        g.partial_fit(rng.random((20, 3)))


def test_partial_fit_on_memmap_and_h5py(tmp_path):
    """An out-of-core batch goes through the block path: the same step as the batch in memory."""
    from fastgmm.sources import _blocks as _sources
    rng = np.random.default_rng(4)
    X = np.ascontiguousarray(_draw(rng, 3000))
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    a = GaussianMixture(3, random_state=0, init_params="random_from_data")
    b = GaussianMixture(3, random_state=0, init_params="random_from_data", block_rows=700)
    start = GaussianMixture(3, random_state=0, max_iter=3).fit(X[:1000])
    init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
    a.set_params(**init)
    b.set_params(**init)
    for s in (slice(0, 1500), slice(1500, 3000)):
        a.partial_fit(X[s])
        b.partial_fit(mm[s])
    assert isinstance(mm[0:1500], np.memmap)
    assert _sources.is_out_of_core(mm[0:1500])
    assert a.n_steps_ == b.n_steps_ == 2
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-10, atol=1e-12)
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("X", data=X, chunks=(256, 3))
    c = GaussianMixture(3, random_state=0, block_rows=512, **init)
    with h5py.File(tmp_path / "x.h5", "r") as f:
        c.partial_fit(f["X"])   # the whole dataset is one batch
    d = GaussianMixture(3, random_state=0, **init).partial_fit(X)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(c, name), getattr(d, name), rtol=1e-10, atol=1e-12)
    # a NaN in a streamed batch is reported at its row in the batch, counted in its block
    Xn = X.copy()
    Xn[1234, 2] = np.nan
    np.save(path, Xn)
    with pytest.raises(ValueError, match=r"row 1234, column 2; the block of rows 700 to 1399"):
        GaussianMixture(3, block_rows=700, **init).partial_fit(np.load(path, mmap_mode="r"))
