"""Row-level validation: every input row is either accepted or quarantined with a reason.

Rows in = rows accepted + rows quarantined, always; nothing is silently dropped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from pyproj.exceptions import CRSError as ProjCRSError
from sklearn.neighbors import BallTree

from residua.geodata.assays import WHOLE_SAMPLE_GT, AssayParseError, assay_columns, normalise_row_assays, parse_assay
from residua.geodata.crs import geodesic_area_m2
from residua.geodata.datadrop import resolve_inside
from residua.geodata.numbers import is_decimal_text, parse_decimal
from residua.geodata.readers import READ_PROBLEM, SOURCE_ROW
from residua.geodata.reference_tables import load_reference_table
from residua.geodata.schema import (
    ELEMENTS,
    RESIDUE_TYPES,
    SITE_NUMERIC,
    SITE_TEXT,
    STORAGE_CRS,
    UNIT_TO_GT,
    canonical_residue_type,
    parse_assay_column,
)

#: How far (m) outside the footprint of the site it names a sample may lie (embankments, access
#: tracks); beyond, it is taken as misplaced (swapped coordinates, a wrong UTM zone).
SAMPLE_SITE_BUFFER_M = 1000.0
#: A site's median assay more than this factor from its residue type's typical grade is a unit error.
UNIT_ERROR_FACTOR = 100.0
#: A site's grades are also compared with its NEIGHBOUR_COUNT nearest sampled sites, of any residue
#: type, within NEIGHBOUR_RADIUS_KM (a mining district or coalfield, whose residues share ore and coal
#: sources), when at least NEIGHBOUR_MIN of them assayed the element: the median of three or more is
#: not moved by one neighbour's own error. Each site's median counts as a multiple of its own type's
#: typical grade, as raw grades of neighbouring types differ by far more than a unit (Te: 4,000 g/t in
#: anode slime beside 1.5 g/t in its smelter's flotation tailings).
NEIGHBOUR_COUNT = 5
NEIGHBOUR_MIN = 3
NEIGHBOUR_RADIUS_KM = 100.0
#: A site this many times above or below its neighbours' median is a unit error: half a decade short
#: of the 1,000 of ppb vs ppm (and of the 10,000 of ppm vs %), so a ppb column is caught even at a
#: site 3x poorer than its neighbours, while the spread real neighbours show (a zinc residue type's
#: P10-P90 spans 50x) is not.
NEIGHBOUR_UNIT_FACTOR = 10**2.5
#: Smallest footprint (m2 on the ground) taken as a deposit: a 10 m x 10 m pond. Anything smaller is
#: a digitising sliver or a unit error, whose "volume" would be noise.
MIN_FOOTPRINT_M2 = 100.0
#: Mean Earth radius (km, IUGG): neighbour distances are great-circle, within 0.5 % of geodesic.
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class ValidationResult:
    """Accepted rows, quarantined rows (with ``reason``) and the count read from the file."""

    accepted: gpd.GeoDataFrame
    quarantine: gpd.GeoDataFrame
    rows_in: int

    @property
    def balanced(self) -> bool:
        """True when rows in = rows accepted + rows quarantined."""
        return self.rows_in == len(self.accepted) + len(self.quarantine)


def validate_sites(raw: gpd.GeoDataFrame, source: Path, data_root: Path) -> ValidationResult:
    """Split raw site rows into accepted sites (in STORAGE_CRS) and quarantined rows.

    Accepted sites get a canonical ``residue_type`` (the spelling as written is kept in
    ``residue_type_as_written``), numeric optional columns, checked raster paths (as
    written, relative to ``data_root``) and the
    geodesic footprint area ``area_ha``.
    """
    rows = raw.reset_index(drop=True)
    reasons = _read_problems(rows)
    first_row_of: dict[str, int] = {}
    folded_ids: dict[str, str] = {}
    clean: dict[str, list] = {column: [] for column in ("site_id", "name", "residue_type", *SITE_NUMERIC, *SITE_TEXT)}
    for position, row in rows.iterrows():
        problems = reasons[position]
        site_id = _text(row.get("site_id"))
        _check_id("site_id", site_id, int(row[SOURCE_ROW]), first_row_of, source, problems)
        same_but_case = folded_ids.setdefault(site_id.casefold(), site_id)
        if site_id and same_but_case != site_id:
            problems.append(
                f"site_id {site_id!r} differs only in case from {same_but_case!r} "
                f"({_where(source, first_row_of[same_but_case])}): the same site twice? remove one or rename it"
            )
        name = _text(row.get("name"))
        if not name:
            problems.append("name is empty")
        residue = canonical_residue_type(row.get("residue_type"))
        if residue is None:
            problems.append(
                f"unknown residue_type {row.get('residue_type')!r}; use one of {', '.join(RESIDUE_TYPES)} "
                "(common spellings such as 'red mud' or 'fly ash' are accepted)"
            )
        problems.extend(_geometry_problems(row.geometry))
        numbers = {column: _number(row.get(column), column, problems) for column in SITE_NUMERIC}
        _check_site_numbers(numbers, problems)
        texts = {column: _text(row.get(column)) for column in SITE_TEXT}
        for column in ("surface_dem", "base_dem"):
            texts[column] = _raster_path(texts[column], column, data_root, problems)
        if texts["base_dem"] and not texts["surface_dem"]:
            problems.append("base_dem is given without surface_dem; add the surface DEM or drop the base")
        if row.geometry is not None and row.geometry.geom_type == "Point":
            problems.extend(_point_site_problems(numbers, texts))
        for column, value in {"site_id": site_id, "name": name, "residue_type": residue, **numbers, **texts}.items():
            clean[column].append(value)
    table = pd.DataFrame(clean)
    table["residue_type_as_written"] = rows["residue_type"].map(_text)
    table[SOURCE_ROW] = rows[SOURCE_ROW].to_numpy()
    sites = gpd.GeoDataFrame(table, geometry=rows.geometry.to_numpy(), crs=raw.crs)
    lonlat = sites.geometry.to_crs(STORAGE_CRS)
    for position, bounds in enumerate(lonlat.bounds.to_numpy()):
        if sites.geometry.iloc[position] is not None and not _lonlat_bounds_ok(bounds):
            reasons[position].append(
                "footprint lies outside valid lon/lat (or its CRS's area); check the CRS and coordinates"
            )
        elif not reasons[position] and _is_sliver(lonlat.iloc[position]):
            reasons[position].append(
                f"footprint is {geodesic_area_m2(lonlat.iloc[position]):.2g} m2, below the {MIN_FOOTPRINT_M2:g} m2 "
                "smallest deposit Residua measures (a digitising sliver?); draw the whole footprint or give a Point "
                "with reported tonnes"
            )
    bad = np.array([bool(problems) for problems in reasons], dtype=bool)
    accepted = sites.loc[~bad].to_crs(STORAGE_CRS).reset_index(drop=True)
    accepted["area_ha"] = [geodesic_area_m2(geometry) / 1e4 for geometry in accepted.geometry]
    quarantine = _quarantine(rows.loc[bad], [reasons[i] for i in np.flatnonzero(bad)], source, "site_id", raw.crs)
    return ValidationResult(accepted, quarantine, len(raw))


def validate_samples(
    raw: pd.DataFrame,
    source: Path,
    sites: gpd.GeoDataFrame,
    grade_priors: pd.DataFrame | None = None,
    assay_ceilings: pd.DataFrame | None = None,
) -> ValidationResult:
    """Split raw sample rows into accepted assay intervals (g/t, lon/lat points) and quarantine.

    With ``grade_priors`` (the reference table of typical grades per residue type and element),
    a site's assays of an element orders of magnitude from its type's are quarantined as a
    unit error (``UNIT_ERROR_FACTOR``). An assay above its site's residue type's ceiling
    (``assay_ceilings``; by default the table of the data drop holding ``source``, else the
    bundled one) is quarantined with the ceiling, its source and the unit that would fit; a
    residue type and element without a ceiling row is held only to 100 % of the sample. Sites
    without a ``residue_type`` column are not checked against ceilings.

    Locations come from lon/lat, else x/y in the row's ``crs``. A row without ``site_id``
    is assigned the site whose footprint contains it. Assays are converted to g/t per
    element as ``<e>_gt`` with a ``<e>_bdl`` flag; below-detection values keep their
    detection limit in ``<e>_gt`` (the modelling substitution is applied downstream).
    """
    rows = raw.reset_index(drop=True)
    reasons = _read_problems(rows)
    points = _sample_points(rows, reasons)
    by_element = assay_columns(list(rows.columns))
    assays: list[dict[str, float]] = []
    seen: dict[str, int] = {}
    site_ids = set(sites["site_id"])
    by_folded_id = {str(site_id).strip().casefold(): site_id for site_id in site_ids}
    for position, row in enumerate(rows.to_dict("records")):  # plain dicts: iterrows costs 10x
        problems = reasons[position]
        sample_id = _text(row.get("sample_id"))
        _check_id("sample_id", sample_id, int(row[SOURCE_ROW]), seen, source, problems)
        depth_from = _number(row.get("depth_from_m"), "depth_from_m", problems)
        depth_to = _number(row.get("depth_to_m"), "depth_to_m", problems)
        if depth_from is not None and depth_to is not None and depth_to <= depth_from:
            problems.append(f"depth_to_m {depth_to:g} is not below depth_from_m {depth_from:g}; swap or fix them")
        values, assay_problems = normalise_row_assays(row, by_element)
        problems.extend(assay_problems)
        if not assay_problems and all(math.isnan(values[f"{e}_gt"]) for e in ELEMENTS):
            problems.append("no assay values (expected columns such as ga_ppm, te_ppb, pt_g/t)")
        given_site = _text(row.get("site_id"))
        if given_site and given_site not in site_ids:
            spelled = by_folded_id.get(given_site.strip().casefold())
            hint = f"; did you mean {spelled!r}? site ids match exactly, case included" if spelled else ""
            problems.append(f"site_id {given_site!r} is not among the accepted sites{hint}")
        assays.append({"depth_from_m": depth_from, "depth_to_m": depth_to, **values})
    assay_columns_out = ["depth_from_m", "depth_to_m", *[f"{e}_{kind}" for e in ELEMENTS for kind in ("gt", "bdl")]]
    samples = gpd.GeoDataFrame(pd.DataFrame(assays, columns=assay_columns_out), geometry=points, crs=STORAGE_CRS)
    samples.insert(0, "sample_id", rows["sample_id"].map(_text) if "sample_id" in rows else "")
    samples.insert(1, "hole_id", rows["hole_id"].map(_text) if "hole_id" in rows else "")
    given = rows["site_id"].map(_text) if "site_id" in rows else pd.Series([""] * len(rows))
    samples.insert(2, "site_id", _assign_sites(samples, given, sites, reasons))
    samples[SOURCE_ROW] = rows[SOURCE_ROW].to_numpy()
    _check_overlaps(samples, reasons)
    if grade_priors is not None:
        _check_site_units(samples, sites, grade_priors, reasons)
        _check_neighbour_units(samples, sites, grade_priors, reasons)
    if len(rows) and "residue_type" in sites.columns:
        if assay_ceilings is None:  # a samples file lies at the top of its data drop
            assay_ceilings, _ = load_reference_table("assay_ceilings", source.parent)
        _check_ceilings(samples, rows, by_element, sites, assay_ceilings, source, reasons)
    bad = np.array([bool(problems) for problems in reasons], dtype=bool)
    accepted = samples.loc[~bad].reset_index(drop=True)
    raw_with_points = gpd.GeoDataFrame(rows, geometry=points, crs=STORAGE_CRS)
    quarantine = _quarantine(
        raw_with_points.loc[bad], [reasons[i] for i in np.flatnonzero(bad)], source, "sample_id", STORAGE_CRS
    )
    return ValidationResult(accepted, quarantine, len(rows))


def no_samples(sites: gpd.GeoDataFrame) -> ValidationResult:
    """The result for a drop without a samples file: no rows, the usual columns."""
    empty = pd.DataFrame({"sample_id": [], "lon": [], "lat": [], SOURCE_ROW: []}, dtype=object)
    return validate_samples(empty, Path("samples.csv"), sites)


def _read_problems(rows: pd.DataFrame) -> list[list[str]]:
    """One problem list per row, starting with what the reader could not load as written."""
    if READ_PROBLEM not in rows:
        return [[] for _ in range(len(rows))]
    return [[problem] if problem else [] for problem in rows[READ_PROBLEM].map(_text)]


def _sample_points(rows: pd.DataFrame, reasons: list[list[str]]) -> list[shapely.Point | None]:
    """Lon/lat points per row: from lon/lat where given, else x/y transformed from ``crs``."""
    lon = _numeric_column(rows, "lon")
    lat = _numeric_column(rows, "lat")
    x = _numeric_column(rows, "x")
    y = _numeric_column(rows, "y")
    crs_text = rows["crs"].map(_text) if "crs" in rows else pd.Series([""] * len(rows))
    points: list[shapely.Point | None] = [None] * len(rows)
    transformers: dict[str, pyproj.Transformer | None] = {}
    for position in range(len(rows)):
        if np.isfinite(lon[position]) and np.isfinite(lat[position]):
            point_lon, point_lat = lon[position], lat[position]
        elif np.isfinite(x[position]) and np.isfinite(y[position]) and crs_text[position]:
            code = crs_text[position]
            if code not in transformers:
                transformers[code] = _transformer(code)
            if transformers[code] is None:
                reasons[position].append(f"crs {code!r} is not a known coordinate system (write e.g. EPSG:32644)")
                continue
            point_lon, point_lat = transformers[code].transform(x[position], y[position])
        else:
            reasons[position].append("no location: give lon and lat, or x, y and crs")
            continue
        if not (-180 <= point_lon <= 180 and -90 <= point_lat <= 90):
            reasons[position].append(f"location ({point_lon:g}, {point_lat:g}) is outside lon/lat bounds")
            continue
        points[position] = shapely.Point(point_lon, point_lat)
    return points


def _transformer(code: str) -> pyproj.Transformer | None:
    try:
        return pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(code), STORAGE_CRS, always_xy=True)
    except ProjCRSError:
        return None


def _assign_sites(
    samples: gpd.GeoDataFrame, given: pd.Series, sites: gpd.GeoDataFrame, reasons: list[list[str]]
) -> list[str]:
    """The given site_id, else the site whose footprint contains the sample."""
    located = samples.geometry.notna().to_numpy()
    joined = gpd.sjoin(
        samples.loc[located, ["geometry"]], sites[["site_id", "geometry"]], how="left", predicate="within"
    )
    found = joined.groupby(level=0)["site_id"].first()
    away = _metres_outside_given_site(samples, given, sites)
    assigned: list[str] = []
    for position, site_id in enumerate(given):
        if site_id:
            if away[position] > SAMPLE_SITE_BUFFER_M:
                reasons[position].append(
                    f"lies at least {away[position] / 1000:,.1f} km outside site {site_id!r}'s footprint (more than "
                    f"the {SAMPLE_SITE_BUFFER_M:g} m allowed): swapped lon/lat, a wrong UTM zone or the wrong site_id?"
                )
            assigned.append(site_id)
            continue
        container = found.get(samples.index[position]) if located[position] else None
        if isinstance(container, str):
            assigned.append(container)
        else:
            if located[position]:
                reasons[position].append("outside every accepted site footprint and no site_id given")
            assigned.append("")
    return assigned


def _check_site_units(
    samples: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, grade_priors: pd.DataFrame, reasons: list[list[str]]
) -> None:
    """Quarantine a site's assays of an element whose median is orders of magnitude from its residue type's.

    A median more than ``UNIT_ERROR_FACTOR`` times above (or below) the type's typical grade
    (``grade_p50_gt`` of the grade priors) is a unit error, not a rich site: ppb written in a
    ``_ppm`` column reads 1,000 times too high, and one such site would rank first and pull its
    type's prior up. The reason says which unit would make the values plausible.
    """
    typical = grade_priors.set_index(["residue_type", "element"])["grade_p50_gt"]
    types = sites.drop_duplicates("site_id").set_index("site_id")["residue_type"]
    usable = np.array([not problems for problems in reasons])
    for element in ELEMENTS:
        detected = _detected(samples, usable, element)
        medians = samples[detected].groupby("site_id")[f"{element}_gt"].median()
        for site_id, median in medians.items():
            prior = typical.get((types.get(site_id), element))
            if prior is None or not np.isfinite(prior) or prior <= 0:
                continue
            ratio = median / prior
            if 1 / UNIT_ERROR_FACTOR <= ratio <= UNIT_ERROR_FACTOR:
                continue
            hint = _unit_hint(ratio)
            for position in np.flatnonzero(detected & (samples["site_id"] == site_id).to_numpy()):
                reasons[position].append(
                    f"{element} at site {site_id!r}: median {median:,.4g} g/t is {ratio:,.3g}x the typical "
                    f"{prior:g} g/t of a {types[site_id]} site, a unit error rather than a grade{hint}; fix the unit "
                    "of the site's column or values"
                )


def _check_neighbour_units(
    samples: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, grade_priors: pd.DataFrame, reasons: list[list[str]]
) -> None:
    """Quarantine a site's assays of an element whose median is orders of magnitude from its neighbours'.

    Run after :func:`_check_site_units`, whose quarantined rows therefore neither serve as
    neighbours nor are flagged twice. Both sides are multiples of their residue types' typical
    grades; a site at least ``NEIGHBOUR_UNIT_FACTOR`` times above or below the median of its
    neighbours (see ``NEIGHBOUR_COUNT``) is a unit error even within ``UNIT_ERROR_FACTOR`` of
    its type, e.g. ppb written in a ``_ppm`` column at a site poorer than its type. The reason
    names the neighbours and the unit that would make the values plausible.
    """
    unique = sites.drop_duplicates("site_id").set_index("site_id")
    places = unique.geometry.representative_point()
    usable = np.array([not problems for problems in reasons])
    for element in ELEMENTS:
        detected = _detected(samples, usable, element)
        table = _relative_medians(samples[detected], element, unique["residue_type"], grade_priors)
        if table.empty:
            continue
        neighbours, km = _nearest_sites(places[table.index])
        relative = table["relative"].to_numpy()
        checked = np.flatnonzero((neighbours >= 0).sum(axis=1) >= NEIGHBOUR_MIN)
        ratios = relative[checked] / np.nanmedian(np.where(neighbours >= 0, relative[neighbours], np.nan)[checked], 1)
        far = (ratios <= 1 / NEIGHBOUR_UNIT_FACTOR) | (ratios >= NEIGHBOUR_UNIT_FACTOR)
        rows_of = samples[detected].groupby("site_id").indices
        for row, ratio in zip(checked[far], ratios[far], strict=True):
            found = neighbours[row] >= 0
            near = pd.Series(km[row][found], index=table.index[neighbours[row][found]])
            reason = _neighbour_reason(element, table.index[row], ratio, table, near)
            for position in np.flatnonzero(detected)[rows_of[table.index[row]]]:
                reasons[position].append(reason)


def _relative_medians(
    detected: gpd.GeoDataFrame, element: str, types: pd.Series, grade_priors: pd.DataFrame
) -> pd.DataFrame:
    """Per site: ``median`` detected assay (g/t), its type's typical grade (``prior``), ``relative`` = their
    ratio and ``residue_type``; sites whose type has no positive typical grade are left out."""
    typical = grade_priors.set_index(["residue_type", "element"])["grade_p50_gt"]
    table = detected.groupby("site_id")[f"{element}_gt"].median().rename("median").to_frame()
    table["residue_type"] = types.reindex(table.index)
    table["prior"] = [float(typical.get((residue_type, element), np.nan)) for residue_type in table["residue_type"]]
    table["relative"] = table["median"] / table["prior"]
    return table[np.isfinite(table["relative"]) & (table["relative"] > 0)]


def _nearest_sites(places: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Per place, the positions of (-1 padded) and great-circle distances (km, NaN padded) to its
    ``NEIGHBOUR_COUNT`` nearest other places within ``NEIGHBOUR_RADIUS_KM``, nearest first."""
    radians = np.radians(np.column_stack([places.y.to_numpy(), places.x.to_numpy()]))
    distances, found = BallTree(radians, metric="haversine").query(radians, k=min(NEIGHBOUR_COUNT + 1, len(places)))
    km = distances * EARTH_RADIUS_KM
    keep = (found != np.arange(len(places))[:, None]) & (km <= NEIGHBOUR_RADIUS_KM)
    keep &= np.cumsum(keep, axis=1) <= NEIGHBOUR_COUNT
    order = np.argsort(~keep, axis=1, kind="stable")  # kept ones first, still nearest first
    found = np.take_along_axis(np.where(keep, found, -1), order, axis=1)[:, :NEIGHBOUR_COUNT]
    return found, np.take_along_axis(np.where(keep, km, np.nan), order, axis=1)[:, :NEIGHBOUR_COUNT]


def _neighbour_reason(element: str, site_id: str, ratio: float, table: pd.DataFrame, near: pd.Series) -> str:
    """Why a site's median is a unit error against its neighbours: its grade, theirs, their distances, the fix."""
    site = table.loc[site_id]
    listed = ", ".join(f"{other} {km:.0f} km: {table.at[other, 'relative']:.2g}x" for other, km in near.items())
    return (
        f"{element} at site {site_id!r}: median {_grade(site['median'])} g/t ({site['relative']:.3g}x the typical "
        f"{site['prior']:g} g/t of a {site['residue_type']} site) is {_grade(ratio)}x the median of its {len(near)} "
        f"nearest sampled sites within {NEIGHBOUR_RADIUS_KM:g} km, each as a multiple of its own type's typical grade "
        f"({listed}), a unit error rather than a grade{_unit_hint(ratio, 'its neighbours')}; fix the unit of the "
        "site's column or values"
    )


def _detected(samples: gpd.GeoDataFrame, usable: np.ndarray, element: str) -> np.ndarray:
    """Rows with no problem so far and a detected (not below-limit) assay of ``element``."""
    return usable & samples[f"{element}_gt"].notna().to_numpy() & ~samples[f"{element}_bdl"].to_numpy(bool)


def _check_ceilings(
    samples: gpd.GeoDataFrame,
    rows: pd.DataFrame,
    by_element: dict[str, list[tuple[str, float]]],
    sites: gpd.GeoDataFrame,
    ceilings: pd.DataFrame,
    source: Path,
    reasons: list[list[str]],
) -> None:
    """Quarantine every assay above the ceiling of its site's residue type and element.

    A ceiling (``assay_ceilings``: several times the highest grade published for the type) is
    far above any real assay, so a value beyond it is a unit or typing error, not a rich
    interval. The reason names the file and line, the value, the ceiling and its source, and
    the unit that would bring the value under it. Rows are checked whatever else is wrong
    with them, after the site-level unit check, which they therefore do not change.
    """
    if ceilings.empty:
        return
    types = samples["site_id"].map(sites.drop_duplicates("site_id").set_index("site_id")["residue_type"])
    for element in ELEMENTS:
        table = ceilings[ceilings["element"] == element].drop_duplicates("residue_type").set_index("residue_type")
        limits = types.map(table["ceiling_ppm"]).to_numpy(dtype=float)
        above = samples[f"{element}_gt"].to_numpy(dtype=float) > limits  # NaN on either side: not above
        for position in np.flatnonzero(above):
            residue_type = types.iloc[position]
            ceiling = table.loc[residue_type]
            reasons[position].append(
                _ceiling_reason(rows.iloc[position], by_element[element], element, residue_type, ceiling, source)
            )


def _ceiling_reason(
    row: pd.Series, columns: list[tuple[str, float]], element: str, residue_type: str, ceiling: pd.Series, source: Path
) -> str:
    """Why one assay is above its type's ceiling, with the cell as written and the likely unit fix."""
    column, cell, factor = _assay_read(row, columns)
    value_gt = float(parse_assay(cell).value) * factor
    limit = float(ceiling["ceiling_ppm"])
    published = pd.to_numeric(ceiling.get("highest_published_ppm", np.nan), errors="coerce")
    highest = f"; the highest published is {_grade(published)} g/t" if pd.notna(published) else ""
    return (
        f"{column} {cell!r} at {source.name} {_where(source, int(row[SOURCE_ROW]))} is {_grade(value_gt)} g/t, "
        f"above the {_grade(limit)} g/t ceiling for {element.capitalize()} in {residue_type} "
        f"(assay_ceilings.csv{highest}; source: {ceiling['source']}); "
        f"{_ceiling_fix(value_gt / factor, column, factor, limit)}"
    )


def _assay_read(row: pd.Series, columns: list[tuple[str, float]]) -> tuple[str, str, float]:
    """The (column, cell, factor to g/t) an element's value was read from, as ``normalise_row_assays`` picks it."""
    for column, factor in columns:
        try:
            parsed = parse_assay(row[column])
        except AssayParseError:
            continue
        if parsed is not None and parsed.value * factor <= WHOLE_SAMPLE_GT:
            return column, _text(row[column]), factor
    raise ValueError("no assay read from these columns")  # unreachable: the row has a value


def _ceiling_fix(written: float, column: str, factor: float, limit: float) -> str:
    """The fix for a value above its ceiling: the unit that would bring ``written`` under ``limit``, if any.

    >>> _ceiling_fix(60000.0, "ga_ppm", 1.0, 1000.0)
    'check the unit: read as ppb it would be 60 g/t (ppb written in a ppm column?); fix the column name or the values'
    """
    parsed = parse_assay_column(column)
    unit = parsed[1] if parsed else "this"
    for name in ("ppm", "ppb"):
        if UNIT_TO_GT[name] < factor and written * UNIT_TO_GT[name] <= limit:
            grade = written * UNIT_TO_GT[name]
            return (f"check the unit: read as {name} it would be {_grade(grade)} g/t ({name} written in a {unit} "
                    "column?); fix the column name or the values")  # fmt: skip
    return "check the value and its unit against the laboratory certificate, then fix or remove it"


def _grade(value: float) -> str:
    """A grade as people read it: ``60,000``, ``1,000``, ``59.4``, ``0.0052``.

    >>> _grade(60000.0), _grade(59.4), _grade(0.00523)
    ('60,000', '59.4', '0.00523')
    """
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def _unit_hint(ratio: float, reference: str = "typical") -> str:
    """The unit mix-up that brings a median ``ratio`` times its ``reference`` closest to it, within a factor of 10.

    >>> _unit_hint(1200.0, "its neighbours")
    ' (values look like ppb written as ppm: x0.001 gives 1.2x its neighbours)'
    >>> _unit_hint(1 / 9000)
    ' (values look like % written as g/t: x10000 gives 1.11x typical)'
    >>> _unit_hint(50.0)
    ''
    """
    units = {1e-3: "ppb written as ppm", 1e3: "ppm written as ppb", 1e-4: "g/t written as %", 1e4: "% written as g/t"}
    fitting = [factor for factor in units if 0.1 <= ratio * factor <= 10]
    if not fitting:
        return ""
    factor = min(fitting, key=lambda f: abs(math.log10(ratio * f)))
    return f" (values look like {units[factor]}: x{factor:g} gives {ratio * factor:.3g}x {reference})"


def _check_overlaps(samples: gpd.GeoDataFrame, reasons: list[list[str]]) -> None:
    """Quarantine both rows of every pair of overlapping depth intervals in one hole (``hole_id`` given).

    Rows for exactly the same interval that assay different elements (a long-format lab
    export) are not an overlap.
    """
    usable = [not problems for problems in reasons]
    frame = samples.assign(usable=usable, position=np.arange(len(samples)))
    frame = frame[frame["usable"] & (frame["hole_id"] != "")]
    frame = frame[_in_holes_with_overlaps(frame)]
    assayed = frame[[f"{element}_gt" for element in ELEMENTS]].notna().to_numpy()
    elements = dict(zip(frame["position"], assayed, strict=True))
    for (site_id, hole_id), hole in frame.groupby(["site_id", "hole_id"], sort=False):
        if len(hole) < 2:
            continue
        hole = hole.sort_values(["depth_from_m", "depth_to_m"])
        deepest = None  # the row reaching deepest so far
        for row in hole.itertuples(index=False):
            if deepest is not None and row.depth_from_m < deepest.depth_to_m - 1e-9:
                same = (row.depth_from_m, row.depth_to_m) == (deepest.depth_from_m, deepest.depth_to_m)
                if not (same and not (elements[row.position] & elements[deepest.position]).any()):
                    for this, other in ((row, deepest), (deepest, row)):
                        reasons[this.position].append(
                            f"interval {this.depth_from_m:g}-{this.depth_to_m:g} m overlaps {other.sample_id!r} "
                            f"({other.depth_from_m:g}-{other.depth_to_m:g} m) in hole {hole_id!r} of site {site_id!r}; "
                            "fix the depths or remove the duplicate"
                        )
            if deepest is None or row.depth_to_m > deepest.depth_to_m:
                deepest = row


def _in_holes_with_overlaps(frame: pd.DataFrame) -> np.ndarray:
    """Rows of holes where some interval starts above the deepest end of the intervals sorted before it
    (one vectorised pass: only those holes need the row-by-row check)."""
    depths = (
        frame[["depth_from_m", "depth_to_m"]].apply(pd.to_numeric, errors="coerce").astype(float)
    )  # none: no overlap
    ordered = (
        frame[["site_id", "hole_id"]].join(depths).sort_values(["site_id", "hole_id", "depth_from_m", "depth_to_m"])
    )
    keys = [ordered["site_id"], ordered["hole_id"]]
    deepest_before = ordered.groupby(keys, sort=False)["depth_to_m"].cummax().groupby(keys, sort=False).shift()
    starts_inside = ordered["depth_from_m"] < deepest_before - 1e-9
    holes = pd.MultiIndex.from_frame(ordered.loc[starts_inside, ["site_id", "hole_id"]])
    return pd.MultiIndex.from_frame(frame[["site_id", "hole_id"]]).isin(holes)


def _metres_outside_given_site(samples: gpd.GeoDataFrame, given: pd.Series, sites: gpd.GeoDataFrame) -> np.ndarray:
    """Per sample, a lower bound on its distance (m) from the footprint of the site it names (0 if none).

    The distance in degrees times the length of a degree of longitude at the sample's latitude
    (the shorter of a degree of latitude and of longitude), so it never overstates.
    """
    footprints = sites.drop_duplicates("site_id").set_index("site_id").geometry
    named = given.isin(footprints.index).to_numpy() & samples.geometry.notna().to_numpy()
    away = np.zeros(len(samples))
    if named.any():
        points = samples.geometry.to_numpy()[named]
        degrees = shapely.distance(points, footprints.loc[given[named].to_numpy()].to_numpy())
        away[named] = degrees * 111_320.0 * np.cos(np.radians(np.clip(shapely.get_y(points), -89.0, 89.0)))
    return away


def _geometry_problems(geometry: shapely.Geometry | None) -> list[str]:
    if geometry is None or geometry.is_empty:
        return ["geometry is missing, empty or unreadable; draw the site footprint polygon"]
    if geometry.geom_type not in ("Polygon", "MultiPolygon", "Point"):
        return [f"geometry is a {geometry.geom_type}; a site needs a Polygon or MultiPolygon footprint"]
    if not geometry.is_valid:
        return [f"invalid geometry ({shapely.is_valid_reason(geometry)}); repair it, e.g. QGIS 'Fix geometries'"]
    return []


def _point_site_problems(numbers: dict[str, float | None], texts: dict[str, str]) -> list[str]:
    """A site given as a point has no footprint: it needs reported figures, and DEMs cannot help."""
    problems = []
    if texts["surface_dem"] or texts["base_dem"]:
        problems.append("a point site has no footprint to measure DEMs over; draw its polygon or drop the DEM paths")
    if numbers["reported_tonnes"] is None and numbers["reported_volume_m3"] is None:
        problems.append("a point site needs reported_tonnes or reported_volume_m3 (or draw its footprint polygon)")
    return problems


def _check_site_numbers(numbers: dict[str, float | None], problems: list[str]) -> None:
    for column in ("reported_tonnes", "reported_volume_m3", "dry_density_t_m3"):
        value = numbers[column]
        if value is not None and value <= 0:
            problems.append(f"{column} {value:g} must be positive")
    density = numbers["dry_density_t_m3"]
    if density is not None and density > 6:
        problems.append(f"dry_density_t_m3 {density:g} is above 6 t/m3; check the unit (t/m3, not kg/m3)")
    opened, closed = numbers["commissioned_year"], numbers["closed_year"]
    if opened is not None and closed is not None and closed < opened:
        problems.append(f"closed_year {closed:g} is before commissioned_year {opened:g}")


def _raster_path(text: str, column: str, data_root: Path, problems: list[str]) -> str:
    if not text:
        return ""
    try:
        resolved = resolve_inside(data_root, text)
        found = resolved is not None and resolved.is_file()
    except (ValueError, OSError) as error:  # a NUL byte, or a name too long for the file system
        why = error.strerror if isinstance(error, OSError) else str(error)
        problems.append(f"{column} is not a usable file path ({why}); use a short path relative to the data directory")
        return ""
    if resolved is None:
        problems.append(f"{column} {text!r} points outside the data directory; use a path relative to it")
        return ""
    if not found:
        problems.append(f"{column} {text!r} not found under {data_root}")
        return ""
    return text


def _number(cell: object, column: str, problems: list[str]) -> float | None:
    text = _text(cell)
    if not text:
        return None
    value = parse_decimal(text)
    if value is None and is_decimal_text(text):
        problems.append(f"{column} {text!r} is too large to be a finite number; check the value and its unit")
    elif value is None:
        problems.append(f"{column} {text!r} is not a number (write e.g. 1500000 or 1,500,000; decimals with a point)")
    return value


def _numeric_column(rows: pd.DataFrame, column: str) -> np.ndarray:
    if column not in rows:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)


def _text(cell: object) -> str:
    if cell is None or cell is pd.NA or (isinstance(cell, float) and math.isnan(cell)):
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _quarantine(
    rows: pd.DataFrame, reasons: list[list[str]], source: Path, id_column: str, crs: object
) -> gpd.GeoDataFrame:
    geometry = rows.geometry if isinstance(rows, gpd.GeoDataFrame) else [None] * len(rows)
    raw = [
        json.dumps(
            {str(key): _text(value) for key, value in row.items() if key not in ("geometry", SOURCE_ROW, READ_PROBLEM)}
        )
        for _, row in rows.iterrows()
    ]
    table = gpd.GeoDataFrame(
        {
            "source": source.name,
            SOURCE_ROW: np.asarray(rows[SOURCE_ROW], dtype="int64"),
            "record_id": [_text(row.get(id_column)) for _, row in rows.iterrows()],
            "reason": ["; ".join(problems) for problems in reasons],
            "raw": raw,
        },
        geometry=list(geometry),
        crs=crs,
    )
    return table.to_crs(STORAGE_CRS) if crs is not None else table


def _lonlat_bounds_ok(bounds: np.ndarray) -> bool:
    """True when (minx, miny, maxx, maxy) in lon/lat are finite and on the globe."""
    if not np.isfinite(bounds).all():
        return False
    minx, miny, maxx, maxy = bounds
    return -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90


def _check_id(column: str, value: str, row: int, first_row: dict[str, int], source: Path, problems: list[str]) -> None:
    """Report an empty or repeated id (the first occurrence is kept); remember new ones."""
    if not value:
        problems.append(f"{column} is empty")
    elif value in first_row:
        problems.append(f"duplicate {column} {value!r} (first seen at {_where(source, first_row[value])})")
    else:
        first_row[value] = row


def _is_sliver(geometry: shapely.Geometry | None) -> bool:
    """A polygonal footprint smaller on the ground than ``MIN_FOOTPRINT_M2``."""
    if geometry is None or geometry.is_empty or geometry.geom_type not in ("Polygon", "MultiPolygon"):
        return False
    return geodesic_area_m2(geometry) < MIN_FOOTPRINT_M2


_LOCATORS = {".csv": "line", ".xlsx": "row"}


def _where(source: Path, row: int) -> str:
    """'line N' for CSV files, 'row N' for workbooks, 'feature N' for vector files."""
    return f"{_LOCATORS.get(source.suffix.lower(), 'feature')} {row}"
