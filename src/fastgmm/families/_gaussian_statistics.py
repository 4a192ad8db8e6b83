"""Additive sufficient statistics of a Gaussian mixture over a block of rows.

Everything a Gaussian M-step needs from the data is a sum over rows, so the
statistics of disjoint blocks (chunks, files, Dask blocks, mini-batches) add
up: that is the whole story of out-of-core, distributed and online EM. They
are kept about a centre ``c`` (moments of z = x - c) because moments about the
origin lose every digit to cancellation for data far from it.
"""

from dataclasses import dataclass, field

import numpy as np

_FIELDS = ("nk", "s1", "s2", "loglik", "weight", "n_samples", "centre")


@dataclass
class Statistics:
    """Sufficient statistics about one centre.

    Attributes
    ----------
    cov_type : {'full', 'tied', 'diag', 'spherical'}
    nk : ndarray (K,)
        sum_i w_i r_ik.
    s1 : ndarray (K, D)
        sum_i w_i r_ik z_i with z_i = x_i - centre.
    s2 : ndarray
        full: (K, D, D) sum_i w_i r_ik z_i z_i^T; diag: (K, D) its diagonal;
        spherical: (K,) its trace; tied: (D, D) sum_i w_i z_i z_i^T (every
        row, whatever its responsibilities, as scikit-learn's tied M-step).
    loglik : float
        sum_i w_i log p(x_i) under the parameters of the E-step (0 when the
        responsibilities were given rather than computed).
    weight : float
        sum_i w_i (the number of rows when unweighted).
    n_samples : int
        Number of rows (of any weight) summed.
    centre : ndarray (D,)
    """

    cov_type: str
    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    loglik: float
    weight: float
    n_samples: int
    centre: np.ndarray = field(repr=False)

    def copy(self):
        return Statistics(self.cov_type, self.nk.copy(), self.s1.copy(), self.s2.copy(), self.loglik,
                          self.weight, self.n_samples, self.centre.copy())

    def __add__(self, other):
        out = self.copy()
        out += other
        return out

    def __iadd__(self, other):
        if not isinstance(other, Statistics):
            return NotImplemented
        if other.cov_type != self.cov_type or other.s1.shape != self.s1.shape:
            raise ValueError("statistics of different models do not add")
        if not np.array_equal(other.centre, self.centre):
            other = other.recentred(self.centre)
        self.nk += other.nk
        self.s1 += other.s1
        self.s2 += other.s2
        self.loglik += other.loglik
        self.weight += other.weight
        self.n_samples += other.n_samples
        return self

    def scaled(self, factor):
        """The statistics with every sum multiplied by ``factor`` (online EM's step).

        ``n_samples`` is a count of rows and is kept.
        """
        f = float(factor)
        return Statistics(self.cov_type, self.nk * f, self.s1 * f, self.s2 * f, self.loglik * f,
                          self.weight * f, self.n_samples, self.centre.copy())

    def recentred(self, centre):
        """The same statistics about another centre (exact algebra, no data pass).

        With delta = new - old, z' = z - delta: s1' = s1 - nk delta and
        s2' = s2 - s1 delta^T - delta s1^T + nk delta delta^T (per component;
        tied: with the row sums sum_k s1_k and sum_k nk, which is exact when
        each row's responsibilities sum to 1, as an E-step's do).
        """
        centre = np.asarray(centre, dtype=np.float64)
        delta = centre - self.centre
        nk, s1, s2 = self.nk, self.s1, self.s2
        s1n = s1 - nk[:, None] * delta[None, :]
        if self.cov_type == "full":
            cross = s1[:, :, None] * delta[None, None, :]
            s2n = s2 - cross - cross.transpose(0, 2, 1) + nk[:, None, None] * np.outer(delta, delta)[None]
        elif self.cov_type == "diag":
            s2n = s2 - 2 * s1 * delta + nk[:, None] * delta * delta
        elif self.cov_type == "spherical":
            s2n = s2 - 2 * s1 @ delta + nk * (delta @ delta)
        else:
            m = s1.sum(axis=0)
            cross = np.outer(m, delta)
            s2n = s2 - cross - cross.T + nk.sum() * np.outer(delta, delta)
        return Statistics(self.cov_type, nk.copy(), s1n, s2n, self.loglik, self.weight, self.n_samples,
                          centre.copy())

    def to_dict(self):
        """Plain dict of arrays and numbers (for Dask transfers and saving)."""
        d = {name: getattr(self, name) for name in _FIELDS}
        d["cov_type"] = self.cov_type
        return d

    @classmethod
    def from_dict(cls, d):
        return cls(d["cov_type"], *(np.asarray(d[n], dtype=np.float64) if n in ("nk", "s1", "s2", "centre")
                                    else d[n] for n in _FIELDS))
