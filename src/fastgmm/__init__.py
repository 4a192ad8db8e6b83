"""fastgmm: Gaussian mixture models fitted by EM with fused Cython/OpenMP kernels."""

__version__ = "0.1.0.dev0"

from ._config import build_info, show_config

__all__ = ["__version__", "build_info", "show_config"]
