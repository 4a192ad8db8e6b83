"""fastgmm command line.

``python -m fastgmm demo`` (or ``fastgmm demo``) fits a mixture on generated data;
``python -m fastgmm config`` prints how this build was made.
"""

import argparse
import sys


def _cmd_config(args):
    from . import show_config

    show_config()
    return 0


def _cmd_demo(args):
    from ._demo import run

    run(n_samples=args.n_samples, n_features=args.n_features, n_components=args.n_components,
        seed=args.seed, compare=not args.no_compare)
    return 0


def main(argv=None):
    """Entry point of the ``fastgmm`` command."""
    parser = argparse.ArgumentParser(prog="fastgmm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("config", help="print how fastgmm was built (OpenMP, threads, BLAS)")
    p.set_defaults(func=_cmd_config)
    p = sub.add_parser("demo", help="fit a mixture on generated data and report it")
    p.add_argument("--n-samples", type=int, default=300_000)
    p.add_argument("--n-features", type=int, default=8)
    p.add_argument("--n-components", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-compare", action="store_true", help="skip the scikit-learn comparison")
    p.set_defaults(func=_cmd_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
