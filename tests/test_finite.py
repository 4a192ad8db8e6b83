"""The parallel finite check of the input (fastgmm.kernels._finite) against the NumPy reference.

Arrays span several blocks and threads (``VALUES_PER_THREAD`` values per
thread), and a bad value is put at the first and last entry and on either
side of a block edge, in C and F order, for float32 and float64.
"""

import numpy as np
import pytest

from conftest import needs_openmp
from fastgmm import GaussianMixture
from fastgmm.kernels import _finite
from fastgmm.utils._validation import check_array
import _reference_finite as ref

BLOCK = _finite.BLOCK_VALUES
# Three threads' worth of values (so that n_threads=3 really splits the array), 16 columns.
ROWS = 3 * _finite.VALUES_PER_THREAD // 16 + 5


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).normal(size=(ROWS, 16))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_finite_data_is_all_finite(data, dtype, order, n_threads):
    X = np.asarray(data, dtype=dtype, order=order)
    assert _finite.all_finite(X, n_threads) is ref.all_finite(X) is True


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, BLOCK - 1, BLOCK, 2 * BLOCK + 1, -1])
@pytest.mark.parametrize("n_threads", [1, 3])
def test_one_bad_value_is_found(data, dtype, order, bad, where, n_threads):
    X = np.array(data, dtype=dtype, order=order)
    X.ravel(order="K")[where] = bad      # the where-th value in memory order (a view: X is contiguous)
    assert _finite.all_finite(X, n_threads) is ref.all_finite(X) is False


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_largest_values_are_finite(dtype):
    """Values whose sum overflows are still finite (NumPy's sum check then looks further; this needs not)."""
    X = np.full((1000, 3), np.finfo(dtype).max, dtype=dtype)
    X[::2] *= -1
    assert _finite.all_finite(X, 2) is ref.all_finite(X) is True


def test_read_only_memory_is_read():
    X = np.ones((1000, 3))
    X[999, 2] = np.nan
    X.flags.writeable = False
    assert _finite.all_finite(X, 2) is False


def test_one_row_and_one_column():
    assert _finite.all_finite(np.ones((1, 1)), 1) is True
    assert _finite.all_finite(np.array([[np.nan]]), 1) is False


@pytest.mark.parametrize("X", [
    np.ones((40, 6))[:, ::2],                   # not one block of memory
    np.ones((40, 6), dtype=np.int64),           # not a float
    np.ones((40, 6), dtype=">f8"),              # not native byte order
    np.ones((40, 6), dtype=np.float16),
], ids=["strided", "int64", "big-endian", "float16"])
def test_kernel_declines_what_it_cannot_read(X):
    assert _finite.all_finite(X, 2) is None


def test_thread_count_must_be_resolved():
    with pytest.raises(ValueError, match="n_threads must be a resolved count"):
        _finite.all_finite(np.ones((4, 2)), 0)


@pytest.mark.parametrize("answer", [False, None])
def test_check_array_leaves_a_no_to_numpy(answer):
    """Only True skips NumPy's check; otherwise its message (what and where) is the one raised."""
    X = np.ones((10, 3))
    X[4, 1] = np.inf
    with pytest.raises(ValueError, match=r"^Input X contains infinity.*row 4, column 1"):
        check_array(X, estimator_name="GaussianMixture", all_finite=lambda X: answer)


@needs_openmp
@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (-np.inf, "infinity")])
def test_fit_reports_the_last_value_of_a_large_X(data, bad, word):
    """A fit on several threads finds the one bad value, and NumPy's message says which it is."""
    X = data[:, :4].copy()
    X[-1, 3] = bad
    with pytest.raises(ValueError, match=rf"^Input X contains {word}.*row {ROWS - 1}, column 3"):
        GaussianMixture(2, n_threads=2).fit(X)
