# The E-step pass's pointer entry, for the compiled EM step (fastgmm.kernels._emrun).

from libc.stdint cimport int64_t

cdef int estep_statistics_f64(int quad, Py_ssize_t N, Py_ssize_t D, Py_ssize_t K, Py_ssize_t P,
                              const double *X, const double *sw, const double *shift, const double *W,
                              const double *U, Py_ssize_t chunk_rows, Py_ssize_t slot_rows, Py_ssize_t n_slots,
                              int n_threads, double *G, double *T, double *ll, const int64_t *labels=*) noexcept nogil
