"""The standard benchmark workloads W1-W7 (see BENCHMARKS.md), generated reproducibly.

Each workload is a sample from a known random Gaussian mixture:

* weights ~ Dirichlet(5 * 1),
* means ~ N(0, s^2) per coordinate with s = 4 (s = 1 for the overlapping
  variants ``W2o`` and ``W3o``),
* covariance_k = (A A^T / D + 0.5 I) * u with A a D x D standard normal matrix
  and u ~ U(0.5, 2).

The data are always drawn from the full covariances; the workload's
``covariance_type`` only says which model is fitted to them.

Rows are generated in fixed-size chunks straight into a ``.npy`` file under
``benchmarks/.cache/`` (W7 is 640 MB, so no full-size temporaries are built).
Every row gets an independent component label, so the rows come out in random
order: this is the same distribution as generating the components one after
the other and shuffling the rows, without the shuffle. Chunk ``c`` of a
workload always uses the same random stream whatever N is, so a smaller
sample of a workload is exactly the first rows of a bigger one, and a cached
bigger file is reused for smaller N.

The float32 variant is the float64 data cast, cached as its own file.

Run ``python benchmarks/datasets.py W1 W2 ...`` to generate the cache ahead of time.
Cache files are named by workload, dtype and N only: delete ``benchmarks/.cache/``
after any change to how the data are generated.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import numpy as np
from scipy import linalg

CACHE_DIR = Path(__file__).resolve().parent / ".cache"

#: Rows per generation chunk. Changing it changes the data.
CHUNK_ROWS = 1 << 16

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# Seed-sequence tags: one independent stream per use.
_TAG_PARAMS, _TAG_INIT, _TAG_DATA = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Workload:
    """One benchmark workload.

    Attributes
    ----------
    name : str
        ``"W1"`` ... ``"W7"``, ``"W2o"``, ``"W3o"``.
    n_samples, n_features, n_components : int
        N, D and K.
    covariance_type : {"full", "tied", "diag", "spherical"}
        The model fitted to the data.
    mean_scale : float
        Standard deviation of the true means (4: well separated, 1: overlapping;
        0: the data are standard normal, no mixture at all).
    seed : int
        Seed of the true parameters, the initialisation and the data.
    description : str
        What the workload stands for.
    """

    name: str
    n_samples: int
    n_features: int
    n_components: int
    covariance_type: str
    mean_scale: float
    seed: int
    description: str = ""

    def itemsize_bytes(self, dtype) -> int:
        """Size in bytes of X (N x D) in ``dtype``."""
        return self.n_samples * self.n_features * np.dtype(dtype).itemsize


WORKLOADS = {
    w.name: w
    for w in (
        Workload("W1", 1_000_000, 2, 4, "full", 4.0, 101, "classic low-dimensional case, at scale"),
        Workload("W2", 1_000_000, 16, 16, "full", 4.0, 102, "main case: compute-bound"),
        Workload("W3", 1_000_000, 16, 16, "diag", 4.0, 103, "memory/exp-bound"),
        Workload("W4", 1_000_000, 16, 16, "spherical", 4.0, 104, ""),
        Workload("W5", 1_000_000, 16, 16, "tied", 4.0, 105, ""),
        Workload("W6", 200_000, 64, 32, "full", 4.0, 106, "higher dimension"),
        Workload("W7", 10_000_000, 8, 8, "diag", 4.0, 107, "many points (640 MB)"),
        Workload("W2o", 1_000_000, 16, 16, "full", 1.0, 112, "W2 with overlapping components"),
        Workload("W3o", 1_000_000, 16, 16, "diag", 1.0, 113, "W3 with overlapping components"),
        # Whole default fit() (k-means initialisation included), see whole_fit.py:
        Workload("F16", 1_000_000, 16, 16, "full", 0.0, 120,
                 "README usage example: standard normal data, K=16, full"),
        Workload("F10", 2_000_000, 10, 8, "full", 1.0, 121, "2M x 10, K=8, overlapping"),
        Workload("F2", 500, 2, 3, "full", 4.0, 122, "a small default fit: 500 x 2, K=3"),
        Workload("F8", 200_000, 8, 8, "full", 4.0, 123, "issue 10's whole-fit case: 200k x 8, K=8"),
    )
}


def get_workload(name, *, scale=1.0, n_samples=None):
    """Return a standard workload, optionally with a different number of rows.

    Parameters
    ----------
    name : str
        Workload id, e.g. ``"W2"``.
    scale : float, default=1.0
        Multiply N by this (for smoke tests), but keep at least ``8·K·D`` rows
        so that every component's covariance stays well defined. Ignored when
        ``n_samples`` is given.
    n_samples : int, optional
        Use exactly this N.

    Returns
    -------
    Workload
        The true parameters and the initialisation do not depend on N.
    """
    try:
        wl = WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}") from None
    if n_samples is None:
        n_samples = max(int(round(wl.n_samples * scale)), 8 * wl.n_components * wl.n_features)
    return dataclasses.replace(wl, n_samples=int(n_samples))


def _rng(wl, tag, *more):
    return np.random.default_rng([wl.seed, tag, *more])


def true_parameters(wl):
    """The parameters of the mixture the data are drawn from.

    Parameters
    ----------
    wl : Workload

    Returns
    -------
    dict
        ``weights`` (K,), ``means`` (K, D), ``covariances`` (K, D, D), float64.
    """
    k, d = wl.n_components, wl.n_features
    rng = _rng(wl, _TAG_PARAMS)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.normal(0.0, wl.mean_scale, size=(k, d))
    covariances = np.empty((k, d, d))
    for j in range(k):
        a = rng.standard_normal((d, d))
        covariances[j] = (a @ a.T / d + 0.5 * np.eye(d)) * rng.uniform(0.5, 2.0)
    return {"weights": weights, "means": means, "covariances": covariances}


def reduce_covariances(covariances, weights, covariance_type):
    """Turn full per-component covariances into the shape a model type needs.

    Parameters
    ----------
    covariances : ndarray of shape (K, D, D)
    weights : ndarray of shape (K,)
        Used for ``"tied"`` only.
    covariance_type : {"full", "tied", "diag", "spherical"}

    Returns
    -------
    ndarray
        full: (K, D, D) unchanged; tied: the weighted average (D, D);
        diag: the per-coordinate variances (K, D); spherical: their mean (K,).
    """
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.einsum("k,kij->ij", weights / weights.sum(), covariances)
    variances = np.diagonal(covariances, axis1=1, axis2=2).copy()
    if covariance_type == "diag":
        return variances
    if covariance_type == "spherical":
        return variances.mean(axis=1)
    raise ValueError(f"unknown covariance_type {covariance_type!r}")


def precision_cholesky(covariances, covariance_type):
    """Cholesky factor of the precisions, in scikit-learn's convention.

    For full and tied this is the upper-triangular ``U`` with
    ``precision = U @ U.T``; for diag and spherical ``1 / sqrt(covariances)``.

    Parameters
    ----------
    covariances : ndarray
        In the shape of ``covariance_type`` (see :func:`reduce_covariances`).
    covariance_type : {"full", "tied", "diag", "spherical"}

    Returns
    -------
    ndarray
        Same shape as ``covariances``.
    """
    if covariance_type not in ("full", "tied"):
        return 1.0 / np.sqrt(covariances)
    covs = covariances[None] if covariance_type == "tied" else covariances
    eye = np.eye(covs.shape[-1])
    chol = np.stack(
        [linalg.solve_triangular(linalg.cholesky(c, lower=True), eye, lower=True).T for c in covs]
    )
    return chol[0] if covariance_type == "tied" else chol


def initial_parameters(wl, dtype="float64"):
    """The deterministic starting point every implementation gets: the true parameters, perturbed.

    weights are multiplied by ``exp(0.2 z)`` and renormalised, means moved by
    ``0.25 z`` per coordinate, covariances scaled by ``U(0.7, 1.4)`` per component
    (``z`` standard normal, fixed seed per workload); then the covariances are
    reduced to the workload's covariance type (diag: the per-coordinate
    variances; spherical: their mean; tied: the weighted average covariance).

    Parameters
    ----------
    wl : Workload
    dtype : str or numpy dtype, default="float64"
        dtype of the returned arrays (give X's dtype).

    Returns
    -------
    dict
        ``weights``, ``means``, ``covariances``, ``precisions`` and
        ``precisions_cholesky`` (scikit-learn's conventions and shapes for
        ``wl.covariance_type``).
    """
    true = true_parameters(wl)
    k = wl.n_components
    rng = _rng(wl, _TAG_INIT)
    weights = true["weights"] * np.exp(0.2 * rng.standard_normal(k))
    weights /= weights.sum()
    means = true["means"] + 0.25 * rng.standard_normal(true["means"].shape)
    full = true["covariances"] * rng.uniform(0.7, 1.4, size=k)[:, None, None]
    covariances = reduce_covariances(full, weights, wl.covariance_type)
    prec_chol = precision_cholesky(covariances, wl.covariance_type)
    if wl.covariance_type in ("full", "tied"):
        precisions = prec_chol @ np.swapaxes(prec_chol, -1, -2)
    else:
        precisions = prec_chol**2
    params = {
        "weights": weights,
        "means": means,
        "covariances": covariances,
        "precisions": precisions,
        "precisions_cholesky": prec_chol,
    }
    return {name: np.ascontiguousarray(a, dtype=dtype) for name, a in params.items()}


def _data_path(wl, dtype):
    return CACHE_DIR / f"{wl.name}_{np.dtype(dtype).name}_n{wl.n_samples}.npy"


def _cached_rows(path):
    return int(re.search(r"_n(\d+)\.npy$", path.name).group(1))


def _find_cached(wl, dtype):
    """Smallest cached file of this workload and dtype with at least N rows, or None."""
    candidates = [
        p
        for p in CACHE_DIR.glob(f"{wl.name}_{np.dtype(dtype).name}_n*.npy")
        if _cached_rows(p) >= wl.n_samples
    ]
    return min(candidates, key=_cached_rows, default=None)


def _generate_float64(wl, path):
    if wl.mean_scale == 0:
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(wl.n_samples, wl.n_features))
        for c, start in enumerate(range(0, wl.n_samples, CHUNK_ROWS)):
            stop = min(start + CHUNK_ROWS, wl.n_samples)
            out[start:stop] = _rng(wl, _TAG_DATA, c).standard_normal((CHUNK_ROWS, wl.n_features))[: stop - start]
        out.flush()
        del out
        return
    true = true_parameters(wl)
    factors = np.linalg.cholesky(true["covariances"])  # (K, D, D), lower
    n, d = wl.n_samples, wl.n_features
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    for c, start in enumerate(range(0, n, CHUNK_ROWS)):
        # Always draw a whole chunk so the first rows do not depend on N.
        rng = _rng(wl, _TAG_DATA, c)
        labels = rng.choice(wl.n_components, size=CHUNK_ROWS, p=true["weights"])
        z = rng.standard_normal((CHUNK_ROWS, d))
        stop = min(start + CHUNK_ROWS, n)
        labels, z = labels[: stop - start], z[: stop - start]
        block = np.empty_like(z)
        for j in range(wl.n_components):
            rows = labels == j
            block[rows] = z[rows] @ factors[j].T + true["means"][j]
        out[start:stop] = block
    out.flush()
    del out


def _cast_file(src, dst, n_rows, dtype):
    source = np.load(src, mmap_mode="r")
    out = np.lib.format.open_memmap(dst, mode="w+", dtype=dtype, shape=(n_rows, source.shape[1]))
    for start in range(0, n_rows, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n_rows)
        out[start:stop] = source[start:stop]
    out.flush()
    del out, source


def ensure_data(wl, dtype="float64"):
    """Make sure X of a workload is cached on disk; generate it if not.

    Parameters
    ----------
    wl : Workload
    dtype : {"float64", "float32"}

    Returns
    -------
    pathlib.Path
        A ``.npy`` file whose first ``wl.n_samples`` rows are X (it may hold more).
    """
    found = _find_cached(wl, dtype)
    if found is not None:
        return found
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = _data_path(wl, dtype)
    tmp = path.with_name(f".{path.name}.partial")
    if np.dtype(dtype) == np.float64:
        _generate_float64(wl, tmp)
    else:
        _cast_file(ensure_data(wl, np.float64), tmp, wl.n_samples, dtype)
    tmp.replace(path)  # atomic: a crash never leaves a truncated cache file
    return path


def load_data(wl, dtype="float64"):
    """Load X of a workload into memory (generating it first if needed).

    Reads just the first ``wl.n_samples`` rows of the cached file into a fresh
    C-contiguous array; nothing stays memory-mapped, so the process RSS after
    this call is X plus the interpreter.

    Parameters
    ----------
    wl : Workload
    dtype : {"float64", "float32"}

    Returns
    -------
    ndarray of shape (N, D)
    """
    path = ensure_data(wl, dtype)
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, file_dtype = read_header(f)
        if fortran_order or shape[1] != wl.n_features or file_dtype != np.dtype(dtype):
            raise ValueError(f"unexpected layout in {path}")
        count = wl.n_samples * wl.n_features
        X = np.fromfile(f, dtype=file_dtype, count=count)
    if X.size != count:
        raise ValueError(f"{path} is truncated")
    return X.reshape(wl.n_samples, wl.n_features)


def _main(argv=None):
    parser = argparse.ArgumentParser(description="Generate the benchmark data cache.")
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--dtype", default="float64", help="comma-separated dtypes")
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    for name in args.workloads:
        wl = get_workload(name, scale=args.scale)
        for dtype in args.dtype.split(","):
            print(f"{name} {dtype} N={wl.n_samples}: {ensure_data(wl, dtype)}")


if __name__ == "__main__":
    _main()
