"""MixtureDiscriminantAnalysis: R mclust's ``MclustDA`` as a scikit-learn classifier.

Each class c has a density f_c (a Gaussian mixture) and a prior pi_c; a row
is assigned the posterior

    P(c | x) = pi_c f_c(x) / sum_j pi_j f_j(x),

computed from log pi_c + log f_c(x) with a log-sum-exp. mclust's two model
types (Fraley & Raftery 2002, section 6; Bensmail & Celeux 1996 for EDDA):

``"MclustDA"``
    every class gets its own mixture, chosen by BIC among the numbers of
    components and covariance models (a :class:`GaussianMixtureSelection`
    per class: mclust's ``Mclust`` on the class's rows).
``"EDDA"``
    one Gaussian per class, all classes under one covariance model (with
    "tied" every class has the same covariance: linear discriminant
    analysis; with "full" each its own: quadratic). The model is the
    K = n_classes mixture whose parameters are the M-step on the class
    labels (no EM: the labels are known), and the covariance model is the
    one with the smallest BIC of that mixture.

The BIC of the whole model follows mclust (>= 6.1.1): the log-likelihood of
the training rows under the mixture sum_c p_c f_c(x) with p_c the training
class proportions, and the parameters of every class density plus the
n_classes - 1 proportions. mclust reports 2 log L - df log n (larger is
better); ``bic_`` is its negative (smaller is better), as everywhere in
fastgmm.
"""

import numpy as np

from ._selection import GaussianMixtureSelection
from .engine._nan_policy import apply_nan_policy
from .families._gaussian_mixture import GaussianMixture
from .utils._sklearn_compat import EstimatorProtocol
from .utils._validation import (check_array, check_feature_names, check_option, check_sample_weight,
                                invalid_parameter)

MODEL_TYPES = ("MclustDA", "EDDA")
# mclust's MclustDA default: G = 1:5 components for every class.
_DEFAULT_COMPONENTS = (1, 2, 3, 4, 5)


class _ClassLabels:
    """``init_params`` of an EDDA fit: the classes' codes as the components' hard assignment."""

    def __init__(self, codes):
        self.codes = codes

    def __call__(self, X, n_components, random_state):
        return self.codes

    def __repr__(self):
        return "<class labels>"


def _label(value):
    """A class label as the user wrote it (7, 'setosa'), not as NumPy's repr (np.int64(7))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _logsumexp_rows(a):
    """log sum_j exp(a_ij) per row, exact for rows far below 0 and -inf for a row of -inf."""
    top = a.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - safe[:, None]).sum(axis=1)) + safe


class MixtureDiscriminantAnalysis(EstimatorProtocol):
    """Gaussian mixture discriminant analysis: R mclust's ``MclustDA`` (and EDDA).

    Models each class's density by a Gaussian mixture and classifies by
    Bayes' rule (see the module docstring of ``fastgmm._discriminant``).

    Parameters
    ----------
    model_type : {"MclustDA", "EDDA"}, default="MclustDA"
        "MclustDA": each class its own mixture, its number of components and
        covariance type chosen by that class's BIC. "EDDA": one Gaussian per
        class, every class under the covariance type of smallest total BIC.
    n_components : iterable of int, or int, default=(1, 2, 3, 4, 5)
        The numbers of components tried for every class ("MclustDA" only;
        mclust's default ``G = 1:5``). A class with fewer rows than K skips K.
    covariance_types : iterable of str, or str, default=None
        The covariance types tried; None: :class:`GaussianMixtureSelection`'s
        default. Any name the selection accepts.
    priors : array-like of shape (n_classes,), default=None
        Class prior probabilities in the order of ``classes_`` (normalised to
        sum to 1); None: the training class proportions (weighted by
        ``sample_weight``). They weigh the posteriors only: ``bic_`` always
        uses the training proportions, as mclust does.
    reg_covar, tol, max_iter, n_init, init_params, random_state, n_threads, nan_policy
        Passed to every class's :class:`GaussianMixtureSelection` (EDDA:
        ``reg_covar``, ``n_threads`` and ``nan_policy`` to its
        :class:`GaussianMixture`; it needs no EM). ``nan_policy="omit"``
        drops the training rows with a NaN; "marginalize" (MclustDA only)
        fits every class by missing-value EM, and predicts rows with NaN.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    class_prior_ : ndarray of shape (n_classes,)
        The priors used by the posteriors.
    class_weight_ : ndarray of shape (n_classes,)
        The number of training rows of each class (the sum of their weights).
    class_models_ : list of GaussianMixtureSelection
        ("MclustDA") Each class's selection; ``class_models_[c].best_estimator_``
        is its density.
    model_ : GaussianMixture
        ("EDDA") The mixture with one component per class (in the order of
        ``classes_``); its ``weights_`` are ``class_prior_``.
    results_ : dict of str to list
        ("EDDA") One entry per covariance type: ``covariance_type``, ``bic``,
        ``log_likelihood``, ``n_parameters``, ``error`` (why it could not be
        fitted; NaN numbers then).
    class_params_ : list of dict
        Per class, ``{"covariance_type": ..., "n_components": ...}`` of its density.
    log_likelihood_ : float
        sum_i w_i log sum_c p_c f_c(x_i) on the training rows (p: training proportions).
    n_parameters_ : int
        The free parameters: every class density's and the n_classes - 1 proportions.
    bic_ : float
        ``-2 log_likelihood_ + n_parameters_ log(n)`` (smaller is better; n: rows or their weight).
    n_features_in_ : int
    n_omitted_ : int
        Training rows dropped for a NaN (``nan_policy="omit"``).
    feature_names_in_ : ndarray of str
        When X had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import MixtureDiscriminantAnalysis
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(4, 1, (60, 2))])
    >>> y = np.repeat(["a", "b"], 60)
    >>> clf = MixtureDiscriminantAnalysis(random_state=0).fit(X, y)
    >>> clf.predict([[0.0, 0.0], [4.0, 4.0]]).tolist()
    ['a', 'b']
    """

    _tags_estimator_type = "classifier"
    _fitted_attribute = "classes_"

    def __init__(self, model_type="MclustDA", n_components=_DEFAULT_COMPONENTS, covariance_types=None, priors=None,
                 *, reg_covar=1e-6, tol=1e-3, max_iter=100, n_init=1, init_params="auto", random_state=None,
                 n_threads=None, nan_policy="raise"):
        self.model_type = model_type
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.priors = priors
        self.reg_covar = reg_covar
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.n_threads = n_threads
        self.nan_policy = nan_policy

    # ------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------
    def _selection(self):
        """An unfitted GaussianMixtureSelection with this estimator's pass-through parameters (it validates them)."""
        params = {p: getattr(self, p) for p in ("n_components", "reg_covar", "tol", "max_iter", "n_init",
                                                 "init_params", "random_state", "n_threads", "nan_policy")}
        if self.covariance_types is not None:
            params["covariance_types"] = self.covariance_types
        return GaussianMixtureSelection(**params)

    def _validate_params(self):
        """The covariance types to try (as the selection expands them); ValueError naming a bad parameter."""
        name = type(self).__name__
        check_option(self.model_type, "model_type", set(MODEL_TYPES), estimator_name=name)
        if self.model_type == "EDDA" and self.nan_policy == "marginalize":
            raise ValueError(f"{name}: nan_policy='marginalize' needs model_type='MclustDA': an EDDA fit is one "
                             "M-step on the class labels, which has no missing-value form. Use nan_policy='omit'.")
        sel = self._selection()
        try:
            _, cov_types, _ = sel._validate_params()
        except ValueError as e:
            raise type(e)(str(e).replace("GaussianMixtureSelection", name)) from None
        return cov_types

    def _check_priors(self, n_classes):
        if self.priors is None:
            return None
        try:
            p = np.asarray(self.priors, dtype=np.float64)
        except (TypeError, ValueError):
            p = None
        if p is None or p.shape != (n_classes,) or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
            raise invalid_parameter("priors", [f"None or {n_classes} non-negative numbers (one per class in the "
                                               "order of classes_), not all 0"], self.priors,
                                    estimator_name=type(self).__name__)
        return p / p.sum()

    def _check_y(self, y, n_samples):
        """(classes, codes) of the labels; ValueError for a missing label, a wrong length or one class."""
        name = type(self).__name__
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None: fit needs the class labels.")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, one class label per row of X; got an array of shape {y.shape}.")
        if y.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} rows but y has {y.shape[0]} labels: one label per row is needed.")
        if y.dtype.kind == "O":
            missing = np.array([v is None or (isinstance(v, float) and v != v) for v in y])
        elif y.dtype.kind in "fc":
            missing = ~np.isfinite(y)
        else:
            missing = np.zeros(y.shape[0], dtype=bool)
        if missing.any():
            raise ValueError(f"y has {int(missing.sum())} missing label(s) (NaN or None), the first at row "
                             f"{int(np.argmax(missing))}: every training row needs its class.")
        if y.dtype.kind in "fc" and np.any(y != np.round(y.real)):
            raise ValueError("Unknown label type: y holds continuous values (a regression target?); "
                             f"{name} needs class labels (integers or strings).")
        try:
            classes, codes = np.unique(y, return_inverse=True)
        except TypeError as e:
            raise TypeError(f"y's labels must be comparable with each other (all numbers or all strings): {e}") \
                from None
        if classes.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 classes in y, got {classes.shape[0]} ({classes.tolist()}).")
        return classes, codes.astype(np.int64)

    def _validate_X(self, X, *, reset):
        name = type(self).__name__
        check_feature_names(self, X, reset=reset)
        if reset:
            X = check_array(X, estimator_name=name, min_samples=2, allow_nan=self.nan_policy != "raise")
            self.n_features_in_ = X.shape[1]
            return X
        self._check_is_fitted()
        X = check_array(X, estimator_name=name, allow_nan=self.nan_policy == "marginalize")
        return self._check_n_features(X)

    # ------------------------------------------------------------------
    # fitting
    # ------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit every class's density and the class priors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (numbers or strings; at least 2 classes, none missing).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row: the class proportions, the class
            densities and the BIC are weighted.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            A bad parameter or input, or a class that cannot be fitted (too
            few rows for any candidate; the class is named).
        """
        name = type(self).__name__
        cov_types = self._validate_params()
        X = self._validate_X(X, reset=True)
        classes, codes = self._check_y(y, X.shape[0])
        w = check_sample_weight(sample_weight, X.shape[0])
        X, w, _, kept, n_omitted = apply_nan_policy(X, w, self.nan_policy, name, check_columns=False)
        if kept is not None:
            codes = codes[kept]
        weight = np.bincount(codes, weights=w, minlength=len(classes)).astype(np.float64)
        rows = np.bincount(codes if w is None else codes[w > 0], minlength=len(classes))
        if rows.min() < 2:
            c = int(np.argmin(rows))
            which = (" with a positive sample_weight" if w is not None else "") + (" and no NaN" if kept is not None
                                                                                  else "")
            raise ValueError(f"class {_label(classes[c])} has {rows[c]} training row(s){which}; {name} needs at "
                             "least 2 per class to fit its density. Remove the class or add rows.")
        prior = self._check_priors(len(classes))
        proportions = weight / weight.sum()
        self.classes_ = classes
        self.class_weight_ = weight
        self.class_prior_ = proportions if prior is None else prior
        self.n_omitted_ = n_omitted
        for attr in ("class_models_", "model_", "results_"):
            self.__dict__.pop(attr, None)
        if self.model_type == "EDDA":
            self._fit_edda(X, codes, w, cov_types)
        else:
            self._fit_mclustda(X, codes, w)
        log_joint = self._class_log_density(X) + np.log(proportions)
        row_ll = _logsumexp_rows(log_joint)
        self.log_likelihood_ = float(row_ll.sum() if w is None else np.dot(row_ll[w > 0], w[w > 0]))
        n = X.shape[0] if w is None else float(w.sum())
        self.bic_ = -2 * self.log_likelihood_ + self.n_parameters_ * np.log(n)
        return self

    def _fit_mclustda(self, X, codes, w):
        models, params, n_parameters = [], [], len(self.classes_) - 1
        for c, label in enumerate(self.classes_):
            rows = codes == c
            sel = self._selection()
            try:
                sel.fit(X[rows], sample_weight=None if w is None else w[rows])
            except ValueError as e:
                raise ValueError(f"class {_label(label)} ({int(rows.sum())} rows) could not be fitted: {e}") from None
            best = sel.best_estimator_
            models.append(sel)
            params.append(dict(sel.best_params_))
            n_parameters += int(best._n_parameters())
        self.class_models_ = models
        self.class_params_ = params
        self.n_parameters_ = n_parameters

    def _fit_edda(self, X, codes, w, cov_types):
        n_classes = len(self.classes_)
        results = {"covariance_type": [], "bic": [], "log_likelihood": [], "n_parameters": [], "error": []}
        best, best_key = None, None
        for i, ct in enumerate(cov_types):
            gm = GaussianMixture(n_classes, covariance_type=ct, init_params=_ClassLabels(codes), max_iter=0,
                                 reg_covar=self.reg_covar, n_threads=self.n_threads,
                                 nan_policy="raise" if self.nan_policy == "omit" else self.nan_policy)
            try:
                gm.fit(X, sample_weight=w)
                total, n = gm._total_log_likelihood(X, w)
                p = int(gm._n_parameters())
                bic = -2 * total + p * np.log(n)
                error = ""
            except (ValueError, np.linalg.LinAlgError) as e:
                total = bic = np.nan
                p = -1
                error = str(e)
            for key, value in zip(results, (ct, bic, total, p, error)):
                results[key].append(value)
            if np.isfinite(bic) and (best is None or (bic, p, i) < best_key):
                best, best_key = gm, (bic, p, i)
        if best is None:
            reasons = "; ".join(f"{ct}: {e}" for ct, e in zip(results["covariance_type"], results["error"]))
            raise ValueError(f"no covariance type could be fitted to the classes: {reasons}")
        best.init_params.codes = None          # the training labels are not part of the model
        best.weights_ = self.class_prior_.astype(best.weights_.dtype)
        self.model_ = best
        self.results_ = {k: (list(v) if k in ("covariance_type", "error") else np.asarray(v))
                         for k, v in results.items()}
        self.class_params_ = [{"covariance_type": best.covariance_type, "n_components": 1}
                              for _ in range(n_classes)]
        self.n_parameters_ = best_key[1]

    # ------------------------------------------------------------------
    # prediction
    # ------------------------------------------------------------------
    def _class_log_density(self, X):
        """(n_samples, n_classes) float64: log f_c(x) of every row under every class density."""
        if hasattr(self, "model_"):
            # log f_c(x) = log P(c | x) + log p(x) - log pi_c under model_ (whose weights are the priors).
            with np.errstate(divide="ignore"):
                log_resp = np.log(self.model_.predict_proba(X).astype(np.float64))
            return log_resp + self.model_.score_samples(X).astype(np.float64)[:, None] - np.log(self.class_prior_)
        return np.column_stack([sel.best_estimator_.score_samples(X).astype(np.float64)
                                for sel in self.class_models_])

    def predict_log_proba(self, X):
        """Log posterior of every class for each row, ``log pi_c + log f_c(x) - log sum_j pi_j f_j(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes), float64
        """
        X = self._validate_X(X, reset=False)
        with np.errstate(divide="ignore"):
            log_joint = self._class_log_density(X) + np.log(self.class_prior_)
        return log_joint - _logsumexp_rows(log_joint)[:, None]

    def predict_proba(self, X):
        """Posterior probability of every class for each row (columns in the order of ``classes_``).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float64
        """
        X = self._validate_X(X, reset=False)
        if hasattr(self, "model_"):     # EDDA: the kernel's posteriors of the one mixture
            return self.model_.predict_proba(X).astype(np.float64)
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """The class of largest posterior for each row.

        Returns
        -------
        labels : ndarray of shape (n_samples,), of the labels' dtype
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on (X, y), weighted by ``sample_weight``.

        Returns
        -------
        float
        """
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        pred = self.predict(X)
        if y.shape != pred.shape:
            raise ValueError(f"X has {pred.shape[0]} rows but y has shape {y.shape}: one label per row is needed.")
        w = check_sample_weight(sample_weight, pred.shape[0])
        return float(np.average(pred == y, weights=w))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        from sklearn.utils import ClassifierTags

        tags.classifier_tags = ClassifierTags()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = self.nan_policy != "raise"
        return tags

