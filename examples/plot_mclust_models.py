"""
mclust's fourteen covariance models
===================================

R's mclust parametrises each component's covariance by its eigen-decomposition
(Celeux & Govaert 1995), ``Sigma_k = lambda_k D_k A_k D_k^T``: a volume
``lambda_k``, a shape ``A_k`` (diagonal, determinant 1) and an orientation
``D_k``. Each of the three letters of a model's name says whether that part is
Equal for every component, Variable, or the Identity (shape and orientation
only). :class:`fastgmm.GaussianMixture` fits all fourteen; here each is fitted
with three components to the same data: three clusters of different sizes,
elongations and directions, so every constraint shows in the ellipses.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from fastgmm import GaussianMixture, plot
from fastgmm.families._mclust import MODELS

rng = np.random.default_rng(0)
small = os.environ.get("FASTGMM_EXAMPLES_SMALL") == "1"
n = 120 if small else 300


def cluster(mean, scales, angle, size):
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return mean + (rng.standard_normal((size, 2)) * scales) @ rot.T


X = np.vstack([cluster([0, 0], [2.0, 0.5], 0.3, n),
               cluster([6, 4], [0.6, 0.6], 0.0, n // 2),
               cluster([7, -3], [1.5, 0.35], -1.0, n)])

# %%
# One panel per model, with its BIC in mclust's sign (larger is better)
fig, axes = plt.subplots(2, 7, figsize=(21, 6.5), sharex=True, sharey=True)
for ax, model in zip(axes.ravel(), MODELS):
    gm = GaussianMixture(3, covariance_type=model, random_state=0, n_init=2).fit(X)
    plot.ellipses(gm, X, ax=ax, n_std=(1, 2), s=3)
    ax.set_title(f"{model}   BIC {-gm.bic(X):.0f}")
    ax.get_legend() and ax.get_legend().remove()
fig.tight_layout()
out = os.environ.get("FASTGMM_EXAMPLES_OUT")
if out:
    fig.savefig(os.path.join(out, "mclust_models.png"), dpi=70)
plt.show()
