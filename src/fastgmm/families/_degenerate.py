"""Degenerate components during EM: detection after the M-step, and the policies.

A component is degenerate after an M-step when

* ``"non-finite"``: its new mean or covariance has a NaN or an infinity;
* ``"empty"``: its weight sum n_k = sum_i w_i r_ik is below
  ``EMPTY_FRACTION * sum_i w_i`` (10 float64 epsilons of the total weight:
  no row gives it more than rounding-level responsibility);
* ``"singular"``: its covariance is not positive definite after
  ``reg_covar`` (the Cholesky factorisation fails), or it has collapsed to
  rounding noise: a conditional variance (a pivot of its Cholesky factor
  squared; a variance for 'diag' and 'spherical') below ``COLLAPSE_RTOL``
  times the data's scale, the largest second moment of a component about
  the mixture's mean (max over k, d of (mu_kd - c_d)^2 + Sigma_k,dd). The
  statistics are accumulated about that mean, so such a variance is what
  rounding leaves of zero (a component on exactly repeated rows with
  ``reg_covar=0``), and the EM step from it is no longer monotone.

What happens is the estimator's ``on_degenerate``:

``"raise"``
    nothing here: the estimator's historical behaviour (a singular covariance
    is scikit-learn's ValueError; an empty component is kept, as scikit-learn
    keeps it).
``"reinit"``
    each degenerate component is re-seeded at the worst-explained row: one
    extra E-step pass gives every row's log-likelihood under the healthy
    components; the component's mean becomes the row with the lowest one (a
    different row for each re-seeded component; a missing value is filled
    with the healthy mixture's mean), its covariance the weighted mean of the
    healthy components' covariances (the tied covariance stays), any other
    per-component parameter (degrees of freedom) the weighted mean of the
    healthy ones, and its weight ``REINIT_WEIGHT / K`` before the weights are
    renormalised. When no component is healthy (every one degenerate at
    once, typically single-row starts with ``reg_covar=0``), the means and
    weights stay (a non-finite mean becomes the data's mean) and every
    degenerate covariance becomes the data's per-feature variance divided
    by K, plus ``reg_covar`` (one extra pass over X, in blocks).
    A run re-seeds in at most ``REINIT_LIMIT`` iterations; later degenerate
    components are dropped instead (and recorded as such): data on which a
    component keeps collapsing (exactly repeated rows with ``reg_covar=0``:
    the likelihood has no finite maximum) would otherwise re-seed it every
    other iteration until ``max_iter``.
``"drop"``
    the degenerate components are removed and EM continues with the others
    (the fitted arrays then have fewer rows than ``n_components``).

Under "drop", when every component is degenerate at once there is nothing
to continue with: a ValueError says so (so it does under "reinit" when the
data's variance is itself zero in some feature and ``reg_covar=0``). A tied
covariance that is singular is not a component's fault (every component
shares it): it raises the singular-covariance ValueError under every policy.
"""

import numpy as np

from ..engine._schema import check_events, set_fitted_events  # noqa: F401 (the event log lives with the schema)
from ..utils._validation import check_option
from . import _gaussian

POLICIES = ("raise", "reinit", "drop")
EMPTY_FRACTION = 10 * float(np.finfo(np.float64).eps)
COLLAPSE_RTOL = 1e-10
REINIT_WEIGHT = 0.1
REINIT_LIMIT = 5


def check_policy(value, estimator_name):
    """``on_degenerate`` must be one of :data:`POLICIES` (InvalidParameterError otherwise)."""
    check_option(value, "on_degenerate", set(POLICIES), estimator_name=estimator_name)


def find_degenerate(nk, means, cov, cov_type, total_weight, dtype, reg_covar):
    """(bad, pc, noise): ``bad`` a list of (component, reason); ``pc`` the precision factors.

    ``noise`` is the set of the components in ``bad`` only for a variance
    below the rounding-noise level (their factors in ``pc`` are real); the
    other bad rows of ``pc`` are arbitrary.

    The common case (nothing degenerate) costs one vectorised factorisation,
    as without a policy; the per-component search runs only when that fails
    or a component is empty or collapsed.
    """
    K = means.shape[0]
    # The largest precision pivot squared that fits in X's dtype, and the largest that is not rounding noise.
    limit = float(np.finfo(dtype).max)
    noise_limit = min(limit, 1.0 / (COLLAPSE_RTOL * _scale2(nk, means, cov, cov_type)))
    bad = {}
    noise = set()
    for k in np.flatnonzero(~np.all(np.isfinite(means.reshape(K, -1)), axis=1)):
        bad[int(k)] = "non-finite"
    if cov_type != "tied":
        for k in np.flatnonzero(~np.all(np.isfinite(np.reshape(cov, (K, -1))), axis=1)):
            bad.setdefault(int(k), "non-finite")
    for k in np.flatnonzero(np.asarray(nk) < EMPTY_FRACTION * total_weight):
        bad.setdefault(int(k), "empty")
    if cov_type == "tied":
        pc = _gaussian.precision_cholesky(cov, cov_type, reg_covar=reg_covar, float32=dtype == np.float32)
        return sorted(bad.items()), pc, noise
    if not bad:
        try:
            pc = _gaussian.precision_cholesky(cov, cov_type, reg_covar=reg_covar)
            if np.all(_pivots(pc, cov_type) ** 2 <= noise_limit):
                return [], pc, noise
        except ValueError:
            pass
    pc = np.empty_like(cov)
    for k in range(K):
        if k in bad:
            pc[k] = _unit_factor(cov[k], cov_type)
            continue
        try:
            pc_k = _gaussian.precision_cholesky(cov[k:k + 1], cov_type, reg_covar=reg_covar)[0]
        except ValueError:
            bad[k] = "singular"
            pc[k] = _unit_factor(cov[k], cov_type)
            continue
        pivots2 = _pivots(pc_k[None], cov_type) ** 2
        if not np.all(pivots2 <= limit):
            bad[k] = "singular"
            pc_k = _unit_factor(cov[k], cov_type)
        elif not np.all(pivots2 <= noise_limit):
            bad[k] = "singular"
            noise.add(k)
        pc[k] = pc_k
    return sorted(bad.items()), pc, noise


def _unit_factor(cov_k, cov_type):
    return np.eye(cov_k.shape[0]) if cov_type == "full" else np.ones_like(cov_k)


def _pivots(pc, cov_type):
    """1 / the conditional standard deviations: the diagonal of each precision factor (K, D) or (K,)."""
    return np.diagonal(pc, axis1=1, axis2=2) if cov_type == "full" else np.abs(pc)


def _scale2(nk, means, cov, cov_type):
    """The data's squared scale about the mixture mean, from the M-step's parameters (finite entries only)."""
    w = np.where(np.isfinite(nk), np.maximum(nk, 0.0), 0.0)
    ok = np.all(np.isfinite(means), axis=1)
    if not np.any(ok):
        return 1.0
    c = (w[ok] @ means[ok]) / max(float(w[ok].sum()), np.finfo(np.float64).tiny)
    if cov_type == "full":
        var = np.diagonal(cov, axis1=1, axis2=2)
    elif cov_type == "tied":
        var = np.broadcast_to(np.diag(cov), means.shape)
    elif cov_type == "diag":
        var = cov
    else:
        var = np.broadcast_to(np.reshape(cov, (-1, 1)), means.shape)
    m2 = (means[ok] - c) ** 2 + np.where(np.isfinite(var[ok]), var[ok], 0.0)
    scale2 = float(np.max(m2))
    return scale2 if scale2 > 0 else 1.0


def all_degenerate_error(bad, iteration, estimator_name):
    reasons = ", ".join(f"{k}: {r}" for k, r in bad)
    return ValueError(
        f"{estimator_name}: every component became degenerate at EM iteration {iteration} ({reasons}), so "
        "on_degenerate cannot re-seed or drop them and continue. Use fewer components, a larger reg_covar, "
        "or scale the data (each feature to unit variance)."
    )


def repair(policy, weights, means, cov, pc, extra, bad, cov_type, *, row_ll, X, sample_weight, reg_covar):
    """Apply ``policy`` ("reinit" or "drop") to the components in ``bad``.

    ``extra`` is a tuple of further per-component arrays (K,) (e.g. degrees
    of freedom). ``row_ll(weights, means, cov, pc, extra)`` returns the
    per-row log-likelihood under the given (healthy) parameters; it is
    called only for "reinit". Returns ``(weights, means, cov, pc, extra)``.
    """
    K = weights.shape[0]
    ks = np.array([k for k, _ in bad], dtype=np.intp)
    healthy = np.setdiff1d(np.arange(K), ks)
    if policy == "drop":
        w = weights[healthy] / np.sum(weights[healthy])
        cov = cov if cov_type == "tied" else cov[healthy]
        pc = pc if cov_type == "tied" else pc[healthy]
        return w, means[healthy], cov, pc, tuple(e[healthy] for e in extra)
    if healthy.size == 0:
        return _restart(weights, means, cov, pc, extra, ks, cov_type, X, sample_weight, reg_covar)
    hw = weights[healthy] / np.sum(weights[healthy])
    h_cov = cov if cov_type == "tied" else cov[healthy]
    h_pc = pc if cov_type == "tied" else pc[healthy]
    ll = row_ll(hw, means[healthy], h_cov, h_pc, tuple(e[healthy] for e in extra))
    if sample_weight is not None:
        ll[sample_weight == 0] = np.inf      # a row of weight 0 is not there
    rows = _worst_distinct_rows(X, ll, len(ks))
    centre = hw @ means[healthy]
    means = means.copy()
    weights = weights.copy()
    for k, i in zip(ks, rows):
        x = np.asarray(X[i], dtype=np.float64)
        means[k] = np.where(np.isnan(x), centre, x)      # marginalize: a missing value at the centre
    if cov_type != "tied":
        cov = cov.copy()
        pc = pc.copy()
        new_cov = np.tensordot(hw, cov[healthy], axes=1)
        new_pc = _gaussian.precision_cholesky(new_cov[None], cov_type)[0]
        cov[ks] = new_cov
        pc[ks] = new_pc
    extra = tuple(_reseed_extra(e, ks, healthy, hw) for e in extra)
    weights[ks] = REINIT_WEIGHT / K
    weights[healthy] = hw * (1.0 - len(ks) * REINIT_WEIGHT / K)
    return weights / np.sum(weights), means, cov, pc, extra


def _restart(weights, means, cov, pc, extra, ks, cov_type, X, sample_weight, reg_covar):
    """Every component degenerate under "reinit": the data's variance / K for each degenerate covariance."""
    K = weights.shape[0]
    centre, var = data_moments(X, sample_weight)
    new_var = var / K + reg_covar
    if not np.all(new_var > 0):
        d = int(np.argmin(new_var > 0))
        raise ValueError(f"Every component is degenerate and feature {d} of X has zero variance with "
                         "reg_covar=0, so no component can be re-seeded: use reg_covar > 0, or remove the "
                         "constant feature.")
    means = means.copy()
    cov = cov.copy()
    pc = pc.copy()
    for k in ks:
        if not np.all(np.isfinite(means[k])):
            means[k] = centre
        if cov_type == "tied":
            continue            # shared, and factorised already (a singular one raised before)
        cov[k] = {"full": np.diag(new_var), "diag": new_var, "spherical": np.mean(new_var)}[cov_type]
        pc[k] = _gaussian.precision_cholesky(cov[k][None], cov_type)[0]
    w = np.where(np.isfinite(weights) & (weights > 0), weights, 1.0 / K)
    return w / w.sum(), means, cov, pc, tuple(extra)


def data_moments(X, sample_weight, block=65536):
    """(mean, variance) per feature of X, weighted, NaN skipped; in blocks (no N x D temporary)."""
    D = X.shape[1]
    s0, s1, s2 = np.zeros(D), np.zeros(D), np.zeros(D)
    for a in range(0, X.shape[0], block):
        x = np.asarray(X[a:a + block], dtype=np.float64)
        w = np.ones(x.shape[0]) if sample_weight is None else sample_weight[a:a + block]
        ok = ~np.isnan(x)
        xw = np.where(ok, x, 0.0)
        s0 += w @ ok
        s1 += w @ xw
        s2 += w @ (xw * xw)
    mean = s1 / np.maximum(s0, np.finfo(np.float64).tiny)
    return mean, np.maximum(s2 / np.maximum(s0, np.finfo(np.float64).tiny) - mean ** 2, 0.0)


def _reseed_extra(e, ks, healthy, hw):
    e = np.array(e, dtype=np.float64, copy=True)
    e[ks] = hw @ e[healthy]
    return e


def _worst_distinct_rows(X, ll, n):
    """Indices of the ``n`` rows with the lowest log-likelihood, no two with equal values.

    Tied data (many exactly repeated rows) would otherwise seed several
    components at one point, where they stay identical forever. If there
    are fewer distinct rows than ``n``, rows repeat.
    """
    order = np.argsort(ll, kind="stable")
    chosen = []
    for i in order:
        if not np.isfinite(ll[i]) and ll[i] > 0:
            break                                   # only weight-0 rows are left
        x = np.asarray(X[i])
        if not any(np.array_equal(x, np.asarray(X[j]), equal_nan=True) for j in chosen):
            chosen.append(int(i))
            if len(chosen) == n:
                return chosen
    while len(chosen) < n:
        chosen.append(int(order[len(chosen) % len(order)]))
    return chosen


def effective_policy(model):
    """``model.on_degenerate``, except 'drop' once the run has re-seeded in ``REINIT_LIMIT`` iterations."""
    policy = model.on_degenerate
    if policy == "reinit":
        rounds = {e[0] for e in getattr(model, "_run_events", ()) if e[3] == "reinit"}
        if len(rounds) >= REINIT_LIMIT:
            return "drop"
    return policy


def record(model, bad, action):
    """Append the events of one M-step to the current run's log; print them when verbose."""
    iteration = getattr(model, "_em_iteration", 0)
    events = getattr(model, "_run_events", None)
    for k, reason in bad:
        event = (int(iteration), int(k), reason, action)
        if events is not None:
            events.append(event)
        if model.verbose >= 1:
            print(f"  Iteration {iteration}: component {k} is degenerate ({reason}), {action}.")
