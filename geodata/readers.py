"""Readers for the files of a data drop: they load rows as written, without judging them.

Judging (accept or quarantine) is ``geodata.validate``'s job. Readers only raise for
whole-file problems: unreadable files, no CRS, missing required columns. What they cannot
load of a single row as written goes into its ``read_problem`` for the validator.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import openpyxl.utils.exceptions
import pandas as pd
import pyogrio
import pyproj
import shapely

from residua.geodata.datadrop import ASSAY_NAMES
from residua.geodata.errors import CRSError, DataDropError, MissingColumnError
from residua.geodata.schema import (
    LAT_ALIASES,
    LON_ALIASES,
    SAMPLE_NUMERIC,
    SAMPLE_REQUIRED,
    SITE_NUMERIC,
    SITE_REQUIRED,
    SITE_TEXT,
    STORAGE_CRS,
    parse_assay_column,
)

WKT_COLUMNS: tuple[str, ...] = ("wkt", "geometry", "geom", "footprint_wkt", "the_geom")
SOURCE_ROW = "source_row"
#: What a reader could not load as written (e.g. a CSV line with extra fields); "" when nothing.
READ_PROBLEM = "read_problem"
KNOWN_COLUMNS: tuple[str, ...] = (*SITE_REQUIRED, *SITE_NUMERIC, *SITE_TEXT, *SAMPLE_REQUIRED, *SAMPLE_NUMERIC)
#: Field separators a CSV may use: the one that splits the header line into the most fields wins, ',' on a tie.
DELIMITERS: tuple[str, ...] = (",", ";", "\t")
#: Key of the :class:`CsvDialect` in the ``attrs`` of a frame read from CSV.
CSV_DIALECT = "csv_dialect"
#: Columns read as numbers (besides assay columns): only their cells are judged for decimal marks.
NUMERIC_COLUMNS: frozenset[str] = frozenset({"lon", "lat", "x", "y", *SITE_NUMERIC, *SAMPLE_NUMERIC})
_SEPARATOR_NAMES = {",": "','", ";": "';'", "\t": "tab"}

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
        sites.attrs[CSV_DIALECT] = frame.attrs[CSV_DIALECT]
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
    A drillhole assays table (``assays.csv`` or ``.xlsx``) is read with the collars and surveys
    beside it and desurveyed into the same columns (see :func:`residua.geodata.drillholes.read_drillholes`).
    """
    if path.name.lower() in ASSAY_NAMES:
        from residua.geodata.drillholes import read_drillholes  # late: drillholes reads its tables with this module

        return read_drillholes(path)
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


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file was written, as read: its separator and decimal mark, and what reading changed.

    ``decimal`` is ``"."``, ``","``, ``"mixed"`` or ``""`` (no decimal number seen); ``converted``
    counts decimal-comma cells read as decimals, ``thousands`` cells like ``1,234`` in a
    comma-separated file read with ',' as thousands separator (as :func:`residua.geodata.numbers.parse_decimal`
    does), ``ambiguous`` cells not read because either reading is possible (their rows carry a
    ``read_problem``); each ``*_example`` is the first such cell with its line and column.
    """

    delimiter: str = ","
    decimal: str = ""
    converted: int = 0
    thousands: int = 0
    ambiguous: int = 0
    converted_example: str = ""
    thousands_example: str = ""
    ambiguous_example: str = ""

    def describe(self) -> str:
        """What was detected, in words; ``""`` for a plain comma-separated file.

        >>> CsvDialect(";", ",", converted=2, converted_example="'12,5' (line 2, ga_ppm)").describe()
        "';'-separated, decimal commas (2 cells read as decimals, e.g. '12,5' (line 2, ga_ppm))"
        """
        parts = []
        if self.delimiter != ",":
            marks = {",": "decimal commas", ".": "decimal points", "mixed": "decimal commas and points mixed"}
            detected = f"{_SEPARATOR_NAMES[self.delimiter]}-separated"
            if self.decimal:
                detected += f", {marks[self.decimal]}"
            if self.converted:
                detected += f" ({_cells(self.converted)} read as decimals, e.g. {self.converted_example})"
            parts.append(detected)
        if self.thousands:
            parts.append(f"{_cells(self.thousands)} such as {self.thousands_example} read with ',' as thousands "
                         "separator (1,234 = 1234); write 1.234 if a decimal was meant")  # fmt: skip
        if self.ambiguous:
            parts.append(f"{_cells(self.ambiguous, 'ambiguous ')} such as {self.ambiguous_example} not read "
                         "(their rows are quarantined)")  # fmt: skip
        return "; ".join(parts)


def _cells(count: int, kind: str = "") -> str:
    """``'1 cell'``, ``'3 ambiguous cells'``."""
    return f"{count} {kind}cell{'' if count == 1 else 's'}"


def _sniff_delimiter(first_line: str) -> str:
    """The one of ``DELIMITERS`` that splits the header line into the most fields (',' on a tie).

    >>> _sniff_delimiter("site_id;ga_ppm"), _sniff_delimiter("a,b;c"), _sniff_delimiter("sample_id")
    (';', ',', ',')
    """
    counts = {delimiter: len(next(csv.reader([first_line], delimiter=delimiter), [])) for delimiter in DELIMITERS}
    return max(DELIMITERS, key=lambda delimiter: (counts[delimiter], delimiter == ","))


def read_table(path: Path, sheet: str, is_numeric: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """A CSV file or an Excel workbook (the sheet named ``sheet``, else the first) as text cells.

    Columns are lower-cased and stripped; ``source_row`` is the line (CSV) or worksheet row of
    each record, ``read_problem`` what could not be loaded as written. In a CSV separated by
    ``;`` or tabs, decimal commas in the columns ``is_numeric`` picks (default: the samples'
    numeric and assay columns) are read as decimals, as :func:`read_samples` does.

    Raises
    ------
    DataDropError
        If the file cannot be read, has no header or two columns whose names differ only in case.
    """
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(path, sheet)
    return _read_csv(path, is_numeric or _is_numeric_column)


def _is_numeric_column(column: str) -> bool:
    """True for the samples' and sites' numeric columns and assay columns, whose decimal marks are judged."""
    return column in NUMERIC_COLUMNS or parse_assay_column(str(column)) is not None


def _read_csv(path: Path, is_numeric: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Every non-blank record as text, with its first line number and any ``read_problem``.

    The separator is sniffed from the header line (``,``, ``;`` or tab); in a file not separated
    by commas, decimal commas in numeric columns (``is_numeric``; by default the samples' numeric
    and assay columns) are read as decimals (see :func:`_read_decimals`).
    The :class:`CsvDialect` found is in ``frame.attrs["csv_dialect"]``.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            delimiter = _sniff_delimiter(handle.readline())
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
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
    frame, dialect = _read_decimals(_records_frame(path, header, records, delimiter), delimiter, is_numeric)
    frame.attrs[CSV_DIALECT] = dialect
    return frame


_NUMBER_PREFIX = r"\s*(?:<\s*)?[-+]?"
#: ``1,234`` / ``1.234``: a decimal mark or a thousands separator, depending on the file.
_AMBIGUOUS_COMMA = re.compile(_NUMBER_PREFIX + r"[1-9]\d{0,2},\d{3}\s*")
_AMBIGUOUS_POINT = re.compile(_NUMBER_PREFIX + r"[1-9]\d{0,2}\.\d{3}\s*")
#: ``12,5``, ``0,123``, ``1,5e-3``, ``1.234,5``, ``1.234.567``: only a decimal-comma writer makes these.
_COMMA_DECIMAL = re.compile(
    _NUMBER_PREFIX + r"(?:\d+,\d+(?:[eE][-+]?\d+)?|\d{1,3}(?:\.\d{3})+,\d+|\d{1,3}(?:\.\d{3}){2,})\s*"
)
#: ``12.5``, ``.5``, ``1,234.5``, ``1,234,567``: only a decimal-point writer makes these.
_POINT_DECIMAL = re.compile(
    _NUMBER_PREFIX + r"(?:\d*\.\d+(?:[eE][-+]?\d+)?|\d{1,3}(?:,\d{3})+\.\d+|\d{1,3}(?:,\d{3}){2,})\s*"
)
_MANTISSA = re.compile(r"[\d.,]+")


def _decimal_kind(cell: str) -> str:
    """``"1,"``/``"1."`` (ambiguous ``1,234`` / ``1.234``), ``","`` or ``"."`` (decimal comma / point), else ``""``.

    >>> [_decimal_kind(text) for text in ("1,234", "1.234", "12,5", "<0,5", "12.5", "1,234.5", "55", "abc")]
    ['1,', '1.', ',', ',', '.', '.', '', '']
    """
    patterns = (("1,", _AMBIGUOUS_COMMA), ("1.", _AMBIGUOUS_POINT), (",", _COMMA_DECIMAL), (".", _POINT_DECIMAL))
    for kind, pattern in patterns:
        if pattern.fullmatch(cell):
            return kind
    return ""


def _decimal_kinds(cells: pd.Series, marks: str) -> pd.Series:
    """:func:`_decimal_kind` of each cell holding one of ``marks`` (a regex class), ``""`` for the others."""
    kinds = pd.Series("", index=cells.index, dtype=object)
    candidates = cells.str.contains(marks, regex=len(marks) > 1)
    kinds[candidates] = cells[candidates].map(_decimal_kind)
    return kinds


def _comma_to_point(cell: str) -> str:
    """A decimal-comma number written with a decimal point: ``'<1.234,5'`` -> ``'<1234.5'``."""
    return _MANTISSA.sub(lambda match: match.group().replace(".", "").replace(",", "."), cell, count=1)


def _read_decimals(
    frame: pd.DataFrame, delimiter: str, is_numeric: Callable[[str], bool] | None = None
) -> tuple[pd.DataFrame, CsvDialect]:
    """Numeric cells as :func:`residua.geodata.numbers.parse_decimal` reads them, and the :class:`CsvDialect`.

    Only numeric columns (``is_numeric``; by default ``NUMERIC_COLUMNS`` and assay columns) are
    judged. A comma-separated file is read as before: nothing is converted, and a cell like
    ``1,234`` keeps its thousands reading (counted in the dialect) unless other cells use decimal
    commas, when it is not read.
    In a ``;``- or tab-separated file unambiguous decimal commas (``12,5``, ``1.234,5``) are
    converted; a ``1,234`` or ``1.234`` is read by the file's decimal mark when the file uses one
    only, and is otherwise not read. A cell not read puts a ``read_problem`` on its row.
    """
    columns = [column for column in frame.columns if (is_numeric or _is_numeric_column)(str(column))]
    marks = "," if delimiter == "," else "[.,]"  # in a comma-separated file only cells with a comma can matter
    kinds = {column: _decimal_kinds(frame[column], marks) for column in columns}
    seen = {kind: any((values == kind).any() for values in kinds.values()) for kind in (",", ".")}
    if delimiter == ",":
        decimal = ""
    else:
        decimal = {(True, False): ",", (False, True): ".", (True, True): "mixed"}.get((seen[","], seen["."]), "")
    counts = {"converted": 0, "thousands": 0, "ambiguous": 0}
    examples: dict[str, str] = {}
    masks: dict[str, dict[str, pd.Series]] = {}
    for column, values in kinds.items():
        none = pd.Series(False, index=values.index)
        grouped_comma, grouped_point = values.eq("1,"), values.eq("1.")
        if delimiter == ",":  # as before: nothing converted; 1,234 is 1234 unless decimal commas say otherwise
            masks[column] = {"converted": none, "thousands": grouped_comma & (not seen[","]),
                             "ambiguous": grouped_comma & seen[","]}  # fmt: skip
        else:
            ambiguous = (grouped_comma & (decimal != ",")) | (grouped_point & (decimal != "."))
            masks[column] = {"converted": values.eq(",") | (grouped_comma & (decimal == ",")), "thousands": none,
                             "ambiguous": ambiguous}  # fmt: skip
        for name, mask in masks[column].items():
            if mask.any():
                counts[name] += int(mask.sum())
                examples.setdefault(name, _located(frame, column, mask))
    problems = frame[READ_PROBLEM].tolist()
    comma_example = next((_located(frame, column, values.eq(",")) for column, values in kinds.items()
                          if values.eq(",").any()), "")  # fmt: skip
    for column, mask in masks.items():
        for position in np.flatnonzero(mask["ambiguous"].to_numpy()):
            why = _ambiguous_problem(column, frame[column].iat[position], delimiter, decimal, comma_example)
            problems[position] = f"{problems[position]}; {why}" if problems[position] else why
        converted = mask["converted"]
        if converted.any():
            frame.loc[converted, column] = frame.loc[converted, column].map(_comma_to_point)
    frame[READ_PROBLEM] = problems
    return frame, CsvDialect(
        delimiter, decimal, counts["converted"], counts["thousands"], counts["ambiguous"],
        examples.get("converted", ""), examples.get("thousands", ""), examples.get("ambiguous", ""),
    )  # fmt: skip


def _located(frame: pd.DataFrame, column: str, mask: pd.Series) -> str:
    """The first cell of ``column`` where ``mask`` holds, with its line: ``'12,5' (line 3, ga_ppm)``."""
    first = mask.idxmax()
    return f"{frame.at[first, column]!r} (line {frame.at[first, SOURCE_ROW]}, {column})"


def _ambiguous_problem(column: str, cell: str, delimiter: str, decimal: str, comma_example: str) -> str:
    """Why a ``1,234`` / ``1.234`` cell is not read, and how to write it."""
    mark = "comma" if "," in cell else "point"
    number = cell.strip().lstrip("<").strip()
    as_decimal, as_thousands = number.replace(",", "."), number.replace(",", "").replace(".", "")
    separated = f"the {_SEPARATOR_NAMES[delimiter]}-separated file"
    context = (
        {
            "mixed": f"{separated} mixes decimal commas and points",
            "": f"no other number in {separated} shows its decimal mark",
            ".": f"{separated} writes decimals with points",
            ",": f"{separated} writes decimals with commas",
        }[decimal]
        if delimiter != ","
        else f"this comma-separated file also holds decimal commas (e.g. {comma_example})"
    )
    return (f"{column} {cell!r} is ambiguous: a decimal {mark} ({as_decimal}) or a thousands separator "
            f"({as_thousands})? {context}; write it with a decimal point and no thousands separator")  # fmt: skip


def _read_xlsx(path: Path, sheet_name: str = "samples") -> pd.DataFrame:
    """The sheet named ``sheet_name`` (else the first) of a workbook as text cells, each record with its row number."""
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, openpyxl.utils.exceptions.InvalidFileException) as error:
        raise DataDropError(
            path, f"cannot be read as an Excel workbook ({error})", "save it as .xlsx or CSV"
        ) from error
    try:
        names = {name.strip().lower(): name for name in workbook.sheetnames}
        sheet = workbook[names.get(sheet_name, workbook.sheetnames[0])]
        rows = [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    header = rows[0] if rows else None
    frame = _records_frame(path, header, list(enumerate(rows[1:], start=2)))
    frame.attrs["sheet"] = sheet.title
    return frame


def _cell_text(value: object) -> str:
    """A worksheet cell as the text a CSV would hold (``55``, ``<0.5``, ``2026-01-31``; blank for empty)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _records_frame(
    path: Path, header: list[str] | None, records: list[tuple[int, list[str]]], delimiter: str = ","
) -> pd.DataFrame:
    """Text records (first line or row number, cells) under ``header`` as a frame, with any ``read_problem``."""
    if not header:
        raise DataDropError(path, "has no header line", "start the file with a line of column names")
    width = len(header)
    separator, separators = {",": ("comma", "commas"), ";": ("';'", "';'"), "\t": ("tab", "tabs")}[delimiter]
    rows: list[list[str]] = []
    lines: list[int] = []
    problems: list[str] = []
    for line, fields in records:
        if not any(field.strip() for field in fields):
            continue  # a blank line: nothing to account for
        too_long = any(field.strip() for field in fields[width:])  # blank extras (a trailing comma) are harmless
        problems.append(
            f"{len(fields)} fields where the header has {width} (an unquoted {separator} in a cell?); "
            f"put double quotes around cells that contain {separators}"
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


def written_columns(frame: pd.DataFrame) -> list[str]:
    """The columns a table read here has from its file: without ``source_row`` and ``read_problem``."""
    return [str(column) for column in frame.columns if column not in (SOURCE_ROW, READ_PROBLEM)]


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], path: Path) -> None:
    """Stop naming the missing columns, the header as the file has it (the sheet read, for a workbook) and the fix."""
    missing = [column for column in required if column not in frame.columns]
    if not missing:
        return
    found = written_columns(frame)
    sheet = frame.attrs.get("sheet")
    columns = ", ".join(required)
    if sheet:
        read = f"header read from sheet '{sheet}'"
        fix = (f"name the sheet that holds the data 'samples' (it is read before any other; without one the first "
               f"sheet is), or give sheet '{sheet}' the column(s) {columns} in its first row")  # fmt: skip
    else:
        is_csv = path.suffix.lower() == ".csv"
        read = "header read" if is_csv else "columns read"
        fix = f"add or rename columns so that the file has {columns}"
        fix += ", the header on its first line (no lines above it)" if is_csv else ""
    raise MissingColumnError(path, f"missing required column(s) {', '.join(missing)} ({read}: {', '.join(found)})", fix)
