"""Data sets for examples and tests: Old Faithful, and mixtures drawn from known parameters.

``load_faithful`` returns the Old Faithful geyser eruptions shipped with the
package (no download); ``make_mixture`` draws rows from a random Gaussian
mixture and returns the parameters it drew them from.
"""

from ._bunch import Bunch
from ._faithful import load_faithful
from ._mixture import make_mixture

__all__ = ["Bunch", "load_faithful", "make_mixture"]
