"""The shared base of fastgmm's EM estimators.

`BaseMixture` owns everything that is the same for every mixture family:
the scikit-learn protocol, input and sample-weight validation, sources
(in-memory arrays, out-of-core arrays streamed in blocks, Dask arrays), the
NaN policy, the EM loop (``n_init`` x ``max_iter``, convergence on the change
of the lower bound, warm start, frozen parameters, callbacks, progress, the
final E-step of ``fit_predict``, verbose output), online EM
(``partial_fit``), and the methods derived from per-row log-likelihoods
and posteriors (``score``, ``bic``, ``aic``, ``uncertainty``).

The seam: sufficient statistics
-------------------------------
A family (Gaussian, variational Gaussian, Student-t, Bernoulli, Poisson,
categorical) implements its maths on *named parameters* (a ``NamedTuple`` of
float64 arrays, e.g. ``GaussianParams(weights, means, covariances,
precisions_cholesky)``) and *additive statistics* (an object with ``+``,
``scaled(factor)``, ``loglik`` and ``weight``: the statistics of disjoint
blocks of rows add up, which is the whole story of out-of-core, distributed
and online EM). Its hooks:

``_check_parameters(X)``
    validate the family's constructor parameters against X; returns whatever
    ``_initialize_parameters`` needs (e.g. checked ``*_init`` arrays).
``_initialize_parameters(X, sample_weight, random_state, init, n_threads)``
    initial parameters.
``_statistics(X, sample_weight, params, n_threads, missing=None)``
    one fused kernel pass over an in-memory block (E-step under ``params``
    and the statistics of its responsibilities); ``missing`` is the block's
    rows grouped by NaN pattern under ``nan_policy="marginalize"``.
``_m_step(stats, params, data)``
    the new parameters from the statistics (priors, regularisation and the
    degenerate-component policy included); ``data`` is a :class:`FitData`.
``_lower_bound(stats, new_params)``
    the objective of the pass (scikit-learn's definition: the mean
    log-likelihood under the parameters of the E-step, or the ELBO).
``_statistics_from_parameters(params)``
    the inverse M-step: statistics of total weight 1 whose M-step gives back
    ``params``; online EM blends each batch into them.
``_get_parameters()`` / ``_set_parameters(params, dtype)``
    from and to the public fitted attributes, which are the single source of
    truth: a model whose attributes were set by hand (or loaded) predicts,
    warm-starts and continues online from them.
``_estimate(X, n_threads, row_ll=, labels=, resp=, total=)``
    E-step outputs under the fitted attributes.
``_n_parameters()``; optionally ``_check_solution(X)`` (warnings about the fitted
    model), ``_set_events(events)`` (fitted attributes from the best run's degenerate
    events) and ``_FROZEN`` (the names ``frozen`` accepts, each mapped to its fields).

Everything else (the loop, the sources, the NaN policy, ``partial_fit``, ``frozen``) is written once
here, for every family. Missing values: "raise" and "omit" work for every family; "marginalize" where
the family has the maths (``_MARGINALIZE = True``): the rows are grouped by missingness pattern once
per fit (``fastgmm.families._gaussian_missing``) and ``_initialize_parameters`` and ``_statistics``
receive it as the keyword ``missing`` (only when X has a NaN).
"""

import math
import time
import warnings

import numpy as np

from ..kernels._finite import all_finite
from ..kernels._openmp_helpers import effective_n_threads
from ..sources._blocks import ArraySource, is_dask, is_out_of_core
from ..sources._nan import group_patterns, has_nan
from ..utils._sklearn_compat import EstimatorProtocol
from ..utils._threadpool import blas_single_thread
from ..utils._validation import (ConvergenceWarning, FitInterruptedWarning, check_array, check_bool, check_callback,
                                 check_feature_names, check_n_threads, check_option, check_random_state,
                                 check_sample_weight, check_scalar, check_verbose, sklearn_compatible,
                                 validate_random_state)
from ._nan_policy import apply_nan_policy, is_dask_source
from ._online import FitData, OnlineMixin  # noqa: F401 (FitData: the M-step hook's argument)


def progress_bar(progress, total, desc):
    """A tqdm bar of ``total`` steps when ``progress`` is true, else None.

    Without tqdm installed, ``progress=True`` warns once per call and shows nothing.
    """
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        warnings.warn("progress=True needs tqdm (pip install tqdm); fitting without a progress bar.",
                      UserWarning, stacklevel=3)
        return None
    return tqdm(total=total, desc=desc, leave=False)


def block_statistics(block, sample_weight, model, params, n_threads):
    """The statistics of one block of a streamed source (its NaN patterns grouped under 'marginalize')."""
    missing = None
    if model._nan_policy() == "marginalize" and has_nan(block):
        missing = group_patterns(block)
    return model._statistics(block, sample_weight, params, n_threads, missing=missing)


class BaseMixture(OnlineMixin, EstimatorProtocol):
    """Base class of fastgmm's EM mixture estimators (see the module docstring)."""

    _fitted_attribute = "means_"
    _NAN_POLICIES = ("raise", "omit", "marginalize")
    #: Whether the family has exact missing-value EM (nan_policy="marginalize").
    _MARGINALIZE = False
    #: The names ``frozen`` accepts, each mapped to the parameter fields it keeps at their initial values.
    _FROZEN = {"weights": ("weights",), "means": ("means",)}
    _frozen_fields = ()

    # ------------------------------------------------------------------
    # Validation shared by every family
    # ------------------------------------------------------------------
    def _validate_base_params(self):
        name = type(self).__name__
        check_scalar(self.n_components, "n_components", "int", low=1, estimator_name=name)
        check_scalar(self.tol, "tol", "real", low=0, estimator_name=name)
        check_scalar(self.max_iter, "max_iter", "int", low=0, estimator_name=name)
        check_scalar(self.n_init, "n_init", "int", low=1, estimator_name=name)
        check_bool(self.warm_start, "warm_start", estimator_name=name)
        check_verbose(self.verbose, estimator_name=name)
        check_scalar(self.verbose_interval, "verbose_interval", "int", low=1, estimator_name=name)
        check_n_threads(self.n_threads, estimator_name=name)
        validate_random_state(self.random_state, estimator_name=name)
        check_option(self._nan_policy(), "nan_policy", set(self._nan_policies()), estimator_name=name,
                     detail=None if self._MARGINALIZE else
                     f"({name} has no exact missing-value EM: 'marginalize' is for GaussianMixture, "
                     "BayesianGaussianMixture and StudentTMixture.)")
        self._check_frozen()
        check_callback(getattr(self, "callback", None), estimator_name=name)
        check_bool(getattr(self, "progress", False), "progress", estimator_name=name)

    def _nan_policy(self):
        return getattr(self, "nan_policy", "raise")

    def _nan_policies(self):
        return self._NAN_POLICIES if self._MARGINALIZE else ("raise", "omit")

    def _check_frozen(self):
        """``frozen`` checked: None or names from the family's ``_FROZEN``; returns the parameter fields kept."""
        frozen = getattr(self, "frozen", None)
        if frozen is None:
            return ()
        name = type(self).__name__
        allowed = tuple(self._FROZEN)
        names = (frozen,) if isinstance(frozen, str) else frozen
        try:
            names = tuple(names)
        except TypeError:
            raise ValueError(f"The 'frozen' parameter of {name} must be None or a tuple of parameter names from "
                             f"{allowed}, got {frozen!r}.") from None
        bad = [n for n in names if not isinstance(n, str) or n not in self._FROZEN]
        if bad:
            raise ValueError(f"The 'frozen' parameter of {name} must name parameters from {allowed}, got "
                             f"{bad[0]!r}.")
        fields = []
        for n in names:
            fields.extend(f for f in self._FROZEN[n] if f not in fields)
        return tuple(fields)

    def _keep_frozen(self, new, start):
        """``new`` with the frozen fields taken from ``start`` (the run's initial parameters)."""
        fields = self._frozen_fields
        if not fields:
            return new
        return new._replace(**{f: getattr(start, f) for f in fields})

    def _all_finite(self, X):
        """Whether X (checked so far) is all finite, read by the estimator's threads (None: NumPy decides).
        An invalid thread count reads with one thread: it is reported where the parameters are checked."""
        try:
            return all_finite(X, effective_n_threads(self.n_threads))
        except (TypeError, ValueError):
            return all_finite(X, 1)

    def _validate_X(self, X, *, reset, allow_nan=False):
        """X checked: a C-contiguous float ndarray, or a source streamed in blocks
        (``fastgmm.sources._blocks``: memmap, h5py, zarr; ``fastgmm.sources._dask``: Dask)."""
        name = type(self).__name__
        check_feature_names(self, X, reset=reset)
        if is_dask(X):
            from ..sources._dask import DaskSource  # only here: importing fastgmm never imports dask
            X = DaskSource(X, estimator_name=name, allow_nan=allow_nan, min_samples=2 if reset else 1)
        elif is_out_of_core(X):
            X = ArraySource(X, estimator_name=name, allow_nan=allow_nan, min_samples=2 if reset else 1,
                            block_rows=getattr(self, "block_rows", None))
        else:
            X = check_array(X, estimator_name=name, min_samples=2 if reset else 1, allow_nan=allow_nan,
                            all_finite=self._all_finite)
        if reset:
            self.n_features_in_ = X.shape[1]
            return X
        return self._check_n_features(X)

    # ------------------------------------------------------------------
    # Fitting: the EM loop, once for every family
    # ------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with the EM algorithm.

        Fits ``n_init`` times and keeps the parameters with the largest lower
        bound. Each run iterates E-step and M-step up to ``max_iter`` times
        until the lower bound changes by less than ``tol``; otherwise a
        :class:`ConvergenceWarning` is issued.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row (None: all 1). A row of weight w
            counts as w copies of itself (integer weights give the model of
            the repeated rows); weight 0 is a row that is not there.

        Returns
        -------
        self
        """
        self._fit(X, sample_weight, want_labels=False)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit as :meth:`fit` and return the most probable component of each row.

        A final E-step with the fitted parameters makes the labels equal to
        ``fit(X).predict(X)``. With ``nan_policy="omit"`` the rows that were
        omitted get the label -1.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._fit(X, sample_weight, want_labels=True)

    def _fit(self, X, sample_weight, want_labels):
        # A fit that fails (bad input, a MemoryError, a singular covariance
        # under on_degenerate="raise", ...) loses nothing: the fitted
        # attributes are put back as they were (none, for an unfitted
        # estimator). Ctrl-C is different on purpose: the estimator then keeps
        # the last complete iteration (see _keep_last_complete_iteration).
        before = self._fitted_state()
        try:
            return self._fit_run(X, sample_weight, want_labels)
        except KeyboardInterrupt:
            raise
        except BaseException:
            self._restore_fitted_state(before)
            raise

    def _fitted_state(self):
        """The public fitted attributes (``name_``), to put back when a fit fails."""
        return {k: v for k, v in self.__dict__.items() if k.endswith("_") and not k.startswith("_")}

    def _restore_fitted_state(self, before):
        """Put the fitted attributes back as :meth:`_fitted_state` found them (none, for an unfitted estimator)."""
        for k in list(self._fitted_state()):
            del self.__dict__[k]
        self.__dict__.update(before)

    def _fit_run(self, X, sample_weight, want_labels):
        self._validate_base_params()
        policy = self._nan_policy()
        X = self._validate_X(X, reset=True, allow_nan=policy != "raise")
        sample_weight = self._check_source_weight(X, sample_weight)
        X, sample_weight, missing, kept = self._missing_values(X, sample_weight, policy)
        extra = {} if missing is None else {"missing": missing}
        self._frozen_fields = ()
        self._pass_weight = None
        N = X.shape[0]
        n_rows = N if sample_weight is None else int(np.count_nonzero(sample_weight))
        if n_rows < self.n_components:
            what = "n_samples" if sample_weight is None else "n_samples with a positive sample_weight"
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                f"{what} = {n_rows}"
            )
        init = self._check_parameters(X)
        self._frozen_fields = self._check_frozen()
        n_threads = effective_n_threads(self.n_threads)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        max_lower_bound = -np.inf
        best_events = []
        best = None
        was_fitted = self.__sklearn_is_fitted__()
        self.converged_ = False
        random_state = check_random_state(self.random_state)
        callback = getattr(self, "callback", None)
        hooks = self.__dict__.get("_candidate_hooks")   # a selection's candidate: _selection_sweep.CandidateHooks
        bar = progress_bar(getattr(self, "progress", False), n_init * self.max_iter, type(self).__name__)
        # The current run as of its last complete iteration, (params, n_iter,
        # lower_bound), replaced by one assignment per iteration so that a
        # KeyboardInterrupt anywhere leaves a consistent state behind.
        state = None
        history = []
        stopped = False

        try:
            with blas_single_thread():
                for init_no in range(n_init):
                    self._verbose_init_beg(init_no)
                    state = None
                    # Degenerate-component events of this run (fastgmm.families._degenerate), kept with the best run.
                    self._run_events = []
                    self._em_iteration = 0          # events of the initial parameters are at iteration 0
                    if do_init:
                        params = self._initialize_parameters(X, sample_weight, random_state, init, n_threads,
                                                             **extra)
                    else:
                        params = self._get_parameters()
                    history = []
                    start = params
                    state = (params, 0, -np.inf if do_init else self.lower_bound_)
                    converged = False
                    # A family's compiled iteration where the run allows it (no callback: it may keep the
                    # iterate's arrays, which the compiled step reuses), else _em_step.
                    runner = None if callback is not None else self._em_runner(X, sample_weight, params,
                                                                               n_threads, missing)
                    em_step = self._em_step if runner is None else runner.em_step
                    for n_iter in range(1, self.max_iter + 1):
                        self._em_iteration = n_iter     # names the iteration of an event
                        new_params, lower_bound = em_step(X, sample_weight, state[0], start, n_threads, missing)
                        history.append(lower_bound)
                        change = lower_bound - state[2]
                        state = (new_params, n_iter, lower_bound)
                        self._verbose_iter_end(n_iter, change)
                        converged = abs(change) < self.tol
                        if bar is not None:
                            bar.update(1)
                            bar.set_postfix(init=init_no, lower_bound=f"{lower_bound:.6g}", refresh=False)
                        if callback is not None and self._call_back(callback, state, X.dtype) and not converged:
                            stopped = True
                        stopped = stopped or (hooks is not None and not converged and hooks.stop(n_iter, new_params))
                        if converged or stopped:
                            break
                    params, n_iter, lower_bound = state
                    if bar is not None:
                        bar.update((init_no + 1) * self.max_iter - bar.n)   # a converged run's rest
                    if self.max_iter > 0:
                        self._verbose_init_end(lower_bound, converged)
                    if self.max_iter == 0 or lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                        max_lower_bound = lower_bound
                        best = (params, n_iter, history, converged)
                        best_events = self._run_events
                        self.converged_ = converged
                    state = None
                    if stopped:
                        break
        except KeyboardInterrupt:
            self._keep_last_complete_iteration(best, max_lower_bound, state, history, X.dtype, was_fitted)
            raise
        finally:
            if bar is not None:
                bar.close()

        with blas_single_thread():
            params, n_iter, history, _ = best
            best = init = None
            if hooks is not None:
                hooks.finished(runner, params)
            if stopped:
                self.converged_ = False   # the user stopped it: not converged, and no warning
            elif not self.converged_ and self.max_iter > 0:
                warnings.warn(
                    "Best performing initialization did not converge. Try different init parameters, "
                    "or increase max_iter, tol, or check for degenerate data.",
                    sklearn_compatible(ConvergenceWarning),
                )
            self._set_parameters(params, X.dtype)
            self.n_iter_ = n_iter
            # numpy scalars of X's dtype, as scikit-learn's
            self.lower_bound_ = X.dtype.type(max_lower_bound)
            self.lower_bounds_ = [X.dtype.type(v) for v in history]
            self.n_samples_seen_ = self._total_weight(X, sample_weight)
            self.__dict__.pop("n_steps_", None)
            self._set_events(best_events)
            if hooks is None or hooks.check_solution:
                self._check_solution(X)
            if want_labels:
                labels = self._estimate_any(X, n_threads, labels=True)[1]
                if kept is not None:
                    full = np.full(kept.shape[0], -1, dtype=labels.dtype)
                    full[kept] = labels
                    labels = full
                return labels
        return None

    def _em_step(self, X, sample_weight, params, start, n_threads, missing):
        """One EM iteration: a statistics pass under ``params``, the M-step, the frozen fields put back:
        ``(new_params, lower_bound)``."""
        stats = self._pass_statistics(X, sample_weight, params, n_threads, missing)
        self._pass_weight = stats.weight
        new = self._m_step(stats, params, FitData(X, sample_weight, n_threads, missing))
        new = self._keep_frozen(new, start)
        return new, self._lower_bound(stats, new)

    def _em_runner(self, X, sample_weight, params, n_threads, missing):
        """An object whose ``em_step`` (:meth:`_em_step`'s signature and results) makes this run's
        iterations in compiled code, or None (the default: :meth:`_em_step`)."""
        return None

    def _em_pass(self, X, sample_weight, params, n_threads, missing=None):
        """One EM iteration on validated X from ``params`` (a tuple or the family's named parameters):
        ``(new_params, lower_bound)``. The loop's step, reachable for tests and benchmarks."""
        params = self._Params(*params)
        return self._em_step(X, sample_weight, params, params, n_threads, missing)

    def _pass_statistics(self, X, sample_weight, params, n_threads, missing=None):
        """The statistics of all rows of X under ``params``: one kernel pass (block by block for a source,
        added in block order; Dask adds them in a tree of tasks in block order)."""
        if isinstance(X, np.ndarray):
            return self._statistics(X, sample_weight, params, n_threads, missing=missing)
        return X.statistics(block_statistics, (self, params, n_threads), sample_weight)

    def _total_weight(self, X, sample_weight):
        """sum_i w_i of the fitted rows (their number without weights): the weight of the last pass, or
        (``max_iter=0``) counted from X and the weights."""
        seen = self.__dict__.pop("_pass_weight", None)
        if seen is not None:
            return float(seen)
        if sample_weight is None:
            return float(X.shape[0])
        if hasattr(sample_weight, "compute"):
            return float(sample_weight.sum().compute())
        return float(np.sum(sample_weight))

    def _call_back(self, callback, state, dtype):
        """Set the attributes to the current iterate, call ``callback``; True means stop."""
        params, n_iter, lower_bound = state
        self._set_parameters(params, dtype)
        self.n_iter_ = n_iter
        self.lower_bound_ = dtype.type(lower_bound)
        return bool(callback(n_iter, self.lower_bound_, self))

    def _keep_last_complete_iteration(self, best, best_lower_bound, state, history, dtype, was_fitted):
        """After a KeyboardInterrupt: the attributes from the best complete iteration, and a warning.

        Candidates are the best finished run and the interrupted run as of its
        last complete iteration (if it completed one); the higher lower bound wins.
        """
        if state is not None and state[1] > 0 and (best is None or state[2] > best_lower_bound):
            params, n_iter, lower_bound = state
            hist = history[:n_iter]
        elif best is not None:
            params, n_iter, hist, _ = best
            lower_bound = best_lower_bound
        else:
            if not was_fitted:
                self.__dict__.pop("converged_", None)
            warnings.warn(
                f"{type(self).__name__}.fit was interrupted before its first EM iteration completed; "
                + ("the estimator keeps its previous parameters." if was_fitted else "the estimator is not fitted."),
                FitInterruptedWarning,
            )
            return
        self._set_parameters(params, dtype)
        self.n_iter_ = n_iter
        self.lower_bound_ = dtype.type(lower_bound)
        self.lower_bounds_ = [dtype.type(v) for v in hist]
        self.converged_ = False
        warnings.warn(
            f"{type(self).__name__}.fit was interrupted (KeyboardInterrupt): the estimator holds the "
            f"parameters of its last complete EM iteration (n_iter_={n_iter}, lower_bound_={lower_bound:.6g}, "
            "converged_=False). Call fit again to restart, or set warm_start=True to continue from here.",
            FitInterruptedWarning,
        )

    def _missing_values(self, X, sample_weight, policy, reset=True):
        """(X, sample_weight, missing, kept) after the NaN policy (see :func:`apply_nan_policy`).

        ``reset`` False (a later ``partial_fit`` batch): the omitted rows add to ``n_omitted_``, and the
        columns are not checked for observed values (the running model fills a batch's empty columns).
        """
        X, sample_weight, missing, kept, n_omitted = apply_nan_policy(
            X, sample_weight, policy, type(self).__name__, feature_names=getattr(self, "feature_names_in_", None),
            check_columns=reset)
        if reset or not hasattr(self, "n_omitted_"):
            self.n_omitted_ = n_omitted
        else:
            self.n_omitted_ += n_omitted
        return X, sample_weight, missing, kept

    def _check_solution(self, X):
        """Warnings about the fitted model (none by default)."""

    def _set_events(self, events):
        """Fitted attributes from the best run's degenerate-component events (none by default)."""

    def _check_source_weight(self, X, sample_weight):
        if is_dask_source(X):
            return X.check_sample_weight(sample_weight)
        return check_sample_weight(sample_weight, X.shape[0])

    def _estimate_any(self, X, n_threads, **outputs):
        """``_estimate`` on an array, or block by block on a source (outputs stitched)."""
        if isinstance(X, ArraySource):
            return X.estimate(lambda block, **o: self._estimate(block, n_threads, **o), **outputs)
        if is_dask_source(X):
            return X.estimate(self, **outputs)
        return self._estimate(X, n_threads, **outputs)

    # ------------------------------------------------------------------
    # Prediction from the public attributes
    # ------------------------------------------------------------------
    def _prepare_X(self, X):
        self._check_is_fitted()
        return self._validate_X(X, reset=False, allow_nan=self._nan_policy() == "marginalize")

    def _predict_outputs(self, X, **outputs):
        n_threads = effective_n_threads(self.n_threads)
        with blas_single_thread():
            return self._estimate_any(X, n_threads, **outputs)

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        if is_dask(X):
            return self._dask_lazy(X, "predict")
        X = self._prepare_X(X)
        return self._predict_outputs(X, labels=True)[1]

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components), of X's dtype
        """
        if is_dask(X):
            return self._dask_lazy(X, "predict_proba")
        X = self._prepare_X(X)
        return self._predict_outputs(X, resp=True)[2]

    def uncertainty(self, X):
        """mclust's classification uncertainty, 1 - max_k P(k | x) per row (n_samples,), of X's dtype.

        Summed over the other components (a small uncertainty keeps its relative precision), from the
        posteriors of blocks of rows (no n_samples x n_components array); NaN as in :meth:`predict_proba`.
        """
        if is_dask(X):
            return self._dask_lazy(X, "uncertainty")
        X = self._prepare_X(X)
        out = np.empty(X.shape[0], dtype=X.dtype)
        step = getattr(X, "block_rows", max(1024, (1 << 18) // self.weights_.shape[0]))
        for a in range(0, X.shape[0], step):
            resp = self._predict_outputs(X[a:a + step], resp=True)[2]
            resp[np.arange(resp.shape[0]), resp.argmax(axis=1)] = 0
            out[a:a + step] = resp.sum(axis=1, dtype=np.float64)
        return out

    def score_samples(self, X):
        """Log-likelihood of each row under the model.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,), of X's dtype (float32 or float64)
        """
        if is_dask(X):
            return self._dask_lazy(X, "score_samples")
        X = self._prepare_X(X)
        row_ll = self._predict_outputs(X, row_ll=True)[0]
        with np.errstate(over="ignore"):   # below float32's range is -inf in float32
            return row_ll.astype(X.dtype, copy=False)

    def _dask_lazy(self, X, method):
        """``method`` of a Dask array as a Dask array (map_blocks over its row blocks), lazily."""
        self._check_is_fitted()
        from ..sources._dask import lazy_method
        return lazy_method(self, X, method)

    def _total_log_likelihood(self, X, sample_weight):
        """(sum_i w_i log p(x_i), sum_i w_i), validating X and the weights."""
        X = self._prepare_X(X)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        if sample_weight is None:
            return self._predict_outputs(X, total=True)[3], float(X.shape[0])
        row_ll = self._predict_outputs(X, row_ll=True)[0]
        keep = sample_weight > 0        # weight 0: the row is absent, even if impossible
        return float(np.dot(row_ll[keep], sample_weight[keep])), float(sample_weight.sum())

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row of X under the model (weighted by ``sample_weight``).

        Returns
        -------
        float
        """
        total, weight = self._total_log_likelihood(X, sample_weight)
        return total / weight

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion on X (lower is better).

        With ``sample_weight`` the data count as ``sum(sample_weight)`` rows:
        ``-2 sum_i w_i log p(x_i) + n_parameters log(sum_i w_i)``.

        Returns
        -------
        float
        """
        total, weight = self._total_log_likelihood(X, sample_weight)
        return -2 * total + self._n_parameters() * math.log(weight)

    def aic(self, X, sample_weight=None):
        """Akaike information criterion on X (lower is better).

        Returns
        -------
        float
        """
        total, _ = self._total_log_likelihood(X, sample_weight)
        return -2 * total + 2 * self._n_parameters()

    # ------------------------------------------------------------------
    # Progress messages (scikit-learn's)
    # ------------------------------------------------------------------
    def _verbose_init_beg(self, n_init):
        if self.verbose == 1:
            print(f"Initialization {n_init}")
        elif self.verbose >= 2:
            print(f"Initialization {n_init}")
            self._init_prev_time = time.time()
            self._iter_prev_time = self._init_prev_time

    def _verbose_iter_end(self, n_iter, diff_ll):
        if n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            elif self.verbose >= 2:
                cur = time.time()
                print(f"  Iteration {n_iter}\t time lapse {cur - self._iter_prev_time:.5f}s\t ll change {diff_ll:.5f}")
                self._iter_prev_time = cur

    def _verbose_init_end(self, lb, converged):
        msg = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {msg}.")
        elif self.verbose >= 2:
            t = time.time() - self._init_prev_time
            print(f"Initialization {msg}. time lapse {t:.5f}s\t lower bound {lb:.5f}.")

