"""Data drops in Residua's input contract, built from the real public data in ../shared/realdata.

Usage: .venv/bin/python benchmarks/realdata_drops.py --out DIR [--seeds 0 1 2]

Writes, under DIR (the truth and the held-out samples stay OUTSIDE every drop folder):

* ``jura_seed<k>/jura_a/``, ``jura_seed<k>/jura_b/`` for each hold-out seed k: one site (``jura``,
  residue type ``other``) over the Swiss Jura topsoil survey, training samples only, with one-hot
  land-use and rock-type covariate rasters.
  Residua knows only Ga, Te, Pt, Pd and Rh, so the seven metals are written under those names
  (mg/kg values written as ``<element>_ppm`` for Ga and Te, as ``<element>_ppb`` for the PGM so that
  they sit near those elements' priors, see ``JURA_UNITS``), see ``JURA_RUNS``. Co is written twice (as Ga in
  ``jura_a`` and as Pt in ``jura_b``): a control of how much the element's reference prior
  (``other``: Ga P50 15 g/t, Pt P50 0.02 g/t) moves the estimate of the same data.
* ``jura_seed<k>/jura_heldout.csv``: the held-out samples (whole spatial blocks of a 5x5 grid over
  Xloc/Yloc, drawn with seed k until 20-25 % of the samples are out), all seven metals.
  Only the hold-out depends on the seed; the GSLIB drops below are built once.
* ``coalash_seed<k>/coalash/`` for each hold-out seed k: one site (``coalash``, residue type
  ``coal_fly_ash``) over the Robena Mine coal-ash survey (208 samples of coal ash % in a coal seam,
  Greene County, Pennsylvania; Gomez and Hazen 1970; Cressie 1993), training samples only. The
  grid coordinates (unit unknown) are placed in UTM 17N (EPSG:32617) at an arbitrary origin near
  the mine, 1 grid unit = 100 m (an assumption), y read as northing; ash % is written as
  ``ga_ppm`` (a stand-in: not gallium, not a tailings site), depth 0-1 m. Footprint = convex hull of
  all samples + 1 grid unit; ``reported_tonnes`` = area x 1 m x 1.0 t/m3 (an assumption).
* ``coalash_seed<k>/coalash_heldout.csv``: its held-out samples (whole blocks of a 5x5 grid over
  the grid coordinates, same seeded draw as the Jura's): grid ``x``, ``y`` and projected ``east``, ``north``.
* ``gslib_cluster/``: GSLIB's clustered-sampling benchmark (140 samples of the 50 x 50 reference
  field, 1 unit = 20 m, placed in UTM 44N) cut into 12 rectangular sites, grade written as
  ``ga_ppm``; ``gslib_cluster_bdl/``: the same with the samples below 0.1 written as ``<0.1``.
* ``gslib_truth.csv``: per site the true mean grade (mean of the reference cells inside it).
* ``manifest.json``: mapping, hold-out per seed (Jura and coal ash), georeferencing fit and censoring figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from pyproj import Transformer
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject
from shapely.geometry import MultiPoint, box

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
JURA_METALS = ("Cd", "Co", "Cr", "Cu", "Ni", "Pb", "Zn")
#: Drop name -> {Residua element: Jura metal}. Ga and Te take the metals whose magnitudes fit their
#: ``other`` priors; Co is repeated as Pt as a control of the prior's influence.
JURA_RUNS: dict[str, dict[str, str]] = {
    "jura_a": {"ga": "Co", "te": "Cd", "pt": "Ni", "pd": "Cu", "rh": "Cr"},
    "jura_b": {"ga": "Pb", "te": "Zn", "pt": "Co"},
}
#: The column unit each Jura metal is written in: mg/kg values under ``ppb`` for the PGM, whose
#: ``other`` priors (0.005-0.02 g/t) lie a thousand times below these metals' levels, so the metals
#: sit in the range of the element they stand for and Residua's unit-error check (a site's median
#: over 100x its type's typical grade) does not refuse them. Scores are unit-free ratios.
JURA_UNITS: dict[str, str] = {"ga": "ppm", "te": "ppm", "pt": "ppb", "pd": "ppb", "rh": "ppb"}
#: g/t per unit of a written Jura value.
UNIT_GT = {"ppm": 1.0, "ppb": 1e-3}
JURA_CRS = "EPSG:32632"
JURA_CELL_KM = 0.05
GSLIB_CRS = "EPSG:32644"
GSLIB_UNIT_M = 20.0
GSLIB_ORIGIN = (600_000.0, 2_500_000.0)  # easting, northing of grid corner (0, 0): central India
#: Site edges in grid units: integers, so no reference cell (centres at k + 0.5) straddles two sites.
GSLIB_X_EDGES = (0, 12, 25, 37, 50)
GSLIB_Y_EDGES = (0, 17, 33, 50)
GSLIB_DETECTION_LIMIT = 0.1
COALASH_CRS = "EPSG:32617"
COALASH_UNIT_M = 100.0  # an assumption: the survey's grid unit is not documented
COALASH_ORIGIN = (590_000.0, 4_402_000.0)  # easting, northing of grid point (0, 0): near the Robena Mine, Greene Co.
COALASH_THICKNESS_M = 1.0  # samples written as 0-1 m; reported_tonnes = area x this x density (an assumption)
COALASH_DENSITY_T_M3 = 1.0  # the P50 of coal_fly_ash in geodata/reference/density.csv (an assumption)
NODATA = -9999.0


def spatial_block_holdout(x: np.ndarray, y: np.ndarray, seed: int, n_side: int = 5,
                          share: tuple[float, float] = (0.20, 0.25)) -> tuple[np.ndarray, list[int]]:  # fmt: skip
    """Held-out mask of whole blocks (``n_side`` x ``n_side`` grid over the extent), drawn in seeded order.

    Blocks are taken until at least ``share[0]`` of the points are out; a block that would push the
    share above ``share[1]`` is skipped.
    """
    col = np.minimum(((x - x.min()) / np.ptp(x) * n_side).astype(int), n_side - 1)
    row = np.minimum(((y - y.min()) / np.ptp(y) * n_side).astype(int), n_side - 1)
    block = row * n_side + col
    held, chosen = np.zeros(len(x), bool), []
    for candidate in np.random.default_rng(seed).permutation(n_side * n_side):
        trial = held | (block == candidate)
        if not (block == candidate).any() or trial.mean() > share[1]:
            continue
        held, chosen = trial, [*chosen, int(candidate)]
        if held.mean() >= share[0]:
            break
    return held, chosen


def fit_local_affine(local_km: np.ndarray, lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[Affine, dict]:
    """Least-squares affine (Xloc, Yloc in km) -> projected metres, with its residuals (m)."""
    east, north = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    design = np.column_stack([local_km, np.ones(len(local_km))])
    coef, *_ = np.linalg.lstsq(design, np.column_stack([east, north]), rcond=None)
    residual = np.hypot(*(design @ coef - np.column_stack([east, north])).T)
    (a, d), (b, e), (c, f) = coef
    fit = {"rms_residual_m": float(np.sqrt((residual**2).mean())), "max_residual_m": float(residual.max()),
           "scale_x_m_per_km": float(np.hypot(a, d)), "scale_y_m_per_km": float(np.hypot(b, e)),
           "rotation_deg": float(np.degrees(np.arctan2(d, a))), "n_points": len(residual)}  # fmt: skip
    return Affine(a, b, c, d, e, f), fit


def jura_covariates(grid: pd.DataFrame, to_utm: Affine, folder: Path) -> dict:
    """One-hot land-use and rock rasters (north-up, 50 m, EPSG:32632) from the local-grid table.

    The classes are rasterised on the local km grid, georeferenced with the fitted (slightly
    rotated) affine and warped north-up by nearest neighbour, as Residua refuses rotated grids.
    """
    folder.mkdir(parents=True, exist_ok=True)
    x0, y1 = grid["Xloc"].min(), grid["Yloc"].max()
    cols = np.rint((grid["Xloc"] - x0) / JURA_CELL_KM).astype(int).to_numpy()
    rows = np.rint((y1 - grid["Yloc"]) / JURA_CELL_KM).astype(int).to_numpy()
    shape = (rows.max() + 1, cols.max() + 1)
    local = Affine(JURA_CELL_KM, 0, x0 - JURA_CELL_KM / 2, 0, -JURA_CELL_KM, y1 + JURA_CELL_KM / 2)
    source_transform = to_utm * local
    corners = np.array([source_transform * (c, r) for c in (0, shape[1]) for r in (0, shape[0])])
    cell = JURA_CELL_KM * 1000.0
    left, top = np.floor(corners[:, 0].min() / cell) * cell, np.ceil(corners[:, 1].max() / cell) * cell
    width = int(np.ceil((corners[:, 0].max() - left) / cell))
    height = int(np.ceil((top - corners[:, 1].min()) / cell))
    target = Affine(cell, 0, left, 0, -cell, top)
    east, north = Transformer.from_crs("EPSG:4326", JURA_CRS, always_xy=True).transform(grid["long"], grid["lat"])
    check_rows, check_cols = rasterio.transform.rowcol(target, east, north)
    agreement, written = {}, []
    for variable in ("Rock", "Landuse"):
        classes = sorted(grid[variable].unique())
        codes = np.zeros(shape, np.int16)
        codes[rows, cols] = grid[variable].map({name: i + 1 for i, name in enumerate(classes)}).to_numpy()
        warped = np.zeros((height, width), np.int16)
        reproject(codes, warped, src_transform=source_transform, src_crs=JURA_CRS, src_nodata=0,
                  dst_transform=target, dst_crs=JURA_CRS, dst_nodata=0, resampling=Resampling.nearest)  # fmt: skip
        at_cells = warped[np.clip(check_rows, 0, height - 1), np.clip(check_cols, 0, width - 1)]
        expected = grid[variable].map({name: i + 1 for i, name in enumerate(classes)}).to_numpy()
        agreement[variable] = float((at_cells == expected).mean())
        for i, name in enumerate(classes):
            band = np.where(warped == 0, NODATA, (warped == i + 1).astype("float32")).astype("float32")
            path = folder / f"{variable.lower()}_{name.lower()}.tif"
            with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=1, dtype="float32",
                               crs=JURA_CRS, transform=target, nodata=NODATA, compress="deflate") as out:  # fmt: skip
                out.write(band, 1)
            written.append(path.name)
    return {"rasters": written, "class_agreement_at_grid_cells": agreement, "shape": [height, width]}


def jura_column(element: str) -> str:
    """The samples.csv column a Jura metal standing for ``element`` is written in (``JURA_UNITS``)."""
    return f"{element}_{JURA_UNITS[element]}"


def write_dataset_json(drop: Path, title: str, description: str) -> None:
    """The drop's ``dataset.json`` (real data: ``synthetic`` false)."""
    text = json.dumps({"title": title, "synthetic": False, "description": description}, indent=2)
    (drop / "dataset.json").write_text(text, encoding="utf-8")


def build_jura(out: Path, seed: int = 0) -> dict:
    """Write the Jura drops (``JURA_RUNS``) and ``jura_heldout.csv`` under ``out``."""
    samples = pd.read_csv(REALDATA / "jura" / "jura_samples.csv")
    grid = pd.read_csv(REALDATA / "jura" / "jura_grid.csv")
    samples.insert(0, "sample_id", [f"JURA-{i + 1:03d}" for i in range(len(samples))])
    held, blocks = spatial_block_holdout(samples["Xloc"].to_numpy(), samples["Yloc"].to_numpy(), seed)
    samples.loc[held].to_csv(out / "jura_heldout.csv", index=False)
    training = samples.loc[~held]
    to_utm, fit = fit_local_affine(samples[["Xloc", "Yloc"]].to_numpy(), samples["long"], samples["lat"], JURA_CRS)
    lon, lat = pd.concat([samples["long"], grid["long"]]), pd.concat([samples["lat"], grid["lat"]])
    points = np.column_stack(Transformer.from_crs("EPSG:4326", JURA_CRS, always_xy=True).transform(lon, lat))
    footprint = MultiPoint(points).convex_hull.buffer(100.0)
    tonnes = round(footprint.area * 0.3 * 1.4, -3)
    site = {"site_id": "jura", "name": "Swiss Jura topsoil survey area (real data, metals renamed)",
            "residue_type": "other", "reported_tonnes": tonnes, "dry_density_t_m3": 1.4}  # fmt: skip
    manifest = {"seed": seed, "heldout_blocks_5x5": blocks, "n_heldout": int(held.sum()),
                "n_training": len(training), "affine_fit": fit, "footprint_area_m2": footprint.area,
                "reported_tonnes": tonnes, "drops": {}}  # fmt: skip
    for name, mapping in JURA_RUNS.items():
        drop = out / name
        drop.mkdir(parents=True, exist_ok=True)
        gpd.GeoDataFrame([site], geometry=[footprint], crs=JURA_CRS).to_file(drop / "sites.gpkg", driver="GPKG")
        table = pd.DataFrame({"sample_id": training["sample_id"], "site_id": "jura", "lon": training["long"],
                              "lat": training["lat"], "depth_from_m": 0.0, "depth_to_m": 0.25})  # fmt: skip
        for element, metal in mapping.items():
            table[jura_column(element)] = training[metal].to_numpy()
        table.to_csv(drop / "samples.csv", index=False)
        manifest["covariates"] = jura_covariates(grid, to_utm, drop / "rasters" / "covariates")
        described = ", ".join(f"{metal} as {element}" for element, metal in mapping.items())
        write_dataset_json(drop, f"Swiss Jura topsoil metals (real data; {described})",
            "REAL measured topsoil (0-25 cm) metal concentrations (mg/kg) from the Swiss Jura: Atteia, Dubois and "
            "Webster (1994); Goovaerts (1997) Geostatistics for Natural Resources Evaluation, App. C; as distributed "
            "in the R package gstat (data/jura.rda, r-spatial/gstat commit 2a578765). Metals are written under "
            f"Residua's element names ({described}; mg/kg values in ppm columns for Ga and Te, in ppb columns for the "
            "PGM, so each sits near its element's prior); these are not Ga/Te/PGM assays and not a tailings site. "
            f"Training samples only ({len(training)} of {len(samples)}); footprint = convex hull of samples and "
            "prediction grid + 100 m; reported_tonnes = area x 0.3 m x 1.4 t/m3 (an assumption).")  # fmt: skip
        manifest["drops"][name] = {"mapping": mapping, "n_samples": len(table)}
    return manifest


def gslib_sites(truth: pd.DataFrame, cluster: pd.DataFrame) -> tuple[list[dict], pd.DataFrame, np.ndarray]:
    """The 12 site rectangles (UTM 44N), their true means, and each sample's site id."""
    east0, north0 = GSLIB_ORIGIN
    sites, truths, sample_site = [], [], np.full(len(cluster), "", dtype=object)
    x_spans, y_spans = list(itertools.pairwise(GSLIB_X_EDGES)), list(itertools.pairwise(GSLIB_Y_EDGES))
    for r, (y0, y1) in enumerate(y_spans):
        for c, (x0, x1) in enumerate(x_spans):
            site_id = f"GS-{r * len(x_spans) + c + 1:02d}"
            u = GSLIB_UNIT_M
            polygon = box(east0 + x0 * u, north0 + y0 * u, east0 + x1 * u, north0 + y1 * u)
            cells = truth["x"].between(x0, x1) & truth["y"].between(y0, y1)
            inside = (cluster["x"].between(x0, x1) & cluster["y"].between(y0, y1)).to_numpy()
            sample_site[inside] = site_id
            sites.append({"site_id": site_id, "name": f"GSLIB cluster field, row {r + 1} column {c + 1}",
                          "residue_type": "copper_flotation_tailings", "dry_density_t_m3": 1.5,
                          "reported_tonnes": round(polygon.area * 10 * 1.5, -3), "geometry": polygon})  # fmt: skip
            truths.append({"site_id": site_id, "x0": x0, "x1": x1, "y0": y0, "y1": y1,
                           "n_cells": int(cells.sum()), "n_samples": int(inside.sum()),
                           "true_mean_gt": truth.loc[cells, "primary"].mean()})  # fmt: skip
    assert (sample_site != "").all(), "a GSLIB sample lies outside every site"
    return sites, pd.DataFrame(truths), sample_site


def build_gslib(out: Path) -> dict:
    """Write the 12-site GSLIB drops (plain and censored) and ``gslib_truth.csv`` under ``out``."""
    cluster = pd.read_csv(REALDATA / "gslib_cluster" / "cluster.csv")
    sites, truth, sample_site = gslib_sites(pd.read_csv(REALDATA / "gslib_cluster" / "true_grid.csv"), cluster)
    truth.to_csv(out / "gslib_truth.csv", index=False)
    east0, north0 = GSLIB_ORIGIN
    samples = pd.DataFrame({"sample_id": [f"GS-S{i + 1:03d}" for i in range(len(cluster))], "site_id": sample_site,
                            "x": east0 + cluster["x"] * GSLIB_UNIT_M, "y": north0 + cluster["y"] * GSLIB_UNIT_M,
                            "crs": GSLIB_CRS, "ga_ppm": cluster["primary"]})  # fmt: skip
    censored = (cluster["primary"] < GSLIB_DETECTION_LIMIT).to_numpy()
    limit = f"{GSLIB_DETECTION_LIMIT:g}"
    description = (
        "GSLIB's clustered-sampling benchmark (Deutsch and Journel 1998, GSLIB 2nd ed., cluster.dat / true.dat, via "
        "opengeostat/pygslib commit c26c3bff): a reference field made by the GSLIB authors, not field measurements, "
        "and not gallium. Its 'primary' grade is written as ga_ppm (read as g/t). 1 grid unit = 20 m, placed in UTM "
        "44N at an arbitrary location; the 50 x 50 field is cut into 12 rectangular sites. reported_tonnes = area x "
        "10 m x 1.5 t/m3 (an assumption)."
    )
    for name, bdl in (("gslib_cluster", False), ("gslib_cluster_bdl", True)):
        drop = out / name
        drop.mkdir(parents=True, exist_ok=True)
        gpd.GeoDataFrame(sites, geometry="geometry", crs=GSLIB_CRS).to_file(drop / "sites.gpkg", driver="GPKG")
        table = samples.copy()
        if bdl:
            table["ga_ppm"] = table["ga_ppm"].map(lambda value: f"{value:g}").astype(object)
            table.loc[censored, "ga_ppm"] = f"<{limit}"
        table.to_csv(drop / "samples.csv", index=False)
        extra = f" The {int(censored.sum())} samples below {limit} are written as '<{limit}'." if bdl else ""
        write_dataset_json(drop, "GSLIB cluster benchmark in 12 sites" + (" (censored)" if bdl else ""),
                           description + extra)  # fmt: skip
    return {"n_sites": len(sites), "n_samples": len(samples), "detection_limit": GSLIB_DETECTION_LIMIT,
            "n_censored": int(censored.sum()), "unit_m": GSLIB_UNIT_M, "origin_utm44n": GSLIB_ORIGIN,
            "samples_per_site": truth.set_index("site_id")["n_samples"].to_dict()}  # fmt: skip


def coalash_samples() -> pd.DataFrame:
    """The 208 coal-ash samples with ids and projected coordinates (``east``, ``north`` in EPSG:32617)."""
    samples = pd.read_csv(REALDATA / "coalash" / "coalash.csv")
    samples.insert(0, "sample_id", [f"COAL-{i + 1:03d}" for i in range(len(samples))])
    east0, north0 = COALASH_ORIGIN
    samples["east"] = east0 + samples["x"] * COALASH_UNIT_M
    samples["north"] = north0 + samples["y"] * COALASH_UNIT_M
    return samples


def build_coalash(out: Path, seed: int = 0) -> dict:
    """Write the coal-ash drop ``coalash/`` and ``coalash_heldout.csv`` under ``out``."""
    samples = coalash_samples()
    held, blocks = spatial_block_holdout(samples["x"].to_numpy(float), samples["y"].to_numpy(float), seed)
    samples.loc[held].to_csv(out / "coalash_heldout.csv", index=False)
    training = samples.loc[~held]
    footprint = MultiPoint(samples[["east", "north"]].to_numpy()).convex_hull.buffer(COALASH_UNIT_M)
    tonnes = round(footprint.area * COALASH_THICKNESS_M * COALASH_DENSITY_T_M3, -3)
    site = {"site_id": "coalash", "name": "Robena Mine coal-ash survey (real data, coal ash % written as Ga)",
            "residue_type": "coal_fly_ash", "reported_tonnes": tonnes,
            "dry_density_t_m3": COALASH_DENSITY_T_M3}  # fmt: skip
    drop = out / "coalash"
    drop.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame([site], geometry=[footprint], crs=COALASH_CRS).to_file(drop / "sites.gpkg", driver="GPKG")
    table = pd.DataFrame({"sample_id": training["sample_id"], "site_id": "coalash", "x": training["east"],
                          "y": training["north"], "crs": COALASH_CRS, "depth_from_m": 0.0,
                          "depth_to_m": COALASH_THICKNESS_M, "ga_ppm": training["coalash"]})  # fmt: skip
    table.to_csv(drop / "samples.csv", index=False)
    write_dataset_json(drop, "Robena Mine coal ash % (real data; ash % written as Ga)",
        "REAL measured coal ash content (%) of a coal seam at the Robena Mine, Greene County, Pennsylvania: Gomez "
        "and Hazen (1970) US Bureau of Mines RI 7377; Cressie (1993) Statistics for Spatial Data; as distributed in "
        "the R package gstat (data/coalash.rda, r-spatial/gstat commit 2a578765). The ash percentage is written as "
        "ga_ppm (a stand-in, read as g/t); these are not gallium assays and this is not a tailings site (nor fly "
        "ash: residue type coal_fly_ash is a label). The survey's grid coordinates (unit unknown) are placed in UTM "
        f"17N at an arbitrary origin near the mine, 1 grid unit = {COALASH_UNIT_M:g} m (an assumption), y read as "
        f"northing. Training samples only ({len(training)} of {len(samples)}), depth 0-{COALASH_THICKNESS_M:g} m; "
        "footprint = convex hull of all samples + 1 grid unit; reported_tonnes = area x "
        f"{COALASH_THICKNESS_M:g} m x {COALASH_DENSITY_T_M3:g} t/m3 (an assumption).")  # fmt: skip
    return {"seed": seed, "heldout_blocks_5x5": blocks, "n_heldout": int(held.sum()), "n_training": len(training),
            "unit_m": COALASH_UNIT_M, "origin_utm17n": COALASH_ORIGIN, "footprint_area_m2": footprint.area,
            "reported_tonnes": tonnes}  # fmt: skip


def jura_folder(out: Path, seed: int) -> Path:
    """The folder holding the Jura drops and held-out samples of hold-out ``seed``."""
    return out / f"jura_seed{seed}"


def coalash_folder(out: Path, seed: int) -> Path:
    """The folder holding the coal-ash drop and held-out samples of hold-out ``seed``."""
    return out / f"coalash_seed{seed}"


def build_all(out: Path, seeds: tuple[int, ...] = (0,)) -> dict:
    """Build the Jura and coal-ash drops of every hold-out seed and the GSLIB drops under ``out``.

    Also writes ``manifest.json``.
    """
    out.mkdir(parents=True, exist_ok=True)
    jura, coalash = {}, {}
    for seed in seeds:
        jura_folder(out, seed).mkdir(parents=True, exist_ok=True)
        jura[str(seed)] = build_jura(jura_folder(out, seed), seed)
        coalash_folder(out, seed).mkdir(parents=True, exist_ok=True)
        coalash[str(seed)] = build_coalash(coalash_folder(out, seed), seed)
    manifest = {"jura": jura, "gslib": build_gslib(out), "coalash": coalash}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=float), encoding="utf-8")
    return manifest


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the drops and truth files into")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="seeds of the Jura and coal-ash spatial-block hold-outs")  # fmt: skip
    args = parser.parse_args()
    print(json.dumps(build_all(args.out, tuple(args.seeds)), indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
