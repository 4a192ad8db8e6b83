# One thread's side of the ordered slot reduction (_ordered.h) of the EM
# kernel (_estep.pyx, every mode): its two partial sums and its place in the
# schedule. The kernel lays its sums out in a partial's n_values doubles
# (e.g. G, then T, then ll) and gives _ordered.h an `add` function that adds
# a range of a partial's values into its outputs (`add_range` per output).

from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset


cdef extern from "_ordered.h" nogil:
    ctypedef struct fastgmm_order:
        int64_t waits
    ctypedef struct fastgmm_order_thread:
        int cur
    ctypedef void (*fastgmm_add_fn)(const void *spec, void *part, int64_t s, int64_t j0,
                                    int64_t j1) noexcept nogil
    void fastgmm_add_relaxed(int64_t *c, int64_t v)
    int fastgmm_order_init(fastgmm_order *o, int64_t n_slots, int ordered, int64_t n_values, int64_t block)
    void fastgmm_order_free(fastgmm_order *o)
    void fastgmm_order_thread_init(fastgmm_order_thread *t, int n_part)
    void fastgmm_order_fail(fastgmm_order *o)
    int fastgmm_order_failed(fastgmm_order *o)
    int64_t fastgmm_order_take(fastgmm_order *o, fastgmm_order_thread *t)
    void fastgmm_order_done(fastgmm_order *o, fastgmm_order_thread *t, int64_t s, void **parts,
                            fastgmm_add_fn add, const void *spec)
    void fastgmm_order_finish(fastgmm_order *o, fastgmm_order_thread *t, void **parts, fastgmm_add_fn add,
                              const void *spec)


cdef struct Partial:
    double *v                 # (n_values,) one slot's sums, laid out by the kernel
    int64_t bad               # the kernel's first error position in the slot, -1: none


cdef struct SlotState:
    Partial part[2]           # the slot being computed, and one finished but not yet added
    void *parts[2]            # &part[0], &part[1], as _ordered.h takes them
    fastgmm_order_thread order
    Py_ssize_t n_values


cdef inline bint slot_state_alloc(SlotState *s, Py_ssize_t n_values, int n_part) noexcept nogil:
    """Two partials (one if ``n_part`` is 1) of ``n_values`` doubles; False if malloc failed.

    ``s`` must come zeroed (calloc); free it with `slot_state_free` either way.
    """
    cdef int j
    fastgmm_order_thread_init(&s.order, n_part)
    s.n_values = n_values
    for j in range(2):
        s.parts[j] = &s.part[j]
    for j in range(n_part):
        s.part[j].v = <double *> malloc(n_values * sizeof(double))
        if s.part[j].v == NULL:
            return False
    return True


cdef inline void slot_state_free(SlotState *s) noexcept nogil:
    free(s.part[0].v)
    free(s.part[1].v)


# Doubles per block of the pipelined additions (_ordered.h): 16 KiB, an L1's
# worth, so that one block's addition streams from cache; W2's partial is 2
# blocks, W6's 34, each with its own turn counter.
cdef enum:
    ADD_BLOCK = 2048


cdef inline void add_range(double *dst, const double *src, int64_t j0, int64_t j1, int64_t lo,
                           int64_t hi) noexcept nogil:
    """``dst[j - lo] += src[j]`` for j in [j0, j1) and in [lo, hi): one output's share of a block."""
    cdef int64_t j
    cdef int64_t a = j0 if j0 > lo else lo
    cdef int64_t b = j1 if j1 < hi else hi
    for j in range(a, b):
        dst[j - lo] += src[j]


cdef inline Partial *slot_begin(SlotState *s) noexcept nogil:
    """The partial the thread's next slot is summed into, zeroed (no error seen)."""
    cdef Partial *q = &s.part[s.order.cur]
    memset(q.v, 0, s.n_values * sizeof(double))
    q.bad = -1
    return q
