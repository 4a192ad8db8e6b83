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

A start whose fit has a ratio at most ``1e-12`` at two checks in a row (every
10 EM iterations) is stopped there and ends degenerate: its likelihood has no
maximum to converge to, and mclust gives up on such a fit too. One check is
not enough: a component of a constrained model can pass through a collapse
and recover (``fastgmm._selection_sweep.CandidateHooks``).

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

import warnings

import numpy as np

from ._selection_sweep import AUTO_INIT, _Sweep
from .engine._nan_policy import apply_nan_policy
from .engine._schema import INT, JSON, NAMES, Nested, Scalar, Schema, Table
from .families._gaussian_init import INIT_PARAMS, initialisation_rows
from .families._gaussian import COV_TYPES, MODEL_NAMES
from .families._gaussian_mixture import GaussianMixture
from .families._mclust import MODELS as MCLUST_MODELS
from .io._persistence import Persistent
from .sources._blocks import is_dask
from .sources._nan import rows_without_nan
from .utils._sklearn_compat import EstimatorProtocol
from .utils._validation import (ConvergenceWarning, check_array, check_bool, check_feature_names, check_n_threads,
                                check_option, check_random_state, check_sample_weight, check_scalar, check_verbose,
                                invalid_parameter, sklearn_compatible)

CRITERIA = ("bic", "aic", "icl")
# GaussianMixture parameters the sweep sets itself for every candidate; all
# others that the selection also has (tol, reg_covar, ..., and any added
# later, e.g. nan_policy) are passed through unchanged.
_SET_PER_CANDIDATE = frozenset({
    "n_components", "covariance_type", "init_params", "n_init", "random_state", "weights_init",
    "means_init", "precisions_init", "warm_start", "verbose", "progress",
})


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
        The covariance types to try: any of GaussianMixture's ``covariance_type``
        values (scikit-learn's four, mclust's fourteen model names), or
        ``"mclust"`` for mclust's fourteen models in mclust's order (EII, VII,
        EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV).
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
    init_params : {"auto", "hc", "kmeans", "k-means++", "random", "random_from_data"}, default="auto"
        How candidates are started; "auto" is the robust multi-start scheme of
        the module docstring; "hc" is mclust's: one start per candidate, the
        cut of one hierarchical tree (built once for the whole selection), run
        to the tolerance "auto" polishes its leaders to; the others are
        GaussianMixture's.
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
    noise, noise_volume : as in :class:`GaussianMixture`
        A noise component in every candidate (mclust's ``Mclust`` with
        ``initialization$noise``; its G = 0, noise alone, is not a candidate
        here). 'auto' guesses the initial noise rows again for each fit.

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
        noise=None,
        noise_volume=None,
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
        self.noise = noise
        self.noise_volume = noise_volume

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
            cts = (list(MCLUST_MODELS) if cts == "mclust" else [cts]) if isinstance(cts, str) else (
                list(cts) if cts is not None else [])
        except TypeError:         # not iterable (e.g. False): the message below names the parameter
            cts = []
        if not cts:
            raise invalid_parameter("covariance_types", ['"mclust" (its fourteen models)',
                                                         f"a non-empty iterable of {set(MODEL_NAMES)}"],
                                    self.covariance_types, estimator_name=name)
        for ct in cts:
            check_option(ct, "covariance_types", set(MODEL_NAMES), estimator_name=name)
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
        if is_dask(X):
            return X      # the chosen mixture validates its blocks and predicts lazily
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

    def uncertainty(self, X):
        """mclust's classification uncertainty of each row under the chosen mixture: 1 - max_k P(k | x).

        Returns
        -------
        uncertainty : ndarray of shape (n_samples,)
        """
        X = self._validate_X(X, reset=False)
        return self.best_estimator_.uncertainty(X)

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

