"""
Regime switching: choosing the number of states, with missing days
===================================================================

Daily returns of three assets drawn from a market that switches between a calm,
a nervous and a crisis regime (different means, volatilities and correlations;
regimes last weeks). Several independent histories are fitted together
(``lengths``), the number of states is chosen by BIC over a range (each from
three starts), and 3 % of
the values are missing: with ``nan_policy="marginalize"`` each day's emission
is the density of what was observed (exact EM, no imputation).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from fastgmm import hmm

small = os.environ.get("FASTGMM_EXAMPLES_SMALL") == "1"
rng = np.random.default_rng(7)

truth = hmm.GaussianHMM(n_components=3, covariance_type="full")
truth.startprob_ = np.array([0.8, 0.15, 0.05])
truth.transmat_ = np.array([[0.985, 0.012, 0.003],
                            [0.030, 0.950, 0.020],
                            [0.010, 0.040, 0.950]])
truth.means_ = np.array([[0.05, 0.04, 0.03], [0.0, -0.02, 0.01], [-0.30, -0.25, -0.20]])
vol = np.array([0.6, 1.2, 3.0])
corr = np.array([0.2, 0.5, 0.9])
truth.covars_ = np.array([v ** 2 * ((1 - c) * np.eye(3) + c) for v, c in zip(vol, corr)])

lengths = [500] * (4 if small else 20)              # 20 histories of 500 days
parts = [truth.sample(n, random_state=int(rng.integers(1 << 31))) for n in lengths]
X = np.vstack([p[0] for p in parts])
regime = np.concatenate([p[1] for p in parts])
X[rng.random(X.shape) < 0.03] = np.nan              # 3 % of the values missing at random

# Choosing the number of states: for each k the best of three starts (EM finds a local optimum: here two
# of the three starts of the 3-state model end far below the third), then the lowest BIC.
table = {}
for k in range(1, 6):
    fits = [hmm.GaussianHMM(k, "full", n_iter=200, tol=1e-4, random_state=s, nan_policy="marginalize").fit(X, lengths)
            for s in range(3)]
    m = max(fits, key=lambda f: f.score(X, lengths))
    table[k] = (m, m.bic(X, lengths))
    print(f"{k} states: BIC {table[k][1]:10.1f}")
best_k = min(table, key=lambda k: table[k][1])
model = table[best_k][0]
print("chosen:", best_k, "states")

states = model.predict(X, lengths)
# match fitted states to the true regimes by their volatility
vols = np.sqrt(np.trace(model.covars_, axis1=1, axis2=2) / 3)
rank = np.argsort(np.argsort(vols))
print(f"days in the right regime: {np.mean(rank[states] == regime):.3f}")

# %%
n = lengths[0]
fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
price = np.nancumsum(X[:n, 0])
ax0.plot(price, color="k", lw=0.8)
ax0.set_ylabel("asset 1, cumulated return")
colours = ["tab:green", "tab:orange", "tab:red", "tab:purple", "tab:brown"]
for s in range(model.n_components):
    on = rank[states[:n]] == s
    ax1.fill_between(np.arange(n), 0, 1, where=on, color=colours[s], step="mid",
                     label=f"state, volatility {np.sort(vols)[s]:.1f}")
ax1.plot(regime[:n] / 2, color="k", lw=0.8, label="true regime (0, 1/2, 1)")
ax1.set_yticks([])
ax1.set_xlabel("day")
ax1.legend(fontsize=7, loc="upper right")
ax0.set_title(f"first history: the {best_k}-state model's Viterbi path")
plt.show()
