"""The compiled EM iteration (fastgmm.kernels._emrun, families._gaussian_runner) against the Python one.

The engine steps a plain GaussianMixture fit with the compiled iteration; it is built from the same
compiled pieces in the same order as GaussianMixture._em_step, so a fit must give the same bits with it
and without it (the Python path, forced here by a GaussianMixture whose _em_runner returns None).
"""

import numpy as np
import pytest
from conftest import needs_openmp

import fastgmm
from fastgmm import GaussianMixture
from fastgmm.families import _gaussian_runner
from fastgmm.families._gaussian_mixture import GaussianMixture as _GM
from fastgmm.families._mclust import MODELS

ATTRS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _python_path(monkeypatch):
    monkeypatch.setattr(_GM, "_em_runner", lambda self, *args: None)


def _data(n=60, d=3, seed=0, offset=0.0):
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=4.0, size=(3, d))
    X = centres[np.arange(n) % 3] + rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d)
    return X + offset


def _fit_both(monkeypatch, X, **kw):
    compiled = GaussianMixture(**kw).fit(X)
    with monkeypatch.context() as m:
        _python_path(m)
        python = GaussianMixture(**kw).fit(X)
    return compiled, python


def _assert_same(a, b):
    for name in ATTRS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.n_iter_ == b.n_iter_
    assert a.lower_bounds_ == b.lower_bounds_


@pytest.mark.parametrize("model", MODELS + ("full", "tied", "diag", "spherical"))
def test_every_model_gives_the_python_paths_bits(monkeypatch, model):
    X = _data()
    a, b = _fit_both(monkeypatch, X, n_components=3, covariance_type=model, random_state=0, tol=1e-8,
                     max_iter=60)
    _assert_same(a, b)


@pytest.mark.parametrize("model", ("VVV", "EVE", "VEI", "EEE", "spherical"))
@pytest.mark.parametrize("shape", [(40, 1, 2), (30, 4, 1), (25, 2, 5)], ids=["D=1", "K=1", "K=5"])
def test_hard_shapes_give_the_python_paths_bits(monkeypatch, model, shape):
    n, d, k = shape
    X = _data(n, d, seed=1, offset=1e4)      # far from the origin too
    a, b = _fit_both(monkeypatch, X, n_components=k, covariance_type=model, random_state=1, max_iter=40)
    _assert_same(a, b)


@pytest.mark.parametrize("model", ("VVV", "VVE", "EEI", "tied"))
def test_sample_weights_give_the_python_paths_bits(monkeypatch, model):
    X = _data(50, 3, seed=2)
    w = np.random.RandomState(3).uniform(0.0, 3.0, size=X.shape[0])
    w[::7] = 0.0
    kw = dict(n_components=3, covariance_type=model, random_state=2, max_iter=50)
    a = GaussianMixture(**kw).fit(X, sample_weight=w)
    with monkeypatch.context() as m:
        _python_path(m)
        b = GaussianMixture(**kw).fit(X, sample_weight=w)
    _assert_same(a, b)


def test_many_slots_give_the_python_paths_bits(monkeypatch):
    # Several chunks and slots of the ordered reduction in the compiled pass.
    X = _data(3000, 5, seed=4)
    a, b = _fit_both(monkeypatch, X, n_components=4, covariance_type="full", random_state=4, max_iter=15)
    _assert_same(a, b)


@needs_openmp
def test_thread_count_does_not_change_the_compiled_fit():
    X = _data(3000, 5, seed=5)
    fits = [GaussianMixture(4, covariance_type="VEV", random_state=5, max_iter=15, n_threads=t).fit(X)
            for t in (1, 2)]
    _assert_same(*fits)


def test_the_compiled_step_is_used_for_a_plain_fit(monkeypatch):
    made = []
    original = _gaussian_runner.runner_for

    def spy(*args):
        made.append(original(*args))
        return made[-1]
    monkeypatch.setattr("fastgmm.families._gaussian_mixture.runner_for", spy)
    GaussianMixture(2, random_state=0, max_iter=5).fit(_data())
    assert made and made[0] is not None


@pytest.mark.parametrize("case", ["float32", "callback", "on_degenerate", "frozen", "noise", "prior", "nan"])
def test_the_python_path_where_the_compiled_step_does_not_apply(monkeypatch, case):
    X = _data()
    kw = dict(n_components=2, random_state=0, max_iter=5)
    if case == "float32":
        X = X.astype(np.float32)
    elif case == "callback":
        kw["callback"] = lambda *args: False
    elif case == "on_degenerate":
        kw["on_degenerate"] = "reinit"
    elif case == "frozen":
        kw.update(means_init=X[:2], frozen=["means"])
    elif case == "noise":
        kw["noise"] = "auto"
    elif case == "prior":
        kw["prior"] = "default"
    else:
        X[3, 1] = np.nan
        kw["nan_policy"] = "marginalize"
    steps = []
    monkeypatch.setattr(_gaussian_runner.Runner, "em_step", lambda self, *a: steps.append(1))
    GaussianMixture(**kw).fit(X)
    assert steps == []


def test_a_failing_iteration_raises_the_python_paths_error(monkeypatch):
    # The start is given (no M-step before the loop); the first iteration puts four identical rows in
    # component 1, whose covariance is then singular (no regularisation).
    X = np.array([[0.0, 0.0], [1.0, 0.3], [0.2, 1.0], [9.0, 9.0], [9.0, 9.0], [9.0, 9.0], [9.0, 9.0]])
    kw = dict(n_components=2, covariance_type="full", reg_covar=0.0, max_iter=50, weights_init=[0.5, 0.5],
              means_init=[[0.4, 0.4], [9.0, 9.0]], precisions_init=np.array([np.eye(2), np.eye(2)]))
    raised = []
    runner_step = _gaussian_runner.Runner.em_step

    def watched(self, *args):
        try:
            return runner_step(self, *args)
        except ValueError:
            raised.append(1)
            raise
    with monkeypatch.context() as m:
        m.setattr(_gaussian_runner.Runner, "em_step", watched)
        with pytest.raises(ValueError) as compiled:
            GaussianMixture(**kw).fit(X)
    assert raised == [1]         # the compiled step stopped, the Python one raised
    with monkeypatch.context() as m:
        _python_path(m)
        with pytest.raises(ValueError) as python:
            GaussianMixture(**kw).fit(X)
    assert str(compiled.value) == str(python.value)


def test_fitted_attributes_are_the_last_iterate_and_stay_put():
    X = _data()
    gm = GaussianMixture(3, covariance_type="VEV", random_state=0, max_iter=30).fit(X)
    before = {name: getattr(gm, name).copy() for name in ATTRS}
    GaussianMixture(3, covariance_type="VEV", random_state=1, max_iter=30).fit(X)   # another fit's runner
    for name in ATTRS:
        np.testing.assert_array_equal(getattr(gm, name), before[name], err_msg=name)


@pytest.mark.parametrize("model", ("VVV", "EVE", "VEI", "EEE", "spherical"))
def test_the_score_pass_gives_the_loglik_and_icl_entropy(model):
    # Runner.score: sum_i log p(x_i) and -sum_ik r_ik log r_ik from one statistics pass (G . W - loglik),
    # against the E-step's per-row outputs.
    X = _data(80, 3, seed=6, offset=50.0)
    gm = GaussianMixture(3, covariance_type=model, random_state=6, max_iter=20).fit(X)
    params = gm._get_parameters()
    runner = _gaussian_runner.runner_for(gm, X, None, params, 1, None)
    loglik, entropy = runner.score(params)
    row_ll, _, resp = gm._predict_outputs(X, row_ll=True, resp=True)[:3]
    rlogr = np.where(resp > 0, resp * np.log(np.where(resp > 0, resp, 1.0)), 0.0)
    np.testing.assert_allclose(loglik, row_ll.sum(), rtol=1e-12)
    np.testing.assert_allclose(entropy, -rlogr.sum(), rtol=1e-9, atol=1e-11 * abs(loglik))


def test_a_selection_candidate_is_scored_by_its_fit(monkeypatch):
    # The sweep takes each candidate's log-likelihood and ICL entropy from its fit's last pass: the same
    # criteria as the E-step's outputs give.
    X = _data(60, 2, seed=7)
    scored = []
    score = _gaussian_runner.Runner.score
    monkeypatch.setattr(_gaussian_runner.Runner, "score", lambda self, p: scored.append(1) or score(self, p))
    sel = fastgmm.GaussianMixtureSelection(n_components=(2, 3), covariance_types=("VVV", "EVE"),
                                           init_params="hc", random_state=0).fit(X)
    assert len(scored) == 4
    r = sel.results_
    for i, (ct, k) in enumerate(zip(r["covariance_type"], r["n_components"])):
        gm = sel.estimators_[(ct, k)]
        np.testing.assert_allclose(r["bic"][i], gm.bic(X), rtol=1e-10)
        resp = gm.predict_proba(X)
        rlogr = np.where(resp > 0, resp * np.log(np.where(resp > 0, resp, 1.0)), 0.0)
        np.testing.assert_allclose(r["icl"][i], gm.bic(X) - 2 * rlogr.sum(), rtol=1e-9)


def _label_start(labels, calls=None):
    def init(X, n_components, random_state):
        if calls is not None:
            calls.append(1)
        return labels
    return init


def _python_init_and_path(m):
    _python_path(m)
    m.setattr("fastgmm.families._gaussian_mixture.initial_parameters", lambda *args: None)


@pytest.mark.parametrize("model", ("VVV", "EVE", "VVE", "VEI", "EEE", "EEV", "tied", "diag", "spherical"))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_the_compiled_start_from_labels_gives_the_python_paths_bits(monkeypatch, model, weighted):
    X = _data(45, 3, seed=8, offset=-300.0)
    w = np.random.RandomState(9).uniform(0.5, 2.0, size=X.shape[0]) if weighted else None
    labels = np.arange(X.shape[0]) % 3
    kw = dict(n_components=3, covariance_type=model, max_iter=30)
    calls, made = [], []
    compiled_start = _gaussian_runner.initial_parameters
    with monkeypatch.context() as m:
        m.setattr("fastgmm.families._gaussian_mixture.initial_parameters",
                  lambda *args: made.append(compiled_start(*args)) or made[-1])
        a = GaussianMixture(init_params=_label_start(labels, calls), **kw).fit(X, sample_weight=w)
    with monkeypatch.context() as m:
        _python_init_and_path(m)
        b = GaussianMixture(init_params=_label_start(labels), **kw).fit(X, sample_weight=w)
    _assert_same(a, b)
    assert len(made) == 1 and made[0] is not None    # the start was the compiled one
    assert calls == [1]                              # the callable is called once
    assert "_initial_runner" not in vars(a)          # the loop took the start's runner


def test_the_compiled_start_from_labels_raises_the_python_paths_error(monkeypatch):
    # A part of one row and no regularisation: its covariance is singular at the start.
    X = _data(30, 2, seed=10)
    labels = np.r_[0, np.ones(29, dtype=int)]
    kw = dict(n_components=2, covariance_type="VVV", reg_covar=0.0, init_params=_label_start(labels))
    with pytest.raises(ValueError) as compiled:
        GaussianMixture(**kw).fit(X)
    with monkeypatch.context() as m:
        _python_init_and_path(m)
        with pytest.raises(ValueError) as python:
            GaussianMixture(**kw).fit(X)
    assert str(compiled.value) == str(python.value)


def test_a_source_fit_makes_no_compiled_start_on_its_sample(monkeypatch, tmp_path):
    # Out-of-core X is initialised on an in-memory sample of its rows: the compiled start (whose runner the
    # loop would take over) must not be made there, or the loop would fit the sample.
    X = _data(200, 2, seed=11)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    started = []
    monkeypatch.setattr("fastgmm.families._gaussian_mixture.initial_parameters",
                        lambda *args: started.append(1))
    labels = np.arange(X.shape[0]) % 2
    gm = GaussianMixture(2, init_params=_label_start(labels), max_iter=5).fit(mm)
    assert started == []
    assert gm.n_samples_seen_ == X.shape[0]


def test_the_compiled_core_refuses_labels_out_of_range():
    # The labels index the components' sums in the kernel: one outside [-1, K) is an error, not a write
    # outside them (the callable's labels are checked before; this is the core's own guard).
    X = _data(20, 2, seed=12)
    gm = GaussianMixture(2, max_iter=1).fit(X)
    runner = _gaussian_runner.runner_for(gm, X, None, gm._get_parameters(), 1, None)
    with pytest.raises(ValueError, match="outside"):
        runner._core.init_labels(np.full(X.shape[0], 2, dtype=np.int64), X.mean(axis=0))
