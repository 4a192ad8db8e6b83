"""mclust's M-steps compiled: the iterative VEI, VEV, VEE, EVE and VVE, the closed forms, and every model's
whole step from the moments in one call (``constrained_step``, the end of this file).

The algorithms, starting values and stopping rules are those of ``fastgmm.families._mclust_iterative``'s
docstring (Celeux & Govaert 1995 for VEI, VEV, VEE; the common orientation of EVE and VVE by sweeps of exact
plane rotations, and Browne & McNicholas 2014's two majorise-minimise steps for mclust's own VVE);
tests/_reference_mclust_iterative.py is the NumPy version they are checked against. For the small D and K
of a mixture every operation is on a handful of numbers, so the NumPy version's time was all call overhead;
here each M-step is one call.

Conventions shared by every entry point:

- ``W`` holds the within-component scatters, ``nk`` their weights; ``active`` (0/1) marks the components that
  take part. The others get the shared parts and a zero volume where theirs is free (zero covariance), or
  for EVE the common covariance.
- Matrices are row-major D x D. Eigenvectors are columns, largest eigenvalue first; eigenvalues of a scatter
  are clipped at 0 (rounding can make them slightly negative).
- ``1 / lambda`` is 0 where lambda is not > 0, so a component with zero scatter adds nothing to a shared part.
- A decomposition that fails (non-finite input, LAPACK info != 0, a Jacobi SVD that has not converged in
  64 sweeps) makes the result NaN, which the caller
  (``_mclust.constrained_covariances``) replaces by the component's own scatter over its weight.
- Every entry returns the number of iterations made, or -1 when scratch memory could not be allocated.

No thread parallelism: one M-step is a few microseconds of work. The GIL is released all the same.
"""

from libc.math cimport INFINITY, NAN, exp, fabs, hypot, isfinite, isnan, log, sqrt, M_PI
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from scipy.linalg.cython_lapack cimport dgesv, dgetrf, dsyevd

cdef extern from "_polar.h" nogil:
    int fastgmm_polar_minimiser(int n, const double *G, double *O, double *A, double *V, double *P, double *s)

cdef enum:
    _VEV = 0
    _VEE = 1
    _EVE = 2
    _VVE = 3
    _VVE_MCLUST = 4
    _EEV = 5
    _EVV = 6
    # the others, for constrained_step
    _VEI = 7
    _EII = 8
    _VII = 9
    _EEI = 10
    _VVI = 11
    _EVI = 12
    _EEE = 13
    _VVV = 14

#: Model codes for :func:`full`. VVE_MCLUST: mclust 6.0's VVE orientation step, without the 1 / lambda_k.
VEV = _VEV
VEE = _VEE
EVE = _EVE
VVE = _VVE
VVE_MCLUST = _VVE_MCLUST
#: Model codes for :func:`closed_full`.
EEV = _EEV
EVV = _EVV
#: Every model's code for :func:`constrained_step`, by mclust's name.
MODEL_CODES = {"EII": _EII, "VII": _VII, "EEI": _EEI, "VEI": _VEI, "EVI": _EVI, "VVI": _VVI, "EEE": _EEE,
               "VEE": _VEE, "EVE": _EVE, "VVE": _VVE, "EEV": _EEV, "VEV": _VEV, "EVV": _EVV, "VVV": _VVV}

cdef double _FLMAX_HALF = 1.7976931348623157e308 / 2


# --- small helpers ------------------------------------------------------------------------------------------

cdef inline double _inv0(double x) noexcept nogil:
    """1 / x, or 0 where x is not > 0."""
    return 1.0 / x if x > 0.0 else 0.0


cdef inline double _max_nan(double x, double y) noexcept nogil:
    """The larger, NaN if either is NaN (numpy's max)."""
    if isnan(x) or isnan(y):
        return NAN
    return y if y > x else x


cdef inline double _first_unless_greater(double x, double y) noexcept nogil:
    """Python's built-in max(x, y): y if y > x, else x (so a NaN x wins, a NaN y loses)."""
    return y if y > x else x


cdef double _geomean(const double *x, Py_ssize_t n) noexcept nogil:
    """exp(mean(log x)); 0 where an entry is 0."""
    cdef Py_ssize_t j
    cdef double s = 0.0
    for j in range(n):
        s = s + log(x[j])
    return exp(s / n)


cdef double _unit_det(double *x, Py_ssize_t n) noexcept nogil:
    """Scale x (n,) to geometric mean 1 in place; return the scale."""
    cdef Py_ssize_t j
    cdef double g = _geomean(x, n)
    for j in range(n):
        x[j] = x[j] / g
    return g


cdef double _relative_change(const double *old, const double *new, Py_ssize_t n) noexcept nogil:
    """max |old - new| / (1 + new), NaN if any term is NaN."""
    cdef Py_ssize_t j
    cdef double r = -INFINITY
    for j in range(n):
        r = _max_nan(r, fabs(old[j] - new[j]) / (1.0 + new[j]))
    return r


cdef bint _all_finite(const double *x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        if not isfinite(x[j]):
            return False
    return True


cdef void _fill(double *x, Py_ssize_t n, double value) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        x[j] = value


cdef struct Scratch:
    # Everything an M-step needs besides its inputs, allocated once per call (_scratch_init).
    int D
    Py_ssize_t *idx       # (K,) the active components
    double *buf           # per-model arrays (_BUFFER doubles)
    double *work          # LAPACK's eigen-decompositions
    int lwork
    int *iwork            # LAPACK; also the pivots of LU factorisations
    int liwork
    double *a             # D x D copy the LAPACK routines overwrite; the polar step's G V
    double *u             # D x D the polar step's P
    double *vt            # D x D the polar step's V
    double *s             # D eigenvalues; the polar step's singular values


cdef inline Py_ssize_t _buffer_size(Py_ssize_t K, Py_ssize_t D) noexcept nogil:
    """Doubles of per-model scratch: enough for every model (EVE and VVE need the most)."""
    return K * D * D + 4 * K * D + 4 * K + 3 * D * D + D


cdef int _scratch_init(Scratch *S, Py_ssize_t K, Py_ssize_t D) noexcept nogil:
    """Allocate the scratch for K components of D features; 0, or -1 (then _scratch_free it all the same)."""
    cdef int n = <int> D
    S.D = n
    S.idx = <Py_ssize_t *> malloc(K * sizeof(Py_ssize_t))
    S.buf = <double *> malloc(_buffer_size(K, D) * sizeof(double))
    S.a = <double *> malloc((3 * D * D + D) * sizeof(double))
    S.work = NULL
    S.iwork = NULL
    if S.idx == NULL or S.buf == NULL or S.a == NULL:
        return -1
    S.u = S.a + D * D
    S.vt = S.u + D * D
    S.s = S.vt + D * D
    # dsyevd's minimum with eigenvectors: 1 + 6 D + 2 D^2 doubles, 3 + 5 D integers (also enough pivots).
    S.lwork = 1 + 6 * n + 2 * n * n
    S.liwork = 3 + 5 * n
    S.work = <double *> malloc(S.lwork * sizeof(double))
    S.iwork = <int *> malloc(S.liwork * sizeof(int))
    if S.work == NULL or S.iwork == NULL:
        return -1
    return 0


cdef void _scratch_free(Scratch *S) noexcept nogil:
    free(S.idx)
    free(S.buf)
    free(S.a)
    free(S.work)
    free(S.iwork)


cdef Py_ssize_t _active_rows(const unsigned char *active, Py_ssize_t K, Py_ssize_t *idx) noexcept nogil:
    """The indices of the active components into idx; their number."""
    cdef Py_ssize_t k, m = 0
    for k in range(K):
        if active[k]:
            idx[m] = k
            m += 1
    return m


# --- LAPACK on row-major matrices ---------------------------------------------------------------------------

cdef bint _eigh(Scratch *S, const double *M, double *values, double *vectors) noexcept nogil:
    """Eigenvalues of the symmetric M (D x D), largest first, and (if ``vectors`` is not NULL) the
    eigenvectors as the columns of ``vectors`` (row-major), in the same order. False on failure."""
    cdef int n = S.D, info = 0, i, j
    cdef char *jobz = b"V" if vectors != NULL else b"N"
    cdef char *uplo = b"U"
    if not _all_finite(M, n * n):
        return False
    memcpy(S.a, M, n * n * sizeof(double))
    dsyevd(jobz, uplo, &n, S.a, &n, S.s, S.work, &S.lwork, S.iwork, &S.liwork, &info)
    if info != 0:
        return False
    for j in range(n):
        values[j] = S.s[n - 1 - j]
    if vectors != NULL:
        # LAPACK's eigenvector m is S.a[m n .. m n + n); our column j is its n - 1 - j.
        for j in range(n):
            for i in range(n):
                vectors[i * n + j] = S.a[(n - 1 - j) * n + i]
    return True


cdef void _eigh_clipped(Scratch *S, const double *M, double *values, double *vectors) noexcept nogil:
    """_eigh with negative rounding errors set to 0; NaN if it fails."""
    cdef Py_ssize_t j, D = S.D
    if not _eigh(S, M, values, vectors):
        _fill(values, D, NAN)
        if vectors != NULL:
            _fill(vectors, D * D, NAN)
        return
    for j in range(D):
        if values[j] < 0.0:
            values[j] = 0.0


cdef void _polar_minimiser(Scratch *S, const double *G, double *O) noexcept nogil:
    """The orthogonal O minimising tr(G O) (_polar.h); G column-major, O row-major; NaN if it fails."""
    if not _all_finite(G, S.D * S.D):
        _fill(O, S.D * S.D, NAN)
        return
    fastgmm_polar_minimiser(S.D, G, O, S.a, S.vt, S.u, S.s)


cdef double _log_abs_det(Scratch *S, const double *M, bint *negative=NULL) noexcept nogil:
    """log |det M| by an LU factorisation (as numpy's slogdet); -inf for an exactly singular M. With
    ``negative``, also whether det M < 0 (the signs of U's diagonal and of the row swaps)."""
    cdef int n = S.D, info = 0, j
    cdef double acc = 0.0
    cdef bint neg = False
    memcpy(S.a, M, n * n * sizeof(double))
    dgetrf(&n, &n, S.a, &n, S.iwork, &info)
    if info > 0:
        return -INFINITY
    for j in range(n):
        if S.a[j * n + j] < 0.0:
            neg = not neg
        if S.iwork[j] != j + 1:
            neg = not neg
        acc = acc + log(fabs(S.a[j * n + j]))
    if negative != NULL:
        negative[0] = neg
    return acc


cdef bint _inverse(Scratch *S, const double *M, double *Minv) noexcept nogil:
    """Minv = M^-1 for an exactly symmetric M, column-major (LAPACK's solve of M X = I as it writes X);
    False when M is not finite or exactly singular."""
    cdef int n = S.D, info = 0, j
    if not _all_finite(M, n * n):
        return False
    memcpy(S.a, M, n * n * sizeof(double))
    _fill(Minv, n * n, 0.0)
    for j in range(n):
        Minv[j * n + j] = 1.0
    dgesv(&n, &n, S.a, &n, S.iwork, Minv, &n, &info)
    return info == 0


cdef void _rebuild(const double *V, const double *c, Py_ssize_t D, double *out) noexcept nogil:
    """out = V diag(c) V^T (row-major D x D)."""
    cdef Py_ssize_t i, l, j
    cdef double acc
    for i in range(D):
        for l in range(D):
            acc = 0.0
            for j in range(D):
                acc = acc + V[i * D + j] * c[j] * V[l * D + j]
            out[i * D + l] = acc


# --- VEI and VEV: volumes given the shape, shape given the volumes --------------------------------------------

cdef Py_ssize_t _volumes_and_shape(const double *e, const double *n, double *lam, double *a, Py_ssize_t K,
                                   Py_ssize_t D, double tol, Py_ssize_t max_iter, bint strict,
                                   double *lam_new, double *a_new) noexcept nogil:
    """Alternate the volume and shape updates for per-component values e (K, D); lam (K,) and a (D,) hold the
    start and receive the result. ``strict``: VEV's loop condition (go on while the change is >= tol and
    fewer than max_iter steps were made); otherwise VEI's (> tol, at most max_iter steps)."""
    cdef Py_ssize_t it, k, j
    cdef double s, err
    cdef bint more
    for it in range(1, max_iter + 2):
        for k in range(K):
            s = 0.0
            for j in range(D):
                s = s + e[k * D + j] / a[j]
            lam_new[k] = s / (D * n[k])
        _fill(a_new, D, 0.0)
        for k in range(K):
            s = _inv0(lam_new[k])
            for j in range(D):
                a_new[j] = a_new[j] + e[k * D + j] * s
        _unit_det(a_new, D)
        err = _first_unless_greater(_relative_change(lam, lam_new, K), _relative_change(a, a_new, D))
        memcpy(lam, lam_new, K * sizeof(double))
        memcpy(a, a_new, D * sizeof(double))
        more = (err >= tol and it < max_iter) if strict else (err > tol and it <= max_iter)
        if not more:
            return it
    return max_iter + 1


cdef void _mean_shape(double *values, Py_ssize_t K, Py_ssize_t D, double *lam, double *a) noexcept nogil:
    """A start from per-component values (K, D): each one's scale into lam, and the mean of the scaled rows,
    itself scaled to determinant 1, into a."""
    cdef Py_ssize_t k, j
    for k in range(K):
        lam[k] = _unit_det(values + k * D, D)
    _fill(a, D, 0.0)
    for k in range(K):
        for j in range(D):
            a[j] = a[j] + values[k * D + j]
    for j in range(D):
        a[j] = a[j] / K
    _unit_det(a, D)


cdef Py_ssize_t _vei_vev(Scratch *S, const double *W, Py_ssize_t K, Py_ssize_t D, double tol,
                         Py_ssize_t max_iter, const double *start, const double *n, bint vev,
                         double *out) noexcept nogil:
    """VEI (on the diagonals W, K0 x D) or VEV (on the scatters, K0 x D x D), for the active components
    S.idx[:K] of weights n. VEV's values are the scatters' eigenvalues, its orientations their eigenvectors."""
    cdef Py_ssize_t k, j, it, size = D * D if vev else D
    cdef double g
    cdef double *V = S.buf
    cdef double *e = V + K * D * D
    cdef double *lam = e + K * D
    cdef double *lam_new = lam + K
    cdef double *a = lam_new + K
    cdef double *a_new = a + D
    cdef double *values = a_new + D
    for k in range(K):
        if vev:
            _eigh_clipped(S, W + S.idx[k] * size, e + k * D, V + k * size)
        else:
            memcpy(e + k * D, W + S.idx[k] * size, D * sizeof(double))
    if start != NULL:
        for k in range(K):
            if vev:
                _eigh_clipped(S, start + S.idx[k] * size, values + k * D, NULL)
            else:
                memcpy(values + k * D, start + S.idx[k] * size, D * sizeof(double))
        _mean_shape(values, K, D, lam, a)
    elif vev:
        # mclust's start: the shape of the summed eigenvalues.
        _fill(a, D, 0.0)
        for k in range(K):
            for j in range(D):
                a[j] = a[j] + e[k * D + j]
        g = _unit_det(a, D)
        for k in range(K):
            lam[k] = g / n[k]
    else:
        _fill(lam, K, 1.0)
        _fill(a, D, 1.0)
    it = _volumes_and_shape(e, n, lam, a, K, D, tol, max_iter, vev, lam_new, a_new)
    for k in range(K):
        for j in range(D):
            a_new[j] = lam[k] * a[j]
        if vev:
            _rebuild(V + k * size, a_new, D, out + S.idx[k] * size)
        else:
            memcpy(out + S.idx[k] * size, a_new, D * sizeof(double))
    return it


# --- VEE: the shared shape-and-orientation C given the volumes, volumes given C ------------------------------

cdef Py_ssize_t _vee(Scratch *S, const double *W, Py_ssize_t K, Py_ssize_t D, double tol, Py_ssize_t max_iter,
                     const double *start, const double *n, double *out) noexcept nogil:
    cdef Py_ssize_t k, i, it = 0, DD = D * D
    cdef double c, g, target, previous = _FLMAX_HALF, err, sn, snl
    cdef double *lam = S.buf
    cdef double *C = lam + K
    cdef double *Cinv = C + DD
    cdef double *ev = Cinv + DD
    for k in range(K):
        lam[k] = 1.0 if start == NULL else exp(_log_abs_det(S, start + S.idx[k] * DD) / D)
    while it < max_iter:
        it += 1
        _fill(C, DD, 0.0)
        for k in range(K):
            c = _inv0(lam[k])
            for i in range(DD):
                C[i] = C[i] + c * W[S.idx[k] * DD + i]
        g = exp(_log_sum(ev, D) / D) if _eigh(S, C, ev, NULL) else NAN
        for i in range(DD):
            C[i] = C[i] / g
        if not _inverse(S, C, Cinv):
            _fill(Cinv, DD, NAN)
        # tr(W_k C^-1) = sum_ij W_kij (C^-1)_ji, and Cinv is column-major: (C^-1)_ji = Cinv[i D + j].
        sn = 0.0
        snl = 0.0
        for k in range(K):
            c = 0.0
            for i in range(DD):
                c = c + W[S.idx[k] * DD + i] * Cinv[i]
            lam[k] = c / (D * n[k])
            sn = sn + n[k]
            snl = snl + n[k] * log(lam[k])
        target = D * sn + D * snl
        err = fabs(target - previous) / (1.0 + fabs(target))
        previous = target
        if not (err > tol and it < max_iter):
            break
    for k in range(K):
        for i in range(DD):
            out[S.idx[k] * DD + i] = lam[k] * C[i]
    return it


cdef double _log_sum(const double *x, Py_ssize_t n) noexcept nogil:
    """sum(log x), smallest first (the order of NumPy's ascending eigenvalues)."""
    cdef Py_ssize_t j
    cdef double s = 0.0
    for j in range(n - 1, -1, -1):
        s = s + log(x[j])
    return s


# --- EVE and VVE: a common orientation by plane rotations (mclust's VVE: majorise-minimise steps) ----------

cdef void _project(Scratch *S, const double *O, const double *W, Py_ssize_t K, Py_ssize_t D,
                   double *OtW) noexcept nogil:
    """OtW_k = O^T W_k for the active components (row-major D x D each)."""
    cdef Py_ssize_t k, i, j, l, DD = D * D
    cdef double acc
    cdef const double *Wk
    for k in range(K):
        Wk = W + S.idx[k] * DD
        for j in range(D):
            for l in range(D):
                acc = 0.0
                for i in range(D):
                    acc = acc + O[i * D + j] * Wk[i * D + l]
                OtW[k * DD + j * D + l] = acc


cdef void _mm_orientation(Scratch *S, const double *W, Py_ssize_t K, Py_ssize_t D, const double *omega,
                          double *O, const double *A, const double *weights, double *OtW, double *G,
                          double *c) noexcept nogil:
    """Browne & McNicholas's two majorise-minimise steps for the common orientation O (columns), minimising
    sum_k weights_k tr(O^T W_k O A_k^-1). Step 1 bounds W_k by its largest eigenvalue omega_k, step 2 A_k^-1
    by its largest entry; each bound is linear in O, minimised by the polar factor of its matrix. O is
    updated; OtW (K, D, D) receives O^T W_k for the new O. G (D x D) and c (K x D) are scratch."""
    cdef Py_ssize_t k, j, l, DD = D * D
    cdef double m
    _project(S, O, W, K, D, OtW)
    for k in range(K):
        for j in range(D):
            c[k * D + j] = weights[k] / A[k * D + j]
    # G is built column-major (G[j + l D] = G_jl), the order LAPACK reads.
    _fill(G, DD, 0.0)
    for k in range(K):
        for j in range(D):
            for l in range(D):
                G[j + l * D] = G[j + l * D] + c[k * D + j] * (OtW[k * DD + j * D + l] - omega[k] * O[l * D + j])
    _polar_minimiser(S, G, O)
    _project(S, O, W, K, D, OtW)
    for k in range(K):
        m = -INFINITY
        for j in range(D):
            m = _max_nan(m, 1.0 / A[k * D + j])
        for j in range(D):
            c[k * D + j] = weights[k] * (1.0 / A[k * D + j] - m)
    _fill(G, DD, 0.0)
    for k in range(K):
        for j in range(D):
            for l in range(D):
                G[j + l * D] = G[j + l * D] + c[k * D + j] * OtW[k * DD + j * D + l]
    _polar_minimiser(S, G, O)
    _project(S, O, W, K, D, OtW)


cdef void _rotated_scatters(const double *W, const Py_ssize_t *idx, Py_ssize_t K, Py_ssize_t D, const double *O,
                           double *T, double *B) noexcept nogil:
    """B_k = O^T W_k O for the active components (row-major D x D each); T is D x D scratch."""
    cdef Py_ssize_t k, i, j, l, DD = D * D
    cdef const double *Wk
    for k in range(K):
        Wk = W + idx[k] * DD
        _fill(T, DD, 0.0)
        for i in range(D):          # T = O^T W_k, row j of T += O_ij W_k[i, :]
            for j in range(D):
                for l in range(D):
                    T[j * D + l] = T[j * D + l] + O[i * D + j] * Wk[i * D + l]
        _fill(B + k * DD, DD, 0.0)
        for j in range(D):          # B_k = T O, row j of B_k += T_jl O[l, :]
            for l in range(D):
                for i in range(D):
                    B[k * DD + j * D + i] = B[k * DD + j * D + i] + T[j * D + l] * O[l * D + i]


cdef bint _orientation_sweep(Py_ssize_t K, Py_ssize_t D, double *O, const double *A, const double *weights,
                             double *B, double *c) noexcept nogil:
    """One cyclic sweep of plane rotations of the common orientation O (columns), each the exact minimiser of
    f(O) = sum_k weights_k tr(O^T W_k O A_k^-1) in its plane.

    Rotating columns p and q by t changes f by alpha cos 2t + beta sin 2t (plus a constant), with
    alpha = 1/2 sum_k (c_kp - c_kq)(B_k,pp - B_k,qq), beta = sum_k (c_kp - c_kq) B_k,pq, c_kj = weights_k /
    A_kj and B_k = O^T W_k O: its minimum is at cos 2t = -alpha / r, sin 2t = -beta / r, r = hypot(alpha,
    beta). B (K, D, D) must hold O^T W_k O and is rotated with O; c (K, D) is scratch. Each rotation lowers
    f (or keeps it), as each majorise-minimise step of Browne & McNicholas did, but a sweep goes further and
    needs no SVD (benchmarks/orientation.py compares the two iterations). False (O and B NaN) when a rotation
    is not defined (non-finite inputs)."""
    cdef Py_ssize_t k, j, p, q, DD = D * D
    cdef double alpha, beta, r, cos2, sin2, ct, st, dc, x, y, bpp, bqq, bpq
    cdef double *Bk
    for k in range(K):
        for j in range(D):
            c[k * D + j] = weights[k] / A[k * D + j]
    for p in range(D - 1):
        for q in range(p + 1, D):
            alpha = 0.0
            beta = 0.0
            for k in range(K):
                dc = c[k * D + p] - c[k * D + q]
                alpha = alpha + dc * (B[k * DD + p * D + p] - B[k * DD + q * D + q])
                beta = beta + dc * B[k * DD + p * D + q]
            alpha = 0.5 * alpha
            r = hypot(alpha, beta)
            if not isfinite(r):
                _fill(O, DD, NAN)
                _fill(B, K * DD, NAN)
                return False
            if r == 0.0:
                continue
            cos2 = -alpha / r
            sin2 = -beta / r
            # t from 2t, each branch without cancellation.
            if cos2 >= 0.0:
                ct = sqrt(0.5 * (1.0 + cos2))
                st = sin2 / (2.0 * ct)
            else:
                st = sqrt(0.5 * (1.0 - cos2))
                if sin2 < 0.0:
                    st = -st
                ct = sin2 / (2.0 * st)
            for j in range(D):      # columns p, q of O: o_p' = ct o_p + st o_q, o_q' = -st o_p + ct o_q
                x = O[j * D + p]
                y = O[j * D + q]
                O[j * D + p] = ct * x + st * y
                O[j * D + q] = ct * y - st * x
            for k in range(K):      # B_k' = R^T B_k R
                Bk = B + k * DD
                bpp = Bk[p * D + p]
                bqq = Bk[q * D + q]
                bpq = Bk[p * D + q]
                for j in range(D):
                    if j == p or j == q:
                        continue
                    x = Bk[j * D + p]
                    y = Bk[j * D + q]
                    Bk[j * D + p] = ct * x + st * y
                    Bk[j * D + q] = ct * y - st * x
                    Bk[p * D + j] = Bk[j * D + p]
                    Bk[q * D + j] = Bk[j * D + q]
                Bk[p * D + p] = ct * ct * bpp + 2.0 * ct * st * bpq + st * st * bqq
                Bk[q * D + q] = st * st * bpp - 2.0 * ct * st * bpq + ct * ct * bqq
                Bk[p * D + q] = (ct * ct - st * st) * bpq + ct * st * (bqq - bpp)
                Bk[q * D + p] = Bk[p * D + q]
    return True


cdef Py_ssize_t _common_orientation(Scratch *S, const double *W, Py_ssize_t K, Py_ssize_t D, double tol,
                                    Py_ssize_t max_iter, const double *start, const double *n, double total,
                                    bint variable_volume, bint unweighted, double *lam,
                                    double *out) noexcept nogil:
    """EVE (not variable_volume) or VVE; lam (K,) receives the volumes. EVE's one volume is the sum of the
    scaled traces, sum_k tr(O^T W_k O A_k^-1), over D times the total weight (of all components)."""
    cdef Py_ssize_t k, i, j, l, it = 0, DD = D * D
    cdef double acc, target = 0.0, previous = _FLMAX_HALF, err
    cdef double *OtW = S.buf
    cdef double *A = OtW + K * DD
    cdef double *d = A + K * D
    cdef double *c = d + K * D
    cdef double *omega = c + K * D
    cdef double *weights = omega + K
    cdef double *O = weights + K
    cdef double *G = O + DD
    cdef double *M = G + DD
    cdef double *ev = M + DD
    for k in range(K if unweighted else 0):     # the majorise-minimise bound (mclust's VVE) only
        omega[k] = ev[0] if _eigh(S, W + S.idx[k] * DD, ev, NULL) else NAN
    if start == NULL:
        _fill(O, DD, 0.0)
        for j in range(D):
            O[j * D + j] = 1.0
        _fill(A, K * D, 1.0)
        _fill(lam, K, 1.0)
    else:
        # common_orientation: the eigenvectors of a generic combination of the start's covariances.
        _fill(M, DD, 0.0)
        for k in range(K):
            acc = 1.0 + k / (M_PI * K)
            for i in range(DD):
                M[i] = M[i] + acc * start[S.idx[k] * DD + i]
        if not _eigh(S, M, ev, O):
            _fill(O, DD, NAN)
        for k in range(K):       # A_k = diag(O^T start_k O), scaled to determinant 1
            for j in range(D):
                acc = 0.0
                for i in range(D):
                    for l in range(D):
                        acc = acc + O[i * D + j] * start[S.idx[k] * DD + i * D + l] * O[l * D + j]
                A[k * D + j] = acc
            lam[k] = _unit_det(A + k * D, D)
    cdef bint closed = K == 1 and not unweighted and _eigh(S, W + S.idx[0] * DD, ev, O)
    if closed:
        # One component: the orientation is its scatter's eigenvectors and the step's maximum is W / n in
        # closed form (EVE's volume over the total weight). The majorise-minimise iteration from the
        # identity only approaches it, stopping at its tolerance or cap (crabs, K = 1: EVE's BIC 0.015 from
        # VVV's, which is the same model there).
        for j in range(D):
            d[j] = ev[j] if ev[j] > 0.0 else 0.0
            A[j] = d[j] / n[0] if variable_volume else d[j]
        acc = _unit_det(A, D)
        if variable_volume:
            lam[0] = acc
        for j in range(D):
            target = target + d[j] / A[j]
        it = 1
    if not closed and not unweighted:
        _rotated_scatters(W, S.idx, K, D, O, G, OtW)      # OtW holds B_k = O^T W_k O for the sweeps
    while not closed and it < max_iter:
        it += 1
        for k in range(K):
            weights[k] = _inv0(lam[k]) if variable_volume and not unweighted else 1.0
        if unweighted:
            # mclust 6.0's VVE: its majorise-minimise steps, to reproduce its numbers.
            _mm_orientation(S, W, K, D, omega, O, A, weights, OtW, G, c)
        else:
            # EVE and VVE: a sweep of exact plane rotations (B rotated with O).
            _orientation_sweep(K, D, O, A, weights, OtW, c)
        for k in range(K):
            for j in range(D):
                if unweighted:
                    acc = 0.0
                    for l in range(D):
                        acc = acc + OtW[k * DD + j * D + l] * O[l * D + j]
                else:
                    acc = OtW[k * DD + j * D + j]
                d[k * D + j] = acc
                A[k * D + j] = acc / n[k] if variable_volume else acc
            acc = _unit_det(A + k * D, D)
            if variable_volume:
                lam[k] = acc
        target = 0.0
        for i in range(K * D):
            target = target + d[i] / A[i]
        err = fabs(target - previous) / (1.0 + fabs(target))
        previous = target
        if not (err > tol and it < max_iter):
            break
    if not variable_volume:
        _fill(lam, K, target / (D * total))
    for k in range(K):
        for j in range(D):
            ev[j] = lam[k] * A[k * D + j]
        _rebuild(O, ev, D, out + S.idx[k] * DD)
    return it


# --- entry points ---------------------------------------------------------------------------------------------

cdef Py_ssize_t _run(int model, const double *nk, const double *W, const unsigned char *active, Py_ssize_t K0,
                     Py_ssize_t D, double tol, Py_ssize_t max_iter, const double *start,
                     double *out) noexcept nogil:
    """Allocate, run the model (-1: VEI) on the active components, fill in the others, free."""
    cdef Scratch S
    cdef Py_ssize_t k, j, K, it = 0, size = D if model < 0 else D * D
    cdef double total = 0.0
    cdef double *n = NULL
    cdef int status = _scratch_init(&S, K0, D)
    if status == 0:
        n = <double *> malloc(2 * K0 * sizeof(double))
    if n == NULL:
        _scratch_free(&S)
        return -1
    _fill(out, K0 * size, 0.0)
    K = _active_rows(active, K0, S.idx)
    for k in range(K):
        n[k] = nk[S.idx[k]]
    for k in range(K0):
        total = total + nk[k]
    if K and (model < 0 or model == _VEV):
        it = _vei_vev(&S, W, K, D, tol, max_iter, start, n, model == _VEV, out)
    elif K and model == _VEE:
        it = _vee(&S, W, K, D, tol, max_iter, start, n, out)
    elif K:
        it = _common_orientation(&S, W, K, D, tol, max_iter, start, n, total, model != _EVE,
                                 model == _VVE_MCLUST, n + K0, out)
    if K and model == _EVE:
        for k in range(K0):     # the empty components: the common volume, an identity shape
            if not active[k]:
                for j in range(D):
                    out[k * size + j * D + j] = n[K0]
    _scratch_free(&S)
    free(n)
    return it


cdef int _check(Py_ssize_t K, tuple shape, const unsigned char[::1] active, double tol, Py_ssize_t max_iter,
                tuple start, tuple out) except -1:
    _check_shapes(K, shape, active, start, out)
    if not 0.0 < tol < 1.0:
        raise ValueError(f"tol must be in (0, 1), got {tol}")
    if not 1 <= max_iter <= 2 ** 62:       # VEI's loop runs to max_iter + 1: no overflow
        raise ValueError(f"max_iter must be in [1, 2**62], got {max_iter}")
    return 0


cdef int _check_shapes(Py_ssize_t K, tuple shape, const unsigned char[::1] active, tuple start,
                       tuple out) except -1:
    D = shape[1]
    if K < 1 or D < 1 or shape[0] != K:
        raise ValueError(f"the scatter must have n_components = len(nk) = {K} rows and >= 1 feature, "
                         f"got the shape {shape}")
    if len(shape) == 3 and shape[2] != D:
        raise ValueError(f"the scatters must be square, got the shape {shape}")
    if active.shape[0] != K:
        raise ValueError(f"active must have one entry per component ({K}), got {active.shape[0]}")
    if start is not None and start != shape:
        raise ValueError(f"start must have the scatter's shape {shape}, got {start}")
    if out != shape:
        raise ValueError(f"out must have the scatter's shape {shape}, got {out}")
    return 0


def vei(
    const double[::1] nk,               # IN  (K,) component weights
    const double[:, ::1] W,             # IN  (K, D) diagonals of the scatters
    const unsigned char[::1] active,    # IN  (K,) 1 for the components that take part
    double tol,                         # IN  relative change at which the iteration stops, in (0, 1)
    Py_ssize_t max_iter,                # IN  >= 1
    const double[:, ::1] start,         # IN  (K, D) diagonal covariances to start from, or None
    double[:, ::1] out,                 # OUT (K, D) diagonal covariances
):
    """VEI's M-step (diagonal layout); returns the number of iterations (-1: out of memory)."""
    cdef Py_ssize_t K = nk.shape[0], D = W.shape[1], it
    _check(K, (W.shape[0], D), active, tol, max_iter,
           None if start is None else (start.shape[0], start.shape[1]), (out.shape[0], out.shape[1]))
    cdef const double *s = NULL
    if start is not None:
        s = &start[0, 0]
    with nogil:
        it = _run(-1, &nk[0], &W[0, 0], &active[0], K, D, tol, max_iter, s, &out[0, 0])
    return it


def full(
    int model,                          # IN  VEV, VEE, EVE, VVE or VVE_MCLUST
    const double[::1] nk,               # IN  (K,) component weights
    const double[:, :, ::1] W,          # IN  (K, D, D) scatters
    const unsigned char[::1] active,    # IN  (K,) 1 for the components that take part
    double tol,                         # IN  relative change at which the iteration stops, in (0, 1)
    Py_ssize_t max_iter,                # IN  >= 1
    const double[:, :, ::1] start,      # IN  (K, D, D) covariances to start from, or None
    double[:, :, ::1] out,              # OUT (K, D, D) covariances
):
    """The M-step of a model with full covariances; returns the number of iterations (-1: out of memory)."""
    cdef Py_ssize_t K = nk.shape[0], D = W.shape[1], it
    if model not in (_VEV, _VEE, _EVE, _VVE, _VVE_MCLUST):
        raise ValueError(f"unknown model code {model}")
    _check(K, (W.shape[0], D, W.shape[2]), active, tol, max_iter,
           None if start is None else (start.shape[0], start.shape[1], start.shape[2]),
           (out.shape[0], out.shape[1], out.shape[2]))
    cdef const double *s = NULL
    if start is not None:
        s = &start[0, 0, 0]
    with nogil:
        it = _run(model, &nk[0], &W[0, 0, 0], &active[0], K, D, tol, max_iter, s, &out[0, 0, 0])
    return it



# --- EEV and EVV: closed forms on full scatters -----------------------------------------------------------------

cdef double _geometric_det(Scratch *S, const double *M) noexcept nogil:
    """det(M)^(1/D) (numpy's slogdet), or 0 when the determinant is not > 0."""
    cdef bint negative = False
    cdef double acc = _log_abs_det(S, M, &negative)
    if negative or not isfinite(acc):
        return 0.0
    return exp(acc / S.D)


cdef int _closed_full(int model, const double *nk, const double *W, const unsigned char *active, Py_ssize_t K,
                      Py_ssize_t D, double *out) noexcept nogil:
    """EEV or EVV (see ``fastgmm.families._mclust._full``); 0, or -1 when out of memory."""
    cdef Scratch S
    cdef Py_ssize_t k, j, m, DD = D * D
    cdef double total = 0.0, lam = 0.0, g
    cdef double *e = NULL
    if _scratch_init(&S, K, D) != 0:
        _scratch_free(&S)
        return -1
    e = S.buf                  # EEV: K x D eigenvalues, then K x D x D eigenvectors; EVV: K scales
    for k in range(K):
        total = total + nk[k]
    if model == _EEV:
        for m in range(D):
            S.buf[K * D + K * DD + m] = 0.0
        for k in range(K):
            _eigh_clipped(&S, W + k * DD, e + k * D, e + K * D + k * DD)
            if active[k]:
                for m in range(D):
                    S.buf[K * D + K * DD + m] += e[k * D + m]
        for m in range(D):     # lambda A = sum_k e_k / N, largest with largest
            S.buf[K * D + K * DD + m] /= total
        for k in range(K):
            if active[k]:
                _rebuild(e + K * D + k * DD, S.buf + K * D + K * DD, D, out + k * DD)
            else:              # an empty component: the common part with the identity orientation
                _fill(out + k * DD, DD, 0.0)
                for j in range(D):
                    out[k * DD + j * D + j] = S.buf[K * D + K * DD + j]
    else:
        for k in range(K):
            e[k] = _geometric_det(&S, W + k * DD)
            if active[k] and e[k] > 0.0:
                lam = lam + e[k]
        lam = lam / total
        for k in range(K):
            if active[k] and e[k] > 0.0:       # C_k = W_k / |W_k|^(1/D), one volume
                for j in range(DD):
                    out[k * DD + j] = lam * W[k * DD + j] / e[k]
            elif active[k]:                    # singular: its own W_k / n_k
                g = nk[k] if nk[k] > 2.2250738585072014e-308 else 2.2250738585072014e-308
                for j in range(DD):
                    out[k * DD + j] = W[k * DD + j] / g
            else:
                _fill(out + k * DD, DD, 0.0)
                for j in range(D):
                    out[k * DD + j * D + j] = lam
    _scratch_free(&S)
    return 0


def closed_full(
    int model,                          # IN  EEV or EVV
    const double[::1] nk,               # IN  (K,) component weights
    const double[:, :, ::1] W,          # IN  (K, D, D) scatters
    const unsigned char[::1] active,    # IN  (K,) 1 for the components that take part
    double[:, :, ::1] out,              # OUT (K, D, D) covariances (not yet exactly symmetric)
):
    """EEV's or EVV's closed-form M-step, for all components in one call; -1 when out of memory, else 0."""
    cdef Py_ssize_t K = nk.shape[0], D = W.shape[1]
    cdef int status
    if model != _EEV and model != _EVV:
        raise ValueError(f"unknown model code {model}")
    _check_shapes(K, (W.shape[0], D, W.shape[2]), active, None, (out.shape[0], out.shape[1], out.shape[2]))
    with nogil:
        status = _closed_full(model, &nk[0], &W[0, 0, 0], &active[0], K, D, &out[0, 0, 0])
    return status


def polar_minimiser(
    const double[:, ::1] G,             # IN  (D, D)
    double[:, ::1] out,                 # OUT (D, D) the orthogonal O minimising tr(G O)
):
    """The kernel's polar step on its own, for the tests of its Jacobi SVD."""
    cdef Py_ssize_t D = G.shape[0], i, j
    cdef Scratch S
    cdef double *Gc
    if D < 1 or G.shape[1] != D or out.shape[0] != D or out.shape[1] != D:
        raise ValueError("polar_minimiser: G and out must be square and of the same shape")
    Gc = <double *> malloc(D * D * sizeof(double))
    if _scratch_init(&S, 1, D) != 0 or Gc == NULL:
        _scratch_free(&S)
        free(Gc)
        raise MemoryError("polar_minimiser: no memory for the scratch")
    for i in range(D):
        for j in range(D):
            Gc[i + j * D] = G[i, j]
    _polar_minimiser(&S, Gc, &out[0, 0])
    _scratch_free(&S)
    free(Gc)


# --- every model's M-step from the unregularised moments, in one call ----------------------------------------

cdef enum:
    _SPHERICAL = 0
    _DIAG = 1
    _TIED = 2
    _FULL = 3


cdef int _layout_of(int model) noexcept nogil:
    if model == _EII or model == _VII:
        return _SPHERICAL
    if model == _EEI or model == _VVI or model == _EVI or model == _VEI:
        return _DIAG
    if model == _EEE:
        return _TIED
    return _FULL


cdef inline double _tiny_floor(double x) noexcept nogil:
    """max(x, the smallest normal float64): the divisor of a component's own scatter (``_mclust._own``)."""
    return x if x > 2.2250738585072014e-308 else 2.2250738585072014e-308


cdef void _own_block(const double *W, double nk, Py_ssize_t size, double *out) noexcept nogil:
    cdef Py_ssize_t j
    cdef double g = _tiny_floor(nk)
    for j in range(size):
        out[j] = W[j] / g


cdef void _symmetrise(double *M, Py_ssize_t K, Py_ssize_t D) noexcept nogil:
    """M_k := (M_k + M_k^T) / 2 for each of the K matrices (the diagonal is unchanged: exactly)."""
    cdef Py_ssize_t k, i, j
    cdef double v
    for k in range(K):
        for i in range(D):
            for j in range(i + 1, D):
                v = 0.5 * (M[k * D * D + i * D + j] + M[k * D * D + j * D + i])
                M[k * D * D + i * D + j] = v
                M[k * D * D + j * D + i] = v


cdef Py_ssize_t _constrained(int model, const double *nk, const double *W, Py_ssize_t K, Py_ssize_t D,
                             double tol, Py_ssize_t max_iter, const double *start, double empty_weight,
                             double *out) noexcept nogil:
    """The model's maximum-likelihood covariances from the scatters W (in the model's layout); iterations
    made, or -1 when out of memory. Each step is that of ``_mclust``'s NumPy code it replaced (kept as the
    tests' reference): closed forms, the iterative models with their non-finite components replaced by
    their own W_k / n_k, full layouts made exactly symmetric."""
    cdef int lay = _layout_of(model)
    cdef Py_ssize_t k, j, size = 1 if lay == _SPHERICAL else (D if lay == _DIAG else D * D), it = 0
    cdef double total = 0.0, acc, lam
    cdef unsigned char *active = <unsigned char *> malloc(K * sizeof(unsigned char) + 1)
    cdef double *g = <double *> malloc((K + D) * sizeof(double) + sizeof(double))
    if active == NULL or g == NULL:
        free(active)
        free(g)
        return -1
    for k in range(K):
        total = total + nk[k]
    for k in range(K):
        active[k] = nk[k] > empty_weight * total
    if model == _EEE:
        for j in range(D * D):
            out[j] = W[j] / total
    elif model == _VII or model == _VVI or model == _VVV:
        for k in range(K):
            _own_block(W + k * size, nk[k], size, out + k * size)
            if model == _VII:
                out[k] = out[k] / D
        if model == _VVV:
            _symmetrise(out, K, D)
    elif model == _EII:
        acc = 0.0
        for k in range(K):
            if active[k]:
                acc = acc + W[k]
        acc = acc / (D * total)
        for k in range(K):
            out[k] = acc
    elif model == _EEI:
        for j in range(D):
            acc = 0.0
            for k in range(K):
                if active[k]:
                    acc = acc + W[k * D + j]
            g[j] = acc / total
        for k in range(K):
            for j in range(D):
                out[k * D + j] = g[j]
    elif model == _EVI:
        # A_k = diag(W_k) / its geometric mean, one volume lambda = sum_k |diag W_k|^(1/D) / N
        lam = 0.0
        for k in range(K):
            g[k] = _geomean(W + k * D, D)
            if active[k] and g[k] > 0.0:
                lam = lam + g[k]
        lam = lam / total
        for k in range(K):
            if active[k] and g[k] > 0.0:
                for j in range(D):
                    out[k * D + j] = lam * W[k * D + j] / g[k]
            elif active[k]:
                _own_block(W + k * D, nk[k], D, out + k * D)
            else:
                _fill(out + k * D, D, lam)
    elif model == _EEV or model == _EVV:
        if _closed_full(model, nk, W, active, K, D, out) != 0:
            it = -1
        else:
            _symmetrise(out, K, D)
    else:       # the iterative ones: VEI (diagonal), VEV, VEE, EVE, VVE
        it = _run(-1 if model == _VEI else model, nk, W, active, K, D, tol, max_iter, start, out)
        if it >= 0:
            for k in range(K):
                if not _all_finite(out + k * size, size):
                    _own_block(W + k * size, nk[k], size, out + k * size)
            if lay == _FULL:
                _symmetrise(out, K, D)
    free(active)
    free(g)
    return it


def constrained_step(
    int model,                          # IN  MODEL_CODES[name]
    const double[::1] nk,               # IN  (K,) component weights (> 0 in total)
    const double[::1] cov,              # IN  the layout's values, raveled: the unregularised covariances of the
                                        #     moments' M-step (from_moments), or the scatters W themselves
    Py_ssize_t D,                       # IN  features
    bint from_moments,                  # IN  cov holds covariances (W = n_k cov, a negative variance set to 0)
    double reg,                         # IN  reg_covar: subtracted from start, added to the result's variances
    double tol,                         # IN  the iterative models' relative change at which they stop
    Py_ssize_t max_iter,                # IN  >= 1
    const double[::1] start,            # IN  the iterative models' previous covariances (with reg), or None
    double empty_weight,                # IN  a component of weight <= this times the total takes no part
    double[::1] out,                    # OUT the model's covariances plus reg, raveled in the layout's shape
):
    """The model's M-step from the moments in one call (``fastgmm.families._gaussian.model_m_step``'s
    constrained branch, and ``_mclust.constrained_covariances``): iterations made, -1 when out of memory.

    from_moments: the scatter of ``_gaussian._scatter`` (tied: the covariance times sum n_k). Layout
    shapes: (K,) spherical (EII, VII), (K, D) diagonal (EEI, VVI, EVI, VEI), (D, D) tied (EEE), else
    (K, D, D). Each call replaces about ten NumPy expressions: the M-step (``model_m_step``) on USArrests,
    K = 3, went VEV 49 -> 16 us, EVI 44 -> 6 us (``benchmarks/small_fits.py`` gives today's figures).
    """
    cdef Py_ssize_t K = nk.shape[0], size, n, it
    cdef int lay
    if model < _VEV or model > _VVV or model == _VVE_MCLUST:
        raise ValueError(f"unknown model code {model}")
    lay = _layout_of(model)
    size = 1 if lay == _SPHERICAL else (D if lay == _DIAG else D * D)
    n = size if lay == _TIED else K * size
    if K < 1 or D < 1 or cov.shape[0] != n or out.shape[0] != n:
        raise ValueError(f"constrained_step: {n} values expected for K={K}, D={D} (got {cov.shape[0]} "
                         f"and {out.shape[0]})")
    if start is not None and start.shape[0] != n:
        raise ValueError(f"constrained_step: start must have {n} values, got {start.shape[0]}")
    if not 0.0 < tol < 1.0 or not 1 <= max_iter <= 2 ** 62:
        raise ValueError("constrained_step: tol must be in (0, 1) and max_iter in [1, 2**62]")
    with nogil:
        it = constrained_step_c(model, &nk[0], &cov[0], K, D, from_moments, reg, tol, max_iter,
                                &start[0] if start is not None else NULL, empty_weight, &out[0])
    return it


cdef Py_ssize_t constrained_step_c(int model, const double *nk, const double *cov, Py_ssize_t K, Py_ssize_t D,
                                   bint from_moments, double reg, double tol, Py_ssize_t max_iter,
                                   const double *start, double empty_weight, double *out) noexcept nogil:
    """:func:`constrained_step` on pointers, its arguments checked by the caller (``start`` NULL for none):
    iterations made, -1 when out of memory."""
    cdef Py_ssize_t size, n, j, k, it
    cdef int lay = _layout_of(model)
    cdef double total = 0.0
    cdef double *s = NULL
    size = 1 if lay == _SPHERICAL else (D if lay == _DIAG else D * D)
    n = size if lay == _TIED else K * size
    cdef double *W = <double *> malloc(2 * n * sizeof(double))
    if W == NULL:
        return -1
    memcpy(W, cov, n * sizeof(double))
    if from_moments:
        if lay == _TIED:
            for k in range(K):
                total = total + nk[k]
            for j in range(n):
                W[j] = W[j] * total
        elif lay == _SPHERICAL:
            for k in range(K):
                W[k] = W[k] * nk[k] * D
        else:
            for k in range(K):
                for j in range(size):
                    W[k * size + j] = W[k * size + j] * nk[k]
        if lay == _SPHERICAL or lay == _DIAG:
            for j in range(n):
                if not W[j] >= 0.0 and not isnan(W[j]):
                    W[j] = 0.0
        else:
            for k in range(n // (D * D)):
                for j in range(D):
                    if W[k * D * D + j * D + j] < 0.0:
                        W[k * D * D + j * D + j] = 0.0
    if start != NULL:
        s = W + n
        memcpy(s, start, n * sizeof(double))
        if lay == _SPHERICAL or lay == _DIAG:
            for j in range(n):
                s[j] = s[j] + (-reg)
        else:
            for k in range(n // (D * D)):
                for j in range(D):
                    s[k * D * D + j * D + j] = s[k * D * D + j * D + j] + (-reg)
    it = _constrained(model, nk, W, K, D, tol, max_iter, s, empty_weight, out)
    if it >= 0:
        if lay == _SPHERICAL or lay == _DIAG:
            for j in range(n):
                out[j] = out[j] + reg
        else:
            for k in range(n // (D * D)):
                for j in range(D):
                    out[k * D * D + j * D + j] = out[k * D * D + j * D + j] + reg
    free(W)
    return it
