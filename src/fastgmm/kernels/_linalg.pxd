# The small dense algebra of an EM iteration on pointers, for the compiled EM step (fastgmm.kernels._emrun).

cdef double total_c(const double *x, Py_ssize_t n) noexcept nogil
cdef void mixture_shift_c(Py_ssize_t K, Py_ssize_t D, const double *weights, const double *means,
                          double *out) noexcept nogil
cdef int precision_cholesky_c(int K, int D, const double *cov, double *out, double *a) noexcept nogil
cdef void linear_coefficients_c(int kind, Py_ssize_t K, Py_ssize_t D, Py_ssize_t P, const double *weights,
                                const double *means, const double *pc, const double *shift, const Py_ssize_t *pair_i,
                                const Py_ssize_t *pair_j, const double *pair_scale, Py_ssize_t n_pairs, double *out,
                                double *a, double *aU) noexcept nogil
cdef void gaussian_m_step_c(int kind, Py_ssize_t K, Py_ssize_t D, const double *nk, const double *s1,
                            const double *s2, const double *centre, double eps, double reg_covar,
                            const double *frozen, double *nk_eps, double *means, double *cov,
                            double *d) noexcept nogil
