"""Saving and loading fitted models: a portable, versioned file, never pickle.

File format (``FORMAT_VERSION`` 1)
----------------------------------
A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` members, readable
with ``numpy.load(path, allow_pickle=False)`` from any language with an npy
reader) holding only numeric arrays:

``__header__``
    uint8 array: the UTF-8 bytes of a JSON object with ``format``
    (``"fastgmm-model"``), ``format_version`` (1), ``fastgmm_version`` (the
    writer's), ``class`` (``"GaussianMixture"`` or
    ``"GaussianMixtureSelection"``), ``params`` (the constructor parameters
    that are JSON values; array-valued parameters are stored as members
    ``param/<name>``; a ``RandomState`` instance as ``random_state`` is saved
    as null; a tuple is written as ``{"tuple": [...]}`` so that it reads back
    as a tuple), ``dtype`` (``"float32"`` or ``"float64"``, the fitted
    parameters'), the scalar fitted attributes (``n_components``,
    ``covariance_type``, ``n_features_in_``, ``converged_``, ``n_iter_``,
    ``n_omitted_``, ``feature_names_in_`` or null, and ``n_steps_``, the number of
    ``partial_fit`` batches, or null) and ``arrays``: the name,
    shape, dtype and SHA-256 of every other member. A ``callback`` parameter
    is code, not data: it is written as null.
``weights_``, ``means_``, ``covariances_``, ``precisions_``, ``precisions_cholesky_``
    The fitted parameters, in the model's dtype, exactly as in memory (so a
    loaded model predicts bitwise identically).
``lower_bound_`` (0-d), ``lower_bounds_`` (1-d, at most ``n_iter_`` entries:
    one per iteration of ``fit``, the last batch's after ``partial_fit``)
    In the model's dtype.

A ``GaussianMixtureSelection`` file has the same header (its own ``params``
and ``best_params_``, ``best_index_``, ``n_features_in_``, ``n_omitted_``,
``feature_names_in_``), its best estimator's header under ``best_estimator``
and arrays as members ``best_estimator/<name>``, and ``results_``: the text
columns in the header, the numeric ones as members ``results/<column>``. Only
the chosen fit is stored: after loading, ``estimators_`` holds just it.

Every other estimator (``BayesianGaussianMixture``, ``BernoulliMixture``,
``PoissonMixture``, ``CategoricalMixture``, ``StudentTMixture``) is stored the
same way by one generic path: the header has ``class``, ``params``,
``n_features_in_``, ``converged_``, ``n_iter_``, ``n_omitted_``,
``feature_names_in_``, ``scalars`` (the class's ``_persisted_scalars``: JSON
values) and ``lists`` (the number of items of each array attribute that is a
list of arrays, e.g. the per-column tables of a categorical mixture); the
members are the class's ``_persisted_arrays`` (a list attribute as
``<name>/<i>``), ``lower_bound_`` and ``lower_bounds_``, and array-valued
constructor parameters as ``param/<name>`` (a list of arrays as
``param/<name>/<i>``). After setting the attributes the loader calls the
class's ``_validate_loaded()``, which checks shapes, ranges and finiteness.

Loading checks the header, each member's presence, shape, dtype and hash,
finiteness, weights in [0, 1] summing to 1, positive-definite precisions
consistent with their Cholesky factors, and raises ``ValueError`` naming
the problem for a truncated, tampered or foreign file.
"""

import hashlib
import json
import os
import secrets
import stat
import zipfile

import numpy as np

FORMAT = "fastgmm-model"
FORMAT_VERSION = 1

_GM_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
              "lower_bound_", "lower_bounds_")
_ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init")
_SELECTION_TEXT_COLUMNS = ("covariance_type", "degenerate_reason", "error", "init")


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
    from ._gaussian_mixture import GaussianMixture
    from ._selection import GaussianMixtureSelection

    if isinstance(model, GaussianMixtureSelection):
        model._check_is_fitted()
        header, arrays = _selection_payload(model)
    elif type(model) is GaussianMixture:
        model._check_is_fitted()
        header, arrays = _gm_payload(model)
    elif _family_class(type(model).__name__) is type(model):
        model._check_is_fitted()
        header, arrays = _family_payload(model)
    else:
        raise TypeError(f"fastgmm can save its own fitted estimators, not {type(model).__name__}.")
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
    from . import __version__

    return __version__


def _json_params(model):
    params, arrays = {}, {}
    for name, value in model.get_params(deep=False).items():
        if name in _ARRAY_PARAMS or isinstance(value, np.ndarray):
            if value is not None:
                arrays.update(_array_members("param/" + name, value))
            params[name] = None
        elif name == "random_state" and not (value is None or isinstance(value, (int, np.integer))):
            params[name] = None     # a RandomState's state is not a parameter worth restoring
        elif name == "callback":
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


def _gm_payload(gm, prefix=""):
    params, arrays = _json_params(gm)
    dtype = gm.means_.dtype
    header = {
        "class": "GaussianMixture",
        "params": params,
        "dtype": dtype.name,
        # The fitted count: fewer than the n_components parameter after on_degenerate="drop".
        "n_components": int(np.shape(gm.weights_)[0]),
        "covariance_type": gm.covariance_type,
        "n_features_in_": int(gm.n_features_in_),
        "converged_": bool(gm.converged_),
        "n_iter_": int(gm.n_iter_),
        "n_omitted_": int(getattr(gm, "n_omitted_", 0)),
        "n_steps_": int(gm.n_steps_) if hasattr(gm, "n_steps_") else None,
        "n_samples_seen_": _seen(gm),
        "feature_names_in_": _feature_names(gm),
        "degenerate_events_": [list(e) for e in getattr(gm, "degenerate_events_", [])],
    }
    for name in _GM_ARRAYS:
        arrays[name] = np.asarray(getattr(gm, name), dtype=dtype)
    return header, {prefix + k: v for k, v in arrays.items()}


def _array_members(key, value):
    """``{key: array}``, or ``{key/i: array_i}`` for a list of arrays of different shapes."""
    if isinstance(value, (list, tuple)) and (
            any(isinstance(v, np.ndarray) for v in value) or len({np.shape(v) for v in value}) > 1):
        return {f"{key}/{i}": np.asarray(v) for i, v in enumerate(value)}
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"cannot save {key!r}: an array of dtype {a.dtype}, not numbers.")
    return {key: a}


def _family_class(name):
    """The fastgmm estimator class called ``name`` that stores itself by the generic path, or None."""
    import fastgmm

    cls = getattr(fastgmm, name, None) if isinstance(name, str) and not name.startswith("_") else None
    if isinstance(cls, type) and hasattr(cls, "_persisted_arrays") and hasattr(cls, "_validate_loaded"):
        return cls
    return None


def _family_payload(model):
    params, arrays = _json_params(model)
    lists = {}
    for name in model._persisted_arrays:
        value = getattr(model, name)
        if isinstance(value, (list, tuple)):
            lists[name] = len(value)
            for i, v in enumerate(value):
                arrays[f"{name}/{i}"] = np.asarray(v)
        else:
            arrays[name] = np.asarray(value)
    arrays["lower_bound_"] = np.asarray(model.lower_bound_)
    arrays["lower_bounds_"] = np.asarray(model.lower_bounds_, dtype=arrays["lower_bound_"].dtype)
    scalars = {}
    for name in getattr(model, "_persisted_scalars", ()):
        value = getattr(model, name)
        scalars[name] = value.item() if isinstance(value, np.generic) else value
    json.dumps(scalars)
    header = {
        "class": type(model).__name__,
        "params": params,
        "n_features_in_": int(model.n_features_in_),
        "converged_": bool(model.converged_),
        "n_iter_": int(model.n_iter_),
        "n_omitted_": int(getattr(model, "n_omitted_", 0)),
        "n_steps_": int(model.n_steps_) if hasattr(model, "n_steps_") else None,
        "n_samples_seen_": _seen(model),
        "feature_names_in_": _feature_names(model),
        "scalars": scalars,
        "lists": lists,
    }
    return header, arrays


def _selection_payload(sel):
    params, arrays = _json_params(sel)
    best_header, best_arrays = _gm_payload(sel.best_estimator_, prefix="best_estimator/")
    text = {}
    for col, values in sel.results_.items():
        if col in _SELECTION_TEXT_COLUMNS:
            text[col] = [str(v) for v in values]
        else:
            arrays["results/" + col] = np.asarray(values)
    arrays.update(best_arrays)
    header = {
        "class": "GaussianMixtureSelection",
        "params": params,
        "dtype": best_header["dtype"],
        "best_params_": {"covariance_type": sel.best_params_["covariance_type"],
                         "n_components": int(sel.best_params_["n_components"])},
        "best_index_": int(sel.best_index_),
        "n_features_in_": int(sel.n_features_in_),
        "n_omitted_": int(getattr(sel, "n_omitted_", 0)),
        "feature_names_in_": _feature_names(sel),
        "results_text": text,
        "results_columns": list(sel.results_),
        "best_estimator": best_header,
    }
    return header, arrays


def _seen(model):
    """``n_samples_seen_`` (the weight online EM scales a batch against) as a JSON number, or null."""
    seen = getattr(model, "n_samples_seen_", None)
    return None if seen is None else float(seen)


def _set_online_state(model, header, where):
    """``n_steps_`` and ``n_samples_seen_`` from a header (both optional: files from before them)."""
    n_steps = header.get("n_steps_")
    if n_steps is not None:
        if not isinstance(n_steps, int) or isinstance(n_steps, bool) or n_steps < 1:
            raise ValueError(f"{where}: n_steps_ must be a positive int or null, got {n_steps!r}.")
        model.n_steps_ = n_steps
    seen = header.get("n_samples_seen_")
    if seen is not None:
        if isinstance(seen, bool) or not isinstance(seen, (int, float)) or not (np.isfinite(seen) and seen > 0):
            raise ValueError(f"{where}: n_samples_seen_ must be a positive finite number or null, got {seen!r}.")
        model.n_samples_seen_ = float(seen)


def _feature_names(model):
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


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
    model : GaussianMixture or GaussianMixtureSelection
        Fitted, predicting exactly as the saved model did.

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
    cls = header.get("class")
    if cls == "GaussianMixture":
        return _build_gm(header, members, "", where)
    if cls == "GaussianMixtureSelection":
        return _build_selection(header, members, where)
    if _family_class(cls) is not None:
        return _build_family(_family_class(cls), header, members, where)
    raise ValueError(f"{where}: unknown model class {cls!r}.")


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
    if not isinstance(version, int) or version < 1:
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
        if list(a.shape) != spec.get("shape") or a.dtype.str != spec.get("dtype"):
            raise ValueError(f"{where}: member {name!r} has shape {a.shape} and dtype {a.dtype}, the header "
                             f"says {tuple(spec.get('shape', ()))} and {spec.get('dtype')}.")
        if _digest(a) != spec.get("sha256"):
            raise ValueError(f"{where}: member {name!r} does not match its checksum (the file was altered).")
    return members, header


def _get(header, key, types, where):
    value = header.get(key)
    if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
        raise ValueError(f"{where}: header field {key!r} is missing or has the wrong type.")
    return value


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
            params[name] = members[key]
        elif key + "/0" in members:
            params[name] = _member_list(members, key, None, where)
    return params


def _member_list(members, key, n, where):
    """The arrays ``key/0``, ``key/1``, ... (``n`` of them; None: as many as there are)."""
    items = []
    while (n is None or len(items) < n) and f"{key}/{len(items)}" in members:
        items.append(members[f"{key}/{len(items)}"])
    if n is not None and len(items) != n:
        raise ValueError(f"{where}: member {key}/{len(items)} is missing.")
    return items


def _build_family(cls, header, members, where):
    params = _params(header, members, "", cls, where)
    try:
        model = cls(**params)
        model._validate_base_params()
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: invalid {cls.__name__} parameters ({e}).") from None
    lists = _get(header, "lists", dict, where)
    for name in cls._persisted_arrays:
        if name in lists:
            n = lists[name]
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValueError(f"{where}: list length of {name!r} is not a count.")
            setattr(model, name, [_real_member(a, f"{name}/{i}", where)
                                  for i, a in enumerate(_member_list(members, name, n, where))])
        elif name in members:
            setattr(model, name, _real_member(members[name], name, where))
        else:
            raise ValueError(f"{where}: member {name!r} is missing.")
    scalars = _get(header, "scalars", dict, where)
    for name in getattr(cls, "_persisted_scalars", ()):
        if name not in scalars:
            raise ValueError(f"{where}: header field {name!r} is missing.")
        setattr(model, name, scalars[name])
    n_iter = _get(header, "n_iter_", int, where)
    D = _get(header, "n_features_in_", int, where)
    if n_iter < 0 or D < 1:
        raise ValueError(f"{where}: n_iter_={n_iter} and n_features_in_={D} must be >= 0 and >= 1.")
    lb = members.get("lower_bound_")
    history = members.get("lower_bounds_")
    if lb is None or lb.shape != () or lb.dtype.kind != "f":
        raise ValueError(f"{where}: lower_bound_ must be a real scalar.")
    if history is None or history.ndim != 1 or history.shape[0] > n_iter or history.dtype != lb.dtype:
        raise ValueError(f"{where}: lower_bounds_ must hold at most n_iter_={n_iter} values of lower_bound_'s dtype.")
    model.lower_bound_ = lb.dtype.type(lb[()])
    model.lower_bounds_ = [lb.dtype.type(v) for v in history]
    model.converged_ = bool(_get(header, "converged_", bool, where))
    model.n_iter_ = n_iter
    model.n_features_in_ = D
    model.n_omitted_ = _get(header, "n_omitted_", int, where)
    _set_online_state(model, header, where)
    _set_feature_names(model, header, D, where)
    try:
        model._validate_loaded()
    except (TypeError, ValueError, IndexError, np.linalg.LinAlgError) as e:
        raise ValueError(f"{where}: {e}") from None
    return model


def _real_member(a, name, where):
    # A fit writes float32 or float64 arrays only. Anything else reaches code
    # that assumes them: a complex array lost its imaginary part in the
    # families' float64 casts (a ComplexWarning, then a silently different
    # model), float16 categories overflowed comparing with 2**16.
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(f"{where}: member {name!r} has dtype {a.dtype}; a fitted model's arrays are float32 "
                         "or float64 (native byte order).")
    return a


def _build_gm(header, members, prefix, where):
    from . import _gaussian
    from ._gaussian import COV_TYPES
    from ._gaussian_mixture import GaussianMixture

    dtype_name = _get(header, "dtype", str, where)
    if dtype_name not in ("float32", "float64"):
        raise ValueError(f"{where}: dtype {dtype_name!r} (expected float32 or float64).")
    dtype = np.dtype(dtype_name)
    ct = _get(header, "covariance_type", str, where)
    if ct not in COV_TYPES:
        raise ValueError(f"{where}: unknown covariance_type {ct!r}.")
    K = _get(header, "n_components", int, where)
    D = _get(header, "n_features_in_", int, where)
    if K < 1 or D < 1:
        raise ValueError(f"{where}: n_components={K} and n_features_in_={D} must be >= 1.")
    n_iter = _get(header, "n_iter_", int, where)
    cov_shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[ct]
    shapes = {"weights_": (K,), "means_": (K, D), "covariances_": cov_shape, "precisions_": cov_shape,
              "precisions_cholesky_": cov_shape, "lower_bound_": ()}
    arrays = {}
    history = members.get(prefix + "lower_bounds_")
    if history is not None and history.ndim == 1 and history.shape[0] <= n_iter:
        shapes["lower_bounds_"] = history.shape     # one per iteration of fit; the last batch's after partial_fit
    else:
        shapes["lower_bounds_"] = (n_iter,)
    for name, shape in shapes.items():
        a = members.get(prefix + name)
        if a is None:
            raise ValueError(f"{where}: member {prefix + name!r} is missing.")
        if a.shape != shape or a.dtype != dtype:
            raise ValueError(f"{where}: {name} has shape {a.shape} and dtype {a.dtype}; a {ct} model with "
                             f"K={K}, {D} features in {dtype_name} needs shape {shape}.")
        arrays[name] = a
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        if not np.all(np.isfinite(arrays[name])):
            raise ValueError(f"{where}: {name} contains NaN or infinity.")
    w = arrays["weights_"].astype(np.float64)
    tol = max(1e-8, 10 * K * float(np.finfo(dtype).eps))
    if np.any(w < 0) or np.any(w > 1) or abs(w.sum() - 1.0) > tol:
        raise ValueError(f"{where}: the weights must lie in [0, 1] and sum to 1 (they sum to {w.sum():.17g}).")
    prec = arrays["precisions_"].astype(np.float64)
    pc = arrays["precisions_cholesky_"].astype(np.float64)
    try:
        _gaussian.check_precisions(prec, ct)
    except (ValueError, np.linalg.LinAlgError) as e:
        raise ValueError(f"{where}: the precisions are not positive definite ({e}).") from None
    if ct in ("full", "tied"):
        diag = np.diagonal(pc, axis1=-2, axis2=-1)
        if np.any(diag <= 0):
            raise ValueError(f"{where}: precisions_cholesky_ has a non-positive diagonal.")
    elif np.any(pc <= 0):
        raise ValueError(f"{where}: precisions_cholesky_ must be positive.")
    # A huge (altered) factor overflows when squared: inf then fails the comparison below.
    with np.errstate(over="ignore", invalid="ignore"):
        rebuilt = _gaussian.precisions_from_cholesky(pc, ct)
    scale = np.max(np.abs(prec))
    if not np.allclose(rebuilt, prec, rtol=1e-4 if dtype == np.float32 else 1e-9, atol=1e-6 * scale):
        raise ValueError(f"{where}: precisions_ and precisions_cholesky_ disagree.")
    params = _params(header, members, prefix, GaussianMixture, where)
    try:
        gm = GaussianMixture(**params)
        gm._validate_base_params()      # predict reads n_threads: a bad one must not wait for it
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: invalid GaussianMixture parameters ({e}).") from None
    if gm.n_components < K or gm.covariance_type != ct:
        raise ValueError(f"{where}: its parameters say n_components={gm.n_components}, "
                         f"covariance_type={gm.covariance_type!r}, its arrays K={K}, {ct!r}.")
    gm.weights_ = arrays["weights_"]
    gm.means_ = arrays["means_"]
    gm.covariances_ = arrays["covariances_"]
    gm.precisions_ = arrays["precisions_"]
    gm.precisions_cholesky_ = arrays["precisions_cholesky_"]
    gm.converged_ = bool(_get(header, "converged_", bool, where))
    gm.n_iter_ = n_iter
    gm.lower_bound_ = dtype.type(arrays["lower_bound_"][()])
    gm.lower_bounds_ = [dtype.type(v) for v in arrays["lower_bounds_"]]
    gm.n_features_in_ = D
    gm.n_omitted_ = _get(header, "n_omitted_", int, where)
    _set_online_state(gm, header, where)
    _set_feature_names(gm, header, D, where)
    _set_degenerate_events(gm, header, K, n_iter, where)
    return gm


def _set_degenerate_events(gm, header, K, n_iter, where):
    """``degenerate_events_`` and its counts from the header (absent in older files: none)."""
    from . import _degenerate

    events = header.get("degenerate_events_", [])
    try:
        _degenerate.check_events(events, n_iter, gm.n_components, K)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    _degenerate.set_fitted_events(gm, events)


def _set_feature_names(model, header, D, where):
    names = header.get("feature_names_in_")
    if names is None:
        return
    if not isinstance(names, list) or len(names) != D or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where}: feature_names_in_ must be {D} strings.")
    model.feature_names_in_ = np.asarray(names, dtype=object)


def _build_selection(header, members, where):
    from ._selection import GaussianMixtureSelection

    best_header = _get(header, "best_estimator", dict, where)
    best = _build_gm(best_header, members, "best_estimator/", where)
    params = _params(header, members, "", GaussianMixtureSelection, where)
    sel = GaussianMixtureSelection(**params)
    columns = _get(header, "results_columns", list, where)
    if not all(isinstance(c, str) for c in columns):   # [null] was a TypeError building the member name
        raise ValueError(f"{where}: results_columns must be a list of column names.")
    text = _get(header, "results_text", dict, where)
    results = {}
    n_rows = None
    for col in columns:
        if col in _SELECTION_TEXT_COLUMNS:
            values = text.get(col)
            if not isinstance(values, list):
                raise ValueError(f"{where}: results column {col!r} is missing.")
            results[col] = list(values)
        else:
            values = members.get("results/" + col)
            if values is None or values.ndim != 1:
                raise ValueError(f"{where}: results column {col!r} is missing.")
            results[col] = values
        if n_rows is None:
            n_rows = len(values)
        elif len(values) != n_rows:
            raise ValueError(f"{where}: results column {col!r} has {len(values)} rows, not {n_rows}.")
    best_params = _get(header, "best_params_", dict, where)
    if best_params != {"covariance_type": best.covariance_type, "n_components": best.n_components}:
        raise ValueError(f"{where}: best_params_ {best_params} do not describe the stored estimator.")
    best_index = _get(header, "best_index_", int, where)
    if not 0 <= best_index < (n_rows or 0):
        raise ValueError(f"{where}: best_index_ {best_index} is outside the results table.")
    sel.results_ = results
    sel.best_params_ = dict(best_params)
    sel.best_index_ = best_index
    sel.best_estimator_ = best
    sel.estimators_ = {(best.covariance_type, best.n_components): best}
    sel.n_features_in_ = _get(header, "n_features_in_", int, where)
    sel.n_omitted_ = _get(header, "n_omitted_", int, where)
    if sel.n_features_in_ != best.n_features_in_:
        raise ValueError(f"{where}: the selection and its best estimator disagree on n_features_in_.")
    _set_feature_names(sel, header, sel.n_features_in_, where)
    return sel
