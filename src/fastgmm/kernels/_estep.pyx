"""Fused E-step and sufficient-statistic kernels for Gaussian and Student-t mixtures.

One pass over the data per EM iteration, in chunks of rows, with two GEMMs
per chunk whatever the covariance type.

Every row x is described about a shift c (the mixture's mean, so that the
numbers stay small) by a feature vector

    f(x) = [1, z, q(z)],   z = x - c,

whose quadratic part q depends on the covariance type: every product z_d z_e
once (full, in the order of fastgmm.families._gaussian.full_pairs), z**2 (diag),
|z|^2 (spherical) or |z U|^2 with the shared precision factor U (tied). Each
component's weighted log-density is linear in f: log w_k + log N(x | k) =
f(x) . W[:, k], with W (P x K) built from the parameters by the caller
(fastgmm.families._gaussian). So, per chunk of n rows (features row-major, built
straight from the rows of X; log-densities feature-major, K x n):

1. F (n x P) from the rows;                              O(n P)
2. LP = F W (n x K): weighted log-densities;             one GEMM, 2 n P K flops
3. per row, responsibilities R from LP: the softmax (E-step), the one-hot
   argmax (hard assignment to the nearest of K centres, for k-means
   initialisation), or given responsibilities or labels instead of 1-3;
4. a sample weight w_i scales row i of R;
5. G += R^T F (K x P): every sufficient statistic at once (sum r, sum r z,
   sum r q(z));                                          one GEMM, 2 n P K flops
   tied also adds sum_i w_i z_i z_i^T (one SYRK).

All arithmetic after reading X is float64 by default, for float32 data
too: the features are formed as (double) x - c, so the log-densities keep
float64 accuracy however far the components lie from the shift (a float32
GEMM about one shift loses eps32 times the squared Mahalanobis distance: 2
nats per row for components 10,000 sigma apart). float32 data still read
half the bytes.

The float32 path (`_chunk32`, fit passes of float32 data with full, diag or
spherical covariances): given float32 coefficients W32 the caller passes only when a
bound says every component lies close enough to the shift for float32
(fastgmm.families._gaussian.float32_coefficients), a chunk's features
(z = x - c still formed in float64 and rounded once), both GEMMs (SGEMM, or
for wide rows the register-blocked kernels of _gemm32.h) and the log-sum-exp
are float32; the chunk's K x P sums, a few hundred rows each,
are then added into the slot's float64 partial, and the log-likelihoods are
summed in float64 (the caller corrects that sum for W's rounding to
float32). A chunk with a row that every component gives -inf (a float32
overflow, or a row no component can produce) is computed again by the
float64 `_chunk`, so such rows get the float64 path's arithmetic.
Nothing of size N x K or N x D is allocated: the per-thread scratch is a few
chunk-sized buffers.

The discrete families (fastgmm.families) use the same pass with feature
codes that have no quadratic part: QLINEAR, f(x) = [1, x - c] (Bernoulli and
Poisson log-densities are linear in x), and QONEHOT, f = [1, onehot(code_1),
..., onehot(code_D)] built from an int32 array of categorical codes and the
columns' cumulative category counts (categorical mixtures).

Student-t mixtures (fastgmm.families._studentt) are a mode of the same
pass, RESP_STUDENT_T. A multivariate t log-density is not linear in f(x),
but the Mahalanobis distance is: delta_ik = f(x_i) . W[:, k] with W built by
the caller. So step 2's GEMM gives the distances, and step 3 first turns
each (row, component) into l = log1p(delta / nu_k), the weighted
log-density a_k - (nu_k + D) / 2 l (a_k = log w_k + the t normaliser), the
latent scale weight u = (nu_k + D) / (nu_k + delta) and log u - u =
log1p(D / nu_k) - l - u (vectorised C with an inline log1p,
_studentt_terms.h, ~40 flops each) before the softmax. The statistics are
then sum r and sum r (log u - u) per component (outputs R and H, in row
order) and G += (r u)^T F: sum r u, sum r u z, sum r u q(z) (the M-step
weights every row by r u). Full, diag and spherical only: tied's |z U|^2
would need u-weighted Gram matrices in its M-step.

Structure: `_chunk` is the one per-chunk worker (noexcept nogil) that every
mode goes through; `_run_slots` is the one parallel loop over the rows; the
Python entries, `accumulate_statistics` (fit) and `estimate` (prediction),
and their Student-t counterparts `accumulate_t_statistics` and `estimate_t`,
only check shapes and fill a `PassSpec`. A new mode (a new family) is a new
branch of step 3 and new outputs in the `PassSpec` and the slot partial
(`_partial_layout`), not a copy of the chunk loop.

Rows with NaNs, the missing mode (Gaussian feature codes and Student-t, the
E-step; _missing.h): with ``rows`` the pass visits the rows ``X[rows[j]]``,
sorted by NaN pattern, in ordinary slots of positions, under the
complete-data W, with each pattern's run of positions and missing columns
(``pat_start``, ``miss_ptr``, ``miss_idx``) and the precisions. A visited row
is gathered into a float64 buffer with every NaN replaced by the shift, so its
missing coordinates have z_d = 0 exactly; per-row outputs go to the row's own
index. After step 2
each run's rows get the correction that turns F W into their observed
part's marginal, and after step 5 the one that completes their sums
(conditional means and covariances of the missing coordinates). Full
covariances put the components in vector lanes, so a pattern's K
factorisations of Lambda_k,MM cost a few vector operations each, and their
completions go to per-thread dense accumulators folded into G at the end of
each slot.

Determinism, the ordered reduction: rows are cut into slots of
``slot_rows`` (a multiple of ``chunk_rows``; ~2 sqrt(N) rows, so slots are
many and balance any number of threads). Threads take slots in increasing
order from a shared atomic counter; one thread processes a slot, chunk after
chunk, into a private partial sum, then adds that partial into the single
result when every earlier slot has been added (atomic "next slot to add"
counters, one per block of the partial, so that the additions of successive
slots overlap). Every output element is thus ((slot 0 + slot 1) + slot 2)
+ ..., whoever computed which slot; slot and chunk sizes never depend on the
thread count, so results are bitwise identical for any ``n_threads``, with
two partials per thread in memory instead of one per slot. See _ordered.h
for the waiting and why it cannot deadlock.
"""

from cython cimport floating
from cython.parallel cimport parallel
from libc.math cimport sqrt
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport calloc, free, malloc

from ._blas cimport _gemm_f_w, _gemm_f_w_lead, _gemm_ft_r, _gemm_ft_r_set, _syrk_gram, _trmm_rows_upper
from ._ordered cimport (ADD_BLOCK, Partial, SlotState, add_range, fastgmm_add_relaxed, fastgmm_order,
                        fastgmm_order_done, fastgmm_order_fail, fastgmm_order_failed, fastgmm_order_finish,
                        fastgmm_order_free, fastgmm_order_init, fastgmm_order_take, slot_begin, slot_state_alloc,
                        slot_state_free)


cdef extern from "_rowops.h" nogil:
    void fastgmm_features_dd(const double *X, Py_ssize_t n, Py_ssize_t D, const double *c,
                             int quad, double *F, Py_ssize_t P, double *zz)
    void fastgmm_features_fd(const float *X, Py_ssize_t n, Py_ssize_t D, const double *c,
                             int quad, double *F, Py_ssize_t P, double *zz)
    Py_ssize_t fastgmm_features_onehot(const int32_t *codes, Py_ssize_t n, Py_ssize_t D,
                                       const int64_t *offsets, double *F, Py_ssize_t P)
    void fastgmm_tied_q_d(const double *Y, Py_ssize_t n, Py_ssize_t D, double *F, Py_ssize_t P)
    void fastgmm_add_by_label_d(const double *F, Py_ssize_t n, Py_ssize_t P, const double *lab,
                                Py_ssize_t K, const double *w, double *G)
    void fastgmm_gather_d(const double *X, const int64_t *rows, Py_ssize_t n, Py_ssize_t D,
                          const double *c, double *G)
    void fastgmm_gather_f(const float *X, const int64_t *rows, Py_ssize_t n, Py_ssize_t D,
                          const double *c, double *G)
    void fastgmm_fix_d(double *lp, Py_ssize_t m)
    double fastgmm_normalise_d(double *lp, Py_ssize_t n, Py_ssize_t K, double *mx, double *sm,
                               double *row_ll, const double *w)
    double fastgmm_normalise_d_any(double *lp, Py_ssize_t n, Py_ssize_t K, double *mx, double *sm,
                                   double *row_ll, const double *w)
    int FASTGMM_X8
    int fastgmm_have_x8
    double fastgmm_exp_nonpos(double x)


cdef extern from "_rowops32.h" nogil:
    void fastgmm_features_ff(const float *X, Py_ssize_t n, Py_ssize_t D, const double *c,
                             int quad, float *F, Py_ssize_t P, float *zz)
    double fastgmm_normalise_f(float *lp, Py_ssize_t n, Py_ssize_t K, float *mx, float *sm,
                               const double *w, Py_ssize_t *n_dead)
    void fastgmm_add_f_to_d(double *acc, const float *part, Py_ssize_t m)
    void fastgmm_exp_nonpos_f_array(const float *x, float *y, Py_ssize_t n)


cdef extern from "_gemm32.h" nogil:
    int fastgmm_gemm32_fast()
    void fastgmm_gemm32_fw(const float *F, Py_ssize_t ldf, Py_ssize_t n, Py_ssize_t P, const float *W,
                           Py_ssize_t Kp, Py_ssize_t K, float *S, float *LP, int fast)
    void fastgmm_gemm32_rtf(const float *F, Py_ssize_t ldf, Py_ssize_t n, Py_ssize_t P, const float *R,
                            Py_ssize_t K, double *G, int fast)


cdef extern from "_studentt_terms.h" nogil:
    double fastgmm_log1p_ge0(double x)
    void fastgmm_t_terms_d(double *LP, double *U, double *V, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t K, Py_ssize_t D,
                           const double *a, const double *nu)


cdef extern from "_missing.h" nogil:
    Py_ssize_t fastgmm_miss_work_size(Py_ssize_t D, Py_ssize_t n)
    int fastgmm_miss_loglik(Py_ssize_t D, Py_ssize_t K, int quad, const double *prec, const double *dev,
                            const int64_t *M, Py_ssize_t m, const double *Z, Py_ssize_t ldz, Py_ssize_t len,
                            double *LP, Py_ssize_t ldlp, double *S, double *work, double *hld)
    Py_ssize_t fastgmm_miss_full_work_size(Py_ssize_t D, Py_ssize_t Kp, Py_ssize_t mmax)
    int fastgmm_miss_full_loglik(Py_ssize_t D, Py_ssize_t K, Py_ssize_t Kp, const double *precT, const double *pdT,
                                 const int64_t *M, Py_ssize_t m, const double *Z, Py_ssize_t ldz, Py_ssize_t len,
                                 double *LP, Py_ssize_t ldlp, double *S, double *work, double *hld)
    int fastgmm_miss_full_stats(Py_ssize_t D, Py_ssize_t K, Py_ssize_t Kp, const double *precT, const int64_t *M,
                                Py_ssize_t m, const double *Z, Py_ssize_t ldz, Py_ssize_t len, const double *R,
                                Py_ssize_t ldr, const double *Rc, const double *S, double *A, double *lin,
                                double *work)
    void fastgmm_miss_fill(Py_ssize_t D, Py_ssize_t K, Py_ssize_t Kp, int quad, const double *dev, const int64_t *M,
                           Py_ssize_t m, Py_ssize_t len, const double *R, Py_ssize_t ldr, const double *S,
                           double *Zf, Py_ssize_t ldz)
    void fastgmm_miss_full_fold(Py_ssize_t D, Py_ssize_t K, Py_ssize_t Kp, const int64_t *pair, double *A,
                                double *lin, double *G, Py_ssize_t P)
    int fastgmm_miss_stats(Py_ssize_t D, Py_ssize_t K, int quad, const double *prec, const double *dev,
                           const int64_t *M, Py_ssize_t m, const double *Z, Py_ssize_t ldz, Py_ssize_t len,
                           const double *R, Py_ssize_t ldr, const double *Rc, const double *S, double *G,
                           Py_ssize_t P, double *T, double *work)


cdef extern from "_openmp_shim.h" nogil:
    int omp_get_thread_num()


# Quadratic-feature codes shared with fastgmm.families._gaussian (and _rowops.h).
cdef enum:
    _QFULL = 0        # z_d z_e, each pair once (order: _rowops.h): D (D + 1) / 2 features
    _QDIAG = 1        # z_d^2: D features
    _QSPHERICAL = 2   # |z|^2: 1 feature
    _QTIED = 3        # |z U|^2: 1 feature
    # Codes of the discrete families (fastgmm.families), no quadratic part:
    _QLINEAR = 4      # [1, z]: P = 1 + D (Bernoulli, Poisson; shift 0 so z = x)
    _QONEHOT = 5      # [1, onehot(code_1), ..., onehot(code_D)] from int32 codes: P = 1 + offsets[D]

QFULL = _QFULL
QDIAG = _QDIAG
QSPHERICAL = _QSPHERICAL
QTIED = _QTIED
QLINEAR = _QLINEAR
QONEHOT = _QONEHOT

# Where the responsibilities of step 3 come from.
cdef enum:
    _RESP_ESTEP = 0   # softmax of the weighted log-densities F W
    _RESP_HARD = 1    # one-hot argmax of F W (the first on ties)
    _RESP_GIVEN = 2   # a given (N, K) float64 array
    _RESP_LABELS = 3  # given int64 labels, one-hot; -1: the row belongs to no component
    _RESP_STUDENT_T = 4   # softmax of the t log-densities from the distances F W; statistics weighted by u

RESP_ESTEP = _RESP_ESTEP
RESP_HARD = _RESP_HARD
RESP_GIVEN = _RESP_GIVEN
RESP_LABELS = _RESP_LABELS
RESP_STUDENT_T = _RESP_STUDENT_T


# Tests only: the OpenMP thread number whose scratch allocation is made to fail
# (-1: none), to check that one thread's failure is a clean error for the pass
# and never leaves the others waiting for a slot.
cdef int _failing_thread = -1


def _fail_allocation_in_thread(int thread):
    """Make thread ``thread`` of every later pass fail its allocation (-1: stop); for the tests."""
    global _failing_thread
    _failing_thread = thread


# Benchmarks only (benchmarks/ordered_reduction.py): partials per thread
# (2, or 1 to measure what the second one hides), and the slots and the
# additions that had to wait, summed over the kernel calls since the last
# reset (atomically: concurrent passes, e.g. fits in two Python threads, mix
# their counts but do not race).
cdef int _max_partials = 2
cdef int64_t _add_block = ADD_BLOCK
cdef int64_t _count_slots = 0
cdef int64_t _count_waits = 0


def _set_max_partials(int n):
    """Partials per thread of later passes: 2 (the default) or 1; for benchmarks."""
    global _max_partials
    if n not in (1, 2):
        raise ValueError("partials per thread must be 1 or 2")
    _max_partials = n


def _set_add_block(Py_ssize_t n):
    """Doubles per block of the pipelined additions of later passes (0: the default); for tests."""
    global _add_block
    if n < 0:
        raise ValueError("the block must be >= 0 doubles")
    _add_block = n if n else ADD_BLOCK


def _slot_waits(bint reset=False):
    """(slots, additions that found an earlier slot not yet added) since the last reset; for benchmarks."""
    global _count_slots, _count_waits
    counts = (int(_count_slots), int(_count_waits))
    if reset:
        _count_slots = _count_waits = 0
    return counts


def n_features_out(int quad, Py_ssize_t D, Py_ssize_t n_levels=0):
    """Length P of the feature vector [1, z, q(z)] (one-hot: 1 + ``n_levels``, all columns' categories)."""
    if quad == _QLINEAR:
        return 1 + D
    if quad == _QONEHOT:
        return 1 + n_levels
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
# What one pass reads and writes (every pointer may be NULL where unused)
# ---------------------------------------------------------------------------

cdef struct PassSpec:
    Py_ssize_t N, D, K, P
    int quad
    int resp_mode             # _RESP_*
    const double *c           # (D,) shift
    const double *W           # (P, K) coefficients (ESTEP, HARD, STUDENT_T: Mahalanobis distances)
    Py_ssize_t Pw             # W's rows when fewer than P: 1 + D, linear coefficients (HARD); else 0
    const float *W32          # (P, K) W in float32: compute the chunks in float32 (_chunk32), else NULL
    int g32                   # float32 path's products: 0 SGEMM, 1 _gemm32.h portable, 2 _gemm32.h x86-64-v3
    const double *U           # (D, D) tied precision factor (ESTEP with tied)
    const double *a           # (K,) log w_k + log-normaliser of the t density of component k (STUDENT_T);
                              # missing mode ((D + 1) * K,): a K-vector for each observed dimension 0 .. D
    const double *nu          # (K,) degrees of freedom, > 0 (STUDENT_T)
    const double *sw          # (N,) sample weights, or NULL (all 1)
    const double *resp_in     # (N, K) (GIVEN)
    const int64_t *labels_in  # (N,) (LABELS)
    const int64_t *rows       # (N,) missing mode: rows of X visited, in this order, or NULL (0 .. N - 1)
    const int32_t *codes      # (N, D) categorical codes (ONEHOT), else NULL
    const int64_t *offsets    # (D + 1,) first one-hot feature of each column, minus 1 (ONEHOT), else NULL
    # Missing mode (rows sorted by NaN pattern, visited by slots of positions; _missing.h): else NULL
    Py_ssize_t n_pat
    Py_ssize_t mmax           # the most coordinates a pattern misses
    Py_ssize_t Kp             # full: K rounded up to a multiple of 8 (the components in vector lanes)
    const int64_t *pat_start  # (n_pat + 1,) pattern q's rows are positions pat_start[q] .. pat_start[q + 1] - 1
    const int64_t *miss_ptr   # (n_pat + 1,) pattern q's missing coordinates: miss_idx[miss_ptr[q] .. miss_ptr[q + 1]]
    const int64_t *miss_idx   # (absolute offsets into it: a range of patterns passes a slice of miss_ptr)
    const double *prec        # full: (D, D, Kp) [a, d, k] = Lambda_k[a, d]; tied: (D, D); diag, spherical: (K, D)
    const double *dev         # full: (D, Kp) [a, k] = (Lambda_k (mu_k - c))[a]; else (K, D) mu_k - c
    const int64_t *pair       # full: (D, D) index in f(z) of z_a z_b
    const double *psi         # STUDENT_T missing mode: (D + 1, K) psi_d(nu_k) - psi_D(nu_k) for H, by dimension d
    int64_t *bad_code         # (1,) the first invalid code's index into codes, -1: none (ONEHOT)
    # outputs: sums over the slots in slot order
    double *G                 # (K * P,) sums of R^T F (STUDENT_T: (r u)^T F), or NULL
    double *T                 # (D * D,) tied: sums of w z z^T (lower), or NULL
    double *R                 # (K,) STUDENT_T: sums of w r, or NULL
    double *H                 # (K,) STUDENT_T: sums of w r (log u - u), or NULL
    double *ll                # (1,) sum of w_i log p(x_i), or NULL
    # per-row outputs
    double *row_ll            # (N,) log p(x_i), or NULL
    int64_t *labels_out       # (N,) argmax_k of the weighted log-densities, or NULL
    double *lp_out            # (N, K) the weighted log-densities themselves (hidden Markov models), or NULL
    # per-row outputs in X's dtype (the `floating` of the pass; void here because the spec is not fused)
    void *resp_out            # (N, K) responsibilities, or NULL
    void *u_out               # (N, K) STUDENT_T: u_ik, or NULL
    void *u_mix_out           # (N,) STUDENT_T: sum_k r_ik u_ik, or NULL
    void *fill_out            # (N, D) missing mode: X with each NaN its conditional expectation, or NULL


cdef struct Layout:
    # Offsets of each output's sums in a slot's partial (an output that is
    # NULL in the spec takes no room), and the partial's length.
    Py_ssize_t G, T, R, H, ll, n


cdef inline Layout _partial_layout(const PassSpec *p) noexcept nogil:
    """A slot's sums in one partial: G (K * P), T (D * D), R (K), H (K), each if in the spec, then ll (1)."""
    cdef Layout L
    L.G = 0
    L.T = L.G + (p.K * p.P if p.G != NULL else 0)
    L.R = L.T + (p.D * p.D if p.T != NULL else 0)
    L.H = L.R + (p.K if p.R != NULL else 0)
    L.ll = L.H + (p.K if p.H != NULL else 0)
    L.n = L.ll + 1
    return L


cdef struct Scratch:
    double *F                 # (chunk, P) features
    double *Y                 # (chunk, 2 D): tied z U, weighted z; full: the features' doubled z
    double *LP                # (K, chunk) log-densities, then responsibilities
    double *mx                # (chunk,)
    double *sm                # (chunk,)
    double *rl                # (chunk,) row log-likelihoods (weighted sums)
    double *C                 # (D, D) tied Gram of the chunk (with p.T), else NULL
    double *Xg                # (chunk, D) gathered rows (with rows), NaN -> shift, else NULL
    double *swg               # (chunk,) gathered sample weights (with rows), else NULL
    double *Ub                # (K, chunk) STUDENT_T: u, then w r u; else NULL
    double *Vb                # (K, chunk) STUDENT_T: log u - u; else NULL
    double *Sm                # (K * D * chunk) missing mode: each run's s = Lambda_MM^-1 b; else NULL
    double *Mw                # missing mode: the corrections' scratch (fastgmm_miss_work_size); else NULL
    double *hld               # (K,) STUDENT_T missing mode: a run's 1/2 log det Lambda_k,MM, else NULL
    double *arun              # (K,) likewise: the run's t normalisers
    double *Acc               # (D * D * Kp) full missing mode with statistics: the slot's completions, else NULL
    double *lin               # (D * Kp) likewise (folded into G at the end of each slot)
    float *F32                # (chunk, P) float32 path (p.W32): features, else NULL
    float *LP32               # (K, chunk) float32 path: log-densities, then responsibilities
    float *v32                # (2 chunk + 2 D chunk) float32 path: row maxima, sums, then the features' scratch
    float *G32                # (K * P,) float32 path: the chunk's sums (SGEMM)
    float *W32p               # (P, Kp) float32 path with _gemm32.h: W, K padded to Kp = a multiple of 8
    float *S32                # (chunk, Kp) likewise: F W row by row
    # The sums of the slot being computed, in the thread's current partial (_partial_layout):
    double *G                 # (K * P,) if p.G
    double *T                 # (D * D,) if p.T
    double *R                 # (K,) if p.R
    double *H                 # (K,) if p.H
    double *ll                # (1,)
    int64_t *bad              # (1,) first invalid code in the slot, -1: none
    SlotState slots           # the partials and this thread's place in the ordered reduction


cdef bint _scratch_alloc(Scratch *s, const PassSpec *p, Py_ssize_t chunk,
                         int n_part) noexcept nogil:
    """The thread's buffers (zeroed by the caller's calloc); False if any allocation failed
    (free with _scratch_free anyway). Buffers a mode does not use stay NULL: a Student-t
    pass on wide full-covariance rows must not also hold tied's D x D Gram matrix."""
    cdef Py_ssize_t D = p.D, K = p.K, P = p.P
    cdef bint ok = slot_state_alloc(&s.slots, _partial_layout(p).n, n_part)
    if p.W32 != NULL:
        # float32 path: chunk is its chunk; the float64 buffers only serve its fallback, in sub-chunks
        ok = _scratch32_alloc(s, p, chunk) and ok
        chunk = _min(chunk, _FALLBACK_ROWS)
    s.F = <double *> malloc(chunk * P * sizeof(double))
    s.Y = <double *> malloc(_max(chunk, 1) * 2 * D * sizeof(double))
    s.LP = <double *> malloc(chunk * K * sizeof(double))
    s.mx = <double *> malloc(chunk * sizeof(double))
    s.sm = <double *> malloc(chunk * sizeof(double))
    s.rl = <double *> malloc(chunk * sizeof(double))
    ok = (ok and s.F != NULL and s.Y != NULL and s.LP != NULL and s.mx != NULL
          and s.sm != NULL and s.rl != NULL)
    if p.T != NULL:
        s.C = <double *> calloc(D * D, sizeof(double))
        ok = ok and s.C != NULL
    if p.rows != NULL:
        s.Xg = <double *> malloc(chunk * D * sizeof(double))
        s.swg = <double *> malloc(chunk * sizeof(double))
        ok = ok and s.Xg != NULL and s.swg != NULL
    if p.pat_start != NULL and p.quad == _QFULL:
        s.Sm = <double *> malloc(_max(1, chunk * p.mmax * p.Kp) * sizeof(double))
        s.Mw = <double *> malloc(fastgmm_miss_full_work_size(D, p.Kp, p.mmax) * sizeof(double))
        ok = ok and s.Sm != NULL and s.Mw != NULL
        if p.G != NULL:
            s.Acc = <double *> calloc(D * D * p.Kp, sizeof(double))
            s.lin = <double *> calloc(D * p.Kp, sizeof(double))
            ok = ok and s.Acc != NULL and s.lin != NULL
    elif p.pat_start != NULL:
        s.Sm = <double *> malloc(_max(1, K * D * chunk) * sizeof(double))
        s.Mw = <double *> malloc(fastgmm_miss_work_size(D, chunk) * sizeof(double))
        ok = ok and s.Sm != NULL and s.Mw != NULL
    if p.pat_start != NULL and p.resp_mode == _RESP_STUDENT_T:
        s.hld = <double *> malloc(K * sizeof(double))
        s.arun = <double *> malloc(K * sizeof(double))
        ok = ok and s.hld != NULL and s.arun != NULL
    if p.resp_mode == _RESP_STUDENT_T:
        s.Ub = <double *> malloc(chunk * K * sizeof(double))
        s.Vb = <double *> malloc(chunk * K * sizeof(double))
        ok = ok and s.Ub != NULL and s.Vb != NULL
    return ok


cdef void _scratch_free(Scratch *s) noexcept nogil:
    slot_state_free(&s.slots)
    free(s.F)
    free(s.Y)
    free(s.LP)
    free(s.mx)
    free(s.sm)
    free(s.rl)
    free(s.C)
    free(s.Xg)
    free(s.swg)
    free(s.Ub)
    free(s.Vb)
    free(s.Sm)
    free(s.Mw)
    free(s.Acc)
    free(s.lin)
    free(s.hld)
    free(s.arun)
    _scratch32_free(s)


# Rows per float64 sub-chunk of a float32 chunk computed again in float64 (_chunk32).
cdef Py_ssize_t _FALLBACK_ROWS = 48


cdef inline Py_ssize_t _round8(Py_ssize_t m) noexcept nogil:
    return (m + 7) // 8 * 8


cdef bint _scratch32_alloc(Scratch *s, const PassSpec *p, Py_ssize_t chunk) noexcept nogil:
    """The float32 path's buffers (beside the float64 ones, which a chunk falls back on).

    With _gemm32.h (p.g32) the feature rows are _round8(P) apart (the padding
    is read in vector lanes whose sums are discarded; zeroed once, so that it
    is never uninitialised memory), and each thread lays W out once per pass
    with K padded to a multiple of 8 (vector lanes); SGEMM sums each chunk into G32.
    """
    cdef Py_ssize_t k, j, Kp = _round8(p.K)
    cdef bint ok
    s.LP32 = <float *> malloc(chunk * p.K * sizeof(float))
    s.v32 = <float *> malloc((2 * chunk + 2 * p.D * chunk) * sizeof(float))
    if p.g32 == 0:
        s.F32 = <float *> malloc(chunk * p.P * sizeof(float))
        s.G32 = <float *> malloc(p.K * p.P * sizeof(float))
        return s.F32 != NULL and s.LP32 != NULL and s.v32 != NULL and s.G32 != NULL
    s.F32 = <float *> calloc(chunk * _round8(p.P), sizeof(float))
    s.S32 = <float *> malloc(chunk * Kp * sizeof(float))
    s.W32p = <float *> malloc(p.P * Kp * sizeof(float))
    ok = s.F32 != NULL and s.LP32 != NULL and s.v32 != NULL and s.S32 != NULL and s.W32p != NULL
    if ok:
        for j in range(p.P):
            for k in range(Kp):
                s.W32p[j * Kp + k] = p.W32[j * p.K + k] if k < p.K else 0.0
    return ok


cdef void _scratch32_free(Scratch *s) noexcept nogil:
    free(s.F32)
    free(s.LP32)
    free(s.v32)
    free(s.G32)
    free(s.W32p)
    free(s.S32)


cdef inline Py_ssize_t _argmax_col(const double *LP, Py_ssize_t n, Py_ssize_t K,
                                   Py_ssize_t i) noexcept nogil:
    """argmax_k LP[k * n + i], the first on ties (LP already free of NaN/+inf)."""
    cdef Py_ssize_t k, best = 0
    cdef double v, vbest = LP[i]
    for k in range(1, K):
        v = LP[k * n + i]
        if v > vbest:
            vbest = v
            best = k
    return best


cdef inline Py_ssize_t _row(const PassSpec *p, Py_ssize_t pos) noexcept nogil:
    """The row of X at visiting position ``pos``."""
    return p.rows[pos] if p.rows != NULL else pos


cdef void _gather(const PassSpec *p, const floating *X, Py_ssize_t r0, Py_ssize_t n,
                  Scratch *w) noexcept nogil:
    """Rows rows[r0 .. r0 + n) into w.Xg in float64, NaN -> the shift (z = 0 exactly)."""
    cdef Py_ssize_t i
    if floating is float:
        fastgmm_gather_f(X, p.rows + r0, n, p.D, p.c, w.Xg)
    else:
        fastgmm_gather_d(X, p.rows + r0, n, p.D, p.c, w.Xg)
    if p.sw != NULL:
        for i in range(n):
            w.swg[i] = p.sw[p.rows[r0 + i]]


cdef Py_ssize_t _pattern_at(const PassSpec *p, Py_ssize_t pos) noexcept nogil:
    """The pattern whose run holds position ``pos``: the last q with pat_start[q] <= pos."""
    cdef Py_ssize_t lo = 0, hi = p.n_pat, mid
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if p.pat_start[mid] <= pos:
            lo = mid
        else:
            hi = mid
    return lo


cdef inline Py_ssize_t _next_run(const PassSpec *p, Py_ssize_t *q, Py_ssize_t a, Py_ssize_t end, Py_ssize_t *b,
                                 const int64_t **M) noexcept nogil:
    """The run that starts at position ``a``: its pattern (advancing ``q``), its end ``b`` (at most
    ``end``), its missing columns ``M``; returns their count."""
    while p.pat_start[q[0] + 1] <= a:
        q[0] += 1
    b[0] = _min(end, p.pat_start[q[0] + 1])
    M[0] = p.miss_idx + p.miss_ptr[q[0]]
    return p.miss_ptr[q[0] + 1] - p.miss_ptr[q[0]]


cdef bint _missing_runs(const PassSpec *p, Py_ssize_t r0, Py_ssize_t n, Scratch *w, bint stats) noexcept nogil:
    """The missing-value corrections (_missing.h) of each run of the chunk's rows that share a pattern.

    ``stats`` False: the marginal log-densities, into the F W of LP (each run's
    s = Lambda_MM^-1 b kept in w.Sm). True, once LP holds the weighted
    responsibilities: the completed sums, into w.G (and w.T, or the full
    mode's accumulators). Student-t: False also turns each run's distances
    into t log-densities in the run's observed dimension d, with its block
    p.a[d] of normalisers less 1/2 log det Lambda_MM; True weights the
    completions by r u (w.Ub) and the conditional covariance by r, and adds
    sum r (psi_d - psi_D) to w.H. Returns False if some Lambda_MM is not
    positive definite (its row recorded in w.bad).
    """
    cdef Py_ssize_t D = p.D, K = p.K, P = p.P
    cdef Py_ssize_t q = _pattern_at(p, r0)
    cdef Py_ssize_t a = r0, b, m, i, k, i0, end = r0 + n
    cdef bint student = p.resp_mode == _RESP_STUDENT_T
    cdef const int64_t *M
    cdef double *S = w.Sm
    cdef double *hld = w.hld if student else NULL
    cdef const double *R
    cdef double acc
    cdef int status
    while a < end:
        m = _next_run(p, &q, a, end, &b, &M)
        i0 = a - r0
        if m > 0:
            R = (w.Ub if student else w.LP) + i0
            if p.quad == _QFULL and stats:
                status = fastgmm_miss_full_stats(D, K, p.Kp, p.prec, M, m, w.F + i0 * P + 1, P, b - a, R, n,
                                                 w.LP + i0, S, w.Acc, w.lin, w.Mw)
            elif p.quad == _QFULL:
                status = fastgmm_miss_full_loglik(D, K, p.Kp, p.prec, p.dev, M, m, w.F + i0 * P + 1, P, b - a,
                                                  w.LP + i0, n, S, w.Mw, hld)
            elif stats:
                status = fastgmm_miss_stats(D, K, p.quad, p.prec, p.dev, M, m, w.F + i0 * P + 1, P, b - a, R, n,
                                            w.LP + i0, S, w.G, P, w.T, w.Mw)
            else:
                status = fastgmm_miss_loglik(D, K, p.quad, p.prec, p.dev, M, m, w.F + i0 * P + 1, P, b - a,
                                             w.LP + i0, n, S, w.Mw, hld)
            if status < 0:
                if w.bad[0] < 0:
                    w.bad[0] = _row(p, a)
                return False
            S += (p.Kp if p.quad == _QFULL else K) * m * (b - a)
        if student and not stats:
            for k in range(K):
                w.arun[k] = p.a[(D - m) * K + k] - (hld[k] if m > 0 else 0.0)
            fastgmm_t_terms_d(w.LP + i0, w.Ub + i0, w.Vb + i0, b - a, n, K, D - m, w.arun, p.nu)
        elif student and m > 0 and p.psi != NULL:
            for k in range(K):
                acc = 0.0
                for i in range(i0, i0 + b - a):
                    acc = acc + w.LP[k * n + i]
                w.H[k] += acc * p.psi[(D - m) * K + k]
        a = b
    return True


cdef void _missing_fill(const PassSpec *p, floating *out, Py_ssize_t r0, Py_ssize_t n, Scratch *w) noexcept nogil:
    """The chunk's rows into ``out`` (p.fill_out), each NaN replaced by its conditional expectation (E-step done).

    Each run's missing coordinates of z (F's z columns, 0 there) get sum_k r_k
    E[z_M | x_o, k] from LP's responsibilities and the runs' s (w.Sm); then
    every row is written as c + z in X's dtype (observed values unchanged:
    x - c + c is x exactly only up to rounding, so observed entries are
    copied from the gathered row instead).
    """
    cdef Py_ssize_t D = p.D, K = p.K, P = p.P
    cdef Py_ssize_t q = _pattern_at(p, r0)
    cdef Py_ssize_t a = r0, b, m, i, j, i0, row, end = r0 + n
    cdef const int64_t *M
    cdef double *S = w.Sm
    while a < end:
        m = _next_run(p, &q, a, end, &b, &M)
        i0 = a - r0
        if m > 0:
            fastgmm_miss_fill(D, K, p.Kp, p.quad, p.dev, M, m, b - a, w.LP + i0, n, S, w.F + i0 * P + 1, P)
            S += (p.Kp if p.quad == _QFULL else K) * m * (b - a)
            for i in range(i0, i0 + b - a):
                for j in range(m):
                    w.Xg[i * D + M[j]] = p.c[M[j]] + w.F[i * P + 1 + M[j]]
        for i in range(i0, i0 + b - a):
            row = _row(p, r0 + i)
            for j in range(D):
                out[row * D + j] = <floating> w.Xg[i * D + j]
        a = b


# ---------------------------------------------------------------------------
# The per-chunk worker
# ---------------------------------------------------------------------------

cdef void _chunk(
    const PassSpec *p,
    const floating *X,        # IN  (N, D) all rows
    Py_ssize_t r0,            # IN  first position (row, or index into rows) of the chunk
    Py_ssize_t n,             # IN  rows in the chunk
    Py_ssize_t s,             # IN  the chunk's slot (its sums go to w.G, w.T, w.R, w.H, w.ll, w.bad)
    Scratch *w,               # SCRATCH of this thread
) noexcept nogil:
    cdef Py_ssize_t D = p.D, K = p.K, P = p.P
    cdef Py_ssize_t i, k, d, lab, row, bad
    cdef double total, wi, r, acc, h
    cdef double *F = w.F
    cdef double *LP = w.LP
    cdef double *rl = NULL
    cdef floating *resp_out = <floating *> p.resp_out
    cdef floating *u_out = <floating *> p.u_out
    cdef floating *u_mix_out = <floating *> p.u_mix_out
    cdef bint student = p.resp_mode == _RESP_STUDENT_T
    cdef bint estep = p.resp_mode == _RESP_ESTEP or p.resp_mode == _RESP_HARD or student
    # (a Student-t pass with given responsibilities, an HMM's posteriors, computes the scale weights u only)
    cdef bint softmax = (p.resp_mode == _RESP_ESTEP or student) and p.resp_in == NULL
    cdef const double *sw = p.sw + r0 if p.sw != NULL else NULL

    # 1. features (z in float64 for either dtype of X)
    if p.quad == _QONEHOT:
        bad = fastgmm_features_onehot(p.codes + r0 * D, n, D, p.offsets, F, P)
        if bad >= 0 and w.bad[0] < 0:
            w.bad[0] = r0 * D + bad
    elif p.rows != NULL:
        _gather(p, X, r0, n, w)
        fastgmm_features_dd(w.Xg, n, D, p.c, p.quad, F, P, w.Y)
        if sw != NULL:
            sw = w.swg
    elif floating is float:
        fastgmm_features_fd(X + r0 * D, n, D, p.c, p.quad, F, P, w.Y)
    else:
        fastgmm_features_dd(X + r0 * D, n, D, p.c, p.quad, F, P, w.Y)
    if estep and p.quad == _QTIED and p.Pw == 0:
        for i in range(n):
            for d in range(D):
                w.Y[i * D + d] = F[i * P + 1 + d]
        _trmm_rows_upper(<int> n, <int> D, p.U, w.Y)
        fastgmm_tied_q_d(w.Y, n, D, F, P)

    # 2-3. responsibilities
    if estep:
        if p.Pw > 0:
            _gemm_f_w_lead(<int> n, <int> p.Pw, <int> P, <int> K, F, p.W, LP)
        else:
            _gemm_f_w(<int> n, <int> P, <int> K, F, p.W, LP)
        if p.pat_start != NULL and not _missing_runs(p, r0, n, w, False):
            return          # the pass fails (_run_checked): its sums are discarded
        if student:
            # F W holds the Mahalanobis distances: into the t log-densities (in
            # place), u (w.Ub) and log u - u (w.Vb).
            if p.pat_start == NULL:       # (the missing mode did each run's, with its dimension)
                fastgmm_t_terms_d(LP, w.Ub, w.Vb, n, n, K, D, p.a, p.nu)
            if u_out != NULL:
                for i in range(n):
                    row = _row(p, r0 + i)
                    for k in range(K):
                        u_out[row * K + k] = <floating> w.Ub[k * n + i]
        if p.lp_out != NULL:
            for i in range(n):
                row = _row(p, r0 + i)
                for k in range(K):
                    p.lp_out[row * K + k] = LP[k * n + i]
        if student and p.resp_in != NULL:
            for k in range(K):
                for i in range(n):
                    LP[k * n + i] = p.resp_in[_row(p, r0 + i) * K + k]
        if p.labels_out != NULL or p.resp_mode == _RESP_HARD:
            fastgmm_fix_d(LP, n * K)
            for i in range(n):
                lab = _argmax_col(LP, n, K, i)
                if p.labels_out != NULL:
                    p.labels_out[_row(p, r0 + i)] = lab
                if p.resp_mode == _RESP_HARD:
                    w.rl[i] = <double> lab      # kept until LP is overwritten below
            if p.resp_mode == _RESP_HARD and p.T != NULL:
                # (without T the statistics add each row to its component, below)
                for k in range(K):
                    for i in range(n):
                        LP[k * n + i] = 1.0 if <Py_ssize_t> w.rl[i] == k else 0.0
        if softmax and (p.ll != NULL or p.row_ll != NULL or p.G != NULL or resp_out != NULL
                        or u_mix_out != NULL or p.fill_out != NULL):
            if p.row_ll != NULL:
                rl = p.row_ll + r0 if p.rows == NULL else w.rl
            # With weights the responsibilities come out scaled by them (step 4
            # done in the normalisation's last pass), and the sum is weighted.
            total = fastgmm_normalise_d(LP, n, K, w.mx, w.sm, rl, sw)
            if p.ll != NULL:
                w.ll[0] += total
            if p.row_ll != NULL and p.rows != NULL:
                for i in range(n):
                    p.row_ll[p.rows[r0 + i]] = w.rl[i]
            if resp_out != NULL:
                for i in range(n):
                    row = _row(p, r0 + i)
                    for k in range(K):
                        resp_out[row * K + k] = <floating> LP[k * n + i]
            if p.fill_out != NULL:
                _missing_fill(p, <floating *> p.fill_out, r0, n, w)
            if u_mix_out != NULL:
                for i in range(n):
                    acc = 0.0
                    for k in range(K):
                        acc = acc + LP[k * n + i] * w.Ub[k * n + i]
                    u_mix_out[_row(p, r0 + i)] = <floating> acc
    elif p.resp_mode == _RESP_GIVEN:
        if p.pat_start != NULL:
            # The completed statistics need each run's Lambda_MM^-1 b, which the
            # E-step corrections make (from the features; the log-densities they
            # also correct are then replaced by the given responsibilities).
            for i in range(n * K):
                LP[i] = 0.0
            if not _missing_runs(p, r0, n, w, False):
                return
        for k in range(K):
            for i in range(n):
                LP[k * n + i] = p.resp_in[_row(p, r0 + i) * K + k]
    elif p.T != NULL:
        # (without T the statistics add each row to its component, below)
        for k in range(K):
            for i in range(n):
                LP[k * n + i] = 1.0 if p.labels_in[_row(p, r0 + i)] == k else 0.0

    if p.G == NULL:
        return
    if (p.resp_mode == _RESP_LABELS or p.resp_mode == _RESP_HARD) and p.T == NULL:
        # One-hot responsibilities (given labels, or the hard assignment of
        # step 2, kept in w.rl): each row's (weighted) features go to its
        # component's sums, P additions a row instead of the GEMM's 2 K P
        # flops over mostly zeros. Rows are added in order, as the GEMM's
        # one-hot products would be; a label outside 0 .. K - 1 adds nothing.
        if p.resp_mode == _RESP_LABELS:
            for i in range(n):
                lab = p.labels_in[_row(p, r0 + i)]
                w.rl[i] = <double> lab if 0 <= lab < K else -1.0
        fastgmm_add_by_label_d(F, n, P, w.rl, K, sw, w.G)
        return
    # 4. sample weights scale the responsibilities (the softmax did it already)
    if sw != NULL and not softmax:
        for k in range(K):
            for i in range(n):
                LP[k * n + i] = LP[k * n + i] * sw[i]
    # 5. statistics
    if student:
        # sum r and sum r (log u - u) per component, in row order; the GEMM
        # then sums r u f(x) (w.Ub := r u).
        for k in range(K):
            acc = 0.0
            h = 0.0
            for i in range(n):
                r = LP[k * n + i]
                acc = acc + r
                if r != 0.0:      # log u - u is -inf where delta is: 0 * -inf must not be NaN
                    h = h + r * w.Vb[k * n + i]
                w.Ub[k * n + i] = r * w.Ub[k * n + i]
            w.R[k] += acc
            w.H[k] += h
        _gemm_ft_r(<int> n, <int> P, <int> K, F, w.Ub, w.G)
    else:
        _gemm_ft_r(<int> n, <int> P, <int> K, F, LP, w.G)
    if p.pat_start != NULL and not _missing_runs(p, r0, n, w, True):
        return
    if p.T != NULL:
        if sw != NULL:
            for i in range(n):
                wi = sqrt(sw[i])
                for d in range(D):
                    w.Y[i * D + d] = wi * F[i * P + 1 + d]
            _syrk_gram(<int> n, <int> D, w.Y, <int> D, w.C)
        else:
            _syrk_gram(<int> n, <int> D, F + 1, <int> P, w.C)
        for i in range(D):
            for d in range(i + 1):
                w.T[i * D + d] += w.C[i * D + d]


cdef void _chunk32(
    const PassSpec *p,
    const float *X,           # IN  (N, D) all rows
    Py_ssize_t r0,            # IN  first row of the chunk
    Py_ssize_t n,             # IN  rows in the chunk
    Py_ssize_t s,             # IN  the chunk's slot
    Scratch *w,               # SCRATCH of this thread
) noexcept nogil:
    """`_chunk` of a fit pass (E-step and statistics, full, diag or spherical, no rows by index) in float32.

    Steps 1-5 of the module docstring with float32 features, SGEMMs and
    log-sum-exp; the chunk's sums go into the slot's float64 partial. A chunk
    with a row whose every log-density is -inf is done again by `_chunk`, in
    sub-chunks of _FALLBACK_ROWS rows (the float64 scratch's size).
    """
    cdef Py_ssize_t dead = 0, m
    cdef Py_ssize_t ldf = _round8(p.P) if p.g32 else p.P
    cdef float *mx = w.v32
    cdef float *sm = w.v32 + n
    cdef double total
    fastgmm_features_ff(X + r0 * p.D, n, p.D, p.c, p.quad, w.F32, ldf, w.v32 + 2 * n)
    if p.g32:
        fastgmm_gemm32_fw(w.F32, ldf, n, p.P, w.W32p, _round8(p.K), p.K, w.S32, w.LP32, p.g32 == 2)
    else:
        _gemm_f_w(<int> n, <int> p.P, <int> p.K, <const float *> w.F32, p.W32, w.LP32)
    total = fastgmm_normalise_f(w.LP32, n, p.K, mx, sm, p.sw + r0 if p.sw != NULL else NULL, &dead)
    if dead:
        while n > 0:
            m = _min(n, _FALLBACK_ROWS)
            _chunk(p, X, r0, m, s, w)
            r0 = r0 + m
            n = n - m
        return
    w.ll[0] += total
    if p.g32:
        fastgmm_gemm32_rtf(w.F32, ldf, n, p.P, w.LP32, p.K, w.G, p.g32 == 2)
        return
    _gemm_ft_r_set(<int> n, <int> p.P, <int> p.K, <const float *> w.F32, <const float *> w.LP32, w.G32)
    fastgmm_add_f_to_d(w.G, w.G32, p.K * p.P)


# ---------------------------------------------------------------------------
# The one loop over the rows
# ---------------------------------------------------------------------------

cdef void _begin_slot(const PassSpec *p, Scratch *w) noexcept nogil:
    """Point w.G, w.T, w.R, w.H, w.ll, w.bad at the thread's next partial, zeroed."""
    cdef Layout L = _partial_layout(p)
    cdef Partial *q = slot_begin(&w.slots)
    w.G = q.v + L.G
    w.T = q.v + L.T
    w.R = q.v + L.R
    w.H = q.v + L.H
    w.ll = q.v + L.ll
    w.bad = &q.bad


cdef void _partial_add(const void *spec, void *part, int64_t s, int64_t j0, int64_t j1) noexcept nogil:
    """Values j0 .. j1 - 1 of slot s's partial into the outputs.

    _ordered.h calls it for s = 0, 1, 2, ... in that order for each block of
    values. T's upper triangle is added too: it is zero in every partial, so
    the output's stays zero.
    """
    cdef const PassSpec *p = <const PassSpec *> spec
    cdef const Partial *q = <const Partial *> part
    cdef Py_ssize_t KP = p.K * p.P, DD = p.D * p.D
    cdef Layout L = _partial_layout(p)
    if p.G != NULL:
        add_range(p.G, q.v, j0, j1, L.G, L.G + KP)
    if p.T != NULL:
        add_range(p.T, q.v, j0, j1, L.T, L.T + DD)
    if p.R != NULL:
        add_range(p.R, q.v, j0, j1, L.R, L.R + p.K)
    if p.H != NULL:
        add_range(p.H, q.v, j0, j1, L.H, L.H + p.K)
    if p.ll != NULL:
        add_range(p.ll, q.v, j0, j1, L.ll, L.ll + 1)
    if j0 == 0 and p.bad_code != NULL and p.bad_code[0] < 0:
        p.bad_code[0] = q.bad


cdef int _run_slots(
    const PassSpec *p,
    const floating *X,
    Py_ssize_t chunk_rows,
    Py_ssize_t slot_rows,
    Py_ssize_t n_slots,
    int n_threads,
) noexcept nogil:
    """Every chunk of every slot through `_chunk`, the slots' sums added into the
    outputs in slot order (the ordered reduction of _ordered.h, which says why it cannot
    deadlock); returns -1 if a thread could not allocate its scratch, else 0.

    A thread has two partials when there are other threads to overlap with, so that it
    computes its next slot instead of waiting while an earlier slot is still running.
    """
    cdef fastgmm_order order
    cdef bint ordered = (p.G != NULL or p.T != NULL or p.R != NULL or p.H != NULL or p.ll != NULL
                         or p.bad_code != NULL)
    if fastgmm_order_init(&order, n_slots, ordered, _partial_layout(p).n, _add_block):
        return -1
    cdef int n_part = _max_partials if n_threads > 1 and ordered else 1
    cdef Py_ssize_t s, r0, r_end, n
    cdef Scratch *w
    cdef bint ok
    with parallel(num_threads=n_threads):
        # Assigned inside the parallel block, so private to each thread.
        w = <Scratch *> calloc(1, sizeof(Scratch))
        ok = (w != NULL and _scratch_alloc(w, p, chunk_rows, n_part)
              and omp_get_thread_num() != _failing_thread)
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
                if floating is float:
                    if p.W32 != NULL:
                        _chunk32(p, X, r0, n, s, w)
                    else:
                        _chunk(p, X, r0, n, s, w)
                else:
                    _chunk(p, X, r0, n, s, w)
                r0 = r0 + n
            if w.Acc != NULL:
                fastgmm_miss_full_fold(p.D, p.K, p.Kp, p.pair, w.Acc, w.lin, w.G, p.P)
            fastgmm_order_done(&order, &w.slots.order, s, w.slots.parts, _partial_add, p)
        if ok:
            fastgmm_order_finish(&order, &w.slots.order, w.slots.parts, _partial_add, p)
        if w != NULL:
            _scratch_free(w)
        free(w)
    fastgmm_add_relaxed(&_count_slots, n_slots)
    fastgmm_add_relaxed(&_count_waits, order.waits)
    cdef bint failed = fastgmm_order_failed(&order)
    fastgmm_order_free(&order)
    return -1 if failed else 0


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------

cdef Py_ssize_t _check_layout(Py_ssize_t N, Py_ssize_t chunk_rows, Py_ssize_t slot_rows,
                              int n_threads) except -1:
    if chunk_rows < 1 or slot_rows < chunk_rows or slot_rows % chunk_rows:
        raise ValueError("slot_rows must be a positive multiple of chunk_rows")
    if n_threads < 1:
        raise ValueError("n_threads must be >= 1")
    return _max(1, (N + slot_rows - 1) // slot_rows)


cdef void _init_spec(PassSpec *p, Py_ssize_t N, Py_ssize_t D, Py_ssize_t K, int quad,
                     int resp_mode) except *:
    """A pass over N x D rows for K components: every input and output unset (NULL)."""
    _init_spec_p(p, N, D, K, quad, resp_mode, n_features_out(quad, D))


cdef void _init_spec_p(PassSpec *p, Py_ssize_t N, Py_ssize_t D, Py_ssize_t K, int quad, int resp_mode,
                       Py_ssize_t P) noexcept nogil:
    """:func:`_init_spec` with the feature count P given."""
    p.N, p.D, p.K = N, D, K
    p.quad = quad
    p.P = P
    p.resp_mode = resp_mode
    p.c = p.W = p.U = p.a = p.nu = p.sw = p.resp_in = NULL
    p.W32 = NULL
    p.Pw = 0
    p.g32 = 0
    p.labels_in = p.rows = NULL
    p.codes = NULL
    p.offsets = NULL
    p.n_pat = p.mmax = 0
    p.Kp = K
    p.pat_start = p.miss_ptr = p.miss_idx = p.pair = NULL
    p.prec = p.dev = p.psi = NULL
    p.bad_code = NULL
    p.G = p.T = p.R = p.H = p.ll = p.row_ll = NULL
    p.labels_out = NULL
    p.lp_out = NULL
    p.resp_out = p.u_out = p.u_mix_out = p.fill_out = NULL


cdef int _set_codes(PassSpec *p, const int32_t[:, ::1] codes, const int64_t[::1] offsets) except -1:
    """Categorical codes and column offsets for the one-hot code; sets P = 1 + offsets[D].

    The codes themselves are checked by the kernel as it reads them (see
    `_run_checked`): a code outside its column's range would otherwise
    index outside the feature row.
    """
    cdef Py_ssize_t d
    if p.quad != _QONEHOT:
        if codes is not None or offsets is not None:
            raise ValueError("codes and offsets are only for the one-hot feature code")
        return 0
    if codes is None or offsets is None:
        raise ValueError("the one-hot feature code needs codes and offsets")
    if codes.shape[0] != p.N or codes.shape[1] != p.D:
        raise ValueError("codes must have the shape of X (n_samples, n_features)")
    if offsets.shape[0] != p.D + 1 or offsets[0] != 0:
        raise ValueError("offsets must have n_features + 1 entries, the first 0")
    for d in range(p.D):
        if offsets[d + 1] <= offsets[d]:
            raise ValueError("offsets must be increasing: every column has at least one category")
    p.P = 1 + offsets[p.D]
    if p.N:
        p.codes = &codes[0, 0]
    p.offsets = &offsets[0]
    return 0


cdef int _run_checked(PassSpec *p, const floating *X, Py_ssize_t chunk_rows,
                      Py_ssize_t slot_rows, Py_ssize_t n_slots, int n_threads) except? -2:
    """`_run_slots`, and for the one-hot code a ValueError naming the first invalid code (by row order).

    Each slot keeps the first invalid code it meets (chunks in row order) and
    the ordered reduction keeps the first slot's: the first in row order.
    """
    cdef int status
    cdef int64_t bad[1]
    if p.quad != _QONEHOT and p.pat_start == NULL:
        with nogil:
            status = _run_slots(p, X, chunk_rows, slot_rows, n_slots, n_threads)
        return status
    bad[0] = -1
    p.bad_code = &bad[0]
    try:
        with nogil:
            status = _run_slots(p, X, chunk_rows, slot_rows, n_slots, n_threads)
    finally:
        p.bad_code = NULL
    if status == 0 and bad[0] >= 0 and p.pat_start != NULL:
        raise ValueError(f"row {bad[0]}: a component's precision matrix is not positive definite on the row's "
                         "missing coordinates (the covariance is numerically singular); increase reg_covar")
    if status == 0 and bad[0] >= 0:
        raise ValueError(f"code {p.codes[bad[0]]} at row {bad[0] // p.D}, column {bad[0] % p.D} is outside its "
                         "column's categories")
    return status


cdef void _set_coefficients(PassSpec *p, const double[::1] shift, const double[:, ::1] W,
                            const double[:, ::1] U) except *:
    """Shift and coefficients."""
    if shift.shape[0] != p.D:
        raise ValueError("shift must have n_features entries")
    p.c = &shift[0]
    if W is not None:
        linear = (p.resp_mode == _RESP_HARD and p.quad != _QONEHOT and p.quad != _QLINEAR
                  and W.shape[0] == 1 + p.D)
        if (W.shape[0] != p.P and not linear) or W.shape[1] != p.K:
            raise ValueError(f"W must have shape ({p.P}, {p.K}) (features, components)"
                             + (f" or ({1 + p.D}, {p.K}) (linear, hard assignment)"
                                if p.resp_mode == _RESP_HARD else ""))
        p.W = &W[0, 0]
        if linear:
            # Linear coefficients (a hard assignment to the nearest centre): the
            # GEMM reads only the constant and z of each feature row. (The
            # missing mode, whose corrections need every coefficient, takes no
            # hard assignment: _set_missing refuses RESP_HARD.)
            p.Pw = 1 + p.D
    if p.quad == _QTIED and U is not None:
        if U.shape[0] != p.D or U.shape[1] != p.D:
            raise ValueError("U must be (n_features, n_features) for tied covariances")
        p.U = &U[0, 0]


cdef bint _set_missing(PassSpec *p, const int64_t[::1] rows, const int64_t[::1] pat_start,
                       const int64_t[::1] miss_ptr, const int64_t[::1] miss_idx, const double[::1] prec,
                       const double[::1] dev, const int64_t[::1] pair, bint statistics) except -1:
    """The missing mode (_missing.h): ``rows`` sorted by NaN pattern, visited in slots of positions.

    Every index is checked here, once. Returns False (and changes nothing)
    without ``pat_start``. ``statistics``: the pass sums statistics (full
    covariances then need ``pair``).
    """
    cdef Py_ssize_t j, q, lo, hi, n_pat, D = p.D, K = p.K
    if pat_start is None:
        if miss_ptr is not None or miss_idx is not None or prec is not None or dev is not None or pair is not None:
            raise ValueError("the missing mode's arrays need pat_start")
        return False
    if rows is None:
        raise ValueError("the missing mode needs rows (sorted by pattern)")
    if p.resp_mode != _RESP_ESTEP and p.resp_mode != _RESP_STUDENT_T and p.resp_mode != _RESP_GIVEN:
        raise ValueError("the missing mode takes RESP_ESTEP, RESP_STUDENT_T or RESP_GIVEN (an HMM's posteriors)")
    if p.quad != _QFULL and p.quad != _QDIAG and p.quad != _QSPHERICAL and p.quad != _QTIED:
        raise ValueError("the missing mode takes the Gaussian feature codes only")
    n_pat = pat_start.shape[0] - 1
    if n_pat < 1 or miss_ptr is None or miss_ptr.shape[0] != n_pat + 1 or miss_idx is None:
        raise ValueError("pat_start and miss_ptr must have n_patterns + 1 entries, with miss_idx")
    if pat_start[0] != 0 or pat_start[n_pat] != rows.shape[0]:
        raise ValueError("the patterns' runs must cover rows exactly")
    for q in range(n_pat):
        if pat_start[q + 1] < pat_start[q]:
            raise ValueError("pat_start must be non-decreasing")
        lo, hi = miss_ptr[q], miss_ptr[q + 1]
        if lo < 0 or hi < lo or hi > miss_idx.shape[0] or hi - lo > D:
            raise ValueError("miss_ptr must give ranges of miss_idx, at most n_features each")
        for j in range(lo, hi):
            if miss_idx[j] < 0 or miss_idx[j] >= D or (j > lo and miss_idx[j] <= miss_idx[j - 1]):
                raise ValueError("a pattern's missing coordinates must be increasing column indices")
    for j in range(rows.shape[0]):
        if rows[j] < 0 or rows[j] >= p.N:
            raise ValueError("rows must be indices of rows of X")
    cdef Py_ssize_t Kp = (K + 7) // 8 * 8
    cdef Py_ssize_t n_prec = (D * D * Kp if p.quad == _QFULL else D * D if p.quad == _QTIED else K * D)
    cdef Py_ssize_t n_dev = D * Kp if p.quad == _QFULL else K * D
    if prec is None or prec.shape[0] != n_prec:
        raise ValueError(f"prec must have {n_prec} entries (the precisions, flattened in the mode's layout)")
    if dev is None or dev.shape[0] != n_dev:
        raise ValueError(f"dev must have {n_dev} entries (mu_k - shift, flattened in the mode's layout)")
    p.mmax = 0
    for q in range(n_pat):
        p.mmax = _max(p.mmax, miss_ptr[q + 1] - miss_ptr[q])
    p.Kp = Kp
    if p.quad == _QFULL and statistics:
        if pair is None or pair.shape[0] != D * D:
            raise ValueError("the full missing mode needs pair, (n_features * n_features,)")
        for j in range(D * D):
            if pair[j] <= D or pair[j] >= p.P:
                raise ValueError("pair must index the quadratic features")
        p.pair = &pair[0]
    p.n_pat = n_pat
    p.pat_start = &pat_start[0]
    p.miss_ptr = &miss_ptr[0]
    p.miss_idx = &miss_idx[0] if miss_idx.shape[0] else NULL
    p.prec = &prec[0]
    p.dev = &dev[0]
    p.N = rows.shape[0]
    p.rows = &rows[0] if p.N else NULL
    return True


cdef Py_ssize_t _set_visits(PassSpec *p, const int64_t[::1] rows, const int64_t[::1] pat_start,
                            const int64_t[::1] miss_ptr, const int64_t[::1] miss_idx, const double[::1] prec,
                            const double[::1] dev, const int64_t[::1] pair, bint statistics,
                            Py_ssize_t chunk_rows, Py_ssize_t slot_rows, int n_threads,
                            Py_ssize_t n_slots) except -1:
    """Which rows the pass visits: all in order, or ``rows`` in the missing mode; returns the slot count."""
    if _set_missing(p, rows, pat_start, miss_ptr, miss_idx, prec, dev, pair, statistics):
        return _check_layout(p.N, chunk_rows, slot_rows, n_threads)
    if rows is not None:
        raise ValueError("rows by index are for the missing mode (with pat_start)")
    return n_slots


cdef int estep_statistics_f64(int quad, Py_ssize_t N, Py_ssize_t D, Py_ssize_t K, Py_ssize_t P,
                              const double *X, const double *sw, const double *shift, const double *W,
                              const double *U, Py_ssize_t chunk_rows, Py_ssize_t slot_rows, Py_ssize_t n_slots,
                              int n_threads, double *G, double *T, double *ll, const int64_t *labels=NULL) noexcept nogil:
    """The E-step mode of :func:`accumulate_statistics` on pointers, for float64 X without missing values or
    one-hot codes (the compiled EM step, ``fastgmm.kernels._emrun``): the same pass, so the same sums;
    with ``labels`` (N,) the labels mode instead (W and U unused). The caller has checked the shapes and
    the layout (``n_slots`` slots of ``slot_rows`` rows); G (K * P), T (D * D, tied only, else NULL) and
    ll (1) must be zero-filled. Returns 0, or -1 when scratch memory could not be allocated."""
    cdef PassSpec p
    _init_spec_p(&p, N, D, K, quad, _RESP_ESTEP if labels == NULL else _RESP_LABELS, P)
    p.labels_in = labels
    p.c = shift
    p.W = W if labels == NULL else NULL
    p.U = U if quad == _QTIED and labels == NULL else NULL
    p.sw = sw
    p.G = G
    p.T = T if quad == _QTIED else NULL
    p.ll = ll
    if N == 0:
        return 0
    return _run_slots(&p, X, chunk_rows, slot_rows, n_slots, <int> _min(n_threads, n_slots))


def accumulate_statistics(
    const floating[:, ::1] X,           # IN  (n_samples, n_features)
    int quad,                           # IN  QFULL, QDIAG, QSPHERICAL or QTIED
    Py_ssize_t n_components,            # IN  K
    const double[::1] shift,            # IN  (D,) c: features are of z = x - c
    int resp_mode,                      # IN  RESP_ESTEP, RESP_HARD, RESP_GIVEN or RESP_LABELS
    const double[:, ::1] W,             # IN  (P, K) f(x) . W[:, k] = log w_k + log N(x | k) (ESTEP, HARD), else None;
                                        #     HARD also takes (1 + D, K): coefficients of [1, z] only
    const double[:, ::1] U,             # IN  (D, D) tied precision factor (ESTEP with tied), else None
    const double[:, ::1] resp,          # IN  (n_samples, K) responsibilities (GIVEN), else None
    const int64_t[::1] labels,          # IN  (n_samples,) labels, -1 for none (LABELS), else None
    const double[::1] sample_weight,    # IN  (n_samples,) non-negative weights, or None (all 1)
    Py_ssize_t chunk_rows,              # IN  rows per chunk
    Py_ssize_t slot_rows,               # IN  rows per slot, a multiple of chunk_rows
    double[:, ::1] G_out,               # IN/OUT (1, K * P) += sum_i w_i r_ik f(x_i), K x P row-major
    double[:, ::1] T_out,               # IN/OUT (1, D * D) tied: += sum_i w_i z_i z_i^T (lower), else None
    double[::1] ll_out,                 # IN/OUT (1,) += sum_i w_i log p(x_i) (ESTEP)
    int n_threads,                      # IN
    const int64_t[::1] rows=None,       # IN  missing mode: (n_visit,) rows of X to visit, in order, or None (all)
    const int32_t[:, ::1] codes=None,   # IN  (n_samples, n_features) categorical codes (QONEHOT), else None
    const int64_t[::1] offsets=None,    # IN  (n_features + 1,) cumulative category counts (QONEHOT), else None
    const int64_t[::1] pat_start=None,  # IN  missing mode: (n_pat + 1,) runs of positions in rows, one per pattern
    const int64_t[::1] miss_ptr=None,   # IN  (n_pat + 1,) each pattern's range of miss_idx
    const int64_t[::1] miss_idx=None,   # IN  the patterns' missing columns, increasing within a pattern
    const double[::1] prec=None,        # IN  full (D * D * Kp) [a, d, k], tied (D * D); diag, spherical (K * D)
    const double[::1] dev=None,         # IN  full (D * Kp), else (K * D): mu_k - shift
    const int64_t[::1] pair=None,       # IN  full: (D * D,) index in f(z) of z_a z_b
    const float[:, ::1] W32=None,       # IN  (P, K) W in float32: compute in float32 (float32 X, ESTEP,
                                        #     QFULL, QDIAG or QSPHERICAL, no rows), else None
):
    """Add one pass of EM statistics over X to the outputs.

    The slots' sums (slots of ``slot_rows`` rows) are added into the outputs
    in slot order, so the result is the same for any thread count, and the
    same for a pass split into consecutive calls over whole slots (each call
    adding to the same outputs, zero-filled by the caller before the first).
    Returns -1 if scratch memory could not be allocated, else
    0 (the outputs are then partly summed: discard them). A row that no
    component can produce (and has a non-zero weight) makes ``ll_out`` -inf.

    Missing mode (``pat_start`` given; _missing.h): ``rows`` are X's rows
    sorted by NaN pattern, visited in slots of ``slot_rows`` positions,
    under the complete-data W (and U); the rows of pattern q,
    positions ``pat_start[q] .. pat_start[q + 1] - 1``, miss the columns
    ``miss_idx[miss_ptr[q]:miss_ptr[q + 1]]`` (their values are never read).
    Each row's log-density is then its observed part's marginal and the sums
    are the completed statistics (E[f(z) | x_o] per component). A component whose precision is not positive definite on a
    pattern's missing block raises ValueError.
    """
    cdef PassSpec p
    _init_spec(&p, X.shape[0], X.shape[1], n_components, quad, resp_mode)
    _set_codes(&p, codes, offsets)
    cdef Py_ssize_t n_slots = _check_layout(p.N, chunk_rows, slot_rows, n_threads)
    if p.K < 1:
        raise ValueError("n_components must be >= 1")
    _set_coefficients(&p, shift, W, U)
    if resp_mode == _RESP_ESTEP or resp_mode == _RESP_HARD:
        if p.W == NULL:
            raise ValueError("this mode needs the coefficients W")
        if resp_mode == _RESP_ESTEP and quad == _QTIED and p.U == NULL:
            raise ValueError("the tied E-step needs the precision factor U")
    elif resp_mode == _RESP_GIVEN:
        if resp is None or resp.shape[0] != p.N or resp.shape[1] != p.K:
            raise ValueError("resp must have shape (n_samples, n_components)")
        if p.N:
            p.resp_in = &resp[0, 0]
    elif resp_mode == _RESP_LABELS:
        if labels is None or labels.shape[0] != p.N:
            raise ValueError("labels must have n_samples entries")
        if p.N:
            p.labels_in = &labels[0]
    elif resp_mode == _RESP_STUDENT_T:
        raise ValueError("the Student-t mode has its own entry with its own outputs: accumulate_t_statistics")
    else:
        raise ValueError(f"unknown responsibility mode {resp_mode}")
    if sample_weight is not None:
        if sample_weight.shape[0] != p.N:
            raise ValueError("sample_weight must have n_samples entries")
        if p.N:
            p.sw = &sample_weight[0]
    n_slots = _set_visits(&p, rows, pat_start, miss_ptr, miss_idx, prec, dev, pair, True, chunk_rows, slot_rows,
                          n_threads, n_slots)
    if (G_out is None or G_out.shape[0] != 1 or G_out.shape[1] != p.K * p.P
            or ll_out is None or ll_out.shape[0] != 1):
        raise ValueError(f"output shapes do not match the layout: G_out (1, {p.K * p.P}), ll_out (1,)")
    p.G = &G_out[0, 0]
    p.ll = &ll_out[0]
    if quad == _QTIED:
        if T_out is None or T_out.shape[0] != 1 or T_out.shape[1] != p.D * p.D:
            raise ValueError("tied statistics need T_out of shape (1, D * D)")
        p.T = &T_out[0, 0]
    if W32 is not None:
        _set_float32(&p, W32, floating is float)
    if p.N == 0:
        return 0
    n_threads = <int> _min(n_threads, n_slots)
    return _run_checked(&p, &X[0, 0], chunk_rows, slot_rows, n_slots, n_threads)


cdef int _set_float32(PassSpec *p, const float[:, ::1] W32, bint x_float32) except -1:
    """The float32 path's coefficients, for the passes it covers (see `_chunk32`)."""
    if not x_float32:
        raise ValueError("the float32 path (W32) is for float32 data")
    if (p.resp_mode != _RESP_ESTEP or (p.quad != _QFULL and p.quad != _QDIAG and p.quad != _QSPHERICAL)
            or p.rows != NULL):
        raise ValueError("the float32 path (W32) covers the E-step of full, diag and spherical covariances, "
                         "without rows by index")
    if W32.shape[0] != p.P or W32.shape[1] != p.K:
        raise ValueError(f"W32 must have shape ({p.P}, {p.K})")
    p.W32 = &W32[0, 0]
    p.g32 = _gemm32_for(p.P)
    return 0


# The float32 path's products (_gemm32.h or SGEMM): -1 chooses by shape and CPU
# (_gemm32_for); 0, 1, 2 force SGEMM, the portable or the x86-64-v3 kernels (tests).
cdef int _gemm32_mode = -1

# Smallest P for which the float32 path's products are _gemm32.h's kernels.
# They read F in place where SGEMM packs it twice per chunk, which pays when
# F is wide: one W6 pass (P = 2145, K = 32), interleaved on a shared machine,
# 0.35 s against 0.49 with SGEMM on 2 threads in a quiet moment (float64
# 0.77), 0.63-0.65 against 0.88-0.91 on 1 thread; the products alone on one
# 192-row chunk in a C harness, 93 and 80-93 GFLOP/s against SGEMM's 67 and
# 72 (benchmarks/NOTES.md). On W2o's shape (P = 153, K = 16, 96 rows) and the
# diagonal ones SGEMM's small-matrix path was as fast or faster (103 vs 112
# GFLOP/s for F W; P = 33: 50 vs 72), so they keep it.
cdef Py_ssize_t _GEMM32_MIN_P = 512


cdef int _gemm32_for(Py_ssize_t P) noexcept nogil:
    """Which products the float32 path of a pass of this shape uses (PassSpec.g32)."""
    if _gemm32_mode >= 0:
        return _gemm32_mode
    if P >= _GEMM32_MIN_P and fastgmm_gemm32_fast():
        return 2
    return 0


def _set_gemm32(int mode):
    """Force the float32 path's products of later passes: -1 by shape and CPU, 0 SGEMM,
    1 the portable kernels, 2 the x86-64-v3 ones (ValueError where the CPU has no FMA); for tests."""
    global _gemm32_mode
    if mode not in (-1, 0, 1, 2):
        raise ValueError("mode must be -1, 0, 1 or 2")
    if mode == 2 and not fastgmm_gemm32_fast():
        raise ValueError("this CPU has no AVX2 with FMA")
    _gemm32_mode = mode


def _gemm32_kernels(const float[:, ::1] F, Py_ssize_t P, const float[:, ::1] W, Py_ssize_t K,
                    const float[:, ::1] R, double[:, ::1] G, float[:, ::1] LP, int version):
    """The two products of _gemm32.h on given arrays; for the tests.

    F (n, ldf >= P rounded up to 8), W (P, Kp = K rounded up to 8), R (K, n); the padding is read, never used:
    LP (K, n) := F[:, :P] W[:, :K], G (K, P) += R F[:, :P] (summed in float32).
    ``version``: 1 portable, 2 x86-64-v3.
    """
    cdef Py_ssize_t n = F.shape[0], ldf = F.shape[1], Kp = W.shape[1]
    if version not in (1, 2):
        raise ValueError("version must be 1 or 2")
    if (n < 1 or ldf < _round8(P) or W.shape[0] != P or Kp != _round8(K) or R.shape[0] != K or R.shape[1] != n
            or G.shape[0] != K or G.shape[1] != P or LP.shape[0] != K or LP.shape[1] != n):
        raise ValueError("shapes do not match")
    if version == 2 and not fastgmm_gemm32_fast():
        raise ValueError("this CPU has no AVX2 with FMA")
    cdef float *S = <float *> malloc(n * Kp * sizeof(float))
    if S == NULL:
        raise MemoryError()
    with nogil:
        fastgmm_gemm32_fw(&F[0, 0], ldf, n, P, &W[0, 0], Kp, K, S, &LP[0, 0], version == 2)
        fastgmm_gemm32_rtf(&F[0, 0], ldf, n, P, &R[0, 0], K, &G[0, 0], version == 2)
    free(S)


def _exp_nonpos_f(const float[::1] x, float[::1] out):
    """``out[i] = exp(x[i])`` by the float32 path's exp (x <= 0); for the tests."""
    if out.shape[0] != x.shape[0]:
        raise ValueError("x and out must have the same length")
    if x.shape[0]:
        fastgmm_exp_nonpos_f_array(&x[0], &out[0], x.shape[0])


def estimate(
    const floating[:, ::1] X,           # IN  (n_samples, n_features)
    int quad,                           # IN
    const double[::1] shift,            # IN  (D,)
    const double[:, ::1] W,             # IN  (P, K)
    const double[:, ::1] U,             # IN  (D, D) tied factor, else None
    Py_ssize_t chunk_rows,              # IN
    Py_ssize_t slot_rows,               # IN  a multiple of chunk_rows
    double[::1] row_ll,                 # OUT (n_samples,) per-row log-likelihood, or None
    int64_t[::1] labels,                # OUT (n_samples,) most probable component, or None
    floating[:, ::1] resp,              # OUT (n_samples, K) responsibilities, or None
    double[::1] slot_ll,                # IN/OUT (1,) += the sum of the log-likelihoods (in slot order), or None
    int n_threads,                      # IN
    const int64_t[::1] rows=None,       # IN  as accumulate_statistics
    const int32_t[:, ::1] codes=None,   # IN  as accumulate_statistics
    const int64_t[::1] offsets=None,    # IN
    const int64_t[::1] pat_start=None,  # IN  missing mode, as accumulate_statistics
    const int64_t[::1] miss_ptr=None,   # IN
    const int64_t[::1] miss_idx=None,   # IN
    const double[::1] prec=None,        # IN
    const double[::1] dev=None,         # IN
    floating[:, ::1] fill=None,         # OUT missing mode: (n_samples, D) X, each NaN its conditional expectation
    double[:, ::1] log_prob=None,       # OUT (n_samples, K) the weighted log-densities log w_k + log p(x | k), or None
):
    """E-step outputs for prediction: per-row log-likelihood, labels, responsibilities, log-densities.

    Only the requested outputs are written; no other N-sized memory is used.
    Labels are the argmax of the weighted log-densities (the first on ties).
    With ``rows`` only the visited rows' entries of the per-row outputs are
    written. ``slot_ll[0]`` gets the total added, in slot order.
    Returns -1 if scratch memory could not be allocated, else 0.
    """
    if W is None:
        raise ValueError("estimate needs the coefficients W")
    cdef PassSpec p
    _init_spec(&p, X.shape[0], X.shape[1], W.shape[1], quad, _RESP_ESTEP)
    _set_codes(&p, codes, offsets)
    cdef Py_ssize_t n_slots = _check_layout(p.N, chunk_rows, slot_rows, n_threads)
    _set_coefficients(&p, shift, W, U)
    if quad == _QTIED and p.U == NULL:
        raise ValueError("the tied E-step needs the precision factor U")
    if row_ll is not None:
        if row_ll.shape[0] != p.N:
            raise ValueError("row_ll must have n_samples entries")
        if p.N:
            p.row_ll = &row_ll[0]
    if labels is not None:
        if labels.shape[0] != p.N:
            raise ValueError("labels must have n_samples entries")
        if p.N:
            p.labels_out = &labels[0]
    if resp is not None:
        if resp.shape[0] != p.N or resp.shape[1] != p.K:
            raise ValueError("resp must have shape (n_samples, n_components)")
        if p.N:
            p.resp_out = &resp[0, 0]
    if log_prob is not None:
        if log_prob.shape[0] != X.shape[0] or log_prob.shape[1] != p.K:
            raise ValueError("log_prob must have shape (n_samples, n_components)")
        if X.shape[0]:
            p.lp_out = &log_prob[0, 0]
    n_slots = _set_visits(&p, rows, pat_start, miss_ptr, miss_idx, prec, dev, None, False, chunk_rows, slot_rows,
                          n_threads, n_slots)
    if slot_ll is not None:
        if slot_ll.shape[0] != 1:
            raise ValueError("slot_ll must have one entry (the total)")
        p.ll = &slot_ll[0]
    if fill is not None:
        if p.pat_start == NULL:
            raise ValueError("fill (imputation) is for the missing mode")
        if fill.shape[0] != X.shape[0] or fill.shape[1] != p.D:
            raise ValueError("fill must have the shape of X")
        if X.shape[0]:
            p.fill_out = &fill[0, 0]
    if p.N == 0:
        return 0
    n_threads = <int> _min(n_threads, n_slots)
    return _run_checked(&p, &X[0, 0], chunk_rows, slot_rows, n_slots, n_threads)


# ---------------------------------------------------------------------------
# Entry points of the Student-t mode
# ---------------------------------------------------------------------------

cdef Py_ssize_t _init_t_spec(PassSpec *p, Py_ssize_t N, Py_ssize_t D, int quad, const double[::1] shift,
                             const double[:, ::1] W, const double[::1] a, const double[::1] nu,
                             Py_ssize_t chunk_rows, Py_ssize_t slot_rows, int n_threads,
                             const int64_t[::1] rows, const int64_t[::1] pat_start, const int64_t[::1] miss_ptr,
                             const int64_t[::1] miss_idx, const double[::1] prec, const double[::1] dev,
                             const int64_t[::1] pair, const double[::1] psi, bint statistics) except -1:
    """A Student-t pass: checks the layout and the inputs, fills them in (outputs NULL); returns the
    slot count. In the missing mode (``pat_start``), ``a`` holds a K-vector of normalisers for each
    observed dimension 0 .. D and ``psi`` (with ``statistics``) the dimension's correction of H,
    both (D + 1) * K."""
    cdef Py_ssize_t k
    cdef Py_ssize_t n_slots = _check_layout(N, chunk_rows, slot_rows, n_threads)
    if quad != _QFULL and quad != _QDIAG and quad != _QSPHERICAL:
        raise ValueError(f"the Student-t kernel takes the full, diag or spherical feature codes, not {quad}")
    if shift is None or W is None or a is None or nu is None:
        raise ValueError("the Student-t pass needs shift, W, a and nu")
    _init_spec(p, N, D, W.shape[1], quad, _RESP_STUDENT_T)
    if p.K < 1 or W.shape[0] != p.P:
        raise ValueError(f"W must have shape ({p.P}, n_components)")
    cdef Py_ssize_t n_a = (D + 1) * p.K if pat_start is not None else p.K
    if shift.shape[0] != D or a.shape[0] != n_a or nu.shape[0] != p.K:
        raise ValueError(f"shift must have n_features entries, nu n_components and a {n_a} (n_components; in "
                         "the missing mode n_components for each observed dimension 0 .. n_features)")
    for k in range(p.K):
        if not nu[k] > 0:
            raise ValueError("degrees of freedom must be > 0")
    p.c, p.W, p.a, p.nu = &shift[0], &W[0, 0], &a[0], &nu[0]
    if pat_start is not None and statistics:
        if psi is None or psi.shape[0] != (D + 1) * p.K:
            raise ValueError("the Student-t missing mode's statistics need psi, (n_features + 1) * n_components")
        p.psi = &psi[0]
    elif psi is not None:
        raise ValueError("psi is for the Student-t missing mode's statistics")
    return _set_visits(p, rows, pat_start, miss_ptr, miss_idx, prec, dev, pair, statistics, chunk_rows, slot_rows,
                       n_threads, n_slots)


def accumulate_t_statistics(
    const floating[:, ::1] X,           # IN  (n_samples, n_features)
    int quad,                           # IN  QFULL, QDIAG or QSPHERICAL
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
    const int64_t[::1] rows=None,       # IN  (n_visit,) rows of X to visit, in order, or None (all)
    const int64_t[::1] pat_start=None,  # IN  missing mode, as accumulate_statistics (then a: (D + 1) * K)
    const int64_t[::1] miss_ptr=None,   # IN
    const int64_t[::1] miss_idx=None,   # IN
    const double[::1] prec=None,        # IN
    const double[::1] dev=None,         # IN
    const int64_t[::1] pair=None,       # IN
    const double[::1] psi=None,         # IN  missing mode: ((D + 1) * K,) psi_d(nu_k) - psi_D(nu_k), d observed
    const double[:, ::1] resp=None,     # IN  (n_samples, K) given responsibilities (an HMM's posteriors), or None
):
    """Add one E-step pass of Student-t statistics over X to the outputs.

    With ``resp`` the responsibilities are those given (the pass computes the
    scale weights u from the distances, and ``ll_out`` gets nothing).

    The slots' sums are added in slot order (the same result for any thread
    count, and for a pass split into consecutive calls over whole slots adding
    to the same outputs, zero-filled by the caller before the first). With
    ``rows`` (the missing mode, as :func:`accumulate_statistics`) each row's
    t terms are taken in its observed dimension. Returns -1 if scratch
    memory could not be allocated (the outputs are then partly summed:
    discard them), else 0. A row that no component can produce (and has a
    non-zero weight) makes ``ll_out`` -inf.
    """
    cdef PassSpec p
    cdef Py_ssize_t n_slots = _init_t_spec(&p, X.shape[0], X.shape[1], quad, shift, W, a, nu, chunk_rows,
                                           slot_rows, n_threads, rows, pat_start, miss_ptr, miss_idx, prec, dev,
                                           pair, psi, True)
    if sample_weight is not None:
        if sample_weight.shape[0] != X.shape[0]:
            raise ValueError("sample_weight must have n_samples entries")
        if X.shape[0]:
            p.sw = &sample_weight[0]
    if (G_out is None or G_out.shape[0] != p.K * p.P or R_out is None or R_out.shape[0] != p.K
            or H_out is None or H_out.shape[0] != p.K or ll_out is None or ll_out.shape[0] != 1):
        raise ValueError(f"output shapes do not match: G_out ({p.K * p.P},), R_out and H_out ({p.K},), ll_out (1,)")
    p.G, p.R, p.H, p.ll = &G_out[0], &R_out[0], &H_out[0], &ll_out[0]
    if resp is not None:
        if resp.shape[0] != X.shape[0] or resp.shape[1] != p.K:
            raise ValueError("resp must have shape (n_samples, n_components)")
        if X.shape[0]:
            p.resp_in = &resp[0, 0]
    if p.N == 0:
        return 0
    n_threads = <int> _min(n_threads, n_slots)
    return _run_checked(&p, &X[0, 0], chunk_rows, slot_rows, n_slots, n_threads)


def estimate_t(
    const floating[:, ::1] X,           # IN  (n_samples, n_features)
    int quad,                           # IN  QFULL, QDIAG or QSPHERICAL
    const double[::1] shift,            # IN  (D,)
    const double[:, ::1] W,             # IN  (P, K)
    const double[::1] a,                # IN  (K,), missing mode ((D + 1) * K,)
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
    const int64_t[::1] rows=None,       # IN  as accumulate_t_statistics
    const int64_t[::1] pat_start=None,  # IN  missing mode, as accumulate_t_statistics
    const int64_t[::1] miss_ptr=None,   # IN
    const int64_t[::1] miss_idx=None,   # IN
    const double[::1] prec=None,        # IN
    const double[::1] dev=None,         # IN
    double[:, ::1] log_prob=None,       # OUT (n_samples, K) log w_k + the t log-density of component k, or None
):
    """Student-t E-step outputs for prediction: log-likelihoods, labels, responsibilities, scale weights.

    Only the requested outputs are written; no other N-sized memory is used.
    Labels are the argmax of the weighted log-densities (the first on ties).
    With ``rows`` only the visited rows' entries of the per-row outputs are
    written. Returns -1 if scratch memory could not be allocated, else 0.
    """
    cdef PassSpec p
    cdef Py_ssize_t N = X.shape[0]
    cdef Py_ssize_t n_slots = _init_t_spec(&p, N, X.shape[1], quad, shift, W, a, nu, chunk_rows,
                                           slot_rows, n_threads, rows, pat_start, miss_ptr, miss_idx, prec, dev,
                                           None, None, False)
    if row_ll is not None:
        if row_ll.shape[0] != N:
            raise ValueError("row_ll must have n_samples entries")
        if N:
            p.row_ll = &row_ll[0]
    if labels is not None:
        if labels.shape[0] != N:
            raise ValueError("labels must have n_samples entries")
        if N:
            p.labels_out = &labels[0]
    if resp is not None:
        if resp.shape[0] != N or resp.shape[1] != p.K:
            raise ValueError("resp must have shape (n_samples, n_components)")
        if N:
            p.resp_out = &resp[0, 0]
    if u is not None:
        if u.shape[0] != N or u.shape[1] != p.K:
            raise ValueError("u must have shape (n_samples, n_components)")
        if N:
            p.u_out = &u[0, 0]
    if log_prob is not None:
        if log_prob.shape[0] != N or log_prob.shape[1] != p.K:
            raise ValueError("log_prob must have shape (n_samples, n_components)")
        if N:
            p.lp_out = &log_prob[0, 0]
    if u_mix is not None:
        if u_mix.shape[0] != N:
            raise ValueError("u_mix must have n_samples entries")
        if N:
            p.u_mix_out = &u_mix[0]
    if slot_ll is not None:
        if slot_ll.shape[0] != 1:
            raise ValueError("slot_ll must have one entry (the total)")
        p.ll = &slot_ll[0]
    if p.N == 0:
        return 0
    n_threads = <int> _min(n_threads, n_slots)
    return _run_checked(&p, &X[0, 0], chunk_rows, slot_rows, n_slots, n_threads)


def log1p_nonnegative(const double[::1] x, double[::1] out):
    """``out[i] = log1p(x[i])`` by the Student-t mode's inline log1p (x >= 0); for the tests."""
    cdef Py_ssize_t i
    if out.shape[0] != x.shape[0]:
        raise ValueError("x and out must have the same length")
    for i in range(x.shape[0]):
        out[i] = fastgmm_log1p_ge0(x[i])


def exp_nonpositive(const double[::1] x, double[::1] out):
    """``out[i] = exp(x[i])`` by the E-step's inline exp (0 outside [-708, 0]); for the tests."""
    cdef Py_ssize_t i
    if out.shape[0] != x.shape[0]:
        raise ValueError("x and out must have the same length")
    for i in range(x.shape[0]):
        out[i] = fastgmm_exp_nonpos(x[i])


def _log_sum_exp(double[:, ::1] lp, double[::1] row_ll=None, const double[::1] w=None, bint portable=False):
    """The E-step's log-sum-exp (``fastgmm_normalise_d``, _rowops.h) in place on a (K, n) block; for the tests.

    ``lp`` becomes the responsibilities (times ``w``); returns the total. ``portable``: the
    portable version even where the CPU has the AVX-512 one.
    """
    cdef Py_ssize_t K = lp.shape[0], n = lp.shape[1]
    if (row_ll is not None and row_ll.shape[0] != n) or (w is not None and w.shape[0] != n):
        raise ValueError("row_ll and w must have one entry per column of lp")
    if K == 0 or n == 0:
        raise ValueError("lp must not be empty")
    cdef double *rl = &row_ll[0] if row_ll is not None else NULL
    cdef const double *wp = &w[0] if w is not None else NULL
    cdef double *mx = <double *> malloc(2 * n * sizeof(double))
    cdef double total
    if mx == NULL:
        raise MemoryError()
    if portable:
        total = fastgmm_normalise_d_any(&lp[0, 0], n, K, mx, mx + n, rl, wp)
    else:
        total = fastgmm_normalise_d(&lp[0, 0], n, K, mx, mx + n, rl, wp)
    free(mx)
    return total


def _have_x8():
    """Whether the log-sum-exp runs its AVX-512 version on this CPU; for the tests."""
    return bool(FASTGMM_X8 and fastgmm_have_x8)
