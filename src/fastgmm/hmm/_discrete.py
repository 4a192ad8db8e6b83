"""Discrete emissions: :class:`CategoricalHMM`, :class:`MultinomialHMM`, :class:`PoissonHMM` and
:class:`BernoulliHMM`.

Each is linear in per-frame features, so the emissions and the statistics are
the fused kernel's linear codes: the one-hot code of the symbols
(categorical) or the counts themselves (multinomial, Poisson, Bernoulli), with
the per-frame constants (log n! - sum log x!) added to the lattice once.
"""

import numpy as np
from scipy.special import gammaln

from ..kernels import _driver as _kernels
from ..kernels import _estep
from ..kernels import _hmm
from ._base import BaseHMM
from ._persist import BERNOULLI_HMM_SCHEMA, CATEGORICAL_HMM_SCHEMA, MULTINOMIAL_HMM_SCHEMA, POISSON_HMM_SCHEMA

# A zero probability is log 0 = -inf, but the kernel multiplies each
# coefficient by a feature that is often 0, and 0 * -inf is NaN. Zero
# probabilities enter as this finite stand-in, whose products with counts
# stay finite and whose exponentials are exactly 0, and log-densities below
# _IMPOSSIBLE come back as -inf.
_LOG_ZERO = -1e250
_IMPOSSIBLE = -1e200


def _log_prob(p):
    with np.errstate(divide="ignore"):
        lp = np.log(np.asarray(p, dtype=np.float64))
    return np.where(lp == -np.inf, _LOG_ZERO, lp)


def _restore_impossible(lattice):
    lattice[lattice < _IMPOSSIBLE] = -np.inf
    return lattice


def _check_counts(X, name, allow_nan=False):
    """Non-negative integer counts (any numeric dtype holding whole numbers) -> float64 (NaN kept if allowed)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name}: X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if X.dtype.kind == "f":
        bad = np.isinf(X) if allow_nan else ~np.isfinite(X)
        if np.any(bad):
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise ValueError(f"{name}: X[{i}, {j}] is {X[i, j]}; counts must be finite"
                             + ("." if allow_nan else " (with nan_policy='marginalize' a frame holding NaN "
                                                       "contributes no emission)."))
        if np.any(X[np.isfinite(X)] != np.floor(X[np.isfinite(X)])):
            raise ValueError(f"{name}: X must hold counts (whole numbers).")
    elif X.dtype.kind not in "iub":
        raise ValueError(f"{name}: X must hold counts (non-negative integers), got dtype {X.dtype}.")
    if X.size and np.nanmin(X) < 0:
        i, j = (int(v) for v in np.argwhere(X < 0)[0])
        raise ValueError(f"{name}: counts must be non-negative, but X[{i}, {j}] = {X[i, j]}.")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: X has no rows.")
    return np.ascontiguousarray(X, dtype=np.float64)


def _blank_nan_frames(X):
    """(X with the frames that hold a NaN set to 0, their mask) or (X, None) without NaN."""
    if X.dtype.kind != "f":
        return X, None
    nan = np.isnan(X).any(axis=1)
    if not nan.any():
        return X, None
    return np.where(nan[:, None], 0, X).astype(X.dtype, copy=False), nan


def _no_emission(a, nan_rows):
    """Rows of frames without an observation set to 0 (in place): log 1 in the lattice, nothing in the
    statistics."""
    if nan_rows is not None:
        a[nan_rows] = 0.0
    return a


def _linear_pass(Xf, W, n_threads, lattice=None):
    """The kernel's linear code: lattice[i, k] = [1, x_i] . W[:, k] (float64 (N, K))."""
    if lattice is None:
        lattice = np.empty((Xf.shape[0], W.shape[1]))
    _kernels.estimate(Xf, _estep.QLINEAR, np.zeros(Xf.shape[1]), W, None, n_threads, log_prob=lattice)
    return lattice


def _linear_sums(Xf, gamma, frame_weight, n_threads):
    """(n_k, sum_i w_i gamma_ik x_i) from one kernel pass with the posteriors as given responsibilities."""
    G, _, _ = _kernels.accumulate(Xf, _estep.QLINEAR, gamma.shape[1], np.zeros(Xf.shape[1]), n_threads,
                                  mode=_kernels.RESP_GIVEN, resp=gamma, sample_weight=frame_weight)
    return G[:, 0].copy(), G[:, 1:].copy()


class _CountsHMM(BaseHMM):
    """Shared by the models whose emission is linear in the counts (per-fit float64 copy, frame constants)."""

    def _validate_X(self, X):
        Xf = _check_counts(X, type(self).__name__, allow_nan=self.nan_policy == "marginalize")
        self._check_feature_count(Xf)
        return Xf

    def _frames(self, X):
        """(counts, the frames holding a NaN or None): a NaN frame's counts become 0 and it emits nothing."""
        X = self._validate_X(X)
        return _blank_nan_frames(X)

    def _init_rows(self, X, extra):
        return X if extra is None else np.ascontiguousarray(X[~extra])

    def _check_feature_count(self, Xf):
        n = getattr(self, "n_features", None)
        table = getattr(self, self._table_name, None)
        if table is not None and np.ndim(table) == 2 and Xf.shape[1] != np.shape(table)[1]:
            raise ValueError(f"X has {Xf.shape[1]} features, but {type(self).__name__} has "
                             f"{np.shape(table)[1]} ({self._table_name}).")
        if n is not None and table is None and Xf.shape[1] != n:
            raise ValueError(f"X has {Xf.shape[1]} features, but {type(self).__name__} has n_features={n}.")

    _table_max = np.inf                                                  # the table's entries lie in [0, this]
    _table_what = "must hold probabilities (finite, non-negative)"     # the error when they do not

    def _check_emission(self):
        name = self._table_name
        table = np.atleast_2d(np.asarray(getattr(self, name), dtype=np.float64))
        setattr(self, name, table)
        n_features = getattr(self, "n_features", None) or table.shape[1]
        if table.shape != (self.n_components, n_features):
            raise ValueError(f"{name} must have shape (n_components, n_features)")
        self.n_features = n_features
        if not np.all(np.isfinite(table)) or np.any(table < 0) or np.any(table > self._table_max):
            raise ValueError(f"{name} {self._table_what}")

    def _frame_constant(self, Xf):
        return None

    def _log_frameprob(self, X, extra, n_threads):
        W = self._coefficients()
        lattice = _linear_pass(X, W, n_threads, self._lattice(X.shape[0]))
        scratch = self._fit_scratch
        if scratch is not None and scratch.get("constant_of") is X:
            c = scratch["constant"]          # the same frames at every iteration of a fit: computed once
        else:
            c = self._frame_constant(X)
            if scratch is not None:
                scratch["constant_of"], scratch["constant"] = X, c
        if c is not None:
            lattice += c[:, None]
        if np.any(W <= _LOG_ZERO / 2):      # (only a zero probability's stand-in makes such log-densities)
            _restore_impossible(lattice)
        return _no_emission(lattice, extra)

    def _accumulate_emission(self, stats, X, extra, gamma, frame_weight, n_threads):
        stats["post"], stats["obs"] = _linear_sums(X, _no_emission(gamma, extra), frame_weight, n_threads)


class CategoricalHMM(BaseHMM):
    """Hidden Markov model with categorical emissions (hmmlearn's ``CategoricalHMM``).

    X has shape (n_samples, 1): one symbol (an integer in [0, n_features))
    per frame. ``emissionprob_[k, s]`` is the probability of symbol s in
    state k; ``emissionprob_prior`` is its Dirichlet prior. ``params`` /
    ``init_params`` letters: 's', 't', 'e'. Other parameters as
    :class:`~fastgmm.hmm.GaussianHMM`.
    """

    _emission_letters = "e"
    _FROZEN = {"startprob": "s", "transmat": "t", "emissionprob": "e"}
    _schema = CATEGORICAL_HMM_SCHEMA
    _symbol_per_row = True

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, *, emissionprob_prior=1.0,
                 n_features=None, algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False,
                 params="ste", init_params="ste", implementation="log", n_threads=None, nan_policy="raise",
                 block_rows=None, frozen=None):
        super().__init__(n_components, startprob_prior=startprob_prior, transmat_prior=transmat_prior,
                         algorithm=algorithm, random_state=random_state, n_iter=n_iter, tol=tol, verbose=verbose,
                         params=params, init_params=init_params, implementation=implementation,
                         n_threads=n_threads, nan_policy=nan_policy,
                         block_rows=block_rows, frozen=frozen)
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features

    def _check_and_set_n_features(self, X):
        X = np.asarray(X)
        if not np.issubdtype(X.dtype, np.integer):
            raise ValueError("Symbols should be integers")
        if X.size and X.min() < 0:
            raise ValueError("Symbols should be nonnegative")
        if self.n_features is not None:
            if X.size and self.n_features - 1 < X.max():
                raise ValueError(f"Largest symbol is {X.max()} but the model only emits symbols up to "
                                 f"{self.n_features - 1}")
        else:
            self.n_features = int(X.max()) + 1

    def _frames(self, X):
        X = np.asarray(X)
        nan = None
        if self.nan_policy == "marginalize" and X.dtype.kind == "f" and X.ndim == 2:
            X, nan = _blank_nan_frames(X)
        return self._validate_X(X), nan

    def _init_rows(self, X, extra):
        return X if extra is None else np.ascontiguousarray(X[~extra])

    def _scan_streamed(self, X, block_rows):
        # every block's symbols checked, and n_features (when not given) from the largest of them
        from ._sequences import read_rows
        largest = -1
        for a in range(0, int(X.shape[0]), block_rows):
            codes, nan = self._frames(read_rows(X, a, min(a + block_rows, int(X.shape[0]))))
            seen = codes if nan is None else codes[~nan]
            if seen.size:
                largest = max(largest, int(seen.max()))
        if self.n_features is None and largest >= 0:
            self.n_features = largest + 1

    def _validate_X(self, X):
        X = np.asarray(X)
        if X.ndim == 1:
            raise ValueError("CategoricalHMM: X must have shape (n_samples, 1), one symbol per row; got a 1-D "
                             "array: use X.reshape(-1, 1).")
        if X.ndim != 2 or X.shape[1] != 1:
            raise ValueError(f"CategoricalHMM: X must have shape (n_samples, 1), one symbol per row; got shape "
                             f"{X.shape}.")
        if X.shape[0] == 0:
            raise ValueError("CategoricalHMM: X has no rows.")
        if X.dtype.kind == "f" and np.all(np.isfinite(X)) and np.all(X == np.floor(X)):
            X = X.astype(np.int64)
        self._check_and_set_n_features(X)
        return np.ascontiguousarray(X, dtype=np.int32)

    def _emission_scalars(self):
        return {"e": self.n_components * (self.n_features - 1)}

    def _init_emission(self, X, lengths, rng):
        if self._needs_init("e", "emissionprob_"):
            e = rng.rand(self.n_components, self.n_features)
            self.emissionprob_ = e / e.sum(axis=1, keepdims=True)

    def _init(self, X, lengths=None):
        super()._init(np.asarray(X), lengths)

    def _check_emission(self):
        self.emissionprob_ = np.atleast_2d(np.asarray(self.emissionprob_, dtype=np.float64))
        if self.n_features is None:
            self.n_features = self.emissionprob_.shape[1]
        if self.emissionprob_.shape != (self.n_components, self.n_features):
            raise ValueError(f"emissionprob_ must have shape({self.n_components}, {self.n_features})")
        if not np.all(np.isfinite(self.emissionprob_)) or np.any(self.emissionprob_ < 0):
            raise ValueError("emissionprob_ must hold probabilities (finite, non-negative)")
        self._check_sum_1("emissionprob_")

    # One symbol per frame: the emissions are a gather of a row of the log table per frame and the statistics
    # a scatter-add by symbol (fastgmm.kernels._hmm), not the one-hot code's n_features-wide product. The
    # table holds log 0 = -inf exactly, and a frame without an observation (the mask) gets log 1 = 0 and adds
    # nothing to the counts.
    def _log_frameprob(self, X, extra, n_threads):
        with np.errstate(divide="ignore"):
            table = np.ascontiguousarray(np.log(self.emissionprob_).T)
        lattice = self._lattice(X.shape[0])
        _hmm.categorical_lattice(X.reshape(-1), table, extra, lattice, n_threads)
        return lattice

    def _accumulate_emission(self, stats, X, extra, gamma, frame_weight, n_threads):
        if "e" in self._updated:
            obs = np.empty((self.n_components, self.n_features))
            _hmm.categorical_counts(X.reshape(-1), gamma, frame_weight, extra, obs, n_threads)
            stats["obs"] = obs

    def _mstep_emission(self, stats):
        if "e" in self._updated:
            e = np.maximum(np.asarray(self.emissionprob_prior, dtype=np.float64) - 1 + stats["obs"], 0)
            s = e.sum(axis=1, keepdims=True)
            self.emissionprob_ = np.where(s > 0, e / np.where(s > 0, s, 1.0), self.emissionprob_)

    def _sample_emissions(self, states, rng):
        cdf = np.cumsum(self.emissionprob_, axis=1)
        u = rng.random_sample(states.shape[0])
        return np.argmax(cdf[states] > u[:, None], axis=1).astype(np.int64)[:, None]


class MultinomialHMM(_CountsHMM):
    """Hidden Markov model with multinomial emissions (hmmlearn 0.3's ``MultinomialHMM``).

    Each frame is a vector of counts over n_features categories summing to
    ``n_trials``; ``emissionprob_[k]`` are state k's category probabilities.
    Letters 's', 't', 'e'.
    """

    _emission_letters = "e"
    _FROZEN = {"startprob": "s", "transmat": "t", "emissionprob": "e"}
    _schema = MULTINOMIAL_HMM_SCHEMA
    _table_name = "emissionprob_"

    def __init__(self, n_components=1, n_trials=None, startprob_prior=1.0, transmat_prior=1.0,
                 algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False, params="ste",
                 init_params="ste", implementation="log", n_threads=None, nan_policy="raise",
                 block_rows=None, frozen=None):
        super().__init__(n_components, startprob_prior=startprob_prior, transmat_prior=transmat_prior,
                         algorithm=algorithm, random_state=random_state, n_iter=n_iter, tol=tol, verbose=verbose,
                         params=params, init_params=init_params, implementation=implementation,
                         n_threads=n_threads, nan_policy=nan_policy,
                         block_rows=block_rows, frozen=frozen)
        self.n_trials = n_trials

    def _check_and_set_n_features(self, X):
        super()._check_and_set_n_features(X)
        X = np.asarray(X)
        if X.dtype.kind not in "iu" and not (X.dtype.kind == "f" and np.all(X == np.floor(X))) or (
                X.size and X.min() < 0):
            raise ValueError("Symbol counts should be nonnegative integers")
        if self.n_trials is None:
            self.n_trials = X.sum(axis=1)
        elif not np.all(X.sum(axis=1) == self.n_trials):
            raise ValueError("Total count for each sample should add up to the number of trials")

    def _emission_scalars(self):
        return {"e": self.n_components * (self.n_features - 1)}

    def _init_emission(self, X, lengths, rng):
        if "e" in self.init_params or not hasattr(self, "emissionprob_"):
            e = rng.rand(self.n_components, self.n_features)
            self.emissionprob_ = e / e.sum(axis=1, keepdims=True)

    def _check_emission(self):
        super()._check_emission()
        if self.n_trials is None:
            raise ValueError("n_trials must be set")

    def _coefficients(self):
        K = self.n_components
        return np.ascontiguousarray(np.vstack([np.zeros((1, K)), _log_prob(self.emissionprob_).T]))

    def _frame_constant(self, Xf):
        return gammaln(Xf.sum(axis=1) + 1.0) - gammaln(Xf + 1.0).sum(axis=1)

    def _mstep_emission(self, stats):
        if "e" in self._updated:
            obs = stats["obs"]
            s = obs.sum(axis=1, keepdims=True)
            self.emissionprob_ = np.where(s > 0, obs / np.where(s > 0, s, 1.0), self.emissionprob_)

    def _sample_emissions(self, states, rng):
        trials = np.unique(np.atleast_1d(self.n_trials))
        if trials.size != 1:
            raise ValueError("For sampling, a single n_trials must be given")
        n = int(trials[0])
        X = np.empty((states.shape[0], self.n_features), dtype=np.int64)
        for k in np.unique(states):
            idx = np.flatnonzero(states == k)
            X[idx] = rng.multinomial(n, self.emissionprob_[k], size=idx.size)
        return X


class PoissonHMM(_CountsHMM):
    """Hidden Markov model with independent Poisson emissions per feature (hmmlearn's ``PoissonHMM``).

    ``lambdas_[k, d]``: the rate of feature d in state k, with a Gamma prior
    (``lambdas_prior`` alpha, ``lambdas_weight`` beta, hmmlearn's formula).
    Letters 's', 't', 'l'.
    """

    _emission_letters = "l"
    _FROZEN = {"startprob": "s", "transmat": "t", "lambdas": "l"}
    _schema = POISSON_HMM_SCHEMA
    _table_name = "lambdas_"
    _table_what = "must be finite and non-negative"

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, lambdas_prior=0.0,
                 lambdas_weight=0.0, algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False,
                 params="stl", init_params="stl", implementation="log", n_threads=None, nan_policy="raise",
                 block_rows=None, frozen=None):
        super().__init__(n_components, startprob_prior=startprob_prior, transmat_prior=transmat_prior,
                         algorithm=algorithm, random_state=random_state, n_iter=n_iter, tol=tol, verbose=verbose,
                         params=params, init_params=init_params, implementation=implementation,
                         n_threads=n_threads, nan_policy=nan_policy,
                         block_rows=block_rows, frozen=frozen)
        self.lambdas_prior = lambdas_prior
        self.lambdas_weight = lambdas_weight

    def _emission_scalars(self):
        return {"l": self.n_components * self.n_features}

    def _init_emission(self, X, lengths, rng):
        if self._needs_init("l", "lambdas_"):
            mean, var = float(X.mean()), float(X.var())
            if not var > 0 or not mean > 0:
                mean, var = max(mean, 1.0), max(var, 1.0)
            self.lambdas_ = rng.gamma(shape=mean ** 2 / var, scale=var / mean,
                                      size=(self.n_components, self.n_features))

    def _coefficients(self):
        lam = self.lambdas_
        return np.ascontiguousarray(np.vstack([-lam.sum(axis=1)[None, :], _log_prob(lam).T]))

    def _frame_constant(self, Xf):
        return -gammaln(Xf + 1.0).sum(axis=1)

    def _mstep_emission(self, stats):
        if "l" in self._updated:
            post, obs = stats["post"], stats["obs"]
            alphas, betas = self.lambdas_prior, self.lambdas_weight
            n = post.sum()
            ok = post > 0
            y_bar = obs / np.where(ok, post, 1.0)[:, None]
            new = (alphas + n * y_bar) / (betas + n)
            self.lambdas_ = np.where(ok[:, None], new, self.lambdas_)   # a state with no frames keeps its rates

    def _sample_emissions(self, states, rng):
        return rng.poisson(self.lambdas_[states])


class BernoulliHMM(_CountsHMM):
    """Hidden Markov model with independent Bernoulli emissions per feature (not in hmmlearn).

    X holds 0/1 values; ``emissionprob_[k, d]`` = P(x_d = 1 | state k), with a
    symmetric Beta(``emissionprob_prior``) prior (1: maximum likelihood).
    Letters 's', 't', 'e'.
    """

    _emission_letters = "e"
    _FROZEN = {"startprob": "s", "transmat": "t", "emissionprob": "e"}
    _schema = BERNOULLI_HMM_SCHEMA
    _table_name = "emissionprob_"
    _table_max = 1.0
    _table_what = "must hold probabilities in [0, 1]"

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, emissionprob_prior=1.0,
                 algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False, params="ste",
                 init_params="ste", implementation="log", n_threads=None, nan_policy="raise",
                 block_rows=None, frozen=None):
        super().__init__(n_components, startprob_prior=startprob_prior, transmat_prior=transmat_prior,
                         algorithm=algorithm, random_state=random_state, n_iter=n_iter, tol=tol, verbose=verbose,
                         params=params, init_params=init_params, implementation=implementation,
                         n_threads=n_threads, nan_policy=nan_policy,
                         block_rows=block_rows, frozen=frozen)
        self.emissionprob_prior = emissionprob_prior

    def _validate_X(self, X):
        Xf = super()._validate_X(X)
        if Xf.size and Xf.max() > 1:
            i, j = (int(v) for v in np.argwhere(Xf > 1)[0])
            raise ValueError(f"BernoulliHMM needs 0/1 values, but X[{i}, {j}] = {Xf[i, j]:g}.")
        return Xf

    def _emission_scalars(self):
        return {"e": self.n_components * self.n_features}

    def _init_emission(self, X, lengths, rng):
        if self._needs_init("e", "emissionprob_"):
            # around each feature's frequency, kept away from 0 and 1
            f = np.clip(X.mean(axis=0), 0.05, 0.95)
            self.emissionprob_ = np.clip(f + rng.uniform(-0.25, 0.25, size=(self.n_components, X.shape[1]))
                                         * np.minimum(f, 1 - f), 0.01, 0.99)

    def _coefficients(self):
        p = self.emissionprob_
        log_q = _log_prob(1 - p)
        return np.ascontiguousarray(np.vstack([log_q.sum(axis=1)[None, :], (_log_prob(p) - log_q).T]))

    def _log_frameprob(self, X, extra, n_threads):
        p = self.emissionprob_
        if np.any((p == 0) | (p == 1)):
            # log p - log(1 - p) is not linear-safe at 0 or 1: the exact sum, per state
            with np.errstate(divide="ignore"):
                lp, lq = np.log(p), np.log1p(-p)
            out = np.empty((X.shape[0], self.n_components))
            for k in range(self.n_components):
                terms = np.where(X > 0, lp[k], lq[k])
                out[:, k] = terms.sum(axis=1)
            return _no_emission(out, extra)
        return super()._log_frameprob(X, extra, n_threads)

    def _mstep_emission(self, stats):
        if "e" in self._updated:
            post, obs = stats["post"], stats["obs"]
            a = float(self.emissionprob_prior) - 1
            den = post[:, None] + 2 * a
            new = np.clip((obs + a) / np.where(den > 0, den, 1.0), 0.0, 1.0)
            self.emissionprob_ = np.where(den > 0, new, self.emissionprob_)

    def _sample_emissions(self, states, rng):
        return (rng.random_sample((states.shape[0], self.n_features)) < self.emissionprob_[states]).astype(np.int64)
