"""Score Residua's PUBLISHED outputs on real public data against simple baselines.

Usage: .venv/bin/python benchmarks/realdata_run.py [--workdir DIR] [--seeds 0 1 2] [--score-only]
       [--only PREFIX [PREFIX ...]] [--out benchmarks/results/realdata_run.md]

Builds the drops of ``realdata_drops.py`` (Jura topsoil and Robena Mine coal ash: one site each, a
spatial-block hold-out per seed; GSLIB cluster: 12 sites with a known true mean, plain and with
values below 0.1 censored, built once as they do not depend on the seed), runs ``residua run`` on
each (a fresh Dagster instance folder per run) and scores what it published:

* Jura, per seed: the block-grade rasters ``rasters/jura_<element>_grade.tif`` (P50, P10, P90)
  sampled at the held-out samples, against ordinary kriging of log grade, inverse-distance
  weighting and the global mean, all fitted on the same training samples (``models.spatial``).
* Coal ash, per seed: ``rasters/coalash_ga_grade.tif`` (ash % written as Ga; 1 grid unit = 100 m,
  an assumption) scored exactly like the Jura, at its held-out samples.
* GSLIB: each site's ``ga_grade_gt_p50`` (and ``ga_grade_gt_p10``-``p90`` as its 80 % interval) in
  ``sites_ranked.csv`` against the true site mean; baselines are ordinary kriging with all 140
  samples (across site boundaries), ordinary kriging conditioned on the site's own samples only,
  and the site's naive and declustered sample means.

Writes a markdown page and a JSON twin (``--out`` with ``.json``). ``--score-only`` re-scores
the outputs already in ``--workdir`` without running Residua again. ``--only PREFIX ...`` runs and
scores only the drops whose key (``jura_seed0/jura_a``, ``coalash_seed1/coalash``, ``gslib_cluster``,
``gslib_cluster_bdl``, ...) starts with one of the prefixes; without ``--out`` such a partial run
writes to a new temporary folder (printed), never over the committed results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
# These imports need the sys.path entries above (E402 on purpose): realdata_drops sits beside this script, and
# models must come from this checkout even when the script is run as a file without an installed package.
from realdata_drops import (  # noqa: E402
    COALASH_CRS,
    GSLIB_DETECTION_LIMIT,
    GSLIB_UNIT_M,
    JURA_CRS,
    JURA_RUNS,
    REALDATA,
    UNIT_GT,
    build_all,
    coalash_folder,
    jura_folder,
)

from residua.models.spatial import InverseDistance, OrdinaryKriging  # noqa: E402

Z80 = 1.2815515655446004  # standard normal quantile at 0.90: P10-P90 = +-Z80 sd
DEFAULT_SEEDS = (0, 1, 2)
GSLIB_DROPS = ("gslib_cluster", "gslib_cluster_bdl")
#: The Co-as-Pt control (same data as Co-as-Ga under another element's prior): (metal, element).
CONTROL = ("Co", "pt")
#: GSLIB baselines by the samples they condition on.
ALL_SAMPLES = ("ok_lognormal", "ok_arithmetic", "ok_arithmetic_log_variogram")
WITHIN_SITE = ("ok_lognormal_within_site", "ok_arithmetic_log_variogram_within_site", "naive_mean",
               "declustered_mean")  # fmt: skip


#: The coal-ash drop: (drop folder, site id, {Residua element: column of the held-out table}).
COALASH_DROP, COALASH_SITE, COALASH_RUN = "coalash", "coalash", {"ga": "coalash"}


def run_keys(seeds: list[int], only: tuple[str, ...] = ()) -> list[str]:
    """Every drop to run, as its path relative to the drops (and outputs) folder.

    ``only``: keep just the keys starting with one of these prefixes (all when empty).
    """
    keys = [f"{jura_folder(Path(), seed)}/{drop}" for seed in seeds for drop in JURA_RUNS]
    keys += [f"{coalash_folder(Path(), seed)}/{COALASH_DROP}" for seed in seeds] + list(GSLIB_DROPS)
    return [key for key in keys if not only or key.startswith(tuple(only))]


# ----------------------------------------------------------------------------- running Residua
def run_residua(data: Path, out: Path, instance: Path, log: Path) -> dict:
    """``residua run`` on ``data`` into ``out`` with a fresh Dagster instance: wall time, checks, quarantine."""
    instance.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", instance / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(instance), "RESIDUA_DAGSTER_DIR": str(instance / ".dagster")}
    residua = str(Path(sys.executable).parent / "residua")
    start = time.perf_counter()
    with log.open("w") as handle:
        command = [residua, "run", "--data", str(data), "--out", str(out)]
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"residua run failed on {data} (exit {done.returncode}); see {log}")
    status = subprocess.run([residua, "status", "--out", str(out)], capture_output=True, text=True, env=env, cwd=ROOT,
                            check=False)  # fmt: skip
    quarantine = gpd.read_file(out / "inventory.gpkg", layer="quarantine")
    methods = pd.read_csv(out / "grade_tonnage.csv").drop_duplicates(["site_id", "element"])
    methods = methods.groupby("element")["grade_method"].value_counts().unstack(fill_value=0)
    return {"wall_s": round(wall, 1), "log": str(log),
            "failed_checks": [line.strip() for line in status.stdout.splitlines() if "FAILED" in line],
            "quarantined_rows": len(quarantine),
            "quarantine_reasons": quarantine["reason"].value_counts().to_dict() if len(quarantine) else {},
            "grade_methods": {e: {m: int(n) for m, n in r.items() if n} for e, r in methods.iterrows()}}  # fmt: skip


# ----------------------------------------------------------------------------- Jura and coal ash
def point_scores(observed: np.ndarray, p50: np.ndarray, mean: np.ndarray, low=None, high=None) -> dict:
    """Log-RMSE of the P50, RMSE and relative bias of the arithmetic estimate, 80 % coverage."""
    return {"log_rmse": float(np.sqrt(np.mean((np.log(p50) - np.log(observed)) ** 2))),
            "rmse": float(np.sqrt(np.mean((mean - observed) ** 2))),
            "rel_bias": float(mean.mean() / observed.mean() - 1),
            "coverage80": None if low is None else float(np.mean((observed >= low) & (observed <= high)))}  # fmt: skip


def sample_grade_raster(path: Path, px: np.ndarray, py: np.ndarray,
                        crs: str = "EPSG:4326") -> tuple[pd.DataFrame, float]:  # fmt: skip
    """The raster's bands (named by their descriptions) at points (lon/lat, or x/y in ``crs``), NaN off it or on
    nodata; cell size."""
    with rasterio.open(path) as dataset:
        x, y = Transformer.from_crs(crs, dataset.crs, always_xy=True).transform(px, py)
        rows, cols = (np.asarray(i) for i in rasterio.transform.rowcol(dataset.transform, x, y))
        inside = (rows >= 0) & (rows < dataset.height) & (cols >= 0) & (cols < dataset.width)
        bands = dataset.read().astype(float)
        if dataset.nodata is not None:
            bands[bands == dataset.nodata] = np.nan
        values = np.full((len(x), dataset.count), np.nan)
        values[inside] = bands[:, rows[inside], cols[inside]].T
        names = [d or f"band{i + 1}" for i, d in enumerate(dataset.descriptions)]
        return pd.DataFrame(values, columns=names), abs(dataset.transform.a)


def point_methods(X_train, y_train, X_test, grades: pd.DataFrame) -> dict[str, tuple]:
    """(P50, arithmetic estimate, P10, P90) at the held-out points for Residua and each baseline.

    ``residua`` has the block P10-P90 bands; ``residua_sample`` the same P50 with the P10-P90 of one
    new sample in the cell (``p10_sample_gt``/``p90_sample_gt``, nugget included: point support, as
    the held-out points are).
    """
    log_train = np.log(y_train)
    mean, std = OrdinaryKriging(n_coords=2).fit(X_train, log_train).predict(X_test, return_std=True)
    flat = np.ones(len(X_test))
    low, high = np.quantile(y_train, [0.1, 0.9])
    residua = grades["p50_gt"].to_numpy()
    sample = ((grades["p10_sample_gt"].to_numpy(), grades["p90_sample_gt"].to_numpy())
              if "p10_sample_gt" in grades else (None, None))  # fmt: skip
    return {
        "residua": (residua, residua, grades["p10_gt"].to_numpy(), grades["p90_gt"].to_numpy()),
        "residua_sample": (residua, residua, *sample),
        "ordinary_kriging": (np.exp(mean), np.exp(mean + std**2 / 2),
                             np.exp(mean - Z80 * std), np.exp(mean + Z80 * std)),
        "idw": (np.exp(InverseDistance(n_coords=2).fit(X_train, log_train).predict(X_test)),
                InverseDistance(n_coords=2).fit(X_train, y_train).predict(X_test), None, None),
        "global_mean": (np.exp(log_train.mean()) * flat, y_train.mean() * flat, low * flat, high * flat),
    }  # fmt: skip


def score_heldout(seed: int, drop: str, out: Path, site: str, mapping: dict[str, str], training: pd.DataFrame,
                  X_train: np.ndarray, heldout: pd.DataFrame, X_test: np.ndarray,
                  points: tuple[np.ndarray, np.ndarray, str]) -> list[dict]:  # fmt: skip
    """Held-out point scores of one drop's published rasters and the baselines, per element.

    ``mapping``: Residua element -> column of ``heldout`` holding its observed value; ``X_train`` /
    ``X_test``: projected metres for the baselines; ``points``: the held-out points (x, y, CRS) to
    sample ``out/rasters/<site>_<element>_grade.tif`` at.
    """
    assert not set(training["sample_id"]) & set(heldout["sample_id"]), "held-out samples leaked into the drop"
    models = pd.read_csv(out / "grade_tonnage.csv").groupby("element")["grade_method"].first()
    rows = []
    for element, metal in mapping.items():
        grades, cell = sample_grade_raster(out / "rasters" / f"{site}_{element}_grade.tif", *points)
        on = np.isfinite(grades["p50_gt"]).to_numpy()
        observed = heldout[metal].to_numpy(float)[on]
        column = next(c for c in training.columns if c.startswith(f"{element}_"))
        to_written = 1.0 / UNIT_GT[column.split("_", 1)[1]]  # rasters are in g/t; compare in the written unit
        methods = point_methods(X_train, training[column].to_numpy(float), X_test[on], grades[on] * to_written)
        for method, (p50, mean, low, high) in methods.items():
            rows.append({"seed": seed, "metal": metal, "element": element, "drop": drop,
                         "grade_model": models.get(element, ""), "method": method, "n": int(on.sum()),
                         "n_off_raster": int((~on).sum()), "raster_cell_m": cell,
                         **point_scores(observed, p50, mean, low, high)})  # fmt: skip
    return rows


def score_jura(drops: Path, outs: Path, seed: int, names: tuple[str, ...] = tuple(JURA_RUNS)) -> list[dict]:
    """Held-out point scores of Residua's rasters and the baselines for one hold-out seed, per drop and metal.

    ``names``: the Jura drops to score (default all of ``JURA_RUNS``).
    """
    heldout = pd.read_csv(drops / "jura_heldout.csv")
    to_utm = Transformer.from_crs("EPSG:4326", JURA_CRS, always_xy=True)
    X_test = np.column_stack(to_utm.transform(heldout["long"], heldout["lat"]))
    points = (heldout["long"].to_numpy(), heldout["lat"].to_numpy(), "EPSG:4326")
    rows = []
    for drop, mapping in JURA_RUNS.items():
        if drop not in names:
            continue
        training = pd.read_csv(drops / drop / "samples.csv")
        X_train = np.column_stack(to_utm.transform(training["lon"], training["lat"]))
        rows += score_heldout(seed, drop, outs / drop, "jura", mapping, training, X_train, heldout, X_test, points)
    return rows


def score_coalash(drops: Path, outs: Path, seed: int) -> list[dict]:
    """Held-out point scores of the coal-ash raster and the baselines for one hold-out seed (as the Jura's)."""
    heldout = pd.read_csv(drops / "coalash_heldout.csv")
    training = pd.read_csv(drops / COALASH_DROP / "samples.csv")
    assert (training["crs"] == COALASH_CRS).all(), "coal-ash samples not in the drop's CRS"
    X_train, X_test = training[["x", "y"]].to_numpy(float), heldout[["east", "north"]].to_numpy(float)
    points = (X_test[:, 0], X_test[:, 1], COALASH_CRS)
    return score_heldout(seed, COALASH_DROP, outs / COALASH_DROP, COALASH_SITE, COALASH_RUN, training, X_train,
                         heldout, X_test, points)  # fmt: skip


# ----------------------------------------------------------------------------- GSLIB
def within_site_kriging(X: np.ndarray, values: np.ndarray, cells: np.ndarray, variogram: list[float],
                        log: bool) -> float:  # fmt: skip
    """Mean over ``cells`` of ordinary kriging on one site's samples with a fixed variogram.

    ``log``: krige ln grade and back-transform each cell with exp(kriged + var/2); else krige grade.
    """
    model = OrdinaryKriging(n_coords=2, variogram_parameters=variogram)
    if log:
        mean, std = model.fit(X, np.log(values)).predict(cells, return_std=True)
        return float(np.exp(mean + std**2 / 2).mean())
    return float(model.fit(X, values).predict(cells).mean())


def gslib_baselines(values: np.ndarray, site_of: np.ndarray, truth: pd.DataFrame) -> tuple[pd.DataFrame, dict, list]:
    """Per-site baseline estimates of the mean grade from the 140 samples (``values`` as given).

    ``site_of`` is each sample's site id (as in the drop). Also returns the fitted spherical
    variograms (partial sill, range in m, nugget) and the sites whose within-site kriging fell
    back to the declustered mean (fewer than 3 samples).
    """
    cluster = pd.read_csv(REALDATA / "gslib_cluster" / "cluster.csv")
    grid = pd.read_csv(REALDATA / "gslib_cluster" / "true_grid.csv")
    X, cells = cluster[["x", "y"]].to_numpy() * GSLIB_UNIT_M, grid[["x", "y"]].to_numpy() * GSLIB_UNIT_M
    log_kriging = OrdinaryKriging(n_coords=2).fit(X, np.log(values))
    log_mean, log_std = log_kriging.predict(cells, return_std=True)
    grid["ok_lognormal"] = np.exp(log_mean + log_std**2 / 2)
    arithmetic = OrdinaryKriging(n_coords=2).fit(X, values)
    grid["ok_arithmetic"] = arithmetic.predict(cells)
    # The ln-grade variogram's shape (nugget share, range) rescaled to the grade variance (proportional effect).
    psill, range_, nugget = log_kriging.variogram_parameters_
    scale = values.var() / (psill + nugget)
    scaled = OrdinaryKriging(n_coords=2, variogram_parameters=[psill * scale, range_, nugget * scale]).fit(X, values)
    grid["ok_arithmetic_log_variogram"] = scaled.predict(cells)
    rows, fallbacks = [], []
    for site in truth.itertuples():
        in_cells = (grid["x"].between(site.x0, site.x1) & grid["y"].between(site.y0, site.y1)).to_numpy()
        in_site = site_of == site.site_id
        weights = cluster["declustering_weight"].to_numpy()[in_site]
        declustered = float(np.average(values[in_site], weights=weights))
        if in_site.sum() >= 3:
            here = (X[in_site], values[in_site], cells[in_cells])
            within = {"ok_lognormal_within_site": within_site_kriging(*here, log_kriging.variogram_parameters_, True),
                      "ok_arithmetic_log_variogram_within_site": within_site_kriging(
                          *here, scaled.variogram_parameters_, False)}  # fmt: skip
        else:
            within = dict.fromkeys(WITHIN_SITE[:2], declustered)
            fallbacks.append(site.site_id)
        kriged = grid.loc[in_cells, list(ALL_SAMPLES)].mean()
        rows.append({"site_id": site.site_id, **kriged.to_dict(), **within, "naive_mean": values[in_site].mean(),
                     "declustered_mean": declustered})  # fmt: skip
    fitted = {"ln_grade": log_kriging, "grade": arithmetic, "grade_log_shape": scaled}
    variograms = {name: [round(float(v), 4) for v in model.variogram_parameters_] for name, model in fitted.items()}
    return pd.DataFrame(rows).set_index("site_id"), variograms, fallbacks


def residua_sites(out: Path) -> pd.DataFrame:
    """Residua's published site mean grade P50 and its 80 % interval (P10-P90) from ``sites_ranked.csv``."""
    table = pd.read_csv(out / "sites_ranked.csv").set_index("site_id")
    return pd.DataFrame({"n_samples": table["n_samples"], "confidence": table["confidence"],
                         "p50": table["ga_grade_gt_p50"], "low": table["ga_grade_gt_p10"],
                         "high": table["ga_grade_gt_p90"]})  # fmt: skip


def site_scores(estimate: pd.Series, truth: pd.Series) -> dict:
    """Median |ln(estimate/truth)|, mean ln ratio, relative bias of the mean over sites."""
    ratio = np.log(estimate / truth)
    return {"median_abs_log_error": float(np.median(np.abs(ratio))), "mean_log_error": float(ratio.mean()),
            "rel_bias_of_mean": float(estimate.mean() / truth.mean() - 1)}  # fmt: skip


def score_gslib(drops: Path, outs: Path,
                names: tuple[str, ...] = GSLIB_DROPS) -> tuple[list[dict], pd.DataFrame, dict, dict]:  # fmt: skip
    """Site-mean scores of Residua and the baselines for the plain and the censored drops (those in ``names``).

    Also returns the per-site table, the fitted variograms and the within-site fallbacks per drop.
    """
    sites_truth = pd.read_csv(drops / "gslib_truth.csv")
    truth = sites_truth.set_index("site_id")["true_mean_gt"]
    primary = pd.read_csv(REALDATA / "gslib_cluster" / "cluster.csv")["primary"].to_numpy()
    site_of = pd.read_csv(drops / "gslib_cluster" / "samples.csv")["site_id"].to_numpy()
    half_dl = np.where(primary < GSLIB_DETECTION_LIMIT, GSLIB_DETECTION_LIMIT / 2, primary)
    rows, per_site, variograms, fallbacks = [], {}, {}, {}
    for drop, values in (("gslib_cluster", primary), ("gslib_cluster_bdl", half_dl)):
        if drop not in names:
            continue
        published = residua_sites(outs / drop).reindex(truth.index)
        baselines, variograms[drop], fallbacks[drop] = gslib_baselines(values, site_of, sites_truth)
        baselines = baselines.reindex(truth.index)
        width = np.log(published["high"] / published["low"])
        rows.append({"drop": drop, "method": "residua", "samples": "site's own",
                     **site_scores(published["p50"], truth),
                     "coverage80": float(truth.between(published["low"], published["high"]).mean()),
                     "median_ln_p90_over_p10": float(np.median(width))})  # fmt: skip
        rows += [{"drop": drop, "method": m, "samples": "all 140" if m in ALL_SAMPLES else "site's own",
                  **site_scores(baselines[m], truth)} for m in baselines.columns]  # fmt: skip
        per_site[drop] = pd.concat([truth, published, baselines], axis=1)
    return rows, pd.concat(per_site, names=["drop"]).reset_index(), variograms, fallbacks


# ----------------------------------------------------------------------------- provenance
def _git(*args: str) -> str:
    """Output of a read-only git command in the repository (no optional index locks)."""
    command = ["git", "--no-optional-locks", "-C", str(ROOT), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout


def git_state() -> dict:
    """Checked-out commit, whether the working tree differs from it, and a fingerprint of the difference."""
    status = [line for line in _git("status", "--porcelain").splitlines() if line.strip()]
    return {"commit": _git("rev-parse", "--short=12", "HEAD").strip() or "unknown",
            "dirty": bool(status), "modified": [line[3:] for line in status if not line.startswith("??")],
            "untracked": [line[3:] for line in status if line.startswith("??")],
            "diff_sha1": hashlib.sha1(_git("diff", "HEAD").encode()).hexdigest()[:12]}  # fmt: skip


def machine() -> dict:
    """CPU count and model, Python version."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    return {"nproc": os.cpu_count(), "cpu": names[0] if names else platform.processor(),
            "python": platform.python_version()}  # fmt: skip


# ----------------------------------------------------------------------------- report
def _cell(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _table(frame: pd.DataFrame) -> str:
    """A DataFrame as a markdown table."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _wide(jura: pd.DataFrame) -> pd.DataFrame:
    """Jura scores with one column per (score, method), one row per metal, element, drop and seed."""
    return jura.pivot_table(index=["metal", "element", "drop", "seed", "grade_model", "n"], columns="method",
                            values=["log_rmse", "rmse", "rel_bias", "coverage80"], sort=False)  # fmt: skip


def _column(wide: pd.DataFrame, key: tuple[str, str]) -> pd.Series:
    """A column of ``wide``, NaN when the run predates it (e.g. no sample bands in older rasters)."""
    return wide[key] if key in wide.columns else pd.Series(np.nan, index=wide.index)


def jura_tables(jura: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The log-grade / coverage table and the arithmetic-grade table, one row per metal, drop and seed."""
    wide = _wide(jura)
    log_table = pd.DataFrame({
        "residua": wide[("log_rmse", "residua")], "OK": wide[("log_rmse", "ordinary_kriging")],
        "IDW": wide[("log_rmse", "idw")], "global": wide[("log_rmse", "global_mean")],
        "residua / OK": wide[("log_rmse", "residua")] / wide[("log_rmse", "ordinary_kriging")],
        "cov80 residua": wide[("coverage80", "residua")],
        "cov80 residua sample": _column(wide, ("coverage80", "residua_sample")),
        "cov80 OK": wide[("coverage80", "ordinary_kriging")],
        "cov80 global": wide[("coverage80", "global_mean")]})  # fmt: skip
    arithmetic = pd.DataFrame({
        "RMSE residua": wide[("rmse", "residua")], "RMSE OK": wide[("rmse", "ordinary_kriging")],
        "RMSE IDW": wide[("rmse", "idw")], "RMSE global": wide[("rmse", "global_mean")],
        "residua / OK": wide[("rmse", "residua")] / wide[("rmse", "ordinary_kriging")],
        "bias residua": wide[("rel_bias", "residua")], "bias OK": wide[("rel_bias", "ordinary_kriging")],
        "bias IDW": wide[("rel_bias", "idw")], "bias global": wide[("rel_bias", "global_mean")]})  # fmt: skip
    return log_table.reset_index(), arithmetic.reset_index()


def jura_means(jura: pd.DataFrame) -> pd.DataFrame:
    """Per metal (and drop): mean over seeds of the Residua/OK RMSE ratios and of the 80 % coverages."""
    wide = _wide(jura)
    ratios = pd.DataFrame({
        "log": wide[("log_rmse", "residua")] / wide[("log_rmse", "ordinary_kriging")],
        "arith": wide[("rmse", "residua")] / wide[("rmse", "ordinary_kriging")],
        "cov_residua": wide[("coverage80", "residua")],
        "cov_sample": _column(wide, ("coverage80", "residua_sample")),
        "cov_ok": wide[("coverage80", "ordinary_kriging")]})  # fmt: skip
    grouped = ratios.groupby(level=["metal", "element", "drop"], sort=False)
    mean, low, high = grouped.mean(), grouped.min(), grouped.max()
    return pd.DataFrame({
        "seeds": grouped.size(),
        "log ratio mean": mean["log"], "log ratio min": low["log"], "log ratio max": high["log"],
        "RMSE ratio mean": mean["arith"], "RMSE ratio min": low["arith"], "RMSE ratio max": high["arith"],
        "cov80 residua mean": mean["cov_residua"], "cov80 residua sample mean": mean["cov_sample"],
        "cov80 OK mean": mean["cov_ok"]}).reset_index()  # fmt: skip


def flat_rasters(log_table: pd.DataFrame, what: str = "Jura") -> str:
    """A sentence naming the ``what`` rasters from a non-spatial (``shrunk_mean``) grade model, with their coverage."""
    flat = log_table[log_table["grade_model"] == "shrunk_mean"]
    if flat.empty:
        return f"No {what} raster in this run comes from the non-spatial `shrunk_mean` grade model."
    listed = ", ".join(
        f"{metal} seed {seed} (coverage {cov:.2f})"
        for metal, seed, cov in zip(flat["metal"], flat["seed"], flat["cov80 residua"], strict=True)
    )
    return (
        f"Rasters from the non-spatial `shrunk_mean` grade model (flat at the site mean, with the site mean's "
        f"P10-P90, so the interval cannot cover the point scatter) in this run: {listed}."
    )


def _is_control(frame: pd.DataFrame) -> pd.Series:
    return (frame["metal"] == CONTROL[0]) & (frame["element"] == CONTROL[1])


def _seeds_of(result: dict, rows: list[dict]) -> list[int]:
    """The hold-out seeds (in the run's order) that have rows in ``rows``."""
    present = {row["seed"] for row in rows}
    return [seed for seed in result["seeds"] if seed in present]


def jura_summary(result: dict) -> str:
    """The Jura headline sentence (the Co-as-Pt control is left out of the medians)."""
    means = jura_means(pd.DataFrame(result["jura"]))
    unique, control = means[~_is_control(means)], means[_is_control(means)]
    log_ratio, arith, cov = unique["log ratio mean"], unique["RMSE ratio mean"], unique["cov80 residua mean"]
    twin = unique[unique["metal"] == CONTROL[0]]
    control_text = "" if control.empty or twin.empty else (
        f" Control, Co under the Pt prior: log ratio {control['log ratio mean'].iloc[0]:.3f} "
        f"(under the Ga prior {twin['log ratio mean'].iloc[0]:.3f}).")  # fmt: skip
    seeds = ", ".join(map(str, _seeds_of(result, result["jura"])))
    return (
        f"- Jura ({len(unique)} metals, held-out blocks, hold-out seeds {seeds}): mean over seeds of Residua's "
        f"log-grade RMSE / ordinary kriging's, per metal: median {log_ratio.median():.3f} (range "
        f"{log_ratio.min():.3f}-{log_ratio.max():.3f}), below 1 for {int((log_ratio < 1).sum())} of {len(unique)}; "
        f"arithmetic RMSE ratio: median {arith.median():.3f} (range {arith.min():.3f}-{arith.max():.3f}), below 1 "
        f"for {int((arith < 1).sum())} of {len(unique)}; 80 % coverage of the block P10-P90 at held-out points, "
        f"mean over seeds: {cov.min():.2f}-{cov.max():.2f} (median {cov.median():.2f}){_sample_text(unique)}."
        f"{control_text}"
    )


def _sample_text(means: pd.DataFrame) -> str:
    """The coverage of the sample-support P10-P90 bands, when the run has them."""
    sample = means["cov80 residua sample mean"].dropna()
    if sample.empty:
        return ""
    return (f"; of the sample P10-P90 (`p10_sample_gt`-`p90_sample_gt`, nugget included): {sample.min():.2f}-"
            f"{sample.max():.2f} (median {sample.median():.2f}; kriging's point intervals "
            f"{means['cov80 OK mean'].min():.2f}-{means['cov80 OK mean'].max():.2f})")  # fmt: skip


def coalash_summary(result: dict) -> str:
    """The coal-ash headline sentence."""
    rows = result["coalash"]
    mean = jura_means(pd.DataFrame(rows)).iloc[0]
    log_table, _ = jura_tables(pd.DataFrame(rows))
    models = ", ".join(f"seed {seed} `{model}`" for seed, model in zip(log_table["seed"], log_table["grade_model"],
                                                                       strict=True))  # fmt: skip
    seeds = ", ".join(map(str, _seeds_of(result, rows)))
    unit = next(iter(result["manifest"]["coalash"].values()))["unit_m"]
    return (
        f"- Coal ash, Robena Mine (one site; REAL coal ash % written as Ga, not Ga; 1 grid unit = {unit:g} m is an "
        f"assumption; held-out blocks, hold-out seeds {seeds}): mean over seeds of Residua's log-grade RMSE / "
        f"ordinary kriging's {mean['log ratio mean']:.3f} (range {mean['log ratio min']:.3f}-"
        f"{mean['log ratio max']:.3f}); arithmetic RMSE ratio {mean['RMSE ratio mean']:.3f} (range "
        f"{mean['RMSE ratio min']:.3f}-{mean['RMSE ratio max']:.3f}); 80 % coverage of the block P10-P90 at held-out "
        f"points, mean over seeds {mean['cov80 residua mean']:.2f} (ordinary kriging {mean['cov80 OK mean']:.2f})"
        f"{_sample_text(pd.DataFrame([mean]))}; grade model: {models}."
    )


def gslib_summary(result: dict) -> str:
    """The GSLIB headline sentence (the plain drop, then the censored variant; either may be missing)."""
    gslib = pd.DataFrame(result["gslib"]).set_index(["drop", "method"])
    drops = gslib.index.get_level_values("drop")
    censored = ""
    if "gslib_cluster_bdl" in drops:
        bdl = gslib.loc["gslib_cluster_bdl"]
        censored = (f"Censored variant: Residua {bdl.loc['residua', 'median_abs_log_error']:.3f}, coverage "
                    f"{bdl.loc['residua', 'coverage80']:.2f}.")  # fmt: skip
    if "gslib_cluster" not in drops:
        return f"- GSLIB (12 site means; the censored drop only). {censored}"
    plain = gslib.loc["gslib_cluster"]
    error = plain["median_abs_log_error"]
    best_all, best_within = error[list(ALL_SAMPLES)].idxmin(), error[list(WITHIN_SITE)].idxmin()
    return (
        f"- GSLIB (12 site means): median |ln(P50/truth)| Residua {error['residua']:.3f}; best all-samples "
        f"baseline (kriging across site boundaries) {best_all} {error[best_all]:.3f}; best within-site baseline "
        f"{best_within} {error[best_within]:.3f}; naive mean {error['naive_mean']:.3f}. Truth inside Residua's "
        f"published P10-P90 (`ga_grade_gt_p10`-`p90`) at {plain.loc['residua', 'coverage80']:.2f} of sites (median "
        f"P90/P10 {np.exp(plain.loc['residua', 'median_ln_p90_over_p10']):.2f})." + (f" {censored}" if censored else "")
    )


def summary(result: dict) -> str:
    """Headline sentences, one per dataset in the run."""
    lines = [jura_summary(result)] if result["jura"] else []
    lines += [coalash_summary(result)] if result.get("coalash") else []
    lines += [gslib_summary(result)] if result["gslib"] else []
    return "\n".join(lines)


def provenance(result: dict) -> str:
    """The list of command, date, machine, code state and wall time."""
    m, git, after = result["machine"], result["git"], result["git_after"]
    modified = ", ".join(f"`{path}`" for path in git["modified"]) or "none"
    untracked = ", ".join(f"`{path}`" for path in git["untracked"]) or "none"
    tree = "dirty" if git["dirty"] else "clean"
    what = "re-scoring earlier runs only" if result["score_only"] else "building drops, running Residua, scoring"
    moved = "unchanged during the run" if after == git else (
        f"**changed during the run** (at the end: commit {after['commit']}, modified tracked files: "
        f"{', '.join(f'`{path}`' for path in after['modified']) or 'none'}, `git diff HEAD` sha1 "
        f"{after['diff_sha1']}), so the runs may mix code versions")  # fmt: skip
    return (f"- Command: `{result['command']}`\n- Date: {result['date']}\n"
            f"- Machine: {m['nproc']} CPUs (nproc), {m['cpu']}; Python {m['python']}\n"
            f"- Code: git commit {git['commit']}, working tree {tree} (modified tracked files: {modified}; untracked: "
            f"{untracked}; `git diff HEAD` sha1 {git['diff_sha1']}); {moved}\n"
            f"- Wall time: {result['wall_s']:.0f} s in all ({what}; the {len(result['runs'])} Residua runs took "
            f"{sum(r['wall_s'] for r in result['runs'].values()):.0f} s)")  # fmt: skip


def _holdouts(manifests: dict, seeds: list[int]) -> str:
    """The held-out blocks and sample counts of each of ``seeds``."""
    return "; ".join(f"seed {seed}: blocks {m['heldout_blocks_5x5']}, {m['n_training']} training / "
                     f"{m['n_heldout']} held out" for seed, m in manifests.items() if int(seed) in seeds)  # fmt: skip


def _section_inputs(result: dict, dataset: str) -> tuple:
    """A held-out-point dataset's scores, its two tables, per-metal means, first manifest and hold-out text."""
    scores = pd.DataFrame(result[dataset])
    log_table, arithmetic = jura_tables(scores)
    manifests = result["manifest"][dataset]
    holdouts = _holdouts(manifests, _seeds_of(result, result[dataset]))
    return scores, log_table, arithmetic, jura_means(scores), next(iter(manifests.values())), holdouts


def jura_section(result: dict) -> str:
    """The Jura section of the results page."""
    jura, log_table, arithmetic, means, jm, holdouts = _section_inputs(result, "jura")
    fit, agreement = jm["affine_fit"], jm["covariates"]["class_agreement_at_grid_cells"]
    mapping = "; ".join(f"`{d}`: " + ", ".join(f"{v} as {k}" for k, v in mp.items()) for d, mp in JURA_RUNS.items())
    return f"""## Jura topsoil: block-grade rasters at held-out samples

One site (the survey area, residue type `other`, `reported_tonnes` {jm["reported_tonnes"]:,.0f} t); per hold-out seed
whole blocks of a 5x5 grid over Xloc/Yloc are held out ({holdouts}). Metals written under Residua's element names:
{mapping}; the mg/kg values go into `ppm` columns for Ga and Te and `ppb` columns for Pt, Pd and Rh, so that each
metal sits near the `other` prior of the element it stands for (Residua quarantines a site whose median is over 100x
its type's typical grade as a unit error); rasters are compared in the written unit. Co is written twice, the same \
data under the Ga and the Pt prior, as a control of how much the element's
reference prior moves the estimate; the control is kept for every seed (it is one more element in `jura_b`, a few
seconds of grade modelling per seed, and the Jura has no eighth metal to put in its place) and left out of the
medians. Residua = the published raster
`rasters/jura_<element>_grade.tif` at the held-out point (band `p50_gt`; `p10_gt`-`p90_gt` for coverage;
{int(jura["n_off_raster"].max())} points off the raster): a block grade (cells of {jura["raster_cell_m"].iloc[0]:.0f} m,
depth-averaged) scored against point samples, so its interval can be expected to be narrower than the point
scatter. Baselines fitted on the training samples only, in UTM 32N metres: ordinary kriging of ln grade
(`models.spatial.OrdinaryKriging`, spherical variogram; P50 = exp(kriged), arithmetic = exp(kriged + var/2),
interval exp(kriged +- 1.2816 sd)), IDW (`models.spatial.InverseDistance`, 12 neighbours, power 2; of ln grade for
the log score, of grade for the arithmetic), global mean (geometric / arithmetic mean; interval = training P10-P90).
Residua's arithmetic estimate is its P50 (no mean band is published).

Covariates: one-hot rock and land-use rasters from the 5,957-cell grid, georeferenced by a least-squares affine fit of
(Xloc, Yloc) to the samples' lon/lat projected to UTM 32N (RMS residual {fit["rms_residual_m"] * 1000:.1f} mm, max
{fit["max_residual_m"] * 1000:.1f} mm over {fit["n_points"]} samples, so the published lon/lat are an affine image of
the local grid; scale {fit["scale_x_m_per_km"]:.1f} / {fit["scale_y_m_per_km"]:.1f} m per km, rotation
{fit["rotation_deg"]:.2f} deg), warped north-up at 50 m by nearest neighbour (Residua refuses rotated grids); the
warped class equals the grid's at {agreement["Rock"]:.1%} / {agreement["Landuse"]:.1%} of cells (rock / land use).

Per metal over the seeds: Residua's RMSE / ordinary kriging's (`log ratio`: log-grade RMSE, `RMSE ratio`: arithmetic
grade; mean, min and max over the seeds) and the mean over the seeds of the 80 % coverage:

{_table(means)}

Per seed, log-grade RMSE (ln P50 vs ln observed) and 80 % interval coverage (`grade_model` = the model Residua
chose for the element, from `grade_tonnage.csv`):

{_table(log_table)}

{flat_rasters(log_table)}

Per seed, arithmetic grade (g/t = mg/kg): RMSE and relative bias (mean estimate / mean observed - 1):

{_table(arithmetic)}"""


def _reference_prior(residue_type: str, element: str) -> tuple[float, float, float]:
    """The bundled reference grade prior (P10, P50, P90 in g/t) of ``element`` in ``residue_type``."""
    priors = pd.read_csv(ROOT / "geodata" / "reference" / "grade_priors.csv")
    row = priors[(priors["residue_type"] == residue_type) & (priors["element"] == element)].iloc[0]
    return float(row["grade_p10_gt"]), float(row["grade_p50_gt"]), float(row["grade_p90_gt"])


def coalash_section(result: dict) -> str:
    """The coal-ash section of the results page (scored as the Jura's)."""
    rows, log_table, arithmetic, means, cm, holdouts = _section_inputs(result, "coalash")
    ash = pd.read_csv(REALDATA / "coalash" / "coalash.csv")["coalash"]
    p10, p50, p90 = _reference_prior("coal_fly_ash", "ga")
    east, north = cm["origin_utm17n"]
    return f"""## Coal ash (Robena Mine): block-grade raster at held-out samples

REAL measured data, but **coal ash (%) in a coal seam, not Ga, and not a tailings site**: the {len(ash)} samples of
the Robena Mine survey, Greene County, Pennsylvania (Gomez and Hazen 1970, US Bureau of Mines RI 7377; Cressie 1993; R
package gstat `data/coalash.rda`), ash {ash.min():.2f}-{ash.max():.2f} % (median {ash.median():.2f}), written as
`ga_ppm`, so Residua reads them as Ga in g/t. One site (`coalash`, residue type `coal_fly_ash`, a label: its Ga
reference prior, P10/P50/P90 {p10:g}/{p50:g}/{p90:g} g/t, is the prior here; `reported_tonnes`
{cm["reported_tonnes"]:,.0f} t = footprint area x 1 m x 1.0 t/m3, an assumption); footprint = convex hull of all
samples + 1 grid unit; every sample 0-1 m deep. The survey's grid coordinates have no documented unit: **1 grid unit =
{cm["unit_m"]:g} m is an assumption** (grid point (0, 0) placed at E {east:,.0f} m, N {north:,.0f} m in UTM 17N,
EPSG:32617, an arbitrary origin near the mine; y read as northing), so every distance, raster cell and range here
scales with it. The baselines' scores do not depend on the unit (kriging with a fitted variogram and IDW are unchanged
by rescaling the coordinates); Residua's could, through what it sizes in metres. Per hold-out seed whole blocks of a
5x5 grid over the grid coordinates are held out, drawn as for the Jura ({holdouts}). Residua = the published raster
`rasters/coalash_ga_grade.tif` at the held-out point (band `p50_gt`; `p10_gt`-`p90_gt` for coverage;
{int(rows["n_off_raster"].max())} points off the raster; cells of {rows["raster_cell_m"].iloc[0]:.0f} m,
depth-averaged block grade against point samples); baselines as for the Jura (ordinary kriging of ln grade, IDW,
global mean), fitted on the training samples only, in UTM 17N metres.

Residua's RMSE / ordinary kriging's over the seeds (`log ratio`: log-grade RMSE, `RMSE ratio`: arithmetic grade; mean,
min and max over the seeds) and the mean over the seeds of the 80 % coverage:

{_table(means)}

Per seed, log-grade RMSE (ln P50 vs ln observed) and 80 % interval coverage (`grade_model` from `grade_tonnage.csv`):

{_table(log_table)}

{flat_rasters(log_table, "coal-ash")}

Per seed, arithmetic grade (ash %, written and read as g/t): RMSE and relative bias (mean estimate / mean observed - 1):

{_table(arithmetic)}"""


def gslib_section(result: dict) -> str:
    """The GSLIB section of the results page (the plain and/or the censored drop)."""
    gslib = pd.DataFrame(result["gslib"])
    sites = pd.DataFrame(result["gslib_sites"])
    site_columns = ["site_id", "n_samples", "confidence", "true_mean_gt", "p50", "low", "high", *ALL_SAMPLES,
                    *WITHIN_SITE]  # fmt: skip
    plain_sites = sites.loc[sites["drop"] == "gslib_cluster", site_columns]
    bdl_sites = sites.loc[sites["drop"] == "gslib_cluster_bdl", ["site_id", "true_mean_gt", "p50", "low", "high",
                                                                 "ok_lognormal", "ok_lognormal_within_site",
                                                                 "naive_mean", "declustered_mean"]]  # fmt: skip
    fitted = next(iter(result["gslib_variograms"].values()))  # the plain drop's when it was run
    variograms = "; ".join(f"{name} {params}" for name, params in fitted.items())
    fallbacks = {drop: sites for drop, sites in result["gslib_fallbacks"].items() if sites}
    fallback_text = (
        "Sites with fewer than 3 samples, whose within-site kriging falls back to the declustered mean: "
        + "; ".join(f"{d}: {', '.join(s)}" for d, s in fallbacks.items())
        if fallbacks
        else "Every site has at least 3 samples, so no within-site kriging fell back to the declustered mean"
    )
    tables = []
    if len(plain_sites):
        tables.append(f"Per site (`gslib_cluster`; `low`-`high` = Residua's `ga_grade_gt_p10`-`p90`):\n\n"
                      f"{_table(plain_sites)}")  # fmt: skip
    if len(bdl_sites):
        tables.append(f"Per site (`gslib_cluster_bdl`):\n\n{_table(bdl_sites)}")
    per_site = "\n\n".join(tables)
    return f"""## GSLIB cluster: 12 site means against the exhaustive truth

140 clustered samples (1 unit = 20 m), 12 sites of 12-13 x 16-17 units, residue type `copper_flotation_tailings`.
Residua's estimate is `ga_grade_gt_p50` of `sites_ranked.csv` (the site's mean grade) and its 80 % interval
`ga_grade_gt_p10`-`ga_grade_gt_p90`; `coverage80` = share of sites whose true mean lies inside it,
`median_ln_p90_over_p10` its median log width. Residua treats the sites as separate deposits: each site's grade comes
from its own samples, shrunk towards its residue type's distribution of site means (estimated from all the sites),
never from spatial proximity to a neighbouring site's samples.

Two families of baselines (all kriging with `models.spatial.OrdinaryKriging`, spherical variograms fitted by PyKrige
on all 140 samples, predicted at every reference cell of the site and averaged over the site's cells):

* **All 140 samples** (`samples` = all 140): kriging conditioned on every sample, so a site's estimate also draws on
  the samples of neighbouring sites across the boundary. This is information Residua does not use by design (the
  sites are separate deposits); it can help here only because the field is one continuous reference image cut into
  rectangles (compare `ok_lognormal` with `ok_lognormal_within_site`). `ok_lognormal` = exp(kriged ln grade +
  var/2); `ok_arithmetic` = kriging of grade with its own fitted variogram; `ok_arithmetic_log_variogram` = kriging
  of grade with the ln-grade variogram's nugget share and range rescaled to the grade variance.
* **The site's own samples** (`samples` = site's own): the same variograms (still fitted to all 140 samples, the only
  cross-site information left), but each site's cells are conditioned only on the samples inside the site:
  `ok_lognormal_within_site` = exp(kriged ln grade + var/2) averaged over the site's cells;
  `ok_arithmetic_log_variogram_within_site` = the arithmetic variant with the rescaled ln-grade variogram; a site with
  fewer than 3 samples would fall back to its declustered mean. `naive_mean` = the site's sample mean;
  `declustered_mean` = weighted with GSLIB's cell-declustering weights (computed over the whole field). This family
  uses the same samples as Residua and is the like-for-like comparison. {fallback_text}.

Fitted variograms [partial sill, range m, nugget]: {variograms}. In `gslib_cluster_bdl` the
{result["manifest"]["gslib"]["n_censored"]} samples below {GSLIB_DETECTION_LIMIT:g} are written
`<{GSLIB_DETECTION_LIMIT:g}`; its baselines substitute half the limit.

{_table(gslib)}

{per_site}"""


def render(result: dict) -> str:
    """The results page: the sections of the datasets in ``result`` (all three unless the run used ``--only``)."""
    runs = result["runs"]
    run_lines = "\n".join(
        f"| {name} | {info['wall_s']:.0f} | {info['quarantined_rows']} | {'; '.join(info['failed_checks']) or 'none'} "
        "| " + "; ".join(f"{e}: " + ", ".join(f"{k} {v}" for k, v in c.items() if v)
                         for e, c in info["grade_methods"].items()) + " |"
        for name, info in runs.items())  # fmt: skip
    coal = bool(result.get("coalash"))
    which = "Jura and coal-ash" if coal else "Jura"
    stand_in = "Metals (and coal ash %) stand in" if coal else "Metals stand in"
    only = result.get("only")
    partial = ("" if not only else "\n\n**Partial run** (`--only " + " ".join(only) + "`): only the drops whose key "
               "starts with " + ", ".join(f"`{p}`" for p in only) + " were run and scored.")  # fmt: skip
    sections = [jura_section(result)] if result["jura"] else []
    sections += [coalash_section(result)] if coal else []
    sections += [gslib_section(result)] if result["gslib"] else []
    body = "\n\n".join(sections)
    return f"""# Residua's published outputs on real public data

{provenance(result)}

Drops built by `benchmarks/realdata_drops.py` ({which} hold-out seeds {", ".join(map(str, result["seeds"]))}; the GSLIB
drops do not depend on the seed and are run once); each `residua run` used default settings (2,000 draws, default
seed) and a fresh Dagster instance folder. {stand_in} for Ga/Te/PGM; none of this is tailings data.{partial}

{summary(result)}

## Runs

| drop | wall (s) | rows quarantined | failed checks | grade method per element (sites) |
|---|---|---|---|---|
{run_lines}

{body}
"""


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None, help="keep drops, outputs and logs here (default: temp)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                        help="seeds of the Jura and coal-ash spatial-block hold-outs (default: 0 1 2)")  # fmt: skip
    parser.add_argument("--score-only", action="store_true", help="re-score the outputs already in --workdir")
    parser.add_argument("--only", nargs="+", metavar="PREFIX", default=None,
                        help="run and score only the drops whose key starts with one of these prefixes "
                             "(e.g. coalash, jura_seed0, gslib); without --out the results go to a temporary "
                             "folder")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None,
                        help="results page (and its .json twin); default benchmarks/results/realdata_run.md, or a "
                             "temporary path with --only")  # fmt: skip
    args = parser.parse_args()
    if args.score_only and args.workdir is None:
        parser.error("--score-only needs --workdir")
    only = tuple(args.only or ())
    if args.out is None:
        default = ROOT / "benchmarks" / "results" / "realdata_run.md"
        args.out = Path(tempfile.mkdtemp(prefix="residua_realdata_only_")) / "realdata_run.md" if only else default
    start, git = time.perf_counter(), git_state()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="residua_realdata_run_"))
    drops, outs = work / "drops", work / "out"
    if args.score_only:  # the code that produced the outputs is the one recorded when they were run
        manifest = json.loads((drops / "manifest.json").read_text())
        runs = json.loads((work / "runs.json").read_text())
        git = json.loads((work / "git.json").read_text())
        seeds = [int(seed) for seed in manifest["jura"]]
        keys = [key for key in run_keys(seeds, only) if key in runs]
        runs = {key: runs[key] for key in keys}
    else:
        seeds = list(dict.fromkeys(args.seeds))
        keys = run_keys(seeds, only)
    if not keys:
        examples = ", ".join(run_keys(seeds)[:3])
        parser.error(f"no drop to run or score (--only {' '.join(only)}; keys are e.g. {examples})")
    if not args.score_only:
        shutil.rmtree(drops, ignore_errors=True)
        manifest, runs = build_all(drops, tuple(seeds)), {}
        for key in keys:
            log = work / f"{key.replace('/', '_')}.log"
            runs[key] = run_residua(drops / key, outs / key, work / "dagster" / key, log)
            print(f"{key}: residua run {runs[key]['wall_s']:.0f} s", flush=True)
        (work / "runs.json").write_text(json.dumps(runs, indent=2), encoding="utf-8")
        (work / "git.json").write_text(json.dumps(git, indent=2), encoding="utf-8")
    jura = []
    for seed in seeds:
        names = tuple(drop for drop in JURA_RUNS if f"{jura_folder(Path(), seed)}/{drop}" in keys)
        if names:
            jura += score_jura(jura_folder(drops, seed), jura_folder(outs, seed), seed, names)
    coalash = [row for seed in seeds if f"{coalash_folder(Path(), seed)}/{COALASH_DROP}" in keys
               for row in score_coalash(coalash_folder(drops, seed), coalash_folder(outs, seed), seed)]  # fmt: skip
    gslib_names = tuple(drop for drop in GSLIB_DROPS if drop in keys)
    gslib_rows, gslib_sites, variograms, fallbacks = (
        score_gslib(drops, outs, gslib_names) if gslib_names else ([], pd.DataFrame(), {}, {}))  # fmt: skip
    command = shlex.join([".venv/bin/python", "benchmarks/realdata_run.py", *sys.argv[1:]])
    result = {"date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "command": command, "score_only": args.score_only,
              "seeds": seeds, "only": list(only) or None,
              "machine": machine(), "git": git, "workdir": str(work), "manifest": manifest, "runs": runs,
              "jura": jura, "coalash": coalash, "gslib": gslib_rows, "gslib_variograms": variograms,
              "gslib_fallbacks": fallbacks, "gslib_sites": gslib_sites.to_dict("records")}  # fmt: skip
    result["git_after"] = json.loads((work / "git_after.json").read_text()) if args.score_only else git_state()
    (work / "git_after.json").write_text(json.dumps(result["git_after"], indent=2), encoding="utf-8")
    result["wall_s"] = time.perf_counter() - start
    page = render(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2, default=float), encoding="utf-8")
    print(page)
    print(f"work folder: {work}")
    print(f"results written to {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
