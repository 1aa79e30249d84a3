# Reference values from R for the app's statistics (make r-reference; the tests read the CSVs, not R).
#
#   Rscript tests/r/reference.R        # after python tests/r/make_inputs.py
#
# Packages (Debian): r-base-core, r-cran-nlme, r-cran-lme4, r-cran-lmertest, r-cran-pbkrtest,
# r-cran-numderiv, r-cran-exactranktests. Writes tests/r/ref_*.csv:
#   ref_mmrm_gls.csv  nlme::gls REML fit per data set and covariance structure: REML log-likelihood
#                     and every arm-vs-reference difference per visit (estimate, model-based SE)
#   ref_mmrm_sigma.csv  the fitted T x T covariance of each of those fits
#   ref_mmrm_un_satterthwaite.csv  unstructured model, up to 6 visits: Satterthwaite df of each difference
#                     from numerical derivatives (numDeriv, Richardson) of the REML log-likelihood and of
#                     the differences' variances in the T(T+1)/2 elements of the covariance (as SAS's
#                     UN(i,j)); observed information, as SAS and lmerTest; at the REML optimum (nlme's,
#                     polished by Newton steps on the same numerical derivatives)
#   ref_mmrm_cs.csv   random-intercept (compound symmetry) model with lme4: Kenward-Roger adjusted
#                     SE and df (pbkrtest), Satterthwaite df (lmerTest) of the same differences
#   ref_signed_rank.csv, ref_rank_sum.csv, ref_kruskal.csv   wilcox.test(conf.int = TRUE) and
#                     kruskal.test with R's defaults; exactRankTests::wilcox.exact where R is exact
# Model: CHG ~ BASE + ARM * VISIT + BASE * VISIT written per visit (0 + VIS + VIS:BASE + VIS:ARMx):
# the coefficient VISv:ARMx is the LS-mean difference of arm x vs the reference arm at visit v.

suppressPackageStartupMessages({
  library(nlme)
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(numDeriv)
  library(exactRankTests)
})
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else "tests/r"
})
inp <- file.path(here, "inputs")
fmt <- function(d, file) write.csv(d, file.path(here, file), row.names = FALSE)
num <- function(x) sprintf("%.17g", x)

# ---------------------------------------------------------------------------------------------- MMRM
mm <- read.csv(file.path(inp, "mmrm.csv"), stringsAsFactors = FALSE)
arms_all <- c("Belimumab", "Ld-IL2", "Belimumab + Ld-IL2")
structures <- c("UN", "TOEPH", "TOEP", "ARH1", "AR1", "CSH", "CS")
gls_rows <- list()
un_rows <- list()
cs_rows <- list()

# The REML log-likelihood of the GLS (up to a constant) and the fixed effects' covariance, as functions of
# the unstructured covariance's elements theta = Sigma[i, j], i <= j (columns of lower.tri with the diagonal)
un_model <- function(d, f, nv) {
  X <- model.matrix(f, d)
  y <- d$CHG
  by <- split(seq_len(nrow(d)), d$USUBJID)
  lt <- which(lower.tri(diag(nv), diag = TRUE))
  sigma <- function(theta) {
    S <- matrix(0, nv, nv)
    S[lt] <- theta
    S + t(S) - diag(diag(S))
  }
  pieces <- function(theta) {
    S <- sigma(theta)
    XtVX <- 0; XtVy <- 0; logdet <- 0; blocks <- list()
    for (i in by) {
      v <- d$IDX[i]
      Vi <- chol2inv(chol(S[v, v, drop = FALSE]))
      logdet <- logdet + as.numeric(determinant(S[v, v, drop = FALSE])$modulus)
      Xi <- X[i, , drop = FALSE]
      XtVX <- XtVX + t(Xi) %*% Vi %*% Xi
      XtVy <- XtVy + t(Xi) %*% Vi %*% y[i]
      blocks[[length(blocks) + 1]] <- list(i = i, Vi = Vi)
    }
    Phi <- chol2inv(chol(XtVX))
    list(Phi = Phi, beta = Phi %*% XtVy, XtVX = XtVX, logdet = logdet, blocks = blocks)
  }
  list(X = X, lt = lt, pieces = pieces,
       loglik = function(theta) {
         p <- pieces(theta)
         rss <- 0
         for (b in p$blocks) {
           r <- y[b$i] - X[b$i, , drop = FALSE] %*% p$beta
           rss <- rss + as.numeric(t(r) %*% b$Vi %*% r)
         }
         -0.5 * (p$logdet + as.numeric(determinant(p$XtVX)$modulus) + rss)
       },
       variances = function(theta, idx) diag(pieces(theta)$Phi)[idx])
}
sig_rows <- list()
for (ds in unique(mm$DATASET)) {
  d <- mm[mm$DATASET == ds, ]
  d$VIS <- factor(d$AVISITN, levels = sort(unique(d$AVISITN)))
  d$IDX <- as.integer(d$VIS)
  d$USUBJID <- factor(d$USUBJID)
  others <- setdiff(arms_all, arms_all[1])
  for (k in seq_along(others)) d[[paste0("ARM", k)]] <- as.numeric(d$ARM == others[k])
  f <- CHG ~ 0 + VIS + VIS:BASE + VIS:ARM1 + VIS:ARM2
  nv <- nlevels(d$VIS)
  ctl <- glsControl(maxIter = 1000, msMaxIter = 5000, tolerance = 1e-12, opt = "optim", optimMethod = "BFGS",
                    msTol = 1e-15)
  for (s in structures) {
    cor <- switch(s,
      UN = corSymm(form = ~ IDX | USUBJID), TOEPH = corARMA(form = ~ IDX | USUBJID, p = nv - 1, q = 0),
      TOEP = corARMA(form = ~ IDX | USUBJID, p = nv - 1, q = 0), ARH1 = corAR1(form = ~ IDX | USUBJID),
      AR1 = corAR1(form = ~ IDX | USUBJID), CSH = corCompSymm(form = ~ 1 | USUBJID),
      CS = corCompSymm(form = ~ 1 | USUBJID))
    w <- if (s %in% c("UN", "TOEPH", "ARH1", "CSH")) varIdent(form = ~ 1 | VIS) else NULL
    t0 <- proc.time()[["elapsed"]]
    # tight control first (nlme's default stops at about 1e-6 of the optimum); some structures'
    # optimisers fail with it: then nlminb with a tight outer tolerance, then nlme's defaults
    fit <- tryCatch(gls(f, data = d, correlation = cor, weights = w, method = "REML", control = ctl),
                    error = function(e) e)
    if (inherits(fit, "error"))
      fit <- tryCatch(gls(f, data = d, correlation = cor, weights = w, method = "REML",
                          control = glsControl(maxIter = 1000, msMaxIter = 5000, tolerance = 1e-10)),
                      error = function(e) e)
    if (inherits(fit, "error"))
      fit <- tryCatch(gls(f, data = d, correlation = cor, weights = w, method = "REML"), error = function(e) e)
    secs <- proc.time()[["elapsed"]] - t0
    if (inherits(fit, "error")) {
      cat(sprintf("%-16s %-6s did not converge: %s\n", ds, s, conditionMessage(fit)))
      gls_rows[[length(gls_rows) + 1]] <- data.frame(DATASET = ds, STRUCTURE = s, CONVERGED = 0, LOGLIK = NA,
                                                   ARM = NA, AVISITN = NA, ESTIMATE = NA, SE = NA)
      next
    }
    cf <- coef(fit)
    se <- sqrt(diag(vcov(fit)))
    if (s == "UN" && nv <= 6) {
      # Satterthwaite df = 2 V^2 / (g' A g): V = var of the difference, g its gradient in theta, A the
      # inverse observed information (minus the REML log-likelihood's Hessian), all numerical. Steps of 1 %
      # of each element, 4 Richardson rounds: numDeriv's default 10 % left Sigma not positive definite, and
      # steps of 0.1 % or less were 1e-4 to 3e-2 off (rounding); at 1 % the df of a visit without missing
      # values is n - p to 1e-6, as it must be. 12 visits (78 elements) would take minutes per Hessian:
      # those fits are not in this file.
      full <- names(which(table(d$USUBJID) == nv))[1]
      S <- as.matrix(getVarCov(fit, individual = full))
      um <- un_model(d, f, nv)
      stopifnot(identical(colnames(um$X), names(cf)))
      theta <- S[um$lt]
      nd <- list(d = 1e-2, r = 4)
      for (it in 1:5) {  # nlme stops ~1e-6 short of the optimum
        step <- solve(hessian(um$loglik, theta, method.args = nd), grad(um$loglik, theta, method.args = nd))
        theta <- theta - step
        if (max(abs(step) / pmax(abs(theta), 1)) < 1e-10) break
      }
      A <- solve(-hessian(um$loglik, theta, method.args = nd))
      idx <- grep(":ARM", names(cf))
      V <- um$variances(theta, idx)
      G <- jacobian(um$variances, theta, idx = idx, method.args = nd)
      ddf <- 2 * V^2 / rowSums((G %*% A) * G)
      est <- um$pieces(theta)$beta[idx]
      for (j in seq_along(idx)) {
        nm <- names(cf)[idx[j]]
        k <- as.integer(sub(".*:ARM", "", nm))
        un_rows[[length(un_rows) + 1]] <- data.frame(DATASET = ds, ARM = others[k],
          AVISITN = as.numeric(sub("^VIS", "", sub(":ARM.*", "", nm))), ESTIMATE = num(est[j]),
          SE = num(sqrt(V[j])), DF = num(ddf[j]))
      }
    }
    # the fitted T x T covariance (a subject with every visit), to evaluate the GLS at nlme's optimum
    full <- names(which(table(d$USUBJID) == nv))[1]
    S <- as.matrix(getVarCov(fit, individual = full))
    for (i in 1:nv) for (j in 1:nv) sig_rows[[length(sig_rows) + 1]] <- data.frame(DATASET = ds, STRUCTURE = s,
      I = i, J = j, VALUE = num(S[i, j]))
    cat(sprintf("%-16s %-6s logLik %.6f (%.1f s)\n", ds, s, as.numeric(logLik(fit)), secs))
    for (k in seq_along(others)) for (v in levels(d$VIS)) {
      nm <- paste0("VIS", v, ":ARM", k)
      if (!nm %in% names(cf)) next
      gls_rows[[length(gls_rows) + 1]] <- data.frame(DATASET = ds, STRUCTURE = s, CONVERGED = 1,
        LOGLIK = num(as.numeric(logLik(fit))), ARM = others[k], AVISITN = as.numeric(v), ESTIMATE = num(cf[[nm]]),
        SE = num(se[[nm]]))
    }
  }
  # compound symmetry as a random intercept: Kenward-Roger (pbkrtest) and Satterthwaite (lmerTest)
  lf <- lmer(f_re <- CHG ~ 0 + VIS + VIS:BASE + VIS:ARM1 + VIS:ARM2 + (1 | USUBJID), data = d, REML = TRUE,
             control = lmerControl(optimizer = "nloptwrap",
                                   optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-16, maxeval = 1e5)))
  if (isSingular(lf)) {
    cat(sprintf("%-16s random intercept variance 0: no CS Kenward-Roger reference\n", ds))
    next
  }
  b <- fixef(lf)
  V <- as.matrix(vcov(lf))
  VA <- as.matrix(vcovAdj(lf))
  for (k in seq_along(others)) for (v in levels(d$VIS)) {
    nm <- paste0("VIS", v, ":ARM", k)
    L <- matrix(as.numeric(names(b) == nm), nrow = 1)
    sat <- contest1D(lf, L, ddf = "Satterthwaite")
    cs_rows[[length(cs_rows) + 1]] <- data.frame(DATASET = ds, ARM = others[k], AVISITN = as.numeric(v),
      ESTIMATE = num(b[[nm]]), SE = num(sqrt(V[nm, nm])), SE_KR = num(sqrt(VA[nm, nm])),
      DF_KR = num(get_Lb_ddf(lf, L)), DF_SATTERTHWAITE = num(sat$df))
  }
}
fmt(do.call(rbind, gls_rows), "ref_mmrm_gls.csv")
fmt(do.call(rbind, un_rows), "ref_mmrm_un_satterthwaite.csv")
fmt(do.call(rbind, cs_rows), "ref_mmrm_cs.csv")
fmt(do.call(rbind, sig_rows), "ref_mmrm_sigma.csv")

# ---------------------------------------------------------------------------------------- rank tests
pairs <- read.csv(file.path(inp, "pairs.csv"), stringsAsFactors = FALSE)
sr <- list(); rs <- list(); kw <- list()
for (cs in unique(pairs$CASE)) {
  p <- pairs[pairs$CASE == cs, ]
  k <- p$k[1]
  s <- 10^k
  ai <- round(p$a * s); bi <- round(p$b * s)
  p$chg <- (bi - ai) / s  # changes at the recorded precision, from integer units
  p$pchg <- ifelse(ai != 0, 100 * (bi - ai) / ai, NA)
  arms <- unique(p$ARM)
  arms <- arms[order(match(arms, c(arms_all, "X", "Y", "Z")))]
  for (a in arms) {
    d <- p$chg[p$ARM == a]
    if (length(d) < 3 || all(d == 0)) next
    t <- suppressWarnings(wilcox.test(d, conf.int = TRUE))
    nz <- sum(d != 0)
    ex <- if (nz < 50 && !any(d == 0) && length(unique(abs(d))) == length(d))
      wilcox.exact(d, conf.int = TRUE)$p.value else NA
    sr[[length(sr) + 1]] <- data.frame(CASE = cs, ARM = a, N = length(d), V = num(t$statistic),
      P = num(t$p.value), ESTIMATE = num(t$estimate), LOW = num(t$conf.int[1]), HIGH = num(t$conf.int[2]),
      CONF_LEVEL = num(attr(t$conf.int, "conf.level")), METHOD = t$method, P_EXACTRANKTESTS = num(ex))
  }
  for (sc in c("chg", "pchg")) {
    g <- lapply(arms, function(a) { v <- p[[sc]][p$ARM == a]; v[!is.na(v)] })
    names(g) <- arms
    g <- g[sapply(g, length) >= 3]
    if (length(g) >= 2 && length(unique(unlist(g))) > 1) {
      t <- kruskal.test(g)
      kw[[length(kw) + 1]] <- data.frame(CASE = cs, SCALE = sc, H = num(t$statistic), DF = t$parameter,
                                         P = num(t$p.value))
    }
    nm <- names(g)
    if (length(nm) >= 2) for (i in 1:(length(nm) - 1)) for (j in (i + 1):length(nm)) {
      x <- g[[nm[j]]]; y <- g[[nm[i]]]  # later arm vs earlier arm: estimate = location of later − earlier
      if (length(unique(c(x, y))) < 2) next
      t <- suppressWarnings(wilcox.test(x, y, conf.int = TRUE))
      ex <- if (length(x) < 50 && length(y) < 50 && length(unique(c(x, y))) == length(c(x, y)))
        wilcox.exact(x, y, conf.int = TRUE)$p.value else NA
      rs[[length(rs) + 1]] <- data.frame(CASE = cs, SCALE = sc, ARM = nm[j], VS = nm[i], W = num(t$statistic),
        P = num(t$p.value), ESTIMATE = num(t$estimate), LOW = num(t$conf.int[1]), HIGH = num(t$conf.int[2]),
        CONF_LEVEL = num(attr(t$conf.int, "conf.level")), METHOD = t$method, P_EXACTRANKTESTS = num(ex))
    }
  }
}
fmt(do.call(rbind, sr), "ref_signed_rank.csv")
fmt(do.call(rbind, rs), "ref_rank_sum.csv")
fmt(do.call(rbind, kw), "ref_kruskal.csv")
writeLines(c(R.version.string, paste("nlme", packageVersion("nlme")), paste("lme4", packageVersion("lme4")),
             paste("lmerTest", packageVersion("lmerTest")), paste("pbkrtest", packageVersion("pbkrtest")),
             paste("numDeriv", packageVersion("numDeriv")),
             paste("exactRankTests", packageVersion("exactRankTests"))), file.path(here, "ref_versions.txt"))
cat("reference CSVs written to", here, "\n")
