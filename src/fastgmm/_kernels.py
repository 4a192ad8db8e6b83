"""Calls into the compiled E-step/statistics kernel (``_estep``).

This layer knows nothing about a model's parameters: it takes a feature code
(``quad``), a shift and the coefficients W that some family built, chooses
the chunk and slot layout from the problem's shape (never from the thread
count), allocates every output, runs the kernel, sums the slot partials in
slot order, and turns status codes into exceptions.
"""

import numpy as np

from . import _estep
from ._layout import chunk_rows_for, n_slots_for, slot_rows_for
from ._openmp_helpers import threads_for_work

RESP_ESTEP = _estep.RESP_ESTEP
RESP_HARD = _estep.RESP_HARD
RESP_GIVEN = _estep.RESP_GIVEN
RESP_LABELS = _estep.RESP_LABELS


def _row_cost(P, K):
    """Flops per row of a pass (two GEMMs), for choosing the thread count."""
    return 4 * P * K


def _layout(N, D, K, P, itemsize, tied, chunk_rows, slot_rows):
    chunk = chunk_rows or chunk_rows_for(P, K)
    stats_size = K * P + (D * D if tied else 0) + 1
    slot = slot_rows or slot_rows_for(N, D, K, stats_size, itemsize, chunk)
    return chunk, slot, n_slots_for(N, slot)


def _check_status(status):
    if status != 0:
        raise MemoryError("fastgmm: could not allocate the kernels' per-thread scratch memory")


def accumulate(X, quad, n_components, shift, n_threads, *, mode=RESP_ESTEP, W=None, U=None,
               resp=None, labels=None, sample_weight=None, chunk_rows=None, slot_rows=None):
    """One pass over X: responsibilities (by ``mode``) and their weighted sums.

    Parameters
    ----------
    X : ndarray (N, D), C-contiguous float32 or float64
    quad : int
        The kernel's feature code (``_estep.QFULL`` ...).
    n_components : int
    shift : ndarray (D,) float64
    n_threads : int
        Resolved thread count (an upper bound: small passes use fewer).
    mode : RESP_ESTEP, RESP_HARD, RESP_GIVEN or RESP_LABELS
    W, U : float64 coefficients (P, K) and tied factor (D, D) for the E-step modes
    resp : float64 (N, K) for RESP_GIVEN; labels : int64 (N,) for RESP_LABELS
    sample_weight : float64 (N,) or None
    chunk_rows, slot_rows : int, optional
        Override the layout (tests use it to cross chunk and slot boundaries).

    Returns
    -------
    G : ndarray (K, P)
        sum_i w_i r_ik f(x_i).
    T : ndarray (D, D) or None
        Tied: the lower triangle of sum_i w_i z_i z_i^T.
    loglik : float
        sum_i w_i log p(x_i) (E-step mode), else 0.
    """
    N, D = X.shape
    K = int(n_components)
    P = _estep.n_features_out(quad, D)
    tied = quad == _estep.QTIED
    chunk, slot, n_slots = _layout(N, D, K, P, X.itemsize, tied, chunk_rows, slot_rows)
    G = np.zeros((n_slots, K * P))
    T = np.zeros((n_slots, D * D)) if tied else None
    ll = np.zeros(n_slots)
    threads = threads_for_work(n_threads, N, _row_cost(P, K))
    status = _estep.accumulate_statistics(X, quad, K, shift, mode, W, U, resp, labels, sample_weight,
                                          chunk, slot, G, T, ll, threads)
    _check_status(status)
    # Slot partials are added in slot order: identical for any thread count.
    G = G.sum(axis=0).reshape(K, P)
    if T is not None:
        T = T.sum(axis=0).reshape(D, D)
    return G, T, float(ll.sum())


def estimate(X, quad, shift, W, U, n_threads, *, row_ll=False, labels=False, resp=False, total=False):
    """E-step outputs under given coefficients; only the requested ones are allocated.

    Returns
    -------
    row_ll (N,) float64, labels (N,) int64, resp (N, K) of X's dtype, total (float) : or None
        Per-row log-likelihoods, most probable components, responsibilities,
        and the sum of the log-likelihoods (for ``score``).
    """
    N, D = X.shape
    P, K = W.shape
    chunk, slot, n_slots = _layout(N, D, K, P, X.itemsize, False, None, None)
    out_ll = np.empty(N) if row_ll else None
    out_lab = np.empty(N, dtype=np.int64) if labels else None
    out_resp = np.empty((N, K), dtype=X.dtype) if resp else None
    out_sum = np.zeros(n_slots) if total else None
    threads = threads_for_work(n_threads, N, _row_cost(P, K) // 2)
    status = _estep.estimate(X, quad, shift, W, U, chunk, slot, out_ll, out_lab, out_resp, out_sum, threads)
    _check_status(status)
    return out_ll, out_lab, out_resp, (float(out_sum.sum()) if total else None)


def accumulate_segments(X, quad, n_components, shift, n_threads, W, U, rows, seg_start, seg_pat, seg_first, *,
                        sample_weight=None, chunk_rows=None):
    """E-step + statistics over the rows ``X[rows]`` by segments, summed per coefficient block.

    Segment s covers positions ``seg_start[s]:seg_start[s + 1]`` of ``rows``
    and uses block ``seg_pat[s]`` of the stacked W (and U); the segments of
    block b start at ``seg_first[b]`` (blocks in order, each with at least
    one segment). NaNs in the visited rows read as z = 0.

    Returns
    -------
    G : ndarray (n_blocks, K, P)
    T : ndarray (n_blocks, D, D) or None
        Tied: lower triangles of sum_i w_i z_i z_i^T per block.
    loglik : float
        sum_i w_i log p(x_i) under each row's coefficients.
    """
    N, D = X.shape
    K = int(n_components)
    P = _estep.n_features_out(quad, D)
    tied = quad == _estep.QTIED
    n_seg = len(seg_pat)
    chunk = chunk_rows or chunk_rows_for(P, K)
    G = np.zeros((n_seg, K * P))
    T = np.zeros((n_seg, D * D)) if tied else None
    ll = np.zeros(n_seg)
    threads = threads_for_work(n_threads, len(rows), _row_cost(P, K))
    slot = max(chunk, int(np.max(np.diff(seg_start))) if n_seg else chunk)
    slot = -(-slot // chunk) * chunk          # segments carry their own bounds; slot only passes the check
    status = _estep.accumulate_statistics(X, quad, K, shift, RESP_ESTEP, W, U, None, None, sample_weight,
                                          chunk, slot, G, T, ll, threads, rows, seg_start, seg_pat)
    _check_status(status)
    # Segment partials added in segment order: identical for any thread count.
    G = np.add.reduceat(G, seg_first, axis=0).reshape(len(seg_first), K, P)
    if T is not None:
        T = np.add.reduceat(T, seg_first, axis=0).reshape(len(seg_first), D, D)
    return G, T, float(ll.sum())
