"""SYNTHETIC data drops of any size for the scale benchmark (issue 8).

Every number this script writes is made up: site footprints, DEMs, covariates and assays
describe no real place. It scales the bundled demo (``geodata/demo/make_demo.py``, whose
residue types, typical grades, footprint shapes, grade model, detection limits and
covariate rasters it reuses) from 64 sites to any number, fast enough for 10,000 sites.

Usage (from the repository root)::

    .venv/bin/python benchmarks/scale_data.py --sites 1000 --out /tmp/drop_1000 [--seed 8] [--jobs 2]

What the drop holds (the README's input data contract):

- ``sites.gpkg``: N footprint polygons in EPSG:4326, clustered around random "industrial
  areas" between 69-89 deg E and 12-28 deg N (UTM zones 42N-45N). Each site sits in its own
  0.05-degree cell, so footprints never overlap and need no pairwise check. Residue types
  in the demo's proportions, a quarter of them spelled the way users write them.
- ``rasters/``: surface and base DEMs (float32 GeoTIFF, 5 m pixels under 40 ha, else 10 m,
  in the site's UTM zone; a few in EPSG:7755) for about half of the sites, a surface DEM
  only for another 15 %; a few surface DEMs have a small nodata hole.
- ``rasters/covariates/``: the demo's two covariates, ``regional_ga_ppm.tif`` (EPSG:4326;
  site Ga depends on it) and ``pond_wetness_index.tif`` (EPSG:7755, tiles near sites only).
- ``samples.csv``: about 50 assay intervals (1.5 m auger intervals, 40-60 per site) for about
  35 % of the sites; holes located by ``lon``/``lat`` (30 %) or by UTM ``x``/``y``/``crs``,
  15 % of holes with a blank ``site_id``; Ga and Te in ppm (some Te in ppb), Pt/Pd/Rh in
  ppb; values below detection written as ``<DL``. At the end, 6 deliberately bad rows per
  1,000 sites (at least 6): negative and non-numeric assays, swapped depths, a sample
  outside every footprint, a duplicate ``sample_id``, an unknown CRS.
- ``dataset.json`` (``"synthetic": true``), ``truth.csv`` and a ``README.md``.

Same seed and N, same files (byte-identical with the same library versions), whatever
``--jobs``: every site draws from its own random streams.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
from pyproj import Proj
from rasterio.transform import from_origin
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# These imports need the sys.path entry above (E402 on purpose): the script is run as a file, and geodata must
# come from this checkout (the scale benchmark runs a copy of the code), not from whatever is installed.
from residua.geodata.demo import make_demo as demo  # noqa: E402
from residua.geodata.schema import ELEMENTS, PGM_ELEMENTS, STORAGE_CRS  # noqa: E402

SEED = 8  # issue 8
GENERATOR_VERSION = 1  # bump when the output changes, so cached drops are regenerated
TITLE = "SYNTHETIC scale-benchmark drop"

#: Where sites go (degrees): inside the demo's regional Ga raster, across UTM zones 42N-45N.
REGION = (69.0, 12.0, 89.0, 28.0)  # west, south, east, north
CELL_DEG = 0.05  # one site per cell at most: cells keep footprints apart
SITE_GAP_M = 250.0  # least clearance between a footprint and its cell's inscribed circle
SITES_PER_CLUSTER = 40
BACKGROUND_SHARE = 0.2  # share of the placement intensity spread evenly over the region

#: Residue-type mix: the demo's site counts per type (64 sites).
TYPE_WEIGHTS = {
    "bauxite_residue": 11, "zinc_leach_residue": 8, "copper_flotation_tailings": 7, "copper_smelter_slag": 7,
    "copper_anode_slime": 6, "chromite_pgm_tailings": 7, "coal_fly_ash": 15, "other": 3,
}  # fmt: skip

SHARE_SAMPLED = 0.35  # the demo: 22 of 64
SHARE_BOTH_DEMS = 0.50  # the demo: 32 of 64
SHARE_SURFACE_ONLY = 0.15  # the demo: 10 of 64
SHARE_LCC_DEMS = 0.05  # of the DEM sites: DEMs (and footprint maths) in EPSG:7755
SHARE_DEM_HOLE = 0.03  # of the both-DEM sites: a small nodata hole in the surface DEM
SHARE_REPORTED = {"tonnes": 0.30, "volume": 0.10, "density": 0.20}
SHARE_LONLAT_HOLES = 0.30
SHARE_BLANK_SITE_ID = 0.15
SHARE_TE_PPB = 0.15
SHARE_FLY_ASH_FULL_SUITE = 0.15
INTERVALS_PER_SITE = (40, 60)  # inclusive range; mean 50
MAX_HOLES = 60
BAD_ROWS_PER_1000_SITES = 6
DEM_NOISE_SD_M = 0.4
DEM_NOISE_WAVELENGTH_M = (250.0, 1500.0)

SAMPLE_COLUMNS = (
    "sample_id", "hole_id", "site_id", "lon", "lat", "x", "y", "crs", "depth_from_m", "depth_to_m",
    *demo.ASSAY_COLUMNS,
)  # fmt: skip
DEFECTS = (
    "zero assay",
    'non-numeric assay "n.a."',
    "depth_to_m < depth_from_m",
    "outside every site footprint, blank site_id",
    "duplicate sample_id",
    'unknown crs "EPSG:99999"',
)


# ---------------------------------------------------------------------------- planning


def plan_sites(n_sites: int, seed: int, ga_field: demo.WaveField | None = None) -> pd.DataFrame:
    """One row per site: type, cell, CRS, area, thickness, which data it gets. Vectorised.

    Sites fill 0.05-degree cells chosen without replacement, weighted by a clustered
    intensity (Gaussian bumps around random centres plus an even background), so every
    site has a cell of its own.
    """
    if n_sites < 1:
        raise ValueError(f"--sites must be at least 1, got {n_sites}")
    rng = np.random.default_rng([seed, 0])
    west, south, east, north = REGION
    n_cols, n_rows = round((east - west) / CELL_DEG), round((north - south) / CELL_DEG)
    if n_sites > n_cols * n_rows // 4:
        raise ValueError(f"at most {n_cols * n_rows // 4} sites fit the region, asked for {n_sites}")
    cell_lon = west + (np.arange(n_cols) + 0.5) * CELL_DEG
    cell_lat = south + (np.arange(n_rows) + 0.5) * CELL_DEG
    lon_grid, lat_grid = np.meshgrid(cell_lon, cell_lat)
    n_clusters = max(3, math.ceil(n_sites / SITES_PER_CLUSTER))
    centres = rng.uniform((west, south), (east, north), size=(n_clusters, 2))
    spread = rng.uniform(0.15, 0.6, n_clusters)
    intensity = np.zeros(lon_grid.shape)
    for (lon, lat), sd in zip(centres, spread):
        intensity += np.exp(-((lon_grid - lon) ** 2 + (lat_grid - lat) ** 2) / (2 * sd**2))
    intensity = (1 - BACKGROUND_SHARE) * intensity / intensity.sum() + BACKGROUND_SHARE / intensity.size
    # Weighted sampling without replacement: the n largest of log(weight) + Gumbel noise.
    keys = np.log(intensity.ravel()) + rng.gumbel(size=intensity.size)
    cells = np.sort(np.argpartition(-keys, n_sites - 1)[:n_sites])
    order = rng.permutation(n_sites)  # site index order independent of the cell layout
    cells = cells[order]
    lon, lat = lon_grid.ravel()[cells], lat_grid.ravel()[cells]

    types = np.array(list(TYPE_WEIGHTS))
    weights = np.array(list(TYPE_WEIGHTS.values()), dtype=float)
    residue = types[rng.choice(len(types), size=n_sites, p=weights / weights.sum())]
    plan = pd.DataFrame({"index": np.arange(n_sites), "cell": cells, "lon": lon, "lat": lat, "residue": residue})
    plan["utm_epsg"] = 32600 + ((plan["lon"] + 180) // 6).astype(int) + 1
    plan["type_number"] = plan.groupby("residue").cumcount() + 1
    plan["site_id"] = [f"{demo.RESIDUES[r].prefix}-{k:05d}" for r, k in zip(plan["residue"], plan["type_number"])]
    plan["residue_written"] = [
        demo.RESIDUES[r].aliases[(k // 4) % len(demo.RESIDUES[r].aliases)] if k % 4 == 2 else r
        for r, k in zip(plan["residue"], plan["type_number"])
    ]

    u = rng.uniform(size=(n_sites, 12))
    plan["has_base"] = u[:, 0] < SHARE_BOTH_DEMS
    plan["has_surface"] = plan["has_base"] | (u[:, 0] > 1 - SHARE_SURFACE_ONLY)
    plan["sampled"] = u[:, 1] < SHARE_SAMPLED
    if not plan["sampled"].any():
        plan.loc[0, "sampled"] = True  # a drop with samples, however small
    plan["crs_epsg"] = np.where(plan["has_surface"] & (u[:, 2] < SHARE_LCC_DEMS), demo.LCC_INDIA_EPSG, plan["utm_epsg"])
    plan["dem_hole"] = plan["has_base"] & (plan["crs_epsg"] != demo.LCC_INDIA_EPSG) & (u[:, 3] < SHARE_DEM_HOLE)
    for column, (key, share) in zip((4, 5, 6), SHARE_REPORTED.items()):
        plan[f"reports_{key}"] = u[:, column] < share
    plan["te_ppb"] = u[:, 7] < SHARE_TE_PPB
    plan["full_suite"] = (plan["residue"] == "coal_fly_ash") & (u[:, 8] < SHARE_FLY_ASH_FULL_SUITE)
    plan["commissioned_year"] = 1950 + (u[:, 9] * 69).astype(int)
    closed = plan["commissioned_year"] + 8 + (u[:, 10] * 23).astype(int)
    plan["closed_year"] = pd.array(np.where((u[:, 11] < 0.4) & (closed <= 2023), closed, -1), dtype="Int64")
    plan.loc[plan["closed_year"] < 0, "closed_year"] = pd.NA

    area_lo = np.array([demo.RESIDUES[r].area_ha[0] for r in plan["residue"]])
    area_hi = np.array([demo.RESIDUES[r].area_ha[1] for r in plan["residue"]])
    plan["area_ha"] = np.exp(rng.uniform(np.log(area_lo), np.log(area_hi)))
    plan["areal_scale"] = 1.0
    plan["cx"], plan["cy"] = 0.0, 0.0
    for epsg, rows in plan.groupby("crs_epsg").groups.items():
        plan.loc[rows, "areal_scale"] = (
            Proj(f"EPSG:{epsg}").get_factors(plan.loc[rows, "lon"], plan.loc[rows, "lat"]).areal_scale
        )
        cx, cy = demo.transformer(4326, int(epsg)).transform(
            plan.loc[rows, "lon"].to_numpy(), plan.loc[rows, "lat"].to_numpy()
        )
        plan.loc[rows, "cx"], plan.loc[rows, "cy"] = cx, cy
    # Radius (m) of the circle inscribed in the site's cell.
    plan["cell_radius_m"] = 0.5 * CELL_DEG * 110_574.0 * np.minimum(1.0, np.cos(np.radians(plan["lat"] + CELL_DEG)))

    ga_field = demo.regional_ga_field(seed) if ga_field is None else ga_field
    plan["regional_ga_z"] = ga_field(plan["lon"].to_numpy(), plan["lat"].to_numpy())
    shift = np.zeros(n_sites)
    for residue in demo.REGIONAL_GA_TYPES:
        mask = (plan["residue"] == residue).to_numpy()
        if mask.any():
            shift[mask] = demo.REGIONAL_GA_EFFECT * (
                plan.loc[mask, "regional_ga_z"] - plan.loc[mask, "regional_ga_z"].mean()
            )
    plan["regional_ga_shift"] = shift
    plan["elevation_m"] = 20.0 + 400.0 * (
        1.0 + np.sin(np.radians(plan["lon"] * 37.0)) * np.cos(np.radians(plan["lat"] * 53.0))
    )
    return plan


def free_cells(plan: pd.DataFrame, count: int, seed: int) -> list[tuple[float, float]]:
    """Lon/lat centres of ``count`` cells no site occupies (points outside every footprint).

    A footprint stays inside the circle inscribed in its own cell, so the centre of any
    other cell is at least one cell radius (over 2 km) from it.
    """
    rng = np.random.default_rng([seed, 3])
    west, south, east, north = REGION
    n_cols, n_rows = round((east - west) / CELL_DEG), round((north - south) / CELL_DEG)
    taken, out = set(plan["cell"].tolist()), []
    while len(out) < count:
        cell = int(rng.integers(n_cols * n_rows))
        if cell not in taken:
            taken.add(cell)
            row, col = divmod(cell, n_cols)
            out.append((west + (col + 0.5) * CELL_DEG, south + (row + 0.5) * CELL_DEG))
    return out


# ------------------------------------------------------------------------------ a site


@dataclass
class SiteOutput:
    """What one site contributes to the drop (its DEMs are already written)."""

    index: int
    footprint_wgs84: shapely.Polygon
    truth: dict[str, float]
    holes: pd.DataFrame | None  # one row per hole: location columns
    intervals: pd.DataFrame | None  # one row per interval: hole number, depths, grades (g/t)
    assayed: tuple[str, ...]
    te_unit: str


def build_site(seed: int, site: dict, raster_dir: str) -> SiteOutput:
    """Footprint, thickness, DEMs (written to ``raster_dir``) and auger samples of one site."""
    spec = demo.RESIDUES[site["residue"]]
    crs = int(site["crs_epsg"])
    rng = demo.site_rng(seed, site["index"], 1)
    area_local = site["area_ha"] * 1e4 * site["areal_scale"]
    outline = demo.pond_footprint(rng, (0.0, 0.0), area_local)
    radius = float(np.hypot(*np.asarray(outline.exterior.coords).T).max())
    room = site["cell_radius_m"] - SITE_GAP_M
    if radius > room:  # a large pond in a narrow cell: shrink it to fit
        outline = shapely.set_precision(
            shapely.affinity.scale(outline, room / radius, room / radius, origin=(0, 0)), 0.01
        )
        radius = room
    offset, bearing = rng.uniform(0, room - radius), rng.uniform(0, 2 * np.pi)
    centre = (site["cx"] + offset * math.cos(bearing), site["cy"] + offset * math.sin(bearing))
    footprint = shapely.set_precision(shapely.affinity.translate(outline, *centre), 0.01)
    footprint_wgs84 = shapely.transform(footprint, demo.transformer(crs, 4326).transform, interleaved=False)
    ground_area = footprint.area / site["areal_scale"]
    volume_rng = demo.site_rng(seed, site["index"], 2)
    mean_thickness = volume_rng.uniform(*spec.thickness_m)
    density = round(spec.density_t_m3 * math.exp(volume_rng.normal(0, 0.05)), 3)
    truth = {"area_ha": ground_area / 1e4, "mean_thickness_m": mean_thickness, "density_t_m3": density}
    holes = intervals = None
    assayed = ("ga", "te", *PGM_ELEMENTS) if site["full_suite"] else spec.assayed
    te_unit = "ppb" if site["te_ppb"] and "te" in assayed else "ppm"
    if site["has_surface"] or site["sampled"]:
        grid, thickness, edge_m = _thickness_grid(site, footprint, ground_area, mean_thickness)
        truth["volume_m3"] = float(thickness.sum()) * grid.pixel_m**2 / site["areal_scale"]
        if site["has_surface"]:
            _write_dems(seed, site, grid, thickness, footprint, Path(raster_dir))
        if site["sampled"]:
            holes, intervals = _auger(seed, site, grid, thickness, edge_m, mean_thickness)
    else:
        truth["volume_m3"] = ground_area * mean_thickness
    truth["tonnes"] = truth["volume_m3"] * density
    return SiteOutput(site["index"], footprint_wgs84, truth, holes, intervals, assayed, te_unit)


def _thickness_grid(
    site: dict, footprint: shapely.Polygon, ground_area: float, mean_thickness: float
) -> tuple[demo.Grid, np.ndarray, np.ndarray]:
    """The site's DEM grid, its residue thickness (m) and each pixel's distance inside the edge (m).

    The demo's pond profile (flat top, smoothstep taper at the edge), with the distance to
    the edge taken from a Euclidean distance transform of the footprint mask (within half a
    pixel of the exact distance), which is what makes thousands of sites quick.
    """
    pixel = 5.0 if ground_area < 40e4 else 10.0
    minx, miny, maxx, maxy = footprint.bounds
    margin = demo.DEM_MARGIN_M
    x0, x1 = math.floor((minx - margin) / pixel) * pixel, math.ceil((maxx + margin) / pixel) * pixel
    y0, y1 = math.floor((miny - margin) / pixel) * pixel, math.ceil((maxy + margin) / pixel) * pixel
    grid = demo.Grid(x0, y1, round((x1 - x0) / pixel), round((y1 - y0) / pixel), pixel)
    xs, ys = grid.centres()
    inside = shapely.contains_xy(footprint, xs, ys)
    edge_m = np.where(inside, ndimage.distance_transform_edt(inside) * pixel - pixel / 2, 0.0)
    taper_share = 0.25 if site["residue"] == "copper_anode_slime" else 0.12
    taper = float(np.clip(taper_share * math.sqrt(ground_area), 8.0, 60.0))
    profile = np.where(inside, demo.smoothstep(edge_m / taper), 0.0)
    top = mean_thickness / profile[profile > 0].mean()
    return grid, profile * top, edge_m


def _write_dems(seed: int, site: dict, grid: demo.Grid, thickness: np.ndarray, footprint, raster_dir: Path) -> None:
    """Base = tilted plane + smooth waves (0.4 m sd); surface = base + thickness (+ a nodata hole)."""
    rng = demo.site_rng(seed, site["index"], 3)
    xs, ys = grid.centres()
    cx, cy = footprint.centroid.coords[0]
    z0 = max(3.0, site["elevation_m"] + rng.normal(0, 8))
    slope, aspect = rng.uniform(0.002, 0.012), rng.uniform(0, 2 * np.pi)
    plane = z0 + slope * (math.cos(aspect) * (xs - cx) + math.sin(aspect) * (ys - cy))
    noise = DEM_NOISE_SD_M * demo.wave_field(rng, DEM_NOISE_WAVELENGTH_M, 8)(xs - cx, ys - cy)
    base = np.round(plane + noise, 3).astype(np.float32)
    surface = np.round(plane + noise + thickness, 3).astype(np.float32)
    if site["dem_hole"]:
        interior = np.argwhere(thickness >= 0.99 * thickness.max())
        row, col = interior[rng.integers(len(interior))]
        rr, cc = np.ogrid[: grid.ny, : grid.nx]
        surface[(rr - row) ** 2 + (cc - col) ** 2 <= 2.5**2] = demo.NODATA
    _write_raster(raster_dir / f"{site['site_id']}_surface.tif", surface, grid, site["crs_epsg"])
    if site["has_base"]:
        _write_raster(raster_dir / f"{site['site_id']}_base.tif", base, grid, site["crs_epsg"])


def _write_raster(path: Path, values: np.ndarray, grid: demo.Grid, epsg: int) -> None:
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "width": grid.nx, "height": grid.ny,
        "crs": f"EPSG:{int(epsg)}", "transform": from_origin(grid.x0, grid.y1, grid.pixel_m, grid.pixel_m),
        "nodata": demo.NODATA, "compress": "deflate", "predictor": 3, "zlevel": 6,
        "tiled": True, "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
        dst.update_tags(1, description="SYNTHETIC elevation (Residua scale benchmark)")


def _auger(
    seed: int, site: dict, grid: demo.Grid, thickness: np.ndarray, edge_m: np.ndarray, mean_thickness: float
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Holes and their 1.5 m intervals with grades (g/t): about 50 intervals in all.

    Collars are spread-out pixel centres (jittered a little) where the residue is at least
    1.5 m thick and two pixels inside the edge. The within-site log-grade field (the demo's
    exponential covariance, sill and range) is drawn jointly at the collars only, which is
    all the samples need; then the depth trend and a nugget are added per interval.
    """
    rng = demo.site_rng(seed, site["index"], 5)
    spec = demo.RESIDUES[site["residue"]]
    candidates = np.flatnonzero((thickness >= demo.AUGER_INTERVAL_M) & (edge_m >= 2 * grid.pixel_m))
    if candidates.size == 0:
        return None, None
    per_hole = np.minimum(demo.MAX_INTERVALS, (thickness.ravel()[candidates] // demo.AUGER_INTERVAL_M).astype(int))
    target = int(rng.integers(INTERVALS_PER_SITE[0], INTERVALS_PER_SITE[1] + 1))
    n_expected = max(4, math.ceil(target / per_hole.mean()))
    spacing = 0.5 * math.sqrt((candidates.size * grid.pixel_m**2) / n_expected)
    xs, ys = grid.centres()
    cand_x, cand_y = xs.ravel()[candidates], ys.ravel()[candidates]
    chosen: list[int] = []
    total = 0
    order = rng.permutation(candidates.size)[:2000]  # plenty to choose from, and quick
    while total < target and len(chosen) < MAX_HOLES:
        for k in order:
            if k in chosen:
                continue
            if all(math.hypot(cand_x[k] - cand_x[j], cand_y[k] - cand_y[j]) >= spacing for j in chosen):
                chosen.append(int(k))
                total += int(per_hole[k])
                if total >= target or len(chosen) >= MAX_HOLES:
                    break
        else:
            spacing *= 0.7
            if spacing < 1.0:
                break
    idx = np.array(chosen)
    n_int = per_hole[idx].copy()
    if total > target:
        n_int[-1] = max(1, n_int[-1] - (total - target))
    jitter = rng.uniform(-0.3, 0.3, size=(len(idx), 2)) * grid.pixel_m
    hx, hy = cand_x[idx] + jitter[:, 0], cand_y[idx] + jitter[:, 1]

    # Site mean log-grades (the demo's between-site model) and the lateral field at the collars.
    grade_rng = demo.site_rng(seed, site["index"], 4)
    common = grade_rng.normal()
    log_mean = {}
    for element in ELEMENTS:
        share = demo.ELEMENT_CORRELATION[element]
        deviation = demo.BETWEEN_SITE_SD * (math.sqrt(share) * common + math.sqrt(1 - share) * grade_rng.normal())
        effect = site["regional_ga_shift"] if element == "ga" else 0.0
        if site["residue"] == "bauxite_residue" and element == "ga":
            effect += 0.012 * (1985 - site["commissioned_year"])
        log_mean[element] = (
            math.log(spec.typical_gt[element]) + effect - (demo.GRADE_SILL + demo.GRADE_NUGGET) / 2 + deviation
        )
    range_m = grade_rng.uniform(*demo.GRADE_RANGE_M)
    distance = np.hypot(hx[:, None] - hx[None, :], hy[:, None] - hy[None, :])
    chol = np.linalg.cholesky(np.exp(-3 * distance / range_m) + 1e-9 * np.eye(len(idx)))
    shared = chol @ grade_rng.standard_normal(len(idx))
    lateral = {}
    for element in ELEMENTS:
        share = demo.ELEMENT_CORRELATION[element]
        own = chol @ grade_rng.standard_normal(len(idx))
        lateral[element] = math.sqrt(demo.GRADE_SILL) * (math.sqrt(share) * shared + math.sqrt(1 - share) * own)

    hole = np.repeat(np.arange(len(idx)), n_int)
    interval = np.concatenate([np.arange(n) for n in n_int])
    depth_from = interval * demo.AUGER_INTERVAL_M
    depth_mid = depth_from + demo.AUGER_INTERVAL_M / 2
    trend = spec.depth_trend * (depth_mid - mean_thickness / 2)
    intervals = pd.DataFrame(
        {"hole": hole, "depth_from_m": depth_from, "depth_to_m": depth_from + demo.AUGER_INTERVAL_M}
    )
    for element in ELEMENTS:
        nugget = rng.normal(0, math.sqrt(demo.GRADE_NUGGET), len(hole))
        intervals[element] = np.exp(log_mean[element] + lateral[element][hole] + trend + nugget)

    crs = int(site["crs_epsg"])
    ux, uy = demo.transformer(crs, int(site["utm_epsg"])).transform(hx, hy)
    lon, lat = demo.transformer(crs, 4326).transform(hx, hy)
    holes = pd.DataFrame({
        "x": ux, "y": uy, "lon": lon, "lat": lat,
        "lonlat": rng.uniform(size=len(idx)) < SHARE_LONLAT_HOLES,
        "blank_site": rng.uniform(size=len(idx)) < SHARE_BLANK_SITE_ID,
    })  # fmt: skip
    return holes, intervals


def _build_chunk(seed: int, sites: list[dict], raster_dir: str) -> list[SiteOutput]:
    return [build_site(seed, site, raster_dir) for site in sites]


# ------------------------------------------------------------------------------ output


def sample_rows(plan: pd.DataFrame, outputs: list[SiteOutput]) -> pd.DataFrame:
    """All valid sample rows, as text, in site order; sample and hole ids numbered in order."""
    frames = []
    n_holes = 0
    for site, out in zip(plan.itertuples(index=False), outputs):
        if out.intervals is None:
            continue
        holes, rows = out.holes, out.intervals
        hole_ids = np.array([f"AH-{n_holes + k + 1:06d}" for k in range(len(holes))])
        n_holes += len(holes)
        lonlat = holes["lonlat"].to_numpy()[rows["hole"]]
        frame = pd.DataFrame({
            "hole_id": hole_ids[rows["hole"]],
            "site_id": np.where(holes["blank_site"].to_numpy()[rows["hole"]], "", site.site_id),
            "lon": np.where(lonlat, [f"{v:.7f}" for v in holes["lon"].to_numpy()[rows["hole"]]], ""),
            "lat": np.where(lonlat, [f"{v:.7f}" for v in holes["lat"].to_numpy()[rows["hole"]]], ""),
            "x": np.where(lonlat, "", [f"{v:.2f}" for v in holes["x"].to_numpy()[rows["hole"]]]),
            "y": np.where(lonlat, "", [f"{v:.2f}" for v in holes["y"].to_numpy()[rows["hole"]]]),
            "crs": np.where(lonlat, "", f"EPSG:{site.utm_epsg}"),
            "depth_from_m": [f"{v:.1f}" for v in rows["depth_from_m"]],
            "depth_to_m": [f"{v:.1f}" for v in rows["depth_to_m"]],
        })  # fmt: skip
        for column in demo.ASSAY_COLUMNS:
            element, unit = column.split("_")
            wanted = element in out.assayed and (
                unit == (out.te_unit if element == "te" else ("ppm" if element == "ga" else "ppb"))
            )
            frame[column] = _assay_text(rows[element].to_numpy(), element, unit, column) if wanted else ""
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "sample_id", [f"S-{k + 1:07d}" for k in range(len(table))])
    return table


def _assay_text(grades_gt: np.ndarray, element: str, unit: str, column: str) -> list[str]:
    """Lab-style text: 3 significant figures, ``<DL`` below the detection limit (in the column's unit)."""
    factor = demo.UNIT_FACTOR[unit]
    limit = demo.DETECTION_LIMIT_GT[element] * factor
    decimals = demo.REPORT_DECIMALS[column]
    below = f"<{limit:g}"
    return [below if v < limit else demo.fmt_sig(v, 3, decimals) for v in grades_gt * factor]


def plant_bad_rows(table: pd.DataFrame, plan: pd.DataFrame, seed: int) -> list[dict[str, str]]:
    """Rows with exactly one defect each, to append after the valid rows; 6 per 1,000 sites."""
    n_bad = BAD_ROWS_PER_1000_SITES * max(1, round(len(plan) / 1000))
    rng = np.random.default_rng([seed, 2])
    hosts = table[table["site_id"] != ""].drop_duplicates("site_id")
    if hosts.empty:  # a tiny drop whose every hole has a blank site_id
        hosts = table.drop_duplicates("hole_id")
    outside = iter(free_cells(plan, n_bad, seed))
    next_sample = len(table) + 1
    bad: list[dict[str, str]] = []
    for k in range(n_bad):
        defect = DEFECTS[k % len(DEFECTS)]
        row = hosts.iloc[int(rng.integers(len(hosts)))].to_dict()
        row.update(sample_id=f"S-{next_sample:07d}", hole_id=f"AH-X{k + 1:05d}", depth_from_m="0.0", depth_to_m="1.5")
        next_sample += 1
        if defect == "zero assay":  # a negative one is read as below detection (geodata/assays.py)
            row["ga_ppm"] = "0"
        elif defect.startswith("non-numeric"):
            row["ga_ppm"] = "n.a."
        elif defect.startswith("depth_to_m"):
            row["depth_from_m"], row["depth_to_m"] = "1.5", "0.0"
        elif defect.startswith("outside"):
            lon, lat = next(outside)
            row.update(site_id="", lon=f"{lon:.7f}", lat=f"{lat:.7f}", x="", y="", crs="")
        elif defect.startswith("duplicate"):
            row["sample_id"] = table["sample_id"].iloc[int(rng.integers(len(table)))]
        else:
            if row["lon"]:  # give it projected coordinates in a CRS nobody knows
                row.update(x="500000.00", y="2000000.00", lon="", lat="")
            row["crs"] = "EPSG:99999"
        bad.append({**row, "_defect": defect})
    return bad


def write_sites(path: Path, plan: pd.DataFrame, outputs: list[SiteOutput]) -> None:
    """sites.gpkg, layer "sites" (EPSG:4326), with the demo's columns and a fixed timestamp."""
    truth = pd.DataFrame([o.truth for o in outputs])
    rng = np.random.default_rng([plan.attrs["seed"], 4])
    noise = rng.uniform(size=(len(plan), 3))

    def reported(key: str, values: pd.Series) -> pd.Series:
        return values.where(plan[f"reports_{key}"].to_numpy()).astype("float64")

    def dem_path(kind: str, present: pd.Series) -> list[str | None]:
        return [f"rasters/{s}_{kind}.tif" if p else None for s, p in zip(plan["site_id"], present)]

    tonnes = (truth["tonnes"] * (0.75 + 0.5 * noise[:, 0])).map(lambda v: float(demo.fmt_sig(v, 3, 0)))
    volume = (truth["volume_m3"] * (0.8 + 0.4 * noise[:, 1])).map(lambda v: float(demo.fmt_sig(v, 3, 0)))
    density = (truth["density_t_m3"] * np.exp(0.03 * (noise[:, 2] - 0.5))).round(2)
    frame = gpd.GeoDataFrame(
        {
            "site_id": plan["site_id"],
            "name": [
                f"Scale-test {demo.RESIDUES[r].label} {k} (synthetic)"
                for r, k in zip(plan["residue"], plan["type_number"])
            ],
            "residue_type": plan["residue_written"],
            "operator": [
                f"{demo.RESIDUES[r].operator_word} Co. {k % 26 + 1} (fictional)"
                for r, k in zip(plan["residue"], plan["index"])
            ],
            "state": "synthetic region",
            "source_process": [demo.RESIDUES[r].process for r in plan["residue"]],
            "commissioned_year": pd.array(plan["commissioned_year"], dtype="Int64"),
            "closed_year": plan["closed_year"],
            "reported_tonnes": reported("tonnes", tonnes),
            "reported_volume_m3": reported("volume", volume),
            "dry_density_t_m3": reported("density", density),
            "surface_dem": dem_path("surface", plan["has_surface"]),
            "base_dem": dem_path("base", plan["has_base"]),
            "data_origin": "synthetic",
        },
        geometry=[o.footprint_wgs84 for o in outputs],
        crs=STORAGE_CRS,
    )
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": demo.FIXED_TIMESTAMP})
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, path, layer="sites", driver="GPKG", promote_to_multi=False)


def write_truth(path: Path, plan: pd.DataFrame, outputs: list[SiteOutput], samples: pd.DataFrame) -> None:
    """truth.csv: true area, volume, density and tonnes, and samples per site (for checking)."""
    truth = pd.DataFrame([o.truth for o in outputs])
    counts = samples.loc[samples["site_id"] != "", "site_id"].value_counts()
    frame = pd.DataFrame({
        "site_id": plan["site_id"], "residue_type": plan["residue"], "sampled": [o.holes is not None for o in outputs],
        "crs_epsg": plan["crs_epsg"], "true_area_ha": truth["area_ha"].round(3),
        "true_mean_thickness_m": truth["mean_thickness_m"].round(3), "true_volume_m3": truth["volume_m3"].round(0),
        "true_density_t_m3": truth["density_t_m3"], "true_tonnes": truth["tonnes"].round(0),
        "samples_with_site_id": plan["site_id"].map(counts).fillna(0).astype(int),
    })  # fmt: skip
    frame.to_csv(path, index=False, lineterminator="\n")


@dataclass(frozen=True)
class Summary:
    """Counts of what a drop holds (also written to dataset.json)."""

    n_sites: int
    n_sampled: int
    n_surface_dems: int
    n_base_dems: int
    n_sample_rows: int
    n_bad_rows: int
    n_holes: int
    seconds: float

    @property
    def n_valid_rows(self) -> int:
        """Sample rows without a planted defect."""
        return self.n_sample_rows - self.n_bad_rows


def generate(out_dir: Path, n_sites: int, seed: int = SEED, jobs: int = 1, progress: bool = False) -> Summary:
    """Write a SYNTHETIC data drop of ``n_sites`` sites into ``out_dir``; return its counts."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raster_dir = out_dir / "rasters"
    if raster_dir.exists():
        shutil.rmtree(raster_dir)
    (raster_dir / "covariates").mkdir(parents=True)
    ga_field = demo.regional_ga_field(seed)
    plan = plan_sites(n_sites, seed, ga_field)
    plan.attrs["seed"] = seed
    records = plan.to_dict("records")
    chunk = max(1, min(200, math.ceil(n_sites / (4 * max(jobs, 1)))))
    chunks = [records[i : i + chunk] for i in range(0, n_sites, chunk)]
    outputs: list[SiteOutput] = []
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for done in pool.map(_build_chunk, [seed] * len(chunks), chunks, [str(raster_dir)] * len(chunks)):
                outputs.extend(done)
                _progress(progress, len(outputs), n_sites, start)
    else:
        for part in chunks:
            outputs.extend(_build_chunk(seed, part, str(raster_dir)))
            _progress(progress, len(outputs), n_sites, start)
    plan["sampled"] = [o.holes is not None for o in outputs]

    covariates = raster_dir / "covariates"
    demo.write_regional_ga(covariates / "regional_ga_ppm.tif", ga_field)
    demo.write_wetness_index(
        covariates / "pond_wetness_index.tif",
        seed,
        [SimpleNamespace(footprint_wgs84=o.footprint_wgs84) for o in outputs],
    )
    samples = sample_rows(plan, outputs)
    bad = plant_bad_rows(samples, plan, seed)
    write_sites(out_dir / "sites.gpkg", plan, outputs)
    with (out_dir / "samples.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SAMPLE_COLUMNS)
        writer.writerows(samples[list(SAMPLE_COLUMNS)].itertuples(index=False, name=None))
        writer.writerows([row[c] for c in SAMPLE_COLUMNS] for row in bad)
    write_truth(out_dir / "truth.csv", plan, outputs, samples)
    summary = Summary(
        n_sites=n_sites,
        n_sampled=int(plan["sampled"].sum()),
        n_surface_dems=int(plan["has_surface"].sum()),
        n_base_dems=int(plan["has_base"].sum()),
        n_sample_rows=len(samples) + len(bad),
        n_bad_rows=len(bad),
        n_holes=int(samples["hole_id"].nunique()),
        seconds=round(time.perf_counter() - start, 1),
    )
    first_bad_line = len(samples) + 2  # the header is line 1
    defects = [f"line {first_bad_line + i}: {row['_defect']}" for i, row in enumerate(bad)]
    write_dataset_json(out_dir / "dataset.json", seed, summary, defects)
    (out_dir / "README.md").write_text(readme_text(seed, summary, defects), encoding="utf-8")
    return summary


def _progress(enabled: bool, done: int, total: int, start: float) -> None:
    if enabled:
        print(f"  {done}/{total} sites, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)


def write_dataset_json(path: Path, seed: int, summary: Summary, defects: list[str]) -> None:
    """dataset.json with the synthetic flag, the seed and the counts (the benchmark's cache key)."""
    meta = {
        "title": f"{TITLE}: {summary.n_sites} sites (seed {seed})",
        "synthetic": True,
        "description": (
            f"SYNTHETIC data for Residua's scale benchmark: {summary.n_sites} made-up tailings and residue sites "
            f"({summary.n_sampled} sampled, {summary.n_sample_rows} sample rows of which {summary.n_bad_rows} are "
            "deliberately bad), DEMs and two covariate rasters. No figure describes a real site."
        ),
        "generator": "benchmarks/scale_data.py",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "counts": {k: v for k, v in summary.__dict__.items() if k != "seconds"},
        "planted_bad_rows": defects,
    }
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def readme_text(seed: int, summary: Summary, defects: list[str]) -> str:
    """A short README for the drop: SYNTHETIC, how it was made, what it holds."""
    return (
        f"# {TITLE}: SYNTHETIC\n\n"
        "**Every figure in this folder is synthetic** and describes no real site. Generated by\n"
        f"`benchmarks/scale_data.py --sites {summary.n_sites} --seed {seed}` for Residua's scale benchmark\n"
        "(issue 8), from the distributions of the bundled demo (`geodata/demo/make_demo.py`).\n\n"
        f'- `sites.gpkg`: {summary.n_sites} footprints (EPSG:4326), every name ends in "(synthetic)"\n'
        f"- `rasters/`: {summary.n_surface_dems} surface and {summary.n_base_dems} base DEMs; "
        "`rasters/covariates/`: regional_ga_ppm, pond_wetness_index\n"
        f"- `samples.csv`: {summary.n_sample_rows} rows from {summary.n_holes} holes at {summary.n_sampled} sites; "
        f"the last {summary.n_bad_rows} rows are deliberately bad:\n"
        + "".join(f"  - {line}\n" for line in defects)
        + "- `truth.csv`: true area, volume, density and tonnes per site\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, required=True, help="number of sites")
    parser.add_argument("--out", type=Path, required=True, help="output folder (its rasters/ is replaced)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (same output for any number)")
    args = parser.parse_args(argv)
    summary = generate(args.out, args.sites, args.seed, args.jobs, progress=args.sites >= 1000)
    print(json.dumps(summary.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
