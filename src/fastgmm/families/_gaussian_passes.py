"""One E-step + statistics pass of a Gaussian mixture under given parameters, and its E-step outputs: the fused
kernel (``fastgmm.kernels._estep``, one mode per covariance type: QFULL, QTIED, QDIAG, QSPHERICAL) with the
coefficients of ``fastgmm.families._gaussian``.

With a noise component (``noise``: its log-density log pi_0 - log V,
``fastgmm.families._noise``) the coefficients get one more column, the
constant in the feature 1: the kernel's K + 1 components are the Gaussians
then the noise. The tied layout's kernel sums the second moment of every row
whatever its responsibilities, which is wrong once some of a row belongs to
the noise; there the pass runs the full layout's kernel with the shared
precision in every component and pools the components' second moments,
which is exact.
"""

import numpy as np

from ..kernels import _driver as _kernels
from . import _gaussian, _noise
from ._gaussian import QUAD


def gaussian_statistics(X, weights, means, prec_chol, cov_type, n_threads, *, sample_weight=None,
                        chunk_rows=None, slot_rows=None, allow_float32=False, noise=None):
    """One E-step + statistics pass under the given parameters: a :class:`Statistics`.

    ``noise``: the noise component's log-density (None: no noise); the
    result is then a ``_noise.NoiseStatistics`` of the Gaussian components.

    ``chunk_rows`` and ``slot_rows`` override the layout (tests cross chunk
    and slot boundaries with them on small data). ``allow_float32``: float32
    X is computed in float32 where ``_gaussian.float32_coefficients`` says
    that keeps the accuracy (the fits), else in float64 (the default: float64
    accuracy for either dtype).
    """
    K = np.shape(means)[0]
    pooled = noise is not None and cov_type == "tied"
    if pooled:      # tied + noise: the full layout, one copy of the shared factor per component
        cov_type, prec_chol = "full", np.repeat(np.asarray(prec_chol, dtype=np.float64)[None], K, axis=0)
        allow_float32 = False       # as tied: float64 passes
    shift, W, U = _gaussian.kernel_coefficients(weights, means, prec_chol, cov_type)
    W32 = None
    if allow_float32 and X.dtype == np.float32:
        W32 = _gaussian.float32_coefficients(W, weights, prec_chol, cov_type, shift, means)
    if noise is not None:
        W = _noise.append_noise_column(W, noise)
        W32 = None if W32 is None else _noise.append_noise_column(W32, noise)
    G, T, ll = _kernels.accumulate(X, QUAD[cov_type], W.shape[1], shift, n_threads, W=W, U=U,
                                   sample_weight=sample_weight, chunk_rows=chunk_rows, slot_rows=slot_rows,
                                   W32=W32)
    if W32 is not None:
        ll += _gaussian.float32_loglik_correction(W, W32, G)
    del W, U, W32   # released before the statistics are unpacked (memory peak)
    weight = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    if noise is None:
        return _gaussian.statistics_from_sums(G, T, cov_type, shift, ll, weight, X.shape[0])
    stats = _gaussian.statistics_from_sums(G[:K], T, cov_type, shift, ll, weight, X.shape[0])
    if pooled:
        stats.cov_type, stats.s2 = "tied", stats.s2.sum(axis=0)
    return _noise.NoiseStatistics.wrap(stats, G[K, 0])


def gaussian_estimate(X, weights, means, prec_chol, cov_type, n_threads, noise=None, **outputs):
    """E-step outputs (``row_ll``, ``labels``, ``resp``, ``total``) under the given parameters.

    ``noise``: the noise component's log-density (None: no noise): ``resp``
    then has K + 1 columns (the noise last) and the labels are -1 for rows
    whose most probable component is the noise.
    """
    shift, W, U = _gaussian.kernel_coefficients(weights, means, prec_chol, cov_type)
    if noise is not None:
        out = _kernels.estimate(X, QUAD[cov_type], shift, _noise.append_noise_column(W, noise), U, n_threads,
                                **outputs)
        return (out[0], _noise.labels_with_noise(out[1], np.shape(means)[0])) + tuple(out[2:])
    return _kernels.estimate(X, QUAD[cov_type], shift, W, U, n_threads, **outputs)
