"""One E-step + statistics pass of a Gaussian mixture under given parameters, and its E-step outputs: the fused
kernel (``fastgmm.kernels._estep``, one mode per covariance type: QFULL, QTIED, QDIAG, QSPHERICAL) with the
coefficients of ``fastgmm.families._gaussian``."""

import numpy as np

from ..kernels import _driver as _kernels
from . import _gaussian
from ._gaussian import QUAD


def gaussian_statistics(X, weights, means, prec_chol, cov_type, n_threads, *, sample_weight=None,
                        chunk_rows=None, slot_rows=None, allow_float32=False):
    """One E-step + statistics pass under the given parameters: a :class:`Statistics`.

    ``chunk_rows`` and ``slot_rows`` override the layout (tests cross chunk
    and slot boundaries with them on small data). ``allow_float32``: float32
    X is computed in float32 where ``_gaussian.float32_coefficients`` says
    that keeps the accuracy (the fits), else in float64 (the default: float64
    accuracy for either dtype).
    """
    shift, W, U = _gaussian.kernel_coefficients(weights, means, prec_chol, cov_type)
    W32 = None
    if allow_float32 and X.dtype == np.float32:
        W32 = _gaussian.float32_coefficients(W, weights, prec_chol, cov_type, shift, means)
    G, T, ll = _kernels.accumulate(X, QUAD[cov_type], np.shape(means)[0], shift, n_threads, W=W, U=U,
                                   sample_weight=sample_weight, chunk_rows=chunk_rows, slot_rows=slot_rows,
                                   W32=W32)
    if W32 is not None:
        ll += _gaussian.float32_loglik_correction(W, W32, G)
    del W, U, W32   # released before the statistics are unpacked (memory peak)
    weight = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    return _gaussian.statistics_from_sums(G, T, cov_type, shift, ll, weight, X.shape[0])


def gaussian_estimate(X, weights, means, prec_chol, cov_type, n_threads, **outputs):
    """E-step outputs (``row_ll``, ``labels``, ``resp``, ``total``) under the given parameters."""
    shift, W, U = _gaussian.kernel_coefficients(weights, means, prec_chol, cov_type)
    return _kernels.estimate(X, QUAD[cov_type], shift, W, U, n_threads, **outputs)
