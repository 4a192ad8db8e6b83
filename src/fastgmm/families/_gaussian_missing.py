"""Exact EM for data missing at random: rows grouped by missingness pattern.

Rows are grouped by their pattern of NaNs once per fit (one N-sized int64
visiting order sorted by pattern, no N x D temporary;
``fastgmm.sources._nan.group_patterns``).

The EM passes (:func:`missing_statistics`, :func:`missing_estimate`, and the
Student-t family's through :func:`missing_arrays`) are one kernel pass in
the kernel's missing mode (``fastgmm.kernels._missing.h``). The kernel reads
a row's NaNs as z_d = 0, computes the complete-data log-density (Student-t:
the Mahalanobis distance) with today's coefficients and corrects it into the
observed part's with the pattern's Cholesky factor of Lambda_k,MM, the
precision's missing block: O(m D + m^2) per row and component, m the row's
missing count, the K factorisations of a pattern done once per run of its
rows. The same factor gives the completed statistics of the M-step
(Ghahramani and Jordan): under component k the missing coordinates have mean
-Lambda_MM^-1 (Lambda y)_M (about the row's z_M = 0) and covariance
Lambda_MM^-1. This module lays the parameters out for it.

:func:`impute` is the same pass's prediction, with each NaN replaced by
sum_k r_k E[x_m | x_o, k].
"""

import numpy as np

from ..kernels import _driver as _kernels
# What every family's NaN policy needs, re-exported for the families' use as _missing.X:
from ..sources._nan import check_observed_columns, group_patterns, has_nan, observed_counts  # noqa: F401
from . import _gaussian
from ._gaussian import QUAD, full_pairs


def _kernel_missing(missing, weights, means, prec_chol, cov_type, shift, log_weights):
    """The complete-data coefficients (W, U) and the kernel's missing-mode arrays (:func:`missing_arrays`)."""
    K, D = np.shape(means)
    if log_weights is None:
        _, W, U = _gaussian.kernel_coefficients(weights, means, prec_chol, cov_type, shift)
    else:
        _, W, U = _gaussian.kernel_coefficients(np.ones(K), means, prec_chol, cov_type, shift)
        W[0] += np.asarray(log_weights, dtype=np.float64)
    return W, U, missing_arrays(missing, means, prec_chol, cov_type, shift)


def missing_arrays(missing, means, prec_chol, cov_type, shift):
    """The kernel's missing-mode arrays (a dict for ``fastgmm.kernels._driver.accumulate``).

    The kernel (``_missing.h``) corrects the complete-data log-density (or,
    for Student-t, the Mahalanobis distance) of a row read with z_m = 0 into
    its observed part's, and completes the sums, from the precisions and the
    offsets d_k = mu_k - shift; shared by every family whose densities are
    functions of the Gaussian quadratic form.
    """
    K, D = np.shape(means)
    pc = np.asarray(prec_chol, dtype=np.float64)
    dev = np.asarray(means, dtype=np.float64) - shift
    if cov_type == "full":
        # The kernel puts the components in vector lanes: Lambda_k as (D, D, Kp) and Lambda_k d_k as
        # (D, Kp), K padded to a multiple of 8 with identity precisions (positive definite, never read back).
        Kp = -(-K // 8) * 8
        prec = np.zeros((D, D, Kp))
        prec[:, :, K:] = np.eye(D)[:, :, None]
        lam = pc @ np.swapaxes(pc, -1, -2)
        prec[:, :, :K] = np.moveaxis(lam, 0, -1)
        dev = np.concatenate([np.einsum("kab,kb->ak", lam, dev), np.zeros((D, Kp - K))], axis=1)
    elif cov_type == "tied":
        prec = pc @ pc.T
    elif cov_type == "diag":
        prec = pc * pc
    else:
        prec = np.repeat((pc * pc)[:, None], D, axis=1)
    pair = None
    if cov_type == "full":
        iu, ju = full_pairs(D)
        index = np.empty((D, D), dtype=np.int64)
        index[iu, ju] = index[ju, iu] = 1 + D + np.arange(len(iu))
        pair = index.ravel()
    miss_ptr, miss_idx = missing.missing_columns()
    return {
        "rows": missing.order, "pat_start": missing.start, "miss_ptr": miss_ptr, "miss_idx": miss_idx,
        "prec": np.ascontiguousarray(prec).ravel(),
        "dev": np.ascontiguousarray(dev).ravel(), "pair": pair}


def missing_statistics(X, missing, weights, means, cov, prec_chol, cov_type, n_threads, *, sample_weight=None,
                       chunk_rows=None, slot_rows=None, log_weights=None):
    """One exact E-step + completed statistics over X with NaNs: a :class:`Statistics`.

    One kernel pass over the rows sorted by pattern (the kernel's missing
    mode, ``_missing.h``): per row and component, the complete-data
    log-density corrected into the observed part's marginal through the
    pattern's Cholesky factor of Lambda_MM, and the completed sums. ``cov``
    is unused (the precisions say it all); ``weights`` give the centre of the
    features (the mixture's mean); ``log_weights``, when given, the
    per-component constants of the log-densities instead of log(weights).
    """
    K, D = np.shape(means)
    shift = _gaussian.mixture_shift(weights, means)
    W, U, arrays = _kernel_missing(missing, weights, means, prec_chol, cov_type, shift, log_weights)
    G, T, loglik = _kernels.accumulate(X, QUAD[cov_type], K, shift, n_threads, W=W, U=U, missing=arrays,
                                       sample_weight=sample_weight, chunk_rows=chunk_rows, slot_rows=slot_rows)
    weight = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    return _gaussian.statistics_from_sums(G, T, cov_type, shift, loglik, weight, X.shape[0])


def missing_estimate(X, missing, weights, means, cov, prec_chol, cov_type, n_threads, *, row_ll=False,
                     labels=False, resp=False, total=False, log_weights=None):
    """E-step outputs of rows with NaNs from the marginal densities of their observed parts.

    A row with no observed value gets log-likelihood 0 (the probability of
    observing nothing) and the mixture weights as responsibilities; with
    ``log_weights`` (constants in place of log(weights): the variational
    family's expected log-weights plus its expected log-density offset; they
    need not normalise) their logsumexp and softmax.
    """
    shift = _gaussian.mixture_shift(weights, means)
    W, U, arrays = _kernel_missing(missing, weights, means, prec_chol, cov_type, shift, log_weights)
    return _kernels.estimate(X, QUAD[cov_type], shift, W, U, n_threads, row_ll=row_ll, labels=labels, resp=resp,
                             total=total, missing=arrays)


def impute(X, missing, weights, means, cov, prec_chol, cov_type, n_threads):
    """X with each NaN replaced by its conditional expectation under the mixture.

    E[x_m | x_o] = sum_k r_k(x_o) (mu_km + Sigma_k,mo Sigma_k,oo^-1 (x_o - mu_ko)),
    with r_k(x_o) the responsibilities of the observed part (the weights for a
    row with nothing observed): one kernel pass in the missing mode, which
    has each component's conditional mean from the E-step's factor. Returns
    a copy of X (X's dtype); observed values are unchanged.
    """
    shift = _gaussian.mixture_shift(weights, means)
    W, U, arrays = _kernel_missing(missing, weights, means, prec_chol, cov_type, shift, None)
    return _kernels.estimate(X, QUAD[cov_type], shift, W, U, n_threads, missing=arrays, fill=True)[4]
