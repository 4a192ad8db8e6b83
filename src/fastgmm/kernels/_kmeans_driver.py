"""k-means for initialisation, on the compiled chunked kernels (no scikit-learn).

``kmeans`` (the default init, ``init_params="kmeans"``) is built to give EM a
good start in a bounded amount of memory, independent of N:

1. Seeding sample. ``n_draws = min(max(64 K, 4096), max(8 K, 2**20 // (8 D)))``
   rows are drawn from ``random_state`` with replacement by inverting the
   cumulative weight: ``u ~ U(0, total)`` picks the row whose interval of
   the running sum holds ``u`` (weight 1 per row without ``sample_weight``;
   the weights' running sum is formed block by block, so no N-vector is
   made). When N <= n_draws all rows of positive weight are the sample
   instead (small problems are not subsampled). The rows are then merged by
   value, identical rows into one whose weight is their number of draws (or
   their summed weight), in lexicographic order. So the sample is an
   unbiased picture of the weighted data, rows of zero weight are never in
   it, a row of integer weight ``w`` gives the sample that ``w`` adjacent
   copies of it give, and when N <= n_draws the sample, hence the whole
   k-means, does not depend on the order of the rows (scikit-learn's
   ``check_sample_weight_equivalence_on_dense_data`` shuffles the weighted
   rows). The price: k-means++ does not see the rows in X's order, so the
   centres do not come in the order scikit-learn's KMeans would seed them
   with the same ``random_state``. The sample holds at most ~1 MiB of
   float64 rows for D >= 16 (4096 rows for K <= 64).
2. Greedy k-means++ (scikit-learn's: 2 + log K candidates per step) on the
   sample, then Lloyd's iterations on the sample until the stopping rule
   below with ``tol = 1e-6`` (at most 100 cheap passes).
3. Lloyd passes over the full data, from the sample's centres, until the
   stopping rule with ``tol = 1e-4`` or 50 passes.

Stopping rule: after a pass that assigned every row to its nearest centre
``c_k`` (inertia J), the new centres ``m_k`` (weighted means of their rows)
lower J by exactly ``sum_k W_k |m_k - c_k|^2`` before any row is reassigned
(``W_k`` the weight assigned to ``k``). Stop when that decrease is at most
``tol * J``: the centres then move by a negligible fraction of the clusters'
spread, which is all a starting point for EM needs. The rule is scale-free,
and costs no extra pass (scikit-learn's KMeans stops on the same centre
shift measured against the data's mean variance, at ``tol = 1e-4``, or at
300 iterations).

Each Lloyd pass (``_kmeans.lloyd_pass``) forms the distances of a chunk of
rows to all centres with one GEMM on data and centres shifted by the
centres' mean (see that module), assigns, and adds per-slot weighted sums
and counts on the fly: no per-row array exists during k-means. Memory beyond
X: the seeding sample, per-slot partials and heaps (at most 128 slots of
K (D + 4) + 1 float64), and per-thread chunk scratch.

Empty clusters (after a pass) move to the rows of positive weight farthest
from their nearest centre in that pass: each slot keeps a heap of its K
farthest rows, the slots' heaps are merged sorted by (distance desc, row),
and rows at distance 0 or coinciding with a row already chosen are skipped,
so the choice is deterministic. When fewer distinct centres than
``n_clusters`` remain non-empty at the end, a ConvergenceWarning says so,
as scikit-learn's KMeans does.

``kmeans_plusplus`` (``init_params="k-means++"``) works on all of X, keeps a
few N-vectors, and draws from ``random_state`` exactly as
``sklearn.cluster.kmeans_plusplus`` does, so a seed picks the same rows. Its
draws invert cumulative (weighted) potentials, so a row of integer weight
``w`` is chosen exactly when one of ``w`` adjacent copies of it would be.

The functions here call BLAS from OpenMP threads: the caller keeps BLAS
single-threaded around them (``fastgmm.utils._threadpool.blas_single_thread``).
"""

import bisect
import warnings

import numpy as np

from ..utils._validation import ConvergenceWarning, sklearn_compatible
from . import _kmeans
from ._layout import chunk_rows_for, n_slots_for, slot_rows_for

#: Seeding sample: rows drawn per cluster, its floor, and its memory cap.
SEED_ROWS_PER_CLUSTER = 64
SEED_MIN_ROWS = 4096
SEED_MAX_BYTES = 1 << 20
#: Stopping rule on the sample and on the full data (see the module docstring).
SAMPLE_TOL, SAMPLE_MAX_ITER = 1e-6, 100
FULL_TOL, FULL_MAX_ITER = 1e-4, 50
#: Rows per block of the weights' running sum (its scratch: 3 x 128 KiB).
_BLOCK = 16384
_VAR_BLOCK = 65536


def _layout(X, n_out, stats_size):
    N, D = X.shape
    chunk = chunk_rows_for(D, n_out)
    slot = slot_rows_for(N, D, n_out, stats_size, X.itemsize, chunk)
    return chunk, slot, n_slots_for(N, slot)


def feature_variance_mean(X):
    """Mean over features of the per-feature variance, in blocks (no N x D copy).

    Returns
    -------
    var_mean : float
    mean : ndarray (D,) float64
    """
    N = X.shape[0]
    mean = np.zeros(X.shape[1])
    for a in range(0, N, _VAR_BLOCK):
        mean += X[a:a + _VAR_BLOCK].sum(axis=0, dtype=np.float64)
    mean /= N
    ss = np.zeros(X.shape[1])
    for a in range(0, N, _VAR_BLOCK):
        ss += np.sum((X[a:a + _VAR_BLOCK] - mean) ** 2, axis=0, dtype=np.float64)
    return float(np.mean(ss / N)), mean


# ---------------------------------------------------------------------------
# k-means++ (greedy, scikit-learn's draws)
# ---------------------------------------------------------------------------

def kmeans_plusplus(X, n_clusters, random_state, n_threads, *, sample_weight=None):
    """Greedy k-means++ seeding, drawing from ``random_state`` as scikit-learn does.

    Parameters
    ----------
    X : ndarray (n_samples, D), C-contiguous float32 or float64
    n_clusters : int
    random_state : numpy.random.RandomState
    n_threads : int
    sample_weight : ndarray (n_samples,) float64, optional
        Non-negative, positive sum. As in scikit-learn, the first centre is
        drawn with probability ``w / sum(w)`` and the potentials are
        weighted; a row of zero weight is never chosen.

    Returns
    -------
    centres : ndarray (n_clusters, D) of X's dtype
    indices : ndarray (n_clusters,) rows of X chosen as centres
    """
    return _kmeans_plusplus(X, n_clusters, random_state, n_threads, sample_weight)


def _kmeans_plusplus(X, n_clusters, random_state, n_threads, w):
    N, D = X.shape
    n_trials = 2 + int(np.log(n_clusters))
    chunk, slot, n_slots = _layout(X, n_trials, n_trials)
    indices = np.empty(n_clusters, dtype=np.int64)
    # The same draws from random_state as scikit-learn's kmeans_plusplus, so
    # a given seed picks the same rows.
    if w is None:
        indices[0] = random_state.choice(N, p=np.full(N, 1.0 / N))
    else:
        indices[0] = random_state.choice(N, p=w / w.sum())
    closest = np.full(N, np.inf)
    closest = _closest_after(X, w, indices[0], closest, chunk, slot, n_slots, n_threads)
    current_pot = closest.sum() if w is None else closest @ w
    for c in range(1, n_clusters):
        if current_pot > 0:
            cum = np.cumsum(closest if w is None else w * closest)
            total = cum[-1] if w is None else current_pot
            rand_vals = random_state.uniform(size=n_trials) * total
            cand = np.searchsorted(cum, rand_vals)
            # Rounding can put a draw past the end: take the last row that
            # carries potential (the last row, unless its weight is 0).
            np.clip(cand, None, np.searchsorted(cum, cum[-1]), out=cand)
            del cum
        else:
            # Every row coincides with a centre: any row that is present will
            # do, drawn by weight (the uniform draws scikit-learn makes here).
            u = random_state.uniform(size=n_trials)
            cand = _unit_draws(N, u) if w is None else _inverse_cdf(np.cumsum(w), u)
        pot = np.zeros((n_slots, n_trials))
        _check(_kmeans.candidate_potentials(
            X, w, np.ascontiguousarray(X[cand]), closest, chunk, slot, pot, None, n_threads))
        pots = pot.sum(axis=0)
        best = int(np.argmin(pots))
        indices[c] = cand[best]
        # One more pass for the winner's distances: cheaper in memory than
        # keeping n_trials N-vectors.
        closest = _closest_after(X, w, indices[c], closest, chunk, slot, n_slots, n_threads)
        current_pot = pots[best]
    return np.ascontiguousarray(X[indices]), indices


def _closest_after(X, w, index, closest, chunk, slot, n_slots, n_threads):
    """Squared distance of every row to its nearest centre once row ``index`` is a centre."""
    new = np.empty((1, X.shape[0]))
    _check(_kmeans.candidate_potentials(
        X, w, X[index:index + 1], closest, chunk, slot, np.zeros((n_slots, 1)), new, n_threads))
    return new[0]


# ---------------------------------------------------------------------------
# Lloyd
# ---------------------------------------------------------------------------

class _LloydWorkspace:
    """Per-slot outputs of ``lloyd_pass`` for one (X, K), allocated once."""

    def __init__(self, X, K, n_far):
        D = X.shape[1]
        self.chunk, self.slot, n_slots = _layout(X, K, K * D + K + 1 + 3 * n_far)
        self.sums = np.zeros((n_slots, K * D))
        self.counts = np.zeros((n_slots, K))
        self.inertia = np.zeros(n_slots)
        self.far_dist = np.full((n_slots, n_far), -1.0)
        self.far_row = np.full((n_slots, n_far), -1, dtype=np.int64)
        self.far_label = np.full((n_slots, n_far), -1, dtype=np.int64)

    def run(self, X, w, centres, shift, n_threads, labels=None):
        for a in (self.sums, self.counts, self.inertia):
            a.fill(0.0)
        _check(_kmeans.lloyd_pass(
            X, w, centres, shift, self.chunk, self.slot, self.sums, self.counts, self.inertia,
            self.far_dist, self.far_row, self.far_label, labels, n_threads,
        ))
        K, D = centres.shape
        return self.sums.sum(axis=0).reshape(K, D), self.counts.sum(axis=0), float(self.inertia.sum())


def _far_rows(X, ws, n_wanted):
    """Up to ``n_wanted`` distinct rows farthest from their centre in the last pass, farthest first."""
    d = ws.far_dist.ravel()
    rows = ws.far_row.ravel()
    keep = d > 0
    d, rows = d[keep], rows[keep]
    chosen = []
    for j in np.lexsort((rows, -d)):
        x = X[rows[j]]
        if not any(np.array_equal(x, X[r]) for r in chosen):
            chosen.append(rows[j])
            if len(chosen) == n_wanted:
                break
    return chosen


def _lloyd(X, w, centres, n_threads, tol, max_iter):
    """Lloyd passes from ``centres`` until the stopping rule of the module docstring.

    Returns
    -------
    centres : ndarray (K, D) float64
    n_iter : int
        Passes over X.
    n_nonempty : int
        Centres with positive weight in the last pass.
    inertia : float
        The last pass's inertia (at the centres it started from).
    """
    centres = np.array(centres, dtype=np.float64)
    K = centres.shape[0]
    ws = _LloydWorkspace(X, K, K)
    n_nonempty = K
    inertia = np.inf
    n_iter = 0
    while n_iter < max_iter:
        shift = centres.mean(axis=0)
        sums, counts, inertia = ws.run(X, w, centres, shift, n_threads)
        n_iter += 1
        filled = counts > 0
        new = centres.copy()
        new[filled] = shift + sums[filled] / counts[filled, None]
        gain = float(np.sum(counts[filled] * np.sum((new[filled] - centres[filled]) ** 2, axis=1)))
        n_nonempty = int(filled.sum())
        relocated = False
        if n_nonempty < K:
            empty = np.flatnonzero(~filled)
            far = _far_rows(X, ws, empty.size)
            # The donors keep their means; the next pass reassigns the rows.
            for e, r in zip(empty, far):
                new[e] = X[r]
            relocated = len(far) > 0
        centres = new
        if not relocated and gain <= tol * inertia:
            break
    return centres, n_iter, n_nonempty, inertia


def _n_seed_draws(N, D, n_clusters):
    """Rows drawn for the seeding sample (see the module docstring)."""
    return min(max(SEED_ROWS_PER_CLUSTER * n_clusters, SEED_MIN_ROWS),
               max(8 * n_clusters, SEED_MAX_BYTES // (8 * D)))


def _seeding_sample(X, n_clusters, random_state, w):
    """The rows and weights k-means is seeded on (see the module docstring).

    Returns
    -------
    S : ndarray (M, D) of X's dtype, C-contiguous
        Distinct rows in lexicographic order.
    ws : ndarray (M,) float64
        Their weights: numbers of draws, or when the sample is all of X the
        summed weights of identical rows.
    """
    N, D = X.shape
    n_draws = _n_seed_draws(N, D, n_clusters)
    if N <= n_draws:
        present = slice(None) if w is None else w > 0
        rows, weight = X[present], (np.ones(N) if w is None else w[present])
    else:
        if w is None:
            draws = _unit_draws(N, np.sort(random_state.uniform(size=n_draws)))
        else:
            draws = _weighted_draws(w, n_draws, random_state)
        rows, counts = np.unique(draws, return_counts=True)
        rows, weight = X[rows], counts.astype(np.float64)
    # Merging identical rows makes a row of weight w and w copies of it the
    # same sample, and the lexicographic order makes the seeding independent
    # of where the rows are in X.
    S, inverse = _distinct_rows(rows)
    return np.ascontiguousarray(S), np.bincount(inverse, weights=weight, minlength=S.shape[0])


def _distinct_rows(rows):
    """The distinct rows in lexicographic (numeric) order and each row's index among them.

    What ``np.unique(rows, axis=0, return_inverse=True)`` gives, by a stable
    sort of the columns: NumPy's version sorts the rows as a structured
    array, ~2 ms for the 4,096-row seeding sample of an 8-column X (5 % of a
    200k-row default fit), and so does ``lexsort`` of the 8 columns. When the
    first column has no ties its stable argsort alone is the lexicographic
    order (0.07 ms); otherwise ``lexsort``. Of rows equal up to the sign of a
    zero the first in ``rows`` is kept.
    """
    order = np.argsort(rows[:, 0], kind="stable")
    first = rows[order, 0]
    if np.any(first[1:] == first[:-1]):
        order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    new = np.empty(ordered.shape[0], dtype=bool)
    new[:1] = True
    np.any(ordered[1:] != ordered[:-1], axis=1, out=new[1:])
    inverse = np.empty(ordered.shape[0], dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse


def _unit_draws(N, u):
    """Rows of N rows of weight 1 drawn by ``u`` in [0, 1): row floor(u N), the unit interval holding u N.

    The same rows, for the same ``u``, as ``_weighted_draws`` and
    ``_inverse_cdf`` give for weights of 1 (their running sums are exact
    integers), without an N-vector.
    """
    return np.minimum((np.asarray(u) * N).astype(np.int64), N - 1)


def _inverse_cdf(cum, u):
    """Rows drawn by ``u`` in [0, 1) from the running sum ``cum`` of the weights.

    The first row whose running sum exceeds ``u * cum[-1]``: its weight is
    positive, and a row of integer weight w takes the interval that w rows
    of weight 1 would. A draw rounded up to the total goes to the last row
    of positive weight.
    """
    rows = np.searchsorted(cum, np.asarray(u) * cum[-1], side="right")
    return np.minimum(rows, np.searchsorted(cum, cum[-1]))


def _weighted_draws(w, n_draws, random_state):
    """Rows drawn with replacement with probability w / sum(w), in blocks (no N-vector); sorted."""
    N = w.shape[0]
    total = 0.0
    for a in range(0, N, _BLOCK):
        total = float(np.cumsum(w[a:a + _BLOCK])[-1] + total)
    u = np.sort(random_state.uniform(size=n_draws)) * total
    draws = np.empty(n_draws, dtype=np.int64)
    start = 0
    offset = 0.0
    last_present = -1
    for a in range(0, N, _BLOCK):
        cum = np.cumsum(w[a:a + _BLOCK])
        cum += offset
        # side="right": the first row whose running sum exceeds u, which
        # always has positive weight.
        stop = start + int(np.searchsorted(u[start:], cum[-1], side="left"))
        draws[start:stop] = a + np.searchsorted(cum, u[start:stop], side="right")
        start = stop
        if cum[-1] > offset:   # where the running sum reaches its end: the block's last present row
            last_present = a + int(np.searchsorted(cum, cum[-1]))
        offset = float(cum[-1])
    draws[start:] = last_present   # u rounded up to the total: the last present row
    return draws


def draw_units(N, n_draws, random_state, sample_weight=None):
    """Rows drawn one at a time, each taking one unit of its row's weight (without replacement).

    Each draw inverts the running sum of the weight the rows have left
    (``u ~ U(0, left)``, the row whose interval holds ``u``) and takes one
    unit of weight from the row it picks, or the row's whole weight when
    less than one unit is left. So a row of integer weight ``w`` is drawn
    exactly as ``w`` adjacent rows of weight 1 would be (and can be drawn
    up to ``w`` times, as each of them once), a row of weight 0 never is,
    and without weights this is ``n_draws`` distinct rows, each draw uniform
    among the rows not drawn yet. With weights, each draw costs a running
    sum over the rows from the one drawn on (O(N) per draw, like the
    E-step's O(N K) for the K seeds).

    Parameters
    ----------
    N : int
        Number of rows.
    n_draws : int
    random_state : numpy.random.RandomState
        One ``uniform()`` per draw.
    sample_weight : ndarray (N,) float64, optional
        Non-negative.

    Returns
    -------
    rows : int64 ndarray (n_draws,)
    mass : float64 ndarray (n_draws,)
        The weight each draw took: 1, or less from a row with less left.

    Raises
    ------
    ValueError
        When the rows hold fewer than ``n_draws`` such units (fewer than
        ``n_draws`` rows of positive weight, each below one).
    """
    rows = np.empty(n_draws, dtype=np.int64)
    mass = np.ones(n_draws)
    if sample_weight is None:
        if n_draws > N:
            raise ValueError(f"Cannot draw {n_draws} distinct rows from {N} rows.")
        drawn = []          # sorted
        for j in range(n_draws):
            r = int(_unit_draws(N - j, random_state.uniform()))
            for q in drawn:  # the r-th row not drawn yet
                if q > r:
                    break
                r += 1
            bisect.insort(drawn, r)
            rows[j] = r
        return rows, mass
    left = np.array(sample_weight, dtype=np.float64)
    cum = np.cumsum(left)
    for j in range(n_draws):
        if not cum[-1] > 0:
            raise ValueError(f"Cannot draw {n_draws} rows in proportion to sample_weight: only {j} units of "
                             "weight (rows of positive weight, one unit each) are available. Give at least "
                             "n_components rows a positive sample_weight.")
        r = int(_inverse_cdf(cum, random_state.uniform()))
        rows[j] = r
        mass[j] = min(left[r], 1.0)
        left[r] -= mass[j]    # exactly 0 once the row is used up, so it is never drawn again
        # Recomputed rather than decremented: rounding never leaves a used-up
        # row (or one of weight 0) a sliver of the running sum.
        base = cum[r - 1] if r > 0 else 0.0
        np.cumsum(left[r:], out=cum[r:])
        cum[r:] += base
    return rows, mass


def kmeans(X, n_clusters, random_state, n_threads, *, sample_weight=None):
    """k-means centres to start EM from, in memory bounded independently of N.

    k-means++ and Lloyd on a seeding sample, then Lloyd passes over all of X;
    see the module docstring for the sample size and the stopping rule.

    Parameters
    ----------
    X : ndarray (n_samples, D), C-contiguous float32 or float64, finite
    n_clusters : int
    random_state : numpy.random.RandomState
    n_threads : int
    sample_weight : ndarray (n_samples,) float64, optional
        Non-negative with a positive sum; a row of weight 0 is absent.

    Returns
    -------
    centres : ndarray (n_clusters, D) float64

    Warns
    -----
    ConvergenceWarning
        When fewer than ``n_clusters`` distinct centres could be found.
    """
    return _kmeans_with_info(X, n_clusters, random_state, n_threads, sample_weight)[0]


def _kmeans_with_info(X, n_clusters, random_state, n_threads, sample_weight=None,
                      full_tol=None, full_max_iter=None):
    """``kmeans`` and a dict of what it did (for tests and benchmarks)."""
    full_tol = FULL_TOL if full_tol is None else full_tol
    full_max_iter = FULL_MAX_ITER if full_max_iter is None else full_max_iter
    S, ws = _seeding_sample(X, n_clusters, random_state, sample_weight)
    seeds, _ = _kmeans_plusplus(S, n_clusters, random_state, n_threads, ws)
    info = {"sample_rows": S.shape[0]}
    if X.shape[0] <= _n_seed_draws(X.shape[0], X.shape[1], n_clusters):
        # The sample is the whole data set: Lloyd on it would be Lloyd on X.
        centres = seeds
        info["sample_iter"] = 0
    else:
        centres, info["sample_iter"], _, _ = _lloyd(S, ws, seeds, n_threads, SAMPLE_TOL, SAMPLE_MAX_ITER)
    del S, ws
    centres, info["n_iter"], n_nonempty, info["inertia"] = _lloyd(
        X, sample_weight, centres, n_threads, full_tol, full_max_iter)
    if n_nonempty < n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({n_nonempty}) found smaller than n_clusters ({n_clusters}). "
            "Possibly due to duplicate points in X.",
            sklearn_compatible(ConvergenceWarning), stacklevel=3,
        )
    return centres, info


def nearest_centre_labels(X, centres, n_threads):
    """Index of the nearest centre of every row (chunked, same distances as Lloyd).

    Parameters
    ----------
    X : ndarray (n_samples, D), C-contiguous float32 or float64
    centres : ndarray (K, D)
    n_threads : int

    Returns
    -------
    labels : int64 ndarray (n_samples,)
    """
    centres = np.ascontiguousarray(centres, dtype=np.float64)
    ws = _LloydWorkspace(X, centres.shape[0], 0)
    labels = np.empty(X.shape[0], dtype=np.int64)
    ws.run(X, None, centres, centres.mean(axis=0), n_threads, labels=labels)
    return labels


def _check(status):
    if status != 0:
        raise MemoryError("fastgmm: could not allocate the k-means kernels' scratch memory (a few chunks of "
                          "rows per thread). Free memory or use fewer threads (n_threads).")
