"""Hostile input at every public entry point of every estimator: a correct result or a clear error.

The matrix is (estimator) x (input) x (entry point). Each input says what
every entry point must do with it:

``"error"``
    raise ValueError or TypeError (NotFittedError is a ValueError) whose
    message names the problem: at least a sentence, never an internal
    IndexError, LinAlgError, ZeroDivisionError or a crash;
``"same"``
    return exactly what the same numbers in a plain C-contiguous float array
    give (memory layout, byte order, writeability and integer dtypes do not
    change a result);
``"finite"``
    return a result without NaN (infinite log-densities allowed), or raise
    as for "error" (degenerate data: the estimator may refuse it, clearly).

Fit-side inputs go to ``fit`` (and ``partial_fit``, ``fit_predict``);
predict-side inputs to a model fitted on clean data (``predict``,
``predict_proba``, ``score_samples``, ``score``, ``bic``, ``aic``, and
``impute`` where it exists). Families whose data are not real numbers
(binary, counts, categories) bring their own clean data; the inputs are
built from it.
"""

import re
import warnings

import numpy as np
import pytest

import fastgmm

# ---------------------------------------------------------------------------
# estimators: (factory, clean data maker)
# ---------------------------------------------------------------------------


def _real(rng, n=120, d=3):
    centres = np.array([[0.0] * d, [6.0] * d, [-6.0] + [6.0] * (d - 1)])
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))


def _binary(rng, n=120, d=5):
    p = np.where(rng.integers(0, 2, (n, 1)) == 1, 0.85, 0.15)
    return (rng.random((n, d)) < p).astype(np.float64)


def _counts(rng, n=120, d=3):
    rates = np.where(rng.integers(0, 2, (n, 1)) == 1, 2.0, 9.0)
    return rng.poisson(rates, (n, d)).astype(np.float64)


def _categories(rng, n=120, d=3):
    return rng.integers(0, 4, (n, d)).astype(np.float64)


def _estimators():
    specs = {
        "GaussianMixture": (lambda: fastgmm.GaussianMixture(3, random_state=0), _real),
        "GaussianMixture-omit": (lambda: fastgmm.GaussianMixture(3, nan_policy="omit", random_state=0), _real),
        "GaussianMixture-marginalize": (
            lambda: fastgmm.GaussianMixture(3, nan_policy="marginalize", random_state=0), _real),
        "GaussianMixtureSelection": (
            lambda: fastgmm.GaussianMixtureSelection(n_components=[1, 2, 3], covariance_types=["full", "diag"],
                                                     random_state=0), _real),
    }
    optional = {
        "BayesianGaussianMixture": (lambda cls: cls(n_components=3, random_state=0), _real),
        "StudentTMixture": (lambda cls: cls(3, random_state=0), _real),
        "BernoulliMixture": (lambda cls: cls(3, random_state=0), _binary),
        "PoissonMixture": (lambda cls: cls(3, random_state=0), _counts),
        "CategoricalMixture": (lambda cls: cls(3, random_state=0), _categories),
    }
    for name, (make, data) in optional.items():
        cls = getattr(fastgmm, name, None)
        if cls is not None:
            specs[name] = ((lambda make=make, cls=cls: make(cls)), data)
    return specs


ESTIMATORS = _estimators()


def _with_value(X, value, where=(0, 0)):
    X = X.copy()
    X[where] = value
    return X


def _pandas_with_text(X):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    df["c0"] = ["a"] * len(df)
    return df


def _sparse(X):
    sp = pytest.importorskip("scipy.sparse")
    return sp.csr_matrix(X)


def _big_endian(X):
    return X.astype(X.dtype.newbyteorder(">"))


def _read_only(X):
    X = X.copy()
    X.flags.writeable = False
    return X


def _strided(X):
    wide = np.repeat(X, 2, axis=1)
    view = wide[:, ::2]
    assert not view.flags.c_contiguous
    return view


# (name, maker from clean X, {side: expectation}); "fit"/"predict" sides.
INPUTS = [
    ("empty", lambda X: X[:0], {"fit": "error", "predict": "error"}),
    ("no-features", lambda X: X[:, :0], {"fit": "error", "predict": "error"}),
    ("1-D", lambda X: X[:, 0], {"fit": "error", "predict": "error"}),
    ("3-D", lambda X: X[None], {"fit": "error", "predict": "error"}),
    ("scalar", lambda X: X[0, 0], {"fit": "error", "predict": "error"}),
    ("one-sample", lambda X: X[:1], {"fit": "error", "predict": "same"}),
    ("fewer-samples-than-components", lambda X: X[:2], {"fit": "error", "predict": "same"}),
    ("strings", lambda X: X.astype(str), {"fit": "error", "predict": "error"}),
    ("text-objects", lambda X: np.where(X > X.mean(), "a", "b").astype(object), {"fit": "error", "predict": "error"}),
    ("ragged-list", lambda X: [list(X[0]), list(X[1][:-1])] + [list(r) for r in X[2:]],
     {"fit": "error", "predict": "error"}),
    ("complex", lambda X: X + 1j, {"fit": "error", "predict": "error"}),
    ("sparse", _sparse, {"fit": "error", "predict": "error"}),
    ("pandas-text-column", _pandas_with_text, {"fit": "error", "predict": "error"}),
    ("plus-inf", lambda X: _with_value(X, np.inf), {"fit": "error", "predict": "error"}),
    ("minus-inf", lambda X: _with_value(X, -np.inf), {"fit": "error", "predict": "error"}),
    ("wrong-feature-count", lambda X: np.hstack([X, X[:, :1]]), {"predict": "error"}),
    ("float16", lambda X: X.astype(np.float16), {"fit": "finite", "predict": "finite"}),
    ("object-numbers", lambda X: X.astype(object), {"fit": "same", "predict": "same"}),
    ("list-of-lists", lambda X: X.tolist(), {"fit": "same", "predict": "same"}),
    ("fortran-order", np.asfortranarray, {"fit": "same", "predict": "same"}),
    ("strided-view", _strided, {"fit": "same", "predict": "same"}),
    ("read-only", _read_only, {"fit": "same", "predict": "same"}),
    ("big-endian", _big_endian, {"fit": "same", "predict": "same"}),
    ("int64", lambda X: X.astype(np.int64), {"fit": "finite", "predict": "finite"}),
    ("int8", lambda X: np.clip(X, -100, 100).astype(np.int8), {"fit": "finite", "predict": "finite"}),
    ("bool", lambda X: X > np.median(X), {"fit": "finite", "predict": "finite"}),
    ("huge", lambda X: X * 1e300, {"fit": "finite", "predict": "finite"}),
    ("tiny", lambda X: X * 1e-300, {"fit": "finite", "predict": "finite"}),
    ("far-from-origin", lambda X: X + 1e8, {"fit": "finite", "predict": "finite"}),
    ("constant-column", lambda X: _with_value(X, X[0, 0], (slice(None), 0)), {"fit": "finite", "predict": "finite"}),
    ("all-constant", lambda X: np.full_like(X, X[0, 0]), {"fit": "finite", "predict": "finite"}),
    ("duplicated-points", lambda X: np.repeat(X[:6], 20, axis=0), {"fit": "finite", "predict": "finite"}),
    ("two-distinct-points", lambda X: np.repeat(X[:2], 30, axis=0), {"fit": "finite", "predict": "finite"}),
]
NAN_INPUT = ("nan", lambda X: _with_value(X, np.nan, (1, 0)))

FIT_METHODS = ["fit", "fit_predict", "partial_fit"]
PREDICT_METHODS = ["predict", "predict_proba", "score_samples", "score", "bic", "aic", "impute"]


def _nan_expectation(estimator_name, side, method):
    if method == "impute":
        return "finite"          # what impute is for, whatever the policy
    if estimator_name.endswith("-omit") or estimator_name.endswith("-marginalize"):
        if side == "predict" and estimator_name.endswith("-omit"):
            return "error"       # "omit" drops rows at fit; prediction needs every value (or marginalize)
        return "finite"
    return "error"


def _cases():
    for est, (factory, _) in ESTIMATORS.items():
        has = {m for m in FIT_METHODS + PREDICT_METHODS if hasattr(factory(), m)}
        for name, make, sides in INPUTS + [(NAN_INPUT[0], NAN_INPUT[1], None)]:
            for side, methods in (("fit", FIT_METHODS), ("predict", PREDICT_METHODS)):
                for method in (m for m in methods if m in has):
                    expected = _nan_expectation(est, side, method) if sides is None else sides.get(side)
                    if expected is None:
                        continue
                    if est == "GaussianMixtureSelection" and name == "fewer-samples-than-components":
                        expected = "finite"   # the candidates with too many components are skipped
                    yield pytest.param(est, name, make, method, expected, id=f"{est}-{name}-{method}")


@pytest.fixture(scope="module")
def clean():
    """Clean data and a fitted model per estimator (fitted once)."""
    out = {}
    for name, (factory, data) in ESTIMATORS.items():
        X = data(np.random.default_rng(0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = factory().fit(X)
        out[name] = (X, model)
    return out


def _call(model, method, X):
    if method == "bic" or method == "aic" or method == "score":
        return np.asarray(getattr(model, method)(X))
    return getattr(model, method)(X)


def _outputs(model, method, X):
    """What a call returns, as arrays to compare (the fitted parameters for fit methods)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = _call(model, method, X)
    fitted = getattr(model, "best_estimator_", model)
    params = [np.asarray(getattr(fitted, a)) for a in ("weights_", "means_") if hasattr(fitted, a)]
    if method in ("fit", "partial_fit"):
        assert params, "a fitted model without weights_/means_"
        return params
    if method == "fit_predict":
        return [np.asarray(r)] + params
    return [np.asarray(r)]


def _check_clean_error(e):
    assert isinstance(e, (ValueError, TypeError)), f"{type(e).__name__} is not a clean error: {e}"
    # numpy's LinAlgError is a ValueError: raw, it is an internal failure, not a message for the user
    assert not isinstance(e, np.linalg.LinAlgError), f"internal error {type(e).__name__}: {e}"
    msg = str(e)
    assert len(msg) >= 20 and re.search(r"[A-Za-z]{3,}", msg), f"uninformative message: {msg!r}"


@pytest.mark.parametrize("estimator, input_name, make, method, expected", list(_cases()))
def test_hostile_input(clean, estimator, input_name, make, method, expected):
    factory, _ = ESTIMATORS[estimator]
    X_clean, fitted = clean[estimator]
    X_bad = make(X_clean)
    model = factory() if method in FIT_METHODS else fitted
    try:
        out = _outputs(model, method, X_bad)
    except Exception as e:     # noqa: BLE001 - the point is to classify every exception
        if expected == "same":
            pytest.fail(f"{method} raised {type(e).__name__} on {input_name}, which is the same numbers "
                        f"as clean data: {e}")
        _check_clean_error(e)
        return
    if expected == "error":
        pytest.fail(f"{method} accepted {input_name} input")
    for a in out:
        if a.dtype.kind == "f":
            assert not np.isnan(a).any(), f"{method} returned NaN on {input_name}"
    if expected == "same":
        reference = factory() if method in FIT_METHODS else fitted
        X_ref = np.ascontiguousarray(np.asarray(X_bad, dtype=np.float64).copy())
        ref = _outputs(reference, method, X_ref)
        assert len(ref) == len(out)
        for a, b in zip(out, ref):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
def test_bad_sample_weight_everywhere(clean, estimator):
    """Bad weights at fit, score, bic and aic: a ValueError/TypeError naming sample_weight."""
    factory, _ = ESTIMATORS[estimator]
    X, fitted = clean[estimator]
    n = X.shape[0]
    bad = {
        "negative": -np.ones(n), "nan": np.full(n, np.nan), "inf": np.full(n, np.inf),
        "all-zero": np.zeros(n), "wrong-length": np.ones(n + 1), "2-D": np.ones((n, 1)),
        "strings": np.array(["a"] * n), "sparse": None,
    }
    for name, w in bad.items():
        if name == "sparse":
            sp = pytest.importorskip("scipy.sparse")
            w = sp.csr_matrix(np.ones((1, n)))
        calls = [("fit", lambda w=w: factory().fit(X, sample_weight=w))]
        for method in ("score", "bic", "aic"):
            if not hasattr(fitted, method):
                continue
            calls.append((method, lambda w=w, method=method: getattr(fitted, method)(X, sample_weight=w)))
        for method, call in calls:
            with pytest.raises((ValueError, TypeError)) as info:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    call()
            _check_clean_error(info.value)
            assert "weight" in str(info.value).lower(), f"{estimator}.{method} {name}: {info.value}"


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
@pytest.mark.parametrize("n_samples", [0, -1, 2.5, "3", None])
def test_bad_sample_count(clean, estimator, n_samples):
    _, fitted = clean[estimator]
    with pytest.raises((ValueError, TypeError)) as info:
        fitted.sample(n_samples)
    _check_clean_error(info.value)


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
def test_unfitted_methods_say_fit_first(estimator):
    factory, data = ESTIMATORS[estimator]
    X = data(np.random.default_rng(1))
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        if not hasattr(factory(), method):
            continue
        with pytest.raises(ValueError, match="(?i)not fitted"):
            getattr(factory(), method)(X)
    with pytest.raises(ValueError, match="(?i)not fitted"):
        factory().sample(3)


# ---------------------------------------------------------------------------
# Dask inputs (the synchronous scheduler: what is checked is the input handling)
# ---------------------------------------------------------------------------

DASK_INPUTS = [
    ("1-D", lambda da, X: da.from_array(X[:, 0], chunks=40), "error"),
    ("3-D", lambda da, X: da.from_array(X[None], chunks=(1, 40, 3)), "error"),
    ("plus-inf", lambda da, X: da.from_array(_with_value(X, np.inf, (77, 1)), chunks=(40, 3)), "error"),
    ("nan", lambda da, X: da.from_array(_with_value(X, np.nan, (77, 1)), chunks=(40, 3)), "error"),
    ("complex", lambda da, X: da.from_array(X + 1j, chunks=(40, 3)), "error"),
    ("column-chunks", lambda da, X: da.from_array(X, chunks=(40, 1)), "finite"),
    ("float32", lambda da, X: da.from_array(X.astype(np.float32), chunks=(40, 3)), "finite"),
]


@pytest.fixture(scope="module")
def dask_sync():
    dask = pytest.importorskip("dask")
    pytest.importorskip("dask.array")
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
@pytest.mark.parametrize("input_name, make, expected", DASK_INPUTS, ids=[c[0] for c in DASK_INPUTS])
def test_dask_input_at_fit(dask_sync, estimator, input_name, make, expected):
    """A Dask array at fit: the estimators that stream it fit it or refuse bad blocks clearly; the
    others refuse Dask itself with a TypeError that says what to pass instead."""
    import dask.array as da

    factory, data = ESTIMATORS[estimator]
    if input_name == "nan" and estimator.endswith(("-omit", "-marginalize")):
        expected = "finite"        # what those policies are for
    X = data(np.random.default_rng(0))
    Xd = make(da, X)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = factory().fit(Xd)
    except Exception as e:     # noqa: BLE001 - classify every exception
        _check_clean_error(e)
        return
    assert expected != "error", f"{estimator} accepted a Dask array with {input_name}"
    fitted = getattr(model, "best_estimator_", model)
    assert np.all(np.isfinite(np.asarray(fitted.weights_)))


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
def test_dask_input_at_predict_with_the_wrong_feature_count(dask_sync, clean, estimator):
    import dask.array as da

    X, fitted = clean[estimator]
    with pytest.raises((ValueError, TypeError)) as info:
        np.asarray(fitted.predict(da.from_array(np.hstack([X, X[:, :1]]), chunks=(40, 4))))
    _check_clean_error(info.value)
