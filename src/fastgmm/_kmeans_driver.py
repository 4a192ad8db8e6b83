"""k-means for initialisation, on the compiled chunked kernels (no scikit-learn).

Greedy k-means++ seeding (2 + log K candidates per step, as scikit-learn does)
followed by Lloyd iterations. Memory beyond X: a few N-vectors (labels and
squared distances), never N x K or N x D.
"""

import numpy as np

from . import _kmeans
from ._layout import chunk_rows_for, slot_rows_for


def _layout(X, n_out):
    N, D = X.shape
    chunk = chunk_rows_for(D, n_out)
    slot = slot_rows_for(N, D, n_out, n_out * (D + 1) + 1, X.itemsize, chunk)
    return chunk, slot, max(1, -(-N // slot))


def feature_variance_mean(X):
    """Mean over features of the per-feature variance, in blocks (no N x D copy)."""
    N = X.shape[0]
    block = 65536
    mean = np.zeros(X.shape[1])
    for a in range(0, N, block):
        mean += X[a:a + block].sum(axis=0, dtype=np.float64)
    mean /= N
    ss = np.zeros(X.shape[1])
    for a in range(0, N, block):
        ss += np.sum((X[a:a + block] - mean) ** 2, axis=0, dtype=np.float64)
    return float(np.mean(ss / N)), mean


def kmeans_plusplus(X, n_clusters, random_state, n_threads, n_local_trials=None, *, sample_weight=None):
    if sample_weight is not None:
        raise NotImplementedError("weighted k-means++ is on its way")
    """Greedy k-means++ seeding.

    Returns
    -------
    centres : ndarray (n_clusters, D) of X's dtype
    indices : ndarray (n_clusters,) rows of X chosen as centres
    """
    N, D = X.shape
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    chunk, slot, n_slots = _layout(X, n_local_trials)
    indices = np.empty(n_clusters, dtype=np.int64)
    # The same draws from random_state as scikit-learn's kmeans_plusplus, so
    # a given seed picks the same rows.
    indices[0] = random_state.choice(N, p=np.full(N, 1.0 / N))
    closest = np.full(N, np.inf)
    closest = _closest_after(X, indices[0], closest, chunk, slot, n_slots, n_threads)
    current_pot = closest.sum()
    for c in range(1, n_clusters):
        if current_pot > 0:
            cum = np.cumsum(closest)
            rand_vals = random_state.uniform(size=n_local_trials) * cum[-1]
            cand = np.searchsorted(cum, rand_vals)
            np.clip(cand, None, N - 1, out=cand)
            del cum
        else:  # every row coincides with a centre: any row will do
            cand = random_state.randint(N, size=n_local_trials)
        pot = np.zeros((n_slots, n_local_trials))
        _check(_kmeans.candidate_potentials(
            X, np.ascontiguousarray(X[cand]), closest, chunk, slot, pot, None, n_threads))
        pots = pot.sum(axis=0)
        best = int(np.argmin(pots))
        indices[c] = cand[best]
        # One more pass for the winner's distances: cheaper in memory than
        # keeping n_local_trials N-vectors.
        closest = _closest_after(X, indices[c], closest, chunk, slot, n_slots, n_threads)
        current_pot = pots[best]
    return np.ascontiguousarray(X[indices]), indices


def _closest_after(X, index, closest, chunk, slot, n_slots, n_threads):
    """Squared distance of every row to its nearest centre once row ``index`` is a centre."""
    new = np.empty((1, X.shape[0]))
    _check(_kmeans.candidate_potentials(
        X, X[index:index + 1], closest, chunk, slot, np.zeros((n_slots, 1)), new, n_threads))
    return new[0]


def kmeans(X, n_clusters, random_state, n_threads, *, sample_weight=None, max_iter=300, tol=1e-4):
    if sample_weight is not None:
        raise NotImplementedError("weighted k-means is on its way")
    """Lloyd's k-means from a k-means++ start.

    Stops when no label changes, or when the centres move by at most ``tol``
    times the data's mean feature variance (scikit-learn's rule).

    Returns
    -------
    centres : ndarray (n_clusters, D), float64
    labels : int64 ndarray (n_samples,)
    """
    N, D = X.shape
    var_mean, _ = feature_variance_mean(X)
    tol_abs = var_mean * tol
    centres, _ = kmeans_plusplus(X, n_clusters, random_state, n_threads)
    centres = centres.astype(np.float64)
    chunk, slot, n_slots = _layout(X, n_clusters)
    labels = np.full(N, -1, dtype=np.int64)
    labels_old = np.empty_like(labels)
    dist = np.empty(N)
    for _ in range(max_iter):
        labels_old[:] = labels
        sums = np.zeros((n_slots, n_clusters * D))
        counts = np.zeros((n_slots, n_clusters))
        inertia = np.zeros(n_slots)
        _check(_kmeans.lloyd_iteration(
            X, np.ascontiguousarray(centres, dtype=X.dtype), chunk, slot, sums, counts, inertia, labels, dist, n_threads
        ))
        counts = counts.sum(axis=0)
        sums = sums.sum(axis=0).reshape(n_clusters, D)
        new = centres.copy()
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if empty.size:
            # Relocate empty clusters to the rows farthest from their centre.
            far = np.argpartition(dist, -empty.size)[-empty.size:]
            far = far[np.argsort(-dist[far], kind="stable")]
            new[empty] = X[far]
        shift = np.sum((new - centres) ** 2)
        centres = new
        if np.array_equal(labels, labels_old) and not empty.size:
            break
        if shift <= tol_abs:
            # Labels for the final centres, as scikit-learn returns them.
            _check(_kmeans.lloyd_iteration(
                X, np.ascontiguousarray(centres, dtype=X.dtype), chunk, slot,
                np.zeros((n_slots, n_clusters * D)), np.zeros((n_slots, n_clusters)), np.zeros(n_slots),
                labels, None, n_threads,
            ))
            break
    return centres


def _check(status):
    if status != 0:
        raise MemoryError("fastgmm: could not allocate the k-means kernels' scratch memory")
