# Reference output of R mclust's mclustBootstrapLRT for tests/test_bootstrap_lrt.py.
# Run once (R 4.2, mclust 6.0.0) from the repository root:
#   Rscript tests/data/mclust/make_bootstrap_lrt.R
# Writes tests/data/mclust/bootstrap_lrt.json: the observed statistics 2 (loglik_{G+1} - loglik_G),
# the bootstrap p-values (1 + #{boot >= obs}) / (nboot + 1), a summary of each bootstrap
# distribution, and the log-likelihoods of mclustBIC's fits that the statistics come from.
suppressMessages({library(mclust); library(jsonlite)})
X <- as.matrix(read.csv("tests/data/faithful.csv"))
stopifnot(all.equal(unname(X), unname(as.matrix(faithful))))

one <- function(model, nboot, seed) {
  set.seed(seed)
  t0 <- proc.time()[["elapsed"]]
  lrt <- mclustBootstrapLRT(X, modelName = model, nboot = nboot, verbose = FALSE)
  seconds <- proc.time()[["elapsed"]] - t0
  G <- seq_len(max(lrt$G) + 1)
  BIC <- mclustBIC(X, G = G, modelNames = model, verbose = FALSE)
  loglik <- sapply(G, function(g) {
    s <- summary(BIC, X, G = g, modelNames = model)
    if (is.null(s)) NA else s$loglik
  })
  boot <- lrt$boot
  list(model = model, nboot = nboot, seed = seed, seconds = seconds,
       G = lrt$G, obs = lrt$obs, p_value = lrt$p.value,
       boot_quantiles = lapply(seq_len(ncol(boot)), function(j)
         unname(quantile(boot[, j], c(0.05, 0.25, 0.5, 0.75, 0.95), na.rm = TRUE))),
       boot_mean = unname(colMeans(boot, na.rm = TRUE)),
       loglik_G = G, loglik = loglik)
}

out <- list(
  R_version = R.version.string, mclust_version = as.character(packageVersion("mclust")),
  model_map = list(VII = "spherical", VVI = "diag", EEE = "tied", VVV = "full"),
  data = "tests/data/faithful.csv (datasets::faithful)",
  quantiles = c(0.05, 0.25, 0.5, 0.75, 0.95),
  runs = list(VVV = one("VVV", 999, 1), VVI = one("VVI", 999, 2), EEE = one("EEE", 999, 3))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "tests/data/mclust/bootstrap_lrt.json")
