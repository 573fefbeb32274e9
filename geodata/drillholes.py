"""Drillhole databases' collar, survey and assay tables, read as samples.

acQuire, Datashed and MX Deposit export a drillhole database as three tables: ``collars``
(one row per hole: where it starts and how deep it goes), downhole ``surveys`` (azimuth and
dip at depths along the hole) and ``assays`` (intervals from-to along the hole, with assay
columns as ``samples.csv`` has them). :func:`read_drillholes` desurveys every interval by
minimum curvature and returns the rows :func:`residua.geodata.readers.read_samples` returns for a
samples file, so validation, quarantine, compositing and the grade models take them unchanged.

Conventions
-----------
- Depths are metres along the hole from the collar. ``dip`` is degrees below horizontal,
  negative downward (-90 = vertical), as most databases write it; a table whose every dip is
  zero or positive is read as positive downward. ``azimuth`` is degrees clockwise from the
  grid north of the collar's CRS (UTM grid north for lon/lat collars), in [0, 360).
- A hole without survey rows runs straight: along the collar's ``azimuth`` and ``dip`` where
  the collars table has them, else vertically down. The first survey's orientation holds from
  the collar to it, the last one's below the last survey.
- ``depth_from_m`` / ``depth_to_m`` are the vertical depths below the collar of the interval's
  ends (the depth the grade models use); ``x``, ``y`` (or ``lon``, ``lat`` for lon/lat collars)
  the position of the interval's midpoint, ``elevation_m`` its height when the collar has an
  elevation. The along-hole depths stay in ``from_m`` / ``to_m`` as written.

What is wrong with one hole or interval is put in the ``read_problem`` of the assay rows it
affects, with the file and line it comes from, so the validator quarantines those rows: rows
in = assay rows, always.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
from numpy.typing import ArrayLike

from residua.geodata.datadrop import find_drillhole_files
from residua.geodata.errors import CRSError, DataDropError, MissingColumnError
from residua.geodata.numbers import is_decimal_text, parse_decimal
from residua.geodata.readers import CSV_DIALECT, READ_PROBLEM, SOURCE_ROW, read_table, written_columns
from residua.geodata.schema import (
    ASSAY_INTERVAL_COLUMNS,
    ASSAY_INTERVAL_REQUIRED,
    COLLAR_COLUMNS,
    COLLAR_REQUIRED,
    STORAGE_CRS,
    SURVEY_COLUMNS,
    SURVEY_REQUIRED,
    parse_assay_column,
)

#: How far (m) an interval may reach below its hole's ``max_depth_m``: exports round depths to the cm.
DEPTH_TOLERANCE_M = 0.005
#: Key of the list of notes (rows of the drillhole tables that no sample uses) in the ``attrs`` of the frame.
DRILLHOLE_NOTES = "drillhole_notes"
#: Columns :func:`read_drillholes` writes; an assays column of the same name is kept as ``<name>_as_written``.
OUTPUT_COLUMNS: tuple[str, ...] = ("lon", "lat", "x", "y", "crs", "depth_from_m", "depth_to_m", "elevation_m")
_NUMERIC = frozenset({"lon", "lat", "x", "y", "elevation_m", "max_depth_m", "azimuth", "dip", "depth_m", "from_m",
                      "to_m"})  # fmt: skip
_STRAIGHT = 1e-9  # radians: a dogleg below this is a straight segment (RF = 1)
_WRITTEN_AS = "columns_as_written"  # attrs key: name used here -> the column's name in the file


def read_drillholes(
    assays_path: Path, collars_path: Path | None = None, surveys_path: Path | None = None
) -> pd.DataFrame:
    """Read a drillhole database's assays as sample rows, desurveyed along their holes.

    Parameters
    ----------
    assays_path
        ``assays.csv`` or ``.xlsx``: ``hole_id``, ``from``, ``to`` (m along the hole), assay
        columns as in ``samples.csv`` (``ga_ppm``, ``Te (ppm)``, ``<0.5``), optional
        ``sample_id`` and ``site_id``.
    collars_path
        ``collars.csv`` or ``.xlsx``: ``hole_id``, ``max_depth_m``, a location as samples give
        it (``lon``/``lat``, or ``x``/``y`` (``easting``/``northing``) with a ``crs`` column),
        optional ``elevation_m``, ``site_id``, ``azimuth`` and ``dip`` (for holes without
        surveys). Found beside ``assays_path`` when not given.
    surveys_path
        Optional ``surveys.csv`` or ``.xlsx``: ``hole_id``, ``depth``, ``azimuth``, ``dip``.
        Found beside ``assays_path`` when ``collars_path`` is not given.

    Returns
    -------
    pandas.DataFrame
        One row per assay record, as :func:`residua.geodata.readers.read_samples` returns a samples
        file: text cells, ``source_row`` (the assays line or worksheet row), ``sample_id`` (as
        written, else ``<hole_id>:<from>-<to>``), ``hole_id``, ``site_id`` (the assay's, else the
        collar's), ``lon``/``lat`` or ``x``/``y``/``crs`` of the interval's midpoint, vertical
        ``depth_from_m``/``depth_to_m`` below the collar, ``elevation_m``, the other assays
        columns as written (``from_m``, ``to_m``, assays) and ``read_problem``. Survey rows of
        holes without a collar are listed in ``attrs["drillhole_notes"]``.

    Raises
    ------
    DataDropError
        If a table cannot be read, lacks a required column or has two columns for one name,
        or the collars give x and y without a ``crs`` column.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "collars.csv").write_text("hole_id,x,y,crs,max_depth\\nDH1,500000,2300000,EPSG:32644,30\\n")
    >>> _ = (folder / "surveys.csv").write_text("hole_id,depth,azimuth,dip\\nDH1,0,90,-60\\n")
    >>> _ = (folder / "assays.csv").write_text("hole_id,from,to,ga_ppm\\nDH1,10,20,55\\n")
    >>> row = read_drillholes(folder / "assays.csv").iloc[0]
    >>> float(row["x"]), float(row["y"]), round(float(row["depth_from_m"]), 3), round(float(row["depth_to_m"]), 3)
    (500007.5, 2300000.0, 8.66, 17.321)
    """
    if collars_path is None:
        files = find_drillhole_files(assays_path.parent)
        if files is None:  # unreachable when assays_path exists: find_drillhole_files sees it
            raise DataDropError(assays_path, "no drillhole tables found", "add collars.csv beside assays.csv")
        collars_path, surveys_path = files.collars, files.surveys
    collars = _read(collars_path, "collars", COLLAR_COLUMNS, COLLAR_REQUIRED)
    _require_location(collars, collars_path)
    surveys = _read(surveys_path, "surveys", SURVEY_COLUMNS, SURVEY_REQUIRED) if surveys_path is not None else None
    assays = _read(assays_path, "assays", ASSAY_INTERVAL_COLUMNS, ASSAY_INTERVAL_REQUIRED)
    holes = _collar_holes(collars, collars_path)
    notes = []
    if surveys is not None:
        _survey_stations(surveys, surveys_path, holes)
        notes = _unused_surveys(surveys, surveys_path, holes, collars_path)
    _collar_stations(collars, holes)
    samples = _samples(assays, holes, collars_path)
    samples.attrs[CSV_DIALECT] = assays.attrs.get(CSV_DIALECT)
    samples.attrs[DRILLHOLE_NOTES] = notes
    return samples


def unused_survey_rows(collars_path: Path, surveys_path: Path) -> list[str]:
    """Why survey rows are not used: one note per table, naming holes without a collar ([] if none).

    For the file listing of ``residua validate``; tables that cannot be read give [] (reading
    the samples reports why).
    """
    try:
        collars = _read(collars_path, "collars", COLLAR_COLUMNS, COLLAR_REQUIRED)
        surveys = _read(surveys_path, "surveys", SURVEY_COLUMNS, SURVEY_REQUIRED)
    except DataDropError:
        return []
    known = {hole: None for hole in collars["hole_id"].map(_text) if hole}
    return _unused_surveys(surveys, surveys_path, known, collars_path)


def desurvey(
    hole: ArrayLike,
    depth: ArrayLike,
    station_hole: ArrayLike = (),
    station_depth: ArrayLike = (),
    azimuth: ArrayLike = (),
    dip: ArrayLike = (),
) -> np.ndarray:
    """Offsets (east, north, down) in metres from each hole's collar to points along it, by minimum curvature.

    Between two survey stations the hole is the circular arc that leaves the first along its
    direction and arrives along the second's: with the dogleg angle ``beta`` between the two
    directions ``t1``, ``t2`` and ratio factor ``RF = 2 / beta * tan(beta / 2)`` (1 when ``beta``
    is 0), a step of length ``L`` moves by ``L / 2 * RF * (t1 + t2)``. A point inside a step is
    on the same arc: its direction is the arc's at that length and the same formula gives the
    sub-step. The first station's direction holds from the collar to it, the last one's below
    it; a hole without stations is vertical.

    Parameters
    ----------
    hole, depth
        The points: their hole and depth along it (m, at least 0).
    station_hole, station_depth, azimuth, dip
        The survey stations: hole, depth along it (m), azimuth (degrees clockwise from north)
        and dip (degrees below horizontal, negative downward: -90 is vertical). One hole's
        stations may come in any order; no two at the same depth.

    Returns
    -------
    numpy.ndarray
        Shape (n, 3): east, north and down offsets of each point from its hole's collar.

    Raises
    ------
    ValueError
        If a depth is negative or not finite, the station arrays differ in length, or a hole
        has two stations at one depth.

    Examples
    --------
    >>> desurvey(["A", "A"], [10.0, 20.0]).tolist()  # no survey: straight down
    [[0.0, 0.0, 10.0], [0.0, 0.0, 20.0]]
    >>> np.round(desurvey(["B"], [15.0], ["B"], [0.0], [90.0], [-60.0]), 3).tolist()  # 60 degrees to the east
    [[7.5, 0.0, 12.99]]
    """
    depth = np.asarray(depth, dtype=float)
    station_depth = np.asarray(station_depth, dtype=float)
    azimuth, dip = np.asarray(azimuth, dtype=float), np.asarray(dip, dtype=float)
    hole, station_hole = np.asarray(hole, dtype=object), np.asarray(station_hole, dtype=object)
    if len(hole) != len(depth) or not len(station_hole) == len(station_depth) == len(azimuth) == len(dip):
        raise ValueError("hole and depth, and the four station arrays, must each have one length")
    if not (np.isfinite(depth).all() and (depth >= 0).all() and np.isfinite(station_depth).all()):
        raise ValueError("depths must be finite and at least 0 (metres along the hole from the collar)")
    keys = pd.Index(pd.unique(np.concatenate([hole, station_hole])))
    stations = pd.DataFrame({"hole": keys.get_indexer(station_hole), "depth": station_depth})
    if stations.duplicated().any():
        raise ValueError("a hole has two survey stations at one depth; keep one")
    return _desurvey(keys.get_indexer(hole), depth, stations["hole"].to_numpy(), station_depth, azimuth, dip)


def _desurvey(
    hole: np.ndarray, depth: np.ndarray, station_hole: np.ndarray, station_depth: np.ndarray,
    azimuth: np.ndarray, dip: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """:func:`desurvey` on integer hole codes, inputs checked."""
    if not len(hole):
        return np.empty((0, 3))
    end = max(float(depth.max(initial=0.0)), float(station_depth.max(initial=0.0))) + 1.0  # below every point
    order = np.lexsort((station_depth, station_hole))
    holes, depths, tangents = station_hole[order], station_depth[order], _tangents(azimuth[order], dip[order])
    surveyed, first = np.unique(holes, return_index=True)
    last = (np.r_[first[1:], len(holes)].astype(int) - 1)[: len(first)]
    unsurveyed = np.setdiff1d(np.arange(int(max(hole.max(initial=-1), holes.max(initial=-1))) + 1), surveyed)
    below_collar = depths[first] > 0
    vertical = np.tile([0.0, 0.0, 1.0], (len(unsurveyed), 1))
    # Pad every hole with a station at the collar and one below its deepest point.
    holes = np.concatenate([holes, surveyed[below_collar], surveyed, unsurveyed, unsurveyed])
    depths = np.concatenate([depths, np.zeros(below_collar.sum()), np.full(len(surveyed), end),
                             np.zeros(len(unsurveyed)), np.full(len(unsurveyed), end)])  # fmt: skip
    tangents = np.concatenate([tangents, tangents[first[below_collar]], tangents[last], vertical, vertical])
    order = np.lexsort((depths, holes))
    holes, depths, tangents = holes[order], depths[order], tangents[order]
    same_hole = holes[1:] == holes[:-1]
    dogleg = np.arccos(np.clip(np.einsum("ij,ij->i", tangents[:-1], tangents[1:]), -1.0, 1.0))
    step = np.where(same_hole, np.diff(depths) / 2 * _ratio_factor(dogleg), 0.0)[:, None]
    positions = np.vstack([np.zeros(3), np.cumsum(step * (tangents[:-1] + tangents[1:]), axis=0)])
    starts = np.r_[0, np.flatnonzero(~same_hole) + 1]
    positions -= positions[starts[np.searchsorted(starts, np.arange(len(holes)), side="right") - 1]]
    span = end + 1.0  # one key per (hole, depth), holes apart by more than any depth
    segment = np.searchsorted(holes * span + depths, hole * span + depth, side="right") - 1
    segment = np.clip(segment, 0, len(depths) - 2)
    start, length = depths[segment], depths[segment + 1] - depths[segment]
    along = np.divide(depth - start, length, out=np.zeros(len(depth)), where=length > 0)
    beta, t1, t2 = dogleg[segment], tangents[segment], tangents[segment + 1]
    curved = (beta > _STRAIGHT) & (np.sin(beta) > 1e-12)
    sin_beta = np.where(curved, np.sin(beta), 1.0)
    w1 = np.where(curved, np.sin((1 - along) * beta) / sin_beta, 1 - along)
    w2 = np.where(curved, np.sin(along * beta) / sin_beta, along)
    here = w1[:, None] * t1 + w2[:, None] * t2  # the arc's direction at the point
    here /= np.linalg.norm(here, axis=1, keepdims=True)
    sub_step = (depth - start) / 2 * _ratio_factor(along * beta)
    return positions[segment] + sub_step[:, None] * (t1 + here)


def _tangents(azimuth: np.ndarray, dip: np.ndarray) -> np.ndarray:
    """Unit (east, north, down) directions of stations; dip negative downward."""
    azimuth, dip = np.radians(azimuth), np.radians(dip)
    horizontal = np.cos(dip)
    return np.column_stack([horizontal * np.sin(azimuth), horizontal * np.cos(azimuth), -np.sin(dip)])


def _ratio_factor(beta: np.ndarray) -> np.ndarray:
    """Minimum curvature's ratio factor ``2 / beta * tan(beta / 2)``, 1 for a straight step.

    >>> _ratio_factor(np.array([0.0, np.pi / 2])).round(4).tolist()
    [1.0, 1.2732]
    """
    beta = np.asarray(beta, dtype=float)
    curved = beta > _STRAIGHT
    safe = np.where(curved, beta, 1.0)
    return np.where(curved, 2 / safe * np.tan(safe / 2), 1.0)


@dataclass
class _Hole:
    """One collared hole: where its offsets are added, its stations, and what is wrong with it."""

    line: int
    where: str  # its collar row, as "collars.csv line 3"
    crs: str = ""  # the CRS the collar's x, y are in and offsets are added in ("" when not located)
    x: float = math.nan
    y: float = math.nan
    metres_per_unit: float = 1.0
    lonlat: bool = False  # given in lon/lat: written back as lon, lat
    elevation: float = math.nan
    max_depth: float = math.nan
    site_id: str = ""
    stations: list[tuple[float, float, float, str]] = field(default_factory=list)  # depth, azimuth, dip, where
    problems: list[str] = field(default_factory=list)


def _read(path: Path, sheet: str, columns: Mapping[str, tuple[str, ...]], required: tuple[str, ...]) -> pd.DataFrame:
    """A drillhole table as text cells with the names used here; raise when a required column is missing."""

    def is_numeric(column: str) -> bool:
        return column in _NUMERIC or _canonical(column, columns) in _NUMERIC or parse_assay_column(column) is not None

    frame = read_table(path, sheet, is_numeric)
    renamed: dict[str, str] = {}
    for column in frame.columns:
        name = _canonical(str(column), columns)
        if name is None or column in (SOURCE_ROW, READ_PROBLEM):
            continue
        clash = next((other for other, target in renamed.items() if target == name), None)
        if clash is not None:
            raise DataDropError(path, f"has two columns for {name}: {clash!r} and {column!r}",
                                "keep one of them and rename or delete the other")  # fmt: skip
        renamed[str(column)] = name
    if sheet == "assays":  # the columns written here keep an assay table's own as written
        kept = {column: f"{column}_as_written" for column in OUTPUT_COLUMNS
                if column in frame.columns and column not in renamed}  # fmt: skip
        frame = frame.rename(columns=kept)
    frame = frame.rename(columns=renamed)
    frame.attrs[_WRITTEN_AS] = {name: column for column, name in renamed.items()}
    missing = [name for name in required if name not in frame.columns]
    if missing:
        spellings = "; ".join(f"{name}: {', '.join(columns[name])}" for name in missing)
        raise MissingColumnError(
            path,
            f"missing required column(s) {', '.join(missing)} (found: {', '.join(written_columns(frame))})",
            f"add or rename columns so the file has {', '.join(required)} (accepted spellings, any case: {spellings})",
        )
    return frame


def _canonical(column: str, columns: Mapping[str, tuple[str, ...]]) -> str | None:
    """The name used here for a column as written, or None.

    >>> [_canonical(column, COLLAR_COLUMNS) for column in ("Max Depth (m)", "HoleID", "Ga")]
    ['max_depth_m', 'hole_id', None]
    """
    key = re.sub(r"[^0-9a-z]+", "_", str(column).lower()).strip("_")
    return next((name for name, aliases in columns.items() if key in aliases), None)


def _require_location(collars: pd.DataFrame, path: Path) -> None:
    """Raise unless the collars give lon/lat, or x/y with a crs column (as a samples file must)."""
    has_lonlat, has_xy = {"lon", "lat"} <= set(collars.columns), {"x", "y"} <= set(collars.columns)
    if not has_lonlat and not has_xy:
        raise MissingColumnError(
            path, "no collar locations",
            "add lon and lat columns (WGS 84), or x and y (or easting and northing) and crs columns (e.g. EPSG:32644)",
        )  # fmt: skip
    if has_xy and not has_lonlat and "crs" not in collars.columns:
        raise CRSError(
            path, "x and y are given without a crs column, so their coordinate system is unknown",
            "add a crs column (e.g. EPSG:32644 for UTM 44N) or give lon and lat instead",
        )  # fmt: skip


def _collar_holes(collars: pd.DataFrame, path: Path) -> dict[str, _Hole]:
    """One :class:`_Hole` per hole id, located in a metric CRS; a hole's collar problems in its ``problems``."""
    numbers = {name: _numbers(collars, name) for name in ("lon", "lat", "x", "y", "max_depth_m", "elevation_m")}
    depth_label = collars.attrs.get(_WRITTEN_AS, {}).get("max_depth_m", "max_depth_m")
    holes: dict[str, _Hole] = {}
    for position, row in enumerate(collars.to_dict("records")):
        hole_id = _text(row.get("hole_id"))
        if not hole_id:
            continue  # a collar row without a hole id locates nothing
        where = _at(path, int(row[SOURCE_ROW]))
        if hole_id in holes:
            holes[hole_id].problems.append(f"{where} repeats the collar of {holes[hole_id].where}; "
                                           "keep one collar row per hole")  # fmt: skip
            continue
        hole = holes[hole_id] = _Hole(int(row[SOURCE_ROW]), where, site_id=_text(row.get("site_id")))
        value = {name: (values[position], why[position]) for name, (values, why) in numbers.items()}
        problems = [why for _, why in value.values() if why]
        if _text(row.get(READ_PROBLEM)):
            problems.append(_text(row.get(READ_PROBLEM)))
        hole.max_depth, hole.elevation = value["max_depth_m"][0], value["elevation_m"][0]
        if not value["max_depth_m"][1] and not hole.max_depth > 0:
            problems.append(f"{depth_label} is empty or not positive; give the hole's depth in metres along the hole")
        location = _locate(value, _text(row.get("crs")), hole)
        if location:
            problems.append(location)
        hole.problems.extend(f"collar at {where}: {problem}" for problem in problems)
    return holes


def _locate(value: Mapping[str, tuple[float, str]], crs_text: str, hole: _Hole) -> str:
    """Set the hole's metric CRS and collar x, y from lon/lat or x/y/crs; return the problem, if any."""
    lon, lat, x, y = (value[name][0] for name in ("lon", "lat", "x", "y"))
    if np.isfinite(lon) and np.isfinite(lat):
        source = STORAGE_CRS
        x, y = lon, lat
    elif np.isfinite(x) and np.isfinite(y) and crs_text:
        source = crs_text
        crs = _crs(crs_text)
        if crs is None:
            return f"crs {crs_text!r} is not a known coordinate system (write e.g. EPSG:32644)"
        if not crs.is_geographic:
            hole.crs, hole.x, hole.y = crs_text, x, y
            hole.metres_per_unit = float(crs.axis_info[0].unit_conversion_factor)
            return ""
    else:
        return "no location: give lon and lat, or x, y and crs"
    lon, lat = _transformer(source, STORAGE_CRS).transform(x, y)
    if not (-180 <= lon <= 180 and -80 <= lat <= 84):
        return f"location ({lon:g}, {lat:g}) is outside lon/lat bounds (or the UTM zones, 80S to 84N)"
    hole.crs = f"EPSG:{(32600 if lat >= 0 else 32700) + min(int((lon + 180) // 6) + 1, 60)}"
    hole.x, hole.y = _transformer(STORAGE_CRS, hole.crs).transform(lon, lat)
    hole.lonlat = True
    return ""


def _survey_stations(surveys: pd.DataFrame, path: Path, holes: dict[str, _Hole]) -> None:
    """Add each survey row to its hole's stations, or its problems to the hole's."""
    depth, depth_why = _numbers(surveys, "depth_m")
    azimuth, azimuth_why = _numbers(surveys, "azimuth")
    dip, dip_why = _numbers(surveys, "dip")
    downward = _downward_sign(dip)
    for position, row in enumerate(surveys.to_dict("records")):
        hole = holes.get(_text(row.get("hole_id")))
        if hole is None:
            continue  # listed by _unused_surveys
        where = _at(path, int(row[SOURCE_ROW]))
        problems = [why for why in (depth_why[position], azimuth_why[position], dip_why[position]) if why]
        if _text(row.get(READ_PROBLEM)):
            problems.append(_text(row.get(READ_PROBLEM)))
        if not depth_why[position] and not depth[position] >= 0:
            problems.append("depth is empty or negative; give metres along the hole from the collar")
        elif depth[position] > hole.max_depth + DEPTH_TOLERANCE_M:
            problems.append(f"depth {depth[position]:g} m is below the hole's max_depth_m {hole.max_depth:g} "
                            f"({hole.where})")  # fmt: skip
        problems.extend(_orientation_problems(azimuth[position], azimuth_why[position], dip[position],
                                              dip_why[position], downward))  # fmt: skip
        if problems:
            hole.problems.append(f"survey at {where}: {'; '.join(problems)}; fix or remove the survey row")
            continue
        hole.stations.append((depth[position], _azimuth_or_north(azimuth[position]), -abs(dip[position]), where))
    for hole in holes.values():
        seen: dict[float, str] = {}
        for station_depth, _, _, where in hole.stations:
            if station_depth in seen:
                hole.problems.append(f"surveys at {seen[station_depth]} and {where} are both at depth "
                                     f"{station_depth:g} m; keep one")  # fmt: skip
            seen.setdefault(station_depth, where)


def _collar_stations(collars: pd.DataFrame, holes: dict[str, _Hole]) -> None:
    """A hole without surveys runs straight along its collar's azimuth and dip, when the collars give them."""
    if "dip" not in collars.columns:
        return
    azimuth, azimuth_why = _numbers(collars, "azimuth")
    dip, dip_why = _numbers(collars, "dip")
    downward = _downward_sign(dip)
    for position, row in enumerate(collars.to_dict("records")):
        hole = holes.get(_text(row.get("hole_id")))
        if hole is None or hole.line != int(row[SOURCE_ROW]) or hole.stations or not _text(row.get("dip")):
            continue
        problems = _orientation_problems(azimuth[position], azimuth_why[position], dip[position], dip_why[position],
                                         downward)  # fmt: skip
        if problems:
            hole.problems.append(f"collar at {hole.where}: {'; '.join(problems)}; fix the collar's "
                                 "azimuth and dip")  # fmt: skip
        else:
            hole.stations.append((0.0, _azimuth_or_north(azimuth[position]), -abs(dip[position]), hole.where))


def _downward_sign(dip: np.ndarray) -> float:
    """-1 when a table writes downward dips as negative (the usual way), +1 when its every dip is 0 or positive.

    >>> _downward_sign(np.array([-60.0, -90.0, np.nan])), _downward_sign(np.array([60.0, 90.0]))
    (-1.0, 1.0)
    """
    written = dip[np.isfinite(dip) & (np.abs(dip) <= 90)]
    return 1.0 if len(written) and (written >= 0).all() and (written > 0).any() else -1.0


def _orientation_problems(azimuth: float, azimuth_why: str, dip: float, dip_why: str, downward: float) -> list[str]:
    """What is wrong with one azimuth and dip, read with the table's sign for downward."""
    problems = [why for why in (azimuth_why, dip_why) if why]
    if not dip_why and not np.isfinite(dip):
        problems.append("dip is empty; give degrees below horizontal (-90 = vertical down)")
    elif np.isfinite(dip) and not -90 <= dip <= 90:
        problems.append(f"dip {dip:g} is outside -90 to 90 degrees (below horizontal, negative downward)")
    elif np.isfinite(dip) and dip * downward < 0:
        problems.append(f"dip {dip:g} points upward while this table writes downward dips as negative (-90 = "
                        "vertical down); a hole drilled from the surface goes down: fix the sign")  # fmt: skip
    if not azimuth_why and not np.isfinite(azimuth) and not (np.isfinite(dip) and abs(dip) == 90):
        problems.append("azimuth is empty; give degrees clockwise from north (it may be blank only at dip -90)")
    elif np.isfinite(azimuth) and not 0 <= azimuth < 360:
        problems.append(f"azimuth {azimuth:g} is outside 0 to 360 degrees (clockwise from north; write 360 as 0)")
    return problems


def _azimuth_or_north(azimuth: float) -> float:
    """A station's azimuth; 0 where a vertical station leaves it blank."""
    return float(azimuth) if np.isfinite(azimuth) else 0.0


def _unused_surveys(surveys: pd.DataFrame, path: Path, holes: Mapping[str, object], collars_path: Path) -> list[str]:
    """A note naming the survey rows whose hole has no collar ([] when every row has one)."""
    hole_ids = surveys["hole_id"].map(_text)
    orphan = ~hole_ids.isin(list(holes))
    if not orphan.any():
        return []
    lines = surveys.loc[orphan, SOURCE_ROW].astype(int).tolist()
    named = list(dict.fromkeys(hole or "(no hole_id)" for hole in hole_ids[orphan]))
    shown = ", ".join(map(repr, named[:5])) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
    note = (
        f"{path.name}: {len(lines)} row(s) of holes without a collar in {collars_path.name} are not used "
        f"({shown}; {_at(path, lines[0])} first); fix their hole_id to match the collar or remove them"
    )
    return [note]


def _samples(assays: pd.DataFrame, holes: dict[str, _Hole], collars_path: Path) -> pd.DataFrame:
    """The assay rows as sample rows: desurveyed midpoints and vertical depths, problems in ``read_problem``."""
    count = len(assays)
    written = assays.attrs.get(_WRITTEN_AS, {})
    from_label, to_label = written.get("from_m", "from"), written.get("to_m", "to")
    hole_ids = assays["hole_id"].map(_text).tolist()
    depth_from, from_why = _numbers(assays, "from_m")
    depth_to, to_why = _numbers(assays, "to_m")
    problems: list[list[str]] = [[problem] if problem else [] for problem in assays[READ_PROBLEM].map(_text)]
    desurveyed = np.zeros(count, dtype=bool)
    for position, hole_id in enumerate(hole_ids):
        hole, found = holes.get(hole_id), problems[position]
        found.extend(why for why in (from_why[position], to_why[position]) if why)
        start, end = depth_from[position], depth_to[position]
        if not hole_id:
            found.append("hole_id is empty; name the hole of the interval")
        elif hole is None:
            found.append(f"hole_id {hole_id!r} has no collar in {collars_path.name}; add its collar row or fix the "
                         "hole_id")  # fmt: skip
        numbers = np.isfinite(start) and np.isfinite(end)
        if not from_why[position] and not np.isfinite(start) or not to_why[position] and not np.isfinite(end):
            found.append(f"{from_label} or {to_label} is empty; give the interval's depths in metres along the hole")
        elif numbers and start < 0:
            found.append(f"{from_label} {start:g} is negative; depths are metres along the hole from the collar")
        elif numbers and end <= start:
            found.append(f"{to_label} {end:g} is not below {from_label} {start:g}; swap or fix them")
        if hole is not None and numbers and end > hole.max_depth + DEPTH_TOLERANCE_M:
            found.append(f"interval {start:g}-{end:g} m reaches below the max_depth_m {hole.max_depth:g} of hole "
                         f"{hole_id!r} ({hole.where}); fix the interval or the collar's max depth")  # fmt: skip
        if hole is not None:
            found.extend(f"hole {hole_id!r}: {problem}" for problem in hole.problems)
            desurveyed[position] = bool(hole.crs) and not hole.problems and numbers and min(start, end) >= 0
    offsets = _interval_offsets(hole_ids, depth_from, depth_to, desurveyed, holes)
    rising = desurveyed & (offsets["to"][:, 2] - offsets["from"][:, 2] <= 1e-6) & (depth_to > depth_from)
    for position in np.flatnonzero(rising):
        problems[position].append(
            f"interval {depth_from[position]:g}-{depth_to[position]:g} m of hole {hole_ids[position]!r} runs "
            "horizontally or upward, so it has no depth below the collar; check the survey dips (degrees below "
            "horizontal, negative downward, -90 = vertical)"
        )
    return _sample_table(assays, hole_ids, holes, offsets, problems)


def _interval_offsets(
    hole_ids: list[str], depth_from: np.ndarray, depth_to: np.ndarray, desurveyed: np.ndarray, holes: dict[str, _Hole]
) -> dict[str, np.ndarray]:
    """(east, north, down) offsets from the collar at each desurveyed interval's from, to and midpoint (else NaN)."""
    offsets = {name: np.full((len(hole_ids), 3), np.nan) for name in ("from", "to", "mid")}
    rows = np.flatnonzero(desurveyed)
    if not len(rows):
        return offsets
    used = list(dict.fromkeys(hole_ids[row] for row in rows))
    codes = {hole_id: code for code, hole_id in enumerate(used)}
    stations = np.array([(codes[hole_id], *station[:3]) for hole_id in used for station in holes[hole_id].stations],
                        dtype=float).reshape(-1, 4)  # fmt: skip
    station_hole, station_depth, azimuth, dip = stations.T
    hole = np.array([codes[hole_ids[row]] for row in rows])
    depths = {"from": depth_from[rows], "to": depth_to[rows], "mid": (depth_from[rows] + depth_to[rows]) / 2}
    points = _desurvey(np.tile(hole, 3), np.concatenate(list(depths.values())), station_hole.astype(int),
                       station_depth, azimuth, dip)  # fmt: skip
    for index, name in enumerate(depths):
        offsets[name][rows] = points[index * len(rows) : (index + 1) * len(rows)]
    return offsets


def _sample_table(
    assays: pd.DataFrame, hole_ids: list[str], holes: dict[str, _Hole], offsets: dict[str, np.ndarray],
    problems: list[list[str]],
) -> pd.DataFrame:  # fmt: skip
    """The rows :func:`~residua.geodata.readers.read_samples` would read: locations, depths, ids, then the assays
    as written."""
    count = len(assays)
    columns: dict[str, list[str]] = {name: [""] * count for name in OUTPUT_COLUMNS}
    mid, top, bottom = offsets["mid"], offsets["from"], offsets["to"]
    projected: dict[str, list[int]] = {}
    for position, hole_id in enumerate(hole_ids):
        hole = holes.get(hole_id)
        if hole is None or not hole.crs:
            continue
        east, north, down = mid[position] if np.isfinite(mid[position]).all() else (0.0, 0.0, math.nan)
        columns["x"][position] = _cell(hole.x + east / hole.metres_per_unit)
        columns["y"][position] = _cell(hole.y + north / hole.metres_per_unit)
        columns["crs"][position] = hole.crs
        if hole.lonlat:
            projected.setdefault(hole.crs, []).append(position)
        if not problems[position] and np.isfinite(down):
            columns["depth_from_m"][position] = _cell(top[position, 2])
            columns["depth_to_m"][position] = _cell(bottom[position, 2])
            if np.isfinite(hole.elevation):
                columns["elevation_m"][position] = _cell(hole.elevation - down)
    for crs, positions in projected.items():  # lon/lat collars: their midpoints back in lon/lat
        x = np.array([float(columns["x"][position]) for position in positions])
        y = np.array([float(columns["y"][position]) for position in positions])
        lon, lat = _transformer(crs, STORAGE_CRS).transform(x, y)
        for position, point_lon, point_lat in zip(positions, np.atleast_1d(lon), np.atleast_1d(lat), strict=True):
            columns["lon"][position], columns["lat"][position] = _cell(point_lon), _cell(point_lat)
            columns["x"][position] = columns["y"][position] = columns["crs"][position] = ""
    table = pd.DataFrame({SOURCE_ROW: assays[SOURCE_ROW].to_numpy(), "sample_id": _sample_ids(assays, hole_ids),
                          "hole_id": hole_ids, "site_id": _site_ids(assays, hole_ids, holes), **columns})  # fmt: skip
    rest = [column for column in assays.columns if column not in (*table.columns, READ_PROBLEM)]
    table = pd.concat([table, assays[rest].reset_index(drop=True)], axis=1)
    table[READ_PROBLEM] = ["; ".join(found) for found in problems]
    return table


def _sample_ids(assays: pd.DataFrame, hole_ids: list[str]) -> list[str]:
    """The assays' ``sample_id`` as written, else ``<hole_id>:<from>-<to>`` (with the line when that repeats)."""
    if "sample_id" in assays.columns:
        return assays["sample_id"].map(_text).tolist()
    made = [f"{hole_id}:{_text(start)}-{_text(end)}" for hole_id, start, end in
            zip(hole_ids, assays["from_m"], assays["to_m"], strict=True)]  # fmt: skip
    repeated = pd.Series(made).duplicated(keep="first").to_numpy()
    return [f"{name} (line {line})" if again else name
            for name, again, line in zip(made, repeated, assays[SOURCE_ROW], strict=True)]  # fmt: skip


def _site_ids(assays: pd.DataFrame, hole_ids: list[str], holes: dict[str, _Hole]) -> list[str]:
    """The assay's ``site_id`` where given, else its collar's ("" for neither: found by footprint)."""
    given = assays["site_id"].map(_text).tolist() if "site_id" in assays.columns else [""] * len(hole_ids)
    return [site or (holes[hole_id].site_id if hole_id in holes else "")
            for site, hole_id in zip(given, hole_ids, strict=True)]  # fmt: skip


def _numbers(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, list[str]]:
    """A column's numbers (NaN for blank or unreadable cells) and, per row, why a cell is not a number ("")."""
    values = np.full(len(frame), np.nan)
    why = [""] * len(frame)
    if column not in frame.columns:
        return values, why
    label = frame.attrs.get(_WRITTEN_AS, {}).get(column, column)
    for position, cell in enumerate(frame[column].map(_text)):
        if not cell:
            continue
        value = parse_decimal(cell)
        if value is not None:
            values[position] = value
        elif is_decimal_text(cell):
            why[position] = f"{label} {cell!r} is too large to be a finite number; check the value"
        else:
            why[position] = f"{label} {cell!r} is not a number (write e.g. 12.5, decimals with a point)"
    return values, why


@functools.lru_cache(maxsize=256)
def _crs(text: str) -> pyproj.CRS | None:
    try:
        return pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError:
        return None


@functools.lru_cache(maxsize=256)
def _transformer(source: str, target: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def _at(path: Path, row: int) -> str:
    """``'collars.csv line 3'``, ``'collars.xlsx row 3'``."""
    return f"{path.name} {'row' if path.suffix.lower() == '.xlsx' else 'line'} {row}"


def _cell(value: float) -> str:
    """A number as a text cell that reads back to the same float: ``'8.660254037844386'``."""
    return repr(float(value))


def _text(cell: object) -> str:
    if cell is None or cell is pd.NA or (isinstance(cell, float) and math.isnan(cell)):
        return ""
    return str(cell).strip()
