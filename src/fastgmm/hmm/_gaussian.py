"""Gaussian emissions: :class:`GaussianHMM` (one Gaussian per state) and :class:`GMMHMM` (a mixture per state).

Emission log-densities come from the fused Gaussian kernel (``estimate`` with
its ``log_prob`` output) and the statistics from the same kernel with the
state posteriors as given responsibilities, about a centre fixed for the fit
(the data's mean), so that the M-step works on centred sums: hmmlearn's
formulas, written in centred coordinates (the same numbers, without the
cancellation of raw second moments for data far from the origin).
"""

import numpy as np
from scipy import linalg

from ..families._gaussian import QUAD, kernel_coefficients, mixture_shift, statistics_from_sums
from ..families._gaussian_missing import missing_arrays
from ..kernels import _driver as _kernels
from ..kernels import _hmm
from ..kernels._kmeans_driver import kmeans, nearest_centre_labels
from ..sources._nan import check_observed_columns, group_patterns, has_nan
from ._base import BaseHMM, _log
from ._persist import GAUSSIAN_HMM_SCHEMA, GMM_HMM_SCHEMA

COVARIANCE_TYPES = frozenset(("spherical", "diag", "full", "tied"))


def _check_covariance_type(covariance_type):
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got {covariance_type!r}")


def _cholesky_precision(cov, min_covar, who):
    """U with U U^T = cov^-1; as hmmlearn, a matrix that is not positive definite is retried with
    min_covar added to its diagonal before giving up."""
    D = cov.shape[0]
    eye = np.eye(D)
    if not np.all(np.isfinite(cov)):
        raise ValueError(f"{who} has non-finite entries.")
    for attempt in (cov, cov + min_covar * eye):
        try:
            L = linalg.cholesky(attempt, lower=True, check_finite=False)
        except linalg.LinAlgError:
            continue
        return linalg.solve_triangular(L, eye, lower=True, check_finite=False).T
    raise ValueError(f"{who} is not symmetric positive definite, even with min_covar={min_covar} added to its "
                     "diagonal: increase min_covar or covars_prior, use fewer states, or a 'diag' covariance.")


def precisions_cholesky(covars, kernel_type, min_covar):
    """The kernel's precision factors of covariances in the kernel's layout (full (n, D, D), diag (n, D),
    spherical (n,))."""
    c = np.asarray(covars, dtype=np.float64)
    if kernel_type == "full":
        return np.stack([_cholesky_precision(m, min_covar, f"The covariance of component {k}")
                         for k, m in enumerate(c)])
    bad = ~(c > 0) | ~np.isfinite(c)
    if np.any(bad):
        k = int(np.argwhere(bad)[0][0])
        raise ValueError(f"The covariance of component {k} has a zero, negative or non-finite variance: "
                         "increase covars_prior (or min_covar), or use fewer states.")
    return 1.0 / np.sqrt(c)


def gaussian_log_prob(X, weights, means, prec_chol, kernel_type, n_threads, missing=None, shift=None, out=None):
    """(N, n) float64 log w_j + log N(x_i | mean_j, cov_j), one kernel pass.

    ``missing`` (X's rows grouped by NaN pattern): each row's density is its
    observed part's marginal (a row with nothing observed: log w_j). ``out``: the array to fill.
    """
    if shift is None:
        shift = mixture_shift(weights, means)
    shift, W, U = kernel_coefficients(weights, means, prec_chol, kernel_type, shift)
    if out is None:
        out = np.empty((X.shape[0], np.shape(means)[0]))
    arrays = None if missing is None else missing_arrays(missing, means, prec_chol, kernel_type, shift)
    _kernels.estimate(X, QUAD[kernel_type], shift, W, U, n_threads, log_prob=out, missing=arrays)
    return out


def gaussian_sums(X, resp, frame_weight, kernel_type, shift, n_threads, missing=None, means=None, prec_chol=None):
    """Statistics (nk, s1, s2 about ``shift``) of the responsibilities ``resp`` (N, n), one kernel pass.

    ``missing``: the completed statistics (each NaN's conditional expectation
    and covariance under the component given the row's observed part), which
    need the components' ``means`` and ``prec_chol``.
    """
    W = U = arrays = None
    if missing is not None:
        _, W, U = kernel_coefficients(np.ones(len(means)), means, prec_chol, kernel_type, shift)
        arrays = missing_arrays(missing, means, prec_chol, kernel_type, shift)
    G, T, _ = _kernels.accumulate(X, QUAD[kernel_type], resp.shape[1], shift, n_threads, mode=_kernels.RESP_GIVEN,
                                  resp=resp, sample_weight=frame_weight, W=W, U=U, missing=arrays)
    weight = X.shape[0] if frame_weight is None else float(frame_weight.sum())
    return statistics_from_sums(G, T, kernel_type, shift, 0.0, weight, X.shape[0])


def _nan_patterns(model, X):
    """X's rows grouped by NaN pattern under nan_policy="marginalize" (None without NaN)."""
    if model.nan_policy != "marginalize" or not has_nan(X):
        return None
    check_observed_columns(X, None, type(model).__name__)
    return group_patterns(X)


def _per_state(value, K, name):
    """A prior weight given as a scalar or one value per state -> (K,)."""
    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 0:
        return np.full(K, float(v))
    if v.size == K:
        return v.reshape(K)
    raise ValueError(f"{name} must be a number or one value per state ({K}), got shape {v.shape}.")


def _kmeans_means(X, K, rng, n_threads):
    if X.shape[0] >= K:
        return np.asarray(kmeans(X, K, rng, n_threads), dtype=np.float64)
    # fewer rows than states: rows drawn with replacement (the fit will warn of a degenerate solution)
    return np.asarray(X[rng.randint(X.shape[0], size=K)], dtype=np.float64)


def _spread_covariance(cv, covariance_type, K):
    """hmmlearn's start: the data's covariance, in each covariance type's shape."""
    if covariance_type == "spherical":
        return np.full(K, cv.mean())
    if covariance_type == "tied":
        return cv.copy()
    if covariance_type == "diag":
        return np.tile(np.diag(cv), (K, 1))
    return np.tile(cv, (K, 1, 1))


def _data_covariance(X, min_covar):
    D = X.shape[1]
    cv = np.cov(np.asarray(X, dtype=np.float64).T) if X.shape[0] > 1 else np.zeros((D, D))
    cv = np.atleast_2d(cv) + min_covar * np.eye(D)
    return cv


def _validate_covars(covars, covariance_type, n_components):
    if covariance_type == "spherical":
        if len(covars) != n_components:
            raise ValueError("'spherical' covars have length n_components")
        if np.any(covars <= 0):
            raise ValueError("'spherical' covars must be positive")
    elif covariance_type == "tied":
        if covars.ndim != 2 or covars.shape[0] != covars.shape[1]:
            raise ValueError("'tied' covars must have shape (n_dim, n_dim)")
        if not np.allclose(covars, covars.T) or np.any(linalg.eigvalsh(covars) <= 0):
            raise ValueError("'tied' covars must be symmetric, positive-definite")
    elif covariance_type == "diag":
        if covars.ndim != 2:
            raise ValueError("'diag' covars must have shape (n_components, n_dim)")
        if np.any(covars <= 0):
            raise ValueError("'diag' covars must be positive")
    elif covariance_type == "full":
        if covars.ndim != 3 or covars.shape[1] != covars.shape[2]:
            raise ValueError("'full' covars must have shape (n_components, n_dim, n_dim)")
        for n, cv in enumerate(covars):
            if not np.allclose(cv, cv.T) or np.any(linalg.eigvalsh(cv) <= 0):
                raise ValueError(f"component {n} of 'full' covars must be symmetric, positive-definite")
    else:
        _check_covariance_type(covariance_type)


def fill_covars(covars, covariance_type, n_components, n_features):
    """Full (n_components, n_features, n_features) matrices from a covariance type's compact form."""
    if covariance_type == "full":
        return covars
    if covariance_type == "diag":
        return np.array([np.diag(c) for c in covars])
    if covariance_type == "tied":
        return np.tile(covars, (n_components, 1, 1))
    return np.ravel(covars)[:, None, None] * np.eye(n_features)[None]


class GaussianHMM(BaseHMM):
    """Hidden Markov model with Gaussian emissions (hmmlearn's ``GaussianHMM``, on fastgmm's kernels).

    Parameters
    ----------
    n_components : int
        Number of states.
    covariance_type : {"spherical", "diag", "full", "tied"}, default "diag"
    min_covar : float, default 1e-3
        Added to the data's covariance for the initial covariances, and to a
        covariance that is not positive definite before evaluating densities.
    startprob_prior, transmat_prior : array-like or float, default 1.0
        Dirichlet priors of ``startprob_`` and of each row of ``transmat_``.
    means_prior, means_weight : array-like or float, default 0
        Normal prior of the means (``means_weight`` pseudo-counts at
        ``means_prior``).
    covars_prior, covars_weight : array-like or float, default 1e-2 and 1
        Prior of the covariances (hmmlearn's parametrisation).
    algorithm : {"viterbi", "map"}, default "viterbi"
        Decoder of ``predict`` and ``decode``.
    random_state : int, RandomState or None
    n_iter : int, default 10
        Maximum number of EM iterations.
    tol : float, default 1e-2
        Convergence threshold on the gain of the log-likelihood.
    verbose : bool, default False
        Print each iteration's log-likelihood to stderr.
    params, init_params : str, default "stmc"
        The parameters updated by EM (``params``) and initialised before it
        (``init_params``): 's' startprob, 't' transmat, 'm' means, 'c' covars.
    implementation : {"log", "scaling"}, default "log"
        Forward-backward in log space, or scaled (faster; falls back to log
        space for any sequence where scaling would underflow). Both give the
        same answers to rounding.
    n_threads : int or None
        Threads of the kernels (None: every usable core).

    Attributes
    ----------
    startprob_ : ndarray (n_components,)
    transmat_ : ndarray (n_components, n_components)
    means_ : ndarray (n_components, n_features)
    covars_ : ndarray
        Covariances as full matrices (n_components, n_features, n_features),
        whatever the type; the compact form (hmmlearn's) is ``_covars_``:
        spherical (n_components,), diag (n_components, n_features), tied
        (n_features, n_features), full (n_components, n_features, n_features).
    n_features : int
    monitor_ : ConvergenceMonitor
    """

    _emission_letters = "mc"
    _FROZEN = {"startprob": "s", "transmat": "t", "means": "m", "covars": "c"}
    _schema = GAUSSIAN_HMM_SCHEMA

    def __init__(self, n_components=1, covariance_type="diag", min_covar=1e-3, startprob_prior=1.0,
                 transmat_prior=1.0, means_prior=0, means_weight=0, covars_prior=1e-2, covars_weight=1,
                 algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False, params="stmc",
                 init_params="stmc", implementation="log", n_threads=None, nan_policy="raise",
                 block_rows=None, frozen=None):
        super().__init__(n_components, startprob_prior=startprob_prior, transmat_prior=transmat_prior,
                         algorithm=algorithm, random_state=random_state, n_iter=n_iter, tol=tol, verbose=verbose,
                         params=params, init_params=init_params, implementation=implementation,
                         n_threads=n_threads, nan_policy=nan_policy,
                         block_rows=block_rows, frozen=frozen)
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight

    @property
    def covars_(self):
        """Covariances as (n_components, n_features, n_features) matrices."""
        return fill_covars(self._covars_, self.covariance_type, self.n_components, self.n_features)

    @covars_.setter
    def covars_(self, covars):
        covars = np.array(covars, dtype=np.float64, copy=True)
        _validate_covars(covars, self.covariance_type, self.n_components)
        if self.covariance_type == "spherical":
            covars = covars.reshape(len(covars), -1)[:, 0].copy() if covars.ndim > 1 else covars
        self._covars_ = covars

    def _emission_scalars(self):
        nc, nf = self.n_components, self.n_features
        return {"m": nc * nf,
                "c": {"spherical": nc, "diag": nc * nf, "full": nc * nf * (nf + 1) // 2,
                      "tied": nf * (nf + 1) // 2}[self.covariance_type]}

    def _init_emission(self, X, lengths, rng):
        _check_covariance_type(self.covariance_type)
        if self._needs_init("m", "means_"):
            self.means_ = _kmeans_means(X, self.n_components, rng, self._threads())
        if self._needs_init("c", "covars_"):
            cv = _data_covariance(X, self.min_covar)
            self._covars_ = _spread_covariance(cv, self.covariance_type, self.n_components)

    def _check_emission(self):
        _check_covariance_type(self.covariance_type)
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 2 or self.means_.shape[0] != self.n_components:
            raise ValueError(f"means_ must have shape (n_components, n_features), got {self.means_.shape}")
        self.n_features = self.means_.shape[1]
        if not np.all(np.isfinite(self.means_)):
            raise ValueError("means_ must be finite")
        if not hasattr(self, "_covars_"):
            raise ValueError("covars_ must be set (or 'c' be in init_params)")
        K, D = self.means_.shape
        shape = {"spherical": (K,), "diag": (K, D), "tied": (D, D), "full": (K, D, D)}[self.covariance_type]
        if np.shape(self._covars_) != shape:
            raise ValueError(f"{self.covariance_type!r} covars_ must have shape {shape} for {K} states and "
                             f"{D} features, got {np.shape(self._covars_)}")

    def _validate_X(self, X):
        X = super()._validate_X(X)
        if hasattr(self, "means_") and np.ndim(self.means_) == 2 and X.shape[1] != np.shape(self.means_)[1]:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} has "
                             f"{np.shape(self.means_)[1]} (means_).")
        return X

    def _frame_extra(self, X):
        return _nan_patterns(self, X)

    def _precisions(self):
        ct = self.covariance_type
        if ct == "tied":
            return _cholesky_precision(self._covars_, self.min_covar, "The tied covariance")
        return precisions_cholesky(self._covars_, ct, self.min_covar)

    def _log_frameprob(self, X, extra, n_threads):
        return gaussian_log_prob(X, np.ones(self.n_components), self.means_, self._precisions(),
                                 self.covariance_type, n_threads, missing=extra, shift=self._centre(),
                                 out=self._lattice(X.shape[0]))

    def _centre(self):
        # The centre of the kernels' features and of the statistics: the mean of the states' means, the same
        # for the emission and the statistics passes of an iteration (and for every block of it). Any centre
        # is exact; one amid the data keeps the sums well conditioned far from the origin.
        return self.means_.mean(axis=0)

    def _accumulate_emission(self, stats, X, extra, gamma, frame_weight, n_threads):
        if "m" in self._updated or "c" in self._updated:
            stats["gauss"] = gaussian_sums(X, gamma, frame_weight, self.covariance_type, self._centre(), n_threads,
                                           missing=extra, means=self.means_,
                                           prec_chol=None if extra is None else self._precisions())

    def _mstep_emission(self, stats):
        if "gauss" not in stats:
            return
        g = stats["gauss"]
        c = g.centre
        K, D = self.means_.shape
        nk = g.nk
        mw = np.asarray(self.means_weight, dtype=np.float64)
        mp = np.asarray(self.means_prior, dtype=np.float64) - c      # centred prior mean
        m = self.means_ - c                                         # centred means
        if "m" in self._updated:
            num = mw * mp + g.s1
            den = mw + nk[:, None]
            new = num / np.where(den > 0, den, 1.0)
            m = np.where(den > 0, new, m)                           # a state with no frames keeps its mean
            self.means_ = m + c
        if "c" not in self._updated:
            return
        cp = np.asarray(self.covars_prior, dtype=np.float64)
        cw = self.covars_weight
        md = m - mp
        ct = self.covariance_type
        if ct in ("spherical", "diag"):
            c_d = max(cw - 1, 0) + nk[:, None]
            safe = np.maximum(c_d, 1e-5)
            if ct == "diag":
                c_n = mw * md ** 2 + g.s2 - 2 * m * g.s1 + m ** 2 * nk[:, None]
                self._covars_ = (cp + c_n) / safe
            else:
                quad = np.broadcast_to(mw * md ** 2, (K, D)).mean(axis=1)
                c_n = quad + (g.s2 - 2 * np.sum(m * g.s1, axis=1) + np.sum(m * m, axis=1) * nk) / D
                prior = np.broadcast_to(cp, (K, D)).mean(axis=1) if cp.ndim else cp
                self._covars_ = (prior + c_n) / safe[:, 0]
            return
        mwk = _per_state(self.means_weight, K, "means_weight")
        cvweight = max(cw - D, 0)
        if ct == "full":
            new = np.empty((K, D, D))
            for k in range(K):
                outer = np.outer(g.s1[k], m[k])
                c_n = (mwk[k] * np.outer(md[k], md[k]) + g.s2[k] - outer - outer.T
                       + np.outer(m[k], m[k]) * nk[k])
                den = cvweight + nk[k]
                prior_k = cp[k] if cp.ndim == 3 else cp
                new[k] = (prior_k + c_n) / den if den > 0 else self._covars_[k]
            self._covars_ = new
        else:   # tied: the kernel's s2 is the scatter of all frames about the centre
            outer = g.s1.T @ m
            c_n = (np.einsum("k,kd,ke->de", mwk, md, md) + g.s2 - outer - outer.T
                   + np.einsum("k,kd,ke->de", nk, m, m))
            den = cvweight + nk.sum()
            if den > 0:
                self._covars_ = (cp + c_n) / den

    def _sample_emissions(self, states, rng):
        K, D = self.means_.shape
        X = np.empty((states.shape[0], D))
        cov = self.covars_
        for k in range(K):
            idx = np.flatnonzero(states == k)
            if idx.size:
                X[idx] = rng.multivariate_normal(self.means_[k], cov[k], size=idx.size)
        return X


class GMMHMM(BaseHMM):
    """Hidden Markov model whose emissions are Gaussian mixtures (hmmlearn's ``GMMHMM``).

    Each state k has ``n_mix`` Gaussian components with weights
    ``weights_[k]``. The kernels see the n_components x n_mix Gaussians as
    one mixture: one pass gives every component's weighted log-density, the
    states' emissions are their log-sum-exp, and the statistics pass takes
    the state posteriors split among each state's components.

    Parameters are hmmlearn's (``n_mix``, ``weights_prior``, ``means_prior``,
    ``means_weight``, ``covars_prior``, ``covars_weight``, and the chain's,
    see :class:`GaussianHMM`); ``params``/``init_params`` letters 's', 't',
    'm', 'c', 'w' (weights).

    Attributes
    ----------
    weights_ : ndarray (n_components, n_mix)
    means_ : ndarray (n_components, n_mix, n_features)
    covars_ : ndarray
        spherical (n_components, n_mix), diag (n_components, n_mix,
        n_features), full (n_components, n_mix, n_features, n_features),
        tied (n_components, n_features, n_features): one matrix per state.
    """

    _emission_letters = "mcw"
    _FROZEN = {"startprob": "s", "transmat": "t", "means": "m", "covars": "c", "weights": "w"}
    _schema = GMM_HMM_SCHEMA

    def __init__(self, n_components=1, n_mix=1, min_covar=1e-3, startprob_prior=1.0, transmat_prior=1.0,
                 weights_prior=1.0, means_prior=0.0, means_weight=0.0, covars_prior=None, covars_weight=None,
                 algorithm="viterbi", covariance_type="diag", random_state=None, n_iter=10, tol=1e-2,
                 verbose=False, params="stmcw", init_params="stmcw", implementation="log", n_threads=None, nan_policy="raise",
                 block_rows=None, frozen=None):
        super().__init__(n_components, startprob_prior=startprob_prior, transmat_prior=transmat_prior,
                         algorithm=algorithm, random_state=random_state, n_iter=n_iter, tol=tol, verbose=verbose,
                         params=params, init_params=init_params, implementation=implementation,
                         n_threads=n_threads, nan_policy=nan_policy,
                         block_rows=block_rows, frozen=frozen)
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.n_mix = n_mix
        self.weights_prior = weights_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight

    def _emission_scalars(self):
        nc, nf, nm = self.n_components, self.n_features, self.n_mix
        return {"m": nc * nm * nf,
                "c": {"spherical": nc * nm, "diag": nc * nm * nf, "full": nc * nm * nf * (nf + 1) // 2,
                      "tied": nc * nf * (nf + 1) // 2}[self.covariance_type],
                "w": nm - 1}

    def _priors(self):
        """hmmlearn's priors with their covariance-type defaults, broadcast to their full shapes."""
        nc, nf, nm = self.n_components, self.n_features, self.n_mix
        ct = self.covariance_type
        default_prior = {"full": 0.0, "tied": 0.0, "diag": -1.5, "spherical": -(nm + 2.0) / 2.0}[ct]
        default_weight = {"full": -(1.0 + nf + 1.0), "tied": -(nm + nf + 1.0), "diag": 0.0, "spherical": 0.0}[ct]
        cp = default_prior if self.covars_prior is None else self.covars_prior
        cw = default_weight if self.covars_weight is None else self.covars_weight
        shapes = {"full": ((nc, nm, nf, nf), (nc, nm)), "tied": ((nc, nf, nf), (nc,)),
                  "diag": ((nc, nm, nf), (nc, nm, nf)), "spherical": ((nc, nm), (nc, nm))}[ct]
        b = np.broadcast_to
        return (b(np.asarray(self.weights_prior, dtype=np.float64), (nc, nm)),
                b(np.asarray(self.means_prior, dtype=np.float64), (nc, nm, nf)),
                b(np.asarray(self.means_weight, dtype=np.float64), (nc, nm)),
                b(np.asarray(cp, dtype=np.float64), shapes[0]), b(np.asarray(cw, dtype=np.float64), shapes[1]))

    def _init_emission(self, X, lengths, rng):
        _check_covariance_type(self.covariance_type)
        nc, nm = self.n_components, self.n_mix
        n_threads = self._threads()
        need_w = self._needs_init("w", "weights_")
        need_m = self._needs_init("m", "means_")
        need_c = self._needs_init("c", "covars_")
        cv = None
        if need_m:
            # hmmlearn's start: k-means of the data into states, then of each state's rows into its components
            centres = _kmeans_means(X, nc, rng, n_threads)
            labels = nearest_centre_labels(X, np.ascontiguousarray(centres, dtype=X.dtype), n_threads)
            centroid = centres.mean(axis=0)
            means = []
            for k in range(nc):
                Xk = np.ascontiguousarray(X[labels == k])
                if Xk.shape[0] >= nm:
                    means.append(_kmeans_means(Xk, nm, rng, n_threads))
                else:
                    if cv is None:
                        cv = _data_covariance(X, self.min_covar)
                    means.append(rng.multivariate_normal(centroid, cv, size=nm))
            self.means_ = np.stack(means)
        if need_w:
            self.weights_ = np.full((nc, nm), 1.0 / nm)
        if need_c:
            if cv is None:
                cv = _data_covariance(X, self.min_covar)
            ct = self.covariance_type
            if ct == "tied":
                self.covars_ = np.tile(cv, (nc, 1, 1))
            elif ct == "full":
                self.covars_ = np.tile(cv, (nc, nm, 1, 1))
            elif ct == "diag":
                self.covars_ = np.tile(np.diag(cv), (nc, nm, 1))
            else:
                self.covars_ = np.full((nc, nm), cv.mean())

    def _check_emission(self):
        _check_covariance_type(self.covariance_type)
        nc, nm = self.n_components, self.n_mix
        self.weights_ = np.asarray(self.weights_, dtype=np.float64)
        if self.weights_.shape != (nc, nm):
            raise ValueError(f"weights_ must have shape (n_components, n_mix), actual shape: {self.weights_.shape}")
        if not np.all(np.isfinite(self.weights_)) or np.any(self.weights_ < 0):
            raise ValueError("weights_ must hold probabilities (finite, non-negative)")
        self._check_sum_1("weights_")
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 3 or self.means_.shape[:2] != (nc, nm):
            raise ValueError(f"means_ must have shape (n_components, n_mix, n_features), actual shape: "
                             f"{self.means_.shape}")
        self.n_features = nf = self.means_.shape[2]
        self.covars_ = np.asarray(self.covars_, dtype=np.float64)
        needed = {"spherical": (nc, nm), "tied": (nc, nf, nf), "diag": (nc, nm, nf),
                  "full": (nc, nm, nf, nf)}[self.covariance_type]
        if self.covars_.shape != needed:
            raise ValueError(f"{self.covariance_type!r} mixture covars must have shape {needed}, actual shape: "
                             f"{self.covars_.shape}")
        if self.covariance_type in ("spherical", "diag"):
            if np.any(self.covars_ < 0):
                raise ValueError(f"{self.covariance_type!r} mixture covars must be non-negative")
            if np.any(self.covars_ == 0):
                _log.warning("Degenerate mixture covariance")
        else:
            mats = self.covars_.reshape(-1, nf, nf)
            for i, c in enumerate(mats):
                if not np.allclose(c, c.T):
                    raise ValueError(f"Covariance {i} (state {i // (1 if self.covariance_type == 'tied' else nm)})"
                                     " is not symmetric")
                if linalg.eigvalsh(c).min() < 0:
                    raise ValueError(f"Covariance {i} is not positive definite")

    def _validate_X(self, X):
        X = super()._validate_X(X)
        if hasattr(self, "means_") and np.ndim(self.means_) == 3 and X.shape[1] != np.shape(self.means_)[2]:
            raise ValueError(f"X has {X.shape[1]} features, but GMMHMM has {np.shape(self.means_)[2]} (means_).")
        return X

    def _kernel_form(self):
        """(kernel covariance type, covariances of the n_components x n_mix Gaussians in its layout)."""
        nc, nm, nf = self.n_components, self.n_mix, self.n_features
        ct = self.covariance_type
        if ct == "tied":
            return "full", np.repeat(self.covars_, nm, axis=0)
        if ct == "full":
            return "full", self.covars_.reshape(nc * nm, nf, nf)
        if ct == "diag":
            return "diag", self.covars_.reshape(nc * nm, nf)
        return "spherical", self.covars_.reshape(nc * nm)

    def _frame_extra(self, X):
        return _nan_patterns(self, X)

    def _log_frameprob(self, X, extra, n_threads):
        kt, cov = self._kernel_form()
        pc = precisions_cholesky(cov, kt, self.min_covar)
        nf = self.n_features
        scratch = self._fit_scratch
        sub = None if scratch is None else scratch.get("sub")
        if sub is None or sub.shape != (X.shape[0], self.n_components * self.n_mix):
            sub = np.empty((X.shape[0], self.n_components * self.n_mix))
            if scratch is not None:
                scratch["sub"] = sub         # the same array at every iteration of a fit
        gaussian_log_prob(X, self.weights_.ravel(), self.means_.reshape(-1, nf), pc, kt, n_threads,
                          missing=extra, shift=self._centre(), out=sub)
        out = self._lattice(X.shape[0])
        _hmm.collapse_mixture(sub, self.n_mix, out, n_threads)
        if getattr(self, "_fitting", False):
            self._sub_lattice = sub      # the statistics pass needs each component's share
        return out

    def _centre(self):
        return self.means_.reshape(-1, self.n_features).mean(axis=0)

    def _begin_fit(self):
        self._fitting = True

    def _end_fit(self):
        for a in ("_fitting", "_sub_lattice"):
            self.__dict__.pop(a, None)

    def _accumulate_emission(self, stats, X, extra, gamma, frame_weight, n_threads):
        sub = self._sub_lattice
        self._sub_lattice = None
        _hmm.expand_posteriors(gamma, sub, self.n_mix, n_threads)
        kt, cov = self._kernel_form()
        pc = None if extra is None else precisions_cholesky(cov, kt, self.min_covar)
        stats["gauss"] = gaussian_sums(X, sub, frame_weight, kt, self._centre(), n_threads, missing=extra,
                                       means=self.means_.reshape(-1, self.n_features), prec_chol=pc)

    def _mstep_emission(self, stats):
        g = stats["gauss"]
        nc, nm, nf = self.n_components, self.n_mix, self.n_features
        ct = self.covariance_type
        c = g.centre
        post_mix = g.nk.reshape(nc, nm)
        post_sum = post_mix.sum(axis=1)          # the states' posterior sums (their components' add up to them)
        s1 = g.s1.reshape(nc, nm, nf)
        wp, mp, mw, cp, cw = self._priors()
        old = self.means_ - c                                        # centred means of the E-step
        if "w" in self._updated:
            a1 = wp - 1
            self.weights_ = (post_mix + a1) / (post_sum + a1.sum(axis=1))[:, None]
        m = old
        if "m" in self._updated:
            m_n = mw[:, :, None] * (mp - c) + s1
            m_d = post_mix + mw
            m_d = np.where((self.weights_ == 0) & np.all(m_n == 0, axis=-1), 1.0, m_d)
            m = m_n / m_d[:, :, None]
            self.means_ = m + c
        if "c" not in self._updated:
            return
        cm = m - (mp - c)                                            # new means minus the prior mean
        if ct in ("full", "tied"):
            s2 = g.s2.reshape(nc, nm, nf, nf)
            dd = old[..., :, None] * old[..., None, :]
            xo = s1[..., :, None] * old[..., None, :]
            scatter = s2 - xo - np.swapaxes(xo, -1, -2) + post_mix[..., None, None] * dd   # about the old means
            cmd = cm[..., :, None] * cm[..., None, :]
            if ct == "full":
                c_n = np.swapaxes(cp, -1, -2) + mw[..., None, None] * cmd + scatter
                c_d = (post_mix + 1 + cw + nf + 1)[..., None, None]
            else:
                c_n = np.einsum("ij,ijkl->ikl", mw, cmd) + np.swapaxes(cp, -1, -2) + scatter.sum(axis=1)
                c_d = (post_sum + nm + cw + nf + 1)[:, None, None]
        elif ct == "diag":
            scatter = g.s2.reshape(nc, nm, nf) - 2 * old * s1 + post_mix[..., None] * old ** 2
            c_n = mw[..., None] * cm ** 2 + 2 * cw + scatter
            c_d = post_mix[..., None] + 1 + 2 * (cp + 1)
        else:
            scatter = (g.s2.reshape(nc, nm) - 2 * np.sum(old * s1, axis=-1)
                       + post_mix * np.sum(old * old, axis=-1))
            c_n = mw * np.sum(cm * cm, axis=-1) + 2 * cw + scatter
            c_d = nf * (post_mix + 1) + 2 * (cp + 1)
        self.covars_ = c_n / c_d

    def _sample_emissions(self, states, rng):
        nc, nm, nf = self.n_components, self.n_mix, self.n_features
        X = np.empty((states.shape[0], nf))
        comp = np.empty(states.shape[0], dtype=np.int64)
        for k in range(nc):
            idx = np.flatnonzero(states == k)
            comp[idx] = rng.choice(nm, size=idx.size, p=self.weights_[k])
        kt, cov = self._kernel_form()
        full = fill_covars(cov, kt, nc * nm, nf)
        means = self.means_.reshape(-1, nf)
        flat = states * nm + comp
        for j in np.unique(flat):
            idx = np.flatnonzero(flat == j)
            X[idx] = rng.multivariate_normal(means[j], full[j], size=idx.size)
        return X

