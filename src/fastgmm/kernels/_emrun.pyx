"""A Gaussian mixture's EM iteration in one compiled call, for small in-memory float64 data.

On data of a few hundred rows an EM iteration's arithmetic takes a few microseconds (the pass over the
rows, the M-step on K small matrices), and the Python around it (the coefficients, the pass's driver,
unpacking the sums, the M-step's calls, the checks) took far more: 36-58 us per iteration against 2-19 us
here on USArrests, K = 3 (``benchmarks/small_fits.py``). mclust's fourteen models fitted for K = 1..9 on
50 rows make ~2,000 such iterations. :class:`EMCore` runs the iteration of
``fastgmm.families._gaussian_mixture.GaussianMixture._em_step`` from the same compiled pieces in the
same order (the coefficients, the kernel's pass, the sums unpacked, scikit-learn's M-step and mclust's
constrained one, the weights, the finite check, the Cholesky factors), so its parameters are bitwise those
of the Python path. It keeps two sets of parameters and writes one from the other.

It does not raise: when the iteration would fail (a non-finite log-likelihood, an overflow, a covariance
that is not positive definite, no memory) :meth:`EMCore.step` returns NaN and the caller repeats the
iteration on the Python path, which raises the error with its message. It covers the plain case only (no
missing values, noise, prior, frozen parameters or degenerate-component handling; one call of the pass),
which the caller (``fastgmm.families._gaussian_runner``) checks.
"""

import numpy as np

from libc.math cimport NAN, isfinite, sqrt
from libc.stdlib cimport free, malloc
from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset

from ._estep cimport estep_statistics_f64
from ._linalg cimport gaussian_m_step_c, linear_coefficients_c, mixture_shift_c, precision_cholesky_c, total_c
from ._mclust_mstep cimport constrained_step_c


cdef class EMCore:
    """The compiled EM iteration for one fit (see the module docstring).

    ``params``: two lists ``[weights (K,), means (K, D), covariances, precisions_cholesky]`` of float64
    C-contiguous arrays in the layout's shapes; :meth:`step` reads set ``src`` and writes set ``1 - src``.
    ``kind``: the layout (0 full, 1 tied, 2 diag, 3 spherical); ``model``: mclust's model code for a
    constrained M-step (``_mclust_mstep.MODEL_CODES``), or -1 for scikit-learn's; ``warm``: the iterative
    models start from the previous covariances. ``quad``, ``P``, ``chunk_rows``, ``slot_rows``, ``n_slots``,
    ``n_threads``: the pass's feature code and layout (``fastgmm.kernels._driver``); ``pair_i``, ``pair_j``,
    ``pair_scale``: the full layout's products (``_gaussian._full_pairs_scale``), ``unpack``: their index
    for each (i, j) (``_gaussian._full_unpack``); ``weight``: the pass's total weight.
    """
    cdef const double[:, ::1] X
    cdef const double[::1] sw
    cdef const double *xp
    cdef const double *swp
    cdef int kind, model, quad, n_threads
    cdef bint warm
    cdef Py_ssize_t N, D, K, P, chunk_rows, slot_rows, n_slots, n_pairs, Kc
    cdef double reg_covar, eps, tol, empty_weight, weight
    cdef Py_ssize_t max_iter
    cdef const Py_ssize_t[::1] pair_i, pair_j, unpack
    cdef const double[::1] pair_scale
    cdef double[:, ::1] w_, mu_
    cdef double[:, ::1] cov_, pc_
    # Scratch, one allocation: the shift, W, the pass's sums, their unpacked moments, the M-step's work.
    cdef double *buf
    cdef double *shift
    cdef double *W
    cdef double *G
    cdef double *T
    cdef double *ll
    cdef double *nk
    cdef double *s1
    cdef double *s2
    cdef double *nk_eps
    cdef double *cov0
    cdef double *d
    cdef double *a
    cdef double *aU
    cdef double *scratch
    cdef readonly object params

    def __init__(self, const double[:, ::1] X, sample_weight, int kind, int model, bint warm, int quad,
                 Py_ssize_t P, Py_ssize_t chunk_rows, Py_ssize_t slot_rows, Py_ssize_t n_slots, int n_threads,
                 double reg_covar, double eps, double tol, Py_ssize_t max_iter, double empty_weight,
                 const Py_ssize_t[::1] pair_i, const Py_ssize_t[::1] pair_j, const double[::1] pair_scale,
                 const Py_ssize_t[::1] unpack, double weight, list params):
        cdef Py_ssize_t s, size
        self.X = X
        self.N, self.D = X.shape[0], X.shape[1]
        self.xp = &X[0, 0] if self.N and self.D else NULL
        self.swp = NULL
        if sample_weight is not None:
            self.sw = sample_weight
            if self.sw.shape[0] != self.N:
                raise ValueError("EMCore: sample_weight must have n_samples entries")
            self.swp = &self.sw[0] if self.N else NULL
        self.kind, self.model, self.warm, self.quad = kind, model, warm, quad
        self.P, self.chunk_rows, self.slot_rows, self.n_slots = P, chunk_rows, slot_rows, n_slots
        self.n_threads = n_threads
        self.reg_covar, self.eps, self.tol, self.max_iter = reg_covar, eps, tol, max_iter
        self.empty_weight, self.weight = empty_weight, weight
        self.pair_i, self.pair_j, self.pair_scale, self.unpack = pair_i, pair_j, pair_scale, unpack
        self.n_pairs = pair_i.shape[0]
        if len(params) != 2:
            raise ValueError("EMCore: two parameter sets expected")
        self.K = np.shape(params[0][0])[0]
        cdef Py_ssize_t K = self.K, D = self.D
        if not (0 <= kind <= 3) or K < 1 or D < 1 or slot_rows < chunk_rows or chunk_rows < 1 \
                or n_slots < 1 or n_slots * slot_rows < self.N or n_threads < 1:
            raise ValueError("EMCore: inconsistent layout")
        if kind == 0 and (P != 1 + D + self.n_pairs or pair_j.shape[0] != self.n_pairs
                          or pair_scale.shape[0] != self.n_pairs or unpack.shape[0] != D * D):
            raise ValueError("EMCore: inconsistent full-layout products")
        if kind != 0 and P != (2 * D + 1 if kind == 2 else D + 2):
            raise ValueError("EMCore: inconsistent feature count")
        size = D * D if kind <= 1 else (D if kind == 2 else 1)
        self.Kc = 1 if kind == 1 else K          # the layout's matrices
        wa, ma = np.empty((2, K)), np.empty((2, K * D))
        ca, ua = np.empty((2, self.Kc * size)), np.empty((2, self.Kc * size))
        for s in range(2):
            w, m, c, u = params[s]
            for arr, n in ((w, K), (m, K * D), (c, self.Kc * size), (u, self.Kc * size)):
                if not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or arr.size != n:
                    raise ValueError("EMCore: parameters must be float64 arrays in the layout's shapes")
            wa[s], ma[s], ca[s], ua[s] = w.ravel(), m.ravel(), c.ravel(), u.ravel()
        self.w_, self.mu_, self.cov_, self.pc_ = wa, ma, ca, ua
        # The parameter sets as arrays of the layout's shapes, views of this object's memory.
        cshape = np.shape(params[0][2])
        self.params = [(wa[s], ma[s].reshape(K, D), ca[s].reshape(cshape), ua[s].reshape(cshape))
                       for s in range(2)]
        cdef Py_ssize_t sizes[14]
        sizes[:] = [D, P * K, K * P, D * D, 1, K, K * D, self.Kc * size, K, self.Kc * size, K * D, D, D, D * D]
        cdef Py_ssize_t total = 0, j
        for j in range(14):
            total += sizes[j]
        free(self.buf)              # NULL unless __init__ is called again
        self.buf = <double *> malloc(total * sizeof(double))
        if self.buf == NULL:
            raise MemoryError("EMCore: no memory for the EM step's scratch")
        cdef double **slots[14]
        slots[:] = [&self.shift, &self.W, &self.G, &self.T, &self.ll, &self.nk, &self.s1, &self.s2, &self.nk_eps,
                    &self.cov0, &self.d, &self.a, &self.aU, &self.scratch]
        total = 0
        for j in range(14):
            slots[j][0] = self.buf + total
            total += sizes[j]

    def __dealloc__(self):
        free(self.buf)

    cdef int _ready(self) except -1:
        if self.buf == NULL:
            raise ValueError("EMCore: not initialised")
        return 0

    def load(self, int dst, weights, means, covariances, precisions_cholesky):
        """Copy parameters into set ``dst`` (the parameters of an iteration made on the Python path)."""
        self._ready()
        w, m, c, u = self.params[dst]
        w[...] = weights
        m[...] = means
        c[...] = covariances
        u[...] = precisions_cholesky

    def step(self, int src):
        """One EM iteration from set ``src`` into set ``1 - src``: the lower bound (the pass's weighted mean
        log-likelihood under set ``src``), or NaN when the Python path must repeat the iteration."""
        if src != 0 and src != 1:
            raise ValueError("EMCore.step: src must be 0 or 1")
        self._ready()
        cdef double lb
        with nogil:
            lb = self._step(src, 1 - src)
        return lb

    def score(self, int src):
        """The statistics pass under set ``src`` alone: ``(loglik, gw)``, the pass's sum of w_i log p(x_i) and
        ``sum_k G_k . W[:, k]`` over the components with rows, ``G_k = sum_i w_i r_ik f(x_i)``. Since
        ``f(x_i) . W[:, k] = log (pi_k p_k(x_i))``, ``gw - loglik = sum_i w_i sum_k r_ik log r_ik``: the
        entropy term of ICL without the N x K responsibilities. NaN for both when the pass fails."""
        if src != 0 and src != 1:
            raise ValueError("EMCore.score: src must be 0 or 1")
        self._ready()
        cdef Py_ssize_t k, p, K = self.K, P = self.P
        cdef double gw = 0.0
        cdef int status
        with nogil:
            status = self._pass(src)
            if status == 0:
                for k in range(K):
                    if self.G[k * P] > 0.0:      # no rows, no terms (and W may be -inf there)
                        for p in range(P):
                            gw = gw + self.G[k * P + p] * self.W[p * K + k]
        if status != 0:
            return NAN, NAN
        return self.ll[0], gw

    cdef int _pass(self, int src) noexcept nogil:
        """The coefficients under set ``src`` and the statistics pass over X into G, T and ll
        (fastgmm.families._gaussian_passes.gaussian_statistics): 0, or -1 without memory."""
        cdef Py_ssize_t K = self.K, D = self.D, P = self.P
        cdef double *w = &self.w_[src, 0]
        cdef double *mu = &self.mu_[src, 0]
        cdef double *pc = &self.pc_[src, 0]
        mixture_shift_c(K, D, w, mu, self.shift)
        linear_coefficients_c(self.kind, K, D, P, w, mu, pc, self.shift,
                              &self.pair_i[0] if self.n_pairs else NULL, &self.pair_j[0] if self.n_pairs else NULL,
                              &self.pair_scale[0] if self.n_pairs else NULL, self.n_pairs, self.W,
                              self.a, self.aU)
        memset(self.G, 0, K * P * sizeof(double))
        memset(self.T, 0, D * D * sizeof(double))
        self.ll[0] = 0.0
        return estep_statistics_f64(self.quad, self.N, D, K, P, self.xp, self.swp, self.shift,
                                    self.W, pc if self.kind == 1 else NULL, self.chunk_rows, self.slot_rows,
                                    self.n_slots, self.n_threads, self.G, self.T if self.kind == 1 else NULL,
                                    self.ll)

    def init_labels(self, const int64_t[::1] labels, const double[::1] shift):
        """The initial M-step from hard labels into set 0 (``fastgmm.families._gaussian_init``'s statistics of
        labels about ``shift``, the weighted mean of X, then ``GaussianMixture._initialize_gaussian``'s
        M-step: the model's, from mclust's own start, weights n_k / the total weight): True, or False when
        the Python path must make it (it raises)."""
        cdef Py_ssize_t K = self.K, D = self.D, i
        cdef int status
        self._ready()
        if labels.shape[0] != self.N or shift.shape[0] != D:
            raise ValueError("EMCore.init_labels: labels must have n_samples entries and shift n_features")
        for i in range(self.N):
            if not -1 <= labels[i] < K:
                raise ValueError(f"EMCore.init_labels: label {labels[i]} at row {i} is outside [-1, {K})")
        with nogil:
            memcpy(self.shift, &shift[0], D * sizeof(double))
            memset(self.G, 0, K * self.P * sizeof(double))
            memset(self.T, 0, D * D * sizeof(double))
            self.ll[0] = 0.0
            status = estep_statistics_f64(self.quad, self.N, D, K, self.P, self.xp, self.swp, self.shift, NULL,
                                          NULL, self.chunk_rows, self.slot_rows, self.n_slots, self.n_threads,
                                          self.G, self.T if self.kind == 1 else NULL, self.ll,
                                          &labels[0] if self.N else NULL)
            if status == 0:
                status = self._m_step(NULL, 0, False)
        return status == 0

    cdef double _step(self, int src, int dst) noexcept nogil:
        cdef double lb
        if self._pass(src) != 0:
            return NAN
        lb = self.ll[0] / self.weight
        if not isfinite(lb):            # check_finite_loglik raises
            return NAN
        if self._m_step(&self.cov_[src, 0] if self.warm else NULL, dst, True) != 0:
            return NAN
        return lb

    cdef int _m_step(self, const double *start, int dst, bint normalise) noexcept nogil:
        """From the pass's sums (G, T) to set ``dst``: unpacked, the model's M-step (``start``: the iterative
        models' previous covariances, or NULL for mclust's own start), the weights (over their sum when
        ``normalise``, else over the total weight), the finite check, the precision factors. 0, or -1 where
        the Python path must redo it."""
        cdef Py_ssize_t K = self.K, D = self.D, P = self.P, k, i, j, n, DD = D * D
        cdef Py_ssize_t size = DD if self.kind <= 1 else (D if self.kind == 2 else 1)
        cdef double *w2 = &self.w_[dst, 0]
        cdef double *mu2 = &self.mu_[dst, 0]
        cdef double *cov2 = &self.cov_[dst, 0]
        cdef double *pc2 = &self.pc_[dst, 0]
        cdef double *G = self.G
        cdef double *s2 = self.s2
        cdef double *T = self.T
        cdef double total
        # The sums unpacked (_gaussian.statistics_from_sums).
        for k in range(K):
            self.nk[k] = G[k * P]
            for i in range(D):
                self.s1[k * D + i] = G[k * P + 1 + i]
        if self.kind == 0:
            for k in range(K):
                for i in range(DD):
                    s2[k * DD + i] = G[k * P + D + 1 + self.unpack[i]]
        elif self.kind == 1:
            for i in range(D):          # np.tril(T) + np.tril(T, -1).T
                for j in range(D):
                    s2[i * D + j] = T[i * D + j] + 0.0 if j <= i else 0.0 + T[j * D + i]
        elif self.kind == 2:
            for k in range(K):
                for i in range(D):
                    s2[k * D + i] = G[k * P + D + 1 + i]
        else:
            for k in range(K):
                s2[k] = G[k * P + D + 1]
        # The M-step (_gaussian.model_m_step): scikit-learn's, or mclust's constrained one from its moments.
        if self.model < 0:
            gaussian_m_step_c(self.kind, K, D, self.nk, self.s1, s2, self.shift, self.eps,
                              self.reg_covar, NULL, self.nk_eps, mu2, cov2, self.d)
        else:
            gaussian_m_step_c(self.kind, K, D, self.nk, self.s1, s2, self.shift, self.eps, 0.0,
                              NULL, self.nk_eps, mu2, self.cov0, self.d)
            if constrained_step_c(self.model, self.nk_eps, self.cov0, K, D, True, self.reg_covar,
                                  self.tol, self.max_iter, start, self.empty_weight, cov2) < 0:
                return -1
        total = total_c(self.nk_eps, K) if normalise else self.weight
        for k in range(K):
            w2[k] = self.nk_eps[k] / total
        # _check_no_overflow, then _gaussian.precision_cholesky.
        n = self.Kc * size
        for i in range(K * D):
            if not isfinite(mu2[i]):
                return -1
        for i in range(n):
            if not isfinite(cov2[i]):
                return -1
        if self.kind <= 1:
            if precision_cholesky_c(<int> self.Kc, <int> D, cov2, pc2, self.scratch) >= 0:
                return -1
        else:
            for i in range(n):
                if not cov2[i] > 0.0:
                    return -1
                pc2[i] = 1.0 / sqrt(cov2[i])
        return 0
