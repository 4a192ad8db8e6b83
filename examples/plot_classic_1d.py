"""
Two Gaussians in one dimension: the latent component of each point
===================================================================

12,000 points from two Gaussians with means 20 and 40 and standard deviation 5
(4,000 and 8,000 of them). Fitting a two-component mixture recovers the two
populations, and ``predict`` gives the latent component of each point.

Started as many tutorials write it, with ``init_params="random"``, EM ends with
both components merged at the overall mean: random responsibilities give every
component the same starting mean, and EM cannot break that symmetry. fastgmm
warns about it (a ConvergenceWarning saying that two components are nearly
identical). The default k-means start separates them.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

from fastgmm import ConvergenceWarning, GaussianMixture, plot

# The sizes stay as they are with FASTGMM_EXAMPLES_SMALL: the fits take
# milliseconds, and the merged fit shown below depends on them.
n1, n2 = 4000, 8000
rng = np.random.default_rng(1)
# the first n1 points come from component "20", the last n2 from component "40"
x = np.concatenate([rng.normal(20, 5, n1), rng.normal(40, 5, n2)]).reshape(-1, 1)

# %%
# The call as tutorials write it: random initial responsibilities
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", ConvergenceWarning)
    merged = GaussianMixture(n_components=2, init_params="random", random_state=0).fit(x)
print("init_params='random': means", merged.means_.ravel(), "weights", merged.weights_)
for w in caught:
    print("warning:", w.message)

# %%
# The call that works: the default k-means initialisation
gm = GaussianMixture(n_components=2, random_state=0).fit(x)
print("init_params='kmeans': means", gm.means_.ravel(), "sd", np.sqrt(gm.covariances_.ravel()),
      "weights", gm.weights_)

# The latent component of the first and the last 80 points
print("first 80:", gm.predict(x[:80]))
print("last 80: ", gm.predict(x[-80:]))

# %%
# The histogram with the fitted density and its two weighted components
ax = plot.density_1d(gm, x)
ax.set_title("4,000 points around 20 and 8,000 around 40")
plt.show()
