"""Put the repository's tests/ on sys.path: the NumPy reference implementations (the test oracles the
benchmarks compare against) live there, not in the installed package."""

import pathlib
import sys

TESTS = str(pathlib.Path(__file__).resolve().parent.parent / "tests")
if TESTS not in sys.path:
    sys.path.append(TESTS)
