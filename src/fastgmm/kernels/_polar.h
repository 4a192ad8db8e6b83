/* The polar step of the EVE/VVE orientation iteration (_mclust_mstep.pyx):
 * the orthogonal O minimising tr(G O), -Q P^T for the SVD G = P S Q^T.
 *
 * The SVD is one-sided Jacobi (Hestenes): plane rotations V make the columns
 * of G V mutually orthogonal, G V = P S, and Q = V. For the few features of
 * a mixture this costs a fraction of LAPACK's dgesdd, whose call overhead
 * was most of an iteration. A pair of columns is rotated until
 * |a_p . a_q| <= n eps |a_p| |a_q|.
 *
 * G may be singular: in the second majorise-minimise step it has a zero row
 * whenever every component's smallest shape entry lies on the same axis. A
 * column of G V no longer than n eps |G|_F is zero to rounding: it is left
 * alone (its direction is noise; rotations would never make it orthogonal)
 * and its column of P is completed by the axis vector least in the span of
 * the others, orthogonalised twice and normalised, as LAPACK completes P.
 * The polar factor is then not unique; every choice minimises tr(G O).
 *
 * fastgmm_polar_minimiser(n, G, O, A, V, P, s): G column-major (G[j + l n] =
 * G_jl), O written row-major; A, V, P are n x n scratch, s n scratch.
 * Returns 0, or -1 when 64 sweeps did not converge (O is then NaN).
 */
#ifndef FASTGMM_POLAR_H
#define FASTGMM_POLAR_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FASTGMM_POLAR_EPS 2.220446049250313e-16
#define FASTGMM_POLAR_SWEEPS 64

/* Orthogonalise col (n) twice against the columns m != p of P with done[m]. */
static inline void fastgmm_polar_orthogonalise(int n, int p, const double *P, const char *done, double *col)
{
    for (int r = 0; r < 2; r++) {
        for (int m = 0; m < n; m++) {
            if (m == p || !done[m]) continue;
            double acc = 0.0;
            for (int i = 0; i < n; i++) acc = acc + P[m * n + i] * col[i];
            for (int i = 0; i < n; i++) col[i] = col[i] - acc * P[m * n + i];
        }
    }
}

static inline int fastgmm_polar_minimiser(int n, const double *G, double *O, double *A, double *V,
                                          double *P, double *s)
{
    double frob = 0.0, small;
    int rotated = 1, sweep = 0;
    char done[64], *flag = n <= 64 ? done : (char *)malloc((size_t)n);
    if (flag == NULL) {
        for (int i = 0; i < n * n; i++) O[i] = NAN;
        return -1;
    }
    memcpy(A, G, (size_t)n * n * sizeof(double));
    for (int i = 0; i < n * n; i++) frob = frob + A[i] * A[i];
    small = n * FASTGMM_POLAR_EPS * sqrt(frob);
    for (int i = 0; i < n * n; i++) V[i] = 0.0;
    for (int i = 0; i < n; i++) V[i * n + i] = 1.0;
    while (rotated && sweep < FASTGMM_POLAR_SWEEPS) {
        rotated = 0;
        sweep++;
        for (int p = 0; p < n - 1; p++) {
            for (int q = p + 1; q < n; q++) {
                double alpha = 0.0, beta = 0.0, gamma = 0.0;
                double *ap = A + p * n, *aq = A + q * n, *vp = V + p * n, *vq = V + q * n;
                for (int i = 0; i < n; i++) {
                    alpha = alpha + ap[i] * ap[i];
                    beta = beta + aq[i] * aq[i];
                    gamma = gamma + ap[i] * aq[i];
                }
                if (gamma == 0.0 || sqrt(alpha) <= small || sqrt(beta) <= small
                        || fabs(gamma) <= n * FASTGMM_POLAR_EPS * sqrt(alpha) * sqrt(beta))
                    continue;
                rotated = 1;
                double zeta = (beta - alpha) / (2.0 * gamma);
                double t = (zeta >= 0.0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
                double c = 1.0 / sqrt(1.0 + t * t), sn = c * t;
                for (int i = 0; i < n; i++) {
                    double x = ap[i], y = aq[i];
                    ap[i] = c * x - sn * y;
                    aq[i] = sn * x + c * y;
                    x = vp[i];
                    y = vq[i];
                    vp[i] = c * x - sn * y;
                    vq[i] = sn * x + c * y;
                }
            }
        }
    }
    if (rotated) {
        for (int i = 0; i < n * n; i++) O[i] = NAN;
        if (flag != done) free(flag);
        return -1;
    }
    for (int p = 0; p < n; p++) {          /* the well-determined columns of P first */
        double acc = 0.0;
        for (int i = 0; i < n; i++) acc = acc + A[p * n + i] * A[p * n + i];
        s[p] = sqrt(acc);
        flag[p] = s[p] > small;
        if (flag[p])
            for (int i = 0; i < n; i++) P[p * n + i] = A[p * n + i] / s[p];
    }
    for (int p = 0; p < n; p++) {          /* then the others, orthogonal to every column made so far */
        if (flag[p]) continue;
        int best = 0;
        double least = INFINITY, norm = 0.0;
        for (int e = 0; e < n; e++) {
            double acc = 0.0;
            for (int m = 0; m < n; m++)
                if (m != p && flag[m]) acc = acc + P[m * n + e] * P[m * n + e];
            if (acc < least) { least = acc; best = e; }
        }
        for (int i = 0; i < n; i++) P[p * n + i] = i == best ? 1.0 : 0.0;
        fastgmm_polar_orthogonalise(n, p, P, flag, P + p * n);
        for (int i = 0; i < n; i++) norm = norm + P[p * n + i] * P[p * n + i];
        norm = sqrt(norm);
        for (int i = 0; i < n; i++) P[p * n + i] = P[p * n + i] / norm;
        flag[p] = 1;
    }
    /* O_ij = -sum_m Q_im P_jm = -sum_m V[m n + i] P[m n + j] */
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int m = 0; m < n; m++) acc = acc + V[m * n + i] * P[m * n + j];
            O[i * n + j] = -acc;
        }
    }
    if (flag != done) free(flag);
    return 0;
}

#endif
