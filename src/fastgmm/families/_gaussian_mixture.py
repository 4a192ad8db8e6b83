"""fastgmm.GaussianMixture: scikit-learn's GaussianMixture on fused compiled kernels.

Only what is Gaussian-specific lives here: the constructor parameters and
their checks, initialisation, one EM pass (kernel statistics + M-step), the
fitted attributes, sampling and the parameter count. The EM loop and the
prediction methods are in ``fastgmm.engine._base.BaseMixture``; the parameter maths in
``_gaussian``.
"""

import warnings

import numpy as np

from ..engine._base import BaseMixture
from ..engine._custom_init import initial_assignment, is_custom
from ..engine._schema import (DEGENERATE_COUNTS, DEGENERATE_EVENTS, GAUSSIAN_ARRAYS, NOISE_SCALARS,
                              mixture_schema)
from ..io._persistence import Persistent
from ..kernels._openmp_helpers import effective_n_threads
from ..sources._blocks import init_sample_rows
from ..utils._threadpool import blas_single_thread
from ..utils._validation import ConvergenceWarning, check_option, check_random_state, check_scalar, sklearn_compatible
from . import _degenerate, _gaussian
from . import _gaussian_missing as _missing
from . import _gaussian_online as _online
from ._gaussian import MODEL_NAMES, GaussianParams
from ._gaussian_checks import (_as_float_param, check_loaded, _check_degenerate_policy, _check_finite_param, _check_no_overflow,
                               _check_representable, _check_shape, _eps, _nearly_identical_pair, check_finite_loglik,
                               degenerate_m_step)
from ._gaussian_init import INIT_PARAMS, initial_statistics, initialisation_rows
from ._gaussian_passes import gaussian_estimate, gaussian_statistics
from ._gaussian_runner import initial_parameters, runner_for
from ._gaussian_parts import MclustPartsMixin
from ._gaussian_prior import PriorMixin
from ._noise import NoiseMixin, NoiseParams, m_step_weights, sample_noise
from ._noise import n_parameters as noise_n_parameters


class GaussianMixture(NoiseMixin, PriorMixin, MclustPartsMixin, Persistent, BaseMixture):
    """Gaussian mixture model fitted by EM, a drop-in for ``sklearn.mixture.GaussianMixture``.

    Same parameters, attributes and results as scikit-learn's estimator (from
    the same initial parameters the fitted parameters agree to rounding), with
    the E-step and the sufficient statistics computed in one fused, chunked,
    multi-threaded pass over the data per iteration.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : str, default='full'
        scikit-learn's four: 'full': each component has its own covariance
        matrix; 'tied': all share one; 'diag': each has a diagonal covariance;
        'spherical': each has a single variance. Or one of R mclust's fourteen
        models (Celeux & Govaert's Sigma_k = lambda_k D_k A_k D_k^T: volume
        lambda, shape A, orientation D, each Equal across components, Variable,
        or the Identity): 'EII', 'VII', 'EEI', 'VEI', 'EVI', 'VVI', 'EEE',
        'VEE', 'EVE', 'VVE', 'EEV', 'VEV', 'EVV', 'VVV', fitted with mclust's
        M-steps and counted as mclust counts their parameters (so ``bic`` is
        minus mclust's BIC). 'VII', 'VVI', 'EEE' and 'VVV' are 'spherical',
        'diag', 'tied' and 'full'. Each model keeps the arrays of its
        scikit-learn layout: ``covariances_`` has shape (n_components,) for
        EII and VII (the variances), (n_components, n_features) for EEI, VEI,
        EVI and VVI (the diagonals), (n_features, n_features) for EEE (the
        shared matrix) and (n_components, n_features, n_features) for the
        other seven; ``precisions_init`` takes the same shapes. mclust's
        parts are the properties ``volumes_``, ``shapes_`` and
        ``orientations_``.
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample changes by less than this.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, keeping them positive definite.
    max_iter : int, default=100
        EM iterations per initialisation (0: only initialise).
    n_init : int, default=1
        Number of initialisations; the best (highest lower bound) is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'hc'} or callable, default='kmeans'
        How responsibilities are initialised: k-means labels; k-means++ seeds
        as single-point components; random responsibilities; random rows as
        single-point components; 'hc': mclust's start, model-based
        hierarchical clustering (mclust's ``hc`` with its defaults: the VVV
        criterion on the data centred, scaled and rotated onto its singular
        vectors; V for one column) cut at ``n_components`` (above 2,000 rows
        the tree is built on a random subset of 2,000 and every row starts
        from the E-step of the subset partition's M-step, as mclust does).
        A callable is called as ``init_params(X, n_components, random_state)``
        with the rows the fit initialises from and returns integer labels
        (n_samples,) or responsibilities (n_samples, n_components) whose rows
        sum to 1; the initial parameters are the M-step on them. A callable
        is code: a saved model stores it as None.
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
    nan_policy : {'raise', 'omit', 'marginalize'}, default='raise'
        What NaN in X means (infinity is always an error). 'raise': an error
        saying how many NaNs there are and where. 'omit': rows with a NaN are
        dropped for fitting (``n_omitted_`` counts them; predicting on such
        rows raises). 'marginalize': NaNs are values missing at random, and
        EM is exact for them: each row's E-step uses the marginal density of
        its observed coordinates, the M-step the conditional expectations of
        the missing ones and their conditional covariances. ``predict``,
        ``predict_proba``, ``score_samples``, ``score`` and :meth:`impute`
        then accept NaNs (a row with every value missing gets the weights as
        its responsibilities and log-likelihood 0; in ``fit`` such a row is
        an error). Initialisation uses the rows without NaN when there are at
        least ``max(10 * n_components, n_features + 1)`` of them (with
        positive weight), else X with each NaN replaced by its column's mean.
    callback : callable or None, default=None
        Called after every EM iteration as ``callback(iteration, lower_bound,
        model)``: ``iteration`` counts from 1 in each initialisation,
        ``lower_bound`` is that iteration's entry of ``lower_bounds_`` (under
        the parameters before its M-step, scikit-learn's definition), and
        ``model`` is this estimator with ``weights_``, ``means_``,
        ``covariances_``, ``precisions_`` and ``precisions_cholesky_`` set to
        the parameters after the iteration's M-step, ``n_iter_`` to
        ``iteration`` and ``lower_bound_`` to ``lower_bound``, so it can
        ``predict``, ``score`` or be plotted (``converged_`` is False and
        ``lower_bounds_`` is not updated until the fit ends). Setting the
        attributes costs one conversion of the parameters per iteration, only
        when a callback is given. Returning True stops the fit: no further
        iterations or initialisations, the best run so far is kept (the
        stopped one included), ``converged_`` is False and no
        ConvergenceWarning is issued. The callback must not change the
        estimator's parameters; after ``fit`` the attributes are those of the
        best run, as without a callback.
    progress : bool, default=False
        Show a tqdm progress bar over ``n_init x max_iter`` iterations (a run
        that converges early jumps to the end of its share). Needs tqdm;
        without it, a warning and no bar.
    block_rows : int or None, default=None
        Rows per block when X is out of core (a ``numpy.memmap``, an h5py or
        zarr dataset, any 2-D array-like that is not an ndarray): X is then
        streamed through the kernels block by block, never copied whole.
        None: as many rows as fit in 32 MiB of float64. Ignored for an
        in-memory ndarray, and for Dask arrays (their chunks are the blocks).
    online_decay : float in (0.5, 1], default=0.7
    online_offset : float >= 1, default=2
        :meth:`partial_fit` weighs a batch of total weight b by
        ``(b / (n_samples_seen_ + online_offset * b)) ** online_decay``: a
        small batch after a large fit moves the model little, and for equal
        batches from scratch the t-th step is ``(t + online_offset) **
        -online_decay`` (Cappe & Moulines 2009, Liang & Klein 2009).
        Smaller decay: the model follows recent batches more.
    on_degenerate : {'raise', 'reinit', 'drop'}, default='raise'
        What ``fit`` does when, after an M-step, a component is degenerate:
        its covariance is not positive definite after ``reg_covar``
        ("singular"), its weight sum n_k is below 10 float64 epsilons of the
        total sample weight ("empty"), or its parameters are not finite
        ("non-finite"). 'raise' (the default, scikit-learn's behaviour): a
        singular covariance is a ValueError naming the remedies, an empty
        component is kept. 'reinit': the component is re-seeded at the row
        with the lowest log-likelihood under the other components (one extra
        E-step pass, only then), with their weighted mean covariance and a
        small weight, and EM continues (when no component is healthy, every
        degenerate covariance becomes the data's per-feature variance / K);
        the lower bound may drop at the
        iteration after a re-seed (``degenerate_events_`` says which), and
        between events it never decreases beyond rounding. A run re-seeds in
        at most 5 iterations: components that degenerate after that are dropped
        (recorded as 'drop'), because a component that keeps collapsing
        (e.g. onto exactly repeated rows with ``reg_covar=0``, where the
        likelihood has no finite maximum) would otherwise cycle until
        ``max_iter``. 'drop': the
        component is removed and EM continues with the others, so the fitted
        arrays have ``len(weights_) < n_components`` rows (``n_components``
        stays the parameter; every method works with the fitted count).
        When every component is degenerate at once under 'drop', or a 'tied'
        covariance is singular (no single component is to blame) under any
        policy, fitting raises a ValueError. ``partial_fit`` applies the policy to
        the initial parameters of its first batch only. Fitting an out-of-core or Dask X with 'reinit' is a
        TypeError (the re-seed reads rows of X).
    frozen : tuple of str or None, default=None
        Parameters that stay at their initial values (from ``*_init`` or the
        initialisation, bitwise) while the others are fitted: any of
        'weights', 'means', 'covariances'. With frozen means the covariances
        are the M-step's scatter about them.
    noise : None, 'auto' or array-like of bool of shape (n_samples,), default=None
        R mclust's noise component: a uniform density 1/V with its own
        proportion, for scattered rows of no cluster (None: none). A boolean
        array marks the rows of X that start as noise (mclust's
        ``initialization$noise``; the Gaussians start from the other rows,
        and ``weights_init`` then sums to 1 over the Gaussians); 'auto'
        guesses them from 10th-nearest-neighbour distances (Byers & Raftery's
        NNclean, on 20,000 random rows beyond that). ``predict`` gives -1 for
        noise, ``predict_proba`` has it last, ``score_samples`` includes 1/V
        everywhere, ``bic``/``aic`` count 2 more parameters (mclust's count).
        In-memory X, ``on_degenerate='raise'``, no NaN under 'marginalize',
        no ``partial_fit``.
    noise_volume : float > 0 or None, default=None
        V. None: mclust's ``hypvol`` of the rows of positive weight (the
        smaller volume of their box and of their principal scores' box).
    prior : None, 'default' or dict, default=None
        A conjugate prior on the means and covariances, for MAP estimation
        (mclust's ``priorControl()``): 'default' is mclust's
        ``defaultPrior`` (Fraley & Raftery 2007: shrinkage 0.01 towards the
        data's mean, dof D + 2, scale var(X) / K^(2/D)); a dict overrides any
        of its 'shrinkage', 'mean', 'dof', 'scale'. The M-steps are mclust's
        EM's, so fits and ``bic`` (the log-likelihood at the MAP estimate)
        agree with ``Mclust(X, prior = priorControl())``; ``lower_bound_``
        is that log-likelihood, which the MAP iteration need not increase.
        mclust's ten models with a prior: EII, VII, EEI, VEI, EVI, VVI, EEE,
        EEV, VEV, VVV and scikit-learn's four; in-memory X, no frozen means.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray (shape depends on ``covariance_type``)
    volumes_, shapes_, orientations_ : ndarray (properties)
        mclust's decomposition of the covariances, Sigma_k = lambda_k D_k A_k
        D_k^T: the volumes lambda_k (n_components,), the shapes (the diagonal
        of A_k, determinant 1; (n_components, n_features)) and the
        orientations D_k (n_components, n_features, n_features; eigenvectors
        as columns, in the order of the shape's entries, largest first),
        for every covariance type. Computed from ``covariances_`` on access.
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
        Upper-triangular factors U with precision = U U^T (full, tied), or
        1/sigma (diag, spherical).
    converged_ : bool
    n_iter_ : int
        EM iterations of the best initialisation.
    lower_bound_ : numpy scalar of X's dtype
        Mean log-likelihood per sample (weighted by ``sample_weight``) of the
        best initialisation, under the parameters before its last M-step
        (scikit-learn's definition).
    lower_bounds_ : list of numpy scalars
        Its history, one entry per iteration.
    n_omitted_ : int
        Rows dropped from the fit for holding a NaN (``nan_policy='omit'``; else 0).
    n_samples_seen_ : float
        Total sample weight the model has seen (``fit``'s rows, plus every
        :meth:`partial_fit` batch since): the online step's denominator.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.
    degenerate_events_ : list of tuple
        One ``(iteration, component, reason, action)`` per degenerate
        component met by the best initialisation's run (see
        ``on_degenerate``): ``iteration`` counts from 1 as ``lower_bounds_``
        does (the event follows that iteration's M-step, so the change shows
        in the next entry), ``component`` is its index at that moment (before
        a drop), ``reason`` is 'singular', 'empty' or 'non-finite', and
        ``action`` 'reinit' or 'drop'. Empty under 'raise'. Reset by every fit.
    n_reinit_ : int
        Number of re-seeds in ``degenerate_events_``.
    n_dropped_ : int
        Number of components dropped (``n_components - len(weights_)``).
    noise_weight_, noise_volume_, noise_bounds_ : float, float, ndarray (2, n_features)
        With ``noise``: its proportion (``weights_`` sums to 1 - it), V, and
        the fitted rows' bounding box, where :meth:`sample` draws noise rows.

    Notes
    -----
    Interrupting ``fit`` (Ctrl-C, KeyboardInterrupt) takes effect between
    two calls into the compiled kernels: a large pass runs as several calls
    over ranges of whole slots (or, with missing values, of whole pattern
    segments) of about 0.1 s each, with bitwise the same result, so the stop
    comes within a fraction of a second (k-means passes and Dask
    computations are not split). The estimator is then left at its last complete
    iteration, never half-updated: the best of the finished runs and the
    interrupted run as of its last complete iteration (by lower bound),
    with ``n_iter_``, ``lower_bound_`` and ``lower_bounds_`` of that run and
    ``converged_`` False. A :class:`FitInterruptedWarning` says so, and the
    KeyboardInterrupt is re-raised. It can then predict, or continue with
    ``warm_start=True``. Interrupted before any iteration completed, the
    estimator is not fitted (or keeps an earlier fit).

    ``X`` stays in its dtype when float32 (the parameters are then float32),
    otherwise it is converted to float64. Every computation after reading X
    is float64 (the E-step and the statistics), so a float32 model's
    log-densities, responsibilities and lower bound are accurate to float32
    rounding of its parameters however far apart its components lie.

    ``fit``, ``fit_predict``, ``score``, ``bic`` and ``aic`` take
    ``sample_weight`` (scikit-learn's GaussianMixture has none).
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
        nan_policy="raise",
        callback=None,
        progress=False,
        block_rows=None,
        online_decay=0.7,
        online_offset=2.0,
        on_degenerate="raise",
        frozen=None,
        noise=None,
        noise_volume=None,
        prior=None,
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
        self.nan_policy = nan_policy
        self.callback = callback
        self.progress = progress
        self.block_rows = block_rows
        self.online_decay = online_decay
        self.online_offset = online_offset
        self.on_degenerate = on_degenerate
        self.frozen = frozen
        self.noise = noise
        self.noise_volume = noise_volume
        self.prior = prior

    _MARGINALIZE = True

    @property
    def _layout(self):
        """The scikit-learn covariance type whose kernel, statistics and array shapes ``covariance_type`` uses."""
        return _gaussian.layout(self.covariance_type)
    _FROZEN = {"weights": ("weights",), "means": ("means",),
               "covariances": ("covariances", "precisions_cholesky")}
    _Params = GaussianParams
    #: The fitted attributes as a model file holds them (fastgmm.engine._schema, fastgmm.io._persistence).
    _schema = mixture_schema(*GAUSSIAN_ARRAYS, scalars=DEGENERATE_EVENTS + NOISE_SCALARS, derived=DEGENERATE_COUNTS)

    # ------------------------------------------------------------------
    # Family hooks (see fastgmm.engine._base.BaseMixture)
    # ------------------------------------------------------------------
    def _check_parameters(self, X):
        """Validate the Gaussian parameters; return float64 copies of the ``*_init`` arrays."""
        name = type(self).__name__
        check_option(self.covariance_type, "covariance_type", set(MODEL_NAMES), estimator_name=name)
        check_scalar(self.reg_covar, "reg_covar", "real", low=0, estimator_name=name)
        if not is_custom(self.init_params):
            check_option(self.init_params, "init_params", set(INIT_PARAMS), estimator_name=name)
        check_scalar(self.block_rows, "block_rows", "int", low=1, allow_none=True, estimator_name=name)
        _check_degenerate_policy(self, X)
        if isinstance(self, NoiseMixin):     # (StudentTMixture calls this function too)
            self._check_noise(X)
            self._check_prior(X)
        n_features, dtype = X.shape[1], X.dtype
        K = self.n_components
        w = m = p = None
        if self.weights_init is not None:
            w = _as_float_param(self.weights_init, "weights_init")
            _check_shape(w, (K,), "weights", "weights_init")
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
            _check_shape(m, (K, n_features), "means", "means_init")
            _check_finite_param(m, "means_init")
        if self.precisions_init is not None:
            p = _as_float_param(self.precisions_init, "precisions_init")
            lay = _gaussian.layout(self.covariance_type)
            shape = {
                "spherical": (K,),
                "tied": (n_features, n_features),
                "diag": (K, n_features),
                "full": (K, n_features, n_features),
            }[lay]
            _check_shape(p, shape, f"{lay} precision", "precisions_init")
            _check_finite_param(p, "precisions_init")
            _gaussian.check_precisions(p, lay)
        return w, m, p

    def _initialize_parameters(self, X, sample_weight, random_state, init, n_threads, missing=None, extra=()):
        """Initial parameters (:meth:`_initialize_gaussian`; with a noise component, on the rows that do not
        start as noise, ``fastgmm.families._noise.NoiseMixin._with_noise``)."""
        def initialise(X, sample_weight):
            return GaussianMixture._initialize_gaussian(self, X, sample_weight, random_state, init, n_threads,
                                                        missing, extra)
        if not isinstance(self, NoiseMixin):
            return initialise(X, sample_weight)
        return self._with_noise(X, sample_weight, random_state, n_threads, initialise)

    def _initialize_gaussian(self, X, sample_weight, random_state, init, n_threads, missing=None, extra=()):
        """Initial (weights, means, covariances, precisions_cholesky) as scikit-learn makes them.

        With missing values, from the rows without NaN or from X with NaNs
        filled by column means (``fastgmm.families._gaussian_init.initialisation_rows``).
        ``extra``: further per-component arrays (K,) appended to the result
        (the Student-t degrees of freedom), so that ``on_degenerate`` applied
        to the initial parameters (events at iteration 0) keeps them aligned.
        """
        w_init, m_init, p_init = init
        cov_type = _gaussian.layout(self.covariance_type)
        float32 = X.dtype == np.float32
        cov = weights = means = None
        if w_init is None or m_init is None or p_init is None:
            in_memory = isinstance(X, np.ndarray)     # not a source's sample, whose runner would fit the sample
            if not in_memory:
                # Out of core / Dask: initialise on a bounded uniform sample of
                # the rows (fastgmm.sources._blocks.init_sample_rows), in memory.
                X, sample_weight = X.sample(init_sample_rows(X.shape[1], getattr(X, "block_rows", 0)),
                                            random_state, sample_weight)
                if self._nan_policy() == "marginalize" and _missing.has_nan(X):
                    missing = _missing.group_patterns(X)
            if missing is not None:
                X, sample_weight = initialisation_rows(X, sample_weight, missing, self.n_components)
            assignment = None
            if w_init is None and m_init is None and p_init is None and not extra and is_custom(self.init_params):
                # A callable's labels: the compiled step's statistics and M-step where the fit is plain
                # (fastgmm.families._gaussian_runner; the same bits).
                assignment = initial_assignment(self.init_params, X, self.n_components, random_state,
                                                "the estimator")
                if in_memory and missing is None and GaussianMixture._own_iteration(self):
                    params = initial_parameters(self, X, sample_weight, assignment, n_threads)
                    if params is not None:
                        return params
            # Data too large to square overflows here; _check_no_overflow
            # reports it as a ValueError instead of numpy's warnings.
            with np.errstate(over="ignore", invalid="ignore"):
                stats = initial_statistics(X, sample_weight, self.init_params, cov_type, self.n_components,
                                           random_state, n_threads, assignment)
                nk_eps, means, cov = _gaussian.model_m_step(stats, self.covariance_type, self.reg_covar, _eps(X),
                                                            prior=GaussianMixture._prior_of(self, X, sample_weight))
            _check_no_overflow(means, cov, X)
            weights = nk_eps / stats.weight
        weights = w_init if w_init is not None else weights
        means = m_init if m_init is not None else means
        if p_init is None and self.on_degenerate != "raise":
            w64, m64 = np.asarray(weights, dtype=np.float64), np.asarray(means, dtype=np.float64)
            return self._Params(*degenerate_m_step(
                self, X, sample_weight, (w64, m64, cov), tuple(extra), stats.nk, stats.weight, n_threads,
                self._row_ll_function(X, n_threads, None)))
        if p_init is None:
            pc = _gaussian.precision_cholesky(cov, cov_type, reg_covar=self.reg_covar, float32=float32)
        else:
            pc = _gaussian.precisions_cholesky_from_precisions(p_init, cov_type)
            cov = _gaussian.covariances_from_cholesky(pc, cov_type)
        return self._Params(np.asarray(weights, dtype=np.float64), np.asarray(means, dtype=np.float64), cov, pc,
                            *extra)

    def _statistics(self, X, sample_weight, params, n_threads, missing=None):
        """One fused pass (E-step + statistics) over an in-memory block; with ``missing`` (rows grouped
        by NaN pattern) the exact statistics of the observed values (``fastgmm.families._gaussian_missing``)."""
        if missing is None:
            return gaussian_statistics(X, params.weights, params.means, params.precisions_cholesky,
                                       self._layout, n_threads, sample_weight=sample_weight,
                                       allow_float32=True, noise=self._noise_log(params))
        return _missing.missing_statistics(X, missing, *params, self._layout, n_threads,
                                           sample_weight=sample_weight)

    def _own_iteration(self):
        """Whether this estimator's EM iteration is GaussianMixture's own (a subclass may change it)."""
        cls = type(self)
        return (cls._statistics is GaussianMixture._statistics and cls._m_step is GaussianMixture._m_step
                and cls._lower_bound is GaussianMixture._lower_bound and cls._em_step is BaseMixture._em_step)

    def _em_runner(self, X, sample_weight, params, n_threads, missing):
        """The compiled EM iteration (``fastgmm.families._gaussian_runner``) for a plain fit of this class's
        own iteration, else None."""
        if not self._own_iteration():
            return None
        return runner_for(self, X, sample_weight, params, n_threads, missing)

    def _m_step(self, stats, params, data):
        """The new parameters from the statistics (scikit-learn's M-step; ``on_degenerate`` applied)."""
        check_finite_loglik(stats, self.reg_covar)
        X = data.X
        fixed = params.means if "means" in self._frozen_fields else None
        nk_eps, means, cov = _gaussian.model_m_step(stats, self.covariance_type, self.reg_covar, _eps(X),
                                                    means=fixed, start=params.covariances,
                                                    prior=self._prior_of(X, data.sample_weight))
        nk, total = stats.nk, stats.weight
        noise_nk = getattr(stats, "noise_nk", None)
        del stats   # its K x D x D second moments are not held while the factors are made
        weights = _gaussian.normalised_weights(nk_eps)
        if noise_nk is not None:
            weights, pi0 = m_step_weights(nk_eps, noise_nk)
            pi0 = params.noise_weight if "weights" in self._frozen_fields else pi0
        if self.on_degenerate != "raise":
            return GaussianParams(*degenerate_m_step(
                self, X, data.sample_weight, (weights, means, cov), (), nk, total, data.n_threads,
                self._row_ll_function(X, data.n_threads, data.missing)))
        _check_no_overflow(means, cov, X)
        pc = _gaussian.precision_cholesky(cov, self._layout, reg_covar=self.reg_covar,
                                          float32=X.dtype == np.float32)
        if noise_nk is not None:
            return NoiseParams(weights, means, cov, pc, pi0)
        return GaussianParams(weights, means, cov, pc)

    def _prior_of(self, X, sample_weight):
        return self._fit_prior(X, sample_weight) if isinstance(self, PriorMixin) else None

    def _lower_bound(self, stats, new_params):
        """scikit-learn's lower bound: the weighted mean log-likelihood under the E-step's parameters."""
        return stats.loglik / stats.weight

    def _statistics_from_parameters(self, params):
        """Statistics of total weight 1 whose M-step gives back ``params`` (``fastgmm.families._gaussian_online``)."""
        w, m, cov = params.weights, params.means, params.covariances
        return _online.statistics_from_parameters(w, m, cov, self._layout, self.reg_covar,
                                                   _gaussian.mixture_shift(w, m))

    def _row_ll_function(self, X, n_threads, missing):
        """row_ll(weights, means, cov, pc, extra): per-row log-likelihoods of X under those parameters."""
        cov_type = self._layout

        def row_ll(w, m, cov, pc, extra):
            if missing is not None:
                return _missing.missing_estimate(X, missing, w, m, cov, pc, cov_type, n_threads, row_ll=True)[0]
            return gaussian_estimate(X, w, m, pc, cov_type, n_threads, row_ll=True)[0]
        return row_ll

    def _set_events(self, events):
        _degenerate.set_fitted_events(self, events)

    def _get_parameters(self):
        """The fitted parameters, from the public attributes, in float64."""
        return self._noise_parameters(GaussianParams(*(np.asarray(a, dtype=np.float64) for a in (
            self.weights_, self.means_, self.covariances_, self.precisions_cholesky_))))

    def _set_parameters(self, params, dtype):
        self._set_noise_attributes(params)
        w, m, cov, pc = params[:4]
        prec = _gaussian.precisions_from_cholesky(pc, self._layout)
        _check_representable(
            {"means_": m, "covariances_": cov, "precisions_cholesky_": pc, "precisions_": prec}, dtype
        )
        self.weights_ = np.asarray(w, dtype=dtype)
        self.means_ = np.asarray(m, dtype=dtype)
        self.covariances_ = np.asarray(cov, dtype=dtype)
        self.precisions_cholesky_ = np.asarray(pc, dtype=dtype)
        self.precisions_ = np.asarray(prec, dtype=dtype)

    def _estimate(self, X, n_threads, **outputs):
        noise = self._fitted_noise_log()
        if self._nan_policy() == "marginalize" and _missing.has_nan(X):
            if noise is not None:
                raise ValueError("A model with a noise component does not predict rows with NaN: impute them first.")
            return _missing.missing_estimate(X, _missing.group_patterns(X), *self._get_parameters(),
                                             self._layout, n_threads, **outputs)
        return gaussian_estimate(X, self.weights_, self.means_, self.precisions_cholesky_,
                                 self._layout, n_threads, noise=noise, **outputs)

    def impute(self, X):
        """X with every NaN replaced by its conditional expectation under the fitted mixture.

        Each missing entry becomes sum_k r_k E[x_m | x_o, k], the
        responsibilities r_k computed from the row's observed values (the
        mixture weights for a row with none) and E[x_m | x_o, k] =
        mu_km + Sigma_k,mo Sigma_k,oo^-1 (x_o - mu_ko). Observed values are
        returned unchanged. Needs ``nan_policy='marginalize'`` only to accept
        NaN in X at prediction time; any fitted model can impute.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), of X's dtype
        """
        self._check_is_fitted()
        X = self._validate_X(X, reset=False, allow_nan=True)
        if not _missing.has_nan(X):
            return X.copy()
        n_threads = self._resolved_threads()
        with blas_single_thread():
            return _missing.impute(X, _missing.group_patterns(X), *self._get_parameters(), self._layout,
                                   n_threads)

    def _resolved_threads(self):
        return effective_n_threads(self.n_threads)

    def _n_parameters(self):
        n_fitted, n_features = self.means_.shape     # fewer than n_components after on_degenerate='drop'
        n = _gaussian.n_parameters(self.covariance_type, n_fitted, n_features)
        return n if not hasattr(self, "noise_weight_") else noise_n_parameters(n)

    def _check_solution(self, X):
        """Warn when two components ended (nearly) identical: EM stalled at a symmetric start."""
        if self.n_iter_ == 0:
            return      # max_iter=0: the initial parameters were asked for, no EM ran to separate them
        pair = _nearly_identical_pair(self.weights_, self.means_, self.covariances_, self._layout,
                                      self.reg_covar)
        if pair is None:
            return
        j, k, overlap = pair
        warnings.warn(
            f"Components {j} and {k} of the fitted mixture are nearly identical (their weights agree and "
            f"their densities overlap almost entirely: Bhattacharyya coefficient {overlap:.4f}, weights "
            "included, where 1 is identical): EM stopped "
            "before they separated, typically because every component started at the same place "
            "(init_params='random' starts them all at the data's mean). Use init_params='kmeans' (the "
            "default), a larger n_init, or a smaller tol; or fewer components, if the data have fewer "
            "clusters.",
            sklearn_compatible(ConvergenceWarning),
        )

    # ------------------------------------------------------------------
    # Loading (fastgmm's loader sets the attributes of _schema, then calls this)
    # ------------------------------------------------------------------
    def _validate_loaded(self):
        """Check the fitted attributes after loading (``fastgmm.families._gaussian_checks.check_loaded``)."""
        check_loaded(self)

    # ------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------
    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture (same draws as scikit-learn for the same state).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each sample came from (-1: the noise component).
        """
        self._check_is_fitted()
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at least one sample."
            )
        _, n_features = self.means_.shape
        rng = check_random_state(self.random_state)
        pi0 = getattr(self, "noise_weight_", None)
        w = self.weights_.astype(np.float64)
        n_per = rng.multinomial(n_samples, w if pi0 is None else np.append(w, pi0))
        n_noise, n_per = (0, n_per) if pi0 is None else (int(n_per[-1]), n_per[:-1])
        lay = _gaussian.layout(self.covariance_type)      # (BayesianGaussianMixture samples with this too)
        if lay == "full":
            X = np.vstack([rng.multivariate_normal(mean, cov, int(s))
                           for (mean, cov, s) in zip(self.means_, self.covariances_, n_per)])
        elif lay == "tied":
            X = np.vstack([rng.multivariate_normal(mean, self.covariances_, int(s))
                           for (mean, s) in zip(self.means_, n_per)])
        else:
            X = np.vstack([mean + rng.standard_normal(size=(s, n_features)) * np.sqrt(cov)
                           for (mean, cov, s) in zip(self.means_, self.covariances_, n_per)])
        y = np.concatenate([np.full(s, j, dtype=int) for j, s in enumerate(n_per)])
        if n_noise:
            X = np.vstack([X, sample_noise(rng, n_noise, self.noise_bounds_)])
            y = np.concatenate([y, np.full(n_noise, -1, dtype=int)])
        return X, y


