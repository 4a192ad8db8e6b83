"""Drop-in details around scikit-learn: its exception classes and messages, pandas
input as scikit-learn takes it, and the estimator protocol mixin
(fastgmm.utils._sklearn_compat.EstimatorProtocol) on a tiny estimator."""

import pickle
import warnings
import re
import subprocess
import sys
import textwrap
from numbers import Integral, Real

import numpy as np
import pytest

from fastgmm import GaussianMixture
from fastgmm.families._mclust import MODELS as MCLUST_MODELS
from fastgmm.utils import _validation as v
from fastgmm.utils._sklearn_compat import EstimatorProtocol

from conftest import mixture_data

sklearn = pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning  # noqa: E402
from sklearn.exceptions import NotFittedError as SkNotFittedError  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError as SkInvalidParameterError  # noqa: E402
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints  # noqa: E402


@pytest.fixture(scope="module")
def X():
    return mixture_data(120, 2, 2, 0)[0]


def _run(code):
    """Run ``code`` in a fresh interpreter (import order matters); return its stdout."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _sklearn_message(constraint, value, caller="GaussianMixture"):
    with pytest.raises(SkInvalidParameterError) as info:
        validate_parameter_constraints({"p": [constraint]}, {"p": value}, caller_name=caller)
    return str(info.value)


def _fastgmm_message(check, *args, **kw):
    with pytest.raises(v.InvalidParameterError) as info:
        check(*args, **kw)
    assert isinstance(info.value, SkInvalidParameterError)
    return str(info.value)


def _sorted_options(msg):
    """Option sets printed in set order (scikit-learn's) sorted, to compare messages."""
    return re.sub(r"\{([^}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", msg)


# ---------------------------------------------------------------------------
# InvalidParameterError: scikit-learn's class and message format
# ---------------------------------------------------------------------------

def test_invalid_parameter_error_has_sklearns_bases():
    assert issubclass(v.InvalidParameterError, ValueError)
    assert issubclass(v.InvalidParameterError, TypeError)
    assert v.sklearn_compatible(v.InvalidParameterError).__mro__[1] is v.InvalidParameterError
    assert issubclass(v.sklearn_compatible(v.InvalidParameterError), SkInvalidParameterError)


@pytest.mark.parametrize("constraint, check, value", [
    (Interval(Integral, 1, None, closed="left"), lambda x: v.check_scalar(x, "p", "int", low=1), 0),
    (Interval(Integral, 1, None, closed="left"), lambda x: v.check_scalar(x, "p", "int", low=1), 1.5),
    (Interval(Integral, 0, None, closed="left"), lambda x: v.check_scalar(x, "p", "int", low=0), -1),
    (Interval(Integral, 0, 5, closed="both"), lambda x: v.check_scalar(x, "p", "int", low=0, high=5), 6),
    (Interval(Real, 0, None, closed="left"), lambda x: v.check_scalar(x, "p", "real", low=0), -1),
    (Interval(Real, 0, None, closed="left"), lambda x: v.check_scalar(x, "p", "real", low=0), np.nan),
    (Interval(Real, 0, None, closed="left"), lambda x: v.check_scalar(x, "p", "real", low=0), np.inf),
    (Interval(Real, 0, None, closed="left"), lambda x: v.check_scalar(x, "p", "real", low=0), "a"),
    (Interval(Real, 0, None, closed="neither"),
     lambda x: v.check_scalar(x, "p", "real", low=0, low_open=True), 0.0),
    (Interval(Real, 0, 1, closed="right"),
     lambda x: v.check_scalar(x, "p", "real", low=0, high=1, low_open=True), 2.0),
    (Interval(Real, 0, 1, closed="neither"),
     lambda x: v.check_scalar(x, "p", "real", low=0, high=1, low_open=True, high_open=True), 1.0),
    (Interval(Real, None, None, closed="neither"), lambda x: v.check_scalar(x, "p", "real"), np.inf),
    (StrOptions({"full", "tied", "diag"}), lambda x: v.check_option(x, "p", {"full", "tied", "diag"}), "x"),
    (StrOptions({"full", "tied", "diag"}), lambda x: v.check_option(x, "p", {"full", "tied", "diag"}), 3),
    ("random_state", lambda x: v.check_random_state(x, name="p"), "a"),
    ("random_state", lambda x: v.check_random_state(x, name="p"), -1),
    ("random_state", lambda x: v.check_random_state(x, name="p"), 2**32),
    ("boolean", lambda x: v.check_bool(x, "p"), 1),
    ("verbose", lambda x: v.check_verbose(x, "p"), -1),
    ("verbose", lambda x: v.check_verbose(x, "p"), 0.5),
])
def test_messages_are_sklearns(constraint, check, value):
    ours = _fastgmm_message(check, value)
    theirs = _sklearn_message(constraint, value)
    assert _sorted_options(ours) == _sorted_options(theirs)


def test_allow_none_is_listed_last_as_sklearn():
    ours = _fastgmm_message(v.check_scalar, -1, "p", "int", low=1, allow_none=True)
    assert ours == _sklearn_message_multi([Interval(Integral, 1, None, closed="left"), None], -1)


def _sklearn_message_multi(constraints, value):
    with pytest.raises(SkInvalidParameterError) as info:
        validate_parameter_constraints({"p": constraints}, {"p": value}, caller_name="GaussianMixture")
    return str(info.value)


def test_estimator_name_and_detail():
    msg = _fastgmm_message(v.check_scalar, -1, "alpha", "real", low=0, estimator_name="BayesianMixture",
                           detail="It weights the prior.")
    assert msg == ("The 'alpha' parameter of BayesianMixture must be a float in the range [0.0, inf). "
                   "Got -1 instead. It weights the prior.")
    assert "KMeans" in _fastgmm_message(v.check_option, "x", "algo", {"lloyd"}, estimator_name="KMeans")
    assert "KMeans" in _fastgmm_message(v.check_random_state, "x", estimator_name="KMeans")


def test_generator_seed_says_what_to_pass():
    msg = _fastgmm_message(v.check_random_state, np.random.default_rng(0))
    assert msg.startswith("The 'random_state' parameter of GaussianMixture must be an int in the range")
    assert "numpy.random.RandomState(seed)" in msg


def test_valid_values_pass():
    v.check_scalar(3, "p", "int", low=1)
    v.check_scalar(np.int64(3), "p", "int", low=1)
    v.check_scalar(0, "p", "real", low=0)
    v.check_scalar(np.float32(0.5), "p", "real", low=0, high=1)
    v.check_scalar(None, "p", "int", low=1, allow_none=True)
    v.check_bool(np.True_, "p")
    v.check_verbose(True)
    v.check_verbose(2)
    v.check_n_threads(None)
    v.check_n_threads(-1)
    assert isinstance(v.check_random_state(2**32 - 1), np.random.RandomState)
    rs = np.random.RandomState(0)
    assert v.check_random_state(rs) is rs


@pytest.mark.parametrize("value", [0, 1.5, True])
def test_n_threads_message(value):
    msg = _fastgmm_message(v.check_n_threads, value)
    assert msg.startswith("The 'n_threads' parameter of GaussianMixture must be None, an int in the range "
                          f"[1, inf) or an int in the range (-inf, -1]. Got {value!r} instead. None uses")


SAME_AS_SKLEARN = [
    ("n_components", 0), ("n_components", 1.5), ("covariance_type", "foo"), ("tol", -1.0), ("tol", np.nan),
    ("reg_covar", -1), ("max_iter", -1), ("n_init", 0), ("init_params", "bar"), ("random_state", "x"),
    ("random_state", -1), ("verbose_interval", 0),
    ("warm_start", 1),
    ("verbose", -1),
]


@pytest.mark.parametrize("name, value", SAME_AS_SKLEARN)
def test_gaussian_mixture_parameter_errors_are_sklearns(X, name, value):
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    with pytest.raises(SkInvalidParameterError) as ours:
        GaussianMixture(**{name: value}).fit(X)
    with pytest.raises(SkInvalidParameterError) as theirs:
        SkGaussianMixture(**{name: value}).fit(X)
    want = str(theirs.value)
    if name == "init_params":       # fastgmm also offers mclust's start, "hc"
        want = want.replace("{", "{'hc', ", 1)
    if name == "covariance_type":   # and mclust's fourteen models
        want = want.replace("{", "{" + "".join(f"'{m}', " for m in MCLUST_MODELS), 1)
    assert _sorted_options(str(ours.value)) == _sorted_options(want)


# ---------------------------------------------------------------------------
# exceptions and warnings whichever of fastgmm and scikit-learn is imported first
# ---------------------------------------------------------------------------

ORDER_CHECK = """
    import warnings
    import numpy as np
    {imports}
    X = np.random.RandomState(0).rand(60, 2)
    try:
        fastgmm.GaussianMixture().predict(X)
    except sklearn.exceptions.NotFittedError as e:
        assert isinstance(e, fastgmm.NotFittedError)
        print("not fitted: caught")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=sklearn.exceptions.ConvergenceWarning)
        fastgmm.GaussianMixture(2, max_iter=1, random_state=0).fit(X)
    print("warnings left:", len(rec))
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn.exceptions.ConvergenceWarning)
        try:
            fastgmm.GaussianMixture(2, max_iter=1, random_state=0).fit(X)
        except sklearn.exceptions.ConvergenceWarning as w:
            assert isinstance(w, fastgmm.ConvergenceWarning)
            print("convergence: raised as sklearn's")
    from sklearn.utils._param_validation import InvalidParameterError
    try:
        fastgmm.GaussianMixture(tol=-1).fit(X)
    except InvalidParameterError:
        print("invalid parameter: caught")
"""


@pytest.mark.parametrize("imports", [
    "import sklearn.exceptions\nimport fastgmm",
    "import fastgmm\nimport sklearn.exceptions",
    "import fastgmm\nimport sklearn",
], ids=["sklearn-first", "fastgmm-first", "fastgmm-then-sklearn-package"])
def test_sklearn_classes_catch_fastgmm_in_both_import_orders(imports):
    out = _run(ORDER_CHECK.format(imports=textwrap.indent(imports, "    ").strip()))
    assert out.split("\n")[:4] == ["not fitted: caught", "warnings left: 0", "convergence: raised as sklearn's",
                                   "invalid parameter: caught"], out


def test_importing_fastgmm_imports_neither_sklearn_nor_pandas():
    out = _run("""
        import sys, fastgmm, fastgmm.utils._sklearn_compat
        print(sorted(m for m in ("sklearn", "pandas") if m in sys.modules))
    """)
    assert out.strip() == "[]"


@pytest.mark.parametrize("cls", [v.NotFittedError, v.ConvergenceWarning, v.InvalidParameterError])
def test_sklearn_twins_pickle(cls):
    # joblib workers (GridSearchCV(n_jobs=...)) send raised exceptions back pickled
    err = v.sklearn_compatible(cls)("message")
    err.note = 3
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert back.args == ("message",)
    assert back.note == 3
    assert pickle.loads(pickle.dumps(cls("plain"))).args == ("plain",)


def test_not_fitted_error_pickles_from_a_fit(X):
    with pytest.raises(SkNotFittedError) as info:
        GaussianMixture().predict(X)
    assert isinstance(pickle.loads(pickle.dumps(info.value)), SkNotFittedError)


def test_convergence_warning_is_sklearns(X):
    with pytest.warns(SkConvergenceWarning):
        GaussianMixture(2, max_iter=1, random_state=0).fit(X)


# ---------------------------------------------------------------------------
# pandas: nullable dtypes, column names in the NaN message
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, values", [
    ("Int64", [1, 2, None, 4]),
    ("Float64", [1.0, 2.0, None, 4.0]),
    ("Float32", [1.0, 2.0, None, 4.0]),
    ("boolean", [True, False, None, True]),
])
def test_pandas_nullable_na_is_nan(dtype, values):
    pd = pytest.importorskip("pandas")
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    df = pd.DataFrame({"a": np.arange(20.0), "b": pd.array(values * 5, dtype=dtype)})
    with pytest.raises(ValueError) as theirs:
        SkGaussianMixture().fit(df)
    with pytest.raises(ValueError, match=r"^Input X contains NaN\. The first is at row 2, column 'b';"):
        GaussianMixture().fit(df)
    assert str(theirs.value).startswith("Input X contains NaN.")


def test_pandas_nullable_without_na_fits_as_float64():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": pd.array([1, 5, 2, 8] * 10, dtype="Int64"),
                       "b": pd.array([0.5, 1.5, 3.0, 2.0] * 10, dtype="Float32")})
    ours = GaussianMixture(2, random_state=0).fit(df)
    ref = GaussianMixture(2, random_state=0).fit(df.to_numpy(dtype=np.float64))
    assert ours.means_.dtype == np.float64
    np.testing.assert_array_equal(ours.means_, ref.means_)
    assert list(ours.feature_names_in_) == ["a", "b"]
    np.testing.assert_array_equal(ours.predict(df), ref.predict(df.to_numpy(dtype=np.float64)))


def test_pandas_categorical_is_not_numbers():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": pd.Categorical(["x", "y"] * 10), "b": np.arange(20.0)})
    with pytest.raises(ValueError, match="X must contain only numbers"):
        GaussianMixture().fit(df)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dataframe_inf_names_the_column(dtype):
    pd = pytest.importorskip("pandas")
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    df = pd.DataFrame({"x": np.arange(20.0, dtype=dtype), "y": np.ones(20, dtype=dtype)})
    df.loc[7, "y"] = np.inf
    with pytest.raises(ValueError) as theirs:
        SkGaussianMixture().fit(df)
    with pytest.raises(ValueError) as ours:
        GaussianMixture().fit(df)
    assert str(ours.value).startswith(str(theirs.value))
    assert "The first is at row 7, column 'y';" in str(ours.value)


def test_nan_reported_before_inf_as_sklearn():
    Xb = np.ones((10, 2))
    Xb[1, 0] = np.inf
    Xb[5, 1] = np.nan
    with pytest.raises(ValueError, match=r"^Input X contains NaN\. The first is at row 5, column 1;"):
        GaussianMixture().fit(Xb)


def test_nan_message_names_the_estimator():
    with pytest.raises(ValueError, match="MyMixture does not accept missing"):
        v.check_array(np.array([[1.0, np.nan], [1.0, 2.0]]), estimator_name="MyMixture")


def test_int_too_large_for_float64():
    with pytest.raises(ValueError, match=re.escape("Input X contains infinity or a value too large for "
                                                   "dtype('float64').")):
        GaussianMixture().fit(np.array([[10**400, 1], [1, 2]], dtype=object))


# ---------------------------------------------------------------------------
# EstimatorProtocol on a tiny estimator
# ---------------------------------------------------------------------------

class MeanDensity(EstimatorProtocol):
    """A one-Gaussian-per-feature density: the smallest estimator with sample_weight."""

    _fitted_attribute = "mean_"

    def __init__(self, shrink=0.0, *, label="m", inner=None, weights=None):
        self.shrink = shrink
        self.label = label
        self.inner = inner
        self.weights = weights

    def fit(self, X, y=None, sample_weight=None):
        X = np.asarray(X, dtype=float)
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.mean_ = (1 - self.shrink) * np.average(X, axis=0, weights=w)
        self.seen_weights_ = sample_weight
        self.n_features_in_ = X.shape[1]
        return self

    def score(self, X, y=None, sample_weight=None):
        d = ((np.asarray(X, dtype=float) - self.mean_) ** 2).sum(axis=1)
        self.scored_weights_ = sample_weight
        return float(-np.average(d, weights=sample_weight))

    def bic(self, X, sample_weight=None):   # not a routable method: no set_bic_request
        return -2 * self.score(X, sample_weight=sample_weight)


class NanDensity(MeanDensity):
    _allow_nan = True


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_get_params_and_set_params():
    est = MeanDensity(0.5, label="a")
    assert est.get_params() == {"shrink": 0.5, "label": "a", "inner": None, "weights": None}
    assert est.set_params(shrink=0.1, label="b") is est
    assert (est.shrink, est.label) == (0.1, "b")
    assert est.set_params() is est


def test_nested_params():
    est = MeanDensity(inner=MeanDensity(0.2))
    assert est.get_params(deep=True)["inner__shrink"] == 0.2
    assert "inner__shrink" not in est.get_params(deep=False)
    est.set_params(inner__shrink=0.3, shrink=0.4)
    assert est.inner.shrink == 0.3
    assert est.shrink == 0.4


def test_set_params_unknown_name_is_sklearns_message():
    from sklearn.base import BaseEstimator

    class MeanDensityRef(BaseEstimator):   # the same signature on scikit-learn's base
        def __init__(self, shrink=0.0, *, label="m", inner=None, weights=None):
            self.shrink, self.label, self.inner, self.weights = shrink, label, inner, weights

    with pytest.raises(ValueError) as theirs:
        MeanDensityRef().set_params(shrinkage=1)
    with pytest.raises(SkInvalidParameterError) as ours:
        MeanDensity().set_params(shrinkage=1)
    assert str(ours.value) == str(theirs.value).replace("MeanDensityRef", "MeanDensity")


def test_clone():
    from sklearn.base import clone

    w = np.arange(3.0)
    est = MeanDensity(0.5, weights=w).fit(np.ones((4, 2)))
    copy = clone(est)
    assert type(copy) is MeanDensity
    assert copy.get_params()["shrink"] == 0.5
    assert copy.weights is not w
    assert np.array_equal(copy.weights, w)
    assert not hasattr(copy, "mean_")


def test_repr_shows_only_changed_parameters():
    assert repr(MeanDensity()) == "MeanDensity()"
    assert repr(MeanDensity(0.5, label="x")) == "MeanDensity(label='x', shrink=0.5)"
    assert repr(MeanDensity(0)) == "MeanDensity(shrink=0)"   # an int where the default is a float
    assert repr(MeanDensity(weights=np.array([1.0]))) == "MeanDensity(weights=array([1.]))"


def test_tags():
    from sklearn.utils import get_tags

    tags = get_tags(MeanDensity())
    assert tags.estimator_type == "density_estimator"
    assert tags.input_tags.allow_nan is False
    assert tags.target_tags.required is False
    assert get_tags(NanDensity()).input_tags.allow_nan is True


def test_is_fitted():
    from sklearn.utils.validation import check_is_fitted

    est = MeanDensity()
    with pytest.raises(SkNotFittedError):
        check_is_fitted(est)
    check_is_fitted(est.fit(np.ones((3, 2))))


def test_set_request_methods_follow_the_signatures():
    assert hasattr(MeanDensity, "set_fit_request")
    assert hasattr(MeanDensity, "set_score_request")
    assert not hasattr(MeanDensity, "set_bic_request")
    assert not hasattr(MeanDensity, "set_predict_request")
    import inspect

    assert list(inspect.signature(MeanDensity.set_fit_request).parameters) == ["self", "sample_weight"]


def test_set_request_needs_routing_enabled():
    with pytest.raises(RuntimeError, match="enable_metadata_routing=True"):
        MeanDensity().set_fit_request(sample_weight=True)


def test_set_request_rejects_unknown_metadata(routing):
    with pytest.raises(TypeError, match="Unexpected args"):
        MeanDensity().set_fit_request(groups=True)


def test_default_routing_is_sklearns(routing):
    from sklearn.utils.metadata_routing import get_routing_for_object

    req = get_routing_for_object(MeanDensity())
    assert req.fit.requests == {"sample_weight": None}
    assert req.score.requests == {"sample_weight": None}
    assert req.predict.requests == {}
    est = MeanDensity().set_fit_request(sample_weight=True).set_score_request(sample_weight="w")
    req = est.get_metadata_routing()
    assert req.fit.requests == {"sample_weight": True}
    assert req.score.requests == {"sample_weight": "w"}


def test_sample_weight_routed_through_a_pipeline(routing):
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X = np.array([[0.0, 0.0], [1.0, 2.0], [4.0, 4.0]])
    w = np.array([0.0, 1.0, 3.0])
    pipe = Pipeline([("id", FunctionTransformer()),
                     ("density", MeanDensity().set_fit_request(sample_weight=True))])
    pipe.fit(X, sample_weight=w)
    assert pipe[-1].seen_weights_ is w
    np.testing.assert_allclose(pipe[-1].mean_, [3.25, 3.5])
    # a clone keeps the request
    again = clone(pipe).fit(X, sample_weight=w)
    assert again[-1].seen_weights_ is w


def test_unrequested_sample_weight_is_an_error(routing):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = Pipeline([("id", FunctionTransformer()), ("density", MeanDensity())])
    with pytest.raises(ValueError, match="sample_weight"):
        pipe.fit(np.ones((3, 2)), sample_weight=np.ones(3))
    # explicitly not requested: then nothing consumes it (scikit-learn's TypeError)
    pipe = Pipeline([("id", FunctionTransformer()), ("density", MeanDensity().set_fit_request(sample_weight=False))])
    with pytest.raises(TypeError, match="not routed to any object"):
        pipe.fit(np.ones((3, 2)), sample_weight=np.ones(3))


def test_sample_weight_routed_through_grid_search(routing):
    from sklearn.model_selection import GridSearchCV

    X = mixture_data(40, 2, 1, 0)[0] + 10.0
    w = np.linspace(0.5, 2.0, len(X))
    est = MeanDensity().set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
    search = GridSearchCV(est, {"shrink": [0.0, 0.5]}, cv=2).fit(X, sample_weight=w)
    assert search.best_params_ == {"shrink": 0.0}
    assert search.best_estimator_.seen_weights_ is w


def test_without_sklearn_routing_says_to_install_it():
    out = _run("""
        import sys
        sys.modules["sklearn"] = None   # as if not installed
        from fastgmm.utils._sklearn_compat import EstimatorProtocol

        class E(EstimatorProtocol):
            def __init__(self, a=1):
                self.a = a
            def fit(self, X, y=None, sample_weight=None):
                return self

        e = E(2).set_params(a=3)
        print(repr(e), e.get_params())
        try:
            e.get_metadata_routing()
        except ImportError as err:
            print("ImportError:", err)
    """)
    lines = out.strip().split("\n")
    assert lines[0] == "E(a=3) {'a': 3}"
    assert lines[1].startswith("ImportError: Metadata routing is scikit-learn's machinery: install scikit-learn")


def test_gaussian_mixture_sample_weight_routed_through_a_pipeline(routing):
    """GaussianMixture on the mixin: a Pipeline with routing passes sample_weight to its fit."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    assert issubclass(GaussianMixture, EstimatorProtocol)
    X = mixture_data(300, 2, 2, 3)[0]
    w = np.linspace(0.0, 2.0, len(X))
    kw = dict(n_components=2, covariance_type="diag", random_state=0)
    pipe = Pipeline([("id", FunctionTransformer()),
                     ("gm", GaussianMixture(**kw).set_fit_request(sample_weight=True))])
    pipe.fit(X, sample_weight=w)
    direct = GaussianMixture(**kw).fit(X, sample_weight=w)
    unweighted = GaussianMixture(**kw).fit(X)
    np.testing.assert_array_equal(pipe[-1].means_, direct.means_)
    assert not np.array_equal(direct.means_, unweighted.means_)


def test_verbose_true_is_allowed_as_in_sklearn(X, capsys):
    GaussianMixture(verbose=True, random_state=0).fit(X)
    assert "Initialization 0" in capsys.readouterr().out


from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastgmm import BayesianGaussianMixture  # noqa: E402

# fastgmm's estimators implement the protocol without subclassing sklearn's
# BaseEstimator (they must import without scikit-learn); sklearn says so once.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base.BaseEstimator`",
                            category=UserWarning)
    _bayesian_checks = parametrize_with_checks(
        [BayesianGaussianMixture(covariance_type=ct) for ct in ("full", "tied", "diag", "spherical")])


@_bayesian_checks
def test_bayesian_gaussian_mixture_estimator_checks(estimator, check):
    check(estimator)


# The discrete families and the Student-t mixture run check_estimator in tests/test_conformance.py.


# ---------------------------------------------------------------------------
# scikit-learn's weight-equivalence check with two components
# ---------------------------------------------------------------------------
# check_estimator runs check_sample_weight_equivalence_on_dense_data with the
# default n_components=1, where every start gives the same model. With two
# components it tests the initialisation: the check fits integer weights
# against the rows repeated, the weighted rows shuffled. The default init
# ("kmeans") passes because its seeding sample merges identical rows and
# orders them by value (fastgmm.kernels._kmeans_driver). "k-means++", "random" and
# "random_from_data" keep scikit-learn's draws, which depend on where the rows
# are: they give the repeated rows' start when the copies are where the row is
# (tests/test_init_weights.py), not after a shuffle. PoissonMixture and
# CategoricalMixture are not run: the check's data are not counts or codes
# (tests/test_init_weights.py follows its procedure on counts for Poisson).

def _two_component_estimators():
    from fastgmm import BernoulliMixture, StudentTMixture

    out = [GaussianMixture(n_components=2, covariance_type=ct) for ct in ("full", "tied", "diag", "spherical")]
    out += [BayesianGaussianMixture(n_components=2, covariance_type=ct) for ct in ("full", "tied", "diag", "spherical")]
    out += [StudentTMixture(n_components=2, covariance_type=ct) for ct in ("full", "diag", "spherical")]
    out += [BernoulliMixture(n_components=2, binarize=0.5)]
    return out


@pytest.mark.parametrize("estimator", _two_component_estimators(),
                         ids=lambda e: f"{type(e).__name__}-{getattr(e, 'covariance_type', 'binarize')}")
def test_integer_weights_are_shuffled_repeated_rows_with_two_components(estimator):
    from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

    assert estimator.init_params == "kmeans"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # convergence on 15 rows in 30 dimensions
        check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)
