"""The NaN policy of a fit ("raise", "omit", "marginalize") applied to its data, for every estimator."""

import numpy as np

from ..sources._blocks import ArraySource
from ..sources._nan import check_observed_columns, group_patterns, has_nan, rows_without_nan


def apply_nan_policy(X, sample_weight, policy, estimator_name, *, feature_names=None, check_columns=True):
    """(X, sample_weight, missing, kept, n_omitted) for fitting under a NaN policy.

    "omit": the rows without NaN (a copy) and ``kept``, the mask of them;
    "marginalize": ``missing``, the rows grouped by pattern (None when X has
    no NaN: then the fit is exactly the complete-data one). A row with every
    value missing cannot be fitted on: a ValueError that says so; nor can a
    column observed in fewer than 2 rows, unless ``check_columns`` is false
    (``fastgmm.sources._nan.check_observed_columns``).
    """
    if policy == "raise":
        return X, sample_weight, None, None, 0
    if isinstance(X, ArraySource) or is_dask_source(X):
        # Streamed sources apply the policy block by block: "omit" drops the
        # NaN rows of each block, "marginalize" groups each block's patterns.
        n_omitted = 0
        if policy == "omit":
            X.omit_nan = True
            n_omitted = X.count_nan_rows()
            if X.shape[0] - n_omitted < 2:
                raise ValueError(
                    f"Only {X.shape[0] - n_omitted} row(s) of X have no NaN ({n_omitted} omitted), while a "
                    f"minimum of 2 is required by {estimator_name} with nan_policy='omit'.")
        elif policy == "marginalize" and check_columns:
            check_observed_columns(X, sample_weight, estimator_name, feature_names)   # a pass of its own
        return X, sample_weight, None, None, n_omitted
    if not has_nan(X):
        return X, sample_weight, None, None, 0
    name = estimator_name
    if policy == "omit":
        kept = rows_without_nan(X)
        n_omitted = int(X.shape[0] - np.count_nonzero(kept))
        X = X[kept]
        if X.shape[0] < 2:
            raise ValueError(
                f"Only {X.shape[0]} row(s) of X have no NaN ({n_omitted} omitted), while a minimum "
                f"of 2 is required by {name} with nan_policy='omit'. Use nan_policy='marginalize'."
            )
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight[kept])
            if not (sample_weight > 0).any():
                raise ValueError("Every row without NaN has sample_weight 0 (nan_policy='omit').")
        return X, sample_weight, None, kept, n_omitted
    missing = group_patterns(X)
    empty = missing.first_empty_row()
    if empty is not None:
        n_empty = int(sum(len(missing.rows_of(p)) for p in np.flatnonzero(~missing.observed.any(axis=1))))
        raise ValueError(
            f"Row {empty} of X has every value missing ({n_empty} such row(s)): such a row carries no "
            f"information, and {name} does not fit on it. Remove the rows that are all NaN (they are "
            "predicted from the mixture weights alone)."
        )
    if check_columns:
        check_observed_columns(X, sample_weight, name, feature_names, missing=missing)
    return X, sample_weight, missing, None, 0


def is_dask_source(X):
    return type(X).__name__ == "DaskSource"
