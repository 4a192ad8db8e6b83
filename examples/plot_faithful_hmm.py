"""
Old Faithful as a sequence: a hidden Markov model
=================================================

The 272 eruptions of R's ``faithful`` data are consecutive, and a short eruption
is almost never followed by another short one. A Gaussian mixture ignores that
order; a two-state :class:`fastgmm.hmm.GaussianHMM` learns it in its transition
matrix and fits the data far better (its BIC counts the two extra transition
parameters). The plot shows the waiting times in eruption order, coloured by
the most probable state path (Viterbi).
"""

import matplotlib.pyplot as plt
import numpy as np

from fastgmm import GaussianMixture, hmm
from fastgmm.datasets import load_faithful

X = load_faithful().data            # (272, 2): eruption minutes, waiting minutes, in time order

model = hmm.GaussianHMM(n_components=2, covariance_type="full", n_iter=200, tol=1e-6, random_state=0).fit(X)
mixture = GaussianMixture(n_components=2, covariance_type="full", random_state=0).fit(X)

short = int(np.argmin(model.means_[:, 0]))       # the state of short eruptions
order = [short, 1 - short]
print("state means (eruption, waiting):\n", model.means_[order].round(2))
print("transition matrix (short, long):\n", model.transmat_[np.ix_(order, order)].round(3))
print(f"P(short -> short) = {model.transmat_[short, short]:.3f}")
# Both BICs are -2 log L + (free parameters) log N, lower is better.
print(f"BIC: hidden Markov model {model.bic(X):.1f}, mixture {mixture.bic(X):.1f}")

states = model.predict(X)
# %%
fig, ax = plt.subplots(figsize=(9, 3))
t = np.arange(len(X))
ax.plot(t, X[:, 1], color="0.7", lw=0.8, zorder=1)
for s, name, colour in [(short, "short eruption state", "tab:orange"), (1 - short, "long eruption state", "tab:blue")]:
    ax.scatter(t[states == s], X[states == s, 1], s=12, color=colour, label=name, zorder=2)
ax.set_xlabel("eruption number")
ax.set_ylabel("waiting time (min)")
ax.set_title("Old Faithful: Viterbi states of a 2-state Gaussian HMM")
ax.legend(loc="lower right", fontsize=8)
plt.show()
