"""fastgmm.plot: each figure's content (artists, data, labels), rendered with Agg."""

import subprocess
import sys

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from scipy import stats  # noqa: E402

from fastgmm import (  # noqa: E402
    BayesianGaussianMixture,
    BernoulliMixture,
    CategoricalMixture,
    GaussianMixture,
    GaussianMixtureSelection,
    NotFittedError,
    PoissonMixture,
    StudentTMixture,
    plot,
)
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


# ----------------------------------------------------------------------
# the plots ask the model
# ----------------------------------------------------------------------
def _two_bumps(seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.standard_t(4, 400), rng.standard_t(4, 600) + 8.0])


def _component_lines(ax):
    return {ln.get_label(): ln.get_ydata() for ln in ax.get_lines() if ln.get_label().startswith("component")}


@pytest.mark.parametrize("model", [GaussianMixture(2, random_state=0), StudentTMixture(2, random_state=0)],
                         ids=["gaussian", "student-t"])
def test_density_1d_components_sum_to_the_model_density(model):
    x = _two_bumps()
    model.fit(x[:, None])
    ax = plot.density_1d(model, x)
    grid = [ln for ln in ax.get_lines() if ln.get_label() == "mixture"][0].get_xdata()
    comps = _component_lines(ax)
    assert len(comps) == 2
    np.testing.assert_allclose(sum(comps.values()), np.exp(model.score_samples(grid[:, None])), rtol=1e-10)


def test_density_1d_draws_t_densities_for_a_t_mixture():
    x = _two_bumps()
    tm = StudentTMixture(2, random_state=0).fit(x[:, None])
    ax = plot.density_1d(tm, x)
    grid = [ln for ln in ax.get_lines() if ln.get_label() == "mixture"][0].get_xdata()
    comps = _component_lines(ax)
    for k in range(2):
        expected = tm.weights_[k] * stats.t.pdf(grid, df=tm.degrees_of_freedom_[k], loc=tm.means_[k, 0],
                                               scale=np.sqrt(tm.covariances_[k, 0, 0]))
        np.testing.assert_allclose(comps[f"component {k}"], expected, rtol=1e-8)


@pytest.fixture(scope="module")
def three_clusters_dp():
    """Three clusters of 300 rows, a Dirichlet-process mixture of 10: seven components unused."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 300), rng.normal(6, 1, 300), rng.normal(12, 1, 300)])
    bgm = BayesianGaussianMixture(n_components=10, random_state=0, max_iter=300).fit(x[:, None])
    return x, bgm


def test_density_1d_leaves_out_components_that_explain_no_row(three_clusters_dp):
    x, bgm = three_clusters_dp
    rows = bgm.predict_proba(x[:, None]).sum(axis=0)
    used = set(np.flatnonzero(rows >= 1))
    assert len(used) == 3
    ax = plot.density_1d(bgm, x)
    assert set(_component_lines(ax)) == {f"component {k}" for k in used}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sum(t.startswith("component") for t in legend) == 3


def test_density_1d_min_rows_zero_draws_every_component(three_clusters_dp):
    x, bgm = three_clusters_dp
    assert len(_component_lines(plot.density_1d(bgm, x, min_rows=0))) == 10


def test_ellipses_leave_out_unused_components(faithful):
    bgm = BayesianGaussianMixture(n_components=10, random_state=0).fit(faithful)
    used = np.flatnonzero(bgm.predict_proba(faithful).sum(axis=0) >= 1)
    assert used.size == 2
    ax = plot.ellipses(bgm, faithful)
    _render(ax)
    assert len([p for p in ax.patches if isinstance(p, Ellipse)]) == 2 * 3
    pts = {c.get_label(): c.get_offsets() for c in ax.collections}
    assert set(pts) == {f"component {k}" for k in used} | {"means"}
    np.testing.assert_allclose(pts["means"], bgm.means_[used])
    assert "+8 empty" in ax.get_title()


@pytest.fixture(scope="module")
def fitted_selection(faithful):
    return GaussianMixtureSelection(n_components=range(1, 4), covariance_types=("full", "tied"),
                                    random_state=0).fit(faithful)


def test_ellipses_of_a_selection_draw_its_best_model(faithful, fitted_selection):
    best = fitted_selection.best_estimator_
    ax = plot.ellipses(fitted_selection, faithful)
    ells = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ells) == best.n_components * 3
    np.testing.assert_allclose([e.center for e in ells[::3]], best.means_)
    assert best.covariance_type in ax.get_title()


def test_convergence_of_a_selection_draws_its_best_model(fitted_selection):
    (line,) = plot.convergence(fitted_selection).get_lines()
    np.testing.assert_allclose(line.get_ydata(), np.asarray(fitted_selection.best_estimator_.lower_bounds_))


def test_density_1d_of_a_selection_draws_its_best_model():
    x = _two_bumps()
    sel = GaussianMixtureSelection(n_components=range(1, 4), random_state=0).fit(x[:, None])
    ax = plot.density_1d(sel, x)
    line = [ln for ln in ax.get_lines() if ln.get_label() == "mixture"][0]
    np.testing.assert_allclose(line.get_ydata(),
                               np.exp(sel.best_estimator_.score_samples(line.get_xdata()[:, None])))


@pytest.mark.parametrize("function", [plot.ellipses, plot.density_1d, plot.convergence, plot.parameters])
def test_unfitted_selection_is_not_fitted(function, faithful):
    args = () if function in (plot.convergence, plot.parameters) else (faithful,)
    with pytest.raises(NotFittedError, match="GaussianMixtureSelection is not fitted"):
        function(GaussianMixtureSelection(), *args)


def test_convergence_labels_a_variational_bound(faithful):
    bgm = BayesianGaussianMixture(n_components=2, random_state=0).fit(faithful)
    assert plot.convergence(bgm).get_ylabel().startswith("lower bound (variational")


# ----------------------------------------------------------------------
# discrete mixtures: the parameters plot
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    p = np.linspace(0.1, 0.9, 6)
    return np.vstack([rng.random((300, 6)) < p, rng.random((200, 6)) < p[::-1]]).astype(float)


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(1)
    return np.vstack([rng.poisson([1.0, 6.0, 20.0], (300, 3)), rng.poisson([9.0, 2.0, 3.0], (300, 3))])


@pytest.fixture(scope="module")
def codes():
    rng = np.random.default_rng(2)
    y = rng.integers(2, size=400)
    X = np.where(rng.random((400, 3)) < 0.85, y[:, None], rng.integers(3, size=(400, 3)))
    X[:, 2] *= 5            # codes 0, 5, 10: the labels must be the codes, not their positions
    return X


def _discrete(name, binary, counts, codes):
    return {"bernoulli": (BernoulliMixture, binary), "poisson": (PoissonMixture, counts),
            "categorical": (CategoricalMixture, codes)}[name]


@pytest.mark.parametrize("name", ["bernoulli", "poisson", "categorical"])
@pytest.mark.parametrize("function", [plot.ellipses, plot.density_1d])
def test_continuous_plots_of_a_discrete_model_name_parameters(name, function, binary, counts, codes):
    cls, X = _discrete(name, binary, counts, codes)
    model = cls(2, random_state=0).fit(X)
    with pytest.raises(TypeError, match=r"fastgmm\.plot\.parameters\(model\)"):
        function(model, X)


@pytest.mark.parametrize("name", ["bernoulli", "poisson"])
def test_parameters_heat_map_of_means(name, binary, counts, codes):
    cls, X = _discrete(name, binary, counts, codes)
    model = cls(2, random_state=0).fit(X)
    ax = plot.parameters(model)
    _render(ax)
    np.testing.assert_array_equal(ax.images[0].get_array(), model.means_)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"feature {d}" for d in range(X.shape[1])]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{k}\nweight {model.weights_[k]:.3g}"
                                                           for k in range(2)]


def test_parameters_of_a_categorical_model_sets_tables_side_by_side(codes):
    cm = CategoricalMixture(2, random_state=0).fit(codes)
    ax = plot.parameters(cm)
    _render(ax)
    np.testing.assert_array_equal(ax.images[0].get_array(), np.hstack(cm.means_))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"] * 2 + ["0", "5", "10"]


def test_parameters_leave_out_empty_components(faithful):
    bgm = BayesianGaussianMixture(n_components=10, random_state=0).fit(faithful)
    kept = np.flatnonzero(bgm.weights_ >= 1e-3 / 10)
    assert 0 < kept.size < 10
    ax = plot.parameters(bgm)
    np.testing.assert_array_equal(ax.images[0].get_array(), bgm.means_[kept])
    assert plot.parameters(bgm, min_weight=0).images[0].get_array().shape == (10, 2)
