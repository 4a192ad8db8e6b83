"""The command line's hidden Markov models: fit --model *-hmm --lengths, predict and info on a saved HMM, and one
clear line (exit status 2, no traceback) for each mistake."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastgmm
from fastgmm import hmm
from fastgmm.cli import _main as _cli

from conftest import three_regime_frames

PREFIX = "fastgmm: error: "
LENGTHS = [100, 120, 80]


def run_cli(*args):
    out = subprocess.run([sys.executable, "-m", "fastgmm", *map(str, args)], capture_output=True, text=True,
                         timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return out.returncode, out.stdout, out.stderr


def in_process(capsys, *args):
    status = _cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("hmmcli")
    X = three_regime_frames(300)
    np.savetxt(d / "series.csv", X, delimiter=",", header="price,volume", comments="", fmt="%.6g")
    (d / "lengths.txt").write_text("100\n120\n\n80\n")
    (d / "lengths_header.csv").write_text("length\n100\n120\n80\n")
    np.save(d / "lengths.npy", np.array(LENGTHS))
    np.save(d / "float_lengths.npy", np.array(LENGTHS, dtype=float))
    (d / "short.txt").write_text("100\n100\n")
    (d / "fraction.txt").write_text("100\n120.5\n79.5\n")
    (d / "negative.txt").write_text("100\n-20\n220\n")
    (d / "two_per_line.txt").write_text("100,120\n80\n")
    (d / "empty.txt").write_text("\n")
    (d / "huge.txt").write_text("100\n" + "9" * 30 + "\n")
    rng = np.random.RandomState(0)
    np.savetxt(d / "symbols.csv", rng.randint(0, 4, (300, 1)), fmt="%d")
    np.savetxt(d / "counts.csv", rng.poisson([1.0, 5.0], (300, 2)), delimiter=",", fmt="%d")
    np.savetxt(d / "bits.csv", (rng.rand(300, 3) < 0.4).astype(int), delimiter=",", fmt="%d")
    np.savetxt(d / "trials.csv", rng.multinomial(5, [0.2, 0.8], 300), delimiter=",", fmt="%d")
    return d


def _series(files):
    return np.loadtxt(files / "series.csv", delimiter=",", skiprows=1)


def test_fit_info_predict_as_a_user_runs_them(files, tmp_path):
    model, states = tmp_path / "m.npz", tmp_path / "states.csv"
    status, out, err = run_cli("fit", files / "series.csv", "-k", 3, "--model", "gaussian-hmm", "--lengths",
                               files / "lengths.txt", "--covariance-type", "full", "-o", model, "--labels", states)
    assert status == 0, err
    assert "3 sequences" in out and "GaussianHMM" in out and "BIC" in out
    m = fastgmm.load(model)
    assert type(m) is hmm.GaussianHMM and m.covariance_type == "full"
    assert list(m.feature_names_in_) == ["price", "volume"]
    X = _series(files)
    assert f"BIC {m.bic(X, LENGTHS):.6g}; AIC {m.aic(X, LENGTHS):.6g}" in out
    assert_array_equal(np.loadtxt(states, skiprows=1, dtype=int), m.predict(X, LENGTHS))

    status, out, err = run_cli("predict", model, files / "series.csv", "--lengths", files / "lengths.txt")
    assert status == 0, err
    assert out.splitlines()[0] == "state"
    assert_array_equal(np.array(out.splitlines()[1:], dtype=int), m.predict(X, LENGTHS))

    status, out, err = run_cli("info", model)
    assert status == 0, err
    for text in ("class: GaussianHMM (fastgmm fit --model gaussian-hmm)", "K=3 states", "2 features (price, volume)",
                 "transition matrix", "covariances (full)"):
        assert text in out
    assert "Traceback" not in err


@pytest.mark.parametrize("lengths", ["lengths.txt", "lengths_header.csv", "lengths.npy"])
def test_lengths_files_in_each_accepted_form(files, tmp_path, capsys, lengths):
    out_path = tmp_path / "s.csv"
    status, _, err = in_process(capsys, "fit", files / "series.csv", "-k", 2, "--model", "gaussian-hmm",
                                "--lengths", files / lengths, "--max-iter", 3, "--labels", out_path)
    assert status == 0, err
    m = hmm.GaussianHMM(2, n_iter=3, random_state=0, tol=1e-3 * 300).fit(_series(files), LENGTHS)
    assert_array_equal(np.loadtxt(out_path, skiprows=1, dtype=int), m.predict(_series(files), LENGTHS))


def test_the_options_reach_the_model(files, tmp_path, capsys):
    path = tmp_path / "m.npz"
    status, out, err = in_process(capsys, "fit", files / "series.csv", "-k", 2, "--model", "gmm-hmm", "--n-mix", 2,
                                  "--min-covar", 0.01, "--covariance-type", "spherical", "--max-iter", 4,
                                  "--tol", 0.5, "--random-state", 3, "--threads", 1, "-o", path)
    assert status == 0, err
    m = fastgmm.load(path)
    assert (m.n_mix, m.min_covar, m.covariance_type, m.n_iter, m.random_state, m.n_threads) == \
        (2, 0.01, "spherical", 4, 3, 1)
    assert m.tol == 0.5 * 300        # --tol is per row; the model's is on the total


def test_n_init_keeps_the_best_run(files, tmp_path, capsys):
    path = tmp_path / "m.npz"
    status, _, err = in_process(capsys, "fit", files / "series.csv", "-k", 3, "--model", "gaussian-hmm",
                                "--n-init", 3, "--max-iter", 5, "--random-state", 0, "-o", path)
    assert status == 0, err
    X = _series(files)
    runs = [hmm.GaussianHMM(3, n_iter=5, tol=1e-3 * 300, random_state=s).fit(X).score(X) for s in range(3)]
    assert fastgmm.load(path).score(X) == max(runs)


@pytest.mark.parametrize("name, data, cls", [
    ("categorical-hmm", "symbols.csv", hmm.CategoricalHMM),
    ("poisson-hmm", "counts.csv", hmm.PoissonHMM),
    ("bernoulli-hmm", "bits.csv", hmm.BernoulliHMM),
    ("multinomial-hmm", "trials.csv", hmm.MultinomialHMM),
])
def test_discrete_hmms_fit_save_and_predict(files, tmp_path, capsys, name, data, cls):
    path, states = tmp_path / "m.npz", tmp_path / "s.csv"
    status, out, err = in_process(capsys, "fit", files / data, "-k", 2, "--model", name, "--lengths",
                                  files / "lengths.txt", "--max-iter", 3, "-o", path)
    assert status == 0, err
    m = fastgmm.load(path)
    assert type(m) is cls
    status, _, err = in_process(capsys, "predict", path, files / data, "--lengths", files / "lengths.txt",
                                "-o", states)
    assert status == 0, err
    X = np.loadtxt(files / data, delimiter=",", ndmin=2)
    assert_array_equal(np.loadtxt(states, skiprows=1, dtype=int), m.predict(X.astype(int), LENGTHS))
    status, out, _ = in_process(capsys, "info", path)
    assert status == 0 and f"class: {cls.__name__}" in out


def test_predict_proba_writes_the_state_posteriors(files, tmp_path, capsys):
    path = tmp_path / "m.npz"
    assert in_process(capsys, "fit", files / "series.csv", "-k", 2, "--model", "gaussian-hmm", "--max-iter", 3,
                      "-o", path)[0] == 0
    status, out, err = in_process(capsys, "predict", path, files / "series.csv", "--proba", "--lengths",
                                  files / "lengths.txt")
    assert status == 0, err
    assert out.splitlines()[0] == "p0,p1"
    m = fastgmm.load(path)
    assert_array_equal(np.loadtxt(out.splitlines()[1:], delimiter=","), m.predict_proba(_series(files), LENGTHS))


@pytest.mark.parametrize("args, message", [
    (["--lengths", "short.txt"], "the 2 lengths add up to 200 rows, but .* has 300 rows"),
    (["--lengths", "fraction.txt"], r"line 2: '120.5' is not a whole number"),
    (["--lengths", "negative.txt"], "length 2 is -20; a sequence length must be >= 0"),
    (["--lengths", "two_per_line.txt"], r"line 1: '100,120' is not a whole number"),
    (["--lengths", "empty.txt"], "holds no lengths"),
    (["--lengths", "huge.txt"], "line 2: 9+ is too large for a sequence length"),
    (["--lengths", "float_lengths.npy"], "the lengths must be integers"),
    (["--lengths", "missing.txt"], "no such lengths file"),
    (["--reg-covar", "0.1"], "--reg-covar applies to --model gaussian, bayesian or student-t only"),
    (["--n-mix", "2"], "--n-mix applies to --model gmm-hmm only"),
    (["--nan-policy", "omit"], "--nan-policy omit is not offered by --model gaussian-hmm"),
])
def test_mistakes_are_one_line_errors(files, capsys, args, message):
    args = [str(files / a) if a.endswith((".txt", ".npy")) else a for a in args]
    status, out, err = in_process(capsys, "fit", files / "series.csv", "-k", 2, "--model", "gaussian-hmm", *args)
    assert status == 2
    assert err.startswith(PREFIX) and len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_an_output_that_cannot_be_written_fails_before_the_fit(files, tmp_path, capsys):
    status, out, err = in_process(capsys, "fit", files / "series.csv", "-k", 2, "--model", "gaussian-hmm",
                                  "-o", tmp_path / "no" / "m.npz")
    assert status == 2 and out == "" and "cannot write" in err


def test_hmm_options_with_a_mixture_are_errors(files, tmp_path, capsys):
    status, _, err = in_process(capsys, "fit", files / "series.csv", "-k", 2, "--lengths", files / "lengths.txt")
    assert status == 2 and "--lengths applies to the hidden Markov models only" in err
    path = tmp_path / "gm.npz"
    assert in_process(capsys, "fit", files / "series.csv", "-k", 2, "-o", path)[0] == 0
    status, _, err = in_process(capsys, "predict", path, files / "series.csv", "--lengths", files / "lengths.txt")
    assert status == 2 and "--lengths applies to the hidden Markov models only" in err


def test_model_errors_are_one_line_errors(files, capsys):
    status, _, err = in_process(capsys, "fit", files / "series.csv", "-k", 2, "--model", "poisson-hmm")
    assert status == 2 and err.startswith(PREFIX + "PoissonHMM: X must hold counts")
    status, _, err = in_process(capsys, "fit", files / "series.csv", "-k", 2, "--model", "categorical-hmm")
    assert status == 2 and err.startswith(PREFIX + "CategoricalHMM: X must have shape (n_samples, 1)")


def test_a_wrong_lengths_file_at_predict_is_one_line(files, tmp_path):
    path = tmp_path / "m.npz"
    assert run_cli("fit", files / "series.csv", "-k", 2, "--model", "gaussian-hmm", "--max-iter", 2,
                   "-o", path)[0] == 0
    status, out, err = run_cli("predict", path, files / "series.csv", "--lengths", files / "short.txt")
    assert status == 2 and out == ""
    assert err.startswith(PREFIX) and len(err.splitlines()) == 1 and "Traceback" not in err
