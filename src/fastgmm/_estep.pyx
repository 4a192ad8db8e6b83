"""Fused E-step and sufficient-statistic kernels for Gaussian mixtures.

One pass over the data per EM iteration. For each chunk of rows the kernel
computes the weighted log-densities of every component, the per-row
log-sum-exp, the responsibilities, and adds the chunk's sufficient statistics
to the partial sums of the chunk's *slot*. Nothing of size N x K or N x D is
allocated: the per-thread scratch is a few chunk-sized buffers.

Statistics are centred so that no variance is a difference of large numbers:

* full, diag (and spherical, which runs as diag): about the current means,
  c_k = mu_k: ``nk[k] = sum_i r_ik``, ``s1[k] = sum_i r_ik (x_i - c_k)``,
  ``s2[k] = sum_i r_ik (x_i - c_k)(x_i - c_k)^T`` (full; lower triangle only)
  or ``sum_i r_ik (x_i - c_k)^2`` (diag);
* tied: about one shift vector c: ``s1[k] = sum_i r_ik (x_i - c)`` and
  ``s2 = sum_i (x_i - c)(x_i - c)^T`` (lower triangle).

Determinism: rows are cut into slots of ``slot_rows`` (a multiple of
``chunk_rows``) whose partial sums go to their own row of the output arrays;
a slot is processed by one thread, chunk after chunk, and the caller sums the
slots in slot order. Slot and chunk sizes never depend on the thread count,
so the statistics are bitwise identical for any ``n_threads``.

Sample weights, missing-value patterns and out-of-core sources fit this shape:
a weight multiplies r_ik in the statistics, a missingness pattern is a block of
rows with its own marginal parameters, and a chunk source calls these kernels
block by block and adds the slot sums.
"""

from cython cimport floating
from cython.parallel cimport prange, parallel
from libc.math cimport exp, log, expf, logf, sqrt, sqrtf, INFINITY
from libc.stdlib cimport malloc, calloc, free
from libc.stdint cimport int64_t

from ._blas cimport _trmm_right_upper, _syrk_gram
from ._chunk cimport _load_chunk_t, _sum_lanes, _dot_lanes, _centred_moments_lanes

# Covariance-type codes shared with fastgmm._em (spherical runs as DIAG with
# its precision broadcast over features).
cdef enum:
    _FULL = 0
    _TIED = 1
    _DIAG = 2

FULL = _FULL
TIED = _TIED
DIAG = _DIAG


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


# ---------------------------------------------------------------------------
# Weighted log-densities of one chunk: LP[k * n + i] = log w_k + log N(x_i | k)
# ---------------------------------------------------------------------------

cdef void _log_prob_full(
    const floating *XT,       # IN  (D, n) chunk, feature-major
    Py_ssize_t n, Py_ssize_t D, Py_ssize_t K,
    const floating *means,    # IN  (K, D)
    const floating *prec_chol,  # IN  (K, D, D) upper-triangular factors
    const double *log_norm,   # IN  (K,) log w_k + log det U_k - D/2 log(2 pi)
    floating *Z,              # SCRATCH (D, n)
    floating *LP,             # OUT (K, n)
) noexcept nogil:
    cdef Py_ssize_t k, d, i
    cdef floating m, z
    cdef floating *lpk
    cdef const floating *xd
    cdef floating *zd
    for k in range(K):
        for d in range(D):
            m = means[k * D + d]
            xd = XT + d * n
            zd = Z + d * n
            for i in range(n):
                zd[i] = xd[i] - m
        # Whitened residuals (x - mu_k) U_k: the Mahalanobis term is their
        # squared norm. TRMM: n * D^2 flops, half of a GEMM.
        _trmm_right_upper(<int> n, <int> D, prec_chol + k * D * D, Z)
        lpk = LP + k * n
        for i in range(n):
            lpk[i] = 0
        for d in range(D):
            zd = Z + d * n
            for i in range(n):
                z = zd[i]
                lpk[i] += z * z
        for i in range(n):
            lpk[i] = <floating> log_norm[k] - <floating> 0.5 * lpk[i]


cdef void _log_prob_tied(
    const floating *XT,       # IN  (D, n) chunk minus the shift c
    Py_ssize_t n, Py_ssize_t D, Py_ssize_t K,
    const floating *wmeans,   # IN  (K, D) whitened centred means (mu_k - c) U
    const floating *prec_chol,  # IN  (D, D)
    const double *log_norm,   # IN  (K,)
    floating *Z,              # SCRATCH (D, n)
    floating *LP,             # OUT (K, n)
) noexcept nogil:
    cdef Py_ssize_t k, d, i
    cdef floating b, z
    cdef floating *lpk
    cdef floating *zd
    for i in range(D * n):
        Z[i] = XT[i]
    _trmm_right_upper(<int> n, <int> D, prec_chol, Z)   # (x - c) U, once for all k
    for k in range(K):
        lpk = LP + k * n
        for i in range(n):
            lpk[i] = 0
        for d in range(D):
            b = wmeans[k * D + d]
            zd = Z + d * n
            for i in range(n):
                z = zd[i] - b
                lpk[i] += z * z
        for i in range(n):
            lpk[i] = <floating> log_norm[k] - <floating> 0.5 * lpk[i]


cdef void _log_prob_diag(
    const floating *XT,       # IN  (D, n)
    Py_ssize_t n, Py_ssize_t D, Py_ssize_t K,
    const floating *means,    # IN  (K, D)
    const floating *prec_chol,  # IN  (K, D) 1/sigma
    const double *log_norm,   # IN  (K,)
    floating *LP,             # OUT (K, n)
) noexcept nogil:
    cdef Py_ssize_t k, d, i
    cdef floating m, p, z
    cdef floating *lpk
    cdef const floating *xd
    for k in range(K):
        lpk = LP + k * n
        for i in range(n):
            lpk[i] = 0
        for d in range(D):
            m = means[k * D + d]
            p = prec_chol[k * D + d]
            xd = XT + d * n
            for i in range(n):
                z = (xd[i] - m) * p
                lpk[i] += z * z
        for i in range(n):
            lpk[i] = <floating> log_norm[k] - <floating> 0.5 * lpk[i]


cdef void _log_prob(
    int cov_type, const floating *XT, Py_ssize_t n, Py_ssize_t D, Py_ssize_t K,
    const floating *means, const floating *wmeans, const floating *prec_chol,
    const double *log_norm, floating *Z, floating *LP,
) noexcept nogil:
    if cov_type == _FULL:
        _log_prob_full(XT, n, D, K, means, prec_chol, log_norm, Z, LP)
    elif cov_type == _TIED:
        _log_prob_tied(XT, n, D, K, wmeans, prec_chol, log_norm, Z, LP)
    else:
        _log_prob_diag(XT, n, D, K, means, prec_chol, log_norm, LP)


cdef double _normalise(
    floating *LP,             # IN weighted log-probs, OUT responsibilities (K, n)
    Py_ssize_t n, Py_ssize_t K,
    floating *mx,             # SCRATCH (n,)
    floating *sm,             # SCRATCH (n,)
    double *row_ll,           # OUT (n,) log-likelihood of each row, or NULL
) noexcept nogil:
    """Per-row log-sum-exp, one exp per (row, component) and one log per row.

    Returns the sum of the rows' log-likelihoods (float64). A row that no
    component can produce (every log-prob is -inf) gets log-likelihood -inf
    and zero responsibilities; the caller reports it.
    """
    cdef Py_ssize_t k, i
    cdef floating e, v
    cdef floating *lpk
    cdef double total = 0.0, lse
    for i in range(n):
        mx[i] = LP[i]
    for k in range(1, K):
        lpk = LP + k * n
        for i in range(n):
            v = lpk[i]
            if v > mx[i]:
                mx[i] = v
    for i in range(n):
        sm[i] = 0
        if mx[i] == -INFINITY:
            mx[i] = 0      # every term is exp(-inf) = 0 below, never nan
    for k in range(K):
        lpk = LP + k * n
        for i in range(n):
            e = _exp(lpk[i] - mx[i])
            lpk[i] = e
            sm[i] += e
    for i in range(n):
        if sm[i] > 0:
            lse = <double> mx[i] + <double> _log(sm[i])
            sm[i] = 1 / sm[i]
        else:
            lse = -INFINITY
            sm[i] = 0
        total += lse
        if row_ll != NULL:
            row_ll[i] = lse
    for k in range(K):
        lpk = LP + k * n
        for i in range(n):
            lpk[i] *= sm[i]
    return total


# ---------------------------------------------------------------------------
# Sufficient statistics of one chunk, added to its slot's partial sums
# ---------------------------------------------------------------------------

cdef void _add_lower(const floating *C, double *out, Py_ssize_t D) noexcept nogil:
    """out += the lower triangle (row-major) of C, diagonal included."""
    cdef Py_ssize_t a, b
    for a in range(D):
        for b in range(a + 1):
            out[a * D + b] += <double> C[a * D + b]


cdef void _stats_full(
    const floating *XT, Py_ssize_t n, Py_ssize_t D, Py_ssize_t K,
    const floating *means,    # IN  (K, D) the centres c_k
    const floating *R,        # IN  (K, n) responsibilities
    floating *Z,              # SCRATCH (D, n)
    floating *sr,             # SCRATCH (n,)
    floating *C,              # SCRATCH (D, D), upper row-major triangle kept 0
    double *nk, double *s1, double *s2,   # OUT slot partials (K,), (K, D), (K, D, D)
) noexcept nogil:
    cdef Py_ssize_t k, d, i
    cdef floating m
    cdef const floating *rk
    cdef const floating *xd
    cdef floating *zd
    cdef double w
    for k in range(K):
        rk = R + k * n
        w = _sum_lanes(rk, n)
        nk[k] += w
        if w == 0:
            continue
        for i in range(n):
            sr[i] = _sqrt(rk[i])
        for d in range(D):
            m = means[k * D + d]
            xd = XT + d * n
            zd = Z + d * n
            for i in range(n):
                zd[i] = xd[i] - m
            s1[k * D + d] += _dot_lanes(rk, zd, n)
            for i in range(n):
                zd[i] *= sr[i]
        # sum_i r_ik z_i z_i^T as (sqrt(r) Z)^T (sqrt(r) Z): SYRK, n * D^2 flops.
        _syrk_gram(<int> n, <int> D, Z, C)
        _add_lower(C, s2 + k * D * D, D)


cdef void _stats_tied(
    const floating *XT,       # IN  (D, n) chunk minus the shift c
    Py_ssize_t n, Py_ssize_t D, Py_ssize_t K,
    const floating *R,        # IN  (K, n)
    double *XTd,              # SCRATCH (D, n) float64 copy of XT (float32 data only)
    double *Cd,               # SCRATCH (D, D) float64, upper row-major triangle kept 0
    double *nk, double *s1, double *s2,   # OUT (K,), (K, D), (D, D)
) noexcept nogil:
    cdef Py_ssize_t k, d, i
    cdef const floating *rk
    cdef double w
    for k in range(K):
        rk = R + k * n
        w = _sum_lanes(rk, n)
        nk[k] += w
        if w == 0:
            continue
        for d in range(D):
            s1[k * D + d] += _dot_lanes(rk, XT + d * n, n)
    # The tied scatter needs no responsibilities: sum_i (x_i - c)(x_i - c)^T.
    # The M-step subtracts the between-component scatter from it, so it is
    # formed in float64 even for float32 data (one D x D SYRK per chunk).
    if floating is float:
        for i in range(D * n):
            XTd[i] = XT[i]
        _syrk_gram(<int> n, <int> D, <const double *> XTd, Cd)
    else:
        _syrk_gram(<int> n, <int> D, XT, Cd)
    _add_lower(Cd, s2, D)


cdef void _stats_diag(
    const floating *XT, Py_ssize_t n, Py_ssize_t D, Py_ssize_t K,
    const floating *means,    # IN  (K, D) the centres c_k
    const floating *R,        # IN  (K, n)
    double *nk, double *s1, double *s2,   # OUT (K,), (K, D), (K, D)
) noexcept nogil:
    cdef Py_ssize_t k, d
    cdef const floating *rk
    cdef double w, m1, m2
    for k in range(K):
        rk = R + k * n
        w = _sum_lanes(rk, n)
        nk[k] += w
        if w == 0:
            continue
        for d in range(D):
            _centred_moments_lanes(rk, XT + d * n, means[k * D + d], n, &m1, &m2)
            s1[k * D + d] += m1
            s2[k * D + d] += m2


cdef void _whiten_means(
    const floating *means, const floating *shift, const floating *U,
    Py_ssize_t D, Py_ssize_t K, floating *out,   # OUT (K, D): (mu_k - c) U
) noexcept nogil:
    cdef Py_ssize_t k, a, b
    cdef double acc
    for k in range(K):
        for b in range(D):
            acc = 0.0
            for a in range(b + 1):
                acc += (<double> means[k * D + a] - <double> shift[a]) * <double> U[a * D + b]
            out[k * D + b] = <floating> acc


cdef inline Py_ssize_t _min(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


def _check_type(int cov_type):
    if cov_type not in (_FULL, _TIED, _DIAG):
        raise ValueError(f"unknown covariance type code {cov_type}")


def _prec_size(int cov_type, Py_ssize_t K, Py_ssize_t D):
    if cov_type == _FULL:
        return K * D * D
    if cov_type == _TIED:
        return D * D
    return K * D


def accumulate_statistics(
    const floating[:, ::1] X,           # IN  (n_samples, n_features)
    int cov_type,                       # IN  FULL, TIED or DIAG
    const floating[:, ::1] means,       # IN  (K, D) current means (= centres of the statistics)
    const floating[::1] prec_chol,      # IN  flat precision Cholesky factors (full K*D*D, tied D*D, diag K*D)
    const double[::1] log_norm,         # IN  (K,) log w_k + log det U_k - D/2 log(2 pi)
    const floating[::1] shift,          # IN  (D,) centre of the tied statistics (ignored otherwise)
    const floating[:, ::1] resp,        # IN  (n_samples, K) given responsibilities, or None
    const int64_t[::1] labels,          # IN  (n_samples,) hard assignments (-1: none), or None
    Py_ssize_t chunk_rows,              # IN  rows per chunk
    Py_ssize_t slot_rows,               # IN  rows per slot, a multiple of chunk_rows
    double[:, ::1] nk_out,              # OUT (n_slots, K)
    double[:, ::1] s1_out,              # OUT (n_slots, K * D)
    double[:, ::1] s2_out,              # OUT (n_slots, K*D*D | D*D | K*D)
    double[::1] ll_out,                 # OUT (n_slots,) sum of row log-likelihoods
    int n_threads,                      # IN
):
    """Add one pass of EM statistics over X to per-slot partial sums.

    The outputs must be zero-filled by the caller, with
    ``n_slots = ceil(n_samples / slot_rows)``. With ``resp`` or ``labels``
    given, the E-step is skipped and those responsibilities are used
    (initialisation from random responsibilities or from k-means labels, a
    label of -1 meaning the row belongs to no component); ``ll_out`` then
    stays 0.

    Returns -1 if scratch memory could not be allocated, else 0. A row that
    no component can produce makes its slot's ``ll_out`` -inf.
    """
    cdef Py_ssize_t N = X.shape[0], D = X.shape[1], K = means.shape[0]
    cdef Py_ssize_t n_slots = nk_out.shape[0]
    _check_type(cov_type)
    if means.shape[1] != D or log_norm.shape[0] != K or shift.shape[0] != D:
        raise ValueError("parameter shapes do not match the data")
    if prec_chol.shape[0] != _prec_size(cov_type, K, D):
        raise ValueError("prec_chol has the wrong size for this covariance type")
    if chunk_rows < 1 or slot_rows < chunk_rows or slot_rows % chunk_rows:
        raise ValueError("slot_rows must be a positive multiple of chunk_rows")
    if n_slots != (N + slot_rows - 1) // slot_rows or ll_out.shape[0] != n_slots:
        raise ValueError("n_slots does not match the data and slot_rows")
    s2_size = {_FULL: K * D * D, _TIED: D * D, _DIAG: K * D}[cov_type]
    if (nk_out.shape[1] != K or s1_out.shape[0] != n_slots or s1_out.shape[1] != K * D
            or s2_out.shape[0] != n_slots or s2_out.shape[1] != s2_size):
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
    cdef const floating *mp = &means[0, 0]
    cdef const floating *pp = &prec_chol[0]
    cdef const double *lnp = &log_norm[0]
    cdef const floating *shp = &shift[0]
    cdef const floating *rp = NULL
    cdef const int64_t *lbp = NULL
    if have_resp:
        rp = &resp[0, 0]
    if have_labels:
        lbp = &labels[0]
    cdef double *nkp = &nk_out[0, 0]
    cdef double *s1p = &s1_out[0, 0]
    cdef double *s2p = &s2_out[0, 0]
    cdef double *llp = &ll_out[0]

    cdef int status[1]           # allocation failure in any thread
    status[0] = 0
    cdef Py_ssize_t s, r0, r_end, n, i, k
    cdef floating *XT
    cdef floating *Z
    cdef floating *LP
    cdef floating *mx
    cdef floating *sm
    cdef floating *C
    cdef floating *wmeans
    cdef double *XTd
    cdef double *Cd
    cdef bint ok
    cdef bint tied_f32 = cov_type == _TIED and floating is float

    with nogil, parallel(num_threads=n_threads):
        XT = <floating *> malloc(chunk_rows * D * sizeof(floating))
        Z = <floating *> malloc(chunk_rows * D * sizeof(floating))
        LP = <floating *> malloc(chunk_rows * K * sizeof(floating))
        mx = <floating *> malloc(chunk_rows * sizeof(floating))
        sm = <floating *> malloc(chunk_rows * sizeof(floating))
        C = <floating *> calloc(D * D, sizeof(floating))
        wmeans = <floating *> malloc(K * D * sizeof(floating))
        XTd = <double *> malloc((chunk_rows * D if tied_f32 else 1) * sizeof(double))
        Cd = <double *> calloc(D * D, sizeof(double))
        ok = (XT != NULL and Z != NULL and LP != NULL and mx != NULL and sm != NULL
              and C != NULL and wmeans != NULL and XTd != NULL and Cd != NULL)
        if not ok:
            status[0] = 1
        elif cov_type == _TIED:
            _whiten_means(mp, shp, pp, D, K, wmeans)

        for s in prange(n_slots, schedule='dynamic'):
            if ok:
                r0 = s * slot_rows
                r_end = _min(N, r0 + slot_rows)
                while r0 < r_end:
                    n = _min(chunk_rows, r_end - r0)
                    _load_chunk_t(Xp + r0 * D, n, D, shp if cov_type == _TIED else NULL, XT)
                    if have_resp:
                        for k in range(K):
                            for i in range(n):
                                LP[k * n + i] = rp[(r0 + i) * K + k]
                    elif have_labels:
                        for k in range(K):
                            for i in range(n):
                                LP[k * n + i] = 1 if lbp[r0 + i] == k else 0
                    else:
                        _log_prob(cov_type, XT, n, D, K, mp, wmeans, pp, lnp, Z, LP)
                        llp[s] += _normalise(LP, n, K, mx, sm, NULL)
                    if cov_type == _FULL:
                        _stats_full(XT, n, D, K, mp, LP, Z, sm, C,
                                    nkp + s * K, s1p + s * K * D, s2p + s * K * D * D)
                    elif cov_type == _TIED:
                        _stats_tied(XT, n, D, K, LP, XTd, Cd,
                                    nkp + s * K, s1p + s * K * D, s2p + s * D * D)
                    else:
                        _stats_diag(XT, n, D, K, mp, LP,
                                    nkp + s * K, s1p + s * K * D, s2p + s * K * D)
                    r0 = r0 + n

        free(XT)
        free(Z)
        free(LP)
        free(mx)
        free(sm)
        free(C)
        free(wmeans)
        free(XTd)
        free(Cd)

    return -1 if status[0] else 0


def estimate(
    const floating[:, ::1] X,           # IN  (n_samples, n_features)
    int cov_type,                       # IN
    const floating[:, ::1] means,       # IN  (K, D)
    const floating[::1] prec_chol,      # IN  flat
    const double[::1] log_norm,         # IN  (K,)
    const floating[::1] shift,          # IN  (D,) any finite centre for tied (accuracy only)
    Py_ssize_t chunk_rows,              # IN
    double[::1] row_ll,                 # OUT (n_samples,) per-row log-likelihood, or None
    int64_t[::1] labels,                # OUT (n_samples,) most probable component, or None
    floating[:, ::1] resp,              # OUT (n_samples, K) responsibilities, or None
    double[::1] chunk_ll,               # OUT (n_chunks,) sum of the log-likelihoods of each chunk, or None
    int n_threads,                      # IN
):
    """E-step outputs for prediction: per-row log-likelihood, labels, responsibilities.

    Only the requested outputs are written; no other N-sized memory is used.
    Labels are the argmax of the weighted log-densities (the first on ties).
    Returns -1 if scratch memory could not be allocated, else 0.
    """
    cdef Py_ssize_t N = X.shape[0], D = X.shape[1], K = means.shape[0]
    _check_type(cov_type)
    if means.shape[1] != D or log_norm.shape[0] != K or shift.shape[0] != D:
        raise ValueError("parameter shapes do not match the data")
    if prec_chol.shape[0] != _prec_size(cov_type, K, D):
        raise ValueError("prec_chol has the wrong size for this covariance type")
    cdef bint want_ll = row_ll is not None
    cdef bint want_labels = labels is not None
    cdef bint want_resp = resp is not None
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
    cdef bint want_sum = chunk_ll is not None
    if want_sum and chunk_ll.shape[0] != n_chunks:
        raise ValueError("chunk_ll must have ceil(n_samples / chunk_rows) entries")
    n_threads = <int> _min(n_threads, n_chunks)
    cdef double *csp = NULL
    if want_sum:
        csp = &chunk_ll[0]

    cdef const floating *Xp = &X[0, 0]
    cdef const floating *mp = &means[0, 0]
    cdef const floating *pp = &prec_chol[0]
    cdef const double *lnp = &log_norm[0]
    cdef const floating *shp = &shift[0]
    cdef double *llp = NULL
    cdef int64_t *lbp = NULL
    cdef floating *rsp = NULL
    if want_ll:
        llp = &row_ll[0]
    if want_labels:
        lbp = &labels[0]
    if want_resp:
        rsp = &resp[0, 0]

    cdef int status[1]
    status[0] = 0
    cdef Py_ssize_t c, r0, n, i, k, best
    cdef floating *XT
    cdef floating *Z
    cdef floating *LP
    cdef floating *mx
    cdef floating *sm
    cdef floating *wmeans
    cdef floating v, vbest
    cdef double total
    cdef bint ok

    with nogil, parallel(num_threads=n_threads):
        XT = <floating *> malloc(chunk_rows * D * sizeof(floating))
        Z = <floating *> malloc(chunk_rows * D * sizeof(floating))
        LP = <floating *> malloc(chunk_rows * K * sizeof(floating))
        mx = <floating *> malloc(chunk_rows * sizeof(floating))
        sm = <floating *> malloc(chunk_rows * sizeof(floating))
        wmeans = <floating *> malloc(K * D * sizeof(floating))
        ok = (XT != NULL and Z != NULL and LP != NULL and mx != NULL and sm != NULL
              and wmeans != NULL)
        if not ok:
            status[0] = 1
        elif cov_type == _TIED:
            _whiten_means(mp, shp, pp, D, K, wmeans)

        for c in prange(n_chunks, schedule='static'):
            if ok:
                r0 = c * chunk_rows
                n = _min(chunk_rows, N - r0)
                _load_chunk_t(Xp + r0 * D, n, D, shp if cov_type == _TIED else NULL, XT)
                _log_prob(cov_type, XT, n, D, K, mp, wmeans, pp, lnp, Z, LP)
                if want_labels:
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

        free(XT)
        free(Z)
        free(LP)
        free(mx)
        free(sm)
        free(wmeans)

    return -1 if status[0] else 0
