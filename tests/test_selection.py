"""GaussianMixtureSelection: the sweep, its criteria, degeneracy screening, and mclust's answers."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from fastgmm import GaussianMixture, GaussianMixtureSelection
from fastgmm._selection_sweep import COLLAPSE_CHECK_EVERY, DEGENERATE_VARIANCE_RATIO, CandidateHooks, _Sweep
from fastgmm.families._gaussian import GaussianParams
from fastgmm.utils._validation import InvalidParameterError, check_random_state
from fastgmm.datasets import load_faithful, make_mixture

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::fastgmm.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]
DATA = Path(__file__).resolve().parent / "data"


def _mclust(name):
    X = np.loadtxt(DATA / f"{name}.csv", delimiter=",", skiprows=1)
    with open(DATA / f"{name}.json") as f:
        return X, json.load(f)


def _at_or_above(ll, ref):
    return ll >= ref - max(1e-3 * abs(ref), 0.01)


@pytest.fixture(scope="module")
def faithful_selection():
    X = load_faithful().data
    return X, GaussianMixtureSelection(n_components=range(1, 6), random_state=0).fit(X)


# ---------------------------------------------------------------------------
# Old Faithful and mclust
# ---------------------------------------------------------------------------
def test_old_faithful_picks_mclusts_model(faithful_selection):
    # R: Mclust(faithful) -> EEE (tied), 3 components, BIC -2314.316 (2 loglik - npar log n), loglik -1126.326.
    X, sel = faithful_selection
    assert sel.best_params_ == {"covariance_type": "tied", "n_components": 3}
    i = sel.best_index_
    assert sel.results_["log_likelihood"][i] == pytest.approx(-1126.326, abs=0.05)
    assert sel.results_["bic"][i] == pytest.approx(2314.316, abs=0.1)
    assert sel.bic(X) == pytest.approx(sel.results_["bic"][i], rel=1e-10)
    assert sel.results_["n_parameters"][i] == 11
    assert not sel.results_["failed"].any()
    assert isinstance(sel.best_estimator_, GaussianMixture)
    assert sel.best_estimator_.n_components == 3


@pytest.mark.parametrize("name", ["faithful", "iris", "diabetes"])
def test_cells_reach_mclusts_optimum(name, faithful_selection):
    X, ref = _mclust(name)
    if name == "faithful":
        sel = faithful_selection[1]
    else:
        sel = GaussianMixtureSelection(n_components=range(1, 6), random_state=0).fit(X)
    r = sel.results_
    row = {(ct, int(k)): i for i, (ct, k) in enumerate(zip(r["covariance_type"], r["n_components"]))}
    below = []
    for cell in ref["cells"]:
        if cell["G"] > 5:
            continue
        i = row[(cell["covariance_type"], cell["G"])]
        assert not r["failed"][i]
        assert not r["degenerate"][i]
        if not _at_or_above(r["log_likelihood"][i], cell["loglik"]):
            below.append((cell["covariance_type"], cell["G"], r["log_likelihood"][i] - cell["loglik"]))
    assert below == []
    m = ref["four_models_selected"]
    assert sel.best_params_ == {"covariance_type": ref["model_map"][m["model"]], "n_components": m["G"]}


def test_synthetic_mixture_true_model_is_chosen():
    X, y, truth = make_mixture(600, 3, 3, "diag", random_state=3, separation=5.0)
    sel = GaussianMixtureSelection(n_components=range(1, 6), random_state=0).fit(X)
    assert sel.best_params_ == {"covariance_type": "diag", "n_components": 3}
    Xt, _, truth = make_mixture(600, 2, 3, "tied", random_state=0, separation=5.0)
    eig = np.linalg.eigvalsh(truth["covariances"])
    assert eig[1] / eig[0] > 5   # far from spherical: "tied" is distinguishable
    sel = GaussianMixtureSelection(n_components=range(1, 6), random_state=0).fit(Xt)
    assert sel.best_params_ == {"covariance_type": "tied", "n_components": 3}


# ---------------------------------------------------------------------------
# degeneracy
# ---------------------------------------------------------------------------
def _sweep(X, **params):
    sel = GaussianMixtureSelection(**params)
    return _Sweep(sel, X, None, check_random_state(0))


def test_faithful_collapse_on_tied_values_is_degenerate():
    # A component started on the 14 eruptions with waiting = 83 stays there, its
    # waiting variance at the reg_covar floor: the likelihood beats mclust's full K=4
    # optimum (-1111.25) by 68 units, a spurious maximum.
    X = load_faithful().data
    tied = X[:, 1] == 83
    means = np.array([X[tied].mean(axis=0), [2.0, 55.0], [4.5, 80.0], [4.0, 70.0]])
    prec = np.array([np.diag([1 / X[tied, 0].var(), 1e4]), np.eye(2), np.eye(2), np.eye(2)])
    gm = GaussianMixture(4, means_init=means, weights_init=[0.05, 0.35, 0.3, 0.3], precisions_init=prec).fit(X)
    assert gm.score(X) * len(X) > -1111.25 + 50
    sweep = _sweep(X)
    assert "component 0 collapsed" in sweep.degenerate_reason(gm)
    honest = GaussianMixture(4, random_state=0).fit(X)
    if honest.covariances_[:, 1, 1].min() > 1:   # the usual k-means fit
        assert sweep.degenerate_reason(honest) == ""


@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical"])
def test_point_mass_is_excluded_unless_allowed(cov_type):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (200, 2)), np.tile([[2.5, 2.5]], (20, 1))])
    sel = GaussianMixtureSelection(n_components=(1, 2, 3), covariance_types=(cov_type,), random_state=0).fit(X)
    r = sel.results_
    assert r["degenerate"][1:].all()
    assert not r["selectable"][1:].any()
    assert "collapsed" in r["degenerate_reason"][1]
    assert sel.best_params_["n_components"] == 1          # the degenerate cells have the better BIC
    assert r["bic"][1] < r["bic"][0]
    allowed = GaussianMixtureSelection(n_components=(1, 2, 3), covariance_types=(cov_type,), random_state=0,
                                       allow_degenerate=True).fit(X)
    assert allowed.best_params_["n_components"] > 1


def test_emptied_component_and_scale_free_criterion():
    X, _, _ = make_mixture(300, 2, 2, random_state=0)
    gm = GaussianMixture(2, random_state=0).fit(X)
    sweep = _sweep(X)
    assert sweep.degenerate_reason(gm) == ""
    gm.weights_ = np.array([1 - 1e-4, 1e-4])
    assert "emptied" in sweep.degenerate_reason(gm)
    # Units do not matter: the same fit on data scaled by 1e-3 is not degenerate.
    Xs = X * 1e-3
    gms = GaussianMixture(2, random_state=0, reg_covar=1e-12).fit(Xs)
    assert _sweep(Xs).degenerate_reason(gms) == ""
    assert DEGENERATE_VARIANCE_RATIO < 1e-3


# ---------------------------------------------------------------------------
# the table, criteria and failures
# ---------------------------------------------------------------------------
def test_results_table_and_criteria(faithful_selection):
    X, sel = faithful_selection
    r = sel.results_
    lengths = {len(v) for v in r.values()}
    assert lengths == {20}
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(r)
    assert list(df["n_components"][:4]) == [1, 1, 1, 1] and set(df["covariance_type"]) == {
        "full", "tied", "diag", "spherical"}
    assert (df["rank"] == 1).sum() == 1
    assert df["rank"][sel.best_index_] == 1
    for i in (5, sel.best_index_):
        gm = sel.estimators_[(r["covariance_type"][i], int(r["n_components"][i]))]
        assert r["bic"][i] == pytest.approx(gm.bic(X), rel=1e-10)
        assert r["aic"][i] == pytest.approx(gm.aic(X), rel=1e-10)
        resp = gm.predict_proba(X)
        entropy = -np.sum(resp * np.log(np.clip(resp, 1e-300, None)))
        assert r["icl"][i] == pytest.approx(gm.bic(X) + 2 * entropy, rel=1e-8)
        assert r["icl"][i] >= r["bic"][i]
    assert np.all(r["fit_time"] >= 0)
    assert np.all(r["n_starts"] >= 1)
    # K = 1: every start reaches the same maximum, one start is enough.
    assert set(r["n_starts"][:4]) == {1}


@pytest.mark.parametrize("weighted", [False, True])
def test_hc_scheme_icl_from_the_fits_own_pass(weighted):
    # Under init_params="hc" the fit's log-likelihood pass also makes the ICL's responsibilities: the same
    # figures as GaussianMixture.bic and a separate predict_proba.
    X = np.loadtxt(DATA / "iris.csv", delimiter=",", skiprows=1)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X)) if weighted else None
    sel = GaussianMixtureSelection(n_components=range(1, 4), covariance_types=["VVV", "EEE", "VII", "VEV"],
                                   init_params="hc", random_state=0).fit(X, sample_weight=w)
    r = sel.results_
    for i in np.flatnonzero(~r["failed"]):
        gm = sel.estimators_[(r["covariance_type"][i], int(r["n_components"][i]))]
        resp = gm.predict_proba(X)
        rlogr = np.sum(resp * np.log(np.clip(resp, 1e-300, None)), axis=1)
        entropy = -float(np.sum(rlogr) if w is None else rlogr @ w)
        assert r["bic"][i] == pytest.approx(gm.bic(X, sample_weight=w), rel=1e-12)
        assert r["icl"][i] == pytest.approx(gm.bic(X, sample_weight=w) + 2 * entropy, rel=1e-10)


def test_hc_scheme_fits_draw_nothing_from_their_random_state(monkeypatch):
    # Under init_params="hc" every candidate fits with one idle RandomState of the sweep (no RandomState
    # seeded per fit): nothing may draw from it, and each kept estimator gets its int seed back.
    idle = np.random.RandomState(7)
    before = idle.get_state()
    monkeypatch.setattr(_Sweep, "idle_random_state", property(lambda self: idle))
    X = np.loadtxt(DATA / "iris.csv", delimiter=",", skiprows=1)
    sel = GaussianMixtureSelection(n_components=range(1, 5), covariance_types="mclust", init_params="hc",
                                   random_state=0).fit(X)
    after = idle.get_state()
    assert after[2] == before[2]
    np.testing.assert_array_equal(after[1], before[1])
    assert all(isinstance(gm.random_state, int) for gm in sel.estimators_.values())


def _swiss_cell(model, K):
    X = np.loadtxt(DATA / "mclust" / "swiss.csv", delimiter=",", skiprows=1)
    sel = GaussianMixtureSelection(n_components=[K], covariance_types=[model], init_params="hc",
                                   random_state=0).fit(X)
    return sel, {c: v[0] for c, v in sel.results_.items()}


def test_a_candidate_collapsed_at_two_checks_is_stopped():
    # swiss (47 rows, 6 features), VVE with 5 components: one collapses onto a few rows and its likelihood
    # grows without a maximum; the sweep stops it at the second check that finds it collapsed, as mclust
    # gives up on it (NA in its table), instead of running on to max_iter.
    sel, r = _swiss_cell("VVE", 5)
    assert r["degenerate"] and "collapsed" in r["degenerate_reason"]
    assert r["n_iter"] == 2 * COLLAPSE_CHECK_EVERY
    assert not r["converged"]
    assert "_candidate_hooks" not in vars(sel.estimators_[("VVE", 5)])   # no reference to the sweep kept


def test_a_collapse_seen_at_one_check_only_does_not_stop_a_candidate():
    # A constrained model's component can pass through a collapse and come back (swiss, EVE, K = 7, did
    # in development: below 1e-13 of the data's variance at iterations 7-11, converged at 21), so the
    # rule is two checks in a row. The hook looks only at every COLLAPSE_CHECK_EVERY-th iterate.
    ratios = iter([1e-14, 1e-3, 1e-14, 1e-14])       # the checks at 10, 20, 30 and 40
    hooks = CandidateHooks(lambda cov: next(ratios))
    iterate = GaussianParams(None, None, np.zeros(1), None)
    stops = [n for n in range(1, 4 * COLLAPSE_CHECK_EVERY + 1) if hooks.stop(n, iterate)]
    assert stops == [4 * COLLAPSE_CHECK_EVERY]


def test_icl_and_aic_criteria_choose_by_their_column():
    X, _, _ = make_mixture(300, 2, 3, random_state=2)
    for crit in ("aic", "icl"):
        sel = GaussianMixtureSelection(n_components=(1, 2, 3), covariance_types=("full", "spherical"),
                                       criterion=crit, random_state=0).fit(X)
        r = sel.results_
        np.testing.assert_array_equal(r["criterion"], r[crit])
        assert sel.best_index_ == int(np.nanargmin(np.where(r["selectable"], r[crit], np.nan)))


def test_failed_candidates_do_not_stop_the_sweep():
    X = np.array([[0.0, 0.0], [1.0, 0.1], [0.2, 1.0], [5.0, 5.0], [5.1, 4.0]])
    sel = GaussianMixtureSelection(n_components=(1, 2, 8), covariance_types=("full", "diag"), random_state=0).fit(X)
    r = sel.results_
    assert list(r["failed"]) == [False, False, False, False, True, True]
    assert "n_components = 8" in r["error"][4]
    assert np.isnan(r["bic"][4])
    assert sel.best_params_["n_components"] in (1, 2)
    with pytest.raises(ValueError, match="None of the candidate mixtures could be fitted.*K=8"):
        GaussianMixtureSelection(n_components=(8,)).fit(X)


def test_sample_weight_counts_as_repeats():
    X, _, _ = make_mixture(200, 2, 2, random_state=4, separation=6.0)
    w = np.random.default_rng(0).integers(0, 3, size=len(X))
    kw = dict(n_components=(1, 2, 3), covariance_types=("full", "diag"), random_state=0)
    a = GaussianMixtureSelection(**kw).fit(X, sample_weight=w)
    b = GaussianMixtureSelection(**kw).fit(np.repeat(X, w, axis=0))
    assert a.best_params_ == b.best_params_
    np.testing.assert_allclose(a.results_["log_likelihood"], b.results_["log_likelihood"], rtol=1e-6)
    np.testing.assert_allclose(a.results_["bic"], b.results_["bic"], rtol=1e-6)
    i = a.best_index_
    assert a.results_["log_likelihood"][i] == pytest.approx(a.score(X, sample_weight=w) * w.sum(), rel=1e-10)


def test_delegation_and_plain_init(faithful_selection):
    X, sel = faithful_selection
    best = sel.best_estimator_
    np.testing.assert_array_equal(sel.predict(X), best.predict(X))
    np.testing.assert_array_equal(sel.predict_proba(X), best.predict_proba(X))
    np.testing.assert_array_equal(sel.score_samples(X), best.score_samples(X))
    assert sel.score(X) == best.score(X)
    assert sel.aic(X) == best.aic(X)
    assert sel.sample(5)[0].shape == (5, 2)
    plain = GaussianMixtureSelection(n_components=(1, 2, 3), init_params="kmeans", n_init=2, random_state=0).fit(X)
    assert set(plain.results_["init"]) == {"kmeans"}
    assert set(plain.results_["n_starts"]) == {2}


def test_parameters_pass_through_and_clone(capsys):
    sel = GaussianMixtureSelection(n_components=range(1, 3), reg_covar=1e-4, tol=1e-4, n_threads=1, verbose=1)
    assert clone(sel).get_params() == sel.get_params()
    passed = sel._passed_through()
    # Every GaussianMixture parameter the selection has is passed unchanged.
    assert passed == {"tol": 1e-4, "reg_covar": 1e-4, "max_iter": 100, "verbose_interval": 10, "n_threads": 1,
                      "nan_policy": "raise", "noise": None, "noise_volume": None}
    X, _, _ = make_mixture(100, 2, 2, random_state=0)
    sel.fit(X)
    assert sel.best_estimator_.reg_covar == 1e-4
    assert sel.best_estimator_.n_threads == 1
    out = capsys.readouterr().out
    assert out.count("K=") == 8
    assert "log-likelihood" in out


@pytest.mark.parametrize("params, match", [
    (dict(criterion="bicc"), "criterion"),
    (dict(n_components=[0, 1]), "n_components"),
    (dict(n_components=[]), "n_components"),
    (dict(covariance_types=("full", "ful")), "covariance_types"),
    (dict(init_params="k-means"), "init_params"),
    (dict(allow_degenerate="yes"), "allow_degenerate"),
    (dict(tol=-1), "tol"),
])
def test_invalid_parameters(params, match):
    X, _, _ = make_mixture(50, 2, 2, random_state=0)
    with pytest.raises(InvalidParameterError, match=match):
        GaussianMixtureSelection(**params).fit(X)


with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base.BaseEstimator`",
                            category=UserWarning)
    _sklearn_checks = parametrize_with_checks([GaussianMixtureSelection(n_components=(1, 2))])


@_sklearn_checks
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------
# missing values
# ---------------------------------------------------------------------------

def _with_nans(X, fraction, seed):
    """X with one coordinate missing in a ``fraction`` of the rows (never a whole row)."""
    X = np.array(X, dtype=np.float64, copy=True)
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(rng.random(X.shape[0]) < fraction)
    X[rows, rng.integers(0, X.shape[1], rows.size)] = np.nan
    return X


def test_selection_with_missing_values_marginalize_finds_the_truth():
    X, y, params = make_mixture(1200, 2, 3, "tied", random_state=3, separation=6.0)
    Xm = _with_nans(X, 0.1, 0)
    sel = GaussianMixtureSelection(n_components=range(1, 5), covariance_types=("tied", "full"),
                                   nan_policy="marginalize", random_state=0).fit(Xm)
    assert sel.best_params_["n_components"] == 3
    assert sel.best_estimator_.nan_policy == "marginalize"
    assert sel.n_omitted_ == 0
    proba = sel.predict_proba(Xm)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.isfinite(sel.score(Xm))


def test_selection_omit_equals_selection_on_complete_rows():
    X, _, _ = make_mixture(600, 2, 2, "diag", random_state=4, separation=6.0)
    Xm = _with_nans(X, 0.05, 1)
    keep = ~np.isnan(Xm).any(axis=1)
    kw = dict(n_components=range(1, 4), covariance_types=("diag",), random_state=0)
    a = GaussianMixtureSelection(nan_policy="omit", **kw).fit(Xm)
    b = GaussianMixtureSelection(**kw).fit(Xm[keep])
    assert a.n_omitted_ == int((~keep).sum())
    np.testing.assert_allclose(a.results_["log_likelihood"], b.results_["log_likelihood"], rtol=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        a.predict(Xm)


def test_selection_raises_on_nan_by_default():
    X, _, _ = make_mixture(100, 2, 2, "diag", random_state=5)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixtureSelection(n_components=[1, 2]).fit(_with_nans(X, 0.05, 2))


def test_selection_refuses_rows_with_every_value_missing_once():
    X, _, _ = make_mixture(200, 2, 2, "diag", random_state=6)
    X[3] = np.nan
    with pytest.raises(ValueError, match="GaussianMixtureSelection does not fit on it"):
        GaussianMixtureSelection(n_components=[1, 2], nan_policy="marginalize").fit(X)


def test_selection_imputes_with_the_chosen_mixture():
    X, _, _ = make_mixture(600, 3, 2, "full", random_state=7, separation=6.0)
    Xm = _with_nans(X, 0.2, 3)
    sel = GaussianMixtureSelection(n_components=range(1, 4), covariance_types=("full",), nan_policy="marginalize",
                                   random_state=0).fit(Xm)
    np.testing.assert_array_equal(sel.impute(Xm), sel.best_estimator_.impute(Xm))


def test_selection_fitted_without_nan_imputes_and_keeps_observed_values():
    X, _, _ = make_mixture(300, 2, 2, "diag", random_state=8, separation=6.0)
    sel = GaussianMixtureSelection(n_components=[1, 2], covariance_types=("diag",), random_state=0).fit(X)
    Xm = _with_nans(X, 0.3, 4)
    imputed = sel.impute(Xm)
    observed = ~np.isnan(Xm)
    np.testing.assert_array_equal(imputed[observed], Xm[observed])
    assert not np.isnan(imputed).any()


def test_selection_impute_checks_the_number_of_features():
    X, _, _ = make_mixture(100, 2, 2, "diag", random_state=9)
    sel = GaussianMixtureSelection(n_components=[1, 2], covariance_types=("diag",), random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        sel.impute(np.zeros((3, 3)))
