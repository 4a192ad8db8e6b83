/* OpenMP shim: the same Cython code compiles with or without OpenMP.
 * Without it, the runtime calls become single-threaded no-ops. */
#ifndef FASTGMM_OPENMP_SHIM_H
#define FASTGMM_OPENMP_SHIM_H

#ifdef _OPENMP
#include <omp.h>
#define FASTGMM_OPENMP_ENABLED 1
#define FASTGMM_OPENMP_VERSION _OPENMP
#else
#define FASTGMM_OPENMP_ENABLED 0
#define FASTGMM_OPENMP_VERSION 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
#endif

#ifndef FASTGMM_DEBUG_BUILD
#define FASTGMM_DEBUG_BUILD 0
#endif

#endif
