# Reference trees of mclust's model-based hierarchical clustering for tests/test_hc.py.
# Run from the repository root: Rscript tests/data/mclust/make_hc.R  (R 4.2, mclust 6.0.0)
# Writes tests/data/mclust/hc_<name>.json: mclust's merge pairs (1-based, as hc() returns them)
# and hclass() for K = 1..9.
library(mclust)
library(jsonlite)
cases <- list(
  list(name = "faithful", file = "tests/data/faithful.csv", cols = NULL, model = "VVV", use = "SVD"),
  list(name = "iris", file = "tests/data/iris.csv", cols = 1:4, model = "VVV", use = "SVD"),
  list(name = "diabetes", file = "tests/data/diabetes.csv", cols = NULL, model = "VVV", use = "SVD"),
  list(name = "generated", file = "tests/data/mclust/hc_generated.csv", cols = NULL, model = "VVV", use = "SVD"),
  list(name = "iris_std", file = "tests/data/iris.csv", cols = 1:4, model = "VVV", use = "STD"),
  list(name = "iris_vars", file = "tests/data/iris.csv", cols = 1:4, model = "VVV", use = "VARS"),
  list(name = "faithful_eruptions_V", file = "tests/data/faithful.csv", cols = 1, model = "V", use = "VARS"),
  list(name = "faithful_waiting_E", file = "tests/data/faithful.csv", cols = 2, model = "E", use = "VARS")
)
for (cs in cases) {
  X <- read.csv(cs$file)
  if (!is.null(cs$cols)) X <- X[, cs$cols, drop = FALSE]
  X <- as.matrix(X)
  h <- if (ncol(X) == 1) hc(X[, 1], modelName = cs$model, use = cs$use) else hc(X, modelName = cs$model, use = cs$use)
  cl <- hclass(h, 1:9)
  out <- list(name = cs$name, file = cs$file, columns = if (is.null(cs$cols)) NULL else cs$cols,
              modelName = cs$model, use = cs$use, n = nrow(X),
              R_version = paste(R.version$major, R.version$minor, sep = "."),
              mclust_version = as.character(packageVersion("mclust")),
              merges = unname(t(unclass(h)[1:2, , drop = FALSE])),
              classes = lapply(setNames(1:9, 1:9), function(k) unname(cl[, as.character(k)])))
  write_json(out, sprintf("tests/data/mclust/hc_%s.json", cs$name), digits = NA, auto_unbox = TRUE)
}
