"""Docstring fragments every discrete family shares (its constructor parameters and attributes)."""

COMMON_PARAMETERS = """\
tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample changes by less than this.
    max_iter : int, default=100
        EM iterations per initialisation (0: only initialise).
    n_init : int, default=1
        Number of initialisations; the best (highest lower bound) is kept.
    init_params : {{'kmeans', 'random', 'random_from_data'}}, default='kmeans'
        Initial responsibilities, followed by one M-step: {kmeans}; random
        responsibilities; ``n_components`` random rows (drawn with probability
        proportional to ``sample_weight``) as single-row components.
    weights_init : array-like of shape (n_components,), default=None
        Initial mixture weights (non-negative, summing to 1).
    means_init : {means_init}, default=None
        Initial component parameters ({means_what}).
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
        (-1 = all). Results do not depend on it."""

COMMON_ATTRIBUTES = """\
weights_ : ndarray of shape (n_components,)
        Mixture weights.
    converged_ : bool
    n_iter_ : int
        EM iterations of the best initialisation.
    lower_bound_ : numpy scalar of X's dtype
        Mean log-likelihood per sample (weighted by ``sample_weight``) of the
        best initialisation, under the parameters before its last M-step
        (scikit-learn's definition){lower_bound_extra}.
    lower_bounds_ : list of numpy scalars
        Its history, one entry per iteration.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names."""


def fill(cls, **fields):
    """Format ``cls.__doc__`` with the shared fragments (and the class's ``fields``)."""
    cls.__doc__ = cls.__doc__.format(
        common_parameters=COMMON_PARAMETERS.format(**fields),
        common_attributes=COMMON_ATTRIBUTES.format(lower_bound_extra=fields.get("lower_bound_extra", "")),
    )
    return cls
