"""The Gaussian mixture's EM iteration compiled, where the fit allows it (``fastgmm.kernels._emrun``).

On small data an EM iteration is mostly Python: on mclust's USArrests (50 rows, 4 features, K = 3) the
Python iteration takes 36-58 us, the compiled one 2-19 us (``benchmarks/small_fits.py``). For a plain fit (in-memory float64 data, no missing values, noise
component, prior, frozen parameters, callback or degenerate-component handling, one kernel call per
pass) the engine's loop steps a :class:`Runner` instead of ``GaussianMixture._em_step``: the same
iteration, from the same compiled pieces in the same order, so the same bits (tests/test_emrun.py
compares the two paths on every model and layout). Where the compiled step cannot finish (the iteration
would raise: a non-finite log-likelihood, an overflow, a covariance that is not positive definite) the
iteration is made again on the Python path, which raises its error.
"""

import numpy as np

from ..kernels import _driver
from ..kernels._emrun import EMCore
from . import _gaussian, _mclust
from ._gaussian import QUAD, GaussianParams
from ._gaussian_checks import _eps
from ._gaussian_init import weighted_mean


class Runner:
    """Two parameter sets in compiled memory; :meth:`em_step` has ``BaseMixture._em_step``'s signature and
    returns the new set as a ``GaussianParams`` of views (valid until the step after next: the engine
    keeps only the current iterate, and a fit's last iterate is never written again)."""

    __slots__ = ("_gm", "_core", "_views", "_cur", "_X")

    def __init__(self, gm, core, views, X):
        self._gm, self._core, self._views, self._cur, self._X = gm, core, views, 0, X

    def em_step(self, X, sample_weight, params, start, n_threads, missing):
        cur = self._cur
        if params is not self._views[cur]:      # an iterate made on the Python path
            self._core.load(cur, *params[:4])
        lower_bound = self._core.step(cur)
        if lower_bound != lower_bound:
            # The compiled step stopped (see the module docstring): the Python path raises, or (out of memory
            # for a moment) goes on, the next step loading its result.
            return self._gm._em_step(X, sample_weight, self._views[cur], start, n_threads, missing)
        self._cur = 1 - cur
        return self._views[self._cur], lower_bound

    def score(self, params):
        """``(loglik, entropy)`` under ``params``: the sum of w_i log p(x_i) and -sum_i w_i sum_k r_ik log r_ik
        (ICL's term), from one compiled statistics pass (``EMCore.score``); None if the pass fails."""
        cur = self._cur
        if params is not self._views[cur]:
            self._core.load(cur, *params[:4])
        loglik, gw = self._core.score(cur)
        if not (np.isfinite(loglik) and np.isfinite(gw)):
            return None
        return loglik, loglik - gw


def _plain(gm, X, sample_weight, missing):
    """Whether this fit of ``gm`` (whose class makes GaussianMixture's own iteration) is the plain case the
    compiled step makes (see the module docstring)."""
    if (missing is not None or not isinstance(X, np.ndarray) or X.dtype != np.float64 or not X.flags.c_contiguous
            or X.ndim != 2 or gm._frozen_fields or gm.on_degenerate != "raise"
            or getattr(gm, "noise", None) is not None):
        return False
    if sample_weight is not None and not (isinstance(sample_weight, np.ndarray)
                                          and sample_weight.dtype == np.float64 and sample_weight.ndim == 1
                                          and sample_weight.flags.c_contiguous):
        return False
    return gm._prior_of(X, sample_weight) is None


def _runner(gm, X, sample_weight, K, n_threads, params):
    """A :class:`Runner` whose two sets start as ``params`` (arrays in the layout's shapes; None: zeros), or
    None where the pass would not be one kernel call."""
    lay = gm._layout
    N, D = X.shape
    P = _gaussian.n_features_out(lay, D)
    layout = _driver.single_call_layout(N, D, K, P, lay == "tied", n_threads)
    if layout is None:
        return None
    model = gm.covariance_type
    if model in _gaussian.COV_TYPES or model in _mclust.SKLEARN_EQUIVALENT:     # scikit-learn's M-step
        code, warm, tol, max_iter = -1, False, _mclust.DEFAULT_TOL, 1
    else:
        code = _mclust._kernel.MODEL_CODES[_mclust._FROM_SKLEARN.get(model, model)]
        warm, tol, max_iter = _gaussian.constrained_options(model)
    pair_i, pair_j, scale = _gaussian._products(lay, D)
    unpack = _gaussian._full_unpack(D) if lay == "full" else _gaussian._NO_PAIRS
    if params is None:
        cshape = _mclust.scatter_shape(lay, K, D)
        params = (np.zeros(K), np.zeros((K, D)), np.zeros(cshape), np.zeros(cshape))
    weight = N if sample_weight is None else float(sample_weight.sum())    # gaussian_statistics' weight
    chunk, slot, n_slots, threads = layout
    core = EMCore(X, sample_weight, _gaussian._KIND[lay], code, warm, QUAD[lay], P, chunk, slot, n_slots, threads,
                  float(gm.reg_covar), _eps(X), float(tol), int(max_iter), _mclust.EMPTY_WEIGHT, pair_i, pair_j,
                  scale, unpack, float(weight), [params, params])
    gm._pass_weight = weight
    return Runner(gm, core, [GaussianParams(*core.params[s]) for s in range(2)], X)


def runner_for(gm, X, sample_weight, params, n_threads, missing):
    """A :class:`Runner` for this fit of ``gm`` (a GaussianMixture) from ``params``, or None where the fit is
    not the plain case the compiled step makes. The runner of :func:`initial_parameters` when ``params``
    are its."""
    ready = gm.__dict__.pop("_initial_runner", None)
    if ready is not None and params is ready._views[0] and X is ready._X:
        return ready
    if type(params) is not GaussianParams or not _plain(gm, X, sample_weight, missing):
        return None
    first = [np.ascontiguousarray(a, dtype=np.float64) for a in params]
    if any(a.shape != np.shape(b) for a, b in zip(first, params)):
        return None
    return _runner(gm, X, sample_weight, np.shape(params.means)[0], n_threads, first)


def initial_parameters(gm, X, sample_weight, assignment, n_threads):
    """The initial parameters from a callable ``init_params``'s ``assignment`` (its checked result) made by
    the compiled step (its statistics of the labels and the model's M-step), or None where the Python path
    makes them (responsibilities, not the plain case, or the step cannot finish: that path raises). The
    runner is kept for the fit's loop (:func:`runner_for`)."""
    kind, labels = assignment
    if kind != "labels" or getattr(gm, "callback", None) is not None or not _plain(gm, X, sample_weight, None):
        return None
    runner = _runner(gm, X, sample_weight, gm.n_components, n_threads, None)
    if runner is None or not runner._core.init_labels(labels, weighted_mean(X, sample_weight)):
        return None
    gm._initial_runner = runner
    return runner._views[0]
