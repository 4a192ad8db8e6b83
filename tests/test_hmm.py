"""fastgmm.hmm against hmmlearn from the same starting parameters, and its own contract.

Same answers as hmmlearn 0.3 (log-likelihood to 1e-8 relative, parameters to
1e-6, identical Viterbi paths, posteriors to 1e-6) for every covariance type
and emission; then what hmmlearn does not have: sequence weights, float32,
thread invariance, valid rows for unvisited states, and clear errors.
"""

import logging

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgmm import hmm as fh

hh = pytest.importorskip("hmmlearn.hmm")
logging.getLogger("hmmlearn").setLevel(logging.ERROR)

K, D = 3, 4
START = np.array([0.5, 0.3, 0.2])
TRANS = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
LENGTHS = [120, 1, 80, 99]


def _covars(ct, rng):
    if ct == "spherical":
        return rng.uniform(0.5, 2.0, K)
    if ct == "diag":
        return rng.uniform(0.5, 2.0, (K, D))
    A = rng.randn(K, D, D)
    full = A @ np.swapaxes(A, 1, 2) / D + 0.5 * np.eye(D)
    return full[0] if ct == "tied" else full


def _pair(make, setup):
    """The same model in hmmlearn and fastgmm, with the same parameters."""
    a, b = make(hh), make(fh)
    for m in (a, b):
        setup(m)
    return a, b


def _gaussian_pair(ct, seed=0, **kw):
    rng = np.random.RandomState(seed)
    means = rng.randn(K, D) * 2
    cov = _covars(ct, rng)

    def setup(m):
        m.startprob_, m.transmat_, m.means_, m.covars_ = START.copy(), TRANS.copy(), means.copy(), cov.copy()

    return _pair(lambda lib: lib.GaussianHMM(K, ct, init_params="", n_iter=6, tol=0, **kw), setup)


def _sample(model, n, seed):
    X, _ = model.sample(n, random_state=seed)
    return X


def _assert_same_fit(a, b, X, lengths, names):
    a.fit(X, lengths)
    b.fit(X, lengths)
    assert_allclose(list(b.monitor_.history), list(a.monitor_.history), rtol=1e-8)
    for name in names:
        got, want = getattr(b, name), getattr(a, name)
        if name == "covars_" and isinstance(b, fh.GaussianHMM) and b.covariance_type == "spherical":
            # hmmlearn keeps fitted spherical variances tiled to (K, D), and its covars_ then comes out as
            # (K * D, D, D) matrices: compare the variances
            got, want = b._covars_, np.asarray(a._covars_).reshape(len(b._covars_), -1)[:, 0]
        assert_allclose(got, want, rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("implementation", ["log", "scaling"])
@pytest.mark.parametrize("ct", ["spherical", "diag", "full", "tied"])
def test_gaussian_fit_matches_hmmlearn(ct, implementation):
    a, b = _gaussian_pair(ct, implementation=implementation)
    X = _sample(a, sum(LENGTHS), 1)
    _assert_same_fit(a, b, X, LENGTHS, ["startprob_", "transmat_", "means_", "covars_"])


@pytest.mark.parametrize("ct", ["spherical", "diag", "full", "tied"])
def test_gaussian_inference_matches_hmmlearn(ct):
    a, b = _gaussian_pair(ct, seed=3)
    X = _sample(a, sum(LENGTHS), 2)
    assert_allclose(b.score(X, LENGTHS), a.score(X, LENGTHS), rtol=1e-8)
    assert_allclose(b.predict_proba(X, LENGTHS), a.predict_proba(X, LENGTHS), atol=1e-6)
    lp_a, path_a = a.decode(X, LENGTHS)
    lp_b, path_b = b.decode(X, LENGTHS)
    assert_array_equal(path_b, path_a)
    assert_allclose(lp_b, lp_a, rtol=1e-8)
    assert_allclose(b.decode(X, LENGTHS, algorithm="map")[0], a.decode(X, LENGTHS, algorithm="map")[0], rtol=1e-8)
    assert_allclose(b.bic(X, LENGTHS), a.bic(X, LENGTHS), rtol=1e-8)
    assert_allclose(b.aic(X, LENGTHS), a.aic(X, LENGTHS), rtol=1e-8)


@pytest.mark.parametrize("ct", ["spherical", "diag", "full", "tied"])
def test_gaussian_priors_match_hmmlearn(ct):
    rng = np.random.RandomState(5)
    prior_cov = _covars(ct, rng)
    if ct == "spherical":
        prior_cov = prior_cov[:, None]     # hmmlearn adds the prior to (K, D) variances before averaging
    kw = dict(startprob_prior=3.0, transmat_prior=2.0 + TRANS, means_prior=rng.randn(K, D), means_weight=2.0,
              covars_prior=prior_cov, covars_weight=2.0 + (D if ct in ("full", "tied") else 0))
    a, b = _gaussian_pair(ct, seed=5, **kw)
    X = _sample(a, sum(LENGTHS), 4)
    _assert_same_fit(a, b, X, LENGTHS, ["startprob_", "transmat_", "means_", "covars_"])


@pytest.mark.parametrize("ct", ["spherical", "diag", "full", "tied"])
def test_gmmhmm_matches_hmmlearn(ct):
    rng = np.random.RandomState(7)
    M = 2
    w = rng.dirichlet(np.ones(M), size=K)
    means = rng.randn(K, M, D) * 2
    cov = {"spherical": rng.uniform(0.5, 2, (K, M)), "diag": rng.uniform(0.5, 2, (K, M, D)),
           "full": np.tile(np.eye(D), (K, M, 1, 1)) * rng.uniform(0.5, 2, (K, M, 1, 1)),
           "tied": np.tile(np.eye(D), (K, 1, 1)) * rng.uniform(0.5, 2, (K, 1, 1))}[ct]

    def setup(m):
        m.startprob_, m.transmat_, m.weights_, m.means_, m.covars_ = (START.copy(), TRANS.copy(), w.copy(),
                                                                      means.copy(), cov.copy())

    a, b = _pair(lambda lib: lib.GMMHMM(K, M, covariance_type=ct, init_params="", n_iter=5, tol=0), setup)
    X = _sample(a, sum(LENGTHS), 8)
    assert_allclose(b.score(X, LENGTHS), a.score(X, LENGTHS), rtol=1e-8)
    _assert_same_fit(a, b, X, LENGTHS, ["startprob_", "transmat_", "weights_", "means_", "covars_"])


def test_categorical_matches_hmmlearn():
    rng = np.random.RandomState(9)
    e = rng.dirichlet(np.ones(6), size=K)
    e[1, 2] = 0.0        # an impossible symbol in one state
    e[1] /= e[1].sum()

    def setup(m):
        m.startprob_, m.transmat_, m.emissionprob_ = START.copy(), TRANS.copy(), e.copy()

    a, b = _pair(lambda lib: lib.CategoricalHMM(K, init_params="", n_iter=5, tol=0, n_features=6), setup)
    X = _sample(a, sum(LENGTHS), 10)
    assert_allclose(b.predict_proba(X, LENGTHS), a.predict_proba(X, LENGTHS), atol=1e-6)
    assert_array_equal(b.predict(X, LENGTHS), a.predict(X, LENGTHS))
    _assert_same_fit(a, b, X, LENGTHS, ["startprob_", "transmat_", "emissionprob_"])


def test_poisson_matches_hmmlearn():
    rng = np.random.RandomState(11)
    lam = rng.uniform(0.5, 8, (K, D))

    def setup(m):
        m.startprob_, m.transmat_, m.lambdas_ = START.copy(), TRANS.copy(), lam.copy()

    a, b = _pair(lambda lib: lib.PoissonHMM(K, init_params="", n_iter=5, tol=0, lambdas_prior=0.5,
                                            lambdas_weight=0.1), setup)
    X = _sample(a, sum(LENGTHS), 12)
    _assert_same_fit(a, b, X, LENGTHS, ["startprob_", "transmat_", "lambdas_"])


def test_multinomial_matches_hmmlearn():
    rng = np.random.RandomState(13)
    e = rng.dirichlet(np.ones(D), size=K)

    def setup(m):
        m.startprob_, m.transmat_, m.emissionprob_ = START.copy(), TRANS.copy(), e.copy()

    a, b = _pair(lambda lib: lib.MultinomialHMM(K, n_trials=7, init_params="", n_iter=5, tol=0), setup)
    X = _sample(a, sum(LENGTHS), 14)
    _assert_same_fit(a, b, X, LENGTHS, ["startprob_", "transmat_", "emissionprob_"])


def test_sequence_weight_two_is_a_repeated_sequence():
    _, b = _gaussian_pair("full")
    X = _sample(b, sum(LENGTHS), 3)
    first = X[:LENGTHS[0]]
    _, dup = _gaussian_pair("full")
    dup.fit(np.vstack([X, first]), LENGTHS + [LENGTHS[0]])
    w = np.ones(len(LENGTHS))
    w[0] = 2.0
    b.fit(X, LENGTHS, sample_weight=w)
    assert_allclose(list(b.monitor_.history), list(dup.monitor_.history), rtol=1e-10)
    assert_allclose(b.covars_, dup.covars_, rtol=1e-9)
    assert_allclose(b.transmat_, dup.transmat_, rtol=1e-9)


def test_float32_input_fits_as_float64():
    _, a = _gaussian_pair("diag")
    X = _sample(a, sum(LENGTHS), 5).astype(np.float32)
    _, b = _gaussian_pair("diag")
    a.fit(X, LENGTHS)
    b.fit(X.astype(np.float64), LENGTHS)
    assert_allclose(a.means_, b.means_, rtol=1e-10)
    assert_allclose(list(a.monitor_.history), list(b.monitor_.history), rtol=1e-10)


@pytest.mark.parametrize("ct", ["diag", "full"])
def test_log_likelihood_never_decreases(ct):
    model = fh.GaussianHMM(4, ct, n_iter=30, tol=0, random_state=0)
    _, src = _gaussian_pair(ct, seed=2)
    X = _sample(src, 600, 9)
    model.fit(X, [300, 300])
    h = np.array(model.monitor_.history)
    assert np.all(np.diff(h) >= -1e-9 * np.abs(h[1:]))


def test_results_do_not_depend_on_the_thread_count():
    from fastgmm.kernels._openmp_helpers import openmp_enabled
    if not openmp_enabled():
        pytest.skip("built without OpenMP: one thread only")
    _, src = _gaussian_pair("full", seed=4)
    X = _sample(src, 3000, 10)
    lengths = [37] * 60 + [780]
    fits = []
    for n_threads in (1, 2, 3):
        m = fh.GaussianHMM(3, "full", n_iter=4, tol=0, random_state=0, n_threads=n_threads).fit(X, lengths)
        fits.append((list(m.monitor_.history), m.means_.copy(), m.transmat_.copy(), m.predict_proba(X, lengths)))
    for other in fits[1:]:
        for x, y in zip(fits[0], other):
            assert_array_equal(np.asarray(x), np.asarray(y))


def test_unvisited_state_keeps_a_valid_transition_row():
    # state 2 emits far from every frame: no frame visits it (hmmlearn #186 gives NaN rows)
    m = fh.GaussianHMM(3, "diag", init_params="", n_iter=3, tol=0)
    m.startprob_ = np.array([0.5, 0.5, 0.0])
    m.transmat_ = np.full((3, 3), 1 / 3)
    m.means_ = np.array([[0.0], [3.0], [1e6]])
    m.covars_ = np.ones((3, 1))
    X = np.random.RandomState(0).randn(200, 1)
    m.fit(X)
    assert np.all(np.isfinite(m.transmat_))
    assert_allclose(m.transmat_.sum(axis=1), 1.0)
    assert np.all(np.isfinite(m.means_))


def test_left_right_zeros_stay_zero():
    m = fh.GaussianHMM(3, "diag", params="mct", init_params="cm", n_iter=5, random_state=0)
    trans = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
    m.startprob_ = np.array([1.0, 0.0, 0.0])
    m.transmat_ = trans.copy()
    X = np.random.RandomState(1).rand(40, 2)
    m.fit(X, [20, 19, 1])
    assert np.all(m.transmat_[trans == 0] == 0)
    assert np.all(np.isfinite(m.predict_proba(X, [20, 19, 1])))


def test_scaling_survives_where_hmmlearn_scaling_underflows():
    # hmmlearn's own example (its test_underflow_from_scaling): with implementation="scaling" hmmlearn raises;
    # fastgmm's scaled recursion redoes the sequence in log space and agrees with the log implementation.
    rng = np.random.RandomState(10)
    data = np.concatenate([rng.normal(0, 1, 100), rng.normal(5, 1, 100), rng.normal(0, 1, 100),
                           rng.normal(5, 1, 100)])
    data[40] = 10000
    fits = []
    for impl in ("scaling", "log"):
        m = fh.GaussianHMM(2, "spherical", n_iter=20, implementation=impl, init_params="")
        m.startprob_ = [0.0, 1.0]
        m.transmat_ = [[0.4, 0.6], [0.6, 0.4]]
        m.means_ = [[0.0], [5.0]]
        m.covars_ = [1.0, 1.0]
        m.fit(data[:, None])
        fits.append(m)
    assert_allclose(fits[0].means_, fits[1].means_, rtol=1e-9)
    assert_allclose(list(fits[0].monitor_.history), list(fits[1].monitor_.history), rtol=1e-9)


@pytest.mark.parametrize("lengths, match", [
    ([10, 10], "sum to 20 frames but X has 30 rows"),
    ([10, -5, 25], "non-negative"),
    ([[10, 20]], "1-D"),
    ([10.5, 19.5], "whole numbers"),
])
def test_bad_lengths(lengths, match):
    m = fh.GaussianHMM(2, n_iter=2)
    with pytest.raises(ValueError, match=match):
        m.fit(np.random.RandomState(0).randn(30, 2), lengths)


def test_zero_length_and_single_frame_sequences():
    X = np.random.RandomState(0).randn(31, 2)
    m = fh.GaussianHMM(2, n_iter=3, random_state=0).fit(X, [0, 30, 0, 1])
    ll_parts = m.score(X[:30]) + m.score(X[30:])
    assert_allclose(m.score(X, [0, 30, 0, 1]), ll_parts, rtol=1e-12)
    assert m.predict(X, [0, 30, 0, 1]).shape == (31,)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_frames_are_a_clear_error(bad):
    X = np.random.RandomState(0).randn(30, 2)
    X[7, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        fh.GaussianHMM(2, n_iter=2).fit(X)


def test_wrong_feature_count_at_predict():
    m = fh.GaussianHMM(2, n_iter=2, random_state=0).fit(np.random.RandomState(0).randn(40, 3))
    with pytest.raises(ValueError, match="features"):
        m.predict(np.zeros((5, 2)))


def test_sequence_weight_errors():
    X = np.random.RandomState(0).randn(30, 2)
    m = fh.GaussianHMM(2, n_iter=2)
    with pytest.raises(ValueError, match="one weight per sequence"):
        m.fit(X, [10, 20], sample_weight=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        m.fit(X, [10, 20], sample_weight=[1.0, -1.0])
    with pytest.raises(ValueError, match="weight 0"):
        m.fit(X, [10, 20], sample_weight=[0.0, 0.0])


def test_impossible_sequence_is_a_clear_error():
    m = fh.CategoricalHMM(2, init_params="", n_iter=2, n_features=2)
    m.startprob_ = np.array([1.0, 0.0])
    m.transmat_ = np.eye(2)
    m.emissionprob_ = np.array([[1.0, 0.0], [0.0, 1.0]])
    X = np.array([[0], [1], [0]])
    assert m.score(X) == -np.inf
    with pytest.raises(ValueError, match="probability 0"):
        m.fit(X)


def test_bernoulli_hmm_recovers_its_states():
    m = fh.BernoulliHMM(2, init_params="", n_iter=1)
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.array([[0.95, 0.05], [0.05, 0.95]])
    m.emissionprob_ = np.array([[0.9, 0.1, 0.8], [0.1, 0.9, 0.2]])
    X, states = m.sample(3000, random_state=0)
    fit = fh.BernoulliHMM(2, n_iter=50, random_state=1).fit(X)
    order = np.argsort(fit.emissionprob_[:, 0])[::-1]
    assert_allclose(fit.emissionprob_[order], m.emissionprob_, atol=0.05)
    true_of_fitted = np.argsort(order)
    agree = np.mean(true_of_fitted[fit.predict(X)] == states)
    assert agree > 0.95


def test_bernoulli_rejects_non_binary():
    with pytest.raises(ValueError, match="0/1"):
        fh.BernoulliHMM(2).fit(np.array([[0, 1], [2, 0], [1, 1]]))


def _ref_posteriors(logp, lengths, start, trans):
    """Posteriors and log-likelihood by a plain log-space forward-backward (obviously right)."""
    from scipy.special import logsumexp
    out, total, a = np.empty_like(logp), 0.0, 0
    ls, lt = np.log(start), np.log(trans)
    for n in lengths:
        L = logp[a:a + n]
        fw, bw = np.empty_like(L), np.zeros_like(L)
        fw[0] = ls + L[0]
        for t in range(1, n):
            fw[t] = logsumexp(fw[t - 1][:, None] + lt, axis=0) + L[t]
        for t in range(n - 2, -1, -1):
            bw[t] = logsumexp(lt + L[t + 1] + bw[t + 1], axis=1)
        ll = logsumexp(fw[-1])
        out[a:a + n] = np.exp(fw + bw - ll)
        total += ll
        a += n
    return out, total


@pytest.mark.parametrize("ct", ["full", "diag", "spherical", "tied"])
def test_missing_values_match_a_row_by_row_reference(ct):
    from scipy.stats import multivariate_normal
    _, m = _gaussian_pair(ct, seed=21)
    X = _sample(m, sum(LENGTHS), 22)
    rng = np.random.RandomState(23)
    X[rng.rand(*X.shape) < 0.25] = np.nan
    X[5] = np.nan                                   # a frame with nothing observed
    m.nan_policy = "marginalize"
    cov = m.covars_
    # emissions: the density of each frame's observed part
    logp = np.zeros((len(X), K))
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        if o.any():
            for k in range(K):
                logp[i, k] = multivariate_normal(m.means_[k, o], cov[k][np.ix_(o, o)]).logpdf(x[o])
    gamma, ll = _ref_posteriors(logp, LENGTHS, START, TRANS)
    assert_allclose(m.score(X, LENGTHS), ll, rtol=1e-10)
    assert_allclose(m.predict_proba(X, LENGTHS), gamma, atol=1e-9)
    # one EM step: the completed statistics (conditional means and covariances of the missing parts)
    nk = gamma.sum(axis=0)
    s1 = np.zeros((K, D))
    s2 = np.zeros((K, D, D))
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        for k in range(K):
            mu, S = m.means_[k], cov[k]
            xh, C = x.copy(), np.zeros((D, D))
            if (~o).any():
                Soo_inv = np.linalg.inv(S[np.ix_(o, o)]) if o.any() else np.zeros((0, 0))
                Smo = S[np.ix_(~o, o)]
                xh[~o] = mu[~o] + Smo @ Soo_inv @ (x[o] - mu[o])
                C[np.ix_(~o, ~o)] = S[np.ix_(~o, ~o)] - Smo @ Soo_inv @ Smo.T
            s1[k] += gamma[i, k] * xh
            s2[k] += gamma[i, k] * (np.outer(xh, xh) + C)
    means = s1 / nk[:, None]
    scatter = s2 - nk[:, None, None] * np.einsum("kd,ke->kde", means, means)
    m.params, m.n_iter = "mc", 1
    m.fit(X, LENGTHS)
    assert_allclose(m.means_, means, rtol=1e-8, atol=1e-10)
    if ct == "full":
        assert_allclose(m._covars_, (1e-2 + scatter) / nk[:, None, None], rtol=1e-8)
    elif ct == "tied":
        assert_allclose(m._covars_, (1e-2 + scatter.sum(axis=0)) / nk.sum(), rtol=1e-8)
    elif ct == "diag":
        assert_allclose(m._covars_, (1e-2 + np.diagonal(scatter, axis1=1, axis2=2)) / nk[:, None], rtol=1e-8)
    else:
        assert_allclose(m._covars_, (1e-2 + np.trace(scatter, axis1=1, axis2=2) / D) / nk, rtol=1e-8)


@pytest.mark.parametrize("make", [
    lambda: fh.PoissonHMM(2, n_iter=3, random_state=0, nan_policy="marginalize"),
    lambda: fh.BernoulliHMM(2, n_iter=3, random_state=0, nan_policy="marginalize"),
])
def test_discrete_nan_frame_contributes_no_emission(make):
    rng = np.random.RandomState(0)
    X = (rng.rand(60, 3) < 0.4).astype(float)
    m = make().fit(X)
    Xn = X.copy()
    Xn[10, 1] = np.nan
    lp_missing = m.score(Xn)
    # a frame without emission: the chain passes through it, the emission factor is 1
    m2_logp = m._log_frameprob(X, None, 1)
    m2_logp[10] = 0.0
    _, ll = _ref_posteriors(m2_logp, [60], m.startprob_, m.transmat_)
    assert_allclose(lp_missing, ll, rtol=1e-10)
    with pytest.raises(ValueError, match="NaN|finite"):
        make().set_params(nan_policy="raise").fit(Xn)


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
@pytest.mark.parametrize("ct", ["full", "diag", "spherical"])
def test_student_t_hmm_with_one_state_is_the_t_mixture(ct):
    # With one state every posterior is 1: the HMM's EM is StudentTMixture's with one component.
    from fastgmm import StudentTMixture
    rng = np.random.RandomState(30)
    X = rng.standard_t(4, size=(400, 3)) * [1.0, 2.0, 0.5] + [1.0, -2.0, 3.0]
    cov0 = {"full": np.eye(3)[None] * 1.5, "diag": np.full((1, 3), 1.5), "spherical": np.array([1.5])}[ct]
    h = fh.StudentTHMM(1, ct, init_params="", n_iter=6, tol=0)
    h.startprob_, h.transmat_ = np.ones(1), np.ones((1, 1))
    h.means_, h.covars_, h.degrees_of_freedom_ = np.zeros((1, 3)), cov0.copy(), np.array([7.0])
    h.fit(X)
    prec = np.linalg.inv(cov0) if ct == "full" else 1 / cov0
    t = StudentTMixture(1, covariance_type=ct, means_init=np.zeros((1, 3)), precisions_init=prec, dof_init=7.0,
                        max_iter=6, tol=0, reg_covar=1e-6).fit(X)
    assert_allclose(h.means_, t.means_, rtol=1e-9, atol=1e-12)
    assert_allclose(h.covars_, t.covariances_, rtol=1e-9)
    assert_allclose(h.degrees_of_freedom_, t.degrees_of_freedom_, rtol=1e-9)


def test_student_t_hmm_emissions_and_outliers():
    from scipy.stats import multivariate_t
    m = fh.StudentTHMM(2, "full", init_params="", n_iter=1)
    m.startprob_ = np.array([0.6, 0.4])
    m.transmat_ = np.array([[0.9, 0.1], [0.2, 0.8]])
    m.means_ = np.array([[0.0, 0.0], [5.0, 5.0]])
    m.covars_ = np.array([np.eye(2), [[2.0, 0.5], [0.5, 1.0]]])
    m.degrees_of_freedom_ = np.array([3.0, 8.0])
    X, _ = m.sample(300, random_state=1)
    logp = np.column_stack([multivariate_t(m.means_[k], m.covars_[k], df=m.degrees_of_freedom_[k]).logpdf(X) for k in range(2)])
    gamma, ll = _ref_posteriors(logp, [300], m.startprob_, m.transmat_)
    assert_allclose(m.score(X), ll, rtol=1e-10)
    assert_allclose(m.predict_proba(X), gamma, atol=1e-9)
    # an outlier moves the t states' means much less than a Gaussian HMM's
    Xo = X.copy()
    Xo[::50] = 1e3
    fits = []
    for model in (fh.StudentTHMM(2, "full", n_iter=50, init_params="d"), fh.GaussianHMM(2, "full", n_iter=50,
                                                                                       init_params="")):
        model.startprob_, model.transmat_ = np.array([0.5, 0.5]), np.array([[0.8, 0.2], [0.2, 0.8]])
        model.means_, model.covars_ = np.array([[1.0, 1.0], [4.0, 4.0]]), np.array([np.eye(2), np.eye(2)])
        fits.append(model.fit(Xo))
    t, g = fits
    err_t = np.abs(np.sort(t.means_[:, 0]) - [0, 5]).max()
    err_g = np.abs(np.sort(g.means_[:, 0]) - [0, 5]).max()
    assert err_t < 0.5 < err_g


def test_frozen_parameters_stay_bitwise():
    _, src = _gaussian_pair("diag", seed=40)
    X = _sample(src, sum(LENGTHS), 41)
    _, m = _gaussian_pair("diag", seed=40)
    means0, trans0 = m.means_.copy(), m.transmat_.copy()
    m.set_params(frozen=("means", "transmat"))
    m.fit(X, LENGTHS)
    assert_array_equal(m.means_, means0)
    assert_array_equal(m.transmat_, trans0)
    assert not np.allclose(m.covars_, src.covars_, rtol=0, atol=0)
    # the same as hmmlearn's letters
    _, letters = _gaussian_pair("diag", seed=40)
    letters.params = "sc"
    letters.fit(X, LENGTHS)
    assert_array_equal(letters.covars_, m.covars_)
    with pytest.raises(ValueError, match="frozen"):
        fh.GaussianHMM(2, frozen=("lambdas",)).fit(X)


def test_categorical_nan_frame_contributes_no_emission_nor_count():
    rng = np.random.RandomState(2)
    X = rng.randint(0, 4, (80, 1)).astype(float)
    E = rng.dirichlet(np.ones(4), size=3)
    E[2, 1] = 0.0                                   # a symbol state 2 never emits
    E /= E.sum(axis=1, keepdims=True)
    start, trans = rng.dirichlet(np.ones(3)), rng.dirichlet(np.ones(3), size=3)
    m = fh.CategoricalHMM(3, n_iter=1, n_features=4, init_params="", params="e", nan_policy="marginalize")
    m.startprob_, m.transmat_, m.emissionprob_ = start, trans, E.copy()
    Xn = X.copy()
    Xn[[10, 50]] = np.nan
    with np.errstate(divide="ignore"):
        logp = np.log(E).T[X[:, 0].astype(int)]
    logp[[10, 50]] = 0.0                             # no observation: emission factor 1
    gamma, ll = _ref_posteriors(logp, [80], start, trans)
    assert_allclose(m.score(Xn), ll, rtol=1e-10)
    m.fit(Xn)
    obs = np.zeros((3, 4))
    for i in set(range(80)) - {10, 50}:
        obs[:, int(X[i, 0])] += gamma[i]
    assert_allclose(m.emissionprob_, obs / obs.sum(axis=1, keepdims=True), rtol=1e-10)
    assert m.emissionprob_[2, 1] == 0.0


def test_fit_keeps_no_scratch_and_posteriors_are_fresh_arrays():
    rng = np.random.RandomState(3)
    X = rng.randint(0, 5, (300, 1))
    m = fh.CategoricalHMM(3, n_iter=3, random_state=0).fit(X, [100, 200])
    assert "_fit_scratch" not in vars(m)          # the memory kept across iterations goes with the fit
    a, b = m.predict_proba(X, [100, 200]), m.predict_proba(X, [100, 200])
    assert not np.shares_memory(a, b)
