"""
Two Gaussians with weights 0.3 and 0.7
======================================

Points drawn from ``0.3 N(0, 1) + 0.7 N(5, 1)``; the fitted ``weights_``,
``means_`` and ``covariances_`` come back close to those values.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from fastgmm import GaussianMixture, plot

small = os.environ.get("FASTGMM_EXAMPLES_SMALL") == "1"
n = 1000 if small else 10_000
rng = np.random.default_rng(0)
which = rng.random(n) < 0.3
x = np.where(which, rng.normal(0, 1, n), rng.normal(5, 1, n)).reshape(-1, 1)

gm = GaussianMixture(n_components=2, random_state=0).fit(x)
order = np.argsort(gm.means_.ravel())   # components in the order of their means
print("means_:      ", gm.means_.ravel()[order])
print("covariances_:", gm.covariances_.ravel()[order])
print("weights_:    ", gm.weights_[order])

# %%
ax = plot.density_1d(gm, x)
ax.set_title("0.3 N(0, 1) + 0.7 N(5, 1)")
plt.show()
