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


# ---------------------------------------------------------------------------
# The log-sum-exp that calls it (fastgmm_normalise_d): the portable version and, on CPUs
# with AVX-512, the one with rows in vector lanes, which must give the same bits.
# ---------------------------------------------------------------------------

def _log_densities(n, K, seed):
    """A (K, n) block: finite values spread beyond exp's range, and the special rows the E-step meets."""
    rng = np.random.default_rng(seed)
    lp = -rng.uniform(0, 800, (K, n)) + rng.uniform(-50, 50, n)
    lp[0, 0] = np.nan                 # an overflowed log-density: an impossible term
    lp[-1, n // 2] = np.inf
    lp[:, n - 1] = -np.inf            # a row no component can produce
    return lp


SHAPES = [(112, 16), (117, 5), (7, 3), (9, 1), (240, 33), (16, 2)]


@pytest.mark.parametrize("n, K", SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("portable", [False, True])
def test_log_sum_exp_against_numpy(n, K, weighted, portable):
    from scipy.special import logsumexp

    lp = _log_densities(n, K, 1)
    w = np.random.default_rng(2).uniform(0, 2, n) if weighted else None
    ref = np.where(np.isfinite(lp) | (lp == -np.inf), lp, -np.inf)    # NaN and +inf read as -inf
    with np.errstate(divide="ignore", invalid="ignore"):
        row = logsumexp(ref, axis=0)
        resp = np.nan_to_num(np.exp(ref - row))                       # the impossible row: all 0
    row_ll = np.empty(n)
    out = lp.copy()
    total = _estep._log_sum_exp(out, row_ll, w, portable=portable)
    scale = 1.0 if w is None else w
    # exp(lp - max) carries the rounding of lp - max: ~1e-13 relative where lp - max ~ -700
    np.testing.assert_allclose(out, resp * scale, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(row_ll, row, rtol=1e-14)
    assert total == -np.inf                                           # the impossible row
    possible = np.ascontiguousarray(lp[:, :-1])
    total = _estep._log_sum_exp(possible, None, None if w is None else w[:-1].copy(), portable=portable)
    np.testing.assert_allclose(total, np.sum((scale * row)[:-1] if weighted else row[:-1]), rtol=1e-13)


@pytest.mark.skipif(not _estep._have_x8(), reason="no AVX-512 on this CPU: one version only")
@pytest.mark.parametrize("n, K", SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("with_row_ll", [False, True])
def test_log_sum_exp_versions_are_bitwise_equal(n, K, weighted, with_row_ll):
    lp = _log_densities(n, K, 3)
    lp[lp == -np.inf] = -1.0          # finite rows only, so that the total without row_ll is finite too
    lp[np.isnan(lp) | (lp == np.inf)] = -2.0
    w = np.random.default_rng(4).uniform(0, 2, n) if weighted else None
    results = []
    for portable in (False, True):
        out, row_ll = lp.copy(), np.empty(n) if with_row_ll else None
        total = _estep._log_sum_exp(out, row_ll, w, portable=portable)
        results.append((out, row_ll, np.float64(total)))
    (a, ra, ta), (b, rb, tb) = results
    assert np.array_equal(a.view(np.int64), b.view(np.int64))
    assert ta.view(np.int64) == tb.view(np.int64)
    if with_row_ll:
        assert np.array_equal(ra.view(np.int64), rb.view(np.int64))
