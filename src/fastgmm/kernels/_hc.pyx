"""Model-based agglomerative hierarchical clustering: the merge loop of mclust's ``hc`` (Fraley 1998).

Every row starts as its own cluster; each step merges the two clusters whose
merge changes the classification criterion least. A cluster C of weight n
(the sum of its rows' weights), scatter matrix W and t = trace(W) has a term,
and a merge costs term(A u B) - term(A) - term(B):

- ``MODEL_VVV`` (mclust's "VVV", unconstrained covariances, with its
  regularisation alpha > 0, beta > 0):
  term = n log(det(W / n) + beta (t + alpha) / n), where det(W / n) counts as
  0 when C has at most D rows (W is then singular) or W is not positive
  definite to working precision; a single row: n log(alpha beta / n).
- ``MODEL_V`` (univariate, unequal variances): term = n log((t + alpha) / n).
- ``MODEL_E`` (univariate, equal variances): Ward's criterion, the cost is
  the increase of the total scatter, n_A n_B / (n_A + n_B) (mean_A - mean_B)^2,
  updated after each merge by the Lance-Williams recurrence as mclust does
  (same values, mclust's rounding: exact ties of integer data break alike).

The two clusters of a merge get the scatter W_A + W_B + u u^T with
u = sqrt(n_A n_B / n) (mean_A - mean_B); the determinant is a Cholesky
factorisation of that D x D matrix.

Ties and order are mclust's: the clusters live in slots 0..L-1 (row i starts
in slot i); the merged cluster takes the lower slot of the pair and the
cluster in the last slot moves into the higher one. Among pairs of equal
cost, the one whose higher slot is largest wins, then the one whose lower
slot is largest (mclust scans its packed cost triangle and keeps the last
minimum). Each slot keeps the minimum of its row of the cost triangle, so
finding a merge costs O(L), not O(L^2).

A merge's new costs (the merged cluster against every other) are computed in
parallel when there is enough work; each cost is computed by one thread from
the same inputs whatever the thread count, and the minima are found serially:
the merge sequence does not depend on the number of threads.

Memory: the cost triangle, N (N - 1) / 2 doubles, and for "VVV" one D x D
scatter matrix per slot, N D^2 doubles.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport exp, isfinite, log, log1p, sqrt
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy

cdef enum:
    _VVV = 0
    _V = 1
    _E = 2
    _OK = 0
    _NO_MEMORY = 1
    _NOT_FINITE = 2

MODEL_VVV = _VVV
MODEL_V = _V
MODEL_E = _E
#: Statuses returned by :func:`agglomerate`.
OK = _OK
NO_MEMORY = _NO_MEMORY
NOT_FINITE = _NOT_FINITE


cdef struct Clusters:
    Py_ssize_t p
    int model
    double alpha
    double beta
    double *cnt        # (n,) weight of the cluster in each slot
    int64_t *rows      # (n,) its number of rows
    double *mean       # (n, p)
    double *W          # (n, p, p) scatter, lower triangle; upper: its Cholesky factor, transposed ("VVV" only)
    double *d2         # (n, p) the factor's squared diagonal
    double *inv        # (n, p) its reciprocal diagonal
    char *factored     # (n,) the factor exists (more than p rows, positive definite)
    double *tr         # (n,) trace of the scatter
    double *term       # (n,) the criterion's term
    int64_t *label     # (n,) its smallest row index


cdef inline Py_ssize_t _tri(Py_ssize_t s, Py_ssize_t t) noexcept nogil:
    """Index of the pair (s, t), t < s, in the packed cost triangle."""
    return s * (s - 1) // 2 + t


cdef double _one_more_row(const Clusters *c, Py_ssize_t i, double n, const double *u, double *y,
                          double B) noexcept nogil:
    """The "VVV" term of slot i (factored) and one row, u = its scaled difference of means."""
    cdef Py_ssize_t p = c.p, k, m
    cdef const double *U = c.W + i * p * p        # L^T in the upper triangle: L_km at U[m p + k]
    cdef const double *inv = c.inv + i * p
    cdef const double *d2 = c.d2 + i * p
    cdef double q = 0.0, det = 1.0, ym, detlog
    cdef bint in_range = True
    for k in range(p):
        y[k] = u[k]
    for m in range(p):                            # forward substitution, column by column
        ym = y[m] * inv[m]
        q = q + ym * ym
        for k in range(m + 1, p):
            y[k] = y[k] - U[m * p + k] * ym
    for k in range(p):
        det = det * (d2[k] / n)
        in_range = in_range and 1e-290 < det < 1e290
    det = det * (1.0 + q)
    if in_range and det < 1e290:
        return n * log(det + B)
    detlog = log1p(q)
    for k in range(p):
        detlog = detlog + log(d2[k] / n)
    if detlog <= 0.0:
        return n * log(exp(detlog) + B)
    return n * (log(1.0 + exp(-detlog) * B) + detlog)


cdef void _factor(Clusters *c, Py_ssize_t a) noexcept nogil:
    """Cholesky factor of slot a's scatter into its upper triangle (transposed), when it has more than p rows."""
    cdef Py_ssize_t p = c.p, k, l, m
    cdef double *W = c.W + a * p * p
    cdef double *inv = c.inv + a * p
    cdef double *d2 = c.d2 + a * p
    cdef double acc
    c.factored[a] = 0
    if c.rows[a] <= p:
        return
    for l in range(p):
        acc = W[l * p + l]
        for m in range(l):
            acc = acc - W[m * p + l] * W[m * p + l]
        if not acc > 0.0:
            return
        d2[l] = acc
        inv[l] = 1.0 / sqrt(acc)
        for k in range(l + 1, p):
            acc = W[k * p + l]
            for m in range(l):
                acc = acc - W[m * p + k] * W[m * p + l]
            W[l * p + k] = acc * inv[l]
    c.factored[a] = 1


cdef double _vvv_term(const Clusters *c, Py_ssize_t i, Py_ssize_t j, double n, int64_t rows, double tr,
                      const double *u, double *M) noexcept nogil:
    """n log(det(W / n) + beta (t + alpha) / n) of the union of slots i and j (scatter u u^T + W_i + W_j)."""
    cdef Py_ssize_t p = c.p, k, l, m
    cdef double B = c.beta * (tr + c.alpha) / n
    cdef double acc, d, inv, det = 1.0, detlog
    cdef bint in_range = True
    cdef const double *Wi = c.W + i * p * p
    cdef const double *Wj = c.W + j * p * p
    if rows <= p or tr == 0.0:
        return n * log(B)
    # A factored cluster and one row: det(W + u u^T) = det(W) (1 + |L^-1 u|^2), O(D^2) (the factor
    # is the cluster's own, so both orders of the pair take this path and give the same bits).
    if c.rows[j] == 1 and c.factored[i]:
        return _one_more_row(c, i, n, u, M, B)
    if c.rows[i] == 1 and c.factored[j]:
        return _one_more_row(c, j, n, u, M, B)
    for k in range(p):
        for l in range(k + 1):
            M[k * p + l] = (Wi[k * p + l] + Wj[k * p + l]) + u[k] * u[l]
    # Cholesky by columns; det(W / n) = prod (L_kk^2 / n): one log per pair, not D (they were the
    # loop's main cost at D = 4).
    for l in range(p):
        acc = M[l * p + l]
        for m in range(l):
            acc = acc - M[l * p + m] * M[l * p + m]
        if not acc > 0.0:
            return n * log(B)           # singular to working precision: det 0
        d = sqrt(acc)
        inv = 1.0 / d
        det = det * (acc / n)
        in_range = in_range and 1e-290 < det < 1e290
        M[l * p + l] = d
        for k in range(l + 1, p):
            acc = M[k * p + l]
            for m in range(l):
                acc = acc - M[k * p + m] * M[l * p + m]
            M[k * p + l] = acc * inv
    if in_range:
        return n * log(det + B)
    # Out of range for a product: mclust's two forms of the same value, from the sum of logs.
    detlog = 0.0
    for l in range(p):
        detlog = detlog + log(M[l * p + l] * M[l * p + l] / n)
    if detlog <= 0.0:
        return n * log(exp(detlog) + B)
    return n * (log(1.0 + exp(-detlog) * B) + detlog)


cdef double _pair(const Clusters *c, Py_ssize_t i, Py_ssize_t j, double *work,
                  double *tr_out, double *term_out) noexcept nogil:
    """The cost of merging slots i and j; the union's trace and term go to tr_out, term_out.

    ``work`` holds p + p * p doubles; on return work[:p] is u, the scaled
    difference of the means (the merge's rank-one scatter is u u^T).
    """
    cdef Py_ssize_t p = c.p, k
    cdef double ni = c.cnt[i], nj = c.cnt[j]
    cdef double n = ni + nj
    cdef double f = sqrt(ni * (nj / n))
    cdef double uu = 0.0, tr, term
    cdef const double *mi = c.mean + i * p
    cdef const double *mj = c.mean + j * p
    for k in range(p):
        work[k] = f * (mi[k] - mj[k])
        uu = uu + work[k] * work[k]
    tr = (c.tr[i] + c.tr[j]) + uu
    tr_out[0] = tr
    if c.model == _E:        # E: Ward
        term_out[0] = 0.0
        if c.rows[i] == 1 and c.rows[j] == 1 and p == 1:
            # mclust's rounding for two rows: its clusters hold sqrt(n) mean.
            f = sqrt(nj / n) * (sqrt(ni) * mi[0]) - sqrt(ni / n) * (sqrt(nj) * mj[0])
            return f * f
        return uu
    if c.model == _V:        # V
        term = n * log((tr + c.alpha) / n)
    else:
        term = _vvv_term(c, i, j, n, c.rows[i] + c.rows[j], tr, work, work + p)
    term_out[0] = term
    return term - (c.term[i] + c.term[j])


cdef void _rescan(const double *D, Py_ssize_t s, double *rowmin, Py_ssize_t *rowarg) noexcept nogil:
    """Minimum of row s of the cost triangle (pairs (s, t), t < s); ties go to the largest t."""
    cdef Py_ssize_t base = _tri(s, 0), t, arg = 0
    cdef double best = D[base], v
    for t in range(1, s):
        v = D[base + t]
        if v <= best:
            best = v
            arg = t
    rowmin[s] = best
    rowarg[s] = arg


cdef inline void _offer(const double *D, Py_ssize_t s, Py_ssize_t t, double *rowmin,
                        Py_ssize_t *rowarg) noexcept nogil:
    """Row s's minimum after its entry t changed (its old minimum was elsewhere)."""
    cdef double v = D[_tri(s, t)]
    if v < rowmin[s] or (v == rowmin[s] and t > rowarg[s]):
        rowmin[s] = v
        rowarg[s] = t


cdef void _move(Clusters *c, double *D, Py_ssize_t src, Py_ssize_t dst) noexcept nogil:
    """The cluster in slot src (the last) moves to slot dst < src, with its costs."""
    cdef Py_ssize_t p = c.p, t
    c.cnt[dst] = c.cnt[src]
    c.rows[dst] = c.rows[src]
    c.tr[dst] = c.tr[src]
    c.term[dst] = c.term[src]
    c.label[dst] = c.label[src]
    memcpy(c.mean + dst * p, c.mean + src * p, p * sizeof(double))
    if c.W != NULL:
        memcpy(c.W + dst * p * p, c.W + src * p * p, p * p * sizeof(double))
        memcpy(c.d2 + dst * p, c.d2 + src * p, p * sizeof(double))
        memcpy(c.inv + dst * p, c.inv + src * p, p * sizeof(double))
        c.factored[dst] = c.factored[src]
    for t in range(dst):
        D[_tri(dst, t)] = D[_tri(src, t)]
    for t in range(dst + 1, src):
        D[_tri(t, dst)] = D[_tri(src, t)]


cdef void _merge(Clusters *c, Py_ssize_t a, Py_ssize_t b, double *work) noexcept nogil:
    """Slot a becomes the union of slots a and b (a < b), its term computed as its merge cost was."""
    cdef Py_ssize_t p = c.p, k, l
    cdef double tr, term
    cdef double n, fb
    cdef double *Wa
    cdef const double *Wb
    cdef double *ma = c.mean + a * p
    cdef const double *mb = c.mean + b * p
    _pair(c, a, b, work, &tr, &term)
    if c.W != NULL:
        Wa = c.W + a * p * p
        Wb = c.W + b * p * p
        for k in range(p):
            for l in range(k + 1):
                Wa[k * p + l] = (Wa[k * p + l] + Wb[k * p + l]) + work[k] * work[l]
    n = c.cnt[a] + c.cnt[b]
    fb = c.cnt[b] / n
    for k in range(p):
        ma[k] = ma[k] + fb * (mb[k] - ma[k])
    c.cnt[a] = n
    c.rows[a] = c.rows[a] + c.rows[b]
    c.tr[a] = tr
    c.term[a] = term
    if c.label[b] < c.label[a]:
        c.label[a] = c.label[b]
    if c.W != NULL:
        _factor(c, a)


cdef void _ward_update(Clusters *c, double *D, Py_ssize_t a, Py_ssize_t b, Py_ssize_t L, double dab) noexcept nogil:
    """Ward's costs of the union of slots a and b (before the merge) against every other slot, in slot a's row.

    Lance-Williams: d(a u b, t) = ((n_t + n_a) d(a, t) + (n_t + n_b) d(b, t) - n_t d(a, b)) / (n_t + n_a + n_b),
    mclust's recurrence (and rounding) for "E".
    """
    cdef Py_ssize_t t, ia, ib
    cdef double na = c.cnt[a], nb = c.cnt[b], nab = c.cnt[a] + c.cnt[b], nt, v
    for t in range(L):
        if t == a or t == b:
            continue
        ia = _tri(a, t) if t < a else _tri(t, a)
        ib = _tri(b, t) if t < b else _tri(t, b)
        nt = c.cnt[t]
        v = (nt + na) * D[ia] + (nt + nb) * D[ib]
        D[ia] = (v - nt * dab) / (nt + nab)


cdef int _costs_of(Clusters *c, double *D, Py_ssize_t a, Py_ssize_t L, int n_threads) noexcept nogil:
    """Costs of slot a against every other live slot (t < L), into the triangle; _OK or _NO_MEMORY."""
    cdef Py_ssize_t t, p = c.p
    cdef double *work = NULL
    cdef double tr, term, v
    cdef int failed = 0
    cdef int *fail = &failed
    with parallel(num_threads=n_threads):
        work = <double *> malloc((p + p * p) * sizeof(double))
        if work == NULL:
            fail[0] = 1
        else:
            for t in prange(L, schedule="dynamic", chunksize=64):
                if t != a:
                    v = _pair(c, a, t, work, &tr, &term)
                    if t < a:
                        D[_tri(a, t)] = v
                    else:
                        D[_tri(t, a)] = v
            free(work)
    return _NO_MEMORY if failed else _OK


def agglomerate(
    const double[:, ::1] Z,         # IN  (n, p) the rows, transformed as the caller chose
    const double[::1] weights,      # IN  (n,) > 0: a row of weight w counts as w coincident rows
    int model,                      # IN  MODEL_VVV, MODEL_V or MODEL_E
    double alpha,                   # IN  > 0 (unused by MODEL_E)
    double beta,                    # IN  > 0 (MODEL_VVV only)
    int64_t[:, ::1] merges,         # OUT (n - 1, 2) the clusters merged at each step, each named by its
                                    #     smallest row index, smaller name first (mclust's hc pairs, 0-based)
    double[::1] costs,              # OUT (n - 1,) the criterion's change at each merge
    int n_threads,                  # IN  >= 1
    double min_work,                # IN  work (flop-equivalents) a thread must get in a merge step
):
    """Agglomerate the n rows down to one cluster; return a status (``OK``, ``NO_MEMORY``, ``NOT_FINITE``).

    ``NOT_FINITE``: a cost overflowed (data too large to square); the merges
    are then incomplete.
    """
    cdef Py_ssize_t n = Z.shape[0], p = Z.shape[1]
    if weights.shape[0] != n or merges.shape[0] != max(n - 1, 0) or merges.shape[1] != 2 \
            or costs.shape[0] != max(n - 1, 0):
        raise ValueError("agglomerate: weights, merges and costs must have n, (n - 1, 2) and n - 1 rows")
    if model not in (_VVV, _V, _E):
        raise ValueError(f"agglomerate: unknown model code {model}")
    if n_threads < 1:
        raise ValueError(f"agglomerate: n_threads must be >= 1, got {n_threads}")
    if n < 2:
        return _OK
    cdef Clusters c
    cdef Py_ssize_t n_pairs = n * (n - 1) // 2
    cdef double *D = <double *> malloc(n_pairs * sizeof(double))
    cdef double *rowmin = <double *> malloc(n * sizeof(double))
    cdef Py_ssize_t *rowarg = <Py_ssize_t *> malloc(n * sizeof(Py_ssize_t))
    cdef double *work = <double *> malloc((p + p * p) * sizeof(double))
    c.p = p
    c.model = model
    c.alpha = alpha
    c.beta = beta
    c.cnt = <double *> malloc(n * sizeof(double))
    c.rows = <int64_t *> malloc(n * sizeof(int64_t))
    c.mean = <double *> malloc(n * p * sizeof(double))
    c.W = <double *> calloc(n * p * p, sizeof(double)) if model == _VVV else NULL
    c.d2 = <double *> malloc(n * p * sizeof(double)) if model == _VVV else NULL
    c.inv = <double *> malloc(n * p * sizeof(double)) if model == _VVV else NULL
    c.factored = <char *> calloc(n, sizeof(char))
    c.tr = <double *> malloc(n * sizeof(double))
    c.term = <double *> malloc(n * sizeof(double))
    c.label = <int64_t *> malloc(n * sizeof(int64_t))
    cdef int status = _OK
    cdef Py_ssize_t s, t, a, b, L, step
    cdef int nt
    cdef double w, best, pair_work
    cdef double tr, term
    cdef double *wk = NULL
    cdef int failed = 0
    cdef int *fail = &failed
    try:
        if (D == NULL or rowmin == NULL or rowarg == NULL or work == NULL or c.cnt == NULL or c.rows == NULL
                or c.mean == NULL or (model == _VVV and (c.W == NULL or c.d2 == NULL or c.inv == NULL))
                or c.factored == NULL or c.tr == NULL or c.term == NULL or c.label == NULL):
            return _NO_MEMORY
        with nogil:
            for s in range(n):
                w = weights[s]
                c.cnt[s] = w
                c.rows[s] = 1
                c.tr[s] = 0.0
                c.label[s] = s
                memcpy(c.mean + s * p, &Z[s, 0], p * sizeof(double))
                if model == _VVV:
                    c.term[s] = w * log(alpha * beta / w)
                elif model == _V:
                    c.term[s] = w * log(alpha / w)
                else:
                    c.term[s] = 0.0
            pair_work = 20.0 + 4.0 * p
            if model == _VVV:
                pair_work = pair_work + p * p * (p / 6.0 + 2.0)
            # Every pair of rows, each row's minimum on the way; dynamic: rows grow longer.
            nt = n_threads
            if <double> n_pairs * (20.0 + 4.0 * p) < min_work * nt:
                nt = max(1, <int> (<double> n_pairs * (20.0 + 4.0 * p) / min_work))
            with parallel(num_threads=nt):
                wk = <double *> malloc((p + p * p) * sizeof(double))
                if wk == NULL:
                    fail[0] = 1
                else:
                    for s in prange(1, n, schedule="dynamic", chunksize=8):
                        for t in range(s):
                            D[_tri(s, t)] = _pair(&c, s, t, wk, &tr, &term)
                        _rescan(D, s, rowmin, rowarg)
                    free(wk)
            if failed:
                status = _NO_MEMORY
            else:
                for s in range(n_pairs):
                    if not isfinite(D[s]):
                        status = _NOT_FINITE
                        break
            L = n
            step = 0
            while status == _OK and L > 1:
                # The pair: the largest slot b whose row minimum is least, and that row's argmin.
                b = 1
                best = rowmin[1]
                for s in range(2, L):
                    if rowmin[s] <= best:
                        best = rowmin[s]
                        b = s
                a = rowarg[b]
                merges[step, 0] = c.label[a] if c.label[a] < c.label[b] else c.label[b]
                merges[step, 1] = c.label[b] if c.label[a] < c.label[b] else c.label[a]
                costs[step] = best
                step = step + 1
                if model == _E:
                    _ward_update(&c, D, a, b, L, best)
                _merge(&c, a, b, work)
                L = L - 1
                if b != L:
                    _move(&c, D, L, b)
                if L == 1:
                    break
                if model != _E:
                    nt = n_threads
                    if L * pair_work < min_work * nt:
                        nt = max(1, <int> (L * pair_work / min_work))
                    status = _costs_of(&c, D, a, L, nt)
                    if status != _OK:
                        break
                for t in range(L):
                    if t != a and not isfinite(D[_tri(a, t) if t < a else _tri(t, a)]):
                        status = _NOT_FINITE
                        break
                # Row minima: rows a and b are new; a row s > a changed at a (and at b when s > b).
                if a >= 1:
                    _rescan(D, a, rowmin, rowarg)
                if b < L:
                    _rescan(D, b, rowmin, rowarg)
                for s in range(a + 1, L):
                    if s == b:
                        continue
                    if s > b and rowarg[s] == b:
                        _rescan(D, s, rowmin, rowarg)
                        continue
                    if rowarg[s] == a:
                        # Still the row's minimum unless it grew (every entry after a was larger).
                        if D[_tri(s, a)] > rowmin[s]:
                            _rescan(D, s, rowmin, rowarg)
                            continue
                        rowmin[s] = D[_tri(s, a)]
                    else:
                        _offer(D, s, a, rowmin, rowarg)
                    if s > b:
                        _offer(D, s, b, rowmin, rowarg)
        return status
    finally:
        free(D)
        free(rowmin)
        free(rowarg)
        free(work)
        free(c.cnt)
        free(c.rows)
        free(c.mean)
        free(c.W)
        free(c.d2)
        free(c.inv)
        free(c.factored)
        free(c.tr)
        free(c.term)
        free(c.label)
