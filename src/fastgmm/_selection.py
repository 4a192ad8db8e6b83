"""GaussianMixtureSelection: the (covariance type, number of components) sweep and its criteria.

Every candidate (covariance type, K) is fitted by :class:`GaussianMixture`
from several starts, and the candidate's fit is the best of them by
log-likelihood, *non-degenerate fits first*. The selection then minimises
BIC, AIC or ICL over the candidates that are not degenerate.

Why degenerate fits are screened out. The Gaussian likelihood is unbounded:
a component that sits on a few tied values (rounded data: Old Faithful has 14
eruptions with waiting = 83) has a variance that EM drives to the
``reg_covar`` floor, and a log-likelihood that beats every honest fit, so
BIC picks it. R's mclust reports such cells as singular and never selects
them; here they are kept in ``results_`` with the reason and excluded from
the choice unless ``allow_degenerate=True``. A fitted component is
*degenerate* when

* it is emptied: it carries less than the rows' share of the weight its
  covariance needs to be determined (``weights_[k] * n_rows`` below D + 1
  for "full", 2 for "diag" and "spherical", 1 for "tied"; n_rows counts
  rows of positive weight), or
* it collapsed: some direction of its covariance holds (almost) no variance
  beyond ``reg_covar``. With ``S_k = covariances_[k] - reg_covar I`` and the
  data's column standard deviations ``s``, the smallest eigenvalue of
  ``S_k / (s s^T)`` is at most ``1e-6`` (diag: the smallest per-column
  ratio; spherical: the variance over the mean of ``s^2``; tied: the shared
  matrix). A component spread over at least D + 1 distinct points in general
  position has a ratio of the order of (rounding step / s)^2 or more
  (8e-3 for Old Faithful's waiting times); a collapsed one has ~1e-16.

Why several starts. k-means on unscaled columns puts the cuts along the
column of largest range (waiting, in minutes, against eruptions, in
minutes/10): on real data the one k-means start of ``GaussianMixture`` ends
in a poor local optimum in many cells. ``init_params="auto"`` (the default)
starts each cell from

1. k-means on the standardised columns (weighted by ``sample_weight``), its
   partition mapped back to a start in the data's units (one k-means per K,
   shared by every covariance type; ``n_init`` of them with different seeds);
2. the best fit of the same covariance type at K - 1 with one component split
   in two along its principal axis (the ``_MAX_SPLITS`` largest components);
3. ``_N_RANDOM_STARTS`` draws of K distinct rows as means, with the data's
   covariance for every component;
4. once every type at K is fitted: the final partitions of the other
   covariance types at K.

and then runs the ``_N_POLISHED`` best fits of each cell on to ``tol / 100``
(EM at tol=1e-3 stops 1-5 log-likelihood units short on overlapping
components; the tighter tolerance is paid for only by the leaders). Any of
GaussianMixture's own ``init_params`` instead gives ``n_init`` separately
screened fits of that kind per cell.

Missing values: with ``nan_policy="omit"`` the rows holding a NaN are dropped
once (``n_omitted_``) and the sweep runs on the rest; with
``nan_policy="marginalize"`` every candidate is fitted by exact missing-value
EM on all rows, and the "auto" starts are computed from the rows without NaN
(or, when fewer than ``max(10 K_max, D + 1)`` remain, from X with NaNs replaced
by column means), as GaussianMixture initialises.

Candidates are fitted one after the other: the fits use fastgmm's threaded
kernels, which already take every core on data large enough to pay for
threads, and on small data a fit is a few milliseconds of Python (GIL-bound)
work, so candidate-level threads have nothing to win.
"""

import math
import time
import warnings

import numpy as np

from .engine._base import apply_nan_policy, progress_bar
from .utils._validation import check_sample_weight
from .families._gaussian_mixture import COV_TYPES, GaussianMixture
from .families._gaussian_init import INIT_PARAMS, initialisation_rows
from .kernels._kmeans_driver import _weighted_draws, kmeans, nearest_centre_labels
from .sources._nan import rows_without_nan
from .kernels._openmp_helpers import effective_n_threads
from .engine._schema import INT, JSON, NAMES, Nested, Scalar, Schema, Table
from .io._persistence import Persistent
from .utils._sklearn_compat import EstimatorProtocol
from .utils._validation import (ConvergenceWarning, InvalidParameterError, check_array, check_bool,
                                check_feature_names, check_n_threads, check_option, check_random_state, check_scalar,
                                check_verbose, invalid_parameter, sklearn_compatible)

CRITERIA = ("bic", "aic", "icl")
AUTO_INIT = "auto"
DEGENERATE_VARIANCE_RATIO = 1e-6
_N_RANDOM_STARTS = 3
_MAX_SPLITS = 8
_N_POLISHED = 2
_POLISH_TOL_FACTOR = 1e-2
# GaussianMixture parameters the sweep sets itself for every candidate; all
# others that the selection also has (tol, reg_covar, ..., and any added
# later, e.g. nan_policy) are passed through unchanged.
_SET_PER_CANDIDATE = frozenset({
    "n_components", "covariance_type", "init_params", "n_init", "random_state", "weights_init",
    "means_init", "precisions_init", "warm_start", "verbose", "progress",
})
_SEED_MAX = 2**31 - 1


class GaussianMixtureSelection(Persistent, EstimatorProtocol):
    """Choose the number of components and the covariance type of a Gaussian mixture.

    Fits a :class:`GaussianMixture` for every (covariance type, K) and keeps
    the one with the smallest criterion among the non-degenerate fits (see
    the module docstring of ``fastgmm._selection`` for what degenerate means
    and how each candidate is started).

    Parameters
    ----------
    n_components : iterable of int, or int, default=(1, ..., 9)
        The numbers of components to try (e.g. ``range(1, 10)``, the default).
    covariance_types : iterable of str, or str, default=("full", "tied", "diag", "spherical")
        The covariance types to try.
    criterion : {"bic", "aic", "icl"}, default="bic"
        Lower is better. "bic": ``-2 log L + p log n``; "aic":
        ``-2 log L + 2 p``; "icl": BIC plus twice the classification entropy,
        ``-2 sum_i w_i sum_k r_ik log r_ik`` (r: responsibilities), which
        penalises overlapping components. With ``sample_weight``, log L is
        weighted and n is ``sum(sample_weight)``.
    allow_degenerate : bool, default=False
        Let degenerate candidates (a component emptied or collapsed onto tied
        values) be chosen. They are always reported in ``results_``.
    tol, reg_covar, max_iter : as in :class:`GaussianMixture`
        Used for every candidate fit.
    n_init : int, default=1
        With ``init_params="auto"``: the number of standardised k-means
        starts per K (the other kinds of start are always tried). With one of
        GaussianMixture's ``init_params``: the number of starts per candidate.
    init_params : {"auto", "kmeans", "k-means++", "random", "random_from_data"}, default="auto"
        How candidates are started; "auto" is the robust multi-start scheme of
        the module docstring, the others are GaussianMixture's.
    random_state : int, RandomState instance or None, default=None
        Seeds every start (an int gives the same selection every time).
    verbose : int, default=0
        1: one line per candidate; 2 and more: also the candidate fits' own
        output (at ``verbose - 1``).
    verbose_interval : int, default=10
        Passed to the candidate fits.
    n_threads : int or None, default=None
        Threads of every fit's kernels, as in :class:`GaussianMixture`.
    nan_policy : {'raise', 'omit', 'marginalize'}, default='raise'
        Missing values, as in :class:`GaussianMixture` ("omit" drops the rows
        with a NaN once for the whole sweep; "marginalize" fits every
        candidate by exact missing-value EM, and the selection's methods
        accept NaN).
    progress : bool, default=False
        Show a tqdm progress bar over the candidates (covariance types x
        numbers of components); the candidate fits show none. Needs tqdm;
        without it, a warning and no bar.

    Attributes
    ----------
    best_estimator_ : GaussianMixture
        The chosen fit.
    n_omitted_ : int
        Rows dropped for holding a NaN (``nan_policy='omit'``; else 0).
    best_params_ : dict
        ``{"covariance_type": ..., "n_components": ...}`` of the chosen fit.
    best_index_ : int
        Its row in ``results_``.
    results_ : dict of str to list or ndarray
        One entry per candidate, in the order (K ascending, then the order of
        ``covariance_types``); ``pandas.DataFrame(results_)`` makes a table.
        Columns: ``covariance_type``, ``n_components``, ``criterion`` (the
        chosen criterion's value), ``bic``, ``aic``, ``icl``,
        ``log_likelihood`` (total, weighted), ``n_parameters``, ``n_iter``,
        ``converged``, ``degenerate``, ``degenerate_reason``, ``failed``,
        ``error`` (why no start could be fitted, e.g. a singular covariance
        or too few rows), ``selectable``, ``rank`` (1 = chosen, among the
        selectable; 0 for the others), ``init`` (the kind of start that won),
        ``n_starts``, ``n_degenerate_starts`` (starts that ended degenerate),
        ``fit_time`` (seconds, all its starts). Failed
        candidates have NaN numbers.
    estimators_ : dict
        ``{(covariance_type, n_components): GaussianMixture}`` for every
        candidate that could be fitted.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X had string column names.

    Examples
    --------
    >>> from fastgmm import GaussianMixtureSelection
    >>> from fastgmm.datasets import load_faithful
    >>> X = load_faithful().data
    >>> sel = GaussianMixtureSelection(n_components=range(1, 6), random_state=0).fit(X)
    >>> sel.best_params_
    {'covariance_type': 'tied', 'n_components': 3}
    """

    _fitted_attribute = "best_estimator_"
    #: What a model file holds (fastgmm.engine._schema): the chosen fit (a GaussianMixture of its own) and
    #: results_, not every candidate: after loading, estimators_ holds just the chosen one.
    _schema = Schema(
        scalars=(Scalar("n_features_in_", INT, low=1), Scalar("n_omitted_", INT, low=0),
                 Scalar("feature_names_in_", NAMES, optional=True), Scalar("best_params_", JSON),
                 Scalar("best_index_", INT, low=0)),
        nested=(Nested("best_estimator_", "best_estimator"),),
        tables=(Table("results_", "results", text_columns=("covariance_type", "degenerate_reason", "error", "init")),),
        derived=("estimators_",),
        check_params="_validate_params",
    )

    def __init__(
        self,
        n_components=(1, 2, 3, 4, 5, 6, 7, 8, 9),
        covariance_types=COV_TYPES,
        criterion="bic",
        *,
        allow_degenerate=False,
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params=AUTO_INIT,
        random_state=None,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        nan_policy="raise",
        progress=False,
    ):
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.criterion = criterion
        self.allow_degenerate = allow_degenerate
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.nan_policy = nan_policy
        self.progress = progress

    # ------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------
    def _validate_params(self):
        name = type(self).__name__
        ks = self.n_components
        if isinstance(ks, (int, np.integer)) and not isinstance(ks, (bool, np.bool_)):
            ks = [ks]
        try:
            ks = list(ks)
        except TypeError:
            ks = None
        if not ks:
            raise invalid_parameter("n_components", ["an int in the range [1, inf)",
                                                     "a non-empty iterable of such ints"],
                                    self.n_components, estimator_name=name)
        for k in ks:
            check_scalar(k, "n_components", "int", low=1, estimator_name=name,
                         detail="(every number of components tried must be an int >= 1)")
        cts = self.covariance_types
        try:
            cts = [cts] if isinstance(cts, str) else (list(cts) if cts is not None else [])
        except TypeError:         # not iterable (e.g. False): the message below names the parameter
            cts = []
        if not cts:
            raise invalid_parameter("covariance_types", [f"a non-empty iterable of {set(COV_TYPES)}"],
                                    self.covariance_types, estimator_name=name)
        for ct in cts:
            check_option(ct, "covariance_types", set(COV_TYPES), estimator_name=name)
        check_option(self.criterion, "criterion", set(CRITERIA), estimator_name=name)
        check_bool(self.allow_degenerate, "allow_degenerate", estimator_name=name)
        check_scalar(self.tol, "tol", "real", low=0, estimator_name=name)
        check_scalar(self.reg_covar, "reg_covar", "real", low=0, estimator_name=name)
        check_scalar(self.max_iter, "max_iter", "int", low=0, estimator_name=name)
        check_scalar(self.n_init, "n_init", "int", low=1, estimator_name=name)
        check_option(self.init_params, "init_params", {AUTO_INIT, *INIT_PARAMS}, estimator_name=name)
        check_verbose(self.verbose, estimator_name=name)
        check_scalar(self.verbose_interval, "verbose_interval", "int", low=1, estimator_name=name)
        check_n_threads(self.n_threads, estimator_name=name)
        check_option(self.nan_policy, "nan_policy", {"raise", "omit", "marginalize"}, estimator_name=name)
        check_bool(self.progress, "progress", estimator_name=name)
        random_state = check_random_state(self.random_state, estimator_name=name)
        return sorted(set(int(k) for k in ks)), list(dict.fromkeys(cts)), random_state

    def _validate_X(self, X, *, reset, allow_nan=None):
        name = type(self).__name__
        check_feature_names(self, X, reset=reset)
        if reset:
            X = check_array(X, estimator_name=name, min_samples=2, allow_nan=self.nan_policy != "raise")
            self.n_features_in_ = X.shape[1]
            return X
        self._check_is_fitted()
        if allow_nan is None:
            allow_nan = self.nan_policy == "marginalize"
        X = check_array(X, estimator_name=name, min_samples=1, allow_nan=allow_nan)
        return self._check_n_features(X)


    def _passed_through(self):
        """GaussianMixture's parameters that every candidate takes from the selection unchanged."""
        own = set(self._get_param_names())
        return {p: getattr(self, p) for p in GaussianMixture._get_param_names()
                if p in own and p not in _SET_PER_CANDIDATE}

    # ------------------------------------------------------------------
    # fitting
    # ------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Fit every candidate and choose the best by ``criterion``.

        A candidate that cannot be fitted (a singular covariance, fewer rows
        than components, ...) is recorded in ``results_`` with the reason;
        the sweep goes on.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row, as in :meth:`GaussianMixture.fit`.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            When no candidate could be fitted (the reasons are listed).
        """
        ks, cts, random_state = self._validate_params()
        X = self._validate_X(X, reset=True)
        w = check_sample_weight(sample_weight, X.shape[0])
        X, w, missing, _, self.n_omitted_ = apply_nan_policy(X, w, self.nan_policy, type(self).__name__,
                                                             feature_names=getattr(self, "feature_names_in_", None))
        X_start = w_start = None
        if missing is not None:
            X_start, w_start = initialisation_rows(X, w, missing, max(ks))
        sweep = _Sweep(self, X, w, random_state, X_start, w_start)
        cells = sweep.run(ks, cts)
        self._record(cells, sweep)
        return self

    def _record(self, cells, sweep):
        name = self.criterion
        cols = {c: [] for c in (
            "covariance_type", "n_components", "criterion", "bic", "aic", "icl", "log_likelihood",
            "n_parameters", "n_iter", "converged", "degenerate", "degenerate_reason", "failed", "error",
            "selectable", "rank", "init", "n_starts", "n_degenerate_starts", "fit_time")}
        estimators = {}
        for cell in cells:
            best = cell.best
            cols["covariance_type"].append(cell.cov_type)
            cols["n_components"].append(cell.K)
            cols["n_starts"].append(cell.n_starts)
            cols["n_degenerate_starts"].append(cell.n_degenerate)
            cols["fit_time"].append(cell.time)
            if best is None:
                for c in ("criterion", "bic", "aic", "icl", "log_likelihood"):
                    cols[c].append(np.nan)
                cols["n_parameters"].append(-1)
                cols["n_iter"].append(-1)
                cols["converged"].append(False)
                cols["degenerate"].append(False)
                cols["degenerate_reason"].append("")
                cols["failed"].append(True)
                cols["error"].append(cell.error)
                cols["selectable"].append(False)
                cols["init"].append("")
                continue
            gm = best.gm
            estimators[(cell.cov_type, cell.K)] = gm
            crit = sweep.criteria(best)
            for c in ("bic", "aic", "icl"):
                cols[c].append(crit[c])
            cols["criterion"].append(crit[name])
            cols["log_likelihood"].append(best.loglik)
            cols["n_parameters"].append(best.n_parameters)
            cols["n_iter"].append(gm.n_iter_)
            cols["converged"].append(bool(gm.converged_))
            cols["degenerate"].append(bool(best.degenerate))
            cols["degenerate_reason"].append(best.degenerate)
            cols["failed"].append(False)
            cols["error"].append("")
            cols["selectable"].append(bool(np.isfinite(crit[name])) and (self.allow_degenerate or not best.degenerate))
            cols["init"].append(best.kind)
        results = {}
        for c, v in cols.items():
            if c in ("covariance_type", "degenerate_reason", "error", "init"):
                results[c] = list(v)
            else:
                results[c] = np.asarray(v)
        fitted = ~results["failed"]
        if not fitted.any():
            reasons = "; ".join(f"{ct} K={k}: {e}" for ct, k, e in zip(
                results["covariance_type"], results["n_components"], results["error"]))
            raise ValueError(f"None of the candidate mixtures could be fitted: {reasons}")
        selectable = results["selectable"]
        if not selectable.any():
            warnings.warn(
                "Every candidate that could be fitted is degenerate (a component collapsed onto tied values or "
                "emptied); the best of them is chosen. Try fewer components, a larger reg_covar, or "
                "allow_degenerate=True to silence this.",
                sklearn_compatible(ConvergenceWarning),
            )
            selectable = fitted & np.isfinite(results["criterion"])
            if not selectable.any():
                selectable = fitted
        # Ties (e.g. K=1 full and tied are the same model) go to fewer parameters, then table order.
        order = sorted(np.flatnonzero(selectable),
                       key=lambda i: (results["criterion"][i], results["n_parameters"][i], i))
        rank = np.zeros(len(results["failed"]), dtype=np.int64)
        rank[order] = np.arange(1, len(order) + 1)
        results["rank"] = rank
        best = int(order[0])
        self.results_ = results
        self.estimators_ = estimators
        self.best_index_ = best
        self.best_params_ = {"covariance_type": results["covariance_type"][best],
                             "n_components": int(results["n_components"][best])}
        self.best_estimator_ = estimators[(self.best_params_["covariance_type"], self.best_params_["n_components"])]
        if not self.best_estimator_.converged_ and self.max_iter > 0:
            warnings.warn(
                f"The chosen mixture ({self.best_params_}) did not converge in max_iter={self.max_iter} "
                "iterations: increase max_iter or tol.", sklearn_compatible(ConvergenceWarning),
            )

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit as :meth:`fit` and return the chosen mixture's most probable component of each row.

        With ``nan_policy="omit"`` the rows with a NaN get the label -1.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        self.fit(X, y, sample_weight)
        if self.nan_policy != "omit":
            return self.predict(X)
        X = check_array(X, estimator_name=type(self).__name__, min_samples=1, allow_nan=True)
        kept = rows_without_nan(X)
        labels = np.full(X.shape[0], -1, dtype=np.int64)
        labels[kept] = self.best_estimator_.predict(X[kept])
        return labels

    # ------------------------------------------------------------------
    # the chosen model's methods
    # ------------------------------------------------------------------
    def predict(self, X):
        """Most probable component of each row under the chosen mixture.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._validate_X(X, reset=False)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """Posterior probability of each component of the chosen mixture for each row.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        X = self._validate_X(X, reset=False)
        return self.best_estimator_.predict_proba(X)

    def score_samples(self, X):
        """Log-likelihood of each row under the chosen mixture.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        X = self._validate_X(X, reset=False)
        return self.best_estimator_.score_samples(X)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row (weighted) under the chosen mixture.

        Returns
        -------
        float
        """
        X = self._validate_X(X, reset=False)
        return self.best_estimator_.score(X, sample_weight=sample_weight)

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion of the chosen mixture on X (lower is better).

        Returns
        -------
        float
        """
        X = self._validate_X(X, reset=False)
        return self.best_estimator_.bic(X, sample_weight=sample_weight)

    def aic(self, X, sample_weight=None):
        """Akaike information criterion of the chosen mixture on X (lower is better).

        Returns
        -------
        float
        """
        X = self._validate_X(X, reset=False)
        return self.best_estimator_.aic(X, sample_weight=sample_weight)

    def partial_fit(self, X, y=None, sample_weight=None):
        """Choose the model on the first batch, then update the chosen mixture by online EM.

        The choice (K and the covariance type) compares fits on whole data,
        which a stream cannot: the first call (on an unfitted selection) is
        :meth:`fit` on that batch, so make it a representative sample; every
        later call is :meth:`GaussianMixture.partial_fit` of
        ``best_estimator_`` (``results_`` keeps describing the fit that
        chose it).

        Returns
        -------
        self
        """
        if not self.__sklearn_is_fitted__():
            return self.fit(X, sample_weight=sample_weight)
        X = self._validate_X(X, reset=False)
        self.best_estimator_.partial_fit(X, sample_weight=sample_weight)
        return self

    def impute(self, X):
        """X with every NaN replaced by its conditional expectation under the chosen mixture.

        The chosen mixture's :meth:`GaussianMixture.impute`: each missing
        entry becomes sum_k r_k E[x_m | x_o, k], with the responsibilities r_k
        of the row's observed values (the mixture weights for a row with none).
        Observed values are returned unchanged. As for GaussianMixture, any
        fitted selection can impute, whatever its ``nan_policy``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), of X's dtype
        """
        X = self._validate_X(X, reset=False, allow_nan=True)
        return self.best_estimator_.impute(X)

    def _validate_loaded(self):
        """Check the loaded selection against its chosen estimator; ``estimators_`` holds just that one.

        Raises
        ------
        ValueError
            Naming the attribute that does not describe the stored estimator.
        """
        best = self.best_estimator_
        if type(best) is not GaussianMixture:
            raise ValueError(f"best_estimator_ is a {type(best).__name__}, not a GaussianMixture.")
        if self.best_params_ != {"covariance_type": best.covariance_type, "n_components": best.n_components}:
            raise ValueError(f"best_params_ {self.best_params_} do not describe the stored estimator.")
        n_rows = len(next(iter(self.results_.values()), ()))
        if not self.best_index_ < n_rows:
            raise ValueError(f"best_index_ {self.best_index_} is outside the results table ({n_rows} rows).")
        if self.n_features_in_ != best.n_features_in_:
            raise ValueError(f"the selection has n_features_in_={self.n_features_in_}, its best estimator "
                             f"{best.n_features_in_}.")
        self.estimators_ = {(best.covariance_type, best.n_components): best}

    def sample(self, n_samples=1):
        """Draw samples from the chosen mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        """
        self._check_is_fitted()
        return self.best_estimator_.sample(n_samples)


# ----------------------------------------------------------------------
# the sweep
# ----------------------------------------------------------------------
class _Fit:
    """One fitted start: the model, its total log-likelihood, and why it is degenerate ("" if not)."""

    __slots__ = ("gm", "kind", "loglik", "degenerate", "n_parameters", "_labels")

    def __init__(self, gm, kind, loglik, degenerate):
        self.gm, self.kind, self.loglik, self.degenerate = gm, kind, loglik, degenerate
        self.n_parameters = gm._n_parameters()
        self._labels = None

    def better_than(self, other):
        """Non-degenerate before degenerate, then the larger log-likelihood."""
        if other is None:
            return True
        if bool(self.degenerate) != bool(other.degenerate):
            return not self.degenerate
        return self.loglik > other.loglik


class _Cell:
    """A candidate (covariance type, K): its best fit so far, the starts tried, the time spent."""

    def __init__(self, cov_type, K):
        self.cov_type, self.K = cov_type, K
        self.best = None
        self.runners_up = []   # the next best non-degenerate fits, best first
        self.error = ""
        self.n_starts = 0
        self.n_degenerate = 0
        self.time = 0.0


class _Sweep:
    """Fits every (covariance type, K) of one ``GaussianMixtureSelection.fit``."""

    def __init__(self, selection, X, sample_weight, random_state, X_start=None, w_start=None):
        """``X``/``sample_weight``: what every candidate is fitted and scored on (may hold NaN
        under nan_policy='marginalize'); ``X_start``/``w_start``: the NaN-free rows the
        "auto" starts are computed from (default: X itself)."""
        self.sel = selection
        self.X = X
        self.w = sample_weight
        self.random_state = random_state
        self.n_threads = effective_n_threads(selection.n_threads)
        self.params = selection._passed_through()
        self.total_weight = float(X.shape[0] if sample_weight is None else sample_weight.sum())
        self.n_rows = X.shape[0] if sample_weight is None else int(np.count_nonzero(sample_weight))
        self._w_fit_or_ones = (np.ones(X.shape[0]) if sample_weight is None
                               else sample_weight / self.total_weight * X.shape[0])
        if X_start is None:
            X_start, w_start = X, sample_weight
        self.X_start, self.w_start = X_start, w_start
        n0 = X_start.shape[0]
        wn = np.ones(n0) if w_start is None else w_start / w_start.sum() * n0
        self._w_or_ones = wn
        X64 = np.asarray(X_start, dtype=np.float64)
        mean = wn @ X64 / n0
        var = wn @ (X64 - mean) ** 2 / n0
        self.covariance = (X64 - mean).T @ ((X64 - mean) * wn[:, None]) / n0
        self.scale = np.sqrt(var)
        self.scale_safe = np.where(self.scale > 0, self.scale, 1.0)
        self.auto = selection.init_params == AUTO_INIT
        self.Xs = np.ascontiguousarray((X64 - mean) / self.scale_safe) if self.auto else None

    def _seed(self):
        return int(self.random_state.randint(_SEED_MAX))

    # -- the loop -------------------------------------------------------
    def run(self, ks, cts):
        bar = progress_bar(self.sel.progress, len(ks) * len(cts), type(self.sel).__name__)
        try:
            return self._run(ks, cts, bar)
        finally:
            if bar is not None:
                bar.close()

    def _run(self, ks, cts, bar):
        cells = []
        prev = {}
        for K in ks:
            at_K = {ct: _Cell(ct, K) for ct in cts}
            kmeans_labels = self._std_kmeans(K) if self.auto else []
            for ct in cts:
                cell = at_K[ct]
                if K > self.n_rows:
                    what = "n_samples" if self.w is None else "n_samples with a positive sample_weight"
                    cell.error = (f"too few rows: n_components = {K} needs n_samples >= n_components, "
                                  f"{what} = {self.n_rows}")
                    continue
                for kind, kwargs in self._starts(cell, kmeans_labels, prev.get(ct)):
                    self._try(cell, kind, kwargs)
                if cell.best is None and not cell.error:
                    cell.error = "no start could be made: fewer distinct rows than components"
            if self.auto and len(cts) > 1:
                self._cross_type(at_K)
            for ct in cts:
                cell = at_K[ct]
                self._polish(cell)
                if cell.best is not None:
                    prev[ct] = cell
                else:
                    prev.pop(ct, None)
                cells.append(cell)
                self._say(cell)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(covariance_type=ct, n_components=K, refresh=False)
        return cells

    def _say(self, cell):
        if not self.sel.verbose:
            return
        b = cell.best
        what = f"failed: {cell.error}" if b is None else (
            f"log-likelihood {b.loglik:.4f}, {b.n_parameters} parameters, best start {b.kind}"
            + (f", degenerate ({b.degenerate})" if b.degenerate else ""))
        print(f"{cell.cov_type:>9} K={cell.K}: {what} [{cell.n_starts} starts, {cell.time:.3f} s]")

    # -- starts ---------------------------------------------------------
    def _std_kmeans(self, K):
        """``n_init`` k-means partitions of the standardised rows, shared by every covariance type."""
        if K > self.n_rows:
            return []
        out = []
        for _ in range(self.sel.n_init):
            rs = np.random.RandomState(self._seed())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)   # duplicates: fewer distinct clusters
                centres = kmeans(self.Xs, K, rs, self.n_threads, sample_weight=self.w_start)
            out.append(nearest_centre_labels(self.Xs, centres, self.n_threads))
        return out

    def _starts(self, cell, kmeans_labels, prev):
        """(kind, GaussianMixture keyword arguments) of every start of a cell, made lazily."""
        K, ct = cell.K, cell.cov_type
        if not self.auto:
            for _ in range(self.sel.n_init):
                yield self.sel.init_params, {"init_params": self.sel.init_params, "random_state": self._seed()}
            return
        if K == 1:   # one maximum; any start reaches it
            yield "kmeans-standardised", self._from_labels(np.zeros(self.X_start.shape[0], dtype=np.int64), 1, ct)
            return
        for labels in kmeans_labels:
            yield "kmeans-standardised", self._from_labels(labels, K, ct)
        if prev is not None and prev.best is not None and not prev.best.degenerate:
            for labels in self._splits(prev.best, K):
                yield "split", self._from_labels(labels, K, ct)
        for _ in range(_N_RANDOM_STARTS):
            yield "random-rows", self._random_rows(K, ct)

    def _labels(self, fit):
        if fit._labels is None:
            fit._labels = fit.gm.predict(self.X_start)
        return fit._labels

    def _splits(self, fit, K):
        """Partitions of K parts: the fit's K - 1 parts with one cut in two along its principal axis."""
        labels = self._labels(fit)
        w = self._w_or_ones
        sizes = np.bincount(labels, weights=w, minlength=K - 1)
        spread = []
        for j in range(K - 1):
            rows = np.flatnonzero((labels == j) & (w > 0))
            if rows.size < 2:
                continue
            Z = self.Xs[rows]
            wz = w[rows] / w[rows].sum()
            mu = wz @ Z
            C = (Z - mu).T @ ((Z - mu) * wz[:, None])
            vals, vecs = np.linalg.eigh(C)
            spread.append((sizes[j] * vals[-1], j, rows, (Z - mu) @ vecs[:, -1]))
        spread.sort(key=lambda t: -t[0])
        for _, j, rows, proj in spread[:_MAX_SPLITS]:
            upper = proj > 0
            if upper.all() or not upper.any():
                continue
            new = labels.copy()
            new[rows[upper]] = K - 1
            yield new

    def _from_labels(self, labels, K, ct):
        """GaussianMixture ``*_init`` arguments of the M-step of a hard partition, in the data's units.

        A part's covariance is shrunk towards the pooled within-part
        covariance, with the weight of D rows: a small part of a start must not
        seed a collapse.
        """
        X = np.asarray(self.X_start, dtype=np.float64)
        w = self._w_or_ones
        N, D = X.shape
        nk = np.bincount(labels, weights=w, minlength=K)
        if np.any(nk <= 0):
            return None
        means = np.empty((K, D))
        scatter = np.empty((K, D, D))
        for k in range(K):
            rows = labels == k
            wk = w[rows]
            means[k] = wk @ X[rows] / nk[k]
            Z = X[rows] - means[k]
            scatter[k] = Z.T @ (Z * wk[:, None])
        pooled = scatter.sum(axis=0) / nk.sum()
        reg = self.sel.reg_covar * np.eye(D)
        if ct == "tied":
            precisions = np.linalg.inv(pooled + reg)
        else:
            cov = (scatter + D * pooled) / (nk + D)[:, None, None]
            if ct == "full":
                precisions = np.linalg.inv(cov + reg)
            elif ct == "diag":
                precisions = 1.0 / (np.diagonal(cov, axis1=1, axis2=2) + self.sel.reg_covar)
            else:
                precisions = 1.0 / (np.trace(cov, axis1=1, axis2=2) / D + self.sel.reg_covar)
        return {"weights_init": nk / nk.sum(), "means_init": means, "precisions_init": precisions}

    def _random_rows(self, K, ct):
        """Means at K distinct rows drawn in proportion to their weight; every covariance the data's.

        Unlike GaussianMixture's "random_from_data" (one-row components, whose
        covariance is reg_covar, or for "tied" the rows' spread about 0) the
        start is neither collapsed nor scale-dependent. The rows are drawn by
        inverting the cumulative weight, so weight 2 draws exactly as a row
        repeated twice does.
        """
        rs = np.random.RandomState(self._seed())
        Xs = self.X_start
        w = np.ones(Xs.shape[0]) if self.w_start is None else self.w_start
        draws = _weighted_draws(w, 4 * K + 16, rs)
        draws = draws[rs.permutation(draws.size)]   # _weighted_draws returns them sorted
        _, first = np.unique(Xs[draws], axis=0, return_index=True)
        if first.size < K:
            return None
        rows = draws[np.sort(first)[:K]]
        means = np.asarray(Xs[rows], dtype=np.float64)
        cov = self.covariance + self.sel.reg_covar * np.eye(self.X.shape[1])
        precision = np.linalg.inv(cov)
        if ct == "full":
            precisions = np.repeat(precision[None], K, axis=0)
        elif ct == "tied":
            precisions = precision
        elif ct == "diag":
            precisions = np.repeat(1.0 / np.diag(cov)[None], K, axis=0)
        else:
            precisions = np.full(K, 1.0 / np.mean(np.diag(cov)))
        return {"weights_init": np.full(K, 1.0 / K), "means_init": means, "precisions_init": precisions}

    def _cross_type(self, at_K):
        """Start each type at K from the final partitions of the other types at K."""
        finals = [(ct, c.best) for ct, c in at_K.items() if c.best is not None and not c.best.degenerate]
        for ct, cell in at_K.items():
            for other, fit in finals:
                if other == ct:
                    continue
                if cell.best is not None and _same_partition(self._labels(fit), self._labels(cell.best)):
                    continue
                self._try(cell, f"partition-of-{other}", self._from_labels(self._labels(fit), cell.K, ct))

    # -- one start ------------------------------------------------------
    def _try(self, cell, kind, kwargs):
        if kwargs is None:   # a start with an empty part
            return
        sel = self.sel
        t0 = time.perf_counter()
        cell.n_starts += 1
        kw = dict(self.params)
        kw.update(n_init=1, verbose=max(0, int(sel.verbose) - 1))
        kw.setdefault("random_state", self._seed())
        kw.update(kwargs)
        gm = GaussianMixture(n_components=cell.K, covariance_type=cell.cov_type, **kw)
        try:
            with warnings.catch_warnings():
                # Reported per candidate (converged, and the chosen fit warns).
                warnings.simplefilter("ignore", ConvergenceWarning)
                gm.fit(self.X, sample_weight=self.w)
                loglik = gm.score(self.X, sample_weight=self.w) * self.total_weight
        except (InvalidParameterError, TypeError, MemoryError):
            raise   # the user's parameters or the machine, not this candidate
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
            if not cell.error:
                cell.error = f"{type(e).__name__}: {e}"
            cell.time += time.perf_counter() - t0
            return
        fit = _Fit(gm, kind, float(loglik), self.degenerate_reason(gm))
        if not np.isfinite(fit.loglik):
            fit.degenerate = fit.degenerate or "non-finite log-likelihood"
        cell.n_degenerate += bool(fit.degenerate)
        self._keep(cell, fit)
        cell.time += time.perf_counter() - t0

    @staticmethod
    def _keep(cell, fit):
        """Make ``fit`` the cell's best, or one of its runners-up, or drop it."""
        if fit.better_than(cell.best):
            fit, cell.best = cell.best, fit
        if fit is None or fit.degenerate:
            return
        cell.runners_up.append(fit)
        cell.runners_up.sort(key=lambda f: -f.loglik)
        del cell.runners_up[_N_POLISHED - 1:]

    def _polish(self, cell):
        """Run the cell's best ``_N_POLISHED`` fits on to ``tol * _POLISH_TOL_FACTOR``.

        With tol=1e-3 EM stops after a handful of iterations on overlapping
        components, 1-5 log-likelihood units short of the optimum it is
        heading to; which start wins is already clear by then, so only the
        leaders pay for the tight tolerance.
        """
        if self.sel.max_iter == 0 or cell.best is None:
            return
        t0 = time.perf_counter()
        fits, cell.best, cell.runners_up = [cell.best] + cell.runners_up, None, []
        for fit in fits:
            gm = fit.gm
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    n_before, history_before = gm.n_iter_, list(gm.lower_bounds_)
                    gm.set_params(warm_start=True, tol=self.sel.tol * _POLISH_TOL_FACTOR)
                    gm.fit(self.X, sample_weight=self.w)
                    gm.set_params(warm_start=False)
                    # One run from the start to the tight tolerance: its iterations and history whole.
                    gm.n_iter_ += n_before
                    gm.lower_bounds_ = history_before + gm.lower_bounds_
                    loglik = gm.score(self.X, sample_weight=self.w) * self.total_weight
            except (InvalidParameterError, TypeError, MemoryError):
                raise
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                continue   # it collapsed on the way: the others stand
            polished = _Fit(gm, fit.kind, float(loglik), self.degenerate_reason(gm))
            if not np.isfinite(polished.loglik):
                polished.degenerate = polished.degenerate or "non-finite log-likelihood"
            cell.n_degenerate += bool(polished.degenerate) and not fit.degenerate
            self._keep(cell, polished)
        cell.time += time.perf_counter() - t0

    # -- degeneracy and criteria ---------------------------------------
    def degenerate_reason(self, gm):
        """Why a fitted mixture is degenerate ("" if it is not): see the module docstring."""
        weights = np.asarray(gm.weights_, dtype=np.float64)
        D = self.X.shape[1]
        need = {"full": D + 1, "diag": 2, "spherical": 2, "tied": 1}[gm.covariance_type]
        short = np.flatnonzero(weights * self.n_rows < need)
        if short.size:
            k = int(short[0])
            return (f"component {k} emptied: it carries {weights[k] * self.n_rows:.3g} rows' share of the weight, "
                    f"fewer than the {need} its {gm.covariance_type} covariance needs")
        cov = np.asarray(gm.covariances_, dtype=np.float64) - gm.reg_covar * (
            np.eye(self.X.shape[1]) if gm.covariance_type in ("full", "tied") else 1.0)
        s = self.scale_safe
        ct = gm.covariance_type
        if ct == "full":
            ratio = np.array([np.linalg.eigvalsh(c / np.outer(s, s))[0] for c in cov])
        elif ct == "tied":
            ratio = np.array([np.linalg.eigvalsh(cov / np.outer(s, s))[0]])
        elif ct == "diag":
            ratio = np.min(cov / s ** 2, axis=1)
        else:
            ratio = cov / np.mean(s ** 2)
        low = np.flatnonzero(ratio <= DEGENERATE_VARIANCE_RATIO)
        if low.size:
            k = int(low[0])
            which = "the shared covariance" if ct == "tied" else f"component {k}"
            return (f"{which} collapsed (smallest variance beyond reg_covar {ratio[k]:.2g} of the data's, "
                    f"at most {DEGENERATE_VARIANCE_RATIO:g})")
        return ""

    def criteria(self, fit):
        """BIC, AIC and ICL of a fit (lower is better), weighted as GaussianMixture.bic is."""
        ll, p = fit.loglik, fit.n_parameters
        bic = -2 * ll + p * math.log(self.total_weight)
        aic = -2 * ll + 2 * p
        resp = np.asarray(fit.gm.predict_proba(self.X), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            rlogr = np.where(resp > 0, resp * np.log(resp), 0.0).sum(axis=1)
        entropy = -float(self._w_fit_or_ones @ rlogr) * self.total_weight / self.X.shape[0]
        return {"bic": bic, "aic": aic, "icl": bic + 2 * entropy}


def _same_partition(a, b):
    """Whether two label vectors are the same partition up to renaming the parts."""
    pairs = np.unique(np.stack([a, b]), axis=1)
    return pairs.shape[1] == np.unique(a).size == np.unique(b).size
