"""The demo behind ``fastgmm demo``: choose a model for Old Faithful, then fit a million points."""

import importlib.util
import os
import time
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..datasets import load_faithful, make_mixture
from ._selection_table import format_results

DEFAULT_PLOTS_DIR = "fastgmm-demo-plots"


def have_matplotlib():
    """Whether matplotlib can be imported (checked without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


def write_plots(directory, faithful, selection, model):
    """The demo's figures as PNG files in ``directory`` (created); returns their paths.

    Drawn on bare matplotlib Figures (no pyplot, so no GUI backend and no
    global state is touched): the ellipses of the Old Faithful winner, the
    selection's criterion plot, and the lower bound per EM iteration of
    ``model``.
    """
    from matplotlib.figure import Figure

    from .. import plot

    os.makedirs(directory, exist_ok=True)
    best = selection.best_params_
    figures = (
        ("faithful_ellipses.png", lambda ax: plot.ellipses(selection.best_estimator_, faithful, ax=ax).set(
            xlabel="eruption duration (min)", ylabel="waiting time (min)"),
         f"Old Faithful: {best['covariance_type']} K={best['n_components']}"),
        ("faithful_selection.png", lambda ax: plot.selection(selection, ax=ax), "Old Faithful: model selection"),
        ("convergence.png", lambda ax: plot.convergence(model, ax=ax),
         f"EM on {model.n_features_in_}-feature generated data"),
    )
    paths = []
    for name, draw, title in figures:
        fig = Figure(figsize=(6, 4.5), layout="constrained")
        ax = fig.subplots()
        draw(ax)
        ax.set_title(title)
        path = os.path.join(directory, name)
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths


def run(n_samples=1_000_000, n_features=4, n_components=5, seed=0, compare=True, file=None, plots="auto"):
    """Print a model selection on Old Faithful and a timed fit on generated data.

    Parameters
    ----------
    n_samples, n_features, n_components : int
        Size of the generated mixture (rows >= components >= 1).
    seed : int
        Seed of the data and of every fit.
    compare : bool
        Also time scikit-learn's GaussianMixture on the same start (when it is installed).
    file : text stream, default=None (standard output)
    plots : "auto", path or None
        Directory to write the figures to (see :func:`write_plots`); "auto"
        writes them to ``fastgmm-demo-plots`` in the current directory when
        matplotlib is installed, None writes none.

    Returns
    -------
    GaussianMixture
        The model fitted on the generated data.
    """
    import fastgmm

    def say(*a):
        print(*a, file=file)

    info = fastgmm.build_info()
    say(f"fastgmm {info['version']}: OpenMP {'on' if info['openmp'] else 'OFF'}, "
        f"{info['max_threads']} threads")

    # 1. Model selection on the bundled data (mclust's choice is EEE = tied, K=3).
    X = faithful = load_faithful().data
    t0 = time.perf_counter()
    sel = fastgmm.GaussianMixtureSelection(n_components=range(1, 6), random_state=seed).fit(X)
    t_sel = time.perf_counter() - t0
    say(f"\nOld Faithful ({X.shape[0]} eruptions: duration, waiting time), every covariance type, K=1..5, "
        f"by BIC ({t_sel:.2f} s):")
    say(format_results(sel.results_, "bic"))
    best = sel.best_params_
    say(f"chosen: {best['covariance_type']} K={best['n_components']} (mclust chooses EEE, i.e. tied, K=3)")

    # 2. A generated mixture, fitted and timed.
    X, _, truth = make_mixture(n_samples, n_features, n_components, "full", random_state=seed)
    say(f"\ndata: {n_samples:,} points, {n_features} features, drawn from {n_components} Gaussians "
        f"(full covariances), {X.nbytes / 1e6:.0f} MB")
    gm = fastgmm.GaussianMixture(n_components, covariance_type="full", random_state=seed, tol=1e-4)
    t0 = time.perf_counter()
    gm.fit(X)
    t_fit = time.perf_counter() - t0
    say(f"fastgmm fit (k-means start + EM): {t_fit:.2f} s, {gm.n_iter_} EM iterations, "
        f"converged={gm.converged_}, mean log-likelihood {gm.lower_bound_:.4f}")
    # Match fitted components to the true ones and show the errors.
    cost = ((gm.means_[:, None, :] - truth["means"][None, :, :]) ** 2).sum(-1)
    fit_idx, true_idx = linear_sum_assignment(cost)
    say("component   true weight  fitted   |mean error|  max |cov error|")
    for f, t in zip(fit_idx, true_idx):
        say(f"  {t:>3}        {truth['weights'][t]:.4f}     {gm.weights_[f]:.4f}   "
            f"{np.linalg.norm(gm.means_[f] - truth['means'][t]):.4f}        "
            f"{np.abs(gm.covariances_[f] - truth['covariances'][t]).max():.4f}")
    labels = gm.predict(X)
    say(f"predict: {np.bincount(labels, minlength=n_components).tolist()} points per component; "
        f"BIC {gm.bic(X):.1f}")
    del labels

    if plots == "auto":
        plots = DEFAULT_PLOTS_DIR if have_matplotlib() else None
        if plots is None:
            say("(install matplotlib to get the demo's plots)")
    if plots is not None:
        paths = write_plots(plots, faithful, sel, gm)
        say(f"plots written to {os.path.abspath(plots)}: {', '.join(os.path.basename(p) for p in paths)}")

    if not compare:
        return gm
    try:
        from sklearn.mixture import GaussianMixture as SkGM
    except ImportError:
        say("(install scikit-learn to see the same fit timed against it)")
        return gm

    # Three iterations from the same start keep the demo to seconds; scikit-learn's
    # time per iteration is what grows with the data.
    n_iter = 3
    init = dict(weights_init=gm.weights_, means_init=gm.means_, precisions_init=gm.precisions_,
                max_iter=n_iter, tol=0.0)
    timings, models = {}, {}
    for name, cls in (("fastgmm", fastgmm.GaussianMixture), ("scikit-learn", SkGM)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = cls(n_components, covariance_type="full", **init)
            t0 = time.perf_counter()
            m.fit(X)
            timings[name] = time.perf_counter() - t0
            models[name] = m
    rel = abs(models["fastgmm"].lower_bound_ - models["scikit-learn"].lower_bound_) / abs(
        models["scikit-learn"].lower_bound_)
    say(f"{n_iter} EM iterations from the same start: fastgmm {timings['fastgmm']:.2f} s, "
        f"scikit-learn {timings['scikit-learn']:.2f} s "
        f"({timings['scikit-learn'] / timings['fastgmm']:.1f}x); lower bounds agree to {rel:.1e} (relative)")
    return gm
