"""Build facts and thread-count resolution for the OpenMP kernels."""

import os

from ..utils._threadpool import usable_cpu_count


def openmp_enabled():
    """Whether the compiled kernels were built with OpenMP."""
    return bool(FASTGMM_OPENMP_ENABLED)


def openmp_version():
    """The ``_OPENMP`` date macro the kernels were compiled with (0 without OpenMP)."""
    return int(FASTGMM_OPENMP_VERSION)


def debug_build():
    """Whether the kernels were compiled with bounds checking (FASTGMM_DEBUG=1)."""
    return bool(FASTGMM_DEBUG_BUILD)


def openmp_max_threads():
    """What the OpenMP runtime would use by default (honours OMP_NUM_THREADS)."""
    return omp_get_max_threads()


def effective_n_threads(n_threads=None):
    """Resolve the user's ``n_threads`` to a positive thread count.

    Parameters
    ----------
    n_threads : int or None
        None means every usable core: the CPUs of the affinity mask, limited
        by a container's cgroup CPU quota (ceil(quota / period), as
        scikit-learn counts them through loky); ``OMP_NUM_THREADS``, when set,
        wins over both. A negative value counts back from that maximum (-1 = all, -2 = all
        but one); the result is at least 1. Zero is an error. Without OpenMP
        the answer is always 1.

    Returns
    -------
    int
    """
    if n_threads is not None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, (int,)) and not hasattr(n_threads, "__index__"):
            raise TypeError(f"n_threads must be None or an int, got {n_threads!r}")
        n_threads = int(n_threads)
        if n_threads == 0:
            raise ValueError(
                "n_threads=0 is not allowed: use None (all usable cores), a positive "
                "count, or a negative count back from the maximum (-1 = all)."
            )
    if not FASTGMM_OPENMP_ENABLED:
        return 1
    max_threads = omp_get_max_threads()
    if os.environ.get("OMP_NUM_THREADS") is None:
        # omp_get_max_threads() ignores CPU affinity on some runtimes and
        # cgroup quotas on all: a container allowed 2 CPUs of a 64-core host
        # would otherwise run 64 threads that the quota throttles in turn.
        max_threads = min(max_threads, usable_cpu_count())
    max_threads = max(1, max_threads)
    if n_threads is None:
        return max_threads
    if n_threads < 0:
        return max(1, max_threads + 1 + n_threads)
    # The kernels take a C int (and run at most one thread per chunk): a
    # larger count means the same as INT_MAX, not an OverflowError.
    return min(n_threads, 2**31 - 1)


# Work (in flop-equivalents) each thread of a kernel pass must get before one
# more thread pays for itself, and the fixed cost of a row that ``row_cost``
# leaves out. Measured on the 2-core development VM by timing diag EM passes
# (_em.accumulate, D=4 K=3 and D=16 K=16, 500 to 150,000 rows, 1 and 2
# threads interleaved, medians) with the passive OpenMP wait policy fastgmm
# sets (see __init__.py), idle and beside a busy process: waking the sleeping
# worker costs ~90 us per parallel region there, and a diag pass on one
# thread ran at ~0.023 ns per counted flop plus ~12 ns per row (exp, log-sum-
# exp, the chunk's transposed copy: ~520 flop-equivalents). Two threads beat
# one once the one-thread pass took ~250 us (9,000 x 4 K=3: 0.89x, 20,000 x 4
# K=3: 1.11x; 2,000 x 16 K=16: 0.84x, 4,000 x 16 K=16: 1.05x), i.e. ~1.1e7
# flop-equivalents for two threads. Faster wake-ups (bare metal) would
# justify a lower value; with a busy process on the other core a second
# thread never paid off, but with passive waiting it cost < 5 % from this
# size on, so the idle crossover is the one used.
THREAD_MIN_WORK = 5_400_000
ROW_OVERHEAD_FLOPS = 520


def threads_for_work(n_threads, n_rows, row_cost):
    """Threads a kernel pass should use for the work it has.

    Small passes are faster on one thread: starting a parallel region wakes
    the other threads, which costs more than they save below a few hundred
    microseconds of work, and on a loaded machine a thread on a busy core
    delays the whole pass. Each thread gets at least ``THREAD_MIN_WORK``
    flop-equivalents, and never more threads than ``n_threads``. Results do
    not depend on the answer: the kernels are bitwise identical for any
    thread count.

    Parameters
    ----------
    n_threads : int
        The resolved user count (from ``effective_n_threads``), >= 1.
    n_rows : int
        Rows of the pass.
    row_cost : float
        Estimated flops per row, e.g. ``4 * P * K`` for the EM pass (two
        GEMMs of a row's P-long expansion against K components) or
        ``4 * D * K`` for a k-means pass. A fixed per-row overhead is added
        here.

    Returns
    -------
    int
        Between 1 and ``n_threads``.
    """
    n_threads = int(n_threads)
    if n_threads < 1:
        raise ValueError(f"n_threads must be a resolved count >= 1, got {n_threads}")
    if n_threads == 1 or n_rows <= 0:
        return 1
    row_cost = float(row_cost)
    if not row_cost > 0:   # also NaN
        row_cost = 0.0
    work = float(n_rows) * (row_cost + ROW_OVERHEAD_FLOPS)
    return int(max(1, min(n_threads, work // THREAD_MIN_WORK)))
