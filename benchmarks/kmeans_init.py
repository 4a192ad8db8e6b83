"""fastgmm's k-means initialisation against scikit-learn's KMeans, in one run.

Run by hand (it takes a few minutes at the default sizes)::

    python benchmarks/kmeans_init.py                  # 1M x 16 K=16 (W2 data) and 2M x 10 K=8 overlapping
    python benchmarks/kmeans_init.py --n 200000       # both data sets at N = 200000
    python benchmarks/kmeans_init.py --threads 2 --no-em

For each data set and thread count it reports, measured interleaved in the
same process (the machine is shared, so only same-run ratios mean much):

* time of one full-data Lloyd pass (``_kmeans.lloyd_pass`` through the
  driver's workspace) against one scikit-learn Lloyd iteration
  (``lloyd_iter_chunked_dense``, what ``KMeans(algorithm="lloyd")`` runs
  per iteration), both from the same centres, median of ``--repeats``;
* the whole ``kmeans`` (seeding sample, its Lloyd, full passes) against
  ``KMeans(n_clusters, n_init=1, random_state=seed).fit``: time and passes;
* peak extra memory of ``kmeans``: numpy allocations (tracemalloc) and RSS
  (VmHWM after a reset through /proc/self/clear_refs, minus RSS before);

and, with the largest thread count, the EM result: fastgmm.GaussianMixture
(full covariances, default tol/max_iter) started from the weights, means and
precisions of the nearest-centre partition of fastgmm's centres and of
scikit-learn's KMeans centres (the same construction for both, so only the
centres differ), and the default fit (``init_params="kmeans"``) with its
peak RSS.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import datasets  # noqa: E402
import fastgmm  # noqa: E402
from fastgmm.kernels import _kmeans_driver as kd  # noqa: E402

#: The two data sets of the k-means targets: W2's data (means drawn with
#: scale 4) and an overlapping 2M x 10, K=8 mixture (means drawn with scale 1).
DATA = {
    "1Mx16_K16": datasets.WORKLOADS["W2"],
    "2Mx10_K8o": datasets.Workload("K8o", 2_000_000, 10, 8, "full", 1.0, 120,
                                   "overlapping, for the k-means benchmark"),
}


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_extra(fn):
    """(result, seconds, tracemalloc peak bytes, RSS peak extra bytes or None) of fn()."""
    ok = _reset_peak_rss()
    before = _rss_kib("VmRSS")
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = (_rss_kib("VmHWM") - before) * 1024 if ok else None
    return out, dt, traced, rss


def sklearn_lloyd_iteration(X, centres, n_threads):
    """Seconds of one scikit-learn Lloyd iteration from ``centres``."""
    from sklearn.cluster._k_means_lloyd import lloyd_iter_chunked_dense

    K = centres.shape[0]
    c = np.ascontiguousarray(centres, dtype=X.dtype)
    new, wic = np.empty_like(c), np.empty(K, dtype=X.dtype)
    labels, shift = np.empty(X.shape[0], dtype=np.int32), np.empty(K, dtype=X.dtype)
    w = np.ones(X.shape[0], dtype=X.dtype)
    t0 = time.perf_counter()
    lloyd_iter_chunked_dense(X, w, c, new, wic, labels, shift, n_threads)
    return time.perf_counter() - t0


def fastgmm_lloyd_pass(ws, X, centres, n_threads):
    t0 = time.perf_counter()
    ws.run(X, None, centres, centres.mean(axis=0), n_threads)
    return time.perf_counter() - t0


def partition_init(X, centres, K, n_threads, reg_covar=1e-6):
    """weights, means, precisions of the nearest-centre partition (full covariances)."""
    labels = kd.nearest_centre_labels(X, centres, n_threads)
    w, m, p = np.empty(K), np.empty((K, X.shape[1])), np.empty((K, X.shape[1], X.shape[1]))
    for k in range(K):
        Xk = X[labels == k].astype(np.float64)
        w[k] = len(Xk) / len(X)
        m[k] = Xk.mean(axis=0)
        cov = np.cov(Xk, rowvar=False, bias=True) + reg_covar * np.eye(X.shape[1])
        p[k] = np.linalg.inv(cov)
    return w, m, (p + np.transpose(p, (0, 2, 1))) / 2


def run_dataset(name, X, K, threads, repeats, seed, em):
    print(f"\n## {name}: N={X.shape[0]}, D={X.shape[1]}, K={K}, X = {X.nbytes / 2**20:.0f} MiB, "
          f"seed {seed}", flush=True)
    from sklearn.cluster import KMeans

    rows = {}
    for t in threads:
        with threadpool_limits(limits=1, user_api="blas"):
            (centres, info), t_fg, traced, rss = peak_extra(
                lambda: kd._kmeans_with_info(X, K, np.random.RandomState(seed), t))
        with threadpool_limits(limits=t, user_api="openmp"):
            t0 = time.perf_counter()
            km = KMeans(K, n_init=1, random_state=seed, algorithm="lloyd").fit(X)
            t_sk = time.perf_counter() - t0
        # Per-pass times, interleaved, from the same centres.
        ws = kd._LloydWorkspace(X, K, K)
        a, b = [], []
        with threadpool_limits(limits=1, user_api="blas"):
            for _ in range(repeats):
                a.append(fastgmm_lloyd_pass(ws, X, centres, t))
                b.append(sklearn_lloyd_iteration(X, centres, t))
        rows[t] = dict(centres=centres, sk_centres=km.cluster_centers_)
        print(f"threads={t}:")
        if a:
            pa, pb = float(np.median(a)), float(np.median(b))
            print(f"  Lloyd pass {pa * 1e3:.1f} ms vs sklearn iteration {pb * 1e3:.1f} ms "
                  f"(sklearn/fastgmm {pb / pa:.2f}x, median of {len(a)} interleaved)")
        print(f"  kmeans: {t_fg:.2f} s, {info['n_iter']} full passes (+ {info['sample_iter']} on a "
              f"{info['sample_rows']}-row seeding sample); sklearn KMeans: {t_sk:.2f} s, {km.n_iter_} "
              f"iterations (sklearn/fastgmm {t_sk / t_fg:.1f}x)")
        rss_s = "n/a" if rss is None else f"{rss / 2**20:.2f} MiB ({rss / X.nbytes:.2%} of X)"
        print(f"  kmeans peak extra memory: numpy {traced / 2**20:.2f} MiB ({traced / X.nbytes:.2%} of X), "
              f"RSS {rss_s}")
        print(f"  inertia: fastgmm {info['inertia']:.6g} (last pass), sklearn {km.inertia_:.6g}", flush=True)
    if not em:
        return
    t = max(threads)
    res = {}
    with threadpool_limits(limits=1, user_api="blas"):
        # The same seeding, full-data passes continued to convergence: what
        # the loose stopping rule costs EM.
        tight, info = kd._kmeans_with_info(X, K, np.random.RandomState(seed), t, full_tol=0.0, full_max_iter=300)
        starts = (("fastgmm centres", rows[t]["centres"]), ("sklearn centres", rows[t]["sk_centres"]),
                  (f"fastgmm centres, full passes with tol=0 ({info['n_iter']} passes, cap 300)", tight))
        for label, c in starts:
            w, m, p = partition_init(X, c, K, t)
            gm = fastgmm.GaussianMixture(K, covariance_type="full", weights_init=w, means_init=m,
                                         precisions_init=p, random_state=seed, n_threads=t)
            t0 = time.perf_counter()
            gm.fit(X)
            res[label] = (gm.lower_bound_, gm.n_iter_, gm.converged_, time.perf_counter() - t0)
    gm = fastgmm.GaussianMixture(K, covariance_type="full", random_state=seed, n_threads=t)
    _, t_fit, traced, rss = peak_extra(lambda: gm.fit(X))
    res["default fit"] = (gm.lower_bound_, gm.n_iter_, gm.converged_, t_fit)
    for label, (lb, it, conv, dt) in res.items():
        print(f"  EM from {label}: lower bound {lb:.8f} after {it} iterations "
              f"(converged={conv}), {dt:.1f} s")
    d = res["fastgmm centres"][0] - res["sklearn centres"][0]
    print(f"  lower bound difference (fastgmm - sklearn centres): {d:+.3e} per row")
    rss_s = "n/a" if rss is None else f"{rss / 2**20:.2f} MiB ({rss / X.nbytes:.2%} of X)"
    print(f"  default fit peak extra memory: numpy {traced / 2**20:.2f} MiB ({traced / X.nbytes:.2%} of X), "
          f"RSS {rss_s}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=None, help="rows of both data sets (default: 1M and 2M)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repeats of the per-pass timing")
    p.add_argument("--seeds", default="0", help="comma-separated seeds of the k-means runs (per-pass "
                   "timings with the first only)")
    p.add_argument("--data", default=",".join(DATA), help="comma-separated: " + ", ".join(DATA))
    p.add_argument("--no-em", dest="em", action="store_false", help="skip the EM comparison")
    args = p.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    print(f"fastgmm {fastgmm.__version__ if hasattr(fastgmm, '__version__') else '?'}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for name in args.data.split(","):
        wl = DATA[name]
        if args.n is not None:
            wl = dataclasses.replace(wl, n_samples=args.n)
        X = datasets.load_data(wl)
        for i, seed in enumerate(int(v) for v in args.seeds.split(",")):
            run_dataset(name, X, wl.n_components, threads, args.repeats if i == 0 else 0, seed, args.em)
        del X


if __name__ == "__main__":
    main()
