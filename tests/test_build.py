"""The compiled extension loads and reports its build honestly."""

import os
import subprocess
import sys

import pytest

import fastgmm
from fastgmm.kernels import _openmp_helpers


def test_show_config_reports_openmp(capsys):
    fastgmm.show_config()
    out = capsys.readouterr().out
    assert "OpenMP" in out
    expected = "enabled" if _openmp_helpers.openmp_enabled() else "DISABLED"
    assert expected in out


def test_build_info_keys():
    info = fastgmm.build_info()
    assert info["version"] == fastgmm.__version__
    assert isinstance(info["openmp"], bool)
    assert info["max_threads"] >= 1
    assert info["openmp_version"] > 0 if info["openmp"] else info["openmp_version"] == 0


@pytest.mark.skipif(not _openmp_helpers.openmp_enabled(), reason="built without OpenMP")
def test_effective_n_threads_resolution():
    m = _openmp_helpers.effective_n_threads(None)
    assert m >= 1
    assert _openmp_helpers.effective_n_threads(1) == 1
    assert _openmp_helpers.effective_n_threads(3) == 3
    assert _openmp_helpers.effective_n_threads(-1) == m
    assert _openmp_helpers.effective_n_threads(-(m + 5)) == 1


@pytest.mark.parametrize("bad", [0, 1.5, "2", True])
def test_effective_n_threads_rejects(bad):
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        _openmp_helpers.effective_n_threads(bad)


@pytest.mark.skipif(not _openmp_helpers.openmp_enabled(), reason="built without OpenMP")
def test_omp_num_threads_is_honoured():
    code = "from fastgmm.kernels import _openmp_helpers as h; print(h.effective_n_threads(None))"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_cli_config_runs():
    out = subprocess.run([sys.executable, "-m", "fastgmm", "config"], capture_output=True, text=True, check=True)
    assert "fastgmm" in out.stdout
    assert "OpenMP" in out.stdout
