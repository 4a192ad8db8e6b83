"""Mixture families other than the Gaussian one, one module each, on ``fastgmm._base.BaseMixture``."""
