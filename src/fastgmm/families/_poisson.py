"""fastgmm.PoissonMixture: mixtures of independent Poisson features (count data)."""

import numpy as np
from scipy.special import gammaln

from . import _docs
from ._discrete import DiscreteMixture, as_float_param, check_param_shape, first_offender

_LOG_FACTORIAL = gammaln(np.arange(256, dtype=np.float64) + 1.0)   # log(x!) for x = 0..255


def _check_rates(lam, name):
    lam = np.asarray(lam, dtype=np.float64)
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        bad = lam[~(np.isfinite(lam) & (lam > 0))]
        raise ValueError(f"{name} must hold finite rates > 0 (a rate of 0 makes log(rate) infinite), "
                         f"but holds {bad.flat[0]!r}.")
    return lam


class PoissonMixture(DiscreteMixture):
    """Mixture of independent Poisson distributions (count data), fitted by EM.

    Component k gives a row of counts x the probability
    ``prod_d exp(-lambda_kd) lambda_kd^x_d / x_d!``. Its logarithm is linear
    in ``[1, x]`` plus ``-sum_d log(x_d!)``, a term that is the same for every
    component: responsibilities do not depend on it, so each EM iteration is
    one fused kernel pass on ``[1, x]`` (two GEMMs per chunk), and the term
    is added to ``score_samples`` and to the lower bound (summed over the rows
    once per fit, not per iteration).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    alpha : float > 0, default=1e-10
        Keeps the rates off 0: the M-step is the MAP estimate under a
        Gamma(shape alpha + 1, rate alpha) prior on each lambda_kd (mode 1),
        ``lambda_kd = (sum_i w_i r_ik x_id + alpha) / (sum_i w_i r_ik + alpha)``.
        A feature that is 0 in every row of a component then gets a rate of
        about ``alpha / n_k`` instead of 0 (whose logarithm is infinite), and
        an empty component a rate of 1. Rates are also kept at least the
        smallest normal number of X's dtype.
    {common_parameters}

    Attributes
    ----------
    means_ : ndarray of shape (n_components, n_features)
        lambda_kd, the rate (mean count) of feature d in component k.
    {common_attributes}

    See Also
    --------
    BernoulliMixture, CategoricalMixture, GaussianMixture

    Notes
    -----
    X must hold non-negative integer counts (in any numeric dtype); a negative
    or fractional value, or NaN, is a ValueError. float32 X stays float32
    (the parameters are then float32); computations after reading X are
    float64.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import PoissonMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.poisson(2.0, (300, 3)), rng.poisson(15.0, (300, 3))])
    >>> pm = PoissonMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(np.sort(pm.means_[:, 0]))
    array([ 2., 15.])
    """

    _values_wanted = "non-negative integer counts"

    def __init__(
        self,
        n_components=1,
        *,
        alpha=1e-10,
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

    def _check_values(self, X, reset, offset=0):
        where = first_offender(X, lambda b: b < 0, offset)
        if where is not None:
            i, j, v = where
            raise ValueError(f"Negative values in data passed to {type(self).__name__}: X[{i}, {j}] = {v!r}, "
                             "while counts are non-negative integers.")
        where = first_offender(X, lambda b: b != np.floor(b), offset)
        if where is not None:
            i, j, v = where
            raise ValueError(
                f"{type(self).__name__} needs counts in X (non-negative integers), but X[{i}, {j}] = {v!r}. "
                "Round or clip the data first, or use GaussianMixture for real values."
            )

    def _row_constant(self, X):
        # -sum_d log(x_d!), in float64 whatever X's dtype. Counts below 256
        # (nearly all, in practice) read a table of log(x!) (gammaln's own
        # values): about 6x faster than gammaln per entry, which made this
        # once-per-fit sum cost as much as three EM iterations on 1M x 16.
        X = np.asarray(X)
        if X.size and float(X.max()) < _LOG_FACTORIAL.shape[0]:
            return -np.take(_LOG_FACTORIAL, X.astype(np.intp)).sum(axis=1)
        return -gammaln(np.asarray(X, dtype=np.float64) + 1.0).sum(axis=1)

    def _check_means_init(self, means_init, X):
        m = as_float_param(means_init, "means_init")
        check_param_shape(m, (self.n_components, X.shape[1]), "means_init")
        return _check_rates(m, "The parameter 'means_init'")

    def _coefficients(self, weights, means):
        lam = _check_rates(means, "means_")
        with np.errstate(divide="ignore"):   # an empty component (weight 0) is never chosen
            log_w = np.log(weights)
        return np.ascontiguousarray(np.vstack([(log_w - lam.sum(axis=1))[None, :], np.log(lam).T]))

    def _m_step_means(self, sums, nk, dtype):
        lam = (sums + self.alpha) / (nk[:, None] + self.alpha)
        return np.maximum(lam, float(np.finfo(dtype).tiny))

    def _sums_from_means(self, means, nk):
        """The sums whose M-step gives ``means`` at these n_k (the inverse of :meth:`_m_step_means`)."""
        return means * (nk[:, None] + self.alpha) - self.alpha

    def _n_parameters(self):
        K, D = np.shape(self.means_)
        return K * D + K - 1

    def _validate_means_loaded(self, K, D):
        self._check_means_shape(self.means_, K, D)
        _check_rates(self.means_, f"{type(self).__name__}: means_")

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), of ``means_``' dtype, integer counts
        y : ndarray of shape (n_samples,)
            The component each sample came from.
        """
        rng, n_per, y = self._sample_components(n_samples)
        lam = np.asarray(self.means_, dtype=np.float64)
        X = np.vstack([rng.poisson(lam[k], size=(int(s), lam.shape[1])) for k, s in enumerate(n_per)])
        return X.astype(self.means_.dtype), y


_docs.fill(PoissonMixture, kmeans="k-means labels (fastgmm's k-means on X)",
           means_init="array-like of shape (n_components, n_features)",
           means_what="rates > 0",
           lower_bound_extra=", with the ``-log(x!)`` terms: comparable with :meth:`score`")
