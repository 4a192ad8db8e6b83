"""Command line: ``python -m fastgmm demo`` (or ``fastgmm demo``), ``python -m fastgmm config``."""

import argparse
import sys


def _cmd_config(args):
    from . import show_config

    show_config()
    return 0


def main(argv=None):
    """Entry point of the ``fastgmm`` command."""
    parser = argparse.ArgumentParser(prog="fastgmm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("config", help="print how fastgmm was built (OpenMP, threads, BLAS)")
    p.set_defaults(func=_cmd_config)
    p = sub.add_parser("demo", help="fit a mixture on generated data and report it")
    p.set_defaults(func=_cmd_config)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
