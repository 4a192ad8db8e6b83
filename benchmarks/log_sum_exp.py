"""Time the E-step's log-sum-exp (``fastgmm_normalise_d``): its portable version against the AVX-512 one.

Both versions give the same bits (tests/test_fastexp.py); this measures what
the AVX-512 one (rows in vector lanes, the exp's table read by register
permutes, _rowops.h / _fastexp.h) saves per (row, component), in one process,
interleaved, on a block of weighted log-densities shaped like a W4 chunk's
(K rows of ``n`` values, feature-major), so that both see the same cache state.
Each timing is the best of ``--repeats`` calls of ``--calls`` blocks; the
Python call overhead (~1 us) is included in both.

Usage::

    python benchmarks/log_sum_exp.py                    # K=16, n=112 (a W4 chunk), 2000 x 200 calls
    python benchmarks/log_sum_exp.py --k 8 --n 4096

On a CPU without AVX-512 both rows time the portable version. Machines here
are shared: compare the two rows of one run.
"""

import argparse
import time

import numpy as np

from fastgmm.kernels import _estep


def main(argv=None):
    """Parse the options, time both versions interleaved, print ns per (row, component)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--k", type=int, default=16, help="components (rows of the block)")
    p.add_argument("--n", type=int, default=112, help="rows of X in the block (its columns)")
    p.add_argument("--calls", type=int, default=200, help="calls per timing")
    p.add_argument("--repeats", type=int, default=2000, help="timings; the best is kept")
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    block = -rng.uniform(0, 60, (args.k, args.n))       # lp - max of a typical chunk: -60 .. 0 nats
    work = block.copy()
    best = {False: np.inf, True: np.inf}
    for _ in range(args.repeats):
        for portable in (False, True):
            t0 = time.perf_counter()
            for _ in range(args.calls):
                work[...] = block
                _estep._log_sum_exp(work, None, None, portable=portable)
            best[portable] = min(best[portable], time.perf_counter() - t0)
    per = args.calls * args.k * args.n
    print(f"K={args.k} n={args.n}; AVX-512 version on this CPU: {_estep._have_x8()}; "
          f"best of {args.repeats} x {args.calls} calls, ns per (row, component), block copy included")
    print(f"  default : {best[False] / per * 1e9:.3f}")
    print(f"  portable: {best[True] / per * 1e9:.3f}")


if __name__ == "__main__":
    main()
