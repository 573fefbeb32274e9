"""One site, one element: choose the within-site model by blocked CV and estimate blocks.

The candidates are ``SiteField`` models (``models.within_site``): the site's shrunk mean
(no spatial structure), a Gaussian field in log-grade and one in normal scores. When
covariate rasters vary over a site with ``MIN_HOLES_FOR_DRIFT`` holes, both fields carry
a linear drift on the covariates (each effect's variance fitted by likelihood); with
``MIN_HOLES_FOR_TREND`` holes each is offered again with a random-forest covariate trend
instead. A site with fewer than ``MIN_HOLES_OWN_KERNEL`` holes and no drift takes its
fields' kernel shape from the thin sites of its residue type (``pooled_site_kernels``).
Each is scored on the same blocked folds, held-out composites predicted through the path
that publishes the rasters (``SiteField.held_out``); the baselines scored on those folds
are the residue-type mean, inverse-distance weighting and ordinary kriging, each on
log-grade and on grade (at the sites the caller asks for: they are a yardstick, not part of
the estimate). Log-grade candidates are offered only where the composites' lognormal mean
matches their declustered mean (else a lognormal model would publish metal the samples do
not hold). The log-grade field (else the normal-score one) is kept unless another
candidate's held-out log-grade RMSE, grade RMSE and block metal error, summed fold by fold,
are clearly lower (``choose``), so a model cannot win on logs while losing on metal, nor on
the noise of five folds. Its intervals are calibrated on its held-out errors, then it is
refitted on every composite and simulated jointly over a block grid inside the footprint,
with blocks sized by the hole spacing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from joblib import delayed
from scipy.spatial import cKDTree

from residua.geodata.blocks import BlockGrid, block_grid
from residua.geodata.covariate_points import sample_covariates
from residua.geodata.progress import run_jobs
from residua.models.grade import Z80
from residua.models.pooled_kernel import MAX_POOLED_SITES, MIN_POOLED_SITES, PooledKernel, fit_pooled_kernel
from residua.models.reproduction import variogram_ratio, weighted_quantile
from residua.models.selection import blocked_folds, cross_validate, interval_scale_from
from residua.models.spatial import InverseDistance, OrdinaryKriging
from residua.models.within_site import SiteField, block_field_draws, field_covariance

MIN_COMPOSITES = 12
MIN_HOLES = 4
#: Fewest composites for a normal-score transform (its table is the site's own distribution).
MIN_COMPOSITES_NORMAL_SCORE = 12
#: Fewest holes for a linear covariate drift in a site's field (two or three variances to fit).
MIN_HOLES_FOR_DRIFT = 30
#: Fewest holes for a random-forest covariate trend: with fewer, each of the five blocked folds
#: holds out a handful of holes, which cannot tell a forest's gain from noise (``choose``
#: adopted it at under 1 % of such sites in the national benchmark), and its six forests per
#: site cost more than all the other candidates together.
MIN_HOLES_FOR_TREND = 100
#: Fewest holes for a site to fit its own kernel; thinner sites without a drift share their
#: residue type's (``models.pooled_kernel``): Webster and Oliver (1992) found variograms from
#: fewer than 100 points unreliable.
MIN_HOLES_OWN_KERNEL = 100
#: At most this many blocks (cells x layers) per site's rasters, whose percentiles are per-block
#: marginals (linear in the block count); a larger site gets larger cells.
MAX_BLOCKS = 10_000
#: The site mean is simulated jointly on at most this many blocks (the draws cost the cube of
#: the block count); a site with more gets a coarser grid for its joint draws.
MAX_JOINT_BLOCKS = 400
#: At most this many joint draws summarise the site mean (its log-mean and log-sd, whose Monte Carlo
#: errors are then about 4.5 % and 3 % of that sd): the draws cost as much as all the fitting.
MAX_JOINT_DRAWS = 500
MAX_LAYERS = 4
#: Log-grade candidates are offered only where the declustered composites' lognormal mean is
#: within this (as |ln ratio|) of their arithmetic mean (``lognormal_mean_gap``), else normal scores only.
LOG_MEAN_TOLERANCE = float(np.log(1.1))
#: Held-out composites that weigh as much as the prior belief that intervals are calibrated (``shrunk_interval_scale``).
CALIBRATION_PRIOR_N = 30
#: The candidate kept unless blocked CV says another is clearly better (``choose``): the first present.
DEFAULT_ORDER = ("log_gp", "normal_score_gp", "shrunk_mean")
#: How many standard errors (over folds) below the default's error another candidate must be to replace it.
CHOICE_STANDARD_ERRORS = 2.0
#: Block edge bounds (m) when sized from the hole spacing.
MIN_CELL_M, MAX_CELL_M = 5.0, 500.0


@dataclass(frozen=True)
class SiteBlockEstimate:
    """A sampled site's block model for one element.

    ``log_mean``/``log_sd`` describe the log of the site's mean grade over the blocks;
    ``block_log_sd`` is the spread of log block grades within the site (the median over
    draws), which decides how much metal lies above a cut-off; ``reproduction`` holds the
    checks of ``models.reproduction`` (declustered and simulated means, histogram and
    variogram reproduction);
    ``cv`` holds held-out predictions per method (candidates and baselines); the band
    arrays are the P10/P50/P90 of depth-averaged block grade (g/t), north-up rasters with
    ``transform`` in the footprint's local UTM CRS (NaN outside the footprint), cells of
    ``cell_m``; ``p10_sample``/``p90_sample`` bound what one new composite in the cell would
    assay (the nugget included: the interval blocked validation calibrates and scores).
    """

    site_id: str
    element: str
    chosen: str
    interval_scale: float
    log_mean: float
    log_sd: float
    block_log_sd: float
    reproduction: dict[str, float]
    cell_m: float
    cv: pd.DataFrame
    transform: Affine
    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    p10_sample: np.ndarray
    p90_sample: np.ndarray


def estimate_site_blocks(
    table: pd.DataFrame,
    prior_mean: float,
    prior_var: float,
    footprint_m: shapely.Geometry,
    thickness_m: float,
    n_draws: int = 500,
    seed: int = 0,
    composite_length_m: float = 1.5,
    type_mean: float | None = None,
    baselines: bool = True,
    block_size_m: float | None = None,
    covariate_rasters: dict[str, Path] | None = None,
    crs: object = None,
    pooled_kernels: dict[str, PooledKernel] | None = None,
) -> SiteBlockEstimate | None:
    """Fit, validate and simulate one site's element; None when data are too thin.

    Parameters
    ----------
    table
        The site's composites for one element (``x_m``, ``y_m``, ``depth_m``,
        ``depth_to_m``, ``grade_gt``, ``log_grade``, ``weight``, ``hole_id``, and
        ``pcov_<name>`` covariate values at the composites when ``covariate_rasters``).
    prior_mean, prior_var
        The site-level model's mean log-grade for this site before its own samples
        (residue-type mean plus covariate trend) and its variance.
    footprint_m
        The footprint in the same metric CRS (``crs``) as ``x_m``/``y_m``.
    thickness_m
        Mean deposit thickness: blocks extend from the surface to this depth, so the site
        mean covers the whole tonnage.
    type_mean
        The residue-type mean log-grade for the type-mean baseline (default ``prior_mean``).
    baselines
        Also score the baselines on the same folds (``cv`` then holds their rows too).
    block_size_m
        Block edge; default half the median distance from a hole to its nearest other hole
        (within ``MIN_CELL_M``-``MAX_CELL_M``), enlarged to stay within ``MAX_BLOCKS``.
    covariate_rasters, crs
        Covariate name -> raster, sampled at block centres (given in ``crs``) for the trend.
    pooled_kernels
        Transform -> the kernel shape of the site's residue type (``pooled_site_kernels``),
        used by the fields of a site that ``uses_pooled_kernel``.
    """
    if not is_modelled(table):
        return None
    covariates = [f"pcov_{name}" for name in covariate_rasters or {} if f"pcov_{name}" in table]
    X = table[["x_m", "y_m", "depth_m", *covariates]].to_numpy(dtype=float)
    grades, weights = table["grade_gt"].to_numpy(dtype=float), table["weight"].to_numpy(dtype=float)
    y = np.log(grades)
    folds = blocked_folds(X[:, :2], n_splits=5, n_blocks_per_side=3, seed=seed)
    if len(folds) < 2:
        return None
    pooled = (pooled_kernels or {}) if uses_pooled_kernel(table, X[:, 3:]) else {}
    candidates = _candidates(prior_mean, prior_var, table, X[:, 3:], seed, pooled)
    if "normal_score_gp" in candidates and lognormal_mean_gap(grades, weights) > LOG_MEAN_TOLERANCE:
        candidates = {name: model for name, model in candidates.items() if model.transform != "log"}
    fitted = _fit_candidates(candidates, X, grades, weights)
    held_out = {name: model.held_out(X, grades, folds, weights) for name, model in fitted.items()}
    if baselines:
        held_out.update(_baselines_cv(X[:, :3], y, folds, prior_mean if type_mean is None else type_mean, prior_var))
    fold = np.zeros(len(y), dtype=int)
    for index, (_, test) in enumerate(folds):
        fold[test] = index
    held_out = {name: frame.assign(fold=fold) for name, frame in held_out.items()}
    chosen = choose({name: held_out[name] for name in fitted})
    scale = shrunk_interval_scale(interval_scale_from(held_out[chosen]), len(y))
    model = fitted[chosen]
    depths = _layer_depths(thickness_m, composite_length_m)
    cell = block_size_m or data_block_size(table[["x_m", "y_m"]].to_numpy(dtype=float), footprint_m.area, len(depths))
    grid = block_grid(footprint_m, depths, cell)
    centres = _block_inputs(model, grid.centres, covariate_rasters, crs, X)
    p10, p50, p90, p10_sample, p90_sample = _band_quantiles(model, centres, grid, scale)
    joint = grid
    if len(grid.centres) > MAX_JOINT_BLOCKS:  # the site mean from a coarser grid of the same field
        joint = block_grid(footprint_m, depths, float(np.sqrt(footprint_m.area * len(depths) / MAX_JOINT_BLOCKS)))
    joint_centres = centres if joint is grid else _block_inputs(model, joint.centres, covariate_rasters, crs, X)
    fields = block_field_draws(model, joint_centres, min(n_draws, MAX_JOINT_DRAWS), seed, scale)
    draws = model.transform_.block_mean(fields, model.nugget_)
    site_mean = np.log(draws.mean(axis=1))
    declustered = float(np.average(grades, weights=weights))
    reproduction = {
        "declustered_mean_gt": declustered,
        "simulated_mean_gt": float(np.exp(site_mean).mean()),
        "mean_z": float((np.log(declustered) - site_mean.mean()) / max(site_mean.std(ddof=1), 1e-9)),
        "p90_ratio": float(np.percentile(draws, 90) / weighted_quantile(grades, weights, 0.9)),
        "variogram_ratio": variogram_ratio(  # of the field about its trend, which the kernel models
            fields[:20] - model.trend_at(joint_centres),
            joint_centres,
            lambda xy: field_covariance(model, xy) * scale**2,
        ),
    }
    cv = pd.concat([frame.assign(method=name) for name, frame in held_out.items()], ignore_index=True)
    return SiteBlockEstimate(
        site_id=str(table["site_id"].iloc[0]),
        element=str(table.attrs.get("element", "")),
        chosen=chosen,
        interval_scale=scale,
        log_mean=float(site_mean.mean()),
        log_sd=float(site_mean.std(ddof=1)),
        block_log_sd=float(np.median(np.log(draws).std(axis=1))),
        reproduction=reproduction,
        cell_m=float(grid.cell_m),
        cv=cv,
        transform=grid.transform,
        p10=p10,
        p50=p50,
        p90=p90,
        p10_sample=p10_sample,
        p90_sample=p90_sample,
    )


def is_modelled(table: pd.DataFrame) -> bool:
    """Whether a site's composites of one element support a block model."""
    return len(table) >= MIN_COMPOSITES and table["hole_id"].nunique() >= MIN_HOLES and np.ptp(table["log_grade"]) > 0


def has_drift(table: pd.DataFrame, covariates: np.ndarray) -> bool:
    """Whether a site's fields carry a covariate drift: enough holes and a covariate that varies."""
    varies = bool(covariates.size) and bool(np.any(np.nanstd(covariates, axis=0) > 0))
    return varies and table["hole_id"].nunique() >= MIN_HOLES_FOR_DRIFT


def uses_pooled_kernel(table: pd.DataFrame, covariates: np.ndarray) -> bool:
    """Whether a site's fields take their residue type's pooled kernel shape (thin, no drift)."""
    return table["hole_id"].nunique() < MIN_HOLES_OWN_KERNEL and not has_drift(table, covariates)


def pooled_site_kernels(
    tables: dict[str, pd.DataFrame], priors: pd.DataFrame, seed: int = 0, covariates: tuple[str, ...] = ()
) -> dict[str, dict[str, PooledKernel]]:
    """Per residue type, the kernel shape of each field transform, fitted to its thin sites at once.

    ``tables`` maps site id -> composites (with ``residue_type`` and the ``covariates``
    columns); ``priors`` (indexed by site id) holds ``log_mean`` and ``log_var``. Thin sites
    are modelled ones that ``uses_pooled_kernel``. A type with fewer than
    ``MIN_POOLED_SITES`` of them takes the shape pooled over every thin site of the element;
    with fewer than that in all, none is pooled (each site fits its own).
    """
    thin = {site: table for site, table in tables.items()
            if is_modelled(table) and uses_pooled_kernel(table, table[list(covariates)].to_numpy(float))}  # fmt: skip
    if len(thin) < MIN_POOLED_SITES:
        return {}
    types = pd.Series({site: str(table["residue_type"].iloc[0]) for site, table in thin.items()})
    groups = {name: list(members.index) for name, members in types.groupby(types) if len(members) >= MIN_POOLED_SITES}
    if not types.isin(groups).all():
        groups[None] = list(types.index)
    rng = np.random.default_rng(seed)
    jobs = []
    for members in groups.values():
        sample = (
            members
            if len(members) <= MAX_POOLED_SITES
            else sorted(rng.choice(members, MAX_POOLED_SITES, replace=False))
        )
        jobs.append(delayed(_pooled)({site: thin[site] for site in sample}, priors.loc[sample]))
    shapes = dict(zip(groups, run_jobs(jobs, "pooled kernels", unit="type")))
    return {name: shapes.get(name, shapes.get(None)) for name in types.unique()}


def _pooled(tables: dict[str, pd.DataFrame], priors: pd.DataFrame) -> dict[str, PooledKernel]:
    """The pooled shape of each field transform over the sites of ``tables``."""
    shapes = {}
    for transform in ("log", "normal_score"):
        residuals = []
        for site, table in tables.items():
            field = SiteField(transform, priors.loc[site, "log_mean"], priors.loc[site, "log_var"])
            X = table[["x_m", "y_m", "depth_m"]].to_numpy(dtype=float)
            residuals.append(field.residuals(X, table["grade_gt"].to_numpy(float), table["weight"].to_numpy(float)))
        shapes[transform] = fit_pooled_kernel(residuals)
    return shapes


def _candidates(
    prior_mean: float,
    prior_var: float,
    table: pd.DataFrame,
    covariates: np.ndarray,
    seed: int,
    pooled_kernels: dict[str, PooledKernel],
) -> dict[str, SiteField]:
    """The within-site candidates this site's data can support (fields with the pooled
    kernel of their transform when one is given)."""
    options = {"prior_mean": prior_mean, "prior_var": prior_var, "random_state": seed}
    drift = has_drift(table, covariates)
    fields = {"log_gp": "log"}
    if len(table) >= MIN_COMPOSITES_NORMAL_SCORE and table["grade_gt"].nunique() >= MIN_COMPOSITES_NORMAL_SCORE // 2:
        fields["normal_score_gp"] = "normal_score"
    candidates = {"shrunk_mean": SiteField("log", spatial=False, **options)}
    for name, transform in fields.items():
        pooled = pooled_kernels.get(transform)
        candidates[name] = SiteField(transform, drift=drift, pooled_kernel=pooled, **options)
    if drift and table["hole_id"].nunique() >= MIN_HOLES_FOR_TREND and not np.isnan(covariates).any():
        for name, transform in fields.items():
            candidates[f"{name}_trend"] = SiteField(transform, trend=True, **options)
    return candidates


def _fit_candidates(candidates: dict[str, SiteField], X: np.ndarray, grades: np.ndarray, weights: np.ndarray):
    """Fit every candidate; the first field's likelier smoothness (``SiteField.nu_``) is kept for the others.

    Smoothness is a property of the grade field, not of the transform or the trend, and
    fitting each candidate with both values would double the cost of the block models.
    """
    fitted, nu = {}, None
    for name, model in candidates.items():
        if model.spatial and nu is not None:
            model.set_params(nu=nu)
        fitted[name] = model.fit(X, grades, weights)
        nu = nu if nu is not None or not model.spatial else model.nu_
    return fitted


def lognormal_mean_gap(grades: np.ndarray, weights: np.ndarray) -> float:
    """|ln(lognormal mean / arithmetic mean)| of the declustered composites.

    Log-grade models back-transform with the lognormal mean; where that differs from the
    declustered mean of the grades themselves, they would publish metal the samples do not
    hold, however well they predict single composites.

    >>> rng = np.random.default_rng(0)
    >>> round(lognormal_mean_gap(np.exp(rng.normal(0, 1, 20_000)), np.ones(20_000)), 2)
    0.0
    """
    log = np.log(grades)
    mean = float(np.average(log, weights=weights))
    variance = float(np.average((log - mean) ** 2, weights=weights))
    return abs(mean + variance / 2 - float(np.log(np.average(grades, weights=weights))))


def choose(held_out: dict[str, pd.DataFrame]) -> str:
    """The default candidate (``DEFAULT_ORDER``), unless another is clearly better on held-out blocks.

    A candidate's error in each fold is the sum of its log-grade RMSE, its grade RMSE and
    the absolute log error of the fold's metal, each relative to the default's over all
    folds: a model cannot win on logs while losing on metal. A candidate replaces the
    default only if its mean per-fold difference from the default lies below zero by more
    than ``CHOICE_STANDARD_ERRORS`` standard errors of that mean; of those, the one with the
    lowest bound wins. With five folds, differences of a few per cent are noise, and a model
    chosen on noise (a trend that happened to suit the folds, a flat mean) publishes worse
    maps than the default field would have.
    """
    default = next(name for name in DEFAULT_ORDER if name in held_out)
    reference = np.maximum(_errors(held_out[default]), 1e-6)
    per_fold = {name: _fold_errors(frame) @ (1 / reference) for name, frame in held_out.items()}
    chosen, bound = default, 0.0
    for name, errors in per_fold.items():
        difference = errors - per_fold[default]
        if len(difference) < 2:
            continue
        upper = difference.mean() + CHOICE_STANDARD_ERRORS * difference.std(ddof=1) / np.sqrt(len(difference))
        if upper < bound:
            chosen, bound = name, float(upper)
    return chosen


def _errors(frame: pd.DataFrame) -> np.ndarray:
    """Log-grade RMSE, grade RMSE and block metal error over all held-out composites (as ``score``
    and ``grade_scores`` compute them, in arrays: ``choose`` runs at every site)."""
    log_error = frame["predicted"].to_numpy(float) - frame["observed"].to_numpy(float)
    grade_error = frame["predicted_gt"].to_numpy(float) - frame["observed_gt"].to_numpy(float)
    metal = _fold_errors(frame)[:, 2]
    metal = metal[np.isfinite(metal)]
    return np.sqrt([np.mean(log_error**2), np.mean(grade_error**2), np.mean(metal**2)])


def _fold_errors(frame: pd.DataFrame) -> np.ndarray:
    """Per fold (rows): log-grade RMSE, grade RMSE and |ln(predicted / observed metal)|."""
    fold = pd.factorize(frame["fold"], sort=True)[0]
    count = np.bincount(fold)
    observed, predicted = frame["observed"].to_numpy(float), frame["predicted"].to_numpy(float)
    observed_gt, predicted_gt = frame["observed_gt"].to_numpy(float), frame["predicted_gt"].to_numpy(float)
    log_error = np.bincount(fold, (predicted - observed) ** 2) / count
    grade_error = np.bincount(fold, (predicted_gt - observed_gt) ** 2) / count
    metal = np.bincount(fold, predicted_gt) / np.bincount(fold, observed_gt)
    return np.column_stack([np.sqrt(log_error), np.sqrt(grade_error), np.abs(np.log(metal))])


def grade_scores(predictions: pd.DataFrame) -> dict[str, float]:
    """Scores on grade (g/t): RMSE, RMSE relative to the mean observed grade, relative bias of metal,
    and ``block_metal_error``, the RMS of ln(predicted / observed metal) over held-out blocks
    (folds, per site when rows carry ``site_id``; equal-length composites, so metal is the sum of grades)."""
    predicted, observed = predictions["predicted_gt"].to_numpy(float), predictions["observed_gt"].to_numpy(float)
    error = predicted - observed
    mean = float(observed.mean())
    rmse = float(np.sqrt(np.mean(error**2)))
    scores = {"rmse_gt": rmse, "relative_rmse_gt": rmse / mean, "metal_bias": float(error.mean()) / mean}
    if "fold" in predictions:
        keys = [predictions[column] for column in ("site_id", "fold") if column in predictions]
        block = pd.MultiIndex.from_arrays(keys).factorize()[0] if len(keys) > 1 else keys[0].to_numpy(int)
        ratio = np.bincount(block, predicted) / np.bincount(block, observed)
        scores["block_metal_error"] = float(np.sqrt(np.mean(np.log(ratio[np.isfinite(ratio)]) ** 2)))
    return scores


def shrunk_interval_scale(scale: float, n: int) -> float:
    """A site's interval calibration factor, shrunk toward 1 by its number of held-out composites.

    A factor measured on a dozen held-out composites is mostly noise, and a large one
    stretches a normal-score field beyond the distribution it was fitted to. The log of
    the factor is weighted by n / (n + ``CALIBRATION_PRIOR_N``) and kept within
    [1/2, 2]; the report's coverage is measured with factors from the other sites.

    >>> round(shrunk_interval_scale(3.0, 10), 3), round(shrunk_interval_scale(1.2, 10_000), 3)
    (1.316, 1.199)
    """
    weight = n / (n + CALIBRATION_PRIOR_N)
    return float(np.clip(np.exp(weight * np.log(max(scale, 1e-9))), 0.5, 2.0))


def data_block_size(xy: np.ndarray, area_m2: float, n_layers: int) -> float:
    """Half the median distance from a hole to its nearest other hole, within bounds and ``MAX_BLOCKS``.

    >>> round(data_block_size(np.array([[0.0, 0.0], [0.0, 40.0], [40.0, 0.0], [40.0, 40.0]]), 1e4, 1), 1)
    20.0
    """
    collars = np.unique(np.round(xy, 3), axis=0)
    spacing = float(np.median(cKDTree(collars).query(collars, k=2)[0][:, 1])) if len(collars) > 1 else 2 * MAX_CELL_M
    cell = float(np.clip(spacing / 2, MIN_CELL_M, MAX_CELL_M))
    return max(cell, float(np.sqrt(max(area_m2, 1.0) * n_layers / MAX_BLOCKS)))


def _baselines_cv(X: np.ndarray, y: np.ndarray, folds, type_mean: float, prior_var: float) -> dict[str, pd.DataFrame]:
    """Held-out predictions of the residue-type mean, inverse-distance weighting and ordinary kriging.

    Each baseline predicts log-grade (``predicted``) and, fitted separately to grades,
    grade itself (``predicted_gt``): IDW and kriging of grades are what a practitioner
    would use for metal, and the type mean's grade is its lognormal mean.
    """
    grades = np.exp(y)
    held_out = {"type_mean": _type_mean_cv(y, folds, type_mean, prior_var)}
    held_out["idw"] = cross_validate(InverseDistance(n_coords=3), X, y, folds).assign(
        observed_gt=grades, predicted_gt=cross_validate(InverseDistance(n_coords=3), X, grades, folds)["predicted"]
    )
    try:  # the variogram is fitted once on all composites and kept in the folds, as the GP's kernel is
        log_mean, log_std = OrdinaryKriging(n_coords=3).fit(X, y).held_out(X, y, folds)
        grade_mean, _ = OrdinaryKriging(n_coords=3).fit(X, grades).held_out(X, grades, folds)
        held_out["ordinary_kriging"] = pd.DataFrame({"observed": y, "predicted": log_mean, "std": log_std,
                                                     "observed_gt": grades, "predicted_gt": grade_mean})  # fmt: skip
    except (ValueError, np.linalg.LinAlgError):
        pass  # e.g. a variogram that cannot be fitted: the baseline is left out at this site
    return held_out


def _type_mean_cv(y: np.ndarray, folds, prior_mean: float, prior_var: float) -> pd.DataFrame:
    """The residue-type mean everywhere, with the prior and training spreads as its std."""
    predicted, std, grade = np.full(len(y), np.nan), np.full(len(y), np.nan), np.full(len(y), np.nan)
    for train, test in folds:
        predicted[test] = prior_mean
        std[test] = np.sqrt(prior_var + np.var(y[train]))
        grade[test] = np.exp(prior_mean + np.var(y[train]) / 2)
    return pd.DataFrame(
        {"observed": y, "predicted": predicted, "std": std, "observed_gt": np.exp(y), "predicted_gt": grade}
    )


def _layer_depths(thickness_m: float, length_m: float) -> np.ndarray:
    """Mid-depths of equal block layers from the surface to the deposit base, each at most
    ``length_m`` thick (at most MAX_LAYERS layers), so every block lies inside the deposit.

    >>> _layer_depths(0.3, 1.5).tolist(), _layer_depths(4.5, 1.5).tolist()
    ([0.15], [0.75, 2.25, 3.75])
    """
    bottom = thickness_m if np.isfinite(thickness_m) and thickness_m > 0 else length_m
    n_layers = int(min(max(np.ceil(bottom / length_m - 1e-9), 1), MAX_LAYERS))
    return (np.arange(n_layers) + 0.5) * bottom / n_layers


def _block_inputs(model: SiteField, centres: np.ndarray, rasters, crs, X: np.ndarray) -> np.ndarray:
    """Block centres with the covariates at them when the model has a trend or a drift (a gap takes the
    composites' mean)."""
    if not (model.trend or model.drift):
        return centres
    at_blocks = sample_covariates(rasters, centres[:, :2], crs).to_numpy(dtype=float)
    return np.column_stack([centres, np.where(np.isnan(at_blocks), np.nanmean(X[:, 3:], axis=0), at_blocks)])


def _band_quantiles(model: SiteField, centres: np.ndarray, grid: BlockGrid, scale: float) -> tuple[np.ndarray, ...]:
    """P10/P50/P90 rasters of block grade and P10/P90 of a sample's grade (NaN outside the footprint),
    each averaged over the cell's layers.

    A block's grade is the back-transform of its field value averaged over the nugget, which
    rises with the field, so its percentiles are the back-transformed percentiles of the
    field's conditional normal distribution: exact per block, and the held-out P50 that
    validation scores (``SiteField.held_out``) at the same place. A sample (one composite)
    keeps the nugget, so its percentiles use the field's and the nugget's variance together,
    widened by ``scale`` as validation calibrated exactly that interval.
    """
    mean, sd = model.field_marginals(centres)
    cells = grid.rows * grid.shape[1] + grid.cols
    unique, inverse = np.unique(cells, return_inverse=True)
    sample_sd = scale * np.sqrt(sd**2 + model.nugget_)
    values = [model.transform_.block_mean(mean + z * scale * sd, model.nugget_) for z in (-Z80, 0.0, Z80)]
    values += [model.transform_.backward(mean + z * sample_sd) for z in (-Z80, Z80)]
    bands = []
    for value in values:
        band = np.full(grid.shape[0] * grid.shape[1], np.nan, dtype="float32")
        band[unique] = np.bincount(inverse, value) / np.bincount(inverse)
        bands.append(band.reshape(grid.shape))
    return tuple(bands)
