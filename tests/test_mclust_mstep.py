"""mclust's fourteen covariance models (fastgmm.families._mclust): M-steps against a numerical maximiser of the
expected log-likelihood (tests/_reference_mclust.py) and against mclust 6.0's own ``mstep`` (numbers made by
tests/data/mclust/make_mstep.R), parameter counts against ``nVarParams``, and the hard cases."""

import json
import pathlib

import numpy as np
import pytest
from scipy.special import logsumexp

from fastgmm.families import _gaussian
from fastgmm.families import _mclust as mc
from fastgmm.families import _mclust_iterative as mci

import _reference_mclust as ref

DATA = pathlib.Path(__file__).resolve().parent / "data" / "mclust"
ITERATIVE = ("VEI", "VEE", "EVE", "VVE", "VEV")


def in_layout(W, model):
    """Full scatters (K, D, D) in the shape ``layout(model)`` takes."""
    lay = mc.layout(model)
    if lay == "diag":
        return np.diagonal(W, axis1=1, axis2=2).copy()
    if lay == "spherical":
        return np.trace(W, axis1=1, axis2=2)
    return W.sum(axis=0) if lay == "tied" else W


def as_full(C, model, K, D):
    """Layout-shaped covariances as (K, D, D) matrices."""
    lay = mc.layout(model)
    if lay == "spherical":
        return C[:, None, None] * np.eye(D)
    if lay == "diag":
        return np.einsum("kd,de->kde", C, np.eye(D))
    return np.broadcast_to(C, (K, D, D)) if lay == "tied" else C


def mstep(model, nk, W, **kw):
    """The model's covariances as (K, D, D) full matrices."""
    K, D = W.shape[0], W.shape[1]
    return as_full(mc.constrained_covariances(model, nk, in_layout(W, model), n_features=D, **kw), model, K, D)


def scatter(X, z, w=None):
    """nk and W_k = sum_i w_i z_ik (x_i - mu_k)(x_i - mu_k)^T, plain NumPy."""
    zw = z if w is None else z * w[:, None]
    nk = zw.sum(axis=0)
    mu = zw.T @ X / nk[:, None]
    dev = X[:, None, :] - mu[None]
    return nk, mu, np.einsum("nk,nki,nkj->kij", zw, dev, dev)


def mixture_loglik(X, pro, mu, sigma):
    D = X.shape[1]
    dev = X[:, None, :] - mu[None]
    maha = np.einsum("nki,nki->nk", dev, np.linalg.solve(sigma[None], dev[..., None])[..., 0])
    logdet = np.linalg.slogdet(sigma)[1]
    return float(np.sum(logsumexp(np.log(pro) - 0.5 * (D * np.log(2 * np.pi) + logdet + maha), axis=1)))


def random_problem(seed, K=3, D=3, far=0.0):
    """Well-conditioned weights and scatters."""
    rng = np.random.default_rng(seed)
    nk = rng.uniform(15, 60, size=K)
    W = []
    for n in nk:
        A = rng.normal(size=(D, D)) * rng.uniform(0.5, 3, size=D)
        W.append(n * (A @ A.T / D + 0.3 * np.eye(D)) + far)
    return nk, np.array(W)


# --- names, layouts and counts -----------------------------------------------------------------------------

@pytest.mark.parametrize("model", mc.MODELS)
def test_layout_is_the_kernel_the_model_needs(model):
    want = {"EII": "spherical", "VII": "spherical", "EEI": "diag", "VEI": "diag", "EVI": "diag",
            "VVI": "diag", "EEE": "tied"}.get(model, "full")
    assert mc.layout(model) == want


@pytest.mark.parametrize("name", ["spherical", "diag", "tied", "full"])
def test_scikit_learn_names_map_to_themselves(name):
    assert mc.layout(name) == name


def test_parameter_counts_equal_mclust_nvarparams():
    table = json.loads((DATA / "nvarparams.json").read_text())
    got = {m: [mc.n_covariance_parameters(m, G, d) for G, d in zip(table["G"], table["d"])] for m in mc.MODELS}
    assert got == table["counts"]


@pytest.mark.parametrize("name", ["spherical", "diag", "tied", "full"])
@pytest.mark.parametrize("K,D", [(1, 1), (3, 4), (9, 7)])
def test_scikit_learn_counts_are_fastgmms(name, K, D):
    assert mc.n_covariance_parameters(name, K, D) == _gaussian.n_parameters(name, K, D) - K * D - (K - 1)


# --- the maximum, against the numerical reference -----------------------------------------------------------

@pytest.fixture(scope="module")
def reference_maxima():
    nk, W = random_problem(5)
    return nk, W, {m: ref.maximise(m, nk, W, n_starts=3) for m in mc.MODELS}


@pytest.mark.parametrize("model", mc.MODELS)
def test_converged_mstep_equals_the_reference_maximum(model, reference_maxima):
    nk, W, maxima = reference_maxima
    sigma = mstep(model, nk, W, tol=1e-13)
    np.testing.assert_allclose(sigma, maxima[model][0], rtol=1e-6, atol=1e-6 * np.abs(sigma).max())


@pytest.mark.parametrize("model", mc.MODELS)
def test_default_tolerance_reaches_the_reference_objective(model, reference_maxima):
    nk, W, maxima = reference_maxima
    q = ref.expected_loglik(nk, W, mstep(model, nk, W))
    assert q >= maxima[model][1] - 1e-8 * abs(maxima[model][1])


@pytest.mark.parametrize("model", mc.MODELS)
def test_covariances_satisfy_the_model_constraints(model):
    nk, W = random_problem(11, K=3, D=4)
    S = mstep(model, nk, W)
    vol = np.exp(np.linalg.slogdet(S)[1] / 4)
    if model[2] == "I":
        assert np.all(S == np.einsum("kd,de->kde", np.diagonal(S, axis1=1, axis2=2), np.eye(4)))
        shapes = np.diagonal(S, axis1=1, axis2=2) / vol[:, None]
    else:
        shapes = np.linalg.eigvalsh(S) / vol[:, None]
    if model[0] == "E":
        np.testing.assert_allclose(vol, vol[0], rtol=1e-10)
    if model[1] == "E":
        np.testing.assert_allclose(shapes, np.broadcast_to(shapes[0], shapes.shape), rtol=1e-9)
    if model[1] == "I":
        np.testing.assert_allclose(shapes, 1.0, rtol=1e-12)
    if model[2] == "E":
        commutator = np.einsum("kij,ljm->klim", S, S) - np.einsum("lij,kjm->klim", S, S)
        assert np.abs(commutator).max() <= 1e-10 * np.abs(S).max() ** 2


@pytest.mark.parametrize("model", mc.MODELS)
def test_float32_scatter_gives_the_float64_result_of_its_values(model):
    nk, W = random_problem(3)
    S32 = in_layout(W, model).astype(np.float32)
    got = mc.constrained_covariances(model, nk.astype(np.float32), S32, n_features=3)
    want = mc.constrained_covariances(model, nk.astype(np.float32).astype(np.float64), S32.astype(np.float64),
                                      n_features=3)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)


def _nested(inner, outer):
    """Every covariance set of ``inner`` is one of ``outer``: each letter at most as free (I < E < V)."""
    rank = {"I": 0, "E": 1, "V": 2}
    return all(rank[a] <= rank[b] for a, b in zip(inner, outer))


@pytest.mark.parametrize("seed", [21, 22])
def test_a_freer_model_never_fits_worse(seed):
    nk, W = random_problem(seed, K=3, D=3)
    q = {m: ref.expected_loglik(nk, W, mstep(m, nk, W)) for m in mc.MODELS}
    worse = [(a, b) for a in mc.MODELS for b in mc.MODELS if _nested(a, b) and q[b] < q[a] - 1e-7 * abs(q[a])]
    assert worse == []


# --- one EM step against mclust's mstep ---------------------------------------------------------------------

def _mclust_case(name):
    d = json.loads((DATA / f"mstep_{name}.json").read_text())
    X, z = np.array(d["data"], dtype=float), np.array(d["z"], dtype=float)
    return X, z, d["models"]


@pytest.mark.parametrize("name", ["iris", "gen3"])
@pytest.mark.parametrize("model", [m for m in mc.MODELS if m not in ("EVE", "VVE")])
def test_one_em_step_equals_mclust(name, model):
    X, z, models = _mclust_case(name)
    nk, mu, W = scatter(X, z)
    sigma = mstep(model, nk, W)
    np.testing.assert_allclose(sigma, np.array(models[model]["sigma"]), rtol=1e-6, atol=1e-9)
    loglik = mixture_loglik(X, nk / len(X), mu, sigma)
    np.testing.assert_allclose(loglik, models[model]["loglik"], rtol=1e-9)


@pytest.mark.parametrize("name", ["iris", "gen3"])
def test_eve_reaches_mclusts_step_or_beyond(name):
    # mclust's EVE orientation (majorise-minimise steps from the identity) stops at its tolerance short of
    # the M-step's maximum; the plane rotations go on to it: a higher expected log-likelihood, and
    # covariances within a few 1e-3 of mclust's.
    X, z, models = _mclust_case(name)
    nk, mu, W = scatter(X, z)
    sigma = mstep("EVE", nk, W)
    theirs = np.array(models["EVE"]["sigma"])
    assert ref.expected_loglik(nk, W, sigma) >= ref.expected_loglik(nk, W, theirs)
    np.testing.assert_allclose(sigma, theirs, rtol=5e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["iris", "gen3"])
def test_vve_as_mclust_iterates_equals_mclust(name):
    X, z, models = _mclust_case(name)
    nk, _, W = scatter(X, z)
    sigma = mci.vve(nk, W, np.ones(len(nk), bool), mc.DEFAULT_TOL, mc.DEFAULT_MAX_ITER, None, as_mclust=True)
    np.testing.assert_allclose(sigma, np.array(models["VVE"]["sigma"]), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["iris", "gen3"])
def test_vve_reaches_a_higher_expected_loglik_than_mclust(name):
    # mclust's VVE orientation step leaves out the volumes (see _mclust_iterative.vve): ours maximises.
    X, z, models = _mclust_case(name)
    nk, _, W = scatter(X, z)
    ours = ref.expected_loglik(nk, W, mstep("VVE", nk, W))
    theirs = ref.expected_loglik(nk, W, np.array(models["VVE"]["sigma"]))
    assert ours > theirs + 0.1


def test_univariate_models_reduce_to_mclusts_e_and_v():
    d = json.loads((DATA / "mstep_univariate.json").read_text())
    X, z = np.array(d["data"], dtype=float)[:, None], np.array(d["z"], dtype=float)
    nk, mu, W = scatter(X, z)
    for model in mc.MODELS:
        want = d["models"][model[0]]
        sigma = mstep(model, nk, W)
        np.testing.assert_allclose(sigma.ravel(), np.broadcast_to(want["sigmasq"], nk.shape), rtol=1e-10)
        np.testing.assert_allclose(mixture_loglik(X, nk / len(X), mu, sigma), want["loglik"], rtol=1e-10)


# --- hard layouts --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", mc.MODELS)
def test_one_component_is_the_constrained_sample_covariance(model):
    nk, W = random_problem(7, K=1, D=3)
    C = W[0] / nk[0]
    want = {"I": np.trace(C) / 3 * np.eye(3), "E": None, "V": None}[model[1]]
    if model[2] == "I" and want is None:
        want = np.diag(np.diag(C))
    want = C if want is None else want
    np.testing.assert_allclose(mstep(model, nk, W, tol=1e-13)[0], want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("model", ["VII", "VVI", "EEE", "VVV", "spherical", "diag", "tied", "full"])
def test_scikit_learn_equivalents_are_scatter_over_weight_exactly(model):
    nk, W = random_problem(2)
    lay = mc.layout(model)
    S = in_layout(W, model)
    got = mc.constrained_covariances(model, nk, S, n_features=3)
    want = {"tied": S / nk.sum(), "spherical": S / nk / 3}.get(lay, S / nk.reshape((-1,) + (1,) * (S.ndim - 1)))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("empty", [0.0, 10 * np.finfo(float).eps])
@pytest.mark.parametrize("model", mc.MODELS)
def test_an_empty_component_leaves_the_others_as_without_it(model, empty):
    nk, W = random_problem(4)
    nk0 = np.concatenate([nk[:1], [empty], nk[1:]])
    W0 = np.concatenate([W[:1], np.zeros((1, 3, 3)), W[1:]])
    got = mstep(model, nk0, W0)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[[0, 2, 3]], mstep(model, nk, W), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("model", mc.MODELS)
def test_singular_scatter_gives_finite_covariances(model):
    nk, W = random_problem(6)
    W[1, 2, :] = W[1, :, 2] = 0.0        # a feature constant in component 1
    with np.errstate(all="raise"):
        got = mstep(model, nk, W)
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("model", mc.MODELS)
def test_zero_scatter_component_gives_finite_covariances(model):
    nk, W = random_problem(6)
    W[0] = 0.0                           # a single-point component
    got = mstep(model, nk, W)
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("model", mc.MODELS)
def test_near_singular_scatter_is_fitted(model):
    nk, W = random_problem(8)
    e, V = np.linalg.eigh(W[2])
    e[0] = 1e-10 * e[-1]
    W[2] = (V * e) @ V.T
    got = mstep(model, nk, W)
    assert np.all(np.isfinite(got))
    assert ref.expected_loglik(nk, W, got) >= ref.expected_loglik(nk, W, mstep("EII", nk, W)) - 1e-9


@pytest.mark.parametrize("model", [m for m in mc.MODELS if m not in ITERATIVE])
def test_closed_forms_scale_with_the_scatter(model):
    # Data in large units. (mclust's stopping rules compare changes with 1 + value, so an iterative M-step
    # stops at a point that depends on the units; its answer is checked against the reference instead.)
    nk, W = random_problem(9)
    np.testing.assert_allclose(mstep(model, nk, 1e8 * W), 1e8 * mstep(model, nk, W), rtol=1e-12)


@pytest.mark.parametrize("model", mc.MODELS)
def test_data_far_from_the_origin_gives_the_same_step(model):
    X, z, _ = _mclust_case("gen3")
    nk, _, W = scatter(X, z)
    nk_far, _, W_far = scatter(X + 1e5, z)
    np.testing.assert_allclose(mstep(model, nk_far, W_far), mstep(model, nk, W), rtol=1e-6, atol=1e-8)


def test_sample_weights_equal_repeated_rows():
    X, z, _ = _mclust_case("gen3")
    w = np.tile([1.0, 2.0, 3.0], len(X) // 3)
    rep = np.repeat(np.arange(len(X)), w.astype(int))
    for model in ITERATIVE + ("EVV",):
        nk_w, _, W_w = scatter(X, z, w)
        nk_r, _, W_r = scatter(X[rep], z[rep])
        np.testing.assert_allclose(mstep(model, nk_w, W_w), mstep(model, nk_r, W_r), rtol=1e-9)


@pytest.mark.parametrize("model", ITERATIVE)
def test_warm_start_from_the_answer_stays_there(model):
    nk, W = random_problem(12, K=4, D=3)
    first = mc.constrained_covariances(model, nk, in_layout(W, model), tol=1e-13)
    again = mc.constrained_covariances(model, nk, in_layout(W, model), start=first)
    # It goes on from the answer (the iterations converge slowly: 1e-13 is not yet 1e-6 from the limit).
    assert np.abs(again - first).max() <= 1e-5 * np.abs(first).max()
    q = ref.expected_loglik(nk, W, as_full(first, model, 4, 3))
    assert ref.expected_loglik(nk, W, as_full(again, model, 4, 3)) >= q - 1e-10 * abs(q)


# --- decompose ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", mc.MODELS)
def test_decompose_rebuilds_the_covariances(model):
    nk, W = random_problem(13, K=3, D=4)
    C = mc.constrained_covariances(model, nk, in_layout(W, model), n_features=4)
    parts = mc.decompose(model, C, n_features=4, n_components=3)
    scale = np.broadcast_to(parts["scale"], (3,))
    shape = np.broadcast_to(parts["shape"], (3, 4))
    orient = np.eye(4) if parts["orientation"] is None else parts["orientation"]
    orient = np.broadcast_to(orient, (3, 4, 4))
    rebuilt = np.einsum("k,kij,kj,klj->kil", scale, orient, shape, orient)
    np.testing.assert_allclose(rebuilt, parts["sigma"], rtol=1e-10, atol=1e-12 * np.abs(rebuilt).max())
    np.testing.assert_allclose(parts["sigma"], as_full(C, model, 3, 4), rtol=0)
    np.testing.assert_allclose(np.prod(shape, axis=1), 1.0, rtol=1e-12)
    assert (parts["orientation"] is None) == (model[2] == "I")


def test_decompose_shapes_follow_the_letters():
    nk, W = random_problem(14, K=3, D=4)
    parts = mc.decompose("VEV", mc.constrained_covariances("VEV", nk, W))
    assert np.shape(parts["scale"]) == (3,) and parts["shape"].shape == (4,)
    assert parts["orientation"].shape == (3, 4, 4)
    parts = mc.decompose("EVE", mc.constrained_covariances("EVE", nk, W))
    assert isinstance(parts["scale"], float) and parts["shape"].shape == (3, 4)
    assert parts["orientation"].shape == (4, 4)


# --- bad input ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(model="XYZ"), "model"),
    (dict(nk=[1.0, -1.0, 2.0]), "nk"),
    (dict(nk=[0.0, 0.0, 0.0]), "nk"),
    (dict(nk=[[1.0, 2.0, 3.0]]), "nk"),
    (dict(scatter=np.ones((3, 3))), "scatter"),
    (dict(scatter=np.full((3, 3, 3), np.nan)), "scatter"),
    (dict(scatter=np.arange(27.0).reshape(3, 3, 3)), "symmetric"),
    (dict(tol=0.0), "tol"),
    (dict(tol=2.0), "tol"),
    (dict(max_iter=0), "max_iter"),
    (dict(start=np.ones((2, 3, 3))), "start"),
    (dict(n_features=4), "n_features"),
])
def test_bad_input_raises_a_clear_error(kwargs, match):
    nk, W = random_problem(1)
    args = dict(model="VEV", nk=nk, scatter=W) | kwargs
    model, nk, S = args.pop("model"), args.pop("nk"), args.pop("scatter")
    with pytest.raises(ValueError, match=match):
        mc.constrained_covariances(model, nk, S, **args)


def test_spherical_layout_needs_n_features():
    with pytest.raises(ValueError, match="n_features"):
        mc.constrained_covariances("EII", [1.0, 2.0], [3.0, 4.0])


def test_non_numeric_scatter_is_a_type_error():
    with pytest.raises(TypeError, match="scatter"):
        mc.constrained_covariances("VVV", [1.0], [[["a"]]])


def test_decompose_rejects_non_positive_definite():
    with pytest.raises(ValueError, match="positive definite"):
        mc.decompose("VVV", np.zeros((1, 2, 2)))
