"""The Gaussian family's inverse M-step, which online EM (``fastgmm.engine._online``) blends each batch into.

``partial_fit`` keeps no running statistics privately: the fitted public
attributes are the single source of truth, and the statistics are rebuilt
from them exactly (:func:`statistics_from_parameters`, the inverse of
``fastgmm.families._gaussian.m_step``), so a model fitted by ``fit``, loaded,
or set by hand continues online from its parameters. The statistics are about
the mixture's mean; adding a batch's re-centres it on them.
"""

import numpy as np

from ..engine._online import online_step
from ._gaussian_statistics import Statistics


def step_size(t, decay, offset):
    """The step of the t-th of equal batches from scratch, ``(t + offset) ** -decay`` (Liang & Klein's schedule):
    :func:`fastgmm.engine._online.online_step` with ``n_seen = t`` batches."""
    return online_step(1.0, t, decay, offset)


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
