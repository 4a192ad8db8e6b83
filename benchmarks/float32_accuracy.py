"""float32 accuracy of the installed fastgmm: components far apart.

Three tight components (sigma 1) drawn SEP sigma apart, fitted in float32
from the true parameters. For every covariance type, prints the mean
absolute error of ``score_samples`` against the exact float64 log-density of
the *same* (float32) model, the largest error of ``predict_proba``, and the
relative error of ``score`` (the mean log-likelihood, what the lower bound
is). scikit-learn's float32 fit of the same data is shown for comparison when
it is installed.

Run: python benchmarks/float32_accuracy.py [--n 30000] [--sep 1e3 1e4]
"""

import argparse

import numpy as np
from scipy.special import logsumexp

import fastgmm
import _paths  # noqa: F401 (tests/ on the path: the NumPy references)
import _reference as ref

COV_TYPES = ("full", "tied", "diag", "spherical")


def data(n, sep, D=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.arange(3)[:, None] * np.r_[sep, np.zeros(D - 1)]
    y = rng.integers(3, size=n)
    X = centres[y] + rng.normal(size=(n, D))
    return X.astype(np.float32), centres


def errors(model, X):
    wlp = ref.estimate_weighted_log_prob(
        X.astype(np.float64), model.weights_.astype(np.float64), model.means_.astype(np.float64),
        model.precisions_cholesky_.astype(np.float64), model.covariance_type)
    exact = logsumexp(wlp, axis=1)
    ll = model.score_samples(X).astype(np.float64)
    resp = np.exp(wlp - exact[:, None])
    return (float(np.mean(np.abs(ll - exact))),
            float(np.max(np.abs(model.predict_proba(X).astype(np.float64) - resp))),
            float(abs(model.score(X) - exact.mean()) / abs(exact.mean())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30000)
    ap.add_argument("--sep", type=float, nargs="+", default=[1e3, 1e4])
    args = ap.parse_args()
    try:
        from sklearn.mixture import GaussianMixture as SkGM
    except ImportError:
        SkGM = None
    print(f"fastgmm {fastgmm.__version__} from {fastgmm.__file__}")
    print("| sep (sigma) | covariance | fastgmm mean abs log-density error (nats) | fastgmm max predict_proba error "
          "| fastgmm score rel. error | sklearn mean abs log-density error |")
    print("|---|---|---|---|---|---|")
    for sep in args.sep:
        X, centres = data(args.n, sep)
        D = X.shape[1]
        for cov_type in COV_TYPES:
            prec = {"full": np.array([np.eye(D)] * 3), "tied": np.eye(D), "diag": np.ones((3, D)),
                    "spherical": np.ones(3)}[cov_type]
            kw = dict(n_components=3, covariance_type=cov_type, weights_init=np.full(3, 1 / 3),
                      means_init=centres, precisions_init=prec, tol=1e-6)
            ours = errors(fastgmm.GaussianMixture(**kw).fit(X), X)
            theirs = "–"
            if SkGM is not None:
                try:
                    theirs = f"{errors(SkGM(**kw).fit(X), X)[0]:.2g}"
                except Exception as e:  # noqa: BLE001 (report whatever scikit-learn raised)
                    theirs = f"fails: {type(e).__name__}"
            print(f"| {sep:g} | {cov_type} | {ours[0]:.2g} | {ours[1]:.2g} | {ours[2]:.2g} | {theirs} |")


if __name__ == "__main__":
    main()
