"""Shared utilities: parameter and array validation, the scikit-learn protocol, BLAS threads, the version."""
