"""What the discrete mixture families share: one EM pass on the fused kernel, initialisation, checks.

Bernoulli, Poisson and categorical log-densities are linear in a per-row
feature vector f(x) (``[1, x]``, or ``[1, onehot(x_1), ..., onehot(x_D)]``),
so one EM pass is the Gaussian one with another feature code
(``_estep.QLINEAR`` / ``_estep.QONEHOT``): the kernel forms F per chunk,
LP = F W (weighted log-densities), the softmax, and G = R^T F, whose column 0
is ``n_k = sum_i w_i r_ik`` and whose other columns are the weighted sums of
the features, every sufficient statistic of these families. A family only
says how parameters become W (``_coefficients``) and how G becomes
parameters (``_m_step_means``).

Per-fit data: the categorical family needs X as int32 codes, the Poisson
family the constant ``sum_i w_i (-sum_d log x_id!)`` of its lower bound.
Both are made once per fit, on the first EM pass, and kept with the X and
sample-weight objects they were made from (``_FitCache``, compared by
identity: the EM loop passes the same objects to every pass); the cache is
dropped when the fit ends (``_check_solution``) and at the next fit's start,
and refers to X weakly.
"""

import weakref
from typing import NamedTuple

import numpy as np

from ..engine._base import BaseMixture
from ..engine._custom_init import initial_assignment, is_custom
from ..engine._schema import Array, mixture_schema
from ..io._persistence import Persistent
from ..kernels import _driver as _kernels
from ..kernels import _estep
from ..kernels._kmeans_driver import draw_units, kmeans
from ..sources._blocks import init_sample_rows, is_dask, is_out_of_core
from ..sources._nan import has_nan, rows_without_nan
from ..utils._validation import check_array, check_feature_names, check_option, check_random_state, check_scalar
from ._gaussian_init import random_responsibilities

QLINEAR = _estep.QLINEAR
QONEHOT = _estep.QONEHOT
INIT_PARAMS = ("kmeans", "random", "random_from_data")
_BLOCK = 65536            # rows per block of the value checks (bounded temporaries)
_LLOYD_PASSES = 20        # categorical k-means: at most this many one-hot Lloyd passes


class DiscreteParams(NamedTuple):
    """A discrete mixture's parameters, float64: the weights and the per-component parameters as one
    (K, L) array (L = n_features, or every category of every feature for the categorical family)."""

    weights: np.ndarray
    means: np.ndarray


class LinearStatistics:
    """Additive statistics of a family whose log-density is linear in per-row features f(x).

    Attributes
    ----------
    G : ndarray (K, P)
        sum_i w_i r_ik f(x_i); column 0 (f_0 = 1) is n_k = sum_i w_i r_ik.
    loglik : float
        sum_i w_i log p(x_i) under the E-step's parameters (with the
        family's per-row constants, e.g. Poisson's -log x!).
    weight : float
        sum_i w_i.
    n_samples : int
        Rows summed.
    """

    def __init__(self, G, loglik, weight, n_samples):
        self.G, self.loglik, self.weight, self.n_samples = G, float(loglik), float(weight), int(n_samples)

    def __iadd__(self, other):
        if not isinstance(other, LinearStatistics):
            return NotImplemented
        self.G = self.G + other.G
        self.loglik += other.loglik
        self.weight += other.weight
        self.n_samples += other.n_samples
        return self

    def __add__(self, other):
        out = LinearStatistics(self.G.copy(), self.loglik, self.weight, self.n_samples)
        out += other
        return out

    def scaled(self, factor):
        f = float(factor)
        return LinearStatistics(self.G * f, self.loglik * f, self.weight * f, self.n_samples)

    def to_dict(self):
        """Plain dict of arrays and numbers (for transfers and saving)."""
        return {"G": self.G, "loglik": self.loglik, "weight": self.weight, "n_samples": self.n_samples}

    @classmethod
    def from_dict(cls, d):
        return cls(np.asarray(d["G"], dtype=np.float64), d["loglik"], d["weight"], d["n_samples"])


def first_offender(X, bad, offset=0):
    """(row, column, value) of the first entry of X where ``bad(block)`` holds, or None, block-wise.

    ``offset`` is added to the row (X a block starting at that row of the data).
    """
    for a in range(0, X.shape[0], _BLOCK):
        xb = X[a:a + _BLOCK]
        with np.errstate(invalid="ignore"):
            hit = bad(xb)
        if hit.any():
            i, j = np.argwhere(hit)[0]
            return offset + a + int(i), int(j), xb[i, j].item()
    return None


def raise_nan(X, name, what):
    """ValueError for the first NaN of X (nan_policy='raise')."""
    where = first_offender(X, np.isnan)
    if where is not None:
        i, j, _ = where
        raise ValueError(
            f"Input X contains NaN (first at row {i}, column {j}). {name} needs {what}: remove or impute the "
            "missing values first, or set nan_policy='omit' to fit on the rows without NaN."
        )


def _ref(a):
    return (lambda: None) if a is None else weakref.ref(a)


class _FitCache:
    """Data derived from X once per fit, valid for that X and sample-weight object only.

    It refers to them weakly: a fit that ends in an exception (and so never
    reaches ``_check_solution``) does not keep X alive through the estimator.
    """

    def __init__(self, X, sample_weight, **values):
        self._X = _ref(X)
        self._sample_weight = _ref(sample_weight)
        self.__dict__.update(values)

    def matches(self, X, sample_weight):
        return self._X() is X and self._sample_weight() is sample_weight


class DiscreteMixture(Persistent, BaseMixture):
    """The shared part of the discrete families (see the module docstring); not public.

    A family sets ``_quad`` and implements ``_check_values(X, reset)``,
    ``_coefficients(weights, means)`` (W, P x K, float64),
    ``_m_step_means(sums, nk, dtype)``, ``_check_means_init(m, X)``,
    ``_n_parameters``, ``_validate_means_loaded``, ``sample``; optionally
    ``_kernel_extra(X)`` (codes for the one-hot code) and
    ``_row_constant(X)`` (per-row log-density term that does not depend on
    the component).
    """

    _quad = QLINEAR
    _fit_cache = None
    _Params = DiscreteParams
    #: The fitted attributes as a model file holds them (fastgmm.engine._schema).
    _schema = mixture_schema(Array("weights_"), Array("means_"))
    # What the family's X holds, for error messages ("binary values 0 and 1", ...).
    _values_wanted = ""
    _positive_only = True     # scikit-learn's tag: negative values are an error

    def __sklearn_tags__(self):
        # scikit-learn's estimator checks feed these families count-like data
        # (non-negative integers) only when the input is tagged categorical.
        tags = super().__sklearn_tags__()
        # (BernoulliMixture with binarize takes any reals, and is not tagged.)
        tags.input_tags.categorical = self._positive_only or not hasattr(self, "binarize")
        tags.input_tags.positive_only = self._positive_only
        return tags

    def __getstate__(self):
        # The per-fit cache refers to X weakly and is rebuilt on demand: never pickled (Dask ships
        # the estimator to its workers).
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state.pop("_fit_cache", None)
        return state

    # ------------------------------------------------------------------
    # X
    # ------------------------------------------------------------------
    def _validate_X(self, X, *, reset, allow_nan=False):
        """X as a C-contiguous float array whose values the family accepts, or a source (out-of-core
        or Dask) whose blocks have all been checked once."""
        name = type(self).__name__
        if is_dask(X) or is_out_of_core(X):
            X = BaseMixture._validate_X(self, X, reset=reset, allow_nan=allow_nan)
            X.transform = self._transform
            self._check_source_values(X, reset)
            return X
        check_feature_names(self, X, reset=reset)
        X = check_array(X, estimator_name=name, min_samples=2 if reset else 1, allow_nan=True)
        if not allow_nan:
            raise_nan(X, name, self._values_wanted)
        X = self._transform(X)
        if not reset:
            X = self._check_n_features(X)
        complete = X[rows_without_nan(X)] if allow_nan and has_nan(X) else X
        self._check_values(complete, reset)
        if reset:
            self.n_features_in_ = X.shape[1]
        return X

    def _transform(self, X):
        """X as the family reads it (BernoulliMixture's ``binarize``; NaN stays NaN)."""
        threshold = getattr(self, "binarize", None)
        if threshold is None:
            return X
        out = (X > threshold).astype(X.dtype)
        if has_nan(X):
            out[np.isnan(X)] = np.nan
        return out

    def _check_source_values(self, X, reset):
        """Every block's values checked once (errors name the global row); categories found at fit."""
        summaries = X.map_blocks(_block_summary, self)
        self._merge_block_summaries(summaries, reset)

    def _block_summary(self, block, offset):
        """Check one block's values (its rows without NaN); return what fitting needs from it (nothing)."""
        if has_nan(block):
            block = block[rows_without_nan(block)]
        self._check_values(block, False, offset)
        return None

    def _merge_block_summaries(self, summaries, reset):
        """Combine the blocks' summaries (the categorical family's categories)."""

    def _kernel_extra(self, X):
        """Extra keyword arguments of the kernel calls (the one-hot code's codes)."""
        return {}

    def _row_constant(self, X):
        """Per-row log-density term shared by every component (None: there is none)."""
        return None

    def _per_fit(self, X, sample_weight):
        """The :class:`_FitCache` of this fit's X (made on the first call for that X)."""
        cache = self._fit_cache
        if cache is None or not cache.matches(X, sample_weight):
            extra = self._kernel_extra(X)
            const = 0.0
            for a, b, c in self._row_constant_blocks(X):
                const += float(c.sum() if sample_weight is None else c @ sample_weight[a:b])
            cache = self._fit_cache = _FitCache(X, sample_weight, extra=extra, constant=const)
        return cache

    def _row_constant_blocks(self, X):
        """(start, end, constants) per block of rows, for families with a row constant."""
        if type(self)._row_constant is DiscreteMixture._row_constant:
            return
        for a in range(0, X.shape[0], _BLOCK):
            b = min(a + _BLOCK, X.shape[0])
            yield a, b, self._row_constant(X[a:b])

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------
    def _check_common_parameters(self):
        name = type(self).__name__
        check_scalar(self.alpha, "alpha", "real", low=0, low_open=True, estimator_name=name,
                     detail="alpha > 0 keeps every probability (rate) off 0, so that its logarithm is finite.")
        if not is_custom(self.init_params):
            check_option(self.init_params, "init_params", set(INIT_PARAMS), estimator_name=name)

    def _check_parameters(self, X):
        """Validate the family's parameters; return float64 ``(weights_init, means_init)`` (or None each)."""
        self._fit_cache = None
        self._check_common_parameters()
        K = self.n_components
        w = m = None
        if self.weights_init is not None:
            w = as_float_param(self.weights_init, "weights_init")
            check_param_shape(w, (K,), "weights_init")
            if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w > 1):
                raise ValueError("The parameter 'weights_init' must hold finite values in [0, 1], but got "
                                 f"min value {np.min(w):.5g}, max value {np.max(w):.5g}.")
            tol = 1e-8 if X.dtype == np.float64 else 1e-6
            if abs(1.0 - np.sum(w)) > tol:
                raise ValueError(f"The parameter 'weights_init' should be normalized, but got sum(weights_init) "
                                 f"= {np.sum(w):.5f}.")
        if self.means_init is not None:
            m = self._check_means_init(self.means_init, X)
        return w, m

    def _get_parameters(self):
        return DiscreteParams(np.asarray(self.weights_, dtype=np.float64), self._means_flat())

    def _means_flat(self):
        """means_ as one float64 (K, L) array (L = n_features, or all categories for categorical)."""
        return np.asarray(self.means_, dtype=np.float64)

    def _set_parameters(self, params, dtype):
        weights, means = params
        self.weights_ = np.asarray(weights, dtype=dtype)
        self._set_means(means, dtype)

    def _set_means(self, means, dtype):
        self.means_ = np.asarray(means, dtype=dtype)

    # ------------------------------------------------------------------
    # EM
    # ------------------------------------------------------------------
    def _accumulate(self, X, sample_weight, n_threads, extra, **kw):
        """One kernel pass with this family's feature code; (G (K, P), sum_i w_i log p(x_i) - constants)."""
        shift = np.zeros(X.shape[1])
        G, _, ll = _kernels.accumulate(X, self._quad, self.n_components, shift, n_threads,
                                       sample_weight=sample_weight, **extra, **kw)
        return G, ll

    def _m_step_G(self, G, dtype):
        """Parameters from the statistics G = sum_i w_i r_ik f(x_i): column 0 is n_k."""
        nk = G[:, 0]
        eps = float(np.finfo(dtype).eps)
        weights = (nk + 10 * eps) / np.sum(nk + 10 * eps)   # scikit-learn's guard against empty components
        return weights, self._m_step_means(G[:, 1:], nk, dtype)

    def _statistics(self, X, sample_weight, params, n_threads, missing=None):
        """One fused E-step + statistics pass over an in-memory block: a :class:`LinearStatistics`."""
        cache = self._per_fit(X, sample_weight)
        W = self._coefficients(params.weights, params.means)
        G, ll = self._accumulate(X, sample_weight, n_threads, cache.extra, W=W)
        weight = X.shape[0] if sample_weight is None else float(sample_weight.sum())
        return LinearStatistics(G, ll + cache.constant, weight, X.shape[0])

    def _m_step(self, stats, params, data):
        lower_bound = stats.loglik / stats.weight
        if not np.isfinite(lower_bound):
            raise ValueError(
                f"Some samples have zero probability under every component (the lower bound is {lower_bound}): "
                f"a component gives probability 0 to a value they hold. Increase alpha (currently {self.alpha}).")
        return DiscreteParams(*self._m_step_G(stats.G, data.X.dtype))

    def _lower_bound(self, stats, new_params):
        return stats.loglik / stats.weight

    def _statistics_from_parameters(self, params):
        """Statistics of total weight 1 whose M-step gives back ``params`` (the smoothing ``alpha`` counted
        at the scale of ``n_samples_seen_`` rows, as the next M-step will apply it)."""
        n = float(getattr(self, "n_samples_seen_", 0.0)) or 1.0
        nk = np.asarray(params.weights, dtype=np.float64) * n
        sums = self._sums_from_means(np.asarray(params.means, dtype=np.float64), nk)
        G = np.hstack([nk[:, None], sums]) / n
        return LinearStatistics(G, 0.0, 1.0, 0)

    def _check_solution(self, X):
        """End of fit: the per-fit data (and its reference to X) are released."""
        self._fit_cache = None

    def _estimate(self, X, n_threads, *, row_ll=False, labels=False, resp=False, total=False):
        W = self._coefficients(*self._get_parameters())
        extra = self._kernel_extra(X)
        out_ll, out_lab, out_resp, out_total = _kernels.estimate(
            X, self._quad, np.zeros(X.shape[1]), W, None, n_threads, row_ll=row_ll, labels=labels, resp=resp,
            total=total, **extra)
        for a, b, c in self._row_constant_blocks(X):
            if row_ll:
                out_ll[a:b] += c
            if total:
                out_total += float(c.sum())
        return out_ll, out_lab, out_resp, out_total

    # ------------------------------------------------------------------
    # Initialisation
    # ------------------------------------------------------------------
    def _initialize_parameters(self, X, sample_weight, random_state, init, n_threads):
        """Initial (weights, means): one M-step on initial responsibilities, then the ``*_init`` arrays."""
        w_init, m_init = init
        weights = means = None
        if w_init is None or m_init is None:
            if not isinstance(X, np.ndarray):
                # Out of core / Dask: initialise on a bounded uniform sample of the rows, in memory.
                X, sample_weight = X.sample(init_sample_rows(X.shape[1], getattr(X, "block_rows", 0)),
                                            random_state, sample_weight)
            G = self._initial_statistics(X, sample_weight, random_state, n_threads)
            weights, means = self._m_step_G(G, X.dtype)
        return DiscreteParams(w_init if w_init is not None else weights, m_init if m_init is not None else means)

    def _initial_statistics(self, X, sample_weight, random_state, n_threads):
        """Statistics G of the initial responsibilities (``init_params``), through the kernel."""
        N = X.shape[0]
        K = self.n_components
        extra = self._per_fit(X, sample_weight).extra
        if is_custom(self.init_params):
            kind, value = initial_assignment(self.init_params, X, K, random_state, type(self).__name__)
            if kind == "labels":
                return self._accumulate(X, sample_weight, n_threads, extra, mode=_kernels.RESP_LABELS,
                                        labels=value)[0]
            return self._accumulate(X, sample_weight, n_threads, extra, mode=_kernels.RESP_GIVEN, resp=value)[0]
        if self.init_params == "kmeans":
            return self._kmeans_statistics(X, sample_weight, random_state, n_threads, extra)
        if self.init_params == "random":
            G = 0
            # Block by block from one stream: the same draws as one (N, K) array, in bounded memory.
            for a, b, resp in random_responsibilities(N, K, random_state, sample_weight):
                sw = None if sample_weight is None else sample_weight[a:b]
                part = {k: v[a:b] if k == "codes" else v for k, v in extra.items()}
                G = G + self._accumulate(X[a:b], sw, n_threads, part, mode=_kernels.RESP_GIVEN, resp=resp)[0]
            return G
        # K one-row components: only the seed rows go through the kernel, each with its seed's weight.
        rows, mass = random_rows(N, K, random_state, sample_weight)
        seeds = {k: v[rows] if k == "codes" else v for k, v in extra.items()}
        return self._accumulate(np.ascontiguousarray(X[rows]), mass, n_threads, seeds, mode=_kernels.RESP_LABELS,
                                labels=np.arange(K, dtype=np.int64))[0]

    def _kmeans_statistics(self, X, sample_weight, random_state, n_threads, extra):
        """Statistics of the hard assignment of every row to its nearest k-means centre."""
        centres = kmeans(X, self.n_components, random_state, n_threads, sample_weight=sample_weight)
        return self._accumulate(X, sample_weight, n_threads, extra, mode=_kernels.RESP_HARD,
                                W=nearest_centre_coefficients(centres))[0]

    def _lloyd_statistics(self, X, sample_weight, random_state, n_threads, extra, n_levels):
        """k-means in the feature space of the one-hot code (Lloyd on the kernel's hard assignment).

        Seeds are random rows' one-hot vectors; each pass assigns every row to
        its nearest centre (``|f - c|^2`` through the linear form of
        :func:`nearest_centre_coefficients`) and returns the clusters' sums,
        from which the centres move to their means (an empty cluster keeps
        its centre), until they stop moving or after ``_LLOYD_PASSES``.
        """
        codes, offsets = extra["codes"], extra["offsets"]
        seeds = codes[random_rows(X.shape[0], self.n_components, random_state, sample_weight)[0]]
        centres = np.zeros((self.n_components, n_levels))
        for k, row in enumerate(seeds):
            centres[k, offsets[:-1] + row] = 1.0
        for _ in range(_LLOYD_PASSES):
            G = self._accumulate(X, sample_weight, n_threads, extra, mode=_kernels.RESP_HARD,
                                 W=nearest_centre_coefficients(centres))[0]
            nk = G[:, :1]
            new = np.where(nk > 0, G[:, 1:] / np.where(nk > 0, nk, 1.0), centres)
            if np.array_equal(new, centres):
                break
            centres = new
        return G

    def _n_parameters(self):
        raise NotImplementedError

    # ------------------------------------------------------------------
    # Loading (fastgmm's loader calls this after setting the attributes)
    # ------------------------------------------------------------------
    def _validate_loaded(self):
        """ValueError naming the problem when the fitted attributes do not make a valid model."""
        name = type(self).__name__
        K = self.n_components
        w = np.asarray(self.weights_)
        if w.shape != (K,):
            raise ValueError(f"{name}: weights_ has shape {w.shape}, expected ({K},) (n_components).")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w > 1):
            raise ValueError(f"{name}: weights_ must be finite probabilities in [0, 1].")
        if abs(float(np.sum(w, dtype=np.float64)) - 1.0) > 1e-4:
            raise ValueError(f"{name}: weights_ must sum to 1 (they sum to {float(np.sum(w)):.6g}).")
        self._validate_means_loaded(K, int(self.n_features_in_))

    def _check_means_shape(self, m, K, D):
        if np.shape(m) != (K, D):
            raise ValueError(f"{type(self).__name__}: means_ has shape {np.shape(m)}, expected ({K}, {D}) "
                             "(n_components, n_features).")
        if not np.all(np.isfinite(m)):
            raise ValueError(f"{type(self).__name__}: means_ contains NaN or infinity.")

    # ------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------
    def _sample_components(self, n_samples):
        """(rng, counts per component, component labels) of ``n_samples`` draws (Gaussian's order)."""
        self._check_is_fitted()
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at least one sample.")
        rng = check_random_state(self.random_state)
        n_per = rng.multinomial(n_samples, np.asarray(self.weights_, dtype=np.float64))
        y = np.concatenate([np.full(s, j, dtype=int) for j, s in enumerate(n_per)])
        return rng, n_per, y


def _block_summary(block, offset, model):
    return model._block_summary(block, offset)


def nearest_centre_coefficients(centres):
    """W (P x K) of the linear code whose argmax is the nearest centre: f . W_k = x . c_k - |c_k|^2 / 2."""
    c = np.asarray(centres, dtype=np.float64)
    return np.ascontiguousarray(np.vstack([-0.5 * np.sum(c * c, axis=1)[None, :], c.T]))


def random_rows(N, K, random_state, sample_weight):
    """K rows drawn in proportion to their weight (uniformly without weights), and the weight each seed carries.

    Inverse-CDF draws of one unit of weight each (``fastgmm.kernels._kmeans_driver.draw_units``):
    a row of integer weight w is drawn exactly as w adjacent copies of it
    would be, and a seed carries one unit of weight as a copy does (its row's
    whole weight when that is less). Returns (rows, mass); mass is None
    without weights.
    """
    if sample_weight is not None and np.count_nonzero(sample_weight) < K:
        raise ValueError(f"init_params='random_from_data' needs at least n_components = {K} rows of positive "
                         "sample_weight.")
    rows, mass = draw_units(N, K, random_state, sample_weight)
    return rows, (None if sample_weight is None else mass)


def as_float_param(value, name):
    """An initial parameter as a float64 array, or a ValueError naming it."""
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"The parameter '{name}' must be an array of numbers: {e}") from None


def check_param_shape(param, shape, name):
    if param.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got {param.shape}.")


def check_open_unit(p, name, low=0.0, high=1.0, what="strictly between 0 and 1"):
    """Every entry of ``p`` finite and in the open interval (low, high); ValueError naming ``name``."""
    p = np.asarray(p, dtype=np.float64)
    if not np.all(np.isfinite(p)) or np.any(p <= low) or np.any(p >= high):
        bad = p[~(np.isfinite(p) & (p > low) & (p < high))]
        raise ValueError(f"{name} must be {what} (0 and 1 make a log-probability infinite), "
                         f"but holds {bad.flat[0]!r}.")
    return p

