"""One conformance suite for every mixture estimator: the engine's capabilities are written once, above
the family seam, so every family must pass the same checks. Adding a family adds one entry to FAMILIES.

Each check compares two routes to the same model (weights vs repeated rows, omit vs the complete rows,
memmap/Dask vs in memory, saved vs loaded, 1 vs 2 threads) or states a property of online EM and frozen
parameters.
"""

import numpy as np
import pytest

import fastgmm
from conftest import mixture_data, needs_openmp

# Short fits on small data: whether EM converged is not what these checks are about.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:fastgmm.engine._base")


def _continuous(n, seed):
    X, _ = mixture_data(n, 2, 3, seed)
    return X


def _binary(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(2, size=n)
    p = np.array([[0.9, 0.8, 0.2, 0.1], [0.1, 0.3, 0.8, 0.9]])
    return (rng.random((n, 4)) < p[y]).astype(float)


def _counts(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(2, size=n)
    lam = np.array([[1.0, 6.0, 2.0], [7.0, 1.0, 4.0]])
    return rng.poisson(lam[y]).astype(float)


def _codes(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(2, size=n)
    X = np.empty((n, 3))
    for d in range(3):
        p = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])[y]
        X[:, d] = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return X


# name: (class, keyword arguments, data maker)
FAMILIES = {
    "gaussian": (fastgmm.GaussianMixture, {"n_components": 3}, _continuous),
    "bayesian": (fastgmm.BayesianGaussianMixture, {"n_components": 3}, _continuous),
    "student-t": (fastgmm.StudentTMixture, {"n_components": 3}, _continuous),
    "bernoulli": (fastgmm.BernoulliMixture, {"n_components": 2}, _binary),
    "poisson": (fastgmm.PoissonMixture, {"n_components": 2}, _counts),
    "categorical": (fastgmm.CategoricalMixture, {"n_components": 2}, _codes),
}
names = pytest.mark.parametrize("name", list(FAMILIES))


def _make(name, **kw):
    cls, base, _ = FAMILIES[name]
    return cls(**{**base, "random_state": 0, **kw})


def _data(name, n=600, seed=0):
    return FAMILIES[name][2](n, seed)


def _params(model):
    """The fitted parameters as a flat list of float64 arrays (categorical tables concatenated)."""
    return [np.asarray(np.hstack(p) if isinstance(p, list) else p, dtype=np.float64)
            for p in model._get_parameters()]


def _assert_same_model(a, b, rtol):
    for pa, pb in zip(_params(a), _params(b)):
        np.testing.assert_allclose(pa, pb, rtol=rtol, atol=rtol)


def _warm_copy(model, name, **kw):
    """An estimator that continues from ``model``'s parameters (warm start)."""
    other = _make(name, warm_start=True, **kw)
    other.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_") and not k.startswith("_")})
    return other


@names
def test_integer_weights_are_repeated_rows(name):
    X = _data(name)
    start = _make(name, max_iter=2).fit(X)
    w = np.random.default_rng(1).integers(0, 3, size=X.shape[0])
    weighted = _warm_copy(start, name, max_iter=5, tol=0).fit(X, sample_weight=w)
    repeated = _warm_copy(start, name, max_iter=5, tol=0).fit(np.repeat(X, w, axis=0))
    _assert_same_model(weighted, repeated, 1e-8)


@names
def test_omit_is_the_fit_on_the_complete_rows(name):
    X = _data(name)
    Xn = X.copy()
    Xn[::7, 1] = np.nan
    omitted = _make(name, nan_policy="omit").fit(Xn)
    complete = _make(name).fit(X[~np.isnan(Xn).any(axis=1)])
    assert omitted.n_omitted_ == int(np.isnan(Xn).any(axis=1).sum())
    _assert_same_model(omitted, complete, 0)


@names
def test_nan_is_an_error_that_names_nan_policy(name):
    X = _data(name)
    X[3, 0] = np.nan
    with pytest.raises(ValueError, match="nan_policy|NaN"):
        _make(name).fit(X)


@names
def test_memmap_is_the_fit_in_memory(name, tmp_path):
    X = _data(name)
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    mm[:] = X
    mm.flush()
    streamed = _make(name, block_rows=128).fit(mm)
    in_memory = _make(name).fit(X)
    _assert_same_model(streamed, in_memory, 1e-9)
    np.testing.assert_array_equal(streamed.predict(mm), in_memory.predict(X))


@names
def test_dask_is_the_fit_in_memory(name):
    da = pytest.importorskip("dask.array")
    X = _data(name)
    distributed = _make(name).fit(da.from_array(X, chunks=150))
    in_memory = _make(name).fit(X)
    _assert_same_model(distributed, in_memory, 1e-9)
    lazy = distributed.predict(da.from_array(X, chunks=150))
    np.testing.assert_array_equal(lazy.compute(), in_memory.predict(X))


@names
def test_save_load_predicts_bitwise(name, tmp_path):
    X = _data(name)
    model = _make(name).fit(X)
    model.save(tmp_path / "m.npz")
    back = fastgmm.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.n_samples_seen_ == model.n_samples_seen_


@names
@needs_openmp
def test_thread_count_does_not_change_the_fit(name, every_thread):
    X = _data(name, n=3000)
    one = _make(name, n_threads=1).fit(X)
    two = _make(name, n_threads=2).fit(X)
    _assert_same_model(one, two, 0)


@names
def test_float32_fit_is_close_to_float64(name):
    X = _data(name)
    m32 = _make(name).fit(X.astype(np.float32))
    m64 = _make(name).fit(X)
    assert m32.weights_.dtype == np.float32
    assert abs(float(m32.lower_bound_) - float(m64.lower_bound_)) < 1e-3 * abs(float(m64.lower_bound_))


@names
def test_partial_fit_stream_converges_to_the_batch_fit(name):
    X = _data(name, n=4000, seed=3)
    batch = _make(name).fit(X)
    online = _make(name)
    for _ in range(3):
        for part in np.array_split(X, 20):
            online.partial_fit(part)
    assert online.n_steps_ == 60
    assert online.n_samples_seen_ == 3 * X.shape[0]
    # the online model explains the data about as well as EM on all of it
    assert online.score(X) > batch.score(X) - 0.02 * abs(batch.score(X))


@names
def test_small_batch_after_a_large_fit_moves_the_model_little(name):
    X = _data(name, n=20000, seed=4)
    model = _make(name).fit(X)
    before = np.asarray(model.weights_, dtype=np.float64).copy()
    model.partial_fit(X[:20])
    # step (20 / (20000 + 40)) ** 0.7 = 0.0130: no weight moves by more than that
    assert np.max(np.abs(model.weights_ - before)) <= 0.0131
    assert model.n_samples_seen_ == 20020


def test_online_step_rule():
    from fastgmm.engine._online import online_step

    # equal batches from scratch: Liang & Klein's (t + offset) ** -decay
    for t in range(1, 6):
        assert online_step(50, 50 * t, 0.7, 2.0) == pytest.approx((t + 2.0) ** -0.7)
    # 100 rows after 100,000: small
    assert online_step(100, 100_000, 0.7, 2.0) < 0.01


@names
def test_frozen_weights_stay_at_their_initial_values(name):
    X = _data(name)
    K = FAMILIES[name][1]["n_components"]
    w = np.linspace(1, 2, K)
    w /= w.sum()
    if name == "bayesian":
        start = _make(name, max_iter=0).fit(X)      # the initial posterior (max_iter=0 only initialises)
        model = _make(name, frozen=("weights",)).fit(X)
        np.testing.assert_array_equal(np.asarray(model.weight_concentration_),
                                      np.asarray(start.weight_concentration_))
        return
    model = _make(name, weights_init=w, frozen=("weights",)).fit(X)
    np.testing.assert_array_equal(model.weights_, w)


@pytest.mark.parametrize("name", ["gaussian", "student-t"])
def test_frozen_means_are_bitwise_means_init(name):
    X = _data(name)
    M = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 4.0]])
    model = _make(name, means_init=M, frozen=("means",)).fit(X)
    np.testing.assert_array_equal(model.means_, M)
    free = _make(name, means_init=M).fit(X)
    assert not np.array_equal(free.means_, M)
    # the covariances are the M-step's about the frozen means: a higher likelihood than keeping them all fixed
    assert model.lower_bound_ <= free.lower_bound_ + 1e-9


@pytest.mark.parametrize("name", ["bernoulli", "poisson"])
def test_frozen_discrete_means(name):
    X = _data(name)
    D = X.shape[1]
    M = np.full((2, D), 0.5) if name == "bernoulli" else np.full((2, D), 3.0)
    M[1] *= 1.5 if name == "poisson" else 1.0
    M[1, 0] = 0.7 if name == "bernoulli" else M[1, 0]
    model = _make(name, means_init=M, frozen=("means",)).fit(X)
    np.testing.assert_array_equal(model.means_, M)


@names
def test_frozen_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="frozen"):
        _make(name, frozen=("nonsense",)).fit(_data(name))


def test_selection_partial_fit_chooses_on_the_first_batch_then_continues_the_chosen_model():
    X = _continuous(800, 5)
    first = fastgmm.GaussianMixtureSelection(n_components=range(1, 4), random_state=0).partial_fit(X)
    chosen = fastgmm.GaussianMixtureSelection(n_components=range(1, 4), random_state=0).fit(X)
    assert first.best_params_ == chosen.best_params_
    before = first.best_estimator_.means_.copy()
    first.partial_fit(X[:50])
    assert first.best_estimator_.n_steps_ == 1
    assert not np.array_equal(first.best_estimator_.means_, before)


_NOT_COUNTS = ("scikit-learn feeds this check uniform floats in [0, 1) whatever the input tags, which are not "
               "counts or codes; test_integer_weights_are_repeated_rows above checks the same equivalence on "
               "valid data")


@names
def test_check_estimator(name):
    """scikit-learn's estimator checks (check_estimator) pass for every family."""
    sklearn_checks = pytest.importorskip("sklearn.utils.estimator_checks")
    import warnings

    expected_failed = {}
    kw = {}
    if name == "bernoulli":
        kw = {"binarize": 0.5}   # the checks' data are real numbers: binarize reads them as X > 0.5
    if name in ("poisson", "categorical"):
        expected_failed = {"check_sample_weight_equivalence_on_dense_data": _NOT_COUNTS}
    cls, base, _ = FAMILIES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "does not inherit from BaseEstimator", convergence on tiny data
        results = sklearn_checks.check_estimator(cls(**kw), on_fail=None, expected_failed_checks=expected_failed)
    failed = [(r["check_name"], str(r["exception"])[:300]) for r in results if r["status"] == "failed"]
    assert failed == []


def test_every_family_is_in_the_cli_and_the_hostile_battery():
    """A family added here must be reachable from the command line and face the hostile-input battery."""
    from fastgmm.cli._main import MODELS
    from test_hostile import ESTIMATORS

    assert set(MODELS) == set(FAMILIES)
    assert {FAMILIES[n][0].__name__ for n in FAMILIES} <= set(ESTIMATORS)


@names
def test_callable_init_params_labels_are_their_one_hot_responsibilities(name):
    X = _data(name)
    K = FAMILIES[name][1]["n_components"]
    seen = {}

    def labels(Xi, n_components, random_state):
        seen["args"] = (Xi.shape, n_components, type(random_state).__name__)
        return np.arange(Xi.shape[0]) % n_components

    def one_hot(Xi, n_components, random_state):
        return np.eye(n_components)[np.arange(Xi.shape[0]) % n_components]

    from_labels = _make(name, init_params=labels, max_iter=0).fit(X)
    from_resp = _make(name, init_params=one_hot, max_iter=0).fit(X)
    assert seen["args"] == (X.shape, K, "RandomState")
    _assert_same_model(from_labels, from_resp, 1e-12)
    assert _make(name, init_params=labels).fit(X).converged_ in (True, False)


@names
def test_callable_init_params_that_returns_nonsense_is_a_clear_error(name):
    X = _data(name)
    with pytest.raises(ValueError, match="init_params, a callable, must return"):
        _make(name, init_params=lambda Xi, k, rs: np.zeros((3, 3))).fit(X)
    with pytest.raises(ValueError, match="labels from"):
        _make(name, init_params=lambda Xi, k, rs: np.full(Xi.shape[0], k)).fit(X)


def test_callable_init_params_gives_the_m_step_of_its_labels():
    X = _continuous(600, 7)
    labels = (X[:, 0] > np.median(X[:, 0])).astype(int)
    gm = fastgmm.GaussianMixture(2, init_params=lambda Xi, k, rs: labels, max_iter=0).fit(X)
    np.testing.assert_allclose(gm.means_, [X[labels == 0].mean(axis=0), X[labels == 1].mean(axis=0)], rtol=1e-10)


def _flat(d):
    """The numbers of a statistics dict, flattened in key order (nested dicts included)."""
    out = []
    for k in sorted(d):
        v = d[k]
        if isinstance(v, str):
            continue      # the covariance type
        out.extend(_flat(v) if isinstance(v, dict) else [np.ravel(np.asarray(v, dtype=np.float64))])
    return out


@names
def test_statistics_add_and_round_trip_through_a_plain_dict(name):
    X = _data(name)
    model = _make(name).fit(X)
    params = model._get_parameters()
    halves = [model._statistics(part, None, params, 1) for part in (X[:300], X[300:])]
    whole = model._statistics(X, None, params, 1)
    total = halves[0] + halves[1]
    for a, b in zip(_flat(total.to_dict()), _flat(whole.to_dict())):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-9)
    back = type(whole).from_dict(whole.to_dict())
    for a, b in zip(_flat(back.to_dict()), _flat(whole.to_dict())):
        np.testing.assert_array_equal(a, b)


def test_selection_predicts_dask_lazily():
    da = pytest.importorskip("dask.array")
    X = _continuous(600, 8)
    sel = fastgmm.GaussianMixtureSelection(n_components=range(1, 4), random_state=0).fit(X)
    lazy = sel.predict_proba(da.from_array(X, chunks=200))
    assert hasattr(lazy, "compute")
    np.testing.assert_array_equal(lazy.compute(), sel.predict_proba(X))


@names
def test_statistics_from_parameters_inverts_the_m_step(name):
    """The inverse M-step online EM blends into: its M-step gives back the fitted parameters."""
    from fastgmm.engine._online import FitData

    X = _data(name)
    model = _make(name).fit(X)
    params = model._get_parameters()
    stats = model._statistics_from_parameters(params).scaled(model.n_samples_seen_)
    back = model._m_step(stats, params, FitData(X, None, 1, None))
    for a, b in zip(back, params):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        assert np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))) < 1e-12
