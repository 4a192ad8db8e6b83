"""Student-t emissions: :class:`StudentTHMM`, a hidden Markov model robust to outliers (not in hmmlearn).

Each state emits a multivariate t distribution (location ``means_``, scale
matrix ``covars_``, degrees of freedom ``degrees_of_freedom_``). An outlier gets a small
scale weight u (the t distribution's latent precision) and moves the state's
parameters little, where a Gaussian state would stretch its covariance to
reach it. The emissions are the Student-t kernel's log-densities; the
statistics are its pass with the state posteriors as given responsibilities
(it computes u per frame and state); the M-step is StudentTMixture's
(means and scales from the u-weighted sums, each nu_k by its one-dimensional
equation, within ``dof_bounds``).
"""

import numpy as np

from ..families._studentt_maths import (DOF_MIN, _check_dof, _check_dof_bounds, m_step, t_estimate, t_statistics)
from ._base import BaseHMM
from ._gaussian import _data_covariance, _kmeans_means, precisions_cholesky
from ._persist import STUDENT_T_HMM_SCHEMA

COVARIANCE_TYPES_T = ("full", "diag", "spherical")


class StudentTHMM(BaseHMM):
    """Hidden Markov model with multivariate Student-t emissions (robust to outliers).

    Parameters
    ----------
    n_components : int
        Number of states.
    covariance_type : {"full", "diag", "spherical"}, default "full"
        Form of each state's scale matrix.
    dof_init : float or array-like of shape (n_components,), default 10.0
        Initial degrees of freedom (> 0; small: heavy tails).
    fix_dof : bool, default False
        Keep the degrees of freedom at ``dof_init`` (else EM estimates them,
        and 'd' in ``params`` says so too).
    dof_bounds : (low, high), default (0.1, 1000.0)
        Range of the estimated degrees of freedom.
    reg_covar : float, default 1e-6
        Added to the diagonal of every scale matrix in the M-step.
    startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol, verbose, implementation, n_threads
        As :class:`~fastgmm.hmm.GaussianHMM`.
    params, init_params : str, default "stmcd"
        's' startprob, 't' transmat, 'm' means, 'c' scale matrices, 'd' degrees of freedom.

    Attributes
    ----------
    startprob_, transmat_ : ndarray
    means_ : ndarray (n_components, n_features)
    covars_ : ndarray
        Scale matrices: full (n_components, n_features, n_features), diag
        (n_components, n_features), spherical (n_components,).
    degrees_of_freedom_ : ndarray (n_components,)
    """

    _emission_letters = "mcd"
    _FROZEN = {"startprob": "s", "transmat": "t", "means": "m", "covars": "c", "degrees_of_freedom": "d"}
    _schema = STUDENT_T_HMM_SCHEMA
    _MARGINALIZE = False

    def __init__(self, n_components=1, covariance_type="full", dof_init=10.0, fix_dof=False,
                 dof_bounds=(0.1, 1000.0), reg_covar=1e-6, startprob_prior=1.0, transmat_prior=1.0,
                 algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False, params="stmcd",
                 init_params="stmcd", implementation="log", n_threads=None, nan_policy="raise", block_rows=None, frozen=None):
        super().__init__(n_components, startprob_prior=startprob_prior, transmat_prior=transmat_prior,
                         algorithm=algorithm, random_state=random_state, n_iter=n_iter, tol=tol, verbose=verbose,
                         params=params, init_params=init_params, implementation=implementation,
                         n_threads=n_threads, nan_policy=nan_policy, block_rows=block_rows, frozen=frozen)
        self.covariance_type = covariance_type
        self.dof_init = dof_init
        self.fix_dof = fix_dof
        self.dof_bounds = dof_bounds
        self.reg_covar = reg_covar

    def _validate_params(self):
        super()._validate_params()
        if self.covariance_type not in COVARIANCE_TYPES_T:
            raise ValueError(f"StudentTHMM: covariance_type must be one of {COVARIANCE_TYPES_T}, got "
                             f"{self.covariance_type!r}")
        if self.nan_policy != "raise":
            raise ValueError("StudentTHMM takes nan_policy='raise' only: its missing-value EM is not written yet "
                             "(GaussianHMM and GMMHMM marginalise missing values).")
        _check_dof_bounds(self.dof_bounds, "dof_bounds")
        if not (np.isscalar(self.reg_covar) and self.reg_covar >= 0):
            raise ValueError(f"StudentTHMM: reg_covar must be a non-negative number, got {self.reg_covar!r}")

    def _emission_scalars(self):
        nc, nf = self.n_components, self.n_features
        cov = {"spherical": nc, "diag": nc * nf, "full": nc * nf * (nf + 1) // 2}[self.covariance_type]
        return {"m": nc * nf, "c": cov, "d": 0 if self.fix_dof else nc}

    def _init_emission(self, X, lengths, rng):
        K = self.n_components
        if self._needs_init("m", "means_"):
            self.means_ = _kmeans_means(X, K, rng, self._threads())
        if self._needs_init("c", "covars_"):
            cv = _data_covariance(X, self.reg_covar + 1e-6)
            ct = self.covariance_type
            self.covars_ = (np.tile(cv, (K, 1, 1)) if ct == "full" else np.tile(np.diag(cv), (K, 1)) if ct == "diag"
                            else np.full(K, cv.trace() / cv.shape[0]))
        if self._needs_init("d", "degrees_of_freedom_"):
            self.degrees_of_freedom_ = _check_dof(self.dof_init, K, "dof_init")

    def _check_emission(self):
        K = self.n_components
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 2 or self.means_.shape[0] != K:
            raise ValueError(f"means_ must have shape (n_components, n_features), got {self.means_.shape}")
        self.n_features = D = self.means_.shape[1]
        self.covars_ = np.asarray(self.covars_, dtype=np.float64)
        shape = {"full": (K, D, D), "diag": (K, D), "spherical": (K,)}[self.covariance_type]
        if self.covars_.shape != shape:
            raise ValueError(f"{self.covariance_type!r} covars_ must have shape {shape}, got {self.covars_.shape}")
        self.degrees_of_freedom_ = np.asarray(self.degrees_of_freedom_, dtype=np.float64)
        if self.degrees_of_freedom_.shape != (K,) or not np.all(np.isfinite(self.degrees_of_freedom_)) or np.any(self.degrees_of_freedom_ < DOF_MIN):
            raise ValueError(f"degrees_of_freedom_ must be {K} finite degrees of freedom >= {DOF_MIN}, got {self.degrees_of_freedom_}")

    def _validate_X(self, X):
        X = super()._validate_X(X)
        if hasattr(self, "means_") and np.ndim(self.means_) == 2 and X.shape[1] != np.shape(self.means_)[1]:
            raise ValueError(f"X has {X.shape[1]} features, but StudentTHMM has {np.shape(self.means_)[1]} "
                             "(means_).")
        return X

    def _precisions(self):
        return precisions_cholesky(self.covars_, self.covariance_type, 0.0)

    def _log_frameprob(self, X, extra, n_threads):
        out = np.empty((X.shape[0], self.n_components))
        t_estimate(X, np.ones(self.n_components), self.means_, self._precisions(), self.degrees_of_freedom_, self.covariance_type,
                   n_threads, log_prob=out)
        return out

    def _accumulate_emission(self, stats, X, extra, gamma, frame_weight, n_threads):
        stats["t"] = t_statistics(X, np.ones(self.n_components), self.means_, self._precisions(), self.degrees_of_freedom_,
                                  self.covariance_type, n_threads, sample_weight=frame_weight, resp=gamma)

    def _mstep_emission(self, stats):
        st = stats["t"]
        keep_dof = self.fix_dof or "d" not in self._updated
        _, means, cov, dof = m_step(st, self.degrees_of_freedom_, self.reg_covar, float(np.finfo(np.float64).eps),
                                    fix_dof=keep_dof, dof_bounds=tuple(self.dof_bounds),
                                    means=None if "m" in self._updated else self.means_)
        empty = ~(st.nk > 0)          # a state no frame visits keeps its parameters
        if "m" in self._updated:
            self.means_ = np.where(empty[:, None], self.means_, means)
        if "c" in self._updated:
            e = empty.reshape((-1,) + (1,) * (cov.ndim - 1))
            self.covars_ = np.where(e, self.covars_, cov)
        self.degrees_of_freedom_ = dof

    def _sample_emissions(self, states, rng):
        K, D = self.means_.shape
        ct = self.covariance_type
        full = (self.covars_ if ct == "full" else np.array([np.diag(c) for c in self.covars_]) if ct == "diag"
                else self.covars_[:, None, None] * np.eye(D))
        X = np.empty((states.shape[0], D))
        for k in range(K):
            idx = np.flatnonzero(states == k)
            if idx.size:
                z = rng.multivariate_normal(np.zeros(D), full[k], size=idx.size)
                u = rng.chisquare(self.degrees_of_freedom_[k], size=idx.size) / self.degrees_of_freedom_[k]
                X[idx] = self.means_[k] + z / np.sqrt(u)[:, None]
        return X

