"""fastgmm.datasets: the shipped Old Faithful data and the mixture generator."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastgmm.datasets import Bunch, load_faithful, make_mixture

COV_TYPES = ("full", "tied", "diag", "spherical")


def test_load_faithful_bunch():
    b = load_faithful()
    assert isinstance(b, Bunch)
    assert b.data.shape == (272, 2)
    assert b.data.dtype == np.float64
    assert b.feature_names == ["eruptions", "waiting"]
    assert b.frame is None
    assert "Old Faithful" in b.DESCR
    assert "datasets::faithful" in b.DESCR
    assert b["data"] is b.data
    # R's faithful: first row 3.600, 79; the waiting times are whole minutes with ties.
    np.testing.assert_array_equal(b.data[0], [3.6, 79.0])
    assert np.all(b.data[:, 1] == np.round(b.data[:, 1]))
    assert np.count_nonzero(b.data[:, 1] == 83) == 14
    np.testing.assert_allclose(b.data.mean(axis=0), [3.487783, 70.897059], atol=1e-6)


def test_load_faithful_return_X_y_and_frame():
    X, y = load_faithful(return_X_y=True)
    assert X.shape == (272, 2)
    assert y is None
    pd = pytest.importorskip("pandas")
    b = load_faithful(as_frame=True)
    assert isinstance(b.frame, pd.DataFrame)
    assert b.data is b.frame
    assert list(b.frame.columns) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(b.frame.to_numpy(), X)
    Xf, _ = load_faithful(return_X_y=True, as_frame=True)
    assert isinstance(Xf, pd.DataFrame)


def test_load_faithful_as_frame_without_pandas_says_so():
    code = textwrap.dedent("""
        import sys
        sys.modules["pandas"] = None   # import pandas now raises ImportError
        from fastgmm.datasets import load_faithful
        assert load_faithful().data.shape == (272, 2)
        try:
            load_faithful(as_frame=True)
        except ImportError as e:
            assert "pandas" in str(e) and "pip install" in str(e), e
        else:
            raise SystemExit("no ImportError")
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_faithful_csv_is_package_data():
    # The CSV must reach a wheel: it is listed in pyproject's package-data.
    from importlib import resources
    assert resources.files("fastgmm.datasets").joinpath("data", "faithful.csv").is_file()
    try:
        import tomllib
    except ImportError:   # Python 3.10
        pytest.skip("tomllib needs Python 3.11")
    from pathlib import Path
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("pyproject.toml not beside tests/")
    cfg = tomllib.loads(pyproject.read_text())
    assert "data/*.csv" in cfg["tool"]["setuptools"]["package-data"]["fastgmm.datasets"]


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_make_mixture_shapes_and_truth(cov_type):
    K, D = 3, 2
    X, y, p = make_mixture(3000, D, K, cov_type, random_state=0)
    assert X.shape == (3000, D)
    assert X.dtype == np.float64
    assert y.shape == (3000,)
    assert y.dtype == np.int64
    assert set(np.unique(y)) <= set(range(K))
    shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[cov_type]
    assert p["covariances"].shape == shape
    assert p["covariance_type"] == cov_type
    assert p["weights"].shape == (K,)
    assert np.isclose(p["weights"].sum(), 1)
    # The rows follow the returned parameters: per-label means and frequencies.
    for k in range(K):
        rows = X[y == k]
        np.testing.assert_allclose(rows.mean(axis=0), p["means"][k], atol=0.25)
        assert abs(len(rows) / 3000 - p["weights"][k]) < 0.05
    if cov_type == "full":
        for k in range(K):
            np.testing.assert_allclose(np.cov(X[y == k].T), p["covariances"][k], atol=0.35)


def test_make_mixture_reproducible_and_options():
    a = make_mixture(200, 3, 2, random_state=5)
    b = make_mixture(200, 3, 2, random_state=np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], make_mixture(200, 3, 2, random_state=6)[0])
    X, y, p = make_mixture(500, 2, 2, "diag", random_state=0, weights=[3, 1], dtype=np.float32,
                           separation=10.0)
    assert X.dtype == np.float32
    np.testing.assert_allclose(p["weights"], [0.75, 0.25])
    make_mixture(10, 2, 2, random_state=np.random.RandomState(0))   # legacy RandomState accepted


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_samples=0), "n_samples"),
    (dict(n_components=1.5), "n_components"),
    (dict(covariance_type="banana"), "covariance_type"),
    (dict(weights=[1, -1]), "weights"),
])
def test_make_mixture_rejects_bad_arguments(kwargs, match):
    args = dict(n_samples=10, n_features=2, n_components=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_mixture(**args)


def test_demo_uses_make_mixture():
    import io

    from fastgmm.cli import _demo
    out = io.StringIO()
    gm = _demo.run(n_samples=2000, n_features=2, n_components=2, seed=0, compare=False, file=out)
    assert gm.converged_
    assert "drawn from 2 Gaussians" in out.getvalue()
