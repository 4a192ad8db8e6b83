"""Whether every entry of a float array is finite: the input check of a fit, in parallel.

Validation (fastgmm.utils._validation) must prove X free of NaN and infinity
before a fit. NumPy does that in one thread: ``np.sum(X)`` over 1M x 16
float64 values took ~6 ms of a W4 fit whose EM iterations take ~28 ms each.
This kernel reads the array's memory in fixed blocks, each thread a share of
them, and only answers yes or no (an integer count of blocks holding a
non-finite value, so the answer cannot depend on the thread count); finding
*which* value and saying so stays with the NumPy code, which runs only when
the answer is no.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange


cdef extern from *:
    """
    #include <stddef.h>
    #include "_fastexp.h"
    /* 1 if some x[i] is NaN or +-inf, else 0. x - x is 0 for every finite x
     * and NaN otherwise, and the OR of the comparisons is an integer
     * reduction, so the loop vectorises without reassociating any float sum
     * (FASTGMM_CLONES: AVX-512, AVX2 and baseline versions). */
    #define FASTGMM_DEFINE_ANY_NONFINITE(NAME, T)                      \\
    FASTGMM_CLONES                                                     \\
    static int NAME(const T *x, ptrdiff_t n)                           \\
    {                                                                  \\
        int bad = 0;                                                   \\
        for (ptrdiff_t i = 0; i < n; i++)                              \\
            bad |= !(x[i] - x[i] == 0);                                \\
        return bad;                                                    \\
    }
    FASTGMM_DEFINE_ANY_NONFINITE(fastgmm_any_nonfinite_d, double)
    FASTGMM_DEFINE_ANY_NONFINITE(fastgmm_any_nonfinite_f, float)
    """
    int fastgmm_any_nonfinite_d(const double *x, Py_ssize_t n) nogil
    int fastgmm_any_nonfinite_f(const float *x, Py_ssize_t n) nogil


# Values per block (256 KiB of float64), and per thread: a thread is worth
# waking (~0.1 ms) only for a few MB to read.
cdef enum:
    _BLOCK_VALUES = 1 << 15
    _VALUES_PER_THREAD = 1 << 18

BLOCK_VALUES = _BLOCK_VALUES
VALUES_PER_THREAD = _VALUES_PER_THREAD


cdef inline int _block_nonfinite(const floating[::1] x, Py_ssize_t b) noexcept nogil:
    """1 if block b of x holds a non-finite value, else 0."""
    cdef Py_ssize_t n = x.shape[0], a = b * _BLOCK_VALUES
    cdef Py_ssize_t m = n - a if n - a < _BLOCK_VALUES else _BLOCK_VALUES
    if floating is float:
        return fastgmm_any_nonfinite_f(&x[a], m)
    return fastgmm_any_nonfinite_d(&x[a], m)


cdef Py_ssize_t _blocks_with_nonfinite(const floating[::1] x, int n_threads) noexcept nogil:
    cdef Py_ssize_t n = x.shape[0], n_blocks = (n + _BLOCK_VALUES - 1) // _BLOCK_VALUES
    cdef Py_ssize_t b, bad = 0
    if n_threads == 1:
        # The same blocks without a parallel region, whose start-up (~1 us) is all the cost of checking a
        # small array (the M-step's means and covariances, once per EM iteration).
        for b in range(n_blocks):
            bad += _block_nonfinite(x, b)
        return bad
    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        bad += _block_nonfinite(x, b)
    return bad


def all_finite(X, int n_threads=1):
    """Whether every entry of ``X`` is finite (no NaN, no infinity).

    Parameters
    ----------
    X : ndarray
        Any shape; float32 or float64 in native byte order, C- or
        F-contiguous (one block of memory, read in memory order).
    n_threads : int
        Upper bound on the threads used (a resolved count >= 1); small arrays
        are read by one thread.

    Returns
    -------
    bool or None
        True if every entry is finite, False if one is not, None where the
        kernel does not apply (another dtype, or an array that is not one
        contiguous block): the caller decides with NumPy then.
    """
    if not isinstance(X, np.ndarray) or X.dtype not in (np.float32, np.float64):
        return None
    if not (X.flags.c_contiguous or X.flags.f_contiguous):
        return None
    if n_threads < 1:
        raise ValueError(f"n_threads must be a resolved count >= 1, got {n_threads}")
    flat = X.reshape(-1, order="F" if X.flags.f_contiguous and not X.flags.c_contiguous else "C")
    threads = int(max(1, min(n_threads, flat.shape[0] // _VALUES_PER_THREAD)))
    if X.dtype == np.float32:
        return _blocks_with_nonfinite[float](flat, threads) == 0
    return _blocks_with_nonfinite[double](flat, threads) == 0
