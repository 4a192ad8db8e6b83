"""Process-wide thread-pool state: BLAS kept single-threaded, CPUs this process may use.

Pure Python and free of compiled-extension imports: ``fastgmm/__init__.py``
may import it before the OpenMP runtime is loaded.

Two facts are process-global and this module is the one owner of each:

* ``blas_single_thread()``: the kernels call BLAS from inside their OpenMP
  threads, so BLAS must run single-threaded meanwhile. threadpoolctl's limit
  is a property of the loaded library, shared by every Python thread; two
  fits in two threads that each save and restore it leave it at whatever the
  later saver saw (1). Here one reference count decides: the first entrant
  saves and limits, the last leaver restores.
* ``cgroup_cpu_limit()`` / ``usable_cpu_count()``: how many CPUs ``n_threads=None``
  may use, honouring a container's CPU quota as loky (and so scikit-learn)
  does, not only the affinity mask.
"""

import math
import os
import threading
import time

__all__ = ["blas_single_thread", "cgroup_cpu_limit", "usable_cpu_count"]


# ----------------------------------------------------------------------
# BLAS limited to one thread, safely under concurrent and nested use
# ----------------------------------------------------------------------
_lock = threading.Lock()
_depth = 0          # entries not yet left, over all Python threads
_saved = ()         # (lib_controller, num_threads) the first entrant changed
_blas_libs = None   # threadpoolctl LibControllers of the loaded BLAS libraries


def _find_blas_libs():
    # Found once per process. The kernels call scipy's BLAS
    # (scipy.linalg.cython_blas): import it first so that library is among
    # those found. A BLAS loaded later by someone else is not ours to limit.
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    libs = _blas_libs_from_maps(ThreadpoolController)
    if libs is None:
        libs = ThreadpoolController().select(user_api="blas").lib_controllers
    return tuple(libs)


def _blas_libs_from_maps(controller_type):
    """The BLAS controllers of the libraries mapped into this process, or None.

    ``ThreadpoolController()`` resolves the real path of every loaded shared
    object (over a hundred with NumPy and SciPy: 6-8 ms measured, most of a
    small fit's first call). Here only the files whose name starts like a BLAS
    threadpoolctl knows are handed to it; /proc/self/maps already names the
    files themselves, not symlinks. Linux only, and only with the threadpoolctl
    internals this was written against (3.8): None anywhere else, and the
    caller does the full search.
    """
    import threadpoolctl

    known = getattr(threadpoolctl, "_ALL_CONTROLLERS", None)
    make = getattr(controller_type, "_make_controller_from_path", None)
    if known is None or make is None or not os.path.exists("/proc/self/maps"):
        return None
    try:
        prefixes = tuple(p.lower() for c in known if c.user_api == "blas"
                         for p in c.filename_prefixes)
        with open("/proc/self/maps", "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        paths = sorted({line[line.index("/"):] for line in lines if "/" in line})
        candidates = [p for p in paths if os.path.basename(p).lower().startswith(prefixes)]
        controller = controller_type.__new__(controller_type)
        controller.lib_controllers = []
        for path in candidates:
            make(controller, path)
        return [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
    except Exception:   # any change of those internals: the documented way instead
        return None


def _set_num_threads(lib, n):
    # threadpoolctl >= 3.8 lets only one Python thread (the first to set a
    # limit, while it lives) change a pthreads OpenBLAS; calls from any other
    # thread are silently ignored. A fit in a worker thread would then run
    # the kernels with BLAS multi-threaded, and a last leaver other than the
    # first entrant could not restore. The reference count below already
    # serialises fastgmm's changes, so the library's own setter is called
    # directly where threadpoolctl has it.
    setter = getattr(lib, "_real_set_num_threads", None)
    if setter is None:
        setter = lib.set_num_threads
    setter(n)


def _reinit_after_fork():
    # A fork taken while another thread held the lock would leave the child's
    # copy locked forever. The child's depth counts entries of threads that
    # do not exist there; only the forking thread's own entries are real, and
    # it leaves them normally, so the count is kept.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


class _BlasSingleThread:
    """The context manager returned by ``blas_single_thread()``.

    The state is module-global, so one instance serves every caller; entering
    it while it is already entered (here or in another thread) costs one lock
    round trip and an increment.
    """

    __slots__ = ()

    def __enter__(self):
        global _depth, _saved, _blas_libs
        with _lock:
            if _depth == 0:
                # Threads entering meanwhile wait on the lock until the limit
                # is in place, so no kernel starts with BLAS multi-threaded.
                if _blas_libs is None:
                    _blas_libs = _find_blas_libs()
                saved = []
                try:
                    for lib in _blas_libs:
                        n = lib.get_num_threads()
                        if n is not None and n != 1:
                            _set_num_threads(lib, 1)
                            saved.append((lib, n))
                except BaseException:
                    for lib, n in saved:   # not entered: leave nothing changed
                        _set_num_threads(lib, n)
                    raise
                _saved = tuple(saved)
            _depth += 1
        return self

    def __exit__(self, *exc):
        global _depth, _saved
        with _lock:
            _depth -= 1
            if _depth == 0:
                saved, _saved = _saved, ()
                for lib, n in saved:
                    _set_num_threads(lib, n)
        return False


_BLAS_SINGLE_THREAD = _BlasSingleThread()


def blas_single_thread():
    """Context manager: BLAS single-threaded while any fastgmm kernel runs.

    Safe under concurrent use from several Python threads and under nesting:
    a process-wide count of entries, kept under a lock, decides. The first
    entry records each loaded BLAS library's thread count and sets it to 1;
    later entries (nested, or from other threads) only count; the last exit
    restores exactly the recorded counts. BLAS thread counts changed by other
    code while fastgmm holds the limit are overwritten by that restore.

    Returns
    -------
    context manager
        Enter it with ``with``; the value bound by ``as`` is of no use.

    Examples
    --------
    >>> from fastgmm.utils._threadpool import blas_single_thread
    >>> with blas_single_thread():
    ...     pass   # kernels that call BLAS from OpenMP threads
    """
    return _BLAS_SINGLE_THREAD


def _blas_depth():
    """Current entry count (for tests)."""
    return _depth


# ----------------------------------------------------------------------
# CPUs this process may use
# ----------------------------------------------------------------------
CGROUP_ROOT = "/sys/fs/cgroup"


def _read_words(path):
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().split()
    except OSError:   # missing file, permission, not a regular file...
        return None


def _quota_cpus(quota, period):
    """ceil(quota / period) from the two words of a cgroup file, None for no limit."""
    if quota == "max":
        return None
    try:
        q, p = int(quota), int(period)
    except (TypeError, ValueError):
        return None
    if q <= 0 or p <= 0:   # v1 writes -1 for "no quota"
        return None
    return max(1, math.ceil(q / p))


def cgroup_cpu_limit(root=None):
    """CPUs allowed by the cgroup CPU bandwidth quota under ``root``, or None.

    Reads cgroup v2's ``ROOT/cpu.max`` ("QUOTA PERIOD", QUOTA may be "max"),
    else cgroup v1's ``ROOT/cpu/cpu.cfs_quota_us`` and ``cpu.cfs_period_us``
    (also under ``ROOT/cpu,cpuacct``). Same meaning as ``loky.cpu_count``:
    ceil(quota / period), at least 1. In a container the container's own
    cgroup is mounted at ``/sys/fs/cgroup``, which is where the quota that
    limits it is found.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Mount point of the cgroup file system; default ``CGROUP_ROOT``
        ("/sys/fs/cgroup"). Tests pass a directory of fake files.

    Returns
    -------
    int or None
        None when there is no quota ("max", -1), the files are missing or
        unreadable, or they hold something else than numbers.
    """
    root = os.fspath(CGROUP_ROOT if root is None else root)
    words = _read_words(os.path.join(root, "cpu.max"))
    if words is not None:
        # A present cpu.max means cgroup v2, where the v1 files do not exist.
        return _quota_cpus(*words[:2]) if len(words) >= 2 else None
    for controller in ("cpu", "cpu,cpuacct"):
        quota = _read_words(os.path.join(root, controller, "cpu.cfs_quota_us"))
        period = _read_words(os.path.join(root, controller, "cpu.cfs_period_us"))
        if quota is not None and period is not None:
            if len(quota) != 1 or len(period) != 1:
                return None
            return _quota_cpus(quota[0], period[0])
    return None


def _affinity_cpu_count():
    if hasattr(os, "process_cpu_count"):  # Python 3.13+: affinity, or -X cpu_count
        n = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count()
    return max(1, n or 1)


_QUOTA_CACHE_SECONDS = 1.0
_quota_cache = {}   # root -> (time read, cgroup_cpu_limit(root))


def _cached_cgroup_cpu_limit(root):
    # Reading the files costs ~15 us (more when they are missing: the failed
    # opens raise), and predict() resolves its thread count on every call.
    # A quota can change while the process runs (a container resized in
    # place), so the answer is kept for a second, not for good.
    now = time.monotonic()
    hit = _quota_cache.get(root)
    if hit is not None and now - hit[0] < _QUOTA_CACHE_SECONDS:
        return hit[1]
    quota = cgroup_cpu_limit(root)
    _quota_cache[root] = (now, quota)
    return quota


def usable_cpu_count(cgroup_root=None):
    """CPUs this process may use: the affinity mask, limited by a cgroup CPU quota.

    A container given 1.5 CPUs of a 64-core host sees 64 CPUs in its affinity
    mask; running 64 threads there would have them throttled in turn. Like
    scikit-learn (through loky), count ceil(quota / period) instead.

    Parameters
    ----------
    cgroup_root : str or os.PathLike, optional
        Default ``CGROUP_ROOT`` ("/sys/fs/cgroup").

    Returns
    -------
    int
        At least 1.
    """
    n = _affinity_cpu_count()
    quota = _cached_cgroup_cpu_limit(os.fspath(CGROUP_ROOT if cgroup_root is None else cgroup_root))
    if quota is not None:
        n = min(n, quota)
    return max(1, n)


# ----------------------------------------------------------------------
# OpenMP wait policy, set before the OpenMP runtime starts
# ----------------------------------------------------------------------
# Variables through which a user has chosen how idle OpenMP threads wait:
# the standard one, libgomp's spin count, and LLVM/Intel libomp's block time.
WAIT_POLICY_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")

#: "user" when one of WAIT_POLICY_VARIABLES was set, "fastgmm" when fastgmm
#: chose PASSIVE at import, None before that. See ``fastgmm/__init__.py``.
wait_policy_source = None


def start_openmp_runtime_passive(start_runtime):
    """Run ``start_runtime()`` with ``OMP_WAIT_POLICY=PASSIVE`` unless the user chose.

    libgomp reads its wait policy once, when it is loaded; LLVM's libomp when
    it initialises (its first OpenMP call). ``start_runtime`` must do both:
    import the first fastgmm extension and call into the runtime. The
    variable is removed again afterwards, so child processes and OpenMP
    runtimes that other libraries load later (scikit-learn's wheels carry
    their own libgomp) keep their defaults. When an OpenMP runtime shared
    with another library was loaded before fastgmm, it keeps the policy it
    started with.

    Parameters
    ----------
    start_runtime : callable
        Called with no arguments; its result is returned.
    """
    global wait_policy_source
    if any(os.environ.get(v) for v in WAIT_POLICY_VARIABLES):
        wait_policy_source = "user"
        return start_runtime()
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        result = start_runtime()
    finally:
        # The os.environ update called putenv; deleting calls unsetenv.
        os.environ.pop("OMP_WAIT_POLICY", None)
    wait_policy_source = "fastgmm"
    return result
