"""k-means kernels (k-means++ seeding and Lloyd iterations) for initialisation.

fastgmm initialises like scikit-learn's GaussianMixture (k-means labels), but
without needing scikit-learn. Squared distances are computed directly,
sum_d (x_d - c_d)^2, feature by feature over a transposed chunk, so they are
never negative and need no ||x||^2 - 2 x.c + ||c||^2 cancellation. Sums go to
per-slot partials (fixed row ranges) that the caller adds in slot order: the
result does not depend on the thread count.
"""

from cython cimport floating
from cython.parallel cimport prange, parallel
from libc.stdlib cimport malloc, free
from libc.stdint cimport int64_t


cdef inline Py_ssize_t _min(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline void _load_transposed(
    const floating *X,        # IN  (n, D) row-major rows of the chunk
    Py_ssize_t n, Py_ssize_t D,
    floating *XT,             # OUT (D, n) feature-major: XT[d * n + i] = x_id
) noexcept nogil:
    # Rows go in tiles of 8 so that every store run fills a whole cache line.
    cdef Py_ssize_t i, i0, d, l
    cdef Py_ssize_t n8 = n - n % 8
    for i0 in range(0, n8, 8):
        for d in range(D):
            for l in range(8):
                XT[d * n + i0 + l] = X[(i0 + l) * D + d]
    for i in range(n8, n):
        for d in range(D):
            XT[d * n + i] = X[i * D + d]


cdef void _sq_dist(
    const floating *XT, Py_ssize_t n, Py_ssize_t D,
    const floating *c,      # IN (D,) one centre
    double *out,            # OUT (n,) squared distances
) noexcept nogil:
    cdef Py_ssize_t d, i
    cdef double z, cd
    cdef const floating *xd
    for i in range(n):
        out[i] = 0.0
    for d in range(D):
        cd = c[d]
        xd = XT + d * n
        for i in range(n):
            z = <double> xd[i] - cd
            out[i] += z * z


def lloyd_iteration(
    const floating[:, ::1] X,       # IN  (n_samples, D)
    const floating[:, ::1] centres, # IN  (K, D)
    Py_ssize_t chunk_rows,          # IN
    Py_ssize_t slot_rows,           # IN  multiple of chunk_rows
    double[:, ::1] sums,            # OUT (n_slots, K * D), zero-filled
    double[:, ::1] counts,          # OUT (n_slots, K), zero-filled
    double[::1] inertia,            # OUT (n_slots,), zero-filled
    int64_t[::1] labels,            # OUT (n_samples,) nearest centre
    double[::1] min_dist,           # OUT (n_samples,) squared distance to it, or None
    int n_threads,                  # IN
):
    """Assign every row to its nearest centre and add per-slot sums and counts.

    Returns -1 if scratch memory could not be allocated, else 0.
    """
    cdef Py_ssize_t N = X.shape[0], D = X.shape[1], K = centres.shape[0]
    cdef Py_ssize_t n_slots = counts.shape[0]
    if centres.shape[1] != D:
        raise ValueError("centres must have n_features columns")
    if chunk_rows < 1 or slot_rows < chunk_rows or slot_rows % chunk_rows:
        raise ValueError("slot_rows must be a positive multiple of chunk_rows")
    if n_slots != (N + slot_rows - 1) // slot_rows:
        raise ValueError("n_slots does not match the data and slot_rows")
    if (sums.shape[0] != n_slots or sums.shape[1] != K * D or counts.shape[1] != K
            or inertia.shape[0] != n_slots or labels.shape[0] != N):
        raise ValueError("output shapes do not match")
    cdef bint want_dist = min_dist is not None
    if want_dist and min_dist.shape[0] != N:
        raise ValueError("min_dist must have n_samples entries")
    if N == 0:
        return 0
    n_threads = <int> _min(max(n_threads, 1), n_slots)

    cdef const floating *Xp = &X[0, 0]
    cdef const floating *cp = &centres[0, 0]
    cdef double *sp = &sums[0, 0]
    cdef double *cntp = &counts[0, 0]
    cdef double *inp = &inertia[0]
    cdef int64_t *lbp = &labels[0]
    cdef double *mdp = NULL
    if want_dist:
        mdp = &min_dist[0]
    cdef int status[1]
    status[0] = 0
    cdef Py_ssize_t s, r0, r_end, n, i, k, d, lab
    cdef floating *XT
    cdef double *dist
    cdef double *best
    cdef int64_t *blab
    cdef bint ok

    with nogil, parallel(num_threads=n_threads):
        XT = <floating *> malloc(chunk_rows * D * sizeof(floating))
        dist = <double *> malloc(chunk_rows * sizeof(double))
        best = <double *> malloc(chunk_rows * sizeof(double))
        blab = <int64_t *> malloc(chunk_rows * sizeof(int64_t))
        ok = XT != NULL and dist != NULL and best != NULL and blab != NULL
        if not ok:
            status[0] = 1
        for s in prange(n_slots, schedule='dynamic'):
            if ok:
                r0 = s * slot_rows
                r_end = _min(N, r0 + slot_rows)
                while r0 < r_end:
                    n = _min(chunk_rows, r_end - r0)
                    _load_transposed(Xp + r0 * D, n, D, XT)
                    _sq_dist(XT, n, D, cp, best)
                    for i in range(n):
                        blab[i] = 0
                    for k in range(1, K):
                        _sq_dist(XT, n, D, cp + k * D, dist)
                        for i in range(n):
                            if dist[i] < best[i]:
                                best[i] = dist[i]
                                blab[i] = k
                    for i in range(n):
                        lab = blab[i]
                        lbp[r0 + i] = lab
                        cntp[s * K + lab] += 1
                        inp[s] += best[i]
                        for d in range(D):
                            sp[s * K * D + lab * D + d] += Xp[(r0 + i) * D + d]
                        if want_dist:
                            mdp[r0 + i] = best[i]
                    r0 = r0 + n
        free(XT)
        free(dist)
        free(best)
        free(blab)
    return -1 if status[0] else 0


def candidate_potentials(
    const floating[:, ::1] X,           # IN  (n_samples, D)
    const floating[:, ::1] candidates,  # IN  (T, D)
    const double[::1] closest,          # IN  (n_samples,) current squared distance to the nearest centre
    Py_ssize_t chunk_rows,              # IN
    Py_ssize_t slot_rows,               # IN
    double[:, ::1] potentials,          # OUT (n_slots, T), zero-filled: sum_i min(closest_i, |x_i - cand_t|^2)
    double[:, ::1] new_closest,         # OUT (T, n_samples) or None: min(closest, dist to candidate t)
    int n_threads,                      # IN
):
    """k-means++ trial: the potential each candidate centre would leave.

    With ``new_closest`` given (one candidate row per output row) the updated
    nearest-centre distances are written too. Returns -1 on allocation
    failure, else 0.
    """
    cdef Py_ssize_t N = X.shape[0], D = X.shape[1], T = candidates.shape[0]
    cdef Py_ssize_t n_slots = potentials.shape[0]
    if candidates.shape[1] != D or closest.shape[0] != N or potentials.shape[1] != T:
        raise ValueError("shapes do not match")
    if chunk_rows < 1 or slot_rows < chunk_rows or slot_rows % chunk_rows:
        raise ValueError("slot_rows must be a positive multiple of chunk_rows")
    if n_slots != (N + slot_rows - 1) // slot_rows:
        raise ValueError("n_slots does not match the data and slot_rows")
    cdef bint want_new = new_closest is not None
    if want_new and (new_closest.shape[0] != T or new_closest.shape[1] != N):
        raise ValueError("new_closest must have shape (n_candidates, n_samples)")
    if N == 0:
        return 0
    n_threads = <int> _min(max(n_threads, 1), n_slots)

    cdef const floating *Xp = &X[0, 0]
    cdef const floating *cp = &candidates[0, 0]
    cdef const double *clp = &closest[0]
    cdef double *pp = &potentials[0, 0]
    cdef double *ncp = NULL
    if want_new:
        ncp = &new_closest[0, 0]
    cdef int status[1]
    status[0] = 0
    cdef Py_ssize_t s, r0, r_end, n, i, t
    cdef floating *XT
    cdef double *dist
    cdef double acc, v
    cdef bint ok

    with nogil, parallel(num_threads=n_threads):
        XT = <floating *> malloc(chunk_rows * D * sizeof(floating))
        dist = <double *> malloc(chunk_rows * sizeof(double))
        ok = XT != NULL and dist != NULL
        if not ok:
            status[0] = 1
        for s in prange(n_slots, schedule='dynamic'):
            if ok:
                r0 = s * slot_rows
                r_end = _min(N, r0 + slot_rows)
                while r0 < r_end:
                    n = _min(chunk_rows, r_end - r0)
                    _load_transposed(Xp + r0 * D, n, D, XT)
                    for t in range(T):
                        _sq_dist(XT, n, D, cp + t * D, dist)
                        acc = 0.0
                        for i in range(n):
                            v = dist[i] if dist[i] < clp[r0 + i] else clp[r0 + i]
                            acc = acc + v
                            if want_new:
                                ncp[t * N + r0 + i] = v
                        pp[s * T + t] += acc
                    r0 = r0 + n
        free(XT)
        free(dist)
    return -1 if status[0] else 0
