"""fastgmm.plot for hidden Markov models: the state sequence over a series and the transition matrix."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fastgmm import GaussianMixture, NotFittedError, hmm, plot  # noqa: E402

from conftest import three_regime_frames  # noqa: E402

LENGTHS = [90, 60, 50]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted():
    X = three_regime_frames(200)
    return hmm.GaussianHMM(3, covariance_type="diag", n_iter=5, random_state=2).fit(X, LENGTHS), X


def _render(ax):
    ax.figure.canvas.draw()


def test_state_sequence_bands_hold_the_decoded_states(fitted):
    model, X = fitted
    ax = plot.state_sequence(model, X, LENGTHS)
    _render(ax)
    assert len(ax.images) == 1
    assert_array_equal(ax.images[0].get_array()[0], model.predict(X, LENGTHS))
    lines = [ln for ln in ax.get_lines() if ln.get_label() in ("feature 0", "feature 1")]
    assert [ln.get_label() for ln in lines] == ["feature 0", "feature 1"]
    assert_array_equal(lines[1].get_ydata(), X[:, 1])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["feature 0", "feature 1", "state 0", "state 1", "state 2"]


def test_state_sequence_marks_where_each_sequence_starts(fitted):
    model, X = fitted
    ax = plot.state_sequence(model, X, LENGTHS)
    starts = sorted(ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_linestyle() == "--")
    assert starts == [89.5, 149.5]


def test_state_sequence_points_colour_each_frame_by_its_state(fitted):
    model, X = fitted
    ax = plot.state_sequence(model, X, LENGTHS, columns=[1], style="points")
    _render(ax)
    states = model.predict(X, LENGTHS)
    assert len(ax.images) == 0
    assert len(ax.collections) == np.unique(states).size
    drawn = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections])
    assert_array_equal(np.sort(drawn), np.arange(X.shape[0]))
    for c in ax.collections:
        t = np.asarray(c.get_offsets()[:, 0], dtype=int)
        assert np.unique(states[t]).size == 1
        assert_array_equal(c.get_offsets()[:, 1], X[t, 1])


def test_state_sequence_of_a_1d_series_uses_column_names(fitted):
    model, X = fitted
    one = hmm.GaussianHMM(2, n_iter=3, random_state=0).fit(X[:, :1], LENGTHS)
    one.feature_names_in_ = np.asarray(["price"], dtype=object)
    ax = plot.state_sequence(one, X[:, 0])
    _render(ax)
    assert ax.get_lines()[0].get_label() == "price"
    assert_array_equal(ax.images[0].get_array()[0], one.predict(X[:, :1]))


def test_transition_matrix_shows_transmat_with_its_numbers(fitted):
    model, _ = fitted
    ax = plot.transition_matrix(model)
    _render(ax)
    assert_array_equal(ax.images[0].get_array(), model.transmat_)
    assert ax.images[0].get_clim() == (0.0, 1.0)
    texts = [t.get_text() for t in ax.texts]
    assert texts == [f"{v:.2f}" for v in model.transmat_.ravel()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert ax.get_xlabel() == "to state" and ax.get_ylabel() == "from state"
    assert ax.figure.axes[-1].get_ylabel() == "transition probability"


def test_transition_matrix_without_numbers(fitted):
    ax = plot.transition_matrix(fitted[0], annotate=False)
    assert len(ax.texts) == 0


@pytest.mark.parametrize("draw", [lambda m: plot.transition_matrix(m),
                                  lambda m: plot.state_sequence(m, np.zeros((5, 2)))])
def test_an_unfitted_hmm_is_refused(draw):
    with pytest.raises(NotFittedError, match="needs a fitted model"):
        draw(hmm.GaussianHMM(2))


def test_a_mixture_is_not_an_hmm():
    gm = GaussianMixture(2, random_state=0).fit(np.random.RandomState(0).randn(50, 2))
    with pytest.raises(TypeError, match="hidden Markov model"):
        plot.transition_matrix(gm)


@pytest.mark.parametrize("kwargs, message", [(dict(columns=[2]), "columns must name features"),
                                             (dict(style="lines"), "style must be")])
def test_invalid_state_sequence_arguments(fitted, kwargs, message):
    model, X = fitted
    with pytest.raises(ValueError, match=message):
        plot.state_sequence(model, X, LENGTHS, **kwargs)
