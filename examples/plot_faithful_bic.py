"""
Choosing the number of components on Old Faithful with BIC
==========================================================

:class:`fastgmm.GaussianMixtureSelection` fits every (covariance type, K) and
keeps the one with the smallest BIC among the non-degenerate fits. The BIC plot
has one line per covariance type, as mclust's; the chosen model is circled.
"""

import os

import matplotlib.pyplot as plt

from fastgmm import GaussianMixtureSelection, plot
from fastgmm.datasets import load_faithful

small = os.environ.get("FASTGMM_EXAMPLES_SMALL") == "1"
faithful = load_faithful()
X = faithful.data
ks = range(1, 4) if small else range(1, 8)

sel = GaussianMixtureSelection(n_components=ks, random_state=0).fit(X)
print("chosen:", sel.best_params_)

# %%
# BIC against K, one line per covariance type
plot.selection(sel)
plt.show()

# %%
# The chosen model, with its 1, 2 and 3 standard deviation ellipses
ax = plot.ellipses(sel.best_estimator_, X)
ax.set_xlabel(faithful.feature_names[0])
ax.set_ylabel(faithful.feature_names[1])
plt.show()
