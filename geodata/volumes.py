"""Deposit volumes from DEM differences, with exact pixel coverage of the footprint.

Each pixel counts by the fraction of its area inside the footprint (exactextract), the
footprint is reprojected to the DEM's CRS (a DEM in a metric CRS is never resampled; one in
lon/lat degrees, such as SRTM or Copernicus GLO-30, is warped to the footprint's UTM zone),
nodata is excluded and the covered share of the footprint is reported.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.errors
import rasterio.windows
import shapely
from affine import Affine
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource
from joblib import delayed
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

import residua.geodata.crs
from residua.geodata.crs import geodesic_area_m2, local_utm_crs
from residua.geodata.errors import CRSError, DataDropError
from residua.geodata.progress import run_jobs
from residua.geodata.reference_tables import load_reference_table
from residua.geodata.result_cache import ResultCache, cache_key, code_version, raster_digest
from residua.geodata.schema import STORAGE_CRS
from residua.geodata.zonal import DEFAULT_GDAL_CACHE_MB, gdal_cache_limit, raster_files_outside

_NODATA = -9999.0
#: Share of a footprint the DEM pair must cover for a DEM volume (setting ``min_dem_coverage``).
MIN_DEM_COVERAGE = 0.9
#: Elevations (m) a land surface can have: the Dead Sea shore lies at about -430 m and the summit of
#: Everest at 8,849 m (National Geographic / Survey of Nepal and China, 2020). Cells outside are read
#: as undeclared nodata (SRTM voids of -32768, -9999, float32 extremes such as 3.4e38).
PLAUSIBLE_ELEVATION_M = (-500.0, 9000.0)
#: Largest share of a footprint where the base DEM may lie above the surface (survey noise at the
#: rim of a pond) before the DEM pair is taken as wrong (swapped, or on different datums).
MAX_BASE_ABOVE_SHARE = 0.25
#: A residue type's plausible maximum thickness is this many times the ``thickness_high_m`` of its
#: thickness prior (the thickest deposit the table expects; for copper tailings 3 x 50 m = 150 m, above
#: the 88 m of the Syncrude Mildred Lake dykes, among the highest tailings structures, that the prior
#: cites). Measured thickness beyond it is a DEM error: heights in feet or centimetres, a base on
#: another vertical datum, or the wrong residue type.
THICKNESS_MAX_FACTOR = 3.0
#: Largest share of a footprint that may be thicker than its type's plausible maximum (a deep
#: corner of a valley fill) before the DEM pair is taken as wrong; a mean above it always is.
MAX_TOO_THICK_SHARE = 0.25


def plausible_max_thickness_m(thickness_high_m: float | np.ndarray) -> float | np.ndarray:
    """A residue type's plausible maximum thickness (m): ``THICKNESS_MAX_FACTOR`` x its ``thickness_high_m``.

    >>> float(plausible_max_thickness_m(50.0))
    150.0
    """
    return THICKNESS_MAX_FACTOR * np.asarray(thickness_high_m, dtype=float)


@dataclass(frozen=True)
class VolumeMeasurement:
    """Volume between two DEMs over a footprint.

    ``volume_m3`` scales the measured volume to the whole footprint (mean thickness over
    covered pixels times footprint area); ``coverage`` is the covered share of the
    footprint; ``negative_volume_m3`` is what clipping negative thickness removed. Volumes
    and ``footprint_area_m2`` are on the ground: projected pixel areas are corrected by the
    footprint's ellipsoidal / projected area ratio (the projection's local area scale).
    ``surface_warped``: the surface DEM was in lon/lat and was warped to the footprint's UTM
    zone; ``base_resampled``: the base DEM was warped onto the surface DEM's grid;
    ``implausible_cells``: cells of either DEM in the footprint's window whose elevation lies
    outside ``PLAUSIBLE_ELEVATION_M`` (undeclared nodata), excluded like nodata;
    ``base_above_share``: the share of the covered footprint where the base lies above the surface;
    ``mean_thickness_m``: the mean of (surface - base), negatives clipped, over the covered footprint;
    ``max_thickness_m`` and ``too_thick_share``: the plausible maximum thickness the measurement was
    given (NaN: none) and the share of the covered footprint thicker than it.
    """

    volume_m3: float
    measured_volume_m3: float
    negative_volume_m3: float
    coverage: float
    footprint_area_m2: float
    base_resampled: bool
    surface_warped: bool = False
    implausible_cells: int = 0
    base_above_share: float = 0.0
    mean_thickness_m: float = 0.0
    max_thickness_m: float = float("nan")
    too_thick_share: float = 0.0


#: Most cells measure_volume holds per strip: about 90 bytes each across its float64 arrays
#: and exactextract's copies, so roughly 360 MB at the default (measured: 0.8 GB peak for a
#: 254-million-pixel footprint, interpreter and GDAL's capped block cache included), whatever
#: the size of the footprint or the DEMs.
DEFAULT_BLOCK_CELLS = 1 << 22


def measure_volume(
    footprint: shapely.Geometry,
    surface_path: Path,
    base_path: Path,
    *,
    block_cells: int = DEFAULT_BLOCK_CELLS,
    max_thickness_m: float | None = None,
) -> VolumeMeasurement:
    """Integrate (surface - base), negatives clipped to zero, over a lon/lat footprint.

    The footprint's window of the surface DEM is processed in row strips of at most
    ``block_cells`` cells (and GDAL's block cache is capped at DEFAULT_GDAL_CACHE_MB), so
    peak memory is bounded by the strip, not by the footprint or the DEMs. Each strip's
    per-pixel coverage fractions are exact, so the sums over strips equal the sums over
    the whole window.

    Parameters
    ----------
    footprint
        Site polygon in STORAGE_CRS (lon/lat).
    surface_path, base_path
        GeoTIFF, Cloud-Optimized GeoTIFF or VRT DEMs, heights in metres, in a projected CRS
        with metre units or in lon/lat degrees (a lon/lat surface DEM is warped, bilinear, to
        the footprint's UTM zone at about its own resolution). The base DEM is warped
        (bilinear) onto the surface DEM's grid only when the two grids differ.
    block_cells
        Most cells read per strip (at least one full row is read).
    max_thickness_m
        The deposit's plausible maximum thickness: the share of the covered footprint thicker
        than it is reported as ``too_thick_share`` (not measured when None).

    Raises
    ------
    CRSError
        If a DEM has no CRS, or a projected CRS whose unit is not the metre.
    ValueError
        If ``block_cells`` is not positive.
    """
    if block_cells < 1:
        raise ValueError(f"block_cells must be a positive number of cells, got {block_cells}")
    area = geodesic_area_m2(footprint)
    with (
        gdal_cache_limit(DEFAULT_GDAL_CACHE_MB),
        rasterio.open(surface_path) as opened,
        _surface_in_metres(opened, surface_path, footprint) as surface,
    ):
        local = _to_crs(footprint, surface.crs)
        window = _window_for(surface, local)
        warped = surface is not opened
        limit = float("nan") if max_thickness_m is None else float(max_thickness_m)
        if window is None:
            return VolumeMeasurement(0.0, 0.0, 0.0, 0.0, area, False, warped, max_thickness_m=limit)
        frame = gpd.GeoDataFrame(geometry=[local], crs=surface.crs.to_wkt())
        totals = np.zeros(5)  # fill sum, fill count (covered valid pixels), cut sum, cut count, too-thick count
        implausible = 0
        with _base_on_grid(base_path, surface, window) as (bottom_source, resampled):
            for strip in _row_strips(window, block_cells):
                top, voids_top = _plausible(surface.read(1, window=strip, masked=True))
                bottom_window = strip if not resampled else _relative(strip, window)
                bottom, voids_bottom = _plausible(bottom_source.read(1, window=bottom_window, masked=True))
                implausible += voids_top + voids_bottom
                totals += _integrate_strip(top - bottom, surface.window_transform(strip), frame, limit)
        transform = surface.window_transform(window)
    fill_sum, fill_count, cut_sum, cut_count, thick_count = totals
    pixel_area = abs(transform.a * transform.e) * (area / local.area if local.area > 0 else 1.0)
    measured = float(fill_sum) * pixel_area
    coverage = min(float(fill_count) * pixel_area / area, 1.0) if area > 0 else 0.0
    return VolumeMeasurement(
        volume_m3=measured / coverage if coverage > 0 else 0.0,
        measured_volume_m3=measured,
        negative_volume_m3=float(cut_sum) * pixel_area,
        coverage=coverage,
        footprint_area_m2=area,
        base_resampled=resampled,
        surface_warped=warped,
        implausible_cells=implausible,
        base_above_share=float(cut_count / fill_count) if fill_count > 0 else 0.0,
        mean_thickness_m=float(fill_sum / fill_count) if fill_count > 0 else 0.0,
        max_thickness_m=limit,
        too_thick_share=float(thick_count / fill_count) if fill_count > 0 else 0.0,
    )


def _plausible(heights: np.ma.MaskedArray) -> tuple[np.ma.MaskedArray, int]:
    """Heights (float64) with implausible elevations masked, and how many valid cells that masked."""
    heights = heights.astype("float64")
    low, high = PLAUSIBLE_ELEVATION_M
    outside = ~np.ma.getmaskarray(heights) & ((heights.filled(0.0) < low) | (heights.filled(0.0) > high))
    return np.ma.masked_where(outside, heights), int(outside.sum())


def _row_strips(window: rasterio.windows.Window, block_cells: int) -> list[rasterio.windows.Window]:
    """Full-width row strips of ``window`` holding at most ``block_cells`` cells (at least one row)."""
    rows = max(1, block_cells // max(int(window.width), 1))
    top, height = int(window.row_off), int(window.height)
    return [
        rasterio.windows.Window(window.col_off, row, window.width, min(rows, top + height - row))
        for row in range(top, top + height, rows)
    ]


def _relative(strip: rasterio.windows.Window, window: rasterio.windows.Window) -> rasterio.windows.Window:
    """``strip`` in the pixel coordinates of ``window`` (the warped base covers only the window)."""
    col, row = strip.col_off - window.col_off, strip.row_off - window.row_off
    return rasterio.windows.Window(col, row, strip.width, strip.height)


def _integrate_strip(
    thickness: np.ma.MaskedArray, transform: Affine, frame: gpd.GeoDataFrame, max_thickness_m: float = float("nan")
) -> np.ndarray:
    """Coverage-weighted (fill sum, fill count, cut sum, cut count, too-thick count) of one strip, in pixel units.

    ``cut count`` counts only pixels where the base lies above the surface, ``too-thick count``
    those thicker than ``max_thickness_m`` (none when it is NaN)."""
    thickness = np.ma.filled(thickness, np.nan)
    valid = np.isfinite(thickness)
    positive = np.where(valid, np.clip(thickness, 0, None), _NODATA)
    negative = np.where(valid & (thickness < 0), -thickness, _NODATA)
    layers = [(positive, "fill"), (negative, "cut")]
    if np.isfinite(max_thickness_m):
        layers.append((np.where(valid & (thickness > max_thickness_m), np.float32(1), np.float32(_NODATA)), "thick"))
    del thickness, valid
    height, width = positive.shape
    bounds = (transform.c, transform.f + transform.e * height, transform.c + transform.a * width, transform.f)
    sources = [
        NumPyRasterSource(layer, *bounds, nodata=_NODATA, srs_wkt=frame.crs.to_wkt(), name=name)
        for layer, name in layers
    ]
    stats = exact_extract(sources, frame, ["sum", "count"], output="pandas").iloc[0]
    keys = ("fill_sum", "fill_count", "cut_sum", "cut_count", "thick_count")
    return np.nan_to_num([float(stats.get(key, 0.0)) for key in keys])


@contextmanager
def _base_on_grid(
    base_path: Path, surface: rasterio.DatasetReader, window: rasterio.windows.Window
) -> Iterator[tuple[rasterio.DatasetReader | WarpedVRT, bool]]:
    """The base DEM on the surface grid: ``(dataset, resampled)``.

    The base itself when the grids match; otherwise one bilinear warped VRT over
    ``window``, read in the window's own pixel coordinates. One VRT serves every strip,
    so the warped values do not depend on the strip size.
    """
    with rasterio.open(base_path) as base:
        if base.crs is None:
            raise CRSError(base_path, "DEM has no CRS", "assign one with gdal_edit.py -a_srs EPSG:xxxx")
        if base.crs == surface.crs and base.transform == surface.transform and base.shape == surface.shape:
            yield base, False
            return
        with WarpedVRT(
            base,
            crs=surface.crs,
            transform=surface.window_transform(window),
            width=int(window.width),
            height=int(window.height),
            resampling=Resampling.bilinear,
            src_nodata=base.nodata,
            nodata=_NODATA,
        ) as warped:
            yield warped, True


@contextmanager
def _surface_in_metres(
    dataset: rasterio.DatasetReader, path: Path, footprint: shapely.Geometry
) -> Iterator[rasterio.DatasetReader | WarpedVRT]:
    """The surface DEM on a metric grid: itself, or a lon/lat DEM warped to the footprint's UTM zone.

    The warp (bilinear, GDAL's default resolution: about the DEM's own) is virtual and read
    only over the footprint's window. A projected CRS in other units (e.g. US survey feet)
    is refused: its heights are usually in that unit too, which nothing here can know.
    """
    if dataset.crs is None:
        raise CRSError(path, "DEM has no CRS", "assign one with gdal_edit.py -a_srs EPSG:xxxx (the survey's CRS)")
    if dataset.crs.is_geographic:
        with WarpedVRT(dataset, crs=local_utm_crs(footprint), resampling=Resampling.bilinear,
                       src_nodata=dataset.nodata, nodata=_NODATA) as warped:  # fmt: skip
            yield warped
        return
    if not dataset.crs.is_projected or dataset.crs.linear_units_factor[1] != 1.0:
        raise CRSError(
            path,
            f"DEM CRS {dataset.crs.to_string()} is not in metres or degrees, so pixel areas and heights are unknown",
            "warp it to a metric CRS, e.g. gdalwarp -t_srs EPSG:326xx (the local UTM zone), heights in metres",
        )
    yield dataset


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


#: GDAL lists a raster's folder on open to find sidecar files; with thousands of DEMs in rasters/ that
#: listing cost more than reading the DEM. Without it GDAL still finds sidecars (.aux.xml, .ovr) by name.
NO_FOLDER_LISTING = {"GDAL_DISABLE_READDIR_ON_OPEN": "TRUE"}


def _measure_site(
    footprint: shapely.Geometry, surface: Path, base: Path, max_thickness_m: float | None = None
) -> VolumeMeasurement | str:
    """One site's measurement, or why its DEMs are unusable (runs in a joblib worker)."""
    try:
        with rasterio.Env(**NO_FOLDER_LISTING):
            return measure_volume(footprint, surface, base, max_thickness_m=max_thickness_m)
    except (DataDropError, rasterio.errors.RasterioIOError) as error:
        return f"DEM unusable: {error}"


def _outside_reason(dems: tuple[Path, Path], data_root: Path) -> str | None:
    try:
        outside = [file for dem in dems for file in raster_files_outside(dem, data_root)]
    except (DataDropError, rasterio.errors.RasterioIOError):
        return None  # unreadable: measuring says why
    if outside:
        return f"DEM reaches outside the data directory ({outside[0]}); copy it (and a VRT's sources) in"
    return None


def _volume_key(
    cache_version: str, footprint: shapely.Geometry, dems: tuple[Path, Path], max_thickness_m: float | None = None
) -> str | None:
    try:
        digests = (raster_digest(dem) for dem in dems)
        return cache_key(cache_version, shapely.to_wkb(footprint), *digests, max_thickness_m)
    except (OSError, rasterio.errors.RasterioIOError):
        return None  # unreadable now: measured (and reported) uncached


def measure_site_volumes(
    sites: gpd.GeoDataFrame,
    data_root: Path,
    source_name: str,
    min_coverage: float = MIN_DEM_COVERAGE,
    cache: ResultCache | None = None,
    max_base_above_share: float = MAX_BASE_ABOVE_SHARE,
    thickness_priors: pd.DataFrame | None = None,
    max_too_thick_share: float = MAX_TOO_THICK_SHARE,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Measure every site that has both DEMs; quarantine those the DEMs do not cover.

    DEM paths in ``sites`` are relative to ``data_root`` (as validated); a DEM that reaches
    outside it (a symlink, a VRT source) is quarantined, as a path written outside it is.
    Sites are measured in parallel on whatever joblib backend the caller configured
    (``joblib.parallel_config``: local processes or a Dask cluster); sequentially by default.
    With a ``cache``, a site whose footprint and DEM bytes (and this code) are unchanged
    reuses its earlier measurement. A site's plausible maximum thickness is ``THICKNESS_MAX_FACTOR``
    times the ``thickness_high_m`` of its residue type in ``thickness_priors`` (by default the
    drop's ``reference/thickness_priors.csv``, else the bundled table); sites without a
    ``residue_type`` column or prior row are not checked.

    Returns
    -------
    (measurements, quarantine)
        ``measurements`` indexed by ``site_id`` (the fields of VolumeMeasurement);
        ``quarantine`` holds sites whose DEMs cover less than ``min_coverage`` of the
        footprint, whose base lies above the surface over more than ``max_base_above_share``
        of it, whose measured thickness averages more than the type's plausible maximum or
        exceeds it over more than ``max_too_thick_share`` of the footprint, whose DEMs reach
        outside ``data_root`` or cannot be read, each with a reason, in the quarantine layout.
    """
    with_dems = list(sites[(sites["surface_dem"] != "") & (sites["base_dem"] != "")].itertuples(index=False))
    limits = _thickness_limits(with_dems, data_root, thickness_priors)
    version = code_version(sys.modules[__name__], residua.geodata.crs) if cache is not None else ""
    outcomes: list[VolumeMeasurement | str | None] = [None] * len(with_dems)
    todo: list[tuple[int, str | None, tuple[Path, Path]]] = []
    with rasterio.Env(**NO_FOLDER_LISTING):
        for position, site in enumerate(with_dems):
            dems = (data_root / site.surface_dem, data_root / site.base_dem)
            outcomes[position] = _outside_reason(dems, data_root)
            if outcomes[position] is not None:
                continue
            key = _volume_key(version, site.geometry, dems, limits[position]) if cache is not None else None
            stored = cache.get(key) if key is not None else None
            if stored is not None:
                outcomes[position] = VolumeMeasurement(**stored) if isinstance(stored, dict) else str(stored)
            else:
                todo.append((position, key, dems))
    measured = run_jobs(
        [delayed(_measure_site)(with_dems[position].geometry, *dems, limits[position]) for position, _, dems in todo],
        "DEM volumes",
    )
    for (position, key, _), outcome in zip(todo, measured):
        outcomes[position] = outcome
        if key is not None:
            cache.put(key, asdict(outcome) if isinstance(outcome, VolumeMeasurement) else outcome)
    rows, rejected = [], []
    for site, outcome in zip(with_dems, outcomes):
        if isinstance(outcome, VolumeMeasurement) and outcome.base_above_share > max_base_above_share:
            outcome = (
                f"the base DEM lies above the surface over {outcome.base_above_share:.0%} of the footprint "
                f"({outcome.negative_volume_m3:,.0f} m3 clipped; at most {max_base_above_share:.0%} allowed): "
                "swapped surface_dem and base_dem, or DEMs on different vertical datums? fix the DEMs or remove "
                "them to use reported figures"
            )
        if isinstance(outcome, VolumeMeasurement):
            residue_type = getattr(site, "residue_type", "")
            outcome = _too_thick_reason(outcome, residue_type, max_too_thick_share) or outcome
        if isinstance(outcome, VolumeMeasurement) and outcome.coverage < min_coverage:
            voids = (
                f" ({outcome.implausible_cells:,} cells with elevations outside {PLAUSIBLE_ELEVATION_M[0]:g} to "
                f"{PLAUSIBLE_ELEVATION_M[1]:g} m, e.g. SRTM voids of -32768, were read as nodata: declare the DEM's "
                "nodata value or fill the voids)"
                if outcome.implausible_cells
                else ""
            )
            outcome = (
                f"DEMs cover {outcome.coverage:.0%} of the footprint, below the {min_coverage:.0%} minimum{voids}; "
                "supply DEMs covering the whole footprint or remove surface_dem/base_dem to use reported figures"
            )
        if isinstance(outcome, str):
            rejected.append((site, outcome))
        else:
            rows.append({"site_id": site.site_id, **asdict(outcome)})
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


def _thickness_limits(sites: list, data_root: Path, thickness_priors: pd.DataFrame | None) -> list[float | None]:
    """Each site's plausible maximum thickness (m) (``plausible_max_thickness_m``), None for a type without a prior."""
    if not sites or not hasattr(sites[0], "residue_type"):
        return [None] * len(sites)
    if thickness_priors is None:
        thickness_priors, _ = load_reference_table("thickness_priors", data_root)
    high = thickness_priors.drop_duplicates("residue_type").set_index("residue_type")["thickness_high_m"]
    limits = [high.get(site.residue_type) for site in sites]
    return [float(plausible_max_thickness_m(high_m)) if high_m is not None and np.isfinite(high_m) else None
            for high_m in limits]  # fmt: skip


def _too_thick_reason(measurement: VolumeMeasurement, residue_type: str, max_share: float) -> str | None:
    """Why a site's measured thickness is implausible for its residue type, or None when it is not."""
    limit = measurement.max_thickness_m
    if not np.isfinite(limit):
        return None
    mean_above = measurement.mean_thickness_m > limit
    if not mean_above and measurement.too_thick_share <= max_share:
        return None
    return (
        f"the DEMs measure {measurement.mean_thickness_m:,.1f} m mean thickness (surface minus base), and "
        f"{measurement.too_thick_share:.0%} of the footprint is thicker than {limit:,.0f} m, the plausible maximum for "
        f"a {residue_type} deposit ({THICKNESS_MAX_FACTOR:g} x its thickness_high_m {limit / THICKNESS_MAX_FACTOR:g} m "
        f"in thickness_priors.csv; at most {max_share:.0%} of a footprint may exceed it, and not the mean): DEM "
        "heights in feet or centimetres, a base DEM on another vertical datum, or the wrong residue_type? fix the "
        "DEMs or the residue_type, or remove the DEMs to use reported figures"
    )
