"""The Student-t family's maths: parameter checks, the kernel coefficients of the t log-densities (complete and
observed-marginal), the statistics passes (``TStatistics``) and the M-step with its degrees-of-freedom update.

The estimator that uses them is ``fastgmm.families._studentt.StudentTMixture``, whose module docstring has the
algorithm.
"""

import math

import numpy as np
from scipy import optimize, special

from ..kernels import _driver as _kernels
from ..kernels import _estep
from ..kernels._layout import chunk_rows_for, n_slots_for, ordered_slot_rows_for
from ..utils._validation import invalid_parameter
from . import _gaussian
from . import _gaussian_missing as _missing
from ._gaussian import QUAD
from ._gaussian_checks import _as_float_param
from ._gaussian_statistics import Statistics

# The smallest dof accepted: half of a subnormal dof (5e-324) is 0, and log(0)
# made the log normaliser -inf (a loaded degrees_of_freedom_ of 5e-324).
DOF_MIN = float(np.finfo(np.float64).tiny)
# Flop-equivalents of the per-(row, component) t terms (a log1p and a division).
_T_TERMS_FLOPS = 40


# ---------------------------------------------------------------------------
# Parameter checks
# ---------------------------------------------------------------------------

def _check_dof(dof_init, K, name):
    """``dof_init`` as a float64 (K,) array of finite values > 0."""
    if isinstance(dof_init, (bool, np.bool_)) or isinstance(dof_init, str):
        raise invalid_parameter("dof_init", ["a float in the range (0.0, inf)", "an array-like of shape "
                                             "(n_components,)"], dof_init, estimator_name=name)
    dof = _as_float_param(dof_init, "dof_init")
    if dof.ndim == 0:
        dof = np.full(K, float(dof))
    if dof.shape != (K,):
        raise ValueError(f"The parameter 'dof_init' should be a number or have the shape of ({K},), "
                         f"but got {dof.shape}")
    if not np.all(np.isfinite(dof)) or np.any(dof < DOF_MIN):
        raise ValueError(f"The parameter 'dof_init' must be finite and > 0 (degrees of freedom; at least "
                         f"{DOF_MIN:.3g}, the smallest normal float), got {dof}.")
    return dof


def _check_dof_bounds(bounds, name):
    """(low, high) with 0 < low < high < inf."""
    detail = "dof_bounds is the range (low, high) of the estimated degrees of freedom, 0 < low < high < inf."
    try:
        low, high = bounds
        low, high = float(low), float(high)
        ok = DOF_MIN <= low < high < math.inf
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(bounds, str):
        raise invalid_parameter("dof_bounds", ["a tuple (low, high) of floats with 0 < low < high < inf"], bounds,
                                estimator_name=name, detail=detail)
    return low, high


# ---------------------------------------------------------------------------
# Parameters -> kernel coefficients
# ---------------------------------------------------------------------------

def t_log_normaliser(prec_chol, dof, cov_type, n_features):
    """log Gamma((nu + D)/2) - log Gamma(nu/2) - D/2 log(nu pi) + log det U_k, float64 (K,)."""
    D = n_features
    nu = np.asarray(dof, dtype=np.float64)
    ld = _gaussian.log_det_cholesky(np.asarray(prec_chol, dtype=np.float64), cov_type, D)
    return _log_gamma_ratio(0.5 * nu, 0.5 * D) - 0.5 * D * math.log(2 * math.pi) + ld


def _log_gamma_ratio(a, h):
    """log Gamma(a + h) - log Gamma(a) - h log a, accurate for large a (float64 array a, float h).

    The plain difference of gammaln values ~ a log a cancels: its error is
    ~eps a log a, so a fixed large dof (1e15) gave a log-likelihood off by 2
    and 1e308 gave NaN. For large a, the Stirling series of the ratio (its
    first three terms; the next is below h^5 / a^4) tends to 0 as it must
    (the t tends to the Gaussian).
    """
    a = np.asarray(a, dtype=np.float64)
    large = a > max(1e4, 100.0 * h * h)
    out = np.empty_like(a)
    small = a[~large]
    out[~large] = special.gammaln(small + h) - special.gammaln(small) - h * np.log(small)
    t = 1.0 / a[large]               # powers of 1/a: a**2 would overflow
    out[large] = t * (h * (h - 1) / 2 + t * (-h * (h - 0.5) * (h - 1) / 6 + t * h * h * (h - 1) ** 2 / 12))
    return out


def t_coefficients(weights, means, prec_chol, dof, cov_type):
    """(shift, W (P, K), a (K,), nu (K,)) for the kernel, float64, C-contiguous.

    f(x) . W[:, k] is the Mahalanobis distance of x to component k (f the
    Gaussian features about ``shift``, the mixture's mean) and a_k is
    log w_k plus the log-normaliser of the t density.
    """
    means = np.asarray(means, dtype=np.float64)
    pc = np.asarray(prec_chol, dtype=np.float64)
    K, D = means.shape
    shift = np.ascontiguousarray(_gaussian.mixture_shift(weights, means))
    with np.errstate(over="ignore", invalid="ignore"):
        # The Gaussian coefficients with weights 1 are -delta / 2 plus the
        # Gaussian log-normaliser in the constant; the constant is rebuilt
        # directly as a^T Lambda a, not by cancelling that normaliser.
        W = -2.0 * _gaussian.linear_coefficients(np.ones(K), means, pc, cov_type, shift)
        a = means - shift
        if cov_type == "full":
            aU = np.einsum("kd,kde->ke", a, pc)
            W[:, 0] = np.sum(aU * aU, axis=1)
        elif cov_type == "diag":
            W[:, 0] = np.sum(pc ** 2 * a * a, axis=1)
        else:
            W[:, 0] = pc ** 2 * np.sum(a * a, axis=1)
    with np.errstate(divide="ignore"):   # a zero weight is a legal -inf
        logw = np.log(np.asarray(weights, dtype=np.float64))
    const = logw + t_log_normaliser(pc, dof, cov_type, D)
    return (shift, np.ascontiguousarray(W.T), np.ascontiguousarray(const),
            np.ascontiguousarray(dof, dtype=np.float64))


# ---------------------------------------------------------------------------
# Kernel calls (layout and interruptible ranges as fastgmm.kernels._driver)
# ---------------------------------------------------------------------------

def _row_cost(P, K):
    return 4 * P * K + _T_TERMS_FLOPS * K


def _t_layout(N, D, K, P, itemsize, chunk_rows, slot_rows):
    chunk = chunk_rows or chunk_rows_for(P, 3 * K)     # three K-row buffers per chunk
    slot = slot_rows or ordered_slot_rows_for(N, chunk)     # the ordered reduction's slots (fastgmm.kernels._layout)
    return chunk, slot, n_slots_for(N, slot)


class TStatistics:
    """Additive sums of one Student-t E-step pass (summed over blocks for out-of-core X).

    Attributes
    ----------
    u_stats : Statistics
        The Gaussian statistics of the rows weighted by w_i r_ik u_ik: its nk
        is sum w r u, s1 sum w r u z, s2 sum w r u q(z), about the centre.
    nk : ndarray (K,)
        sum_i w_i r_ik.
    h : ndarray (K,)
        sum_i w_i r_ik (log u_ik - u_ik). With missing values, sum_i w_i r_ik
        (E[log u_ik] - E[u_ik] - psi_D(nu_k)), psi_d(nu) = digamma((nu + d) / 2)
        - log((nu + d) / 2): the same for a complete row, and for every row
        the term :func:`dof_equation` needs once its psi_D(nu_k) is added
        (see the module docstring).
    """

    def __init__(self, u_stats, nk, h):
        self.u_stats, self.nk, self.h = u_stats, nk, h

    @property
    def loglik(self):
        return self.u_stats.loglik

    @property
    def weight(self):
        return self.u_stats.weight

    def __iadd__(self, other):
        if not isinstance(other, TStatistics):
            return NotImplemented
        self.u_stats += other.u_stats
        self.nk = self.nk + other.nk
        self.h = self.h + other.h
        return self

    def __add__(self, other):
        out = TStatistics(self.u_stats.copy(), self.nk.copy(), self.h.copy())
        out += other
        return out

    def scaled(self, factor):
        """Every sum multiplied by ``factor`` (online EM's step)."""
        f = float(factor)
        return TStatistics(self.u_stats.scaled(f), self.nk * f, self.h * f)

    def to_dict(self):
        """Plain dict of arrays and numbers (for transfers and saving)."""
        return {"u_stats": self.u_stats.to_dict(), "nk": self.nk, "h": self.h}

    @classmethod
    def from_dict(cls, d):
        return cls(Statistics.from_dict(d["u_stats"]), np.asarray(d["nk"], dtype=np.float64),
                   np.asarray(d["h"], dtype=np.float64))


def t_statistics(X, weights, means, prec_chol, dof, cov_type, n_threads, *, sample_weight=None,
                 chunk_rows=None, slot_rows=None, range_slots=None, resp=None):
    """One E-step + statistics pass under the given parameters: a :class:`TStatistics`.

    ``chunk_rows``, ``slot_rows`` and ``range_slots`` override the layout and
    the split into kernel calls (tests cross chunk and slot boundaries).
    ``resp`` (float64 (N, K)): responsibilities given (an HMM's state
    posteriors) instead of the E-step's; the pass then computes only the
    scale weights, and the statistics' loglik is 0.
    """
    shift, W, a, nu = t_coefficients(weights, means, prec_chol, dof, cov_type)
    N, D = X.shape
    P, K = W.shape
    chunk, slot, n_slots = _t_layout(N, D, K, P, X.itemsize, chunk_rows, slot_rows)
    G = np.zeros(K * P)
    R = np.zeros(K)
    H = np.zeros(K)
    ll = np.zeros(1)
    cost = _row_cost(P, K)
    threads = _threads(n_threads, N, cost)
    # Cut into kernel calls over whole slots so that Ctrl-C is seen between them (fastgmm.kernels._driver).
    for s0, s1 in _kernels._slot_ranges(N, slot, n_slots, cost, threads, range_slots):
        r0, r1 = _kernels._rows(s0, s1, slot, N)
        status = _estep.accumulate_t_statistics(
            X[r0:r1], QUAD[cov_type], shift, W, a, nu, _kernels._part(sample_weight, r0, r1), chunk, slot,
            G, R, H, ll, _threads(threads, r1 - r0, cost), resp=_kernels._part(resp, r0, r1))
        _kernels._check_status(status)
    # The kernel added the slots in slot order: identical for any thread count.
    G = G.reshape(K, P)
    weight = N if sample_weight is None else float(sample_weight.sum())
    u_stats = _gaussian.statistics_from_sums(G, None, cov_type, shift, float(ll[0]), weight, N)
    return TStatistics(u_stats, R, H)


def _psi(nu, d):
    """digamma((nu + d) / 2) - log((nu + d) / 2): E[log u] - log E[u] under u's Gamma posterior in d dimensions."""
    half = 0.5 * (nu + d)
    return special.digamma(half) - np.log(half)


def _t_missing_tables(weights, means, prec_chol, dof, cov_type, a_complete):
    """(a, psi), ((D + 1) * K,) each: per observed dimension d = 0 .. D, the kernel's t normalisers
    log w_k + log Gamma((nu + d)/2) - log Gamma(nu/2) - d/2 log(nu pi) + 1/2 log det Lambda_k (the
    kernel subtracts each pattern's 1/2 log det Lambda_k,MM: together the observed marginal's) and
    psi_d(nu_k) - psi_D(nu_k) (what :class:`TStatistics`' h needs added per row of dimension d).
    Dimension D gets exactly :func:`t_coefficients`' a, so complete rows score as without NaNs."""
    nu = np.asarray(dof, dtype=np.float64)
    K, D = np.shape(means)
    ld = _gaussian.log_det_cholesky(np.asarray(prec_chol, dtype=np.float64), cov_type, D)
    with np.errstate(divide="ignore"):   # a zero weight is a legal -inf
        logw = np.log(np.asarray(weights, dtype=np.float64))
    a = np.empty((D + 1, K))
    psi = np.empty((D + 1, K))
    psi_full = _psi(nu, D)
    for d in range(D + 1):
        a[d] = logw + (_log_gamma_ratio(0.5 * nu, 0.5 * d) - 0.5 * d * math.log(2 * math.pi) + ld)
        psi[d] = _psi(nu, d) - psi_full
    a[D] = a_complete
    psi[D] = 0.0
    return np.ascontiguousarray(a.ravel()), np.ascontiguousarray(psi.ravel())


def t_missing_statistics(X, missing, weights, means, cov, prec_chol, dof, cov_type, n_threads, *,
                         sample_weight=None, chunk_rows=None, slot_rows=None, range_slots=None):
    """One exact E-step + completed statistics over X with NaNs: a :class:`TStatistics`.

    ``missing`` is X's rows grouped by NaN pattern; one kernel pass in the
    missing mode (``fastgmm.kernels._missing.h``): each row's distance is
    corrected into its observed part's, its t terms taken in its observed
    dimension, and the sums completed (u-weighted, the conditional covariance
    with weight r). ``cov`` is unused; ``chunk_rows``, ``slot_rows`` and
    ``range_slots`` (slots per kernel call) override the layout for the tests.
    See the module docstring for the maths.
    """
    K, D = np.shape(means)
    shift, W, a0, nu = t_coefficients(weights, means, prec_chol, dof, cov_type)
    a, psi = _t_missing_tables(weights, means, prec_chol, dof, cov_type, a0)
    arrays = _missing.missing_arrays(missing, means, prec_chol, cov_type, shift)
    N = len(arrays["rows"])
    P = W.shape[0]
    chunk, slot, n_slots = _t_layout(N, D, K, P, X.itemsize, chunk_rows, slot_rows)
    G, R, H, ll = np.zeros(K * P), np.zeros(K), np.zeros(K), np.zeros(1)
    cost = _row_cost(P, K)
    threads = _threads(n_threads, N, cost)
    for s0, s1 in _kernels._slot_ranges(N, slot, n_slots, cost, threads, range_slots):
        r0, r1 = _kernels._rows(s0, s1, slot, N)
        status = _estep.accumulate_t_statistics(
            X, QUAD[cov_type], shift, W, a, nu, sample_weight, chunk, slot, G, R, H, ll,
            _threads(threads, r1 - r0, cost), arrays["rows"][r0:r1], **_kernels._missing_range(arrays, r0, r1),
            pair=arrays["pair"], psi=psi)
        _kernels._check_status(status)
    weight = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    u_stats = _gaussian.statistics_from_sums(G.reshape(K, P), None, cov_type, shift, float(ll[0]), weight,
                                             X.shape[0])
    return TStatistics(u_stats, R, H)


def t_missing_estimate(X, missing, weights, means, cov, prec_chol, dof, cov_type, n_threads, **outputs):
    """:func:`t_estimate`'s outputs for X with NaNs, from the t marginal of each row's observed values.

    A row with no observed value gets log-likelihood 0, the mixture weights
    as responsibilities and u = 1 (its prior mean). ``cov`` is unused.
    """
    return t_estimate(X, weights, means, prec_chol, dof, cov_type, n_threads, missing=missing, **outputs)


def _threads(n_threads, n_rows, cost):
    # Looked up on the module at each call, so the tests' every_thread fixture
    # (which patches fastgmm.kernels._driver.threads_for_work) reaches this pass too.
    return _kernels.threads_for_work(n_threads, n_rows, cost)


def t_estimate(X, weights, means, prec_chol, dof, cov_type, n_threads, *, row_ll=False, labels=False,
               resp=False, total=False, u=False, u_mix=False, range_slots=None, missing=None, log_prob=None):
    """E-step outputs under the given parameters; only the requested ones are allocated.

    Returns
    -------
    row_ll (N,) float64, labels (N,) int64, resp (N, K), total (float), u (N, K), u_mix (N,) : or None
        Per-row log-likelihoods, most probable components, responsibilities,
        the sum of the log-likelihoods, the scale weights u_ik and
        sum_k r_ik u_ik (the last three of X's dtype).

    ``missing`` (X's rows grouped by NaN pattern): the kernel's missing mode,
    each row scored by the t marginal of its observed values. ``log_prob``: a
    float64 (N, K) array filled with log w_k + each component's t log-density.
    """
    shift, W, a, nu = t_coefficients(weights, means, prec_chol, dof, cov_type)
    N, D = X.shape
    P, K = W.shape
    n_visit = N
    if missing is not None:
        a, _ = _t_missing_tables(weights, means, prec_chol, dof, cov_type, a)
        arrays = _missing.missing_arrays(missing, means, prec_chol, cov_type, shift)
        n_visit = len(arrays["rows"])
    chunk, slot, n_slots = _t_layout(n_visit, D, K, P, X.itemsize, None, None)
    out = {
        "row_ll": np.empty(N) if row_ll else None,
        "labels": np.empty(N, dtype=np.int64) if labels else None,
        "resp": np.empty((N, K), dtype=X.dtype) if resp else None,
        "u": np.empty((N, K), dtype=X.dtype) if u else None,
        "u_mix": np.empty(N, dtype=X.dtype) if u_mix else None,
        "slot_ll": np.zeros(1) if total else None,
    }
    cost = _row_cost(P, K) // 2
    threads = _threads(n_threads, n_visit, cost)
    part = _kernels._part
    for s0, s1 in _kernels._slot_ranges(n_visit, slot, n_slots, cost, threads, range_slots):
        r0, r1 = _kernels._rows(s0, s1, slot, n_visit)
        if missing is None:
            status = _estep.estimate_t(
                X[r0:r1], QUAD[cov_type], shift, W, a, nu, chunk, slot, part(out["row_ll"], r0, r1),
                part(out["labels"], r0, r1), part(out["resp"], r0, r1), part(out["u"], r0, r1),
                part(out["u_mix"], r0, r1), out["slot_ll"], _threads(threads, r1 - r0, cost),
                log_prob=part(log_prob, r0, r1))
        else:
            status = _estep.estimate_t(
                X, QUAD[cov_type], shift, W, a, nu, chunk, slot, out["row_ll"], out["labels"], out["resp"],
                out["u"], out["u_mix"], out["slot_ll"], _threads(threads, r1 - r0, cost), arrays["rows"][r0:r1],
                **_kernels._missing_range(arrays, r0, r1), log_prob=log_prob)
        _kernels._check_status(status)
    tot = float(out["slot_ll"][0]) if total else None
    return out["row_ll"], out["labels"], out["resp"], tot, out["u"], out["u_mix"]


# ---------------------------------------------------------------------------
# Statistics -> parameters
# ---------------------------------------------------------------------------

def dof_equation(nu, mean_log_u_minus_u, nu_old, n_features):
    """Left-hand side of the degrees-of-freedom equation (decreasing in ``nu``; see the module docstring)."""
    c = mean_log_u_minus_u + special.digamma(0.5 * (nu_old + n_features)) - math.log(0.5 * (nu_old + n_features))
    return 1.0 - special.digamma(0.5 * nu) + math.log(0.5 * nu) + c


def update_dof(nu_old, mean_log_u_minus_u, n_features, bounds):
    """The maximiser of Q in nu within ``bounds`` (brentq on the decreasing equation)."""
    low, high = bounds
    f_low = dof_equation(low, mean_log_u_minus_u, nu_old, n_features)
    if not f_low > 0:
        return low
    f_high = dof_equation(high, mean_log_u_minus_u, nu_old, n_features)
    if f_high >= 0:
        return high
    # Bisection of any float64 interval to xtol takes < 1100 steps: with 200 a
    # wide dof_bounds (0.1, 1e308) raised RuntimeError("Failed to converge").
    return optimize.brentq(dof_equation, low, high, args=(mean_log_u_minus_u, nu_old, n_features),
                           xtol=1e-12, rtol=4 * np.finfo(float).eps, maxiter=1100)


def m_step(stats, dof, reg_covar, eps, *, fix_dof, dof_bounds, means=None):
    """(weights, means, scale matrices, dof) from the statistics of one E-step.

    weights_k = n_k / sum n (n_k = sum w r + 10 eps, scikit-learn's guard);
    means_k = sum w r u x / sum w r u; Sigma_k = sum w r u (x - mu_k)(x -
    mu_k)^T / n_k + reg_covar I (diag: its diagonal, spherical: its mean);
    nu_k by :func:`update_dof` (kept for an empty component, or when fixed).
    """
    nk_eps = stats.nk + 10 * eps
    weights = nk_eps / np.sum(nk_eps)
    # The Gaussian M-step on the r u-weighted sums gives the means and the
    # scatter over sum r u; rescaled to sum r, then regularised.
    nu_eps, means, cov = _gaussian.m_step(stats.u_stats, 0.0, eps, means=means)
    scale = nu_eps / nk_eps
    cov_type = stats.u_stats.cov_type
    D = means.shape[1]
    if cov_type == "full":
        cov = cov * scale[:, None, None]
        cov[:, np.arange(D), np.arange(D)] += reg_covar
    elif cov_type == "diag":
        cov = cov * scale[:, None] + reg_covar
    else:
        cov = cov * scale + reg_covar
    dof = np.array(dof, dtype=np.float64, copy=True)
    if not fix_dof:
        for k in range(len(dof)):
            if stats.nk[k] > 10 * eps * max(stats.weight, 1.0):
                dof[k] = update_dof(dof[k], stats.h[k] / stats.nk[k], D, dof_bounds)
    return weights, means, cov, dof
