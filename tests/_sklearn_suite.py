"""Run one of scikit-learn's own mixture test modules against a fastgmm estimator.

The module is taken from the installed scikit-learn (never kept in this
repository), copied to a temporary directory with one line changed,
``from sklearn.mixture import Name`` -> ``from fastgmm import Name``, and run
once per session in a subprocess with scikit-learn's conftest loaded as a
plugin (its ``global_dtype`` and ``global_random_seed`` fixtures). Float32
cases are switched on (``SKLEARN_RUN_FLOAT32_TESTS=1``) because fastgmm keeps
float32 input in float32; the global random seed is pinned to
scikit-learn's default, 42.

:func:`suite_tests` makes the fixture and the tests of one such module; a
``tests/test_sklearn_suite*.py`` file puts them in its namespace with its
deselections and documented failures. Each expectation is its own test, so a
failure says which scikit-learn test regressed (or started passing and must
leave the expected failures).
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


def sklearn_test_module(module_file):
    """Path of ``sklearn/mixture/tests/<module_file>`` in the installed scikit-learn, or None."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "mixture" / "tests" / module_file
    return path if path.is_file() else None


def module_functions(module_file):
    """Test function names of the installed module (read at collection, cheap)."""
    try:
        path = sklearn_test_module(module_file)
    except (ImportError, ValueError):
        path = None
    if path is None:
        return []
    return sorted(set(re.findall(r"^def (test\w*)\(", path.read_text(), re.M)))


def base_name(junit_name):
    return junit_name.split("[", 1)[0]


_CONFTEST = '''\
"""Written by fastgmm's tests/_sklearn_suite.py: deselect by exact test function name."""
import json
import os

_DESELECT = set(json.loads(os.environ["FASTGMM_SK_DESELECT"]))


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        name = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
        (drop if name in _DESELECT else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
'''


def run_sklearn_module(tmp_path_factory, module_file, estimator, deselected):
    """Run scikit-learn's ``module_file`` once against ``fastgmm.<estimator>``; return the parsed outcome."""
    pytest.importorskip("sklearn")
    pytest.importorskip("sklearn.conftest", reason="scikit-learn's conftest (its test fixtures) is not installed")
    source = sklearn_test_module(module_file)
    if source is None:
        pytest.skip("scikit-learn is installed without its tests (sklearn/mixture/tests)")
    import sklearn

    sklearn_import = f"from sklearn.mixture import {estimator}\n"
    text = source.read_text()
    n_imports = text.count(sklearn_import)
    assert n_imports == 1, f"{source}: expected one line {sklearn_import!r}, found {n_imports}"
    # Any other way of importing scikit-learn's estimator would test scikit-learn, not fastgmm.
    others = [m.group(0) for m in re.finditer(rf"^.*\bimport\b.*\b{estimator}\b.*$", text, re.M)
              if m.group(0) + "\n" != sklearn_import]
    others += [m.group(0) for m in re.finditer(rf"^.*\bmixture\.{estimator}\b.*$", text, re.M)]
    assert not others, f"{source} also imports scikit-learn's {estimator} another way: {others}"

    work = tmp_path_factory.mktemp("sklearn_suite")
    test_file = work / f"test_sklearn_{Path(module_file).stem[len('test_'):]}.py"
    test_file.write_text(text.replace(sklearn_import, f"from fastgmm import {estimator}\n"))
    (work / "conftest.py").write_text(_CONFTEST)
    (work / "pytest.ini").write_text("[pytest]\naddopts =\n")   # isolates the run from any outer config
    junit = work / "junit.xml"

    env = dict(os.environ)
    env.update(
        SKLEARN_RUN_FLOAT32_TESTS="1",
        SKLEARN_TESTS_GLOBAL_RANDOM_SEED="42",
        FASTGMM_SK_DESELECT=json.dumps(sorted(deselected)),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("SKLEARN_WARNINGS_AS_ERRORS", None)
    cmd = [sys.executable, "-m", "pytest", str(test_file), "-q", "-p", "no:cacheprovider",
           "-p", "sklearn.conftest", "--rootdir", str(work), "-c", str(work / "pytest.ini"),
           f"--junitxml={junit}", "-o", "junit_family=xunit2"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    log = proc.stdout[-20000:] + proc.stderr[-5000:]
    assert proc.returncode in (0, 1), f"pytest exited with {proc.returncode}:\n{log}"
    assert junit.is_file(), f"no junit report:\n{log}"

    outcome, messages, counts = junit_outcomes(junit, proc.stdout, lambda case: case.get("name"))
    return {
        "outcome": outcome, "messages": messages, "counts": counts, "seconds": seconds, "log": log,
        "version": tuple(int(x) for x in re.findall(r"\d+", sklearn.__version__)[:2]),
        "functions": set(re.findall(r"^def (test\w*)\(", text, re.M)),
    }


def junit_outcomes(junit, stdout, name_of):
    """(outcome {name: "passed" | "failed" | "error" | "skipped"}, messages {name: text}, counts) of a junit
    report; ``name_of(case)`` names a test case (None: not counted); ``stdout`` gives the deselected count."""
    outcome, messages = {}, {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = name_of(case)
        if name is None:
            continue
        state = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                state = {"failure": "failed"}.get(child.tag, child.tag)
                messages[name] = (child.get("message") or "")[:500]
                if child.tag != "skipped":
                    break
        # a teardown error is reported as a second <error> in the same case
        if state == "passed" and any(c.tag == "error" for c in case):
            state = "error"
        outcome[name] = state
    counts = {s: sum(v == s for v in outcome.values()) for s in ("passed", "failed", "error", "skipped")}
    m = re.search(r"(\d+) deselected", stdout)
    counts["deselected"] = int(m.group(1)) if m else 0
    return outcome, messages, counts


def suite_tests(module_file, estimator, deselected, expected_failures, known_passed):
    """The ``sklearn_run`` fixture and the tests of one scikit-learn module, by name (for ``globals()``).

    ``deselected``: {test function: reason}, not run at all; ``expected_failures``:
    {junit name: reason}, known to fail (each must still fail); ``known_passed``:
    {(major, minor): minimum number of passed cases} for the scikit-learn
    versions it was measured with.
    """

    @pytest.fixture(scope="module")
    def sklearn_run(tmp_path_factory):
        return run_sklearn_module(tmp_path_factory, module_file, estimator, deselected)

    def test_sklearn_suite_ran(sklearn_run):
        c = sklearn_run["counts"]
        print(f"\nscikit-learn's {module_file} against fastgmm: {c['passed']} passed, "
              f"{c['failed']} failed, {c['error']} errors, {c['skipped']} skipped, {c['deselected']} deselected "
              f"in {sklearn_run['seconds']:.1f} s")
        assert c["passed"] > 0, sklearn_run["log"]

    def test_nothing_errors(sklearn_run):
        errors = {n: sklearn_run["messages"].get(n, "") for n, s in sklearn_run["outcome"].items() if s == "error"}
        assert not errors, f"scikit-learn tests that errored (not failed) against fastgmm: {errors}"

    def test_no_unexpected_failures(sklearn_run):
        failed = {n for n, s in sklearn_run["outcome"].items() if s == "failed"}
        unexpected = {n: sklearn_run["messages"].get(n, "") for n in sorted(failed - set(expected_failures))}
        assert not unexpected, (
            "scikit-learn tests that fail against fastgmm and are not documented differences "
            f"(regressions): {unexpected}"
        )

    def test_passed_count(sklearn_run):
        known = known_passed.get(sklearn_run["version"])
        if known is None:
            pytest.skip(f"no passed count recorded for scikit-learn {sklearn_run['version']}")
        assert sklearn_run["counts"]["passed"] >= known, sklearn_run["counts"]

    @pytest.mark.parametrize("name", sorted(deselected))
    def test_deselected_test_exists(sklearn_run, name):
        # A name that no longer matches anything would silently stop deselecting.
        if name not in sklearn_run["functions"]:
            pytest.skip(f"{name} is not in this scikit-learn version's module")

    @pytest.mark.parametrize("name", sorted(expected_failures) or ["<none>"])
    def test_expected_difference(sklearn_run, name):
        """Each documented difference still fails; once fixed it must leave the expected failures."""
        if name == "<none>":
            pytest.skip("no documented differences")
        if base_name(name) not in sklearn_run["functions"]:
            pytest.skip(f"{base_name(name)} is not in this scikit-learn version's module")
        state = sklearn_run["outcome"].get(name)
        if state is None:
            pytest.skip(f"{name} was not collected (parametrisation absent in this scikit-learn version)")
        assert state == "failed", (
            f"scikit-learn's {name} now {state} against fastgmm: remove it from the expected failures "
            f"(reason recorded: {expected_failures[name]})"
        )

    @pytest.mark.parametrize("function", [f for f in module_functions(module_file) if f not in deselected]
                             or ["<none>"])
    def test_sklearn_test_passes(sklearn_run, function):
        """One test per scikit-learn test function: all its cases pass, but the documented differences."""
        cases = {n: s for n, s in sklearn_run["outcome"].items() if base_name(n) == function}
        assert cases, f"scikit-learn's {function} was not run"
        bad = {n: (s, sklearn_run["messages"].get(n, "")) for n, s in cases.items()
               if s in ("failed", "error") and n not in expected_failures}
        assert not bad, f"scikit-learn's {function} regressed against fastgmm: {bad}"

    return {f.__name__: f for f in (
        test_sklearn_suite_ran, test_nothing_errors, test_no_unexpected_failures, test_passed_count,
        test_deselected_test_exists, test_expected_difference, test_sklearn_test_passes)} | {
        "sklearn_run": sklearn_run}
