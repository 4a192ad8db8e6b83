"""The ``fastgmm`` command line (also ``python -m fastgmm``).

Subcommands: ``fit``, ``select``, ``predict``, ``info``, ``config``, ``demo``
and ``bench``; ``fastgmm COMMAND --help`` describes each option. A user's
mistake (a missing or malformed file, a bad column, an invalid option) ends
with one line ``fastgmm: error: ...`` on stderr and exit status 2, never a
traceback; a traceback means a bug in fastgmm.
"""

import argparse
import csv
import os
import sys
import time
import warnings

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
    from ._persistence import load

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


def _cmd_fit(args):
    from ._gaussian_mixture import GaussianMixture

    _check_outputs(args.output, args.labels, args.proba)
    X, names = read_table(args.input, args.columns)
    gm = GaussianMixture(args.n_components, covariance_type=args.covariance_type, **_fit_params(args))
    t0 = time.perf_counter()
    labels = gm.fit_predict(X)
    elapsed = time.perf_counter() - t0
    Xs = _rows_for_scores(X, args.nan_policy)
    total = gm.score(Xs) * Xs.shape[0]
    print(f"data: {X.shape[0]} rows x {X.shape[1]} features from {args.input}"
          + (f" ({', '.join(names)})" if names else "")
          + (f"; {gm.n_omitted_} rows with NaN omitted" if gm.n_omitted_ else ""))
    print(f"model: K={gm.n_components}, covariance_type={gm.covariance_type}, dtype={gm.means_.dtype}")
    print(f"converged: {gm.converged_} after {gm.n_iter_} iterations (best of n_init={gm.n_init})")
    print(f"log-likelihood: {total:.6g} (mean {total / Xs.shape[0]:.6g} per row); BIC {gm.bic(Xs):.6g}")
    print(f"time: {elapsed:.3f} s")
    if args.labels:
        _write_labels(args.labels, labels)
        print(f"labels written to {args.labels}")
    if args.proba:
        proba = np.full((X.shape[0], gm.n_components), np.nan)
        keep = ~np.isnan(X).any(axis=1) if args.nan_policy == "omit" else slice(None)
        proba[keep] = gm.predict_proba(X[keep])
        _write_proba(args.proba, proba)
        print(f"probabilities written to {args.proba}")
    if args.output:
        if names is not None:
            # Kept in the model file: predict then takes these columns by name.
            gm.feature_names_in_ = np.asarray(names, dtype=object)
        gm.save(args.output)
        print(f"model written to {args.output}")
    return 0


def _cmd_select(args):
    from ._selection import GaussianMixtureSelection
    from ._persistence import save

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
    from ._persistence import FORMAT_VERSION

    model = _load_model(args.model)
    gm = getattr(model, "best_estimator_", model)
    print(f"file: {args.model} (fastgmm model format, version {FORMAT_VERSION} readable)")
    print(f"class: {type(model).__name__}")
    if gm is not model:
        print(f"chosen: {model.best_params_['covariance_type']} K={model.best_params_['n_components']} "
              f"by {model.criterion.upper()}")
        print(format_results(model.results_, model.criterion))
    names = getattr(model, "feature_names_in_", None)
    print(f"K={gm.n_components}, covariance_type={gm.covariance_type}, dtype={gm.means_.dtype}, "
          f"{gm.n_features_in_} features" + (f" ({', '.join(names)})" if names is not None else ""))
    print(f"converged: {gm.converged_} after {gm.n_iter_} iterations; lower bound {float(gm.lower_bound_):.6g}")
    with np.printoptions(precision=4, suppress=True, linewidth=100):
        print(f"weights: {gm.weights_}")
        print(f"means:\n{gm.means_}")
    return 0


def _cmd_config(args):
    from ._config import show_config

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


def _add_fit_options(p):
    p.add_argument("--n-init", type=_int_at_least(1), default=1, metavar="N",
                   help="initialisations per model; the best is kept (default: 1)")
    p.add_argument("--random-state", type=int, default=0, metavar="SEED",
                   help="seed of the initialisation (default: 0, so runs repeat)")
    p.add_argument("--nan-policy", choices=NAN_POLICIES, default="raise",
                   help="missing values: raise an error, omit the rows, or marginalize (exact EM) "
                        "(default: raise)")
    p.add_argument("--max-iter", type=_int_at_least(0), default=100, metavar="N",
                   help="EM iterations per initialisation (default: 100)")
    p.add_argument("--tol", type=_non_negative_float, default=1e-3,
                   help="stop when the mean log-likelihood changes by less (default: 1e-3)")
    p.add_argument("--reg-covar", type=_non_negative_float, default=1e-6,
                   help="added to every covariance's diagonal (default: 1e-6)")
    p.add_argument("--threads", type=_threads, default=None, metavar="N",
                   help="OpenMP threads (default: every usable core; -1 = all)")


def build_parser():
    """The argparse parser of the ``fastgmm`` command."""
    from . import __version__

    parser = _Parser(prog=PROG, description="Gaussian mixture models fitted by EM (fastgmm).",
                     epilog="'fastgmm COMMAND --help' describes a command's options.")
    parser.add_argument("--version", action="version", version=f"fastgmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fit", help="fit one mixture to a data file", description="Fit one Gaussian mixture.")
    _add_input(p)
    p.add_argument("-k", "--n-components", type=_single_component, required=True, metavar="K",
                   help="number of components")
    p.add_argument("--covariance-type", choices=COV_TYPES, default="full", help="(default: full)")
    _add_fit_options(p)
    p.add_argument("-o", "--output", metavar="MODEL.npz", help="write the fitted model here")
    p.add_argument("--labels", metavar="FILE.csv", help="write each row's component (-1: omitted row)")
    p.add_argument("--proba", metavar="FILE.csv", help="write each row's component probabilities")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("select", help="choose K and the covariance type by BIC/AIC/ICL",
                       description="Fit every (covariance type, K) and keep the best by the criterion.")
    _add_input(p)
    p.add_argument("-k", "--n-components", type=parse_components, default=list(range(1, 10)), metavar="KS",
                   help="numbers of components: 3, 1-10, 1,2,5 or 2-4,8 (default: 1-9)")
    p.add_argument("--covariance-types", type=_cov_types, default=list(COV_TYPES), metavar="TYPES",
                   help="comma-separated, from full,tied,diag,spherical (default: all four)")
    p.add_argument("--criterion", choices=("bic", "aic", "icl"), default="bic", help="lower is better (default: bic)")
    _add_fit_options(p)
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
