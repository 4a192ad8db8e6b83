"""Forward-backward and Viterbi of hidden Markov models (fastgmm.hmm), and the GMM-HMM's mixture helpers.

K states, N frames in S sequences: ``starts`` (S + 1,) int64, sequence s is
rows starts[s]:starts[s + 1] of the (N, K) emission log-densities (a
zero-length sequence is allowed: log-likelihood 0, nothing else). The
per-sequence recursions are C (_hmm.h: the scaled recursion with its exact
test for when to redo a sequence in log space, the log-space recursion, the
Viterbi with hmmlearn's tie-breaking); this module checks the arguments,
then, without the GIL, runs the sequences in parallel.

Determinism: the sequences are cut into groups of consecutive sequences of
at most GROUP_FRAMES frames together (a longer sequence is a group of its
own), whatever the thread count. Threads take groups in any order; one
thread runs a group's sequences in order, summing their weighted xi and
gamma_0 into the group's own partial, and the partials are added in group
order at the end. Every output is therefore bitwise identical for any
``n_threads``. One long sequence runs on one thread: its recursion is
sequential (the emissions and the M-step statistics around it are what
parallelise).

Memory: per thread, a T_max x K scratch (the scaled alpha or the log alpha,
T_max the longest sequence; K rounded up to a multiple of 4 for K <= 16),
T_max + O(K^2) more doubles, and for K <= 16 min(T_max, 16384) x K for the
exponentiated emissions the backward pass reuses (Viterbi: T_max x K int16 backpointers, int32
beyond 32767 states); the group partials (K^2 + K doubles each, ~2 N /
GROUP_FRAMES groups at most). Nothing else is N x K: the posteriors overwrite
the emissions in place. A 10^8-frame sequence with K = 8 needs 6.4 GB of
alpha, as much as its emissions; beyond that the remedy is checkpointing (keep
every sqrt(T)-th alpha row, recompute the blocks between them in the backward
pass) at the cost of a second forward pass. The scratch is allocated per
call unless the caller passes a `Workspace`, which keeps it across calls: for
one 10^6-frame sequence, the page faults of a fresh 64 MB cost ~30 ns a frame
of the ~100, at every EM iteration (fastgmm.hmm keeps one per fit).

Categorical emissions (`categorical_lattice`, `categorical_counts`): one
symbol per frame, so the emission log-densities are a gather of one row of
the (symbols x K) log table per frame and the statistics a scatter-add of
the posteriors by symbol, a few ns a frame each.

Speed (shared 2-core machine, 1 thread, with the xi and gamma_0 sums, fastest
of several): 10^6 frames of K = 8 in one sequence ~65-70 ns a frame (with a
Workspace); 10,000 sequences of 100 frames, K = 4, ~22 ns; 1,000 of 1,000
frames, K = 8, ~49 ns (hmmlearn 0.3.3's _hmmc scaled path: 350-620 and
160-280; its log path 3400 and 740). benchmarks/hmm_kernel.py measures it.
"""

from cython.parallel cimport parallel, prange, threadid
from libc.math cimport INFINITY, exp, log
from libc.stdint cimport int16_t, int32_t, int64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

import numpy as np


cdef extern from "_hmm.h" nogil:
    int FASTGMM_HMM_OK
    int FASTGMM_HMM_LOG
    int FASTGMM_HMM_IMPOSSIBLE
    int FASTGMM_HMM_BAD
    ctypedef struct fastgmm_hmm:
        Py_ssize_t K
        const double *A
        const double *AT
        const double *LA
        const double *LAT
        const double *pi
        const double *lpi
        Py_ssize_t KP
        const double *Ap
        const double *ATp
        const double *LAp
        const double *pip
    ctypedef struct fastgmm_hmm_work:
        double *a
        double *m
        double *v0
        double *v1
        double *v2
        double *v3
        double *kk
        double *xi
        double *eb
        double *e
    int FASTGMM_HMM_BLOCK
    int FASTGMM_HMM_KMAX
    int FASTGMM_HMM_KEEP_E
    int fastgmm_hmm_scaled(const fastgmm_hmm *h, double *x, Py_ssize_t T, const fastgmm_hmm_work *w,
                           int want_xi, double *ll, Py_ssize_t *bad)
    int fastgmm_hmm_logspace(const fastgmm_hmm *h, double *x, Py_ssize_t T, const fastgmm_hmm_work *w,
                             int want_xi, double *ll, Py_ssize_t *bad)
    int fastgmm_hmm_viterbi16(const fastgmm_hmm *h, const double *x, Py_ssize_t T, int16_t *bp, double *v,
                              int64_t *path, double *logprob, Py_ssize_t *bad)
    int fastgmm_hmm_viterbi32(const fastgmm_hmm *h, const double *x, Py_ssize_t T, int32_t *bp, double *v,
                              int64_t *path, double *logprob, Py_ssize_t *bad)
    void fastgmm_hmm_collapse_rows(const double *sub, Py_ssize_t K, Py_ssize_t M, double *out, Py_ssize_t r0,
                                   Py_ssize_t r1)
    void fastgmm_hmm_expand_rows(const double *gamma, double *sub, Py_ssize_t K, Py_ssize_t M, Py_ssize_t r0,
                                 Py_ssize_t r1)


# At most this many frames per group of sequences (see the module docstring):
# ~1-2 ms of work, so that groups are many enough to balance two or more
# threads on 10^5 frames and more, and the per-group partials stay few.
cdef int64_t _GROUP_FRAMES = 16384
GROUP_FRAMES = _GROUP_FRAMES
# Rows per parallel block of the row-wise GMM-HMM helpers.
cdef Py_ssize_t _ROW_BLOCK = 256

# Statuses of a group (and of the test entry `_scaled_status`).
STATUS_OK = FASTGMM_HMM_OK
STATUS_LOG = FASTGMM_HMM_LOG
STATUS_IMPOSSIBLE = FASTGMM_HMM_IMPOSSIBLE
STATUS_BAD = FASTGMM_HMM_BAD
cdef int _NO_MEMORY = 100


cdef inline Py_ssize_t _min(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef class _Model:
    """The transition model in the four forms _hmm.h reads (probabilities, logs, both transposes)."""
    cdef double[::1] buf
    cdef fastgmm_hmm h

    def __cinit__(self, const double[::1] log_startprob, const double[:, ::1] log_transmat, Py_ssize_t K):
        if log_startprob is None or log_transmat is None:
            raise ValueError("log_startprob and log_transmat are required")
        if log_startprob.shape[0] != K:
            raise ValueError(f"log_startprob has {log_startprob.shape[0]} entries for {K} states")
        if log_transmat.shape[0] != K or log_transmat.shape[1] != K:
            raise ValueError(f"log_transmat has shape ({log_transmat.shape[0]}, {log_transmat.shape[1]}) "
                             f"for {K} states: expected ({K}, {K})")
        if not (np.all(np.asarray(log_startprob) < np.inf) and np.all(np.asarray(log_transmat) < np.inf)):
            raise ValueError("log_startprob and log_transmat must not contain NaN or +inf")
        cdef Py_ssize_t KP = 4 * ((K + 3) // 4)
        self.buf = np.empty(4 * K * K + 2 * K + 3 * KP * KP + KP)
        cdef double *p = &self.buf[0]
        cdef double *q = p + 4 * K * K + 2 * K
        cdef Py_ssize_t i, j
        # the padded copies for the vector code (see _hmm.h)
        for i in range(3 * KP * KP + KP):
            q[i] = 0.0
        for i in range(KP * KP):
            q[2 * KP * KP + i] = -INFINITY
        for i in range(K):
            p[4 * K * K + i] = exp(log_startprob[i])
            p[4 * K * K + K + i] = log_startprob[i]
            for j in range(K):
                p[i * K + j] = exp(log_transmat[i, j])
                p[K * K + j * K + i] = p[i * K + j]
                p[2 * K * K + i * K + j] = log_transmat[i, j]
                p[3 * K * K + j * K + i] = log_transmat[i, j]
                q[i * KP + j] = p[i * K + j]
                q[KP * KP + j * KP + i] = p[i * K + j]
                q[2 * KP * KP + i * KP + j] = log_transmat[i, j]
            q[3 * KP * KP + i] = p[4 * K * K + i]
        self.h.K = K
        self.h.A = p
        self.h.AT = p + K * K
        self.h.LA = p + 2 * K * K
        self.h.LAT = p + 3 * K * K
        self.h.pi = p + 4 * K * K
        self.h.lpi = p + 4 * K * K + K
        self.h.KP = KP
        self.h.Ap = q
        self.h.ATp = q + KP * KP
        self.h.LAp = q + 2 * KP * KP
        self.h.pip = q + 3 * KP * KP


def _check_starts(const int64_t[::1] starts not None, Py_ssize_t N):
    """Validate ``starts`` against N frames; return (S, the longest sequence's length)."""
    if starts is None or starts.shape[0] < 1:
        raise ValueError("starts must have S + 1 >= 1 entries (starts[0] = 0, starts[S] = N)")
    cdef Py_ssize_t S = starts.shape[0] - 1, s, bad = -1
    cdef int64_t tmax = 0
    if starts[0] != 0:
        raise ValueError(f"starts[0] must be 0, got {starts[0]}")
    if starts[S] != N:
        raise ValueError(f"starts[-1] must be the number of frames {N}, got {starts[S]} "
                         "(the sequence lengths do not sum to N)")
    with nogil:
        for s in range(S):
            if starts[s + 1] < starts[s]:
                bad = s
                break
            if starts[s + 1] - starts[s] > tmax:
                tmax = starts[s + 1] - starts[s]
    if bad >= 0:
        raise ValueError(f"starts must be non-decreasing: starts[{bad + 1}] = {starts[bad + 1]} "
                         f"< starts[{bad}] = {starts[bad]} (a negative sequence length)")
    return S, tmax


cdef Py_ssize_t _make_groups(const int64_t *starts, Py_ssize_t S, int64_t[::1] first) noexcept nogil:
    """Cut S sequences into groups of consecutive sequences of <= GROUP_FRAMES frames; return their number.

    Group g is sequences first[g]:first[g + 1]. A group closes before a
    sequence that would take it past the limit, so any two consecutive groups
    hold more than GROUP_FRAMES frames together.
    """
    cdef Py_ssize_t g = 0, s
    cdef int64_t frames = 0, n
    cdef int64_t limit = _GROUP_FRAMES
    first[0] = 0
    for s in range(S):
        n = starts[s + 1] - starts[s]
        if frames > 0 and frames + n > limit:
            g += 1
            first[g] = s
            frames = 0
        frames += n
    if S > 0:
        g += 1
    first[g] = S
    return g


cdef fastgmm_hmm_work *_work_new(Py_ssize_t tmax, Py_ssize_t K) noexcept nogil:
    """One thread's scratch for the forward-backward, or NULL if malloc failed (free with _work_del).

    A pointer, not a struct filled in place: Cython makes a variable private
    to each thread of a parallel block only if the block assigns it.
    """
    cdef fastgmm_hmm_work *w = <fastgmm_hmm_work *> calloc(1, sizeof(fastgmm_hmm_work))
    if w == NULL:
        return NULL
    cdef Py_ssize_t KP = 4 * ((K + 3) // 4)
    w.a = <double *> malloc((tmax * KP + 1) * sizeof(double))
    w.m = <double *> malloc((tmax + 1) * sizeof(double))
    w.v0 = <double *> malloc((4 * K + 2 * K * K + FASTGMM_HMM_BLOCK * KP) * sizeof(double))
    if w.a == NULL or w.m == NULL or w.v0 == NULL:
        _work_del(w)
        return NULL
    w.v1 = w.v0 + K
    w.v2 = w.v0 + 2 * K
    w.v3 = w.v0 + 3 * K
    w.kk = w.v0 + 4 * K
    w.xi = w.v0 + 4 * K + K * K
    w.eb = w.v0 + 4 * K + 2 * K * K
    if K <= FASTGMM_HMM_KMAX:
        # the kept e_t of sequences of up to FASTGMM_HMM_KEEP_E frames (optional: NULL means recompute)
        w.e = <double *> malloc((_min(tmax, FASTGMM_HMM_KEEP_E) * KP + 1) * sizeof(double))
    return w


cdef void _work_del(fastgmm_hmm_work *w) noexcept nogil:
    if w != NULL:
        free(w.a)
        free(w.m)
        free(w.v0)
        free(w.e)
        free(w)


cdef int _fb_group(const fastgmm_hmm *h, double *logp, const int64_t *starts, Py_ssize_t s0, Py_ssize_t s1,
                   const double *weight, double *seq_ll, const fastgmm_hmm_work *w, bint want_stats,
                   bint log_space, double *acc, int64_t *bad_row) noexcept nogil:
    """Forward-backward of sequences s0:s1; acc (K^2 + K) gets their weighted xi and gamma_0 sums.

    Returns FASTGMM_HMM_OK, or FASTGMM_HMM_BAD (with the frame in bad_row)
    at the first sequence with NaN or +inf, which is left untouched.
    """
    cdef Py_ssize_t K = h.K, s, k, T
    cdef Py_ssize_t bad = 0
    cdef int st
    cdef double ll = 0.0, wt
    cdef double *x
    memset(acc, 0, (K * K + K) * sizeof(double))
    for s in range(s0, s1):
        T = starts[s + 1] - starts[s]
        if T == 0:
            seq_ll[s] = 0.0
            continue
        x = logp + starts[s] * K
        st = FASTGMM_HMM_LOG
        if not log_space:
            st = fastgmm_hmm_scaled(h, x, T, w, want_stats, &ll, &bad)
        if st == FASTGMM_HMM_LOG:
            st = fastgmm_hmm_logspace(h, x, T, w, want_stats, &ll, &bad)
        if st == FASTGMM_HMM_BAD:
            bad_row[0] = starts[s] + bad
            return FASTGMM_HMM_BAD
        if st == FASTGMM_HMM_IMPOSSIBLE:
            memset(x, 0, T * K * sizeof(double))
            seq_ll[s] = -INFINITY
            continue
        seq_ll[s] = ll
        if want_stats:
            wt = weight[s] if weight != NULL else 1.0
            for k in range(K * K):
                acc[k] += wt * w.xi[k]
            for k in range(K):
                acc[K * K + k] += wt * x[k]
    return FASTGMM_HMM_OK


cdef class Workspace:
    """Per-thread forward-backward scratch kept from one `forward_backward` call to the next.

    Pass the same Workspace to every call of an EM fit: the scratch (T_max x
    K doubles per thread, 64 MB for one 10^6-frame sequence of 8 states) is
    then allocated and faulted in once, not at every iteration (those page
    faults cost ~30 ns a frame). It grows when a call needs more (threads,
    longer sequences, another K) and is freed with the object. Not for
    concurrent calls: one call at a time per Workspace.
    """
    cdef fastgmm_hmm_work **works
    cdef Py_ssize_t n, tmax, K

    def __cinit__(self):
        self.works = NULL
        self.n = 0
        self.tmax = 0
        self.K = 0

    def __dealloc__(self):
        self._release()

    cdef void _release(self) noexcept:
        cdef Py_ssize_t i
        if self.works != NULL:
            for i in range(self.n):
                _work_del(self.works[i])
            free(self.works)
        self.works = NULL
        self.n = 0

    cdef fastgmm_hmm_work **reserve(self, Py_ssize_t n_threads, Py_ssize_t tmax, Py_ssize_t K) except NULL:
        """The scratch of n_threads threads for sequences of up to tmax frames of K states."""
        cdef Py_ssize_t i
        if self.works != NULL and n_threads <= self.n and tmax <= self.tmax and K == self.K:
            return self.works
        self._release()
        self.works = <fastgmm_hmm_work **> calloc(n_threads, sizeof(fastgmm_hmm_work *))
        if self.works == NULL:
            raise MemoryError("forward_backward: no memory for the workspace")
        self.n = n_threads
        self.tmax = tmax
        self.K = K
        for i in range(n_threads):
            self.works[i] = _work_new(tmax, K)
            if self.works[i] == NULL:
                self._release()
                raise MemoryError(f"forward_backward: no memory for the per-thread scratch "
                                  f"({tmax} x {K} doubles per thread)")
        return self.works


def forward_backward(
    double[:, ::1] logp not None,                 # IN/OUT (N, K) log p(x_t | k) in; the posteriors gamma_t(k) out
    const int64_t[::1] starts not None,           # IN  (S + 1,) sequence s is rows starts[s]:starts[s + 1]
    const double[::1] log_startprob not None,     # IN  (K,) may hold -inf
    const double[:, ::1] log_transmat not None,   # IN  (K, K) rows = from-state; may hold -inf (structural zeros)
    seq_weight,                          # IN  (S,) float64 non-negative weights, or None (all 1)
    double[::1] seq_ll not None,                  # OUT (S,) log p(sequence s); -inf for an impossible sequence
    xi_sum,                              # OUT (K, K) float64 sum_s w_s sum_t xi_t, or None
    start_sum,                           # OUT (K,) float64 sum_s w_s gamma_{s,0}, or None
    int n_threads,                       # IN  >= 1
    bint log_space=False,                # IN  log-space recursions everywhere (hmmlearn's "log")
    Workspace workspace=None,            # IN/OUT scratch kept across calls (see `Workspace`), or None
):
    """State posteriors, log-likelihoods and expected transition counts of every sequence.

    By default each sequence runs the scaled recursion and is redone in log
    space only where that would lose accuracy (_hmm.h says exactly when);
    the two agree to ~1e-12 relative. An impossible sequence (every path has
    probability 0) gets ``seq_ll`` -inf, posterior rows of zeros and adds
    nothing to the sums. ``xi_sum`` and ``start_sum`` are overwritten; with
    both None only the posteriors and ``seq_ll`` are computed. Results are
    bitwise identical for any ``n_threads``.

    Raises ValueError for inconsistent shapes or starts, and for NaN or +inf
    in ``logp`` (then the sequences of other groups may already hold their
    posteriors: ``logp`` is to be discarded); MemoryError if the per-thread
    scratch cannot be allocated.
    """
    cdef Py_ssize_t N = logp.shape[0], K = logp.shape[1]
    if K < 1:
        raise ValueError("logp must have at least one column (state)")
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    cdef Py_ssize_t S, tmax
    S, tmax = _check_starts(starts, N)
    cdef _Model model = _Model(log_startprob, log_transmat, K)
    if seq_ll is None or seq_ll.shape[0] != S:
        raise ValueError(f"seq_ll must have shape ({S},)")
    cdef const double[::1] wv
    cdef const double *wp = NULL
    if seq_weight is not None:
        wv = seq_weight
        if wv.shape[0] != S:
            raise ValueError(f"seq_weight has {wv.shape[0]} entries for {S} sequences")
        if not np.all(np.asarray(wv) >= 0) or not np.all(np.isfinite(np.asarray(wv))):
            raise ValueError("seq_weight must be finite and non-negative")
        if S > 0:
            wp = &wv[0]
    cdef double[:, ::1] xiv
    cdef double[::1] stv
    if xi_sum is not None:
        xiv = xi_sum
        if xiv.shape[0] != K or xiv.shape[1] != K:
            raise ValueError(f"xi_sum must have shape ({K}, {K})")
    if start_sum is not None:
        stv = start_sum
        if stv.shape[0] != K:
            raise ValueError(f"start_sum must have shape ({K},)")
    cdef bint want_stats = xi_sum is not None or start_sum is not None

    cdef int64_t[::1] first = np.empty(S + 1, dtype=np.int64)
    cdef Py_ssize_t n_groups = _make_groups(&starts[0], S, first)
    cdef Py_ssize_t n_acc = K * K + K
    cdef int[::1] status = np.zeros(max(n_groups, 1), dtype=np.intc)
    cdef int64_t[::1] bad_row = np.zeros(max(n_groups, 1), dtype=np.int64)
    cdef double *partial = <double *> calloc(max(n_groups, 1) * n_acc if want_stats else 1, sizeof(double))
    if partial == NULL:
        raise MemoryError("forward_backward: no memory for the group partial sums")
    cdef double *xp = &logp[0, 0] if N > 0 else NULL
    cdef const int64_t *sp = &starts[0]
    cdef const fastgmm_hmm *hp = &model.h
    cdef double *llp = &seq_ll[0] if S > 0 else NULL
    cdef fastgmm_hmm_work *w
    cdef double *acc
    cdef bint ok
    cdef Py_ssize_t g, k, n_used = _min(n_threads, max(n_groups, 1))
    cdef fastgmm_hmm_work **kept = NULL
    try:
        if workspace is not None:
            kept = workspace.reserve(n_used, tmax, K)
        with nogil, parallel(num_threads=n_used):
            w = kept[threadid()] if kept != NULL else _work_new(tmax, K)
            acc = <double *> malloc(n_acc * sizeof(double))
            ok = w != NULL and acc != NULL
            for g in prange(n_groups, schedule='dynamic'):
                if not ok:
                    status[g] = _NO_MEMORY
                    continue
                status[g] = _fb_group(hp, xp, sp, first[g], first[g + 1], wp, llp, w, want_stats,
                                      log_space, acc, &bad_row[g])
                if want_stats:
                    memcpy(partial + g * n_acc, acc, n_acc * sizeof(double))
            if kept == NULL:
                _work_del(w)
            free(acc)
        for g in range(n_groups):
            if status[g] == _NO_MEMORY:
                raise MemoryError(f"forward_backward: no memory for the per-thread scratch "
                                  f"({tmax} x {K} doubles per thread)")
            if status[g] == FASTGMM_HMM_BAD:
                raise ValueError(f"logp has NaN or +inf at row {bad_row[g]}: emissions must be finite "
                                 "or -inf (impossible)")
        if xi_sum is not None:
            xiv[:, :] = 0.0
            for g in range(n_groups):
                for k in range(K * K):
                    xiv[k // K, k % K] += partial[g * n_acc + k]
        if start_sum is not None:
            stv[:] = 0.0
            for g in range(n_groups):
                for k in range(K):
                    stv[k] += partial[g * n_acc + K * K + k]
    finally:
        free(partial)


def viterbi(
    const double[:, ::1] logp not None,           # IN  (N, K) log p(x_t | k)
    const int64_t[::1] starts not None,           # IN  (S + 1,)
    const double[::1] log_startprob not None,     # IN  (K,)
    const double[:, ::1] log_transmat not None,   # IN  (K, K)
    int64_t[::1] path not None,                   # OUT (N,) the most probable state of every frame
    double[::1] seq_logprob not None,             # OUT (S,) log-probability of each sequence's path (0 if empty)
    int n_threads,                       # IN  >= 1
):
    """Most probable state path of every sequence, ties broken exactly as hmmlearn 0.3.3 breaks them.

    Give it the same logs hmmlearn takes (it applies C's ``log`` to the
    probabilities; ``np.log`` differs in the last bit for ~0.3 % of values,
    which can turn a near-tie): see `log_libm`. An impossible sequence gets
    log-probability -inf and hmmlearn's path for it. Raises ValueError as
    `forward_backward` does.
    """
    cdef Py_ssize_t N = logp.shape[0], K = logp.shape[1]
    if K < 1:
        raise ValueError("logp must have at least one column (state)")
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    cdef Py_ssize_t S, tmax
    S, tmax = _check_starts(starts, N)
    cdef _Model model = _Model(log_startprob, log_transmat, K)
    if path is None or path.shape[0] != N:
        raise ValueError(f"path must have shape ({N},)")
    if seq_logprob is None or seq_logprob.shape[0] != S:
        raise ValueError(f"seq_logprob must have shape ({S},)")
    cdef int64_t[::1] first = np.empty(S + 1, dtype=np.int64)
    cdef Py_ssize_t n_groups = _make_groups(&starts[0], S, first)
    cdef int[::1] status = np.zeros(max(n_groups, 1), dtype=np.intc)
    cdef int64_t[::1] bad_row = np.zeros(max(n_groups, 1), dtype=np.int64)
    cdef const double *xp = &logp[0, 0] if N > 0 else NULL
    cdef int64_t *pp = &path[0] if N > 0 else NULL
    cdef double *lpp = &seq_logprob[0] if S > 0 else NULL
    cdef const int64_t *sp = &starts[0]
    cdef const fastgmm_hmm *hp = &model.h
    cdef bint narrow = K <= 32767
    cdef size_t bp_size = 2 if narrow else 4
    cdef void *bp
    cdef double *v
    cdef Py_ssize_t g, s, T, bad = 0
    cdef int st
    cdef Py_ssize_t n_used = _min(n_threads, max(n_groups, 1))
    with nogil, parallel(num_threads=n_used):
        bp = malloc((tmax * K + 1) * bp_size)
        v = <double *> malloc(3 * K * sizeof(double))
        for g in prange(n_groups, schedule='dynamic'):
            if bp == NULL or v == NULL:
                status[g] = _NO_MEMORY
                continue
            for s in range(first[g], first[g + 1]):
                T = sp[s + 1] - sp[s]
                if T == 0:
                    lpp[s] = 0.0
                    continue
                if narrow:
                    st = fastgmm_hmm_viterbi16(hp, xp + sp[s] * K, T, <int16_t *> bp, v,
                                               pp + sp[s], &lpp[s], &bad)
                else:
                    st = fastgmm_hmm_viterbi32(hp, xp + sp[s] * K, T, <int32_t *> bp, v,
                                               pp + sp[s], &lpp[s], &bad)
                if st == FASTGMM_HMM_BAD:
                    status[g] = st
                    bad_row[g] = sp[s] + bad
                    break
        free(bp)
        free(v)
    for g in range(n_groups):
        if status[g] == _NO_MEMORY:
            raise MemoryError(f"viterbi: no memory for the backpointers ({tmax} x {K} per thread)")
        if status[g] == FASTGMM_HMM_BAD:
            raise ValueError(f"logp has NaN or +inf at row {bad_row[g]}: emissions must be finite "
                             "or -inf (impossible)")


def _check_mixture(Py_ssize_t n, Py_ssize_t width, Py_ssize_t M, Py_ssize_t n2, Py_ssize_t K, int n_threads):
    if M < 1:
        raise ValueError(f"M must be >= 1, got {M}")
    if K < 1 or width != K * M or n2 != n:
        raise ValueError(f"logp_sub ({n}, {width}) must be (N, K * M) for the (N, K) = ({n2}, {K}) "
                         f"state array with M = {M}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")


def collapse_mixture(
    const double[:, ::1] logp_sub not None,       # IN  (N, K * M) log(w_km) + log N(x | km), state k in columns kM:(k+1)M
    Py_ssize_t M,                        # IN  sub-components per state
    double[:, ::1] logp_out not None,             # OUT (N, K) per-state log-sum-exp (-inf if all are -inf)
    int n_threads,                       # IN  >= 1
):
    """The GMM-HMM's state log-densities from its sub-components' (row-parallel, thread-invariant)."""
    cdef Py_ssize_t N = logp_sub.shape[0]
    _check_mixture(N, logp_sub.shape[1], M, logp_out.shape[0], logp_out.shape[1], n_threads)
    cdef Py_ssize_t K = logp_out.shape[1], b, n_blocks = (N + _ROW_BLOCK - 1) // _ROW_BLOCK
    if N == 0:
        return
    cdef const double *src = &logp_sub[0, 0]
    cdef double *dst = &logp_out[0, 0]
    with nogil:
        for b in prange(n_blocks, schedule='static', num_threads=_min(n_threads, n_blocks)):
            fastgmm_hmm_collapse_rows(src, K, M, dst, b * _ROW_BLOCK, _min(N, (b + 1) * _ROW_BLOCK))


def expand_posteriors(
    const double[:, ::1] gamma not None,          # IN  (N, K) state posteriors
    double[:, ::1] logp_sub not None,             # IN/OUT (N, K * M) sub-component log-densities in; gamma_tk r_tkm out
    Py_ssize_t M,                        # IN  sub-components per state
    int n_threads,                       # IN  >= 1
):
    """In place, logp_sub := gamma_t(k) * softmax over m of logp_sub[t, kM:(k+1)M] (row-parallel)."""
    cdef Py_ssize_t N = logp_sub.shape[0]
    _check_mixture(N, logp_sub.shape[1], M, gamma.shape[0], gamma.shape[1], n_threads)
    cdef Py_ssize_t K = gamma.shape[1], b, n_blocks = (N + _ROW_BLOCK - 1) // _ROW_BLOCK
    if N == 0:
        return
    cdef const double *gp = &gamma[0, 0]
    cdef double *dst = &logp_sub[0, 0]
    with nogil:
        for b in prange(n_blocks, schedule='static', num_threads=_min(n_threads, n_blocks)):
            fastgmm_hmm_expand_rows(gp, dst, K, M, b * _ROW_BLOCK, _min(N, (b + 1) * _ROW_BLOCK))


def log_libm(const double[::1] p not None, double[::1] out not None):
    """out = log(p) with the C library's log, element-wise (log(0) = -inf).

    hmmlearn's Viterbi takes the logs of startprob_ and transmat_ this way;
    pass these to `viterbi` for paths identical to hmmlearn's even at
    near-ties (np.log differs from it in the last bit for some inputs).
    """
    if p.shape[0] != out.shape[0]:
        raise ValueError("p and out must have the same length")
    cdef Py_ssize_t i
    for i in range(p.shape[0]):
        out[i] = log(p[i])


def _scaled_status(double[:, ::1] x not None, const double[::1] log_startprob not None,
                   const double[:, ::1] log_transmat not None):
    """Test entry: run the scaled recursion alone on one sequence; (status, ll), x overwritten only if OK."""
    cdef Py_ssize_t T = x.shape[0], K = x.shape[1], bad = 0
    if T < 1:
        raise ValueError("one sequence of at least one frame")
    cdef _Model model = _Model(log_startprob, log_transmat, K)
    cdef fastgmm_hmm_work *w = _work_new(T, K)
    cdef double ll = 0.0
    cdef int st
    if w == NULL:
        raise MemoryError()
    st = fastgmm_hmm_scaled(&model.h, &x[0, 0], T, w, 1, &ll, &bad)
    _work_del(w)
    return st, ll


# Rows per block of the categorical gather and scatter-add (see `categorical_counts`): fixed, so that the
# blocks, and the order their partial counts are added in, do not depend on the thread count.
cdef Py_ssize_t _CAT_BLOCK = 32768
# At most this many doubles of per-block partial counts (128 MB): beyond it the blocks grow.
cdef Py_ssize_t _CAT_PARTIAL_MAX = 1 << 24


cdef Py_ssize_t _check_categorical(const int32_t[::1] symbols, mask, Py_ssize_t N, int n_threads) except -1:
    if symbols.shape[0] != N:
        raise ValueError(f"symbols has {symbols.shape[0]} entries for {N} frames")
    if mask is not None and np.asarray(mask).shape != (N,):
        raise ValueError(f"mask must have shape ({N},)")
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    return 0


cdef Py_ssize_t _first_bad_symbol(const int64_t[::1] bad, Py_ssize_t n_blocks) noexcept:
    cdef Py_ssize_t b
    for b in range(n_blocks):
        if bad[b] >= 0:
            return bad[b]
    return -1


def categorical_lattice(
    const int32_t[::1] symbols not None,          # IN  (N,) the symbol of every frame, in [0, S)
    const double[:, ::1] log_emission_t not None, # IN  (S, K) log P(symbol s | state k), transposed; may hold -inf
    mask,                                # IN  (N,) uint8, nonzero = the frame has no observation (log 1), or None
    double[:, ::1] out not None,                  # OUT (N, K) log P(x_t | k)
    int n_threads,                       # IN  >= 1
):
    """The categorical emission log-densities: out[t, :] = log_emission_t[symbols[t], :] (0 for masked frames).

    A gather of one table row per frame (row-parallel; each value is copied,
    so the -inf of a zero probability stays exact). Raises ValueError if a
    symbol of an unmasked frame is outside [0, S), naming the first such frame.
    """
    cdef Py_ssize_t N = out.shape[0], K = out.shape[1], S = log_emission_t.shape[0]
    _check_categorical(symbols, mask, N, n_threads)
    if log_emission_t.shape[1] != K:
        raise ValueError(f"log_emission_t has {log_emission_t.shape[1]} columns for {K} states")
    if N == 0 or K == 0:
        return
    cdef const unsigned char[::1] mv
    cdef const unsigned char *mp = NULL
    if mask is not None:
        mv = np.asarray(mask).view(np.uint8)
        mp = &mv[0]
    cdef Py_ssize_t n_blocks = (N + _CAT_BLOCK - 1) // _CAT_BLOCK, b, i, r0, r1
    cdef int64_t[::1] bad = np.full(n_blocks, -1, dtype=np.int64)
    cdef const int32_t *sp = &symbols[0]
    cdef const double *tab = &log_emission_t[0, 0] if S > 0 else NULL
    cdef double *op = &out[0, 0]
    cdef int32_t s
    with nogil:
        for b in prange(n_blocks, schedule='static', num_threads=_min(n_threads, n_blocks)):
            r0 = b * _CAT_BLOCK
            r1 = _min(N, r0 + _CAT_BLOCK)
            for i in range(r0, r1):
                if mp != NULL and mp[i]:
                    memset(op + i * K, 0, K * sizeof(double))
                    continue
                s = sp[i]
                if s < 0 or s >= S:
                    if bad[b] < 0:
                        bad[b] = i
                    continue
                memcpy(op + i * K, tab + s * K, K * sizeof(double))
    i = _first_bad_symbol(bad, n_blocks)
    if i >= 0:
        raise ValueError(f"symbols[{i}] = {symbols[i]} is not a symbol in [0, {S})")


def categorical_counts(
    const int32_t[::1] symbols not None,          # IN  (N,) the symbol of every frame, in [0, S)
    const double[:, ::1] gamma not None,          # IN  (N, K) state posteriors
    frame_weight,                        # IN  (N,) float64 weight of every frame, or None (all 1)
    mask,                                # IN  (N,) uint8, nonzero = the frame has no observation, or None
    double[:, ::1] obs not None,                  # OUT (K, S) sum over frames t with symbols[t] = s of w_t gamma_t(k)
    int n_threads,                       # IN  >= 1
):
    """The expected symbol counts of every state: a scatter-add of the posteriors by symbol.

    Masked frames add nothing. The frames are cut into blocks of a fixed
    number of rows (whatever the thread count); each block sums its rows in
    order into its own partial, and the partials are added in block order,
    so ``obs`` is bitwise identical for any ``n_threads``. Raises ValueError
    for a symbol outside [0, S), as `categorical_lattice`.
    """
    cdef Py_ssize_t N = gamma.shape[0], K = gamma.shape[1], S = obs.shape[1]
    _check_categorical(symbols, mask, N, n_threads)
    if obs.shape[0] != K:
        raise ValueError(f"obs must have shape ({K}, {S})")
    obs[:, :] = 0.0
    if N == 0 or K == 0 or S == 0:
        if N > 0 and S == 0 and K > 0:
            raise ValueError("obs has no symbol columns")
        return
    cdef const unsigned char[::1] mv
    cdef const unsigned char *mp = NULL
    if mask is not None:
        mv = np.asarray(mask).view(np.uint8)
        mp = &mv[0]
    cdef const double[::1] wv
    cdef const double *wp = NULL
    if frame_weight is not None:
        wv = frame_weight
        if wv.shape[0] != N:
            raise ValueError(f"frame_weight has {wv.shape[0]} entries for {N} frames")
        wp = &wv[0]
    cdef Py_ssize_t KS = K * S
    cdef Py_ssize_t block = _CAT_BLOCK
    if ((N + block - 1) // block) * KS > _CAT_PARTIAL_MAX:
        block = (N + max(_CAT_PARTIAL_MAX // KS, 1) - 1) // max(_CAT_PARTIAL_MAX // KS, 1)
    cdef Py_ssize_t n_blocks = (N + block - 1) // block, b, i, k, r0, r1
    cdef int64_t[::1] bad = np.full(n_blocks, -1, dtype=np.int64)
    # partial[b] is block b's (S, K) counts: one frame adds to K consecutive doubles
    cdef double *partial = <double *> calloc(n_blocks * KS, sizeof(double))
    if partial == NULL:
        raise MemoryError(f"categorical_counts: no memory for {n_blocks} x {K} x {S} partial counts")
    cdef const int32_t *sp = &symbols[0]
    cdef const double *gp = &gamma[0, 0]
    cdef double *p
    cdef const double *g
    cdef double wt
    cdef int32_t s
    try:
        with nogil:
            for b in prange(n_blocks, schedule='static', num_threads=_min(n_threads, n_blocks)):
                r0 = b * block
                r1 = _min(N, r0 + block)
                for i in range(r0, r1):
                    if mp != NULL and mp[i]:
                        continue
                    s = sp[i]
                    if s < 0 or s >= S:
                        if bad[b] < 0:
                            bad[b] = i
                        continue
                    p = partial + b * KS + s * K
                    g = gp + i * K
                    if wp != NULL:
                        wt = wp[i]
                        for k in range(K):
                            p[k] += wt * g[k]
                    else:
                        for k in range(K):
                            p[k] += g[k]
        i = _first_bad_symbol(bad, n_blocks)
        if i >= 0:
            raise ValueError(f"symbols[{i}] = {symbols[i]} is not a symbol in [0, {S})")
        with nogil:
            for b in range(n_blocks):
                p = partial + b * KS
                for s in range(S):
                    for k in range(K):
                        obs[k, s] += p[s * K + k]
    finally:
        free(partial)
