"""Fused E-step and sufficient-statistic kernel of the Student-t mixture.

The Gaussian kernel (fastgmm._estep) gets each component's log-density from
one GEMM because it is linear in the row's features f(x) = [1, z, q(z)]. A
multivariate t density is not, but its Mahalanobis distance is:

    delta_ik = (x_i - mu_k)^T Sigma_k^-1 (x_i - mu_k) = f(x_i) . W[:, k]

with W (P x K) built from the parameters by the caller
(fastgmm._families._studentt). So, per chunk of n rows:

1. F (n x P) from the rows (the feature builders of _rowops.h);   O(n P)
2. Delta = F W (n x K);                                  one GEMM, 2 n P K flops
3. per (row, component): l = log1p(delta / nu_k), the weighted
   log-density  a_k - (nu_k + D) / 2 l  (a_k = log w_k + the t
   normaliser), the latent scale weight u = (nu_k + D) / (nu_k + delta) and
   log u - u = log1p(D / nu_k) - l - u; vectorised C with an inline log1p
   (_studentt_terms.h);                                  ~40 flops each
4. the softmax of the log-densities gives r (scaled by the sample weight
   w_i in its last pass, as in _estep);
5. sums r and r (log u - u) per component, and G += (r u)^T F (K x P):
   sum r u, sum r u z, sum r u q(z);                     one GEMM, 2 n P K flops

Everything after reading X is float64, for float32 data too, and nothing of
size N x K or N x D is allocated during a fit: the per-thread scratch is a
few chunk-sized buffers. Determinism is _estep's ordered reduction: rows are
cut into slots (a few chunks, from the problem's shape only), each summed by
one thread, chunk after chunk, into a private partial that is added into the
single result in slot order (_ordered.h), so results are bitwise identical
for any ``n_threads`` with one partial per thread in memory.

The covariance types are those whose quadratic features need no per-row
transform: full, diag and spherical (tied's |z U|^2 needs a TRMM first and
its M-step a u-weighted Gram matrix; it is not offered).
"""

from cython cimport floating
from cython.parallel cimport parallel
from libc.stdlib cimport malloc, calloc, free
from libc.stdint cimport int64_t

from ._blas cimport _gemm_f_w, _gemm_ft_r
from ._ordered cimport (Partial, SlotState, fastgmm_order, fastgmm_order_init, fastgmm_order_free,
                        fastgmm_order_fail, fastgmm_order_failed, fastgmm_order_take, fastgmm_order_done,
                        fastgmm_order_finish, slot_state_alloc, slot_state_free, slot_begin, add_range,
                        ADD_BLOCK)


cdef extern from "_rowops.h" nogil:
    void fastgmm_features_dd(const double *X, Py_ssize_t n, Py_ssize_t D, const double *c,
                             int quad, double *F, Py_ssize_t P, double *zz)
    void fastgmm_features_fd(const float *X, Py_ssize_t n, Py_ssize_t D, const double *c,
                             int quad, double *F, Py_ssize_t P, double *zz)
    void fastgmm_fix_d(double *lp, Py_ssize_t m)
    double fastgmm_normalise_d(double *lp, Py_ssize_t n, Py_ssize_t K, double *mx, double *sm,
                               double *row_ll, const double *w)
    int FASTGMM_QFULL, FASTGMM_QDIAG, FASTGMM_QSPHERICAL


cdef extern from "_studentt_terms.h" nogil:
    double fastgmm_log1p_ge0(double x)
    void fastgmm_t_terms_d(double *LP, double *U, double *V, Py_ssize_t n, Py_ssize_t K, Py_ssize_t D,
                           const double *a, const double *nu)


cdef inline Py_ssize_t _min(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _max(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


def n_features_out(int quad, Py_ssize_t D):
    """Length P of the feature vector [1, z, q(z)] (full, diag or spherical)."""
    if quad == FASTGMM_QFULL:
        return 1 + D + D * (D + 1) // 2
    if quad == FASTGMM_QDIAG:
        return 1 + 2 * D
    if quad == FASTGMM_QSPHERICAL:
        return 2 + D
    raise ValueError(f"the Student-t kernel takes the full, diag or spherical feature codes, not {quad}")


# ---------------------------------------------------------------------------
# What one pass reads and writes (every pointer may be NULL where unused)
# ---------------------------------------------------------------------------

cdef struct TSpec:
    Py_ssize_t N, D, K, P
    int quad
    const double *c           # (D,) shift
    const double *W           # (P, K) f(x) . W[:, k] = delta_k(x)
    const double *a           # (K,) log w_k + log-normaliser of component k
    const double *nu          # (K,) degrees of freedom
    const double *sw          # (N,) sample weights, or NULL (all 1)
    # fit outputs: sums over the slots, added in slot order
    double *G                 # (K * P,) sum_i w_i r_ik u_ik f(x_i)
    double *R                 # (K,) sum_i w_i r_ik
    double *H                 # (K,) sum_i w_i r_ik (log u_ik - u_ik)
    double *ll                # (1,) sum_i w_i log p(x_i)
    # prediction outputs, per row
    double *row_ll            # (N,) log p(x_i), or NULL
    int64_t *labels_out       # (N,) argmax_k of the weighted log-densities, or NULL


cdef struct Scratch:
    double *F                 # (chunk, P) features
    double *zz                # (2 D,) the full features' doubled row
    double *LP                # (K, chunk) delta, then log-densities, then responsibilities
    double *Ub                # (K, chunk) u, then w r u
    double *Vb                # (K, chunk) log u - u
    double *mx                # (chunk,)
    double *sm                # (chunk,)
    double *rl                # (chunk,)
    # The sums of the slot being computed, in the thread's current partial: [ll, R, H, G]
    double *ll                # (1,)
    double *R                 # (K,) if p.G
    double *H                 # (K,) if p.G
    double *G                 # (K * P,) if p.G
    SlotState slots           # the partials and this thread's place in the ordered reduction


cdef bint _scratch_alloc(Scratch *s, const TSpec *p, Py_ssize_t chunk, int n_part) noexcept nogil:
    """The thread's buffers (zeroed by the caller's calloc); False if any allocation failed
    (free with _scratch_free anyway)."""
    cdef Py_ssize_t D = p.D, K = p.K, P = p.P
    cdef bint ok = slot_state_alloc(&s.slots, _n_values(p), n_part)
    s.F = <double *> malloc(chunk * P * sizeof(double))
    s.zz = <double *> malloc(2 * D * sizeof(double))
    s.LP = <double *> malloc(chunk * K * sizeof(double))
    s.Ub = <double *> malloc(chunk * K * sizeof(double))
    s.Vb = <double *> malloc(chunk * K * sizeof(double))
    s.mx = <double *> malloc(chunk * sizeof(double))
    s.sm = <double *> malloc(chunk * sizeof(double))
    s.rl = <double *> malloc(chunk * sizeof(double))
    return (ok and s.F != NULL and s.zz != NULL and s.LP != NULL and s.Ub != NULL and s.Vb != NULL
            and s.mx != NULL and s.sm != NULL and s.rl != NULL)


cdef void _scratch_free(Scratch *s) noexcept nogil:
    slot_state_free(&s.slots)
    free(s.F)
    free(s.zz)
    free(s.LP)
    free(s.Ub)
    free(s.Vb)
    free(s.mx)
    free(s.sm)
    free(s.rl)


# ---------------------------------------------------------------------------
# The per-chunk worker
# ---------------------------------------------------------------------------

cdef void _chunk(
    const TSpec *p,
    const floating *X,        # IN  (N, D) all rows
    floating *resp_out,       # OUT (N, K) responsibilities, or NULL
    floating *u_out,          # OUT (N, K) u_ik, or NULL
    floating *uw_out,         # OUT (N,) sum_k r_ik u_ik, or NULL
    Py_ssize_t r0,            # IN  first row of the chunk
    Py_ssize_t n,             # IN  rows in the chunk
    Py_ssize_t s,             # IN  the chunk's slot (its sums go to w.ll, w.R, w.H, w.G)
    Scratch *w,               # SCRATCH of this thread
) noexcept nogil:
    cdef Py_ssize_t K = p.K, P = p.P
    cdef Py_ssize_t i, k, lab
    cdef double total, r, v, vbest, acc
    cdef double *LP = w.LP
    cdef double *rl = NULL
    cdef const double *sw = p.sw + r0 if p.sw != NULL else NULL

    # 1. features (z in float64 for either dtype of X)
    if floating is float:
        fastgmm_features_fd(X + r0 * p.D, n, p.D, p.c, p.quad, w.F, P, w.zz)
    else:
        fastgmm_features_dd(X + r0 * p.D, n, p.D, p.c, p.quad, w.F, P, w.zz)
    # 2. Mahalanobis distances, 3. the t terms
    _gemm_f_w(<int> n, <int> P, <int> K, w.F, p.W, LP)
    fastgmm_t_terms_d(LP, w.Ub, w.Vb, n, K, p.D, p.a, p.nu)

    if p.labels_out != NULL:
        fastgmm_fix_d(LP, n * K)
        for i in range(n):
            lab = 0
            vbest = LP[i]
            for k in range(1, K):
                v = LP[k * n + i]
                if v > vbest:
                    vbest = v
                    lab = k
            p.labels_out[r0 + i] = lab
    if (p.ll == NULL and p.row_ll == NULL and p.G == NULL and resp_out == NULL and u_out == NULL
            and uw_out == NULL):
        return
    # 4. responsibilities (times the sample weights) and the rows' log-likelihoods
    if p.row_ll != NULL:
        rl = p.row_ll + r0
    total = fastgmm_normalise_d(LP, n, K, w.mx, w.sm, rl, sw)
    if p.ll != NULL:
        w.ll[0] += total
    if resp_out != NULL:
        for i in range(n):
            for k in range(K):
                resp_out[(r0 + i) * K + k] = <floating> LP[k * n + i]
    if u_out != NULL:
        for i in range(n):
            for k in range(K):
                u_out[(r0 + i) * K + k] = <floating> w.Ub[k * n + i]
    if uw_out != NULL:
        for i in range(n):
            acc = 0.0
            for k in range(K):
                acc = acc + LP[k * n + i] * w.Ub[k * n + i]
            uw_out[r0 + i] = <floating> acc
    if p.G == NULL:
        return
    # 5. statistics: sum r and sum r (log u - u) in row order, then (r u)^T F
    for k in range(K):
        acc = 0.0
        v = 0.0
        for i in range(n):
            r = LP[k * n + i]
            acc = acc + r
            if r != 0.0:          # log u - u is -inf where delta is: 0 * -inf must not be NaN
                v = v + r * w.Vb[k * n + i]
            w.Ub[k * n + i] = r * w.Ub[k * n + i]
        w.R[k] += acc
        w.H[k] += v
    _gemm_ft_r(<int> n, <int> P, <int> K, w.F, w.Ub, w.G)


# ---------------------------------------------------------------------------
# The one loop over the rows
# ---------------------------------------------------------------------------

cdef inline Py_ssize_t _n_values(const TSpec *p) noexcept nogil:
    """Doubles in a slot's partial: [ll, R (K), H (K), G (K * P)], or [ll] for prediction."""
    return 1 + (p.K * (2 + p.P) if p.G != NULL else 0)


cdef void _begin_slot(const TSpec *p, Scratch *w) noexcept nogil:
    """Point w.ll, w.R, w.H, w.G at the thread's next partial, zeroed: [ll, R (K), H (K), G (K * P)]."""
    cdef Partial *q = slot_begin(&w.slots)
    w.ll = q.v
    w.R = q.v + 1
    w.H = q.v + 1 + p.K
    w.G = q.v + 1 + 2 * p.K


cdef void _partial_add(const void *spec, void *part, int64_t s, int64_t j0, int64_t j1) noexcept nogil:
    """Values j0 .. j1 - 1 of slot s's partial into the outputs (_ordered.h: in slot order per block)."""
    cdef const TSpec *p = <const TSpec *> spec
    cdef const double *v = (<const Partial *> part).v
    cdef Py_ssize_t K = p.K
    if p.ll != NULL:
        add_range(p.ll, v, j0, j1, 0, 1)
    if p.G != NULL:
        add_range(p.R, v, j0, j1, 1, 1 + K)
        add_range(p.H, v, j0, j1, 1 + K, 1 + 2 * K)
        add_range(p.G, v, j0, j1, 1 + 2 * K, 1 + 2 * K + K * p.P)


cdef int _run_slots(
    const TSpec *p,
    const floating *X,
    floating *resp_out,
    floating *u_out,
    floating *uw_out,
    Py_ssize_t chunk_rows,
    Py_ssize_t slot_rows,
    Py_ssize_t n_slots,
    int n_threads,
) noexcept nogil:
    """Every chunk of every slot through `_chunk`, the slots' sums added in slot order
    (_ordered.h, as _estep._run_slots); -1 if a thread could not allocate its scratch."""
    cdef fastgmm_order order
    cdef bint ordered = p.G != NULL or p.ll != NULL
    if fastgmm_order_init(&order, n_slots, ordered, _n_values(p), ADD_BLOCK):
        return -1
    cdef int n_part = 2 if n_threads > 1 and ordered else 1
    cdef Py_ssize_t s, r0, r_end, n
    cdef Scratch *w
    cdef bint ok
    with parallel(num_threads=n_threads):
        # Assigned inside the parallel block, so private to each thread.
        w = <Scratch *> calloc(1, sizeof(Scratch))
        ok = w != NULL and _scratch_alloc(w, p, chunk_rows, n_part)
        if not ok:
            fastgmm_order_fail(&order)
        while ok:
            s = <Py_ssize_t> fastgmm_order_take(&order, &w.slots.order)
            if s < 0:
                break
            _begin_slot(p, w)
            r0 = s * slot_rows
            r_end = _min(p.N, r0 + slot_rows)
            while r0 < r_end:
                n = _min(chunk_rows, r_end - r0)
                _chunk(p, X, resp_out, u_out, uw_out, r0, n, s, w)
                r0 = r0 + n
            fastgmm_order_done(&order, &w.slots.order, s, w.slots.parts, _partial_add, p)
        if ok:
            fastgmm_order_finish(&order, &w.slots.order, w.slots.parts, _partial_add, p)
        if w != NULL:
            _scratch_free(w)
        free(w)
    cdef bint failed = fastgmm_order_failed(&order)
    fastgmm_order_free(&order)
    return -1 if failed else 0


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------

def log1p_nonnegative(const double[::1] x, double[::1] out):
    """``out[i] = log1p(x[i])`` by the kernel's inline log1p (x >= 0); for the tests."""
    cdef Py_ssize_t i
    if out.shape[0] != x.shape[0]:
        raise ValueError("x and out must have the same length")
    for i in range(x.shape[0]):
        out[i] = fastgmm_log1p_ge0(x[i])


cdef Py_ssize_t _init_spec(TSpec *p, Py_ssize_t N, Py_ssize_t D, int quad, const double[::1] shift,
                           const double[:, ::1] W, const double[::1] a, const double[::1] nu,
                           Py_ssize_t chunk_rows, Py_ssize_t slot_rows, int n_threads) except -1:
    """Checks shapes and the layout, fills the inputs (outputs NULL); returns the slot count."""
    cdef Py_ssize_t k
    if chunk_rows < 1 or slot_rows < chunk_rows or slot_rows % chunk_rows:
        raise ValueError("slot_rows must be a positive multiple of chunk_rows")
    if n_threads < 1:
        raise ValueError("n_threads must be >= 1")
    p.N, p.D, p.quad = N, D, quad
    p.P = n_features_out(quad, D)
    if W is None or a is None or nu is None:
        raise ValueError("the Student-t pass needs W, a and nu")
    p.K = W.shape[1]
    if p.K < 1 or W.shape[0] != p.P:
        raise ValueError(f"W must have shape ({p.P}, n_components)")
    if shift.shape[0] != D or a.shape[0] != p.K or nu.shape[0] != p.K:
        raise ValueError("shift must have n_features entries, a and nu n_components")
    for k in range(p.K):
        if not nu[k] > 0:
            raise ValueError("degrees of freedom must be > 0")
    p.c, p.W, p.a, p.nu = &shift[0], &W[0, 0], &a[0], &nu[0]
    p.sw = NULL
    p.G = p.R = p.H = p.ll = p.row_ll = NULL
    p.labels_out = NULL
    return _max(1, (N + slot_rows - 1) // slot_rows)


cdef double *_per_row(const double[::1] v, Py_ssize_t N, str name) except? NULL:
    """The data of an optional (N,) float64 array: NULL for None (or N = 0), else its length checked."""
    if v is None:
        return NULL
    if v.shape[0] != N:
        raise ValueError(f"{name} must have n_samples entries")
    return <double *> &v[0] if N else NULL


def accumulate_statistics(
    const floating[:, ::1] X,           # IN  (n_samples, n_features)
    int quad,                           # IN  QFULL, QDIAG or QSPHERICAL (fastgmm._estep's codes)
    const double[::1] shift,            # IN  (D,) c: features are of z = x - c
    const double[:, ::1] W,             # IN  (P, K) f(x) . W[:, k] = Mahalanobis distance to component k
    const double[::1] a,                # IN  (K,) log w_k + log-normaliser of the t density of component k
    const double[::1] nu,               # IN  (K,) degrees of freedom, > 0
    const double[::1] sample_weight,    # IN  (n_samples,) non-negative weights, or None (all 1)
    Py_ssize_t chunk_rows,              # IN  rows per chunk
    Py_ssize_t slot_rows,               # IN  rows per slot, a multiple of chunk_rows
    double[::1] G_out,                  # IN/OUT (K * P,) += sum_i w_i r_ik u_ik f(x_i), K x P row-major
    double[::1] R_out,                  # IN/OUT (K,) += sum_i w_i r_ik
    double[::1] H_out,                  # IN/OUT (K,) += sum_i w_i r_ik (log u_ik - u_ik)
    double[::1] ll_out,                 # IN/OUT (1,) += sum_i w_i log p(x_i)
    int n_threads,                      # IN
):
    """Add one E-step pass of Student-t statistics over X to the outputs.

    The slots' sums are added in slot order (the same result for any thread
    count, and for a pass split into consecutive calls over whole slots adding
    to the same outputs, zero-filled by the caller before the first). Returns
    -1 if scratch memory could not be allocated (the outputs are then partly
    summed: discard them), else 0. A row that no component can produce (and
    has a non-zero weight) makes ``ll_out`` -inf.
    """
    cdef TSpec p
    cdef Py_ssize_t n_slots = _init_spec(&p, X.shape[0], X.shape[1], quad, shift, W, a, nu, chunk_rows,
                                         slot_rows, n_threads)
    p.sw = _per_row(sample_weight, p.N, "sample_weight")
    if (G_out is None or G_out.shape[0] != p.K * p.P or R_out is None or R_out.shape[0] != p.K
            or H_out is None or H_out.shape[0] != p.K or ll_out is None or ll_out.shape[0] != 1):
        raise ValueError(f"output shapes do not match: G_out ({p.K * p.P},), R_out and H_out ({p.K},), ll_out (1,)")
    p.G, p.R, p.H, p.ll = &G_out[0], &R_out[0], &H_out[0], &ll_out[0]
    if p.N == 0:
        return 0
    n_threads = <int> _min(n_threads, n_slots)
    cdef int status
    with nogil:
        status = _run_slots(&p, &X[0, 0], <floating *> NULL, <floating *> NULL, <floating *> NULL,
                            chunk_rows, slot_rows, n_slots, n_threads)
    return status


def estimate(
    const floating[:, ::1] X,           # IN  (n_samples, n_features)
    int quad,                           # IN
    const double[::1] shift,            # IN  (D,)
    const double[:, ::1] W,             # IN  (P, K)
    const double[::1] a,                # IN  (K,)
    const double[::1] nu,               # IN  (K,)
    Py_ssize_t chunk_rows,              # IN
    Py_ssize_t slot_rows,               # IN  a multiple of chunk_rows
    double[::1] row_ll,                 # OUT (n_samples,) per-row log-likelihood, or None
    int64_t[::1] labels,                # OUT (n_samples,) most probable component, or None
    floating[:, ::1] resp,              # OUT (n_samples, K) responsibilities, or None
    floating[:, ::1] u,                 # OUT (n_samples, K) u_ik = E[u | x_i, component k], or None
    floating[::1] u_mix,                # OUT (n_samples,) sum_k r_ik u_ik, or None
    double[::1] slot_ll,                # IN/OUT (1,) += the sum of the log-likelihoods (in slot order), or None
    int n_threads,                      # IN
):
    """E-step outputs for prediction: log-likelihoods, labels, responsibilities, scale weights.

    Only the requested outputs are written; no other N-sized memory is used.
    Labels are the argmax of the weighted log-densities (the first on ties).
    Returns -1 if scratch memory could not be allocated, else 0.
    """
    cdef TSpec p
    cdef Py_ssize_t n_slots = _init_spec(&p, X.shape[0], X.shape[1], quad, shift, W, a, nu, chunk_rows,
                                         slot_rows, n_threads)
    p.row_ll = _per_row(row_ll, p.N, "row_ll")
    if labels is not None:
        if labels.shape[0] != p.N:
            raise ValueError("labels must have n_samples entries")
        if p.N:
            p.labels_out = &labels[0]
    cdef floating *rsp = NULL
    cdef floating *uo = NULL
    cdef floating *uw = NULL
    if resp is not None:
        if resp.shape[0] != p.N or resp.shape[1] != p.K:
            raise ValueError("resp must have shape (n_samples, n_components)")
        if p.N:
            rsp = &resp[0, 0]
    if u is not None:
        if u.shape[0] != p.N or u.shape[1] != p.K:
            raise ValueError("u must have shape (n_samples, n_components)")
        if p.N:
            uo = &u[0, 0]
    if u_mix is not None:
        if u_mix.shape[0] != p.N:
            raise ValueError("u_mix must have n_samples entries")
        if p.N:
            uw = &u_mix[0]
    if slot_ll is not None:
        if slot_ll.shape[0] != 1:
            raise ValueError("slot_ll must have one entry (the total)")
        p.ll = &slot_ll[0]
    if p.N == 0:
        return 0
    n_threads = <int> _min(n_threads, n_slots)
    cdef int status
    with nogil:
        status = _run_slots(&p, &X[0, 0], rsp, uo, uw, chunk_rows, slot_rows, n_slots, n_threads)
    return status
