"""Rows drawn from a random Gaussian mixture whose parameters are returned with them."""

import numbers

import numpy as np

_COV_TYPES = ("full", "tied", "diag", "spherical")


def _generator(random_state):
    """A numpy Generator from None, an int, a Generator or a legacy RandomState."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.Generator,
                                                         np.random.SeedSequence)):
        if isinstance(random_state, bool):
            raise TypeError("random_state must be None, an int, a numpy Generator or RandomState, not a bool.")
        return np.random.default_rng(random_state)
    raise TypeError(f"random_state must be None, an int, a numpy Generator or RandomState, "
                    f"got {type(random_state).__name__}.")


def _random_covariance(rng, n_features):
    """A well-conditioned random covariance: A A^T / D + I/2, scaled by U(0.5, 2)."""
    A = rng.standard_normal((n_features, n_features))
    return (A @ A.T / n_features + 0.5 * np.eye(n_features)) * rng.uniform(0.5, 2)


def make_mixture(n_samples, n_features, n_components, covariance_type="full", *, random_state=None,
                 separation=4.0, weights=None, dtype=np.float64):
    """Draw rows from a random Gaussian mixture and return the parameters with them.

    The mixture: weights from a Dirichlet(5, ..., 5) (or ``weights``), means
    drawn from N(0, ``separation``^2 I), and covariances of the given type —
    full: ``(A A^T / D + I / 2) s`` with A standard normal and s ~ U(0.5, 2),
    one per component; tied: one such matrix shared; diag: variances
    U(0.5, 2); spherical: one variance U(0.5, 2) per component. The
    component counts are multinomial and the rows are shuffled.

    Parameters
    ----------
    n_samples, n_features, n_components : int
        Rows, columns and mixture components (all >= 1).
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Shape of the true covariances, with GaussianMixture's meaning.
    random_state : None, int, numpy.random.Generator or RandomState, default=None
        Same value (an int), same data.
    separation : float, default=4.0
        Standard deviation of the means; larger separates the components more
        (the covariances have eigenvalues of order 1).
    weights : array-like of shape (n_components,), optional
        True mixing weights (non-negative, normalised here); default random.
    dtype : numpy dtype, default=float64
        dtype of X.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : int64 ndarray of shape (n_samples,)
        The component each row was drawn from.
    params : dict
        ``weights`` (n_components,), ``means`` (n_components, n_features),
        ``covariances`` in GaussianMixture's shape for ``covariance_type``
        (full: (K, D, D), tied: (D, D), diag: (K, D), spherical: (K,)), and
        ``covariance_type``.

    Examples
    --------
    >>> from fastgmm.datasets import make_mixture
    >>> X, y, params = make_mixture(500, 2, 3, random_state=0)
    >>> X.shape, params["means"].shape
    ((500, 2), (3, 2))
    """
    for name, value in (("n_samples", n_samples), ("n_features", n_features), ("n_components", n_components)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
    if covariance_type not in _COV_TYPES:
        raise ValueError(f"covariance_type must be one of {_COV_TYPES}, got {covariance_type!r}.")
    rng = _generator(random_state)
    K, D = int(n_components), int(n_features)
    if weights is None:
        w = rng.dirichlet(5 * np.ones(K))
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (K,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be {K} non-negative finite numbers with a positive sum.")
        w = w / w.sum()
    means = rng.normal(0.0, separation, size=(K, D))
    if covariance_type == "full":
        cov = np.array([_random_covariance(rng, D) for _ in range(K)])
    elif covariance_type == "tied":
        cov = _random_covariance(rng, D)
    elif covariance_type == "diag":
        cov = rng.uniform(0.5, 2.0, size=(K, D))
    else:
        cov = rng.uniform(0.5, 2.0, size=K)
    counts = rng.multinomial(int(n_samples), w)
    y = np.repeat(np.arange(K, dtype=np.int64), counts)
    z = rng.standard_normal((int(n_samples), D))
    X = np.empty((int(n_samples), D))
    for k in range(K):
        rows = y == k
        if covariance_type in ("full", "tied"):
            c = cov[k] if covariance_type == "full" else cov
            X[rows] = means[k] + z[rows] @ np.linalg.cholesky(c).T
        else:
            X[rows] = means[k] + z[rows] * np.sqrt(cov[k])
    order = rng.permutation(int(n_samples))
    return (np.ascontiguousarray(X[order], dtype=dtype), y[order],
            {"weights": w, "means": means, "covariances": cov, "covariance_type": covariance_type})
