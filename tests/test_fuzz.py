"""Bounded fuzzing of fastgmm's untrusted inputs with hypothesis: model files, the CLI's data files, parameters.

- Model files: valid saved models of every family, with bytes changed,
  truncated, or with header values, members' dtypes, shapes and values
  changed (checksums recomputed, so the loader's validation is what is
  reached) -> ``fastgmm.load`` raises ValueError, or loads a model that
  predicts finite values. Nothing is unpickled.
- The CLI: random CSV-like text and random bytes as the data file of
  ``fit`` and ``predict`` -> exit status 0, or 2 with one line on stderr and
  no traceback.
- Parameters: random values for each constructor parameter of each
  estimator -> ``fit`` on small valid data fits, or raises
  InvalidParameterError / ValueError / TypeError naming the parameter.

A hang fails through hypothesis's deadline (per example). The default
profile ("ci", see conftest.py: the same examples on every run) keeps the
module at about a minute; ``FASTGMM_HYPOTHESIS_PROFILE=long`` runs 20 times
as many examples, freshly drawn each run (about 10 minutes).
"""

import contextlib
import io
import json
import os
import pickle
import tempfile
import warnings
import zipfile
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastgmm
from fastgmm import BayesianGaussianMixture, BernoulliMixture, CategoricalMixture, GaussianMixture, GaussianMixtureSelection, PoissonMixture, StudentTMixture
from fastgmm.cli import _main as _cli
from fastgmm.io import _persistence

from conftest import HYPOTHESIS_PROFILE

# derandomize and the database come from the profile loaded in conftest.py
_COMMON = dict(deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
EXAMPLES = {"ci": 400, "long": 8000}
FUZZ = settings(max_examples=EXAMPLES[HYPOTHESIS_PROFILE], **_COMMON)

# Small valid data of each kind, and one fitted model of each family on it.
_rng = np.random.default_rng(0)
REAL = np.vstack([_rng.normal(size=(30, 2)), _rng.normal(size=(30, 2)) + 5])
BINARY = (_rng.random((60, 3)) < np.repeat([[0.2], [0.8]], 30, axis=0)).astype(np.float64)
COUNTS = _rng.poisson(np.repeat([[1.0], [6.0]], 30, axis=0), size=(60, 3)).astype(np.float64)
CODES = _rng.integers(0, 3, size=(60, 3)).astype(np.float64)

ESTIMATORS = {
    "GaussianMixture-full": (lambda: GaussianMixture(2, random_state=0), REAL),
    "GaussianMixture-tied": (lambda: GaussianMixture(2, covariance_type="tied", random_state=0), REAL),
    "GaussianMixture-diag": (lambda: GaussianMixture(2, covariance_type="diag", random_state=0), REAL),
    "GaussianMixture-spherical": (lambda: GaussianMixture(2, covariance_type="spherical", random_state=0), REAL),
    "BayesianGaussianMixture": (lambda: BayesianGaussianMixture(n_components=2, random_state=0), REAL),
    "StudentTMixture": (lambda: StudentTMixture(2, random_state=0), REAL),
    "BernoulliMixture": (lambda: BernoulliMixture(2, random_state=0), BINARY),
    "PoissonMixture": (lambda: PoissonMixture(2, random_state=0), COUNTS),
    "CategoricalMixture": (lambda: CategoricalMixture(2, random_state=0), CODES),
    "GaussianMixtureSelection": (lambda: GaussianMixtureSelection(n_components=(1, 2), random_state=0), REAL),
}


def _quiet_fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (path of a valid model file, data it predicts on)."""
    d = tmp_path_factory.mktemp("fuzz-models")
    files = {}
    for name, (make, X) in ESTIMATORS.items():
        path = d / f"{name}.npz"
        fastgmm.save(_quiet_fit(make(), X), path)
        files[name] = (path, X)
    return files


# ----------------------------------------------------------------------
# (a) model files
# ----------------------------------------------------------------------
def _members_and_header(path):
    with np.load(path, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    return members, json.loads(members.pop("__header__").tobytes())


def _write_model(path, members, header, rehash=True):
    if rehash:
        header["arrays"] = _persistence._manifest(members)
    members = dict(members, __header__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    with open(path, "wb") as f:
        np.savez(f, **members)


def assert_loads_or_refuses(path, X):
    """load raises ValueError, or the model it returns predicts finite values on X."""
    try:
        model = fastgmm.load(path)
    except ValueError:
        return
    try:
        proba = model.predict_proba(X)
    except ValueError:
        return                # e.g. a changed n_features_in_: X is refused with a message
    assert np.all(np.isfinite(proba))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def _header_paths(header, prefix=()):
    """Every key path in the header (JSON objects only), the manifest's checksums aside."""
    for key, value in header.items():
        if key == "arrays":
            continue
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from _header_paths(value, prefix + (key,))


def _replace_zip_entry(path, data):
    """The archive with one entry's content replaced (a valid zip: the CRC is recomputed),
    perhaps under a name without the .npy suffix; its bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        infos = src.infolist()
        victim = data.draw(st.sampled_from([i.filename for i in infos]))
        for info in infos:
            if info.filename != victim:
                dst.writestr(info.filename, src.read(info))
                continue
            content = src.read(info)
            content = data.draw(st.sampled_from([content[:128], b""]) | st.binary(max_size=64)) + \
                data.draw(st.binary(max_size=64))
            dst.writestr(victim[:-4] if data.draw(st.booleans()) else victim, content)
    return bytearray(out.getvalue())


@FUZZ
@given(name=st.sampled_from(sorted(ESTIMATORS)), data=st.data())
def test_mutated_bytes_are_refused_or_load(saved, tmp_path_factory, name, data):
    path, X = saved[name]
    raw = bytearray(path.read_bytes())
    action = data.draw(st.sampled_from(["flip", "truncate", "append", "splice", "entry"]))
    if action == "entry":
        raw = _replace_zip_entry(path, data)
    if action == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    elif action == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif action == "append":
        raw += data.draw(st.binary(min_size=1, max_size=64))
    elif action == "splice":
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=64))
    mutated = tmp_path_factory.mktemp("bytes") / "m.npz"
    mutated.write_bytes(bytes(raw))
    assert_loads_or_refuses(mutated, X)


@FUZZ
@given(name=st.sampled_from(sorted(ESTIMATORS)), data=st.data())
def test_mutated_header_values_are_refused_or_load(saved, tmp_path_factory, name, data):
    path, X = saved[name]
    members, header = _members_and_header(path)
    for _ in range(data.draw(st.integers(1, 3))):
        keys = data.draw(st.sampled_from(sorted(_header_paths(header))))
        target = header
        for k in keys[:-1]:
            target = target[k]
        if data.draw(st.booleans()):
            target[keys[-1]] = data.draw(json_values)
        else:
            del target[keys[-1]]
    mutated = tmp_path_factory.mktemp("header") / "m.npz"
    _write_model(mutated, members, header)
    assert_loads_or_refuses(mutated, X)


DTYPES = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "complex128", "<U3", "S2", ">f8"]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e308, -1e-300, 2.0, 1e-320]


@FUZZ
@given(name=st.sampled_from(sorted(ESTIMATORS)), data=st.data())
def test_mutated_members_are_refused_or_load(saved, tmp_path_factory, name, data):
    path, X = saved[name]
    members, header = _members_and_header(path)
    key = data.draw(st.sampled_from(sorted(members)))
    a = members[key]
    action = data.draw(st.sampled_from(["dtype", "shape", "value", "drop", "scalar"]))
    if action == "dtype":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # casting NaN to int and the like
            members[key] = a.astype(data.draw(st.sampled_from(DTYPES)))
    elif action == "shape":
        flat = a.reshape(-1)
        shapes = [flat, flat[:-1], np.stack([a, a]), a[None]] + ([flat[:1].reshape(())] if a.size else [])
        members[key] = data.draw(st.sampled_from(shapes))
    elif action == "value" and a.size and a.dtype.kind in "fiu":
        b = a.astype(np.float64).copy().reshape(-1)
        b[data.draw(st.integers(0, b.size - 1))] = data.draw(st.sampled_from(SPECIAL) | st.floats())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            members[key] = b.astype(a.dtype).reshape(a.shape)
    elif action == "drop":
        del members[key]
    else:
        members[key] = np.asarray(data.draw(st.sampled_from(SPECIAL)))
    mutated = tmp_path_factory.mktemp("members") / "m.npz"
    _write_model(mutated, members, header)
    assert_loads_or_refuses(mutated, X)


class _Trap:
    """Unpickling this object would record that code ran."""

    ran = False

    def __reduce__(self):
        return (_Trap._spring, ())

    @staticmethod
    def _spring():
        _Trap.ran = True
        return 0


def test_a_pickled_member_is_refused_without_unpickling(saved, tmp_path):
    path, _ = saved["GaussianMixture-full"]
    members, header = _members_and_header(path)
    trap = np.empty(1, dtype=object)
    trap[0] = _Trap()
    members["means_"] = trap
    mutated = tmp_path / "trap.npz"
    _write_model(mutated, members, header)
    with pytest.raises(ValueError):
        fastgmm.load(mutated)
    assert not _Trap.ran


def test_a_pickle_file_is_refused_without_unpickling(tmp_path):
    mutated = tmp_path / "trap.npz"
    mutated.write_bytes(pickle.dumps(_Trap()))
    with pytest.raises(ValueError):
        fastgmm.load(mutated)
    assert not _Trap.ran


def test_a_zip_bomb_like_member_list_is_refused(saved, tmp_path):
    # A header claiming a huge list of per-column members must not loop or allocate.
    path, X = saved["CategoricalMixture"]
    members, header = _members_and_header(path)
    header["lists"] = {k: 10**12 for k in header["lists"]}
    mutated = tmp_path / "lists.npz"
    _write_model(mutated, members, header)
    with pytest.raises(ValueError, match="missing"):
        fastgmm.load(mutated)


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastgmm.load(tmp_path / "nothing.npz")


def test_a_zip_without_npy_members_is_refused(tmp_path):
    path = tmp_path / "plain.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ValueError):
        fastgmm.load(path)


# ----------------------------------------------------------------------
# (b) the CLI's data files
# ----------------------------------------------------------------------
CSV_ALPHABET = st.sampled_from(list("0123456789.,-+eE\n\r\t ;\"'#xnaNIf") + ["nan", "inf", "1e999", "\ufeff", "\x00"])
csv_text = st.lists(CSV_ALPHABET, max_size=200).map("".join)
numeric_csv = st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10, 10),
                                min_size=1, max_size=3), min_size=0, max_size=12).map(
    lambda rows: "\n".join(",".join(repr(v) for v in r) for r in rows))
npy_bytes = st.binary(max_size=200).map(lambda b: b"\x93NUMPY\x01\x00" + b)


def run_main(argv):
    """The CLI in-process: (status, stderr). An exception escaping main fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = _cli.main([str(a) for a in argv])
    return status, err.getvalue()


def assert_ok_or_one_line_error(status, err):
    assert status in (0, 2), err
    if status == 2:
        assert err.count("\n") == 1 and err.startswith("fastgmm: error: "), err


def _data_file(directory, suffix, content):
    path = os.path.join(directory, "data" + suffix)
    with open(path, "wb") as f:
        f.write(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
    return path


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz-cli") / "model.npz"
    GaussianMixture(2, random_state=0).fit(REAL).save(path)
    return path


DATA_FILES = st.one_of(
    st.tuples(st.just(".csv"), csv_text), st.tuples(st.just(".csv"), numeric_csv),
    st.tuples(st.just(".tsv"), csv_text), st.tuples(st.just(".csv"), st.binary(max_size=200)),
    st.tuples(st.just(".npy"), st.binary(max_size=200)), st.tuples(st.just(".npy"), npy_bytes))


@FUZZ
@given(data_file=DATA_FILES)
def test_cli_fit_on_random_data_files(data_file):
    with tempfile.TemporaryDirectory() as d:
        path = _data_file(d, *data_file)
        assert_ok_or_one_line_error(*run_main(["fit", path, "-k", 1, "--max-iter", 5]))


@FUZZ
@given(data_file=DATA_FILES)
def test_cli_predict_on_random_data_files(cli_model, data_file):
    with tempfile.TemporaryDirectory() as d:
        path = _data_file(d, *data_file)
        assert_ok_or_one_line_error(*run_main(["predict", cli_model, path]))


@FUZZ
@given(content=st.binary(max_size=300))
def test_cli_predict_with_a_random_model_file(content):
    with tempfile.TemporaryDirectory() as d:
        data = _data_file(d, ".csv", "1,2\n3,4\n")
        model = _data_file(d, ".npz", content)
        assert_ok_or_one_line_error(*run_main(["predict", model, data]))


# ----------------------------------------------------------------------
# (c) parameter validation
# ----------------------------------------------------------------------
class _Opaque:
    """An object no parameter accepts."""


# Bounded ints: a huge n_init or max_iter with tol=0 is a legitimately long fit, not a hang.
values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 12), st.sampled_from([2**31, 2**64, -2**63]),
    st.floats(), st.sampled_from([np.nan, np.inf, -np.inf, 1e-300, np.float32(0.5), np.int64(2)]),
    st.text(max_size=6), st.sampled_from(["full", "kmeans", "random", "bic", "raise", "auto"]),
    st.lists(st.floats(-2, 2) | st.integers(-2, 3), max_size=4),
    st.lists(st.lists(st.floats(-2, 2), min_size=2, max_size=2), min_size=1, max_size=3).map(np.array),
    st.builds(_Opaque), st.just({"a": 1}), st.just(np.zeros((2, 2, 2))), st.just(object), st.just(len))

PARAMETERS = sorted((name, p) for name, (make, _) in ESTIMATORS.items() for p in make().get_params())
# The value checks of weights_init and precisions_init keep scikit-learn's
# wording, which names the parameter initialised ("The parameter 'weights'
# should be normalized", "'full precision' should be positive").
NAMES_OF = {"weights_init": ("weights_init", "'weights'"), "precisions_init": ("precisions_init", " precision")}
# n_init x max_iter with a huge int is a long (not a wrong) fit: those get small ints only.
LONG_IF_LARGE = {"n_init", "max_iter"}


@FUZZ
@given(case=st.sampled_from(PARAMETERS), data=st.data())
def test_random_parameter_values_fit_or_raise_naming_the_parameter(case, data):
    name, param = case
    make, X = ESTIMATORS[name]
    value = data.draw(values.filter(lambda v: not (param in LONG_IF_LARGE and isinstance(v, int)
                                                   and not isinstance(v, bool) and v > 50)))
    if param == "callback" and callable(value):
        return          # a callable is a valid callback; what it raises is the user's own exception
    est = make().set_params(**{param: value})
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X)
    except (ValueError, TypeError) as e:
        assert any(word in str(e) for word in NAMES_OF.get(param, (param,))), f"{type(e).__name__}: {e}"


# ----------------------------------------------------------------------
# what the fuzzing found, pinned
# ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["BernoulliMixture", "CategoricalMixture", "BayesianGaussianMixture"])
@pytest.mark.parametrize("dtype", ["complex128", "float16"])
def test_a_member_of_a_dtype_no_fit_writes_is_refused(saved, tmp_path, name, dtype):
    # complex128 was loaded, casting away the imaginary part (ComplexWarning),
    # or a TypeError from np.floor at predict time (categories_); float16
    # categories_ an overflow in the cast of 2**16 at predict time.
    path, _ = saved[name]
    members, header = _members_and_header(path)
    key = sorted(k for k in members if k.startswith(("means_", "categories_", "covariances_")))[0]
    members[key] = members[key].astype(dtype)
    mutated = tmp_path / "dtype.npz"
    _write_model(mutated, members, header)
    with pytest.raises(ValueError, match=f"member '{key}' has dtype {dtype}"):
        fastgmm.load(mutated)


def test_a_damaged_zip_version_field_is_refused(saved, tmp_path):
    # Byte 0x40 in a central directory's "version needed" field: zipfile raised
    # NotImplementedError("zip file version 6.4") out of fastgmm.load.
    path, _ = saved["PoissonMixture"]
    raw = bytearray(path.read_bytes())
    central = raw.rfind(b"PK\x01\x02")          # the last central directory entry
    raw[central + 6] = 0x40                     # its "version needed to extract"
    mutated = tmp_path / "version.npz"
    mutated.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="zip file version"):
        fastgmm.load(mutated)


@pytest.mark.parametrize("member", ["weights_", "__header__"])
def test_a_member_stored_without_npy_suffix_is_refused(saved, tmp_path, member):
    # Found by tools/fuzz_load.py: numpy returns a member that is not named
    # *.npy and does not start with the .npy magic as bytes, and load raised
    # AttributeError ("'bytes' object has no attribute 'shape'" / "'dtype'").
    path, _ = saved["BernoulliMixture"]
    mutated = tmp_path / "raw.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(mutated, "w") as dst:
        for info in src.infolist():
            if info.filename == member + ".npy":
                dst.writestr(member, b"not an array")
            else:
                dst.writestr(info.filename, src.read(info))
    with pytest.raises(ValueError, match="not .npy arrays"):
        fastgmm.load(mutated)


@pytest.mark.parametrize("columns", [[None], [["bic"]], [{"a": 1}]])
def test_a_selection_results_column_that_is_not_a_name_is_refused(saved, tmp_path, columns):
    # results_columns=[null] raised TypeError ("can only concatenate str (not "NoneType") to str").
    path, _ = saved["GaussianMixtureSelection"]
    members, header = _members_and_header(path)
    header["results_columns"] = columns
    mutated = tmp_path / "columns.npz"
    _write_model(mutated, members, header)
    with pytest.raises(ValueError, match="results_columns"):
        fastgmm.load(mutated)


def test_a_bad_gaussian_parameter_in_the_header_is_refused(saved, tmp_path):
    # n_threads=[] was loaded, and predict raised TypeError (not checked at load).
    path, _ = saved["GaussianMixture-diag"]
    members, header = _members_and_header(path)
    header["params"]["n_threads"] = []
    mutated = tmp_path / "params.npz"
    _write_model(mutated, members, header)
    with pytest.raises(ValueError, match="invalid GaussianMixture parameters .*n_threads"):
        fastgmm.load(mutated)


def _with_entry(saved, tmp_path, name, key, index, value):
    """A copy of ``name``'s saved model whose member ``key`` has ``value`` at ``index`` (checksums redone)."""
    path, _ = saved[name]
    members, header = _members_and_header(path)
    members[key] = members[key].copy()
    members[key][index] = value
    mutated = tmp_path / "entry.npz"
    _write_model(mutated, members, header)
    return mutated


def test_an_overflowing_precision_factor_is_refused_without_a_warning(saved, tmp_path):
    # precisions_cholesky_ = 1e308 overflowed when squared (RuntimeWarning) before being refused.
    mutated = _with_entry(saved, tmp_path, "GaussianMixture-diag", "precisions_cholesky_", (0, 0), 1e308)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="disagree"):
            fastgmm.load(mutated)


def test_a_thread_count_beyond_a_c_int_fits():
    # Was an OverflowError ("value too large to convert to int") in the kernel call.
    gm = GaussianMixture(2, n_threads=2**64, random_state=0).fit(REAL)
    assert gm.converged_


@pytest.mark.parametrize("make, param", [
    (lambda: GaussianMixture(2, means_init=0.5), "means_init"),
    (lambda: GaussianMixture(2, weights_init=[1.0]), "weights_init"),
    (lambda: GaussianMixture(2, precisions_init=np.ones(3)), "precisions_init"),
    (lambda: BayesianGaussianMixture(n_components=2, mean_prior=0.5), "mean_prior"),
])
def test_a_wrongly_shaped_init_or_prior_names_the_parameter(make, param):
    # Said only "The parameter 'means' should have the shape of ..." (scikit-learn's wording, kept).
    with pytest.raises(ValueError, match=f"should have the shape of .*: pass {param} of that shape"):
        make().fit(REAL)


def test_a_real_parameter_beyond_int64_is_a_valid_real():
    # reg_covar=2**64 raised TypeError ("ufunc 'isfinite' not supported ...") in validation.
    gm = _quiet_fit(GaussianMixture(1, covariance_type="spherical", reg_covar=2**64), REAL)
    assert gm.covariances_[0] >= 2.0**64


def test_a_real_parameter_beyond_float_range_names_the_parameter():
    with pytest.raises(ValueError, match="'reg_covar' .* must be a float in the range"):
        GaussianMixture(1, reg_covar=10**400).fit(REAL)


def test_a_non_iterable_covariance_types_names_the_parameter():
    # covariance_types=False raised TypeError("'bool' object is not iterable").
    with pytest.raises(ValueError, match="'covariance_types'"):
        GaussianMixtureSelection(n_components=(1, 2), covariance_types=False).fit(REAL)


def test_an_int_alpha_beyond_int64_fits_the_categorical_mixture():
    # alpha=2**64 raised OverflowError ("Python int too large to convert to C long") in the M-step.
    cm = CategoricalMixture(2, alpha=2**64, random_state=0).fit(CODES)
    np.testing.assert_allclose(np.hstack(cm.means_), 1 / 3)     # the prior swamps the counts


@pytest.mark.parametrize("param, value", [("covariance_type", None),
                                          ("weight_concentration_prior_type", "dirichlet")])
def test_a_bad_variational_option_in_the_header_is_refused(saved, tmp_path, param, value):
    # covariance_type=None raised KeyError in BayesianGaussianMixture._validate_loaded.
    path, _ = saved["BayesianGaussianMixture"]
    members, header = _members_and_header(path)
    header["params"][param] = value
    mutated = tmp_path / "option.npz"
    _write_model(mutated, members, header)
    with pytest.raises(ValueError, match=param):
        fastgmm.load(mutated)


def test_a_vanishing_mean_precision_rules_the_component_out_quietly(saved, tmp_path):
    # mean_precision_ of 1e-320 overflowed D / beta (RuntimeWarning) at predict time.
    X = saved["BayesianGaussianMixture"][1]
    mutated = _with_entry(saved, tmp_path, "BayesianGaussianMixture", "mean_precision_", 0, 1e-320)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = fastgmm.load(mutated).predict_proba(X)
    np.testing.assert_array_equal(proba[:, 0], 0.0)


@pytest.mark.parametrize("dof", [1e15, 1e17, 1e308])
def test_a_huge_fixed_dof_gives_the_gaussian_likelihood(dof):
    # log Gamma((nu + D)/2) - log Gamma(nu/2) cancelled: the score was -1.17
    # at nu=1e15, -41.8 at 1e17 (the Gaussian limit: -3.32), NaN at 1e308.
    gm = GaussianMixture(2, random_state=0).fit(REAL)
    t = StudentTMixture(2, dof_init=dof, fix_dof=True, random_state=0).fit(REAL)
    assert t.score(REAL) == pytest.approx(gm.score(REAL), abs=1e-6)


def test_wide_dof_bounds_converge():
    # dof_bounds=(0.1, 1e308): brentq's 200 iterations raised RuntimeError("Failed to converge").
    t = StudentTMixture(2, dof_bounds=(0.1, 1e308), random_state=0).fit(REAL)
    assert np.all(np.isfinite(t.degrees_of_freedom_))


def test_a_subnormal_loaded_dof_is_refused(saved, tmp_path):
    # degrees_of_freedom_ of 5e-324 loaded, and predict took log(0) (half of it is 0).
    mutated = _with_entry(saved, tmp_path, "StudentTMixture", "degrees_of_freedom_", 0, 5e-324)
    with pytest.raises(ValueError, match="degrees_of_freedom_ must be > 0"):
        fastgmm.load(mutated)


@pytest.mark.parametrize("params", [dict(dof_init=5e-324, fix_dof=True), dict(dof_bounds=(5e-324, 10.0))])
def test_a_subnormal_dof_parameter_is_refused(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        StudentTMixture(2, **params).fit(REAL)


def test_a_spherical_covariance_prior_beyond_int64_is_a_number():
    # covariance_prior=2**64 raised TypeError from np.isfinite.
    bgm = _quiet_fit(BayesianGaussianMixture(n_components=1, covariance_type="spherical",
                                             covariance_prior=2**64), REAL)
    assert bgm.covariance_prior_ == 2.0**64


@pytest.mark.parametrize("name", ["BayesianGaussianMixture", "StudentTMixture"])
def test_an_overflowing_family_precision_factor_is_refused_without_a_warning(saved, tmp_path, name):
    # A factor of 1e200 squared to inf, and np.allclose warned "atol: inf" before the refusal.
    mutated = _with_entry(saved, tmp_path, name, "precisions_cholesky_", (0, 0, 0), 1e200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="precisions_"):
            fastgmm.load(mutated)


def test_a_degrees_of_freedom_prior_that_overflows_names_the_parameter():
    # degrees_of_freedom_prior=1.198e308 overflowed the Wishart terms: the lower
    # bound was NaN (full, diag, spherical) or the error blamed reg_covar (tied).
    with pytest.raises(ValueError, match="'degrees_of_freedom_prior' is 1.198e\\+308, too large"):
        BayesianGaussianMixture(n_components=2, degrees_of_freedom_prior=1.198e308, random_state=0).fit(REAL)


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_a_huge_degrees_of_freedom_prior_below_the_limit_fits(cov_type):
    # 1e304 is below max_float / (2048 K D) = 2.2e304 for K = D = 2.
    bgm = _quiet_fit(BayesianGaussianMixture(n_components=2, covariance_type=cov_type,
                                             degrees_of_freedom_prior=1e304, random_state=0), REAL)
    assert np.isfinite(bgm.lower_bound_)
