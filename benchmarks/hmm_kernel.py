"""Time the compiled HMM forward-backward (fastgmm.kernels._hmm) against hmmlearn 0.3's C++ (_hmmc).

Per frame, one E-step's worth of recursion on given emission log-densities (the emissions themselves are
not timed): fastgmm's ``forward_backward`` with the posteriors and the xi / gamma_0 sums, at 1 and 2
threads, default (scaled) and ``log_space=True``, with a ``Workspace`` kept across calls as a fit keeps it
across its iterations; hmmlearn's scaled path (exp of the emissions, forward,
backward, xi sum, posteriors normalised in NumPy, one sequence at a time, as its ``_fit_scaling`` does) and
its log path (forward_log, backward_log, compute_log_xi_sum, posteriors). A and B are interleaved and
the best of ``--repeats`` is printed. A quick aid, not the benchmark protocol: run it alone on the machine
for numbers to quote.

    python benchmarks/hmm_kernel.py                 # (a) 1 x 1,000,000 frames, K = 8; (b) 10,000 x 100, K = 4;
                                                    # (c) 1,000 x 1,000, K = 8
    python benchmarks/hmm_kernel.py --repeats 5 --no-hmmlearn-log
"""

import argparse
import time

import numpy as np

from fastgmm.kernels import _hmm


def _case(rng, n_seq, length, K):
    lengths = np.full(n_seq, length)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    logp = 4.0 * rng.normal(size=(starts[-1], K)) - 10.0
    A = rng.dirichlet(np.ones(K), size=K) + 0.5 * np.eye(K)
    A /= A.sum(axis=1, keepdims=True)
    sp = rng.dirichlet(np.ones(K))
    return logp, starts, sp, A


def _fastgmm(logp, starts, sp, A, n_threads, log_space, buf, workspace):
    K = logp.shape[1]
    np.copyto(buf, logp)
    ll, xi, st = np.empty(len(starts) - 1), np.empty((K, K)), np.empty(K)
    t0 = time.perf_counter()
    _hmm.forward_backward(buf, starts, np.log(sp), np.log(A), None, ll, xi, st, n_threads, log_space,
                          workspace=workspace)
    return time.perf_counter() - t0, ll.sum()


def _hmmlearn(logp, starts, sp, A, log):
    from hmmlearn import _hmmc
    t0 = time.perf_counter()
    total, xi_sum = 0.0, np.zeros((len(sp), len(sp)))
    for a, b in zip(starts[:-1], starts[1:]):
        x = logp[a:b]
        if log:
            ll, fwd = _hmmc.forward_log(sp, A, x)
            bwd = _hmmc.backward_log(sp, A, x)
            xi_sum += np.exp(_hmmc.compute_log_xi_sum(fwd, A, bwd, x))
            post = fwd + bwd
            post -= post.max(axis=1, keepdims=True)
            post = np.exp(post)
        else:
            fp = np.exp(x)
            ll, fwd, scale = _hmmc.forward_scaling(sp, A, fp)
            bwd = _hmmc.backward_scaling(sp, A, fp, scale)
            xi_sum += _hmmc.compute_scaling_xi_sum(fwd, A, bwd, fp)
            post = fwd * bwd
        post /= post.sum(axis=1, keepdims=True)
        total += ll
    return time.perf_counter() - t0, total


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-hmmlearn-log", action="store_true", help="skip hmmlearn's (slow) log implementation")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    for name, (n_seq, length, K) in {"(a) 1 x 1,000,000, K=8": (1, 1_000_000, 8),
                                     "(b) 10,000 x 100, K=4": (10_000, 100, 4),
                                     "(c) 1,000 x 1,000, K=8": (1_000, 1_000, 8)}.items():
        logp, starts, sp, A = _case(rng, n_seq, length, K)
        N = starts[-1]
        buf = np.empty_like(logp)
        ws = _hmm.Workspace()    # kept across calls, as a fit keeps it across its iterations
        runs = {"fastgmm scaled, 1 thread": lambda: _fastgmm(logp, starts, sp, A, 1, False, buf, ws),
                "fastgmm scaled, 2 threads": lambda: _fastgmm(logp, starts, sp, A, 2, False, buf, ws),
                "fastgmm log_space, 1 thread": lambda: _fastgmm(logp, starts, sp, A, 1, True, buf, ws),
                "fastgmm log_space, 2 threads": lambda: _fastgmm(logp, starts, sp, A, 2, True, buf, ws),
                "hmmlearn _hmmc scaling": lambda: _hmmlearn(logp, starts, sp, A, False)}
        if not args.no_hmmlearn_log:
            runs["hmmlearn _hmmc log"] = lambda: _hmmlearn(logp, starts, sp, A, True)
        best, lls = {k: np.inf for k in runs}, {}
        for _ in range(args.repeats):
            for k, f in runs.items():
                t, lls[k] = f()
                best[k] = min(best[k], t)
        ref = best["hmmlearn _hmmc scaling"]
        print(f"{name}: N = {N}, ns per frame (best of {args.repeats}), speed-up over hmmlearn scaling")
        for k in runs:
            print(f"  {k:32s} {1e9 * best[k] / N:9.1f} ns   x{ref / best[k]:6.1f}   ll {lls[k]:.10e}")


if __name__ == "__main__":
    main()
