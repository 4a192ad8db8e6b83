"""Mixture families other than the Gaussian one, one module each (see ARCHITECTURE.md)."""
