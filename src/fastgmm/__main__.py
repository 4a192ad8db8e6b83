"""``python -m fastgmm``: the fastgmm command line (``fastgmm._cli``; ``python -m fastgmm --help``)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
