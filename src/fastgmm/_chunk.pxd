# Chunk loading for the k-means kernels. (The E-step builds its features row
# by row instead, in _rowops.h: there the GEMMs take either layout, and the
# transposition below was a fifth of the diagonal pass.)
#
# Layout convention: a chunk of n rows is held transposed, feature-major:
# element (row i, feature d) at buf[d * n + i]. Inner loops then run over
# rows, contiguously and without a loop-carried reduction, which the compiler
# vectorises under strict IEEE semantics (no -ffast-math needed).

from cython cimport floating


# The working precision of a chunk buffer: the data's type, or float64 where
# accuracy needs it.
ctypedef fused real:
    float
    double


cdef inline void _load_centred(
    const floating *X,        # IN  row-major rows of the chunk
    Py_ssize_t n, Py_ssize_t D,
    const double *c,          # IN  (D,) shift, or NULL for none
    real *Z,                  # OUT (D, n) feature-major: Z[d * n + i] = x_id - c_d
) noexcept nogil:
    # The subtraction is done in float64 and rounded once to Z's type (exact
    # when c is NULL). Rows go in tiles of 8 so that every store run fills a
    # whole cache line of Z.
    cdef Py_ssize_t i, i0, d, l
    cdef Py_ssize_t n8 = n - n % 8
    cdef double cd
    for i0 in range(0, n8, 8):
        for d in range(D):
            cd = 0.0 if c == NULL else c[d]
            for l in range(8):
                Z[d * n + i0 + l] = <real> (<double> X[(i0 + l) * D + d] - cd)
    for i in range(n8, n):
        for d in range(D):
            cd = 0.0 if c == NULL else c[d]
            Z[d * n + i] = <real> (<double> X[i * D + d] - cd)
