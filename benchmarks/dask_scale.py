"""Dask fit on a LocalCluster with data larger than one worker's memory limit (run by hand).

    python benchmarks/dask_scale.py --n 20000000 --d 16 --k 16 --memory-limit 1GiB

The data are generated lazily on the workers (da.random), never held whole
anywhere; prints the time per EM iteration, each worker's peak memory (RSS
as reported by distributed), and the in-memory threaded fit of a subset.
"""

import argparse
import time

import numpy as np

import dask.array as da
import distributed

from fastgmm import GaussianMixture


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20_000_000)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--cov", default="diag")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--chunk", type=int, default=250_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory-limit", default="1GiB")
    p.add_argument("--subset", type=int, default=1_000_000)
    a = p.parse_args()
    with distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                                  memory_limit=a.memory_limit, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        rs = da.random.RandomState(0)
        X = rs.normal(size=(a.n, a.d), chunks=(a.chunk, a.d)) + rs.randint(0, a.k, size=(a.n, 1),
                                                                            chunks=(a.chunk, 1)) * 3.0
        sub = X[:a.subset].compute()
        start = GaussianMixture(a.k, covariance_type=a.cov, random_state=0, max_iter=1, tol=0).fit(sub)
        kw = dict(covariance_type=a.cov, max_iter=a.iters, tol=0, weights_init=start.weights_,
                  means_init=start.means_, precisions_init=start.precisions_)
        peaks = {}

        def poll():
            for w, info in client.scheduler_info()["workers"].items():
                peaks[w] = max(peaks.get(w, 0), info["metrics"]["memory"])
        t0 = time.perf_counter()
        GaussianMixture(a.k, **kw).fit(X)
        t_dask = (time.perf_counter() - t0) / a.iters
        poll()
        t0 = time.perf_counter()
        GaussianMixture(a.k, **kw).fit(sub)
        t_sub = (time.perf_counter() - t0) / a.iters
        print(f"N={a.n} D={a.d} K={a.k} {a.cov}: {a.n * a.d * 8 / 2**30:.2f} GiB, "
              f"{a.workers} workers x {a.memory_limit}")
        print(f"dask per iteration {t_dask:.2f} s ({t_dask / a.n * 1e9:.0f} ns/row); in-memory subset of "
              f"{a.subset} rows {t_sub:.3f} s ({t_sub / a.subset * 1e9:.0f} ns/row)")
        print("worker memory at the end (MiB):", [round(v / 2**20) for v in peaks.values()])


if __name__ == "__main__":
    main()
