"""The command line's argument types (counts, floats, thread counts, component lists, covariance types) and its
one error for a user's mistake, ``UserError``."""

import argparse

import numpy as np

from ..families._mclust import MODELS as MCLUST_MODELS

# ----------------------------------------------------------------------
# argument types
# ----------------------------------------------------------------------
COV_TYPES = ("full", "tied", "diag", "spherical")
#: GaussianMixture's covariance_type values: scikit-learn's four and mclust's fourteen models.
MODEL_NAMES = COV_TYPES + MCLUST_MODELS
NAN_POLICIES = ("raise", "omit", "marginalize")


class UserError(Exception):
    """A mistake in the command's input: reported in one line, no traceback."""


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _finite_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _threads(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("0 threads: use a positive count, or -1 for every core")
    return value


def parse_components(text):
    """'3', '1-10', '1,2,5' or '2-4,8' as a sorted list of ints >= 1."""
    ks = set()
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            lo = int(lo)
            hi = int(hi) if sep else lo
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid number of components {text!r}: use e.g. 3, 1-10 or 1,2,5") from None
        if lo < 1 or hi < lo:
            raise argparse.ArgumentTypeError(
                f"invalid number of components {text!r}: every K must be >= 1 and a range low-high ascending")
        ks.update(range(lo, hi + 1))
    return sorted(ks)


def _single_component(text):
    ks = parse_components(text)
    if len(ks) != 1:
        raise argparse.ArgumentTypeError(f"fit takes one K, got {text!r} (use 'fastgmm select' to compare several)")
    return ks[0]


def _cov_types(text):
    """Comma-separated covariance types; "mclust" stands for mclust's fourteen models."""
    cts = []
    for t in (t.strip() for t in text.split(",")):
        cts.extend(MCLUST_MODELS if t == "mclust" else [t] if t else [])
    bad = [t for t in cts if t not in MODEL_NAMES]
    if bad or not cts:
        raise argparse.ArgumentTypeError(f"invalid covariance type(s) {bad or text!r}: choose from "
                                         f"{', '.join(MODEL_NAMES)}, or mclust (its fourteen models)")
    return list(dict.fromkeys(cts))
