"""Online (stepwise) EM for ``partial_fit``: decayed running statistics.

Stepwise EM (Cappe & Moulines 2009; Liang & Klein 2009) keeps the running
expected sufficient statistics per row, ``S``, and for the t-th mini-batch
(t = 0, 1, ...) blends in the batch's statistics per row ``s_t`` (one
E-step pass under the current parameters):

    S <- (1 - rho_t) S + rho_t s_t,      rho_t = (t + offset) ** -decay,

then makes the parameters from ``S`` by the ordinary M-step. With
``decay`` in (0.5, 1] the steps satisfy Robbins-Monro (sum rho = inf,
sum rho^2 < inf), and ``offset >= 1`` keeps every step <= 1. Liang & Klein
found decay ~0.7 with offset 2 a good default; those are the defaults.

``S`` is not kept privately: the fitted public attributes are the single
source of truth, and ``S`` is rebuilt from them exactly (the inverse of the
M-step, :func:`statistics_from_parameters`). So a model fitted by ``fit``,
loaded, or set by hand continues online from its parameters. Statistics are
kept about a centre; the running statistics are about the previous
parameters' centre and are recentred on the batch's before blending.
"""

import numpy as np

from ._gaussian_statistics import Statistics


def step_size(t, decay, offset):
    """rho_t = (t + offset) ** -decay."""
    return float((t + offset) ** (-decay))


def statistics_from_parameters(weights, means, covariances, cov_type, reg_covar, centre):
    """Per-row statistics (total weight 1) whose M-step gives back the parameters.

    The inverse of :func:`fastgmm.families._gaussian.m_step` (up to its ``10 eps``
    terms): nk = weights, s1 = nk (mu - c), s2 = nk (Sigma - reg_covar I +
    (mu - c)(mu - c)^T) per component (tied: summed, with the shared Sigma;
    diag: diagonals; spherical: traces). ``reg_covar`` is taken out so that
    the next M-step, which adds it, does not add it twice.
    """
    nk = np.asarray(weights, dtype=np.float64)
    nk = nk / nk.sum()
    c = np.asarray(centre, dtype=np.float64)
    d = np.asarray(means, dtype=np.float64) - c
    cov = np.asarray(covariances, dtype=np.float64)
    D = d.shape[1]
    s1 = nk[:, None] * d
    if cov_type == "full":
        s2 = nk[:, None, None] * (cov - reg_covar * np.eye(D) + np.einsum("kd,ke->kde", d, d))
    elif cov_type == "tied":
        s2 = (cov - reg_covar * np.eye(D)) + np.einsum("k,kd,ke->de", nk, d, d)
    elif cov_type == "diag":
        s2 = nk[:, None] * (cov - reg_covar + d * d)
    else:
        s2 = nk * (D * (cov - reg_covar) + np.sum(d * d, axis=1))
    return Statistics(cov_type, nk, s1, s2, 0.0, 1.0, 0, c.copy())


def blend(running, batch, rho):
    """(1 - rho) running + rho batch / batch.weight, about the batch's centre (per-row units).

    ``running`` None (nothing seen yet) gives the batch's per-row statistics.
    """
    per_row = batch.scaled(1.0 / batch.weight)
    if running is None:
        return per_row
    out = running.recentred(batch.centre).scaled(1.0 - rho)
    out += per_row.scaled(rho)
    return out
