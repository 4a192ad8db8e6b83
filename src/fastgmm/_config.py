"""What this build of fastgmm is and what it will use at run time."""

import os
import platform
import sys

from .kernels import _openmp_helpers
from .utils import _threadpool


def build_info():
    """Return the facts about this build and runtime as a dict.

    Returns
    -------
    dict
        ``version``, ``openmp`` (bool), ``openmp_version`` (the ``_OPENMP`` date,
        0 without OpenMP), ``debug_build``, ``max_threads`` (what ``n_threads=None``
        resolves to), ``cpu_quota`` (CPUs allowed by a cgroup quota, None
        without one), ``wait_policy`` (how idle OpenMP threads wait and who
        chose it), ``python``, ``platform``, ``numpy``, ``scipy``, and ``blas``
        (scipy's BLAS as threadpoolctl sees it, when available).
    """
    import numpy as np
    import scipy

    from .utils._version import __version__

    info = {
        "version": __version__,
        "openmp": _openmp_helpers.openmp_enabled(),
        "openmp_version": _openmp_helpers.openmp_version(),
        "debug_build": _openmp_helpers.debug_build(),
        "max_threads": _openmp_helpers.effective_n_threads(None),
        "cpu_quota": _threadpool.cgroup_cpu_limit(),
        "wait_policy": _wait_policy(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "blas": None,
    }
    try:
        import scipy.linalg  # noqa: F401  (loads scipy's BLAS so it is listed)
        from threadpoolctl import threadpool_info

        blas = [d for d in threadpool_info() if d.get("user_api") == "blas"]
        if blas:
            info["blas"] = ", ".join(
                f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)"
                for d in blas
            )
    except ImportError:
        pass
    return info


def _wait_policy():
    if _threadpool.wait_policy_source == "fastgmm":
        return "passive (set by fastgmm at import)"
    chosen = [f"{v}={os.environ[v]}" for v in _threadpool.WAIT_POLICY_VARIABLES if os.environ.get(v)]
    return f"user: {', '.join(chosen)}" if chosen else "runtime default"


def show_config(file=None):
    """Print how fastgmm was built and what it will use.

    Says whether the kernels have OpenMP (a build without it runs
    single-threaded), how many threads ``n_threads=None`` means here, and the
    library versions.

    Parameters
    ----------
    file : file-like, optional
        Where to print; default ``sys.stdout``.
    """
    info = build_info()
    file = sys.stdout if file is None else file
    omp = (
        f"enabled (OpenMP {info['openmp_version']})"
        if info["openmp"]
        else "DISABLED: kernels run single-threaded (rebuild with a compiler that has OpenMP)"
    )
    lines = [
        f"fastgmm {info['version']}",
        f"  OpenMP:       {omp}",
        f"  threads:      {info['max_threads']} (n_threads=None; honours OMP_NUM_THREADS and cgroup CPU quotas)",
        f"  CPU quota:    {info['cpu_quota'] if info['cpu_quota'] is not None else 'none'}",
        f"  OpenMP wait:  {info['wait_policy']}",
        f"  debug build:  {'yes (bounds checking on)' if info['debug_build'] else 'no'}",
        f"  python:       {info['python']} on {info['platform']}",
        f"  numpy:        {info['numpy']}",
        f"  scipy:        {info['scipy']}",
        f"  BLAS:         {info['blas'] or 'unknown (threadpoolctl not installed)'}",
    ]
    print("\n".join(lines), file=file)
