# R's side of benchmarks/mclust.py: time Mclust(X, G = 1:9) with mclust's defaults on one data file.
#
#   Rscript benchmarks/mclust_fit.R DATA.bin [SEED]
#
# DATA.bin: two little-endian int32 (n, d), then the n x d matrix as float64 in column-major order (what R
# stores), written by mclust.py. Prints one line "RESULT {json}": the seconds of Mclust() alone (elapsed), of
# loading mclust and of reading the file, mclust's choice (model, G, BIC in its sign: larger is better,
# log-likelihood) and its whole BIC table (null where mclust could not fit a cell). SEED (default 0) seeds
# R's generator before Mclust(): with n above mclust.options("subset") (2000) mclust starts from a
# hierarchical clustering of a random subset of 2000 rows.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) stop("usage: Rscript mclust_fit.R DATA.bin [SEED]")
seed <- if (length(args) >= 2) as.integer(args[2]) else 0L

load_s <- system.time(suppressPackageStartupMessages({
  library(mclust)
  library(jsonlite)
}))[["elapsed"]]

read_s <- system.time({
  con <- file(args[1], "rb")
  shape <- readBin(con, "integer", n = 2, size = 4, endian = "little")
  X <- matrix(readBin(con, "double", n = shape[1] * shape[2], size = 8, endian = "little"),
              nrow = shape[1], ncol = shape[2])
  close(con)
})[["elapsed"]]
stopifnot(nrow(X) == shape[1], !anyNA(X))

set.seed(seed)
mclust_s <- system.time(fit <- Mclust(X, G = 1:9))[["elapsed"]]

table <- if (is.null(fit)) NULL else {
  bic <- fit$BIC
  out <- lapply(colnames(bic), function(m) lapply(unname(bic[, m]), function(v) if (is.na(v)) NULL else v))
  names(out) <- colnames(bic)
  out
}
result <- list(
  n = nrow(X), d = ncol(X), seed = seed,
  mclust_s = mclust_s, load_s = load_s, read_s = read_s,
  model = if (is.null(fit)) NULL else fit$modelName,
  G = if (is.null(fit)) NULL else fit$G,
  bic = if (is.null(fit)) NULL else unname(fit$bic),
  loglik = if (is.null(fit)) NULL else unname(fit$loglik),
  bic_table = table,
  R_version = R.version$version.string,
  mclust_version = as.character(packageVersion("mclust")),
  blas = unname(extSoftVersion()["BLAS"]),
  lapack = La_library()
)
cat("RESULT ", toJSON(result, auto_unbox = TRUE, digits = NA, null = "null"), "\n", sep = "")
