# Makes mstep_iris.json, mstep_gen3.json, mstep_univariate.json and nvarparams.json for
# tests/test_mclust_mstep.py: one M-step of each of mclust's fourteen models from a fixed z (the data and z are
# stored too), the log-likelihood of the resulting parameters (estep), and nVarParams at several (G, d).
# Run from this folder with R and mclust installed: Rscript make_mstep.R
library(mclust)
library(jsonlite)
models <- c("EII","VII","EEI","VEI","EVI","VVI","EEE","VEE","EVE","VVE","EEV","VEV","EVV","VVV")

soft_z <- function(n, G, hard, seed) {
  # a soft assignment: mostly `hard`, partly random, so every component has a full-rank scatter
  set.seed(seed)
  z <- matrix(runif(n * G), n, G)^4
  z[cbind(seq_len(n), hard)] <- z[cbind(seq_len(n), hard)] + 2
  z / rowSums(z)
}

one_set <- function(X, z, file) {
  out <- list(mclust = as.character(packageVersion("mclust")), data = unname(X), z = unname(z), models = list())
  for (m in models) {
    ms <- mstep(modelName = m, data = X, z = z)
    es <- estep(modelName = m, data = X, parameters = ms$parameters)
    out$models[[m]] <- list(sigma = unname(aperm(ms$parameters$variance$sigma, c(3, 1, 2))),
                            mean = unname(t(ms$parameters$mean)), pro = unname(ms$parameters$pro),
                            loglik = es$loglik, iterations = if (is.null(attr(ms, "info"))) NA else unname(attr(ms, "info"))[1])
  }
  writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), file)
}

X <- as.matrix(iris[, 1:4])
one_set(X, soft_z(nrow(X), 3, as.integer(iris$Species), 1), "mstep_iris.json")

# three 3-D groups with different volumes, shapes and orientations
set.seed(2)
rot <- function(a) matrix(c(cos(a), sin(a), 0, -sin(a), cos(a), 0, 0, 0, 1), 3, 3)
g <- rep(1:3, c(30, 25, 35))
S <- list(diag(c(4, 1, 0.5)), 3 * rot(0.8) %*% diag(c(3, 0.5, 1)) %*% t(rot(0.8)),
          0.3 * rot(-0.4) %*% diag(c(1, 2, 6)) %*% t(rot(-0.4)))
M <- rbind(c(0, 0, 0), c(6, 1, -2), c(-3, 5, 2))
Y <- t(sapply(seq_along(g), function(i) M[g[i], ] + t(chol(S[[g[i]]])) %*% rnorm(3)))
one_set(Y, soft_z(nrow(Y), 3, g, 3), "mstep_gen3.json")

x <- iris[, 1]
z <- soft_z(length(x), 3, as.integer(iris$Species), 4)
uni <- list(data = x, z = unname(z), models = list())
for (m in c("E", "V")) {
  ms <- mstep(modelName = m, data = x, z = z)
  uni$models[[m]] <- list(sigmasq = ms$parameters$variance$sigmasq, mean = unname(ms$parameters$mean),
                          loglik = estep(modelName = m, data = x, parameters = ms$parameters)$loglik)
}
writeLines(toJSON(uni, digits = NA, auto_unbox = TRUE), "mstep_univariate.json")

grid <- expand.grid(G = c(1, 2, 3, 5, 9), d = c(1, 2, 3, 4, 7))
counts <- lapply(models, function(m) mapply(function(G, d) nVarParams(m, d = d, G = G), grid$G, grid$d))
names(counts) <- models
writeLines(toJSON(list(G = grid$G, d = grid$d, counts = counts), digits = NA, auto_unbox = TRUE), "nvarparams.json")
