"""Build facts and thread-count resolution for the OpenMP kernels."""

import os


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


def _usable_cpu_count():
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        n = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count()
    return max(1, n or 1)


def effective_n_threads(n_threads=None):
    """Resolve the user's ``n_threads`` to a positive thread count.

    Parameters
    ----------
    n_threads : int or None
        None means every usable core, limited by ``OMP_NUM_THREADS`` when it is
        set. A negative value counts back from that maximum (-1 = all, -2 = all
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
        # omp_get_max_threads() ignores CPU affinity and cgroup limits on some
        # runtimes; never oversubscribe the cores this process may use.
        max_threads = min(max_threads, _usable_cpu_count())
    max_threads = max(1, max_threads)
    if n_threads is None:
        return max_threads
    if n_threads < 0:
        return max(1, max_threads + 1 + n_threads)
    return n_threads


def threads_for_work(n_threads, n_rows, row_cost):
    """Threads a kernel pass should use: at most one per 2^20 flops of work.

    Placeholder rule until the measured one lands; results never depend on it.
    """
    work = float(n_rows) * float(row_cost)
    return int(max(1, min(n_threads, work // (1 << 20) or 1)))
