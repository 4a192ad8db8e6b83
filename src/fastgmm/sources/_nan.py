"""Rows with NaN: grouped by missingness pattern, counted per column, dropped.

What every family's NaN policy needs from the data, whatever its maths:
``has_nan``, ``rows_without_nan`` ("omit"), the grouping of rows by pattern
(:func:`group_patterns`, one N-sized visiting order sorted by pattern, no
N x D temporary) and the per-column counts of observed values that refuse a
column no row observes ("marginalize"). The Gaussian and Student-t maths of
exact EM on those groups are in ``fastgmm.families._gaussian_missing``.
"""

from dataclasses import dataclass, field

import numpy as np

_BLOCK = 65536


@dataclass
class MissingRows:
    """The rows of X grouped by missingness pattern.

    Attributes
    ----------
    observed : bool ndarray (n_patterns, D)
        Each pattern's observed coordinates; patterns in increasing order of
        their NaN bitmask, so the fully observed one (if any) is first.
    order : int64 ndarray (N,)
        The rows sorted by pattern (increasing row order within a pattern).
    start : int64 ndarray (n_patterns + 1,)
        Pattern p's rows are ``order[start[p]:start[p + 1]]``.
    n_nan : int
        NaN entries in X.
    """

    observed: np.ndarray
    order: np.ndarray
    start: np.ndarray
    n_nan: int
    _columns: tuple = field(default=None, repr=False, compare=False)

    @property
    def n_patterns(self):
        return self.observed.shape[0]

    @property
    def complete(self):
        """Whether pattern 0 is the fully observed one."""
        return bool(self.observed[0].all())

    def missing_columns(self):
        """(miss_ptr, miss_idx), int64: pattern p misses the columns ``miss_idx[miss_ptr[p]:miss_ptr[p + 1]]``
        (increasing); made once and kept, as the kernel's missing mode reads them."""
        if self._columns is None:
            missing = ~self.observed
            ptr = np.zeros(self.n_patterns + 1, dtype=np.int64)
            np.cumsum(missing.sum(axis=1), out=ptr[1:])
            self._columns = (ptr, np.nonzero(missing)[1].astype(np.int64))
        return self._columns

    def rows_of(self, p):
        return self.order[self.start[p]:self.start[p + 1]]

    def first_empty_row(self):
        """The first row with no observed value, or None."""
        empty = np.flatnonzero(~self.observed.any(axis=1))
        if empty.size == 0:
            return None
        return int(min(self.rows_of(p).min() for p in empty))


def has_nan(X):
    """Whether X holds a NaN (one pass, no N x D temporary)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isnan(np.sum(X, dtype=np.float64)):
            return False
    return any(np.isnan(X[a:a + _BLOCK]).any() for a in range(0, X.shape[0], _BLOCK))


def group_patterns(X):
    """:class:`MissingRows` of X: each row's NaN bitmask, grouped (one sort of N keys)."""
    N, D = X.shape
    nbytes = (D + 7) // 8
    packed = np.empty((N, nbytes), dtype=np.uint8)
    n_nan = 0
    for a in range(0, N, _BLOCK):
        nan = np.isnan(X[a:a + _BLOCK])
        n_nan += int(np.count_nonzero(nan))
        packed[a:a + _BLOCK] = np.packbits(nan, axis=1)
    if nbytes <= 8:
        # One integer key per row (big-endian bytes: the all-observed key 0 sorts first).
        key = np.zeros(N, dtype=np.uint64)
        for j in range(nbytes):
            key |= packed[:, j].astype(np.uint64) << np.uint64(8 * (nbytes - 1 - j))
    else:
        key = np.ascontiguousarray(packed).view(np.dtype((np.void, nbytes))).ravel()
    uniq, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    del key, uniq
    order = np.argsort(inverse.ravel(), kind="stable").astype(np.int64, copy=False)
    del inverse
    observed = np.unpackbits(packed[first], axis=1, count=D) == 0
    start = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    return MissingRows(observed, order, start, n_nan)


def nan_summary(X, limit=5):
    """(NaN count, rows with a NaN, the first ``limit`` (row, column) positions), block-wise."""
    count = rows = 0
    where = []
    for a in range(0, X.shape[0], _BLOCK):
        nan = np.isnan(X[a:a + _BLOCK])
        count += int(np.count_nonzero(nan))
        rows += int(np.count_nonzero(nan.any(axis=1)))
        if len(where) < limit:
            where.extend((a + int(i), int(j)) for i, j in np.argwhere(nan)[:limit - len(where)])
    return count, rows, where


#: Observed values (in rows with a positive weight) a column needs under
#: nan_policy='marginalize': its mean needs one, its variance two rows that
#: can differ. Fewer, and the M-step has nothing to estimate them from: the
#: completed statistics of the missing entries are the current parameters
#: themselves, so EM returns whatever the initialisation put there.
MIN_OBSERVED = 2


def observed_counts(X, sample_weight=None, missing=None):
    """Per column of X, the rows with a positive weight that observe it: int64 (D,).

    With ``missing`` (X's rows grouped by pattern) the counts come from the
    patterns, O(N + n_patterns D); otherwise from one block-wise pass over X.
    """
    D = X.shape[1]
    if missing is not None:
        if sample_weight is None:
            per_pattern = np.diff(missing.start)
        else:
            positive = (sample_weight[missing.order] > 0).astype(np.int64)
            per_pattern = np.add.reduceat(positive, missing.start[:-1])   # every pattern has a row
        return missing.observed.T.astype(np.int64) @ per_pattern
    counts = np.zeros(D, dtype=np.int64)
    for a in range(0, X.shape[0], _BLOCK):
        observed = ~np.isnan(X[a:a + _BLOCK])
        if sample_weight is not None:
            observed &= (sample_weight[a:a + _BLOCK] > 0)[:, None]
        counts += np.count_nonzero(observed, axis=0)
    return counts


def check_observed_columns(X, sample_weight, estimator_name, feature_names=None, missing=None):
    """Refuse X when a column has fewer than :data:`MIN_OBSERVED` observed values.

    Under nan_policy='marginalize' a column's mean and variance are estimated
    from its observed values alone. A column observed in no row, or in one
    (rows of sample_weight 0 do not count: they are not in the fit), leaves
    them to the initialisation (a mean of 0 and a variance of ``reg_covar``),
    and the model then imputes and scores with values it invented. That is a
    ValueError naming the columns, and saying to drop them.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), or a streamed source
        A source (``fastgmm.sources._blocks.ArraySource``, ``fastgmm.sources._dask.DaskSource``)
        counts in one pass of its own (``observed_counts``).
    sample_weight : ndarray of shape (n_samples,) or None
    estimator_name : str
    feature_names : array-like of str or None
        X's column names (``feature_names_in_``), to name the columns by.
    missing : MissingRows or None
        X's rows grouped by pattern, when already made (the counts are then
        read from the patterns).

    Raises
    ------
    ValueError
        When a column is observed in fewer than 2 rows with a positive weight.
    """
    if isinstance(X, np.ndarray):
        counts = observed_counts(X, sample_weight, missing)
    else:
        counts = np.asarray(X.observed_counts(sample_weight), dtype=np.int64)
    bad = np.flatnonzero(counts < MIN_OBSERVED)
    if bad.size == 0:
        return
    names = None if feature_names is None or len(feature_names) != len(counts) else [str(n) for n in feature_names]

    def column(j):
        return f"column {j} ({names[j]!r})" if names is not None else f"column {j}"

    where = "" if sample_weight is None else " (in rows with a positive sample_weight)"
    shown = ", ".join(f"{column(int(j))} has {int(counts[j])}" for j in bad[:10])
    more = f" (and {bad.size - 10} more columns)" if bad.size > 10 else ""
    if names is not None:
        how = f"X.drop(columns={[names[int(j)] for j in bad[:10]]!r})"
    else:
        how = f"np.delete(X, {[int(j) for j in bad[:10]]!r}, axis=1)"
    raise ValueError(
        f"{estimator_name} with nan_policy='marginalize' needs at least {MIN_OBSERVED} observed values{where} "
        f"in every column to estimate its mean and variance, but {shown}{more}. Without them the "
        "model would keep the values its initialisation invented and impute and score with them. Drop "
        f"such columns before fitting (e.g. {how}).")


def rows_without_nan(X):
    """Boolean (N,): the rows with no NaN (block-wise)."""
    keep = np.empty(X.shape[0], dtype=bool)
    for a in range(0, X.shape[0], _BLOCK):
        keep[a:a + _BLOCK] = ~np.isnan(X[a:a + _BLOCK]).any(axis=1)
    return keep


# ---------------------------------------------------------------------------
# Batches and segments
# ---------------------------------------------------------------------------

