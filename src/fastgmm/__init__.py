"""fastgmm: Gaussian mixture models fitted by EM with fused Cython/OpenMP kernels.

``fastgmm.GaussianMixture`` is a drop-in for ``sklearn.mixture.GaussianMixture``.
"""

__version__ = "0.1.0.dev0"

from ._config import build_info, show_config
from ._gaussian_mixture import GaussianMixture
from ._validation import ConvergenceWarning, NotFittedError

__all__ = ["__version__", "GaussianMixture", "ConvergenceWarning", "NotFittedError", "build_info", "show_config"]
