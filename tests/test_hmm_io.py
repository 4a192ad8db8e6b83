"""Saving and loading hidden Markov models: the round trip is bitwise, and a bad file is refused clearly."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastgmm
from fastgmm import hmm

from conftest import rewrite_model_file

LENGTHS = [70, 1, 49]


def _gaussian_data(seed=0):
    rng = np.random.RandomState(seed)
    return np.vstack([rng.randn(60, 2), rng.randn(60, 2) * 0.5 + [4, 1]])


def _data(name, seed=0):
    rng = np.random.RandomState(seed)
    if name in ("GaussianHMM", "GMMHMM"):
        return _gaussian_data(seed)
    if name == "CategoricalHMM":
        return rng.randint(0, 4, (120, 1))
    if name == "MultinomialHMM":
        return rng.multinomial(6, [0.2, 0.3, 0.5], 120)
    if name == "PoissonHMM":
        return rng.poisson([1.0, 5.0, 2.0], (120, 3))
    return (rng.rand(120, 3) < [0.2, 0.5, 0.8]).astype(int)


COV_TYPES = ("full", "diag", "spherical", "tied")
CASES = {
    **{f"GaussianHMM-{ct}": (hmm.GaussianHMM, dict(covariance_type=ct)) for ct in COV_TYPES},
    **{f"GMMHMM-{ct}": (hmm.GMMHMM, dict(n_mix=2, covariance_type=ct)) for ct in COV_TYPES},
    "CategoricalHMM": (hmm.CategoricalHMM, {}),
    "MultinomialHMM": (hmm.MultinomialHMM, {}),
    "PoissonHMM": (hmm.PoissonHMM, {}),
    "BernoulliHMM": (hmm.BernoulliHMM, {}),
}


def _fitted(case):
    cls, params = CASES[case]
    X = _data(cls.__name__)
    return cls(2, random_state=0, n_iter=4, **params).fit(X, LENGTHS), X


@pytest.fixture(scope="module")
def fitted():
    return {case: _fitted(case) for case in CASES}


def _same_params(a, b):
    pa, pb = a.get_params(), b.get_params()
    assert set(pa) == set(pb)
    for k in pa:
        if isinstance(pa[k], np.ndarray):
            assert_array_equal(pa[k], pb[k])
        else:
            assert pa[k] == pb[k], k


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip_predicts_and_scores_bitwise(fitted, tmp_path, case):
    model, X = fitted[case]
    loaded = fastgmm.load(model.save(tmp_path / "m.npz"))
    assert type(loaded) is type(model)
    _same_params(loaded, model)
    a_ll, a_post = model.score_samples(X, LENGTHS)
    b_ll, b_post = loaded.score_samples(X, LENGTHS)
    assert a_ll == b_ll
    assert_array_equal(a_post, b_post)
    (a_lp, a_path), (b_lp, b_path) = model.decode(X, LENGTHS), loaded.decode(X, LENGTHS)
    assert a_lp == b_lp
    assert_array_equal(a_path, b_path)


def _fitted_attributes(model):
    return {k for k in vars(model) if k.endswith("_")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_fitted_attribute_round_trips(fitted, tmp_path, case):
    model, _ = fitted[case]
    loaded = fastgmm.load(model.save(tmp_path / "m.npz"))
    assert _fitted_attributes(loaded) == _fitted_attributes(model)
    for attr in _fitted_attributes(model) - {"monitor_"}:
        a, b = getattr(model, attr), getattr(loaded, attr)
        assert a.dtype == b.dtype == np.float64, attr
        assert_array_equal(a, b)
    assert list(loaded.monitor_.history) == list(model.monitor_.history)
    assert loaded.monitor_.iter == model.monitor_.iter
    assert loaded.n_features == model.n_features


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_schema_names_every_fitted_attribute(fitted, case):
    model, _ = fitted[case]
    stored = set(type(model)._schema.attributes()) | {"monitor_"}   # monitor_: its history is stored
    assert _fitted_attributes(model) - stored == set()


def test_array_parameters_and_column_names_round_trip(tmp_path):
    X = _gaussian_data()
    prior = np.array([[2.0, 1.0], [1.0, 2.0]])
    model = hmm.GaussianHMM(2, transmat_prior=prior, random_state=0, n_iter=3).fit(X, LENGTHS)
    model.feature_names_in_ = np.asarray(["x", "y"], dtype=object)
    loaded = fastgmm.load(model.save(tmp_path / "m.npz"))
    assert_array_equal(loaded.transmat_prior, prior)
    assert list(loaded.feature_names_in_) == ["x", "y"]
    assert loaded.n_features_in_ == 2


def test_a_loaded_model_continues_fitting_as_the_saved_one(fitted, tmp_path):
    model, X = fitted["GaussianHMM-diag"]
    loaded = fastgmm.load(model.save(tmp_path / "m.npz"))
    for m in (model, loaded):
        m.set_params(init_params="", n_iter=2)
    a, b = _copy(model).fit(X, LENGTHS), loaded.fit(X, LENGTHS)
    assert_array_equal(a.means_, b.means_)
    assert_array_equal(a.transmat_, b.transmat_)


def _copy(model):
    import copy

    return copy.deepcopy(model)


def test_load_finds_the_hmm_classes_after_import_fastgmm_alone(fitted, tmp_path):
    path = fitted["PoissonHMM"][0].save(tmp_path / "m.npz")
    code = f"import fastgmm; print(type(fastgmm.load({str(path)!r})).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PoissonHMM"


@pytest.mark.parametrize("cls", [hmm.GaussianHMM, hmm.GMMHMM])
def test_a_model_fitted_on_float32_data_round_trips_bitwise(tmp_path, cls):
    X = _gaussian_data().astype(np.float32)
    model = cls(2, random_state=0, n_iter=3).fit(X, LENGTHS)
    loaded = fastgmm.load(model.save(tmp_path / "m.npz"))
    assert_array_equal(loaded.predict_proba(X, LENGTHS), model.predict_proba(X, LENGTHS))
    assert loaded.score(X, LENGTHS) == model.score(X, LENGTHS)


def test_a_model_set_by_hand_saves_and_predicts_as_before(tmp_path):
    model = hmm.GaussianHMM(2, covariance_type="spherical")
    model.startprob_ = np.array([0.6, 0.4])
    model.transmat_ = np.array([[0.9, 0.1], [0.2, 0.8]])
    model.means_ = np.array([[0.0, 0.0], [4.0, 1.0]])
    model.covars_ = np.array([1.0, 0.25])
    loaded = fastgmm.load(model.save(tmp_path / "m.npz"))
    X = _gaussian_data()
    assert loaded.n_features == 2 and list(loaded.monitor_.history) == []
    assert_array_equal(loaded.predict(X, LENGTHS), model.predict(X, LENGTHS))


def test_an_unfitted_hmm_is_not_saved(tmp_path):
    with pytest.raises(fastgmm.NotFittedError):
        hmm.GaussianHMM(2).save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


# ---------------------------------------------------------------------------
# bad files
# ---------------------------------------------------------------------------
_rewrite = rewrite_model_file


def _set(name, fn):
    def edit(m):
        m[name] = fn(m[name].copy())
    return edit


def _cell(a, index, value):
    a[index] = value
    return a


BAD = [
    ("GaussianHMM-diag", _set("transmat_", lambda a: _cell(a, (0, 0), a[0, 0] + 0.5)), "transmat_ rows must sum to 1"),
    ("GaussianHMM-diag", _set("startprob_", lambda a: a[:1]), "startprob_ must have length n_components"),
    ("GaussianHMM-diag", _set("covars_", lambda a: _cell(a, (0, 0), -1.0)), "zero, negative or non-finite"),
    ("GaussianHMM-full", _set("covars_", lambda a: _cell(a, (0, 0, 1), a[0, 0, 1] + 1.0)), "must be symmetric"),
    ("GaussianHMM-full", _set("covars_", lambda a: _cell(a, (1, 0, 0), -5.0)), "not symmetric positive definite"),
    ("GaussianHMM-diag", _set("means_", lambda a: a[:, :1]), r"covars_ must have shape \(2, 1\)"),
    ("GaussianHMM-diag", _set("means_", lambda a: _cell(a, (0, 0), np.nan)), "means_ must be finite"),
    ("GMMHMM-diag", _set("weights_", lambda a: a * 2), "weights_ rows must sum to 1"),
    ("GMMHMM-spherical", _set("covars_", lambda a: _cell(a, (0, 0), 0.0)), "zero, negative or non-finite"),
    ("CategoricalHMM", _set("emissionprob_", lambda a: a[:, :2]), r"emissionprob_ must have shape"),
    ("MultinomialHMM", _set("emissionprob_", lambda a: a * 0.5), "emissionprob_ rows must sum to 1"),
    ("PoissonHMM", _set("lambdas_", lambda a: -a), "lambdas_ must be finite and non-negative"),
    ("BernoulliHMM", _set("emissionprob_", lambda a: a + 1), r"emissionprob_ must hold probabilities in \[0, 1\]"),
    ("BernoulliHMM", _set("monitor_history", lambda a: np.full_like(a, np.inf)), "history .* must be finite"),
    ("PoissonHMM", _set("transmat_", lambda a: a.astype(np.float32)), "transmat_ is float64"),
]


@pytest.mark.parametrize("case, edit, message", BAD, ids=[f"{c}-{m[:24]}" for c, _, m in BAD])
def test_invalid_loaded_parameters_are_refused(fitted, tmp_path, case, edit, message):
    src = fitted[case][0].save(tmp_path / "good.npz")
    path = _rewrite(src, tmp_path / "bad.npz", edit_members=edit)
    with pytest.raises(ValueError, match=message):
        fastgmm.load(path)


def test_damaged_or_altered_files_are_refused(fitted, tmp_path):
    src = fitted["GaussianHMM-full"][0].save(tmp_path / "good.npz")
    altered = _rewrite(src, tmp_path / "altered.npz", edit_members=_set("means_", lambda a: a + 1), rehash=False)
    with pytest.raises(ValueError, match="checksum"):
        fastgmm.load(altered)
    with open(src, "rb") as f:
        data = f.read()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        fastgmm.load(tmp_path / "truncated.npz")


@pytest.mark.parametrize("edit_header, edit_members, message", [
    (lambda h: h["params"].update(n_mixtures=3), None, r"unknown GaussianHMM parameter\(s\) \['n_mixtures'\]"),
    (lambda h: h["params"].update(covariance_type="round"), None, "covariance_type must be one of"),
    (lambda h: h["params"].update(n_components=3), None, "startprob_ must have length n_components"),
    (lambda h: h["fitted"].update(n_features=0), None, "n_features must be an int >= 1"),
    (lambda h: h["fitted"].update(n_features=3), None, "n_features is 3, but the emission parameters have 2"),
    (lambda h: h["fitted"].update(feature_names_in_=["a"]), None, "feature_names_in_ must be 2 strings"),
    (None, lambda m: m.pop("transmat_"), "member 'transmat_' is missing"),
    (None, lambda m: m.update(extra=np.zeros(2)), r"belong to no attribute"),
])
def test_invalid_headers_and_members_are_refused(fitted, tmp_path, edit_header, edit_members, message):
    src = fitted["GaussianHMM-full"][0].save(tmp_path / "good.npz")
    path = _rewrite(src, tmp_path / "bad.npz", edit_members=edit_members, edit_header=edit_header)
    with pytest.raises(ValueError, match=message):
        fastgmm.load(path)
