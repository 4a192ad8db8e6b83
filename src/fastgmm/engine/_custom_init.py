"""A user's own initialisation: ``init_params`` as a callable (scikit-learn issues #23195, #24811).

Every estimator accepts, besides its named schemes, a callable

    init_params(X, n_components, random_state) -> labels or responsibilities

called once per initialisation with the rows the fit initialises from (an
ndarray: all of X in memory; a bounded sample of an out-of-core or Dask X;
the rows without NaN under ``nan_policy="marginalize"`` when there are
enough of them), the number of components and the fit's
``numpy.random.RandomState``. It returns either integer labels of shape
(n_samples,) in [0, n_components) — the hard assignment, as k-means gives —
or responsibilities of shape (n_samples, n_components), non-negative, each
row summing to 1. The family's M-step on them, with the sample weights,
makes the initial parameters, through the same statistics kernel as the
named schemes (no N x K array is formed for labels).
"""

import numpy as np


def is_custom(init_params):
    """Whether ``init_params`` is a user's callable (not a named scheme)."""
    return callable(init_params)


def initial_assignment(init_params, X, n_components, random_state, estimator_name):
    """Call the user's initialisation and check what it returned.

    Returns
    -------
    ("labels", int64 (N,)) or ("resp", float64 (N, K), C-contiguous)

    Raises
    ------
    ValueError
        Naming what is wrong with the returned array and what is expected.
    """
    N, K = X.shape[0], int(n_components)
    try:
        out = init_params(X, K, random_state)
    except Exception as e:   # the user's code: say which parameter it was, keep its traceback
        raise ValueError(f"{estimator_name}: init_params, a callable, raised {type(e).__name__} when called as "
                         f"init_params(X, n_components={K}, random_state): {e}") from e
    what = (f"init_params, a callable, must return integer labels of shape ({N},) in [0, {K}) or "
            f"responsibilities of shape ({N}, {K}) whose rows sum to 1")
    try:
        a = np.asarray(out)
    except Exception as e:   # a ragged list and the like
        raise ValueError(f"{what}; {estimator_name} got something that is not an array ({e}).") from None
    if a.ndim == 1:
        if a.shape[0] != N:
            raise ValueError(f"{what}; {estimator_name} got labels of shape {a.shape}.")
        if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.floor(a)):
            a = a.astype(np.int64)
        if a.dtype.kind not in "iu":
            raise ValueError(f"{what}; {estimator_name} got 1-D values of dtype {a.dtype}, not integers.")
        if a.size and (a.min() < 0 or a.max() >= K):
            raise ValueError(f"{what}; {estimator_name} got labels from {a.min()} to {a.max()}.")
        return "labels", np.ascontiguousarray(a, dtype=np.int64)
    if a.ndim == 2:
        if a.shape != (N, K):
            raise ValueError(f"{what}; {estimator_name} got an array of shape {a.shape}.")
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{what}; {estimator_name} got dtype {a.dtype}.")
        r = np.ascontiguousarray(a, dtype=np.float64)
        if not np.all(np.isfinite(r)) or np.any(r < 0):
            raise ValueError(f"{what}; {estimator_name} got negative, NaN or infinite responsibilities.")
        sums = r.sum(axis=1)
        if not np.allclose(sums, 1.0, rtol=0, atol=1e-6):
            i = int(np.argmax(np.abs(sums - 1.0)))
            raise ValueError(f"{what}; {estimator_name} got row {i} summing to {sums[i]:.6g}.")
        return "resp", r
    raise ValueError(f"{what}; {estimator_name} got an array of shape {a.shape}.")
