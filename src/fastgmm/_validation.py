"""Input and parameter validation with scikit-learn's wording, without scikit-learn."""

import numbers
import sys
import warnings

import numpy as np


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before ``fit`` (like scikit-learn's, same bases)."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the lower bound changed by less than ``tol``."""


_BLOCK = 65536
_SKLEARN_TWINS = {}


def sklearn_compatible(cls):
    """``cls``, or a subclass that is also scikit-learn's class of the same name.

    fastgmm never imports scikit-learn. But code that catches
    ``sklearn.exceptions.NotFittedError`` or filters its ``ConvergenceWarning``
    must have imported ``sklearn.exceptions``; when it is loaded, what fastgmm
    raises or warns is an instance of both classes, so such code works
    unchanged.
    """
    skexc = sys.modules.get("sklearn.exceptions")
    sk_cls = getattr(skexc, cls.__name__, None) if skexc is not None else None
    if sk_cls is None:
        return cls
    twin = _SKLEARN_TWINS.get(cls)
    if twin is None:
        twin = type(cls.__name__, (cls, sk_cls), {"__module__": cls.__module__, "__doc__": cls.__doc__})
        _SKLEARN_TWINS[cls] = twin
    return twin


def check_random_state(seed):
    """None, an int or a RandomState -> a ``numpy.random.RandomState`` (scikit-learn's rule)."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(
        f"The 'random_state' parameter must be None, an int or a numpy.random.RandomState; got {seed!r}."
    )


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


def check_array(X, *, estimator_name, min_samples=1, allow_1d=False):
    """Validate X and return a C-contiguous float32 or float64 2-D array.

    float32 stays float32; every other numeric type becomes float64. NaN and
    infinity are rejected with the position of the first offender. A copy is
    made only when X is not already C-contiguous float32/float64.
    """
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(
            "A sparse matrix was passed, but dense data is required. Use X.toarray() to convert to a dense "
            "numpy array."
        )
    dtype_in = getattr(X, "dtype", None)
    if hasattr(X, "iloc") or hasattr(X, "__dataframe__"):  # pandas / dataframe: convert once
        X = np.asarray(X)
        dtype_in = X.dtype
    if dtype_in is not None and np.dtype(dtype_in).kind == "c" or (
        dtype_in is None and np.iscomplexobj(X)
    ):
        raise ValueError("Complex data not supported\n")
    dtype = np.float32 if dtype_in is not None and np.dtype(dtype_in) == np.float32 else np.float64
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            X = np.asarray(X, dtype=dtype, order="C")
    except np.exceptions.ComplexWarning:
        raise ValueError("Complex data not supported\n") from None
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
    _check_finite(X)
    return X


def _check_finite(X):
    # A finite sum proves every entry finite without an N x D boolean array;
    # only when it is not (NaN/inf, or a legitimate overflow) look block-wise.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(X, dtype=np.float64)
    if np.isfinite(total):
        return
    for a in range(0, X.shape[0], _BLOCK):
        bad = ~np.isfinite(X[a:a + _BLOCK])
        if bad.any():
            i, j = np.argwhere(bad)[0]
            v = X[a + i, j]
            what = "NaN" if np.isnan(v) else "infinity"
            raise ValueError(
                f"Input X contains {what} (first at row {a + i}, column {j}); GaussianMixture does "
                "not accept missing or infinite values. Remove or impute them first."
            )


def check_scalar(value, name, kind, *, low=None, high=None, low_open=False, allow_none=False):
    """Type and range check for one constructor parameter, naming it and what is allowed."""
    if value is None and allow_none:
        return
    ok_type = {
        "int": isinstance(value, numbers.Integral) and not isinstance(value, bool),
        "real": isinstance(value, numbers.Real) and not isinstance(value, bool),
    }[kind]
    rng = []
    if low is not None:
        rng.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        rng.append(f"<= {high}")
    allowed = f"{'an int' if kind == 'int' else 'a real number'}{' ' + ' and '.join(rng) if rng else ''}"
    if allow_none:
        allowed += " or None"
    if not ok_type or (kind == "real" and not np.isfinite(value)):
        raise ValueError(f"The '{name}' parameter of GaussianMixture must be {allowed}. Got {value!r} instead.")
    if low is not None and (value <= low if low_open else value < low) or high is not None and value > high:
        raise ValueError(f"The '{name}' parameter of GaussianMixture must be {allowed}. Got {value!r} instead.")


def check_option(value, name, options):
    """``value`` must be one of ``options`` (strings)."""
    if not isinstance(value, str) or value not in options:
        opts = ", ".join(repr(o) for o in sorted(options))
        raise ValueError(f"The '{name}' parameter of GaussianMixture must be a str among {{{opts}}}. Got {value!r} instead.")
