"""The command line's hidden Markov models: ``fit --model gaussian-hmm --lengths FILE``, ``predict`` (the
Viterbi state of each row) and ``info`` for the models of ``fastgmm.hmm``.

The rows of the data file are the frames of every sequence, one sequence after
the other; ``--lengths FILE`` says where each ends: a text file with one
non-negative integer per line (a first line that is a name, such as
"length", is a header and skipped; blank lines are ignored), or a 1-d integer ``.npy`` array. The
lengths must add up to the number of rows. Without ``--lengths`` the rows are
one sequence.

The run options mean what they mean for a mixture: ``--max-iter`` is the
model's ``n_iter``, ``--tol`` the gain of the *mean* log-likelihood per row
below which EM stops (the model's ``tol``, a gain of the total, is
``--tol`` times the number of rows), ``--n-init`` the number of EM runs from
seeds ``--random-state``, ``--random-state`` + 1, ..., the one with the
highest log-likelihood kept.
"""

import os
import re
import time
from dataclasses import dataclass

import numpy as np

from ._args import UserError, _int_at_least, _non_negative_float

_INTEGER = re.compile(r"[+-]?\d+")
_MAX_LENGTH = 2 ** 62          # far beyond any file's rows, and safe from int64 overflow in their sum
_HEADER = re.compile(r"[A-Za-z_][\w .-]*")     # a column name such as "length"


@dataclass(frozen=True)
class _HMMModel:
    """A model of 'fastgmm fit --model NAME' from fastgmm.hmm."""

    estimator: str                  # the class's name in fastgmm.hmm
    summary: str                    # for --help
    options: tuple = ()             # the HMM options (HMM_OPTIONS' parameters) it takes
    covariance_types: tuple = ()    # the values of --covariance-type it takes
    marginalize: bool = True        # takes --nan-policy marginalize

    @property
    def cls(self):
        from .. import hmm

        return getattr(hmm, self.estimator)


_COV = ("full", "tied", "diag", "spherical")

HMM_MODELS = {
    "gaussian-hmm": _HMMModel("GaussianHMM", "hidden Markov model, a Gaussian per state (--lengths)",
                              ("min_covar",), _COV),
    "gmm-hmm": _HMMModel("GMMHMM", "hidden Markov model, a Gaussian mixture per state (--lengths, --n-mix)",
                         ("min_covar", "n_mix"), _COV),
    "categorical-hmm": _HMMModel("CategoricalHMM", "hidden Markov model of one integer symbol per row (--lengths)"),
    "multinomial-hmm": _HMMModel("MultinomialHMM", "hidden Markov model of count vectors with a fixed total "
                                                   "per row (--lengths)"),
    "poisson-hmm": _HMMModel("PoissonHMM", "hidden Markov model of counts (--lengths)"),
    "bernoulli-hmm": _HMMModel("BernoulliHMM", "hidden Markov model of 0/1 features (--lengths)"),
    "student-t-hmm": _HMMModel("StudentTHMM", "hidden Markov model, a Student-t per state: robust to outliers "
                                              "(--lengths)", (), ("full", "diag", "spherical"), marginalize=False),
}

# The mixtures' options an HMM takes (their meaning is the same); every other one is an error.
_SHARED_WITH_MIXTURES = ("covariance_type", "nan_policy")


def add_options(p, with_model_options):
    """--lengths (fit and predict) and, for fit, the options only the HMMs take."""
    p.add_argument("--lengths", metavar="FILE",
                   help="hidden Markov models: the length of each sequence, one integer per line (or a 1-d "
                        ".npy); they must add up to the rows (default: the rows are one sequence)")
    if with_model_options:
        g = p.add_argument_group("options of --model gaussian-hmm or gmm-hmm")
        g.add_argument("--n-mix", dest="n_mix", type=_int_at_least(1), default=None, metavar="M",
                       help="gmm-hmm: Gaussian components per state (default: 1)")
        g.add_argument("--min-covar", dest="min_covar", type=_non_negative_float, default=None, metavar="C",
                       help="added to the initial covariances' diagonal (default: 1e-3)")


def reject_hmm_options(args):
    """A mixture fit (or a mixture's predict) was given an option of the HMMs only: UserError."""
    for dest, flag in (("lengths", "--lengths"), ("n_mix", "--n-mix"), ("min_covar", "--min-covar")):
        if getattr(args, dest, None) is not None:
            raise UserError(f"{flag} applies to the hidden Markov models only (--model "
                            f"{', '.join(HMM_MODELS)})")


# ----------------------------------------------------------------------
# lengths
# ----------------------------------------------------------------------
def read_lengths(path, n_rows, data_path):
    """int64 (S,) sequence lengths from ``path`` that add up to ``n_rows`` (the rows of ``data_path``)."""
    if not os.path.exists(path):
        raise UserError(f"no such lengths file: {path}")
    if os.path.isdir(path):
        raise UserError(f"{path} is a directory, not a lengths file")
    if path.lower().endswith(".npy"):
        lengths = _lengths_npy(path)
    else:
        lengths = _lengths_text(path)
    if lengths.size == 0:
        raise UserError(f"{path} holds no lengths")
    if np.any(lengths < 0):
        i = int(np.argmax(lengths < 0))
        raise UserError(f"{path}: length {i + 1} is {lengths[i]}; a sequence length must be >= 0")
    total = sum(int(v) for v in lengths)
    if total != n_rows:
        raise UserError(f"{path}: the {lengths.size} lengths add up to {total} rows, but {data_path} has "
                        f"{n_rows} rows; they must be equal")
    return lengths


def _lengths_npy(path):
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"{path} is not a readable .npy array ({e})") from None
    if not isinstance(a, np.ndarray):
        raise UserError(f"{path} is not a single .npy array")
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise UserError(f"{path} holds an array of shape {a.shape}; the lengths are a 1-d array")
    if a.dtype.kind not in "iu":
        raise UserError(f"{path} holds {a.dtype} values; the lengths must be integers")
    return a.astype(np.int64)


def _lengths_text(path):
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text file of lengths") from None
    values, first = [], True
    for i, raw in enumerate(lines):
        text = raw.strip()
        if not text:
            continue
        if first and _HEADER.fullmatch(text):
            first = False
            continue
        first = False
        if not _INTEGER.fullmatch(text):
            raise UserError(f"{path}, line {i + 1}: {text!r} is not a whole number; give one integer length "
                            "per line")
        value = int(text)
        if abs(value) > _MAX_LENGTH:
            raise UserError(f"{path}, line {i + 1}: {text} is too large for a sequence length")
        values.append(value)
    return np.asarray(values, dtype=np.int64)


# ----------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------
def _hmm_params(args, spec):
    """The estimator's keyword arguments from the options, but ``tol`` (a mixture's option is an error)."""
    from ._models import OWN_OPTIONS, SHARED_OPTIONS, _models_taking

    name = args.model
    for param, option in {**SHARED_OPTIONS, **OWN_OPTIONS}.items():
        if getattr(args, param, None) is not None and param not in _SHARED_WITH_MIXTURES:
            raise UserError(f"{option.flag} applies to {_models_taking(param)} only, not --model {name}")
    params = dict(n_iter=args.max_iter, n_threads=args.threads)
    if args.covariance_type is not None:
        if not spec.covariance_types:
            raise UserError(f"--covariance-type does not apply to --model {name}")
        params["covariance_type"] = args.covariance_type
    if args.nan_policy is not None:
        if args.nan_policy == "omit":
            raise UserError(f"--nan-policy omit is not offered by --model {name}: a sequence cannot skip a "
                            "frame; use marginalize (a frame's missing values contribute no evidence) or "
                            "remove the rows and their lengths")
        params["nan_policy"] = args.nan_policy
    for param, flag in (("n_mix", "--n-mix"), ("min_covar", "--min-covar")):
        value = getattr(args, param, None)
        if value is not None:
            if param not in spec.options:
                raise UserError(f"{flag} applies to --model "
                                f"{' or '.join(n for n, m in HMM_MODELS.items() if param in m.options)} only")
            params[param] = value
    return params


def converged(model):
    """Whether EM stopped on its tolerance (the last gain below ``tol``), not on ``n_iter``."""
    from ..hmm._select import _converged

    return _converged(model)


def fit(args):
    """``fastgmm fit --model <hmm>``: fit, report, write the states, posteriors and the model (the caller has
    checked that the outputs can be written)."""
    from ._tables import _write_proba, read_table

    spec = HMM_MODELS[args.model]
    params = _hmm_params(args, spec)        # a misplaced option fails before the data are read
    X, names = read_table(args.input, args.columns)
    params["tol"] = args.tol * X.shape[0]   # --tol is per row, the model's on the total
    lengths = None if args.lengths is None else read_lengths(args.lengths, X.shape[0], args.input)
    t0 = time.perf_counter()
    model, log_l = None, -np.inf
    for init in range(args.n_init):
        candidate = spec.cls(n_components=args.n_components, random_state=args.random_state + init, **params)
        try:
            candidate.fit(X, lengths)
            ll = candidate.score(X, lengths)
        except ValueError as e:
            raise UserError(str(e)) from None
        if model is None or ll > log_l:
            model, log_l = candidate, ll
    elapsed = time.perf_counter() - t0
    n_seq = 1 if lengths is None else lengths.size
    print(f"data: {X.shape[0]} rows x {X.shape[1]} features from {args.input}"
          + (f" ({', '.join(names)})" if names else "")
          + f"; {n_seq} sequence{'s' if n_seq != 1 else ''}"
          + (f" (lengths from {args.lengths})" if lengths is not None else ""))
    print(f"model: {args.model} ({spec.estimator}), {parameters_text(model)}")
    print(f"converged: {converged(model)} after {model.monitor_.iter} iterations (best of n_init={args.n_init})")
    n, p = X.shape[0], model._n_parameters()
    # model.bic(X, lengths) and model.aic(X, lengths), without scoring X twice more
    print(f"log-likelihood: {log_l:.6g} (mean {log_l / n:.6g} per row); BIC {-2 * log_l + p * np.log(n):.6g}; "
          f"AIC {-2 * log_l + 2 * p:.6g}")
    print(f"time: {elapsed:.3f} s")
    if args.labels:
        _write_states(args.labels, model.predict(X, lengths))
        print(f"states (Viterbi) written to {args.labels}")
    if args.proba:
        _write_proba(args.proba, model.predict_proba(X, lengths))
        print(f"state probabilities written to {args.proba}")
    if args.output:
        from ._tables import save_model
        save_model(model, names, args.output)
    return 0


def _write_states(path, states):
    from ._tables import _write_table

    _write_table(path, ["state"], np.asarray(states)[:, None], "%d")


# ----------------------------------------------------------------------
# predict and info
# ----------------------------------------------------------------------
def is_hmm(model):
    from ..hmm import BaseHMM

    return isinstance(model, BaseHMM)


def predict(args, model):
    """``fastgmm predict`` with a saved HMM: the Viterbi state (or the state probabilities) of each row."""
    from ._tables import _write_proba, read_table

    names = getattr(model, "feature_names_in_", None)
    columns = args.columns if args.columns is not None or names is None else [str(n) for n in names]
    X, _ = read_table(args.input, columns)
    if hasattr(model, "feature_names_in_"):
        del model.feature_names_in_
    if X.shape[1] != model.n_features_in_:
        raise UserError(f"{args.input} has {X.shape[1]} columns, the model expects {model.n_features_in_} "
                        "(choose them with --columns)")
    lengths = None if args.lengths is None else read_lengths(args.lengths, X.shape[0], args.input)
    try:
        if args.proba:
            _write_proba(args.output, model.predict_proba(X, lengths))
        else:
            _write_states(args.output, model.predict(X, lengths))
    except ValueError as e:
        raise UserError(str(e)) from None
    return 0


def model_name(model):
    return next((n for n, m in HMM_MODELS.items() if m.estimator == type(model).__name__), None)


def parameters_text(model):
    """'K=.. states, covariance_type=.., n_mix=..' of a fitted HMM."""
    parts = [f"K={model.n_components} states"]
    for p in ("covariance_type", "n_mix"):
        if hasattr(model, p):
            parts.append(f"{p}={getattr(model, p)}")
    if type(model).__name__ == "CategoricalHMM":
        parts.append(f"{model.n_features} symbols")
    return ", ".join(parts)


def info(args, model):
    """``fastgmm info`` on a saved HMM: what it is, how EM went, and its parameters."""
    name = model_name(model)
    names = getattr(model, "feature_names_in_", None)
    print(f"class: {type(model).__name__}" + (f" (fastgmm fit --model {name})" if name else ""))
    print(f"model: {parameters_text(model)}, {model.n_features_in_} features"
          + (f" ({', '.join(map(str, names))})" if names is not None else ""))
    history = list(model.monitor_.history)
    if history:
        print(f"EM: {len(history)} iterations, converged: {converged(model)}; log-likelihood {history[-1]:.6g} "
              "(at the start of the last iteration)")
    else:
        print("EM: no iterations recorded (parameters set by hand, or n_iter=0)")
    with np.printoptions(precision=4, suppress=True, linewidth=100):
        print(f"start probabilities: {model.startprob_}")
        print(f"transition matrix (row: from, column: to):\n{model.transmat_}")
        for label, attr in (("mixture weights per state", "weights_"), ("means", "means_"),
                            ("emission probabilities", "emissionprob_"), ("rates (mean counts)", "lambdas_")):
            if hasattr(model, attr):
                print(f"{label}:\n{np.asarray(getattr(model, attr))}")
        if hasattr(model, "covariance_type") and hasattr(model, "_covars_"):
            print(f"covariances ({model.covariance_type}):\n{np.asarray(model._covars_)}")
        elif hasattr(model, "covariance_type"):
            print(f"covariances ({model.covariance_type}):\n{np.asarray(model.covars_)}")
    return 0
