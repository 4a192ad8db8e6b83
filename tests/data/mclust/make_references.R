# mclust 6.0's BIC tables on real data sets, as test data for fastgmm's model selection.
#
# For every data set below this writes, next to this script,
#   <name>.csv   the data (numeric columns only, header line, no row names), and
#   <name>.json  mclust's results with its defaults: Mclust(X, G = 1:9) over all fourteen models, the same fields
#                as tests/data/{faithful,iris,diabetes}.json, plus
#                * "cells" for all fourteen models (bic, loglik, npar, return_code; bic/loglik null where mclust
#                  could not fit the cell),
#                * "parameters" (pro, mean, sigma) and "classification" of mclust's overall choice,
#                * "bic_prior": the same sweep under mclust's default conjugate prior (priorControl()).
# R is not available in CI: run this once by hand (Rscript tests/data/mclust/make_references.R, a minute or so)
# and commit its outputs. mclust is deterministic here (hierarchical start on all rows: every N < 2000).

suppressPackageStartupMessages({
  library(mclust)
  library(jsonlite)
})

here <- local({
  arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(arg)) dirname(normalizePath(sub("^--file=", "", arg[1]))) else getwd()
})

G_RANGE <- 1:9
MODELS <- mclust.options("emModelNames")   # the fourteen models, mclust's order
# fastgmm's own names for the four models it had before the fourteen; the others go by mclust's code
MODEL_MAP <- list(VII = "spherical", VVI = "diag", EEE = "tied", VVV = "full")

datasets <- list(
  list(name = "banknote", source = "mclust::banknote[, -1] (Status dropped)",
       get = function() mclust::banknote[, -1]),
  list(name = "thyroid", source = "mclust::thyroid[, -1] (Diagnosis dropped)",
       get = function() mclust::thyroid[, -1]),
  list(name = "wreath", source = "mclust::wreath",
       get = function() as.data.frame(mclust::wreath)),
  list(name = "chevron", source = "mclust::chevron[, -1] (class dropped; about a third of the rows are uniform noise)",
       get = function() mclust::chevron[, -1]),
  list(name = "crabs", source = "MASS::crabs[, 4:8] (sp, sex, index dropped)",
       get = function() MASS::crabs[, 4:8]),
  list(name = "geyser", source = "MASS::geyser",
       get = function() MASS::geyser),
  list(name = "swiss", source = "datasets::swiss",
       get = function() datasets::swiss),
  list(name = "USArrests", source = "datasets::USArrests",
       get = function() datasets::USArrests)
)

na_null <- function(v) lapply(v, function(x) if (is.na(x)) NULL else x)

npar_of <- function(model, d, G) nMclustParams(model, d, G)

loglik_of <- function(bic, model, n, d, G) {
  if (is.na(bic)) return(NA_real_)
  (bic + npar_of(model, d, G) * log(n)) / 2
}

# the best k cells of a BIC table, largest first (mclust's own ordering via pickBIC)
top_cells <- function(bic, k = 3) {
  best <- pickBIC(bic, k = k)
  lapply(seq_along(best), function(i) {
    parts <- strsplit(names(best)[i], ",")[[1]]
    list(model = parts[1], G = as.integer(parts[2]), bic = unname(best[i]))
  })
}

# mclust has no conjugate prior for VEE, EVE, VVE, EVV: a sweep under a prior leaves them out
bic_table <- function(bic) {
  out <- lapply(colnames(bic), function(m) na_null(unname(bic[, m])))
  names(out) <- colnames(bic)
  out
}

code_table <- function(bic) {
  codes <- attr(bic, "returnCodes")
  out <- lapply(colnames(codes), function(m) as.integer(codes[, m]))
  names(out) <- colnames(codes)
  out
}

# With G = 1 the models that differ only across components coincide and Mclust() names its choice "XXX" (or
# "X.." ...); "model" is then the first of them in the table, as pickBIC orders them, and "mclust_model_name"
# what Mclust() printed.
choice <- function(fit, bic) {
  top3 <- top_cells(bic)
  stopifnot(top3[[1]]$G == fit$G, isTRUE(all.equal(top3[[1]]$bic, unname(fit$bic))))
  list(model = top3[[1]]$model, mclust_model_name = fit$modelName, G = fit$G, bic = unname(fit$bic),
       loglik = unname(fit$loglik), df = unname(fit$df), top3 = top3, bic_table = bic_table(bic))
}

# The cells are mclust's fits from its own starts run on to a tight tolerance (as in the older files): the
# log-likelihood of the optimum each start leads to, not wherever the default tolerance stopped (mclust's
# default relative tolerance, 1e-5, stops slow EM runs early: up to hundreds of BIC units short here). The
# default run's values ride along as *_default (the same numbers as bic_table).
TIGHT <- emControl(tol = c(1e-10, sqrt(.Machine$double.eps)))

cells_of <- function(bic_tight, bic, n, d) {
  codes <- attr(bic_tight, "returnCodes")
  codes_default <- attr(bic, "returnCodes")
  value <- function(b) if (is.na(b)) NULL else b
  out <- list()
  for (m in MODELS) for (G in G_RANGE) {
    g <- as.character(G)
    b <- bic_tight[g, m]
    b0 <- bic[g, m]
    ct <- if (is.null(MODEL_MAP[[m]])) m else MODEL_MAP[[m]]
    out[[length(out) + 1]] <- list(model = m, covariance_type = ct, G = G, npar = npar_of(m, d, G),
                                   bic = value(b), loglik = value(loglik_of(b, m, n, d, G)),
                                   return_code = as.integer(codes[g, m]),
                                   bic_default = value(b0), loglik_default = value(loglik_of(b0, m, n, d, G)),
                                   return_code_default = as.integer(codes_default[g, m]))
  }
  out
}

# the best of the four models fastgmm had before the fourteen (the older files' "four_models_selected")
four_best <- function(bic, n, d) {
  sub <- bic[, names(MODEL_MAP), drop = FALSE]
  at <- which(sub == max(sub, na.rm = TRUE), arr.ind = TRUE)[1, ]
  m <- colnames(sub)[at[2]]
  G <- as.integer(rownames(sub)[at[1]])
  b <- sub[at[1], at[2]]
  list(model = m, G = G, bic = b, loglik = loglik_of(b, m, n, d, G), df = npar_of(m, d, G))
}

parameters_of <- function(fit) {
  p <- fit$parameters
  d <- fit$d
  mean <- matrix(p$mean, nrow = d)
  sigma <- array(p$variance$sigma, dim = c(d, d, fit$G))
  list(pro = as.numeric(p$pro),
       mean = lapply(seq_len(fit$G), function(k) mean[, k]),
       sigma = lapply(seq_len(fit$G), function(k) lapply(seq_len(d), function(i) sigma[i, , k])))
}

# JSON with one line per short value (a cell, a list of numbers): readable, diffable and small
to_json <- function(x, indent = 0) {
  flat <- toJSON(x, auto_unbox = TRUE, digits = NA, null = "null")
  scalars <- !is.list(x) || all(vapply(x, function(v) length(v) <= 1 && !is.list(v), TRUE))
  if ((scalars && is.null(names(x))) || nchar(flat) + indent <= 240) return(flat)
  pad <- strrep(" ", indent + 1)
  keys <- names(x)
  parts <- vapply(seq_along(x), function(i) {
    key <- if (is.null(keys)) "" else paste0(toJSON(keys[i], auto_unbox = TRUE), ": ")
    paste0(pad, key, to_json(x[[i]], indent + 1))
  }, "")
  brackets <- if (is.null(keys)) c("[", "]") else c("{", "}")
  paste0(brackets[1], "\n", paste(parts, collapse = ",\n"), "\n", strrep(" ", indent), brackets[2])
}

for (ds in datasets) {
  df <- ds$get()
  df <- df[, vapply(df, is.numeric, TRUE), drop = FALSE]
  X <- data.matrix(df)
  storage.mode(X) <- "double"
  stopifnot(!anyNA(X), nrow(X) <= 5000)
  n <- nrow(X)
  d <- ncol(X)
  write.csv(df, file.path(here, paste0(ds$name, ".csv")), row.names = FALSE)

  bic <- mclustBIC(X, G = G_RANGE)
  fit <- Mclust(X, x = bic)
  bic_tight <- mclustBIC(X, G = G_RANGE, control = TIGHT)
  bic_p <- mclustBIC(X, G = G_RANGE, prior = priorControl())
  fit_p <- Mclust(X, x = bic_p)   # the prior travels with the BIC object
  stopifnot(isTRUE(all.equal(unname(fit$bic), max(bic, na.rm = TRUE))))

  out <- list(
    name = ds$name, source = ds$source, n = n, d = d, columns = colnames(X),
    R_version = R.version$version.string, mclust_version = as.character(packageVersion("mclust")),
    model_map = MODEL_MAP,
    bic_convention = "mclust: BIC = 2*loglik - npar*log(n), larger is better",
    mclust_options = list(hcModelName = mclust.options("hcModelName"), hcUse = mclust.options("hcUse"),
                          subset = mclust.options("subset")),
    overall = choice(fit, bic),
    four_models_selected = four_best(bic, n, d),
    cells_tol = TIGHT$tol,
    cells = cells_of(bic_tight, bic, n, d),
    parameters = parameters_of(fit),
    classification = as.integer(fit$classification),
    bic_prior = c(list(prior = "priorControl() (defaultPrior: conjugate, mclust's defaults)"),
                  choice(fit_p, bic_p), list(return_codes = code_table(bic_p))),
    note = paste(
      "mclust 6.0, Mclust(X, G = 1:9) with mclust's defaults (all fourteen models; hierarchical VVV start",
      "on SVD-transformed data), made by make_references.R. BIC = 2 loglik - npar log n (higher is better).",
      "overall and bic_table: Mclust() as users run it. cells: the same starts with EM run to the tolerance",
      "cells_tol (emControl), a cell's loglik being (bic + npar log n) / 2, and the default run's values as",
      "*_default; bic null and return_code != 0 mark a cell mclust could not fit (singular covariance or empty",
      "component). cells[].covariance_type is fastgmm's name (the four of",
      "model_map) or mclust's code. parameters and classification are of the overall choice: mean[k] and",
      "sigma[k] per component, classification in mclust's labels 1..G. mclust's loglik and classification come",
      "from the E-step before its last M-step, so the log-likelihood of these parameters is a little higher",
      "and a few rows near a boundary may classify differently. bic_prior is the same sweep under",
      "priorControl() (the BIC there is mclust's: 2 loglik - npar log n at the MAP estimate); mclust has no",
      "prior for VEE, EVE, VVE and EVV, so its table lacks them.")
  )
  writeLines(to_json(out),
             file.path(here, paste0(ds$name, ".json")))
  cat(sprintf("%-10s n=%5d d=%d  %s G=%d BIC %.3f | prior %s G=%d | top3 %s\n", ds$name, n, d, fit$modelName,
              fit$G, fit$bic, fit_p$modelName, fit_p$G,
              paste(vapply(out$overall$top3, function(t) paste0(t$model, t$G), ""), collapse = " ")))
}
