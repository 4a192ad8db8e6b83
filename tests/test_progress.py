"""The EM loop's callback, progress bar and KeyboardInterrupt handling."""

import warnings

import numpy as np
import pytest

from fastgmm import FitInterruptedWarning, GaussianMixture, GaussianMixtureSelection
from fastgmm.utils._validation import InvalidParameterError
from fastgmm.datasets import make_mixture


@pytest.fixture(scope="module")
def X():
    return make_mixture(600, 2, 3, random_state=0)[0]


def _strict(**kw):
    # tol=0 never converges: every run does max_iter iterations
    return GaussianMixture(3, random_state=0, tol=0.0, **kw)


def test_new_parameters_in_get_params_and_defaults():
    p = GaussianMixture().get_params()
    assert p["callback"] is None
    assert p["progress"] is False
    assert GaussianMixtureSelection().get_params()["progress"] is False


@pytest.mark.parametrize("kw, match", [({"callback": 3}, "'callback' parameter"),
                                       ({"progress": 1}, "'progress' parameter")])
def test_new_parameters_validated(X, kw, match):
    with pytest.raises(InvalidParameterError, match=match):
        GaussianMixture(2, **kw).fit(X)
    if "progress" in kw:
        with pytest.raises(InvalidParameterError, match=match):
            GaussianMixtureSelection(n_components=[1], **kw).fit(X)


def test_callback_sees_each_iteration_with_the_current_parameters(X):
    seen = []

    def cb(it, lb, model):
        # the model predicts with the current iterate
        seen.append((it, float(lb), model.means_.copy(), model.n_iter_, model.predict(X[:5]).shape))

    ref = GaussianMixture(3, random_state=0, n_init=2, max_iter=7, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(X)
        gm = GaussianMixture(3, random_state=0, n_init=2, max_iter=7, tol=0.0, callback=cb).fit(X)
    assert [s[0] for s in seen] == list(range(1, 8)) * 2
    assert all(s[0] == s[3] and s[4] == (5,) for s in seen)
    # the callback changes nothing of the result
    np.testing.assert_array_equal(gm.means_, ref.means_)
    assert gm.lower_bounds_ == ref.lower_bounds_
    # the parameters after an iteration's M-step: the next pass starts from them, so
    # the last iteration's means are the fitted ones (of whichever run won)
    finals = [seen[6][2], seen[13][2]]
    assert any(np.array_equal(m, gm.means_) for m in finals)
    # lower bounds passed are those recorded
    run = [s[1] for s in seen[7:]] if np.array_equal(finals[1], gm.means_) else [s[1] for s in seen[:7]]
    np.testing.assert_allclose(run, np.asarray(gm.lower_bounds_, dtype=float))


def test_callback_returning_true_stops_the_fit(X):
    calls = []

    def stop_at_4(it, lb, model):
        calls.append(it)
        return it == 4

    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no ConvergenceWarning when the user stops
        gm = _strict(n_init=3, callback=stop_at_4).fit(X)
    assert calls == [1, 2, 3, 4]   # no further initialisations either
    assert gm.n_iter_ == 4
    assert gm.converged_ is False
    assert len(gm.lower_bounds_) == 4
    gm.predict(X)


def test_keyboard_interrupt_leaves_the_last_complete_iteration(X):
    def interrupt_at_3(it, lb, model):
        if it == 3:
            raise KeyboardInterrupt

    ref = _strict(max_iter=3)
    with pytest.warns(Warning):
        ref.fit(X)
    gm = _strict(callback=interrupt_at_3)
    with pytest.warns(FitInterruptedWarning, match="last complete EM iteration"):
        with pytest.raises(KeyboardInterrupt):
            gm.fit(X)
    assert gm.n_iter_ == 3
    assert gm.converged_ is False
    np.testing.assert_array_equal(gm.means_, ref.means_)
    np.testing.assert_array_equal(gm.covariances_, ref.covariances_)
    np.testing.assert_array_equal(gm.precisions_cholesky_, ref.precisions_cholesky_)
    assert gm.lower_bounds_ == ref.lower_bounds_
    assert gm.lower_bound_ == ref.lower_bound_
    np.testing.assert_array_equal(gm.predict(X), ref.predict(X))


def test_keyboard_interrupt_in_a_pass_keeps_the_previous_iteration(X, monkeypatch):
    gm = _strict(n_init=2)
    real = GaussianMixture._em_step
    count = {"n": 0}

    def pass_then_interrupt(self, *a, **k):
        count["n"] += 1
        if count["n"] == 100 + 5:   # 5th pass of the second initialisation
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(GaussianMixture, "_em_step", pass_then_interrupt)
    with pytest.warns(FitInterruptedWarning), pytest.raises(KeyboardInterrupt):
        gm.fit(X)
    # the first run (100 iterations) beats the second after 4
    assert gm.n_iter_ in (4, 100)
    assert gm.converged_ is False
    assert len(gm.lower_bounds_) == gm.n_iter_
    gm.score(X)


def test_keyboard_interrupt_before_any_iteration_leaves_unfitted(X, monkeypatch):
    def interrupt(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(GaussianMixture, "_em_step", interrupt)
    gm = _strict()
    with pytest.warns(FitInterruptedWarning, match="not fitted"), pytest.raises(KeyboardInterrupt):
        gm.fit(X)
    assert not hasattr(gm, "means_")
    assert not hasattr(gm, "converged_")


def test_progress_bar_counts_every_iteration(X, monkeypatch):
    tqdm_auto = pytest.importorskip("tqdm.auto")
    bars = []

    class Recording(tqdm_auto.tqdm):
        def close(self):
            if not self.disable:   # tqdm closes again when collected
                bars.append((self.desc, self.n, self.total))
            super().close()

    monkeypatch.setattr(tqdm_auto, "tqdm", Recording)
    GaussianMixture(3, random_state=0, n_init=2, max_iter=50, progress=True).fit(X)
    # converged runs jump to the end of their share
    assert bars == [("GaussianMixture", 100, 100)]
    bars.clear()
    GaussianMixtureSelection(n_components=[1, 2], covariance_types=("full", "diag"), random_state=0,
                             progress=True).fit(X)
    assert bars == [("GaussianMixtureSelection", 4, 4)]   # the candidate fits show no bar


def test_progress_without_tqdm_warns_and_fits(X, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *a, **k):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    with pytest.warns(UserWarning, match="needs tqdm"):
        gm = GaussianMixture(2, random_state=0, progress=True).fit(X)
    assert gm.converged_
