"""Sequences in blocks: how an HMM reads X that is not one in-memory array.

A memmap, h5py or zarr array, or a Dask array, is read in blocks of whole
sequences (consecutive sequences up to ``block_rows`` frames; a longer
sequence is a block of its own), so that the forward-backward never needs a
frame outside its block. Each block's E-step gives additive statistics; they
are summed in block order (the same result for any block layout of the same
sequences up to rounding, and bitwise the same run to run). Dask blocks are
computed as tasks, on a cluster when a client is active.
"""

import numpy as np

from ..sources._blocks import default_block_rows, init_sample_rows, is_dask, is_out_of_core


def is_streamed(X):
    """Whether X is read in blocks (out of core or Dask) rather than as one array."""
    return is_out_of_core(X) or is_dask(X)


def sequence_blocks(starts, block_rows):
    """[(s0, s1)]: runs of whole sequences s0 .. s1 - 1 of at most ``block_rows`` frames each."""
    S = starts.shape[0] - 1
    blocks, s0 = [], 0
    while s0 < S:
        # the last sequence s1 - 1 whose end is within block_rows of this block's start (at least one)
        s1 = int(np.searchsorted(starts, starts[s0] + block_rows, side="right")) - 1
        s1 = min(max(s1, s0 + 1), S)
        blocks.append((s0, s1))
        s0 = s1
    return blocks


def block_rows_for(X, block_rows=None):
    return int(block_rows) if block_rows is not None else default_block_rows(int(X.shape[1]))


def read_rows(X, a, b):
    """Rows a:b of X as an in-memory array."""
    part = X[a:b]
    if is_dask(part):
        part = part.compute()
    return np.asarray(part)


def spread_sample(X, block_rows):
    """Frames 0, step, 2 step, ... of X (at most ``init_sample_rows`` of them), read block by block: the rows
    the starting parameters of a streamed fit are made from (frames from the whole of X, not its first block)."""
    N = int(X.shape[0])
    step = max(1, -(-N // init_sample_rows(int(X.shape[1]), block_rows)))
    parts = []
    for a in range(0, N, block_rows):
        part = read_rows(X, a, min(a + block_rows, N))
        parts.append(part[(-a) % step::step])
    return np.ascontiguousarray(np.concatenate(parts))


def add_stats(total, part):
    """Sum two E-step statistics dicts (arrays, numbers and statistics objects with +)."""
    if total is None:
        return part
    out = {}
    for key, value in part.items():
        other = total.get(key)
        out[key] = value if other is None else (value if value is None else other + value)
    return out
