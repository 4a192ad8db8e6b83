"""Old Faithful geyser data (272 eruptions), shipped as ``data/faithful.csv``."""

from importlib import resources

import numpy as np

from ._bunch import Bunch

FEATURE_NAMES = ["eruptions", "waiting"]

DESCR = """\
Old Faithful geyser data
------------------------

272 eruptions of the Old Faithful geyser in Yellowstone National Park, Wyoming.

    eruptions : eruption time, in minutes (to 3 decimals; 67 of them to 0.1)
    waiting   : waiting time to the next eruption, in whole minutes (many ties)

Source: R's ``datasets::faithful``, from W. Haerdle (1991), Smoothing Techniques
with Implementation in S, Springer; after A. Azzalini and A. W. Bowman (1990),
"A look at some data on the Old Faithful geyser", Applied Statistics 39, 357-365.

The data are rounded, so values repeat (e.g. 14 eruptions had waiting = 83): a
mixture component can collapse onto a few tied values, where its likelihood grows
without bound. R's mclust picks a 3-component model with a common ("tied", EEE)
covariance for these data.
"""


def load_faithful(*, return_X_y=False, as_frame=False):
    """Load the Old Faithful geyser data (272 rows, 2 columns).

    Parameters
    ----------
    return_X_y : bool, default=False
        Return only the data (an ndarray, or a DataFrame when ``as_frame``)
        instead of a :class:`Bunch`. There is no target; as in scikit-learn's
        loaders, ``(data, None)`` is returned.
    as_frame : bool, default=False
        Also give the data as a pandas DataFrame (``frame``, and ``data`` is
        then that DataFrame). Needs pandas.

    Returns
    -------
    data : Bunch
        ``data`` (ndarray of shape (272, 2), float64: eruptions, waiting),
        ``feature_names``, ``frame`` (DataFrame, or None without
        ``as_frame``), ``DESCR`` (description and source).
    (data, target) : tuple
        With ``return_X_y=True``: the data and None.

    Raises
    ------
    ImportError
        With ``as_frame=True`` when pandas is not installed.

    Examples
    --------
    >>> from fastgmm.datasets import load_faithful
    >>> faithful = load_faithful()
    >>> faithful.data.shape
    (272, 2)
    """
    with resources.files(__package__).joinpath("data", "faithful.csv").open("r") as f:
        header = f.readline().strip().split(",")
        data = np.loadtxt(f, delimiter=",", dtype=np.float64)
    if header != FEATURE_NAMES or data.shape != (272, 2):
        raise RuntimeError(f"fastgmm's faithful.csv is damaged (header {header}, shape {data.shape}).")
    frame = None
    if as_frame:
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "load_faithful(as_frame=True) returns a pandas DataFrame and needs pandas: "
                "pip install pandas, or call load_faithful() for a NumPy array."
            ) from None
        frame = pd.DataFrame(data, columns=list(FEATURE_NAMES))
        data = frame
    if return_X_y:
        return data, None
    return Bunch(data=data, feature_names=list(FEATURE_NAMES), frame=frame, DESCR=DESCR)
