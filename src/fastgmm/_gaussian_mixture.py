"""fastgmm.GaussianMixture: scikit-learn's GaussianMixture on fused compiled kernels."""

import inspect
import math
import time
import warnings

import numpy as np
from scipy import linalg

from . import _em
from ._kmeans_driver import feature_variance_mean, kmeans, kmeans_plusplus, nearest_centre_labels
from ._openmp_helpers import effective_n_threads
from ._validation import (
    ConvergenceWarning,
    NotFittedError,
    check_array,
    check_feature_names,
    check_option,
    check_random_state,
    check_scalar,
    sklearn_compatible,
)

_INIT_PARAMS = {"kmeans", "k-means++", "random", "random_from_data"}
_RANDOM_RESP_BLOCK = 65536


def _blas_single_thread():
    """Context manager keeping BLAS single-threaded while the OpenMP kernels call it."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


_controller = None


class GaussianMixture:
    """Gaussian mixture model fitted by EM, a drop-in for ``sklearn.mixture.GaussianMixture``.

    Same parameters, attributes and results as scikit-learn's estimator (from
    the same initial parameters the fitted parameters agree to rounding), with
    the E-step and the sufficient statistics computed in one fused, chunked,
    multi-threaded pass over the data per iteration.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own covariance matrix; 'tied': all share
        one; 'diag': each has a diagonal covariance; 'spherical': each has a
        single variance.
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample changes by less than this.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, keeping them positive definite.
    max_iter : int, default=100
        EM iterations per initialisation (0: only initialise).
    n_init : int, default=1
        Number of initialisations; the best (highest lower bound) is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How responsibilities are initialised: k-means labels; k-means++ seeds
        as single-point components; random responsibilities; random rows as
        single-point components.
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances); shape (n_components,) for
        'spherical', (n_features, n_features) for 'tied', (n_components,
        n_features) for 'diag', (n_components, n_features, n_features) for 'full'.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation (and of :meth:`sample`).
    warm_start : bool, default=False
        Start ``fit`` from the previous solution (``n_init`` is then ignored).
    verbose : int, default=0
        1 prints each initialisation's progress; 2 also the time and change.
    verbose_interval : int, default=10
        Iterations between progress messages.
    n_threads : int or None, default=None
        OpenMP threads of the kernels. None: every usable core (honours
        ``OMP_NUM_THREADS``); negative: that many fewer than all plus one
        (-1 = all). Results do not depend on it.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray (shape depends on ``covariance_type``)
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
        Upper-triangular factors U with precision = U U^T (full, tied), or
        1/sigma (diag, spherical).
    converged_ : bool
    n_iter_ : int
        EM iterations of the best initialisation.
    lower_bound_ : float
        Mean log-likelihood per sample of the best initialisation.
    lower_bounds_ : list of float
        Its history, one entry per iteration.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.

    Notes
    -----
    ``X`` stays in its dtype when float32 (the parameters are then float32),
    otherwise it is converted to float64. The statistics are accumulated in
    float64 about the mixture's mean, so float32 variances do not cancel to
    zero or below.
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads

    # ------------------------------------------------------------------
    # scikit-learn estimator protocol (without importing scikit-learn)
    # ------------------------------------------------------------------
    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self")

    def get_params(self, deep=True):
        """Parameters of this estimator, as a dict (scikit-learn protocol)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters by name (scikit-learn protocol); returns self."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self):
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values() if p.name != "self"
        }
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults[name]
            same = value is default or (
                not isinstance(value, np.ndarray) and not isinstance(default, np.ndarray) and value == default
                and type(value) is type(default)
            )
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, TargetTags, InputTags

        return Tags(
            estimator_type="density_estimator",
            target_tags=TargetTags(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
            input_tags=InputTags(allow_nan=False),
        )

    def __sklearn_is_fitted__(self):
        return hasattr(self, "means_")

    # ------------------------------------------------------------------
    # Validation
    # ------------------------------------------------------------------
    def _validate_params(self):
        check_scalar(self.n_components, "n_components", "int", low=1)
        check_option(self.covariance_type, "covariance_type", set(_em.COV_TYPES))
        check_scalar(self.tol, "tol", "real", low=0)
        check_scalar(self.reg_covar, "reg_covar", "real", low=0)
        check_scalar(self.max_iter, "max_iter", "int", low=0)
        check_scalar(self.n_init, "n_init", "int", low=1)
        check_option(self.init_params, "init_params", _INIT_PARAMS)
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"The 'warm_start' parameter of GaussianMixture must be an instance of 'bool'. Got {self.warm_start!r} instead.")
        if isinstance(self.verbose, bool) or not isinstance(self.verbose, (int, np.integer)) or self.verbose < 0:
            raise ValueError(f"The 'verbose' parameter of GaussianMixture must be an int >= 0 or a bool. Got {self.verbose!r} instead.")
        check_scalar(self.verbose_interval, "verbose_interval", "int", low=1)
        if self.n_threads is not None:
            if isinstance(self.n_threads, bool) or not isinstance(self.n_threads, (int, np.integer)) or self.n_threads == 0:
                raise ValueError(
                    "The 'n_threads' parameter of GaussianMixture must be None (all usable cores), a positive "
                    f"int, or a negative int counting back from the maximum (-1 = all); 0 is not allowed. "
                    f"Got {self.n_threads!r} instead."
                )
        check_random_state(self.random_state)

    def _check_initial_parameters(self, n_features, dtype):
        """Validate weights_init, means_init and precisions_init; return float64 copies."""
        K = self.n_components
        w = m = p = None
        if self.weights_init is not None:
            w = _as_float_param(self.weights_init, "weights_init")
            _check_shape(w, (K,), "weights")
            _check_finite_param(w, "weights_init")
            if np.any(w < 0) or np.any(w > 1):
                raise ValueError(
                    "The parameter 'weights' should be in the range [0, 1], but got max value "
                    f"{np.max(w):.5f}, min value {np.min(w):.5f}"
                )
            if not np.allclose(np.abs(1.0 - np.sum(w)), 0.0, atol=1e-8 if dtype == np.float64 else 1e-6, rtol=0):
                raise ValueError(
                    f"The parameter 'weights' should be normalized, but got sum(weights) = {np.sum(w):.5f}"
                )
        if self.means_init is not None:
            m = _as_float_param(self.means_init, "means_init")
            _check_shape(m, (K, n_features), "means")
            _check_finite_param(m, "means_init")
        if self.precisions_init is not None:
            p = _as_float_param(self.precisions_init, "precisions_init")
            shape = {
                "spherical": (K,),
                "tied": (n_features, n_features),
                "diag": (K, n_features),
                "full": (K, n_features, n_features),
            }[self.covariance_type]
            _check_shape(p, shape, f"{self.covariance_type} precision")
            _check_finite_param(p, "precisions_init")
            _check_precisions(p, self.covariance_type)
        return w, m, p

    def _validate_X(self, X, *, reset):
        name = type(self).__name__
        check_feature_names(self, X, reset=reset)
        if reset:
            X = check_array(X, estimator_name=name, min_samples=2)
            self.n_features_in_ = X.shape[1]
            return X
        X = check_array(X, estimator_name=name, min_samples=1)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {name} is expecting {self.n_features_in_} features as input."
            )
        return X

    def _check_is_fitted(self):
        if not hasattr(self, "means_"):
            raise sklearn_compatible(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    def fit(self, X, y=None):
        """Estimate the model parameters with the EM algorithm.

        Fits ``n_init`` times and keeps the parameters with the largest lower
        bound. Each run iterates E-step and M-step up to ``max_iter`` times
        until the lower bound changes by less than ``tol``; otherwise a
        :class:`ConvergenceWarning` is issued.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        self._fit(X, want_labels=False)
        return self

    def fit_predict(self, X, y=None):
        """Fit as :meth:`fit` and return the most probable component of each row.

        A final E-step with the fitted parameters makes the labels equal to
        ``fit(X).predict(X)``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._fit(X, want_labels=True)

    def _fit(self, X, want_labels):
        self._validate_params()
        X = self._validate_X(X, reset=True)
        N, D = X.shape
        if N < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {self.n_components}, n_samples = {N}"
            )
        init = self._check_initial_parameters(D, X.dtype)
        n_threads = effective_n_threads(self.n_threads)
        self._eps = float(np.finfo(X.dtype).eps)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        max_lower_bound = -np.inf
        best = None
        self.converged_ = False
        random_state = check_random_state(self.random_state)

        with _blas_single_thread():
            for init_no in range(n_init):
                self._verbose_init_beg(init_no)
                if do_init:
                    # Data too large to square overflows here; _check_no_overflow
                    # reports it as a ValueError instead of numpy's warnings.
                    with np.errstate(over="ignore", invalid="ignore"):
                        params = self._initialize(X, random_state, init, n_threads)
                    if n_init == 1:
                        init = None   # its copies are in params now: not kept during EM
                else:
                    params = (self._w, self._m, self._cov, self._pc)
                lower_bound = -np.inf if do_init else self.lower_bound_
                history = []
                converged = False
                n_iter = 0
                for n_iter in range(1, self.max_iter + 1):
                    prev = lower_bound
                    params, lower_bound = self._em_iteration(X, params, n_threads)
                    history.append(lower_bound)
                    change = lower_bound - prev
                    self._verbose_iter_end(n_iter, change)
                    if abs(change) < self.tol:
                        converged = True
                        break
                self._verbose_init_end(lower_bound, converged)
                if best is None or lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                    max_lower_bound = lower_bound
                    best = (params, n_iter, history, converged)
                    self.converged_ = converged

            params, n_iter, history, converged = best
            if not self.converged_ and self.max_iter > 0:
                warnings.warn(
                    "Best performing initialization did not converge. Try different init parameters, "
                    "or increase max_iter, tol, or check for degenerate data.",
                    sklearn_compatible(ConvergenceWarning),
                )
            self._set_parameters(params, X.dtype)
            self.n_iter_ = n_iter
            self.lower_bound_ = max_lower_bound
            self.lower_bounds_ = history
            if want_labels:
                return self._estimate(X, labels=True)[1]
        return None

    def _em_iteration(self, X, params, n_threads):
        """One fused pass (E-step + statistics) and the M-step. Returns new params and the
        mean log-likelihood under the old ones (scikit-learn's lower bound)."""
        w, m, _, pc = params
        stats = _em.accumulate(X, w, m, pc, self.covariance_type, n_threads)
        lower_bound = stats.loglik / stats.n_samples
        if not np.isfinite(lower_bound):
            advice = ""
            if X.dtype == np.float32:
                advice = " Float64 input has far more range and accuracy than float32."
            raise ValueError(
                "Some samples have zero probability under every component (their log-likelihood is "
                f"{lower_bound}). The data are far outside the model or a component has collapsed: "
                f"increase reg_covar (currently {self.reg_covar}), use fewer components, or scale the data."
                + advice
            )
        nk_eps, means, cov = _em.m_step(stats, self.covariance_type, self.reg_covar, self._eps)
        del stats   # its K x D x D second moments are not held while the factors are made
        _check_no_overflow(means, cov, X)
        weights = nk_eps / np.sum(nk_eps)
        pc = _em.precision_cholesky(cov, self.covariance_type, reg_covar=self.reg_covar,
                                    float32=X.dtype == np.float32)
        return (weights, means, cov, pc), lower_bound

    def _initialize(self, X, random_state, init, n_threads):
        """Initial (weights, means, covariances, precisions_cholesky) as scikit-learn makes them."""
        w_init, m_init, p_init = init
        N, D = X.shape
        K = self.n_components
        cov_type = self.covariance_type
        cov = None
        if w_init is None or m_init is None or p_init is None:
            stats = self._initial_statistics(X, random_state, n_threads)
            nk_eps, means, cov = _em.m_step(stats, cov_type, self.reg_covar, self._eps)
            _check_no_overflow(means, cov, X)
            weights = nk_eps / N
        weights = w_init if w_init is not None else weights
        means = m_init if m_init is not None else means
        if p_init is None:
            pc = _em.precision_cholesky(cov, cov_type, reg_covar=self.reg_covar, float32=X.dtype == np.float32)
        else:
            pc = _precisions_cholesky_from_precisions(p_init, cov_type)
            cov = _covariances_from_precisions_cholesky(pc, cov_type)
        return (np.asarray(weights, dtype=np.float64), np.asarray(means, dtype=np.float64), cov, pc)

    def _initial_statistics(self, X, random_state, n_threads):
        """Statistics of the initial responsibilities, without an N x K matrix."""
        N, D = X.shape
        K = self.n_components
        cov_type = self.covariance_type
        shape = np.empty((K, D))    # gives accumulate the number of components
        if self.init_params == "random":
            _, mean = feature_variance_mean(X)
            stats = None
            # Drawn block by block from the same stream: identical to
            # scikit-learn's single (N, K) draw, in bounded memory.
            for a in range(0, N, _RANDOM_RESP_BLOCK):
                block = X[a:a + _RANDOM_RESP_BLOCK]
                resp = random_state.uniform(size=(block.shape[0], K))
                resp /= resp.sum(axis=1)[:, None]
                s = _em.accumulate(block, None, shape, None, cov_type, n_threads,
                                   resp=resp.astype(X.dtype, copy=False), shift=mean)
                if stats is None:
                    stats = s
                else:
                    stats += s
            return stats
        if self.init_params == "kmeans":
            centres = kmeans(X, K, random_state, n_threads); labels = nearest_centre_labels(X, centres, n_threads)
            shift = centres.mean(axis=0)
        else:
            if self.init_params == "k-means++":
                centres, indices = kmeans_plusplus(X, K, random_state, n_threads)
            else:  # random_from_data
                indices = random_state.choice(N, size=K, replace=False)
                centres = X[indices]
            labels = np.full(N, -1, dtype=np.int64)
            labels[indices] = np.arange(K)
            # scikit-learn's tied covariance counts every row's x x^T even
            # when only K rows carry responsibility: about 0 to match it.
            shift = np.zeros(D) if cov_type == "tied" else np.asarray(centres, dtype=np.float64).mean(axis=0)
        return _em.accumulate(X, None, shape, None, cov_type, n_threads, labels=labels, shift=shift)

    def _set_parameters(self, params, dtype):
        w, m, cov, pc = params
        if self.covariance_type == "full":
            prec = np.einsum("kij,klj->kil", pc, pc)
        elif self.covariance_type == "tied":
            prec = pc @ pc.T
        else:
            prec = pc ** 2
        _check_representable(
            {"means_": m, "covariances_": cov, "precisions_cholesky_": pc, "precisions_": prec}, dtype
        )
        self._w, self._m, self._cov, self._pc = w, m, cov, pc
        self.weights_ = np.asarray(w, dtype=dtype)
        self.means_ = np.asarray(m, dtype=dtype)
        self.covariances_ = np.asarray(cov, dtype=dtype)
        self.precisions_cholesky_ = np.asarray(pc, dtype=dtype)
        self.precisions_ = np.asarray(prec, dtype=dtype)

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def _estimate(self, X, **outputs):
        n_threads = effective_n_threads(self.n_threads)
        with _blas_single_thread():
            return _em.estimate(
                X, self.weights_.astype(np.float64), self.means_, self.precisions_cholesky_,
                self.covariance_type, n_threads, **outputs,
            )

    def _prepare_X(self, X):
        self._check_is_fitted()
        return self._validate_X(X, reset=False)

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._prepare_X(X)
        return self._estimate(X, labels=True)[1]

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        X = self._prepare_X(X)
        return self._estimate(X, resp=True)[2]

    def score_samples(self, X):
        """Log-likelihood of each row under the model.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        X = self._prepare_X(X)
        return self._estimate(X, row_ll=True)[0]

    def score(self, X, y=None):
        """Mean log-likelihood per row of X under the model.

        Returns
        -------
        float
        """
        X = self._prepare_X(X)
        return float(self._estimate(X, chunk_ll=True)[3].sum() / X.shape[0])

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture (same draws as scikit-learn for the same state).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each sample came from.
        """
        self._check_is_fitted()
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at least one sample."
            )
        _, n_features = self.means_.shape
        rng = check_random_state(self.random_state)
        n_per = rng.multinomial(n_samples, self.weights_.astype(np.float64))
        if self.covariance_type == "full":
            X = np.vstack([rng.multivariate_normal(mean, cov, int(s))
                           for (mean, cov, s) in zip(self.means_, self.covariances_, n_per)])
        elif self.covariance_type == "tied":
            X = np.vstack([rng.multivariate_normal(mean, self.covariances_, int(s))
                           for (mean, s) in zip(self.means_, n_per)])
        else:
            X = np.vstack([mean + rng.standard_normal(size=(s, n_features)) * np.sqrt(cov)
                           for (mean, cov, s) in zip(self.means_, self.covariances_, n_per)])
        y = np.concatenate([np.full(s, j, dtype=int) for j, s in enumerate(n_per)])
        return X, y

    # ------------------------------------------------------------------
    # Model selection
    # ------------------------------------------------------------------
    def _n_parameters(self):
        _, n_features = self.means_.shape
        K = self.n_components
        cov_params = {
            "full": K * n_features * (n_features + 1) / 2.0,
            "diag": K * n_features,
            "tied": n_features * (n_features + 1) / 2.0,
            "spherical": K,
        }[self.covariance_type]
        return int(cov_params + n_features * K + K - 1)

    def bic(self, X):
        """Bayesian information criterion on X (lower is better).

        Returns
        -------
        float
        """
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion on X (lower is better).

        Returns
        -------
        float
        """
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()

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
        if self.verbose == 1:
            print(f"Initialization converged: {converged}")
        elif self.verbose >= 2:
            t = time.time() - self._init_prev_time
            print(f"Initialization converged: {converged}\t time lapse {t:.5f}s\t lower bound {lb:.5f}")


def _as_float_param(value, name):
    """An initial parameter as a float64 array, or a ValueError naming it."""
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"The parameter '{name}' must be an array of numbers: {e}") from None


def _too_large_advice(dtype):
    if dtype == np.float32:
        return "Pass X as float64, or scale the data (each feature to unit variance)."
    return "Scale the data (each feature to unit variance) first."


def _check_no_overflow(means, cov, X):
    """Finite data and parameters give infinite or NaN moments only by overflow: say so."""
    if np.all(np.isfinite(means)) and np.all(np.isfinite(cov)):
        return
    largest = max(float(np.max(np.abs(X[a:a + 65536]))) for a in range(0, X.shape[0], 65536))
    raise ValueError(
        "Fitting the mixture model failed: the means or covariances overflowed to infinity, because "
        f"the values of X (largest magnitude {largest:.3g}) are too large for {X.dtype.name} "
        f"arithmetic. {_too_large_advice(X.dtype)}"
    )


def _check_representable(arrays, dtype):
    """The fitted parameters (float64) must be finite once cast to X's dtype."""
    limit = float(np.finfo(dtype).max)
    for name, a in arrays.items():
        a = np.asarray(a, dtype=np.float64)
        if not np.all(np.abs(a) <= limit):
            biggest = float(np.max(np.abs(a)))
            raise ValueError(
                f"The fitted {name} has entries too large for {np.dtype(dtype).name} (largest magnitude "
                f"{biggest:.3g}, the limit is {limit:.3g}): the data's scale is too extreme. "
                f"{_too_large_advice(dtype)}"
            )


def _check_shape(param, shape, name):
    if param.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got {param.shape}")


def _check_finite_param(p, name):
    if not np.all(np.isfinite(p)):
        raise ValueError(f"The parameter '{name}' contains NaN or infinity.")


def _check_precisions(p, cov_type):
    if cov_type in ("diag", "spherical"):
        if np.any(p <= 0):
            raise ValueError(f"'{cov_type} precision' should be positive")
        return
    mats = p[None] if cov_type == "tied" else p
    for k, mat in enumerate(mats):
        if not (np.allclose(mat, mat.T) and np.all(linalg.eigvalsh(mat) > 0.0)):
            who = "" if cov_type == "tied" else f" (component {k})"
            raise ValueError(f"'{cov_type} precision' should be symmetric, positive-definite{who}")


def _flip(a):
    return a[..., ::-1, ::-1]


def _precisions_cholesky_from_precisions(p, cov_type):
    """Upper U with P = U U^T, via the Cholesky factor of the reversed matrix (as scikit-learn)."""
    if cov_type == "full":
        return np.stack([_flip(linalg.cholesky(_flip(m), lower=True)) for m in p])
    if cov_type == "tied":
        return _flip(linalg.cholesky(_flip(p), lower=True))
    return np.sqrt(p)


def _covariances_from_precisions_cholesky(pc, cov_type):
    if cov_type == "full":
        return np.stack([linalg.inv(u @ u.T) for u in pc])
    if cov_type == "tied":
        return linalg.inv(pc @ pc.T)
    return 1.0 / pc ** 2

