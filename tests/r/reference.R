# Reference values from R for the app's statistics (make r-reference; the tests read the CSVs, not R).
#
#   Rscript tests/r/reference.R        # after python tests/r/make_inputs.py
#
# Packages (Debian): r-base-core, r-cran-nlme, r-cran-lme4, r-cran-lmertest, r-cran-pbkrtest,
# r-cran-exactranktests. Writes tests/r/ref_*.csv:
#   ref_mmrm_gls.csv  nlme::gls REML fit per data set and covariance structure: REML log-likelihood
#                     and every arm-vs-reference difference per visit (estimate, model-based SE)
#   ref_mmrm_sigma.csv  the fitted T x T covariance of each of those fits
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
cs_rows <- list()
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
             paste("exactRankTests", packageVersion("exactRankTests"))), file.path(here, "ref_versions.txt"))
cat("reference CSVs written to", here, "\n")
