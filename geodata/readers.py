"""Readers for the files of a data drop: they load rows as written, without judging them.

Judging (accept or quarantine) is ``geodata.validate``'s job. Readers only raise for
whole-file problems: unreadable files, no CRS, missing required columns.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from geodata.errors import CRSError, DataDropError, MissingColumnError
from geodata.schema import (
    LAT_ALIASES,
    LON_ALIASES,
    SAMPLE_NUMERIC,
    SAMPLE_REQUIRED,
    SITE_NUMERIC,
    SITE_REQUIRED,
    SITE_TEXT,
    STORAGE_CRS,
)

WKT_COLUMNS: tuple[str, ...] = ("wkt", "geometry", "geom", "footprint_wkt", "the_geom")
SOURCE_ROW = "source_row"
KNOWN_COLUMNS: tuple[str, ...] = (*SITE_REQUIRED, *SITE_NUMERIC, *SITE_TEXT, *SAMPLE_REQUIRED, *SAMPLE_NUMERIC)


def read_sites(path: Path) -> gpd.GeoDataFrame:
    """Read a sites file (GeoPackage, GeoJSON, Shapefile or CSV) as written.

    Columns are lower-cased; ``source_row`` locates each row in the file: the line number
    for CSV (header = line 1), the feature number from 1 for vector files. Geometries
    stay in the file's CRS; rows with unusable geometry keep ``None`` for the validator.

    Raises
    ------
    DataDropError
        If the file cannot be read, has no CRS, has no rows or lacks a required column.
    """
    if path.suffix.lower() == ".csv":
        frame = _read_csv(path)
        sites = _geometry_from_csv(frame, path, allow_points=True)
    else:
        sites = _read_vector(path)
    if len(sites) == 0:
        raise DataDropError(path, "has no rows", "add one row per site")
    _require_columns(sites, SITE_REQUIRED, path)
    return sites


def read_samples(path: Path) -> pd.DataFrame:
    """Read a samples file as written: every cell kept as text so ``<0.5`` survives.

    A CSV needs ``lon``/``lat`` (or ``longitude``/``latitude``) or ``x``/``y`` with a
    ``crs`` column; a GeoPackage or GeoJSON gives point geometries with their CRS, which
    become ``lon``/``lat`` columns here.
    """
    if path.suffix.lower() == ".csv":
        frame = _read_csv(path)
    else:
        points = _read_vector(path)
        frame = pd.DataFrame(points.drop(columns="geometry")).astype(object)
        lonlat = points.geometry.to_crs(STORAGE_CRS)
        is_point = lonlat.geom_type == "Point"
        frame["lon"] = lonlat.x.where(is_point)
        frame["lat"] = lonlat.y.where(is_point)
    _require_columns(frame, SAMPLE_REQUIRED, path)
    has_lonlat = {"lon", "lat"} <= set(frame.columns)
    has_xy = {"x", "y"} <= set(frame.columns)
    if not has_lonlat and not has_xy:
        raise MissingColumnError(
            path,
            "no sample locations",
            "add lon and lat columns (WGS 84), or x, y and crs columns (e.g. crs = EPSG:32644)",
        )
    if has_xy and not has_lonlat and "crs" not in frame.columns:
        raise CRSError(
            path,
            "x and y are given without a crs column, so their coordinate system is unknown",
            "add a crs column (e.g. EPSG:32644 for UTM 44N) or give lon and lat instead",
        )
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise DataDropError(path, f"cannot be read as CSV ({error})", "save it as UTF-8 comma-separated text") from error
    frame = _normalise_columns(frame)
    frame.insert(0, SOURCE_ROW, range(2, len(frame) + 2))  # line number in the file; the header is line 1
    blank = (frame.drop(columns=SOURCE_ROW).apply(lambda column: column.str.strip()) == "").all(axis=1)
    return frame.loc[~blank].reset_index(drop=True)


def _read_vector(path: Path) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError, ValueError) as error:
        raise DataDropError(path, f"cannot be read ({error})", "check it opens in QGIS or with ogrinfo") from error
    if frame.crs is None:
        raise CRSError(
            path, "has no coordinate reference system", "assign one, e.g. ogr2ogr -a_srs EPSG:4326 fixed.gpkg this.gpkg"
        )
    frame = _normalise_columns(frame)
    frame.insert(0, SOURCE_ROW, range(1, len(frame) + 1))  # feature number, from 1
    return frame


def _normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    renamed = {column: str(column).strip().lower() for column in frame.columns if column != "geometry"}
    frame = frame.rename(columns=renamed)
    # Shapefile (DBF) field names stop at 10 characters: restore the contract's names.
    for name in KNOWN_COLUMNS:
        if len(name) > 10 and name not in frame.columns and name[:10] in frame.columns:
            frame = frame.rename(columns={name[:10]: name})
    for canonical, aliases in (("lon", LON_ALIASES), ("lat", LAT_ALIASES)):
        present = [alias for alias in aliases if alias in frame.columns]
        if present and canonical not in frame.columns:
            frame = frame.rename(columns={present[0]: canonical})
    return frame


def _geometry_from_csv(frame: pd.DataFrame, path: Path, allow_points: bool) -> gpd.GeoDataFrame:
    crs = _single_crs(frame, path)
    wkt_column = next((column for column in WKT_COLUMNS if column in frame.columns), None)
    if wkt_column is not None:
        geometry = [_parse_wkt(text) for text in frame[wkt_column]]
        frame = frame.drop(columns=wkt_column)
    elif allow_points and {"lon", "lat"} <= set(frame.columns):
        lon = pd.to_numeric(frame["lon"], errors="coerce")
        lat = pd.to_numeric(frame["lat"], errors="coerce")
        geometry = [shapely.Point(x, y) if pd.notna(x) and pd.notna(y) else None for x, y in zip(lon, lat)]
        crs = STORAGE_CRS
    else:
        raise MissingColumnError(
            path, "no geometry column", f"add a WKT column named one of {', '.join(WKT_COLUMNS)}, or lon and lat"
        )
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=crs)


def _single_crs(frame: pd.DataFrame, path: Path) -> str:
    if "crs" not in frame.columns:
        return STORAGE_CRS
    values = {value.strip() for value in frame["crs"] if value.strip()}
    if len(values) > 1:
        raise CRSError(path, f"mixes several CRSs ({', '.join(sorted(values))})", "reproject all rows to one CRS")
    return values.pop() if values else STORAGE_CRS


def _parse_wkt(text: str) -> shapely.Geometry | None:
    if not text or not text.strip():
        return None
    try:
        return shapely.from_wkt(text)
    except shapely.errors.GEOSException:
        return None


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], path: Path) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise MissingColumnError(
            path,
            f"missing required column(s) {', '.join(missing)} (found: {', '.join(map(str, frame.columns))})",
            f"add or rename columns so the file has {', '.join(required)}",
        )
