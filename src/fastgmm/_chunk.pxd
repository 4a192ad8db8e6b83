# Shared nogil helpers for the chunked kernels (E-step, statistics, k-means).
#
# Layout convention: a chunk of n rows is held transposed, feature-major:
# element (row i, feature d) at buf[d * n + i]. Inner loops then run over
# rows, contiguously and without a loop-carried reduction, which the compiler
# vectorises under strict IEEE semantics (no -ffast-math needed).

from cython cimport floating


cdef inline void _load_chunk_t(
    const floating *X,      # IN  row-major (n_total, D), pointer at the chunk's first row
    Py_ssize_t n,           # IN  rows in the chunk
    Py_ssize_t D,           # IN
    const floating *shift,  # IN  (D,) subtracted from every row, or NULL
    floating *XT,           # OUT (D, n) feature-major
) noexcept nogil:
    cdef Py_ssize_t i, d
    if shift == NULL:
        for i in range(n):
            for d in range(D):
                XT[d * n + i] = X[i * D + d]
    else:
        for i in range(n):
            for d in range(D):
                XT[d * n + i] = X[i * D + d] - shift[d]


cdef inline double _sum_lanes(const floating *a, Py_ssize_t n) noexcept nogil:
    """Sum of a[0:n] in float64, eight independent lanes combined in a fixed order.

    Deterministic (depends only on n), vectorisable, and more accurate than a
    single running sum.
    """
    cdef double acc[8]
    cdef Py_ssize_t i, l, n8 = n - n % 8
    for l in range(8):
        acc[l] = 0.0
    for i in range(0, n8, 8):
        for l in range(8):
            acc[l] += <double> a[i + l]
    for i in range(n8, n):
        acc[i - n8] += <double> a[i]
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


cdef inline double _dot_lanes(const floating *a, const floating *b, Py_ssize_t n) noexcept nogil:
    """Dot product of a[0:n] and b[0:n] in float64, eight lanes (see _sum_lanes)."""
    cdef double acc[8]
    cdef Py_ssize_t i, l, n8 = n - n % 8
    for l in range(8):
        acc[l] = 0.0
    for i in range(0, n8, 8):
        for l in range(8):
            acc[l] += <double> a[i + l] * <double> b[i + l]
    for i in range(n8, n):
        acc[i - n8] += <double> a[i] * <double> b[i]
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


cdef inline void _centred_moments_lanes(
    const floating *r,      # IN  (n,) weights
    const floating *x,      # IN  (n,) one feature of the chunk
    floating c,             # IN  centre
    Py_ssize_t n,           # IN
    double *m1,             # OUT sum r (x - c)
    double *m2,             # OUT sum r (x - c)^2
) noexcept nogil:
    """First and second weighted moments about c in float64, eight lanes."""
    cdef double a1[8]
    cdef double a2[8]
    cdef double z, rz
    cdef Py_ssize_t i, l, n8 = n - n % 8
    for l in range(8):
        a1[l] = 0.0
        a2[l] = 0.0
    for i in range(0, n8, 8):
        for l in range(8):
            z = <double> x[i + l] - <double> c
            rz = <double> r[i + l] * z
            a1[l] += rz
            a2[l] += rz * z
    for i in range(n8, n):
        z = <double> x[i] - <double> c
        rz = <double> r[i] * z
        a1[i - n8] += rz
        a2[i - n8] += rz * z
    m1[0] = ((a1[0] + a1[1]) + (a1[2] + a1[3])) + ((a1[4] + a1[5]) + (a1[6] + a1[7]))
    m2[0] = ((a2[0] + a2[1]) + (a2[2] + a2[3])) + ((a2[4] + a2[5]) + (a2[6] + a2[7]))
