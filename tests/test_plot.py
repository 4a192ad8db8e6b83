"""fastgmm.plot: each figure's content (artists, data, labels), rendered with Agg."""

import subprocess
import sys

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from fastgmm import GaussianMixture, GaussianMixtureSelection, NotFittedError, plot  # noqa: E402
from fastgmm.datasets import load_faithful  # noqa: E402

_trapezoid = getattr(np, "trapezoid", None) or np.trapz
COV_TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def faithful():
    return load_faithful().data


def _render(ax):
    ax.figure.canvas.draw()   # drawing must work, not only building the artists


def test_import_fastgmm_does_not_import_matplotlib():
    code = "import sys, fastgmm; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_density_1d_draws_histogram_mixture_and_weighted_components():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 300), rng.normal(5, 1, 700)])
    gm = GaussianMixture(2, random_state=0).fit(x[:, None])
    ax = plot.density_1d(gm, x, bins=30)
    _render(ax)
    assert len(ax.patches) == 30   # one bar per bin
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"mixture", "component 0", "component 1"}
    grid, mix = lines["mixture"].get_data()
    comps = sum(lines[f"component {k}"].get_ydata() for k in range(2))
    np.testing.assert_allclose(mix, comps)
    # the mixture is a density: integrates to ~1 over the grid, matches score_samples
    assert _trapezoid(mix, grid) == pytest.approx(1.0, abs=0.02)
    np.testing.assert_allclose(mix, np.exp(gm.score_samples(grid[:, None])), rtol=1e-10)
    # each component's area is its weight
    for k in range(2):
        area = _trapezoid(lines[f"component {k}"].get_ydata(), grid)
        assert area == pytest.approx(gm.weights_[k], abs=0.02)
    assert ax.get_xlabel() == "x"
    assert ax.get_ylabel() == "density"


def test_density_1d_rejects_multifeature(faithful):
    gm = GaussianMixture(2, random_state=0).fit(faithful)
    with pytest.raises(ValueError, match="one-feature"):
        plot.density_1d(gm, faithful)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_ellipses_every_covariance_type(faithful, cov_type):
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(faithful)
    _, ax = plt.subplots()
    assert plot.ellipses(gm, faithful, ax=ax) is ax
    _render(ax)
    ells = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ells) == 3 * 3   # 1, 2, 3 sd per component
    # one collection per component, with its predicted points, plus the means
    labels = gm.predict(faithful)
    pts = {c.get_label(): c.get_offsets() for c in ax.collections}
    for k in range(3):
        assert len(pts[f"component {k}"]) == np.count_nonzero(labels == k)
    np.testing.assert_allclose(pts["means"], gm.means_)
    # the 1-sd ellipse's axes are twice the square roots of the covariance's eigenvalues
    cov = gm.covariances_
    c0 = {"full": lambda: cov[0], "tied": lambda: cov, "diag": lambda: np.diag(cov[0]),
          "spherical": lambda: np.eye(2) * cov[0]}[cov_type]()
    ev = np.linalg.eigvalsh(c0)
    e = ells[0]
    np.testing.assert_allclose(sorted([e.width, e.height]), 2 * np.sqrt(ev), rtol=1e-6)
    np.testing.assert_allclose(e.center, gm.means_[0])
    assert ells[2].width == pytest.approx(3 * e.width)
    # the axes contain every point
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    assert x0 <= faithful[:, 0].min()
    assert x1 >= faithful[:, 0].max()
    assert y0 <= faithful[:, 1].min()
    assert y1 >= faithful[:, 1].max()
    assert ax.get_xlabel() == "feature 0"
    assert cov_type in ax.get_title()


def test_ellipses_dims_and_errors(faithful):
    X = np.column_stack([faithful, faithful[:, 0] * 2])
    gm = GaussianMixture(2, random_state=0).fit(X)
    ax = plot.ellipses(gm, X, dims=(2, 1), n_std=(1,))
    assert len(ax.patches) == 2
    np.testing.assert_allclose(ax.patches[0].center, gm.means_[0, [2, 1]])
    with pytest.raises(ValueError, match="dims"):
        plot.ellipses(gm, X, dims=(1, 1))
    with pytest.raises(NotFittedError):
        plot.ellipses(GaussianMixture(2), X)


def test_selection_one_line_per_covariance_type(faithful):
    sel = GaussianMixtureSelection(n_components=range(1, 4), covariance_types=("full", "diag"),
                                   random_state=0).fit(faithful)
    ax = plot.selection(sel)
    _render(ax)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"full", "diag"}
    r = sel.results_
    for ct, line in lines.items():
        rows = np.asarray(r["covariance_type"]) == ct
        np.testing.assert_array_equal(line.get_xdata(), np.asarray(r["n_components"])[rows])
        np.testing.assert_allclose(line.get_ydata(), np.asarray(r["bic"])[rows])
    chosen = [c for c in ax.collections if c.get_label() == "chosen"][0]
    np.testing.assert_allclose(chosen.get_offsets()[0],
                               [sel.best_params_["n_components"], r["bic"][sel.best_index_]])
    assert ax.get_xlabel() == "number of components"
    assert ax.get_ylabel().startswith("BIC")
    assert list(ax.get_xticks()) == [1, 2, 3]


class _FakeSelection:
    """A fitted selection's results with a degenerate and a failed cell (deterministic)."""

    criterion = "bic"

    def __init__(self):
        nan = float("nan")
        self.results_ = {
            "covariance_type": ["full", "diag", "full", "diag", "full", "diag"],
            "n_components": [1, 1, 2, 2, 3, 3],
            "bic": [10.0, 12.0, 8.0, 9.0, 5.0, nan],
            "aic": [9.0, 11.0, 7.0, 8.5, 4.0, nan],
            "degenerate": [False, False, False, False, True, False],
            "failed": [False, False, False, False, False, True],
        }
        self.best_index_ = 2
        self.best_params_ = {"covariance_type": "full", "n_components": 2}


def test_selection_marks_degenerate_and_failed_cells():
    sel = _FakeSelection()
    ax = plot.selection(sel)
    _render(ax)
    full = [ln for ln in ax.get_lines() if ln.get_label() == "full"][0]
    y = full.get_ydata()
    assert np.isnan(y[2]) and list(y[:2]) == [10.0, 8.0]   # the degenerate cell is a gap in the line
    by_label = {c.get_label(): c for c in ax.collections}
    np.testing.assert_allclose(by_label["degenerate"].get_offsets(), [[3, 5.0]])
    np.testing.assert_allclose(by_label["failed"].get_offsets()[:, 0], [3])
    assert "failed" in ax.get_title()
    ax2 = plot.selection(sel, criterion="aic")
    assert ax2.get_ylabel().startswith("AIC")


def test_convergence_plots_every_iteration(faithful):
    gm = GaussianMixture(2, random_state=0, tol=1e-6).fit(faithful)
    ax = plot.convergence(gm)
    _render(ax)
    (line,) = ax.get_lines()
    x, y = line.get_data()
    np.testing.assert_array_equal(x, np.arange(1, gm.n_iter_ + 1))
    np.testing.assert_allclose(y, np.asarray(gm.lower_bounds_, dtype=float))
    assert ax.get_title() == "converged"
    assert ax.get_xlabel() == "iteration"
    with pytest.raises(NotFittedError):
        plot.convergence(GaussianMixture())
