"""Plain helpers for the geodata tests: literal geometries, DEM files and raw site rows."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine

UTM44 = "EPSG:32644"  # UTM zone 44N, central meridian 81 E (central India)
UTM43 = "EPSG:32643"  # UTM zone 43N, the zone to the west
#: A point on UTM 44N's central meridian, where the grid scale factor is 0.9996.
E0, N0 = 500_000.0, 2_300_000.0


def square(east: float, north: float, half: float) -> shapely.Polygon:
    """An axis-aligned square of side 2 * half centred on (east, north)."""
    return shapely.box(east - half, north - half, east + half, north + half)


def to_lonlat(geometry: shapely.Geometry, crs: str = UTM44) -> shapely.Geometry:
    """``geometry`` reprojected from ``crs`` to lon/lat (EPSG:4326)."""
    return gpd.GeoSeries([geometry], crs=crs).to_crs("EPSG:4326").iloc[0]


def pixel_centres(transform: Affine, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of every pixel centre of a north-up grid."""
    rows, cols = np.mgrid[0:height, 0:width]
    return transform.c + (cols + 0.5) * transform.a, transform.f + (rows + 0.5) * transform.e


def write_dem(path: Path, array: np.ndarray, transform: Affine, crs: str | None = UTM44, nodata=-9999.0) -> Path:
    """Write a one-band float32 GeoTIFF and return its path."""
    profile = {"driver": "GTiff", "width": array.shape[1], "height": array.shape[0], "count": 1,
               "dtype": "float32", "crs": crs, "transform": transform, "nodata": nodata}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(np.asarray(array, dtype="float32"), 1)
    return path


def raw_sites(records: list[dict], crs: str = UTM44) -> gpd.GeoDataFrame:
    """Site rows as ``read_sites`` returns them from a vector file (``source_row`` = feature number)."""
    frame = gpd.GeoDataFrame(records, geometry=[record.get("geometry") for record in records], crs=crs)
    frame.insert(0, "source_row", range(1, len(records) + 1))
    return frame
