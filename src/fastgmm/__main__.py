"""``python -m fastgmm``: the fastgmm command line (``fastgmm.cli._main``; ``python -m fastgmm --help``)."""

import sys

from .cli._main import main

if __name__ == "__main__":
    sys.exit(main())
