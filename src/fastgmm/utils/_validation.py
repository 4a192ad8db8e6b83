"""Input and parameter validation with scikit-learn's wording, without scikit-learn."""

import math
import numbers
import sys
import warnings

import numpy as np


class _Twinnable:
    """Pickles a scikit-learn twin (see :func:`sklearn_compatible`) as its fastgmm class.

    A twin is made at run time and is not an attribute of any module, so
    pickle's default lookup by name would fail (joblib workers send raised
    exceptions back pickled); unpickling makes the twin again when
    scikit-learn is loaded in the receiving process.
    """

    def __reduce__(self):
        cls = _TWIN_BASES.get(type(self))
        if cls is None:
            return super().__reduce__()
        return _rebuild, (cls, self.args, dict(self.__dict__))


def _rebuild(cls, args, state):
    obj = sklearn_compatible(cls)(*args)
    obj.__dict__.update(state)
    return obj


class NotFittedError(_Twinnable, ValueError, AttributeError):
    """Raised when a model is used before ``fit`` (like scikit-learn's, same bases)."""


class ConvergenceWarning(_Twinnable, UserWarning):
    """EM stopped at ``max_iter`` before the lower bound changed by less than ``tol``."""


class FitInterruptedWarning(UserWarning):
    """A fit stopped by KeyboardInterrupt: the estimator holds its last complete EM iteration."""


class InvalidParameterError(_Twinnable, ValueError, TypeError):
    """A constructor parameter has a bad type or value (scikit-learn's class, same bases).

    An instance of ``sklearn.utils._param_validation.InvalidParameterError``
    too whenever scikit-learn is loaded at the time it is raised.
    """


_BLOCK = 65536
# Where scikit-learn defines the class of the same name.
_SKLEARN_HOMES = {
    "NotFittedError": "sklearn.exceptions",
    "ConvergenceWarning": "sklearn.exceptions",
    "InvalidParameterError": "sklearn.utils._param_validation",
}
_SKLEARN_TWINS = {}   # fastgmm class -> twin
_TWIN_BASES = {}      # twin -> fastgmm class


def sklearn_compatible(cls):
    """``cls``, or a subclass that is also scikit-learn's class of the same name.

    fastgmm never imports scikit-learn. But code that catches
    ``sklearn.exceptions.NotFittedError`` (or scikit-learn's
    ``InvalidParameterError``) or filters its ``ConvergenceWarning`` has
    imported the module defining it; when that module is loaded, what fastgmm
    raises or warns is an instance of both classes, so such code works
    unchanged, whichever of fastgmm and scikit-learn was imported first.
    """
    home = sys.modules.get(_SKLEARN_HOMES.get(cls.__name__, "sklearn.exceptions"))
    sk_cls = getattr(home, cls.__name__, None) if home is not None else None
    if sk_cls is None or issubclass(cls, sk_cls):
        return cls
    twin = _SKLEARN_TWINS.get(cls)
    if twin is None:
        twin = type(cls.__name__, (cls, sk_cls), {"__module__": cls.__module__, "__doc__": cls.__doc__,
                                                  "__qualname__": cls.__qualname__})
        _SKLEARN_TWINS[cls] = twin
        _TWIN_BASES[twin] = cls
    return twin


# ---------------------------------------------------------------------------
# constructor parameters: scikit-learn's messages (its _param_validation
# wording), then fastgmm's detail, if any
# ---------------------------------------------------------------------------

def _type_name(t):
    """A type as scikit-learn's messages name it ('bool', 'numpy.bool', ...)."""
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _join(constraints):
    """'a', 'a or b', 'a, b or c': scikit-learn's list of allowed kinds."""
    return constraints[0] if len(constraints) == 1 else f"{', '.join(constraints[:-1])} or {constraints[-1]}"


def _interval(kind, low, high, low_open=False, high_open=False):
    """scikit-learn's Interval: 'an int in the range [1, inf)', 'a float in the range (0.0, 1.0]'."""
    if kind == "real":
        low = "-inf" if low is None else float(low)
        high = "inf" if high is None else float(high)
    else:
        low = "-inf" if low is None else low
        high = "inf" if high is None else high
    left = "(" if low_open or low == "-inf" else "["
    right = ")" if high_open or high == "inf" else "]"
    return f"{'an int' if kind == 'int' else 'a float'} in the range {left}{low}, {high}{right}"


def invalid_parameter(name, allowed, value, *, estimator_name="GaussianMixture", detail=None):
    """The error for a bad parameter, in scikit-learn's words, then fastgmm's ``detail``.

    ``allowed`` is a list of scikit-learn constraint descriptions ("an int in
    the range [1, inf)", "None", ...). Returns the exception (raise it).
    """
    msg = f"The {name!r} parameter of {estimator_name} must be {_join(list(allowed))}. Got {value!r} instead."
    if detail:
        msg += f" {detail}"
    return sklearn_compatible(InvalidParameterError)(msg)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_scalar(value, name, kind, *, low=None, high=None, low_open=False, high_open=False, allow_none=False,
                 estimator_name="GaussianMixture", detail=None):
    """Type and range check of one parameter; :class:`InvalidParameterError` naming what is allowed.

    ``kind`` is "int" (integers, not bools) or "real" (finite reals, ints
    included, not bools). ``low``/``high`` bound it, closed unless
    ``low_open``/``high_open``; None is no bound. The message is
    scikit-learn's: "The 'tol' parameter of GaussianMixture must be a float in
    the range [0.0, inf). Got -1 instead." followed by ``detail``.
    """
    if value is None and allow_none:
        return
    if kind == "int":
        ok = _is_int(value)
    elif kind == "real":
        ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and _finite(value)
    else:
        raise ValueError(f"kind must be 'int' or 'real', got {kind!r}")
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        allowed = [_interval(kind, low, high, low_open, high_open)] + (["None"] if allow_none else [])
        raise invalid_parameter(name, allowed, value, estimator_name=estimator_name, detail=detail)


def _finite(value):
    # np.isfinite is a TypeError on a Python int beyond int64 (an object
    # array); math.isfinite takes any real, and one beyond float's range is
    # not a usable value (OverflowError).
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_option(value, name, options, *, estimator_name="GaussianMixture", detail=None):
    """``value`` must be one of the strings ``options`` (scikit-learn's "a str among {...}")."""
    if not isinstance(value, str) or value not in options:
        opts = ", ".join(repr(o) for o in sorted(options))
        raise invalid_parameter(name, [f"a str among {{{opts}}}"], value, estimator_name=estimator_name,
                                detail=detail)


_BOOLEANS = [f"an instance of {_type_name(bool)!r}", f"an instance of {_type_name(np.bool_)!r}"]


def check_bool(value, name, *, estimator_name="GaussianMixture"):
    """scikit-learn's "boolean" constraint: a bool or a numpy bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise invalid_parameter(name, _BOOLEANS, value, estimator_name=estimator_name)


def check_verbose(value, name="verbose", *, estimator_name="GaussianMixture"):
    """scikit-learn's "verbose" constraint: an int >= 0 or a bool."""
    if not (isinstance(value, (bool, np.bool_)) or _is_int(value) and value >= 0):
        raise invalid_parameter(name, [_interval("int", 0, None)] + _BOOLEANS, value, estimator_name=estimator_name)


def check_callback(value, name="callback", *, estimator_name="GaussianMixture"):
    """None or a callable."""
    if value is not None and not callable(value):
        raise invalid_parameter(name, ["None", "a callable"], value, estimator_name=estimator_name)


def check_n_threads(value, name="n_threads", *, estimator_name="GaussianMixture"):
    """fastgmm's thread count: None, a positive int, or a negative int counting back from all."""
    if value is None or _is_int(value) and value != 0:
        return
    raise invalid_parameter(
        name, ["None", _interval("int", 1, None), _interval("int", None, -1)], value, estimator_name=estimator_name,
        detail="None uses every usable core (honouring OMP_NUM_THREADS); a negative int counts back from the "
               "maximum (-1 = all); 0 is not allowed.",
    )


_SEED_MAX = 2**32 - 1   # numpy.random.RandomState's seed range, as scikit-learn's constraint says


def validate_random_state(seed, *, name="random_state", estimator_name="GaussianMixture"):
    """:func:`check_random_state`'s check alone: raises for what it rejects, creates nothing (seeding a
    ``RandomState`` costs ~0.1 ms, a noticeable part of a small fit's validation)."""
    if seed is None or seed is np.random or isinstance(seed, np.random.RandomState):
        return
    if _is_int(seed) and 0 <= seed <= _SEED_MAX:
        return
    check_random_state(seed, name=name, estimator_name=estimator_name)


def check_random_state(seed, *, name="random_state", estimator_name="GaussianMixture"):
    """None, an int or a RandomState -> a ``numpy.random.RandomState`` (scikit-learn's rule).

    Anything else raises :class:`InvalidParameterError` with scikit-learn's
    message for its "random_state" constraint.
    """
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if _is_int(seed) and 0 <= seed <= _SEED_MAX:
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    detail = None
    if isinstance(seed, np.random.Generator):
        detail = ("A numpy.random.Generator is not accepted (as in scikit-learn): pass an int seed or "
                  "numpy.random.RandomState(seed).")
    raise invalid_parameter(
        name,
        [_interval("int", 0, _SEED_MAX), f"an instance of {_type_name(np.random.RandomState)!r}", "None"],
        seed, estimator_name=estimator_name, detail=detail,
    )


# ---------------------------------------------------------------------------
# X
# ---------------------------------------------------------------------------

def _feature_names(X):
    cols = getattr(X, "columns", None)
    if cols is None or not hasattr(X, "iloc") and not hasattr(X, "__dataframe__"):
        return None
    names = list(cols)
    if not names:
        return None
    if all(isinstance(n, str) for n in names):
        return np.asarray(names, dtype=object)
    if any(isinstance(n, str) for n in names):
        raise TypeError(
            "Feature names are only supported if all input features have string names, but "
            f"your input has {sorted({type(n).__name__ for n in names})} as feature name / column "
            "name types. Convert all feature names to strings to use them."
        )
    return None


def check_feature_names(estimator, X, *, reset):
    """Record (reset=True) or check the DataFrame column names, as scikit-learn does."""
    names = _feature_names(X)
    name = type(estimator).__name__
    if reset:
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is None and names is None:
        return
    if names is not None and fitted is None:
        warnings.warn(f"X has feature names, but {name} was fitted without feature names", UserWarning)
        return
    if names is None and fitted is not None:
        warnings.warn(f"X does not have valid feature names, but {name} was fitted with feature names", UserWarning)
        return
    if len(names) != len(fitted) or np.any(names != fitted):
        raise ValueError(
            "The feature names should match those that were passed during fit.\n"
            f"Feature names seen at fit time: {list(fitted)}\nFeature names now: {list(names)}"
        )


def _pandas_to_numpy(X):
    """A pandas DataFrame/Series with extension dtypes (nullable Int64, Float32, boolean ...)
    as a float64 array with NaN for ``pd.NA``, as scikit-learn converts them; None when X
    is not pandas or has only numpy dtypes (then ``np.asarray`` does)."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(X, (pd.DataFrame, pd.Series)):
        return None
    dtypes = [X.dtype] if isinstance(X, pd.Series) else list(X.dtypes)
    if not any(isinstance(d, pd.api.extensions.ExtensionDtype) for d in dtypes):
        return None
    try:
        return X.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        return None   # strings, categories ...: np.asarray and the "only numbers" error below


def check_array(X, *, estimator_name, min_samples=1, allow_1d=False, allow_nan=False, row_offset=0,
                in_block=False, all_finite=None):
    """Validate X and return a C-contiguous float32 or float64 2-D array.

    float32 stays float32; every other numeric type becomes float64 (pandas
    nullable columns too, ``pd.NA`` as NaN). NaN and infinity are rejected
    with scikit-learn's sentence and the position of the first offender (the
    column's name for a DataFrame). A copy is made only when X is not already
    C-contiguous float32/float64. With ``allow_nan`` NaN is accepted (a
    missing value); infinity never is. ``all_finite``, optional: a faster
    exact test ``all_finite(X) -> True/False/None`` (the engine passes the
    kernels' multi-threaded one, fastgmm.kernels._finite); True skips NumPy's
    check, anything else leaves the answer (and the message) to it.
    """
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(
            "A sparse matrix was passed, but dense data is required. Use X.toarray() to convert to a dense "
            "numpy array."
        )
    dtype_in = getattr(X, "dtype", None)
    columns = None
    if hasattr(X, "iloc") or hasattr(X, "__dataframe__"):  # pandas / dataframe: convert once
        cols = getattr(X, "columns", None)
        columns = list(cols) if cols is not None else None
        converted = _pandas_to_numpy(X)
        X = np.asarray(X) if converted is None else converted
        dtype_in = X.dtype
    if dtype_in is None:   # lists, and array-likes that only have __array__
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as e:
            raise ValueError(f"X must contain only numbers: {e}") from None
        dtype_in = X.dtype
    if dtype_in is not None and np.dtype(dtype_in).kind == "c" or (
        dtype_in is None and np.iscomplexobj(X)
    ):
        raise ValueError("Complex data not supported\n")
    if dtype_in is not None and np.dtype(dtype_in).kind in "USV":
        # As scikit-learn: numbers written as text are not silently parsed
        # (a column of "1,5" or "n/a" would then fail or, worse, half-parse).
        raise ValueError(
            f"X must contain only numbers, not text: it is an array of {np.dtype(dtype_in)}. dtype='numeric' "
            "is not compatible with arrays of bytes/strings. Convert your data to numeric values explicitly "
            "instead (e.g. X.astype(float)).")
    dtype = np.float32 if dtype_in is not None and np.dtype(dtype_in) == np.float32 else np.float64
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            X = np.asarray(X, dtype=dtype, order="C")
    except np.exceptions.ComplexWarning:
        raise ValueError("Complex data not supported\n") from None
    except OverflowError as e:   # a Python int beyond float64's range
        raise ValueError(
            f"Input X contains infinity or a value too large for {np.dtype(dtype)!r}. ({e})"
        ) from None
    except TypeError as e:
        raise TypeError(f"X must contain only numbers: {e}") from None
    except ValueError as e:
        raise ValueError(f"X must contain only numbers: {e}") from None
    if X.ndim == 0:
        raise ValueError(
            f"Expected 2D array, got scalar array instead:\narray={X}.\n"
            "Reshape your data either using array.reshape(-1, 1) if your data has a single feature "
            "or array.reshape(1, -1) if it contains a single sample."
        )
    if X.ndim == 1:
        raise ValueError(
            f"Expected 2D array, got 1D array instead:\narray={X}.\n"
            "Reshape your data either using array.reshape(-1, 1) if your data has a single feature "
            "or array.reshape(1, -1) if it contains a single sample."
        )
    if X.ndim != 2:
        raise ValueError(f"Found array with dim {X.ndim}. {estimator_name} expected <= 2.")
    n, d = X.shape
    if n < min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={X.shape}) while a minimum of {min_samples} is "
            f"required by {estimator_name}."
        )
    if d < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required by "
            f"{estimator_name}."
        )
    if columns is not None and len(columns) != d:
        columns = None
    if all_finite is None or all_finite(X) is not True:
        _check_finite(X, estimator_name=estimator_name, columns=columns, allow_nan=allow_nan, row_offset=row_offset,
                      in_block=in_block)
    return X


def _first(X, test):
    """(row, column) of the first entry where ``test`` (np.isnan / np.isinf) holds, or None."""
    for a in range(0, X.shape[0], _BLOCK):
        hit = test(X[a:a + _BLOCK])
        if hit.any():
            i, j = np.argwhere(hit)[0]
            return a + int(i), int(j)
    return None


def _nan_count(X):
    """(NaN entries, rows holding one), block-wise."""
    count = rows = 0
    for a in range(0, X.shape[0], _BLOCK):
        nan = np.isnan(X[a:a + _BLOCK])
        count += int(np.count_nonzero(nan))
        rows += int(np.count_nonzero(nan.any(axis=1)))
    return count, rows


def _check_finite(X, *, estimator_name="GaussianMixture", columns=None, allow_nan=False, row_offset=0,
                  in_block=False):
    """scikit-learn's "Input X contains NaN." / "... infinity or a value too large for
    dtype(...)." (NaN first, as scikit-learn), then where the first one is and, for NaN,
    how many there are."""
    # A finite sum proves every entry finite without an N x D boolean array;
    # only when it is not (NaN/inf, or a legitimate overflow) look block-wise.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(X, dtype=np.float64)
    if np.isfinite(total):
        return
    where = None if allow_nan else _first(X, np.isnan)
    what = "NaN"
    if where is None:
        where = _first(X, np.isinf)
        what = f"infinity or a value too large for {X.dtype!r}"
    if where is None:
        return   # only the sum overflowed
    i, j = where
    i += row_offset
    column = f"column {columns[j]!r}" if columns is not None else f"column {j}"
    if what != "NaN":
        raise ValueError(
            f"Input X contains {what}. The first is at row {i}, {column}; {estimator_name} does not accept "
            "missing or infinite values: remove or impute them first."
        )
    count, rows = _nan_count(X)
    # A streamed block counts only its own rows: counting all of X would be
    # another pass over data that may not fit in memory.
    where_counted = (f"the block of rows {row_offset} to {row_offset + X.shape[0] - 1} of X has" if in_block
                     else "X has")
    raise ValueError(
        f"Input X contains NaN. The first is at row {i}, {column}; {where_counted} {count} NaN value"
        f"{'s' if count != 1 else ''} in {rows} row{'s' if rows != 1 else ''}. {estimator_name} does not "
        "accept missing values with nan_policy='raise': pass nan_policy='marginalize' (exact EM on the "
        "observed values) or nan_policy='omit' (drop those rows), or remove or impute them first."
    )


def check_sample_weight(sample_weight, n_samples):
    """Validate per-row weights: None, or a 1-D array of n_samples finite values >= 0, not all 0.

    Returns None (all rows weigh 1) or a C-contiguous float64 array.
    """
    if sample_weight is None:
        return None
    if hasattr(sample_weight, "toarray"):
        raise TypeError("sample_weight must be a dense 1-D array of numbers, not a sparse matrix.")
    try:
        w = np.asarray(sample_weight)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"sample_weight must be a 1-D array of numbers: {e}") from None
    if w.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be an array of real numbers, got dtype {w.dtype}.")
    if w.ndim == 0:
        # A scalar weighs every row the same, as in scikit-learn.
        w = np.full(n_samples, float(w))
    if w.ndim != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar, got an array of shape {w.shape}.")
    if w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == ({w.shape[0]},), expected ({n_samples},): one weight per row of X."
        )
    w = np.ascontiguousarray(w, dtype=np.float64)
    finite = np.isfinite(w)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f"sample_weight contains NaN or infinity (first at row {i}: {w[i]}).")
    if (w < 0).any():
        i = int(np.argmax(w < 0))
        raise ValueError(f"Negative values in data passed to sample_weight (first at row {i}: {w[i]}); "
                         "weights must be >= 0.")
    if not (w > 0).any():
        raise ValueError("Sample weights must contain at least one non-zero number: sample_weight is 0 "
                         "for every row, and at least one row must have a positive weight.")
    return w
