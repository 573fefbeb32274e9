"""Zonal statistics of covariate rasters over site footprints, on the exact-coverage footing.

Each pixel counts by the fraction of its area inside the footprint (exactextract), the
footprints are reprojected to the raster's CRS (the raster itself is never resampled, so a
geographic EPSG:4326 raster works as well as a projected one), nodata and NaN pixels are
excluded, and the share of the footprint covered by valid pixels is reported.

The covariate contract of a data drop: every GeoTIFF or VRT directly inside
``<data drop>/rasters/covariates/`` is one covariate, named by its file stem lower-cased
with every run of non-alphanumerics replaced by ``_`` (``Regional Ga-ppm.tif`` ->
``regional_ga_ppm``). Its columns are ``cov_<name>_mean``, ``cov_<name>_std``,
``cov_<name>_p10``, ``cov_<name>_p90`` and ``cov_<name>_coverage``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.errors
import rasterio.transform
import rasterio.windows
import shapely
from exactextract import exact_extract
from exactextract.feature import Feature, FeatureSource
from exactextract.raster import RasterioRasterSource
from joblib import Parallel, delayed, effective_n_jobs
from rasterio.enums import MaskFlags

from residua.geodata.errors import CRSError, DataDropError
from residua.geodata.result_cache import ResultCache, cache_key, code_version, raster_digest

#: Where a data drop keeps its covariate rasters, relative to the drop's root.
COVARIATE_DIR = Path("rasters") / "covariates"
#: File suffixes read as covariate rasters (compared lower-cased).
COVARIATE_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".vrt")
#: Statistic name in Residua's columns -> exactextract operation. All are weighted by the
#: fraction of each pixel inside the footprint; ``std`` is the population standard deviation.
STATISTICS: dict[str, str] = {
    "mean": "mean",
    "std": "stdev",
    "p10": "quantile(q=0.1)",
    "p90": "quantile(q=0.9)",
    "sum": "sum",
    "min": "min",
    "max": "max",
}
DEFAULT_STATISTICS: tuple[str, ...] = ("mean", "std", "p10", "p90")
#: exactextract's read budget per step, in cells (8 bytes each as float64): about 128 MB.
DEFAULT_MAX_CELLS_IN_MEMORY = 1 << 24
#: GDAL's raster block cache while Residua reads rasters, in MB. GDAL's own default is 5 %
#: of RAM, which lets resident memory grow with the raster up to that share.
DEFAULT_GDAL_CACHE_MB = 256
_ROW = "_residua_row"


def covariate_name(path: Path | str) -> str:
    """The covariate name of a raster file: its stem, lower-cased, non-alphanumerics -> ``_``.

    >>> covariate_name("rasters/covariates/Regional Ga-ppm.tif")
    'regional_ga_ppm'
    """
    name = re.sub(r"[^0-9a-z]+", "_", Path(path).stem.lower()).strip("_")
    return name or "unnamed"


def find_covariates(data_root: Path) -> dict[str, Path]:
    """Every covariate raster of a data drop, by name, in name order; each file checked.

    Only files directly inside ``<data_root>/rasters/covariates/`` count (keep the tiles
    of a VRT mosaic in a subfolder). A drop without that folder has no covariates. Like
    DEM paths, a covariate may not reach outside the data directory: a symlink or a VRT
    source that resolves outside it is refused.

    Raises
    ------
    DataDropError
        If two files map to the same name, or a file cannot be opened, reaches outside
        the data directory, has more than one band or a rotated grid.
    CRSError
        If a raster has no CRS.
    """
    root = Path(data_root).resolve()
    folder = root / COVARIATE_DIR
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in COVARIATE_SUFFIXES:
            continue
        name = covariate_name(path)
        if name in found:
            raise DataDropError(
                path,
                f"covariate name {name!r} is already taken by {found[name].name}",
                "rename one of the two files so their lower-cased stems differ",
            )
        with _open_raster(path):
            pass
        outside = raster_files_outside(path, root)
        if outside:
            raise DataDropError(
                path,
                f"reaches outside the data directory ({outside[0]})",
                "copy the raster (for a VRT, also its source tiles) into the data drop, e.g. rasters/covariates/tiles/",
            )
        found[name] = path
    return dict(sorted(found.items()))


def zonal_statistics(
    sites: gpd.GeoSeries | gpd.GeoDataFrame,
    raster_path: Path | str,
    name: str | None = None,
    *,
    statistics: Sequence[str] = DEFAULT_STATISTICS,
    max_cells_in_memory: int = DEFAULT_MAX_CELLS_IN_MEMORY,
    gdal_cache_mb: int | None = DEFAULT_GDAL_CACHE_MB,
) -> pd.DataFrame:
    """Exact-coverage zonal statistics of one raster over each footprint.

    Footprints are reprojected to the raster's CRS; the raster is read by exactextract
    window by window through rasterio (GeoTIFF, Cloud-Optimized GeoTIFF or VRT mosaic),
    never resampled. A point site takes the value of the pixel it falls in.

    Parameters
    ----------
    sites
        Footprints (Polygon / MultiPolygon) or points, in any CRS; a GeoDataFrame's
        geometry column is used.
    raster_path
        One-band raster in any CRS, geographic included.
    name
        Covariate name used in the columns; default ``covariate_name(raster_path)``.
    statistics
        Any of ``STATISTICS`` (default mean, std, p10, p90), each weighted by the share
        of every pixel inside the footprint.
    max_cells_in_memory
        Cells exactextract reads at a time. Memory for mean, std, sum, min and max stays
        within this budget whatever the raster or footprint size; p10 and p90 also hold
        the covered values of one footprint at a time.
    gdal_cache_mb
        GDAL block cache during the call (None: GDAL's setting). Footprints are visited
        in Hilbert-curve order, so neighbours share the cached blocks.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``sites``, with ``cov_<name>_<statistic>`` per statistic and
        ``cov_<name>_coverage``, the share of the footprint covered by valid pixels
        (0 with NaN statistics for a site off the raster; 1 or 0 for a point).

    Raises
    ------
    CRSError
        If the raster or ``sites`` has no CRS.
    DataDropError
        If the raster cannot be opened, has more than one band or a rotated grid.
    ValueError
        If a statistic is unknown.

    Examples
    --------
    A 2 x 2 raster of 1 m pixels valued 1, 2 / 3, 4 and a square over its left half:

    >>> import tempfile, numpy as np, rasterio, shapely
    >>> from rasterio.transform import from_origin
    >>> path = Path(tempfile.mkdtemp()) / "Demo Grid.tif"
    >>> with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32",
    ...                    crs="EPSG:32644", transform=from_origin(0, 2, 1, 1)) as dataset:
    ...     dataset.write(np.array([[1, 2], [3, 4]], dtype="float32"), 1)
    >>> left = gpd.GeoSeries([shapely.box(0, 0, 1, 2)], crs="EPSG:32644")
    >>> zonal_statistics(left, path, statistics=("mean", "std")).round(3).to_dict("records")
    [{'cov_demo_grid_mean': 2.0, 'cov_demo_grid_std': 1.0, 'cov_demo_grid_coverage': 1.0}]
    """
    unknown = [stat for stat in statistics if stat not in STATISTICS]
    if unknown:
        raise ValueError(f"unknown statistics {unknown}; choose from {', '.join(STATISTICS)}")
    geometry = sites.geometry if isinstance(sites, gpd.GeoDataFrame) else sites
    if geometry.crs is None:
        raise CRSError("sites", "footprints have no CRS", "set one with sites.set_crs('EPSG:4326') or the true CRS")
    raster_path = Path(raster_path)
    prefix = f"cov_{name or covariate_name(raster_path)}"
    positional = geometry.reset_index(drop=True)
    with _open_raster(raster_path):
        pass  # a raster that cannot be used fails here, once, before any worker starts
    chunks = spatial_chunks(positional, effective_n_jobs(None))
    options = (tuple(statistics), max_cells_in_memory, gdal_cache_mb)
    if len(chunks) == 1:
        values = _zonal_statistics_of_file(raster_path, positional, *options)
    else:
        parts = Parallel()(
            delayed(_zonal_statistics_of_file)(raster_path, positional.iloc[rows], *options) for rows in chunks
        )
        values = pd.concat(parts).sort_index()
    values.index = geometry.index
    return values.rename(columns=lambda column: f"{prefix}_{column}")


def spatial_chunks(geometry: gpd.GeoSeries, n_chunks: int, min_chunk: int = 256) -> list[np.ndarray]:
    """Split positions 0..n-1 into at most ``n_chunks`` runs of neighbouring geometries.

    Runs follow the Hilbert curve, so each worker reads its own part of a raster and its
    GDAL block cache serves neighbouring footprints; no run is smaller than ``min_chunk``
    (a worker's start-up is not worth fewer). Missing or empty geometries go to the first run.
    """
    n_chunks = max(1, min(n_chunks, len(geometry) // min_chunk))
    if n_chunks == 1:
        return [np.arange(len(geometry))]
    usable = (geometry.notna() & ~geometry.is_empty).to_numpy()
    keys = np.full(len(geometry), -1, dtype="int64")
    if usable.any():
        keys[usable] = geometry[usable].hilbert_distance().to_numpy()
    return [np.sort(rows) for rows in np.array_split(np.argsort(keys, kind="stable"), n_chunks)]


def _zonal_statistics_of_file(
    raster_path: Path,
    geometry: gpd.GeoSeries,
    statistics: tuple[str, ...],
    max_cells_in_memory: int,
    gdal_cache_mb: int | None,
) -> pd.DataFrame:
    """``_zonal_statistics`` with the raster opened here (so it runs in a worker process)."""
    with gdal_cache_limit(gdal_cache_mb), _open_raster(raster_path) as dataset:
        values = _zonal_statistics(dataset, geometry.reset_index(drop=True), statistics, max_cells_in_memory)
    values.index = geometry.index
    return values


def site_covariates(
    sites: gpd.GeoDataFrame,
    data_root: Path,
    *,
    max_cells_in_memory: int = DEFAULT_MAX_CELLS_IN_MEMORY,
    cache: ResultCache | None = None,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Zonal statistics of every covariate raster of a data drop, one row per site.

    With a ``cache``, a site whose footprint and covariate raster bytes (and this code) are
    unchanged reuses its earlier statistics; only the others are computed.

    Parameters
    ----------
    sites
        Sites with ``site_id`` and footprints (or points) in any CRS.
    data_root
        The data drop folder; covariates are found by ``find_covariates``.

    Returns
    -------
    (table, covariates)
        ``table`` indexed by ``site_id`` with the ``DEFAULT_STATISTICS`` and coverage of
        each covariate (no columns when the drop has none); ``covariates`` maps each
        name to its file.

    Raises
    ------
    DataDropError, CRSError
        As ``find_covariates``: a covariate raster that cannot be used stops the run,
        naming the file and the fix.
    """
    covariates = find_covariates(data_root)
    frames = [
        _cached_zonal_statistics(sites, path, name, max_cells_in_memory, cache) for name, path in covariates.items()
    ]
    table = pd.concat([pd.DataFrame(index=sites.index), *frames], axis=1)
    table.index = pd.Index(sites["site_id"].to_numpy(), name="site_id")
    return table, covariates


def _cached_zonal_statistics(
    sites: gpd.GeoDataFrame, path: Path, name: str, max_cells_in_memory: int, cache: ResultCache | None
) -> pd.DataFrame:
    """``zonal_statistics`` of one covariate, reading and filling ``cache`` per site."""
    if cache is None:
        return zonal_statistics(sites, path, name, max_cells_in_memory=max_cells_in_memory)
    prefix = f"cov_{name}_"
    version = code_version(sys.modules[__name__])
    raster = raster_digest(path)
    crs = sites.crs.to_string() if sites.crs is not None else ""
    keys = [cache_key(version, raster, DEFAULT_STATISTICS, crs, shapely.to_wkb(g) if g is not None else b"")
            for g in sites.geometry]  # fmt: skip
    stored = [cache.get(key) for key in keys]
    missing = [position for position, value in enumerate(stored) if value is None]
    if missing:
        computed = zonal_statistics(sites.iloc[missing], path, name, max_cells_in_memory=max_cells_in_memory)
        for position, row in zip(missing, computed.to_dict("records")):
            stored[position] = {column.removeprefix(prefix): value for column, value in row.items()}
            cache.put(keys[position], stored[position])
    columns = [*DEFAULT_STATISTICS, "coverage"]
    table = pd.DataFrame(
        [[value[column] for column in columns] for value in stored], columns=columns, index=sites.index
    )
    return table.rename(columns=lambda column: f"{prefix}{column}").astype(float)


def raster_files_outside(path: Path, root: Path) -> list[Path]:
    """Files a raster reads that lie outside ``root``, symlinks resolved: itself, a VRT's sources.

    GDAL lists a VRT's source files (and a GeoTIFF's sidecars) with the dataset; a source
    that is not a local file (e.g. a /vsicurl/ URL) counts as outside.

    >>> raster_files_outside(Path("/data/rasters/../../etc/dem.tif"), Path("/data"))
    [PosixPath('/etc/dem.tif')]
    """
    root = Path(root).resolve()
    files = [Path(path)]
    if Path(path).resolve().is_relative_to(root):
        with rasterio.open(path) as dataset:
            files += [Path(file) for file in dataset.files]
    return [file.resolve() for file in dict.fromkeys(files) if not file.resolve().is_relative_to(root)]


@contextmanager
def gdal_cache_limit(cache_mb: int | None) -> Iterator[None]:
    """Cap GDAL's raster block cache at ``cache_mb`` MB inside the ``with`` block.

    GDAL's previous limit is restored on exit; ``None`` leaves it alone.

    >>> with gdal_cache_limit(64):
    ...     rasterio.env.getenv()["GDAL_CACHEMAX"] == 64 * 2**20
    True
    """
    if cache_mb is None:
        yield
        return
    with rasterio.Env(GDAL_CACHEMAX=int(cache_mb) * 2**20):
        yield


@contextmanager
def _open_raster(path: Path) -> Iterator[rasterio.DatasetReader]:
    """Open a covariate raster for reading and check it, naming the file in every error."""
    try:
        dataset = rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:
        raise DataDropError(
            path, f"cannot be read as a raster ({error})", "replace it with a GeoTIFF or VRT that GDAL can open"
        ) from error
    with dataset:
        _check_raster(dataset, path)
        yield dataset


def _check_raster(dataset: rasterio.DatasetReader, path: Path) -> None:
    if dataset.crs is None:
        raise CRSError(
            path,
            "covariate raster has no CRS, so footprints cannot be placed on it",
            "assign the CRS it was made in, e.g. gdal_edit.py -a_srs EPSG:4326 (or rio edit-info --crs EPSG:4326)",
        )
    if dataset.count != 1:
        raise DataDropError(
            path, f"has {dataset.count} bands; a covariate raster has one", "split it, e.g. gdal_translate -b 1"
        )
    if dataset.transform.b != 0 or dataset.transform.d != 0:
        raise DataDropError(path, "has a rotated grid", "warp it north-up with gdalwarp")


def _zonal_statistics(
    dataset: rasterio.DatasetReader, geometry: gpd.GeoSeries, statistics: tuple[str, ...], max_cells_in_memory: int
) -> pd.DataFrame:
    """Statistics and coverage per geometry (positional index), on the raster's grid."""
    columns = [*statistics, "coverage"]
    result = pd.DataFrame(np.nan, index=geometry.index, columns=columns)
    result["coverage"] = 0.0
    local = geometry.to_crs(dataset.crs)
    bounds = local.bounds.to_numpy()
    usable = local.notna().to_numpy() & ~local.is_empty.to_numpy() & np.isfinite(bounds).all(axis=1)
    points = usable & (local.geom_type == "Point").to_numpy()
    polygons = usable & local.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    left, bottom, right, top = dataset.bounds
    polygons &= (bounds[:, 0] < right) & (bounds[:, 2] > left) & (bounds[:, 1] < top) & (bounds[:, 3] > bottom)
    if polygons.any():
        rows = np.flatnonzero(polygons)
        zones = local.iloc[rows]
        # Hilbert order: neighbouring footprints follow each other, so raster blocks are
        # decoded once and served from GDAL's (bounded) block cache to the next footprint.
        order = np.argsort(zones.hilbert_distance().to_numpy(), kind="stable")
        rows, zones = rows[order], zones.to_numpy()[order]
        operations = [STATISTICS[stat] for stat in statistics]
        stats = exact_extract(
            _raster_source(dataset),
            _WKBFeatures(rows, zones, dataset.crs.to_wkt()),
            [*dict.fromkeys([*operations, "count"])],
            include_cols=[_ROW],
            max_cells_in_memory=max_cells_in_memory,
            output="pandas",
        ).set_index(_ROW)
        stats = stats.loc[rows]
        count = stats["count"].to_numpy(dtype=float)
        names = dict(zip(operations, _exactextract_columns(operations)))
        for stat in statistics:  # no valid pixel: NaN, even for sum
            result.loc[rows, stat] = np.where(count > 0, stats[names[STATISTICS[stat]]].to_numpy(dtype=float), np.nan)
        zone_area = shapely.area(zones)  # in the raster's plane, like its pixels
        covered = count * abs(dataset.transform.a * dataset.transform.e)
        result.loc[rows, "coverage"] = np.clip(
            np.divide(covered, zone_area, out=np.zeros_like(covered), where=zone_area > 0), 0.0, 1.0
        )
    for position in np.flatnonzero(points):
        value = _value_at(dataset, local.iloc[position].x, local.iloc[position].y)
        if np.isfinite(value):
            result.loc[position, list(statistics)] = _point_statistics(value, statistics)
            result.loc[position, "coverage"] = 1.0
    return result


class _WKBFeature(Feature):
    """One footprint handed to exactextract as WKB, with its row number as the only field."""

    def __init__(self, row: int, wkb: bytes) -> None:
        Feature.__init__(self)
        self.fields_ = {_ROW: row}
        self.wkb = wkb

    def geometry(self) -> bytes:
        return self.wkb

    def set_geometry_format(self) -> str:
        return "wkb"

    def get(self, name: str) -> object:
        return self.fields_[name]

    def set(self, name: str, value: object) -> None:
        self.fields_[name] = value

    def fields(self) -> list[str]:
        return list(self.fields_)


class _WKBFeatures(FeatureSource):
    """Footprints as WKB: exactextract's GeoPandas source goes through GeoJSON text per feature."""

    def __init__(self, rows: np.ndarray, geometries: np.ndarray, crs_wkt: str) -> None:
        super().__init__()
        self.rows, self.wkbs, self.crs_wkt = rows, shapely.to_wkb(geometries), crs_wkt

    def count(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[_WKBFeature]:
        for row, wkb in zip(self.rows, self.wkbs):
            yield _WKBFeature(int(row), wkb)

    def srs_wkt(self) -> str:
        return self.crs_wkt


class _UnmaskedRasterSource(RasterioRasterSource):
    """Reads plain windows; exactextract then drops nodata (and NaN) itself.

    Used only when the band's validity is its nodata value alone (or every pixel is
    valid) and it is unscaled, where building a mask array per window is wasted work.
    """

    def read_window(self, x0: int, y0: int, nx: int, ny: int) -> np.ndarray:
        return self.ds.read(self.band_idx, window=rasterio.windows.Window(x0, y0, nx, ny))


def _raster_source(dataset: rasterio.DatasetReader) -> RasterioRasterSource:
    flags = dataset.mask_flag_enums[0]
    plain = flags in ([MaskFlags.nodata], [MaskFlags.all_valid])
    unscaled = dataset.scales[0] == 1.0 and dataset.offsets[0] == 0.0
    source = _UnmaskedRasterSource if plain and unscaled else RasterioRasterSource
    return source(dataset, 1, name="v")


def _exactextract_columns(operations: list[str]) -> list[str]:
    """Column names exactextract gives its operations (``quantile(q=0.1)`` -> ``quantile_10``)."""
    names = []
    for op in operations:
        match = re.fullmatch(r"quantile\(q=([0-9.]+)\)", op)
        names.append(f"quantile_{round(float(match.group(1)) * 100)}" if match else op)
    return names


def _point_statistics(value: float, statistics: tuple[str, ...]) -> list[float]:
    """The statistics of a single value (a point site sees one pixel)."""
    return [0.0 if stat == "std" else value for stat in statistics]


def _value_at(dataset: rasterio.DatasetReader, x: float, y: float) -> float:
    """The raster's value at (x, y) in its CRS; NaN off the raster or on nodata."""
    row, col = rasterio.transform.rowcol(dataset.transform, x, y)
    if not (0 <= row < dataset.height and 0 <= col < dataset.width):
        return float("nan")
    cell = dataset.read(1, window=rasterio.windows.Window(col, row, 1, 1), masked=True)
    if np.ma.is_masked(cell):
        return float("nan")
    return float(cell[0, 0]) * dataset.scales[0] + dataset.offsets[0]
