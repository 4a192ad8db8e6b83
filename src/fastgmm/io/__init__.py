"""Model files: one save/load path driven by each estimator's schema."""
