"""Gaussian parameter maths, in one place.

Everything here works on the small arrays (K x D x D at most) in float64:
conversions between covariances, precisions and their Cholesky factors
(scikit-learn's parametrisation), the kernel's coefficients W from the
parameters (parameters -> kernel), the kernel's sums -> :class:`Statistics`,
and the M-step (statistics -> parameters).
"""

import functools
from typing import NamedTuple

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

from ..kernels import _estep, _linalg
from . import _mclust, _mclust_prior
from ._gaussian_statistics import Statistics

COV_TYPES = ("full", "tied", "diag", "spherical")
#: Every ``covariance_type`` a Gaussian mixture takes: scikit-learn's four, then mclust's fourteen models
#: (``fastgmm.families._mclust``; VII, VVI, EEE and VVV are spherical, diag, tied and full under other names).
MODEL_NAMES = COV_TYPES + _mclust.MODELS


def layout(cov_type):
    """The scikit-learn covariance type whose kernel, statistics and array shapes a model uses.

    EII, VII -> spherical; EEI, VEI, EVI, VVI -> diag; EEE -> tied; the
    other seven mclust models -> full. The E-step of every model is then one
    of the four fused kernels, with a full or diagonal precision per component.
    """
    return _mclust.layout(cov_type)


class GaussianParams(NamedTuple):
    """A Gaussian mixture's parameters, float64 (shapes as scikit-learn's fitted attributes)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

QUAD = {
    "full": _estep.QFULL,
    "tied": _estep.QTIED,
    "diag": _estep.QDIAG,
    "spherical": _estep.QSPHERICAL,
}
_LOG_2PI = np.log(2 * np.pi)

SINGULAR_ADVICE = (
    "Increase reg_covar (currently {reg}), use fewer components, or scale the data "
    "(each feature to unit variance)."
)


def n_features_out(cov_type, n_features):
    """Length P of a row's feature vector [1, z, q(z)] for this covariance type."""
    return _estep.n_features_out(QUAD[cov_type], n_features)


@functools.lru_cache(maxsize=64)
def _full_pairs_scale(n_features):
    """``full_pairs`` and the coefficient of each pair's product in -1/2 z^T Lambda z: -1/2 on the diagonal,
    -1 off it (each unordered pair stands for two entries)."""
    iu, ju = full_pairs(n_features)
    scale = np.where(iu == ju, -0.5, -1.0)
    scale.setflags(write=False)
    return iu, ju, scale


@functools.lru_cache(maxsize=64)
def _full_unpack(n_features):
    """For each entry (i, j) of a D x D matrix in C order, its pair's position in ``full_pairs``: the
    symmetric matrix of the kernel's products by one gather (read-only, cached)."""
    iu, ju = full_pairs(n_features)
    where = np.empty((n_features, n_features), dtype=np.intp)
    where[iu, ju] = np.arange(iu.size)
    where[ju, iu] = np.arange(iu.size)
    where = where.ravel()
    where.setflags(write=False)
    return where


@functools.lru_cache(maxsize=64)
def full_pairs(n_features):
    """(i, j) index arrays: the kernel's order of the products z_i z_j (full).

    Each unordered pair once, in the "circulant" order of ``_rowops.h``: for
    j = 0, 1, ..., D // 2 the pairs (d, (d + j) mod D), d < D (d < D / 2 for
    j = D / 2 when D is even), so that the kernel builds them as whole
    length-D vector products. Cached (two calls per EM iteration), so the
    arrays are read-only.
    """
    D = n_features
    rows, cols = [], []
    for j in range(D // 2 + 1):
        n = j if 2 * j == D else D
        d = np.arange(n)
        rows.append(d)
        cols.append((d + j) % D)
    i, j = np.concatenate(rows), np.concatenate(cols)
    i.flags.writeable = False
    j.flags.writeable = False
    return i, j


# ---------------------------------------------------------------------------
# Parametrisations (scikit-learn's: precisions_cholesky_ is upper U, P = U U^T)
# ---------------------------------------------------------------------------

def _flip(a):
    return a[..., ::-1, ::-1]


def precisions_cholesky_from_precisions(precisions, cov_type):
    """Upper U with P = U U^T, via the Cholesky factor of the reversed matrix (as scikit-learn)."""
    p = np.asarray(precisions, dtype=np.float64)
    if cov_type == "full":
        return np.stack([_flip(linalg.cholesky(_flip(m), lower=True)) for m in p])
    if cov_type == "tied":
        return _flip(linalg.cholesky(_flip(p), lower=True))
    return np.sqrt(p)


def precisions_from_cholesky(prec_chol, cov_type):
    pc = np.asarray(prec_chol, dtype=np.float64)
    if cov_type == "full":
        return np.einsum("kij,klj->kil", pc, pc)
    if cov_type == "tied":
        return pc @ pc.T
    return pc ** 2


def covariances_from_cholesky(prec_chol, cov_type):
    pc = np.asarray(prec_chol, dtype=np.float64)
    if cov_type == "full":
        return np.stack([linalg.inv(u @ u.T) for u in pc])
    if cov_type == "tied":
        return linalg.inv(pc @ pc.T)
    return 1.0 / pc ** 2


def precision_cholesky(covariances, cov_type, *, reg_covar=None, float32=False):
    """Upper-triangular U with precision = U U^T (sklearn's ``precisions_cholesky_``).

    Raises ValueError naming the component whose covariance is not positive
    definite, and what to do about it.
    """
    def advice():
        text = SINGULAR_ADVICE.format(reg=reg_covar)
        return text + " Float64 input gives more accuracy than float32." if float32 else text

    cov = np.asarray(covariances, dtype=np.float64)
    if cov_type in ("full", "tied"):
        mats = np.ascontiguousarray(cov[None] if cov_type == "tied" else cov)
        out = np.empty_like(mats)
        # LAPACK's potrf and trtrs for every component in one compiled call (fastgmm.kernels._linalg), after
        # its finite check: the fits of small data make one factorisation per component per EM iteration,
        # and SciPy's wrappers cost more than the factorisation of a small matrix.
        k = _linalg.precision_cholesky(mats, out)
        if k >= len(mats):
            raise ValueError(_singular_message(cov_type, k - len(mats), "has non-finite entries", advice()))
        if k >= 0:
            raise ValueError(
                _singular_message(cov_type, k, "is not positive definite (singular or collapsed)", advice()))
        return out[0] if cov_type == "tied" else out
    bad = ~(cov > 0) | ~np.isfinite(cov)
    if np.any(bad):
        k = int(np.argwhere(bad)[0][0])
        raise ValueError(_singular_message(cov_type, k, "has a zero or negative variance", advice()))
    return 1.0 / np.sqrt(cov)


def _singular_message(cov_type, k, what, advice):
    # scikit-learn's sentence first (code that matches on it keeps working).
    who = "The tied covariance" if cov_type == "tied" else f"The covariance of component {k}"
    return (
        "Fitting the mixture model failed because some components have ill-defined empirical covariance "
        "(for instance caused by singleton or collapsed samples). Try to decrease the number of components, "
        f"increase reg_covar, or scale the input data. {who} {what}. {advice}"
    )


def check_precisions(p, cov_type):
    """A user's ``precisions_init`` must be positive (definite, for full and tied)."""
    if cov_type in ("diag", "spherical"):
        if np.any(p <= 0):
            raise ValueError(f"'{cov_type} precision' should be positive")
        return
    mats = p[None] if cov_type == "tied" else p
    for k, mat in enumerate(mats):
        if not (np.allclose(mat, mat.T) and np.all(linalg.eigvalsh(mat) > 0.0)):
            who = "" if cov_type == "tied" else f" (component {k})"
            raise ValueError(f"'{cov_type} precision' should be symmetric, positive-definite{who}")


def n_parameters(cov_type, n_components, n_features):
    """Free parameters of the mixture (weights, means, covariances), as scikit-learn and mclust count them."""
    K, D = n_components, n_features
    return int(_mclust.n_covariance_parameters(cov_type, K, D) + D * K + K - 1)


# ---------------------------------------------------------------------------
# Parameters -> kernel coefficients
# ---------------------------------------------------------------------------

def log_det_cholesky(prec_chol, cov_type, n_features):
    """log det of the precision's Cholesky factor (= -1/2 log det covariance)."""
    if cov_type == "full":
        k = prec_chol.shape[0]
        diag = prec_chol.reshape(k, -1)[:, :: n_features + 1]
        return np.sum(np.log(diag), axis=1)
    if cov_type == "tied":
        return np.sum(np.log(np.diag(prec_chol)))
    if cov_type == "diag":
        return np.sum(np.log(prec_chol), axis=1)
    return n_features * np.log(prec_chol)


def log_norm(weights, prec_chol, cov_type, n_features):
    """log w_k + log det U_k - D/2 log(2 pi), float64 (K,)."""
    with np.errstate(divide="ignore"):  # a zero weight is a legal -inf
        lw = np.log(np.asarray(weights, dtype=np.float64))
    ld = log_det_cholesky(np.asarray(prec_chol, dtype=np.float64), cov_type, n_features)
    return np.ascontiguousarray(lw + ld - 0.5 * n_features * _LOG_2PI, dtype=np.float64)


def mixture_shift(weights, means):
    """The centre of the features: the mixture's mean sum_k w_k mu_k / max(sum_k w_k, tiny) (float64), its
    sums in index order (``fastgmm.kernels._linalg.mixture_shift``, which the compiled EM step shares)."""
    means = np.ascontiguousarray(means, dtype=np.float64)
    return _linalg.mixture_shift(np.ascontiguousarray(weights, dtype=np.float64), means,
                                 np.empty(means.shape[1]))


def normalised_weights(nk):
    """nk / sum(nk), the sum in index order (the compiled EM step's, ``fastgmm.kernels._linalg.total``)."""
    return nk / _linalg.total(np.ascontiguousarray(nk, dtype=np.float64))


def linear_coefficients(weights, means, prec_chol, cov_type, shift):
    """W (K, P), float64, with f(x) . W[k] = log w_k + log N(x | mu_k, Sigma_k).

    f(x) = [1, z, q(z)] with z = x - shift (see ``fastgmm.kernels._estep``). Writing
    a_k = mu_k - shift and Lambda_k = U_k U_k^T:
    log N = log_norm_k - 1/2 a^T Lambda a + z^T (Lambda a) - 1/2 z^T Lambda z.
    Overflow (data ~1e150 under tiny variances) yields -inf/nan coefficients; the
    kernels treat such log-densities as -inf and the caller reports rows that no
    component can produce. A view of :func:`_coefficients_pk`'s (P, K) array.
    """
    return _coefficients_pk(weights, means, prec_chol, cov_type, shift).T


_KIND = {"full": 0, "tied": 1, "diag": 2, "spherical": 3}
_NO_PAIRS = np.zeros(0, dtype=np.intp)
_NO_SCALE = np.zeros(0)


def _products(cov_type, n_features):
    """The compiled coefficients' pair arguments: ``_full_pairs_scale`` for 'full', empty arrays otherwise."""
    if cov_type == "full":
        return _full_pairs_scale(n_features)
    return _NO_PAIRS, _NO_PAIRS, _NO_SCALE


def _coefficients_pk(weights, means, prec_chol, cov_type, shift):
    """W (P, K) (the kernel's layout), every component in one compiled call (``fastgmm.kernels._linalg``):
    on small data the NumPy expressions of the definition cost more than the rest of an EM iteration."""
    means = np.ascontiguousarray(means, dtype=np.float64)
    K, D = means.shape
    iu, ju, scale = _products(cov_type, D)
    W = np.empty((n_features_out(cov_type, D), K))
    _linalg.linear_coefficients(_KIND[cov_type], np.ascontiguousarray(weights, dtype=np.float64), means,
                                np.ascontiguousarray(prec_chol, dtype=np.float64),
                                np.ascontiguousarray(shift, dtype=np.float64), iu, ju, scale, W)
    return W


def kernel_coefficients(weights, means, prec_chol, cov_type, shift=None):
    """(shift, W (P, K), U) for the kernels: float64, C-contiguous, in their layouts.

    W is passed P x K, the layout the E-step GEMM reads without repacking; U
    is the tied precision factor (None for the other types).
    """
    if shift is None:
        shift = mixture_shift(weights, means)
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    W = _coefficients_pk(weights, means, prec_chol, cov_type, shift)
    U = np.ascontiguousarray(prec_chol, dtype=np.float64) if cov_type == "tied" else None
    return shift, W, U


#: Largest cancellation factor (see ``float32_coefficients``) for which a fit pass of float32 data is
#: computed in float32. A row's log-density then carries an error of up to about this many float32
#: roundings of its value, and the statistics' re-centring in the M-step amplifies their float32
#: rounding by the same factor. Measured (8-D, 4 unit-variance components moved away from the shift,
#: 20,000 rows, float32 pass against float64): the pass's log-likelihood within 2e-8 relative at
#: factors up to ~130 (with ``float32_loglik_correction``; 4e-7 without it), the M-step's means within
#: 3e-6 standard deviations and covariances 4e-6 relative at ~130, 5e-7 and 2e-6 at 5-40. 128 keeps
#: the parameters near the float32 rounding of the data themselves. The workloads' factors: W2o 7,
#: W3o 3, W2 37, W3 25, W6 88.
FLOAT32_MAX_CANCELLATION = 128.0


def float32_coefficients(W, weights, prec_chol, cov_type, shift, means):
    """W (P, K) in float32 for the kernel's float32 path, or None where float32 would lose accuracy.

    Full, diag and spherical (tied stays float64: its TRMM and its Gram of
    the rows, summed over all the data, would need float32 versions and a
    bound of their own). The float32 path sums f(z) . W[:, k] in float32, so row i's
    log-density under component k has an error of about eps32 times the sum
    of the terms' magnitudes, |f(z_i)| . |W[:, k]|, while the value is about
    |log_norm_k| + D/2. For the rows of component k, z ~ (mu_k - c) + N(0,
    Sigma_k), whose coordinates have root-mean-square s_d = sqrt((mu_kd -
    c_d)^2 + Sigma_k,dd); so the cancellation factor of component k is

        kappa_k = f(s) . |W[:, k]| / (|log_norm_k| + D/2)

    (f(s) the kernel's feature vector of s: every product s_d s_e with the
    coefficient of z_d z_e). It is ~1 for a component whose mean is a few
    sigma from the shift and grows as the squared Mahalanobis distance. The
    float32 path is used when every component with a non-zero weight has
    kappa_k <= ``FLOAT32_MAX_CANCELLATION``, the coefficients are finite
    there and fit in float32's range.
    """
    if cov_type not in ("full", "diag", "spherical"):
        return None
    W = np.asarray(W, dtype=np.float64)
    pc = np.asarray(prec_chol, dtype=np.float64)
    a = np.asarray(means, dtype=np.float64) - shift
    K, D = a.shape
    live = np.asarray(weights, dtype=np.float64) > 0      # a zero weight is -inf in both precisions
    if not np.all(np.isfinite(W[:, live])) or np.max(np.abs(W[:, live]), initial=0.0) > 1e30:
        return None
    if cov_type == "full":
        # diag(Sigma_k): squared column norms of U_k^-1 (Sigma_k = U_k^-T U_k^-1); LAPACK's
        # triangular inverse directly, ~2 ms at K = 32, D = 64 (solve_triangular took 5 ms)
        var = np.stack([np.sum(lapack.dtrtri(u, lower=0)[0] ** 2, axis=0) for u in pc])
    else:
        var = 1.0 / (pc ** 2 if cov_type == "diag" else np.repeat((pc ** 2)[:, None], D, axis=1))
    s = np.sqrt(a * a + var)
    if cov_type == "full":
        i, j = full_pairs(D)
        feats = np.hstack([np.ones((K, 1)), s, s[:, i] * s[:, j]])
    elif cov_type == "diag":
        feats = np.hstack([np.ones((K, 1)), s, s * s])
    else:
        feats = np.hstack([np.ones((K, 1)), s, np.sum(s * s, axis=1, keepdims=True)])
    terms = np.einsum("kp,pk->k", feats, np.abs(W))
    ln = log_norm(np.where(live, weights, 1.0), pc, cov_type, D)
    kappa = terms / (np.abs(ln) + 0.5 * D)
    if not np.all(kappa[live] <= FLOAT32_MAX_CANCELLATION):
        return None
    return np.ascontiguousarray(W, dtype=np.float32)


def float32_loglik_correction(W, W32, G):
    """What the float32 path's log-likelihood misses for W's rounding to float32, to first order.

    Rounding W once per pass is a systematic error (the same for every row of
    a component: it does not average out over rows like the arithmetic's
    roundings). Row i's log-likelihood moves by sum_k r_ik f(x_i) . dW[:, k]
    to first order, dW = W - W32, so the pass's (weighted) sum by
    sum_k G_k . dW[:, k] with G (K, P) the pass's own sums of w r f(x):
    measured at a cancellation factor of ~100, the relative error of the
    pass's log-likelihood went from 4e-7 to ~1e-8. (Chunks done again in
    float64 used W itself; the correction's share for their rows is within
    float32 rounding of those rows' values.)
    """
    with np.errstate(invalid="ignore"):
        dW = np.asarray(W, dtype=np.float64) - np.asarray(W32, dtype=np.float64)
    dW[~np.isfinite(dW)] = 0.0          # -inf coefficients (zero weights) are -inf in both
    return float(np.sum(dW.T * G))


def nearest_centre_coefficients(centres, shift):
    """W (1 + D, K) whose scores z . a_k - |a_k|^2 / 2 (a_k = centre_k - shift) rank the centres.

    The score is -|z - a_k|^2 / 2 plus |z|^2 / 2, the same for every k, so
    its argmax is the nearest centre: with the kernel's hard-assignment mode
    this turns k-means centres into k-means labels inside the statistics
    pass, with no N-sized label array, for any covariance type's sums (the
    pass reads only the constant and z of the feature rows, so no tied
    factor U is needed; the hard pass of a 200k x 8, K = 8 full start, one
    thread, AMD EPYC, went 9.0 -> 7.2 ms against all P features). No term
    common to every component, such as |z|^2 or a log-normaliser, is added,
    so the comparison keeps its relative precision at any scale of the data.
    """
    a = np.asarray(centres, dtype=np.float64) - shift
    K, D = a.shape
    W = np.empty((K, D + 1))
    W[:, 0] = -0.5 * np.sum(a * a, axis=1)
    W[:, 1:] = a
    return np.ascontiguousarray(W.T)


# ---------------------------------------------------------------------------
# Kernel sums -> Statistics -> parameters
# ---------------------------------------------------------------------------

def statistics_from_sums(G, T, cov_type, shift, loglik, weight, n_samples):
    """Unpack the kernel's K x P sums (and the tied D x D lower triangle)."""
    K = G.shape[0]
    D = shift.shape[0]
    nk, s1, q = G[:, 0].copy(), G[:, 1:D + 1].copy(), G[:, D + 1:]
    if cov_type == "full":
        s2 = q[:, _full_unpack(D)].reshape(K, D, D)
    elif cov_type == "diag":
        s2 = q.copy()
    elif cov_type == "spherical":
        s2 = q[:, 0].copy()
    else:
        s2 = np.tril(T) + np.tril(T, -1).T
    return Statistics(cov_type, nk, s1, s2, float(loglik), float(weight), int(n_samples),
                      np.asarray(shift, dtype=np.float64).copy())


def m_step(stats, reg_covar, eps, *, means=None):
    """Parameters from the statistics, with scikit-learn's definitions.

    ``means`` given (frozen means): the covariances are the scatter about
    them (the M-step of the covariances with the means held fixed), and they
    are returned unchanged.

    ``nk_eps = nk + 10 eps``; the mean is ``sum_i w_i r_ik x_i / nk_eps``; the
    covariance is ``sum_i w_i r_ik (x_i - mean_k)(x_i - mean_k)^T / nk_eps +
    reg_covar I`` (tied: summed over k and divided by ``sum nk_eps``; diag: its
    diagonal; spherical: the diagonal's mean), all computed about the
    statistics' centre.

    diag and spherical add what scikit-learn's variance adds to the centred
    one: scikit-learn defines it as ``sum_i r x^2 / nk_eps - mean^2``, the
    centred variance plus ``mean^2 10 eps / nk_eps``: nothing for ordinary
    data, but what keeps a single-point component (reg_covar=0) at a
    positive variance, as scikit-learn's test of that case expects. Always
    with float64's eps: with float32's (1.2e-6) the term would be a real
    bias for data far from the origin (scikit-learn's float32 variances
    suffer exactly that, its issue #30382).

    Returns
    -------
    nk_eps, means, covariances : float64 arrays
    """
    cov_type = stats.cov_type
    K, D = stats.s1.shape
    nk_eps = np.empty(K)
    out_means = np.empty((K, D))
    cov = np.empty(_mclust.scatter_shape(cov_type, K, D))
    frozen = None if means is None else np.ascontiguousarray(means, dtype=np.float64)
    # One compiled call (fastgmm.kernels._linalg): the NumPy expressions of these definitions cost ~30 us
    # per EM iteration on small data, more than the pass over the rows.
    _linalg.gaussian_m_step(_KIND[cov_type], np.ascontiguousarray(stats.nk, dtype=np.float64),
                            np.ascontiguousarray(stats.s1, dtype=np.float64),
                            np.ascontiguousarray(stats.s2, dtype=np.float64),
                            np.ascontiguousarray(stats.centre, dtype=np.float64), float(eps), float(reg_covar),
                            frozen, nk_eps, out_means, cov)
    means = out_means
    return nk_eps, means, cov


#: Relative change at which the iterative M-steps VEI, VEE and VEV stop. mclust's default, sqrt(eps) ~
#: 1.5e-8 on the change of its objective, leaves VEE up to ~1e-4 (relative) short of the M-step's maximum,
#: which then depends on where the iteration started; 1e-13, started from the previous EM iteration's
#: covariances, reaches it to ~1e-8 in a few iterations (0.2-0.5 ms at K=3, D=4). EVE and VVE stop at
#: mclust's sqrt(eps) (their common orientation was a slowly converging majorise-minimise iteration, ~70
#: iterations per M-step at 1e-13; now sweeps of plane rotations, fastgmm.families._mclust_iterative): each
#: M-step still increases the expected log-likelihood (an ECM step), and started from the previous
#: iteration's orientation the iteration continues where it stopped, so EM converges to the same maximum.
MSTEP_TOL = 1e-13
#: At most this many orientation iterations (sweeps) per EVE/VVE M-step. Each one never decreases the
#: M-step's objective, so a capped step is still an ECM step (the lower bound still cannot decrease), and the
#: next M-step starts where this one stopped. Without a cap a poorly determined orientation (swiss, 47 rows
#: in 6-D, VVE with 7 components) took up to 100,000 majorise-minimise iterations per step (~1 s).
MM_MAX_ITER = 100


def model_m_step(stats, model, reg_covar, eps, *, means=None, start=None, prior=None):
    """:func:`m_step` for any covariance model: mclust's constrained M-step on the layout's statistics.

    scikit-learn's four types (and their mclust names) are :func:`m_step`
    itself. For the other models the unregularised M-step's covariances give
    each component's scatter about its mean ``W_k = nk_eps_k Sigma_k`` (in the layout's
    form: its diagonal for 'diag', its trace for 'spherical', sum_k W_k for 'tied'), from
    which ``fastgmm.families._mclust.constrained_covariances`` makes the
    model's maximum-likelihood covariances (``start``: the previous ones, a
    warm start for its iterative models); ``reg_covar`` is then added to
    their diagonal as for the four. ``prior`` (a ``_mclust_prior.Prior``):
    mclust's MAP M-step instead, for any model with a prior.
    """
    if prior is None and (model in COV_TYPES or model in _mclust.SKLEARN_EQUIVALENT):
        return m_step(stats, reg_covar, eps, means=means)
    nk_eps, means, cov = m_step(stats, 0.0, eps, means=means)
    lay = stats.cov_type
    if prior is not None:
        scatter = _scatter(cov, nk_eps, lay, means.shape[1])
        # MAP (fastgmm.families._mclust_prior): the means shrunk, the covariances from the posterior scatter;
        # VEI and VEV carry their volumes and shape over from the previous iteration, as mclust's EM does.
        if start is not None and model in ("VEI", "VEV") and np.shape(start) == cov.shape:
            start = remove_reg(np.asarray(start, dtype=np.float64), reg_covar, lay)
        else:
            start = None
        means, cov = _mclust_prior.map_m_step(model, nk_eps, means, scatter, prior, start=start)
        return nk_eps, means, _add_reg(cov, reg_covar, lay)
    warm, tol, max_iter = constrained_options(model)
    if start is not None and warm:      # the closed forms need no start
        start = np.asarray(start, dtype=np.float64)
        start = start if start.shape == cov.shape else None
    else:
        start = None
    # The scatter, the constrained covariances and reg_covar in one compiled call: on small data the
    # NumPy expressions around the M-step cost more than the M-step (benchmarks/small_fits.py).
    cov = _mclust.constrained_step(model, nk_eps, cov, means.shape[1], tol, max_iter, start, from_moments=True,
                                   reg_covar=reg_covar)
    return nk_eps, means, cov


def constrained_options(model):
    """``(warm, tol, max_iter)`` of a constrained model's M-step without a prior (:func:`model_m_step`'s, and
    the compiled EM step's): whether it starts from the previous covariances (the iterative models), its
    tolerance and its bound on iterations (see ``MSTEP_TOL`` and ``MM_MAX_ITER``)."""
    orientation = model in ("EVE", "VVE")
    return (model in _mclust.ITERATIVE_MODELS, _mclust.DEFAULT_TOL if orientation else MSTEP_TOL,
            MM_MAX_ITER if orientation else _mclust.DEFAULT_MAX_ITER)


def _scatter(cov, nk, lay, n_features):
    """The layout's form of the scatter W_k = nk_k Sigma_k: sum_k W_k (tied), trace(W_k) (spherical), diag(W_k).

    A collapsed component's variances can come out of the centred sums a
    rounding below 0; they are set to 0 (the scatter is a sum of squares).
    """
    if lay == "tied":
        W = cov * np.sum(nk)
    elif lay == "spherical":
        return np.maximum(cov * nk * n_features, 0.0)   # the layout's variance is the trace's mean
    else:
        W = cov * nk.reshape((-1,) + (1,) * (cov.ndim - 1))
    if lay == "diag":
        return np.maximum(W, 0.0)
    diag = np.einsum("...ii->...i", W)                    # a writeable view of the diagonal(s)
    np.maximum(diag, 0.0, out=diag)
    return W


def obeys_model(model, weights, covariances, reg_covar, n_features, rtol):
    """Whether layout-shaped covariances have the form of ``model`` (e.g. equal volumes for EII).

    Covariances of the model's form are the fixed point of its M-step: fed
    the scatter ``W_k = w_k (Sigma_k - reg_covar I)`` the constrained M-step
    gives them back (the unconstrained optimum, Sigma_k itself, is
    admissible). Any other covariances come back changed.
    """
    if model in COV_TYPES or model in _mclust.SKLEARN_EQUIVALENT:
        return True
    lay = layout(model)
    w = np.asarray(weights, dtype=np.float64)
    cov = remove_reg(covariances, reg_covar, lay)
    scatter = _scatter(cov, w, lay, n_features)
    refit = _mclust.constrained_covariances(model, w, scatter, start=cov, n_features=n_features,
                                            tol=min(rtol, 1e-8) / 100)
    return bool(np.allclose(refit, cov, rtol=rtol,
                            atol=rtol * np.max(np.abs(cov))))


def _add_reg(cov, reg_covar, lay):
    cov = np.array(cov, dtype=np.float64)
    if lay in ("full", "tied"):
        diag = np.einsum("...ii->...i", cov)     # a writeable view of the diagonal(s)
        diag += reg_covar
        return cov
    cov += reg_covar
    return cov


def remove_reg(cov, reg_covar, lay):
    return _add_reg(cov, -reg_covar, lay)
