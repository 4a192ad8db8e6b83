"""Saving and loading hidden Markov models: their schemas and the checks of a loaded model.

An HMM file is a fastgmm model file like a mixture's (``fastgmm.io._persistence``:
a ``.npz`` of numeric arrays and a JSON header, never pickle), written and
read by the same schema-driven path. What it holds:

- the constructor parameters (``params`` in the header; an array-valued one,
  e.g. a ``transmat_prior`` matrix or MultinomialHMM's per-row ``n_trials``,
  as a member ``param/<name>``);
- the chain, ``startprob_`` and ``transmat_``, and the emission's parameters
  (``means_`` and the compact covariances of a GaussianHMM, stored as member
  ``covars_``; ``weights_``, ``means_``, ``covars_`` of a GMMHMM;
  ``emissionprob_`` or ``lambdas_`` of the discrete models), float64 and
  exactly as in memory, so that a loaded model predicts and scores bitwise
  identically;
- ``n_features`` (in the header; a constructor parameter of CategoricalHMM),
  the column names when the model has them (``feature_names_in_``, which the
  command line sets), and the log-likelihood of every EM iteration
  (``monitor_.history``, member ``monitor_history``).

Loading checks what it loads as fitting does (``_check``: shapes,
probabilities summing to 1, ...), then that the emission densities can be
evaluated (a covariance that is not positive definite, a zero variance), and
raises ValueError naming the problem.
"""

from collections import deque

import numpy as np

from ..engine._schema import FLOAT64, INT, NAMES, VALUES, Array, Scalar, Schema
from ..io._persistence import Persistent


def hmm_schema(*emission, n_features_param=False):
    """The schema of an HMM class: the chain, its ``emission`` arrays (float64 :class:`Array`), n_features
    (a header scalar unless it is a constructor parameter), the column names and the EM history."""
    arrays = (Array("startprob_", dtype=FLOAT64), Array("transmat_", dtype=FLOAT64)) + tuple(emission) + (
        Array("_monitor_history", member="monitor_history", form=VALUES, dtype=FLOAT64),)
    scalars = () if n_features_param else (Scalar("n_features", INT, low=1),)
    scalars += (Scalar("feature_names_in_", NAMES, optional=True),)
    return Schema(arrays=arrays, scalars=scalars, check_params="_validate_params")


def _float64(*names):
    return tuple(Array(n, dtype=FLOAT64) for n in names)


GAUSSIAN_HMM_SCHEMA = hmm_schema(Array("means_", dtype=FLOAT64),
                                 Array("_covars_", member="covars_", dtype=FLOAT64))
GMM_HMM_SCHEMA = hmm_schema(*_float64("weights_", "means_", "covars_"))
CATEGORICAL_HMM_SCHEMA = hmm_schema(*_float64("emissionprob_"), n_features_param=True)
MULTINOMIAL_HMM_SCHEMA = hmm_schema(*_float64("emissionprob_"))
POISSON_HMM_SCHEMA = hmm_schema(*_float64("lambdas_"))
BERNOULLI_HMM_SCHEMA = hmm_schema(*_float64("emissionprob_"))
STUDENT_T_HMM_SCHEMA = hmm_schema(*_float64("means_", "covars_", "degrees_of_freedom_"))


class PersistentHMM(Persistent):
    """What every HMM class has for model files: ``save``, ``n_features_in_`` and the checks of ``load``."""

    #: True for a model whose X is one symbol per row (CategoricalHMM): its n_features counts symbols.
    _symbol_per_row = False

    def save(self, path):
        """Write the model to ``path`` (portable ``.npz``, no pickle; read back with :func:`fastgmm.load`).

        A model whose parameters were set by hand (hmmlearn's way, without
        ``fit``) is checked first, which also sets its ``n_features``.

        Returns
        -------
        path : str
        """
        self._check_is_fitted()
        self._check()
        return super().save(path)

    @property
    def n_features_in_(self):
        """The number of columns of X (scikit-learn's name): ``n_features``, or 1 for CategoricalHMM."""
        n = getattr(self, "n_features", None)
        if n is None:
            raise AttributeError(f"this {type(self).__name__} has no n_features_in_ before it is fitted.")
        return 1 if self._symbol_per_row else n

    @property
    def _monitor_history(self):
        # The log-likelihood of each EM iteration, as a model file stores it.
        return [float(v) for v in self.monitor_.history]

    @_monitor_history.setter
    def _monitor_history(self, values):
        self.monitor_.history = deque(float(v) for v in values)
        self.monitor_.iter = len(self.monitor_.history)

    def _validate_loaded(self):
        """The checks of a loaded model (load calls it once every attribute is set): ValueError if invalid."""
        stored = getattr(self, "n_features", None)
        self._check()          # shapes, probabilities, sums: as fit and predict check them
        if stored is not None and self.n_features != stored:
            raise ValueError(f"n_features is {stored}, but the emission parameters have {self.n_features} "
                             "features.")
        if not np.all(np.isfinite(self.monitor_.history)):
            raise ValueError("the log-likelihood history (monitor_history) must be finite.")
        covars = getattr(self, "_covars_", None)
        if covars is not None and np.ndim(covars) >= 2 and getattr(self, "covariance_type", None) in ("full", "tied"):
            if not np.allclose(covars, np.swapaxes(covars, -1, -2)):
                raise ValueError(f"'{self.covariance_type}' covars_ must be symmetric.")
        if getattr(self, "n_trials", None) is not None:      # MultinomialHMM: a distribution per state
            self._check_sum_1("emissionprob_")
        # Evaluate the emission densities at one frame: what the kernels cannot use (a covariance
        # that is not positive definite, a zero variance) is refused now, not at the first predict.
        self._log_frameprob(*self._probe_frame(), 1)

    def _probe_frame(self):
        """(one frame of the model's kind of data, the emission's extras for it: None)."""
        if self._symbol_per_row:
            return np.zeros((1, 1), dtype=np.int32), None
        if hasattr(self, "means_"):
            m = np.asarray(self.means_, dtype=np.float64)
            return np.ascontiguousarray(m.reshape(-1, m.shape[-1])[:1]), None
        return np.zeros((1, self.n_features)), None
