# Reference output of R mclust's MclustDA for tests/test_discriminant.py.
# Run once (R 4.2, mclust 6.0.0) from the repository root:
#   Rscript tests/data/mclust/make_mclustda.R
# Writes tests/data/mclust/mclustda.json. The data are tests/data/iris.csv (iris[, 1:4]) with
# iris$Species, and tests/data/diabetes.csv (diabetes[, -1]) with diabetes$class (stored here).
# mclust's BIC is 2 loglik - df log(n) (larger is better); fastgmm's bic_ is its negative.
suppressMessages({library(mclust); library(jsonlite)})

four <- c("VII", "VVI", "EEE", "VVV")        # spherical, diag, tied, full
rows <- c(1, 51, 71, 78, 84, 101, 120, 134, 135, 150)   # posteriors stored for these rows (1-based)

describe <- function(fit, X, y, rows) {
  s <- summary(fit)
  pred <- predict(fit, X)
  per_class <- lapply(names(fit$models), function(cl) {
    m <- fit$models[[cl]]
    list(class = cl, n = m$n, model = m$modelName, G = m$G,
         # MclustDA keeps each class's BIC table (G x model), not the chosen cell's value
         bic = if (!inherits(m[["BIC"]], "mclustBIC")) NA else max(m[["BIC"]], na.rm = TRUE),
         bic_table = if (!inherits(m[["BIC"]], "mclustBIC")) NA else
           list(G = as.integer(rownames(m$BIC)), models = colnames(m$BIC), bic = matrix(as.numeric(m[["BIC"]]), nrow = nrow(m[["BIC"]]))),
         loglik = if (is.null(m$loglik)) NA else m$loglik)
  })
  # mclust 6.1.1 corrected MclustDA's df to count the nclass - 1 class proportions; 6.0.0 (run here)
  # does not. fastgmm follows 6.1.1: df_611 and bic_611 are what its n_parameters_ and -bic_ match.
  df_611 <- fit$df + length(fit$prop) - 1
  list(type = fit$type, loglik = fit$loglik, df = fit$df, bic = fit$bic,
       df_611 = df_611, bic_611 = 2 * fit$loglik - df_611 * log(nrow(X)),
       training_error = s$ce, prop = unname(fit$prop), classes = names(fit$models),
       per_class = per_class,
       classification = as.integer(pred$classification) - 1L,
       rows = rows - 1L, posterior = unname(pred$z[rows, , drop = FALSE]))
}

edda_bics <- function(X, y, models) {
  # EDDA's model choice: BIC of each covariance model (mclust's own loop, equalPro = TRUE)
  z <- unmap(as.numeric(y))
  out <- list()
  for (m in models) {
    ms <- mstep(data = X, modelName = m, z = z, warn = FALSE)
    es <- do.call("estep", c(ms, list(data = X, warn = FALSE)))
    out[[m]] <- do.call("bic", c(es, list(equalPro = TRUE)))
  }
  out
}

run <- function(X, y, rows) {
  list(
    mclustda_four = describe(MclustDA(X, y, modelNames = four, verbose = FALSE), X, y, rows),
    edda_four = c(describe(MclustDA(X, y, modelType = "EDDA", modelNames = four, verbose = FALSE), X, y, rows),
                  list(model_bic = edda_bics(X, y, four))),
    mclustda_all = describe(MclustDA(X, y, verbose = FALSE), X, y, rows),
    edda_all = c(describe(MclustDA(X, y, modelType = "EDDA", verbose = FALSE), X, y, rows),
                 list(model_bic = edda_bics(X, y, mclust.options("emModelNames"))))
  )
}

iris_X <- as.matrix(read.csv("tests/data/iris.csv"))
stopifnot(all.equal(unname(iris_X), unname(as.matrix(iris[, 1:4]))))
diab_X <- as.matrix(read.csv("tests/data/diabetes.csv"))
stopifnot(all.equal(unname(diab_X), unname(as.matrix(diabetes[, -1]))))

out <- list(
  R_version = R.version.string, mclust_version = as.character(packageVersion("mclust")),
  model_map = list(VII = "spherical", VVI = "diag", EEE = "tied", VVV = "full"),
  bic_convention = "mclust: BIC = 2*loglik - df*log(n), larger is better",
  iris = c(list(labels = as.integer(iris$Species) - 1L, class_names = levels(iris$Species)),
           run(iris_X, iris$Species, rows)),
  diabetes = c(list(labels = as.integer(diabetes$class) - 1L, class_names = levels(diabetes$class)),
               run(diab_X, diabetes$class, c(1, 20, 40, 76, 80, 100, 110, 120, 130, 145)))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "tests/data/mclust/mclustda.json")
