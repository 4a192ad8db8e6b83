"""Plain NumPy references for the HMM kernels (fastgmm.kernels._hmm), written to be obviously right, not fast.

- `forward_backward`: the textbook log-space recursions with scipy's logsumexp, one sequence at a time;
- `enumerate_paths`: every one of the K^T state paths of a tiny sequence, scored one by one (the definition
  of the likelihood, the posteriors, the expected transitions and the most probable path);
- `collapse_mixture` / `expand_posteriors`: the GMM-HMM's per-state log-sum-exp and sub-component split.
"""

import itertools

import numpy as np
from scipy.special import logsumexp


def _sequence(logp, lsp, lA):
    """Log alpha, log beta and log p(x) of one sequence of T >= 1 frames."""
    T, K = logp.shape
    la = np.empty((T, K))
    lb = np.zeros((T, K))
    la[0] = lsp + logp[0]
    for t in range(1, T):
        # la[t, j] = log sum_i alpha[t-1, i] A[i, j] p(x_t | j)
        la[t] = logsumexp(la[t - 1][:, None] + lA, axis=0) + logp[t]
    for t in range(T - 2, -1, -1):
        # lb[t, i] = log sum_j A[i, j] p(x_{t+1} | j) beta[t+1, j]
        lb[t] = logsumexp(lA + (logp[t + 1] + lb[t + 1])[None, :], axis=1)
    return la, lb, logsumexp(la[-1])


def forward_backward(logp, starts, log_startprob, log_transmat, seq_weight=None):
    """(gamma (N, K), seq_ll (S,), xi_sum (K, K), start_sum (K,)) as fastgmm.kernels._hmm.forward_backward."""
    logp = np.asarray(logp, dtype=float)
    N, K = logp.shape
    S = len(starts) - 1
    weight = np.ones(S) if seq_weight is None else np.asarray(seq_weight, dtype=float)
    gamma = np.zeros((N, K))
    seq_ll = np.zeros(S)
    xi_sum = np.zeros((K, K))
    start_sum = np.zeros(K)
    for s in range(S):
        a, b = starts[s], starts[s + 1]
        if a == b:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            la, lb, ll = _sequence(logp[a:b], log_startprob, log_transmat)
        seq_ll[s] = ll
        if ll == -np.inf:      # impossible: zero posteriors, no statistics
            continue
        gamma[a:b] = np.exp(la + lb - ll)
        start_sum += weight[s] * gamma[a]
        for t in range(b - a - 1):
            log_xi = la[t][:, None] + log_transmat + (logp[a + t + 1] + lb[t + 1])[None, :] - ll
            xi_sum += weight[s] * np.exp(log_xi)
    return gamma, seq_ll, xi_sum, start_sum


def _path_scores(logp, log_startprob, log_transmat):
    T, K = logp.shape
    paths = list(itertools.product(range(K), repeat=T))
    scores = np.empty(len(paths))
    for n, p in enumerate(paths):
        sc = log_startprob[p[0]] + logp[0, p[0]]
        for t in range(1, T):
            sc += log_transmat[p[t - 1], p[t]] + logp[t, p[t]]
        scores[n] = sc
    return paths, scores


def enumerate_paths(logp, log_startprob, log_transmat):
    """Brute force over all K^T paths of one sequence: (ll, gamma (T, K), xi_sum (K, K), best path, its score)."""
    T, K = logp.shape
    paths, scores = _path_scores(logp, log_startprob, log_transmat)
    ll = logsumexp(scores)
    prob = np.exp(scores - ll)
    gamma = np.zeros((T, K))
    xi = np.zeros((K, K))
    for p, q in zip(paths, prob):
        for t in range(T):
            gamma[t, p[t]] += q
        for t in range(1, T):
            xi[p[t - 1], p[t]] += q
    best = int(np.argmax(scores))
    return ll, gamma, xi, np.array(paths[best]), scores[best]


def collapse_mixture(logp_sub, M):
    N, KM = logp_sub.shape
    return logsumexp(logp_sub.reshape(N, KM // M, M), axis=2)


def expand_posteriors(gamma, logp_sub, M):
    N, KM = logp_sub.shape
    sub = logp_sub.reshape(N, KM // M, M)
    with np.errstate(invalid="ignore"):
        r = np.exp(sub - logsumexp(sub, axis=2, keepdims=True))
    r = np.where(np.isnan(r), 0.0, r)
    return (gamma[:, :, None] * r).reshape(N, KM)
