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

import json
import os
import secrets
import stat

import numpy as np

from ..engine import _schema
from ..engine._schema import ARRAY, BOOL, FLOAT64, INT, LIST, NAMES, POSITIVE, SCALAR, VALUES, X
from ._format import FORMAT, FORMAT_VERSION, _digest, _dtype_problem, _estimator_class, _version
from ._read import _build, _Members, _read, _upgrade_v1

_ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init")


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
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
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

