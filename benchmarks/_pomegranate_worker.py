"""pomegranate's EM on one problem of benchmarks/discrete.py, in pomegranate's own interpreter.

Run by discrete.py as ``PYTHON _pomegranate_worker.py IN.npz OUT.npz`` with
the interpreter of a separate environment that has pomegranate (and torch);
fastgmm is not imported here. IN holds ``family``, ``X``, ``weights``,
``means`` (stacked (D, K, n) tables for categorical), ``iters`` and
``threads``; OUT gets ``seconds_per_iteration`` and the fitted ``means``.
pomegranate's M-step is maximum likelihood (no smoothing), so its parameters
agree with fastgmm's to the size of fastgmm's alpha, not to rounding.
"""

import sys
import time

import numpy as np
import torch
from pomegranate.distributions import Bernoulli, Categorical, Poisson
from pomegranate.gmm import GeneralMixtureModel


def main(path_in, path_out):
    data = np.load(path_in)
    family = str(data["family"])
    X, weights, means = data["X"], data["weights"], data["means"]
    iters, threads = int(data["iters"]), int(data["threads"])
    torch.set_num_threads(threads)
    K = len(weights)
    if family == "bernoulli":
        dists = [Bernoulli(probs=means[k]) for k in range(K)]
    elif family == "poisson":
        dists = [Poisson(lambdas=means[k]) for k in range(K)]
    else:
        dists = [Categorical(probs=means[:, k, :]) for k in range(K)]
        X = X.astype(np.int64)
    # tol=0: stop only if the log-likelihood went down; from a random start it rises for these few iterations
    model = GeneralMixtureModel(dists, priors=weights, max_iter=iters, tol=0.0)
    t = time.perf_counter()
    model.fit(torch.from_numpy(X))
    seconds = (time.perf_counter() - t) / iters
    if family == "bernoulli":
        fitted = np.array([d.probs.detach().numpy() for d in model.distributions])
    elif family == "poisson":
        fitted = np.array([d.lambdas.detach().numpy() for d in model.distributions])
    else:
        fitted = np.hstack([np.array([d.probs.detach().numpy()[j] for d in model.distributions])
                            for j in range(X.shape[1])])
    np.savez(path_out, seconds_per_iteration=seconds, means=fitted)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
