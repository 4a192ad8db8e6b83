"""Fused E-step and sufficient-statistic kernels for Gaussian mixtures.

One pass over the data per EM iteration, in chunks of rows, with two GEMMs
per chunk whatever the covariance type.

Every row x is described about a shift c (the mixture's mean, so that the
numbers stay small) by a feature vector

    f(x) = [1, z, q(z)],   z = x - c,

whose quadratic part q depends on the covariance type: every product z_d z_e
once (full, in the order of fastgmm._em.full_pairs), z**2 (diag), |z|^2
(spherical) or |z U|^2 with the shared precision factor U (tied). Each
component's weighted log-density is linear in f: log w_k + log N(x | k) =
f(x) . W[:, k], with W (P x K) built from the parameters by the caller
(fastgmm._em). So, per chunk of n rows (features row-major, built straight
from the rows of X; log-densities feature-major, K x n):

1. F (n x P) from the rows;                              O(n P)
2. LP = F W (n x K): weighted log-densities;             one GEMM, 2 n P K flops
3. one log-sum-exp per row, responsibilities R = softmax(LP) in place;
4. G += R^T F (K x P): every sufficient statistic at once (sum r, sum r z,
   sum r q(z)) in float64;                               one GEMM, 2 n P K flops
   (tied also adds Z^T Z, one SYRK).

For float32 data the E-step GEMM runs in float32 and the statistics GEMM in
float64 from a float64 feature copy, so variances computed from the
statistics never suffer float32 cancellation. Nothing of size N x K or N x D
is allocated: the per-thread scratch is a few chunk-sized buffers.

Determinism: rows are cut into slots of ``slot_rows`` (a multiple of
``chunk_rows``) whose partial sums go to their own row of the outputs; one
thread processes a slot, chunk after chunk, and the caller adds the slots in
slot order. Slot and chunk sizes never depend on the thread count, so results
are bitwise identical for any ``n_threads``.

Sample weights, missing-value patterns and out-of-core sources fit this shape:
a weight scales a row of R before step 4; a missingness pattern is a block of
rows with its own marginal W; a chunk source calls these kernels block by
block and adds the slot sums.
"""

from cython cimport floating
from cython.parallel cimport prange, parallel
from libc.stdlib cimport malloc, calloc, free
from libc.stdint cimport int64_t

from ._blas cimport _gemm_f_w, _gemm_ft_r, _trmm_rows_upper, _syrk_gram


cdef extern from "_rowops.h" nogil:
    void fastgmm_features_dd(const double *X, Py_ssize_t n, Py_ssize_t D, const double *c,
                             int quad, double *F, Py_ssize_t P, double *zz)
    void fastgmm_features_ff(const float *X, Py_ssize_t n, Py_ssize_t D, const double *c,
                             int quad, float *F, Py_ssize_t P, float *zz)
    void fastgmm_features_fd(const float *X, Py_ssize_t n, Py_ssize_t D, const double *c,
                             int quad, double *F, Py_ssize_t P, double *zz)
    void fastgmm_tied_q_d(const double *Y, Py_ssize_t n, Py_ssize_t D, double *F, Py_ssize_t P)
    void fastgmm_tied_q_f(const float *Y, Py_ssize_t n, Py_ssize_t D, float *F, Py_ssize_t P)
    void fastgmm_fix_d(double *lp, Py_ssize_t m)
    void fastgmm_fix_f(float *lp, Py_ssize_t m)
    double fastgmm_normalise_d(double *lp, Py_ssize_t n, Py_ssize_t K, double *mx, double *sm,
                               double *row_ll)
    double fastgmm_normalise_f(float *lp, Py_ssize_t n, Py_ssize_t K, float *mx, float *sm,
                               double *row_ll)


# Quadratic-feature codes shared with fastgmm._em (and _rowops.h).
cdef enum:
    _QFULL = 0        # z_d z_e, each pair once (order: _rowops.h): D (D + 1) / 2 features
    _QDIAG = 1        # z_d^2: D features
    _QSPHERICAL = 2   # |z|^2: 1 feature
    _QTIED = 3        # |z U|^2: 1 feature

QFULL = _QFULL
QDIAG = _QDIAG
QSPHERICAL = _QSPHERICAL
QTIED = _QTIED


def n_features_out(int quad, Py_ssize_t D):
    """Length P of the feature vector [1, z, q(z)]."""
    if quad == _QFULL:
        return 1 + D + D * (D + 1) // 2
    if quad == _QDIAG:
        return 1 + 2 * D
    if quad in (_QSPHERICAL, _QTIED):
        return 2 + D
    raise ValueError(f"unknown quadratic-feature code {quad}")


cdef inline Py_ssize_t _min(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _max(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


# ---------------------------------------------------------------------------
# Per-chunk building blocks (the loops themselves are in _rowops.h)
# ---------------------------------------------------------------------------

cdef inline void _features(
    int quad, bint with_tied_q,
    const floating *X,        # IN  (n, D) row-major rows of the chunk
    Py_ssize_t n, Py_ssize_t D,
    const double *c,          # IN  (D,) shift
    const floating *U,        # IN  (D, D) tied precision factor (used if with_tied_q)
    floating *F,              # OUT (n, P) row-major features [1, z, q(z)]
    Py_ssize_t P,
    floating *Y,              # SCRATCH (max(n, 2), D): 2 D values for full, n x D for tied
) noexcept nogil:
    """The E-step's features. For tied, q = |z U|^2 only if with_tied_q (the
    statistics never need it, and without it U is not read)."""
    cdef Py_ssize_t i, d
    if floating is float:
        fastgmm_features_ff(X, n, D, c, quad, F, P, Y)
    else:
        fastgmm_features_dd(X, n, D, c, quad, F, P, Y)
    if quad == _QTIED and with_tied_q:
        for i in range(n):
            for d in range(D):
                Y[i * D + d] = F[i * P + 1 + d]
        _trmm_rows_upper(<int> n, <int> D, U, Y)
        if floating is float:
            fastgmm_tied_q_f(Y, n, D, F, P)
        else:
            fastgmm_tied_q_d(Y, n, D, F, P)


cdef inline double _normalise(
    floating *LP,             # IN weighted log-probs, OUT responsibilities (K, n)
    Py_ssize_t n, Py_ssize_t K,
    floating *mx,             # SCRATCH (n,)
    floating *sm,             # SCRATCH (n,)
    double *row_ll,           # OUT (n,) log-likelihood of each row, or NULL
) noexcept nogil:
    """Per-row log-sum-exp (see _rowops.h); returns the sum of the rows'
    log-likelihoods. A row that no component can produce gets -inf and zero
    responsibilities; the caller reports it."""
    if floating is float:
        return fastgmm_normalise_f(LP, n, K, mx, sm, row_ll)
    else:
        return fastgmm_normalise_d(LP, n, K, mx, sm, row_ll)


cdef void _add_lower(const double *C, double *out, Py_ssize_t D) noexcept nogil:
    """out += the lower triangle (row-major) of C, diagonal included."""
    cdef Py_ssize_t a, b
    for a in range(D):
        for b in range(a + 1):
            out[a * D + b] += C[a * D + b]


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------

def _check_common(X, shift, W, U, int quad):
    N, D = X.shape[0], X.shape[1]
    P = n_features_out(quad, D)
    if shift.shape[0] != D:
        raise ValueError("shift must have n_features entries")
    if W.shape[0] != P:
        raise ValueError(f"W must have {P} rows (features) for this covariance type")
    if quad == _QTIED and (U.shape[0] != D or U.shape[1] != D):
        raise ValueError("U must be (n_features, n_features) for tied covariances")
    return P


def accumulate_statistics(
    const floating[:, ::1] X,           # IN  (n_samples, n_features)
    int quad,                           # IN  QFULL, QDIAG, QSPHERICAL or QTIED
    const double[::1] shift,            # IN  (D,) c: features are of z = x - c
    const floating[:, ::1] W,           # IN  (P, K) log w_k + log N(x | k) = f(x) . W[:, k]
    const floating[:, ::1] U,           # IN  (D, D) tied precision factor (else any (1, 1))
    const floating[:, ::1] resp,        # IN  (n_samples, K) given responsibilities, or None
    const int64_t[::1] labels,          # IN  (n_samples,) hard assignments (-1: none), or None
    Py_ssize_t chunk_rows,              # IN  rows per chunk
    Py_ssize_t slot_rows,               # IN  rows per slot, a multiple of chunk_rows
    double[:, ::1] G_out,               # OUT (n_slots, K * P) sum_i r_ik f(x_i), row-major K x P per slot
    double[:, ::1] T_out,               # OUT (n_slots, D * D) tied: sum_i z_i z_i^T (lower triangle); else (n_slots, 0)
    double[::1] ll_out,                 # OUT (n_slots,) sum of row log-likelihoods
    int n_threads,                      # IN
):
    """Add one pass of EM statistics over X to per-slot partial sums.

    The outputs must be zero-filled by the caller, with
    ``n_slots = ceil(n_samples / slot_rows)``. With ``resp`` or ``labels``
    given the E-step is skipped and those responsibilities are used
    (initialisation; a label of -1 means the row belongs to no component);
    ``ll_out`` then stays 0. Returns -1 if scratch memory could not be
    allocated, else 0. A row that no component can produce makes its slot's
    ``ll_out`` -inf.
    """
    cdef Py_ssize_t N = X.shape[0], D = X.shape[1], K = W.shape[1]
    cdef Py_ssize_t n_slots = G_out.shape[0]
    cdef Py_ssize_t P = _check_common(X, shift, W, U, quad)
    cdef bint tied = quad == _QTIED
    if chunk_rows < 1 or slot_rows < chunk_rows or slot_rows % chunk_rows:
        raise ValueError("slot_rows must be a positive multiple of chunk_rows")
    if n_slots != (N + slot_rows - 1) // slot_rows or ll_out.shape[0] != n_slots:
        raise ValueError("n_slots does not match the data and slot_rows")
    if (G_out.shape[1] != K * P or T_out.shape[0] != n_slots
            or T_out.shape[1] != (D * D if tied else 0)):
        raise ValueError("output shapes do not match")
    cdef bint have_resp = resp is not None
    cdef bint have_labels = labels is not None
    if have_resp and have_labels:
        raise ValueError("give resp or labels, not both")
    if have_resp and (resp.shape[0] != N or resp.shape[1] != K):
        raise ValueError("resp must have shape (n_samples, n_components)")
    if have_labels and labels.shape[0] != N:
        raise ValueError("labels must have n_samples entries")
    if N == 0:
        return 0
    if n_threads < 1:
        raise ValueError("n_threads must be >= 1")
    n_threads = <int> _min(n_threads, n_slots)

    cdef const floating *Xp = &X[0, 0]
    cdef const double *cp = &shift[0]
    cdef const floating *Wp = &W[0, 0]
    cdef const floating *Up = &U[0, 0]
    cdef const floating *rp = NULL
    cdef const int64_t *lbp = NULL
    if have_resp:
        rp = &resp[0, 0]
    if have_labels:
        lbp = &labels[0]
    cdef double *Gp = &G_out[0, 0]
    cdef double *Tp = NULL
    if tied:
        Tp = &T_out[0, 0]
    cdef double *llp = &ll_out[0]
    cdef bint f32 = floating is float

    cdef int status[1]           # allocation failure in any thread
    status[0] = 0
    cdef Py_ssize_t s, r0, r_end, n, i, k
    cdef floating *F
    cdef floating *Y
    cdef floating *LP
    cdef floating *mx
    cdef floating *sm
    cdef double *F64
    cdef double *R64
    cdef double *ZZ64
    cdef double *Cd
    cdef bint ok

    with nogil, parallel(num_threads=n_threads):
        F = <floating *> malloc(chunk_rows * P * sizeof(floating))
        Y = <floating *> malloc(_max(chunk_rows, 2) * D * sizeof(floating))
        LP = <floating *> malloc(chunk_rows * K * sizeof(floating))
        mx = <floating *> malloc(chunk_rows * sizeof(floating))
        sm = <floating *> malloc(chunk_rows * sizeof(floating))
        # float32 data: the statistics come from a float64 copy of the features.
        F64 = <double *> malloc((chunk_rows * P if f32 else 1) * sizeof(double))
        R64 = <double *> malloc((chunk_rows * K if f32 else 1) * sizeof(double))
        ZZ64 = <double *> malloc((2 * D if f32 else 1) * sizeof(double))
        Cd = <double *> calloc(D * D, sizeof(double))
        ok = (F != NULL and Y != NULL and LP != NULL and mx != NULL and sm != NULL
              and F64 != NULL and R64 != NULL and ZZ64 != NULL and Cd != NULL)
        if not ok:
            status[0] = 1

        for s in prange(n_slots, schedule='dynamic'):
            if ok:
                r0 = s * slot_rows
                r_end = _min(N, r0 + slot_rows)
                while r0 < r_end:
                    n = _min(chunk_rows, r_end - r0)
                    # 1. responsibilities: given, or the E-step's
                    if have_resp or have_labels:
                        if floating is double:
                            _features(quad, False, Xp + r0 * D, n, D, cp, Up, F, P, Y)
                        if have_resp:
                            for k in range(K):
                                for i in range(n):
                                    LP[k * n + i] = rp[(r0 + i) * K + k]
                        else:
                            for k in range(K):
                                for i in range(n):
                                    LP[k * n + i] = 1 if lbp[r0 + i] == k else 0
                    else:
                        _features(quad, True, Xp + r0 * D, n, D, cp, Up, F, P, Y)
                        _gemm_f_w(<int> n, <int> P, <int> K, F, Wp, LP)
                        llp[s] += _normalise(LP, n, K, mx, sm, NULL)
                    # 2. statistics, in float64 (float32 data: from float64 features)
                    if floating is float:
                        fastgmm_features_fd(Xp + r0 * D, n, D, cp, quad, F64, P, ZZ64)
                        for i in range(K * n):
                            R64[i] = LP[i]
                        _gemm_ft_r(<int> n, <int> P, <int> K, F64, R64, Gp + s * K * P)
                        if tied:
                            _syrk_gram(<int> n, <int> D, F64 + 1, <int> P, Cd)
                    else:
                        _gemm_ft_r(<int> n, <int> P, <int> K, <double *> F, <double *> LP, Gp + s * K * P)
                        if tied:
                            _syrk_gram(<int> n, <int> D, <double *> F + 1, <int> P, Cd)
                    if tied:
                        _add_lower(Cd, Tp + s * D * D, D)
                    r0 = r0 + n

        free(F)
        free(Y)
        free(LP)
        free(mx)
        free(sm)
        free(F64)
        free(R64)
        free(ZZ64)
        free(Cd)

    return -1 if status[0] else 0


def estimate(
    const floating[:, ::1] X,           # IN  (n_samples, n_features)
    int quad,                           # IN
    const double[::1] shift,            # IN  (D,)
    const floating[:, ::1] W,           # IN  (P, K)
    const floating[:, ::1] U,           # IN  (D, D) tied factor (else any (1, 1))
    Py_ssize_t chunk_rows,              # IN
    double[::1] row_ll,                 # OUT (n_samples,) per-row log-likelihood, or None
    int64_t[::1] labels,                # OUT (n_samples,) most probable component, or None
    floating[:, ::1] resp,              # OUT (n_samples, K) responsibilities, or None
    double[::1] chunk_ll,               # OUT (n_chunks,) per-chunk sums of log-likelihoods, or None
    int n_threads,                      # IN
):
    """E-step outputs for prediction: per-row log-likelihood, labels, responsibilities.

    Only the requested outputs are written; no other N-sized memory is used.
    Labels are the argmax of the weighted log-densities (the first on ties).
    Returns -1 if scratch memory could not be allocated, else 0.
    """
    cdef Py_ssize_t N = X.shape[0], D = X.shape[1], K = W.shape[1]
    cdef Py_ssize_t P = _check_common(X, shift, W, U, quad)
    cdef bint want_ll = row_ll is not None
    cdef bint want_labels = labels is not None
    cdef bint want_resp = resp is not None
    cdef bint want_sum = chunk_ll is not None
    if want_ll and row_ll.shape[0] != N:
        raise ValueError("row_ll must have n_samples entries")
    if want_labels and labels.shape[0] != N:
        raise ValueError("labels must have n_samples entries")
    if want_resp and (resp.shape[0] != N or resp.shape[1] != K):
        raise ValueError("resp must have shape (n_samples, n_components)")
    if N == 0:
        return 0
    if chunk_rows < 1 or n_threads < 1:
        raise ValueError("chunk_rows and n_threads must be >= 1")
    cdef Py_ssize_t n_chunks = (N + chunk_rows - 1) // chunk_rows
    if want_sum and chunk_ll.shape[0] != n_chunks:
        raise ValueError("chunk_ll must have ceil(n_samples / chunk_rows) entries")
    n_threads = <int> _min(n_threads, n_chunks)

    cdef const floating *Xp = &X[0, 0]
    cdef const double *cp = &shift[0]
    cdef const floating *Wp = &W[0, 0]
    cdef const floating *Up = &U[0, 0]
    cdef double *llp = NULL
    cdef int64_t *lbp = NULL
    cdef floating *rsp = NULL
    cdef double *csp = NULL
    if want_ll:
        llp = &row_ll[0]
    if want_labels:
        lbp = &labels[0]
    if want_resp:
        rsp = &resp[0, 0]
    if want_sum:
        csp = &chunk_ll[0]

    cdef int status[1]
    status[0] = 0
    cdef Py_ssize_t c, r0, n, i, k, best
    cdef floating *F
    cdef floating *Y
    cdef floating *LP
    cdef floating *mx
    cdef floating *sm
    cdef floating v, vbest
    cdef double total
    cdef bint ok

    with nogil, parallel(num_threads=n_threads):
        F = <floating *> malloc(chunk_rows * P * sizeof(floating))
        Y = <floating *> malloc(_max(chunk_rows, 2) * D * sizeof(floating))
        LP = <floating *> malloc(chunk_rows * K * sizeof(floating))
        mx = <floating *> malloc(chunk_rows * sizeof(floating))
        sm = <floating *> malloc(chunk_rows * sizeof(floating))
        ok = F != NULL and Y != NULL and LP != NULL and mx != NULL and sm != NULL
        if not ok:
            status[0] = 1

        for c in prange(n_chunks, schedule='static'):
            if ok:
                r0 = c * chunk_rows
                n = _min(chunk_rows, N - r0)
                _features(quad, True, Xp + r0 * D, n, D, cp, Up, F, P, Y)
                _gemm_f_w(<int> n, <int> P, <int> K, F, Wp, LP)
                if want_labels:
                    if floating is float:
                        fastgmm_fix_f(LP, n * K)
                    else:
                        fastgmm_fix_d(LP, n * K)
                    for i in range(n):
                        best = 0
                        vbest = LP[i]
                        for k in range(1, K):
                            v = LP[k * n + i]
                            if v > vbest:
                                vbest = v
                                best = k
                        lbp[r0 + i] = best
                if want_ll or want_resp or want_sum:
                    total = _normalise(LP, n, K, mx, sm, llp + r0 if want_ll else NULL)
                    if want_sum:
                        csp[c] = total
                    if want_resp:
                        for i in range(n):
                            for k in range(K):
                                rsp[(r0 + i) * K + k] = LP[k * n + i]

        free(F)
        free(Y)
        free(LP)
        free(mx)
        free(sm)

    return -1 if status[0] else 0
