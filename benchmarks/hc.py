"""Seconds of mclust's hierarchical start (``hc``) against R's mclust on the same data.

Data: N rows (default 2000: mclust's ``subset``) drawn from 5 Gaussian groups in D dimensions (seeded),
written to a CSV that both sides read. Timed, each the fastest of ``--repeat`` runs:

* fastgmm: ``hc_transform(X, "SVD")`` + ``hc_tree`` (the transform and the full tree, down to one
  cluster), in this process, after one warm-up run; neither the import nor reading the data;
  1 and 2 threads.
* R: ``hc(X, modelName = "VVV", use = "SVD")`` (the same work: transform and full tree) timed with
  ``system.time`` inside one ``Rscript`` (the data read before); not R's start-up.

Both trees are compared (merge pairs equal, or the first merge where they differ). Run it alone on
the machine::

    python benchmarks/hc.py                    # N = 2000, D = 4 and 16
    python benchmarks/hc.py --n 1000 --dims 2,8 --repeat 5
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

R_SCRIPT = r"""
library(mclust)
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1], header = FALSE))
repeat_n <- as.integer(args[2])
ts <- numeric(repeat_n)
for (r in seq_len(repeat_n)) ts[r] <- system.time(h <- hc(X, modelName = "VVV", use = "SVD"))[["elapsed"]]
write.table(t(unclass(h)[1:2, ]), args[3], row.names = FALSE, col.names = FALSE)
cat(min(ts), "\n")
"""


def _data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(5, d))
    return centres[rng.integers(5, size=n)] + rng.normal(size=(n, d))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--dims", default="4,16")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from fastgmm.families._hc import hc_transform, hc_tree

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "hc.R"
        script.write_text(R_SCRIPT)
        for d in (int(v) for v in args.dims.split(",")):
            X = _data(args.n, d)
            csv, pairs = Path(tmp) / "x.csv", Path(tmp) / "pairs.txt"
            np.savetxt(csv, X, delimiter=",", fmt="%.17g")
            X = np.loadtxt(csv, delimiter=",")
            row = [f"N={args.n} D={d}"]
            best = {}
            for threads in (1, 2):
                hc_tree(hc_transform(X, "SVD"), n_threads=threads)      # warm-up
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    merges, _ = hc_tree(hc_transform(X, "SVD"), n_threads=threads)
                    times.append(time.perf_counter() - t)
                best[threads] = min(times)
                row.append(f"fastgmm {threads} thread(s) {best[threads]:.3f} s")
            out = subprocess.run(["Rscript", str(script), str(csv), str(args.repeat), str(pairs)],
                                 capture_output=True, text=True, check=True)
            r_time = float(out.stdout.split()[-1])
            r_merges = np.loadtxt(pairs, dtype=np.int64).reshape(-1, 2) - 1
            diff = np.flatnonzero((r_merges != merges).any(axis=1))
            same = "trees equal" if diff.size == 0 else f"trees differ from merge {diff[0]}"
            row.append(f"R mclust {r_time:.3f} s ({r_time / best[1]:.1f}x fastgmm's 1 thread), {same}")
            print(" | ".join(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())
