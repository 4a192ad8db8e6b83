"""Docstring fragments every discrete family shares (its constructor parameters and attributes)."""

COMMON_PARAMETERS = """\
tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample changes by less than this.
    max_iter : int, default=100
        EM iterations per initialisation (0: only initialise).
    n_init : int, default=1
        Number of initialisations; the best (highest lower bound) is kept.
    init_params : {{'kmeans', 'random', 'random_from_data'}} or callable, default='kmeans'
        Initial responsibilities, followed by one M-step: {kmeans}; random
        responsibilities; ``n_components`` random rows (drawn with probability
        proportional to ``sample_weight``) as single-row components.
        A callable is called as ``init_params(X, n_components, random_state)``
        with the rows the fit initialises from and returns integer labels
        (n_samples,) or responsibilities (n_samples, n_components) whose rows
        sum to 1; the initial parameters are the M-step on them. A callable
        is code: a saved model stores it as None.
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

#: The engine's parameters, the same for every estimator (``{marginalize}``: the NaN policies the family has).
ENGINE_PARAMETERS = """\
nan_policy : {nan_policies}, default='raise'
        What NaN in X means (infinity is always an error). 'raise': an error
        saying where the NaNs are. 'omit': rows with a NaN are dropped for
        fitting (``n_omitted_`` counts them; predicting on such rows
        raises){marginalize}.
    callback : callable or None, default=None
        Called after every EM iteration as ``callback(iteration,
        lower_bound, model)`` with the model's attributes set to that
        iteration's parameters; returning True stops the fit (the best run
        so far is kept, ``converged_`` is False, no ConvergenceWarning).
    progress : bool, default=False
        Show a tqdm progress bar over ``n_init x max_iter`` iterations.
    block_rows : int or None, default=None
        Rows per block when X is out of core (a ``numpy.memmap``, an h5py or
        zarr dataset): X is streamed through the kernels block by block,
        never copied whole. None: as many rows as fit in 32 MiB of float64.
    online_decay : float in (0.5, 1], default=0.7
    online_offset : float >= 1, default=2
        :meth:`partial_fit` weighs a batch of total weight b by
        ``(b / (n_samples_seen_ + online_offset * b)) ** online_decay``
        (for equal batches from scratch: ``(t + online_offset) **
        -online_decay`` for the t-th). Smaller decay: the model follows
        recent batches more.
    frozen : tuple of str or None, default=None
        Parameters that stay at their initial values (from ``*_init`` or
        the initialisation) while the others are fitted: any of
        {frozen}."""

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
        Only when fitted on a DataFrame with string column names.
    n_omitted_ : int
        Rows dropped for holding a NaN (``nan_policy='omit'``; else 0).
    n_samples_seen_ : float
        Total sample weight the model has seen (``fit``'s rows, plus every
        :meth:`partial_fit` batch since); the online step's denominator."""


def engine_parameters(cls):
    """The :data:`ENGINE_PARAMETERS` fragment for ``cls`` (its NaN policies and frozen names)."""
    marg = getattr(cls, "_MARGINALIZE", False)
    return ENGINE_PARAMETERS.format(
        nan_policies="{'raise', 'omit', 'marginalize'}" if marg else "{'raise', 'omit'}",
        marginalize=(". 'marginalize': NaNs are values missing at random, and EM is exact for them "
                     "(the marginal density of each row's observed values)") if marg else "",
        frozen=", ".join(f"'{n}'" for n in cls._FROZEN))


def fill(cls, **fields):
    """Format ``cls.__doc__`` with the shared fragments (and the class's ``fields``)."""
    cls.__doc__ = cls.__doc__.format(
        common_parameters=COMMON_PARAMETERS.format(**fields) + "\n    " + engine_parameters(cls),
        common_attributes=COMMON_ATTRIBUTES.format(lower_bound_extra=fields.get("lower_bound_extra", "")),
    )
    return cls
