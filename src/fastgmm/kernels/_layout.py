"""Chunk and slot sizes shared by the EM and k-means kernels.

Both depend only on the problem's shape, never on the thread count: that is
what makes every result bitwise identical for any ``n_threads``. A chunk is
the unit of work of one kernel call (a few hundred rows); a slot is a fixed
run of chunks whose partial sums are added in slot order.

Two layouts. The EM kernels (fastgmm.kernels._estep, fastgmm._studentt) reduce in
order: each thread sums one slot into a private partial and adds it into the
single result in slot order (see _ordered.h), so memory does not grow
with the slot count and slots are small (``ordered_slot_rows_for``: ~2
sqrt(N) rows) and numerous, balancing any thread count. The k-means kernel keeps
one output row per slot (``slot_rows_for``: a bounded slot count).
"""

import math

import numpy as np

# Memory the per-slot partial sums may use, as a fraction of X's size (with a
# 256 KiB floor), and the slot-count bounds. More slots balance threads
# better; the bounds keep the reduction cheap and the memory small.
SLOT_MEMORY_FRACTION = 0.0025
MIN_SLOTS, MAX_SLOTS = 4, 128


#: Values (rows x (P + K)) of a Gaussian EM chunk's features and log-densities:
#: 32 KiB, so both stay in a core's L1 data cache while the two GEMMs and the
#: log-sum-exp go over them. Alone on the benchmark machine (2 threads, 1M
#: rows, in-process, the old chunk vs this one): diag D=16, K=16 0.035-0.037
#: s/pass at 384 rows vs 0.032-0.034 at 80; spherical 0.029-0.030 at 384 vs
#: 0.028 at 112; diag D=8, K=8 0.0155-0.016 at 384 vs 0.0142-0.0147 at 160;
#: full D=16, K=16 0.096-0.100 at 192 vs 0.095-0.096 at 48 (the floor). In
#: whole fits, interleaved (benchmarks/results/2026-12-01-ab-l1-chunks.md, 2
#: threads): W3 0.97x, W4 0.97x, W7 0.94x the time, W2 1.00x, but tied (W5)
#: 1.04x (a TRMM and a Gram per chunk), so tied keeps CHUNK_VALUES.
EM_CHUNK_VALUES = 1 << 12

#: The k-means, Student-t and tied kernels' budget.
CHUNK_VALUES = 1 << 15


def chunk_rows_for(n_features, n_components, budget=CHUNK_VALUES):
    """Rows per chunk, from the width of a row's expansion (P) and K.

    Rows are ``budget / (n_features + n_components)``, a multiple of 16, at
    least 48 and at most 384. The 48-row floor is for very wide rows (W6:
    0.8 MiB of scratch; 48 rows ran W6's pass as fast as 64 with a 0.26 MiB
    smaller buffer per thread; 32 rows were 5-8 % slower). The 384-row cap:
    beyond it OpenBLAS leaves its unpacked small-matrix GEMM path for these
    shapes, and a diag pass on 1M x 16 rows went from 0.052 to 0.08 s (on an
    earlier benchmark machine; on the present one 768 rows made a full pass
    1.6x slower). ``n_features`` is P for the EM kernels and D for k-means;
    the Gaussian EM kernel passes ``budget=EM_CHUNK_VALUES`` (but for tied).
    """
    rows = budget // (n_features + n_components)
    return int(max(48, min(384, rows - rows % 16)))


def slot_rows_for(n_samples, n_features, n_components, stats_size, itemsize, chunk_rows):
    """Rows per slot, a multiple of ``chunk_rows``, from the problem's shape only."""
    n_chunks = max(1, -(-n_samples // chunk_rows))
    budget = max(1 << 18, SLOT_MEMORY_FRACTION * n_samples * n_features * itemsize)
    max_slots = int(np.clip(budget // (8 * stats_size), MIN_SLOTS, MAX_SLOTS))
    n_slots = min(n_chunks, max_slots)
    return -(-n_chunks // n_slots) * chunk_rows


# Rows per slot of the ordered reduction, as a multiple of sqrt(N). Two costs
# pull apart, both per double of a slot's partial (K * P, + D * D tied) and
# so independent of K and P relative to the ~4 K P flops a row costs:
# - the additions: every slot's partial is zeroed and added into the result,
#   reading it from the previous adder's cache (~0.5-1.5 ns per double), in
#   slot order per 16 KiB block (pipelined, see _ordered.h): n_slots * KP * c
#   in all;
# - the tail: the last slots run with idle threads beside them, ~one slot's
#   time, slot_rows * 4 KP flops.
# Their sum (N / slot_rows) c KP + slot_rows 4 KP f is least at slot_rows =
# sqrt(N c / (4 f)), ~2 sqrt(N) for c ~ 0.5 ns and f ~ 0.033 ns per flop
# (30 GFLOP/s per core). Estimates, not measured on a many-core machine
# (benchmarks/NOTES.md, "Many cores").
SLOT_ROWS_PER_SQRT_N = 2.0


def ordered_slot_rows_for(n_samples, chunk_rows):
    """Rows per slot of the ordered reduction, a multiple of ``chunk_rows``: ~2 sqrt(N), at least one chunk.

    From the problem's shape only (N, and the chunk from P and K), never from
    the thread count.
    """
    target = SLOT_ROWS_PER_SQRT_N * math.sqrt(max(int(n_samples), 1))
    return int(max(1, round(target / chunk_rows)) * chunk_rows)


def n_slots_for(n_samples, slot_rows):
    """Number of slots of ``slot_rows`` rows covering ``n_samples`` (at least 1)."""
    return max(1, -(-n_samples // slot_rows))
