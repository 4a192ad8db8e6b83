"""Sources of rows: data that is streamed through the kernels block by block.

An in-memory ``numpy.ndarray`` is *not* a source: it keeps the one-block path
(``check_array`` once, the kernels over all of it), bitwise as before. Data is
*out of core* (:func:`is_out_of_core`) when it is

- a ``numpy.memmap`` (even a small one: its pages belong to a file, and
  copying it to anonymous memory is what the caller avoided), or
- not an ndarray but array-like with ``shape`` (2-D), ``dtype`` and row
  slicing ``X[a:b]`` — h5py and zarr datasets, and anything alike
  (pandas objects and lists are not: they are converted in memory as before).

Dask collections are detected by module name (without importing dask) and go
to ``fastgmm.sources._dask``.

A source is read in blocks of ``block_rows`` rows (default: as many as fit in
:data:`BLOCK_BYTES` of float64, at least :data:`MIN_BLOCK_ROWS`); each block
is validated on its own (dtype, NaN, infinity) and an error names the global
row. A source validates each block once — on the first pass that reads it
(the initialisation sample or the first E-step) — and later passes of the
same fit only convert it (nothing for C-contiguous float32/float64, which is
a view): the finiteness check is a full read of the block, as costly as a
large part of the kernel pass, and repeating it every iteration made
streaming a page-cached memmap ~1.6x slower than the same data in memory.
(A source lives for one call to fit/partial_fit/predict..., so a file
changed between calls is validated again.) The statistics of the blocks are summed in block order, so a fit is
deterministic and, from the same initial parameters, equal to the in-memory
fit up to the rounding of the order of summation. Memory beyond the data: one
block (a view when the file already holds C-contiguous float32/float64, else
one converted copy), the kernel's per-slot partials and the statistics.
"""

import numpy as np

from ..utils._validation import check_array

#: Default size of one block (float64 rows): large enough that a block costs
#: the kernel no more per row than the whole array does (measured in
#: benchmarks/out_of_core.py), small against any machine's memory.
BLOCK_BYTES = 32 << 20
MIN_BLOCK_ROWS = 1024
#: Rows drawn (at most) for initialising from a source: k-means & co run in
#: memory on this uniform sample. The byte bound is what an out-of-core fit
#: adds to the process (the sample is its largest allocation): 4 MiB is 32768
#: rows of 16 float64 features, ~2000 rows per component for 16 components,
#: plenty for k-means to find the clusters EM then refines on every row.
INIT_SAMPLE_ROWS = 100_000
INIT_SAMPLE_BYTES = 4 << 20


def is_dask(X):
    """Whether X is a Dask collection (by module name: dask is not imported)."""
    return type(X).__module__.split(".")[0] in ("dask", "dask_expr")


def is_out_of_core(X):
    """Whether X is streamed in blocks (see the module docstring)."""
    if isinstance(X, np.memmap):
        return True
    if isinstance(X, np.ndarray) or is_dask(X):
        return False
    if hasattr(X, "iloc") or hasattr(X, "__dataframe__") or hasattr(X, "toarray"):
        return False
    shape = getattr(X, "shape", None)
    return (shape is not None and getattr(X, "dtype", None) is not None and hasattr(X, "__getitem__")
            and len(shape) == 2)


def default_block_rows(n_features):
    return max(MIN_BLOCK_ROWS, BLOCK_BYTES // (8 * max(1, n_features)))


def check_source_header(shape, dtype, estimator_name, min_samples):
    """The checks ``check_array`` makes that need no data: shape and dtype. Returns the working dtype."""
    dt = np.dtype(dtype)
    if dt.kind == "c":
        raise ValueError("Complex data not supported\n")
    if dt.kind not in "biuf":
        raise ValueError(f"X must contain only numbers, got an array of dtype {dt}.")
    if len(shape) != 2:
        raise ValueError(f"Found array with dim {len(shape)}. {estimator_name} expected <= 2.")
    n, d = shape
    if n < min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={tuple(shape)}) while a minimum of {min_samples} is "
            f"required by {estimator_name}.")
    if d < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 is required by "
            f"{estimator_name}.")
    return np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)


class ArraySource:
    """Rows of an out-of-core array, read and validated in blocks.

    Parameters
    ----------
    data : numpy.memmap, h5py.Dataset, zarr.Array or alike
    estimator_name : str
    allow_nan : bool
        Accept NaN in a block (nan_policy 'omit' or 'marginalize').
    omit_nan : bool
        Drop the rows with a NaN from every block (nan_policy 'omit').
    block_rows : int or None
    min_samples : int
    """

    def __init__(self, data, *, estimator_name, allow_nan=False, omit_nan=False, block_rows=None,
                 min_samples=1):
        self.data = data
        self.shape = tuple(int(s) for s in data.shape)
        self.ndim = 2
        self.estimator_name = estimator_name
        self.dtype = check_source_header(self.shape, data.dtype, estimator_name, min_samples)
        self.itemsize = self.dtype.itemsize
        self.allow_nan = allow_nan
        self.omit_nan = omit_nan
        self.block_rows = int(block_rows) if block_rows is not None else default_block_rows(self.shape[1])
        #: (a, b) of the blocks already validated by :meth:`read`.
        self.checked = set()
        #: The family's view of a validated block (e.g. BernoulliMixture's binarize), or None.
        self.transform = None

    def __len__(self):
        return self.shape[0]

    def ranges(self):
        N, B = self.shape[0], self.block_rows
        return [(a, min(N, a + B)) for a in range(0, N, B)]

    def read(self, a, b):
        """Rows a:b as a validated C-contiguous float array (a view of a matching memmap).

        Validated the first time these rows are read, only converted after.
        """
        block = self.data[a:b]
        if isinstance(block, np.memmap):
            # A plain view: the kernels and numpy need no memmap subclass, and
            # reductions on one return 0-d memmaps.
            block = block.view(np.ndarray)
        if (a, b) in self.checked:
            block = np.asarray(block, dtype=self.dtype, order="C")
        else:
            block = check_array(block, estimator_name=self.estimator_name, allow_nan=self.allow_nan, row_offset=a,
                                in_block=True)
            self.checked.add((a, b))
        return block if self.transform is None else self.transform(block)

    def map_blocks(self, func, *args):
        """``[func(block, first_row, *args) for each block]``, in order (one pass over the data)."""
        return [func(self.read(a, b), a, *args) for a, b in self.ranges()]

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("an out-of-core source is read by row slices only")
        a, b, _ = key.indices(self.shape[0])
        return self.read(a, max(a, b))

    def blocks(self, sample_weight=None):
        """(block, its sample weights or None), in order; rows with NaN dropped under omit_nan."""
        for a, b in self.ranges():
            block = self.read(a, b)
            sw = None if sample_weight is None else sample_weight[a:b]
            if self.omit_nan:
                keep = ~np.isnan(block).any(axis=1)
                if not keep.all():
                    block = np.ascontiguousarray(block[keep])
                    sw = None if sw is None else np.ascontiguousarray(sw[keep])
            if block.shape[0]:
                yield block, sw

    def statistics(self, func, args, sample_weight=None):
        """sum over blocks of ``func(block, sw, *args)`` (a :class:`Statistics`), in block order."""
        total = None
        for block, sw in self.blocks(sample_weight):
            if sw is not None and not (sw > 0).any():
                continue
            s = func(block, sw, *args)
            if total is None:
                total = s
            else:
                total += s
        return total

    def count_nan_rows(self):
        """Rows holding a NaN (one pass)."""
        return sum(int(np.isnan(self.read(a, b)).any(axis=1).sum()) for a, b in self.ranges())

    def observed_counts(self, sample_weight=None):
        """Per column, the rows with a positive weight that observe it (one pass; see ``_missing``)."""
        from ._nan import observed_counts

        return sum(observed_counts(self.read(a, b), None if sample_weight is None else sample_weight[a:b])
                   for a, b in self.ranges())

    def sample(self, n_rows, random_state, sample_weight=None):
        """A uniform sample of at most ``n_rows`` distinct rows (all rows when N is smaller), with their weights.

        Drawn with replacement and deduplicated, so no N-sized permutation
        exists; under ``omit_nan`` the sampled rows with a NaN are left out.
        The rows are copied once, block by block, into the returned array:
        its own size is all the memory the sample takes (a memmap's blocks
        are views).
        """
        N, D = self.shape
        if N <= n_rows:
            idx = np.arange(N)
        else:
            idx = np.unique(random_state.randint(0, N, size=n_rows))
        Xs = np.empty((idx.size, D), dtype=self.dtype)
        filled = 0
        for a, b in self.ranges():
            lo, hi = np.searchsorted(idx, [a, b])
            if hi > lo:
                # mode="clip": the indices are in range, and "raise" would
                # buffer the output (a second copy of these rows).
                np.take(self.read(a, b), idx[lo:hi] - a, axis=0, out=Xs[filled:filled + hi - lo], mode="clip")
                filled += hi - lo
        ws = None if sample_weight is None else np.ascontiguousarray(sample_weight[idx])
        if self.omit_nan:
            keep = ~np.isnan(Xs).any(axis=1)
            if not keep.all():
                Xs = np.ascontiguousarray(Xs[keep])
                ws = None if ws is None else np.ascontiguousarray(ws[keep])
        return Xs, ws

    def estimate(self, func, **outputs):
        """E-step outputs over all rows, ``func(block, **outputs)`` per block, stitched."""
        N = self.shape[0]
        out_ll = np.empty(N) if outputs.get("row_ll") else None
        out_lab = np.empty(N, dtype=np.int64) if outputs.get("labels") else None
        out_resp = None
        total = 0.0 if outputs.get("total") else None
        for a, b in self.ranges():
            ll, lab, resp, tot = func(self.read(a, b), **outputs)
            if out_ll is not None:
                out_ll[a:b] = ll
            if out_lab is not None:
                out_lab[a:b] = lab
            if resp is not None:
                if out_resp is None:
                    out_resp = np.empty((N, resp.shape[1]), dtype=resp.dtype)
                out_resp[a:b] = resp
            if total is not None:
                total += tot
        return out_ll, out_lab, out_resp, total


def init_sample_rows(n_features, block_rows):
    """Rows of the initialisation sample: at most INIT_SAMPLE_ROWS (or one block, if larger) and
    never more than INIT_SAMPLE_BYTES of float64 rows."""
    by_bytes = INIT_SAMPLE_BYTES // (8 * max(1, n_features))
    return int(max(min(INIT_SAMPLE_ROWS, by_bytes), min(block_rows, by_bytes), 2))
