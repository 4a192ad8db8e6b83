"""Plots of fitted mixtures and model selections (needs matplotlib: ``pip install fastgmm[plot]``).

Every function draws on ``ax`` (a new figure's Axes when None) and returns
the Axes. ``import fastgmm`` does not import this module, and this module
imports matplotlib only when a function is called, so fastgmm works without
matplotlib installed.

The plots ask the model, so they draw any fastgmm mixture the way it is
defined: :func:`density_1d` draws each component's own density (a Student-t
component as a t density), :func:`ellipses` the covariance (or, for a
Student-t mixture, scale) matrices, and :func:`parameters` the parameters of
a discrete mixture (Bernoulli, Poisson, categorical), for which the first two
have no meaning. A fitted :class:`~fastgmm.GaussianMixtureSelection` is
plotted through its chosen model, ``best_estimator_``.

Empty components are left out. :func:`density_1d` and :func:`ellipses` draw
(and list in the legend) only the components that explain at least
``min_rows`` rows of the data plotted (default 1): a component's
responsibilities (``predict_proba``) summed over the rows. For a
maximum-likelihood fit on that data this is ``weights_[k] * n_samples``;
a Dirichlet-process :class:`~fastgmm.BayesianGaussianMixture` gives each
component it does not use a weight of about one row's share (its prior's
pseudo-count) while the component explains a fraction of a row, so the
weight alone would not tell it is empty. :func:`parameters`, which is given
no data, leaves out the components whose weight is below ``min_weight``
(default ``1e-3 / n_components``), which is where EM leaves an emptied
component of a discrete mixture. ``min_rows=0`` or ``min_weight=0`` draws
every component.

Hidden Markov models (``fastgmm.hmm``) have two plots of their own:
:func:`state_sequence` (a series with its decoded states) and
:func:`transition_matrix` (a heat-map of ``transmat_`` with its numbers).
"""

import math

import numpy as np

from .families._gaussian import layout

__all__ = ["density_1d", "ellipses", "parameters", "selection", "convergence", "state_sequence",
           "transition_matrix"]

_COV_TYPE_MARKERS = {"full": "o", "tied": "s", "diag": "^", "spherical": "D",
                     # mclust's models: a marker for each (with 14 lines the colours repeat)
                     "EII": "v", "VII": "D", "EEI": "<", "VEI": ">", "EVI": "p", "VVI": "^", "EEE": "s",
                     "VEE": "h", "EVE": "H", "VVE": "8", "EEV": "P", "VEV": "X", "EVV": "*", "VVV": "o"}


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
    # Constrained layout keeps long tick labels and colour bars inside the figure.
    return _pyplot().subplots(layout="constrained")[1]


def _not_fitted(what, model):
    from .utils._validation import NotFittedError

    return NotFittedError(f"{what} needs a fitted model: this {type(model).__name__} is not fitted "
                          "(call fit first).")


def _chosen(model, what):
    """The mixture a plot draws: a selection's chosen model, else ``model`` itself."""
    from ._selection import GaussianMixtureSelection

    if isinstance(model, GaussianMixtureSelection):
        if not hasattr(model, "best_estimator_"):
            raise _not_fitted(what, model)
        return model.best_estimator_
    return model


def _is_discrete(model):
    from .families._discrete import DiscreteMixture

    return isinstance(model, DiscreteMixture)


def _continuous(model, what):
    """``model`` (a selection's chosen one), fitted and with a density of real-valued data."""
    model = _chosen(model, what)
    if _is_discrete(model):
        raise TypeError(f"{what} draws mixtures of real-valued data; {type(model).__name__} models discrete "
                        "data: plot its parameters with fastgmm.plot.parameters(model).")
    if not hasattr(model, "weights_"):
        raise _not_fitted(what, model)
    return model


def _shown(weights, min_weight):
    """Indices of the components drawn: weight >= min_weight (see the module docstring)."""
    return np.flatnonzero(np.asarray(weights, dtype=np.float64) >= min_weight)


def _explaining(model, X, min_rows):
    """Indices of the components whose responsibilities over the rows of X sum to at least ``min_rows``."""
    rows = np.asarray(model.predict_proba(X), dtype=np.float64).sum(axis=0)[:model.means_.shape[0]]    # no noise
    return np.flatnonzero(rows >= min_rows)


def _component_covariances(model):
    """Covariances as a (K, D, D) float64 array, whatever the covariance type."""
    K, D = model.means_.shape
    cov = np.asarray(model.covariances_, dtype=np.float64)
    ct = layout(model.covariance_type)
    if ct == "full":
        return cov
    if ct == "tied":
        return np.broadcast_to(cov, (K, D, D))
    if ct == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(D) * c for c in cov])   # spherical


def density_1d(model, X, ax=None, *, bins="auto", n_points=500, min_rows=1.0):
    """Histogram of one-feature data with the mixture density and each weighted component.

    Parameters
    ----------
    model : fitted one-feature mixture of real-valued data
        GaussianMixture, BayesianGaussianMixture, StudentTMixture, or a
        fitted GaussianMixtureSelection (its ``best_estimator_`` is drawn).
    X : array-like of shape (n_samples,) or (n_samples, 1)
    ax : matplotlib Axes, default=None
        Where to draw (a new figure when None).
    bins : int or str, default="auto"
        Histogram bins (``numpy.histogram_bin_edges``).
    n_points : int, default=500
        Points on the x grid of the curves.
    min_rows : float, default=1.0
        Components that explain fewer rows of X (their responsibilities
        summed) are not drawn (see the module docstring).

    Returns
    -------
    ax : matplotlib Axes
        One bar patch per bin, the line "mixture", ``exp(score_samples(x))``,
        and one line per drawn component k, labelled "component k": the
        model's own weighted component density
        ``w_k p_k(x) = predict_proba(x)[:, k] * exp(score_samples(x))``
        (a t density for a StudentTMixture). The drawn components sum to the
        mixture, up to the components left out. For a
        BayesianGaussianMixture the curves are its ``score_samples``, the
        expectation under the variational posterior (as scikit-learn's),
        which integrates to slightly less than 1.

    Raises
    ------
    TypeError
        For a discrete mixture (use :func:`parameters`).
    ValueError
        When the model or X has more than one feature (use :func:`ellipses`).
    """
    model = _continuous(model, "density_1d")
    x = np.asarray(X, dtype=np.float64).reshape(-1) if np.ndim(X) <= 1 or np.shape(X)[1] == 1 else None
    if x is None or model.n_features_in_ != 1:
        raise ValueError("density_1d plots one-feature data and models; use ellipses for more features.")
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("density_1d needs at least one finite value in X.")
    ax = _axes(ax)
    ax.hist(x, bins=bins, density=True, color="0.8", edgecolor="0.6", label="data")
    lo, hi = float(x.min()), float(x.max())
    pad = 0.05 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, n_points)
    mixture = np.exp(np.asarray(model.score_samples(grid[:, None]), dtype=np.float64))
    comp = np.asarray(model.predict_proba(grid[:, None]), dtype=np.float64) * mixture[:, None]
    ax.plot(grid, mixture, color="black", linewidth=2.5, alpha=0.6, label="mixture")
    for k in _explaining(model, x[:, None], min_rows):
        # Above the mixture: where one component is the whole density the two curves coincide.
        ax.plot(grid, comp[:, k], linestyle="--", linewidth=1.5, zorder=3, label=f"component {k}")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    return ax


def ellipses(model, X, dims=(0, 1), ax=None, *, n_std=(1, 2, 3), s=6, min_rows=1.0):
    """Scatter of the rows coloured by predicted component, with covariance ellipses.

    Parameters
    ----------
    model : fitted mixture with covariances
        GaussianMixture or BayesianGaussianMixture (any covariance type),
        StudentTMixture (its scale matrices are drawn), or a fitted
        GaussianMixtureSelection (its ``best_estimator_``).
    X : array-like of shape (n_samples, n_features)
    dims : (int, int), default=(0, 1)
        The two features plotted; the ellipses are those of the marginal
        covariances of these two features.
    ax : matplotlib Axes, default=None
    n_std : sequence of float, default=(1, 2, 3)
        An ellipse at each of these Mahalanobis radii (standard deviations).
    s : float, default=6
        Marker size of the points.
    min_rows : float, default=1.0
        Components that explain fewer rows of X (their responsibilities
        summed) get no ellipse, mean or legend entry (see the module
        docstring).

    Returns
    -------
    ax : matplotlib Axes
        One scatter collection per drawn component (labelled "component k"),
        ``len(n_std)`` Ellipse patches per drawn component, the drawn means as
        "x" markers (labelled "means"), and, only if some rows are predicted
        to a component left out, those rows in grey ("other components");
        a noise component's rows in light grey dots ("noise").

    Raises
    ------
    TypeError
        For a discrete mixture (use :func:`parameters`).
    """
    from matplotlib.patches import Ellipse

    model = _continuous(model, "ellipses")
    if "covariance_type" not in model.get_params():
        raise TypeError(f"ellipses draws covariance matrices, which {type(model).__name__} does not have.")
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
    shown = _explaining(model, X, min_rows)
    for n, k in enumerate(shown):
        color = colors[n % len(colors)]
        rows = labels == k
        ax.scatter(X[rows, i], X[rows, j], s=s, color=color, alpha=0.6, label=f"component {k}")
        vals, vecs = np.linalg.eigh(covs[k])
        vals = np.maximum(vals, 0.0)
        angle = math.degrees(math.atan2(vecs[1, -1], vecs[0, -1]))   # direction of the largest axis
        for r in n_std:
            ax.add_patch(Ellipse(means[k], 2 * r * math.sqrt(vals[-1]), 2 * r * math.sqrt(vals[0]),
                                 angle=angle, fill=False, edgecolor=color, linewidth=1.2,
                                 alpha=max(0.25, 1.0 - 0.25 * (r - 1))))
    noise = labels == -1        # a noise component's rows (GaussianMixture(noise=...)): grey dots
    if noise.any():
        ax.scatter(X[noise, i], X[noise, j], s=s, color="0.6", alpha=0.5, marker=".", label="noise")
    other = ~np.isin(labels, shown) & ~noise
    if other.any():
        # Kept on the plot so that no row disappears; rare, as these components carry under one row.
        ax.scatter(X[other, i], X[other, j], s=s, color="0.5", alpha=0.6, label="other components")
    ax.scatter(means[shown, 0], means[shown, 1], marker="x", color="black", s=60, zorder=3, label="means")
    names = getattr(model, "feature_names_in_", None)
    ax.set_xlabel(str(names[i]) if names is not None else f"feature {i}")
    ax.set_ylabel(str(names[j]) if names is not None else f"feature {j}")
    hidden = means.shape[0] - shown.size
    ax.set_title(f"{shown.size} components" + (f" (+{hidden} empty, not drawn)" if hidden else "")
                 + f", covariance_type={model.covariance_type!r}")
    ax.autoscale_view()
    ax.legend(loc="best", fontsize="small")
    return ax


def _parameter_table(model):
    """The table :func:`parameters` draws, as a dict.

    values (K, n_columns); columns: a label per column; groups: (feature
    name, first column, end column) per feature when a feature spans several
    columns, else None; what: the colour bar's label; vrange: (vmin, vmax);
    probabilities: whether the values are probabilities.
    """
    from .families._bernoulli import BernoulliMixture
    from .families._categorical import CategoricalMixture
    from .families._poisson import PoissonMixture

    names = getattr(model, "feature_names_in_", None)
    D = model.n_features_in_
    features = [str(n) for n in names] if names is not None else [f"feature {d}" for d in range(D)]
    if isinstance(model, CategoricalMixture):
        tables = [np.asarray(t, dtype=np.float64) for t in model.means_]
        ends = np.cumsum([t.shape[1] for t in tables])
        return dict(values=np.hstack(tables),
                    columns=[_number(c) for d in range(D) for c in model.categories_[d]],
                    groups=[(features[d], int(e - t.shape[1]), int(e)) for d, (t, e) in enumerate(zip(tables, ends))],
                    what="probability of the category", vrange=(0.0, 1.0), probabilities=True)
    values = np.asarray(model.means_, dtype=np.float64)
    table = dict(values=values, columns=features, groups=None, what="mean",
                 vrange=(float(values.min()), float(values.max())), probabilities=False)
    if isinstance(model, BernoulliMixture):
        table.update(what="probability of a 1", vrange=(0.0, 1.0), probabilities=True)
    elif isinstance(model, PoissonMixture):
        table.update(what="rate (mean count)", vrange=(0.0, float(values.max())))
    return table


def _number(v):
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:g}"


def parameters(model, ax=None, *, min_weight=None, annotate=None):
    """Heat-map of each component's parameters, with its weight: the plot of a discrete mixture.

    One row per drawn component, one column per feature: for a
    BernoulliMixture the probability of a 1, for a PoissonMixture the rate
    (mean count), for a CategoricalMixture each feature's category
    probabilities side by side (one column per category, labelled with its
    code, the feature's name above its columns, the features separated by
    white lines). Any other fitted mixture shows its ``means_``.

    Parameters
    ----------
    model : fitted fastgmm mixture, or a fitted GaussianMixtureSelection
    ax : matplotlib Axes, default=None
    min_weight : float or None, default=None
        Components with a smaller weight are left out; None:
        ``1e-3 / n_components`` (see the module docstring).
    annotate : bool or None, default=None
        Write each cell's value in it; None: when there are at most 150 cells.

    Returns
    -------
    ax : matplotlib Axes
        One image (``ax.images[0]``, its array the drawn rows of the table),
        y tick labels "k" and "weight w" on two lines, x tick labels naming
        the features (or categories), and a colour bar labelled with what the
        values are.
    """
    model = _chosen(model, "parameters")
    if not hasattr(model, "weights_"):
        raise _not_fitted("parameters", model)
    table = _parameter_table(model)
    weights = np.asarray(model.weights_, dtype=np.float64)
    K = weights.shape[0]
    shown = _shown(weights, 1e-3 / K if min_weight is None else min_weight)
    if shown.size == 0:
        raise ValueError(f"every component's weight is below min_weight={min_weight}; lower it.")
    values = table["values"][shown]
    vmin, vmax = table["vrange"]
    if vmin == vmax:     # one value everywhere: a colour scale needs some range
        vmin, vmax = vmin - 0.5, vmax + 0.5
    ax = _axes(ax)
    image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label=table["what"])
    ax.set_yticks(np.arange(shown.size), [f"{k}\nweight {weights[k]:.3g}" for k in shown])
    columns = table["columns"]
    long = sum(len(c) for c in columns) > 60
    ax.set_xticks(np.arange(len(columns)), columns, rotation=45 if long else 0, ha="right" if long else "center")
    ax.tick_params(length=0)
    if table["groups"] is not None:
        top = ax.secondary_xaxis("top")
        top.set_xticks([(a + b - 1) / 2 for _, a, b in table["groups"]], [g for g, _, _ in table["groups"]])
        top.tick_params(length=0)
        for _, a, _ in table["groups"][1:]:
            ax.axvline(a - 0.5, color="white", linewidth=3)
        ax.set_xlabel("category")
    if annotate is None:
        annotate = values.size <= 150
    if annotate:
        mid = (vmin + vmax) / 2
        for (r, c), v in np.ndenumerate(values):
            # Dark text on the light (high) end of viridis, light text on the dark end.
            ax.text(c, r, f"{v:.2f}" if table["probabilities"] else f"{v:.3g}", ha="center", va="center",
                    fontsize="small", color="black" if v > mid else "white")
    ax.set_ylabel("component")
    hidden = K - shown.size
    ax.set_title(f"{type(model).__name__}: {shown.size} components"
                 + (f" (+{hidden} empty, not shown)" if hidden else ""), pad=20 if table["groups"] else None)
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
        from .utils._validation import NotFittedError

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
    colours = _pyplot().get_cmap("tab20").colors if len(cts) > 10 else [None] * len(cts)
    for ct, colour in zip(cts, colours):
        rows = np.flatnonzero(ct_col == ct)
        ks, v = ks_all[rows], values[rows].copy()
        good = ~(degenerate[rows] | failed[rows])
        line, = ax.plot(ks, np.where(good, v, np.nan), marker=_COV_TYPE_MARKERS.get(ct, "o"), label=ct,
                        color=colour)
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
    """The lower bound at each EM iteration of the kept run.

    Parameters
    ----------
    model : fitted fastgmm mixture, or a fitted GaussianMixtureSelection
        A selection draws its ``best_estimator_``, whose history is that of
        its last run: the selection's final EM run to a tighter tolerance,
        warm-started from the chosen start.
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
        One line with ``len(model.lower_bounds_)`` points (x = 1, 2, ...). The
        y label says what the bound is: the mean log-likelihood per row, or
        for a BayesianGaussianMixture the variational lower bound (summed
        over the rows, as scikit-learn's).
    """
    from .families._bayesian_mixture import BayesianGaussianMixture

    model = _chosen(model, "convergence")
    if not hasattr(model, "lower_bounds_"):
        raise _not_fitted("convergence", model)
    ax = _axes(ax)
    lb = np.asarray(model.lower_bounds_, dtype=np.float64)
    ax.plot(np.arange(1, lb.size + 1), lb, marker=".", label="lower bound")
    ax.set_xlabel("iteration")
    ax.set_ylabel("lower bound (variational, summed over rows)" if isinstance(model, BayesianGaussianMixture)
                  else "lower bound (mean log-likelihood)")
    ax.set_title("converged" if getattr(model, "converged_", False) else "did not converge")
    return ax


# ----------------------------------------------------------------------
# hidden Markov models
# ----------------------------------------------------------------------
def _fitted_hmm(model, what):
    from .hmm import BaseHMM

    if not isinstance(model, BaseHMM):
        raise TypeError(f"{what} draws a hidden Markov model of fastgmm.hmm, not a {type(model).__name__}.")
    if not hasattr(model, "transmat_"):
        raise _not_fitted(what, model)
    return model


def _state_colours(K):
    """One colour per state: tab10 (tab20 beyond 10 states, then repeating)."""
    cmap = _pyplot().get_cmap("tab10" if K <= 10 else "tab20")
    return [cmap(k % cmap.N) for k in range(K)]


def state_sequence(model, X, lengths=None, ax=None, *, columns=None, style="bands", alpha=0.3):
    """A series with the states the model decodes for it: coloured bands behind it, or coloured points.

    Parameters
    ----------
    model : fitted fastgmm.hmm model
    X : array-like of shape (n_samples,) or (n_samples, n_features)
        The frames, sequences one after the other (a 1-d array: one feature).
    lengths : array-like of int, optional
        The lengths of the sequences (default: one sequence); a dashed
        vertical line marks where each sequence after the first starts.
    ax : matplotlib Axes, default=None
    columns : sequence of int, optional
        The features drawn (default: all), each as a line over the frame
        index, labelled "feature d" (or its name in ``feature_names_in_``).
    style : {"bands", "points"}, default "bands"
        "bands": the states as a coloured strip behind the lines (one
        image, whatever the length); "points": each frame's value drawn as a
        point in its state's colour, over a thin grey line.
    alpha : float, default 0.3
        Opacity of the bands.

    Returns
    -------
    ax : matplotlib Axes
        The states are ``model.predict(X, lengths)`` (Viterbi, or "map" by
        the model's ``algorithm``). "bands": ``ax.images[0]`` holds them as a
        (1, n_samples) array; "points": one scatter per (feature, state) in
        ``ax.collections``. The legend names each state ("state k") with its
        colour.
    """
    model = _fitted_hmm(model, "state_sequence")
    if style not in ("bands", "points"):
        raise ValueError(f"style must be 'bands' or 'points', got {style!r}.")
    Xa = np.asarray(X)
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    states = np.asarray(model.predict(Xa, lengths))
    n, D = Xa.shape
    cols = list(range(D)) if columns is None else [int(c) for c in columns]
    bad = [c for c in cols if not 0 <= c < D]
    if bad or not cols:
        raise ValueError(f"columns must name features in [0, {D}), got {columns!r}.")
    names = getattr(model, "feature_names_in_", None)
    labels = [str(names[c]) if names is not None else f"feature {c}" for c in cols]
    K = model.n_components
    colours = _state_colours(K)
    values = Xa[:, cols].astype(np.float64)
    t = np.arange(n)
    ax = _axes(ax)
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if style == "bands":
        for j, label in enumerate(labels):
            ax.plot(t, values[:, j], linewidth=1, label=label)
        lo, hi = np.nanmin(values), np.nanmax(values)
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        ax.imshow(states[None, :], aspect="auto", cmap=ListedColormap(colours), vmin=-0.5, vmax=K - 0.5,
                  alpha=alpha, interpolation="nearest", origin="lower",
                  extent=(-0.5, n - 0.5, lo - pad, hi + pad), zorder=0)
        ax.set_ylim(lo - pad, hi + pad)
    else:
        for j, label in enumerate(labels):
            ax.plot(t, values[:, j], color="0.7", linewidth=0.6, zorder=1, label=label)
            for k in np.unique(states):
                idx = states == k
                ax.scatter(t[idx], values[idx, j], color=colours[k], s=8, zorder=2)
    ax.set_xlim(-0.5, n - 0.5)
    if lengths is not None:
        for b in np.cumsum(np.asarray(lengths))[:-1]:
            ax.axvline(b - 0.5, color="black", linestyle="--", linewidth=0.8)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(color=colours[k], alpha=alpha if style == "bands" else 1.0, label=f"state {k}")
                for k in range(K)]
    ax.legend(handles=handles, fontsize="small", loc="best")
    ax.set_xlabel("frame (row)")
    ax.set_ylabel("value")
    ax.set_title(f"{type(model).__name__}: {'Viterbi' if model.algorithm == 'viterbi' else 'MAP'} states")
    return ax


def transition_matrix(model, ax=None, *, annotate=None):
    """Heat-map of the transition matrix ``transmat_`` with each probability written in its cell.

    Parameters
    ----------
    model : fitted fastgmm.hmm model
    ax : matplotlib Axes, default=None
    annotate : bool or None, default=None
        Write each cell's probability; None: when there are at most 20 states.

    Returns
    -------
    ax : matplotlib Axes
        One image (``ax.images[0]``, its array ``transmat_``, colour scale 0
        to 1), rows "from" and columns "to" the states (tick labels 0 .. K-1),
        the start probabilities in the y tick labels, and a colour bar
        labelled "transition probability".
    """
    model = _fitted_hmm(model, "transition_matrix")
    A = np.asarray(model.transmat_, dtype=np.float64)
    K = A.shape[0]
    ax = _axes(ax)
    image = ax.imshow(A, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="transition probability")
    start = np.asarray(model.startprob_, dtype=np.float64)
    ax.set_xticks(np.arange(K), [str(k) for k in range(K)])
    ax.set_yticks(np.arange(K), [f"{k} (start {start[k]:.2f})" for k in range(K)])
    ax.set_xlabel("to state")
    ax.set_ylabel("from state")
    ax.tick_params(length=0)
    if annotate is None:
        annotate = K <= 20
    if annotate:
        for (r, c), v in np.ndenumerate(A):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize="small",
                    color="black" if v > 0.5 else "white")
    ax.set_title(f"{type(model).__name__}: transition matrix")
    return ax
