"""mclust's fourteen covariance models in GaussianMixture: constraints, aliases and every capability.

The M-steps themselves are tested against a numerical optimum in
test_mclust_mstep.py; this file checks what the estimator makes of them: the
fitted covariances obey their model's constraint, the lower bound never
decreases, weights, missing values, float32, streaming, saving and the
selection work for every model.
"""

import numpy as np
import pytest

from fastgmm import GaussianMixture, GaussianMixtureSelection, load, save
from fastgmm.cli import _main
from fastgmm.datasets import load_faithful
from fastgmm.families import _gaussian, _mclust
from _reference_missing import em_step_missing

from conftest import mixture_data

MODELS = _mclust.MODELS
ALIASES = {"VII": "spherical", "VVI": "diag", "EEE": "tied", "VVV": "full"}
LAYOUT_SHAPES = {"spherical": lambda K, D: (K,), "diag": lambda K, D: (K, D), "tied": lambda K, D: (D, D),
                 "full": lambda K, D: (K, D, D)}


def _full(cov, model, K, D):
    """Covariances as (K, D, D), from the model's layout shape."""
    lay = _gaussian.layout(model)
    cov = np.asarray(cov, dtype=np.float64)
    if lay == "full":
        return cov
    if lay == "tied":
        return np.broadcast_to(cov, (K, D, D)).copy()
    if lay == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(D) * c for c in cov])


def _assert_constraint(model, cov, rtol):
    """Sigma_k = lambda_k D_k A_k D_k^T with each letter's part equal across k (E), free (V) or I."""
    K, D = cov.shape[0], cov.shape[1]
    vol_letter, shape_letter, orient_letter = model
    volumes = np.array([np.linalg.det(c) ** (1.0 / D) for c in cov])
    scaled = cov / volumes[:, None, None]
    if vol_letter == "E":
        np.testing.assert_allclose(volumes, volumes[0], rtol=rtol, err_msg=f"{model}: volumes differ")
    if orient_letter == "I":
        off = scaled - np.stack([np.diag(np.diag(s)) for s in scaled])
        assert np.max(np.abs(off)) <= rtol, f"{model}: covariance not diagonal"
        shapes = np.stack([np.diag(s) for s in scaled])
    else:
        shapes = np.stack([np.linalg.eigvalsh(s)[::-1] for s in scaled])
    if shape_letter == "I":
        np.testing.assert_allclose(shapes, 1.0, rtol=rtol, err_msg=f"{model}: shape is not the identity")
    elif shape_letter == "E":
        np.testing.assert_allclose(shapes, np.broadcast_to(shapes[0], shapes.shape), rtol=rtol,
                                   err_msg=f"{model}: shapes differ")
    if orient_letter == "E" and shape_letter == "E":
        np.testing.assert_allclose(scaled, np.broadcast_to(scaled[0], scaled.shape), rtol=rtol, atol=rtol,
                                   err_msg=f"{model}: scaled covariances differ")
    elif orient_letter == "E":
        # a common orientation: the covariances commute (share their eigenvectors)
        for k in range(1, K):
            comm = scaled[0] @ scaled[k] - scaled[k] @ scaled[0]
            assert np.max(np.abs(comm)) <= rtol * np.max(np.abs(scaled[0])) * np.max(np.abs(scaled[k])), (
                f"{model}: orientations of components 0 and {k} differ")


@pytest.fixture(scope="module")
def data():
    X, _ = mixture_data(400, 3, 3, 7)
    return X


def _fit(model, X, K=3, **kw):
    kw.setdefault("random_state", 0)
    kw.setdefault("reg_covar", 0.0)
    kw.setdefault("tol", 1e-8)
    kw.setdefault("max_iter", 300)
    return GaussianMixture(K, covariance_type=model, **kw).fit(X)


@pytest.mark.parametrize("model", MODELS)
def test_fitted_covariances_obey_the_model(model, data):
    gm = _fit(model, data)
    K, D = gm.means_.shape
    assert gm.covariances_.shape == LAYOUT_SHAPES[_gaussian.layout(model)](K, D)
    _assert_constraint(model, _full(gm.covariances_, model, K, D), rtol=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_lower_bound_never_decreases(model, data):
    gm = _fit(model, data, K=4, tol=0, max_iter=40, random_state=3)
    lb = np.asarray(gm.lower_bounds_, dtype=np.float64)
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:])), np.diff(lb).min()


@pytest.mark.parametrize("model, sk", sorted(ALIASES.items()))
def test_mclust_name_of_a_sklearn_type_is_the_same_fit(model, sk, data):
    a, b = _fit(model, data, reg_covar=1e-6), _fit(sk, data, reg_covar=1e-6)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("model", MODELS)
def test_parameter_count_is_mclusts(model):
    K, D = 4, 5
    gm = GaussianMixture(K, covariance_type=model)
    gm.means_ = np.zeros((K, D))
    assert gm._n_parameters() == _mclust.n_covariance_parameters(model, K, D) + K * D + K - 1


def _inits(gm):
    lay = _gaussian.layout(gm.covariance_type)
    cov = gm.covariances_
    prec = np.linalg.inv(cov) if lay in ("full", "tied") else 1.0 / cov
    return dict(weights_init=gm.weights_, means_init=gm.means_, precisions_init=prec)


@pytest.mark.parametrize("model", MODELS)
def test_integer_weights_equal_repeated_rows(model, data):
    w = np.random.default_rng(0).integers(1, 3, size=len(data)).astype(np.float64)
    init = _inits(_fit(model, data, max_iter=2, tol=0))
    fits = []
    for X, sw in ((data, w), (np.repeat(data, w.astype(int), axis=0), None)):
        gm = GaussianMixture(3, covariance_type=model, tol=0, max_iter=5, reg_covar=0, **init)
        with pytest.warns(Warning):      # not converged at tol=0
            fits.append(gm.fit(X, sample_weight=sw))
    np.testing.assert_allclose(_full(fits[0].covariances_, model, 3, 3), _full(fits[1].covariances_, model, 3, 3),
                               rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("model", MODELS)
def test_float32_fit_matches_float64(model, data):
    init = _inits(_fit(model, data, K=2, max_iter=3, tol=0))
    fits = []
    for X in (data, data.astype(np.float32)):
        gm = GaussianMixture(2, covariance_type=model, tol=0, max_iter=5, reg_covar=0, **init)
        with pytest.warns(Warning):      # not converged at tol=0
            fits.append(gm.fit(X))
    a, b = fits
    assert b.covariances_.dtype == np.float32
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-5, atol=1e-5)
    # five EM steps amplify float32's rounding of X: ~1e-4 relative for the weakly determined VEE
    np.testing.assert_allclose(_full(b.covariances_, model, 2, 3), _full(a.covariances_, model, 2, 3),
                               rtol=5e-4, atol=1e-6)


@pytest.mark.parametrize("model", ["EII", "VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV"])
def test_missing_values_exact_em(model, data):
    """nan_policy='marginalize' with a constrained model: the exact EM step of the row-by-row reference."""
    rng = np.random.default_rng(1)
    Xm = data[:150].copy()
    nan = rng.random(Xm.shape) < 0.2
    nan[nan.all(axis=1), 0] = False
    Xm[nan] = np.nan
    K, D = 2, Xm.shape[1]
    lay = _gaussian.layout(model)
    start = _fit(model, data[:150], K=K, max_iter=3, tol=0)
    w, m, c = start.weights_, start.means_, start.covariances_

    def constrain(scatter, nk_eps, previous):
        # the estimator's M-step settings: warm start from the previous covariances, its tolerances
        s = {"full": scatter, "tied": scatter.sum(axis=0), "diag": np.stack([np.diag(x) for x in scatter]),
             "spherical": np.trace(scatter, axis1=1, axis2=2)}[lay]
        mm = model in ("EVE", "VVE")
        return _mclust.constrained_covariances(model, nk_eps, s, n_features=D,
                                               start=_gaussian.remove_reg(previous, 1e-6, lay),
                                               tol=None if mm else _gaussian.MSTEP_TOL,
                                               max_iter=_gaussian.MM_MAX_ITER if mm else None)

    ref = (w, m, c)
    for _ in range(3):
        ref, _ = em_step_missing(Xm, *ref, lay, 1e-6, constrain=constrain)
    gm = GaussianMixture(K, covariance_type=model, nan_policy="marginalize", max_iter=3, tol=0, reg_covar=1e-6,
                         **_inits(start))
    with pytest.warns(Warning):
        gm.fit(Xm)
    scale = np.nanstd(Xm)
    np.testing.assert_allclose(gm.means_, ref[1], rtol=1e-6, atol=1e-7 * scale)
    np.testing.assert_allclose(gm.covariances_, ref[2], rtol=1e-6, atol=1e-7 * scale ** 2)


@pytest.mark.parametrize("model", MODELS)
def test_save_load_round_trip(model, data, tmp_path):
    gm = _fit(model, data, K=2, max_iter=20)
    save(gm, tmp_path / "m.fgmm")
    back = load(tmp_path / "m.fgmm")
    assert back.covariance_type == model
    np.testing.assert_array_equal(back.predict_proba(data), gm.predict_proba(data))
    assert back.bic(data) == gm.bic(data)


@pytest.mark.parametrize("model", ["EEV", "VEI"])
def test_sample_and_partial_fit(model, data):
    gm = _fit(model, data, K=2, max_iter=20)
    X, y = gm.sample(50)
    assert X.shape == (50, 3) and y.shape == (50,)
    gm.partial_fit(data[:100])
    K, D = gm.means_.shape
    _assert_constraint(model, _full(gm.covariances_, model, K, D), rtol=1e-6)


def test_unknown_model_name_is_a_clear_error(data):
    with pytest.raises(ValueError, match="covariance_type.*VEV"):
        GaussianMixture(2, covariance_type="vev").fit(data)


def test_selection_takes_mclust_for_all_fourteen(data):
    sel = GaussianMixtureSelection(n_components=[1, 2], covariance_types="mclust", random_state=0).fit(data)
    assert list(sel.results_["covariance_type"][:14]) == list(MODELS)
    assert len(sel.results_["covariance_type"]) == 28
    assert sel.best_params_["covariance_type"] in MODELS


def test_loading_covariances_that_break_the_model_is_an_error(data, tmp_path):
    gm = _fit("EEV", data, K=2, max_iter=20)
    gm.covariances_ = gm.covariances_ * np.array([1.0, 2.0])[:, None, None]   # unequal volumes: not EEV
    gm.precisions_cholesky_ = _gaussian.precision_cholesky(gm.covariances_, "full")
    gm.precisions_ = _gaussian.precisions_from_cholesky(gm.precisions_cholesky_, "full")
    save(gm, tmp_path / "m.fgmm")
    with pytest.raises(ValueError, match="form of the EEV model"):
        load(tmp_path / "m.fgmm")


def _cli(capsys, *args):
    status = _main.main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_cli_fits_and_selects_mclust_models(tmp_path, capsys):
    X = load_faithful().data
    np.save(tmp_path / "x.npy", X)
    status, out, err = _cli(capsys, "fit", tmp_path / "x.npy", "-k", 2, "--covariance-type", "EEV",
                            "--random-state", 0, "-o", tmp_path / "m.npz")
    assert status == 0, err
    assert "covariance_type=EEV" in out
    assert load(tmp_path / "m.npz").covariance_type == "EEV"
    status, out, err = _cli(capsys, "select", tmp_path / "x.npy", "-k", "1-2", "--covariance-types", "mclust",
                            "-o", tmp_path / "s.npz")
    assert status == 0, err
    assert sorted(load(tmp_path / "s.npz").results_["covariance_type"]) == sorted(MODELS * 2)


def test_cli_unknown_model_is_one_line(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(50, 2)))
    with pytest.raises(SystemExit):
        _cli(capsys, "select", tmp_path / "x.npy", "--covariance-types", "VEV,XYZ")
    err = capsys.readouterr().err
    assert "invalid covariance type(s) ['XYZ']" in err
