"""Plots of fitted mixtures and model selections (needs matplotlib: ``pip install fastgmm[plot]``).

Every function draws on ``ax`` (a new figure's Axes when None) and returns
the Axes. ``import fastgmm`` does not import this module, and this module
imports matplotlib only when a function is called, so fastgmm works without
matplotlib installed.
"""

import math

import numpy as np

__all__ = ["density_1d", "ellipses", "selection", "convergence"]

_COV_TYPE_MARKERS = {"full": "o", "tied": "s", "diag": "^", "spherical": "D"}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:   # pragma: no cover - depends on the environment
        raise ImportError(
            "fastgmm.plot needs matplotlib: pip install matplotlib (or fastgmm[plot])."
        ) from e
    return plt


def _axes(ax):
    if ax is not None:
        return ax
    return _pyplot().subplots()[1]


def _fitted(model, what):
    if not hasattr(model, "means_"):
        from ._validation import NotFittedError

        raise NotFittedError(f"{what} needs a fitted GaussianMixture (call fit first).")


def _component_covariances(model):
    """Covariances as a (K, D, D) float64 array, whatever the covariance type."""
    K, D = model.means_.shape
    cov = np.asarray(model.covariances_, dtype=np.float64)
    ct = model.covariance_type
    if ct == "full":
        return cov
    if ct == "tied":
        return np.broadcast_to(cov, (K, D, D))
    if ct == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(D) * c for c in cov])   # spherical


def density_1d(model, X, ax=None, *, bins="auto", n_points=500):
    """Histogram of one-feature data with the mixture density and each weighted component.

    Parameters
    ----------
    model : fitted GaussianMixture with ``n_features_in_ == 1``
    X : array-like of shape (n_samples,) or (n_samples, 1)
    ax : matplotlib Axes, default=None
        Where to draw (a new figure when None).
    bins : int or str, default="auto"
        Histogram bins (``numpy.histogram_bin_edges``).
    n_points : int, default=500
        Points on the x grid of the curves.

    Returns
    -------
    ax : matplotlib Axes
        One bar patch per bin, the line "mixture" and one line per component
        (``weights_[k] * N(x; means_[k], covariances_[k])``), labelled
        "component k".
    """
    _fitted(model, "density_1d")
    x = np.asarray(X, dtype=np.float64).reshape(-1) if np.ndim(X) <= 1 or np.shape(X)[1] == 1 else None
    if x is None or model.means_.shape[1] != 1:
        raise ValueError("density_1d plots one-feature data and models; use ellipses for more features.")
    x = x[np.isfinite(x)]
    ax = _axes(ax)
    ax.hist(x, bins=bins, density=True, color="0.8", edgecolor="0.6", label="data")
    lo, hi = float(x.min()), float(x.max())
    pad = 0.05 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, n_points)
    var = _component_covariances(model)[:, 0, 0]
    means = np.asarray(model.means_, dtype=np.float64)[:, 0]
    weights = np.asarray(model.weights_, dtype=np.float64)
    comp = weights[:, None] * np.exp(-0.5 * (grid[None, :] - means[:, None]) ** 2 / var[:, None]) \
        / np.sqrt(2 * math.pi * var[:, None])
    for k, c in enumerate(comp):
        ax.plot(grid, c, linestyle="--", linewidth=1.2, label=f"component {k}")
    ax.plot(grid, comp.sum(axis=0), color="black", linewidth=2, label="mixture")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.legend()
    return ax


def ellipses(model, X, dims=(0, 1), ax=None, *, n_std=(1, 2, 3), s=6):
    """Scatter of the rows coloured by predicted component, with covariance ellipses.

    Parameters
    ----------
    model : fitted GaussianMixture (any covariance type)
    X : array-like of shape (n_samples, n_features)
    dims : (int, int), default=(0, 1)
        The two features plotted; the ellipses are those of the marginal
        covariances of these two features.
    ax : matplotlib Axes, default=None
    n_std : sequence of float, default=(1, 2, 3)
        An ellipse at each of these Mahalanobis radii (standard deviations).
    s : float, default=6
        Marker size of the points.

    Returns
    -------
    ax : matplotlib Axes
        One scatter collection per component (labelled "component k"),
        ``len(n_std)`` Ellipse patches per component, and the means as "x" markers.
    """
    from matplotlib.patches import Ellipse

    _fitted(model, "ellipses")
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] < 2:
        raise ValueError("ellipses needs 2-D X with at least two features; use density_1d for one.")
    i, j = (int(d) for d in dims)
    if i == j or not (0 <= i < X.shape[1] and 0 <= j < X.shape[1]):
        raise ValueError(f"dims must be two different feature indices below {X.shape[1]}, got {dims}.")
    ax = _axes(ax)
    labels = model.predict(X)
    colors = _pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    covs = _component_covariances(model)[:, [i, j]][:, :, [i, j]]
    means = np.asarray(model.means_, dtype=np.float64)[:, [i, j]]
    for k in range(means.shape[0]):
        color = colors[k % len(colors)]
        rows = labels == k
        ax.scatter(X[rows, i], X[rows, j], s=s, color=color, alpha=0.6, label=f"component {k}")
        vals, vecs = np.linalg.eigh(covs[k])
        vals = np.maximum(vals, 0.0)
        angle = math.degrees(math.atan2(vecs[1, -1], vecs[0, -1]))   # direction of the largest axis
        for r in n_std:
            ax.add_patch(Ellipse(means[k], 2 * r * math.sqrt(vals[-1]), 2 * r * math.sqrt(vals[0]),
                                 angle=angle, fill=False, edgecolor=color, linewidth=1.2,
                                 alpha=max(0.25, 1.0 - 0.25 * (r - 1))))
    ax.scatter(means[:, 0], means[:, 1], marker="x", color="black", s=60, zorder=3, label="means")
    names = getattr(model, "feature_names_in_", None)
    ax.set_xlabel(str(names[i]) if names is not None else f"feature {i}")
    ax.set_ylabel(str(names[j]) if names is not None else f"feature {j}")
    ax.set_title(f"{means.shape[0]} components, covariance_type={model.covariance_type!r}")
    ax.autoscale_view()
    ax.legend(loc="best", fontsize="small")
    return ax


def selection(selection, ax=None, *, criterion=None):
    """Criterion against the number of components, one line per covariance type (mclust's BIC plot).

    Parameters
    ----------
    selection : fitted GaussianMixtureSelection
    ax : matplotlib Axes, default=None
    criterion : {"bic", "aic", "icl"}, default=None
        The column of ``results_`` plotted (None: the selection's own criterion).

    Returns
    -------
    ax : matplotlib Axes
        One line per covariance type (labelled with it; degenerate and failed
        candidates are gaps in it), degenerate candidates as hollow markers
        (their values, labelled "degenerate"), failed candidates as red "x"
        on the bottom edge (labelled "failed"), and the chosen candidate
        circled (labelled "chosen"). Lower is better.
    """
    if not hasattr(selection, "results_"):
        from ._validation import NotFittedError

        raise NotFittedError("selection needs a fitted GaussianMixtureSelection (call fit first).")
    r = selection.results_
    crit = criterion or selection.criterion
    ax = _axes(ax)
    ks_all = np.asarray(r["n_components"])
    values = np.asarray(r[crit], dtype=np.float64)
    degenerate = np.asarray(r["degenerate"], dtype=bool)
    failed = np.asarray(r["failed"], dtype=bool)
    cts = list(dict.fromkeys(r["covariance_type"]))
    ct_col = np.asarray(r["covariance_type"])
    deg_labelled = failed_labelled = False
    fail_x = []
    for ct in cts:
        rows = np.flatnonzero(ct_col == ct)
        ks, v = ks_all[rows], values[rows].copy()
        good = ~(degenerate[rows] | failed[rows])
        line, = ax.plot(ks, np.where(good, v, np.nan), marker=_COV_TYPE_MARKERS.get(ct, "o"), label=ct)
        bad = degenerate[rows] & ~failed[rows] & np.isfinite(v)
        if bad.any():
            ax.scatter(ks[bad], v[bad], marker=_COV_TYPE_MARKERS.get(ct, "o"), facecolors="none",
                       edgecolors=line.get_color(), s=60,
                       label=None if deg_labelled else "degenerate")
            deg_labelled = True
        fail_x.extend(ks[failed[rows]].tolist())
    if fail_x:
        # Failed candidates have no value: marked on the bottom edge of the axes.
        ax.scatter(fail_x, np.zeros(len(fail_x)), marker="x", color="red", s=50, clip_on=False,
                   transform=ax.get_xaxis_transform(), label="failed")
        failed_labelled = True
    best = selection.best_index_
    ax.scatter([ks_all[best]], [values[best]], s=250, facecolors="none", edgecolors="black",
               linewidths=1.5, label="chosen", zorder=3)
    ax.set_xlabel("number of components")
    ax.set_ylabel(f"{crit.upper()} (lower is better)")
    ax.set_xticks(np.unique(ks_all))
    ax.set_title(f"chosen: {selection.best_params_['covariance_type']}, "
                 f"K={selection.best_params_['n_components']}"
                 + (" (x: failed)" if failed_labelled else ""))
    ax.legend(fontsize="small")
    return ax


def convergence(model, ax=None):
    """The lower bound (mean log-likelihood per sample) at each EM iteration of the kept run.

    Parameters
    ----------
    model : fitted GaussianMixture
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
        One line with ``len(model.lower_bounds_)`` points (x = 1, 2, ...).
    """
    if not hasattr(model, "lower_bounds_"):
        from ._validation import NotFittedError

        raise NotFittedError("convergence needs a fitted GaussianMixture (call fit first).")
    ax = _axes(ax)
    lb = np.asarray(model.lower_bounds_, dtype=np.float64)
    ax.plot(np.arange(1, lb.size + 1), lb, marker=".", label="lower bound")
    ax.set_xlabel("iteration")
    ax.set_ylabel("lower bound (mean log-likelihood)")
    ax.set_title("converged" if getattr(model, "converged_", False) else "did not converge")
    return ax
