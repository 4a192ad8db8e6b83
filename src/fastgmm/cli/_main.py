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
import os
import re
import sys
import time
import warnings

import numpy as np

from . import _hmm
from ._args import (COV_TYPES, NAN_POLICIES, UserError, _cov_types, _int_at_least, _non_negative_float,
                    _single_component, _threads, parse_components)
from ._models import (MODELS, OWN_OPTIONS, SHARED_OPTIONS, _bound_text, _estimator_params, _is_variational,
                      _model_name, _models_taking, _own_lines, _parameter_lines, _parameters_text, _takes)
from ._selection_table import format_results
from ._tables import _write_labels, _write_proba, read_table, save_model

PROG = "fastgmm"
EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints the whole usage block; one line that points to --help is easier to read.
        self.exit(EXIT_USER_ERROR, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


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
    if args.model in _hmm.HMM_MODELS:
        _check_outputs(args.output, args.labels, args.proba)
        return _hmm.fit(args)
    _hmm.reject_hmm_options(args)
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
        save_model(model, names, args.output)
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
    if _hmm.is_hmm(model):
        return _hmm.predict(args, model)
    _hmm.reject_hmm_options(args)
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
    from .._selection import GaussianMixtureSelection
    from ..io._persistence import FORMAT_VERSION

    model = _load_model(args.model)
    name = _model_name(model)
    print(f"file: {args.model} (fastgmm model format, version {FORMAT_VERSION} readable)")
    if _hmm.is_hmm(model):
        return _hmm.info(args, model)
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
    p.add_argument("--model", choices=list(MODELS) + list(_hmm.HMM_MODELS), default="gaussian",
                   help="the model: " + "; ".join(f"{n}: {m.summary}" for n, m in
                                                  {**MODELS, **_hmm.HMM_MODELS}.items()) + " (default: gaussian)")
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
                   help="number of components (of states, for a hidden Markov model)")
    _add_run_options(p)
    p.add_argument("-o", "--output", metavar="MODEL.npz", help="write the fitted model here")
    p.add_argument("--labels", metavar="FILE.csv",
                   help="write each row's component (-1: omitted row; an HMM: its Viterbi state)")
    p.add_argument("--proba", metavar="FILE.csv", help="write each row's component probabilities")
    _add_model_options(p)
    _hmm.add_options(p, with_model_options=True)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("select", help="choose K and the covariance type by BIC/AIC/ICL",
                       description="Fit every (covariance type, K) and keep the best by the criterion.")
    _add_input(p)
    p.add_argument("-k", "--n-components", type=parse_components, default=list(range(1, 10)), metavar="KS",
                   help="numbers of components: 3, 1-10, 1,2,5 or 2-4,8 (default: 1-9)")
    p.add_argument("--covariance-types", type=_cov_types, default=list(COV_TYPES), metavar="TYPES",
                   help="comma-separated, from full,tied,diag,spherical and mclust's models EII..VVV, or mclust "
                   "for its fourteen (default: full,tied,diag,spherical)")
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
    _hmm.add_options(p, with_model_options=False)
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
