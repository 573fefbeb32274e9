"""Site grades: a hierarchical (empirical-Bayes) model of log-grades.

Three levels, all Gaussian in log-grade space:

* residue type: mean ``mu_t``, with the reference table's typical grade as its prior;
* site: mean log-grade ``m_s ~ N(mu_t, tau^2)`` (``tau`` pooled over all types);
* sample: ``log g ~ N(m_s, sigma_w^2)`` (within-site spread, pooled per residue type).

A sampled site's mean is shrunk toward its type mean as data thin out; an unsampled
site gets the type mean with the full between-site spread, so its interval is honestly
wide. Contained metal needs a site's arithmetic mean grade, ``exp(m_s) x E[exp(r)]`` for
within-site log residuals r. Real grades are rarely lognormal (and values imputed below
detection stretch the log spread), so E[exp(r)] is not taken as exp(sigma_w^2 / 2) of the
fitted log-variance but estimated from the residuals themselves, declustered and pooled
per residue type (Duan's smearing estimator, J. Am. Stat. Assoc. 78:605, 1983); the
within-site log-sd ``sigma_w`` a site is published with is the one whose lognormal has
that mean, ``sqrt(2 ln E[exp(r)])``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

#: Floor on the between-site log-sd, so a few agreeing sites never claim certainty.
MIN_TAU = 0.15
#: Log-sd assumed for a type mean whose only evidence is the reference table, when the
#: table's own p10-p90 range is narrower than this (a literature figure is not a survey).
MIN_PRIOR_LOG_SD = 0.5
#: Degrees of freedom of the residue type's pooled within-site spread when it is blended with
#: a site's own (a scaled inverse-chi-squared prior): a site with n samples weighs its own
#: spread by (n - 1) / (n - 1 + WITHIN_PRIOR_DOF).
WITHIN_PRIOR_DOF = 5.0
#: Fewest sampled sites of a residue type for its own covariate slopes.
MIN_SITES_FOR_TREND = 4
Z80 = 1.2815515655446004


class HierarchicalLogGrade(RegressorMixin, BaseEstimator):
    """Predict a site's mean log-grade from its samples, its residue type and a prior.

    Parameters
    ----------
    prior_log_mean : dict
        Residue type -> prior mean log-grade (from the reference table's p50).
    prior_log_sd : dict
        Residue type -> prior log-sd of site means (from the table's p10-p90 range).
    covariates : tuple of str
        Site-level numeric columns of ``X`` (e.g. era, covariate-raster means) entering a
        linear trend on the site mean, fitted per residue type by weighted ridge regression
        on its sampled sites; the slopes' posterior covariance widens unsampled sites'
        intervals where their covariates lie far from the sampled ones.
    ridge_alpha : float
        Ridge penalty on the standardised covariate coefficients.
    unsampled_interval_scale : float
        Multiplier on unsampled sites' log-sd, calibrated on held-out sites (never below 1
        when set by ``models.grade_workflow``).

    Notes
    -----
    ``fit(X, y)`` takes one row per sample: ``X`` has ``site_id``, ``residue_type``, the
    ``covariates`` columns and optionally ``hole_id``; ``y`` is log-grade. The effective sample count of a site is
    its number of holes (intervals down one hole are strongly correlated).

    Examples
    --------
    >>> X = pd.DataFrame({"site_id": ["a", "a", "b"], "residue_type": ["r", "r", "r"]})
    >>> model = HierarchicalLogGrade({"r": 0.0}, {"r": 1.0}).fit(X, np.log([2.0, 2.0, 1.0]))
    >>> bool(model.predict(pd.DataFrame({"site_id": ["a"], "residue_type": ["r"]}))[0] > 0)
    True
    """

    def __init__(
        self,
        prior_log_mean: dict | None = None,
        prior_log_sd: dict | None = None,
        covariates: tuple[str, ...] = (),
        ridge_alpha: float = 1.0,
        unsampled_interval_scale: float = 1.0,
    ) -> None:
        self.prior_log_mean = prior_log_mean
        self.prior_log_sd = prior_log_sd
        self.covariates = covariates
        self.ridge_alpha = ridge_alpha
        self.unsampled_interval_scale = unsampled_interval_scale

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> HierarchicalLogGrade:
        """Estimate site means, the between-site spread and each type's mean."""
        return self.fit_sites(summarise_sites(X, y, sample_weight, self.covariates))

    def fit_sites(self, sites: pd.DataFrame) -> HierarchicalLogGrade:
        """Fit from per-site summaries (``summarise_sites``), the only way the samples enter the model.

        ``fit(X, y)`` is ``fit_sites(summarise_sites(X, y))``; site-grouped validation
        summarises once and drops the held-out sites' rows.
        """
        sites = sites.copy()
        if "smear" not in sites:  # summaries made without residuals are taken as lognormal
            sites["smear"] = np.exp(sites["var"] / 2)
        self.sigma_w_ = _pooled_within_sd(sites)
        self.mean_sigma_w_ = _pooled_smearing_sd(sites)
        sites["sigma_w"] = sites["residue_type"].map(self.sigma_w_).fillna(self.sigma_w_.get("__all__", 0.5))
        site_covariates = sites[list(self.covariates)]
        self.covariate_mean_ = site_covariates.mean()
        self.covariate_scale_ = site_covariates.std(ddof=0).replace(0, 1.0).fillna(1.0)
        Z = self._standardise(site_covariates)
        self.coef_: dict[str, np.ndarray] = {}
        self.trend_dof_: dict[str, float] = {}
        for _ in range(3):  # alternate: type means and spread given the trends, trends given the type means
            sites["offset"] = self._offsets(Z, sites["residue_type"])
            self.tau_ = _between_site_sd(sites.assign(mean=sites["mean"] - sites["offset"]), self.trend_dof_)
            self.type_mean_, self.type_mean_sd_ = self._type_means(sites)
            if not self.covariates:
                break
            self.coef_ = self._fit_trend(sites, Z)
        sites["site_sigma_w"], sites["site_mean_sigma_w"] = self._site_spreads(sites)
        self.site_mean_, self.site_sd_ = self._site_posteriors(sites)
        self.site_mean_sigma_w_ = sites["site_mean_sigma_w"]
        self.site_summary_ = sites
        self.n_sites_ = len(sites)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Posterior mean log-grade of each row's site (type mean for unsampled sites)."""
        return self.predict_distribution(X)["log_mean"].to_numpy()

    def predict_distribution(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per row: ``log_mean``, ``log_sd`` (of the site mean) and ``sigma_w``, the within-site
        log-sd whose lognormal correction is the smearing factor (mean grade exp(log_mean + sigma_w^2 / 2))."""
        frame = _as_frame(X)
        prior = self.site_prior(frame)
        rows = []
        for site_id, residue_type, mean, variance in zip(
            frame["site_id"], frame["residue_type"], prior["log_mean"], prior["log_var"]
        ):
            within = float(self.mean_sigma_w_.get(residue_type, self.mean_sigma_w_["__all__"]))
            if site_id in self.site_mean_.index:
                rows.append((self.site_mean_[site_id], self.site_sd_[site_id], self.site_mean_sigma_w_[site_id], True))
            else:  # the site prior, widened by the held-out-site calibration
                rows.append((mean, math.sqrt(variance) * self.unsampled_interval_scale, within, False))
        return pd.DataFrame(rows, columns=["log_mean", "log_sd", "sigma_w", "sampled"], index=frame.index)

    def site_prior(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per row: its site's mean log-grade before the site's own samples are seen.

        ``log_mean`` is the residue type's mean plus the site's covariate trend; ``log_var``
        adds the between-site spread, the type mean's and the slopes' uncertainty. This is
        the prior a within-site model shrinks to where its data are thin.
        """
        check_is_fitted(self, "site_mean_")
        frame = _as_frame(X)
        Z = self._standardise(frame[list(self.covariates)])
        offsets = self._offsets(Z, frame["residue_type"])
        trend_var = self._trend_variance(Z, frame["residue_type"])
        rows = []
        for residue_type, offset, extra in zip(frame["residue_type"], offsets, trend_var):
            mean, sd = self.type_prior(residue_type)
            rows.append((mean + offset, sd**2 + self.tau_**2 + extra))
        return pd.DataFrame(rows, columns=["log_mean", "log_var"], index=frame.index)

    def type_prior(self, residue_type: str) -> tuple[float, float]:
        """Mean log-grade of a residue type and its uncertainty (data where any, else the table)."""
        if residue_type in self.type_mean_.index:
            return float(self.type_mean_[residue_type]), float(self.type_mean_sd_[residue_type])
        return self._reference_prior(residue_type)

    def _reference_prior(self, residue_type: str) -> tuple[float, float]:
        means = self.prior_log_mean or {}
        sds = self.prior_log_sd or {}
        if residue_type not in means:
            raise ValueError(f"no prior grade for residue type {residue_type!r}; add it to grade_priors.csv")
        return float(means[residue_type]), max(float(sds.get(residue_type, MIN_PRIOR_LOG_SD)), MIN_PRIOR_LOG_SD)

    def _standardise(self, covariates: pd.DataFrame) -> np.ndarray:
        """Covariates in training-standard units; a missing value counts as average."""
        z = (covariates.astype(float) - self.covariate_mean_) / self.covariate_scale_
        return z.fillna(0.0).to_numpy(dtype=float).reshape(len(covariates), len(self.covariates))

    def _offsets(self, Z: np.ndarray, residue_types: pd.Series) -> np.ndarray:
        """Each site's covariate trend: its residue type's slopes (none for a type without)."""
        zero = np.zeros(len(self.covariates))
        return np.array([row @ self.coef_.get(kind, zero) for row, kind in zip(Z, residue_types)], dtype=float)

    def _trend_variance(self, Z: np.ndarray, residue_types: pd.Series) -> np.ndarray:
        """Variance the uncertain slopes add at each row: z' Cov(beta) z (zero without slopes)."""
        covariances = getattr(self, "coef_cov_", {})
        return np.array(
            [row @ covariances[kind] @ row if kind in covariances else 0.0 for row, kind in zip(Z, residue_types)],
            dtype=float,
        )

    def _fit_trend(self, sites: pd.DataFrame, Z: np.ndarray) -> dict[str, np.ndarray]:
        """Weighted ridge of site means (less their type mean) on standardised covariates.

        Slopes are fitted per residue type, and only for types with at least
        MIN_SITES_FOR_TREND sampled sites: a covariate that marks gallium-rich bauxite
        says nothing about copper tailings.
        """
        residual = (sites["mean"] - sites["residue_type"].map(self.type_mean_)).to_numpy()
        weight = 1 / (self.tau_**2 + (sites["sigma_w"] ** 2 / sites["n_eff"]).to_numpy())
        slopes = {}
        self.coef_cov_: dict[str, np.ndarray] = {}
        self.trend_dof_ = {}
        for kind in sites["residue_type"].unique():
            rows = (sites["residue_type"] == kind).to_numpy()
            if rows.sum() < MIN_SITES_FOR_TREND:
                continue
            z, w = Z[rows], weight[rows]
            gram = z.T @ (z * w[:, None]) + self.ridge_alpha * np.eye(z.shape[1])
            slopes[kind] = np.linalg.solve(gram, z.T @ (w * residual[rows]))
            self.coef_cov_[kind] = np.linalg.inv(gram)  # posterior covariance of a Bayesian ridge
            # Effective degrees of freedom of the ridge fit: the trace of its hat matrix.
            self.trend_dof_[kind] = float(np.trace(self.coef_cov_[kind] @ (z.T @ (z * w[:, None]))))
        return slopes

    def _type_means(self, sites: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Precision-weighted combination of the reference prior and the type's site means."""
        means, sds = {}, {}
        for residue_type, group in sites.groupby("residue_type"):
            prior_mean, prior_sd = self._reference_prior(residue_type)
            variances = self.tau_**2 + group["sigma_w"] ** 2 / group["n_eff"]
            precision = 1 / prior_sd**2 + (1 / variances).sum()
            adjusted = group["mean"] - group["offset"]
            means[residue_type] = (prior_mean / prior_sd**2 + (adjusted / variances).sum()) / precision
            sds[residue_type] = math.sqrt(1 / precision)
        return pd.Series(means, dtype=float), pd.Series(sds, dtype=float)

    def _site_spreads(self, sites: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Each sampled site's within-site log-sd and smearing sd: its own blended with its type's.

        Sites of one type need not share a spread (poor ground is often less variable than
        rich ground), so a site's own variance and smearing factor count with weight n - 1
        against ``WITHIN_PRIOR_DOF`` for the pooled ones.
        """
        own = (sites["n"] - 1).clip(lower=0).astype(float)
        pooled_var = sites["sigma_w"] ** 2
        pooled_smear = np.exp(
            sites["residue_type"].map(self.mean_sigma_w_).fillna(self.mean_sigma_w_["__all__"]) ** 2 / 2
        )
        weight = own / (own + WITHIN_PRIOR_DOF)
        variance = weight * sites["var"].fillna(0.0) + (1 - weight) * pooled_var
        factor = weight * sites["smear"].fillna(1.0) + (1 - weight) * pooled_smear
        return np.sqrt(variance.clip(lower=0.05**2)), np.sqrt(2 * np.log(factor.clip(lower=1.0))).clip(lower=0.05)

    def _site_posteriors(self, sites: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        prior_mean = sites["residue_type"].map(self.type_mean_) + sites["offset"]
        prior_var = self.tau_**2 + sites["residue_type"].map(self.type_mean_sd_) ** 2
        data_var = sites["site_sigma_w"] ** 2 / sites["n_eff"]
        precision = 1 / prior_var + 1 / data_var
        mean = (prior_mean / prior_var + sites["mean"] / data_var) / precision
        return mean, np.sqrt(1 / precision)


def _as_frame(X: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame) or not {"site_id", "residue_type"} <= set(X.columns):
        raise ValueError("X must be a DataFrame with site_id and residue_type columns")
    return X.copy()


def summarise_sites(
    X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None, covariates: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Per site (sorted by ``site_id``): weighted mean and variance of log-grade, samples, holes,
    residue type and covariates.

    ``X``, ``y`` and ``sample_weight`` as for ``HierarchicalLogGrade.fit``; a site's
    covariates are its first non-missing values. Without hole ids every sample counts as a hole.
    """
    frame = _as_frame(X)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(frame)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if not np.isfinite(y).all():
        raise ValueError("y holds non-finite log-grades; take logs of positive grades only")
    site, site_ids = pd.factorize(frame["site_id"], sort=True)
    weight = np.bincount(site, w)
    mean = np.bincount(site, w * y) / weight
    n = np.bincount(site)
    variance = np.where(n > 1, np.bincount(site, w * (y - mean[site]) ** 2) / weight, np.nan)
    smear = np.where(n > 1, np.bincount(site, w * np.exp(y - mean[site])) / weight, np.nan)
    if "hole_id" not in frame or (frame["hole_id"].astype(str) == "").all():
        n_eff = n
    else:
        hole, _ = pd.factorize(frame["hole_id"])
        pairs = np.unique(site[hole >= 0].astype(np.int64) * (hole.max() + 1) + hole[hole >= 0])
        n_eff = np.bincount(pairs // (hole.max() + 1), minlength=len(site_ids))
    first = np.unique(site, return_index=True)[1]
    sites = pd.DataFrame(
        {
            "mean": mean,
            "var": variance,
            "smear": smear,
            "n": n,
            "n_eff": n_eff,
            "residue_type": frame["residue_type"].to_numpy()[first],
        },
        index=pd.Index(site_ids, name="site_id"),
    )
    firsts = frame[list(covariates)].groupby(site).first().set_axis(sites.index)
    return pd.concat([sites, firsts], axis=1)


def _pooled_within_sd(sites: pd.DataFrame) -> dict[str, float]:
    """Within-site log-sd pooled per residue type (``__all__`` pools every site)."""
    usable = sites[sites["n"] > 1]
    pooled = {"__all__": _pool(usable) if len(usable) else 0.5}
    for residue_type, group in usable.groupby("residue_type"):
        pooled[residue_type] = _pool(group)
    return pooled


def _pooled_smearing_sd(sites: pd.DataFrame) -> dict[str, float]:
    """Per residue type (and ``__all__``): sqrt(2 ln S), S the pooled smearing factor E[exp(r)].

    S is each site's declustered mean of exp(residual), pooled with weights n - 1 (as the
    variance is); a type without such sites falls back on ``__all__``.
    """
    usable = sites[(sites["n"] > 1) & sites["smear"].notna()]

    def pooled(group: pd.DataFrame) -> float:
        factor = float(np.average(group["smear"], weights=group["n"] - 1))
        return max(math.sqrt(2 * math.log(max(factor, 1.0))), 0.05)

    result = {"__all__": pooled(usable) if len(usable) else 0.5}
    result.update({kind: pooled(group) for kind, group in usable.groupby("residue_type")})
    return result


def _pool(group: pd.DataFrame) -> float:
    degrees = group["n"] - 1
    return max(math.sqrt(float((group["var"] * group["n"]).sum() / degrees.sum())), 0.05)


def _between_site_sd(sites: pd.DataFrame, trend_dof: Mapping[str, float] | None = None) -> float:
    """Method-of-moments between-site log-sd within residue types, floored at MIN_TAU.

    For a type with k sites whose means (less their covariate trend) deviate by r_i from
    the type's mean, E[sum r_i^2] = (k - 1 - d) (tau^2 + mean v_i), where v_i = sigma_w^2 /
    n_eff is the sampling variance of site mean i and d the effective degrees of freedom
    the type's trend used (``trend_dof``; none without one): a trend fitted to a few sites
    absorbs part of their spread, which must not be read as sites agreeing.
    """
    squares, noise, dof = 0.0, 0.0, 0.0
    for residue_type, group in sites.groupby("residue_type"):
        free = len(group) - 1 - (trend_dof or {}).get(residue_type, 0.0)
        if free <= 0:  # a lone site, or a trend that used every degree of freedom
            continue
        squares += float(np.sum(np.square(group["mean"] - group["mean"].mean())))
        noise += free * float(np.mean(group["sigma_w"] ** 2 / group["n_eff"]))
        dof += free
    if dof <= 0:
        return 0.5
    variance = (squares - noise) / dof
    return max(math.sqrt(max(variance, 0.0)), MIN_TAU)
