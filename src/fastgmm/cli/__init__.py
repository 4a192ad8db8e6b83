"""The command line (``python -m fastgmm``, ``fastgmm``): fit, predict, info, select, demo, bench."""
