"""Dask fit on a LocalCluster with data larger than one worker's memory limit (run by hand).

    python benchmarks/dask_scale.py --n 10000000 --d 16 --k 16 --memory-limit 400MiB

1. The data set is generated on the workers (da.random, chunk by chunk) and
   written to a zarr store on disk, chunked by rows (``--chunk``), so that
   the timed fit reads data and does not regenerate it every iteration.
2. The fit reads the store with ``da.from_zarr``: every EM iteration streams
   all of it through the workers; its time per iteration is the wall time
   of a fit with ``max_iter=--iters, tol=0`` from given initial parameters
   (no sampled init) divided by the iterations.
3. A thread polls every worker's RSS (``client.run`` of psutil, every
   ``--poll`` s) during the fit: the peak per worker is the true peak as
   sampled, not distributed's last heartbeat.
4. The time of one pass that only reads the store (``dX.sum()``): the part
   of an iteration that is reading and decompressing, not the kernel.
5. Against it: the in-memory threaded fit (``n_threads`` default) of the
   first ``--subset`` rows, per row.

The store's directory is removed at the end (``--keep`` keeps it).
"""

import argparse
import os
import shutil
import tempfile
import threading
import time
import warnings

import numpy as np

import dask.array as da
import distributed
import zarr

from fastgmm import GaussianMixture


def _rss():
    import psutil
    return psutil.Process().memory_info().rss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--cov", default="diag")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--chunk", type=int, default=250_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory-limit", default="400MiB")
    p.add_argument("--subset", type=int, default=1_000_000)
    p.add_argument("--poll", type=float, default=0.1)
    p.add_argument("--store", default=None, help="directory for the zarr store (default: a temporary one)")
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    warnings.simplefilter("ignore")   # ConvergenceWarning: fixed iterations, tol=0
    tmp = a.store or tempfile.mkdtemp(prefix="fastgmm-dask-")
    path = os.path.join(tmp, "x.zarr")
    try:
        with distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                                      memory_limit=a.memory_limit, dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            t0 = time.perf_counter()
            rs = da.random.RandomState(0)
            X = rs.normal(size=(a.n, a.d), chunks=(a.chunk, a.d)) + rs.randint(
                0, a.k, size=(a.n, 1), chunks=(a.chunk, 1)) * 3.0
            X.to_zarr(path, overwrite=True)
            t_write = time.perf_counter() - t0
            store_bytes = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)

            sub = np.ascontiguousarray(zarr.open_array(path, mode="r")[:a.subset])
            start = GaussianMixture(a.k, covariance_type=a.cov, random_state=0, max_iter=1, tol=0).fit(sub)
            kw = dict(covariance_type=a.cov, max_iter=a.iters, tol=0, weights_init=start.weights_,
                      means_init=start.means_, precisions_init=start.precisions_)

            dX = da.from_zarr(path)
            idle = client.run(_rss)
            peaks = dict(idle)
            done = threading.Event()

            def poll():
                while not done.is_set():
                    try:
                        for w, v in client.run(_rss).items():
                            peaks[w] = max(peaks.get(w, 0), v)
                    except Exception:   # a worker restarting: keep polling the others
                        pass
                    done.wait(a.poll)
            thread = threading.Thread(target=poll)
            thread.start()
            t0 = time.perf_counter()
            g = GaussianMixture(a.k, **kw).fit(dX)
            t_dask = (time.perf_counter() - t0) / a.iters
            done.set()
            thread.join()
            t0 = time.perf_counter()
            dX.sum().compute()   # the same reads and decompression, no kernel: what the store costs
            t_read = time.perf_counter() - t0
            t0 = time.perf_counter()
            h = GaussianMixture(a.k, **kw).fit(sub)
            t_sub = (time.perf_counter() - t0) / a.iters

        mib = 2 ** 20
        print(f"N={a.n} D={a.d} K={a.k} {a.cov}: {a.n * a.d * 8 / 2**30:.2f} GiB of float64 in a zarr store "
              f"of {store_bytes / 2**30:.2f} GiB on disk ({a.chunk}-row chunks; written in {t_write:.1f} s), "
              f"{a.workers} workers x 1 thread x {a.memory_limit}")
        print(f"dask fit per iteration {t_dask:.2f} s ({t_dask / a.n * 1e9:.0f} ns/row, reading the store "
              f"every iteration); in-memory threaded fit of {a.subset} rows {t_sub * 1e3:.1f} ms "
              f"({t_sub / a.subset * 1e9:.0f} ns/row)")
        print(f"reading the store once (dX.sum().compute()): {t_read:.2f} s ({t_read / a.n * 1e9:.0f} ns/row)")
        print("worker RSS (MiB): idle", [round(v / mib) for v in idle.values()],
              "peak during the fit", [round(v / mib) for v in peaks.values()])
        print(f"lower bound: dask {g.lower_bound_:.6f}, subset {h.lower_bound_:.6f}")
    finally:
        if not a.keep:
            shutil.rmtree(tmp if a.store is None else path, ignore_errors=True)


if __name__ == "__main__":
    main()
