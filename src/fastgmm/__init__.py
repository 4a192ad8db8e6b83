"""fastgmm: Gaussian mixture models fitted by EM with fused Cython/OpenMP kernels.

``fastgmm.GaussianMixture`` is a drop-in for ``sklearn.mixture.GaussianMixture``.
"""

from .utils._version import __version__

# Idle OpenMP threads must not busy-wait. libgomp's default spins ~300,000
# times after every parallel region (milliseconds on current CPUs) before it
# sleeps; an EM fit runs one region per iteration with a short Python M-step
# between, so the workers spin through it. With another process on the
# second core of a 2-core machine, a 9,000 x 4, K=3 fit then took 1.4-15 ms
# per iteration on 2 threads against 0.37-0.8 ms on one, and on a busy
# shared machine even "idle" runs hit 9 ms: the spinning worker uses up its
# share of the busy core and is descheduled holding a chunk the pass waits
# for. OMP_WAIT_POLICY=PASSIVE (threads sleep at once) brought 2 threads back
# to the one-thread time in all those cases (0.38-0.86 ms) and costs a large
# problem nothing measurable (one wake-up per pass of tens of ms;
# benchmarks/threads_under_load.py). Bounded spinning (GOMP_SPINCOUNT 1e3,
# 1e4, 1e5) was measured too and was no better than passive when idle and
# worse when loaded. What passive does cost, ~90 us to wake the workers of
# each region, is why small passes run on one thread
# (_openmp_helpers.threads_for_work). The runtime reads the policy when it
# starts, so it is set here, before the first extension loads, and only if
# the user has not chosen (OMP_WAIT_POLICY, GOMP_SPINCOUNT, KMP_BLOCKTIME).
from .utils import _threadpool


def _start_openmp_runtime():
    from .kernels import _openmp_helpers

    _openmp_helpers.openmp_max_threads()   # LLVM libomp initialises at its first call


_threadpool.start_openmp_runtime_passive(_start_openmp_runtime)
del _start_openmp_runtime

from .families._bayesian_mixture import BayesianGaussianMixture
from ._config import build_info, show_config
from .families._bernoulli import BernoulliMixture
from .families._categorical import CategoricalMixture
from .families._poisson import PoissonMixture
from .families._studentt import StudentTMixture
from .families._gaussian_mixture import GaussianMixture
from .io._persistence import load, save
from ._selection import GaussianMixtureSelection
from ._bootstrap import BootstrapLRTResult, bootstrap_lrt
from ._discriminant import MixtureDiscriminantAnalysis
# Imported so that load finds the HMM classes among the estimators (fastgmm.hmm is a public module).
from . import hmm  # noqa: E402
from .utils._validation import ConvergenceWarning, FitInterruptedWarning, NotFittedError

__all__ = ["__version__", "GaussianMixture", "GaussianMixtureSelection", "BayesianGaussianMixture",
           "BernoulliMixture", "PoissonMixture", "CategoricalMixture", "StudentTMixture", "ConvergenceWarning",
           "FitInterruptedWarning", "NotFittedError", "build_info", "load", "save", "show_config",
           "MixtureDiscriminantAnalysis", "bootstrap_lrt", "BootstrapLRTResult"]
