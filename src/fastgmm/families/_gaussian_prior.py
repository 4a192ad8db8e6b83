"""GaussianMixture's ``prior``: mclust's conjugate prior (``priorControl``), MAP estimation in its M-steps.

The prior's maths (Fraley & Raftery 2007; mclust's ``defaultPrior`` and its
EM's MAP M-steps) are in ``fastgmm.families._mclust_prior``; this module
checks the parameter and makes the prior of a fit once, from the data it fits.
"""

import numpy as np

from ..utils._validation import invalid_parameter
from . import _mclust_prior

_KEYS = ("shrinkage", "mean", "dof", "scale")


class PriorMixin:
    """The ``prior`` parameter of GaussianMixture."""

    def _check_prior(self, X):
        """``prior`` checked against the model; the fit's prior is made on first use (``_fit_prior``)."""
        self._prior = None
        prior = self.prior
        if prior is None:
            return
        name = type(self).__name__
        if not (isinstance(prior, str) and prior == "default") and not (
                isinstance(prior, dict) and set(prior) <= set(_KEYS)):
            raise invalid_parameter("prior", ["None", "'default' (mclust's defaultPrior)",
                                              f"a dict of defaultPrior's arguments {set(_KEYS)}"], prior,
                                    estimator_name=name)
        model = self.covariance_type
        if model not in _mclust_prior.PRIOR_MODELS and model not in _mclust_prior.SKLEARN_EQUIVALENT:
            raise ValueError(f"{name}: a prior is available for the models {', '.join(_mclust_prior.PRIOR_MODELS)} "
                             f"(and scikit-learn's four), as in mclust, not for {model!r}.")
        if "means" in (self.frozen or ()):
            raise ValueError(f"{name}: a prior shrinks the means; it cannot be combined with frozen means.")
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{name}: a prior is made from the data in memory; fit an ndarray (not an "
                            "out-of-core or Dask X) with a prior, or give its mean and scale in a dict and "
                            "fit in memory.")

    def _fit_prior(self, X, sample_weight):
        """The prior of this fit (mclust's ``defaultPrior(X, K, model)`` with the user's arguments), or None."""
        if self.prior is None:
            return None
        if self._prior is None:
            kw = {} if isinstance(self.prior, str) else dict(self.prior)
            X = np.asarray(X, dtype=np.float64)
            if np.isnan(X).any():
                raise ValueError(f"{type(self).__name__}: the default prior's mean and variance need data "
                                 "without NaN; give 'mean' and 'scale' in the prior dict.")
            self._prior = _mclust_prior.default_prior(X, self.n_components, self.covariance_type,
                                                      sample_weight=sample_weight, **kw)
        return self._prior
