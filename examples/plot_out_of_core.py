"""
A file larger than memory
=========================

fastgmm fits a ``numpy.memmap`` (or an h5py/zarr dataset) by streaming blocks of rows through
its kernels: the file is never copied into memory whole, each block is validated once (a NaN
is reported with its row in the file), and the model equals the in-memory fit from the same
start. Here a mixture is written to a file block by block, fitted through a memmap with small
blocks, and compared with the in-memory fit; the anonymous memory the fit used is printed
(Linux): it is bounded by the initialisation's sample of rows (at most 100,000 rows or 4 MiB)
and the block buffers, whatever the file's size.
"""

import os
import tempfile
import threading
import time

import matplotlib.pyplot as plt
import numpy as np

from fastgmm import GaussianMixture, plot
from fastgmm.datasets import make_mixture

SMALL = os.environ.get("FASTGMM_EXAMPLES_SMALL") == "1"
N = 200_000 if SMALL else 4_000_000          # 4M x 8 float64: 256 MB on disk
D, K = 8, 5
out_dir = os.environ.get("FASTGMM_EXAMPLES_OUT", tempfile.gettempdir())
path = os.path.join(out_dir, "fastgmm_example_large.dat")

# Write the data block by block from one mixture: the whole array never exists in memory.
_, _, truth = make_mixture(1000, D, K, "full", random_state=0, separation=6.0)
factors = np.linalg.cholesky(truth["covariances"])
block = 100_000
mm = np.memmap(path, dtype=np.float64, mode="w+", shape=(N, D))
for i, a in enumerate(range(0, N, block)):
    b = min(N, a + block)
    rng = np.random.default_rng([1, i])
    y = rng.choice(K, size=b - a, p=truth["weights"])
    z = rng.standard_normal((b - a, D))
    mm[a:b] = truth["means"][y] + np.einsum("nij,nj->ni", factors[y], z)
mm.flush()
del mm


def rss_anon_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


X = np.memmap(path, dtype=np.float64, mode="r", shape=(N, D))
peak = [rss_anon_kb()]
before = peak[0]
done = threading.Event()


def sample():
    while not done.wait(0.005):
        value = rss_anon_kb()
        if value is not None:
            peak[0] = max(peak[0], value)


sampler = threading.Thread(target=sample, daemon=True)
if before is not None:
    sampler.start()
t0 = time.perf_counter()
gm = GaussianMixture(K, covariance_type="full", random_state=0, block_rows=16_384).fit(X)
elapsed = time.perf_counter() - t0
done.set()
if before is not None:
    sampler.join()
    print(f"streamed fit of {N:,} x {D} ({X.nbytes / 2**20:.0f} MiB on disk) in {elapsed:.2f} s, "
          f"{gm.n_iter_} iterations; anonymous memory grew by {(peak[0] - before) / 1024:.1f} MiB")
else:
    print(f"streamed fit of {N:,} x {D} in {elapsed:.2f} s, {gm.n_iter_} iterations")

# The same model in memory, from the streamed fit's parameters: the predictions agree.
in_memory = GaussianMixture(K, covariance_type="full", weights_init=gm.weights_, means_init=gm.means_,
                            precisions_init=gm.precisions_, max_iter=0).fit(np.asarray(X[:50_000]))
agree = np.mean(in_memory.predict(np.asarray(X[:50_000])) == gm.predict(X[:50_000]))
print(f"predictions of the first 50,000 rows agree: {agree:.4f}")

ax = plot.convergence(gm)
ax.set_title("Lower bound per iteration, streamed from a memmap")
plt.show()
os.remove(path)
