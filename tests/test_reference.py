"""The NumPy reference EM (_reference) against scikit-learn, and the
algebra of its centred sufficient statistics."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import _reference as ref

COV_TYPES = ["full", "tied", "diag", "spherical"]
REG = 1e-6

# (n_samples, n_features, n_components)
SHAPES = [(500, 2, 3), (300, 1, 2), (800, 5, 4), (200, 3, 1)]


def _sk():
    """sklearn's private mixture module (skips the test without sklearn)."""
    pytest.importorskip("sklearn")
    from sklearn.mixture import _gaussian_mixture

    return _gaussian_mixture


def assert_close(actual, desired, rtol, err_msg=""):
    """allclose, with an absolute floor of ``rtol * max|desired|``.

    Entries near zero (off-diagonal covariances, log-responsibilities of
    dominant components) are compared relative to the array's scale.
    """
    desired = np.asarray(desired, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    finite = np.isfinite(desired)
    scale = np.max(np.abs(desired[finite])) if finite.any() else 0.0
    assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=err_msg)



def make_data(rng, n_samples, n_features, n_components, offset=0.0):
    """Samples of a random mixture of anisotropic Gaussians."""
    centres = rng.normal(scale=4.0, size=(n_components, n_features))
    mix = 0.5 * rng.normal(size=(n_components, n_features, n_features))
    mix += np.eye(n_features)
    labels = rng.integers(n_components, size=n_samples)
    z = rng.normal(size=(n_samples, n_features))
    X = centres[labels] + np.einsum("nij,nj->ni", mix[labels], z)
    return X + offset


def make_params(rng, X, n_components, covariance_type):
    """Valid, non-degenerate initial parameters (no sklearn involved)."""
    n_samples = X.shape[0]
    means = X[rng.choice(n_samples, n_components, replace=False)]
    resp = rng.dirichlet(np.ones(n_components), size=n_samples)
    _, _, covariances = ref.estimate_gaussian_parameters(X, resp, REG, covariance_type)
    weights = rng.dirichlet(5.0 * np.ones(n_components))
    weights /= weights.sum()
    precisions_cholesky = ref.compute_precision_cholesky(covariances, covariance_type)
    return weights, means, precisions_cholesky


def fitted_params(rng, X, n_components, covariance_type, n_iter=5):
    """Parameters after a few EM iterations: components hold data."""
    w, m, u = make_params(rng, X, n_components, covariance_type)
    out = ref.fit_em(X, w, m, u, covariance_type, max_iter=n_iter, tol=0.0)
    return out["weights"], out["means"], out["precisions_cholesky"]


###############################################################################
# (a) log-probabilities and E-step against a fitted sklearn model


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_log_prob_and_e_step_match_sklearn(rng, seed, shape, covariance_type):
    skgm = _sk()
    n, d, k = shape
    X = make_data(rng, n, d, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = skgm.GaussianMixture(
            k, covariance_type=covariance_type, max_iter=10, random_state=seed
        ).fit(X)

    assert_close(
        ref.compute_precision_cholesky(gm.covariances_, covariance_type),
        gm.precisions_cholesky_,
        1e-12,
    )
    assert_close(
        ref.log_det_cholesky(gm.precisions_cholesky_, covariance_type, d),
        skgm._compute_log_det_cholesky(gm.precisions_cholesky_, covariance_type, d),
        1e-13,
    )
    assert_close(
        ref.estimate_log_gaussian_prob(
            X, gm.means_, gm.precisions_cholesky_, covariance_type
        ),
        skgm._estimate_log_gaussian_prob(
            X, gm.means_, gm.precisions_cholesky_, covariance_type
        ),
        1e-12,
    )
    assert_close(
        ref.estimate_weighted_log_prob(
            X, gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type
        ),
        gm._estimate_weighted_log_prob(X),
        1e-12,
    )
    mean_ll, log_resp = ref.e_step(
        X, gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type
    )
    sk_mean_ll, sk_log_resp = gm._e_step(X)
    assert isinstance(mean_ll, float)
    assert mean_ll == pytest.approx(float(sk_mean_ll), rel=1e-12)
    assert mean_ll == pytest.approx(gm.score(X), rel=1e-12)
    assert_close(log_resp, sk_log_resp, 1e-11)
    assert_allclose(np.exp(log_resp).sum(axis=1), 1.0, rtol=1e-12)


###############################################################################
# (b) M-step against sklearn's estimators


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_m_step_matches_sklearn(rng, shape, covariance_type):
    skgm = _sk()
    n, d, k = shape
    X = make_data(rng, n, d, k)
    # Peaked random responsibilities; rows sum to 1.
    resp = rng.dirichlet(0.3 * np.ones(k), size=n)

    nk, means, covs = ref.estimate_gaussian_parameters(X, resp, REG, covariance_type)
    sk_nk, sk_means, sk_covs = skgm._estimate_gaussian_parameters(
        X, resp, REG, covariance_type
    )
    assert_close(nk, sk_nk, 1e-13)
    assert_close(means, sk_means, 1e-13)
    assert_close(covs, sk_covs, 1e-12)

    with np.errstate(divide="ignore"):
        log_resp = np.log(resp)
    weights, means, covs, prec_chol = ref.m_step(X, log_resp, REG, covariance_type)
    gm = skgm.GaussianMixture(k, covariance_type=covariance_type, reg_covar=REG)
    gm._m_step(X, log_resp)
    assert_close(weights, gm.weights_, 1e-13)
    assert weights.sum() == pytest.approx(1.0, abs=1e-15)
    assert_close(means, gm.means_, 1e-13)
    assert_close(covs, gm.covariances_, 1e-12)
    assert_close(prec_chol, gm.precisions_cholesky_, 1e-11)


###############################################################################
# (c) the whole EM loop against GaussianMixture.fit from the same start


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(
    "max_iter, tol", [(200, 1e-6), (4, 0.0)], ids=["conv", "capped"]
)
def test_fit_em_matches_sklearn(rng, seed, shape, covariance_type, max_iter, tol):
    skgm = _sk()
    n, d, k = shape
    X = make_data(rng, n, d, k)
    weights, means, prec_chol = make_params(rng, X, k, covariance_type)
    precisions = ref.precisions_from_precisions_cholesky(prec_chol, covariance_type)

    gm = skgm.GaussianMixture(
        k,
        covariance_type=covariance_type,
        reg_covar=REG,
        max_iter=max_iter,
        tol=tol,
        init_params="random",
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning when capped
        gm.fit(X)

    # sklearn does not use precisions_cholesky as given: it recomputes the
    # factor from precisions_init by the flip trick. Start from that factor.
    start = ref.precisions_cholesky_from_precisions(precisions, covariance_type)
    out = ref.fit_em(
        X, weights, means, start, covariance_type,
        reg_covar=REG, max_iter=max_iter, tol=tol,
    )

    assert out["n_iter"] == gm.n_iter_
    assert out["converged"] == gm.converged_
    if max_iter == 4:
        assert out["n_iter"] == 4
        assert not out["converged"]
    assert len(out["lower_bounds"]) == out["n_iter"]
    assert out["lower_bound"] == out["lower_bounds"][-1]
    assert out["lower_bound"] == pytest.approx(gm.lower_bound_, rel=1e-8)
    assert_allclose(out["lower_bounds"], gm.lower_bounds_, rtol=1e-8)
    assert_close(out["weights"], gm.weights_, 1e-8)
    assert_close(out["means"], gm.means_, 1e-8)
    assert_close(out["covariances"], gm.covariances_, 1e-8)
    assert_close(out["precisions_cholesky"], gm.precisions_cholesky_, 1e-8)


def test_fit_em_max_iter_zero(rng):
    X = make_data(rng, 100, 2, 2)
    w, m, u = make_params(rng, X, 2, "full")
    out = ref.fit_em(X, w, m, u, "full", max_iter=0)
    assert out["n_iter"] == 0
    assert not out["converged"]
    assert out["lower_bound"] == -np.inf
    assert out["lower_bounds"] == []
    assert_allclose(out["precisions_cholesky"], u)
    assert_close(
        ref.compute_precision_cholesky(out["covariances"], "full"), u, 1e-12
    )


###############################################################################
# (d) M-step from centred statistics == M-step on the same responsibilities


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_m_step_from_statistics_matches_m_step(rng, shape, covariance_type):
    n, d, k = shape
    X = make_data(rng, n, d, k)
    w, m, u = fitted_params(rng, X, k, covariance_type)
    shift = X[:7].mean(axis=0)  # near, not at, the data mean

    _, log_resp = ref.e_step(X, w, m, u, covariance_type)
    weights, means, covs, _ = ref.m_step(X, log_resp, REG, covariance_type)

    stats = ref.chunk_statistics(X, w, m, u, covariance_type, shift=shift)
    c_weights, c_means, c_covs = ref.m_step_from_statistics(
        stats, n, m, covariance_type, REG, shift=shift
    )
    assert_close(c_weights, weights, 1e-12)
    assert_close(c_means, means, 1e-12)
    assert_close(c_covs, covs, 1e-10)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_m_step_from_statistics_far_from_origin(rng, shape, covariance_type):
    """Data at +1e4: the centred formulas keep full accuracy.

    The truth is the M-step in the origin frame (covariances are translation
    invariant), with the responsibilities computed in the shifted frame, i.e.
    the very ones chunk_statistics uses.
    """
    n, d, k = shape
    offset = 1e4
    X = make_data(rng, n, d, k)
    w, m, u = fitted_params(rng, X, k, covariance_type)
    X_far, m_far = X + offset, m + offset
    shift = X_far[:7].mean(axis=0)

    _, log_resp = ref.e_step(X_far, w, m_far, u, covariance_type)
    weights, means, covs, _ = ref.m_step(X, log_resp, REG, covariance_type)

    stats = ref.chunk_statistics(X_far, w, m_far, u, covariance_type, shift=shift)
    c_weights, c_means, c_covs = ref.m_step_from_statistics(
        stats, n, m_far, covariance_type, REG, shift=shift
    )
    assert_close(c_weights, weights, 1e-12)
    assert_allclose(c_means - offset, means, rtol=0, atol=1e-10)
    assert_close(c_covs, covs, 1e-10)


def test_statistics_single_row_and_shift_validation(rng):
    X = make_data(rng, 50, 3, 2)
    w, m, u = make_params(rng, X, 2, "tied")
    with pytest.raises(ValueError, match="shift"):
        ref.chunk_statistics(X, w, m, u, "tied")
    with pytest.raises(ValueError, match="shift"):
        ref.m_step_from_statistics({"nk": 0, "s1": 0, "s2": 0}, 50, m, "tied", REG)
    stats = ref.chunk_statistics(X[:1], w, m, u, "tied", shift=X[0])
    assert_allclose(stats["s2"], 0.0)
    assert stats["nk"].sum() == pytest.approx(1.0)


###############################################################################
# (e) statistics are additive over row blocks


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_chunk_statistics_additive(rng, shape, covariance_type):
    n, d, k = shape
    X = make_data(rng, n, d, k, offset=3.0)
    w, m, u = fitted_params(rng, X, k, covariance_type, n_iter=2)
    shift = X.mean(axis=0)
    split = int(rng.integers(1, n))

    whole = ref.chunk_statistics(X, w, m, u, covariance_type, shift=shift)
    a = ref.chunk_statistics(X[:split], w, m, u, covariance_type, shift=shift)
    b = ref.chunk_statistics(X[split:], w, m, u, covariance_type, shift=shift)
    assert isinstance(whole["loglik"], float)
    assert whole["loglik"] == pytest.approx(a["loglik"] + b["loglik"], rel=1e-12)
    mean_ll, _ = ref.e_step(X, w, m, u, covariance_type)
    assert whole["loglik"] / n == pytest.approx(mean_ll, rel=1e-12)
    assert whole["nk"].sum() == pytest.approx(n, rel=1e-12)
    assert_close(whole["nk"], a["nk"] + b["nk"], 1e-12)
    assert_close(whole["s2"], a["s2"] + b["s2"], 1e-12)
    # s1 is a sum of centred terms that nearly cancel (for K=1 it is ~0):
    # compare on the scale of the terms, not of the result.
    s1_scale = n * np.abs(X - X.mean(axis=0)).max()
    assert_allclose(whole["s1"], a["s1"] + b["s1"], rtol=1e-12, atol=1e-13 * s1_scale)

    expected_s2_shape = {
        "full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)
    }[covariance_type]
    assert whole["s1"].shape == (k, d)
    assert whole["s2"].shape == expected_s2_shape


###############################################################################
# (f) precision parametrisation round trips


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_precision_round_trips(rng, shape, covariance_type):
    n, d, k = shape
    X = make_data(rng, n, d, k)
    resp = rng.dirichlet(np.ones(k), size=n)
    _, _, covs = ref.estimate_gaussian_parameters(X, resp, REG, covariance_type)

    u = ref.compute_precision_cholesky(covs, covariance_type)
    if covariance_type in ("full", "tied"):
        mats = u if covariance_type == "full" else u[np.newaxis]
        for mat in mats:
            assert_allclose(np.tril(mat, -1), 0.0)  # upper triangular
            assert np.all(np.diag(mat) > 0)
    back = ref.covariances_from_precisions_cholesky(u, covariance_type)
    assert_close(back, covs, 1e-11)

    precisions = ref.precisions_from_precisions_cholesky(u, covariance_type)
    inv = np.linalg.inv(covs) if covariance_type in ("full", "tied") else 1.0 / covs
    assert_close(precisions, inv, 1e-11)
    # The flip trick recovers the same (unique) upper-triangular factor.
    assert_close(
        ref.precisions_cholesky_from_precisions(precisions, covariance_type), u, 1e-11
    )


def test_precisions_cholesky_from_precisions_matches_sklearn(rng):
    skgm = _sk()
    X = make_data(rng, 300, 3, 2)
    for covariance_type in COV_TYPES:
        w, m, u = make_params(rng, X, 2, covariance_type)
        p = ref.precisions_from_precisions_cholesky(u, covariance_type)
        assert_close(
            ref.precisions_cholesky_from_precisions(p, covariance_type),
            skgm._compute_precision_cholesky_from_precisions(p, covariance_type, xp=np),
            1e-14,
        )


@pytest.mark.parametrize(
    "covariance_type, covariances, match",
    [
        ("full", np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]), "Component 1"),
        (
            "full",
            np.stack([np.eye(2), np.eye(2), np.full((2, 2), np.nan)]),
            "Component 2",
        ),
        ("tied", np.array([[1.0, 2.0], [2.0, 1.0]]), "tied"),
        ("diag", np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]]), "Component 2"),
        ("diag", np.array([[1.0, np.nan], [1.0, 1.0]]), "Component 0"),
        ("spherical", np.array([1.0, -1e-3]), "Component 1"),
    ],
)
def test_compute_precision_cholesky_errors(covariance_type, covariances, match):
    with pytest.raises(ValueError, match=match):
        ref.compute_precision_cholesky(covariances, covariance_type)


def test_bad_covariance_type():
    with pytest.raises(ValueError, match="covariance_type"):
        ref.compute_precision_cholesky(np.ones(2), "banana")
