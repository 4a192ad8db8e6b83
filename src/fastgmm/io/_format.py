"""What writing and reading a model file share: the format's name and version, the header's fields, member
digests and dtype rules, and the lookup of an estimator class by name (among the estimator protocol's subclasses,
so this package imports no estimator)."""

import hashlib

import numpy as np

from ..engine import _schema
from ..engine._schema import FLOAT64, X
from ..utils._sklearn_compat import EstimatorProtocol
from ..utils._version import __version__

FORMAT = "fastgmm-model"


FORMAT_VERSION = 2


# Header fields of every file, around the model's own.
_FILE_FIELDS = ("format", "format_version", "fastgmm_version", "arrays")


def _version():
    return __version__


def _estimator_class(name):
    """The public fastgmm estimator class called ``name`` (one with a schema), or None.

    Found among the subclasses of the estimator protocol, so this module
    imports no estimator (they import it: each is :class:`Persistent`).
    """
    if not isinstance(name, str) or name.startswith("_"):
        return None
    todo, seen = [EstimatorProtocol], set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if (cls.__name__ == name and cls.__module__.startswith("fastgmm.")
                and isinstance(getattr(cls, "_schema", None), _schema.Schema)):
            return cls
    return None


def _dtype_problem(a, field, dtype):
    """Why array ``a`` cannot hold ``field`` of a model of ``dtype`` (a phrase), or None."""
    if a.dtype not in (np.float32, np.float64):
        return f"has dtype {a.dtype}; a fitted model's arrays are float32 or float64 (native byte order)"
    if field.dtype == X and a.dtype != dtype:
        return (f"has dtype {a.dtype}; this model's parameters are {dtype} (header 'dtype'), the dtype of the "
                "data it was fitted on")
    if field.dtype == FLOAT64 and a.dtype != np.float64:
        return f"has dtype {a.dtype}; {field.attribute} is float64 whatever the data's dtype"
    return None


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
