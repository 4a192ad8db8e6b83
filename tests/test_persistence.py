"""Saving and loading: the round trip is exact, and a bad file is refused with a ValueError."""

import copy
import json
import os
import pathlib
import pickle
import warnings

import numpy as np
import pytest

import fastgmm
from fastgmm import GaussianMixture, GaussianMixtureSelection
from fastgmm.io import _persistence
from fastgmm.datasets import load_faithful

from conftest import rewrite_model_file


@pytest.fixture(scope="module")
def X():
    return load_faithful().data


@pytest.fixture(scope="module")
def model_file(X, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "gm.npz"
    GaussianMixture(3, random_state=0).fit(X).save(path)
    return path


_rewrite = rewrite_model_file


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_is_bitwise(X, tmp_path, covariance_type, dtype):
    Xd = X.astype(dtype)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(Xd)
    path = tmp_path / "model.bin"          # any name: no suffix is added
    assert gm.save(path) == str(path)
    loaded = fastgmm.load(path)
    assert type(loaded) is GaussianMixture
    assert loaded.get_params() == gm.get_params()
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        a, b = getattr(gm, name), getattr(loaded, name)
        assert a.dtype == b.dtype == dtype
        assert np.array_equal(a, b)
    assert type(loaded.lower_bound_) is type(gm.lower_bound_)
    assert loaded.lower_bound_ == gm.lower_bound_
    assert loaded.lower_bounds_ == gm.lower_bounds_
    assert (loaded.converged_, loaded.n_iter_, loaded.n_features_in_, loaded.n_omitted_) == (
        gm.converged_, gm.n_iter_, gm.n_features_in_, gm.n_omitted_)
    np.testing.assert_array_equal(loaded.predict(Xd), gm.predict(Xd))
    np.testing.assert_array_equal(loaded.predict_proba(Xd), gm.predict_proba(Xd))
    np.testing.assert_array_equal(loaded.score_samples(Xd), gm.score_samples(Xd))


def test_warm_start_from_a_loaded_model(X, tmp_path):
    gm = GaussianMixture(3, random_state=0, max_iter=3, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
        gm.save(tmp_path / "m.npz")
        loaded = fastgmm.load(tmp_path / "m.npz").set_params(warm_start=True)
        gm.set_params(warm_start=True)
        gm.fit(X)
        loaded.fit(X)
    np.testing.assert_array_equal(loaded.means_, gm.means_)
    assert loaded.lower_bound_ == gm.lower_bound_


def test_array_parameters_feature_names_and_pickle(tmp_path):
    frame = load_faithful(as_frame=True).data
    gm = GaussianMixture(2, means_init=[[2.0, 55.0], [4.5, 80.0]], random_state=np.random.RandomState(0)).fit(frame)
    loaded = fastgmm.load(gm.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.means_init, gm.means_init)
    assert loaded.random_state is None           # a RandomState instance is not saved
    assert list(loaded.feature_names_in_) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(loaded.predict(frame), gm.predict(frame))
    again = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(again.predict(frame), gm.predict(frame))


def test_selection_round_trip(X, tmp_path):
    sel = GaussianMixtureSelection(n_components=range(1, 4), covariance_types=("full", "tied"),
                                   random_state=0).fit(X)
    loaded = fastgmm.load(fastgmm.save(sel, tmp_path / "sel.npz"))
    assert type(loaded) is GaussianMixtureSelection
    assert loaded.best_params_ == sel.best_params_
    assert loaded.best_index_ == sel.best_index_
    assert list(loaded.results_) == list(sel.results_)
    for col, values in sel.results_.items():
        np.testing.assert_array_equal(np.asarray(loaded.results_[col]), np.asarray(values))
    assert list(loaded.estimators_) == [(sel.best_params_["covariance_type"], sel.best_params_["n_components"])]
    np.testing.assert_array_equal(loaded.predict_proba(X), sel.predict_proba(X))
    assert loaded.get_params()["n_components"] == [1, 2, 3]


def test_unfitted_and_foreign_objects_are_not_saved(tmp_path):
    with pytest.raises(fastgmm.NotFittedError):
        GaussianMixture().save(tmp_path / "m.npz")
    with pytest.raises(TypeError, match="can save"):
        fastgmm.save(object(), tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())        # nothing half-written left behind


def _weights_off(m):
    m["weights_"] = m["weights_"] * 1.01


def _not_pd(m):
    m["precisions_"] = -m["precisions_"]


def _wrong_shape(m):
    m["means_"] = m["means_"][:, :1].copy()


def _wrong_dtype(m):
    m["means_"] = m["means_"].astype(np.float32)


def _nan(m):
    m["covariances_"] = m["covariances_"].copy()
    m["covariances_"][0, 0, 0] = np.nan


@pytest.mark.parametrize("edit, message", [
    (_weights_off, "sum to 1"),
    (_not_pd, "not positive definite"),
    (_wrong_shape, "needs shape"),
    (_wrong_dtype, "member 'means_' has dtype float32; this model's parameters are float64"),
    (_nan, "NaN or infinity"),
])
def test_invalid_parameters_are_refused(model_file, tmp_path, edit, message):
    path = _rewrite(model_file, tmp_path / "bad.npz", edit_members=edit)
    with pytest.raises(ValueError, match=message):
        fastgmm.load(path)


def test_damaged_and_foreign_files_are_refused(model_file, tmp_path, X):
    data = model_file.read_bytes()
    cases = {
        "truncated.npz": (data[: len(data) // 2], "truncated"),
        "text.npz": (b"weights,means\n1,2\n", "not a NumPy .npz archive"),
        "empty.npz": (b"", "not a NumPy .npz archive|truncated"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=message):
            fastgmm.load(tmp_path / name)
    np.save(tmp_path / "array.npy", X)
    with pytest.raises(ValueError, match="single .npy array"):
        fastgmm.load(tmp_path / "array.npy")
    np.savez(tmp_path / "other.npz", X=X)
    with pytest.raises(ValueError, match="not written by fastgmm"):
        fastgmm.load(tmp_path / "other.npz")
    tampered = _rewrite(model_file, tmp_path / "tampered.npz", edit_members=_weights_off, rehash=False)
    with pytest.raises(ValueError, match="checksum"):
        fastgmm.load(tampered)
    newer = _rewrite(model_file, tmp_path / "newer.npz", edit_header=lambda h: h.update(format_version=99))
    with pytest.raises(ValueError, match="Upgrade fastgmm"):
        fastgmm.load(newer)
    alien = _rewrite(model_file, tmp_path / "alien.npz", edit_header=lambda h: h.update({"class": "KMeans"}))
    with pytest.raises(ValueError, match="unknown model class"):
        fastgmm.load(alien)
    with pytest.raises(FileNotFoundError):
        fastgmm.load(tmp_path / "missing.npz")


def test_pickled_members_are_never_loaded(model_file, tmp_path):
    def add_object(m):
        m["means_"] = np.array([{"evil": 1}], dtype=object)

    path = _rewrite(model_file, tmp_path / "obj.npz", edit_members=add_object, rehash=False)
    with pytest.raises(ValueError, match="damaged|pickle"):
        fastgmm.load(path)


def test_callback_is_not_written_and_partial_fit_state_round_trips(tmp_path):
    """A callback is code (written as null); a partial_fit model keeps n_steps_ and continues online."""
    import fastgmm
    from fastgmm.datasets import make_mixture

    X, _, _ = make_mixture(600, 2, 3, "diag", random_state=1)
    seen = []
    gm = fastgmm.GaussianMixture(3, covariance_type="diag", random_state=0,
                                 callback=lambda i, lb, m: seen.append(i)).fit(X)
    gm.save(tmp_path / "cb.npz")
    assert fastgmm.load(tmp_path / "cb.npz").callback is None
    online = fastgmm.GaussianMixture(3, covariance_type="diag", random_state=0)
    for batch in np.array_split(X, 6):
        online.partial_fit(batch)
    online.save(tmp_path / "online.npz")
    back = fastgmm.load(tmp_path / "online.npz")
    assert back.n_steps_ == online.n_steps_ == 6
    np.testing.assert_array_equal(back.predict(X), online.predict(X))
    back.partial_fit(X[:100])
    online.partial_fit(X[:100])
    np.testing.assert_array_equal(back.means_, online.means_)


# ---------------------------------------------------------------------------
# every other family: one generic path (declared arrays, scalars, lists)
# ---------------------------------------------------------------------------

def _family_data(name, dtype):
    rng = np.random.default_rng(0)
    if name == "BernoulliMixture":
        p = np.where(rng.integers(0, 2, (300, 1)) == 1, 0.8, 0.2)
        return (rng.random((300, 6)) < p).astype(dtype)
    if name == "PoissonMixture":
        return rng.poisson(np.where(rng.integers(0, 2, (300, 1)) == 1, 2.0, 8.0), (300, 4)).astype(dtype)
    if name == "CategoricalMixture":
        X = rng.integers(0, 4, (300, 3)).astype(dtype)
        X[:, 2] = rng.integers(0, 2, 300) * 7      # columns with different category sets: a ragged list
        return X
    X = rng.normal(size=(300, 3))
    X[:150] += 6
    return X.astype(dtype)


FAMILIES = {
    "BayesianGaussianMixture": [
        dict(n_components=4, covariance_type=ct, weight_concentration_prior_type=pt, random_state=0)
        for ct in ("full", "tied", "diag", "spherical")
        for pt in ("dirichlet_process", "dirichlet_distribution")
    ] + [dict(n_components=3, mean_prior=np.zeros(3), covariance_prior=np.eye(3), random_state=0)],
    "StudentTMixture": [dict(n_components=2, covariance_type=ct, random_state=0) for ct in ("full", "diag")]
    + [dict(n_components=2, fix_dof=True, dof_init=[4.0, 30.0], random_state=0)],
    "BernoulliMixture": [dict(n_components=2, random_state=0), dict(n_components=2, alpha=0.5, random_state=0)],
    "PoissonMixture": [dict(n_components=2, random_state=0)],
    "CategoricalMixture": [dict(n_components=2, alpha=1.0, random_state=0)],
}
FAMILY_CASES = [pytest.param(name, params, id=f"{name}-{i}")
                for name, grid in FAMILIES.items() for i, params in enumerate(grid)]


def _fitted_family(name, params, dtype=np.float64):
    X = _family_data(name, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(fastgmm, name)(**params).fit(X), X


def _fitted_attributes(model):
    """The public fitted attributes (name_) of ``model``, by name."""
    return {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")}


def _same_value(a, b):
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("name, params", FAMILY_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_family_round_trip_is_bitwise(tmp_path, name, params, dtype):
    model, X = _fitted_family(name, params, dtype)
    path = model.save(tmp_path / "m.npz")
    loaded = fastgmm.load(path)
    assert type(loaded) is type(model)
    for p, v in model.get_params().items():
        assert _same_value(getattr(loaded, p), v), p
    assert type(loaded.lower_bound_) is type(model.lower_bound_)
    fitted = _fitted_attributes(model)
    assert set(_fitted_attributes(loaded)) == set(fitted)
    for name, value in fitted.items():
        assert _same_value(getattr(loaded, name), value), name
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_warm_start_from_a_loaded_model(tmp_path, name):
    params = dict(FAMILIES[name][0], max_iter=2, tol=0.0)
    model, X = _fitted_family(name, params)
    model.save(tmp_path / "m.npz")
    loaded = fastgmm.load(tmp_path / "m.npz").set_params(warm_start=True)
    model.set_params(warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
        loaded.fit(X)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_file_with_a_tampered_array_is_refused(tmp_path, name):
    model, _ = _fitted_family(name, FAMILIES[name][0])
    src = model.save(tmp_path / "m.npz")

    def corrupt(members):
        members["weights_"] = members["weights_"] * 2.0      # weights no longer sum to 1

    _rewrite(src, tmp_path / "bad.npz", edit_members=corrupt)
    with pytest.raises(ValueError, match="not a valid fastgmm model file"):
        fastgmm.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_file_altered_without_rehashing_is_refused(tmp_path, name):
    model, _ = _fitted_family(name, FAMILIES[name][0])
    src = model.save(tmp_path / "m.npz")

    def corrupt(members):
        members["weights_"] = members["weights_"][::-1].copy()

    _rewrite(src, tmp_path / "bad.npz", edit_members=corrupt, rehash=False)
    with pytest.raises(ValueError, match="does not match its checksum"):
        fastgmm.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_file_missing_an_array_is_refused(tmp_path, name):
    model, _ = _fitted_family(name, FAMILIES[name][0])
    src = model.save(tmp_path / "m.npz")
    first = type(model)._schema.arrays[0].member

    def drop(members):
        for key in [k for k in members if k == first or k.startswith(first + "/")]:
            del members[key]

    _rewrite(src, tmp_path / "bad.npz", edit_members=drop)
    with pytest.raises(ValueError, match="missing"):
        fastgmm.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_file_with_unknown_parameters_is_refused(tmp_path, name):
    model, _ = _fitted_family(name, FAMILIES[name][0])
    src = model.save(tmp_path / "m.npz")

    def edit(header):
        header["params"]["__reduce__"] = "os.system"

    _rewrite(src, tmp_path / "bad.npz", edit_header=edit)
    with pytest.raises(ValueError, match="unknown .* parameter"):
        fastgmm.load(tmp_path / "bad.npz")


def test_unfitted_family_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        fastgmm.StudentTMixture(2).save(tmp_path / "m.npz")


# ----------------------------------------------------------------------
# file permissions
# ----------------------------------------------------------------------
posix_modes = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits and umask")


@pytest.fixture
def umask_022():
    """The process's umask set to 0o022 for the test (restored after)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@posix_modes
def test_a_saved_model_gets_the_mode_of_any_new_file(X, tmp_path, umask_022):
    path = tmp_path / "gm.npz"
    GaussianMixture(2, random_state=0).fit(X).save(path)
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["gm.npz"]     # no temporary file left


@posix_modes
def test_a_replaced_model_file_keeps_its_mode(X, tmp_path, umask_022):
    path = tmp_path / "gm.npz"
    path.write_bytes(b"an older model")
    path.chmod(0o600)
    GaussianMixture(2, random_state=0).fit(X).save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert fastgmm.load(path).n_components == 2


@posix_modes
def test_the_cli_writes_models_with_the_mode_of_any_new_file(X, tmp_path, capsys, umask_022):
    from fastgmm.cli import _main as _cli

    data, model = tmp_path / "faithful.npy", tmp_path / "model.npz"
    np.save(data, X)
    assert _cli.main(["fit", str(data), "-k", "2", "--random-state", "0", "-o", str(model)]) == 0
    assert model.stat().st_mode & 0o777 == 0o644


# ---------------------------------------------------------------------------
# the schema: every estimator declares its fitted attributes once
# ---------------------------------------------------------------------------

def _fitted_of_every_class():
    """One small fitted model of every class that save writes, by name."""
    models = {name: _fitted_family(name, FAMILIES[name][0])[0] for name in FAMILIES}
    X = _family_data("GaussianMixture", np.float64)
    models["GaussianMixture"] = GaussianMixture(2, random_state=0).fit(X)
    models["GaussianMixtureSelection"] = GaussianMixtureSelection(
        n_components=(1, 2), covariance_types=("full",), random_state=0).fit(X)
    return models


@pytest.fixture(scope="module")
def every_class():
    return _fitted_of_every_class()


CLASSES = sorted(list(FAMILIES) + ["GaussianMixture", "GaussianMixtureSelection"])
MIXTURES = sorted(list(FAMILIES) + ["GaussianMixture"])


@pytest.mark.parametrize("name", CLASSES)
def test_the_schema_names_every_fitted_attribute(every_class, name):
    model = every_class[name]
    schema = type(model)._schema
    assert set(_fitted_attributes(model)) - set(schema.attributes()) - set(schema.derived) == set()


def _attributes_set_by_set_parameters(model):
    """The public attributes that ``_set_parameters`` writes, rebuilding ``model`` from its own parameters."""
    written = set()

    class Recorder(type(model)):
        def __setattr__(self, name, value):
            written.add(name)
            super().__setattr__(name, value)

    recorder = copy.copy(model)
    recorder.__class__ = Recorder
    recorder._set_parameters(model._get_parameters(), model.weights_.dtype)
    return {n for n in written if n.endswith("_") and not n.startswith("_")}


@pytest.mark.parametrize("name", MIXTURES)
def test_the_schema_stores_what_set_parameters_sets(every_class, name):
    model = every_class[name]
    assert _attributes_set_by_set_parameters(model) - set(type(model)._schema.attributes()) == set()


@pytest.mark.parametrize("name", MIXTURES)
def test_each_named_parameter_is_a_stored_attribute(every_class, name):
    cls = type(every_class[name])
    fields = {f + "_" for f in cls._Params._fields}
    assert fields - set(cls._schema.attributes()) == set()


@pytest.mark.parametrize("name", CLASSES)
def test_every_fitted_attribute_round_trips(every_class, tmp_path, name):
    model = every_class[name]
    loaded = fastgmm.load(model.save(tmp_path / "m.npz"))
    fitted = _fitted_attributes(model)
    if name == "GaussianMixtureSelection":
        # Only the chosen fit is stored; estimators_ holds it alone after loading.
        best = model.best_estimator_
        fitted["estimators_"] = {(best.covariance_type, best.n_components): best}
    assert set(_fitted_attributes(loaded)) == set(fitted)
    for attr, value in fitted.items():
        assert _same_fitted_value(getattr(loaded, attr), value), attr


def _same_fitted_value(a, b):
    """``_same_value``, and estimators compared by their fitted attributes."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same_fitted_value(a[k], b[k]) for k in a)
    if isinstance(b, fastgmm.GaussianMixture):
        fa, fb = _fitted_attributes(a), _fitted_attributes(b)
        return type(a) is type(b) and set(fa) == set(fb) and all(_same_value(fa[k], fb[k]) for k in fb)
    return _same_value(a, b)


def test_a_file_holds_format_version_2(model_file):
    with np.load(model_file, allow_pickle=False) as npz:
        header = json.loads(npz["__header__"].tobytes())
    assert header["format_version"] == _persistence.FORMAT_VERSION == 2


def test_a_model_without_degenerate_events_round_trips_without_them(X, tmp_path):
    # A fit interrupted before its end sets no degenerate_events_: none is written, none is read back.
    gm = GaussianMixture(2, random_state=0).fit(X)
    for name in ("degenerate_events_", "n_reinit_", "n_dropped_"):
        delattr(gm, name)
    loaded = fastgmm.load(gm.save(tmp_path / "m.npz"))
    assert not any(hasattr(loaded, n) for n in ("degenerate_events_", "n_reinit_", "n_dropped_"))


def test_an_integer_spherical_covariance_prior_round_trips(tmp_path):
    # covariance_prior=2 made covariance_prior_ an int, which format 1 wrote as an int64 member that
    # its reader then refused: the FLOAT rule stores the float it is.
    X = _family_data("BayesianGaussianMixture", np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bgm = fastgmm.BayesianGaussianMixture(n_components=2, covariance_type="spherical", covariance_prior=2,
                                              random_state=0).fit(X)
    loaded = fastgmm.load(bgm.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.predict_proba(X), bgm.predict_proba(X))


def test_categories_keep_the_first_fits_dtype_through_a_file(tmp_path):
    # A warm start on float32 codes keeps the float64 categories_ of the first fit (rule FLOAT),
    # while the tables follow X (rule X).
    X = _family_data("CategoricalMixture", np.float64)
    cm = fastgmm.CategoricalMixture(2, warm_start=True, random_state=0).fit(X)
    cm.fit(X.astype(np.float32))
    loaded = fastgmm.load(cm.save(tmp_path / "m.npz"))
    assert [c.dtype for c in loaded.categories_] == [np.dtype(np.float64)] * 3
    assert [t.dtype for t in loaded.means_] == [np.dtype(np.float32)] * 3


# ---------------------------------------------------------------------------
# format 1: files written before the one path still load, bitwise
# ---------------------------------------------------------------------------

FORMAT1 = pathlib.Path(__file__).parent / "data" / "format1"
FORMAT1_FILES = sorted(p.stem for p in FORMAT1.glob("*.npz") if p.stem != "expected")


def _format1_header(stem):
    with np.load(FORMAT1 / f"{stem}.npz", allow_pickle=False) as npz:
        return json.loads(npz["__header__"].tobytes())


def test_the_format1_fixtures_are_format1():
    # Rewritten by a newer writer, they would no longer test the reader of version 1.
    assert {stem: _format1_header(stem)["format_version"] for stem in FORMAT1_FILES} == dict.fromkeys(FORMAT1_FILES, 1)


def test_the_format1_fixtures_cover_its_three_layouts():
    classes = {_format1_header(stem)["class"] for stem in FORMAT1_FILES}
    assert {"GaussianMixture", "GaussianMixtureSelection", "CategoricalMixture", "StudentTMixture",
            "BayesianGaussianMixture"} <= classes


def _bitwise(value, stored):
    """A loaded attribute (array, NumPy scalar, list of NumPy scalars) holds exactly the stored array.

    A Python float (a spherical covariance_prior_, which the variational mixture reads back as one)
    is compared by value only.
    """
    a = np.asarray(value)
    return np.array_equal(a, stored) and (isinstance(value, float) or a.dtype == stored.dtype)


@pytest.mark.parametrize("stem", FORMAT1_FILES)
def test_format1_parameters_load_bitwise(stem):
    model = fastgmm.load(FORMAT1 / f"{stem}.npz")
    prefix = ""
    if isinstance(model, GaussianMixtureSelection):
        model, prefix = model.best_estimator_, "best_estimator/"
    with np.load(FORMAT1 / f"{stem}.npz", allow_pickle=False) as npz:
        for field in type(model)._schema.arrays:
            key, value = prefix + field.member, getattr(model, field.attribute)
            if f"{key}/0" in npz.files:     # a list of arrays (format 1 also stored a pair so)
                assert f"{key}/{len(value)}" not in npz.files, field.attribute
                assert all(_bitwise(v, npz[f"{key}/{i}"]) for i, v in enumerate(value)), field.attribute
            else:
                assert _bitwise(value, npz[key]), field.attribute


def _expected(stem):
    with np.load(FORMAT1 / "expected.npz", allow_pickle=False) as npz:
        return {k.split("/", 1)[1]: npz[k] for k in npz.files if k.startswith(stem + "/")}


def _rows_for(model, X):
    """X as the model was fitted on it: a DataFrame with its column names when it has them."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return X
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(X, columns=list(names))


@pytest.mark.parametrize("stem", FORMAT1_FILES)
def test_format1_models_predict_as_before(stem):
    model = fastgmm.load(FORMAT1 / f"{stem}.npz")
    expected = _expected(stem)
    X = _rows_for(model, expected["X"])
    np.testing.assert_array_equal(model.predict(X), expected["labels"])
    # Bitwise parameters (above); the predictions pass through the kernels, whose last bits a
    # kernel change may move: equal to a few ulps.
    np.testing.assert_allclose(model.predict_proba(X), expected["proba"], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(model.score_samples(X), expected["score_samples"], rtol=1e-12)


@pytest.mark.parametrize("stem", FORMAT1_FILES)
def test_format1_models_are_written_back_as_format2_unchanged(stem, tmp_path):
    model = fastgmm.load(FORMAT1 / f"{stem}.npz")
    again = fastgmm.load(model.save(tmp_path / "m.npz"))
    X = _rows_for(model, _expected(stem)["X"])
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


def test_a_format1_file_with_an_unknown_layout_field_is_refused(tmp_path):
    path = _rewrite(FORMAT1 / "studentt_full.npz", tmp_path / "bad.npz",
                    edit_header=lambda h: h["scalars"].update(n_flips_=3))
    with pytest.raises(ValueError, match=r"fitted attribute\(s\) \['n_flips_'\]"):
        fastgmm.load(path)


def test_a_format1_pair_of_concentrations_of_two_shapes_is_refused(tmp_path):
    def shorten(members):
        members["weight_concentration_/1"] = members["weight_concentration_/1"][:2].copy()

    path = _rewrite(FORMAT1 / "bayesian_tied_process.npz", tmp_path / "bad.npz", edit_members=shorten)
    with pytest.raises(ValueError, match="items of weight_concentration_ differ"):
        fastgmm.load(path)


# ---------------------------------------------------------------------------
# the one reading path refuses what no schema explains
# ---------------------------------------------------------------------------

def test_a_member_that_belongs_to_no_attribute_is_refused(model_file, tmp_path):
    path = _rewrite(model_file, tmp_path / "bad.npz", edit_members=lambda m: m.update(extra_=np.zeros(2)))
    with pytest.raises(ValueError, match=r"member\(s\) \['extra_'\] belong to no attribute"):
        fastgmm.load(path)


def test_an_unknown_header_field_is_refused(model_file, tmp_path):
    path = _rewrite(model_file, tmp_path / "bad.npz", edit_header=lambda h: h.update(n_components=3))
    with pytest.raises(ValueError, match=r"unexpected header field\(s\) \['n_components'\]"):
        fastgmm.load(path)


def test_an_unknown_fitted_attribute_is_refused(model_file, tmp_path):
    path = _rewrite(model_file, tmp_path / "bad.npz", edit_header=lambda h: h["fitted"].update(mystery_=1))
    with pytest.raises(ValueError, match=r"fitted attribute\(s\) \['mystery_'\] are not attributes"):
        fastgmm.load(path)


def test_a_missing_fitted_attribute_is_refused(model_file, tmp_path):
    path = _rewrite(model_file, tmp_path / "bad.npz", edit_header=lambda h: h["fitted"].pop("n_iter_"))
    with pytest.raises(ValueError, match="fitted attribute 'n_iter_' is missing"):
        fastgmm.load(path)


def test_a_history_longer_than_n_iter_is_refused(model_file, tmp_path):
    path = _rewrite(model_file, tmp_path / "bad.npz", edit_header=lambda h: h["fitted"].update(n_iter_=1))
    with pytest.raises(ValueError, match="lower_bounds_ has shape .* at most n_iter_=1 values"):
        fastgmm.load(path)


def test_degenerate_events_that_do_not_account_for_the_components_are_refused(model_file, tmp_path):
    # A drop in the log, but every one of the n_components is still there.
    path = _rewrite(model_file, tmp_path / "bad.npz",
                    edit_header=lambda h: h["fitted"].update(degenerate_events_=[[1, 0, "empty", "drop"]]))
    with pytest.raises(ValueError, match="less the 1 dropped"):
        fastgmm.load(path)


def test_gaussian_mixture_validates_its_own_loaded_parameters(X):
    gm = GaussianMixture(3, random_state=0).fit(X)
    gm._validate_loaded()
    gm.weights_ = gm.weights_ * 0.5
    with pytest.raises(ValueError, match="sum to 1"):
        gm._validate_loaded()


@pytest.fixture(scope="module")
def selection_file(X, tmp_path_factory):
    path = tmp_path_factory.mktemp("selection") / "sel.npz"
    GaussianMixtureSelection(n_components=(1, 2), covariance_types=("full",), random_state=0).fit(X).save(path)
    return path


def test_a_selection_parameter_is_validated_at_load(selection_file, tmp_path):
    path = _rewrite(selection_file, tmp_path / "bad.npz", edit_header=lambda h: h["params"].update(criterion=5))
    with pytest.raises(ValueError, match="invalid GaussianMixtureSelection parameters .*criterion"):
        fastgmm.load(path)


def test_a_selection_with_an_invalid_best_estimator_is_refused(selection_file, tmp_path):
    def edit(members):
        members["best_estimator/weights_"] = members["best_estimator/weights_"] * 2.0

    path = _rewrite(selection_file, tmp_path / "bad.npz", edit_members=edit)
    with pytest.raises(ValueError, match="best_estimator: the weights must .* sum to 1"):
        fastgmm.load(path)


def test_a_selection_whose_best_estimator_is_another_class_is_refused(selection_file, tmp_path):
    path = _rewrite(selection_file, tmp_path / "bad.npz",
                    edit_header=lambda h: h["best_estimator"].update({"class": "GaussianMixtureSelection"}))
    with pytest.raises(ValueError, match="not a valid fastgmm model file"):
        fastgmm.load(path)


def test_best_params_that_do_not_describe_the_best_estimator_are_refused(selection_file, tmp_path):
    path = _rewrite(selection_file, tmp_path / "bad.npz",
                    edit_header=lambda h: h["fitted"]["best_params_"].update(covariance_type="diag"))
    with pytest.raises(ValueError, match="best_params_ .* do not describe the stored estimator"):
        fastgmm.load(path)
