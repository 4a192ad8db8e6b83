"""The estimator base: the EM loop, online EM, NaN policies and frozen parameters, once for every family."""
