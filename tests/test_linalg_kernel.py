"""The compiled per-iteration linear algebra (fastgmm.kernels._linalg) against NumPy/SciPy references.

``precision_cholesky`` must be LAPACK's potrf/trtrs exactly (the same routines as SciPy's wrappers, so the
factors are bitwise equal); the E-step coefficients must give ``f(x) . W[:, k] = log w_k + log N(x | mu_k,
Sigma_k)``, checked against scipy.stats on points, and against the definition written with NumPy.
"""

import numpy as np
import pytest
from scipy import stats
from scipy.linalg import lapack

from fastgmm.families import _gaussian
from fastgmm.kernels import _linalg

TYPES = ("full", "tied", "diag", "spherical")


def _random_model(rng, K, D, cov_type, offset=0.0, scale=1.0):
    weights = rng.dirichlet(np.ones(K))
    means = offset + scale * rng.normal(size=(K, D))
    if cov_type == "full":
        A = rng.normal(size=(K, D, D + 2))
        cov = scale ** 2 * (A @ A.transpose(0, 2, 1) / (D + 2) + 0.1 * np.eye(D))
    elif cov_type == "tied":
        A = rng.normal(size=(D, D + 2))
        cov = scale ** 2 * (A @ A.T / (D + 2) + 0.1 * np.eye(D))
    elif cov_type == "diag":
        cov = scale ** 2 * rng.uniform(0.2, 3.0, size=(K, D))
    else:
        cov = scale ** 2 * rng.uniform(0.2, 3.0, size=K)
    return weights, means, cov


def _dense_covariances(cov, cov_type, K, D):
    if cov_type == "full":
        return cov
    if cov_type == "tied":
        return np.repeat(cov[None], K, axis=0)
    if cov_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([c * np.eye(D) for c in cov])


def _features(x, shift, cov_type, prec_chol):
    """f(x) = [1, z, q(z)] in the kernel's order, written out with NumPy."""
    z = x - shift
    D = z.shape[0]
    if cov_type == "full":
        iu, ju = _gaussian.full_pairs(D)
        q = z[iu] * z[ju]
    elif cov_type == "tied":
        q = [np.sum((z @ prec_chol) ** 2)]
    elif cov_type == "diag":
        q = z * z
    else:
        q = [z @ z]
    return np.concatenate([[1.0], z, q])


def _reference_coefficients(weights, means, prec_chol, cov_type, shift):
    """(K, P) from the definition: log N = log_norm - a^T Lambda a / 2 + z^T Lambda a - z^T Lambda z / 2."""
    K, D = means.shape
    rows = []
    for k in range(K):
        if cov_type == "full":
            U = prec_chol[k]
        elif cov_type == "tied":
            U = prec_chol
        elif cov_type == "diag":
            U = np.diag(prec_chol[k])
        else:
            U = prec_chol[k] * np.eye(D)
        lam = U @ U.T
        a = means[k] - shift
        with np.errstate(divide="ignore"):
            ln = np.log(weights[k]) + np.sum(np.log(np.diag(U))) - 0.5 * D * np.log(2 * np.pi)
        head = [ln - 0.5 * a @ lam @ a, *(lam @ a)]
        if cov_type == "full":
            iu, ju = _gaussian.full_pairs(D)
            quad = -lam[iu, ju] * np.where(iu == ju, 0.5, 1.0)
        elif cov_type == "tied":
            quad = [-0.5]
        elif cov_type == "diag":
            quad = -0.5 * np.diag(lam)
        else:
            quad = [-0.5 * lam[0, 0]]
        rows.append(np.concatenate([head, quad]))
    return np.array(rows)


@pytest.mark.parametrize("cov_type", TYPES)
@pytest.mark.parametrize("K, D", [(1, 1), (3, 1), (1, 4), (4, 3), (9, 4), (5, 16)])
def test_coefficients_give_the_log_densities(cov_type, K, D):
    rng = np.random.default_rng(K * 100 + D)
    weights, means, cov = _random_model(rng, K, D, cov_type)
    pc = _gaussian.precision_cholesky(cov, cov_type)
    shift, W, _ = _gaussian.kernel_coefficients(weights, means, pc, cov_type)
    dense = _dense_covariances(cov, cov_type, K, D)
    x = means[0] + rng.normal(size=(6, D))
    got = np.array([_features(xi, shift, cov_type, pc) @ W for xi in x])
    want = np.column_stack([np.log(weights[k]) + stats.multivariate_normal(means[k], dense[k]).logpdf(x)
                            for k in range(K)]).reshape(len(x), K)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cov_type", TYPES)
@pytest.mark.parametrize("offset, scale", [(0.0, 1.0), (1e4, 1.0), (-3e3, 1e-3), (0.0, 1e3)])
def test_coefficients_match_the_definition(cov_type, offset, scale):
    rng = np.random.default_rng(7)
    K, D = 5, 6
    weights, means, cov = _random_model(rng, K, D, cov_type, offset, scale)
    pc = _gaussian.precision_cholesky(cov, cov_type)
    shift = _gaussian.mixture_shift(weights, means)
    got = _gaussian.linear_coefficients(weights, means, pc, cov_type, shift)
    want = _reference_coefficients(weights, means, pc, cov_type, shift)
    # Each entry is a sum of terms of the size of the largest: relative to each row's largest entry.
    error = np.abs(got - want) / np.max(np.abs(want), axis=1, keepdims=True)
    assert np.max(error) < 1e-12


@pytest.mark.parametrize("cov_type", TYPES)
def test_zero_weight_gives_minus_infinity(cov_type):
    rng = np.random.default_rng(3)
    weights, means, cov = _random_model(rng, 3, 2, cov_type)
    weights = np.array([0.0, 0.4, 0.6])
    pc = _gaussian.precision_cholesky(cov, cov_type)
    _, W, _ = _gaussian.kernel_coefficients(weights, means, pc, cov_type)
    assert W[0, 0] == -np.inf


def test_coefficients_reject_inconsistent_shapes():
    W = np.empty((5, 2))
    with pytest.raises(ValueError, match="inconsistent shapes"):
        _linalg.linear_coefficients(2, np.ones(2), np.zeros((2, 3)), np.ones((2, 3)), np.zeros(3),
                                    np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0), W)


@pytest.mark.parametrize("D", [1, 2, 5, 17])
def test_precision_cholesky_is_lapacks(D):
    rng = np.random.default_rng(D)
    A = rng.normal(size=(4, D, D + 1))
    cov = A @ A.transpose(0, 2, 1)
    got = _gaussian.precision_cholesky(cov, "full")
    want = np.stack([lapack.dtrtrs(lapack.dpotrf(c, lower=1, clean=1)[0], np.eye(D), lower=1)[0].T for c in cov])
    np.testing.assert_array_equal(got, want)


def test_precision_cholesky_is_the_precisions_upper_factor():
    rng = np.random.default_rng(11)
    A = rng.normal(size=(3, 4, 6))
    cov = A @ A.transpose(0, 2, 1)
    U = _gaussian.precision_cholesky(cov, "full")
    np.testing.assert_allclose(U @ U.transpose(0, 2, 1), np.linalg.inv(cov), rtol=1e-10, atol=1e-12)


def test_precision_cholesky_names_the_singular_component():
    cov = np.stack([np.eye(2), [[1.0, 1.0], [1.0, 1.0]], np.eye(2)])
    with pytest.raises(ValueError, match="component 1 is not positive definite"):
        _gaussian.precision_cholesky(cov, "full")


@pytest.mark.parametrize("cov_type", ["full", "tied"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_precision_cholesky_names_the_non_finite_component(cov_type, bad):
    # A non-finite entry is found before any factorisation, even after a component that is not positive
    # definite: the kernel returns K + k, the wrapper names component k.
    cov = np.stack([np.eye(2), [[1.0, 1.0], [1.0, 1.0]], np.eye(2)])
    cov[2, 1, 0] = cov[2, 0, 1] = bad
    assert _linalg.precision_cholesky(cov, np.empty_like(cov)) == 3 + 2
    which = "The tied covariance" if cov_type == "tied" else "component 2"
    with pytest.raises(ValueError, match=f"{which} has non-finite entries"):
        _gaussian.precision_cholesky(cov[2] if cov_type == "tied" else cov, cov_type)


def test_precision_cholesky_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="shape"):
        _linalg.precision_cholesky(np.ones((2, 3, 3)), np.empty((2, 3, 2)))


# ---------------------------------------------------------------------------
# The M-step from the sums
# ---------------------------------------------------------------------------

def _reference_m_step(cov_type, nk, s1, s2, centre, eps, reg, means=None):
    """scikit-learn's M-step from the sums about ``centre``, written with NumPy one component at a time."""
    K, D = s1.shape
    nk_eps = nk + 10 * eps
    if means is None:
        d = s1 / nk_eps[:, None] - centre * (10 * eps / nk_eps)[:, None]
        means = centre + d
    d = means - centre
    extra = means ** 2 * (10 * np.finfo(np.float64).eps / nk_eps)[:, None]   # scikit-learn's uncentred term
    if cov_type == "full":
        cov = np.empty((K, D, D))
        for k in range(K):
            c = s2[k] - np.outer(d[k], s1[k]) - np.outer(s1[k], d[k]) + nk[k] * np.outer(d[k], d[k])
            c /= nk_eps[k]
            cov[k] = 0.5 * (c + c.T) + reg * np.eye(D)
        return nk_eps, means, cov
    if cov_type == "tied":
        c = s2.copy()
        for k in range(K):
            c += -np.outer(d[k], s1[k]) - np.outer(s1[k], d[k]) + nk[k] * np.outer(d[k], d[k])
        c /= np.sum(nk_eps)
        return nk_eps, means, 0.5 * (c + c.T) + reg * np.eye(D)
    if cov_type == "diag":
        var = (s2 - 2 * d * s1 + nk[:, None] * d * d) / nk_eps[:, None]
        return nk_eps, means, np.maximum(var, 0.0) + extra + reg
    total = (s2 - 2 * np.sum(d * s1, axis=1) + nk * np.sum(d * d, axis=1)) / nk_eps
    return nk_eps, means, np.maximum(total, 0.0) / D + extra.mean(axis=1) + reg


def _sums(rng, cov_type, K, D, offset):
    """Weighted sums about a centre of responsibilities over random rows, as the kernel makes them."""
    X = offset + rng.normal(size=(40, D)) * rng.uniform(0.5, 2.0, size=D)
    R = rng.dirichlet(np.ones(K), size=40)
    R[:, -1] = 0.0 if K > 1 else R[:, -1]          # an empty component
    R /= np.maximum(R.sum(axis=1, keepdims=True), 1e-300)
    centre = X.mean(axis=0) + 0.1
    Z = X - centre
    nk, s1 = R.sum(axis=0), R.T @ Z
    if cov_type == "full":
        s2 = np.einsum("nk,ni,nj->kij", R, Z, Z)
    elif cov_type == "tied":
        s2 = Z.T @ Z
    elif cov_type == "diag":
        s2 = R.T @ (Z * Z)
    else:
        s2 = R.T @ np.sum(Z * Z, axis=1)
    return nk, s1, s2, centre


@pytest.mark.parametrize("cov_type", TYPES)
@pytest.mark.parametrize("K, D, offset", [(1, 1, 0.0), (3, 1, 5.0), (4, 3, 0.0), (2, 5, 1e4), (9, 4, -30.0)])
@pytest.mark.parametrize("eps", [np.finfo(np.float64).eps, np.finfo(np.float32).eps])
def test_m_step_matches_the_reference(cov_type, K, D, offset, eps):
    rng = np.random.default_rng(K + 10 * D)
    nk, s1, s2, centre = _sums(rng, cov_type, K, D, offset)
    stats = _gaussian.Statistics(cov_type, nk, s1, s2, 0.0, 40.0, 40, centre)
    got = _gaussian.m_step(stats, 1e-6, eps)
    want = _reference_m_step(cov_type, nk, s1, s2, centre, eps, 1e-6)
    for name, g, w in zip(("nk_eps", "means", "covariances"), got, want):
        scale = np.max(np.abs(w))
        assert np.max(np.abs(g - w)) <= 1e-12 * scale, name


@pytest.mark.parametrize("cov_type", TYPES)
def test_m_step_with_frozen_means(cov_type):
    rng = np.random.default_rng(5)
    nk, s1, s2, centre = _sums(rng, cov_type, 3, 4, 2.0)
    means = rng.normal(size=(3, 4))
    stats = _gaussian.Statistics(cov_type, nk, s1, s2, 0.0, 40.0, 40, centre)
    _, got_means, got_cov = _gaussian.m_step(stats, 0.0, np.finfo(np.float64).eps, means=means)
    _, _, want_cov = _reference_m_step(cov_type, nk, s1, s2, centre, np.finfo(np.float64).eps, 0.0, means)
    np.testing.assert_array_equal(got_means, means)
    np.testing.assert_allclose(got_cov, want_cov, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cov_type", ["diag", "spherical"])
def test_m_step_keeps_a_collapsed_variance_at_zero_and_nan_as_nan(cov_type):
    # Centred sums a rounding below zero (one row, far from the centre) give 0, not a negative variance.
    nk = np.array([1.0, 1.0])
    s1 = np.array([[1e8, 1e8], [np.nan, 0.0]])
    s2 = np.array([[1e16 - 4.0, 1e16 - 4.0], [1.0, 1.0]]) if cov_type == "diag" else np.array([2e16 - 8.0, 2.0])
    stats = _gaussian.Statistics(cov_type, nk, s1, s2, 0.0, 2.0, 2, np.zeros(2))
    _, _, cov = _gaussian.m_step(stats, 0.0, np.finfo(np.float64).eps)
    assert np.all(cov[0] >= 0)
    assert np.isnan(np.ravel(cov[1])[0])


def test_m_step_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="inconsistent shapes"):
        _linalg.gaussian_m_step(2, np.ones(2), np.zeros((2, 3)), np.ones((2, 4)), np.zeros(3), 1e-16, 0.0, None,
                                np.empty(2), np.empty((2, 3)), np.empty((2, 3)))
