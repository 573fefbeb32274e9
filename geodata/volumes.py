"""Deposit volumes from DEM differences, with exact pixel coverage of the footprint.

Each pixel counts by the fraction of its area inside the footprint (exactextract), the
footprint is reprojected to the DEM's CRS (the DEM itself is never resampled), nodata is
excluded and the covered share of the footprint is reported.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.errors
import rasterio.windows
import shapely
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from geodata.crs import geodesic_area_m2
from geodata.errors import CRSError, DataDropError
from geodata.schema import STORAGE_CRS

_NODATA = -9999.0


@dataclass(frozen=True)
class VolumeMeasurement:
    """Volume between two DEMs over a footprint.

    ``volume_m3`` scales the measured volume to the whole footprint (mean thickness over
    covered pixels times footprint area); ``coverage`` is the covered share of the
    footprint; ``negative_volume_m3`` is what clipping negative thickness removed. Volumes
    and ``footprint_area_m2`` are on the ground: projected pixel areas are corrected by the
    footprint's ellipsoidal / projected area ratio (the projection's local area scale).
    """

    volume_m3: float
    measured_volume_m3: float
    negative_volume_m3: float
    coverage: float
    footprint_area_m2: float
    base_resampled: bool


def measure_volume(footprint: shapely.Geometry, surface_path: Path, base_path: Path) -> VolumeMeasurement:
    """Integrate (surface - base), negatives clipped to zero, over a lon/lat footprint.

    Parameters
    ----------
    footprint
        Site polygon in STORAGE_CRS (lon/lat).
    surface_path, base_path
        GeoTIFF (or VRT) DEMs in a projected CRS with metre units. The base DEM is
        warped (bilinear) onto the surface DEM's grid only when the two grids differ.

    Raises
    ------
    CRSError
        If a DEM has no CRS or a CRS without metre units.
    """
    with rasterio.open(surface_path) as surface:
        _require_metric_crs(surface, surface_path)
        local = _to_crs(footprint, surface.crs)
        window = _window_for(surface, local)
        area = geodesic_area_m2(footprint)
        if window is None:
            return VolumeMeasurement(0.0, 0.0, 0.0, 0.0, area, False)
        top = surface.read(1, window=window, masked=True).astype("float64")
        bottom, resampled = _read_base_on_grid(base_path, surface, window, base_path)
        transform = surface.window_transform(window)
        crs_wkt = surface.crs.to_wkt()
    thickness = np.ma.filled(top - bottom, np.nan)
    valid = np.isfinite(thickness)
    positive = np.where(valid, np.clip(thickness, 0, None), _NODATA)
    negative = np.where(valid, np.clip(-thickness, 0, None), _NODATA)
    pixel_area = abs(transform.a * transform.e) * (area / local.area if local.area > 0 else 1.0)
    height, width = thickness.shape
    bounds = (transform.c, transform.f + transform.e * height, transform.c + transform.a * width, transform.f)
    sources = [
        NumPyRasterSource(layer, *bounds, nodata=_NODATA, srs_wkt=crs_wkt, name=name)
        for layer, name in ((positive, "fill"), (negative, "cut"))
    ]
    frame = gpd.GeoDataFrame(geometry=[local], crs=crs_wkt)
    stats = exact_extract(sources, frame, ["sum", "count"], output="pandas").iloc[0]
    measured = float(stats["fill_sum"]) * pixel_area
    coverage = min(float(stats["fill_count"]) * pixel_area / area, 1.0) if area > 0 else 0.0
    return VolumeMeasurement(
        volume_m3=measured / coverage if coverage > 0 else 0.0,
        measured_volume_m3=measured,
        negative_volume_m3=float(stats["cut_sum"]) * pixel_area,
        coverage=coverage,
        footprint_area_m2=area,
        base_resampled=resampled,
    )


def _read_base_on_grid(
    base_path: Path, surface: rasterio.DatasetReader, window: rasterio.windows.Window, label: Path
) -> tuple[np.ma.MaskedArray, bool]:
    with rasterio.open(base_path) as base:
        if base.crs is None:
            raise CRSError(label, "DEM has no CRS", "assign one with gdal_edit.py -a_srs EPSG:xxxx")
        same_grid = base.crs == surface.crs and base.transform == surface.transform and base.shape == surface.shape
        if same_grid:
            return base.read(1, window=window, masked=True).astype("float64"), False
        transform = surface.window_transform(window)
        with WarpedVRT(
            base,
            crs=surface.crs,
            transform=transform,
            width=int(window.width),
            height=int(window.height),
            resampling=Resampling.bilinear,
            src_nodata=base.nodata,
            nodata=_NODATA,
        ) as warped:
            return warped.read(1, masked=True).astype("float64"), True


def _require_metric_crs(dataset: rasterio.DatasetReader, path: Path) -> None:
    if dataset.crs is None:
        raise CRSError(path, "DEM has no CRS", "assign one with gdal_edit.py -a_srs EPSG:xxxx (the survey's CRS)")
    if not dataset.crs.is_projected or dataset.crs.linear_units_factor[1] != 1.0:
        raise CRSError(
            path,
            f"DEM CRS {dataset.crs.to_string()} is not projected in metres, so pixel areas are unknown",
            "warp it to a metric CRS, e.g. gdalwarp -t_srs EPSG:326xx (the local UTM zone)",
        )


def _to_crs(geometry: shapely.Geometry, crs: object) -> shapely.Geometry:
    return gpd.GeoSeries([geometry], crs=STORAGE_CRS).to_crs(crs).iloc[0]


def _window_for(dataset: rasterio.DatasetReader, geometry: shapely.Geometry) -> rasterio.windows.Window | None:
    """The pixel window covering the geometry's bounds, clipped to the raster."""
    full = rasterio.windows.Window(0, 0, dataset.width, dataset.height)
    window = rasterio.windows.from_bounds(*geometry.bounds, transform=dataset.transform)
    window = window.round_offsets(op="floor").round_lengths(op="ceil")
    window = rasterio.windows.Window(window.col_off - 1, window.row_off - 1, window.width + 2, window.height + 2)
    try:
        return window.intersection(full)
    except rasterio.errors.WindowError:
        return None


def measure_site_volumes(
    sites: gpd.GeoDataFrame, data_root: Path, source_name: str, min_coverage: float = 0.9
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Measure every site that has both DEMs; quarantine those the DEMs do not cover.

    DEM paths in ``sites`` are relative to ``data_root`` (as validated).

    Returns
    -------
    (measurements, quarantine)
        ``measurements`` indexed by ``site_id`` (the fields of VolumeMeasurement);
        ``quarantine`` holds sites whose DEMs cover less than ``min_coverage`` of the
        footprint or cannot be read, each with a reason, in the quarantine layout.
    """
    rows, rejected = [], []
    with_dems = sites[(sites["surface_dem"] != "") & (sites["base_dem"] != "")]
    for site in with_dems.itertuples(index=False):
        try:
            measured = measure_volume(site.geometry, data_root / site.surface_dem, data_root / site.base_dem)
        except (DataDropError, rasterio.errors.RasterioIOError) as error:
            rejected.append((site, f"DEM unusable: {error}"))
            continue
        if measured.coverage < min_coverage:
            rejected.append(
                (
                    site,
                    f"DEMs cover {measured.coverage:.0%} of the footprint, below the {min_coverage:.0%} minimum; "
                    "supply DEMs covering the whole footprint or remove surface_dem/base_dem to use reported figures",
                )
            )
            continue
        rows.append({"site_id": site.site_id, **asdict(measured)})
    measurements = pd.DataFrame(rows, columns=["site_id", *VolumeMeasurement.__dataclass_fields__]).set_index("site_id")
    quarantine = gpd.GeoDataFrame(
        {
            "source": source_name,
            "source_row": np.asarray([site.source_row for site, _ in rejected], dtype="int64"),
            "record_id": [site.site_id for site, _ in rejected],
            "reason": [reason for _, reason in rejected],
            "raw": [json.dumps({"surface_dem": site.surface_dem, "base_dem": site.base_dem}) for site, _ in rejected],
        },
        geometry=[site.geometry for site, _ in rejected],
        crs=STORAGE_CRS,
    )
    return measurements, quarantine
