"""Reading a model file: the archive and its manifest checked member by member, the header's fields, a
version-1 header translated into version 2, and the estimator built from its schema (the format is described in
``fastgmm.io._persistence``)."""

import json
import math
import os
import zipfile

import numpy as np

from ..engine import _schema
from ..engine._schema import ARRAY, BOOL, INT, LIST, NAMES, NUMBER, POSITIVE, SCALAR, VALUES, X
from ._format import _FILE_FIELDS, FORMAT, FORMAT_VERSION, _digest, _dtype_problem, _estimator_class, _version


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
