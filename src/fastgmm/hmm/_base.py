"""The hidden-Markov chain shared by every emission model of :mod:`fastgmm.hmm`.

A hidden Markov model is a mixture whose component for each frame depends on
the previous frame's: the emissions are fastgmm's families, evaluated by the
fused kernels, and the chain adds a start distribution and a transition
matrix. One EM iteration is

1. the emission log-densities of every frame and state, one kernel pass
   (``_log_frameprob``, an (N, K) float64 array: the only N-sized memory);
2. the compiled forward-backward (``fastgmm.kernels._hmm``), sequences in
   parallel, which turns that array *in place* into the state posteriors and
   sums the expected transition counts on the fly (never a T x K x K array);
3. the family's statistics of those posteriors, a second kernel pass with
   given responsibilities (``_accumulate_emission``), and the M-step on the
   small statistics (``_do_mstep``).

The API is hmmlearn 0.3's (``fastgmm.hmm`` is a drop-in for ``hmmlearn.hmm``):
the same constructor parameters, fitted attributes, ``params``/``init_params``
letters, ``monitor_``, and the same M-step formulas, so the same starting
parameters give the same answers. What it adds: sample weights per sequence,
``n_threads``, the scaled recursion falling back to log space for a sequence
where scaling underflows (hmmlearn's "scaling" raises there), transition rows
of unvisited states kept valid, and clear errors.
"""

import logging
import string
import sys
from collections import deque

import numpy as np
from scipy import linalg

from ..kernels import _hmm
from ..kernels._openmp_helpers import effective_n_threads
from ..utils._sklearn_compat import EstimatorProtocol
from ..utils._threadpool import blas_single_thread
from ._persist import PersistentHMM
from ._sequences import (add_stats, block_rows_for, is_dask, is_streamed, read_rows, sequence_blocks,
                         spread_sample)
from ..utils._validation import (check_array, check_n_threads, check_option, check_random_state, check_scalar,
                                 check_verbose)

_log = logging.getLogger("fastgmm.hmm")

DECODER_ALGORITHMS = frozenset(("viterbi", "map"))
IMPLEMENTATIONS = ("log", "scaling")
NAN_POLICIES = ("raise", "marginalize")


class ConvergenceMonitor:
    """Keeps the log-likelihood of each EM iteration and says when EM has converged.

    hmmlearn's ``ConvergenceMonitor``, with the same attributes and rule:
    converged when ``n_iter`` iterations ran or the log-likelihood gained less
    than ``tol`` in the last one. Assign a subclass with another ``converged``
    property to a model's ``monitor_`` before ``fit`` to change the rule.

    Attributes
    ----------
    history : collections.deque
        The log-likelihood of every iteration so far (under the parameters
        the iteration started from).
    iter : int
        Iterations run.
    """

    _template = "{iter:>10d} {log_prob:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol, n_iter, verbose):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history = deque()
        self.iter = 0

    def __repr__(self):
        items = sorted(dict(vars(self), history=list(self.history)).items())
        return f"{type(self).__name__}(\n" + "".join(f"    {k}={v},\n" for k, v in items) + ")"

    def _reset(self):
        self.iter = 0
        self.history.clear()

    def report(self, log_prob):
        """Record one iteration's log-likelihood (and print it with ``verbose``)."""
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else np.nan
            print(self._template.format(iter=self.iter + 1, log_prob=log_prob, delta=delta), file=sys.stderr)
        slack = np.finfo(float).eps ** 0.5
        if self.history and log_prob - self.history[-1] < -slack:
            _log.warning("Model is not converging. Current: %s is not greater than %s. Delta is %s",
                         log_prob, self.history[-1], log_prob - self.history[-1])
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self):
        """Whether EM has converged (``n_iter`` reached, or a gain below ``tol``)."""
        return self.iter == self.n_iter or (
            len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol)


def sequence_starts(lengths, n_samples):
    """int64 (S + 1,) offsets of the sequences given by ``lengths`` (None: one sequence of all rows)."""
    if lengths is None:
        return np.array([0, n_samples], dtype=np.int64)
    lengths = np.atleast_1d(np.asarray(lengths))
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be a 1-D array of sequence lengths, got shape {lengths.shape}.")
    if lengths.size == 0:
        raise ValueError("lengths is empty: give at least one sequence length.")
    if lengths.dtype.kind == "f":
        if not np.all(np.isfinite(lengths)) or np.any(lengths != np.floor(lengths)):
            raise ValueError("lengths must be whole numbers of frames.")
        lengths = lengths.astype(np.int64)
    if lengths.dtype.kind not in "iu":
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}.")
    if np.any(lengths < 0):
        i = int(np.argmax(lengths < 0))
        raise ValueError(f"lengths must be non-negative, but lengths[{i}] = {lengths[i]}.")
    starts = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    if starts[-1] != n_samples:
        raise ValueError(f"lengths sum to {int(starts[-1])} frames but X has {n_samples} rows: "
                         "the lengths of the sequences must add up to the number of rows of X.")
    return starts


def check_sequence_weight(sample_weight, n_sequences, estimator_name):
    """float64 (S,) weights of the sequences, or None; one per sequence, finite, >= 0, not all 0."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n_sequences, float(w))
    if w.shape != (n_sequences,):
        raise ValueError(f"{estimator_name}: sample_weight weighs whole sequences: it needs one weight per "
                         f"sequence ({n_sequences}, from lengths), got shape {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{estimator_name}: sample_weight must be finite and non-negative.")
    if not np.any(w > 0):
        raise ValueError(f"{estimator_name}: every sequence has weight 0: nothing to fit.")
    return w


def _normalize_rows(a, keep):
    """Rows of ``a`` divided by their sums; a row summing to 0 becomes ``keep``'s row (hmmlearn #186)."""
    s = a.sum(axis=-1, keepdims=True)
    ok = s > 0
    out = np.where(ok, a / np.where(ok, s, 1.0), keep)
    return out


class BaseHMM(PersistentHMM, EstimatorProtocol):
    """Base class of fastgmm's hidden Markov models (the chain; emissions in subclasses).

    Subclasses set ``_emission_letters`` (the ``params`` letters of their
    emission parameters) and implement ``_init_emission``,
    ``_check_emission``, ``_log_frameprob``, ``_accumulate_emission``,
    ``_mstep_emission``, ``_emission_scalars`` and ``_sample_emissions``.
    """

    _fitted_attribute = "startprob_"
    _emission_letters = ""
    #: The names ``frozen`` accepts, each with its ``params`` letter (subclasses add their emission's).
    _FROZEN = {"startprob": "s", "transmat": "t"}
    #: Whether nan_policy="marginalize" is offered (Gaussian emissions: exact; discrete: a NaN frame emits nothing)
    _MARGINALIZE = True
    _fit_scratch = None       # during fit: the memory kept from one iteration to the next (see _lattice)

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, algorithm="viterbi",
                 random_state=None, n_iter=10, tol=1e-2, verbose=False, params=string.ascii_letters,
                 init_params=string.ascii_letters, implementation="log", n_threads=None, nan_policy="raise",
                 block_rows=None, frozen=None):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_threads = n_threads
        self.nan_policy = nan_policy
        self.block_rows = block_rows
        self.frozen = frozen
        # hmmlearn makes the monitor at construction, so that a subclass of it
        # can be put in its place before fit.
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)

    # ------------------------------------------------------------------
    # parameters
    # ------------------------------------------------------------------
    def _validate_params(self):
        name = type(self).__name__
        check_scalar(self.n_components, "n_components", "int", low=1, estimator_name=name)
        check_scalar(self.n_iter, "n_iter", "int", low=0, estimator_name=name)
        check_scalar(self.tol, "tol", "real", low=0, estimator_name=name)
        check_verbose(self.verbose, estimator_name=name)
        check_option(self.algorithm, "algorithm", sorted(DECODER_ALGORITHMS), estimator_name=name)
        check_option(self.implementation, "implementation", IMPLEMENTATIONS, estimator_name=name)
        check_n_threads(self.n_threads, estimator_name=name)
        check_option(self.nan_policy, "nan_policy", NAN_POLICIES, estimator_name=name)
        check_scalar(self.block_rows, "block_rows", "int", low=1, allow_none=True, estimator_name=name)
        self._frozen_letters()
        for p in ("params", "init_params"):
            if not isinstance(getattr(self, p), str):
                raise ValueError(f"{name}: {p} must be a string of parameter letters "
                                 f"('s', 't', {', '.join(repr(c) for c in self._emission_letters)}).")

    def _frozen_letters(self):
        """The ``params`` letters of the parameters named in ``frozen`` (fastgmm's name for hmmlearn's letters)."""
        frozen = self.frozen
        if frozen is None:
            return ""
        names = (frozen,) if isinstance(frozen, str) else frozen
        allowed = tuple(self._FROZEN)
        try:
            names = tuple(names)
        except TypeError:
            raise ValueError(f"The 'frozen' parameter of {type(self).__name__} must be None or a tuple of "
                             f"parameter names from {allowed}, got {frozen!r}.") from None
        bad = [n for n in names if n not in self._FROZEN]
        if bad:
            raise ValueError(f"The 'frozen' parameter of {type(self).__name__} must name parameters from "
                             f"{allowed}, got {bad[0]!r}.")
        return "".join(self._FROZEN[n] for n in names)

    @property
    def _updated(self):
        """The letters EM updates: ``params`` less the ``frozen`` parameters'."""
        frozen = self._frozen_letters()
        return "".join(c for c in self.params if c not in frozen)

    def _threads(self):
        return effective_n_threads(self.n_threads)

    def _needs_init(self, code, name):
        if code in self.init_params:
            if hasattr(self, name):
                _log.warning("Even though the %r attribute is set, it will be overwritten during initialization "
                             "because 'init_params' contains %r", name, code)
            return True
        return not hasattr(self, name)

    def _check_and_set_n_features(self, X):
        n_features = X.shape[1]
        if hasattr(self, "n_features") and self.n_features is not None:
            if self.n_features != n_features:
                raise ValueError(f"Unexpected number of dimensions, got {n_features} but expected "
                                 f"{self.n_features}")
        else:
            self.n_features = n_features

    def _get_n_fit_scalars_per_param(self):
        nc = self.n_components
        out = {"s": nc - 1, "t": nc * (nc - 1)}
        out.update(self._emission_scalars())
        return out

    def _init(self, X, lengths=None):
        """Initial parameters for the letters of ``init_params`` (and for those not set yet)."""
        self._check_and_set_n_features(X)
        K = self.n_components
        rng = check_random_state(self.random_state, estimator_name=type(self).__name__)
        if self._needs_init("s", "startprob_"):
            self.startprob_ = rng.dirichlet(np.full(K, 1.0 / K))
        if self._needs_init("t", "transmat_"):
            self.transmat_ = rng.dirichlet(np.full(K, 1.0 / K), size=K)
        self._init_emission(X, lengths, rng)
        per_param = self._get_n_fit_scalars_per_param()
        n_fit = sum(per_param.get(p, 0) for p in set(self.params))
        if X.size < n_fit:
            _log.warning("Fitting a model with %d free scalar parameters with only %d data points will result in "
                         "a degenerate solution.", n_fit, X.size)

    def _check_sum_1(self, name):
        s = getattr(self, name).sum(axis=-1)
        if not np.allclose(s, 1):
            raise ValueError(f"{name} must sum to 1 (got {s:.4f})" if s.ndim == 0
                             else f"{name} rows must sum to 1 (got row sums of {s})")

    def _check(self):
        """Validate the model's parameters (hmmlearn's checks, and finiteness)."""
        self._validate_params()
        K = self.n_components
        self.startprob_ = np.asarray(self.startprob_, dtype=np.float64)
        if self.startprob_.shape != (K,):
            raise ValueError("startprob_ must have length n_components")
        if not np.all(np.isfinite(self.startprob_)) or np.any(self.startprob_ < 0):
            raise ValueError("startprob_ must hold probabilities (finite, non-negative)")
        self._check_sum_1("startprob_")
        self.transmat_ = np.asarray(self.transmat_, dtype=np.float64)
        if self.transmat_.shape != (K, K):
            raise ValueError("transmat_ must have shape (n_components, n_components)")
        if not np.all(np.isfinite(self.transmat_)) or np.any(self.transmat_ < 0):
            raise ValueError("transmat_ must hold probabilities (finite, non-negative)")
        self._check_sum_1("transmat_")
        self._check_emission()

    # ------------------------------------------------------------------
    # data
    # ------------------------------------------------------------------
    def _validate_X(self, X):
        return check_array(X, estimator_name=type(self).__name__, allow_nan=self.nan_policy == "marginalize")

    def _frames(self, X):
        """(X validated, the emission's per-call extras: e.g. its rows grouped by NaN pattern)."""
        X = self._validate_X(X)
        return X, self._frame_extra(X)

    def _frame_extra(self, X):
        return None

    def _sequences(self, X, lengths):
        return sequence_starts(lengths, X.shape[0])

    def _log_chain(self):
        # The C library's log, as hmmlearn's compiled code takes it (NumPy's vectorised log differs in the
        # last bit for a few values, which can flip a near-tie of the Viterbi path).
        ls, lt = np.empty(self.n_components), np.empty((self.n_components, self.n_components))
        _hmm.log_libm(np.ascontiguousarray(self.startprob_, dtype=np.float64), ls)
        _hmm.log_libm(np.ascontiguousarray(self.transmat_, dtype=np.float64).ravel(), lt.ravel())
        return ls, lt

    def _lattice(self, n_frames):
        """An (n_frames, n_components) float64 array for the emission log-densities (the posteriors after the
        forward-backward): in fit the same one at every iteration, whose E-step is done with it by the next."""
        shape = (n_frames, self.n_components)
        if self._fit_scratch is None:
            return np.empty(shape)
        a = self._fit_scratch.get("lattice")
        if a is None or a.shape != shape:
            a = self._fit_scratch["lattice"] = np.empty(shape)
        return a

    def _posteriors(self, X, extra, starts, n_threads, *, seq_weight=None, statistics=False):
        """(posteriors (N, K), log-likelihood per sequence, start sums, transition sums or None)."""
        lattice = self._log_frameprob(X, extra, n_threads)
        K = self.n_components
        S = starts.shape[0] - 1
        seq_ll = np.empty(S)
        xi = np.empty((K, K)) if statistics else None
        start = np.empty(K) if statistics else None
        log_start, log_trans = self._log_chain()
        # Both implementations run the scaled recursion, which redoes in log space exactly the sequences where
        # scaling would underflow: the same answers as a log-space recursion (to ~1e-12), several times faster.
        workspace = None if self._fit_scratch is None else self._fit_scratch["forward_backward"]
        _hmm.forward_backward(lattice, starts, log_start, log_trans, seq_weight, seq_ll, xi, start, n_threads,
                              workspace=workspace)
        return lattice, seq_ll, start, xi

    # ------------------------------------------------------------------
    # fit
    # ------------------------------------------------------------------
    def fit(self, X, lengths=None, sample_weight=None):
        """Estimate the model's parameters by EM (Baum-Welch).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The frames of every sequence, one after the other. A
            ``numpy.memmap``, an h5py or zarr array, or a Dask array is read
            in blocks of whole sequences (see ``block_rows``).
        lengths : array-like of int, shape (n_sequences,), optional
            Lengths of the sequences in X; they must add up to n_samples.
            Default: one sequence.
        sample_weight : array-like of shape (n_sequences,), optional
            A weight per sequence (a sequence of weight 2 counts as two
            copies of it).

        Returns
        -------
        self
        """
        self._validate_params()
        streamed = is_streamed(X)
        if streamed:
            extra = None
            starts = sequence_starts(lengths, int(X.shape[0]))
            blocks = sequence_blocks(starts, block_rows_for(X, self.block_rows))
            # the starting parameters from a bounded sample of frames spread over X, read into memory
            self._scan_streamed(X, block_rows_for(X, self.block_rows))
            init_X, init_extra = self._frames(spread_sample(X, block_rows_for(X, self.block_rows)))
        else:
            X, extra = self._frames(X)
            starts = self._sequences(X, lengths)
            blocks = None
            init_X, init_extra = X, extra
        seq_w = check_sequence_weight(sample_weight, starts.shape[0] - 1, type(self).__name__)
        # BLAS single-threaded while the kernels run: their OpenMP threads call it, and idle BLAS threads
        # spinning beside them made each small solve of the M-step cost a millisecond.
        with blas_single_thread():
            self._init(self._init_rows(init_X, init_extra), lengths)
            del init_X, init_extra
            self._check()
            self.monitor_._reset()
            n_threads = self._threads()
            self._begin_fit()
            # the forward-backward's scratch (and the emission array, see _lattice) allocated and paged in once
            # per fit instead of at every iteration: for 10^6 frames that costs ~10-30 ns a frame each time.
            # Not for streamed data: its blocks can run concurrently (Dask), and one scratch serves one call.
            if not streamed:
                self._fit_scratch = {"forward_backward": _hmm.Workspace()}
            try:
                for _ in range(self.n_iter):
                    if streamed:
                        stats, log_prob = self._streamed_estep(X, starts, blocks, seq_w, n_threads)
                    else:
                        stats, log_prob = self._do_estep(X, extra, starts, seq_w, n_threads)
                    self._do_mstep(stats)
                    self.monitor_.report(log_prob)
                    if self.monitor_.converged:
                        break
            finally:
                self.__dict__.pop("_fit_scratch", None)     # nothing of it left on the fitted model
                self._end_fit()
        return self

    def _scan_streamed(self, X, block_rows):
        """A pass over streamed X before the start, for what a sample cannot tell (CategoricalHMM: the symbols)."""

    def _begin_fit(self):
        """Per-fit state of the emission model."""

    def _end_fit(self):
        """Release what ``_begin_fit`` kept."""

    def _block_estep(self, X, a, b, local_starts, seq_weight, n_threads):
        Xb, extra = self._frames(read_rows(X, a, b))
        return self._do_estep(Xb, extra, local_starts, seq_weight, n_threads)

    def _streamed_estep(self, X, starts, blocks, seq_weight, n_threads):
        """One E-step over blocks of whole sequences: statistics summed in block order."""
        jobs = []
        for s0, s1 in blocks:
            a, b = int(starts[s0]), int(starts[s1])
            w = None if seq_weight is None else seq_weight[s0:s1]
            jobs.append((a, b, starts[s0:s1 + 1] - a, w))
        if is_dask(X):
            import dask
            tasks = [dask.delayed(self._block_estep)(X[a:b], 0, b - a, local, w, n_threads)
                     for a, b, local, w in jobs]
            results = dask.compute(*tasks)
        else:
            results = (self._block_estep(X, a, b, local, w, n_threads) for a, b, local, w in jobs)
        stats, total = None, 0.0
        for st, lp in results:
            stats = add_stats(stats, st)
            total += lp
        return stats, total

    def _init_rows(self, X, extra):
        """The rows the starting parameters are made from (those without NaN, under nan_policy)."""
        if extra is None or not np.issubdtype(X.dtype, np.floating):
            return X
        keep = ~np.isnan(X).any(axis=1)
        if keep.sum() < self.n_components:
            raise ValueError(f"{type(self).__name__}: only {int(keep.sum())} frames have no missing value, fewer "
                             f"than the {self.n_components} states: the starting parameters are made from "
                             "complete frames. Give startprob_, transmat_ and the emission parameters and leave "
                             "them out of init_params, or use fewer states.")
        return np.ascontiguousarray(X[keep])

    def _do_estep(self, X, extra, starts, seq_weight, n_threads):
        gamma, seq_ll, start, xi = self._posteriors(X, extra, starts, n_threads, seq_weight=seq_weight,
                                                    statistics=True)
        bad = ~np.isfinite(seq_ll)
        if bad.any():
            s = int(np.argmax(bad))
            raise ValueError(
                f"{type(self).__name__}: sequence {s} (rows {int(starts[s])} to {int(starts[s + 1]) - 1}) has "
                "probability 0 under the current parameters: every state path through it uses an impossible "
                "start, transition or emission. Check startprob_/transmat_ zeros against the data, or "
                "start from other parameters.")
        frame_w = None if seq_weight is None else np.repeat(seq_weight, np.diff(starts))
        stats = {"nobs": starts.shape[0] - 1, "start": start, "trans": xi}
        self._accumulate_emission(stats, X, extra, gamma, frame_w, n_threads)
        log_prob = float(seq_ll.sum() if seq_weight is None else seq_ll @ seq_weight)
        return stats, log_prob

    def _do_mstep(self, stats):
        # hmmlearn's rule: prior - 1 + counts, negatives clipped to 0, and the
        # zeros of startprob_/transmat_ kept (structural zeros of a
        # left-right model). A row with nothing (an unvisited state) keeps its
        # previous values instead of becoming 0 / 0.
        updated = self._updated
        if "s" in updated:
            sp = np.maximum(np.asarray(self.startprob_prior, dtype=np.float64) - 1 + stats["start"], 0)
            sp = np.where(self.startprob_ == 0, 0, sp)
            self.startprob_ = _normalize_rows(sp, self.startprob_)
        if "t" in updated:
            tm = np.maximum(np.asarray(self.transmat_prior, dtype=np.float64) - 1 + stats["trans"], 0)
            tm = np.where(self.transmat_ == 0, 0, tm)
            self.transmat_ = _normalize_rows(tm, self.transmat_)
        self._mstep_emission(stats)

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def _predict_blocks(self, X, lengths):
        """(frames, extras, sequence starts) of X: one block in memory, blocks of whole sequences otherwise."""
        self._check_is_fitted()
        self._check()
        if not is_streamed(X):
            X, extra = self._frames(X)
            yield X, extra, self._sequences(X, lengths)
            return
        starts = sequence_starts(lengths, int(X.shape[0]))
        for s0, s1 in sequence_blocks(starts, block_rows_for(X, self.block_rows)):
            a = int(starts[s0])
            Xb, extra = self._frames(read_rows(X, a, int(starts[s1])))
            yield Xb, extra, starts[s0:s1 + 1] - a

    def score_samples(self, X, lengths=None):
        """Log-likelihood of X and the state posteriors of every frame.

        Returns
        -------
        log_prob : float
        posteriors : ndarray of shape (n_samples, n_components)
        """
        total, parts = 0.0, []
        n_threads = self._threads()
        with blas_single_thread():
            for Xb, extra, starts in self._predict_blocks(X, lengths):
                gamma, seq_ll, _, _ = self._posteriors(Xb, extra, starts, n_threads)
                total += float(seq_ll.sum())
                parts.append(gamma)
        return total, parts[0] if len(parts) == 1 else np.concatenate(parts)

    def score(self, X, lengths=None):
        """Log-likelihood of X under the model (the sum over its sequences)."""
        return self.score_samples(X, lengths)[0]

    def predict_proba(self, X, lengths=None):
        """Posterior probability of each state for every frame, shape (n_samples, n_components)."""
        return self.score_samples(X, lengths)[1]

    def decode(self, X, lengths=None, algorithm=None):
        """The most likely state sequence of X.

        ``algorithm``: "viterbi" (the most probable path; its log-probability
        is returned) or "map" (the most probable state of each frame; as in
        hmmlearn the number returned is the sum of those frames' posterior
        probabilities). Default: the model's ``algorithm``.

        Returns
        -------
        log_prob : float
        state_sequence : ndarray of int, shape (n_samples,)
        """
        algorithm = algorithm or self.algorithm
        if algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"Unknown decoder {algorithm!r}")
        n_threads = self._threads()
        total, parts = 0.0, []
        with blas_single_thread():
            for Xb, extra, starts in self._predict_blocks(X, lengths):
                if algorithm == "map":
                    gamma, _, _, _ = self._posteriors(Xb, extra, starts, n_threads)
                    total += float(gamma.max(axis=1).sum())
                    parts.append(np.argmax(gamma, axis=1))
                    continue
                lattice = self._log_frameprob(Xb, extra, n_threads)
                path = np.empty(Xb.shape[0], dtype=np.int64)
                seq_lp = np.empty(starts.shape[0] - 1)
                log_start, log_trans = self._log_chain()
                _hmm.viterbi(lattice, starts, log_start, log_trans, path, seq_lp, n_threads)
                total += float(seq_lp.sum())
                parts.append(path)
        return total, parts[0] if len(parts) == 1 else np.concatenate(parts)

    def predict(self, X, lengths=None):
        """The most likely state of every frame, by the model's ``algorithm``."""
        return self.decode(X, lengths)[1]

    def sample(self, n_samples=1, random_state=None, currstate=None):
        """Draw a sequence of ``n_samples`` frames (and its states) from the model.

        ``currstate``: the state of the first frame (default: drawn from
        ``startprob_``). ``random_state``: default the model's.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        state_sequence : ndarray of int, shape (n_samples,)
        """
        self._check_is_fitted()
        self._check()
        rng = check_random_state(self.random_state if random_state is None else random_state,
                                 estimator_name=type(self).__name__)
        n = int(n_samples)
        if n < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}.")
        cdf = np.cumsum(self.transmat_, axis=1)
        states = np.empty(n, dtype=np.int64)
        u = rng.random_sample(n)
        if currstate is None:
            s = int(np.argmax(np.cumsum(self.startprob_) > u[0]))
        else:
            s = int(currstate)
            if not 0 <= s < self.n_components:
                raise ValueError(f"currstate must be a state in [0, {self.n_components}), got {currstate}.")
        states[0] = s
        for t in range(1, n):
            s = int(np.argmax(cdf[s] > u[t]))
            states[t] = s
        return self._sample_emissions(states, rng), states

    def get_stationary_distribution(self):
        """The stationary distribution of the chain (left eigenvector of ``transmat_`` for eigenvalue 1)."""
        self._check_is_fitted()
        eigvals, eigvecs = linalg.eig(np.asarray(self.transmat_).T)
        v = np.real_if_close(eigvecs[:, np.argmax(eigvals.real)])
        return np.real(v / v.sum())

    def _n_parameters(self):
        return sum(self._get_n_fit_scalars_per_param().values())

    def aic(self, X, lengths=None):
        """Akaike information criterion: -2 log L + 2 n_parameters (lower is better)."""
        return -2 * self.score(X, lengths=lengths) + 2 * self._n_parameters()

    def bic(self, X, lengths=None):
        """Bayesian information criterion: -2 log L + n_parameters log(n_samples) (lower is better)."""
        return -2 * self.score(X, lengths=lengths) + self._n_parameters() * np.log(len(X))
