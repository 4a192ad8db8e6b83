"""Saving and loading fitted models: a portable, versioned file, never pickle.

One path writes and reads every estimator, driven by its class's schema
(``_schema``, declared in ``fastgmm.engine._schema``: each fitted attribute, the
file member or header field that holds it, its form and its dtype rule).
After setting the attributes, load calls the class's ``_validate_loaded()``,
which checks shapes, ranges and finiteness and that the parameters agree
with each other, and raises ValueError naming the problem.

File format (``FORMAT_VERSION`` 2)
----------------------------------
A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` members, readable
with ``numpy.load(path, allow_pickle=False)`` from any language with an npy
reader) holding only numeric arrays:

``__header__``
    uint8 array: the UTF-8 bytes of a JSON object with ``format``
    (``"fastgmm-model"``), ``format_version`` (2), ``fastgmm_version`` (the
    writer's), ``arrays`` (the name, shape, dtype and SHA-256 of every other
    member) and the model's header:

    ``class``
        The estimator's class (a public fastgmm class: ``"GaussianMixture"``,
        ``"BayesianGaussianMixture"``, ..., ``"GaussianMixtureSelection"``).
    ``params``
        The constructor parameters that are JSON values. Array-valued
        parameters are members ``param/<name>`` (a list of arrays:
        ``param/<name>/<i>``) and null here; a ``RandomState`` instance as
        ``random_state`` is saved as null; a ``callback`` is code, not data:
        null; a tuple is written as ``{"tuple": [...]}`` so that it reads
        back as a tuple.
    ``dtype``
        ``"float32"`` or ``"float64"``: the model's dtype (that of the data it
        was fitted on), which every array of dtype rule X has. Absent for a
        class without such arrays (the selection).
    ``fitted``
        The schema's scalar fitted attributes, JSON values: for every mixture
        ``n_features_in_``, ``converged_``, ``n_iter_``, ``n_omitted_``,
        ``n_steps_`` (``partial_fit`` batches, or null), ``n_samples_seen_``
        (or null) and ``feature_names_in_`` (or null); then the class's own
        (``degenerate_events_``; a variational mixture's fitted priors; a
        selection's ``best_params_``, ``best_index_``, ...).
    ``lists``
        The number of items of each member that is a list of arrays.
    ``best_estimator``
        (Selection.) The header of its chosen GaussianMixture (``class``,
        ``params``, ``dtype``, ``fitted``, ``lists``), whose members are
        named ``best_estimator/<name>``. Only the chosen fit is stored: after
        loading, ``estimators_`` holds just it.
    ``results_columns``, ``results_text``
        (Selection.) The names of the columns of ``results_`` in order, and
        its text columns; every other column is a member ``results/<column>``.

The schema's arrays (their member names are the attributes' names)
    ``weights_``, ``means_``, ``covariances_``, ``precisions_``,
    ``precisions_cholesky_`` and each family's own (``degrees_of_freedom_``,
    ``categories_``, ...), exactly as in memory (so that a loaded model
    predicts bitwise identically); a list of arrays as ``<name>/<i>`` (a
    categorical mixture's per-column ``means_`` and ``categories_``); a
    Dirichlet process's pair of ``weight_concentration_`` arrays as their
    (2, K) stack. ``lower_bound_`` (0-d) and ``lower_bounds_`` (1-d, at most
    ``n_iter_`` entries: one per iteration of ``fit``, the last batch's after
    ``partial_fit``) in the model's dtype.

Format version 1 (written up to fastgmm 3adf080; still read)
-------------------------------------------------------------
The same archive, manifest, ``params`` and members, but three header layouts
and no ``fitted`` object:

- ``GaussianMixture``: ``dtype``, ``n_components`` (the fitted count),
  ``covariance_type``, the mixtures' common fitted attributes above and
  ``degenerate_events_`` at the top level (``n_reinit_`` and ``n_dropped_``
  were counted from it, as now).
- Every other mixture: the common fitted attributes at the top level, the
  class's others in ``scalars``, and ``lists``; no ``dtype`` (it is that of
  ``weights_``). A Dirichlet process's ``weight_concentration_`` was a list
  (members ``weight_concentration_/0`` and ``/1``).
- ``GaussianMixtureSelection``: ``dtype`` (the best estimator's),
  ``best_params_``, ``best_index_``, ``n_features_in_``, ``n_omitted_`` and
  ``feature_names_in_`` at the top level, its best estimator's header (the
  GaussianMixture layout) under ``best_estimator``, and the results table
  as now.

A version-1 header is translated into the version-2 header of the same model
(``_upgrade_v1``), which is then read by the one path.

Loading checks the header, each member's presence, shape, dtype and hash,
that no member is left over, the constructor parameters, then the class's
``_validate_loaded()`` (finiteness, weights in [0, 1] summing to 1,
positive-definite precisions consistent with their Cholesky factors, ...),
and raises ``ValueError`` naming the problem for a truncated, tampered or
foreign file.
"""

import hashlib
import json
import math
import os
import secrets
import stat
import zipfile

import numpy as np

from ..engine import _schema
from ..engine._schema import ARRAY, BOOL, FLOAT64, INT, LIST, NAMES, NUMBER, POSITIVE, SCALAR, VALUES, X
from ..utils._sklearn_compat import EstimatorProtocol
from ..utils._version import __version__

FORMAT = "fastgmm-model"
FORMAT_VERSION = 2

_ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init")
# Header fields of every file, around the model's own.
_FILE_FIELDS = ("format", "format_version", "fastgmm_version", "arrays")


# ----------------------------------------------------------------------
# saving
# ----------------------------------------------------------------------
def _new_temporary_file(directory):
    """(fd, path) of a new file in ``directory`` for an atomic write, created with mode 0o666.

    The kernel applies the umask to that mode, so the model file gets the
    permissions any program's new file gets (``tempfile.mkstemp`` creates
    0o600, private whatever the umask says). O_EXCL with a random name is
    what makes the file ours.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".fastgmm-{secrets.token_hex(8)}.npz.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}: 100 random names were taken")


def save(model, path):
    """Write a fitted fastgmm model to ``path`` (an ``.npz`` file; see the module docstring).

    Parameters
    ----------
    model : fitted fastgmm estimator
        A GaussianMixture, GaussianMixtureSelection or any other fastgmm
        mixture (BayesianGaussianMixture, BernoulliMixture, ...).
    path : str or path-like
        Written as given (no suffix is added); replaced atomically. A new
        file gets the permissions of any new file (0o666 less the umask, as
        ``open`` gives), a replaced one keeps its own.

    Returns
    -------
    path : str
    """
    header, arrays = _payload(model)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastgmm_version": _version(),
              **header, "arrays": _manifest(arrays)}
    members = {"__header__": np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8)}
    members.update(arrays)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(2, "No such directory", directory)
    fd, tmp = _new_temporary_file(directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))   # replacing a file: keep its permissions
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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


class Persistent:
    """The ``save`` method of every fastgmm estimator (mixed in by each estimator class)."""

    def save(self, path):
        """Write the fitted model to ``path`` (portable ``.npz``, no pickle; read back with :func:`fastgmm.load`).

        Returns
        -------
        path : pathlib.Path
        """
        return save(self, path)


def _payload(model):
    """(header, members) of a fitted fastgmm estimator, by its class's schema (members unprefixed)."""
    cls = type(model)
    if _estimator_class(cls.__name__) is not cls:
        raise TypeError(f"fastgmm can save its own fitted estimators, not {cls.__name__}.")
    model._check_is_fitted()
    schema = cls._schema
    params, arrays = _json_params(model)
    header = {"class": cls.__name__, "params": params}
    dtype = _model_dtype(model, schema)
    if dtype is not None:
        header["dtype"] = dtype.name
    header["fitted"] = {s.attribute: _scalar_value(model, s) for s in schema.scalars}
    lists = {}
    for field in schema.arrays:
        arrays.update(_array_members(model, field, dtype, lists))
    header["lists"] = lists
    for nested in schema.nested:
        sub_header, sub_arrays = _payload(getattr(model, nested.attribute))
        header[nested.member] = sub_header
        arrays.update({f"{nested.member}/{k}": v for k, v in sub_arrays.items()})
    for table in schema.tables:
        _table_payload(getattr(model, table.attribute), table, header, arrays)
    for key, a in arrays.items():
        if a.dtype.kind not in "biuf":   # np.savez would pickle an object array: never written
            raise TypeError(f"cannot save {key!r}: an array of dtype {a.dtype}, not numbers.")
    return header, arrays


def _json_params(model):
    params, arrays = {}, {}
    for name, value in model.get_params(deep=False).items():
        if name in _ARRAY_PARAMS or isinstance(value, np.ndarray):
            if value is not None:
                arrays.update(_param_members("param/" + name, value))
            params[name] = None
        elif name == "random_state" and not (value is None or isinstance(value, (int, np.integer))):
            params[name] = None     # a RandomState's state is not a parameter worth restoring
        elif name == "callback" or callable(value):
            params[name] = None     # code, not data: never written (re-attach it after loading)
        elif isinstance(value, tuple):   # kept a tuple (JSON has only lists): get_params round-trips
            params[name] = {"tuple": [v.item() if isinstance(v, np.generic) else v for v in value]}
        elif isinstance(value, (range, list)):
            params[name] = [v.item() if isinstance(v, np.generic) else v for v in value]
        elif isinstance(value, np.generic):
            params[name] = value.item()
        else:
            params[name] = value
    json.dumps(params)     # every remaining parameter must be a JSON value
    return params, arrays


def _param_members(key, value):
    """``{key: array}``, or ``{key/i: array_i}`` for a list of arrays of different shapes."""
    if isinstance(value, (list, tuple)) and (
            any(isinstance(v, np.ndarray) for v in value) or len({np.shape(v) for v in value}) > 1):
        return {f"{key}/{i}": np.asarray(v) for i, v in enumerate(value)}
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"cannot save {key!r}: an array of dtype {a.dtype}, not numbers.")
    return {key: a}


def _model_dtype(model, schema):
    """The dtype of the schema's first X-rule array (every X-rule array must have it), or None."""
    for field in schema.arrays:
        if field.dtype == X and field.form in (ARRAY, LIST):
            value = getattr(model, field.attribute)
            a = np.asarray(value[0] if field.form == LIST else value)
            if a.dtype not in (np.float32, np.float64):
                raise ValueError(f"cannot save this {type(model).__name__}: {field.attribute} has dtype {a.dtype}; "
                                 "a fitted model's arrays are float32 or float64.")
            return a.dtype
    return None


def _array_members(model, field, dtype, lists):
    """The member(s) holding one schema array of ``model`` (a list's length recorded in ``lists``)."""
    value = getattr(model, field.attribute)
    if field.form == LIST:
        lists[field.member] = len(value)
        out = {f"{field.member}/{i}": np.asarray(v) for i, v in enumerate(value)}
    elif field.form in (SCALAR, VALUES):
        # Numbers the loop derives (lower_bound_, lower_bounds_): in the dtype their rule gives,
        # which an empty history (max_iter=0) has no other way to say.
        target = {X: dtype, FLOAT64: np.float64}.get(field.dtype)    # FLOAT: as they are
        out = {field.member: np.asarray(value, dtype=target)}
    else:
        a = np.asarray(value)
        if field.dtype == _schema.FLOAT and a.dtype.kind in "iuO":
            # A number the user gave as an int (a spherical covariance_prior=2, or 2**64): the float it is.
            a = np.asarray(value, dtype=np.float64)
        out = {field.member: a}
    for key, a in out.items():
        problem = _dtype_problem(a, field, dtype)
        if problem:
            raise ValueError(f"cannot save this {type(model).__name__}: {field.attribute} {problem}.")
    return out


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


def _scalar_value(model, scalar):
    """A schema scalar of ``model`` as a JSON value (null: an optional attribute the model lacks)."""
    if not hasattr(model, scalar.attribute):
        if scalar.optional:
            return None
        raise ValueError(f"cannot save this {type(model).__name__}: it has no {scalar.attribute}.")
    value = getattr(model, scalar.attribute)
    if value is None:
        return None
    if scalar.kind == NAMES:
        return [str(n) for n in value]
    if scalar.kind == INT:
        return int(value)
    if scalar.kind == BOOL:
        return bool(value)
    if scalar.kind == POSITIVE:
        return float(value)
    return _plain(value)


def _plain(value):
    """``value`` with NumPy scalars as Python numbers and tuples as lists (JSON's values)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _table_payload(table, spec, header, arrays):
    text = {}
    for col, values in table.items():
        if col in spec.text_columns:
            text[col] = [str(v) for v in values]
        else:
            arrays[f"{spec.member}/{col}"] = np.asarray(values)
    header[spec.member + "_columns"] = list(table)
    header[spec.member + "_text"] = text


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _manifest(arrays):
    return {k: {"shape": list(v.shape), "dtype": v.dtype.str, "sha256": _digest(v)} for k, v in arrays.items()}


# ----------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------
def load(path):
    """Read a model written by :meth:`GaussianMixture.save` (or :func:`fastgmm.save`).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    model : fastgmm estimator
        Fitted, of the class that was saved (GaussianMixture,
        GaussianMixtureSelection, BayesianGaussianMixture, ...), predicting
        exactly as the saved model did.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not a fastgmm model file, is truncated or altered, was
        written by a newer format version, or holds invalid parameters.
    """
    path = os.fspath(path)
    where = f"{path!r} is not a valid fastgmm model file"
    members, header = _read(path, where)
    if header["format_version"] == 1:
        header, members = _upgrade_v1(header, members, where)
    members = _Members(members)
    model = _build(header, members, "", where)
    unread = members.unread()
    if unread:
        raise ValueError(f"{where}: member(s) {sorted(unread)} belong to no attribute of a {type(model).__name__}.")
    return model


def _read(path, where):
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path!r}")
    try:
        npz = np.load(path, allow_pickle=False)
    except ValueError:            # neither npz nor npy: numpy would need pickle to read it
        raise ValueError(f"{where}: not a NumPy .npz archive.") from None
    except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as e:
        # NotImplementedError: zipfile's "zip file version 6.4" or an unknown
        # compression method, as a damaged central directory can claim.
        raise ValueError(f"{where}: unreadable or truncated ({e}).") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{where}: a single .npy array, not a model archive.")
    try:
        with npz:
            members = {name: npz[name] for name in npz.files}
    except Exception as e:        # CRC mismatch, truncated member, object arrays
        raise ValueError(f"{where}: damaged or truncated archive ({type(e).__name__}: {e}).") from None
    # NpzFile returns a member not named *.npy as its raw bytes.
    not_arrays = sorted(name for name, a in members.items() if not isinstance(a, np.ndarray))
    if not_arrays:
        raise ValueError(f"{where}: member(s) {not_arrays} are not .npy arrays.")
    raw = members.pop("__header__", None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{where}: no fastgmm header (not written by fastgmm).")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{where}: its header is not valid JSON ({e}).") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{where}: no fastgmm header (not written by fastgmm).")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{where}: invalid format version {version!r}.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{where}: format version {version} was written by fastgmm {header.get('fastgmm_version')}; "
            f"this fastgmm ({_version()}) reads up to version {FORMAT_VERSION}. Upgrade fastgmm.")
    manifest = header.get("arrays")
    if not isinstance(manifest, dict):
        raise ValueError(f"{where}: the header lists no arrays.")
    extra = set(members) - set(manifest)
    if extra:
        raise ValueError(f"{where}: unexpected member(s) {sorted(extra)}.")
    for name, spec in manifest.items():
        if name not in members:
            raise ValueError(f"{where}: member {name!r} is missing (truncated file?).")
        a = members[name]
        if not isinstance(spec, dict):
            raise ValueError(f"{where}: the header's entry for member {name!r} is not an object.")
        if list(a.shape) != spec.get("shape") or a.dtype.str != spec.get("dtype"):
            raise ValueError(f"{where}: member {name!r} has shape {a.shape} and dtype {a.dtype}, the header "
                             f"says {spec.get('shape')} and {spec.get('dtype')}.")
        if _digest(a) != spec.get("sha256"):
            raise ValueError(f"{where}: member {name!r} does not match its checksum (the file was altered).")
    return members, header


class _Members:
    """The archive's arrays by name, remembering which were read: a member no attribute claims is
    refused (an altered or foreign file), not silently ignored."""

    def __init__(self, arrays):
        self._arrays = arrays
        self._read = set()

    def __contains__(self, key):
        return key in self._arrays

    def get(self, key):
        a = self._arrays.get(key)
        if a is not None:
            self._read.add(key)
        return a

    def unread(self):
        return set(self._arrays) - self._read


def _get(header, key, types, where):
    value = header.get(key)
    if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
        raise ValueError(f"{where}: header field {key!r} is missing or has the wrong type.")
    return value


def _build(header, members, prefix, where):
    """The fitted estimator that ``header`` (a model's header, format 2) and its members
    (``prefix + name``) describe, validated by its class."""
    name = header.get("class")
    cls = _estimator_class(name)
    if cls is None:
        raise ValueError(f"{where}: unknown model class {name!r}.")
    schema = cls._schema
    part = f"{prefix[:-1]}: " if prefix else ""     # which estimator a problem is in: "best_estimator: ..."
    _check_fields(header, schema, not prefix, where)
    params = _params(header, members, prefix, cls, where)
    try:
        model = cls(**params)
        # predict reads n_threads and the like: a bad one must be refused now, not then.
        getattr(model, schema.check_params)()
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {part}invalid {cls.__name__} parameters ({e}).") from None
    fitted = _get(header, "fitted", dict, where)
    unknown = sorted(set(fitted) - {s.attribute for s in schema.scalars})
    if unknown:
        raise ValueError(f"{where}: fitted attribute(s) {unknown} are not attributes of a fitted {cls.__name__}.")
    for scalar in schema.scalars:
        value = _scalar(scalar, fitted.get(scalar.attribute), model, where)
        if value is not None:
            setattr(model, scalar.attribute, value)
    lists = _get(header, "lists", dict, where)
    list_members = {f.member for f in schema.arrays if f.form == LIST}
    if set(lists) != list_members:
        raise ValueError(f"{where}: header field 'lists' names {sorted(lists)}; a {cls.__name__}'s lists of "
                         f"arrays are {sorted(list_members)}.")
    dtype = _header_dtype(header, schema, where)
    for field in schema.arrays:
        setattr(model, field.attribute, _array(field, members, prefix, lists, dtype, model, where))
    for nested in schema.nested:
        sub = _get(header, nested.member, dict, where)
        setattr(model, nested.attribute, _build(sub, members, f"{prefix}{nested.member}/", where))
    for table in schema.tables:
        setattr(model, table.attribute, _table(table, header, members, prefix, where))
    try:
        model._validate_loaded()
    except (TypeError, ValueError, IndexError, np.linalg.LinAlgError) as e:
        raise ValueError(f"{where}: {part}{e}") from None
    return model


def _check_fields(header, schema, top, where):
    """No header field that the schema does not explain: a typo or a foreign writer, refused."""
    known = {"class", "params", "fitted", "lists"}
    known.update(n.member for n in schema.nested)
    known.update(t.member + suffix for t in schema.tables for suffix in ("_columns", "_text"))
    if any(f.dtype == X for f in schema.arrays):
        known.add("dtype")
    if top:
        known.update(_FILE_FIELDS)
    unknown = sorted(set(header) - known)
    if unknown:
        raise ValueError(f"{where}: unexpected header field(s) {unknown} for a {header.get('class')}.")


def _header_dtype(header, schema, where):
    if not any(f.dtype == X for f in schema.arrays):
        return None
    name = _get(header, "dtype", str, where)
    if name not in ("float32", "float64"):
        raise ValueError(f"{where}: dtype {name!r} (expected float32 or float64).")
    return np.dtype(name)


def _scalar(scalar, value, model, where):
    """A header value checked and converted by its schema kind; None: the model has no such attribute."""
    name = scalar.attribute
    if value is None:
        if scalar.optional:
            return None
        raise ValueError(f"{where}: fitted attribute {name!r} is missing.")
    kind = scalar.kind
    if kind == INT:
        if not isinstance(value, int) or isinstance(value, bool) or (scalar.low is not None and value < scalar.low):
            wanted = "an int" if scalar.low is None else f"an int >= {scalar.low}"
            raise ValueError(f"{where}: {name} must be {wanted}, got {value!r}.")
    elif kind == BOOL:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: {name} must be true or false, got {value!r}.")
    elif kind == NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: {name} must be a number, got {value!r}.")
    elif kind == POSITIVE:
        try:
            number = float(value) if not isinstance(value, bool) and isinstance(value, (int, float)) else math.nan
        except OverflowError:    # an int beyond float range
            number = math.inf
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"{where}: {name} must be a positive finite number, got {value!r}.")
        value = number
    elif kind == NAMES:
        D = model.n_features_in_
        if not isinstance(value, list) or len(value) != D or not all(isinstance(n, str) for n in value):
            raise ValueError(f"{where}: {name} must be {D} strings.")
        value = np.asarray(value, dtype=object)
    return value


def _array(field, members, prefix, lists, dtype, model, where):
    """One schema array read from its member(s), in the form of the fitted attribute."""
    key = prefix + field.member
    if field.form == LIST:
        n = _count(lists[field.member], key, where)
        return [_checked(a, field, dtype, f"{key}/{i}", where)
                for i, a in enumerate(_member_list(members, key, n, where))]
    a = members.get(key)
    if a is None:
        raise ValueError(f"{where}: member {key!r} is missing.")
    a = _checked(a, field, dtype, key, where)
    if field.form == SCALAR:
        if a.ndim != 0:
            raise ValueError(f"{where}: {field.attribute} must be one number (a 0-d member), not shape {a.shape}.")
        return a.dtype.type(a[()])
    if field.form == VALUES:
        limit = getattr(model, field.at_most) if field.at_most else None
        if a.ndim != 1 or (limit is not None and a.shape[0] > limit):
            raise ValueError(f"{where}: {field.attribute} has shape {a.shape}; it holds at most "
                             f"{field.at_most}={limit} values.")
        return [a.dtype.type(v) for v in a]
    return a


def _checked(a, field, dtype, key, where):
    # A fit writes float32 or float64 arrays only. Anything else reaches code
    # that assumes them: a complex array lost its imaginary part in the
    # families' float64 casts (a ComplexWarning, then a silently different
    # model), float16 categories overflowed comparing with 2**16.
    problem = _dtype_problem(a, field, dtype)
    if problem:
        raise ValueError(f"{where}: member {key!r} {problem}.")
    return a


def _member_list(members, key, n, where):
    """The arrays ``key/0``, ``key/1``, ... (``n`` of them; None: as many as there are)."""
    items = []
    # Stops at the first absent member: a huge n (an altered file) costs nothing.
    while (n is None or len(items) < n) and f"{key}/{len(items)}" in members:
        items.append(members.get(f"{key}/{len(items)}"))
    if n is not None and len(items) != n:
        raise ValueError(f"{where}: member {key}/{len(items)} is missing.")
    return items


def _params(header, members, prefix, cls, where):
    params = dict(_get(header, "params", dict, where))
    known = set(cls._get_param_names())
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"{where}: unknown {cls.__name__} parameter(s) {sorted(unknown)}.")
    for name, value in params.items():
        if isinstance(value, dict):
            if set(value) != {"tuple"} or not isinstance(value["tuple"], list):
                raise ValueError(f"{where}: parameter {name!r} has an unknown encoding.")
            params[name] = tuple(value["tuple"])
    for name in params:
        key = prefix + "param/" + name
        if key in members:
            params[name] = members.get(key)
        elif key + "/0" in members:
            params[name] = _member_list(members, key, None, where)
    return params


def _table(spec, header, members, prefix, where):
    """A dict of equal-length columns: text ones from the header, numeric ones from members."""
    columns = _get(header, spec.member + "_columns", list, where)
    if not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
        raise ValueError(f"{where}: {spec.member}_columns must be a list of distinct column names.")
    text = _get(header, spec.member + "_text", dict, where)
    if not set(text) <= set(columns) & set(spec.text_columns):
        raise ValueError(f"{where}: {spec.member}_text holds column(s) {sorted(set(text) - set(columns))} "
                         f"that are not text columns of {spec.member}_columns.")
    table, n_rows = {}, None
    for col in columns:
        if col in spec.text_columns:
            values = text.get(col)
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"{where}: {spec.member} column {col!r} is missing (a list of strings).")
            values = list(values)
        else:
            values = members.get(f"{prefix}{spec.member}/{col}")
            if values is None or values.ndim != 1 or values.dtype.kind not in "biuf":
                raise ValueError(f"{where}: {spec.member} column {col!r} is missing (a 1-d array of numbers).")
        if n_rows is None:
            n_rows = len(values)
        elif len(values) != n_rows:
            raise ValueError(f"{where}: {spec.member} column {col!r} has {len(values)} rows, not {n_rows}.")
        table[col] = values
    return table


# ----------------------------------------------------------------------
# format version 1
# ----------------------------------------------------------------------
# The fitted attributes every format-1 mixture header held at its top level.
_V1_MIXTURE_FIELDS = ("n_features_in_", "converged_", "n_iter_", "n_omitted_", "n_steps_", "n_samples_seen_",
                      "feature_names_in_")
_V1_SELECTION_FIELDS = ("best_params_", "best_index_", "n_features_in_", "n_omitted_", "feature_names_in_")


def _upgrade_v1(header, members, where):
    """A format-1 header (three layouts, see the module docstring) as the format-2 header of the
    same model, and the members (a list-stored weight_concentration_ as its stack)."""
    header = dict(header)
    name = header.get("class")
    if _estimator_class(name) is None:
        raise ValueError(f"{where}: unknown model class {name!r}.")
    if name == "GaussianMixtureSelection":
        header["best_estimator"] = _upgrade_v1_gaussian(_get(header, "best_estimator", dict, where))
        header["fitted"] = {k: header.pop(k, None) for k in _V1_SELECTION_FIELDS}
        header.pop("dtype", None)       # the best estimator's, which its own header says
        header["lists"] = {}
        return header, members
    if name == "GaussianMixture":
        return _upgrade_v1_gaussian(header), members
    # Every other mixture: the generic layout. Its dtype is that of weights_ (not written).
    fitted = {k: header.pop(k, None) for k in _V1_MIXTURE_FIELDS}
    fitted.update(_get(header, "scalars", dict, where))
    del header["scalars"]
    # The Student-t mixture stored the counts of its events; they are recounted from them now.
    for count in _schema.DEGENERATE_COUNTS:
        fitted.pop(count, None)
    header["fitted"] = fitted
    weights = members.get("weights_")
    if weights is None:
        raise ValueError(f"{where}: member 'weights_' is missing.")
    header["dtype"] = weights.dtype.name
    lists = dict(_get(header, "lists", dict, where))
    members = dict(members)
    schema = _estimator_class(name)._schema
    for field in schema.arrays:
        if field.form == ARRAY and field.member in lists:
            # A pair of arrays (a Dirichlet process's weight_concentration_) was a list: its stack now.
            items = _member_list(members, field.member, _count(lists.pop(field.member), field.member, where),
                                 where)
            if not items or len({(a.shape, a.dtype.str) for a in items}) != 1:
                raise ValueError(f"{where}: the items of {field.member} differ in shape or dtype.")
            for i in range(len(items)):
                del members[f"{field.member}/{i}"]
            members[field.member] = np.stack(items)
    header["lists"] = lists
    return header, members


def _upgrade_v1_gaussian(header):
    """A format-1 GaussianMixture header as format 2's."""
    header = dict(header)
    fitted = {k: header.pop(k, None) for k in _V1_MIXTURE_FIELDS}
    # n_components (the fitted count) and covariance_type repeated what the arrays and the
    # parameters say, from which they are read now.
    header.pop("n_components", None)
    header.pop("covariance_type", None)
    fitted["degenerate_events_"] = header.pop("degenerate_events_", [])   # absent in older files: none
    header["fitted"] = fitted
    header["lists"] = {}
    return header


def _count(n, name, where):
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{where}: list length of {name!r} is not a count.")
    return n
