"""How far covariate-aware geostatistics gets below ordinary kriging on the Jura held-out blocks.

Run from the repository root::

    .venv/bin/python benchmarks/jura_covariate_ceiling.py [--seeds 0 1 2 ...] [--out benchmarks/results/X.md]

It measures, on the Swiss Jura TOPSOIL survey (real data, not tailings: ``../shared/realdata/jura``,
259 samples of Cd, Co, Cr, Cu, Ni, Pb, Zn with rock type and land use), the held-out log-grade RMSE of
standard estimators that use the rock-type and land-use covariates, relative to the ordinary kriging
(OK) baseline of ``benchmarks/realdata_run.py``, on exactly the folds Residua is scored on: the training
pool and seeded 5x5 spatial-block hold-out of ``benchmarks/realdata_drops.py`` (the hold-out is drawn
from the 259 samples of ``jura_samples.csv``, the only sample file there; the survey's 100 validation
points are not in it). Everything is fitted on the fold's training samples only, in UTM 32N metres
(as the OK baseline), on ln(grade) (every Jura value is positive, so no zero needs handling):

* ``ok``: ``realdata_run.point_methods``' ordinary kriging (PyKrige spherical variogram), checked
  against the figures published in ``benchmarks/results/realdata_run.json``.
* ``sklm_rock`` / ``sklm_rock_landuse``: simple kriging with varying local means (class means of ln
  grade; rock x land-use classes with fewer than ``MIN_CLASS`` training samples fall back to the rock
  mean, rocks with fewer to the global mean), residual variogram fitted as OK's.
* ``rk``: regression kriging, OLS of ln grade on one-hot rock + land use, OK of the residuals.
* ``ked``: kriging with external drift (universal kriging, drift = intercept + one-hot rock and land
  use), spherical variogram fitted as OK's to the OLS residuals.
* ``ked_ml``: the same KED system with an exponential + nugget covariance fitted by maximum likelihood
  (scikit-learn Gaussian process) to the OLS residuals.
* ``rf_ok``: random forest on one-hot covariates + coordinates, plus OK of its out-of-bag residuals.
* ``gp``: Gaussian process, ConstantKernel * Matern(nu=0.5) + WhiteKernel fitted by maximum
  likelihood on ln grade (no covariates, training mean as its mean): how much OK depends on its
  variogram fit.
* ``gp_ridge``: the same GP on the residuals of a ridge (RidgeCV) fit on the one-hot covariates.

Scores per metal, seed and method: log-RMSE (ln P50 vs ln observed, P50 = exp(prediction)) and its
ratio to OK's; the arithmetic RMSE ratio (estimate exp(pred + var/2)); the 80 % coverage of
exp(pred +- 1.2816 sd). Writes a markdown page (``--out``) and its JSON twin beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pykrige.variogram_models import spherical_variogram_model
from pyproj import Transformer
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.linear_model import LinearRegression, RidgeCV
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
# These imports need the sys.path entries above (E402 on purpose), as in realdata_run.py.
from realdata_drops import JURA_CRS, JURA_METALS, REALDATA, spatial_block_holdout  # noqa: E402
from realdata_run import CONTROL, Z80, git_state, machine, point_methods  # noqa: E402

from residua.models.spatial import OrdinaryKriging  # noqa: E402

DEFAULT_SEEDS = tuple(range(10))
PUBLISHED_SEEDS = (0, 1, 2)
#: Smallest training class (rock, or rock x land use) whose own mean SKlm uses.
MIN_CLASS = 5
COVARIATES = ("Rock", "Landuse")
METHODS = ("ok", "sklm_rock", "sklm_rock_landuse", "rk", "ked", "ked_ml", "rf_ok", "gp", "gp_ridge")
TARGET_RATIO = 0.90
PUBLISHED = ROOT / "benchmarks" / "results" / "realdata_run.json"
#: (mean, variance) of ln grade at the held-out points; variance None when the method has none.
Prediction = tuple[np.ndarray, np.ndarray | None]


# ----------------------------------------------------------------------------- data
def jura_samples(classes: str = "samples") -> tuple[pd.DataFrame, dict[str, float]]:
    """The Jura samples as ``realdata_drops.build_jura`` reads them, with its sample ids and UTM 32N metres.

    ``classes="map"`` replaces each sample's recorded rock and land use by those of the nearest cell of
    ``jura_grid.csv`` (the 50 m map the drops' covariate rasters are made of: what a raster-fed model sees at
    a composite and at a held-out point); also returns the share of samples whose map class is the recorded one.
    """
    samples = pd.read_csv(REALDATA / "jura" / "jura_samples.csv")
    samples.insert(0, "sample_id", [f"JURA-{i + 1:03d}" for i in range(len(samples))])
    agreement = {}
    if classes == "map":
        grid = pd.read_csv(REALDATA / "jura" / "jura_grid.csv")
        _, nearest = cKDTree(grid[["Xloc", "Yloc"]].to_numpy()).query(samples[["Xloc", "Yloc"]].to_numpy())
        for column in COVARIATES:
            mapped = grid[column].iloc[nearest].to_numpy()
            agreement[column] = float(np.mean(mapped == samples[column].to_numpy()))
            samples[column] = mapped
    east, north = Transformer.from_crs("EPSG:4326", JURA_CRS, always_xy=True).transform(samples["long"], samples["lat"])
    samples["east"], samples["north"] = east, north
    return samples, agreement


def holdout(samples: pd.DataFrame, seed: int) -> tuple[np.ndarray, list[int]]:
    """The held-out mask and blocks of ``seed``: ``spatial_block_holdout`` over Xloc/Yloc, as ``build_jura``."""
    return spatial_block_holdout(samples["Xloc"].to_numpy(), samples["Yloc"].to_numpy(), seed)


def one_hot(samples: pd.DataFrame, train: np.ndarray) -> np.ndarray:
    """Intercept + one-hot rock and land use, one reference class per variable dropped.

    Only classes present in the training rows get a column, and the training set's most frequent
    class of each variable is the reference, so the design has full column rank on the training rows;
    a held-out point of a class absent from training is treated as the reference class.
    """
    columns = [np.ones(len(samples))]
    for variable in COVARIATES:
        counts = samples.loc[train, variable].value_counts()
        for name in counts.index[1:]:
            columns.append((samples[variable] == name).to_numpy(float))
    return np.column_stack(columns)


# ----------------------------------------------------------------------------- kriging engine
def spherical_covariance(params: list[float]) -> Callable[[np.ndarray], np.ndarray]:
    """Covariance at distances > 0 of PyKrige's spherical variogram [partial sill, range, nugget]."""
    sill = params[0] + params[2]
    return lambda d: sill - spherical_variogram_model(params, d)


def krige(cov: Callable[[np.ndarray], np.ndarray], sill: float, X_train: np.ndarray, z: np.ndarray,
          X_test: np.ndarray, F_train: np.ndarray | None = None,
          F_test: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Kriging with drift columns ``F`` (none: simple kriging of ``z`` about 0; a column of ones: OK).

    Global neighbourhood, as the OK baseline. ``cov`` gives the covariance at distances > 0; ``sill``
    is the covariance at distance 0 (nugget included: held-out points are new samples). Solves
    [[C, F], [F', 0]] [w; l] = [c0; f0]; variance = sill - w'c0 - l'f0.
    """
    n = len(z)
    C = cov(cdist(X_train, X_train))
    np.fill_diagonal(C, sill)
    c0 = cov(cdist(X_train, X_test))
    k = 0 if F_train is None else F_train.shape[1]
    system = np.zeros((n + k, n + k))
    system[:n, :n] = C
    right = np.vstack([c0, F_test.T]) if k else c0
    if k:
        system[:n, n:], system[n:, :n] = F_train, F_train.T
    solution = np.linalg.solve(system, right)
    weights, multipliers = solution[:n], solution[n:]
    variance = sill - np.sum(weights * c0, axis=0) - (np.sum(multipliers * F_test.T, axis=0) if k else 0.0)
    return weights.T @ z, np.maximum(variance, 0.0)


def residual_variogram(X: np.ndarray, residual: np.ndarray) -> list[float]:
    """Spherical variogram [partial sill, range m, nugget] fitted to ``residual`` as OK fits its own."""
    return OrdinaryKriging(n_coords=2).fit(X, residual).variogram_parameters_


def ok_of(X_train: np.ndarray, z: np.ndarray, X_test: np.ndarray) -> Prediction:
    """Ordinary kriging (``models.spatial.OrdinaryKriging``) of ``z``: mean and variance."""
    mean, std = OrdinaryKriging(n_coords=2).fit(X_train, z).predict(X_test, return_std=True)
    return mean, std**2


def gp_fit(X_km: np.ndarray, z: np.ndarray, seed: int) -> GaussianProcessRegressor:
    """ConstantKernel * Matern(nu=0.5) + WhiteKernel fitted by maximum likelihood on ``z`` (taken as zero-mean)."""
    var = float(np.var(z))
    kernel = ConstantKernel(var, (1e-4, 1e2)) * Matern(1.0, (0.01, 100.0), nu=0.5) + WhiteKernel(var / 4, (1e-6, 1e1))
    model = GaussianProcessRegressor(kernel, normalize_y=False, n_restarts_optimizer=3, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X_km, z)


def gp_parameters(model: GaussianProcessRegressor) -> dict[str, float]:
    """The fitted GP's sill, practical range (3 x length scale, km) and nugget."""
    params = model.kernel_.get_params()
    return {"partial_sill": float(params["k1__k1__constant_value"]),
            "practical_range_km": 3 * float(params["k1__k2__length_scale"]),
            "nugget": float(params["k2__noise_level"])}  # fmt: skip


# ----------------------------------------------------------------------------- methods
def class_means(z: np.ndarray, samples: pd.DataFrame, train: np.ndarray, by_landuse: bool) -> np.ndarray:
    """SKlm local mean of every sample: training mean of ``z`` by rock (or rock x land use, falling back).

    A class with fewer than ``MIN_CLASS`` training samples takes its parent's mean (rock x land use ->
    rock -> the global training mean).
    """
    table = samples.assign(z=np.where(train, z, np.nan))
    mean = np.full(len(samples), np.nanmean(table["z"]))
    levels = [["Rock"], ["Rock", "Landuse"]] if by_landuse else [["Rock"]]
    for keys in levels:
        stats = table[train].groupby(keys)["z"].agg(["mean", "size"])
        means = stats.loc[stats["size"] >= MIN_CLASS, "mean"].to_dict()  # keys: class name, or (rock, land use)
        classes = list(zip(*(table[k] for k in keys), strict=True)) if len(keys) > 1 else list(table[keys[0]])
        found = np.array([means.get(c, np.nan) for c in classes], float)
        mean = np.where(np.isfinite(found), found, mean)
    return mean


def all_methods(samples: pd.DataFrame, train: np.ndarray, z: np.ndarray, seed: int) -> tuple[dict, dict]:
    """Predictions (mean, variance of ln grade) of every method at the held-out rows, and fitted parameters."""
    test = ~train
    X = samples[["east", "north"]].to_numpy(float)
    X_km = X / 1000.0
    Xtr, Xte, ztr = X[train], X[test], z[train]
    F = one_hot(samples, train)
    out, fitted = {}, {}

    out["ok"] = ok_of(Xtr, ztr, Xte)

    for name, by_landuse in (("sklm_rock", False), ("sklm_rock_landuse", True)):
        local = class_means(z, samples, train, by_landuse)
        params = residual_variogram(Xtr, ztr - local[train])
        mean, var = krige(spherical_covariance(params), params[0] + params[2], Xtr, ztr - local[train], Xte)
        out[name], fitted[name] = (local[test] + mean, var), params

    ols = LinearRegression(fit_intercept=False).fit(F[train], ztr)
    residual = ztr - ols.predict(F[train])
    mean, var = ok_of(Xtr, residual, Xte)
    out["rk"] = (ols.predict(F[test]) + mean, var)

    params = residual_variogram(Xtr, residual)
    out["ked"], fitted["ked"] = krige(spherical_covariance(params), params[0] + params[2], Xtr, ztr, Xte,
                                      F[train], F[test]), params  # fmt: skip

    gp = gp_fit(X_km[train], residual, seed)
    kernel = gp.kernel_
    sill = float(kernel.diag(X_km[:1])[0])

    def gp_cov(d: np.ndarray) -> np.ndarray:
        return kernel.k1(np.zeros((1, 2)), np.column_stack([d.ravel() / 1000.0, np.zeros(d.size)])).reshape(d.shape)

    out["ked_ml"], fitted["ked_ml"] = krige(gp_cov, sill, Xtr, ztr, Xte, F[train], F[test]), gp_parameters(gp)

    features = np.column_stack([F[:, 1:], X_km])
    forest = RandomForestRegressor(n_estimators=500, min_samples_leaf=3, oob_score=True, random_state=seed, n_jobs=2)
    forest.fit(features[train], ztr)
    mean, var = ok_of(Xtr, ztr - forest.oob_prediction_, Xte)
    out["rf_ok"] = (forest.predict(features[test]) + mean, var)

    centre = ztr.mean()
    gp = gp_fit(X_km[train], ztr - centre, seed)
    mean, std = gp.predict(X_km[test], return_std=True)
    out["gp"], fitted["gp"] = (centre + mean, std**2), gp_parameters(gp)

    ridge = RidgeCV(alphas=np.logspace(-3, 2, 21)).fit(F[train, 1:], ztr)
    gp = gp_fit(X_km[train], ztr - ridge.predict(F[train, 1:]), seed)
    mean, std = gp.predict(X_km[test], return_std=True)
    out["gp_ridge"], fitted["gp_ridge"] = (ridge.predict(F[test, 1:]) + mean, std**2), gp_parameters(gp)
    return out, fitted


def scores(observed: np.ndarray, mean: np.ndarray, var: np.ndarray | None) -> dict:
    """Log-RMSE of the P50, RMSE of the arithmetic estimate, 80 % coverage (None without a variance)."""
    log_rmse = float(np.sqrt(np.mean((mean - np.log(observed)) ** 2)))
    estimate = np.exp(mean + var / 2) if var is not None else np.exp(mean)
    coverage = None
    if var is not None:
        sd = np.sqrt(var)
        coverage = float(np.mean((observed >= np.exp(mean - Z80 * sd)) & (observed <= np.exp(mean + Z80 * sd))))
    return {"log_rmse": log_rmse, "rmse": float(np.sqrt(np.mean((estimate - observed) ** 2))), "coverage80": coverage}


def run_seed(samples: pd.DataFrame, seed: int) -> tuple[list[dict], dict, list[dict]]:
    """Scores of every method and metal for one hold-out seed, the fold's description and the OK checks."""
    held, blocks = holdout(samples, seed)
    train = ~held
    X = samples[["east", "north"]].to_numpy(float)
    rows, checks = [], []
    for metal in JURA_METALS:
        grade = samples[metal].to_numpy(float)
        predictions, fitted = all_methods(samples, train, np.log(grade), seed)
        dummy = pd.DataFrame({"p50_gt": np.ones(held.sum()), "p10_gt": 1.0, "p90_gt": 1.0})
        reference = point_methods(X[train], grade[train], X[held], dummy)["ordinary_kriging"][0]
        checks.append({"seed": seed, "metal": metal, "max_abs_diff_ln": float(np.max(np.abs(
            np.log(reference) - predictions["ok"][0])))})  # fmt: skip
        for method in METHODS:
            rows.append({"seed": seed, "metal": metal, "method": method, "n_train": int(train.sum()),
                         "n_test": int(held.sum()), **scores(grade[held], *predictions[method]),
                         "fitted": fitted.get(method)})  # fmt: skip
    return rows, {"seed": seed, "blocks": blocks, "n_train": int(train.sum()), "n_test": int(held.sum())}, checks


def numpy_ok_check(samples: pd.DataFrame) -> float:
    """Largest |difference| between this script's kriging engine (drift = ones) and PyKrige OK, Co seed 0."""
    held, _ = holdout(samples, 0)
    X, z = samples[["east", "north"]].to_numpy(float), np.log(samples["Co"].to_numpy(float))
    model = OrdinaryKriging(n_coords=2).fit(X[~held], z[~held])
    mean, std = model.predict(X[held], return_std=True)
    params = model.variogram_parameters_
    ones = np.ones((len(X), 1))
    ours, var = krige(spherical_covariance(params), params[0] + params[2], X[~held], z[~held], X[held], ones[~held],
                      ones[held])  # fmt: skip
    return float(max(np.max(np.abs(ours - mean)), np.max(np.abs(np.sqrt(var) - std))))


# ----------------------------------------------------------------------------- published figures
def published(path: Path = PUBLISHED) -> pd.DataFrame | None:
    """Residua's and OK's published Jura log-RMSE per seed and metal (the Co-as-Pt control left out)."""
    if not path.exists():
        return None
    jura = pd.DataFrame(json.loads(path.read_text())["jura"])
    jura = jura[~((jura["metal"] == CONTROL[0]) & (jura["element"] == CONTROL[1]))]
    wide = jura.pivot_table(index=["seed", "metal"], columns="method", values="log_rmse")
    return pd.DataFrame({"residua": wide["residua"], "ok": wide["ordinary_kriging"],
                         "ratio": wide["residua"] / wide["ordinary_kriging"]}).reset_index()  # fmt: skip


# ----------------------------------------------------------------------------- report
def summarise(rows: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    """Per metal and method over ``seeds``: mean/min/max of the log-RMSE ratio to OK, mean arithmetic ratio, cover."""
    part = rows[rows["seed"].isin(seeds)]
    grouped = part.groupby(["metal", "method"], sort=False)
    return pd.DataFrame({"n_seeds": grouped.size(), "mean": grouped["log_ratio"].mean(),
                         "min": grouped["log_ratio"].min(), "max": grouped["log_ratio"].max(),
                         "arith_mean": grouped["arith_ratio"].mean(), "log_rmse_mean": grouped["log_rmse"].mean(),
                         "cov80_mean": grouped["coverage80"].mean()})  # fmt: skip


def _f(value: float | None, digits: int = 3) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def metal_table(metal: str, early: pd.DataFrame, full: pd.DataFrame, residua: pd.DataFrame | None) -> str:
    """The markdown table of one metal: every method's ratio to OK over seeds 0-2 and over all seeds."""
    lines = ["| method | ratio mean (0-2) | min (0-2) | max (0-2) | ratio mean (all) | min (all) | max (all) | "
             "arith. ratio mean (all) | log-RMSE mean (all) | cov80 mean (all) |", "|---|" + "---|" * 9]  # fmt: skip
    if residua is not None and not residua.empty:
        r = residua["ratio"]
        lines.append(f"| residua (published, seeds {', '.join(map(str, residua['seed']))}) | {_f(r.mean())} | "
                     f"{_f(r.min())} | {_f(r.max())} |  |  |  |  |  |  |")  # fmt: skip
    for method in METHODS:
        e = early.loc[(metal, method)] if (metal, method) in early.index else None
        a = full.loc[(metal, method)]
        cells = [_f(e["mean"]), _f(e["min"]), _f(e["max"])] if e is not None else ["", "", ""]
        lines.append(f"| {method} | " + " | ".join([*cells, _f(a["mean"]), _f(a["min"]), _f(a["max"]),
                                                    _f(a["arith_mean"]), _f(a["log_rmse_mean"]),
                                                    _f(a["cov80_mean"], 2)]) + " |")  # fmt: skip
    return "\n".join(lines)


def best_lines(early: pd.DataFrame, full: pd.DataFrame) -> tuple[list[str], dict]:
    """One line per metal naming the method with the lowest mean ratio (all seeds) and whether it reaches 0.90."""
    lines, best = [], {}
    for metal in JURA_METALS:
        candidates = full.loc[metal].drop(index="ok")["mean"]
        method = str(candidates.idxmin())
        value = float(candidates.min())
        early_value = float(early.loc[(metal, method), "mean"]) if (metal, method) in early.index else np.nan
        reaches = value <= TARGET_RATIO
        best[metal] = {"method": method, "mean_ratio_all": value, "mean_ratio_0_2": early_value,
                       "reaches_target": bool(reaches), "below_ok": bool(value < 1)}  # fmt: skip
        lines.append(f"- **{metal}**: best `{method}`, mean ratio {value:.3f} over all seeds "
                     f"({_f(early_value)} over seeds 0-2): {'reaches' if reaches else 'does not reach'} <= "
                     f"{TARGET_RATIO:.2f}.")  # fmt: skip
    return lines, best


def target_table(rows: pd.DataFrame, early: pd.DataFrame, full: pd.DataFrame) -> str:
    """Every method against the issue's whole target: mean ratio <= 1 for every metal and <= 0.90 for Co and Ni."""
    lines = ["| method | seeds | worst metal's mean ratio | Co mean ratio | Ni mean ratio | meets the whole target | "
             "seeds with Co <= 0.90 | seeds with Ni <= 0.90 |", "|---|" + "---|" * 7]  # fmt: skip
    for label, summary in (("0-2", early), ("all", full)):
        seeds = sorted(
            rows.loc[rows["seed"].isin(PUBLISHED_SEEDS if label == "0-2" else rows["seed"]), "seed"].unique()
        )
        for method in METHODS[1:]:
            means = summary.xs(method, level="method")["mean"]
            meets = bool(means.max() <= 1 and means["Co"] <= TARGET_RATIO and means["Ni"] <= TARGET_RATIO)
            hits = {m: rows[(rows["method"] == method) & (rows["metal"] == m) & rows["seed"].isin(seeds)]
                    for m in ("Co", "Ni")}  # fmt: skip
            counts = [f"{int((h['log_ratio'] <= TARGET_RATIO).sum())} of {len(h)}" for h in hits.values()]
            lines.append(f"| {method} | {label} | {means.max():.3f} ({means.idxmax()}) | {means['Co']:.3f} | "
                         f"{means['Ni']:.3f} | {'yes' if meets else 'no'} | {' | '.join(counts)} |")  # fmt: skip
    return "\n".join(lines)


def whole_target(summary: pd.DataFrame) -> list[str]:
    """The methods whose mean ratios meet the issue's whole target (every metal <= 1, Co and Ni <= 0.90)."""
    meets = []
    for method in METHODS[1:]:
        means = summary.xs(method, level="method")["mean"]
        if means.max() <= 1 and means["Co"] <= TARGET_RATIO and means["Ni"] <= TARGET_RATIO:
            meets.append(method)
    return meets


def conclusion(best: dict, early: pd.DataFrame, full: pd.DataFrame) -> str:
    """A plain-language conclusion computed from the run's figures."""
    whole_all, whole_early = whole_target(full), whole_target(early)
    gp_all = full.xs("gp", level="method")["mean"]
    reached = [m for m, b in best.items() if b["reaches_target"]]
    co, ni = best["Co"], best["Ni"]
    target = "Co and Ni" if co["reaches_target"] and ni["reaches_target"] else (
        "Co only" if co["reaches_target"] else "Ni only" if ni["reaches_target"] else "neither Co nor Ni")  # fmt: skip
    return (f"Of the methods tried, the best for each metal reaches <= {TARGET_RATIO:.2f} x OK's log-RMSE "
            f"(mean over all seeds) for {', '.join(reached) or 'no metal'}; for the issue's target this is "
            f"{target} (Co: `{co['method']}` {co['mean_ratio_all']:.3f}; Ni: `{ni['method']}` "
            f"{ni['mean_ratio_all']:.3f}). A single method meeting the whole target (every metal <= 1 and Co, Ni "
            f"<= {TARGET_RATIO:.2f}, on mean ratios): over all seeds "
            f"{', '.join(f'`{m}`' for m in whole_all) or 'none'}; over seeds 0-2 "
            f"{', '.join(f'`{m}`' for m in whole_early) or 'none'}. The covariate-free ML-fitted GP (`gp`) alone "
            "gets mean ratios "
            f"{gp_all.min():.3f}-{gp_all.max():.3f} across metals, a measure of how much of any gain comes from "
            "fitting the covariance differently rather than from the covariates. These are topsoil metals over "
            "geology and land use, not tailings; ratios vary strongly between seeds (see min/max), so a target on "
            "a 3-seed mean is noisy. The best method is picked per metal as the minimum of several on these same "
            "folds, so its figure is an optimistic ceiling, not an out-of-sample estimate of what the chosen method "
            "will do.")  # fmt: skip


def published_check(check: dict) -> str:
    """The sentence comparing this run's OK log-RMSE with the published one."""
    worst = check["vs_published"]
    if not worst:
        return "no published figure to compare with"
    return (
        f"{worst['n_within_1e-9']} of {worst['n_compared']} (seed, metal) figures agree to 1e-9, the largest "
        f"|difference| is {worst['diff']:.1e} (seed {worst['seed']}, {worst['metal']}: published "
        f"{worst['ok']:.6f}, this run {worst['log_rmse']:.6f})"
    )


def render(result: dict) -> str:
    """The results page."""
    rows = pd.DataFrame(result["rows"])
    early_seeds = [s for s in PUBLISHED_SEEDS if s in result["seeds"]]
    early, full = summarise(rows, early_seeds), summarise(rows, result["seeds"])
    residua = pd.DataFrame(result["published"]) if result["published"] else None
    m, git = result["machine"], result["git"]
    folds = "; ".join(f"seed {f['seed']}: blocks {f['blocks']}, {f['n_train']} training / {f['n_test']} held out"
                      for f in result["folds"])  # fmt: skip
    check = result["ok_check"]
    agreement = result.get("class_agreement") or {}
    classes = (
        "as recorded at each sample"
        if result.get("classes", "samples") == "samples"
        else "from the nearest cell of the 50 m map `jura_grid.csv` (what the drops' covariate rasters carry, at "
        "training and held-out points alike; the map's class is the recorded one at "
        + " and ".join(f"{share:.0%} of samples ({name.lower()})" for name, share in agreement.items())
        + ")"
    )
    tables = []
    for metal in JURA_METALS:
        mine = residua[residua["metal"] == metal] if residua is not None else None
        tables.append(f"### {metal}\n\n{metal_table(metal, early, full, mine)}")
    lines, _ = best_lines(early, full)
    published_text = (f"Residua's published ratios (residua / OK log-RMSE per seed, from `{result['published_file']}`, "
                      "the Co-as-Pt control left out) are shown beside the seeds 0-2 columns."
                      if residua is not None else "No published Residua figures were found.")  # fmt: skip
    return f"""# Jura topsoil: how far below ordinary kriging do covariate-aware estimators get?

- Command: `{result["command"]}`
- Date: {result["date"]}
- Machine: {m["nproc"]} CPUs (nproc), {m["cpu"]}; Python {m["python"]}
- Code: git commit {git["commit"]}, working tree {"dirty" if git["dirty"] else "clean"} (modified tracked files:
  {", ".join(f"`{p}`" for p in git["modified"]) or "none"}); of the package this script uses only `models/spatial.py`
- Wall time: {result["wall_s"]:.0f} s

REAL measured **topsoil** metals (Swiss Jura, mg/kg; Atteia et al. 1994, Goovaerts 1997) — **not tailings data**.
{result["n_samples"]} samples (`jura_samples.csv`; the survey's 100 validation points are not in the shared data, so
the hold-out is drawn from these {result["n_samples"]}, exactly as `benchmarks/realdata_drops.py` draws it). Per seed,
whole blocks of a 5x5 grid over Xloc/Yloc are held out (`spatial_block_holdout`): {folds}. Every method is fitted on
the training samples of the fold only and predicts ln(grade) at the held-out samples, in UTM 32N metres as the OK
baseline; all values are positive, so no zero needed handling. Covariates: rock type and land use {classes},
one-hot (intercept + classes present in training, the most frequent class of each variable as reference).

Methods: `ok` = `realdata_run.point_methods`' ordinary kriging (global neighbourhood, spherical variogram fitted by
PyKrige, 10 lags); `sklm_rock` / `sklm_rock_landuse` = simple kriging (zero mean) of the residuals from the training
mean of ln grade by rock (by rock x land use; classes with < {MIN_CLASS} training samples fall back to rock, then the
global mean), spherical variogram fitted as OK's to those residuals; `rk` = OLS on the one-hot covariates + OK of the
residuals; `ked` = kriging with external drift (universal kriging, drift = one-hot covariates, global neighbourhood)
with a spherical variogram fitted as OK's to the OLS residuals; `ked_ml` = the same KED system with an exponential +
nugget covariance fitted by maximum likelihood (scikit-learn GP) to the OLS residuals; `rf_ok` = random forest (500
trees, min leaf 3, one-hot covariates + coordinates) + OK of its out-of-bag residuals; `gp` = scikit-learn GP,
ConstantKernel x Matern(nu=0.5) + WhiteKernel by maximum likelihood (3 restarts) on ln grade with the training mean as
its mean, no covariates; `gp_ridge` = the same GP on the residuals of RidgeCV on the one-hot covariates. Variances:
kriging / GP variance at a new point sample (nugget included); for `rk` and `rf_ok` the residual OK variance only
(trend uncertainty ignored).

Checks: `ok` equals `point_methods`' ordinary kriging to {check["max_abs_diff_vs_point_methods"]:.1e} in ln grade
(every seed and metal); against the OK log-RMSE published in `realdata_run.json`: {published_check(check)};
this script's numpy kriging with a drift of ones reproduces PyKrige OK to {check["numpy_engine_vs_pykrige"]:.1e}.

Per metal: log-RMSE ratio to OK (method / OK, per seed; mean, min, max over seeds 0-2 and over all seeds
{", ".join(map(str, result["seeds"]))}), mean arithmetic-grade RMSE ratio (estimate exp(pred + var/2)), mean log-RMSE
and mean 80 % coverage of exp(pred +- 1.2816 sd). {published_text}

{chr(10).join(chr(10) + t for t in tables).strip()}

## Best method per metal (lowest mean ratio over all seeds, OK excluded)

{chr(10).join(lines)}

## Each method against the issue's whole target

Mean over the seeds of the log-RMSE ratio to OK: the worst metal's (the target asks <= 1 for every metal), Co's and
Ni's (the target asks <= {TARGET_RATIO:.2f}), and how many single seeds reach <= {TARGET_RATIO:.2f}:

{target_table(rows, early, full)}

## Conclusion

{conclusion(result["best"], early, full)}
"""


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes the file owner-only; give it the usual permissions
    os.replace(temporary, path)


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                        help="spatial-block hold-out seeds (default 0..9)")  # fmt: skip
    parser.add_argument(
        "--classes",
        choices=["samples", "map"],
        default="samples",
        help="rock and land use as recorded at each sample, or from the nearest cell of the 50 m "
        "map the covariate rasters are made of (default: samples)",
    )
    parser.add_argument("--out", type=Path, default=None,
                        help="results page; its .json twin goes beside it (default: "
                             "benchmarks/results/jura_covariate_ceiling.md, _map.md with --classes map)")  # fmt: skip
    args = parser.parse_args()
    suffix = "_map" if args.classes == "map" else ""
    args.out = args.out or ROOT / "benchmarks" / "results" / f"jura_covariate_ceiling{suffix}.md"
    start, seeds = time.perf_counter(), list(dict.fromkeys(args.seeds))
    samples, agreement = jura_samples(args.classes)
    rows, folds, checks = [], [], []
    for seed in seeds:
        with threadpool_limits(1, user_api="blas"):  # small systems: threaded BLAS only spin-waits (models/spatial.py)
            seed_rows, fold, seed_checks = run_seed(samples, seed)
        rows, checks = rows + seed_rows, checks + seed_checks
        folds.append(fold)
        print(f"seed {seed}: {fold['n_train']} training / {fold['n_test']} held out, "
              f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
    frame = pd.DataFrame(rows)
    ok = frame[frame["method"] == "ok"].set_index(["seed", "metal"])
    frame["log_ratio"] = (
        frame["log_rmse"] / ok["log_rmse"].reindex(pd.MultiIndex.from_frame(frame[["seed", "metal"]])).to_numpy()
    )
    frame["arith_ratio"] = (
        frame["rmse"] / ok["rmse"].reindex(pd.MultiIndex.from_frame(frame[["seed", "metal"]])).to_numpy()
    )
    reference = published()
    worst = None
    if reference is not None:
        merged = reference.merge(ok["log_rmse"].reset_index(), on=["seed", "metal"])
        merged["diff"] = (merged["ok"] - merged["log_rmse"]).abs()
        if len(merged):
            worst = merged.loc[merged["diff"].idxmax(), ["seed", "metal", "ok", "log_rmse", "diff"]].to_dict()
            worst["n_within_1e-9"] = int((merged["diff"] < 1e-9).sum())
            worst["n_compared"] = len(merged)
        reference = reference[reference["seed"].isin(seeds)]
    ok_check = {"max_abs_diff_vs_point_methods": max(c["max_abs_diff_ln"] for c in checks),
                "vs_published": worst,
                "published_seeds": sorted(set(reference["seed"])) if reference is not None else [],
                "numpy_engine_vs_pykrige": numpy_ok_check(samples)}  # fmt: skip
    print(
        f"OK check: vs point_methods {ok_check['max_abs_diff_vs_point_methods']:.1e}, vs published "
        f"{ok_check['vs_published']}, numpy engine vs PyKrige {ok_check['numpy_engine_vs_pykrige']:.1e}"
    )
    early = summarise(frame, [s for s in PUBLISHED_SEEDS if s in seeds])
    _, best = best_lines(early, summarise(frame, seeds))
    command = shlex.join([".venv/bin/python", "benchmarks/jura_covariate_ceiling.py", *sys.argv[1:]])
    result = {"date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "command": command, "seeds": seeds,
              "machine": machine(), "git": git_state(), "n_samples": len(samples), "folds": folds,
              "classes": args.classes, "class_agreement": agreement,
              "ok_check": ok_check, "published_file": str(PUBLISHED.relative_to(ROOT)),
              "published": None if reference is None else reference.to_dict("records"),
              "rows": frame.to_dict("records"), "best": best, "wall_s": time.perf_counter() - start}  # fmt: skip
    page = render(result)
    write_atomic(args.out, page)
    write_atomic(args.out.with_suffix(".json"), json.dumps(result, indent=2, default=float))
    print(page)
    print(f"results written to {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
