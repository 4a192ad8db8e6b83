"""Online (stepwise) EM, once for every family: ``partial_fit``.

Stepwise EM (Cappe & Moulines 2009; Liang & Klein 2009) blends the statistics
of each mini-batch (one E-step pass under the current parameters) into the
statistics of the current model, rebuilt exactly from the fitted attributes
by the family's inverse M-step (``_statistics_from_parameters``), and makes
the new parameters by the ordinary M-step. The fitted attributes stay the
single source of truth: a model fitted by ``fit``, loaded, or set by hand
continues online from them. The step weighs a batch by what the model has
seen (:func:`online_step`).
"""

from typing import NamedTuple

from ..kernels._openmp_helpers import effective_n_threads
from ..utils._threadpool import blas_single_thread
from ..utils._validation import check_random_state, check_scalar


class FitData(NamedTuple):
    """What an M-step may need besides the statistics: the fitted rows (array or source), their
    weights, the thread count and the rows grouped by NaN pattern (or None)."""

    X: object
    sample_weight: object
    n_threads: int
    missing: object = None


def online_step(batch_weight, n_seen, decay, offset):
    """The weight of a new batch in online EM: ``(b / (n_seen + offset * b)) ** decay``.

    ``b`` is the batch's total sample weight and ``n_seen`` the weight the
    model has already seen (``n_samples_seen_``). For a stream of equal
    batches from scratch (n_seen = t b before the t-th) this is Liang &
    Klein's ``(t + offset) ** -decay``; a small batch after a large fit
    gets a small step (100 rows after 100,000: 0.008 with the defaults),
    and the steps of any stream of bounded batches still sum to infinity
    while their squares converge (decay in (0.5, 1]), so it converges.
    """
    b = float(batch_weight)
    return float((b / (float(n_seen) + float(offset) * b)) ** float(decay))


class OnlineMixin:
    """``partial_fit`` for :class:`fastgmm.engine._base.BaseMixture` (see the module docstring)."""

    # ------------------------------------------------------------------
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one mini-batch by online (stepwise) EM.

        One E-step pass over the batch gives its sufficient statistics; they
        are blended into the statistics of the current model (rebuilt
        exactly from the fitted attributes: the inverse of the M-step) and
        one M-step makes the new parameters (Cappe & Moulines 2009; Liang &
        Klein 2009). The batch's weight in the blend is
        ``(b / (n_samples_seen_ + online_offset * b)) ** online_decay``, with
        ``b`` its total sample weight and ``n_samples_seen_`` the weight the
        model has seen (the rows of ``fit`` and of every earlier batch): a
        small batch after a large fit moves the model little, and for equal
        batches from scratch the step is ``(t + online_offset) **
        -online_decay`` for the t-th, which converges (see
        :func:`online_step`). When the model is not fitted yet it is
        initialised from the first batch (``init_params`` or the ``*_init``
        arrays) and the first step is 1. ``sample_weight``, ``nan_policy``
        and ``frozen`` apply to the batch as in :meth:`fit`; X may be an
        out-of-core array or a Dask array (then the batch is all of it).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        self._validate_base_params()
        name = type(self).__name__
        decay, offset = getattr(self, "online_decay", 0.7), getattr(self, "online_offset", 2.0)
        check_scalar(decay, "online_decay", "real", low=0.5, high=1, low_open=True, estimator_name=name)
        check_scalar(offset, "online_offset", "real", low=1, estimator_name=name)
        before = self._fitted_state()
        try:
            self._partial_fit(X, sample_weight, decay, offset)
        except BaseException:
            self._restore_fitted_state(before)
            raise
        return self

    def _partial_fit(self, X, sample_weight, decay, offset):
        policy = self._nan_policy()
        first = not self.__sklearn_is_fitted__()
        X = self._validate_X(X, reset=first, allow_nan=policy != "raise")
        sample_weight = self._check_source_weight(X, sample_weight)
        X, sample_weight, missing, _ = self._missing_values(X, sample_weight, policy, reset=first)
        extra = {} if missing is None else {"missing": missing}
        n_threads = effective_n_threads(self.n_threads)
        self._frozen_fields = self._check_frozen()
        with blas_single_thread():
            if first:
                init = self._check_parameters(X)
                if X.shape[0] < self.n_components:
                    raise ValueError(
                        f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                        f"n_samples = {X.shape[0]} in the first batch of partial_fit")
                self._run_events, self._em_iteration = [], 0     # on_degenerate's events of the start
                params = self._initialize_parameters(X, sample_weight, check_random_state(self.random_state),
                                                     init, n_threads, **extra)
                running, n_seen, t = None, 0.0, 0
            else:
                self._check_parameters_online(X)
                params = self._get_parameters()
                running = self._statistics_from_parameters(params)
                n_seen = float(getattr(self, "n_samples_seen_", 0.0))
                t = getattr(self, "n_steps_", 0)
            batch = self._pass_statistics(X, sample_weight, params, n_threads, missing)
            b = float(batch.weight)
            if running is None:
                stats = batch
            else:
                # (1 - rho) running + rho batch / b, per row, at the scale of every row seen so far
                rho = online_step(b, n_seen, decay, offset)
                stats = running.scaled((1.0 - rho) * (n_seen + b))
                stats += batch.scaled(rho * (n_seen + b) / b)
            self._em_iteration = t + 1
            new = self._m_step(stats, params, FitData(X, sample_weight, n_threads, missing))
            new = self._keep_frozen(new, params)
            lower_bound = self._lower_bound(batch, new)
            self._set_parameters(new, X.dtype)
        if first:
            self._set_events(self._run_events)
        self.n_steps_ = t + 1
        self.n_iter_ = self.n_steps_
        self.n_samples_seen_ = n_seen + b
        self.converged_ = False
        self.lower_bound_ = X.dtype.type(lower_bound)
        self.lower_bounds_ = [self.lower_bound_]

    def _check_parameters_online(self, X):
        """The constructor parameters checked for a ``partial_fit`` batch of a fitted model."""
        self._check_parameters(X)

    def _statistics_from_parameters(self, params):
        raise NotImplementedError
