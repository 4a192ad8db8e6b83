"""mclust's conjugate priors (fastgmm.families._mclust_prior) against R's mclust 6.0 and a numerical MAP."""

import functools
import json
import pathlib

import numpy as np
import pytest
import scipy.stats

from fastgmm.families import _mclust_prior as mp

import _reference_mclust_prior as ref

DATA = pathlib.Path(__file__).resolve().parent / "data" / "mclust"
SETS = ("prior_mstep_iris.json", "prior_mstep_gen.json")
EQUAL_VOLUME = ("EII", "EEI", "EVI", "EEE", "EEV")
VARIABLE_VOLUME = ("VII", "VEI", "VVI", "VEV", "VVV")
#: the models whose mclust M-step is not the mode of Fraley & Raftery's prior (see the module docstring)
PROFILE_MODELS = ("EEI", "VEI", "EVI", "EEV", "VEV")
JOINT_MODELS = ("EII", "VII", "VVI", "EEE", "VVV")


@functools.lru_cache(maxsize=None)
def _load(name):
    return json.loads((DATA / name).read_text())


@functools.lru_cache(maxsize=None)
def _r_statistics(name):
    d = _load(name)
    return ref.statistics(np.array(d["data"]).reshape(len(d["z"]), -1), np.array(d["z"]))


def _step(model, X, resp, prior, sample_weight=None, statistics=None, **kwargs):
    """map_m_step from the statistics of (X, resp), covariances returned as (K, D, D)."""
    nk, xbar, W = statistics or ref.statistics(X, resp, sample_weight)
    lay = mp._LAYOUT[model]
    means, cov = mp.map_m_step(model, nk, xbar, ref.in_layout(W, lay), prior, **kwargs)
    return means, ref.as_full(cov, lay, *xbar.shape)


def _r_step(name, model):
    """One of the R data sets, and map_m_step from its z with mclust's default prior."""
    d = _load(name)
    X, z = np.array(d["data"]), np.array(d["z"])
    means, cov = _step(model, X, z, mp.default_prior(X, z.shape[1], model), statistics=_r_statistics(name))
    return d, X, z, means, cov


def _soft_resp(n, K, seed):
    rng = np.random.default_rng(seed)
    r = rng.random((n, K)) ** 3
    r[np.arange(n), rng.integers(0, K, n)] += 1.0
    return r / r.sum(axis=1, keepdims=True)


def _small_problem(D, K, seed, n=40, shift=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D)) @ rng.normal(size=(D, D)) + shift
    X[: n // 2] += 2.0
    return X, _soft_resp(n, K, seed + 1)


# ---------------------------------------------------------------------------
# Against R
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("model", mp.PRIOR_MODELS)
def test_default_prior_matches_mclust(name, model):
    d = _load(name)
    X, K = np.array(d["data"]), len(d["z"][0])
    got, want = mp.default_prior(X, K, model), d["models"][model]["prior"]
    assert (got.shrinkage, got.dof) == (want["shrinkage"], want["dof"])
    np.testing.assert_allclose(got.mean, want["mean"], rtol=1e-12)
    np.testing.assert_allclose(got.scale, want["scale"], rtol=1e-12)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("model", mp.PRIOR_MODELS)
def test_map_m_step_matches_mclust_em(name, model):
    d, X, z, means, cov = _r_step(name, model)
    np.testing.assert_allclose(means, d["models"][model]["mean"], rtol=1e-9)
    np.testing.assert_allclose(cov, d["models"][model]["sigma"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("model", mp.PRIOR_MODELS)
def test_log_likelihood_at_the_map_estimate_matches_mclust(name, model):
    """What mclust's BIC under a prior is made of: the log-likelihood at the MAP parameters (no prior term)."""
    d, X, z, means, cov = _r_step(name, model)
    weights = z.sum(axis=0) / z.sum()
    dens = sum(weights[k] * scipy.stats.multivariate_normal.pdf(X, means[k], cov[k]) for k in range(z.shape[1]))
    assert np.sum(np.log(dens)) == pytest.approx(d["models"][model]["loglik"], rel=1e-10)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("model", mp.PRIOR_MODELS)
def test_second_em_iteration_matches_mclust(name, model):
    """mclust's EM carries VEI's and VEV's volumes and shape from one M-step to the next: ``start``."""
    d, X, z, means, full = _r_step(name, model)
    K, lay = z.shape[1], mp._LAYOUT[model]
    prior = mp.default_prior(X, K, model)
    nk, xbar, W = _r_statistics(name)
    _, cov = mp.map_m_step(model, nk, xbar, ref.in_layout(W, lay), prior)
    dens = np.column_stack([nk[k] * scipy.stats.multivariate_normal.pdf(X, means[k], full[k]) for k in range(K)])
    nk2, xbar2, W2 = ref.statistics(X, dens / dens.sum(axis=1, keepdims=True))
    _, cov2 = mp.map_m_step(model, nk2, xbar2, ref.in_layout(W2, lay), prior, start=cov)
    # to 1e-11: starting afresh instead stops the iteration elsewhere within its tolerance (~1e-9 off)
    np.testing.assert_allclose(ref.as_full(cov2, lay, K, X.shape[1]), d["models"][model]["two"]["sigma"],
                               rtol=1e-11, atol=1e-13)


def test_mclust_mstep_differs_from_its_em_where_the_module_says():
    """The R data keep mstep()'s output too: it departs from the EM's M-step for EII, EEI, EVI and EEV only."""
    d = _load("prior_mstep_iris.json")["models"]
    differ = {m for m, r in d.items()
              if not np.allclose(r["sigma"], r["mstep"]["sigma"], rtol=1e-12)
              or not np.allclose(r["mean"], r["mstep"]["mean"], rtol=1e-12)}
    assert differ == {"EII", "EEI", "EVI", "EEV"}


@pytest.mark.parametrize("model", EQUAL_VOLUME + VARIABLE_VOLUME)
def test_one_feature_matches_mclusts_univariate_models(model):
    d = _load("prior_univariate.json")
    x, z = np.array(d["data"]), np.array(d["z"])
    want = d["models"]["E" if model in EQUAL_VOLUME else "V"]
    prior = mp.default_prior(x, z.shape[1], model)
    assert (prior.dof, prior.scale) == (want["prior"]["dof"], pytest.approx(want["prior"]["scale"], rel=1e-12))
    means, cov = _step(model, x[:, None], z, prior, statistics=_r_statistics("prior_univariate.json"))
    np.testing.assert_allclose(means[:, 0], want["mean"], rtol=1e-10)
    np.testing.assert_allclose(cov[:, 0, 0], np.broadcast_to(want["sigmasq"], (3,)), rtol=1e-10)


@pytest.mark.parametrize("name", ("faithful", "iris"))
def test_one_component_gives_mclusts_bic(name):
    """Mclust(G = 1) fits XII, XXI or XXX under a prior, one per layout; its BIC is 2 loglik - n_params log n
    with the log-likelihood at the MAP estimate."""
    bic = _load("prior_bic.json")[name]
    row = dict(zip(bic["models"], bic["bic"][0]))
    X = np.loadtxt(DATA.parent / f"{name}.csv", delimiter=",", skiprows=1)
    N, D = X.shape
    resp = np.ones((N, 1))
    n_cov = {"spherical": 1, "diag": D, "tied": D * (D + 1) // 2, "full": D * (D + 1) // 2}
    for model in mp.PRIOR_MODELS:
        lay = mp._LAYOUT[model]
        means, cov = _step(model, X, resp, mp.default_prior(X, 1, model))
        loglik = np.sum(scipy.stats.multivariate_normal.logpdf(X, means[0], cov[0]))
        assert 2 * loglik - (D + n_cov[lay]) * np.log(N) == pytest.approx(row[model], rel=1e-10)


# ---------------------------------------------------------------------------
# Against the numerical MAP
# ---------------------------------------------------------------------------

def _weighted_problem(model, D, seed, weighted):
    """Two components in D features, sample weights or None, and a prior with a marked shrinkage."""
    X, resp = _small_problem(D, 2, seed=seed)
    w = np.random.default_rng(seed + 1).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    return X, resp, w, mp.default_prior(X, 2, model, sample_weight=w, shrinkage=0.5)


def _assert_joint_mode(model, reference, X, resp, prior, sample_weight=None):
    """map_m_step(model) reaches the numerical mode of the joint objective of ``reference``'s prior."""
    means, cov = _step(model, X, resp, prior, sample_weight=sample_weight)
    want_means, want_cov = ref.joint_map(reference, X, resp, prior, sample_weight=sample_weight)
    np.testing.assert_allclose(means, want_means, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cov, want_cov, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("model", JOINT_MODELS)
@pytest.mark.parametrize("weighted", (False, True))
def test_exact_models_reach_the_posterior_mode(model, weighted):
    X, resp, w, prior = _weighted_problem(model, 2, 3, weighted)
    _assert_joint_mode(model, model, X, resp, prior, w)


@pytest.mark.parametrize("model", ("VII", "VVI", "EEE"))
def test_one_component_reaches_the_posterior_mode(model):
    X, _ = _small_problem(3, 1, seed=5, n=30)
    resp = np.ones((30, 1))
    prior = mp.default_prior(X, 1, model, shrinkage=0.3)
    _assert_joint_mode(model, model, X, resp, prior)


@pytest.mark.parametrize("model,reference", [(m, "EEE") for m in EQUAL_VOLUME] +
                         [(m, "VVV") for m in VARIABLE_VOLUME])
def test_one_feature_reaches_the_posterior_mode(model, reference):
    """mclust's E (one variance) and V (one per component) are the modes of the inverse-gamma prior."""
    X, resp = _small_problem(1, 3, seed=6, n=30)
    prior = mp.default_prior(X, 3, model, shrinkage=0.2)
    _assert_joint_mode(model, reference, X, resp, prior)


@pytest.mark.parametrize("model", PROFILE_MODELS)
@pytest.mark.parametrize("weighted", (False, True))
def test_other_models_maximise_mclusts_profile_objective(model, weighted):
    X, resp, w, prior = _weighted_problem(model, 3, 7, weighted)
    _, cov = _step(model, X, resp, prior, sample_weight=w, tol=1e-13)
    np.testing.assert_allclose(cov, ref.profile_map(model, X, resp, prior, sample_weight=w), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("model", mp.PRIOR_MODELS)
def test_means_are_shrunk_towards_the_prior_mean(model):
    X, resp = _small_problem(2, 3, seed=9)
    prior = mp.default_prior(X, 3, model, shrinkage=2.0, mean=[10.0, -10.0])
    nk, xbar, _ = ref.statistics(X, resp)
    means, _ = _step(model, X, resp, prior)
    want = xbar if model == "EEI" else (nk[:, None] * xbar + 2.0 * prior.mean) / (nk[:, None] + 2.0)
    np.testing.assert_allclose(means, want, rtol=1e-12)


# ---------------------------------------------------------------------------
# Hard layouts and edge cases
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("model", tuple(m for m in mp.PRIOR_MODELS if m != "VEV"))
def test_an_empty_component_stays_finite(model):
    X, resp = _small_problem(3, 3, seed=10)
    resp[:, 2] = 0.0
    resp /= resp.sum(axis=1, keepdims=True)
    nk, xbar, W = ref.statistics(X, resp[:, :2])
    nk, xbar = np.append(nk, 0.0), np.vstack([xbar, np.zeros(3)])
    W = np.concatenate([W, np.zeros((1, 3, 3))])
    prior = mp.default_prior(X, 3, model)
    lay = mp._LAYOUT[model]
    means, cov = mp.map_m_step(model, nk, xbar, ref.in_layout(W, lay), prior)
    np.testing.assert_allclose(means[2], prior.mean, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(ref.as_full(cov, lay, 3, 3)) > 0)


def test_vev_refuses_an_empty_component():
    X, resp = _small_problem(2, 2, seed=11)
    nk, xbar, W = ref.statistics(X, resp)
    with pytest.raises(ValueError, match="VEV.*empty component"):
        mp.map_m_step("VEV", [nk[0], 0.0], xbar, W, mp.default_prior(X, 2, "VEV"))


@pytest.mark.parametrize("model", mp.PRIOR_MODELS)
def test_far_from_the_origin_only_the_means_move(model):
    X, resp = _small_problem(3, 2, seed=12)
    near, far = (_step(model, X + shift, resp, mp.default_prior(X + shift, 2, model)) for shift in (0.0, 1e6))
    np.testing.assert_allclose(far[0] - 1e6, near[0], atol=1e-8)
    np.testing.assert_allclose(far[1], near[1], rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("model", mp.PRIOR_MODELS)
def test_float32_statistics_give_the_float64_step(model):
    X, resp = _small_problem(3, 2, seed=13)
    nk, xbar, W = ref.statistics(X, resp)
    lay = mp._LAYOUT[model]
    prior = mp.default_prior(X.astype(np.float32), 2, model)
    means64, cov64 = mp.map_m_step(model, nk, xbar, ref.in_layout(W, lay), prior)
    means32, cov32 = mp.map_m_step(model, nk.astype(np.float32), xbar.astype(np.float32),
                                   ref.in_layout(W, lay).astype(np.float32), prior)
    assert cov32.dtype == np.float64
    np.testing.assert_allclose(means32, means64, rtol=1e-5)
    np.testing.assert_allclose(cov32, cov64, rtol=1e-4)


def test_integer_weights_give_the_prior_of_repeated_rows():
    X, _ = _small_problem(3, 1, seed=14, n=12)
    w = np.arange(12) % 3
    for model in ("VVI", "VVV"):
        a = mp.default_prior(X, 2, model, sample_weight=w)
        b = mp.default_prior(np.repeat(X, w, axis=0), 2, model)
        np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12)
        np.testing.assert_allclose(a.scale, b.scale, rtol=1e-12)


def test_full_models_with_few_rows_take_the_diagonal_scale():
    X, _ = _small_problem(4, 1, seed=15, n=4)
    scale = mp.default_prior(X, 2, "VVV").scale
    np.testing.assert_array_equal(scale, np.diag(np.diag(scale)))


@pytest.mark.parametrize("sklearn,mclust", sorted(mp.SKLEARN_EQUIVALENT.items()))
def test_sklearn_names_are_the_mclust_models(sklearn, mclust):
    X, resp = _small_problem(2, 2, seed=16)
    nk, xbar, W = ref.statistics(X, resp)
    prior = mp.default_prior(X, 2, mclust)
    a = mp.map_m_step(sklearn, nk, xbar, ref.in_layout(W, sklearn), prior)
    b = mp.map_m_step(mclust, nk, xbar, ref.in_layout(W, sklearn), prior)
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("model", ("VEI", "VEV"))
def test_iteration_started_at_its_answer_stays_there(model):
    X, resp = _small_problem(3, 2, seed=17)
    prior = mp.default_prior(X, 2, model)
    nk, xbar, W = ref.statistics(X, resp)
    lay = mp._LAYOUT[model]
    _, cov = mp.map_m_step(model, nk, xbar, ref.in_layout(W, lay), prior, tol=1e-14)
    _, again = mp.map_m_step(model, nk, xbar, ref.in_layout(W, lay), prior, start=cov, max_iter=1)
    np.testing.assert_allclose(again, cov, rtol=1e-10)


def test_without_shrinkage_the_means_are_the_ml_means():
    X, resp = _small_problem(2, 2, seed=18)
    nk, xbar, W = ref.statistics(X, resp)
    prior = mp.default_prior(X, 2, "VVV", shrinkage=0.0)
    means, cov = mp.map_m_step("VVV", nk, xbar, W, prior)
    np.testing.assert_array_equal(means, xbar)
    np.testing.assert_allclose(cov, (prior.scale + W) / (prior.dof + nk + 2 + 2)[:, None, None], rtol=1e-12)


@pytest.mark.parametrize("call,message", [
    (lambda X, s: mp.default_prior(X, 2, "EVE"), "'model'.*no prior for EVE"),
    (lambda X, s: mp.default_prior(X, 0, "VVV"), "'n_components'"),
    (lambda X, s: mp.default_prior(X, 2, "VVV", shrinkage=-1.0), "'shrinkage'"),
    (lambda X, s: mp.default_prior(X, 2, "VVV", shrinkage=0.0, mean=[0, 0]), "'mean'.*shrinkage"),
    (lambda X, s: mp.default_prior(X, 2, "VVV", mean=[0, 0, 0]), "'mean'.*shape"),
    (lambda X, s: mp.default_prior(X, 2, "VVI", scale=np.eye(2)), "'scale'.*number"),
    (lambda X, s: mp.default_prior(X, 2, "VVV", scale=-np.eye(2)), "'scale'.*semi-definite"),
    (lambda X, s: mp.default_prior(X[:1], 2, "VVV"), "sum to more than 1"),
    (lambda X, s: mp.default_prior(X, 2, "VVV", sample_weight=np.ones(3)), "'sample_weight'"),
    (lambda X, s: mp.map_m_step("VVV", s[0], s[1], s[2][0], s[3]), "'scatter'"),
    (lambda X, s: mp.map_m_step("VVV", s[0], s[1][:, :1], s[2], s[3]), "'scatter'|'prior.mean'"),
    (lambda X, s: mp.map_m_step("VVV", [-1.0, 1.0], s[1], s[2], s[3]), "'nk'"),
    (lambda X, s: mp.map_m_step("VVV", s[0], s[1], s[2], "prior"), "'prior'"),
    (lambda X, s: mp.map_m_step("VII", s[0], s[1], np.trace(s[2], axis1=1, axis2=2), s[3]), "'scale'.*number"),
    (lambda X, s: mp.map_m_step("VEI", s[0], s[1], np.ones((2, 2)), mp.default_prior(X, 2, "VEI"), tol=2.0),
     "'tol'"),
])
def test_bad_input_raises_a_clear_error(call, message):
    X, resp = _small_problem(2, 2, seed=19)
    nk, xbar, W = ref.statistics(X, resp)
    with pytest.raises((ValueError, TypeError), match=message):
        call(X, (nk, xbar, W, mp.default_prior(X, 2, "VVV")))
