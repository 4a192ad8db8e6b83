"""fastgmm.CategoricalMixture: latent class analysis (mixtures of independent categorical columns)."""

import numpy as np

from ..engine._schema import FLOAT, LIST, Array, mixture_schema
from ..sources._blocks import is_dask
from ..sources._nan import has_nan, rows_without_nan
from . import _docs
from ._discrete import QONEHOT, DiscreteMixture, as_float_param, check_param_shape, first_offender

_CODE_BLOCK = 65536


def _check_tables(theta, name):
    """Every probability finite and in (0, 1]."""
    theta = np.asarray(theta, dtype=np.float64)
    if not np.all(np.isfinite(theta)) or np.any(theta <= 0) or np.any(theta > 1):
        bad = theta[~(np.isfinite(theta) & (theta > 0) & (theta <= 1))]
        raise ValueError(f"{name} must hold probabilities in (0, 1] (a probability of 0 makes its logarithm "
                         f"infinite), but holds {bad.flat[0]!r}.")
    return theta


class CategoricalMixture(DiscreteMixture):
    """Mixture of independent categorical distributions, one per column (latent class analysis), fitted by EM.

    Each column of X holds integer codes of a categorical variable; the
    categories of column d are the sorted values seen in it at ``fit``
    (``categories_[d]``, as scikit-learn's ``OrdinalEncoder``). Component k
    gives a row the probability ``prod_d theta_kd[x_d]``. Its logarithm is
    linear in the one-hot features ``[1, onehot(x_1), ..., onehot(x_D)]``,
    so each EM iteration is one fused kernel pass with two GEMMs per chunk;
    the one-hot rows are formed per chunk in the kernel, never for all of X.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components (latent classes).
    alpha : float > 0, default=1e-10
        Smoothing of the probability tables: the M-step is the MAP estimate
        under a symmetric Dirichlet(alpha + 1) prior on each column's table,
        ``theta_kd[c] = (sum_i w_i r_ik [x_id = c] + alpha) / (sum_i w_i r_ik + n_d alpha)``
        (n_d categories in column d), i.e. ``alpha`` pseudo-rows of every
        category per component. It keeps every probability off 0 (whose
        logarithm is infinite) while changing the maximum-likelihood estimate
        by at most about ``n_d alpha / n_k``; use e.g. 1 for Laplace smoothing.
        Probabilities are also kept at least the smallest normal number of
        X's dtype.
    {common_parameters}

    Attributes
    ----------
    categories_ : list of ndarray
        ``categories_[d]``: the sorted distinct values of column d at ``fit``
        (of X's float dtype), n_d of them.
    means_ : list of ndarray
        ``means_[d]`` of shape (n_components, n_d): ``means_[d][k, c]`` is the
        probability that column d takes the value ``categories_[d][c]`` in
        component k (each row sums to 1).
    {common_attributes}

    See Also
    --------
    BernoulliMixture, PoissonMixture, GaussianMixture

    Notes
    -----
    X must hold integer values (any numeric dtype); a fractional value or NaN
    is a ValueError, and so is, at prediction time, a value that column's
    categories do not include. Categories given as text are encoded as
    integer codes first, e.g. with ``pandas.factorize`` per column or
    scikit-learn's ``OrdinalEncoder``. X is converted once per call (once
    per fit) into an int32 array of category codes (4 bytes per entry), which
    the kernel reads instead of X; no float copy of X is made beyond
    validation's (none for float X). With ``warm_start`` the categories of
    the first fit are kept, and X must use only them.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import CategoricalMixture
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(2, size=400)
    >>> X = np.where(rng.random((400, 4)) < 0.85, y[:, None], rng.integers(3, size=(400, 4)))
    >>> cm = CategoricalMixture(n_components=2, random_state=0).fit(X)
    >>> [len(c) for c in cm.categories_]
    [3, 3, 3, 3]
    """

    _quad = QONEHOT
    _values_wanted = "integer category codes"
    _positive_only = False    # any integers are codes
    #: The fitted attributes as a model file holds them (fastgmm.engine._schema): means_ and categories_ are
    #: lists (one array per column). categories_ keep the dtype of the first fit's X (a warm start
    #: on data of another dtype keeps them).
    _schema = mixture_schema(Array("weights_"), Array("means_", form=LIST),
                             Array("categories_", form=LIST, dtype=FLOAT))

    def __init__(
        self,
        n_components=1,
        *,
        alpha=1e-10,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        nan_policy="raise",
        callback=None,
        progress=False,
        block_rows=None,
        online_decay=0.7,
        online_offset=2.0,
        frozen=None,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.nan_policy = nan_policy
        self.callback = callback
        self.progress = progress
        self.block_rows = block_rows
        self.online_decay = online_decay
        self.online_offset = online_offset
        self.frozen = frozen

    # ------------------------------------------------------------------
    # X and its codes
    # ------------------------------------------------------------------
    def _validate_X(self, X, *, reset, allow_nan=False):
        # Categories are often text ("red", "blue"); the generic advice for
        # text, X.astype(float), cannot work on it: say how to make codes.
        try:
            return super()._validate_X(X, reset=reset, allow_nan=allow_nan)
        except (ValueError, TypeError):
            text = _first_text(X)
            if text is None:
                raise
        i, column, value = text
        raise ValueError(
            f"{type(self).__name__} needs integer category codes in X, but X holds text: row {i}, "
            f"column {column!r} is {value!r}. Encode each column's categories as integers first, e.g. "
            "with pandas, X = df.apply(lambda c: pd.factorize(c)[0]) (pd.factorize(column) also returns "
            "the categories), or with scikit-learn, enc = OrdinalEncoder(); X = enc.fit_transform(df) "
            "(enc.categories_); keep the mapping to encode new data the same way before predict."
        ) from None

    def _check_values(self, X, reset, offset=0):
        where = first_offender(X, lambda b: b != np.floor(b), offset)
        if where is not None:
            i, j, v = where
            raise ValueError(
                f"{type(self).__name__} needs integer category codes in X, but X[{i}, {j}] = {v!r}. "
                "Encode each categorical column as integers first (e.g. sklearn's OrdinalEncoder)."
            )
        keep = self.warm_start and hasattr(self, "converged_") and hasattr(self, "categories_")
        if reset and not keep:
            self.categories_ = _categories(X)
        elif reset and len(self.categories_) != X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, but the warm start continues a {type(self).__name__} "
                             f"fitted on {len(self.categories_)}.")

    def _raise_unseen(self, i, d, value, cats):
        raise ValueError(
            f"X[{i}, {d}] = {value.item()!r} is a category that column {d} did not have at fit "
            f"(its categories are {_preview(cats)}). {type(self).__name__} cannot score an unseen "
            "category: map it to a known one, or refit on data that includes it.")

    def _offsets(self):
        return np.concatenate([[0], np.cumsum([len(c) for c in self.categories_])]).astype(np.int64)

    def _kernel_extra(self, X):
        """{codes: int32 (N, D) category codes of X, offsets}; unseen values are a ValueError."""
        N, D = X.shape
        codes = np.empty((N, D), dtype=np.int32)
        table = _lookup_tables(self.categories_)
        if table is not None:
            # every column has small non-negative integer categories: one
            # table read per value, a block of whole rows at a time
            cols = np.arange(D)
            for a in range(0, N, _CODE_BLOCK):
                block = X[a:a + _CODE_BLOCK]
                inside = (block >= 0) & (block < table.shape[1])
                code = np.where(inside, table[cols, np.where(inside, block, 0).astype(np.intp)], -1)
                if (code < 0).any():
                    i, d = (int(v) for v in np.argwhere(code < 0)[0])
                    self._raise_unseen(a + i, d, block[i, d], self.categories_[d])
                codes[a:a + _CODE_BLOCK] = code
            return {"codes": codes, "offsets": self._offsets()}
        for d, cats in enumerate(self.categories_):
            for a in range(0, N, _CODE_BLOCK):
                col = X[a:a + _CODE_BLOCK, d]
                code = np.minimum(np.searchsorted(cats, col), len(cats) - 1)
                unseen = cats[code] != col
                if unseen.any():
                    i = int(np.argmax(unseen))
                    self._raise_unseen(a + i, d, col[i], cats)
                codes[a:a + _CODE_BLOCK, d] = code
        return {"codes": codes, "offsets": self._offsets()}

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------
    def _check_means_init(self, means_init, X):
        if not hasattr(means_init, "__len__"):
            raise ValueError("The parameter 'means_init' must be a list of n_features arrays, array d of shape "
                             "(n_components, n_categories of column d).")
        if len(means_init) != X.shape[1]:
            raise ValueError(f"The parameter 'means_init' must have one table per column ({X.shape[1]}), but has "
                             f"{len(means_init)}.")
        tables = []
        for d, (table, cats) in enumerate(zip(means_init, self.categories_)):
            t = as_float_param(table, f"means_init[{d}]")
            check_param_shape(t, (self.n_components, len(cats)), f"means_init[{d}]")
            _check_tables(t, f"The parameter 'means_init[{d}]'")
            if np.any(np.abs(t.sum(axis=1) - 1) > 1e-6):
                raise ValueError(f"Each row of the parameter 'means_init[{d}]' must sum to 1, but the sums are "
                                 f"{t.sum(axis=1)}.")
            tables.append(t)
        return np.hstack(tables)

    def _means_flat(self):
        return np.hstack([np.asarray(t, dtype=np.float64) for t in self.means_])

    def _set_means(self, means, dtype):
        off = self._offsets()
        self.means_ = [np.asarray(means[:, off[d]:off[d + 1]], dtype=dtype) for d in range(len(off) - 1)]

    def _coefficients(self, weights, means):
        theta = _check_tables(means, "means_")
        with np.errstate(divide="ignore"):   # an empty component (weight 0) is never chosen
            log_w = np.log(weights)
        return np.ascontiguousarray(np.vstack([log_w[None, :], np.log(theta).T]))

    def _m_step_means(self, sums, nk, dtype):
        off = self._offsets()
        alpha = float(self.alpha)     # an int alpha >= 2**63 times an int array overflows (OverflowError)
        num = sums + alpha
        # Each column's table divided by its own sum, sum_c (s_c + alpha), which
        # equals n_k + n_d alpha but is formed from the same numbers: n_k (the
        # kernel's column of ones) and the one-hot sums come out of the GEMM
        # rounded differently, and (s + alpha) / (n_k + n_d alpha) gave
        # 1.0000000000000004 for a column with one category, which a refit
        # from these tables (means_init, warm start, load) rightly refused.
        denom = np.empty_like(num)
        for a, b in zip(off[:-1], off[1:]):
            denom[:, a:b] = num[:, a:b].sum(axis=1, keepdims=True)
        return np.maximum(num / denom, float(np.finfo(dtype).tiny))

    def _kmeans_statistics(self, X, sample_weight, random_state, n_threads, extra):
        # k-means on the one-hot rows, where distances between categories mean something.
        return self._lloyd_statistics(X, sample_weight, random_state, n_threads, extra, int(self._offsets()[-1]))

    def _sums_from_means(self, means, nk):
        """The one-hot sums whose M-step gives the tables ``means`` at these n_k (the inverse of
        :meth:`_m_step_means`: column d's table times n_k + n_d alpha, less alpha)."""
        off = self._offsets()
        sums = np.empty_like(means)
        for a, b in zip(off[:-1], off[1:]):
            sums[:, a:b] = means[:, a:b] * (nk[:, None] + (b - a) * float(self.alpha)) - float(self.alpha)
        return sums

    def _block_summary(self, block, offset):
        """Check one block's codes; return its per-column categories (the fit's are their union)."""
        super()._block_summary(block, offset)
        if has_nan(block):
            block = block[rows_without_nan(block)]
        return _categories(block) if block.shape[0] else None

    def _merge_block_summaries(self, summaries, reset):
        keep = self.warm_start and hasattr(self, "converged_") and hasattr(self, "categories_")
        if not reset or keep:
            return
        parts = [s for s in summaries if s is not None]
        self.categories_ = [np.unique(np.concatenate([p[d] for p in parts])) for d in range(len(parts[0]))]

    def _n_parameters(self):
        K = self.n_components
        return K - 1 + K * sum(len(c) - 1 for c in self.categories_)

    def _validate_means_loaded(self, K, D):
        name = type(self).__name__
        cats, tables = self.categories_, self.means_
        if len(cats) != D or len(tables) != D:
            raise ValueError(f"{name}: categories_ and means_ must have one entry per feature ({D}), but have "
                             f"{len(cats)} and {len(tables)}.")
        for d, (c, t) in enumerate(zip(cats, tables)):
            c = np.asarray(c)
            if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)) or np.any(np.diff(c) <= 0):
                raise ValueError(f"{name}: categories_[{d}] must be a non-empty increasing 1-D array of finite "
                                 "values.")
            if np.shape(t) != (K, c.size):
                raise ValueError(f"{name}: means_[{d}] has shape {np.shape(t)}, expected ({K}, {c.size}).")
            _check_tables(t, f"{name}: means_[{d}]")
            if np.any(np.abs(np.sum(t, axis=1, dtype=np.float64) - 1) > 1e-4):
                raise ValueError(f"{name}: each row of means_[{d}] must sum to 1.")

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Values from ``categories_`` (of their dtype).
        y : ndarray of shape (n_samples,)
            The component each sample came from.
        """
        rng, n_per, y = self._sample_components(n_samples)
        D = len(self.categories_)
        X = np.empty((int(n_per.sum()), D), dtype=self.categories_[0].dtype)
        start = 0
        for k, s in enumerate(n_per):
            for d in range(D):
                p = np.asarray(self.means_[d][k], dtype=np.float64)
                X[start:start + s, d] = self.categories_[d][rng.choice(len(p), size=int(s), p=p / p.sum())]
            start += s
        return X, y


# Categories that are integers in [0, _SMALL) take the counting fast paths
# below (a bincount for the categories, a lookup table for the codes) instead
# of sorting each column and a binary search per value: on 1M x 10 columns
# of 5 levels this once-per-fit work took longer than ten EM iterations.
_SMALL = 1 << 16


def _categories(X):
    """The sorted distinct values of each column of X (integer-valued floats), as ``np.unique`` gives them."""
    N, D = X.shape
    lo, hi = X.min(axis=0), X.max(axis=0)
    if N and np.all(lo >= 0) and np.all(hi < _SMALL):
        width = int(hi.max()) + 1
        shift = np.arange(D, dtype=np.intp) * width
        counts = np.zeros(D * width, dtype=np.int64)
        for a in range(0, N, _CODE_BLOCK):
            counts += np.bincount((X[a:a + _CODE_BLOCK].astype(np.intp) + shift).ravel(), minlength=D * width)
        counts = counts.reshape(D, width)
        return [np.flatnonzero(counts[d]).astype(X.dtype) for d in range(D)]
    return [np.unique(X[:, d]) for d in range(D)]


def _first_text(X):
    """(row, column, value) of the first string or bytes value of X, or None (the column named for a
    DataFrame); read on the error path only."""
    if is_dask(X):
        return None               # (refused before any text is seen; never computed here)
    columns = getattr(X, "columns", None)
    try:
        values = np.asarray(X)
    except (TypeError, ValueError):
        return None
    if values.ndim != 2 or values.dtype.kind not in "OSU":
        return None               # numbers: the error is about something else
    is_text = np.frompyfunc(lambda v: isinstance(v, (str, bytes)), 1, 1)(values).astype(bool)
    if not is_text.any():
        return None
    i, j = (int(k) for k in np.argwhere(is_text)[0])
    value = values[i, j]
    return i, (columns[j] if columns is not None and len(columns) == values.shape[1] else j), \
        value.item() if isinstance(value, np.generic) else value


def _lookup_tables(categories):
    """(D, width) int32 table: value -> code of each column (-1: unseen), when every column's
    categories are small non-negative integers; else None."""
    if not all(c.size and c[0] >= 0 and c[-1] < _SMALL and np.all(c == np.floor(c)) for c in categories):
        return None
    table = np.full((len(categories), int(max(c[-1] for c in categories)) + 1), -1, dtype=np.int32)
    for d, c in enumerate(categories):
        table[d, c.astype(np.intp)] = np.arange(c.size, dtype=np.int32)
    return table


def _preview(values, n=8):
    """The first few values of an array, for a message."""
    shown = ", ".join(repr(v.item()) for v in values[:n])
    return f"[{shown}{', ...' if len(values) > n else ''}]"


_docs.fill(CategoricalMixture, kmeans="k-means labels on the one-hot rows (Lloyd from random rows' one-hot "
                                      "vectors, at most 20 passes)",
           means_init="list of n_features arrays, array d of shape (n_components, n_d)",
           means_what="each row a probability table over ``categories_[d]``")
