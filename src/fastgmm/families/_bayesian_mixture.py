"""fastgmm.BayesianGaussianMixture: scikit-learn's variational Gaussian mixture on the fused kernel.

Variational inference (Bishop 2006, ch. 10; Blei & Jordan 2006 for the
Dirichlet process) alternates two updates that have the shape of EM:

- the "E-step" gives each row responsibilities r_ik proportional to
  exp(E[log pi_k] + E[log N(x_i | mu_k, Lambda_k)]), expectations under the
  variational posterior. With P_k = nu_k W_k (``precisions_``: the Wishart
  scale times its degrees of freedom),
  E[log N(x | mu_k, Lambda_k)] = log N(x | m_k, P_k)
  + 1/2 (sum_j digamma((nu_k - j) / 2) + D log 2 - D log nu_k - D / beta_k):
  a Gaussian log-density plus a per-component constant, so it is linear in
  the kernel's per-row features [1, z, q(z)] like the Gaussian one. This
  family builds W from (m_k, precisions_cholesky_) and that constant and
  reuses the Gaussian statistics kernel as is: no new kernel, no N x K
  temporaries.
- the "M-step" updates the posterior's parameters (Dirichlet or
  stick-breaking Beta concentrations, Gaussian-Wishart means, precisions and
  degrees of freedom) from the same sufficient statistics a Gaussian M-step
  reads (nk, sum r z, sum r q(z)).

The lower bound is scikit-learn's (its ``_compute_lower_bound``: the ELBO up
to constants), computed after the update with the responsibilities of the
pass. Its entropy term -sum_ik w_i r_ik log r_ik needs no kernel output: with
lp_ik = F_i . W_k the kernel's log-density of row i under component k and
G = sum_i w_i r_i F_i^T its statistics, sum_ik w_i r_ik lp_ik = sum_k <G_k, W_k>,
so the entropy is sum_i w_i logsumexp_k lp_ik - sum_k <G_k, W_k>
(:func:`expected_log_density_sum` reads G back from the additive statistics,
so this holds for streamed sources too).

Missing values (``nan_policy="marginalize"``)
---------------------------------------------
The missing coordinates x_m of each row are latent variables with z:
mean-field q(theta) q(z, x_m). Write lp_k(x) = E[log pi_k] + E[log N(x |
mu_k, Lambda_k)] = E[log pi_k] + c_k + log N(x | m_k, Sigma_k), with Sigma_k
= P_k^-1 (``covariances_``) and c_k the per-component constant above
(:func:`expected_log_density_offset`: 1/2 (E log|Lambda_k| - log|P_k|) -
D / (2 beta_k)). The optimal q(z = k, x_m) is proportional to exp lp_k(x_o,
x_m), so

- q(x_m | z = k) is proportional to N(x | m_k, Sigma_k) as a function of x_m:
  the Gaussian conditional of x_m given x_o under N(m_k, Sigma_k), with mean
  m_km + Sigma_k,mo Sigma_k,oo^-1 (x_o - m_ko) and covariance C_k = Sigma_k,mm
  - Sigma_k,mo Sigma_k,oo^-1 Sigma_k,om (the Gaussian family's completion
  with (``means_``, ``covariances_``));
- q(z = k) is proportional to the integral over x_m, exp(E[log pi_k] + c_k)
  N(x_o | m_ko, Sigma_k,oo): the Gaussian observed-marginal E-step with the
  constants E[log pi_k] + c_k in place of log w_k, the same constants as a
  complete row's (``fastgmm.families._gaussian_missing``, ``log_weights``).

The posterior update reads E_q[x] and E_q[x x^T] weighted by r_ik: the
completed statistics (conditional means in s1; conditional means' outer
products plus C_k in s2), unchanged in form. The bound: on the completed
G, sum_k <G_k, W_k> (complete-data W) = sum_i w_i sum_k r_ik E_q(x_m|k)[lp_k(x)]
= sum_i w_i sum_k r_ik (lp_ik - H[q(x_m | k)]), lp_ik the E-step's log-density
of x_o (the kernel's), because log N(x | m_k, Sigma_k) = log N(x_o | m_ko,
Sigma_k,oo) + log q(x_m | k) and the expectation of the latter is minus the
entropy. So the same entropy term, sum_i w_i lse_i - sum_k <G_k, W_k>, is
sum_i w_i sum_k r_ik (H[q(x_m | k)] - log r_ik) = -E[log q(z, x_m)], and
with q(theta) the update of those statistics the terms of the priors are
unchanged: ``lower_bound_`` is the ELBO with the missing values as latent
variables (up to the same constants), and never decreases.
"""

import numbers
from typing import NamedTuple

import numpy as np
from scipy import linalg
from scipy.special import betaln, gammaln

from ..engine._base import BaseMixture
from ..engine._custom_init import is_custom
from ..engine._schema import FLOAT, GAUSSIAN_ARRAYS, NUMBER, Array, Scalar, mixture_schema
from ..io._persistence import Persistent
from ..kernels import _driver as _kernels
from ..kernels._openmp_helpers import effective_n_threads
from ..sources._blocks import init_sample_rows
from ..utils._threadpool import blas_single_thread
from ..utils._validation import _finite, check_option, check_scalar, invalid_parameter
from . import _gaussian
from . import _gaussian_missing as _missing
from . import _gaussian_online as _online
from ._gaussian import COV_TYPES, QUAD
from ._gaussian_checks import _check_no_overflow, _check_representable, _eps
from ._gaussian_init import INIT_PARAMS, initial_statistics, initialisation_rows
from ._gaussian_mixture import GaussianMixture
from ._gaussian_statistics import Statistics
from ._variational import (_POSITIVE, PRIOR_TYPES, _check_positive_or_none, _check_prior_shape, _prior_array,
                           check_loaded, data_moments, data_moments_missing, expected_log_density_offset,
                           expected_log_density_sum, expected_log_weights, expected_weights, log_wishart_norm,
                           variational_statistics)



class VariationalParams(NamedTuple):
    """The variational posterior's parameters, float64 (the fitted attributes of the same names)."""

    weight_concentration: np.ndarray
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


class VariationalStatistics:
    """The Gaussian statistics of one pass and its entropy term -sum_ik w_i r_ik log r_ik (additive)."""

    def __init__(self, gauss, entropy):
        self.gauss, self.entropy = gauss, float(entropy)

    @property
    def loglik(self):
        return self.gauss.loglik

    @property
    def weight(self):
        return self.gauss.weight

    def __iadd__(self, other):
        if not isinstance(other, VariationalStatistics):
            return NotImplemented
        self.gauss += other.gauss
        self.entropy += other.entropy
        return self

    def __add__(self, other):
        out = VariationalStatistics(self.gauss.copy(), self.entropy)
        out += other
        return out

    def scaled(self, factor):
        return VariationalStatistics(self.gauss.scaled(factor), self.entropy * float(factor))

    def to_dict(self):
        """Plain dict of arrays and numbers (for transfers and saving)."""
        return {"gauss": self.gauss.to_dict(), "entropy": self.entropy}

    @classmethod
    def from_dict(cls, d):
        return cls(Statistics.from_dict(d["gauss"]), d["entropy"])



class BayesianGaussianMixture(Persistent, BaseMixture):
    """Variational Bayesian Gaussian mixture, a drop-in for ``sklearn.mixture.BayesianGaussianMixture``.

    Same parameters, attributes and results as scikit-learn's estimator (from
    the same initial responsibilities the fitted parameters agree to
    rounding), with each iteration's expected log-densities, responsibilities
    and sufficient statistics computed in one fused, chunked, multi-threaded
    pass over the data: the kernel of :class:`fastgmm.GaussianMixture`.

    The weights get a Dirichlet distribution prior (a finite mixture) or a
    truncated Dirichlet process prior (stick-breaking); with the latter and a
    small ``weight_concentration_prior`` the fit leaves surplus components
    with weights near 0, so ``n_components`` is an upper bound on the number
    of components used.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components (an upper bound on those used).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own covariance matrix; 'tied': all share
        one; 'diag': each has a diagonal covariance; 'spherical': each has a
        single variance.
    tol : float, default=1e-3
        Iterations stop when the lower bound changes by less than this.
    reg_covar : float, default=1e-6
        Added to the diagonal of every component's data covariance.
    max_iter : int, default=100
        Iterations per initialisation (0: only initialise).
    n_init : int, default=1
        Number of initialisations; the best (highest lower bound) is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'} or callable, default='kmeans'
        How the initial responsibilities are made (as in
        :class:`fastgmm.GaussianMixture`).
        A callable is called as ``init_params(X, n_components, random_state)``
        with the rows the fit initialises from and returns integer labels
        (n_samples,) or responsibilities (n_samples, n_components) whose rows
        sum to 1; the initial parameters are the M-step on them. A callable
        is code: a saved model stores it as None.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
        The prior on the weights: stick-breaking (Beta distributions) or a
        Dirichlet distribution.
    weight_concentration_prior : float > 0 or None, default=None
        The concentration of the weight prior (gamma). Larger puts more
        mass in the centre of the simplex, so more components are used.
        None: ``1 / n_components``.
    mean_precision_prior : float > 0 or None, default=None
        The precision of the prior on the means (beta_0). Larger
        concentrates the means around ``mean_prior``. None: 1.
    mean_prior : array-like of shape (n_features,) or None, default=None
        The prior on the means. None: the (weighted) mean of X.
    degrees_of_freedom_prior : float > n_features - 1 or None, default=None
        The Wishart prior's degrees of freedom (nu_0). None: n_features.
    covariance_prior : float or array-like or None, default=None
        The Wishart prior's covariance: (n_features, n_features) for 'full'
        and 'tied', (n_features,) for 'diag', a float for 'spherical'. None:
        the (weighted, ddof=1) covariance of X.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of :meth:`sample`.
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
    nan_policy : {'raise', 'omit', 'marginalize'}, default='raise'
        What NaN in X means. 'raise': an error saying where. 'omit': rows
        with a NaN are dropped for fitting (``n_omitted_`` counts them).
        'marginalize': NaNs are values missing at random, latent variables
        of the variational fit: each row's responsibilities come from its
        observed values alone and the posterior update from the completed
        statistics (module docstring); ``predict``, ``predict_proba``,
        ``score_samples`` and ``score`` then accept NaNs. With NaNs the
        default priors are the observed values' moments: each column's mean
        and variance over the rows observing it (``covariance_prior_`` is
        then diagonal for 'full' and 'tied').
    callback : callable or None, default=None
        Called after every iteration as ``callback(iteration, lower_bound,
        model)`` with the model's attributes set to that iteration's
        parameters; returning True stops the fit (see
        :class:`fastgmm.GaussianMixture`).
    progress : bool, default=False
        Show a tqdm progress bar over ``n_init x max_iter`` iterations.
    block_rows : int or None, default=None
        Rows per block when X is out of core (a ``numpy.memmap``, an h5py or
        zarr dataset): X is then streamed through the kernels block by block
        (see :class:`fastgmm.GaussianMixture`). Dask arrays are streamed by
        their chunks.
    online_decay : float in (0.5, 1], default=0.7
    online_offset : float >= 1, default=2
        :meth:`partial_fit` weighs a batch of total weight b by
        ``(b / (n_samples_seen_ + online_offset * b)) ** online_decay`` (see
        :class:`fastgmm.GaussianMixture`); the priors stay those of the
        first fit.
    frozen : tuple of str or None, default=None
        Posterior factors that stay at their initial values while the others
        are updated: any of 'weights' (the weight concentrations), 'means'
        (means and mean precisions), 'covariances' (Wishart scales and
        degrees of freedom).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Expected weights under the posterior.
    means_ : ndarray of shape (n_components, n_features)
        Posterior means of the component means.
    covariances_ : ndarray
        Wishart scale matrices normalised by the degrees of freedom (shape
        as in :class:`fastgmm.GaussianMixture`).
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
    weight_concentration_prior_ : float
    weight_concentration_ : ndarray of shape (n_components,) or tuple of two
        Dirichlet concentrations, or the two Beta parameters of each stick
        (``'dirichlet_process'``).
    mean_precision_prior_ : float
    mean_precision_ : ndarray of shape (n_components,)
    mean_prior_ : ndarray of shape (n_features,)
    degrees_of_freedom_prior_ : float
    degrees_of_freedom_ : ndarray of shape (n_components,), or a float for 'tied'
    covariance_prior_ : float or ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        scikit-learn's lower bound on the model evidence (the ELBO up to
        constants, a sum over the rows, weighted by ``sample_weight``) of the
        best initialisation.
    lower_bounds_ : list of float
        Its history, one entry per iteration.
    n_omitted_ : int
        Rows dropped for holding a NaN (``nan_policy='omit'``; else 0).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.

    Notes
    -----
    ``score_samples``, ``score`` and ``predict_proba`` use the expected
    log-densities E[log pi_k] + E[log N(x | mu_k, Lambda_k)] of the
    variational posterior, as scikit-learn's do (they are not the
    log-likelihood under ``weights_``, ``means_`` and ``covariances_``).
    There is no ``bic``/``aic`` (as in scikit-learn).

    ``fit`` and ``fit_predict`` take ``sample_weight`` (scikit-learn's
    estimator has none): a row of weight w counts as w copies of itself, in
    the statistics, the default priors and the lower bound.

    Out-of-core and Dask inputs are streamed as by
    :class:`fastgmm.GaussianMixture`: the default priors take two extra
    passes per fit (the mean, then the covariance about it), the
    initialisation a bounded sample of the rows.
    """

    _MARGINALIZE = True

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        nan_policy="raise",
        callback=None,
        progress=False,
        block_rows=None,
        online_decay=0.7,
        online_offset=2.0,
        frozen=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.nan_policy = nan_policy
        self.callback = callback
        self.progress = progress
        self.block_rows = block_rows
        self.online_decay = online_decay
        self.online_offset = online_offset
        self.frozen = frozen

    _FROZEN = {"weights": ("weight_concentration",), "means": ("means", "mean_precision"),
               "covariances": ("covariances", "precisions_cholesky", "degrees_of_freedom")}
    _Params = VariationalParams

    # ------------------------------------------------------------------
    # Priors: constructor parameters -> fitted *_prior_ attributes
    # ------------------------------------------------------------------
    def _missing_values(self, X, sample_weight, policy, reset=True):
        # The default priors are moments of the rows being fitted (after the
        # NaN policy), weighted: _check_parameters, which the EM loop calls
        # next with X alone, takes the weights from here.
        X, sample_weight, missing, kept = super()._missing_values(X, sample_weight, policy, reset)
        self._prior_sample_weight = sample_weight
        return X, sample_weight, missing, kept

    def _check_parameters(self, X):
        """Validate the parameters and set the ``*_prior_`` attributes from them (and X)."""
        sample_weight = self.__dict__.pop("_prior_sample_weight", None)
        name = type(self).__name__
        check_option(self.covariance_type, "covariance_type", set(COV_TYPES), estimator_name=name)
        check_scalar(self.reg_covar, "reg_covar", "real", low=0, estimator_name=name)
        if not is_custom(self.init_params):
            check_option(self.init_params, "init_params", set(INIT_PARAMS), estimator_name=name)
        check_scalar(self.block_rows, "block_rows", "int", low=1, allow_none=True, estimator_name=name)
        check_option(self.weight_concentration_prior_type, "weight_concentration_prior_type", set(PRIOR_TYPES),
                     estimator_name=name)
        for param in ("weight_concentration_prior", "mean_precision_prior", "degrees_of_freedom_prior"):
            _check_positive_or_none(getattr(self, param), param, name)
        D = X.shape[1]
        self.weight_concentration_prior_ = (1.0 / self.n_components if self.weight_concentration_prior is None
                                            else self.weight_concentration_prior)
        self.mean_precision_prior_ = 1.0 if self.mean_precision_prior is None else self.mean_precision_prior
        # The lower bound holds K Wishart normalisers of D terms each, every term
        # nu times a logarithm of magnitude below 1024 (log Gamma(nu / 2) <=
        # nu / 2 log(nu / 2), log det of the Wishart scale, log 2); nu is at most
        # nu_0 + sum(sample_weight), under 2 nu_0 for any nu_0 near this bound.
        # Past it they overflow: a NaN bound, infinite log-densities, and an
        # error that blamed reg_covar.
        dof_limit = float(np.finfo(np.float64).max) / (2048.0 * self.n_components * D)
        if self.degrees_of_freedom_prior is None:
            self.degrees_of_freedom_prior_ = D
        elif self.degrees_of_freedom_prior > dof_limit:
            raise ValueError(
                f"The parameter 'degrees_of_freedom_prior' is {self.degrees_of_freedom_prior:.4g}, too large: "
                f"with n_components={self.n_components} and {D} features the Wishart terms of the lower "
                f"bound overflow float64 beyond {dof_limit:.4g}. A prior that strong fixes every "
                "covariance at covariance_prior / degrees_of_freedom_prior whatever the data: pass a "
                "smaller value (e.g. a few times n_samples for a strong prior), or None (n_features)."
            )
        elif self.degrees_of_freedom_prior > D - 1.0:
            self.degrees_of_freedom_prior_ = self.degrees_of_freedom_prior
        else:
            raise ValueError(
                f"The parameter 'degrees_of_freedom_prior' should be greater than {D - 1}, but got "
                f"{self.degrees_of_freedom_prior:.3f}. The Wishart prior needs more degrees of freedom "
                "than n_features - 1 (None: n_features)."
            )
        mean = cov = None
        if self.mean_prior is None or self.covariance_prior is None:
            moments = data_moments_missing if self._nan_policy() == "marginalize" else data_moments
            with blas_single_thread():
                mean, cov = moments(X, sample_weight, self.covariance_type, effective_n_threads(self.n_threads))
        if self.mean_prior is None:
            self.mean_prior_ = mean.astype(X.dtype)
        else:
            m = _prior_array(self.mean_prior, "mean_prior", name)
            _check_prior_shape(m, (D,), "means", "mean_prior")
            self.mean_prior_ = m
        if self.covariance_prior is None:
            cov = cov.mean() if self.covariance_type == "spherical" else cov
            self.covariance_prior_ = np.asarray(cov, dtype=X.dtype)[()]
        else:
            self.covariance_prior_ = self._covariance_prior(D, name)

    def _covariance_prior(self, D, name):
        """The user's covariance_prior, checked."""
        ct = self.covariance_type
        given = self.covariance_prior
        if isinstance(given, np.ndarray) and given.ndim == 0:
            given = given.item()   # a 0-d array is the number it holds
        if isinstance(given, numbers.Real) and not isinstance(given, (bool, np.bool_)):
            if not (_finite(given) and given > 0):    # np.isfinite: TypeError on an int >= 2**64
                raise invalid_parameter("covariance_prior", ["None", "an array-like", _POSITIVE], given,
                                        estimator_name=name)
            if ct == "spherical":
                return given
            raise ValueError(
                f"The parameter 'covariance_prior' should be an array of shape "
                f"{(D, D) if ct in ('full', 'tied') else (D,)} for covariance_type={ct!r}, got the number "
                f"{given!r} (a number is the prior of covariance_type='spherical')."
            )
        if ct == "spherical":
            raise ValueError(f"The parameter 'covariance_prior' should be one positive number for "
                             f"covariance_type='spherical', got {given!r}.")
        cov = _prior_array(given, "covariance_prior", name)
        if ct in ("full", "tied"):
            _check_prior_shape(cov, (D, D), f"{ct} covariance_prior", "covariance_prior")
            if not (np.allclose(cov, cov.T) and np.all(linalg.eigvalsh(cov) > 0.0)):
                raise ValueError(f"'{ct} covariance_prior' should be symmetric, positive-definite")
        else:
            _check_prior_shape(cov, (D,), f"{ct} covariance_prior", "covariance_prior")
            if np.any(cov <= 0.0):
                raise ValueError(f"'{ct} covariance_prior' should be positive")
        return cov

    # ------------------------------------------------------------------
    # Family hooks (see fastgmm.engine._base.BaseMixture)
    # ------------------------------------------------------------------
    def _initialize_parameters(self, X, sample_weight, random_state, init, n_threads, missing=None):
        """The posterior after one update from the initial responsibilities (scikit-learn's ``_initialize``).

        A streamed source initialises from a bounded uniform sample of its
        rows, in memory, and X with NaNs (``missing``: its rows grouped by pattern) from
        ``fastgmm.families._gaussian_init.initialisation_rows``, as :class:`fastgmm.GaussianMixture` does.
        """
        if not isinstance(X, np.ndarray):
            X, sample_weight = X.sample(init_sample_rows(X.shape[1], getattr(X, "block_rows", 0)), random_state,
                                        sample_weight)
            if self._nan_policy() == "marginalize" and _missing.has_nan(X):
                missing = _missing.group_patterns(X)
        if missing is not None:
            X, sample_weight = initialisation_rows(X, sample_weight, missing, self.n_components)
        with np.errstate(over="ignore", invalid="ignore"):
            stats = initial_statistics(X, sample_weight, self.init_params, self.covariance_type, self.n_components,
                                       random_state, n_threads)
            nk, xk, sk = _gaussian.m_step(stats, self.reg_covar, _eps(X))
        _check_no_overflow(xk, sk, X)
        return VariationalParams(*self._posterior(nk, xk, sk, X))

    def _statistics(self, X, sample_weight, params, n_threads, missing=None):
        """One pass over an in-memory block (expected log-densities, responsibilities, statistics) and
        its entropy term: sum_i w_i lse_i - sum_k <G_k, W_k> (module docstring), additive over blocks.

        With ``missing`` (rows grouped by NaN pattern): the observed-marginal E-step and completed
        statistics (module docstring), whose entropy term is the ELBO's -E[log q(z, x_m)].
        """
        shift, W, U = self._coefficients(params)
        if missing is None:
            stats = variational_statistics(X, sample_weight, shift, W, U, self.covariance_type, n_threads)
        else:
            wc, beta, means, dof, cov, pc = params
            stats = _missing.missing_statistics(
                X, missing, expected_weights(wc, self.weight_concentration_prior_type), means, cov, pc,
                self.covariance_type, n_threads, sample_weight=sample_weight, log_weights=self._log_weights(params))
        if not np.isfinite(stats.loglik):
            return VariationalStatistics(stats, stats.loglik)
        return VariationalStatistics(stats, stats.loglik - expected_log_density_sum(stats, W, U))

    def _m_step(self, stats, params, data):
        """The posterior update from the statistics of the pass."""
        if not np.isfinite(stats.loglik):
            raise ValueError(
                "Some samples have zero probability under every component (their expected log-density is "
                f"{stats.loglik}). The data are far outside the model or a component has collapsed: increase "
                f"reg_covar (currently {self.reg_covar}), use fewer components, or scale the data."
            )
        X = data.X
        nk, xk, sk = _gaussian.m_step(stats.gauss, self.reg_covar, _eps(X))
        _check_no_overflow(xk, sk, X)
        return VariationalParams(*self._posterior(nk, xk, sk, X))

    def _lower_bound(self, stats, new_params):
        """scikit-learn's lower bound: the entropy of the pass's responsibilities with the priors' terms
        under the updated posterior."""
        return stats.entropy - self._prior_terms(new_params)

    def _check_parameters_online(self, X):
        """A fitted model's priors are kept for its ``partial_fit`` batches (they came from its first data)."""

    def _statistics_from_parameters(self, params):
        """Statistics of total weight 1 whose posterior update gives back ``params`` (the inverse of
        :meth:`_posterior`: n_k = beta_k - beta_0, and the data means and scatters solved for)."""
        wc, beta, means, dof, cov, pc = params
        beta0 = float(self.mean_precision_prior_)
        m0 = np.asarray(self.mean_prior_, dtype=np.float64)
        psi0 = np.asarray(self.covariance_prior_, dtype=np.float64)
        K = self.n_components
        nk = np.maximum(beta - beta0, 0.0)
        safe = np.where(nk > 0, nk, 1.0)
        xk = np.where((nk > 0)[:, None], (beta[:, None] * means - beta0 * m0) / safe[:, None], means)
        diff = xk - m0
        shrink = beta0 / beta
        ct = self.covariance_type
        if ct == "full":
            sk = np.empty_like(cov)
            for k in range(K):
                sk[k] = (cov[k] * dof[k] - psi0 - nk[k] * shrink[k] * np.outer(diff[k], diff[k])) / safe[k]
        elif ct == "tied":
            n_mean = nk.sum() / K
            sk = (cov * dof - psi0 - beta0 / K * ((nk / beta) * diff.T) @ diff) / n_mean
        elif ct == "diag":
            sk = (cov * dof[:, None] - psi0) / safe[:, None] - shrink[:, None] * diff ** 2
        else:
            sk = (cov * dof - psi0) / safe - shrink * np.mean(diff ** 2, axis=1)
        total = float(nk.sum())
        gauss = _online.statistics_from_parameters(nk / total, xk, sk, ct, self.reg_covar,
                                                   _gaussian.mixture_shift(nk, xk))
        return VariationalStatistics(gauss, 0.0)

    def _get_parameters(self):
        """(weight_concentration, mean_precision, means, dof, covariances, prec_chol), float64, from the attributes."""
        wc = self.weight_concentration_
        wc = np.asarray(np.stack(wc) if isinstance(wc, tuple) else wc, dtype=np.float64)
        return VariationalParams(wc, *(np.asarray(a, dtype=np.float64) for a in (
            self.mean_precision_, self.means_, self.degrees_of_freedom_, self.covariances_,
            self.precisions_cholesky_)))

    def _set_parameters(self, params, dtype):
        wc, beta, means, dof, cov, pc = params
        prec = _gaussian.precisions_from_cholesky(pc, self.covariance_type)
        _check_representable(
            {"means_": means, "covariances_": cov, "precisions_cholesky_": pc, "precisions_": prec}, dtype)
        self.weights_ = expected_weights(wc, self.weight_concentration_prior_type).astype(dtype)
        if self.weight_concentration_prior_type == "dirichlet_process":
            self.weight_concentration_ = (wc[0].astype(dtype), wc[1].astype(dtype))
        else:
            self.weight_concentration_ = wc.astype(dtype)
        self.mean_precision_ = beta.astype(dtype)
        self.means_ = means.astype(dtype)
        self.degrees_of_freedom_ = dtype.type(dof) if dof.ndim == 0 else dof.astype(dtype)
        self.covariances_ = cov.astype(dtype)
        self.precisions_cholesky_ = pc.astype(dtype)
        self.precisions_ = prec.astype(dtype)

    def _estimate(self, X, n_threads, **outputs):
        params = self._get_parameters()
        if self._nan_policy() == "marginalize" and _missing.has_nan(X):
            wc, beta, means, dof, cov, pc = params
            return _missing.missing_estimate(
                X, _missing.group_patterns(X), expected_weights(wc, self.weight_concentration_prior_type), means,
                cov, pc, self.covariance_type, n_threads, log_weights=self._log_weights(params), **outputs)
        shift, W, U = self._coefficients(params)
        return _kernels.estimate(X, QUAD[self.covariance_type], shift, W, U, n_threads, **outputs)

    @property
    def bic(self):
        raise AttributeError(_NO_CRITERION.format("bic"))

    @property
    def aic(self):
        raise AttributeError(_NO_CRITERION.format("aic"))

    sample = GaussianMixture.sample   # draws from (weights_, means_, covariances_), as scikit-learn's

    # ------------------------------------------------------------------
    # The variational maths on the small arrays
    # ------------------------------------------------------------------
    def _posterior(self, nk, xk, sk, X):
        """The posterior's parameters from the statistics' nk (+10 eps), means and covariances (+reg_covar)."""
        K = self.n_components
        gamma0 = float(self.weight_concentration_prior_)
        beta0 = float(self.mean_precision_prior_)
        nu0 = float(self.degrees_of_freedom_prior_)
        m0 = np.asarray(self.mean_prior_, dtype=np.float64)
        psi0 = np.asarray(self.covariance_prior_, dtype=np.float64)
        if self.weight_concentration_prior_type == "dirichlet_process":
            # Stick k: Beta(1 + nk, gamma0 + sum_{j > k} nj).
            after = np.concatenate((np.cumsum(nk[::-1])[-2::-1], [0.0]))
            wc = np.stack((1.0 + nk, gamma0 + after))
        else:
            wc = gamma0 + nk
        beta = beta0 + nk
        means = (beta0 * m0 + nk[:, None] * xk) / beta[:, None]
        diff = xk - m0
        shrink = beta0 / beta   # how much the prior's mean pulls each component
        ct = self.covariance_type
        if ct == "full":
            dof = nu0 + nk
            cov = np.empty_like(sk)
            for k in range(K):   # no K x D x D temporaries
                cov[k] = (psi0 + nk[k] * sk[k] + nk[k] * shrink[k] * np.outer(diff[k], diff[k])) / dof[k]
        elif ct == "tied":
            n_mean = nk.sum() / K
            dof = np.asarray(nu0 + n_mean)
            cov = (psi0 + n_mean * sk + beta0 / K * ((nk / beta) * diff.T) @ diff) / dof
        elif ct == "diag":
            dof = nu0 + nk
            cov = (psi0 + nk[:, None] * (sk + shrink[:, None] * diff ** 2)) / dof[:, None]
        else:
            dof = nu0 + nk
            cov = (psi0 + nk * (sk + shrink * np.mean(diff ** 2, axis=1))) / dof
        pc = _gaussian.precision_cholesky(cov, ct, reg_covar=self.reg_covar, float32=X.dtype == np.float32)
        return wc, beta, means, dof, cov, pc

    def _coefficients(self, params):
        """(shift, W (P, K), U): the kernel's coefficients of E[log pi_k] + E[log N(x | mu_k, Lambda_k)]."""
        wc, beta, means, dof, cov, pc = params
        ct = self.covariance_type
        shift = _gaussian.mixture_shift(expected_weights(wc, self.weight_concentration_prior_type), means)
        # The Gaussian coefficients of (means, precisions_cholesky_) with unit
        # weights, then the per-component constant on the feature 1.
        shift, W, U = _gaussian.kernel_coefficients(np.ones(self.n_components), means, pc, ct, shift)
        W[0] += self._log_weights(params)
        return shift, W, U

    def _log_weights(self, params):
        """E[log pi_k] + c_k: the per-component constants of the expected log-densities (K,)."""
        wc, beta, means, dof, cov, pc = params
        return expected_log_weights(wc, self.weight_concentration_prior_type) + expected_log_density_offset(
            dof, beta, means.shape[1])

    def _prior_terms(self, params):
        """The lower bound's terms of the posterior's parameters (scikit-learn's, constants dropped)."""
        wc, beta, means, dof, cov, pc = params
        D = means.shape[1]
        ct = self.covariance_type
        # log det of the Wishart scale's Cholesky factor: precisions_cholesky_ is that of nu W.
        log_det = _gaussian.log_det_cholesky(pc, ct, D) - 0.5 * D * np.log(dof)
        log_wishart = np.sum(log_wishart_norm(dof, log_det, D))
        if ct == "tied":
            log_wishart *= self.n_components   # one shared Wishart, counted once per component as scikit-learn
        if self.weight_concentration_prior_type == "dirichlet_process":
            log_norm_weight = -np.sum(betaln(wc[0], wc[1]))
        else:
            log_norm_weight = gammaln(np.sum(wc)) - np.sum(gammaln(wc))
        return float(log_wishart + log_norm_weight + 0.5 * D * np.sum(np.log(beta)))

    # ------------------------------------------------------------------
    # Persistence (read by fastgmm's save/load)
    # ------------------------------------------------------------------
    _PRIORS = ("weight_concentration_prior_", "mean_precision_prior_", "degrees_of_freedom_prior_")
    #: The fitted attributes as a model file holds them (fastgmm.engine._schema). Under 'dirichlet_process'
    #: weight_concentration_ is a pair of (K,) arrays (stored as their (2, K) stack);
    #: degrees_of_freedom_ is 0-d for 'tied', covariance_prior_ for 'spherical'. _validate_loaded
    #: takes those forms back. A prior given by the user is float64 whatever X's dtype.
    _schema = mixture_schema(
        *GAUSSIAN_ARRAYS, Array("weight_concentration_"), Array("mean_precision_"), Array("degrees_of_freedom_"),
        Array("mean_prior_", dtype=FLOAT), Array("covariance_prior_", dtype=FLOAT),
        scalars=tuple(Scalar(name, NUMBER) for name in _PRIORS))

    def _validate_loaded(self):
        """Check the fitted attributes after loading (``fastgmm.families._variational.check_loaded``)."""
        check_loaded(self, self._PRIORS)


_NO_CRITERION = ("BayesianGaussianMixture has no {0} (as scikit-learn's): the variational posterior is not a "
                 "point estimate with a parameter count; compare fits by lower_bound_, or use "
                 "fastgmm.GaussianMixture's {0}.")

