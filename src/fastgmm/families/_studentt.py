"""fastgmm.StudentTMixture: the robust mixture of multivariate t distributions.

Peel & McLachlan (2000), "Robust mixture modelling using the t distribution",
Statistics and Computing 10, 339-348. Each component is a multivariate t,

    t(x | mu, Sigma, nu) = Gamma((nu + D) / 2) / (Gamma(nu / 2) (nu pi)^(D/2) |Sigma|^(1/2))
                           (1 + delta / nu)^(-(nu + D) / 2),
    delta = (x - mu)^T Sigma^-1 (x - mu),

a Gaussian scale mixture: given a latent u ~ Gamma(nu / 2, rate nu / 2),
x ~ N(mu, Sigma / u). EM treats the component and u as missing. The E-step
gives the responsibilities r_ik and the expected scale weights

    u_ik = E[u | x_i, k] = (nu_k + D) / (nu_k + delta_ik),

small for a row far from component k (an outlier), and the M-step is a
Gaussian M-step with every row weighted by r_ik u_ik (means and scatter),
except that the covariance divides by sum_i r_ik, not sum_i r_ik u_ik.

Degrees of freedom (this module's choice of the algorithm): EM, with the
update of each nu_k the exact maximiser of the complete-data expectation Q
given the E-step (Peel & McLachlan's eq. 30, their "ECM" step):

    1 - psi(nu / 2) + log(nu / 2) + sum_i r_ik (log u_ik - u_ik) / sum_i r_ik
      + psi((nu_k_old + D) / 2) - log((nu_k_old + D) / 2) = 0,

solved by ``scipy.optimize.brentq`` within ``dof_bounds``. Q separates into
a part in the weights, one in (mu, Sigma) and one in nu, each maximised
exactly, so every iteration is a true EM step and the log-likelihood never
decreases (beyond rounding and the ``reg_covar`` added to the covariances).
The left-hand side decreases in nu, so when it is negative at the lower
bound the maximiser in the bounds is the lower bound, and when it is
positive at the upper bound (data as light-tailed as a Gaussian: Q grows
without bound in nu) it is the upper bound. ECME, which maximises the
observed log-likelihood in nu instead, needs a second pass over the data per
iteration; it converges in fewer iterations but costs twice as much each.

The kernel (``fastgmm.kernels._estep``, mode RESP_STUDENT_T) gets the Mahalanobis distances from one
GEMM on the Gaussian features (coefficients built here), computes the t
terms per (row, component), and the statistics sum r, sum r u f(x) and
sum r (log u - u) by a second GEMM; the M-step runs on those small sums.

Missing values (``nan_policy="marginalize"``, values missing at random).
For a row with observed coordinates o (D_o of them) and missing ones m:

* The marginal of t(mu, Sigma, nu) over o is the t in D_o dimensions with
  (mu_o, Sigma_oo, nu) (x = mu + z / sqrt(u) with z ~ N(0, Sigma); dropping
  coordinates of z keeps the same u). The E-step of the row uses that
  density, delta_o = (x_o - mu_o)^T Sigma_oo^-1 (x_o - mu_o), and u given
  x_o is Gamma((nu + D_o) / 2, rate (nu + delta_o) / 2):
  E[u] = (nu + D_o) / (nu + delta_o), E[log u] = digamma((nu + D_o) / 2)
  - log((nu + delta_o) / 2).
* Given u and x_o, x_m is Gaussian with mean x_hat_m = mu_m + Sigma_mo
  Sigma_oo^-1 (x_o - mu_o), which does not depend on u, and covariance
  C / u, C = Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om. Hence E[u x | x_o] =
  E[u] x_hat and E[u (x - mu)(x - mu)^T | x_o] = E[u] (x_hat - mu)(x_hat -
  mu)^T + C: the r u-weighted statistics complete as the Gaussian ones do
  (``fastgmm.kernels._missing.h``), except that C enters with weight r, not r u.
* The degrees-of-freedom equation needs sum_i r_ik (E[log u_ik] - E[u_ik]).
  With psi_d(nu) = digamma((nu + d) / 2) - log((nu + d) / 2), E[log u] =
  log E[u] + psi_{D_o}(nu). The kernel sums r (log E[u] - E[u]) and adds
  each run's sum r (psi_{D_o}(nu_old) - psi_D(nu_old)), so that h = sum r
  (E[log u] - E[u]) - psi_D(nu_old) sum r and
  :func:`dof_equation`, which adds psi_D(nu_old) once, is exact unchanged
  (complete rows add 0: their h is as before).

So the kernel's missing mode (rows sorted by NaN pattern,
``fastgmm.kernels._missing.h``) turns each row's complete-data distance into
delta_o with its pattern's factor of Lambda_MM, takes the t terms of each
run of rows in their D_o dimensions with the constants a_k (log w_k plus the
D_o-dimensional t normaliser, a table over D_o, less the pattern's 1/2 log
det Lambda_MM) and completes the sums as above. Complete rows keep exactly
:func:`t_coefficients`. A row with no observed value (prediction only) has
the weights as responsibilities, log-likelihood 0 and u = 1.
"""

from typing import NamedTuple

import numpy as np
from scipy import special

from ..engine._base import BaseMixture
from ..engine._schema import (DEGENERATE_COUNTS, DEGENERATE_EVENTS, FLOAT64, GAUSSIAN_ARRAYS, Array,
                              check_loaded_events, mixture_schema)
from ..io._persistence import Persistent
from ..kernels._openmp_helpers import effective_n_threads
from ..utils._threadpool import blas_single_thread
from ..utils._validation import check_bool, check_option, check_random_state
from . import _degenerate, _docs, _gaussian
from . import _gaussian_missing as _missing
from . import _gaussian_online as _online
from ._gaussian_checks import _check_no_overflow, _check_representable, _eps, check_finite_loglik, degenerate_m_step
from ._gaussian_mixture import GaussianMixture
from ._studentt_maths import (DOF_MIN, TStatistics, _check_dof, _check_dof_bounds, m_step, t_estimate,
                              t_missing_estimate, t_missing_statistics, t_statistics)

COV_TYPES = ("full", "diag", "spherical")
DEFAULT_DOF_BOUNDS = (0.1, 1000.0)


class TParams(NamedTuple):
    """A Student-t mixture's parameters, float64."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    degrees_of_freedom: np.ndarray


class StudentTMixture(Persistent, BaseMixture):
    """Mixture of multivariate Student-t distributions fitted by EM: robust clustering.

    Each component is a multivariate t with its own mean, scale matrix and
    degrees of freedom (Peel & McLachlan 2000). Heavy tails make the fit
    robust: rows far from every component get a small latent scale weight u
    and barely move the means and covariances, where a Gaussian mixture is
    pulled towards them. :meth:`scale_weights` returns those weights, so the
    same fit also flags outliers.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {'full', 'diag', 'spherical'}, default='full'
        Shape of each component's scale matrix Sigma_k: a full matrix, a
        diagonal, or a single variance. (The covariance of a t component is
        Sigma_k nu_k / (nu_k - 2) for nu_k > 2; ``covariances_`` holds
        Sigma_k, the scale matrix, as the literature calls it.)
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample changes by less than this.
    reg_covar : float, default=1e-6
        Added to the diagonal of every scale matrix, keeping them positive definite.
    max_iter : int, default=100
        EM iterations per initialisation (0: only initialise).
    n_init : int, default=1
        Number of initialisations; the best (highest lower bound) is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'} or callable, default='kmeans'
        How the initial weights, means and scale matrices are made: exactly as
        :class:`fastgmm.GaussianMixture` makes its initial parameters.
        A callable is called as ``init_params(X, n_components, random_state)``
        with the rows the fit initialises from and returns integer labels
        (n_samples,) or responsibilities (n_samples, n_components) whose rows
        sum to 1; the initial parameters are the M-step on them. A callable
        is code: a saved model stores it as None.
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        Initial inverse scale matrices; shape (n_components,) for
        'spherical', (n_components, n_features) for 'diag',
        (n_components, n_features, n_features) for 'full'.
    dof_init : float or array-like of shape (n_components,), default=10.0
        Initial degrees of freedom nu_k, > 0 (one value for every component,
        or one each). Small values mean heavy tails (nu = 1 is the Cauchy
        distribution); as nu grows a component approaches a Gaussian.
    fix_dof : bool, default=False
        False: every nu_k is estimated by EM, within ``dof_bounds``, and
        counts as a parameter in :meth:`bic` and :meth:`aic`. True: the
        degrees of freedom stay at ``dof_init`` (e.g. a known tail weight,
        or a large value for a nearly Gaussian fit).
    dof_bounds : tuple (low, high), default=(0.1, 1000.0)
        Range of the estimated degrees of freedom, 0 < low < high < inf. The
        update is the maximiser within the range, so on Gaussian-like data
        nu_k stops at ``high``.
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
    block_rows : int or None, default=None
        Rows per block when X is out of core (a ``numpy.memmap``, an h5py or
        zarr dataset): X is then streamed through the kernels block by block.
    on_degenerate : {'raise', 'reinit', 'drop'}, default='raise'
        What ``fit`` does with a degenerate component (singular scale matrix
        after ``reg_covar``, weight sum below 10 float64 epsilons of the total
        weight, or non-finite parameters), as in
        :class:`fastgmm.GaussianMixture`: 'raise' a ValueError for a singular
        scale matrix (an empty component is kept), 'reinit' the component at
        the worst-explained row (under the others; scale matrix and degrees
        of freedom their weighted means), or 'drop' it.
    {engine_parameters}

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Scale matrices Sigma_k (shape by ``covariance_type``, as in
        :class:`fastgmm.GaussianMixture`).
    precisions_ : ndarray
        Their inverses.
    precisions_cholesky_ : ndarray
        Upper-triangular U_k with Sigma_k^-1 = U_k U_k^T (full), or
        1/sqrt(Sigma_k) (diag, spherical).
    degrees_of_freedom_ : ndarray of shape (n_components,)
        nu_k, float64 for either dtype of X.
    converged_ : bool
    n_iter_ : int
        EM iterations of the best initialisation.
    lower_bound_ : numpy scalar of X's dtype
        Mean log-likelihood per sample (weighted by ``sample_weight``) of the
        best initialisation, under the parameters before its last M-step.
    lower_bounds_ : list of numpy scalars
        Its history, one entry per iteration.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.
    degenerate_events_ : list of tuple
        ``(iteration, component, reason, action)`` per degenerate component
        of the best run, as in :class:`fastgmm.GaussianMixture`.
    n_reinit_ : int
    n_dropped_ : int
        Re-seeds and dropped components among the events.
    n_omitted_ : int
        Rows dropped for holding a NaN (``nan_policy='omit'``; else 0).
    n_samples_seen_ : float
        Total sample weight the model has seen (``fit`` and :meth:`partial_fit`).

    Notes
    -----
    The fit is EM in the sense of Peel & McLachlan's "ECM" algorithm: the
    E-step gives r_ik and u_ik under the current parameters; the M-step
    maximises the expected complete-data log-likelihood exactly, the
    degrees of freedom by a 1-D root find (``scipy.optimize.brentq``) per
    component. So ``lower_bounds_`` never decreases (beyond rounding and the
    effect of ``reg_covar``). ECME, which maximises the observed
    log-likelihood in nu, would need a second pass over the data per
    iteration and is not used.

    ``X`` stays float32 when it is (the parameters are then float32); every
    computation after reading X is float64. NaN in X is an error unless
    ``nan_policy='omit'`` (rows with NaN dropped) or ``'marginalize'``: then
    EM is exact for values missing at random. A row's E-step uses the t
    marginal of its observed values (a t in their dimension, same nu), and
    the M-step their conditional expectations and covariances, as
    :class:`fastgmm.GaussianMixture` does (see
    ``fastgmm.families._studentt``). ``predict``, ``predict_proba``,
    ``score_samples``, ``score`` and :meth:`scale_weights` then accept NaNs;
    a row with every value missing gets the weights as its responsibilities
    and log-likelihood 0 (in ``fit`` it is an error).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import StudentTMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (500, 2)), rng.normal(6, 1, (500, 2)), [[30.0, -30.0]]])
    >>> tm = StudentTMixture(n_components=2, random_state=0).fit(X)
    >>> u = tm.scale_weights(X)
    >>> int(np.argmin(u))        # the planted outlier has the smallest weight
    1000
    """

    #: The fitted attributes as a model file holds them (fastgmm.engine._schema); degrees_of_freedom_ is
    #: float64 whatever X's dtype.
    _schema = mixture_schema(*GAUSSIAN_ARRAYS, Array("degrees_of_freedom_", dtype=FLOAT64),
                             scalars=DEGENERATE_EVENTS, derived=DEGENERATE_COUNTS)

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
        dof_init=10.0,
        fix_dof=False,
        dof_bounds=DEFAULT_DOF_BOUNDS,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        block_rows=None,
        on_degenerate="raise",
        nan_policy="raise",
        callback=None,
        progress=False,
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
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.dof_init = dof_init
        self.fix_dof = fix_dof
        self.dof_bounds = dof_bounds
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.block_rows = block_rows
        self.on_degenerate = on_degenerate
        self.nan_policy = nan_policy
        self.callback = callback
        self.progress = progress
        self.online_decay = online_decay
        self.online_offset = online_offset
        self.frozen = frozen

    _FROZEN = {"weights": ("weights",), "means": ("means",),
               "covariances": ("covariances", "precisions_cholesky"),
               "degrees_of_freedom": ("degrees_of_freedom",)}
    _Params = TParams
    _MARGINALIZE = True

    # ------------------------------------------------------------------
    # Family hooks (see fastgmm.engine._base.BaseMixture)
    # ------------------------------------------------------------------
    def _check_parameters(self, X):
        """Validate the parameters; return the checked ``*_init`` arrays and the initial dof (K,)."""
        name = type(self).__name__
        check_option(self.covariance_type, "covariance_type", set(COV_TYPES), estimator_name=name,
                     detail="('tied' is not offered for the Student-t mixture.)")
        check_bool(self.fix_dof, "fix_dof", estimator_name=name)
        _check_dof_bounds(self.dof_bounds, name)
        dof = _check_dof(self.dof_init, self.n_components, name)
        # The Gaussian checks of reg_covar, init_params, block_rows and the
        # *_init arrays, on this estimator's attributes (the same names).
        w, m, p = GaussianMixture._check_parameters(self, X)
        return w, m, p, dof

    def _initialize_parameters(self, X, sample_weight, random_state, init, n_threads, missing=None):
        """Initial (weights, means, scale matrices, their precision factors, dof).

        The first four exactly as :class:`fastgmm.GaussianMixture` initialises
        (from the same ``random_state``; with missing values from the same
        rows), the degrees of freedom from ``dof_init``.
        """
        w, m, p, dof = init
        return GaussianMixture._initialize_parameters(self, X, sample_weight, random_state, (w, m, p), n_threads,
                                                      missing=missing, extra=(dof.copy(),))

    def _statistics(self, X, sample_weight, params, n_threads, missing=None):
        """One fused pass over an in-memory block: a :class:`TStatistics`; with ``missing`` (rows
        grouped by NaN pattern) the exact statistics of the observed values (:func:`t_missing_statistics`)."""
        if missing is not None:
            return t_missing_statistics(X, missing, *params, self.covariance_type, n_threads,
                                        sample_weight=sample_weight)
        return t_statistics(X, params.weights, params.means, params.precisions_cholesky, params.degrees_of_freedom,
                            self.covariance_type, n_threads, sample_weight=sample_weight)

    def _m_step(self, stats, params, data):
        """The new parameters (Peel & McLachlan's M-step, ``on_degenerate`` applied)."""
        check_finite_loglik(stats, self.reg_covar)
        X = data.X
        bounds = _check_dof_bounds(self.dof_bounds, type(self).__name__)
        fixed = params.means if "means" in self._frozen_fields else None
        weights, means, cov, dof = m_step(stats, params.degrees_of_freedom, self.reg_covar, _eps(X),
                                          fix_dof=self.fix_dof, dof_bounds=bounds, means=fixed)
        if self.on_degenerate != "raise":
            return TParams(*degenerate_m_step(self, X, data.sample_weight, (weights, means, cov), (dof,), stats.nk,
                                              stats.weight, data.n_threads,
                                              self._row_ll_function(X, data.n_threads, data.missing)))
        _check_no_overflow(means, cov, X)
        pc = _gaussian.precision_cholesky(cov, self.covariance_type, reg_covar=self.reg_covar,
                                          float32=X.dtype == np.float32)
        return TParams(weights, means, cov, pc, dof)

    def _lower_bound(self, stats, new_params):
        return stats.loglik / stats.weight

    def _statistics_from_parameters(self, params):
        """Statistics of total weight 1 whose M-step gives back ``params``.

        Every row's expected scale weight is taken as 1 (sum r u = sum r):
        the u-weighted Gaussian statistics are those of (weights, means,
        scale matrices), and sum r (log u - u) is the value at which the
        degrees-of-freedom equation has its root at the current nu.
        """
        w, m, cov, _, dof = params
        D = m.shape[1]
        u_stats = _online.statistics_from_parameters(w, m, cov, self.covariance_type, self.reg_covar,
                                                     _gaussian.mixture_shift(w, m))
        nk = u_stats.nk.copy()
        half = 0.5 * (dof + D)
        root = 1.0 - special.digamma(0.5 * dof) + np.log(0.5 * dof) + special.digamma(half) - np.log(half)
        return TStatistics(u_stats, nk, -root * nk)

    def _row_ll_function(self, X, n_threads, missing):
        """row_ll(weights, means, cov, pc, (dof,)): per-row log-likelihoods (the re-seed of on_degenerate)."""
        cov_type = self.covariance_type

        def row_ll(w, m, cov, pc, extra):
            if missing is not None:
                return t_missing_estimate(X, missing, w, m, cov, pc, extra[0], cov_type, n_threads, row_ll=True)[0]
            return t_estimate(X, w, m, pc, extra[0], cov_type, n_threads, row_ll=True)[0]
        return row_ll

    def _get_parameters(self):
        """The fitted parameters, from the public attributes, in float64."""
        return TParams(*(np.asarray(a, dtype=np.float64) for a in (
            self.weights_, self.means_, self.covariances_, self.precisions_cholesky_, self.degrees_of_freedom_)))

    def _set_parameters(self, params, dtype):
        w, m, cov, pc, dof = params
        prec = _gaussian.precisions_from_cholesky(pc, self.covariance_type)
        _check_representable(
            {"means_": m, "covariances_": cov, "precisions_cholesky_": pc, "precisions_": prec}, dtype
        )
        self.weights_ = np.asarray(w, dtype=dtype)
        self.means_ = np.asarray(m, dtype=dtype)
        self.covariances_ = np.asarray(cov, dtype=dtype)
        self.precisions_cholesky_ = np.asarray(pc, dtype=dtype)
        self.precisions_ = np.asarray(prec, dtype=dtype)
        # float64 whatever X's dtype: a scalar per component, and the root
        # finder's answer should not be rounded to float32.
        self.degrees_of_freedom_ = np.asarray(dof, dtype=np.float64)

    def _estimate(self, X, n_threads, **outputs):
        return self._estimate_t(X, n_threads, **outputs)[:4]

    def _estimate_t(self, X, n_threads, **outputs):
        """:func:`t_estimate` under the fitted attributes; rows with NaN (``nan_policy='marginalize'``)
        from the t marginal of their observed values (:func:`t_missing_estimate`)."""
        if self._nan_policy() == "marginalize" and _missing.has_nan(X):
            return t_missing_estimate(X, _missing.group_patterns(X), *self._get_parameters(), self.covariance_type,
                                      n_threads, **outputs)
        return t_estimate(X, self.weights_, self.means_, self.precisions_cholesky_, self.degrees_of_freedom_,
                          self.covariance_type, n_threads, **outputs)

    def _n_parameters(self):
        n_fitted, n_features = self.means_.shape     # fewer than n_components after on_degenerate='drop'
        n = _gaussian.n_parameters(self.covariance_type, n_fitted, n_features)
        return n if self.fix_dof else n + n_fitted

    def _set_events(self, events):
        _degenerate.set_fitted_events(self, events)

    # ------------------------------------------------------------------
    # Outliers
    # ------------------------------------------------------------------
    def scale_weights(self, X, per_component=False):
        """Expected latent scale weight u of each row given x: small u flags an outlier.

        Under component k, ``u_ik = E[u | x_i, k] = (nu_k + D) / (nu_k +
        delta_ik)`` with delta_ik the Mahalanobis distance of x_i to the
        component. It is the weight an M-step gives the row in component k's
        mean and scatter: near 1 (or above) for a typical row, towards 0 for
        a row far from the component. The mixture's weight of a row is
        ``sum_k r_ik u_ik`` with the responsibilities r (the default). With
        ``nan_policy='marginalize'`` a row with NaNs gets ``(nu_k + D_o) /
        (nu_k + delta_o)`` from its D_o observed values (1 when none is). A
        cut-off with a meaning: under component k, delta_ik / D follows an
        F(D, nu_k) distribution, so ``u_ik < (nu_k + D) / (nu_k + D *
        scipy.stats.f.ppf(0.999, D, nu_k))`` flags a row at the 0.1 % level.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        per_component : bool, default=False
            False: ``sum_k r_ik u_ik``, shape (n_samples,). True: every
            ``u_ik``, shape (n_samples, n_components).

        Returns
        -------
        u : ndarray of X's dtype
        """
        check_bool(per_component, "per_component", estimator_name=type(self).__name__)
        X = self._prepare_X(X)
        if not isinstance(X, np.ndarray):
            X = X[0:X.shape[0]]
        with blas_single_thread():
            out = self._estimate_t(X, effective_n_threads(self.n_threads), u=per_component, u_mix=not per_component)
        return out[4] if per_component else out[5]

    # ------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------
    def sample(self, n_samples=1):
        """Draw ``n_samples`` rows from the fitted mixture, and the component of each.

        A row of component k is ``mu_k + z / sqrt(g)`` with z ~ N(0, Sigma_k)
        and g ~ Gamma(nu_k / 2, rate nu_k / 2) (chi-square over nu_k), drawn
        from ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        """
        self._check_is_fitted()
        if not (isinstance(n_samples, (int, np.integer)) and not isinstance(n_samples, bool) and n_samples >= 1):
            raise ValueError(f"Invalid value for 'n_samples': {n_samples} . The sampling requires at least one "
                             "sample.")
        _, D = self.means_.shape
        rng = check_random_state(self.random_state)
        n_per = rng.multinomial(n_samples, self.weights_.astype(np.float64) / self.weights_.sum())
        parts = []
        for mean, cov, nu, s in zip(self.means_, self.covariances_, self.degrees_of_freedom_, n_per):
            s = int(s)
            if self.covariance_type == "full":
                z = rng.multivariate_normal(np.zeros(D), cov, s)
            else:
                z = rng.standard_normal(size=(s, D)) * np.sqrt(cov)
            g = rng.gamma(nu / 2.0, 2.0 / nu, size=s)
            parts.append(mean + z / np.sqrt(g)[:, None])
        y = np.concatenate([np.full(int(s), j, dtype=int) for j, s in enumerate(n_per)])
        return np.vstack(parts), y

    # ------------------------------------------------------------------
    # Persistence (the lead's loader sets the attributes, then calls this)
    # ------------------------------------------------------------------
    def _validate_loaded(self):
        """Raise ValueError naming the problem when the fitted attributes are inconsistent."""
        cov_type = self.covariance_type
        if cov_type not in COV_TYPES:
            raise ValueError(f"covariance_type {cov_type!r} is not one of {COV_TYPES}.")
        K = int(np.shape(self.weights_)[0]) if np.ndim(self.weights_) == 1 else self.n_components
        check_loaded_events(self, K)
        D = int(self.n_features_in_)
        shapes = {
            "weights_": (K,), "means_": (K, D), "degrees_of_freedom_": (K,),
            "covariances_": {"full": (K, D, D), "diag": (K, D), "spherical": (K,)}[cov_type],
        }
        shapes["precisions_"] = shapes["precisions_cholesky_"] = shapes["covariances_"]
        for name, shape in shapes.items():
            a = np.asarray(getattr(self, name))
            if a.shape != shape:
                raise ValueError(f"{name} has shape {a.shape}, expected {shape} (n_components={K}, "
                                 f"n_features_in_={D}, covariance_type={cov_type!r}).")
            if a.dtype.kind != "f":
                raise ValueError(f"{name} must hold floats, not {a.dtype}.")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} contains NaN or infinity.")
        w = np.asarray(self.weights_, dtype=np.float64)
        if np.any(w < 0) or np.any(w > 1) or abs(w.sum() - 1) > 1e-5:
            raise ValueError(f"weights_ must lie in [0, 1] and sum to 1 (sum {w.sum():.6g}).")
        if np.any(np.asarray(self.degrees_of_freedom_) < DOF_MIN):
            raise ValueError(f"degrees_of_freedom_ must be > 0 (at least {DOF_MIN:.3g}, the smallest normal float).")
        pc = np.asarray(self.precisions_cholesky_, dtype=np.float64)
        if cov_type == "full":
            diag = np.diagonal(pc, axis1=1, axis2=2)
            if np.any(np.tril(pc, -1) != 0) or np.any(diag <= 0):
                raise ValueError("precisions_cholesky_ must be upper triangular with a positive diagonal.")
        elif np.any(pc <= 0):
            raise ValueError("precisions_cholesky_ must be positive.")
        with np.errstate(over="ignore", invalid="ignore"):   # a huge altered factor: inf, refused below
            prec = _gaussian.precisions_from_cholesky(pc, cov_type)
        if not (np.all(np.isfinite(prec))
                and np.allclose(prec, np.asarray(self.precisions_, dtype=np.float64), rtol=1e-4,
                                atol=1e-6 * float(np.max(np.abs(prec))))):
            raise ValueError("precisions_ does not match precisions_cholesky_.")
        cov = np.asarray(self.covariances_, dtype=np.float64)
        if cov_type == "full":
            ident = np.einsum("kij,kjl->kil", cov, prec)
            ok = np.allclose(ident, np.eye(D)[None], atol=1e-3)
        else:
            ok = np.allclose(cov * prec, 1.0, rtol=1e-3)
        if not ok:
            raise ValueError("covariances_ is not the inverse of precisions_.")


StudentTMixture.__doc__ = StudentTMixture.__doc__.replace("{engine_parameters}",
                                                          _docs.engine_parameters(StudentTMixture))
