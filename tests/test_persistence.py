"""Saving and loading: the round trip is exact, and a bad file is refused with a ValueError."""

import json
import pickle
import warnings

import numpy as np
import pytest

import fastgmm
from fastgmm import GaussianMixture, GaussianMixtureSelection, _persistence
from fastgmm.datasets import load_faithful


@pytest.fixture(scope="module")
def X():
    return load_faithful().data


@pytest.fixture(scope="module")
def model_file(X, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "gm.npz"
    GaussianMixture(3, random_state=0).fit(X).save(path)
    return path


def _rewrite(src, dst, edit_members=None, edit_header=None, rehash=True):
    """Copy a model file, changing members or header (and the checksums unless told not to)."""
    with np.load(src, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    header = json.loads(members.pop("__header__").tobytes())
    if edit_members:
        edit_members(members)
    if rehash:
        header["arrays"] = _persistence._manifest(members)
    if edit_header:
        edit_header(header)
    members["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(dst, "wb") as f:
        np.savez(f, **members)
    return dst


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
