"""A noise component for Gaussian mixtures (R mclust's ``Vinv``): a uniform density over the data's hull.

The noise is one more mixture component with the constant density 1/V and
its own proportion pi_0 (Banfield & Raftery 1993; Fraley & Raftery 1998). V
is mclust's ``hypvol``: the smaller of the volume of the data's bounding box
in the original coordinates and in its principal-component coordinates. Its
log-density log pi_0 - log V is one more column of the kernel's
coefficients (the constant feature, zeros elsewhere), so the fused E-step
and statistics pass computes it with the Gaussian components for free.

The automatic initial guess (``noise="auto"``) follows Byers & Raftery
(1998): in d dimensions, under a homogeneous Poisson process of intensity
lambda, the volume of the ball reaching a point's k-th nearest neighbour
times lambda is Gamma(k, 1)-distributed, so Y = D_k^d is Gamma(k, rate
lambda * c_d). The Y of all rows are fitted as a mixture of two such Gamma
laws (clusters: high intensity; background: low) by EM, and the rows more
likely under the low intensity are the initial noise.

This module is maths and checks only; ``GaussianMixture`` calls it.
"""

import math
from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from ..engine._online import OnlineMixin
from ._gaussian_statistics import Statistics


class NoiseParams(NamedTuple):
    """A Gaussian mixture's parameters with a noise component (float64).

    ``weights`` are the Gaussian components' proportions, which sum to
    ``1 - noise_weight``.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    noise_weight: float


class NoiseStatistics(Statistics):
    """Gaussian statistics plus the noise component's responsibility sum ``noise_nk`` (sum_i w_i r_i0).

    The Gaussian part holds only the Gaussian components' responsibilities
    (for 'tied' too: the pooled second moment of their rows, not of every
    row); blocks add, scale and re-centre as :class:`Statistics` do.
    """

    noise_nk: float = 0.0

    @classmethod
    def wrap(cls, stats, noise_nk):
        out = cls(stats.cov_type, stats.nk, stats.s1, stats.s2, stats.loglik, stats.weight, stats.n_samples,
                  stats.centre)
        out.noise_nk = float(noise_nk)
        return out

    def copy(self):
        return NoiseStatistics.wrap(Statistics.copy(self), self.noise_nk)

    def __iadd__(self, other):
        if not isinstance(other, NoiseStatistics):
            raise ValueError("statistics with and without a noise component do not add")
        Statistics.__iadd__(self, other)
        self.noise_nk += other.noise_nk
        return self

    def scaled(self, factor):
        return NoiseStatistics.wrap(Statistics.scaled(self, factor), self.noise_nk * float(factor))

    def recentred(self, centre):
        return NoiseStatistics.wrap(Statistics.recentred(self, centre), self.noise_nk)

    def to_dict(self):
        d = Statistics.to_dict(self)
        d["noise_nk"] = self.noise_nk
        return d

    @classmethod
    def from_dict(cls, d):
        return cls.wrap(Statistics.from_dict(d), d["noise_nk"])


# ---------------------------------------------------------------------------
# The volume
# ---------------------------------------------------------------------------

def hypvol(X, sample_weight=None):
    """mclust's ``hypvol``: (V, bounds), V the smaller of the two bounding boxes' volumes.

    The boxes are the ranges of the raw columns and of the principal-component
    scores (R's ``princomp``: eigenvectors of the covariance). ``bounds`` is
    the raw box, (2, D): its lower and upper corners. Rows of weight 0 are
    not there; positive weights count as copies of a row, so they change the
    principal axes (the weighted covariance's eigenvectors) but not which
    rows are inside: integer weights give the volume of the repeated rows.

    Raises
    ------
    ValueError
        When V is 0 (a constant column, or fewer distinct rows than
        dimensions), infinite, or not finite.
    """
    X = np.asarray(X, dtype=np.float64)
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        keep = w > 0
        X, w = X[keep], w[keep]
    lo, hi = X.min(axis=0), X.max(axis=0)
    with np.errstate(divide="ignore"):
        log_box = float(np.sum(np.log(hi - lo)))
        log_vol = log_box
        if X.shape[1] > 1:
            log_vol = min(log_box, float(np.sum(np.log(np.ptp(X @ principal_axes(X, w), axis=0)))))
    volume = np.exp(log_vol)
    if not (np.isfinite(log_vol) and 0 < volume < np.inf):
        raise ValueError(
            f"noise_volume: the volume of the data's bounding box is {volume:g} (log {log_vol:g}): with a "
            "constant column, or rows that lie in a subspace, the uniform noise density 1/V is undefined, and "
            "beyond float64's range it is not representable. Drop constant columns, scale the data, or give "
            "noise_volume > 0 yourself.")
    return volume, np.stack([lo, hi])


def principal_axes(X, sample_weight=None):
    """Eigenvectors (columns) of the (weighted) covariance of X: R's ``princomp`` loadings, up to sign."""
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    mean = (w @ X) / w.sum()
    Z = X - mean
    cov = (Z * w[:, None]).T @ Z / w.sum()
    return np.linalg.eigh(cov)[1][:, ::-1]


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------

def check_noise(noise, noise_volume, n_samples, estimator_name):
    """``noise`` (None, 'auto' or a boolean array of shape (n_samples,)) and ``noise_volume`` checked.

    Returns the boolean mask (a copy), 'auto' or None.
    """
    if noise_volume is not None:
        ok = isinstance(noise_volume, (int, float, np.integer, np.floating)) and not isinstance(noise_volume, bool)
        # a Python int beyond float's range is not a volume (np.isfinite fails on ints beyond int64)
        if ok and isinstance(noise_volume, int) and abs(noise_volume) > 2 ** 1023:
            ok = False
        if not ok or not math.isfinite(noise_volume) or noise_volume <= 0:
            raise ValueError(f"The 'noise_volume' parameter of {estimator_name} must be None or a finite number "
                             f"> 0 (the volume V of the region the uniform noise covers), got {noise_volume!r}.")
        if noise is None:
            raise ValueError(f"{estimator_name}: noise_volume is given but noise is None; set noise='auto' or "
                             "a boolean array to fit a noise component.")
    if noise is None or (isinstance(noise, str) and noise == "auto"):
        return noise
    if isinstance(noise, str):
        raise ValueError(f"The 'noise' parameter of {estimator_name} must be None, 'auto' or a boolean array of "
                         f"shape (n_samples,) marking the rows that start as noise, got {noise!r}.")
    mask = np.asarray(noise)
    if mask.dtype != np.bool_:
        raise TypeError(f"The 'noise' parameter of {estimator_name} must be a boolean array (True: the row starts "
                        f"as noise), got an array of dtype {mask.dtype}; convert it with np.asarray(noise, "
                        "dtype=bool), or from row indices with a mask.")
    if mask.shape != (n_samples,):
        raise ValueError(f"The 'noise' parameter of {estimator_name} has shape {mask.shape}; it needs one value "
                         f"per row of X, shape ({n_samples},).")
    return mask.copy()


def check_initial_mask(mask, sample_weight, n_components):
    """The initial noise rows must leave at least ``n_components`` rows (of positive weight) to the Gaussians."""
    rest = ~mask if sample_weight is None else (~mask & (sample_weight > 0))
    n_rest = int(np.count_nonzero(rest))
    if n_rest == 0:
        raise ValueError("noise marks every row (of positive weight) as noise: the Gaussian components have no "
                         "row to start from. Mark fewer rows, or use noise='auto'.")
    if n_rest < n_components:
        raise ValueError(f"noise leaves {n_rest} row(s) to start {n_components} Gaussian components from; "
                         "mark fewer rows as noise or use fewer components.")


def noise_fraction(mask, sample_weight):
    """The (weighted) fraction of the rows that start as noise: the initial noise proportion."""
    if sample_weight is None:
        return float(np.count_nonzero(mask)) / mask.shape[0]
    return float(np.sum(sample_weight[mask]) / np.sum(sample_weight))


def noise_log_density(noise_weight, log_volume):
    """log pi_0 - log V: the noise column's constant (-inf for pi_0 = 0, a legal empty component)."""
    with np.errstate(divide="ignore"):
        return float(np.log(noise_weight)) - float(log_volume)


def append_noise_column(W, log_density):
    """W (P, K) with the noise column appended: (P, K + 1), log_density in the constant feature."""
    col = np.zeros((W.shape[0], 1), dtype=W.dtype)
    col[0, 0] = log_density
    return np.ascontiguousarray(np.hstack([W, col]))


def m_step_weights(nk_eps, noise_nk):
    """The Gaussian proportions and the noise's, from their responsibility sums (together they sum to 1)."""
    total = float(np.sum(nk_eps)) + float(noise_nk)
    return nk_eps / total, float(noise_nk) / total


def n_parameters(n_gaussian_parameters):
    """mclust's count with a noise component: two more (its proportion and the volume V, as ``nMclustParams``)."""
    return n_gaussian_parameters + 2


def labels_with_noise(labels, n_components):
    """The kernel's labels with the noise column (index K) as -1."""
    if labels is not None:
        labels[labels == n_components] = -1
    return labels


def sample_noise(rng, n, bounds):
    """``n`` rows drawn uniformly from the box ``bounds`` (2, D)."""
    lo, hi = np.asarray(bounds, dtype=np.float64)
    return lo + rng.uniform(size=(n, lo.shape[0])) * (hi - lo)


# ---------------------------------------------------------------------------
# The automatic initial guess (Byers & Raftery 1998)
# ---------------------------------------------------------------------------

#: Neighbour order k of the automatic guess; Byers & Raftery's examples use k between 4 and 20.
NN_K = 10
#: Rows the automatic guess builds its tree on and fits its two intensities to (a random subset beyond it).
NN_MAX_ROWS = 20000


def auto_noise(X, sample_weight, random_state, *, k=NN_K, max_rows=NN_MAX_ROWS, n_threads=1):
    """The initial noise rows (boolean mask) from k-th nearest-neighbour distances (NNclean).

    Rows of weight 0 are never noise and take no part. Beyond ``max_rows``
    rows, a uniform random subset S of that size (from ``random_state``) is
    the point process: its k-th neighbour distances (a thinned Poisson
    process is Poisson, so the model still holds) fit the two intensities,
    and every row is then classified by its k-th neighbour distance in S.
    At least one row (the most isolated) is noise, so that the noise
    component starts with a positive weight.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    live = np.ones(n, dtype=bool) if sample_weight is None else np.asarray(sample_weight) > 0
    idx = np.flatnonzero(live)
    if idx.shape[0] > max_rows:
        idx = np.sort(random_state.choice(idx, size=max_rows, replace=False))
    k = int(min(k, idx.shape[0] - 1))
    mask = np.zeros(n, dtype=bool)
    if k < 1:
        return mask
    tree = cKDTree(X[idx])
    in_s = np.zeros(n, dtype=bool)
    in_s[idx] = True
    log_dist = np.empty(n)
    # S's own rows: their first neighbour is themselves.
    log_dist[idx] = _log_kth(tree, X[idx], k + 1, n_threads)
    rest = np.flatnonzero(live & ~in_s)
    if rest.size:
        log_dist[rest] = _log_kth(tree, X[rest], k, n_threads)
    fitted = _gamma_mixture(d * log_dist[idx], k)
    scores = _noise_posterior(d * log_dist[live], k, fitted)
    mask[live] = scores > 0.5
    if not mask.any():
        mask[np.flatnonzero(live)[np.argmax(log_dist[live])]] = True
    return mask


def _log_kth(tree, Q, k, n_threads):
    dist = tree.query(Q, k=k, workers=n_threads)[0][:, -1]
    positive = dist[dist > 0]
    floor = positive.min() if positive.size else 1.0
    return np.log(np.maximum(dist, floor))      # duplicated rows: the smallest positive distance


def _scaled_y(log_y, centre):
    return np.exp(np.clip(log_y - centre, -700.0, 700.0))


def _gamma_mixture(log_y, k, max_iter=500, tol=1e-10):
    """EM for a mixture of two Gamma(k, rate) laws of y = exp(log_y), k known.

    Returns (rates, proportions), index 0 the lower rate (the background),
    on the scale of y / exp(median(log_y)).
    """
    centre = float(np.median(log_y))
    y = _scaled_y(log_y, centre)
    # Start: the upper fifth of the distances as background.
    r0 = (y > np.quantile(y, 0.8)).astype(np.float64)
    if not r0.any() or r0.all():
        r0 = np.full(y.shape, 0.5)
    resp = np.stack([r0, 1.0 - r0])
    old = -np.inf
    for _ in range(max_iter):
        nk = resp.sum(axis=1) + 1e-12
        props = nk / nk.sum()
        rates = k * nk / (resp @ y + 1e-300)
        log_p = np.log(props)[:, None] + k * np.log(rates)[:, None] - rates[:, None] * y[None, :]
        top = log_p.max(axis=0)
        ll = float(np.sum(top + np.log(np.exp(log_p - top).sum(axis=0))))
        resp = np.exp(log_p - top)
        resp /= resp.sum(axis=0)
        if abs(ll - old) <= tol * abs(ll):
            break
        old = ll
    order = np.argsort(rates)
    return (rates[order], props[order]), centre


def _noise_posterior(log_y, k, fitted):
    """The posterior of the background (low-rate) Gamma for each y (``fitted``: :func:`_gamma_mixture`'s)."""
    (rates, props), centre = fitted
    y = _scaled_y(log_y, centre)
    log_p = np.log(props)[:, None] + k * np.log(rates)[:, None] - rates[:, None] * y[None, :]
    log_p -= log_p.max(axis=0)
    p = np.exp(log_p)
    return p[0] / p.sum(axis=0)


# ---------------------------------------------------------------------------
# The estimator's side (GaussianMixture's noise, noise_volume and fitted noise_*_ attributes)
# ---------------------------------------------------------------------------

class NoiseMixin:
    """GaussianMixture's noise component: its checks, its start, and its fitted attributes.

    The public fitted attributes are the truth: a model has a noise
    component when it has ``noise_weight_`` (the E-step, ``predict``,
    ``score`` and the parameter count read it), and a fit sets or removes
    them with the other parameters.
    """

    _NOISE_ATTRIBUTES = ("noise_weight_", "noise_volume_", "noise_bounds_")

    def partial_fit(self, X, y=None, sample_weight=None):
        if self.noise is not None or hasattr(self, "noise_weight_"):
            raise TypeError(f"{type(self).__name__}.partial_fit has no noise component (online EM would need the "
                            "noise volume of data not seen yet): use fit, or noise=None.")
        return super().partial_fit(X, y, sample_weight)

    partial_fit.__doc__ = OnlineMixin.partial_fit.__doc__

    def _check_noise(self, X, sample_weight=None):
        """Validate ``noise`` and ``noise_volume`` for a fit on X; forget the previous fit's start."""
        name = type(self).__name__
        self._noise_run = None
        if not (self.noise is None or isinstance(self.noise, str)) and getattr(self, "n_omitted_", 0):
            raise ValueError(f"{name}: a noise mask with nan_policy='omit' that dropped {self.n_omitted_} rows: "
                             "remove the rows with NaN from X and the mask first.")
        mask = check_noise(self.noise, self.noise_volume, X.shape[0], name)
        if mask is None:
            if self.warm_start and hasattr(self, "noise_weight_") and hasattr(self, "converged_"):
                raise ValueError(f"{name}: warm_start from a fit with a noise component needs noise set "
                                 "(noise='auto' or the mask), or warm_start=False.")
            return
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{name}(noise=...) fits an in-memory array only (the noise volume and the initial "
                            "guess read every row): pass np.asarray(X), or fit without noise.")
        if getattr(self, "on_degenerate", "raise") != "raise":
            raise ValueError(f"{name}(noise=...) supports on_degenerate='raise' only (a re-seeded or dropped "
                             "component would need the noise's share re-balanced).")
        if self._nan_policy() == "marginalize" and np.isnan(X).any():
            raise ValueError(f"{name}(noise=...) with nan_policy='marginalize' and NaN in X is not supported: "
                             "use nan_policy='omit', or impute X first.")
        if self.warm_start and hasattr(self, "converged_") and not hasattr(self, "noise_weight_"):
            raise ValueError(f"{name}: warm_start=True with noise, but the previous fit has no noise component; "
                             "fit with warm_start=False first.")

    def _noise_start(self, X, sample_weight, random_state, n_threads):
        """The initial noise rows (a boolean mask), computed once per fit with V and the box."""
        if self._noise_run is None:
            volume, bounds = hypvol(X, sample_weight)
            if self.noise_volume is not None:
                volume = float(self.noise_volume)
            if isinstance(self.noise, str):
                mask = auto_noise(X, sample_weight, random_state, n_threads=n_threads)
            else:
                mask = np.asarray(self.noise, dtype=bool)
            check_initial_mask(mask, sample_weight, self.n_components)
            self._noise_run = (float(volume), bounds, mask)
        return self._noise_run[2]

    def _with_noise(self, X, sample_weight, random_state, n_threads, initialise):
        """Initial parameters: ``initialise(X, sample_weight)`` on the rows that do not start as noise, the
        Gaussian weights scaled by 1 - pi_0, pi_0 the (weighted) fraction of noise rows (mclust's start)."""
        if self.noise is None:
            return initialise(X, sample_weight)
        mask = self._noise_start(X, sample_weight, random_state, n_threads)
        keep = ~mask
        params = initialise(np.ascontiguousarray(X[keep]),
                            None if sample_weight is None else np.ascontiguousarray(sample_weight[keep]))
        pi0 = noise_fraction(mask, sample_weight)
        weights = np.asarray(params.weights, dtype=np.float64) * (1.0 - pi0)
        return NoiseParams(weights, *params[1:4], pi0)

    def _noise_volume_now(self):
        return self._noise_run[0] if getattr(self, "_noise_run", None) is not None else float(self.noise_volume_)

    def _noise_log(self, params):
        """The noise column's log-density under ``params`` (None without noise)."""
        if not isinstance(params, NoiseParams):
            return None
        return noise_log_density(params.noise_weight, np.log(self._noise_volume_now()))

    def _fitted_noise_log(self):
        if not hasattr(self, "noise_weight_"):
            return None
        return noise_log_density(self.noise_weight_, np.log(self.noise_volume_))

    def _set_noise_attributes(self, params):
        if not isinstance(params, NoiseParams):
            for name in self._NOISE_ATTRIBUTES:
                self.__dict__.pop(name, None)
            return
        if getattr(self, "_noise_run", None) is not None:
            self.noise_volume_ = self._noise_run[0]
            self.noise_bounds_ = np.asarray(self._noise_run[1], dtype=np.float64)
        self.noise_weight_ = float(params.noise_weight)

    def _noise_parameters(self, gaussian):
        """The fitted parameters (a GaussianParams) with the fitted noise weight, if any."""
        if not hasattr(self, "noise_weight_"):
            return gaussian
        return NoiseParams(*gaussian, float(self.noise_weight_))

    def _check_loaded_noise(self, weights):
        """A loaded model's noise attributes, and the weights' total (1, less the noise weight)."""
        if not hasattr(self, "noise_weight_"):
            return 1.0
        pi0, volume = self.noise_weight_, getattr(self, "noise_volume_", None)
        if not (isinstance(pi0, (int, float)) and 0 <= pi0 < 1):
            raise ValueError(f"noise_weight_ must be a number in [0, 1), got {pi0!r}.")
        if volume is None:
            raise ValueError("noise_weight_ is present but noise_volume_ is not.")
        bounds = np.asarray(getattr(self, "noise_bounds_", None), dtype=np.float64)
        if bounds.shape != (2, self.n_features_in_) or not np.all(np.isfinite(bounds)):
            raise ValueError(f"noise_bounds_ must be finite, shape (2, {self.n_features_in_}).")
        self.noise_bounds_ = bounds
        return 1.0 - pi0
