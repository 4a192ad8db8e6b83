"""The fastgmm command line: the commands on real files, and one clear line for each user mistake.

Error messages are checked in-process through ``fastgmm.cli._main.main`` (fast); a
handful of subprocess runs check the installed entry points, exit codes and
that no traceback reaches the user.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastgmm
from fastgmm.cli import _main as _cli
from fastgmm.cli._main import MODELS
from fastgmm.datasets import load_faithful

PREFIX = "fastgmm: error: "


def run_cli(*args):
    """The command run as a user runs it: (exit status, stdout, stderr)."""
    out = subprocess.run([sys.executable, "-m", "fastgmm", *map(str, args)], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return out.returncode, out.stdout, out.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X = load_faithful().data
    np.savetxt(d / "faithful.csv", X, delimiter=",", header="eruptions,waiting", comments="", fmt="%.6g")
    np.savetxt(d / "faithful.tsv", X, delimiter="\t", fmt="%.6g")           # no header
    np.save(d / "faithful.npy", X)
    (d / "mixed.csv").write_text("a,b,name\n1,2,x\n3,,y\n5,6,z\n7,8,w\n4,1,v\n")
    (d / "header_only.csv").write_text("a,b\n")
    (d / "empty.csv").write_text("")
    (d / "ragged.csv").write_text("1,2\n3\n")
    (d / "binary.csv").write_bytes(b"\x89PNG\x00\xff\xfe")
    (d / "data.xlsx").write_text("x")
    np.save(d / "cube.npy", np.zeros((2, 2, 2)))
    (d / "model.npz").write_bytes(b"not a model")
    rng = np.random.default_rng(0)
    p = np.linspace(0.1, 0.9, 5)
    binary = np.vstack([rng.random((120, 5)) < p, rng.random((80, 5)) < p[::-1]]).astype(int)
    np.savetxt(d / "bits.csv", binary, delimiter=",", fmt="%d", header="a,b,c,d,e", comments="")
    counts = np.vstack([rng.poisson([1.0, 6.0, 20.0], (120, 3)), rng.poisson([9.0, 2.0, 3.0], (80, 3))])
    np.savetxt(d / "counts.csv", counts, delimiter=",", fmt="%d")
    y = rng.integers(2, size=200)
    codes = np.where(rng.random((200, 3)) < 0.85, y[:, None], rng.integers(3, size=(200, 3)))
    np.savetxt(d / "codes.csv", codes, delimiter=",", fmt="%d")
    return d


def in_process(capsys, *args):
    status = _cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_fit_predict_info_round_trip(files, tmp_path):
    model, labels, proba = tmp_path / "m.npz", tmp_path / "labels.csv", tmp_path / "proba.csv"
    status, out, err = run_cli("fit", files / "faithful.csv", "-k", 3, "--covariance-type", "tied",
                               "--random-state", 0, "-o", model, "--labels", labels, "--proba", proba)
    assert status == 0, err
    for word in ("K=3", "covariance_type=tied", "converged: True", "log-likelihood", "BIC", "time"):
        assert word in out
    gm = fastgmm.load(model)
    X = np.loadtxt(files / "faithful.csv", delimiter=",", skiprows=1)
    assert list(gm.feature_names_in_) == ["eruptions", "waiting"]
    del gm.feature_names_in_
    np.testing.assert_array_equal(np.loadtxt(labels, skiprows=1, dtype=int), gm.predict(X))
    np.testing.assert_array_equal(np.loadtxt(proba, skiprows=1, delimiter=","), gm.predict_proba(X))

    status, out, err = run_cli("predict", model, files / "faithful.csv", "--proba")
    assert status == 0, err
    assert out.splitlines()[0] == "p0,p1,p2"
    np.testing.assert_array_equal(np.loadtxt(out.splitlines()[1:], delimiter=","), gm.predict_proba(X))

    status, out, err = run_cli("info", model)
    assert status == 0
    assert "GaussianMixture" in out
    assert "eruptions, waiting" in out


def test_select_writes_a_selection(files, tmp_path, capsys):
    best = tmp_path / "best.npz"
    status, out, err = in_process(capsys, "select", files / "faithful.npy", "-k", "1-4",
                                  "--covariance-types", "full,tied", "-o", best)
    assert status == 0, err
    assert "best: tied K=3" in out
    assert out.count("\ntied ") == 4
    sel = fastgmm.load(best)
    assert sel.best_params_ == {"covariance_type": "tied", "n_components": 3}
    status, out, _ = in_process(capsys, "predict", best, files / "faithful.tsv", "-o", tmp_path / "l.csv")
    assert status == 0
    assert (tmp_path / "l.csv").read_text().splitlines()[0] == "label"
    status, out, _ = in_process(capsys, "info", best)
    assert status == 0
    assert "chosen: tied K=3 by BIC" in out


def test_columns_by_name_and_index_and_missing_values(files, tmp_path, capsys):
    status, out, err = in_process(capsys, "fit", files / "mixed.csv", "-k", 1, "--columns", "a,b",
                                  "--nan-policy", "omit", "--labels", tmp_path / "l.csv")
    assert status == 0, err
    assert "1 rows with NaN omitted" in out
    assert (tmp_path / "l.csv").read_text().split() == ["label", "0", "-1", "0", "0", "0"]
    status, _, err = in_process(capsys, "fit", files / "mixed.csv", "-k", 1, "--columns", "1,0",
                                "--nan-policy", "marginalize")
    assert status == 0, err


@pytest.mark.parametrize("args, message", [
    (("fit", "{d}/nothing.csv", "-k", 2), "no such file: {d}/nothing.csv"),
    (("fit", "{d}/mixed.csv", "-k", 2), "{d}/mixed.csv: column 'name' is not numeric (row 2: 'x'); choose numeric "
                                        "columns with --columns"),
    (("fit", "{d}/mixed.csv", "-k", 2, "--columns", "a,c"), "{d}/mixed.csv has no column 'c'; its columns are a, b, name"),
    (("fit", "{d}/mixed.csv", "-k", 2, "--columns", "0,7"), "column index 7 is out of range: {d}/mixed.csv has 3 "
                                                            "columns (0 to 2)"),
    (("fit", "{d}/mixed.csv", "-k", 2, "--columns", "a,b"), "Input X contains NaN."),
    (("fit", "{d}/faithful.npy", "-k", 2, "--columns", "a"), "has no header row, so --columns must be 0-based"),
    (("fit", "{d}/empty.csv", "-k", 2), "{d}/empty.csv is empty"),
    (("fit", "{d}/header_only.csv", "-k", 2), "{d}/header_only.csv has no data rows"),
    (("fit", "{d}/ragged.csv", "-k", 1), "{d}/ragged.csv: row 2 has 1 fields, the first has 2"),
    (("fit", "{d}/binary.csv", "-k", 1), "is not a UTF-8 text file"),
    (("fit", "{d}/data.xlsx", "-k", 1), "unsupported input format '.xlsx'; use .csv, .tsv, .npy or .parquet"),
    (("fit", "{d}/cube.npy", "-k", 1), "holds a 3-d array; expected 2-d"),
    (("fit", "{d}/faithful.npy", "-k", 300), "Expected n_samples >= n_components"),
    (("fit", "{d}/faithful.npy", "-k", 2, "-o", "{d}/no/such/dir/m.npz"), "cannot write {d}/no/such/dir/m.npz: "
                                                                          "no directory {d}/no/such/dir"),
    (("predict", "{d}/model.npz", "{d}/faithful.csv"), "is not a valid fastgmm model file: not a NumPy .npz archive."),
    (("predict", "{d}/faithful.npy", "{d}/faithful.csv"), "not a valid fastgmm model file: a single .npy array"),
    (("info", "{d}/nothing.npz"), "no such model file: {d}/nothing.npz"),
])
def test_user_mistakes_give_one_line(files, capsys, args, message):
    d = str(files)
    status, out, err = in_process(capsys, *(a.format(d=d) if isinstance(a, str) else a for a in args))
    assert status == 2
    assert err.startswith(PREFIX), err
    assert err.count("\n") == 1, err
    assert message.format(d=d) in err


def test_predict_needs_the_model_columns(files, tmp_path, capsys):
    model = tmp_path / "m.npz"
    assert in_process(capsys, "fit", files / "faithful.csv", "-k", 2, "-o", model)[0] == 0
    status, _, err = in_process(capsys, "predict", model, files / "mixed.csv")
    assert status == 2
    assert err == f"{PREFIX}{files / 'mixed.csv'} lacks the model's column(s) eruptions, waiting\n"


@pytest.mark.parametrize("args, message", [
    (("fit", "x.csv", "-k", "0"), "argument -k/--n-components: invalid number of components '0'"),
    (("fit", "x.csv", "-k", "abc"), "invalid number of components 'abc': use e.g. 3, 1-10 or 1,2,5"),
    (("fit", "x.csv", "-k", "2-4"), "fit takes one K, got '2-4'"),
    (("select", "x.csv", "-k", "5-1"), "invalid number of components '5-1'"),
    (("select", "x.csv", "--covariance-types", "full,banana"), "invalid covariance type(s) ['banana']"),
    (("fit", "x.csv", "-k", "2", "--threads", "0"), "argument --threads: 0 threads"),
    (("fit", "x.csv", "-k", "2", "--tol", "abc"), "argument --tol: expected a number, got 'abc'"),
    (("demo", "--n-samples", "-5"), "argument --n-samples: must be >= 2, got -5"),
    (("fit", "x.csv"), "the following arguments are required: -k/--n-components"),
])
def test_bad_options_give_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        _cli.main(list(args))
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert err.startswith(PREFIX), err
    assert err.count("\n") == 1, err
    assert message in err, err


def test_parse_components():
    assert _cli.parse_components("3") == [3]
    assert _cli.parse_components("1-4") == [1, 2, 3, 4]
    assert _cli.parse_components("2-3,8,1") == [1, 2, 3, 8]


def test_errors_through_the_entry_point_have_no_traceback(files):
    for args, message in [
        (("fit", files / "bits.csv", "-k", 2, "--model", "poisson", "--binarize", "0.5"),
         "--binarize applies to --model bernoulli only"),
        (("fit", files / "mixed.csv", "-k", 2), "column 'name' is not numeric"),
        (("predict", files / "model.npz", files / "faithful.csv"), "not a valid fastgmm model file"),
        (("demo", "--n-samples", "-5"), "must be >= 2"),
        (("fit", files / "faithful.csv", "-k", "x"), "invalid number of components"),
    ]:
        status, out, err = run_cli(*args)
        assert status == 2, err
        assert err.startswith(PREFIX), err
        assert "Traceback" not in err, err
        assert message in err, err


def test_version_help_config():
    status, out, _ = run_cli("--version")
    assert status == 0
    assert out.strip() == f"fastgmm {fastgmm.__version__}"
    status, out, _ = run_cli("fit", "--help")
    assert status == 0
    for option in ("--columns", "--covariance-type", "--n-init", "--random-state", "--nan-policy", "--max-iter",
                   "--tol", "--reg-covar", "--threads", "--labels", "--proba", "--output"):
        assert option in out


_SMALL_DEMO = ("demo", "--n-samples", 3000, "--n-features", 2, "--n-components", 2, "--no-compare")


def test_demo_small(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = in_process(capsys, *_SMALL_DEMO, "--no-plots")
    assert status == 0, err
    assert "chosen: tied K=3" in out
    assert "drawn from 2 Gaussians" in out
    assert not os.listdir(tmp_path)
    assert "plots" not in out


def test_demo_writes_plots(capsys, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    status, out, err = in_process(capsys, *_SMALL_DEMO)   # default: ./fastgmm-demo-plots
    assert status == 0, err
    names = ["convergence.png", "faithful_ellipses.png", "faithful_selection.png"]
    where = tmp_path / "fastgmm-demo-plots"
    assert sorted(os.listdir(where)) == names
    assert f"plots written to {where}" in out
    for name in names:
        assert (where / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    status, out, err = in_process(capsys, *_SMALL_DEMO, "--plots", "elsewhere/figs")
    assert status == 0, err
    assert sorted(os.listdir(tmp_path / "elsewhere" / "figs")) == names


def test_demo_without_matplotlib_writes_no_plots(capsys, tmp_path, monkeypatch):
    from fastgmm.cli import _demo

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_demo, "have_matplotlib", lambda: False)
    status, out, err = in_process(capsys, *_SMALL_DEMO)
    assert status == 0, err
    assert "install matplotlib to get the demo's plots" in out
    assert not os.listdir(tmp_path)
    status, _, err = run_cli("demo", "--plots", "d", "--no-plots")
    assert status == 2
    assert "not allowed with" in err


def test_bench_small(capsys):
    status, out, err = in_process(capsys, "bench", "--n-samples", 2000, "--n-features", 2, "--n-components", 2,
                                  "--n-iter", 2)
    assert status == 0, err
    assert "NumPy reference" in out
    assert "lower bounds agree" in out


# ----------------------------------------------------------------------
# every model through fit, predict and info
# ----------------------------------------------------------------------
# (data file, options of its own, a line 'fit' and 'info' print for this model only)
_EVERY_MODEL = {
    "gaussian": ("faithful.csv", ("--covariance-type", "diag"), "covariance_type=diag"),
    "bayesian": ("faithful.csv", ("--weight-concentration-prior", "0.01"), "weight_concentration_prior=0.01"),
    "student-t": ("faithful.csv", ("--dof-init", "5", "--covariance-type", "spherical"), "degrees of freedom: "),
    "bernoulli": ("bits.csv", ("--alpha", "0.5"), "alpha=0.5, binarize=None"),
    "poisson": ("counts.csv", ("--alpha", "1"), "alpha=1,"),
    "categorical": ("codes.csv", ("--alpha", "1"), "categories per feature: 3, 3, 3"),
}


def test_every_model_has_a_round_trip_test():
    assert set(_EVERY_MODEL) == set(MODELS)


@pytest.mark.parametrize("name", list(_EVERY_MODEL))
def test_fit_predict_info_for_every_model(files, tmp_path, name):
    data, options, own_line = _EVERY_MODEL[name]
    cls = MODELS[name].cls
    model_file = tmp_path / "m.npz"
    status, out, err = run_cli("fit", files / data, "-k", 2, "--model", name, *options, "-o", model_file)
    assert (status, err) == (0, "")
    assert f"model: {name} ({cls.__name__}), K=2" in out
    assert own_line in out
    # the Bayesian mixture has no BIC: its lower bound is printed instead
    assert ("no BIC for a Bayesian mixture" in out) == (name == "bayesian")
    assert ("; BIC " in out) == (name != "bayesian")

    model = fastgmm.load(model_file)
    assert type(model) is cls
    X = np.loadtxt(files / data, delimiter=",", skiprows=1 if name in ("gaussian", "bayesian", "student-t",
                                                                         "bernoulli") else 0)
    if hasattr(model, "feature_names_in_"):
        del model.feature_names_in_
    status, out, err = run_cli("predict", model_file, files / data)
    assert (status, err) == (0, "")
    np.testing.assert_array_equal(np.loadtxt(out.splitlines()[1:], dtype=int), model.predict(X))

    status, out, err = run_cli("info", model_file)
    assert (status, err) == (0, "")
    assert f"class: {cls.__name__} (fastgmm fit --model {name})" in out
    assert own_line in out
    assert ("covariance_type=" in out) == (name in ("gaussian", "bayesian", "student-t"))


@pytest.mark.parametrize("name, args, message", [
    ("poisson", ("--binarize", "0.5"), "--binarize applies to --model bernoulli only"),
    ("gaussian", ("--alpha", "1"), "--alpha applies to --model bernoulli, poisson or categorical only"),
    ("bayesian", ("--dof-init", "3"), "--dof-init applies to --model student-t only"),
    ("gaussian", ("--fix-dof",), "--fix-dof applies to --model student-t only"),
    ("student-t", ("--weight-concentration-prior", "1"),
     "--weight-concentration-prior applies to --model bayesian only"),
    ("bernoulli", ("--covariance-type", "full"), "--covariance-type applies to --model gaussian, bayesian or "
                                                 "student-t only"),
    ("categorical", ("--reg-covar", "1e-3"), "--reg-covar applies to --model gaussian, bayesian or student-t only"),
    ("student-t", ("--covariance-type", "tied"), "--covariance-type tied: --model student-t takes full, diag or "
                                                 "spherical"),
])
def test_an_option_the_model_does_not_take_is_one_line(files, capsys, name, args, message):
    status, out, err = in_process(capsys, "fit", files / "faithful.csv", "-k", 2, "--model", name, *args)
    assert (status, out, err) == (2, "", f"{PREFIX}{message}\n")


@pytest.mark.parametrize("name", list(_EVERY_MODEL))
def test_nan_policy_goes_to_the_models_that_take_it(files, tmp_path, capsys, name):
    # Whether a model takes nan_policy is its get_params(): the command follows the estimators.
    lines = (files / _EVERY_MODEL[name][0]).read_text().splitlines()
    holed = tmp_path / "holed.csv"
    holed.write_text("\n".join(lines + ["," + lines[-1].split(",", 1)[1]]) + "\n")   # a row missing its first value
    status, out, err = in_process(capsys, "fit", holed, "-k", 2, "--model", name, "--nan-policy", "omit")
    if "nan_policy" in MODELS[name].cls().get_params():
        assert (status, err) == (0, "")
        assert "; 1 rows with NaN omitted" in out
    else:
        taking = [n for n in MODELS if "nan_policy" in MODELS[n].cls().get_params()]
        assert (status, err) == (2, f"{PREFIX}--nan-policy applies to --model {', '.join(taking[:-1])} or "
                                    f"{taking[-1]} only\n")


def test_an_estimator_remedy_names_the_option(files, capsys):
    status, _, err = in_process(capsys, "fit", files / "counts.csv", "-k", 2, "--model", "bernoulli")
    assert status == 2
    assert err.rstrip().endswith("(on the command line, --binarize sets binarize)")


def test_bernoulli_binarize_reads_real_data_as_binary(files, capsys):
    status, out, err = in_process(capsys, "fit", files / "faithful.csv", "-k", 2, "--model", "bernoulli",
                                  "--binarize", "3.5")
    assert (status, err) == (0, "")
    assert "binarize=3.5" in out


def test_bayesian_fit_reports_the_components_it_uses(files, capsys):
    status, out, err = in_process(capsys, "fit", files / "faithful.csv", "-k", 8, "--model", "bayesian",
                                  "--weight-concentration-prior", "0.01", "--max-iter", "500")
    assert (status, err) == (0, "")
    assert "components used: 2 of 8 (those explaining at least one row)" in out


def test_info_of_a_selection_counts_the_iterations_it_stored(files, tmp_path, capsys):
    best = tmp_path / "best.npz"
    assert in_process(capsys, "select", files / "faithful.npy", "-k", "1-3", "-o", best)[0] == 0
    sel = fastgmm.load(best)
    n_iter = sel.best_estimator_.n_iter_
    assert sel.results_["n_iter"][sel.best_index_] == n_iter    # the table's count is the same run's
    status, out, err = in_process(capsys, "info", best)
    assert (status, err) == (0, "")
    assert f"converged: {sel.best_estimator_.converged_} after {n_iter} iterations;" in out


def test_a_selection_counts_the_start_run_and_the_polish_as_one_run():
    X = load_faithful().data
    sel = fastgmm.GaussianMixtureSelection(n_components=[2], covariance_types=["full"], random_state=0).fit(X)
    gm = sel.best_estimator_
    # the polish continues the start's run at a tighter tol: both parts are counted and kept in the history
    assert gm.n_iter_ == len(gm.lower_bounds_)
    assert gm.n_iter_ >= 2
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-9)


def test_info_of_a_selection_file_has_no_traceback(files, tmp_path):
    best = tmp_path / "best.npz"
    assert run_cli("select", files / "faithful.csv", "-k", "1-2", "--covariance-types", "full", "-o", best)[0] == 0
    status, out, err = run_cli("info", best)
    assert (status, err) == (0, "")
    assert "best model: GaussianMixture: K=" in out


def test_the_demo_does_not_import_the_command_line():
    # The demo is run by the command line ('fastgmm demo'); importing it back, even inside a function,
    # would make an import cycle.
    import ast
    import inspect

    from fastgmm.cli import _demo

    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(_demo))):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not {m for m in imported if m and m.split(".")[-1] == "_cli"}
