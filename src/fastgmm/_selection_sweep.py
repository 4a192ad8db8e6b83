"""The sweep of GaussianMixtureSelection: for each covariance type and K, the starts (k-means of the standardised
rows, splits of the previous K's components, random rows, the other covariance types' fits), their fits, the
screening of degenerate fits and the polish of the leaders. The estimator and the reasons for each choice are in
``fastgmm._selection``."""

import functools
import math
import time
import warnings

import numpy as np

from .engine._base import progress_bar
from .families._gaussian_mixture import GaussianMixture
from .families._gaussian import layout
from .families._hc import hc_labels
from .kernels._kmeans_driver import _weighted_draws, kmeans, nearest_centre_labels
from .kernels._openmp_helpers import effective_n_threads
from .utils._threadpool import blas_single_thread
from .utils._validation import ConvergenceWarning, InvalidParameterError

#: The selection's default init_params: the sweep's own starts (see ``fastgmm._selection``).
AUTO_INIT = "auto"
#: A component collapsed onto (nearly) tied values: its variance beyond reg_covar is at most this fraction of
#: the data's (in the standardised scale; see "Why degenerate fits are screened out" in ``fastgmm._selection``).
DEGENERATE_VARIANCE_RATIO = 1e-6
_N_RANDOM_STARTS = 3
_MAX_SPLITS = 8
_N_POLISHED = 2
_N_CROSS = 4
_POLISH_TOL_FACTOR = 1e-2
_SEED_MAX = 2**31 - 1
#: A candidate's fit is checked for a collapse every this many EM iterations, and stopped when a covariance's
#: smallest variance beyond reg_covar is at most this fraction of the data's (``CandidateHooks``).
COLLAPSE_CHECK_EVERY = 10
STOP_VARIANCE_RATIO = 1e-12
#: Under init_params="hc" (one start per cell: its fit is the cell's) the fit's log-likelihood pass also
#: makes its responsibilities, for the ICL, when they are at most this many values (n_samples x
#: components); otherwise criteria() makes them in a pass of its own, for each cell's best fit only.
_JOINT_RESP_VALUES = 1 << 21


# ----------------------------------------------------------------------
# the sweep
# ----------------------------------------------------------------------
class CandidateHooks:
    """What the sweep asks of each start's fit (``fastgmm.engine._base`` reads it).

    ``stop``: every ``COLLAPSE_CHECK_EVERY`` EM iterations, whether the
    iterate has a covariance collapsed to rounding (its smallest variance
    beyond reg_covar at most ``STOP_VARIANCE_RATIO`` of the data's); a fit
    found so at two checks in a row is stopped there and ends degenerate, as
    mclust gives up on a fit whose covariance turns singular (its table shows
    NA). Without the stop a collapsing fit ran on to ``max_iter``, its
    likelihood growing without a maximum: on swiss (47 rows, 6 features) 19
    of the 126 fits took 0.18 of the sweep's 0.40 s. One check is not
    enough: a constrained model's component can pass through a collapse and
    come back (when the rule was chosen, swiss, EVE, K=7: below 1e-13 from
    iteration 7 to 11, 0.002 from iteration 12 on, converged at 21 and not
    degenerate; such paths change with the last bits), and a
    component that merely carries too few rows' share can regain them, so
    those are judged at the end as before.

    ``check_solution`` False: no check for nearly identical components at the
    end of each fit (its warning was ignored in the sweep anyway).
    """

    __slots__ = ("_min_ratio", "_collapsed", "score")
    check_solution = False

    def __init__(self, min_ratio):
        self._min_ratio = min_ratio     # covariances -> the smallest variance ratio
        self._collapsed = False         # at the last check
        self.score = None               # (loglik, entropy) of the fitted parameters, when the fit gave it

    def stop(self, n_iter, params):
        if n_iter % COLLAPSE_CHECK_EVERY:
            return False
        was, self._collapsed = self._collapsed, self._min_ratio(params.covariances) <= STOP_VARIANCE_RATIO
        return was and self._collapsed

    def finished(self, runner, params):
        """The fit's end: ``runner`` (``BaseMixture._em_runner``'s, or None) scores the fitted ``params`` in one
        compiled pass, instead of the sweep's E-step for ``_loglik_and_entropy``."""
        score = getattr(runner, "score", None)
        self.score = None if score is None else score(params)


class _Fit:
    """One fitted start: the model, its total log-likelihood, why it is degenerate ("" if not), and the
    entropy term of its ICL when the fit's own pass computed it (None: ``criteria`` does)."""

    __slots__ = ("gm", "kind", "loglik", "degenerate", "n_parameters", "_labels", "entropy")

    def __init__(self, gm, kind, loglik, degenerate, entropy=None):
        self.gm, self.kind, self.loglik, self.degenerate = gm, kind, loglik, degenerate
        self.n_parameters = gm._n_parameters()
        self._labels = None
        self.entropy = entropy

    def better_than(self, other):
        """Non-degenerate before degenerate, then the larger log-likelihood.

        Larger by more than rounding (1e-10 relative): two starts that reach
        the same optimum (its components possibly numbered differently) keep
        the earlier, so the choice does not hang on the last bits.
        """
        if other is None:
            return True
        if bool(self.degenerate) != bool(other.degenerate):
            return not self.degenerate
        return self.loglik > other.loglik + 1e-10 * max(1.0, abs(other.loglik))


class _Cell:
    """A candidate (covariance type, K): its best fit so far, the starts tried, the time spent."""

    def __init__(self, cov_type, K):
        self.cov_type, self.K = cov_type, K
        self.best = None
        self.runners_up = []   # the next best non-degenerate fits, best first
        self.error = ""
        self.n_starts = 0
        self.n_degenerate = 0
        self.time = 0.0


class _Sweep:
    """Fits every (covariance type, K) of one ``GaussianMixtureSelection.fit``."""

    def __init__(self, selection, X, sample_weight, random_state, X_start=None, w_start=None):
        """``X``/``sample_weight``: what every candidate is fitted and scored on (may hold NaN
        under nan_policy='marginalize'); ``X_start``/``w_start``: the NaN-free rows the
        "auto" starts are computed from (default: X itself)."""
        self.sel = selection
        self._idle = None
        self.X = X
        self.w = sample_weight
        self.random_state = random_state
        self.n_threads = effective_n_threads(selection.n_threads)
        self.params = selection._passed_through()
        self.total_weight = float(X.shape[0] if sample_weight is None else sample_weight.sum())
        self.n_rows = X.shape[0] if sample_weight is None else int(np.count_nonzero(sample_weight))
        self._w_fit_or_ones = (np.ones(X.shape[0]) if sample_weight is None
                               else sample_weight / self.total_weight * X.shape[0])
        if X_start is None:
            X_start, w_start = X, sample_weight
        self.X_start, self.w_start = X_start, w_start
        n0 = X_start.shape[0]
        wn = np.ones(n0) if w_start is None else w_start / w_start.sum() * n0
        self._w_or_ones = wn
        X64 = np.asarray(X_start, dtype=np.float64)
        mean = wn @ X64 / n0
        var = wn @ (X64 - mean) ** 2 / n0
        self.covariance = (X64 - mean).T @ ((X64 - mean) * wn[:, None]) / n0
        self.scale = np.sqrt(var)
        self.scale_safe = np.where(self.scale > 0, self.scale, 1.0)
        self.auto = selection.init_params == AUTO_INIT
        self.Xs = np.ascontiguousarray((X64 - mean) / self.scale_safe) if self.auto else None

    def _seed(self):
        return int(self.random_state.randint(_SEED_MAX))

    @property
    def idle_random_state(self):
        """One RandomState for the fits that draw nothing (``_try``), made once (tests check it is never drawn from)."""
        if self._idle is None:
            self._idle = np.random.RandomState(0)
        return self._idle

    # -- the loop -------------------------------------------------------
    def run(self, ks, cts):
        self._ks = ks
        self._hc = {}
        self._hc_rows = self._hc_cut = None
        bar = progress_bar(self.sel.progress, len(ks) * len(cts), type(self.sel).__name__)
        try:
            # BLAS single-threaded once for the whole sweep: each fit (and score) would otherwise set and
            # restore every BLAS library's thread count around itself, ~30 us per fit, as much as two EM
            # iterations of a small fit. The sweep's own algebra is on D x D matrices and a few O(N D^2)
            # products.
            with blas_single_thread():
                return self._run(ks, cts, bar)
        finally:
            if bar is not None:
                bar.close()

    def _run(self, ks, cts, bar):
        cells = []
        prev = {}
        for K in ks:
            at_K = {ct: _Cell(ct, K) for ct in cts}
            kmeans_labels = self._std_kmeans(K) if self.auto else []
            for ct in cts:
                cell = at_K[ct]
                if K > self.n_rows:
                    what = "n_samples" if self.w is None else "n_samples with a positive sample_weight"
                    cell.error = (f"too few rows: n_components = {K} needs n_samples >= n_components, "
                                  f"{what} = {self.n_rows}")
                    continue
                for kind, kwargs in self._starts(cell, kmeans_labels, prev.get(ct)):
                    self._try(cell, kind, kwargs)
                if cell.best is None and not cell.error:
                    cell.error = "no start could be made: fewer distinct rows than components"
            if self.auto and len(cts) > 1:
                self._cross_type(at_K)
            for ct in cts:
                cell = at_K[ct]
                self._polish(cell)
                if cell.best is not None:
                    prev[ct] = cell
                else:
                    prev.pop(ct, None)
                cells.append(cell)
                self._say(cell)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(covariance_type=ct, n_components=K, refresh=False)
        return cells

    def _say(self, cell):
        if not self.sel.verbose:
            return
        b = cell.best
        what = f"failed: {cell.error}" if b is None else (
            f"log-likelihood {b.loglik:.4f}, {b.n_parameters} parameters, best start {b.kind}"
            + (f", degenerate ({b.degenerate})" if b.degenerate else ""))
        print(f"{cell.cov_type:>9} K={cell.K}: {what} [{cell.n_starts} starts, {cell.time:.3f} s]")

    # -- starts ---------------------------------------------------------
    def _std_kmeans(self, K):
        """``n_init`` k-means partitions of the standardised rows, shared by every covariance type."""
        if K > self.n_rows:
            return []
        out = []
        for _ in range(self.sel.n_init):
            rs = np.random.RandomState(self._seed())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)   # duplicates: fewer distinct clusters
                centres = kmeans(self.Xs, K, rs, self.n_threads, sample_weight=self.w_start)
            out.append(nearest_centre_labels(self.Xs, centres, self.n_threads))
        return out

    def _starts(self, cell, kmeans_labels, prev):
        """(kind, GaussianMixture keyword arguments) of every start of a cell, made lazily."""
        K, ct = cell.K, cell.cov_type
        if self.sel.init_params == "hc":
            # mclust's scheme: one start per cell (one tree for every cell, so no repeats), run straight to
            # the tight tolerance the other schemes polish their leaders to (_polish then has nothing to do)
            yield "hc", {"init_params": self._hc_start, "tol": self._hc_tol}
            return
        if not self.auto:
            for _ in range(self.sel.n_init):
                yield self.sel.init_params, {"init_params": self.sel.init_params, "random_state": self._seed()}
            return
        if K == 1:   # one maximum; any start reaches it
            yield "kmeans-standardised", self._from_labels(np.zeros(self.X_start.shape[0], dtype=np.int64), 1, ct)
            return
        for labels in kmeans_labels:
            yield "kmeans-standardised", self._from_labels(labels, K, ct)
        if prev is not None and prev.best is not None and not prev.best.degenerate:
            for labels in self._splits(prev.best, K):
                yield "split", self._from_labels(labels, K, ct)
        for _ in range(_N_RANDOM_STARTS):
            yield "random-rows", self._random_rows(K, ct)

    @functools.cached_property
    def _hc_tol(self):
        """The hc scheme's tolerance, once per sweep: tol / 100 relative to the data's log-likelihood per row,
        as mclust's.

        mclust stops EM at a relative change of the log-likelihood (1e-5 by
        default, which tol / 100 is at the default tol); fastgmm's ``tol`` is
        an absolute change of its mean per row. The scale is the mean
        log-likelihood of one Gaussian fitted to the rows (at least 1): at
        100,000 rows in 4-D (-6.7 per row) that is 1,550 EM iterations for the
        126 cells instead of 2,828, with the same chosen model and BIC.
        """
        D = self.covariance.shape[0]
        sign, logdet = np.linalg.slogdet(self.covariance)
        one = -0.5 * D * (1.0 + math.log(2 * math.pi)) - 0.5 * logdet if sign > 0 else 0.0
        return self.sel.tol * _POLISH_TOL_FACTOR * max(1.0, abs(one))

    def _hc_start(self, X, K, random_state):
        """mclust's start: the cut at K of one hierarchical tree, built once per rows fitted (``_hc``).

        A callable ``init_params`` of the candidate fits (their M-step on the
        partition is the model's own, as mclust's); the rows are those the fit
        initialises from (the NaN-free rows under nan_policy='marginalize').
        """
        if self._hc_rows is not X:      # the candidates' validated X is one array: its key once
            key = (X.shape, X[:1].tobytes(), X[-1:].tobytes(), float(np.sum(X, dtype=np.float64)))
            if key not in self._hc:
                w = self.w_start if X.shape[0] == self.X_start.shape[0] else None
                self._hc = {key: hc_labels(X, [k for k in self._ks if k <= X.shape[0]], sample_weight=w,
                                           random_state=self._seed(), n_threads=self.n_threads)}
            self._hc_rows, self._hc_cut = X, self._hc[key]
        return self._hc_cut[K]

    def _labels(self, fit):
        if fit._labels is None:
            fit._labels = fit.gm.predict(self.X_start)
            if hasattr(fit.gm, "noise_weight_"):    # noise rows (-1) go to their most probable Gaussian
                fit._labels = np.argmax(fit.gm.predict_proba(self.X_start)[:, :-1], axis=1)
        return fit._labels

    def _splits(self, fit, K):
        """Partitions of K parts: the fit's K - 1 parts with one cut in two along its principal axis."""
        labels = self._labels(fit)
        w = self._w_or_ones
        sizes = np.bincount(labels, weights=w, minlength=K - 1)
        spread = []
        for j in range(K - 1):
            rows = np.flatnonzero((labels == j) & (w > 0))
            if rows.size < 2:
                continue
            Z = self.Xs[rows]
            wz = w[rows] / w[rows].sum()
            mu = wz @ Z
            C = (Z - mu).T @ ((Z - mu) * wz[:, None])
            vals, vecs = np.linalg.eigh(C)
            spread.append((sizes[j] * vals[-1], j, rows, (Z - mu) @ vecs[:, -1]))
        spread.sort(key=lambda t: -t[0])
        for _, j, rows, proj in spread[:_MAX_SPLITS]:
            upper = proj > 0
            if upper.all() or not upper.any():
                continue
            new = labels.copy()
            new[rows[upper]] = K - 1
            yield new

    def _from_labels(self, labels, K, ct):
        """GaussianMixture ``*_init`` arguments of the M-step of a hard partition, in the data's units.

        A part's covariance is shrunk towards the pooled within-part
        covariance, with the weight of D rows: a small part of a start must not
        seed a collapse.
        """
        ct = layout(ct)
        X = np.asarray(self.X_start, dtype=np.float64)
        w = self._w_or_ones
        N, D = X.shape
        nk = np.bincount(labels, weights=w, minlength=K)
        if np.any(nk <= 0):
            return None
        means = np.empty((K, D))
        scatter = np.empty((K, D, D))
        for k in range(K):
            rows = labels == k
            wk = w[rows]
            means[k] = wk @ X[rows] / nk[k]
            Z = X[rows] - means[k]
            scatter[k] = Z.T @ (Z * wk[:, None])
        pooled = scatter.sum(axis=0) / nk.sum()
        reg = self.sel.reg_covar * np.eye(D)
        if ct == "tied":
            precisions = np.linalg.inv(pooled + reg)
        else:
            cov = (scatter + D * pooled) / (nk + D)[:, None, None]
            if ct == "full":
                precisions = np.linalg.inv(cov + reg)
            elif ct == "diag":
                precisions = 1.0 / (np.diagonal(cov, axis1=1, axis2=2) + self.sel.reg_covar)
            else:
                precisions = 1.0 / (np.trace(cov, axis1=1, axis2=2) / D + self.sel.reg_covar)
        return {"weights_init": nk / nk.sum(), "means_init": means, "precisions_init": precisions}

    def _random_rows(self, K, ct):
        """Means at K distinct rows drawn in proportion to their weight; every covariance the data's.

        Unlike GaussianMixture's "random_from_data" (one-row components, whose
        covariance is reg_covar, or for "tied" the rows' spread about 0) the
        start is neither collapsed nor scale-dependent. The rows are drawn by
        inverting the cumulative weight, so weight 2 draws exactly as a row
        repeated twice does.
        """
        ct = layout(ct)
        rs = np.random.RandomState(self._seed())
        Xs = self.X_start
        w = np.ones(Xs.shape[0]) if self.w_start is None else self.w_start
        draws = _weighted_draws(w, 4 * K + 16, rs)
        draws = draws[rs.permutation(draws.size)]   # _weighted_draws returns them sorted
        _, first = np.unique(Xs[draws], axis=0, return_index=True)
        if first.size < K:
            return None
        rows = draws[np.sort(first)[:K]]
        means = np.asarray(Xs[rows], dtype=np.float64)
        cov = self.covariance + self.sel.reg_covar * np.eye(self.X.shape[1])
        precision = np.linalg.inv(cov)
        if ct == "full":
            precisions = np.repeat(precision[None], K, axis=0)
        elif ct == "tied":
            precisions = precision
        elif ct == "diag":
            precisions = np.repeat(1.0 / np.diag(cov)[None], K, axis=0)
        else:
            precisions = np.full(K, 1.0 / np.mean(np.diag(cov)))
        return {"weights_init": np.full(K, 1.0 / K), "means_init": means, "precisions_init": precisions}

    def _cross_type(self, at_K):
        """Start each type at K from the final partitions of the other types at K.

        The ``_N_CROSS`` distinct partitions of the best fits by BIC, not every
        type's: with mclust's fourteen models most types end in one of a few
        partitions, and trying each on each would be 13 more starts per cell.
        """
        finals = sorted(((ct, c.best) for ct, c in at_K.items() if c.best is not None and not c.best.degenerate),
                        key=lambda t: -2 * t[1].loglik + t[1].n_parameters * math.log(self.total_weight))
        distinct = []
        for ct, fit in finals:
            if not any(_same_partition(self._labels(fit), self._labels(f)) for _, f in distinct):
                distinct.append((ct, fit))
        finals = distinct[:_N_CROSS]
        for ct, cell in at_K.items():
            for other, fit in finals:
                if other == ct:
                    continue
                if cell.best is not None and _same_partition(self._labels(fit), self._labels(cell.best)):
                    continue
                self._try(cell, f"partition-of-{other}", self._from_labels(self._labels(fit), cell.K, ct))

    # -- one start ------------------------------------------------------
    def _try(self, cell, kind, kwargs):
        if kwargs is None:   # a start with an empty part
            return
        sel = self.sel
        t0 = time.perf_counter()
        cell.n_starts += 1
        kw = dict(self.params)
        kw.update(n_init=1, verbose=max(0, int(sel.verbose) - 1))
        kw.setdefault("random_state", self._seed())
        kw.update(kwargs)
        seed = kw["random_state"]
        if kw.get("init_params") == self._hc_start and kw.get("on_degenerate", "raise") == "raise":
            # Nothing in this fit draws (mclust's start is the sweep's tree; no component is re-drawn), but
            # the fit would seed a RandomState of its own from the int: ~90 us, 3-5 % of a sweep of 126
            # small fits. It gets the sweep's idle one instead, and its int seed back afterwards.
            kw["random_state"] = self.idle_random_state
        gm = GaussianMixture(n_components=cell.K, covariance_type=cell.cov_type, **kw)
        ct = layout(cell.cov_type)
        gm._candidate_hooks = hooks = CandidateHooks(
            lambda cov: float(np.min(self.variance_ratios(cov, ct, gm.reg_covar))))
        try:
            with warnings.catch_warnings():
                # Reported per candidate (converged, and the chosen fit warns).
                warnings.simplefilter("ignore", ConvergenceWarning)
                gm.fit(self.X, sample_weight=self.w)
                loglik, entropy = self._loglik_and_entropy(gm, hooks.score)
        except (InvalidParameterError, TypeError, MemoryError):
            raise   # the user's parameters or the machine, not this candidate
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
            if not cell.error:
                cell.error = f"{type(e).__name__}: {e}"
            cell.time += time.perf_counter() - t0
            return
        finally:
            del gm._candidate_hooks     # the estimator is kept (estimators_): no reference to the sweep
            gm.random_state = seed
        fit = _Fit(gm, kind, float(loglik), self.degenerate_reason(gm), entropy)
        if not np.isfinite(fit.loglik):
            fit.degenerate = fit.degenerate or "non-finite log-likelihood"
        cell.n_degenerate += bool(fit.degenerate)
        self._keep(cell, fit)
        cell.time += time.perf_counter() - t0

    @staticmethod
    def _keep(cell, fit):
        """Make ``fit`` the cell's best, or one of its runners-up, or drop it."""
        if fit.better_than(cell.best):
            fit, cell.best = cell.best, fit
        if fit is None or fit.degenerate:
            return
        cell.runners_up.append(fit)
        cell.runners_up.sort(key=lambda f: -f.loglik)
        del cell.runners_up[_N_POLISHED - 1:]

    def _polish(self, cell):
        """Run the cell's best ``_N_POLISHED`` fits on to ``tol * _POLISH_TOL_FACTOR``.

        With tol=1e-3 EM stops after a handful of iterations on overlapping
        components, 1-5 log-likelihood units short of the optimum it is
        heading to; which start wins is already clear by then, so only the
        leaders pay for the tight tolerance.
        """
        if self.sel.max_iter == 0 or cell.best is None or self.sel.init_params == "hc":
            return
        t0 = time.perf_counter()
        fits, cell.best, cell.runners_up = [cell.best] + cell.runners_up, None, []
        for fit in fits:
            gm = fit.gm
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    n_before, history_before = gm.n_iter_, list(gm.lower_bounds_)
                    gm.set_params(warm_start=True, tol=self.sel.tol * _POLISH_TOL_FACTOR)
                    gm.fit(self.X, sample_weight=self.w)
                    gm.set_params(warm_start=False)
                    # One run from the start to the tight tolerance: its iterations and history whole.
                    gm.n_iter_ += n_before
                    gm.lower_bounds_ = history_before + gm.lower_bounds_
                    loglik = gm.score(self.X, sample_weight=self.w) * self.total_weight
            except (InvalidParameterError, TypeError, MemoryError):
                raise
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                continue   # it collapsed on the way: the others stand
            polished = _Fit(gm, fit.kind, float(loglik), self.degenerate_reason(gm))
            if not np.isfinite(polished.loglik):
                polished.degenerate = polished.degenerate or "non-finite log-likelihood"
            cell.n_degenerate += bool(polished.degenerate) and not fit.degenerate
            self._keep(cell, polished)
        cell.time += time.perf_counter() - t0

    def _loglik_and_entropy(self, gm, score=None):
        """The fit's total log-likelihood on X (``score`` times the total weight) and, in the same pass when
        the responsibilities are small (``_JOINT_RESP_VALUES``), the entropy term of its ICL (else None).
        ``score``: both from the fit's compiled step (``CandidateHooks.finished``), for unweighted X."""
        if score is not None and self.w is None:
            return score
        n_out = gm.n_components + hasattr(gm, "noise_weight_")
        if (self.sel.init_params != "hc" or not isinstance(self.X, np.ndarray)
                or self.X.shape[0] * n_out > _JOINT_RESP_VALUES):
            return gm.score(self.X, sample_weight=self.w) * self.total_weight, None
        if self.w is None:
            _, _, resp, total = gm._predict_outputs(self.X, total=True, resp=True)[:4]
            loglik = total / self.total_weight * self.total_weight    # as score() * the total weight
        else:
            row_ll, _, resp = gm._predict_outputs(self.X, row_ll=True, resp=True)[:3]
            keep = self.w > 0
            loglik = float(np.dot(row_ll[keep], self.w[keep])) / float(self.w.sum()) * self.total_weight
        return loglik, self._entropy(resp)

    def _entropy(self, resp):
        """-sum_i w_i sum_k r_ik log r_ik, weighted as GaussianMixture.bic is."""
        resp = np.asarray(resp, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            rlogr = np.where(resp > 0, resp * np.log(resp), 0.0).sum(axis=1)
        return -float(self._w_fit_or_ones @ rlogr) * self.total_weight / self.X.shape[0]

    # -- degeneracy and criteria ---------------------------------------
    def degenerate_reason(self, gm):
        """Why a fitted mixture is degenerate ("" if it is not): see the module docstring."""
        weights = np.asarray(gm.weights_, dtype=np.float64)
        D = self.X.shape[1]
        need = rows_needed(gm.covariance_type, D)
        short = np.flatnonzero(weights * self.n_rows < need)
        if short.size:
            k = int(short[0])
            return (f"component {k} emptied: it carries {weights[k] * self.n_rows:.3g} rows' share of the weight, "
                    f"fewer than the {need} its {gm.covariance_type} covariance needs")
        ct = layout(gm.covariance_type)
        ratio = self.variance_ratios(gm.covariances_, ct, gm.reg_covar)
        low = np.flatnonzero(ratio <= DEGENERATE_VARIANCE_RATIO)
        if low.size:
            k = int(low[0])
            which = "the shared covariance" if ct == "tied" else f"component {k}"
            return (f"{which} collapsed (smallest variance beyond reg_covar {ratio[k]:.2g} of the data's, "
                    f"at most {DEGENERATE_VARIANCE_RATIO:g})")
        return ""

    @functools.cached_property
    def _eye_and_scales(self):
        """The identity and the outer product of the data's scales, for :meth:`variance_ratios`."""
        s = self.scale_safe
        return np.eye(self.X.shape[1]), np.outer(s, s)

    def variance_ratios(self, covariances, ct, reg_covar):
        """Each covariance's smallest variance beyond ``reg_covar`` as a fraction of the data's (in the
        standardised scale), for covariances of the layout ``ct``."""
        eye, ss = self._eye_and_scales
        cov = np.asarray(covariances, dtype=np.float64) - reg_covar * (eye if ct in ("full", "tied") else 1.0)
        s = self.scale_safe
        if ct == "full":
            return np.linalg.eigvalsh(cov / ss)[:, 0]
        if ct == "tied":
            return np.array([np.linalg.eigvalsh(cov / ss)[0]])
        if ct == "diag":
            return np.min(cov / s ** 2, axis=1)
        return cov / np.mean(s ** 2)

    def criteria(self, fit):
        """BIC, AIC and ICL of a fit (lower is better), weighted as GaussianMixture.bic is."""
        ll, p = fit.loglik, fit.n_parameters
        bic = -2 * ll + p * math.log(self.total_weight)
        aic = -2 * ll + 2 * p
        entropy = fit.entropy if fit.entropy is not None else self._entropy(fit.gm.predict_proba(self.X))
        return {"bic": bic, "aic": aic, "icl": bic + 2 * entropy}


def rows_needed(model, n_features):
    """Rows' share of the weight a component needs for its covariance to be determined.

    What the model estimates per component: a whole covariance (full, VVV)
    needs D + 1 rows; a volume, shape or orientation of its own (VII, VVI,
    VEI, EVI, VEE, EVE, VVE, EEV, VEV, EVV) needs two distinct rows; a
    covariance shared by every component (EII, EEI, EEE, tied) needs one.
    """
    if model in ("full", "VVV"):
        return n_features + 1
    if model in ("tied", "EII", "EEI", "EEE"):
        return 1
    return 2


def _same_partition(a, b):
    """Whether two label vectors are the same partition up to renaming the parts."""
    pairs = np.unique(np.stack([a, b]), axis=1)
    return pairs.shape[1] == np.unique(a).size == np.unique(b).size
