"""The compiled kernels (one E-step/statistics slot loop for every family, k-means) and their drivers."""
