"""The model families: maths on named parameters and additive statistics, one module each."""
