# Makes prior_mstep_iris.json, prior_mstep_gen.json, prior_univariate.json and prior_bic.json for
# tests/test_mclust_prior.py: mclust's conjugate-prior (priorControl()) M-steps from a fixed z, its defaultPrior,
# and Mclust()'s BIC tables under the prior. Run from this folder with R and mclust installed: Rscript make_prior.R
#
# The M-step recorded is the one mclust's EM runs (me() stopped after one iteration), because that is what
# Mclust() fits and reports BIC for. mstep() under a prior differs from it for EII, EEI, EVI and EEV (its
# Fortran uses other denominators, and mseevp zeroes the shrinkage); mstep()'s output is stored beside it
# ("mstep") so the difference stays on record.
library(mclust)
library(jsonlite)
models <- c("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "EEV", "VEV", "VVV")
one_iteration <- emControl(itmax = c(1, .Machine$integer.max))

soft_z <- function(n, G, hard, seed) {
  # mostly the given groups, partly random, so that every component has a full-rank scatter
  set.seed(seed)
  z <- matrix(runif(n * G), n, G)^3
  z[cbind(seq_len(n), hard)] <- z[cbind(seq_len(n), hard)] + 1.5
  z / rowSums(z)
}

prior_list <- function(p) list(shrinkage = p$shrinkage, mean = unname(p$mean), dof = p$dof, scale = unname(p$scale))

sigma_of <- function(par, G, d) unname(aperm(array(par$variance$sigma, c(d, d, G)), c(3, 1, 2)))

one_set <- function(X, z, file) {
  G <- ncol(z)
  out <- list(mclust = as.character(packageVersion("mclust")), data = unname(X), z = unname(z), models = list())
  for (m in models) {
    em <- me(modelName = m, data = X, z = z, prior = priorControl(), control = one_iteration)
    ms <- mstep(modelName = m, data = X, z = z, prior = priorControl())
    out$models[[m]] <- list(prior = prior_list(defaultPrior(X, G, m)),
                            mean = unname(t(em$parameters$mean)), sigma = sigma_of(em$parameters, G, ncol(X)),
                            loglik = em$loglik,
                            # two EM iterations: VEI's and VEV's second M-step starts from the first's parts
                            two = list(sigma = sigma_of(me(modelName = m, data = X, z = z, prior = priorControl(),
                                                           control = emControl(itmax = c(2, .Machine$integer.max))
                                                           )$parameters, G, ncol(X))),
                            mstep = list(mean = unname(t(ms$parameters$mean)),
                                         sigma = sigma_of(ms$parameters, G, ncol(X))))
  }
  writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, always_decimal = TRUE), file)
}

X <- as.matrix(iris[, 1:4])
one_set(X, soft_z(nrow(X), 3, as.integer(iris$Species), 1), "prior_mstep_iris.json")

# three 3-D groups with different volumes, shapes and orientations, far from the origin
set.seed(7)
rot <- function(a) matrix(c(cos(a), sin(a), 0, -sin(a), cos(a), 0, 0, 0, 1), 3, 3)
g <- rep(1:3, c(25, 20, 30))
S <- list(diag(c(3, 1, 0.4)), 2 * rot(0.7) %*% diag(c(2, 0.3, 1)) %*% t(rot(0.7)),
          0.5 * rot(-0.5) %*% diag(c(1, 3, 5)) %*% t(rot(-0.5)))
M <- rbind(c(100, 50, -20), c(105, 52, -22), c(97, 56, -18))
Y <- t(sapply(seq_along(g), function(i) M[g[i], ] + t(chol(S[[g[i]]])) %*% rnorm(3)))
one_set(Y, soft_z(nrow(Y), 3, g, 8), "prior_mstep_gen.json")

# univariate: mclust's E and V models
x <- iris[, 3]
z <- soft_z(length(x), 3, as.integer(iris$Species), 4)
uni <- list(data = x, z = unname(z), models = list())
for (m in c("E", "V")) {
  em <- me(modelName = m, data = x, z = z, prior = priorControl(), control = one_iteration)
  uni$models[[m]] <- list(prior = prior_list(defaultPrior(x, 3, m)), mean = unname(em$parameters$mean),
                          sigmasq = unname(em$parameters$variance$sigmasq), loglik = em$loglik)
}
writeLines(toJSON(uni, digits = NA, auto_unbox = TRUE, always_decimal = TRUE), "prior_univariate.json")

# Mclust's BIC tables under the prior (NA: models mclust has no prior for, or fits that failed); the BIC is
# 2 loglik - npar log n with the log-likelihood at the MAP estimate (no log prior term): checked here
bic_set <- function(X) {
  fit <- Mclust(X, G = 1:4, modelNames = models, prior = priorControl(), verbose = FALSE)
  b <- fit$BIC
  stopifnot(isTRUE(all.equal(fit$bic, bic(fit$modelName, fit$loglik, fit$n, fit$d, fit$G))))
  list(G = 1:4, models = colnames(b), bic = unname(matrix(as.numeric(b), nrow(b))),
       best = list(model = fit$modelName, G = fit$G, loglik = fit$loglik, bic = fit$bic))
}
writeLines(toJSON(list(faithful = bic_set(as.matrix(faithful)), iris = bic_set(as.matrix(iris[, 1:4]))),
                  digits = NA, auto_unbox = TRUE, always_decimal = TRUE, na = "null"), "prior_bic.json")
