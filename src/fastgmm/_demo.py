"""The demo behind ``python -m fastgmm demo``: fit a known mixture, show what came back."""

import time

import numpy as np
from scipy.optimize import linear_sum_assignment

from .datasets import make_mixture


def run(n_samples=300_000, n_features=8, n_components=6, seed=0, compare=True, file=None):
    """Fit fastgmm on generated data and print the recovered parameters and timings."""
    import fastgmm

    def say(*a):
        print(*a, file=file)

    info = fastgmm.build_info()
    say(f"fastgmm {info['version']}: OpenMP {'on' if info['openmp'] else 'OFF'}, "
        f"{info['max_threads']} threads")
    X, _, truth = make_mixture(n_samples, n_features, n_components, "full", random_state=seed)
    say(f"data: {n_samples:,} points, {n_features} features, drawn from {n_components} Gaussians "
        f"(full covariances), {X.nbytes / 1e6:.0f} MB")

    # Several k-means starts: one start can settle in a local optimum, as in scikit-learn.
    gm = fastgmm.GaussianMixture(n_components, covariance_type="full", random_state=seed, tol=1e-4, n_init=3)
    t0 = time.perf_counter()
    gm.fit(X)
    t_fit = time.perf_counter() - t0
    say(f"fastgmm fit (3 k-means starts + EM): {t_fit:.2f} s, best run {gm.n_iter_} EM iterations, "
        f"converged={gm.converged_}, mean log-likelihood {gm.lower_bound_:.4f}")

    # Match fitted components to the true ones and show the worst errors.
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

    if not compare:
        return gm
    try:
        from sklearn.mixture import GaussianMixture as SkGM
    except ImportError:
        say("(install scikit-learn to see the same fit timed against it)")
        return gm
    import warnings

    init = dict(weights_init=gm.weights_, means_init=gm.means_, precisions_init=gm.precisions_,
                max_iter=10, tol=0.0)
    timings = {}
    models = {}
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
    say(f"10 EM iterations from the same start: fastgmm {timings['fastgmm']:.2f} s, "
        f"scikit-learn {timings['scikit-learn']:.2f} s "
        f"({timings['scikit-learn'] / timings['fastgmm']:.1f}x); lower bounds agree to {rel:.1e} (relative)")
    return gm
