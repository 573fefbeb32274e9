"""Readers for the files of a data drop: they load rows as written, without judging them.

Judging (accept or quarantine) is ``geodata.validate``'s job. Readers only raise for
whole-file problems: unreadable files, no CRS, missing required columns. What they cannot
load of a single row as written goes into its ``read_problem`` for the validator.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import openpyxl.utils.exceptions
import pandas as pd
import pyogrio
import pyproj
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
#: What a reader could not load as written (e.g. a CSV line with extra fields); "" when nothing.
READ_PROBLEM = "read_problem"
KNOWN_COLUMNS: tuple[str, ...] = (*SITE_REQUIRED, *SITE_NUMERIC, *SITE_TEXT, *SAMPLE_REQUIRED, *SAMPLE_NUMERIC)

csv.field_size_limit(2**31 - 1)  # a detailed footprint's WKT can exceed the default 128 KiB per cell


def read_sites(path: Path) -> gpd.GeoDataFrame:
    """Read a sites file (GeoPackage, GeoJSON, Shapefile or CSV) as written.

    Columns are lower-cased; ``source_row`` locates each row in the file: the line number
    for CSV (header = line 1), the feature number from 1 for vector files (a column of
    that name in the file is kept as ``source_row_as_written``). ``read_problem`` says what
    could not be loaded as written, e.g. a CSV line with more fields than the header.
    Geometries stay in the file's CRS; rows with unusable geometry keep ``None`` for the
    validator.

    Raises
    ------
    DataDropError
        If the file cannot be read, has no geometry column, no or an unknown CRS, no rows,
        lacks a required column or has two columns whose names differ only in case.
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

    A CSV or an Excel workbook (``.xlsx``: the sheet named ``samples``, else the first; the
    header in row 1) needs ``lon``/``lat`` (or ``longitude``/``latitude``) or ``x``/``y``
    with a ``crs`` column; a GeoPackage or GeoJSON gives point geometries with their CRS,
    which become ``lon``/``lat`` columns here (blank, with a ``read_problem``, for other shapes).
    """
    if path.suffix.lower() == ".csv":
        frame = _read_csv(path)
    elif path.suffix.lower() == ".xlsx":
        frame = _read_xlsx(path)
    else:
        frame = _points_to_lonlat(_read_vector(path))
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
    """Every non-blank record as text, with its first line number and any ``read_problem``."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            records: list[tuple[int, list[str]]] = []
            line = reader.line_num + 1  # where the next record starts (a quoted cell may span lines)
            for fields in reader:
                records.append((line, fields))
                line = reader.line_num + 1
    except (csv.Error, UnicodeDecodeError, OSError) as error:
        raise DataDropError(
            path, f"cannot be read as CSV ({error})", "save it as UTF-8 comma-separated text"
        ) from error
    return _records_frame(path, header, records)


def _read_xlsx(path: Path) -> pd.DataFrame:
    """The ``samples`` sheet (else the first) of a workbook as text cells, each record with its row number."""
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, openpyxl.utils.exceptions.InvalidFileException) as error:
        raise DataDropError(path, f"cannot be read as an Excel workbook ({error})", "save it as .xlsx or CSV") from error
    try:
        names = {name.strip().lower(): name for name in workbook.sheetnames}
        sheet = workbook[names.get("samples", workbook.sheetnames[0])]
        rows = [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    header = rows[0] if rows else None
    return _records_frame(path, header, list(enumerate(rows[1:], start=2)))


def _cell_text(value: object) -> str:
    """A worksheet cell as the text a CSV would hold (``55``, ``<0.5``, ``2026-01-31``; blank for empty)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _records_frame(path: Path, header: list[str] | None, records: list[tuple[int, list[str]]]) -> pd.DataFrame:
    """Text records (first line or row number, cells) under ``header`` as a frame, with any ``read_problem``."""
    if not header:
        raise DataDropError(path, "has no header line", "start the file with a line of column names")
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    problems: list[str] = []
    for line, fields in records:
        if not any(field.strip() for field in fields):
            continue  # a blank line: nothing to account for
        too_long = any(field.strip() for field in fields[width:])  # blank extras (a trailing comma) are harmless
        problems.append(
            f"{len(fields)} fields where the header has {width} (an unquoted comma in a cell?); "
            "put double quotes around cells that contain commas"
            if too_long
            else ""
        )
        rows.append(fields[:width] + [""] * (width - len(fields)))
        lines.append(line)
    columns = [name if name.strip() else f"unnamed: {position}" for position, name in enumerate(header)]
    frame = _normalise_columns(pd.DataFrame(rows, columns=columns, dtype=str), path)
    frame.insert(0, SOURCE_ROW, lines)
    frame[READ_PROBLEM] = problems
    return frame


def _read_vector(path: Path) -> gpd.GeoDataFrame:
    try:  # a geometry GEOS cannot decode (e.g. an unclosed ring) becomes None, for the validator
        frame = gpd.read_file(path, engine="pyogrio", on_invalid="ignore")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError, ValueError) as error:
        raise DataDropError(path, f"cannot be read ({error})", "check it opens in QGIS or with ogrinfo") from error
    if not isinstance(frame, gpd.GeoDataFrame):
        raise DataDropError(
            path,
            "has no geometry column (a table without site footprints or sample points)",
            "save the layer with its geometries, or use a CSV with a wkt column (sites) or lon and lat (samples)",
        )
    if frame.crs is None:
        raise CRSError(
            path, "has no coordinate reference system", "assign one, e.g. ogr2ogr -a_srs EPSG:4326 fixed.gpkg this.gpkg"
        )
    frame = _normalise_columns(frame, path)
    frame.insert(0, SOURCE_ROW, range(1, len(frame) + 1))  # feature number, from 1
    frame[READ_PROBLEM] = ""
    return frame


def _points_to_lonlat(points: gpd.GeoDataFrame) -> pd.DataFrame:
    """Attributes with ``lon``/``lat`` of point geometries; other shapes get a ``read_problem``."""
    frame = pd.DataFrame(points.drop(columns="geometry")).astype(object)
    lonlat = points.geometry.to_crs(STORAGE_CRS)
    usable = (lonlat.geom_type == "Point") & ~lonlat.is_empty
    points_only = lonlat.where(usable)
    frame["lon"] = points_only.x
    frame["lat"] = points_only.y
    other = lonlat.notna() & ~lonlat.is_empty & ~usable
    frame.loc[other, READ_PROBLEM] = [
        f"geometry is a {kind}; a sample needs a Point location" for kind in lonlat.geom_type[other]
    ]
    return frame


def _normalise_columns(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Lower-cased, stripped column names with the contract's spellings; raise on clashes."""
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
    frame = frame.rename(columns={name: f"{name}_as_written" for name in (SOURCE_ROW, READ_PROBLEM)})
    clashes = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
    if clashes:
        raise DataDropError(
            path,
            f"has several columns named {', '.join(map(repr, clashes))} once upper/lower case and spaces are ignored",
            "keep one column of each name and rename or delete the others",
        )
    return frame


def _geometry_from_csv(frame: pd.DataFrame, path: Path, allow_points: bool) -> gpd.GeoDataFrame:
    crs: pyproj.CRS | str = _single_crs(frame, path)
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


def _single_crs(frame: pd.DataFrame, path: Path) -> pyproj.CRS:
    """The one CRS named in the ``crs`` column (lon/lat when there is none)."""
    values = {value.strip() for value in frame["crs"] if value.strip()} if "crs" in frame.columns else set()
    if len(values) > 1:
        raise CRSError(path, f"mixes several CRSs ({', '.join(sorted(values))})", "reproject all rows to one CRS")
    text = values.pop() if values else STORAGE_CRS
    try:
        return pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError as error:
        raise CRSError(
            path, f"crs {text!r} is not a known coordinate reference system", "write an EPSG code, e.g. EPSG:32644"
        ) from error


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
