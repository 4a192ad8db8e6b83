"""The ``fastgmm`` command line (also ``python -m fastgmm``).

Subcommands: ``fit``, ``select``, ``predict``, ``info``, ``config``, ``demo``
and ``bench``; ``fastgmm COMMAND --help`` describes each option. A user's
mistake (a missing or malformed file, a bad column, an invalid option) ends
with one line ``fastgmm: error: ...`` on stderr and exit status 2, never a
traceback; a traceback means a bug in fastgmm.

``fit --model NAME`` fits any model of ``MODELS``, a registry of the model
names, their estimator classes and their own options; a new family is one
entry there. A model is given only the options it takes: its own ones, and
the shared ones (``--nan-policy``, ``--reg-covar``, ...) only where its
``get_params()`` has them, so an option it lacks is the user's mistake, not
a TypeError.
"""

import argparse
import csv
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._selection_table import format_results

PROG = "fastgmm"
COV_TYPES = ("full", "tied", "diag", "spherical")
NAN_POLICIES = ("raise", "omit", "marginalize")
EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake in the command's input: reported in one line, no traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints the whole usage block; one line that points to --help is easier to read.
        self.exit(EXIT_USER_ERROR, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


# ----------------------------------------------------------------------
# argument types
# ----------------------------------------------------------------------
def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _finite_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _threads(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("0 threads: use a positive count, or -1 for every core")
    return value


def parse_components(text):
    """'3', '1-10', '1,2,5' or '2-4,8' as a sorted list of ints >= 1."""
    ks = set()
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            lo = int(lo)
            hi = int(hi) if sep else lo
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid number of components {text!r}: use e.g. 3, 1-10 or 1,2,5") from None
        if lo < 1 or hi < lo:
            raise argparse.ArgumentTypeError(
                f"invalid number of components {text!r}: every K must be >= 1 and a range low-high ascending")
        ks.update(range(lo, hi + 1))
    return sorted(ks)


def _single_component(text):
    ks = parse_components(text)
    if len(ks) != 1:
        raise argparse.ArgumentTypeError(f"fit takes one K, got {text!r} (use 'fastgmm select' to compare several)")
    return ks[0]


def _cov_types(text):
    cts = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in cts if t not in COV_TYPES]
    if bad or not cts:
        raise argparse.ArgumentTypeError(f"invalid covariance type(s) {bad or text!r}: choose from {', '.join(COV_TYPES)}")
    return list(dict.fromkeys(cts))


# ----------------------------------------------------------------------
# reading data
# ----------------------------------------------------------------------
def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def read_table(path, columns=None):
    """(X float64 of shape (n, d), column names or None) from a .csv, .tsv, .npy or .parquet file.

    ``columns``: a comma-separated list of names (needs a header) or 0-based
    indices; or a list of a model's column names (all columns, in order, when
    the file has no header).
    """
    if not os.path.exists(path):
        raise UserError(f"no such file: {path}")
    if os.path.isdir(path):
        raise UserError(f"{path} is a directory, not a data file")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".csv", ".tsv", ".txt"):
        names, cols = _read_delimited(path, "\t" if ext == ".tsv" else ",")
    elif ext == ".npy":
        names, cols = _read_npy(path)
    elif ext == ".parquet":
        names, cols = _read_parquet(path)
    else:
        raise UserError(f"{path}: unsupported input format {ext or '(no extension)'!r}; "
                        "use .csv, .tsv, .npy or .parquet")
    if isinstance(columns, list):       # a model's own column names: positional without a header
        if names is None:
            columns = None
        else:
            missing = [n for n in columns if n not in names]
            if missing:
                raise UserError(f"{path} lacks the model's column(s) {', '.join(missing)}")
            columns = [names.index(n) for n in columns]
    selected = columns if isinstance(columns, list) else _select_columns(path, names, len(cols), columns)
    arrays = [_numeric_column(path, names, j, cols[j]) for j in selected]
    n_rows = len(arrays[0]) if arrays else 0
    if n_rows == 0:
        raise UserError(f"{path} has no data rows")
    X = np.column_stack(arrays).astype(np.float64, copy=False)
    return X, (None if names is None else [names[j] for j in selected])


def _read_delimited(path, delimiter):
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f, delimiter=delimiter) if any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text file (is it really a .csv?)") from None
    except csv.Error as e:
        raise UserError(f"{path}: malformed CSV ({e})") from None
    if not rows:
        raise UserError(f"{path} is empty")
    first = rows[0]
    # A header is a first row with a non-empty cell that is not a number.
    has_header = any(c.strip() and not _is_number(c) for c in first)
    names = [c.strip() for c in first] if has_header else None
    body = rows[1:] if has_header else rows
    width = len(first)
    for i, r in enumerate(body):
        if len(r) != width:
            raise UserError(f"{path}: row {i + 1 + has_header} has {len(r)} fields, the first has {width}")
    cols = [[r[j] for r in body] for j in range(width)]
    return names, cols


def _read_npy(path):
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise UserError(f"{path} is not a readable .npy array ({e})") from None
    except (OSError, EOFError) as e:
        raise UserError(f"{path} is not a readable .npy array ({e})") from None
    if not isinstance(a, np.ndarray):
        raise UserError(f"{path} is not a single .npy array")
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise UserError(f"{path} holds a {a.ndim}-d array; expected 2-d (rows x features)")
    if a.dtype.names is not None:
        return list(a.dtype.names), [a[n] for n in a.dtype.names]
    return None, [a[:, j] for j in range(a.shape[1])]


def _read_parquet(path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("reading .parquet files needs pyarrow (pip install pyarrow); "
                        "or convert the file to .csv or .npy") from None
    try:
        table = pq.read_table(path)
    except Exception as e:     # pyarrow's own error classes
        raise UserError(f"{path} is not a readable Parquet file ({e})") from None
    return list(table.column_names), [table.column(j).to_numpy(zero_copy_only=False)
                                      for j in range(table.num_columns)]


def _select_columns(path, names, width, columns):
    if columns is None:
        return list(range(width))
    selected = []
    for item in (c.strip() for c in columns.split(",")):
        if names is not None and item in names:
            selected.append(names.index(item))
            continue
        try:
            j = int(item)
        except ValueError:
            if names is None:
                raise UserError(f"{path} has no header row, so --columns must be 0-based indices, "
                                f"not {item!r}") from None
            raise UserError(f"{path} has no column {item!r}; its columns are {', '.join(names)}") from None
        if not 0 <= j < width:
            raise UserError(f"column index {j} is out of range: {path} has {width} columns (0 to {width - 1})")
        selected.append(j)
    if not selected or len(set(selected)) != len(selected):
        raise UserError(f"--columns {columns!r} must name each column once")
    return selected


def _numeric_column(path, names, j, values):
    label = f"column {names[j]!r}" if names is not None else f"column {j}"
    a = np.asarray(values)
    if a.dtype.kind in "fiub":
        return a.astype(np.float64)
    if a.dtype.kind not in "UO":
        raise UserError(f"{path}: {label} is not numeric (dtype {a.dtype}); choose columns with --columns")
    cells = [("" if v is None else str(v)).strip() for v in values]
    out = np.empty(len(cells))
    for i, c in enumerate(cells):
        if not c:
            out[i] = np.nan            # an empty cell is a missing value
            continue
        try:
            out[i] = float(c)
        except ValueError:
            row = i + (2 if names is not None else 1)
            raise UserError(f"{path}: {label} is not numeric (row {row}: {c!r}); choose numeric columns "
                            "with --columns") from None
    return out


def _write_table(path, header, values, fmt):
    """Write a CSV (stdout when path is None or '-')."""
    f = sys.stdout if path in (None, "-") else open(path, "w", newline="")
    try:
        f.write(",".join(header) + "\n")
        np.savetxt(f, values, fmt=fmt, delimiter=",")
    finally:
        if f is not sys.stdout:
            f.close()


def _write_labels(path, labels):
    _write_table(path, ["label"], np.asarray(labels)[:, None], "%d")


def _write_proba(path, proba):
    _write_table(path, [f"p{k}" for k in range(proba.shape[1])], proba,
                 "%.9g" if proba.dtype == np.float32 else "%.17g")


# ----------------------------------------------------------------------
# the models of 'fastgmm fit'
# ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Option:
    """An option of 'fastgmm fit' that sets one estimator parameter of the models that take it."""

    flag: str
    param: str              # the estimator parameter, also the argparse dest
    kwargs: dict = field(default_factory=dict)


# The options of the Gaussian-type models, offered to a model when its get_params() has the parameter
# (so --nan-policy reaches a model as soon as the model takes nan_policy).
SHARED_OPTIONS = {o.param: o for o in (
    _Option("--covariance-type", "covariance_type", dict(
        choices=COV_TYPES, help="covariance of each component; student-t: full, diag or spherical (default: full)")),
    _Option("--reg-covar", "reg_covar", dict(
        type=_non_negative_float, metavar="R", help="added to every covariance's diagonal (default: 1e-6)")),
    _Option("--nan-policy", "nan_policy", dict(
        choices=NAN_POLICIES, help="missing values: raise an error, omit the rows, or marginalize (exact EM; "
                                   "gaussian and student-t) (default: raise)")),
)}

# Options of one model or a few, offered to the models whose MODELS entry lists them.
OWN_OPTIONS = {o.param: o for o in (
    _Option("--weight-concentration-prior-type", "weight_concentration_prior_type", dict(
        choices=("dirichlet_process", "dirichlet_distribution"),
        help="prior on the weights: stick-breaking, which leaves surplus components empty, or a Dirichlet "
             "distribution (default: dirichlet_process)")),
    _Option("--weight-concentration-prior", "weight_concentration_prior", dict(
        type=_positive_float, metavar="GAMMA",
        help="concentration of the weight prior; smaller leaves more components unused (default: 1/K)")),
    _Option("--dof-init", "dof_init", dict(
        type=_positive_float, metavar="NU",
        help="initial degrees of freedom of every component; small is heavy-tailed (default: 10)")),
    _Option("--fix-dof", "fix_dof", dict(
        action="store_true", help="keep the degrees of freedom at --dof-init instead of estimating them")),
    _Option("--alpha", "alpha", dict(
        type=_positive_float, help="smoothing: pseudo-rows of every value per component, keeping "
                                   "probabilities and rates off 0 (default: 1e-10)")),
    _Option("--binarize", "binarize", dict(
        type=_finite_float, metavar="T", help="read the data as 'value > T' (default: the data must hold only "
                                              "0 and 1)")),
)}


@dataclass(frozen=True)
class _Model:
    """A model of 'fastgmm fit --model NAME'."""

    estimator: str                  # the class's name in the fastgmm namespace
    summary: str                    # for --help
    options: tuple = ()             # its own options: parameters of OWN_OPTIONS
    covariance_types: tuple = ()    # the values of --covariance-type it takes
    means: str = "means"            # what its means_ hold, for 'info' (None: printed by the model's own lines)

    @property
    def cls(self):
        import fastgmm

        return getattr(fastgmm, self.estimator)


# One entry per family: a new family is one more line here.
MODELS = {
    "gaussian": _Model("GaussianMixture", "Gaussian mixture", covariance_types=COV_TYPES),
    "bayesian": _Model("BayesianGaussianMixture", "variational Bayesian Gaussian mixture (K is an upper bound)",
                       ("weight_concentration_prior_type", "weight_concentration_prior"), COV_TYPES),
    "student-t": _Model("StudentTMixture", "Student-t mixture, robust to outliers", ("dof_init", "fix_dof"),
                        ("full", "diag", "spherical")),
    "bernoulli": _Model("BernoulliMixture", "binary data, 0 and 1", ("alpha", "binarize"),
                        means="probability of a 1"),
    "poisson": _Model("PoissonMixture", "counts", ("alpha",), means="rates (mean counts)"),
    "categorical": _Model("CategoricalMixture", "integer category codes, a categorical variable per column",
                          ("alpha",), means=None),
}


def _accepted(name):
    """The estimator parameters of MODELS[name] (its get_params() keys)."""
    return set(MODELS[name].cls().get_params())


def _takes(name, param):
    own = param in MODELS[name].options
    return (own or param in SHARED_OPTIONS) and param in _accepted(name)


def _models_taking(param):
    names = [n for n in MODELS if _takes(n, param)]
    if not names:       # an estimator renamed the parameter: the option must not break the parser
        return "no --model"
    return "--model " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1])


def _model_name(model):
    """The MODELS name of a fitted model's class (None for a class the command line does not fit)."""
    return next((n for n, m in MODELS.items() if m.estimator == type(model).__name__), None)


def _estimator_params(args):
    """The keyword arguments of MODELS[args.model]: the options it takes; any other option given is an error."""
    name = args.model
    accepted = _accepted(name)
    params = {k: v for k, v in dict(tol=args.tol, max_iter=args.max_iter, n_init=args.n_init,
                                    random_state=args.random_state, n_threads=args.threads).items()
              if k in accepted}
    for param, option in {**SHARED_OPTIONS, **OWN_OPTIONS}.items():
        value = getattr(args, param)
        if value is None:       # not given: the model's own default
            continue
        if not _takes(name, param):
            raise UserError(f"{option.flag} applies to {_models_taking(param)} only")
        params[param] = value
    types = MODELS[name].covariance_types
    if "covariance_type" in params and params["covariance_type"] not in types:
        raise UserError(f"--covariance-type {params['covariance_type']}: --model {name} takes "
                        f"{', '.join(types[:-1])} or {types[-1]}")
    return params


# ----------------------------------------------------------------------
# describing a model
# ----------------------------------------------------------------------
def _is_variational(model):
    from ..families._bayesian_mixture import BayesianGaussianMixture

    return isinstance(model, BayesianGaussianMixture)


def _parameters_text(model):
    """'K=.., covariance_type=.., <its own options>, dtype=..' of a fitted model."""
    params = model.get_params()
    parts = [f"K={np.shape(model.weights_)[0]}"]
    if "covariance_type" in params:
        parts.append(f"covariance_type={params['covariance_type']}")
    name = _model_name(model)
    for param in MODELS[name].options if name else ():
        value = params[param]
        parts.append(f"{param}={value:g}" if isinstance(value, float) else f"{param}={value}")
    parts.append(f"dtype={np.asarray(model.weights_).dtype}")
    return ", ".join(parts)


def _bound_text(model):
    """The model's lower_bound_, saying what it is."""
    if _is_variational(model):
        return f"lower bound {float(model.lower_bound_):.6g} (variational, summed over the rows)"
    return f"lower bound {float(model.lower_bound_):.6g} (mean log-likelihood per row)"


def _own_lines(model):
    """What only this kind of model has: degrees of freedom, categories."""
    lines = []
    if hasattr(model, "degrees_of_freedom_") and not _is_variational(model):
        dof = np.atleast_1d(np.asarray(model.degrees_of_freedom_, dtype=np.float64))
        lines.append(f"degrees of freedom: {', '.join(f'{v:.4g}' for v in dof)}")
    if hasattr(model, "categories_"):
        lines.append(f"categories per feature: {', '.join(str(len(c)) for c in model.categories_)}")
    return lines


def _feature_labels(model):
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else [f"feature {d}" for d in range(model.n_features_in_)]


def _parameter_lines(model):
    """weights_ and means_ (or per-feature tables) of a fitted model, for 'info'."""
    lines = [f"weights: {np.asarray(model.weights_)}"]
    name = _model_name(model)
    means = getattr(model, "means_", None)
    if isinstance(means, list):     # a categorical mixture: one (K, n_categories) table per feature
        cats = getattr(model, "categories_", [None] * len(means))
        for label, c, table in zip(_feature_labels(model), cats, means):
            what = "" if c is None else f" (categories {' '.join(_code(v) for v in c)})"
            lines.append(f"{label}{what}: probability of each category per component:\n{np.asarray(table)}")
    elif means is not None:
        lines.append(f"{MODELS[name].means if name and MODELS[name].means else 'means'}:\n{np.asarray(means)}")
    return lines


def _code(v):
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:g}"


# ----------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------
def _fit_params(args):
    return dict(tol=args.tol, reg_covar=args.reg_covar, max_iter=args.max_iter, n_init=args.n_init,
                random_state=args.random_state, n_threads=args.threads, nan_policy=args.nan_policy)


def _rows_for_scores(X, nan_policy):
    if nan_policy == "omit":
        return X[~np.isnan(X).any(axis=1)]
    return X


def _load_model(path):
    from ..io._persistence import load

    if not os.path.exists(path):
        raise UserError(f"no such model file: {path}")
    try:
        return load(path)
    except ValueError as e:
        raise UserError(str(e)) from None


def _check_outputs(*paths):
    """Fail before a long fit, not after it, when an output cannot be written."""
    for path in paths:
        if path in (None, "-"):
            continue
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise UserError(f"cannot write {path}: no directory {directory}")
        if os.path.isdir(path):
            raise UserError(f"cannot write {path}: it is a directory")


def _with_flags(message, name):
    """An estimator's message, with the option of each parameter it names that --model ``name`` takes.

    The estimators name their remedies as Python parameters ("set binarize=threshold"); the user of
    the command line needs the flag.
    """
    flags = [f"{o.flag} sets {p}" for p, o in {**SHARED_OPTIONS, **OWN_OPTIONS}.items()
             if _takes(name, p) and re.search(rf"\b{p}\b", message)]
    return message + (f" (on the command line, {', '.join(flags)})" if flags else "")


def _cmd_fit(args):
    spec = MODELS[args.model]
    params = _estimator_params(args)      # a misplaced option fails before the data are read
    _check_outputs(args.output, args.labels, args.proba)
    X, names = read_table(args.input, args.columns)
    model = spec.cls(n_components=args.n_components, **params)
    t0 = time.perf_counter()
    try:
        labels = model.fit_predict(X)
    except ValueError as e:
        raise UserError(_with_flags(str(e), args.model)) from None
    elapsed = time.perf_counter() - t0
    policy = getattr(model, "nan_policy", "raise")
    Xs = _rows_for_scores(X, policy)
    n_omitted = getattr(model, "n_omitted_", 0)
    print(f"data: {X.shape[0]} rows x {X.shape[1]} features from {args.input}"
          + (f" ({', '.join(names)})" if names else "")
          + (f"; {n_omitted} rows with NaN omitted" if n_omitted else ""))
    print(f"model: {args.model} ({spec.estimator}), {_parameters_text(model)}")
    print(f"converged: {model.converged_} after {model.n_iter_} iterations (best of n_init={model.n_init})")
    if _is_variational(model):
        # No BIC: the variational posterior is not a point estimate with a parameter count.
        used = int(np.count_nonzero(model.predict_proba(Xs).sum(axis=0) >= 1))
        print(f"{_bound_text(model)}; no BIC for a Bayesian mixture")
        print(f"components used: {used} of {model.n_components} (those explaining at least one row)")
    else:
        total = model.score(Xs) * Xs.shape[0]
        print(f"log-likelihood: {total:.6g} (mean {total / Xs.shape[0]:.6g} per row); BIC {model.bic(Xs):.6g}")
    for line in _own_lines(model):
        print(line)
    print(f"time: {elapsed:.3f} s")
    if args.labels:
        _write_labels(args.labels, labels)
        print(f"labels written to {args.labels}")
    if args.proba:
        proba = np.full((X.shape[0], np.shape(model.weights_)[0]), np.nan)
        keep = ~np.isnan(X).any(axis=1) if policy == "omit" else slice(None)
        proba[keep] = model.predict_proba(X[keep])
        _write_proba(args.proba, proba)
        print(f"probabilities written to {args.proba}")
    if args.output:
        if names is not None:
            # Kept in the model file: predict then takes these columns by name.
            model.feature_names_in_ = np.asarray(names, dtype=object)
        model.save(args.output)
        print(f"model written to {args.output}")
    return 0


def _cmd_select(args):
    from .._selection import GaussianMixtureSelection
    from ..io._persistence import save

    _check_outputs(args.output)
    X, names = read_table(args.input, args.columns)
    params = _fit_params(args)
    sel = GaussianMixtureSelection(n_components=args.n_components, covariance_types=args.covariance_types,
                                   criterion=args.criterion, **params)
    t0 = time.perf_counter()
    sel.fit(X)
    elapsed = time.perf_counter() - t0
    if names is not None:
        sel.feature_names_in_ = np.asarray(names, dtype=object)
        sel.best_estimator_.feature_names_in_ = sel.feature_names_in_
    print(f"data: {X.shape[0]} rows x {X.shape[1]} features from {args.input}")
    print(format_results(sel.results_, args.criterion))
    best = sel.best_params_
    print(f"best: {best['covariance_type']} K={best['n_components']} "
          f"({args.criterion.upper()} {sel.results_['criterion'][sel.best_index_]:.6g}); time {elapsed:.2f} s")
    if args.output:
        save(sel, args.output)
        print(f"selection (best model and table) written to {args.output}")
    return 0


def _cmd_predict(args):
    _check_outputs(args.output)
    model = _load_model(args.model)
    names = getattr(model, "feature_names_in_", None)
    # A model that knows its columns by name takes them from a file with a header, in its order.
    columns = args.columns if args.columns is not None or names is None else [str(n) for n in names]
    X, _ = read_table(args.input, columns)
    for m in (model, getattr(model, "best_estimator_", None)):
        if m is not None and hasattr(m, "feature_names_in_"):
            del m.feature_names_in_        # X is a plain array from here on
    if X.shape[1] != model.n_features_in_:
        raise UserError(f"{args.input} has {X.shape[1]} columns, the model expects {model.n_features_in_} "
                        "(choose them with --columns)")
    if args.proba:
        _write_proba(args.output, model.predict_proba(X))
    else:
        _write_labels(args.output, model.predict(X))
    return 0


def _cmd_info(args):
    from ..io._persistence import FORMAT_VERSION
    from .._selection import GaussianMixtureSelection

    model = _load_model(args.model)
    name = _model_name(model)
    print(f"file: {args.model} (fastgmm model format, version {FORMAT_VERSION} readable)")
    print(f"class: {type(model).__name__}" + (f" (fastgmm fit --model {name})" if name else ""))
    fitted = model
    if isinstance(model, GaussianMixtureSelection):
        fitted = model.best_estimator_
        print(f"chosen: {model.best_params_['covariance_type']} K={model.best_params_['n_components']} "
              f"by {model.criterion.upper()}")
        print(format_results(model.results_, model.criterion))
    names = getattr(model, "feature_names_in_", None)
    print(f"{'model' if fitted is model else 'best model: ' + type(fitted).__name__}: {_parameters_text(fitted)}, "
          f"{fitted.n_features_in_} features"
          + (f" ({', '.join(map(str, names))})" if names is not None else ""))
    print(f"converged: {fitted.converged_} after {fitted.n_iter_} iterations; {_bound_text(fitted)}")
    for line in _own_lines(fitted):
        print(line)
    with np.printoptions(precision=4, suppress=True, linewidth=100):
        for line in _parameter_lines(fitted):
            print(line)
    return 0


def _cmd_config(args):
    from .._config import show_config

    show_config()
    return 0


def _cmd_demo(args):
    from ._demo import run

    run(n_samples=args.n_samples, n_features=args.n_features, n_components=args.n_components,
        seed=args.seed, compare=not args.no_compare, plots=None if args.no_plots else (args.plots or "auto"))
    return 0


def _cmd_bench(args):
    from ._bench import run

    run(n_samples=args.n_samples, n_features=args.n_features, n_components=args.n_components,
        n_iter=args.n_iter, seed=args.seed)
    return 0


# ----------------------------------------------------------------------
def _add_input(p):
    p.add_argument("input", metavar="INPUT",
                   help="data file: .csv or .tsv (header row detected; empty cells are missing values), "
                        ".npy (2-d array), or .parquet (needs pyarrow)")
    p.add_argument("--columns", metavar="COLS",
                   help="comma-separated columns to use, by header name or 0-based index (default: all)")


def _add_run_options(p):
    """The options of every EM fit (every model and the selection)."""
    p.add_argument("--n-init", type=_int_at_least(1), default=1, metavar="N",
                   help="initialisations per model; the best is kept (default: 1)")
    p.add_argument("--random-state", type=int, default=0, metavar="SEED",
                   help="seed of the initialisation (default: 0, so runs repeat)")
    p.add_argument("--max-iter", type=_int_at_least(0), default=100, metavar="N",
                   help="EM iterations per initialisation (default: 100)")
    p.add_argument("--tol", type=_non_negative_float, default=1e-3,
                   help="stop when the mean log-likelihood changes by less (default: 1e-3)")
    p.add_argument("--threads", type=_threads, default=None, metavar="N",
                   help="OpenMP threads (default: every usable core; -1 = all)")


def _add_model_options(p):
    """--model and the options that depend on it, grouped by the models that take them in --help."""
    p.add_argument("--model", choices=list(MODELS), default="gaussian",
                   help="the mixture: " + "; ".join(f"{n}: {m.summary}" for n, m in MODELS.items())
                        + " (default: gaussian)")
    groups = {}
    for param, option in {**SHARED_OPTIONS, **OWN_OPTIONS}.items():
        where = _models_taking(param)
        if where not in groups:
            groups[where] = p.add_argument_group(f"options of {where}")
        # None when not given: the model keeps its own default, and a model that lacks it is not bothered.
        groups[where].add_argument(option.flag, dest=param, default=None, **option.kwargs)


def build_parser():
    """The argparse parser of the ``fastgmm`` command."""
    from .. import __version__

    parser = _Parser(prog=PROG, description="Gaussian mixture models fitted by EM (fastgmm).",
                     epilog="'fastgmm COMMAND --help' describes a command's options.")
    parser.add_argument("--version", action="version", version=f"fastgmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fit", help="fit one mixture to a data file",
                       description="Fit one mixture; --model chooses its family (default: gaussian). An option "
                                   "that the chosen model does not take is an error.")
    _add_input(p)
    p.add_argument("-k", "--n-components", type=_single_component, required=True, metavar="K",
                   help="number of components")
    _add_run_options(p)
    p.add_argument("-o", "--output", metavar="MODEL.npz", help="write the fitted model here")
    p.add_argument("--labels", metavar="FILE.csv", help="write each row's component (-1: omitted row)")
    p.add_argument("--proba", metavar="FILE.csv", help="write each row's component probabilities")
    _add_model_options(p)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("select", help="choose K and the covariance type by BIC/AIC/ICL",
                       description="Fit every (covariance type, K) and keep the best by the criterion.")
    _add_input(p)
    p.add_argument("-k", "--n-components", type=parse_components, default=list(range(1, 10)), metavar="KS",
                   help="numbers of components: 3, 1-10, 1,2,5 or 2-4,8 (default: 1-9)")
    p.add_argument("--covariance-types", type=_cov_types, default=list(COV_TYPES), metavar="TYPES",
                   help="comma-separated, from full,tied,diag,spherical (default: all four)")
    p.add_argument("--criterion", choices=("bic", "aic", "icl"), default="bic", help="lower is better (default: bic)")
    _add_run_options(p)
    p.add_argument("--nan-policy", choices=NAN_POLICIES, default="raise",
                   help="missing values: raise an error, omit the rows, or marginalize (exact EM) "
                        "(default: raise)")
    p.add_argument("--reg-covar", type=_non_negative_float, default=1e-6,
                   help="added to every covariance's diagonal (default: 1e-6)")
    p.add_argument("-o", "--output", metavar="BEST.npz",
                   help="write the selection (the chosen model and the table) here; predict and info read it")
    p.set_defaults(func=_cmd_select)

    p = sub.add_parser("predict", help="label (or give probabilities for) the rows of a data file",
                       description="Predict with a saved model; a model with column names takes those "
                                   "columns from a file with a header.")
    p.add_argument("model", metavar="MODEL.npz", help="a file written by 'fastgmm fit -o' or 'select -o'")
    _add_input(p)
    p.add_argument("--proba", action="store_true", help="write probabilities (p0, p1, ...) instead of labels")
    p.add_argument("-o", "--output", metavar="OUT.csv", help="output CSV (default: standard output)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("info", help="describe a saved model", description="Print what a model file holds.")
    p.add_argument("model", metavar="MODEL.npz")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("config", help="print how fastgmm was built (OpenMP, threads, BLAS)",
                       description="Print how fastgmm was built.")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("demo", help="model selection on Old Faithful, then a million-point fit",
                       description="Choose the model of the bundled Old Faithful data, then fit a mixture "
                                   "on generated data and time it (against scikit-learn when installed).")
    p.add_argument("--n-samples", type=_int_at_least(2), default=1_000_000, metavar="N",
                   help="rows of the generated data (default: 1000000)")
    p.add_argument("--n-features", type=_int_at_least(1), default=4, metavar="D", help="(default: 4)")
    p.add_argument("--n-components", type=_int_at_least(1), default=5, metavar="K", help="(default: 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the fits (default: 0)")
    p.add_argument("--no-compare", action="store_true", help="skip the scikit-learn comparison")
    plots = p.add_mutually_exclusive_group()
    plots.add_argument("--plots", metavar="DIR",
                       help="directory for the demo's PNG plots (default: fastgmm-demo-plots in the current "
                            "directory when matplotlib is installed, else none)")
    plots.add_argument("--no-plots", action="store_true", help="write no plots")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("bench", help="time this build against scikit-learn and the NumPy reference",
                       description="A quick benchmark: the same start, a fixed number of EM iterations.")
    p.add_argument("--n-samples", type=_int_at_least(2), default=100_000, metavar="N", help="(default: 100000)")
    p.add_argument("--n-features", type=_int_at_least(1), default=8, metavar="D", help="(default: 8)")
    p.add_argument("--n-components", type=_int_at_least(1), default=8, metavar="K", help="(default: 8)")
    p.add_argument("--n-iter", type=_int_at_least(1), default=3, metavar="N", help="EM iterations timed (default: 3)")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None):
    """Run the ``fastgmm`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "command", None) == "demo" and args.n_samples < args.n_components:
        return _fail(f"--n-samples ({args.n_samples}) must be at least --n-components ({args.n_components})")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status = args.func(args)
        for message in dict.fromkeys(str(w.message) for w in caught):
            print(f"{PROG}: warning: {message}", file=sys.stderr)
        return status
    except BrokenPipeError:
        # The reader stopped (e.g. '| head'): not a user's mistake, and nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except UserError as e:
        return _fail(str(e))
    except FileNotFoundError as e:
        return _fail(f"no such file or directory: {e.filename}")
    except PermissionError as e:
        return _fail(f"permission denied: {e.filename}")
    except OSError as e:
        return _fail(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
    except ValueError as e:        # the estimators' messages name the remedy
        return _fail(str(e))
    except KeyboardInterrupt:
        return 130


def _fail(message):
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return EXIT_USER_ERROR
