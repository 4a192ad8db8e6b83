"""Out-of-core fit: a numpy.memmap against the same data in memory (run by hand).

    python benchmarks/out_of_core.py --n 1000000 --d 16 --k 16 --cov diag   # W3-sized

Prints the per-iteration time of each (same start, fixed iterations), measured
interleaved (memmap, in memory, memmap, ... ``--repeats`` times each, the
median of each reported) so that load from other processes hits both alike,
and the peak growth of RssAnon (anonymous memory, Linux) during the first
memmap fit. The file's pages are in the page cache (it was just written), so
this measures the streaming path, not the disk.
"""

import argparse
import os
import tempfile
import threading
import time
import warnings

import numpy as np

from fastgmm import GaussianMixture


def rss_anon_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--cov", default="diag")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--block-rows", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    warnings.simplefilter("ignore")   # ConvergenceWarning: fixed iterations, tol=0
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npy")
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(a.n, a.d))
        centres = rng.normal(scale=4.0, size=(a.k, a.d))
        for s in range(0, a.n, 100_000):
            b = min(a.n, s + 100_000)
            mm[s:b] = rng.normal(size=(b - s, a.d)) + centres[rng.integers(0, a.k, b - s)]
        mm.flush()
        del mm
        mm = np.load(path, mmap_mode="r")
        start = GaussianMixture(a.k, covariance_type=a.cov, random_state=0, max_iter=1, tol=0,
                                n_threads=a.threads).fit(np.ascontiguousarray(mm[:50_000]))
        kw = dict(covariance_type=a.cov, max_iter=a.iters, tol=0, n_threads=a.threads,
                  weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
        X = np.array(mm)
        base = rss_anon_kib()
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_anon_kib())
                time.sleep(0.005)
        t = threading.Thread(target=sample)
        t.start()
        times = {"memmap": [], "memory": []}
        for r in range(a.repeats):
            for what, data in (("memmap", mm), ("memory", X)):
                t0 = time.perf_counter()
                g = GaussianMixture(a.k, block_rows=a.block_rows if what == "memmap" else None, **kw).fit(data)
                times[what].append((time.perf_counter() - t0) / a.iters)
                if what == "memmap":
                    done.set()
                    g_mm = g
                else:
                    h = g
        t.join()
        g = g_mm
        t_mm, t_mem = float(np.median(times["memmap"])), float(np.median(times["memory"]))
        print("per iteration, each repeat (ms): memmap", [round(v * 1e3, 1) for v in times["memmap"]],
              "in memory", [round(v * 1e3, 1) for v in times["memory"]])
        print(f"N={a.n} D={a.d} K={a.k} {a.cov}: file {X.nbytes / 2**20:.0f} MiB")
        print(f"per iteration (median): memmap {t_mm * 1e3:.1f} ms, in memory {t_mem * 1e3:.1f} ms "
              f"(ratio {t_mm / t_mem:.2f})")
        print(f"RssAnon growth during the memmap fit: {(peak[0] - base) / 1024:.1f} MiB")
        print(f"max |means difference|: {np.abs(g.means_ - h.means_).max():.2e}")


if __name__ == "__main__":
    main()
