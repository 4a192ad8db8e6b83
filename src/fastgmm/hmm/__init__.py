"""Hidden Markov models on fastgmm's engine: a drop-in for ``hmmlearn.hmm``.

``from fastgmm import hmm`` gives hmmlearn 0.3's models with its constructor
parameters, attributes and methods (``fit(X, lengths)``, ``score``,
``score_samples``, ``predict``, ``predict_proba``, ``decode``, ``sample``,
``aic``, ``bic``, ``get_stationary_distribution``, ``monitor_``), the same
answers from the same starting parameters, and what hmmlearn lacks:
sequences in parallel on every core (``n_threads``), sample weights per
sequence, a scaled forward-backward that falls back to log space instead of
failing, and :class:`BernoulliHMM` and :class:`StudentTHMM`.

Models
------
GaussianHMM
    One Gaussian per state (spherical, diag, full or tied covariances).
GMMHMM
    A Gaussian mixture per state.
CategoricalHMM
    One symbol per frame.
MultinomialHMM
    A vector of counts per frame with a fixed number of trials.
PoissonHMM
    Independent Poisson counts per feature.
BernoulliHMM
    Independent 0/1 features.
StudentTHMM
    A multivariate Student-t per state: robust to outliers.

Every model saves to a fastgmm model file (``model.save(path)`` or
``fastgmm.save``; read back with ``fastgmm.load``), fits from the command line
(``fastgmm fit --model gaussian-hmm --lengths FILE``), and is drawn by
``fastgmm.plot.state_sequence`` and ``fastgmm.plot.transition_matrix``;
:func:`select_n_states` chooses the number of states by BIC or AIC.
"""

from ._base import DECODER_ALGORITHMS, BaseHMM, ConvergenceMonitor
from ._discrete import BernoulliHMM, CategoricalHMM, MultinomialHMM, PoissonHMM
from ._gaussian import COVARIANCE_TYPES, GaussianHMM, GMMHMM
from ._select import select_n_states
from ._studentt import StudentTHMM

__all__ = [
    "BaseHMM", "BernoulliHMM", "CategoricalHMM", "ConvergenceMonitor", "COVARIANCE_TYPES", "DECODER_ALGORITHMS",
    "GaussianHMM", "GMMHMM", "MultinomialHMM", "PoissonHMM", "StudentTHMM", "select_n_states",
]
