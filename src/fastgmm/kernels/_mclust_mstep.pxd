# The constrained M-step's pointer entry, for the compiled EM step (fastgmm.kernels._emrun).

cdef Py_ssize_t constrained_step_c(int model, const double *nk, const double *cov, Py_ssize_t K, Py_ssize_t D,
                                   bint from_moments, double reg, double tol, Py_ssize_t max_iter,
                                   const double *start, double empty_weight, double *out) noexcept nogil
