"""Dask sources: EM over the blocks of a ``dask.array.Array`` (or a numeric Dask DataFrame).

Imported only when a Dask collection is passed (``fastgmm.sources._blocks.is_dask`` looks at
the module name), so importing fastgmm never imports dask.

Each EM iteration builds one small graph: a task per row block of X runs the
statistics kernel of the model's family on it (validating the block first:
dtype, NaN, infinity, errors naming the global row) and returns its
additive statistics; they are added pairwise in block order (a binary tree
of tasks), so only K x P numbers per block travel and the result is
deterministic for a given partitioning. ``dask.compute`` runs it on whatever scheduler is active,
including a ``distributed.Client``; the data never comes to the client. A
task runs the kernels with one thread (Dask's workers are the parallelism).
Columns are rechunked into one block when they are split.

Initialisation draws a bounded uniform sample of rows
(``fastgmm.sources._blocks.init_sample_rows``: at most 100 000 rows or 4 MiB), computes only
those rows to the client and runs the in-memory scheme (k-means by default)
on them; the EM iterations then use all rows.

``predict``, ``predict_proba`` and ``score_samples`` on a Dask array return
Dask arrays (``map_blocks`` of the in-memory method over row blocks), lazily.
"""

import dask
import dask.array as da
import numpy as np

from ..utils._threadpool import blas_single_thread
from ..utils._validation import check_array
from ._blocks import check_source_header


def as_dask_array(X):
    """A Dask array of X with known row chunks and the columns in one block."""
    if not isinstance(X, da.Array):
        if hasattr(X, "to_dask_array"):
            X = X.to_dask_array(lengths=True)
        else:
            raise TypeError(f"Cannot use a {type(X).__name__} as data: pass a dask.array.Array or a Dask DataFrame.")
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if X.ndim == 2 and X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


def _check_block(block, offset, name, allow_nan, omit_nan, sw, transform=None):
    block = check_array(block, estimator_name=name, allow_nan=allow_nan, row_offset=offset, in_block=True)
    if transform is not None:
        block = transform(block)
    if sw is not None:
        sw = np.ascontiguousarray(sw, dtype=np.float64)
        if not np.all(np.isfinite(sw)) or (sw < 0).any():
            i = int(np.flatnonzero(~(np.isfinite(sw) & (sw >= 0)))[0])
            raise ValueError(f"sample_weight must be finite and >= 0 (row {offset + i}: {sw[i]}).")
    if omit_nan:
        keep = ~np.isnan(block).any(axis=1)
        if not keep.all():
            block = np.ascontiguousarray(block[keep])
            sw = None if sw is None else np.ascontiguousarray(sw[keep])
    return block, sw


def _block_task(block, sw, offset, func, args, name, allow_nan, omit_nan, transform):
    block, sw = _check_block(block, offset, name, allow_nan, omit_nan, sw, transform)
    if block.shape[0] == 0 or (sw is not None and not (sw > 0).any()):
        return None
    with blas_single_thread():
        return func(block, sw, *args)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _check_task(block, offset, name, allow_nan):
    try:
        _check_block(block, offset, name, allow_nan, False, None)
    except ValueError as e:
        return e
    return None


def _summary_task(block, offset, name, allow_nan, transform, func, args):
    block, _ = _check_block(block, offset, name, allow_nan, False, None, transform)
    return func(block, offset, *args)


def _estimate_task(block, offset, model, name, allow_nan, outputs, transform):
    block, _ = _check_block(block, offset, name, allow_nan, False, None, transform)
    with blas_single_thread():
        return model._estimate(block, 1, **outputs)


class DaskSource:
    """A Dask array seen as a source of row blocks (see the module docstring)."""

    def __init__(self, X, *, estimator_name, allow_nan=False, min_samples=1):
        X = as_dask_array(X)
        self.data = X
        self.shape = tuple(int(s) for s in X.shape)
        self.ndim = 2
        self.dtype = check_source_header(self.shape, X.dtype, estimator_name, min_samples)
        self.itemsize = self.dtype.itemsize
        self.estimator_name = estimator_name
        self.allow_nan = allow_nan
        self.omit_nan = False
        #: The family's view of a validated block (e.g. BernoulliMixture's binarize), or None.
        self.transform = None
        self.block_rows = max(X.chunks[0])
        self.offsets = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)

    def __len__(self):
        return self.shape[0]

    def check_sample_weight(self, sample_weight):
        """None, a validated ndarray, or a Dask array in X's row chunks (checked in the tasks)."""
        if sample_weight is None:
            return None
        if isinstance(sample_weight, da.Array):
            if sample_weight.shape != (self.shape[0],):
                raise ValueError(f"sample_weight.shape == {sample_weight.shape}, expected ({self.shape[0]},).")
            sw = sample_weight.astype(np.float64).rechunk((self.data.chunks[0],))
            # The checks of the in-memory fit, with its messages: one pass over
            # the weights (N numbers, small against X), three flags back.
            bad, neg, pos = dask.compute(~da.isfinite(sw).all(), (sw < 0).any(), (sw > 0).any())
            if bad:
                i = int(da.argmax(~da.isfinite(sw)).compute())
                raise ValueError(f"sample_weight contains NaN or infinity (first at row {i}: "
                                 f"{float(sw[i].compute())}).")
            if neg:
                i = int(da.argmax(sw < 0).compute())
                raise ValueError(f"Negative values in data passed to sample_weight (first at row {i}: "
                                 f"{float(sw[i].compute())}); weights must be >= 0.")
            if not pos:
                raise ValueError("Sample weights must contain at least one non-zero number: sample_weight is 0 "
                                 "for every row, and at least one row must have a positive weight.")
            return sw
        from ..utils._validation import check_sample_weight
        return check_sample_weight(sample_weight, self.shape[0])

    def _weight_parts(self, sample_weight):
        n = len(self.offsets) - 1
        if sample_weight is None:
            return [None] * n
        if isinstance(sample_weight, da.Array):
            return list(sample_weight.to_delayed().ravel())
        return [sample_weight[self.offsets[i]:self.offsets[i + 1]] for i in range(n)]

    def statistics(self, func, args, sample_weight=None):
        """sum over blocks of ``func(block, sw, *args)``, a tree of Dask tasks in block order.

        The last of ``args`` is the thread count: 1 in the tasks.
        """
        args = tuple(args[:-1]) + (1,)
        blocks = self.data.to_delayed().ravel()
        task = dask.delayed(_block_task, pure=True)
        parts = [task(b, w, int(self.offsets[i]), func, args, self.estimator_name, self.allow_nan, self.omit_nan,
                      self.transform)
                 for i, (b, w) in enumerate(zip(blocks, self._weight_parts(sample_weight)))]
        add = dask.delayed(_add, pure=True)
        while len(parts) > 1:
            parts = [add(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                     for i in range(0, len(parts), 2)]
        try:
            (total,) = dask.compute(parts[0])
        except ValueError:
            self._check_all_blocks()   # the first invalid block's error, not the first to fail
            raise
        return total

    def _check_all_blocks(self):
        """Validate every block in Dask tasks and raise the error of the first invalid block (in row order:
        a failing task of a larger graph is whichever failed first); nothing when all are valid."""
        task = dask.delayed(_check_task, pure=True)
        errors = dask.compute(*[task(b, int(self.offsets[i]), self.estimator_name, self.allow_nan)
                                for i, b in enumerate(self.data.to_delayed().ravel())])
        for e in errors:
            if e is not None:
                raise ValueError(str(e)) from None

    def map_blocks(self, func, *args):
        """``[func(block, first_row, *args) for each block]``, computed by Dask, in block order."""
        task = dask.delayed(_summary_task, pure=True)
        parts = [task(b, int(self.offsets[i]), self.estimator_name, self.allow_nan, self.transform, func, args)
                 for i, b in enumerate(self.data.to_delayed().ravel())]
        try:
            return list(dask.compute(*parts))
        except ValueError:
            self._check_all_blocks()
            raise

    def count_nan_rows(self):
        return int(da.isnan(self.data).any(axis=1).sum().compute())

    def observed_counts(self, sample_weight=None):
        """Per column, the rows with a positive weight that observe it (one pass; see ``_missing``)."""
        observed = ~da.isnan(self.data)
        if sample_weight is not None:
            if not isinstance(sample_weight, da.Array):
                sample_weight = da.from_array(np.asarray(sample_weight), chunks=(self.data.chunks[0],))
            observed &= (sample_weight > 0)[:, None]
        return observed.sum(axis=0).compute()

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("a Dask source is read by row slices only")
        a, b, _ = key.indices(self.shape[0])
        block = check_array(self.data[a:max(a, b)].compute(), estimator_name=self.estimator_name,
                            allow_nan=self.allow_nan, row_offset=a, in_block=True)
        return block if self.transform is None else self.transform(block)

    def sample(self, n_rows, random_state, sample_weight=None):
        """A uniform sample of at most ``n_rows`` distinct rows, computed to the client, with their weights."""
        N = self.shape[0]
        idx = np.arange(N) if N <= n_rows else np.unique(random_state.randint(0, N, size=n_rows))
        try:
            Xs = check_array(self.data[idx].compute(), estimator_name=self.estimator_name,
                             allow_nan=self.allow_nan)
        except ValueError:
            # The message would name a row of the sample: check the blocks
            # (one pass, on this error path only) to name the global row.
            self._check_all_blocks()
            raise
        if self.transform is not None:
            Xs = self.transform(Xs)
        if sample_weight is None:
            ws = None
        elif isinstance(sample_weight, da.Array):
            ws = np.ascontiguousarray(sample_weight[idx].compute(), dtype=np.float64)
        else:
            ws = np.ascontiguousarray(sample_weight[idx])
        if self.omit_nan:
            keep = ~np.isnan(Xs).any(axis=1)
            Xs = np.ascontiguousarray(Xs[keep])
            ws = None if ws is None else np.ascontiguousarray(ws[keep])
        return Xs, ws

    def estimate(self, model, **outputs):
        """E-step outputs over all rows as numpy (computed per block by Dask, stitched)."""
        task = dask.delayed(_estimate_task, pure=True)
        parts = [task(b, int(self.offsets[i]), model, self.estimator_name, self.allow_nan, outputs, self.transform)
                 for i, b in enumerate(self.data.to_delayed().ravel())]
        try:
            parts = dask.compute(*parts)
        except ValueError:
            self._check_all_blocks()
            raise
        cat = [None if parts[0][j] is None else np.concatenate([p[j] for p in parts]) for j in range(3)]
        total = None if parts[0][3] is None else float(sum(p[3] for p in parts))
        return cat[0], cat[1], cat[2], total


def _apply(block, model, method):
    return getattr(model, method)(block)


def lazy_method(model, X, method):
    """``model.method`` over the row blocks of a Dask array: a Dask array, not computed."""
    X = as_dask_array(X)
    if X.ndim != 2 or X.shape[1] != model.n_features_in_:
        raise ValueError(f"X has {X.shape[1] if X.ndim == 2 else X.shape} features, but "
                         f"{type(model).__name__} is expecting {model.n_features_in_} features as input.")
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    if method == "predict":
        return X.map_blocks(_apply, model, method, drop_axis=1, dtype=np.int64)
    if method in ("score_samples", "uncertainty"):
        return X.map_blocks(_apply, model, method, drop_axis=1, dtype=dtype)
    return X.map_blocks(_apply, model, method, chunks=(X.chunks[0], (model.n_components,)), dtype=dtype)
