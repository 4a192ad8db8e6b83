"""Where rows come from: in-memory and out-of-core blocks, Dask, and the rows' NaN patterns."""
