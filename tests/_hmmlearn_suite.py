"""Run hmmlearn's own HMM test modules against ``fastgmm.hmm``.

The modules are taken from the installed hmmlearn (never kept in this
repository): its ``hmmlearn/tests`` package is copied to a temporary
directory with one change per module, its import of the models
(``from .. import hmm`` or ``from hmmlearn import hmm``) becoming
``from fastgmm import hmm``; the package's helpers (``normalize``,
``make_covar_matrix`` ...) stay hmmlearn's. All modules run once per session
in one subprocess, with hmmlearn's conftest (which seeds NumPy's global
generator) given a fixed seed so the run is deterministic.

:func:`suite_tests` makes the fixture and the tests; ``tests/test_hmmlearn_suite.py``
puts them in its namespace with its deselections and documented failures.
Each hmmlearn test function becomes its own test here, so a failure says which
of hmmlearn's tests regressed.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _sklearn_suite import junit_outcomes

SEED = "20261207"

# hmmlearn's imports of what fastgmm.hmm provides, and their replacements.
_IMPORTS = {
    "from .. import hmm\n": "from fastgmm import hmm\n",
    "from hmmlearn import hmm\n": "from fastgmm import hmm\n",
    "from ..hmm import GMMHMM\n": "from fastgmm.hmm import GMMHMM\n",
    "from hmmlearn.base import ConvergenceMonitor\n": "from fastgmm.hmm import ConvergenceMonitor\n",
}

_CONFTEST_EXTRA = '''

# Written by fastgmm's tests/_hmmlearn_suite.py: deselect by exact test id (module::Class::function).
import json as _json
import os as _os

_DESELECT = set(_json.loads(_os.environ["FASTGMM_HMM_DESELECT"]))


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        key = function_key(item.nodeid)
        (drop if key in _DESELECT else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def function_key(nodeid):
    path, _, rest = nodeid.partition("::")
    return path.rsplit("/", 1)[-1] + "::" + rest.split("[", 1)[0]
'''


def hmmlearn_tests_dir():
    spec = importlib.util.find_spec("hmmlearn")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "tests"
    return path if path.is_dir() else None


def function_key(module_file, classname, name):
    """``module.py::Class::function`` (or ``module.py::function``) of a junit test case."""
    cls = classname.rsplit(".", 1)[-1] if classname else ""
    base = name.split("[", 1)[0]
    mod_stem = Path(module_file).stem
    return f"{module_file}::{base}" if cls in ("", mod_stem) else f"{module_file}::{cls}::{base}"


def run_hmmlearn_modules(tmp_path_factory, module_files, deselected):
    """Run hmmlearn's ``module_files`` once against fastgmm.hmm; return the parsed outcome."""
    pytest.importorskip("hmmlearn")
    pytest.importorskip("sklearn", reason="hmmlearn's tests import scikit-learn")
    source = hmmlearn_tests_dir()
    if source is None:
        pytest.skip("hmmlearn is installed without its tests (hmmlearn/tests)")
    work = tmp_path_factory.mktemp("hmmlearn_suite")
    pkg = work / "hmmlearn_tests"
    pkg.mkdir()
    shutil.copy(source / "__init__.py", pkg / "__init__.py")
    (pkg / "conftest.py").write_text((source / "conftest.py").read_text() + _CONFTEST_EXTRA)
    texts = {}
    for module_file in module_files:
        text = (source / module_file).read_text()
        found = [imp for imp in _IMPORTS if imp in text]
        assert found, f"{source / module_file}: found no import of hmmlearn's models to swap"
        for imp in found:
            assert text.count(imp) == 1, f"{module_file}: {imp!r} appears {text.count(imp)} times"
            text = text.replace(imp, _IMPORTS[imp])
        # Any other route to hmmlearn's models would test hmmlearn, not fastgmm.
        others = re.findall(r"^.*(?:hmmlearn\.(?:hmm|vhmm|base)|from hmmlearn import .*\bv?hmm\b|from \.\.(?:v?hmm|base)"
                            r"\b).*$", text, re.M)
        assert not others, f"{module_file} also reaches hmmlearn's models another way: {others}"
        (pkg / module_file).write_text(text)
        texts[module_file] = text
    (work / "pytest.ini").write_text("[pytest]\naddopts =\n")
    junit = work / "junit.xml"
    env = dict(os.environ)
    env.update(HMMLEARN_SEED=SEED, FASTGMM_HMM_DESELECT=json.dumps(sorted(deselected)), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "hmmlearn_tests", "-q", "-p", "no:cacheprovider", "--rootdir",
           str(work), "-c", str(work / "pytest.ini"), f"--junitxml={junit}", "-o", "junit_family=xunit2"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    seconds = time.perf_counter() - start
    log = proc.stdout[-20000:] + proc.stderr[-5000:]
    assert proc.returncode in (0, 1), f"pytest exited with {proc.returncode}:\n{log}"
    assert junit.is_file(), f"no junit report:\n{log}"
    def name_of(case):
        classname = case.get("classname") or ""
        module_file = next((p + ".py" for p in classname.split(".") if p + ".py" in texts), None)
        if module_file is None:
            return None
        name = case.get("name")
        return function_key(module_file, classname, name) + name[len(name.split("[", 1)[0]):]

    outcome, messages, counts = junit_outcomes(junit, proc.stdout, name_of)
    return {"outcome": outcome, "messages": messages, "counts": counts, "seconds": seconds, "log": log}


def base_key(full):
    return full.split("[", 1)[0]


def suite_tests(module_files, deselected, expected_failures):
    """The ``hmmlearn_run`` fixture and the tests, by name (for ``globals()``).

    ``deselected``: {``module.py::Class::function``: reason}, not run at all;
    ``expected_failures``: {test id, with its parametrisation where only some
    cases fail: reason}, known to fail (each must still fail).
    """

    @pytest.fixture(scope="module")
    def hmmlearn_run(tmp_path_factory):
        return run_hmmlearn_modules(tmp_path_factory, module_files, deselected)

    def test_hmmlearn_suite_ran(hmmlearn_run):
        c = hmmlearn_run["counts"]
        print(f"\nhmmlearn's tests against fastgmm.hmm: {c['passed']} passed, {c['failed']} failed, "
              f"{c['error']} errors, {c['skipped']} skipped, {c['deselected']} deselected "
              f"in {hmmlearn_run['seconds']:.1f} s")
        assert c["passed"] > 0, hmmlearn_run["log"]

    def test_nothing_errors(hmmlearn_run):
        errors = {n: hmmlearn_run["messages"].get(n, "") for n, s in hmmlearn_run["outcome"].items() if s == "error"}
        assert not errors, f"hmmlearn tests that errored against fastgmm.hmm: {errors}"

    @pytest.mark.parametrize("name", sorted(expected_failures) or ["<none>"])
    def test_expected_difference(hmmlearn_run, name):
        """Each documented difference still fails; once fixed it must leave the expected failures."""
        if name == "<none>":
            pytest.skip("no documented differences")
        state = hmmlearn_run["outcome"].get(name)
        assert state is not None, f"{name} was not run: update the expected failures"
        assert state == "failed", (f"hmmlearn's {name} now {state} against fastgmm.hmm: remove it from the "
                                   f"expected failures (reason recorded: {expected_failures[name]})")

    @pytest.mark.parametrize("name", sorted(deselected) or ["<none>"])
    def test_deselected_test_exists(hmmlearn_run, name):
        # A key that no longer matches anything would silently stop deselecting.
        if name == "<none>":
            pytest.skip("nothing deselected")
        ran = {base_key(n) for n in hmmlearn_run["outcome"]}
        assert name not in ran, f"{name} was deselected but ran"
        module, _, rest = name.partition("::")
        text = (hmmlearn_tests_dir() / module).read_text()
        if f"def {rest.rsplit('::', 1)[-1]}(" not in text:
            pytest.skip(f"{name} is not in this hmmlearn version's tests")

    @pytest.mark.parametrize("module_file", module_files)
    def test_hmmlearn_module_passes(hmmlearn_run, module_file):
        """Every case of one hmmlearn module passes (or xfails as hmmlearn marks it), but the documented
        differences."""
        cases = {n: s for n, s in hmmlearn_run["outcome"].items() if n.startswith(module_file + "::")}
        assert cases, f"hmmlearn's {module_file} was not run"
        bad = {n: (s, hmmlearn_run["messages"].get(n, "")) for n, s in cases.items()
               if s in ("failed", "error") and n not in expected_failures}
        assert not bad, f"hmmlearn's tests that fail against fastgmm.hmm: {bad}"

    return {f.__name__: f for f in (test_hmmlearn_suite_ran, test_nothing_errors, test_expected_difference,
                                    test_deselected_test_exists, test_hmmlearn_module_passes)} | {
        "hmmlearn_run": hmmlearn_run}
