"""The E-step's inline exp (src/fastgmm/kernels/_fastexp.h) against libm.

The log-sum-exp of every E-step pass calls it once per (row, component), on
differences lp - max <= 0: the responsibilities carry its error, so it must
stay within about an ulp of exp everywhere on [-708, 0], and give exactly 0
where the log-sum-exp reads a term as impossible.
"""

import math

import numpy as np
import pytest

from fastgmm.kernels import _estep

EPS = np.finfo(np.float64).eps   # 2^-52
STEP = math.log(2) / 64          # the table's spacing: reduction boundaries at (k + 1/2) STEP


def _kernel_exp(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _estep.exp_nonpositive(x, out)
    return out


def _arguments():
    rng = np.random.default_rng(0)
    k = np.arange(0, 708 / STEP, 7.0)
    return np.concatenate([
        -rng.uniform(0, 708, 100_000),             # the whole range
        -rng.uniform(0, 40, 100_000),              # where responsibilities are not negligible
        -np.exp(rng.uniform(-700, 0, 10_000)),     # tiny differences, exp close to 1
        -(k + 0.5) * STEP,                         # the reduction's rounding boundaries
        np.nextafter(-(k + 0.5) * STEP, 0),
        -k * STEP,                                 # table points
        [0.0, -0.0, -708.0, -1e-300, -5e-324],
    ])


def test_within_two_ulps_of_libm_on_the_whole_range():
    x = _arguments()
    expected = np.array([math.exp(v) for v in x])
    rel = np.abs(_kernel_exp(x) - expected) / expected
    assert rel.max() <= 2 * EPS


def test_exp_of_zero_is_one():
    assert np.array_equal(_kernel_exp([0.0, -0.0, -5e-324]), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("x", [np.nextafter(-708.0, -np.inf), -745.2, -1e300, -np.inf,
                               np.inf, np.nan, 1e-300, 1.0])
def test_zero_outside_the_normal_nonpositive_range(x):
    # Below -708: a term under 1e-307 of the largest; +inf, NaN and x > 0 only come from
    # log-densities that overflowed, which the log-sum-exp reads as impossible terms.
    assert _kernel_exp([x])[0] == 0.0


def test_smallest_argument_kept_gives_a_normal_number():
    y = _kernel_exp([-708.0])[0]
    assert y >= np.finfo(np.float64).tiny
    assert abs(y - math.exp(-708.0)) <= 2 * EPS * math.exp(-708.0)
