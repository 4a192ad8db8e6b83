"""Calls into the compiled E-step/statistics kernel (``_estep``).

This layer knows nothing about a model's parameters: it takes a feature code
(``quad``), a shift and the coefficients W that some family built, chooses
the chunk and slot layout from the problem's shape (never from the thread
count), allocates every output, runs the kernel (which adds the slots' sums
into the outputs in slot order), and turns status codes into exceptions.

Interruptibility: the kernel runs with the GIL released and cannot see
Ctrl-C, so a large pass is cut into consecutive ranges of whole slots, one
kernel call each, of about ``RANGE_WORK_PER_THREAD`` work per thread. Each
call adds its slots, in order, into the same output arrays after the earlier
calls' slots, so the slot layout and the slot-order sum are exactly those of
one call: results are bitwise identical for any split. Between calls the
interpreter runs the pending signal handlers, so a KeyboardInterrupt
surfaces within one range (~0.1 s) instead of at the end of the pass; the
outputs are local, so an interrupted pass leaves nothing half-written
behind.
"""

import functools

import numpy as np

from . import _estep
from ._layout import CHUNK_VALUES, EM_CHUNK_VALUES, chunk_rows_for, n_slots_for, ordered_slot_rows_for
from ._openmp_helpers import ROW_OVERHEAD_FLOPS, threads_for_work

RESP_ESTEP = _estep.RESP_ESTEP
RESP_HARD = _estep.RESP_HARD
RESP_GIVEN = _estep.RESP_GIVEN
RESP_LABELS = _estep.RESP_LABELS


def _row_cost(P, K):
    """Flops per row of a pass (two GEMMs), for choosing the thread count."""
    return 4 * P * K


# Work of one kernel call of a split pass, per thread, in the flop-equivalents
# threads_for_work counts: at ~0.023 ns each on one core of the development VM
# (see _openmp_helpers) this is ~35 ms (~70 ms on a loaded core), so Ctrl-C waits at most about that
# long, while the extra calls (a parallel region and ~20 us of Python each)
# cost well under 1 % of a range. Passes smaller than two ranges are one call.
RANGE_WORK_PER_THREAD = 1.5e9


def _slot_ranges(N, slot, n_slots, row_cost, threads, range_slots=None):
    """Consecutive ``(first_slot, end_slot)`` ranges covering every slot, sized by work.

    ``range_slots`` forces the slots per range (tests); otherwise a range is
    ~``RANGE_WORK_PER_THREAD`` per thread, at least one slot per thread and a
    multiple of the thread count where it can be (the kernel's slot counter,
    handing slots to whichever thread is free, then keeps every thread busy
    to the end of each call).
    """
    if range_slots is None:
        work = float(N) * (row_cost + ROW_OVERHEAD_FLOPS)
        n_ranges = int(work // (RANGE_WORK_PER_THREAD * threads))
        if n_ranges < 2:
            return [(0, n_slots)]
        range_slots = -(-n_slots // n_ranges)
        range_slots = max(threads, -(-range_slots // threads) * threads)
    range_slots = max(1, int(range_slots))
    return [(a, min(a + range_slots, n_slots)) for a in range(0, n_slots, range_slots)]


def _rows(a, b, slot, N):
    """Rows of slots ``a:b``."""
    return a * slot, min(b * slot, N)


def _part(arr, r0, r1):
    return None if arr is None else arr[r0:r1]


@functools.lru_cache(maxsize=256)   # a fit asks for the same shape's layout on every pass
def _layout(N, D, K, P, itemsize, tied, chunk_rows, slot_rows):
    """(chunk rows, slot rows, slot count) of the ordered reduction, from the shape only.

    ``D`` and ``itemsize`` no longer change the layout (memory is two partials per
    thread whatever the slot count); they stay for the callers' signature. ``tied``
    chooses the chunk budget (see ``fastgmm.kernels._layout.EM_CHUNK_VALUES``).
    """
    chunk = chunk_rows or chunk_rows_for(P, K, CHUNK_VALUES if tied else EM_CHUNK_VALUES)
    slot = slot_rows or ordered_slot_rows_for(N, chunk)
    return chunk, slot, n_slots_for(N, slot)


def float32_chunk_rows(P, K, full):
    """Rows per chunk of the float32 path, from the shape only.

    The float64 path's budget in bytes (twice the values: the chunk's features and
    log-densities still fill the same 32 KiB), at least 96 rows for full covariances,
    and at least 192 when the chunk's K x P sums outgrow a core's L1 cache (32 KiB of
    float32): the float32 path sums each chunk in its own float32 buffer and adds it
    into the float64 partial, ~20 bytes of traffic per sum per chunk against the
    chunk's 4 n P K flops. Measured, one pass, float32 path against float64, 1 thread
    (CPU time, shared machine): W2o 48 rows 1.75x, 96-144 1.84x, 192 1.80x; W3o 80
    rows 1.83-1.88x, 160-192 1.89-1.97x, 256 1.90x; W6 (P = 2145, K = 32: 275 KiB of
    sums) 48 rows 1.47x (2 threads), 96-144 1.65x, 192-288 1.65-1.68x.
    """
    chunk = chunk_rows_for(P, K, 2 * EM_CHUNK_VALUES)
    if full:
        chunk = max(chunk, 96)
    if 4 * K * P > 32 * 1024:
        chunk = max(chunk, 192)
    return chunk


def single_call_layout(N, D, K, P, tied, n_threads):
    """(chunk rows, slot rows, slot count, threads) of a float64 E-step pass that :func:`accumulate` makes
    in one kernel call, or None when it splits the pass (the compiled EM step, ``fastgmm.kernels._emrun``,
    makes the same call, so the same sums)."""
    chunk, slot, n_slots = _layout(N, D, K, P, 8, tied, None, None)
    cost = _row_cost(P, K)
    threads = threads_for_work(n_threads, N, cost)
    if len(_slot_ranges(N, slot, n_slots, cost, threads)) != 1:
        return None
    return chunk, slot, n_slots, threads_for_work(threads, N, cost)


def _check_status(status):
    if status != 0:
        raise MemoryError(
            "fastgmm: could not allocate the kernels' per-thread scratch memory (a few chunks of rows' "
            "features per thread; with covariance_type='full' a row has 1 + D + D (D + 1) / 2 of them). Free "
            "memory, use fewer threads (n_threads), or a 'diag' covariance for very wide data.")


def accumulate(X, quad, n_components, shift, n_threads, *, mode=RESP_ESTEP, W=None, U=None,
               resp=None, labels=None, sample_weight=None, chunk_rows=None, slot_rows=None, range_slots=None,
               codes=None, offsets=None, missing=None, W32=None):
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
    range_slots : int, optional
        Slots per kernel call (tests use it to split small passes; by default
        from the pass's work, see ``_slot_ranges``). Never changes the result.
    codes, offsets : int32 (N, D) and int64 (D + 1,), optional
        The one-hot code's categorical codes and cumulative category counts
        (``_estep.QONEHOT`` only; X then only gives the shape and dtype).
    missing : dict, optional
        Rows with NaNs: the kernel's missing-mode arrays (``rows``, X's rows
        sorted by pattern, ``pat_start``, ``miss_ptr``, ``miss_idx``,
        ``prec``, ``dev``, ``pair``; built by
        ``fastgmm.families._gaussian_missing``), W and U being the
        complete-data coefficients: the exact E-step and the completed
        statistics in one pass, with slots of positions in ``rows``.
    W32 : float32 (P, K), optional
        W in float32: the pass computes in float32 (float32 X, E-step mode,
        full, diag or spherical; see ``fastgmm.families._gaussian.float32_coefficients``
        for when that keeps the accuracy). Not with ``missing``.

    Returns
    -------
    G : ndarray (K, P)
        sum_i w_i r_ik f(x_i).
    T : ndarray (D, D) or None
        Tied: the lower triangle of sum_i w_i z_i z_i^T.
    loglik : float
        sum_i w_i log p(x_i) (E-step mode), else 0.
    """
    N, D = X.shape if missing is None else (len(missing["rows"]), X.shape[1])
    K = int(n_components)
    P = _estep.n_features_out(quad, D, 0 if offsets is None else int(offsets[-1]))
    tied = quad == _estep.QTIED
    if W32 is not None and chunk_rows is None:
        chunk_rows = float32_chunk_rows(P, K, quad == _estep.QFULL)
    chunk, slot, n_slots = _layout(N, D, K, P, X.itemsize, tied, chunk_rows, slot_rows)
    G = np.zeros((1, K * P))
    T = np.zeros((1, D * D)) if tied else None
    ll = np.zeros(1)
    cost = _row_cost(P, K)
    threads = threads_for_work(n_threads, N, cost)
    for a, b in _slot_ranges(N, slot, n_slots, cost, threads, range_slots):
        r0, r1 = _rows(a, b, slot, N)
        if missing is None:
            status = _estep.accumulate_statistics(
                X[r0:r1], quad, K, shift, mode, W, U, _part(resp, r0, r1), _part(labels, r0, r1),
                _part(sample_weight, r0, r1), chunk, slot, G, T, ll,
                threads_for_work(threads, r1 - r0, cost), codes=_part(codes, r0, r1), offsets=offsets, W32=W32)
        else:
            status = _estep.accumulate_statistics(
                X, quad, K, shift, mode, W, U, resp, None, sample_weight, chunk, slot, G, T, ll,
                threads_for_work(threads, r1 - r0, cost), missing["rows"][r0:r1],
                **_missing_range(missing, r0, r1), pair=missing["pair"], W32=W32)
        _check_status(status)
    # The kernel added the slots in slot order: identical for any thread count.
    G = G.reshape(K, P)
    if T is not None:
        T = T.reshape(D, D)
    return G, T, float(ll[0])


def estimate(X, quad, shift, W, U, n_threads, *, row_ll=False, labels=False, resp=False, total=False,
             range_slots=None, codes=None, offsets=None, missing=None, fill=False, log_prob=None):
    """E-step outputs under given coefficients; only the requested ones are allocated.

    ``log_prob``: a float64 (N, K) array the pass fills with the weighted
    log-densities ``F W`` of every row and component (with the missing-value
    corrections): the emissions of a hidden Markov model. Not returned.

    ``codes`` and ``offsets``: as :func:`accumulate` (one-hot code only).
    ``missing``: as :func:`accumulate` (rows with NaNs, from the marginal
    densities of their observed parts; every row of X is in ``rows``), and
    with ``fill`` the imputed X (each NaN its conditional expectation under
    the mixture, X's dtype) as a fifth output.

    Returns
    -------
    row_ll (N,) float64, labels (N,) int64, resp (N, K) of X's dtype, total (float) : or None
        Per-row log-likelihoods, most probable components, responsibilities,
        and the sum of the log-likelihoods (for ``score``).
    """
    N, D = X.shape
    P, K = W.shape
    out_ll = np.empty(N) if row_ll else None
    out_lab = np.empty(N, dtype=np.int64) if labels else None
    out_resp = np.empty((N, K), dtype=X.dtype) if resp else None
    out_sum = np.zeros(1) if total else None
    out_fill = np.empty_like(X) if fill else None
    if missing is not None:
        N = len(missing["rows"])
    chunk, slot, n_slots = _layout(N, D, K, P, X.itemsize, False, None, None)
    cost = _row_cost(P, K) // 2
    threads = threads_for_work(n_threads, N, cost)
    for a, b in _slot_ranges(N, slot, n_slots, cost, threads, range_slots):
        r0, r1 = _rows(a, b, slot, N)
        if missing is None:
            status = _estep.estimate(X[r0:r1], quad, shift, W, U, chunk, slot, _part(out_ll, r0, r1),
                                     _part(out_lab, r0, r1), _part(out_resp, r0, r1), out_sum,
                                     threads_for_work(threads, r1 - r0, cost), codes=_part(codes, r0, r1),
                                     offsets=offsets, log_prob=_part(log_prob, r0, r1))
        else:
            status = _estep.estimate(X, quad, shift, W, U, chunk, slot, out_ll, out_lab, out_resp, out_sum,
                                     threads_for_work(threads, r1 - r0, cost), missing["rows"][r0:r1],
                                     **_missing_range(missing, r0, r1), fill=out_fill, log_prob=log_prob)
        _check_status(status)
    if fill:
        return out_ll, out_lab, out_resp, (float(out_sum[0]) if total else None), out_fill
    return out_ll, out_lab, out_resp, (float(out_sum[0]) if total else None)


def _missing_range(missing, r0, r1):
    """The missing mode's pattern arrays for positions ``r0:r1`` of the sorted rows (runs relative to r0)."""
    pat_start = missing["pat_start"]
    qa = int(np.searchsorted(pat_start, r0, side="right")) - 1
    qb = int(np.searchsorted(pat_start, r1, side="left"))
    return dict(pat_start=np.clip(pat_start[qa:qb + 1] - r0, 0, r1 - r0), miss_ptr=missing["miss_ptr"][qa:qb + 1],
                miss_idx=missing["miss_idx"], prec=missing["prec"], dev=missing["dev"])
