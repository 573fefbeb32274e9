"""Small data drops written into a test's tmp_path: each unlike the bundled demo.

``write_prism_drop`` builds three sites whose volumes are known exactly (flat-bottomed
prisms between two DEMs), in two UTM zones, with samples given partly as lon/lat and
partly as x/y/crs, Te in ppb beside Ga in ppm, and below-detection strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.transform import from_origin

from residua.geodata.datadrop import DataDrop

#: site_id -> (UTM EPSG, centre easting, centre northing, half side in m, thickness in m, residue type as written)
PRISM_SITES: dict[str, tuple[int, float, float, float, float, str]] = {
    "P1": (32644, 500_000.0, 2_300_000.0, 150.0, 10.0, "Red Mud"),
    "P2": (32644, 520_000.0, 2_300_000.0, 100.0, 4.0, "fly ash"),
    "P3": (32643, 700_000.0, 2_500_000.0, 200.0, 6.0, "Copper flotation tailings"),
}
PIXEL_M = 10.0


def bare_drop(root: Path) -> DataDrop:
    """A DataDrop for ``root`` without opening it (for assets invoked directly that only need its folder)."""
    return DataDrop(root=root, sites_path=root / "sites.gpkg", samples_path=None, title="t", synthetic=True)


def prism_footprint(site_id: str) -> shapely.Polygon:
    """The square footprint of a prism site, in its UTM CRS."""
    _, east, north, half, _, _ = PRISM_SITES[site_id]
    return shapely.box(east - half, north - half, east + half, north + half)


def write_prism_drop(root: Path, synthetic: bool = True) -> Path:
    """Write sites.gpkg, DEMs, samples.csv and dataset.json under ``root``; return root."""
    (root / "rasters").mkdir(parents=True, exist_ok=True)
    records = []
    for site_id, (epsg, _, _, _, thickness, residue) in PRISM_SITES.items():
        footprint = prism_footprint(site_id)
        surface, base = _write_prism_dems(root / "rasters", site_id, epsg, footprint, thickness)
        lonlat = gpd.GeoSeries([footprint], crs=epsg).to_crs(4326).iloc[0]
        records.append(
            {"site_id": site_id, "name": f"Prism {site_id}", "residue_type": residue, "surface_dem": surface,
             "base_dem": base, "geometry": lonlat}
        )  # fmt: skip
    gpd.GeoDataFrame(records, crs=4326).to_file(root / "sites.gpkg", layer="sites", engine="pyogrio")
    _write_samples(root / "samples.csv")
    (root / "dataset.json").write_text(json.dumps({"title": "Prism test drop", "synthetic": synthetic}))
    return root


def _write_prism_dems(folder: Path, site_id: str, epsg: int, footprint: shapely.Polygon, thickness: float):
    minx, miny, maxx, maxy = footprint.bounds
    margin = 50.0
    transform = from_origin(minx - margin, maxy + margin, PIXEL_M, PIXEL_M)
    width = int((maxx - minx + 2 * margin) / PIXEL_M)
    height = int((maxy - miny + 2 * margin) / PIXEL_M)
    rows, cols = np.mgrid[0:height, 0:width]
    x = transform.c + (cols + 0.5) * PIXEL_M
    y = transform.f - (rows + 0.5) * PIXEL_M
    base = (100.0 + 0.01 * (x - minx) + 0.02 * (y - miny)).astype("float32")
    inside = (x > minx) & (x < maxx) & (y > miny) & (y < maxy)
    surface = (base + np.where(inside, thickness, 0.0)).astype("float32")
    names = []
    for label, array in (("surface", surface), ("base", base)):
        name = f"rasters/{site_id}_{label}.tif"
        profile = {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "float32",
                   "crs": f"EPSG:{epsg}", "transform": transform, "nodata": -9999.0}  # fmt: skip
        with rasterio.open(folder.parent / name, "w", **profile) as dataset:
            dataset.write(array, 1)
        names.append(name)
    return names


def _write_samples(path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = []
    for site_id in ("P1", "P3"):
        epsg, east, north, half, thickness, _ = PRISM_SITES[site_id]
        for hole in range(6):
            x, y = east + rng.uniform(-0.8, 0.8) * half, north + rng.uniform(-0.8, 0.8) * half
            for depth in np.arange(0.0, thickness - 1.5, 1.5):
                ga = float(np.exp(rng.normal(np.log(60 if site_id == "P1" else 15), 0.3)))
                te_ppb = float(np.exp(rng.normal(np.log(300), 0.4)))
                row = {"sample_id": f"{site_id}-{hole}-{depth:g}", "hole_id": f"{site_id}-{hole}", "site_id": "",
                       "depth_from_m": depth, "depth_to_m": depth + 1.5, "ga_ppm": f"{ga:.2f}",
                       "te_ppb": f"{te_ppb:.0f}", "pt_ppb": "<2"}  # fmt: skip
                if site_id == "P1":
                    lon, lat = gpd.GeoSeries([shapely.Point(x, y)], crs=epsg).to_crs(4326).iloc[0].coords[0]
                    row.update({"longitude": lon, "latitude": lat})
                else:
                    row.update({"x": x, "y": y, "crs": f"EPSG:{epsg}"})
                rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)
