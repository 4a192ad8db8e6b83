# OpenMP runtime calls that compile to single-threaded stubs without OpenMP.
cdef extern from "_openmp_shim.h" nogil:
    int FASTGMM_OPENMP_ENABLED
    int FASTGMM_OPENMP_VERSION
    int FASTGMM_DEBUG_BUILD
    int omp_get_max_threads()
    int omp_get_thread_num()
    int omp_get_num_threads()
