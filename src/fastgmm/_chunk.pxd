# Chunk helper of the k-means kernels.
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
