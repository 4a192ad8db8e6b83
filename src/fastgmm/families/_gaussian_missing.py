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

:func:`impute` (once per call, not per iteration) builds each pattern's
marginal coefficients instead (:func:`marginal_coefficients`: with Q_pk =
(Sigma_k,oo)^-1 embedded in D x D, zero rows and columns for the missing
coordinates, F W_p is the observed part's log-density) and runs the kernel
in segments that never straddle two patterns, in batches of patterns whose
arrays stay within a fixed memory budget.
"""

from dataclasses import dataclass

import numpy as np

from ..kernels import _driver as _kernels
from ..kernels import _estep
from ..sources._nan import (MIN_OBSERVED, MissingRows, check_observed_columns, group_patterns, has_nan, nan_summary,
                            observed_counts, rows_without_nan)
from . import _gaussian
from ._gaussian import QUAD, full_pairs, n_features_out

_LOG_2PI = np.log(2 * np.pi)
_BLOCK = 65536
# Doubles that one batch's per-pattern arrays (coefficients, segment sums,
# completion temporaries) may use: 2 M doubles, 16 MiB.
_BATCH_DOUBLES = 1 << 21


# ---------------------------------------------------------------------------
# Marginal coefficients per pattern (batched)
# ---------------------------------------------------------------------------

@dataclass
class _Marginals:
    W: np.ndarray            # (B * P, K) stacked kernel coefficients
    U: np.ndarray            # (B * D, D) tied marginal precision factors, or None
    Q: np.ndarray            # full: (B, K, D, D), tied: (B, D, D) embedded marginal precisions; else None


def _masked_cholesky_inverse(cov, obs):
    """Embedded factors of (Sigma_oo)^-1 for every (pattern, covariance).

    cov (C, D, D), obs (B, D) bool -> (U (B, C, D, D) upper with U U^T =
    Q embedded, half log det Sigma_oo (B, C)). The masked matrix (Sigma on the
    observed block, identity on the missing one) is positive definite with the
    same Cholesky factor on the observed block, so one batched factorisation
    of uniform shape serves every pattern.
    """
    o = obs.astype(np.float64)
    oo = o[:, :, None] * o[:, None, :]                        # (B, D, D)
    D = cov.shape[-1]
    M = cov[None] * oo[:, None] + (np.eye(D) * (1.0 - o)[:, None, :])[:, None]
    L = np.linalg.cholesky(M)
    half_logdet = np.sum(np.log(np.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    Linv = np.linalg.solve(L, np.broadcast_to(np.eye(D), L.shape))
    U = np.swapaxes(Linv, -1, -2) * oo[:, None]
    return U, half_logdet


@dataclass
class MarginalForms:
    """The quadratic forms of the observed marginals of B patterns under K components.

    With a_k = mu_k - shift and Q_pk = (Sigma_k,oo)^-1 embedded in D x D,
    -1/2 delta_pk(z) = -1/2 (z - a_k)^T Q_pk (z - a_k) = f(z) . W[p, k] -
    1/2 aQa[p, k] for the kernel's features f(z) = [1, z, q(z)] of a row of
    pattern p (missing z_d = 0).

    Attributes
    ----------
    W : ndarray (B, K, P)
        The z and q(z) coefficients (W[..., 0] is left 0 for the caller's constant).
    aQa : ndarray (B, K)
        a_k^T Q_pk a_k.
    half_logdet : ndarray (B, K)
        1/2 log det Sigma_k,oo.
    n_obs : ndarray (B,)
        Observed coordinates of each pattern (float).
    U : ndarray (B, D, D) or None
        Tied: the embedded factors of Q_p.
    Q : ndarray (B, K, D, D), (B, D, D) or None
        Full, tied: the embedded marginal precisions; diag, spherical: None.
    """

    W: np.ndarray
    aQa: np.ndarray
    half_logdet: np.ndarray
    n_obs: np.ndarray
    U: np.ndarray
    Q: np.ndarray


def marginal_forms(means, cov, prec_chol, cov_type, shift, observed):
    """:class:`MarginalForms` of the patterns ``observed`` (B, D); shared by every family with
    marginal densities in the observed part's Mahalanobis distance (Gaussian, Student-t)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return _marginal_forms(means, cov, prec_chol, cov_type, shift, observed)


def _marginal_forms(means, cov, prec_chol, cov_type, shift, observed):
    means = np.asarray(means, dtype=np.float64)
    K, D = means.shape
    B = observed.shape[0]
    P = n_features_out(cov_type, D)
    o = observed.astype(np.float64)
    n_obs = o.sum(axis=1)                                     # (B,)
    a = means - shift                                         # (K, D)
    W = np.zeros((B, K, P))
    U = Q = None
    if cov_type == "full":
        Uf, hld = _masked_cholesky_inverse(np.asarray(cov, dtype=np.float64), observed)
        Q = Uf @ np.swapaxes(Uf, -1, -2)                      # (B, K, D, D)
        Qa = np.einsum("bkde,ke->bkd", Q, a)
        aQa = np.einsum("bkd,kd->bk", Qa, a)
        W[:, :, 1:D + 1] = Qa
        iu, ju = full_pairs(D)
        W[:, :, D + 1:] = -Q[:, :, iu, ju] * np.where(iu == ju, 0.5, 1.0)
    elif cov_type == "tied":
        Uf, hld = _masked_cholesky_inverse(np.asarray(cov, dtype=np.float64)[None], observed)
        Uf, hld = Uf[:, 0], hld[:, 0]                         # (B, D, D), (B,)
        hld = np.broadcast_to(hld[:, None], (B, K))
        Q = Uf @ np.swapaxes(Uf, -1, -2)
        aU = np.einsum("kd,bde->bke", a, Uf)
        aQa = np.sum(aU * aU, axis=2)
        W[:, :, 1:D + 1] = np.einsum("bke,bde->bkd", aU, Uf)
        W[:, :, D + 1] = -0.5
        U = Uf
    else:
        prec = np.asarray(prec_chol, dtype=np.float64) ** 2
        prec = prec if cov_type == "diag" else np.repeat(prec[:, None], D, axis=1)   # (K, D)
        Qd = o[:, None, :] * prec[None]                       # (B, K, D)
        with np.errstate(divide="ignore"):
            logp = np.log(prec)
        # log det Sigma_oo = -sum_o log(precision): negated exactly, so that the
        # Gaussian constant below is bitwise what it was when written with +.
        hld = -(0.5 * np.einsum("bd,kd->bk", o, logp))
        aQa = np.sum(Qd * a * a, axis=2)
        W[:, :, 1:D + 1] = Qd * a
        if cov_type == "diag":
            W[:, :, D + 1:] = -0.5 * Qd
        else:
            W[:, :, D + 1] = -0.5 * prec[None, :, 0]
    return MarginalForms(W, aQa, hld, n_obs, U, Q)


def marginal_coefficients(weights, means, cov, prec_chol, cov_type, shift, observed, complete_first,
                          log_weights=None):
    """Kernel coefficients of the marginal densities of the patterns ``observed`` (B, D).

    ``log_weights`` (K,): the per-component constants log w_k, when they are
    not the logarithms of ``weights`` (the variational family's E[log pi_k]
    plus its expected log-density offset; they need not normalise). None:
    ``log(weights)``.
    """
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return _marginal_coefficients(weights, means, cov, prec_chol, cov_type, shift, observed, complete_first,
                                      log_weights)


def _marginal_coefficients(weights, means, cov, prec_chol, cov_type, shift, observed, complete_first,
                           log_weights=None):
    K, D = np.shape(means)
    B = observed.shape[0]
    P = n_features_out(cov_type, D)
    forms = _marginal_forms(means, cov, prec_chol, cov_type, shift, observed)
    W, U = forms.W, forms.U
    if log_weights is None:
        lw = np.log(np.asarray(weights, dtype=np.float64))
    else:
        lw = np.asarray(log_weights, dtype=np.float64)
    const = lw[None, :] - 0.5 * forms.n_obs[:, None] * _LOG_2PI    # (B, K)
    W[:, :, 0] = const - forms.half_logdet - 0.5 * forms.aQa
    if complete_first:
        # The fully observed rows keep exactly today's coefficients (with
        # log_weights: the unit-weight Gaussian ones plus the constants, the
        # variational family's complete-data coefficients).
        if log_weights is None:
            _, W0, U0 = _gaussian.kernel_coefficients(weights, means, prec_chol, cov_type, shift)
        else:
            _, W0, U0 = _gaussian.kernel_coefficients(np.ones(K), means, prec_chol, cov_type, shift)
            W0[0] += lw
        W[0] = W0.T
        if U is not None:
            U[0] = U0
    W = np.ascontiguousarray(W.transpose(0, 2, 1).reshape(B * P, K))
    if U is not None:
        U = np.ascontiguousarray(U.reshape(B * D, D))
    return _Marginals(W, U, forms.Q)


# ---------------------------------------------------------------------------
# Statistics (fit) and estimates (prediction)
# ---------------------------------------------------------------------------

def _layout(missing, X, K, cov_type):
    D = X.shape[1]
    P = n_features_out(cov_type, D)
    tied = cov_type == "tied"
    chunk, slot, _ = _kernels._layout(X.shape[0], D, K, P, X.itemsize, tied, None, None)
    return P, chunk, slot


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
    ``log_weights`` (constants in place of log(weights), see
    :func:`marginal_coefficients`) their logsumexp and softmax.
    """
    shift = _gaussian.mixture_shift(weights, means)
    W, U, arrays = _kernel_missing(missing, weights, means, prec_chol, cov_type, shift, log_weights)
    return _kernels.estimate(X, QUAD[cov_type], shift, W, U, n_threads, row_ll=row_ll, labels=labels, resp=resp,
                             total=total, missing=arrays)


def impute(X, missing, weights, means, cov, prec_chol, cov_type, n_threads):
    """X with each NaN replaced by its conditional expectation under the mixture.

    E[x_m | x_o] = sum_k r_k(x_o) (mu_km + Sigma_k,mo Sigma_k,oo^-1 (x_o - mu_ko)),
    with r_k(x_o) the responsibilities of the observed part (the weights for a
    row with nothing observed). Returns a float64 copy of X (X's dtype).
    """
    out = np.array(X, copy=True)
    K, D = np.shape(means)
    means = np.asarray(means, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    shift = _gaussian.mixture_shift(weights, means)
    first = 1 if missing.complete else 0
    # Rows in blocks whose per-row (K, D, D) regressions stay within the budget.
    per_row = K * D * (D if cov_type in ("full", "tied") else 1) + K + D
    block = max(1, min(_BLOCK, _BATCH_DOUBLES // per_row))
    q0 = int(missing.start[first])
    pat_of = np.repeat(np.arange(missing.n_patterns), np.diff(missing.start))
    while q0 < len(missing.order):
        q1 = min(len(missing.order), q0 + block)
        rows = missing.order[q0:q1]
        pats = pat_of[q0:q1]
        p_lo, p_hi = int(pats[0]), int(pats[-1]) + 1
        obs = missing.observed[p_lo:p_hi]
        local = pats - p_lo
        Xb = np.ascontiguousarray(X[rows])
        coef = marginal_coefficients(weights, means, cov, prec_chol, cov_type, shift, obs, False)
        seg_start = np.flatnonzero(np.r_[True, local[1:] != local[:-1], True]).astype(np.int64)
        seg_pat = local[seg_start[:-1]].astype(np.int64)
        resp = np.empty((len(rows), K))
        _, chunk, slot = _layout(missing, X, K, cov_type)
        status = _estep.estimate(Xb.astype(np.float64), QUAD[cov_type], shift, coef.W, coef.U, chunk, slot,
                                 None, None, resp, None, n_threads, np.arange(len(rows), dtype=np.int64),
                                 seg_start, seg_pat)
        _kernels._check_status(status)
        x0 = np.where(np.isnan(Xb), 0.0, Xb.astype(np.float64))
        if cov_type in ("diag", "spherical"):
            fill = resp @ means                                       # (n, D)
        else:
            Qr = coef.Q[local]                                        # (n, K, D, D) or (n, D, D)
            A = cov[None] @ Qr
            if cov_type == "tied":
                A = np.broadcast_to(A[:, None], (len(rows), K, D, D))
            dev = x0[:, None, :] - means[None]                        # (n, K, D)
            cond = means[None] + np.einsum("nkde,nke->nkd", A, dev)
            fill = np.einsum("nk,nkd->nd", resp, cond)
        nan = np.isnan(Xb)
        Xb[nan] = fill[nan]
        out[rows] = Xb
        q0 = q1
    return out
