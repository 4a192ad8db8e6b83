"""
Unscaled tabular data with six components
=========================================

Columns of very different scales (a count in the thousands, a fraction, a
length in millimetres) need no standardisation: the full covariances take the
scales in. A six-component mixture fitted on a training part is scored on the
held-out part (mean log-likelihood per row, higher is better), against the
log-likelihood of the generating mixture.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from fastgmm import GaussianMixture, plot
from fastgmm.datasets import make_mixture

small = os.environ.get("FASTGMM_EXAMPLES_SMALL") == "1"
n = 3000 if small else 30_000
X, y, params = make_mixture(n, 3, 6, random_state=0)
scale = np.array([1000.0, 0.01, 25.0])   # three units
shift = np.array([5000.0, 0.5, 300.0])
X = X * scale + shift

rng = np.random.default_rng(0)
test = rng.random(n) < 0.2
gm = GaussianMixture(n_components=6, n_init=3, random_state=0).fit(X[~test])
print("held-out score (mean log-likelihood per row):", gm.score(X[test]))
print("training score:", gm.score(X[~test]))
print("BIC on the training rows:", gm.bic(X[~test]))

# The generating mixture in the same units: max_iter=0 only sets the given parameters
true_cov = params["covariances"] * np.outer(scale, scale)
truth = GaussianMixture(n_components=6, max_iter=0, weights_init=params["weights"],
                        means_init=params["means"] * scale + shift,
                        precisions_init=np.linalg.inv(true_cov)).fit(X[~test])
print("held-out score of the generating mixture:", truth.score(X[test]))

# %%
ax = plot.ellipses(gm, X[test], dims=(0, 2))
ax.set_xlabel("count")
ax.set_ylabel("length (mm)")
plt.show()
