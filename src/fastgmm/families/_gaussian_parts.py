"""mclust's view of a fitted Gaussian mixture's covariances: volume, shape and orientation per component."""

import numpy as np

from . import _gaussian, _mclust


class MclustPartsMixin:
    """``volumes_``, ``shapes_`` and ``orientations_`` of GaussianMixture, computed from ``covariances_``."""

    @property
    def volumes_(self):
        """Each component's volume lambda_k = det(Sigma_k)^(1/D), (n_components,)."""
        return self._decomposed()[0]

    @property
    def shapes_(self):
        """Each component's shape: the diagonal of A_k (determinant 1), (n_components, n_features)."""
        return self._decomposed()[1]

    @property
    def orientations_(self):
        """Each component's orientation D_k, eigenvectors as columns in the order of ``shapes_``.

        (n_components, n_features, n_features); the identity for the
        diagonal and spherical models (their shapes follow the features).
        """
        return self._decomposed()[2]

    def _decomposed(self):
        self._check_is_fitted()
        K, D = self.means_.shape
        cov = _gaussian.remove_reg(np.asarray(self.covariances_, dtype=np.float64), self.reg_covar, self._layout)
        parts = _mclust.decompose(self.covariance_type, cov, n_features=D, n_components=K)
        volumes = np.broadcast_to(parts["scale"], (K,)).copy()
        shapes = np.broadcast_to(parts["shape"], (K, D)).copy()
        orient = np.broadcast_to(np.eye(D) if parts["orientation"] is None else parts["orientation"], (K, D, D))
        return volumes, shapes, orient.copy()
