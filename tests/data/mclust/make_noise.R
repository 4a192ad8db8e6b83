# Reference values for tests/test_noise.py: mclust's noise component (Vinv = 1/hypvol).
# Run once from this folder with R and mclust 6.0.0: Rscript make_noise.R
# Writes noise_hypvol.json (hypvol of iris and faithful) and noise_fit.json (data with a uniform background,
# the initial noise rows, mclust's initial hc partition of the other rows, and each model's fit).
library(mclust)
library(jsonlite)

hv <- list(iris = hypvol(as.matrix(iris[, 1:4])), faithful = hypvol(as.matrix(faithful)),
           iris_box = exp(sum(log(apply(iris[, 1:4], 2, function(x) diff(range(x)))))))
write(toJSON(hv, digits = NA, auto_unbox = TRUE), "noise_hypvol.json")

set.seed(21)
a <- cbind(rnorm(120, 0, 1), rnorm(120, 0, 0.6))
b <- cbind(rnorm(100, 5, 0.8), rnorm(100, 4, 1.2))
u <- cbind(runif(40, -6, 11), runif(40, -6, 10))
X <- rbind(a, b, u)
# The initial noise: the background rows, less two of them, plus two cluster rows (an imperfect guess).
noise <- c(rep(FALSE, 220), rep(TRUE, 40))
noise[c(221, 222)] <- FALSE
noise[c(5, 130)] <- TRUE
G <- 2
hcp <- hc(data = X[!noise, ], modelName = mclust.options("hcModelName"), use = mclust.options("hcUse"))
init <- as.vector(hclass(hcp, G))
fits <- list()
for (m in c("VVV", "EEE", "VVI", "VII", "EII", "EEI", "EEV")) {
  fit <- Mclust(X, G = G, modelNames = m, initialization = list(noise = noise),
                control = emControl(tol = c(1e-10, 1e-10)), verbose = FALSE)
  fits[[m]] <- list(loglik = fit$loglik, bic = fit$bic, pro = fit$parameters$pro,
                    mean = t(fit$parameters$mean), classification = fit$classification,
                    Vinv = fit$parameters$Vinv, df = fit$df, n_iter = attr(fit, "info")$iterations)
}
write(toJSON(list(X = X, noise = noise, init = init, G = G, fits = fits), digits = NA, auto_unbox = TRUE),
      "noise_fit.json")
