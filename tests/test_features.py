"""The kernel's feature rows f = [1, z, q(z)] (src/fastgmm/kernels/_rowops.h) against NumPy.

With given responsibilities R the statistics pass returns G = R^T F, so a
one-hot R (row i alone in component i) gives back F itself, row by row.
Covers every feature code that the rows of X go through, in both loop forms
of the C code (D < 8: per-feature loops over the chunk; D >= 8: per-row
loops with the next chunk's rows prefetched), chunk boundaries, and float32
input (z formed in float64 from the float32 values).
"""

import numpy as np
import pytest

from fastgmm.families._gaussian import full_pairs
from fastgmm.kernels import _driver, _estep

CODES = {"full": _estep.QFULL, "diag": _estep.QDIAG, "spherical": _estep.QSPHERICAL,
         "tied": _estep.QTIED, "linear": _estep.QLINEAR}


def _numpy_features(X, shift, code):
    z = X.astype(np.float64) - shift
    if code == "full":
        i, j = full_pairs(X.shape[1])
        q = z[:, i] * z[:, j]
    elif code == "diag":
        q = z * z
    elif code == "spherical":
        q = np.sum(z * z, axis=1, keepdims=True)
    elif code == "tied":
        q = np.zeros((len(X), 1))  # |z U|^2 is only formed by the E-step modes
    else:
        q = np.zeros((len(X), 0))
    return np.hstack([np.ones((len(X), 1)), z, q])


def _kernel_features(X, shift, code, chunk_rows):
    N = len(X)
    G, _, _ = _driver.accumulate(X, CODES[code], N, shift, 2, mode=_driver.RESP_GIVEN, resp=np.eye(N),
                                 chunk_rows=chunk_rows, slot_rows=4 * chunk_rows)
    return G


@pytest.mark.parametrize("code", sorted(CODES))
@pytest.mark.parametrize("D", [3, 8, 11, 16, 20])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_feature_rows_match_numpy(code, D, dtype):
    rng = np.random.default_rng(D)
    X = rng.normal(2.0, 3.0, (150, D)).astype(dtype)
    shift = rng.normal(size=D)
    expected = _numpy_features(X, shift, code)
    np.testing.assert_allclose(_kernel_features(X, shift, code, 32), expected, rtol=1e-13, atol=1e-13)
