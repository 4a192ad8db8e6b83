"""fastgmm.BernoulliMixture: mixtures of independent Bernoulli features (binary data)."""

import numpy as np

from ..utils._validation import check_scalar
from . import _docs
from ._discrete import DiscreteMixture, as_float_param, check_open_unit, check_param_shape, first_offender


class BernoulliMixture(DiscreteMixture):
    """Mixture of multivariate Bernoulli distributions (independent binary features), fitted by EM.

    Component k gives row x (values 0 and 1) the probability
    ``prod_d p_kd^x_d (1 - p_kd)^(1 - x_d)``. Its logarithm is linear in
    ``[1, x]``, so each EM iteration is one fused, chunked, multi-threaded
    kernel pass with two GEMMs per chunk (as :class:`GaussianMixture`'s).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    alpha : float > 0, default=1e-10
        Smoothing of the probabilities: the M-step is the MAP estimate under a
        Beta(alpha + 1, alpha + 1) prior on each p_kd,
        ``p_kd = (sum_i w_i r_ik x_id + alpha) / (sum_i w_i r_ik + 2 alpha)``,
        i.e. ``alpha`` pseudo-rows of each value per component. It keeps every
        p_kd off 0 and 1 (whose logarithms are infinite) while changing the
        maximum-likelihood estimate by at most ``alpha / n_k``; use e.g. 1 for
        Laplace smoothing of small data. The result is then clipped into
        ``[eps / 2, 1 - eps / 2]`` (eps of X's dtype), the closest to 0 and 1
        that the stored ``means_`` can hold, so that ``log(1 - p)`` stays
        finite.
    binarize : float or None, default=None
        None: X must hold only 0 and 1. A float t: X is read as ``X > t``
        (as scikit-learn's ``BernoulliNB(binarize=t)``), at fit and at
        prediction; this makes one binary copy of X in its dtype per call.
    {common_parameters}

    Attributes
    ----------
    means_ : ndarray of shape (n_components, n_features)
        p_kd, the probability that feature d is 1 in component k.
    {common_attributes}

    See Also
    --------
    PoissonMixture, CategoricalMixture, GaussianMixture

    Notes
    -----
    X must hold only 0 and 1 (any numeric dtype; booleans too) unless
    ``binarize`` is set; anything else, NaN included, is a ValueError. float32 X stays float32 (the parameters
    are then float32); every computation after reading X is float64.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import BernoulliMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.random((1000, 6)) < 0.9, rng.random((1000, 6)) < 0.1]).astype(float)
    >>> bm = BernoulliMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(np.sort(bm.means_[:, 0]), 1)
    array([0.1, 0.9])
    """

    _values_wanted = "binary values 0 and 1"

    def __init__(
        self,
        n_components=1,
        *,
        alpha=1e-10,
        binarize=None,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
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
        self.alpha = alpha
        self.binarize = binarize
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
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

    @property
    def _positive_only(self):
        return self.binarize is None

    def _validate_X(self, X, *, reset, allow_nan=False):
        check_scalar(self.binarize, "binarize", "real", allow_none=True, estimator_name=type(self).__name__)
        return super()._validate_X(X, reset=reset, allow_nan=allow_nan)

    def _check_values(self, X, reset, offset=0):
        if self.binarize is not None:
            return
        where = first_offender(X, lambda b: (b != 0) & (b != 1), offset)
        if where is not None:
            i, j, v = where
            if v < 0:
                raise ValueError(f"Negative values in data passed to {type(self).__name__}: X[{i}, {j}] = {v!r}, "
                                 "while X must be binary (0 or 1); or set binarize to a threshold.")
            raise ValueError(
                f"{type(self).__name__} needs binary X (every value 0 or 1), but X[{i}, {j}] = {v!r}. "
                "Binarise the data first, e.g. (X > threshold).astype(float), or set binarize=threshold."
            )

    def _check_means_init(self, means_init, X):
        m = as_float_param(means_init, "means_init")
        check_param_shape(m, (self.n_components, X.shape[1]), "means_init")
        return check_open_unit(m, "The parameter 'means_init'")

    def _coefficients(self, weights, means):
        p = check_open_unit(means, "means_")
        log_q = np.log1p(-p)
        with np.errstate(divide="ignore"):   # an empty component (weight 0) is never chosen
            log_w = np.log(weights)
        return np.ascontiguousarray(np.vstack([(log_w + log_q.sum(axis=1))[None, :], (np.log(p) - log_q).T]))

    def _m_step_means(self, sums, nk, dtype):
        p = (sums + self.alpha) / (nk[:, None] + 2 * self.alpha)
        eps = float(np.finfo(dtype).eps)
        return np.clip(p, eps / 2, 1 - eps / 2)

    def _sums_from_means(self, means, nk):
        """The sums whose M-step gives ``means`` at these n_k (the inverse of :meth:`_m_step_means`)."""
        return means * (nk[:, None] + 2 * self.alpha) - self.alpha

    def _n_parameters(self):
        K, D = np.shape(self.means_)
        return K * D + K - 1

    def _validate_means_loaded(self, K, D):
        self._check_means_shape(self.means_, K, D)
        check_open_unit(self.means_, f"{type(self).__name__}: means_")

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), of ``means_``' dtype, values 0 and 1
        y : ndarray of shape (n_samples,)
            The component each sample came from.
        """
        rng, n_per, y = self._sample_components(n_samples)
        p = np.asarray(self.means_, dtype=np.float64)
        X = np.vstack([rng.uniform(size=(int(s), p.shape[1])) < p[k] for k, s in enumerate(n_per)])
        return X.astype(self.means_.dtype), y


_docs.fill(BernoulliMixture, kmeans="k-means labels (fastgmm's k-means on X)",
           means_init="array-like of shape (n_components, n_features)",
           means_what="probabilities strictly between 0 and 1")
