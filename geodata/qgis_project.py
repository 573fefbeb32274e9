"""The QGIS project of a published output folder: ``residua.qgz``, and the same project inside ``inventory.gpkg``.

The project is QGIS's own XML (``.qgs``, zipped as ``.qgz``), written with the standard
library: no QGIS is needed to write it. It holds the inventory's layers and the grade
rasters, styled, grouped and ready to print:

- ``sites_ranked`` with a rule-based renderer by scale: zoomed out (smaller than
  1:100,000) every site is a circle at its centroid, filled by rank class and ringed by
  confidence class, so footprints far smaller than a pixel stay visible at national scale;
  zoomed in, the filled footprints. Labels (site id and rank) appear from 1:250,000.
- ``samples`` coloured by the grade of one element; the layer has one named style per
  element, and each element's map theme selects its style and its grade rasters.
- ``hubs``: every candidate a faint grey dot, the hubs the hub plan opens purple triangles over
  them; below it ``hub_assignments``, a thin grey-purple line from each site to the hub it feeds
  (and any other hub layer the GeoPackage holds); ``quarantine`` (unchecked).
- The grade rasters (``rasters/<site>_<element>_grade.tif``) of the :data:`RASTERS_PER_ELEMENT`
  (25) best-ranked sites per element (``rank`` of ``sites_ranked``; unranked sites after the
  ranked ones): band ``p50_gt`` with one colour ramp per element (computed once and shared by
  the element's layers, so they share a legend), nodata transparent, grouped per element as
  "Ga grade (top 25 sites)", shown from 1:1,000,000. The set is bounded so the project stays
  small and quick to write and open at any number of sites: a raster layer holds its source,
  CRS, style and a short metadata record (the full lineage is in the GeoPackage's layer
  metadata). **Every** published grade raster is listed in the STAC catalog
  (``stac/grade-rasters``, see :mod:`residua.geodata.stac`), from which any of them can be added.
- One map theme per element and a print layout (A4 landscape) with title, map, legend,
  scale bar, north arrow, the SYNTHETIC banner when the data are synthetic and the
  screening disclaimer.

Every path is relative (``./inventory.gpkg``, ``./rasters/...``): the folder can be zipped
and moved. The project inside the GeoPackage (QGIS 3.8+: Browser > GeoPackage > the file >
``residua``) resolves the same paths against the GeoPackage's folder. QGIS 3.10 or later
reads the project (written as 3.22, Debian 12's QGIS).
"""

from __future__ import annotations

import copy
import io
import json
import re
import sqlite3
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import rasterio.errors
from rasterio.warp import transform_bounds

from residua.geodata.gpkg_metadata import (
    LayerMetadata,
    inventory_metadata,
    is_synthetic_run,
    metadata_element,
    read_run_metadata,
    spatialrefsys,
    write_layer_metadata,
)
from residua.geodata.styles import (
    GRADE_COLOURS,
    QGIS_VERSION,
    Rule,
    Symbol,
    grade_rules,
    hub_assignments_rules,
    hubs_rules,
    quarantine_rules,
    rule_renderer,
    samples_rules,
    sampling_plan_rules,
    scaled_sites_rules,
)

PROJECT_FILE = "residua.qgz"
#: Name of the project in ``residua.qgz`` (``residua.qgs``) and in the GeoPackage's ``qgis_projects`` table.
PROJECT_NAME = "residua"
INVENTORY_FILE = "inventory.gpkg"
#: Grade rasters the project shows, relative to the output folder.
RASTER_GLOB = "rasters/*_grade.tif"
#: Country outlines under the map (Natural Earth 1:110m, public domain; no basemap tiles offline).
COUNTRIES_FILE = "basemap/ne_110m_countries.geojson"
_COUNTRIES_SOURCE = Path(__file__).with_name("static") / "ne_110m_countries.geojson"
#: The banner of synthetic runs (the grade report's words).
SYNTHETIC_BANNER = "SYNTHETIC DEMO DATA: figures illustrate the method, not real sites."
#: Scales (denominators) from which labels, samples and grade rasters are drawn.
LABEL_SCALE = 250_000
SAMPLES_SCALE = 250_000
RASTER_SCALE = 1_000_000
ELEMENT_NAMES = {"ga": "Ga", "te": "Te", "pt": "Pt", "pd": "Pd", "rh": "Rh"}
RASTER_GROUP = "Grade rasters (block P50, g/t)"
#: Grade rasters per element the project shows: those of the best-ranked sites (all are in the STAC catalog).
RASTERS_PER_ELEMENT = 25
#: Layer names in the project, by GeoPackage table (other spatial tables keep their table name).
LAYER_TITLES = {"sites_ranked": "Sites (ranked)", "samples": "Samples", "hubs": "Processing hubs",
                "hub_assignments": "Hub assignments (site to hub)", "sampling_plan": "Sampling plan (planned holes)",
                "quarantine": "Quarantined rows"}  # fmt: skip
#: Abstract of the grade rasters' metadata.
RASTER_NOTE = (
    "Block grades of one element at one sampled site, Cloud-Optimized GeoTIFF in the site's UTM zone, cells sized "
    "by the hole spacing. Bands p50_gt, p10_gt, p90_gt: depth-averaged block grade (g/t); p10_sample_gt, "
    "p90_sample_gt: the P10-P90 of what one new sample in the cell would assay. Nodata -9999."
)
_QUANTILES = np.linspace(0.0, 1.0, 101)
#: Quantiles of an element's pooled P50 cells that take the ramp's five colours.
RAMP_QUANTILES = (0.02, 0.25, 0.5, 0.75, 0.98)
_LAYOUT_ITEM = {"page": 65638, "map": 65639, "picture": 65640, "label": 65641, "legend": 65642, "scalebar": 65646}


@dataclass(frozen=True)
class VectorSource:
    """One vector layer of the GeoPackage as the project shows it."""

    table: str
    geometry: str  # Point, Line or Polygon
    bounds: tuple[float, float, float, float] | None
    fields: tuple[str, ...]
    split: bool = False  # a table of several geometry types: this layer shows one of them

    @property
    def source(self) -> str:
        suffix = f"|geometrytype={self.geometry}" if self.split else ""
        return f"./{INVENTORY_FILE}|layername={self.table}{suffix}"


@dataclass(frozen=True)
class GradeRaster:
    """A published grade raster: path relative to the output folder, element, site, CRS and P50 range."""

    path: str
    element: str
    site_id: str
    crs: str
    bounds_wgs84: tuple[float, float, float, float]
    p50_range: tuple[float, float]
    #: Percentiles 0, 1, ..., 100 of the raster's valid P50 cells.
    p50_quantiles: tuple[float, ...] = ()
    cells: int = 0


def write_qgis_project(root: Path, rasters_root: Path | None = None,
                       rasters_per_element: int = RASTERS_PER_ELEMENT) -> dict[str, Path]:  # fmt: skip
    """Write ``residua.qgz`` into ``root`` from ``inventory.gpkg`` and the grade rasters; store it in the GeoPackage.

    The layers' QGIS metadata (:func:`residua.geodata.gpkg_metadata.inventory_metadata`) is written
    into the GeoPackage's metadata tables first, then embedded in the project's vector layers
    too. Every vector layer is in the project; of the grade rasters, those of the
    ``rasters_per_element`` best-ranked sites per element (:func:`select_grade_rasters`). The
    STAC catalog lists them all.

    Parameters
    ----------
    root : Path
        The folder holding ``inventory.gpkg`` (an output or staging folder); the project is
        written beside it.
    rasters_root : Path, optional
        The folder whose ``rasters/`` hold the grade rasters the project shows (default
        ``root``): a staging folder's rasters may be published already.
    rasters_per_element : int
        Grade-raster layers per element (default :data:`RASTERS_PER_ELEMENT`).

    Returns
    -------
    dict of str to Path
        ``qgis_project`` -> the ``.qgz`` written, ``countries`` -> the country outlines it draws.

    Raises
    ------
    FileNotFoundError
        If ``root`` holds no ``inventory.gpkg``.
    ValueError
        If ``rasters_per_element`` is negative.
    """
    gpkg = root / INVENTORY_FILE
    if not gpkg.is_file():
        raise FileNotFoundError(f"no {INVENTORY_FILE} in {root}: the QGIS project shows its layers; write it first")
    if rasters_per_element < 0:
        raise ValueError(f"rasters_per_element must be 0 or more, got {rasters_per_element}")
    rasters = select_grade_rasters(rasters_root or root, site_ranks(gpkg), rasters_per_element)
    metadata = inventory_metadata(gpkg, LAYER_TITLES, RASTER_NOTE if rasters else "")
    write_layer_metadata(gpkg, {table: value for table, value in metadata.items() if table != "rasters"})
    provenance = read_run_metadata(gpkg)
    run_note = ", ".join(part for part in (
        f"run {provenance['run_id']}" if provenance.get("run_id") else "",
        f"{provenance['run_time_utc']} UTC" if provenance.get("run_time_utc") else "",
        provenance.get("code_version", ""), provenance.get("data_origin", ""),
    ) if part)  # fmt: skip
    qgs = project_document(
        describe_vectors(gpkg), rasters, provenance.get("title") or "Residua inventory", is_synthetic_run(provenance),
        provenance.get("disclaimer", ""), metadata, sample_grade_breaks(gpkg), run_note, rasters_per_element,
    )  # fmt: skip
    qgz = qgz_bytes(qgs)
    (root / PROJECT_FILE).write_bytes(qgz)
    store_project_in_geopackage(gpkg, qgz)
    countries = root / COUNTRIES_FILE
    countries.parent.mkdir(exist_ok=True)
    countries.write_bytes(_COUNTRIES_SOURCE.read_bytes())
    return {"qgis_project": root / PROJECT_FILE, "countries": countries}


def site_ranks(gpkg: Path) -> dict[str, int]:
    """Site id -> rank of the ranked sites in ``gpkg``'s ``sites_ranked`` (unranked sites are left out).

    Read with SQLite (GDAL would leave an ``.aux.xml``); empty when the table or its
    ``site_id`` / ``rank`` columns are missing.
    """
    with sqlite3.connect(gpkg) as db:
        columns = {row[1] for row in db.execute('PRAGMA table_info("sites_ranked")')}
        if not {"site_id", "rank"} <= columns:
            return {}
        rows = db.execute('SELECT site_id, "rank" FROM sites_ranked WHERE "rank" IS NOT NULL').fetchall()
    return {str(site_id): int(rank) for site_id, rank in rows}


def select_grade_rasters(root: Path, ranks: Mapping[str, int],
                         per_element: int = RASTERS_PER_ELEMENT) -> list[GradeRaster]:  # fmt: skip
    """The grade rasters of the ``per_element`` best-ranked sites of each element, described.

    Candidates are the files matching :data:`RASTER_GLOB`, ordered by their site's rank
    (element and site from the file name ``<site>_<element>_grade.tif``); sites without a rank
    come after the ranked ones, by site id. Only candidates are opened, in that order, until
    an element has ``per_element`` rasters: a file that is no raster, or a raster without a
    valid P50 cell, gives its place to the next site.

    Parameters
    ----------
    root : Path
        The output (or staging) folder holding ``rasters/``.
    ranks : mapping of str to int
        Site id -> rank (1 is best), e.g. :func:`site_ranks`.
    per_element : int
        Rasters kept per element.

    Returns
    -------
    list of GradeRaster
        Sorted by element, then rank.

    Examples
    --------
    >>> select_grade_rasters(Path("no-such-folder"), {"S1": 1}, 25)
    []
    """

    def order(relative: str) -> tuple[int, int, str]:
        site_id = _stem_parts(relative)[0]
        rank = ranks.get(site_id)
        return (0, rank, site_id) if rank is not None else (1, 0, site_id)

    candidates = sorted((path.relative_to(root).as_posix() for path in root.glob(RASTER_GLOB)),
                        key=lambda relative: (order(relative), relative))  # fmt: skip
    chosen: list[GradeRaster] = []
    counts: dict[str, int] = {}
    for relative in candidates:
        if counts.get(_stem_parts(relative)[1], 0) >= per_element:
            continue
        for raster in describe_grade_rasters(root, [relative]):
            if counts.get(raster.element, 0) < per_element:
                counts[raster.element] = counts.get(raster.element, 0) + 1
                chosen.append(raster)
    position = {raster.path: index for index, raster in enumerate(chosen)}
    return sorted(chosen, key=lambda raster: (raster.element, position[raster.path]))


def _stem_parts(relative: str) -> tuple[str, str]:
    """(site id, element) from a grade raster's name ``<site>_<element>_grade.tif``."""
    stem = Path(relative).stem.removesuffix("_grade")
    site_id, _, element = stem.rpartition("_")
    return (site_id or stem, element.lower())


def describe_grade_rasters(root: Path, paths: Sequence[str] | None = None) -> list[GradeRaster]:
    """Read what the project needs of each grade raster (tags, CRS, extent, P50 values).

    Parameters
    ----------
    root : Path
        The output (or staging) folder the paths are relative to.
    paths : sequence of str, optional
        Raster paths relative to ``root``; default every file matching :data:`RASTER_GLOB`.

    Returns
    -------
    list of GradeRaster
        Sorted by element, then site. Files that are not georeferenced rasters, and rasters
        without a valid P50 cell, are skipped.
    """
    if paths is None:
        paths = sorted(path.relative_to(root).as_posix() for path in root.glob(RASTER_GLOB))
    rasters = []
    for relative in paths:
        try:
            dataset = rasterio.open(root / relative)
        except rasterio.errors.RasterioIOError:  # not a raster (a stray file): nothing to show
            continue
        with dataset:
            if dataset.crs is None:
                continue
            tags = dataset.tags()
            stem = Path(relative).stem.removesuffix("_grade")
            element = tags.get("element") or stem.rsplit("_", 1)[-1]
            values = dataset.read(1, masked=True).compressed()
            values = values[np.isfinite(values)]
            if not values.size:
                continue
            epsg = dataset.crs.to_epsg() if dataset.crs else None
            crs = f"EPSG:{epsg}" if epsg else dataset.crs.to_wkt()
            bounds = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds, densify_pts=21)
            quantiles = tuple(float(q) for q in np.quantile(values, _QUANTILES))
            rasters.append(GradeRaster(relative, element.lower(), tags.get("site_id") or stem.rsplit("_", 1)[0], crs,
                                       tuple(bounds), (float(values.min()), float(values.max())), quantiles,
                                       int(values.size)))  # fmt: skip
    return sorted(rasters, key=lambda raster: (raster.element, raster.site_id))


def describe_vectors(gpkg: Path) -> list[VectorSource]:
    """The spatial tables of a GeoPackage; a table of several geometry types gives one layer per type.

    Read with SQLite from ``gpkg_contents`` and ``gpkg_geometry_columns``: opening the file
    with GDAL would leave an ``.aux.xml`` beside it.
    """
    with sqlite3.connect(gpkg) as db:
        rows = db.execute(
            "SELECT c.table_name, g.column_name, g.geometry_type_name, c.min_x, c.min_y, c.max_x, c.max_y "
            "FROM gpkg_contents c JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
            "WHERE c.data_type = 'features' ORDER BY c.rowid"
        ).fetchall()
        sources = []
        for table, column, geometry_type, *extent in rows:
            bounds = tuple(float(value) for value in extent) if None not in extent else None
            fields = tuple(row[1] for row in db.execute(f'PRAGMA table_info("{table}")') if row[1] != column)
            kind = _geometry_kind(geometry_type)
            if kind is None:  # mixed: one layer per kind present, as QGIS splits such a table
                for part in _kinds_present(db, table, column):
                    sources.append(VectorSource(table, part, bounds, fields, split=True))
            else:
                sources.append(VectorSource(table, kind, bounds, fields))
    return sources


def project_document(
    vectors: Sequence[VectorSource],
    rasters: Sequence[GradeRaster],
    title: str,
    synthetic: bool,
    disclaimer: str,
    metadata: Mapping[str, LayerMetadata] | None = None,
    sample_breaks: Mapping[str, tuple[float, ...]] | None = None,
    run_note: str = "",
    rasters_per_element: int = RASTERS_PER_ELEMENT,
) -> str:
    """The QGIS project XML (``.qgs`` text) for these layers.

    Parameters
    ----------
    vectors : sequence of VectorSource
        Layers of ``inventory.gpkg`` (see :func:`describe_vectors`).
    rasters : sequence of GradeRaster
        Grade rasters, in the order their groups list them (see :func:`select_grade_rasters`).
    title : str
        Project and layout title.
    synthetic : bool
        Whether the run's data are synthetic: the layout then carries :data:`SYNTHETIC_BANNER`.
    disclaimer : str
        The screening disclaimer printed on the layout.
    metadata : mapping of str to LayerMetadata, optional
        Per table (and ``"rasters"`` for the grade rasters): the layers' metadata in the project.
    sample_breaks : mapping of str to tuple of float, optional
        Element -> class limits (g/t) of the samples' grade classes; elements without are not styled.
    run_note : str
        A line printed under the title (run id, time, code version).
    rasters_per_element : int
        How many rasters per element were selected: the element groups' names say it
        (:func:`raster_group_name`).

    Returns
    -------
    str
        The project document.

    Raises
    ------
    ValueError
        If no ``sites_ranked`` layer is given.

    Examples
    --------
    >>> sites = VectorSource("sites_ranked", "Polygon", (78.0, 20.0, 80.0, 22.0), ("site_id", "rank"))
    >>> qgs = project_document([sites], [], "Demo", True, "Screening only.")
    >>> 'source="./inventory.gpkg|layername=sites_ranked"' in qgs and SYNTHETIC_BANNER in qgs
    True
    """
    if not any(vector.table == "sites_ranked" for vector in vectors):
        raise ValueError(f"the project needs a sites_ranked layer; got {[vector.table for vector in vectors]}")
    return _Project(vectors, rasters, title, synthetic, disclaimer, metadata or {}, sample_breaks or {},
                    run_note, rasters_per_element).document()  # fmt: skip


def raster_group_name(element: str, per_element: int = RASTERS_PER_ELEMENT) -> str:
    """The layer-tree group of an element's grade rasters.

    Examples
    --------
    >>> raster_group_name("ga")
    'Ga grade (top 25 sites)'
    """
    return f"{ELEMENT_NAMES.get(element, element)} grade (top {per_element} sites)"


def qgz_bytes(qgs: str, name: str = PROJECT_NAME) -> bytes:
    """A ``.qgz`` archive (zip) holding the project as ``<name>.qgs``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(f"{name}.qgs", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, qgs.encode("utf-8"))
    return buffer.getvalue()


def store_project_in_geopackage(gpkg: Path, qgz: bytes, name: str = PROJECT_NAME, user: str = "residua") -> None:
    """Store a project in ``gpkg``'s ``qgis_projects`` table, as QGIS (3.8+) does, replacing one of that name.

    QGIS keeps the ``.qgz`` bytes hex-encoded in ``content`` and the last change in ``metadata``
    (JSON); it lists the project under the GeoPackage in its Browser and opens it from there
    (``geopackage:<path>?projectName=<name>``).
    """
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    metadata = json.dumps({"last_modified_time": stamp, "last_modified_user": user})
    with sqlite3.connect(gpkg) as db:
        db.execute("CREATE TABLE IF NOT EXISTS qgis_projects (name TEXT PRIMARY KEY, metadata BLOB, content BLOB)")
        db.execute("INSERT OR REPLACE INTO qgis_projects VALUES (?, ?, ?)", (name, metadata, qgz.hex()))


def read_project_from_geopackage(gpkg: Path, name: str = PROJECT_NAME) -> str:
    """The ``.qgs`` text of a project stored in ``gpkg`` (see :func:`store_project_in_geopackage`)."""
    with sqlite3.connect(gpkg) as db:
        row = db.execute("SELECT content FROM qgis_projects WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise KeyError(f"no QGIS project {name!r} in {gpkg}")
    with zipfile.ZipFile(io.BytesIO(bytes.fromhex(row[0]))) as archive:
        return archive.read(f"{name}.qgs").decode("utf-8")


def sample_grade_breaks(gpkg: Path, elements: Sequence[str] = tuple(ELEMENT_NAMES)) -> dict[str, tuple[float, ...]]:
    """Quintile limits (g/t, 2 significant digits) of each element's sample grades in ``gpkg``'s ``samples``."""
    with sqlite3.connect(gpkg) as db:
        if not db.execute("SELECT 1 FROM gpkg_contents WHERE table_name = 'samples'").fetchone():
            return {}
        fields = {row[1] for row in db.execute('PRAGMA table_info("samples")')}
        breaks = {}
        for element in elements:
            column = f"{element}_gt"
            if column not in fields:
                continue
            values = np.array([row[0] for row in db.execute(
                f'SELECT "{column}" FROM samples WHERE "{column}" > 0')], dtype=float)  # fmt: skip
            values = values[np.isfinite(values)]
            if values.size < 5:
                continue
            breaks[element] = tuple(sorted({float(f"{q:.2g}") for q in np.quantile(values, (0.2, 0.4, 0.6, 0.8))}))
    return breaks


def _geometry_kind(geometry_type: str) -> str | None:
    text = geometry_type.lower()
    for kind in ("Point", "Line", "Polygon"):
        if kind.lower() in text:
            return kind
    return None


def _kinds_present(db: sqlite3.Connection, table: str, column: str) -> list[str]:
    """Geometry kinds in a table, from each GeoPackage geometry blob's WKB type."""
    kinds = set()
    for (blob,) in db.execute(f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'):
        kind = _blob_kind(bytes(blob))
        if kind is not None:
            kinds.add(kind)
    return [kind for kind in ("Polygon", "Line", "Point") if kind in kinds]


def _blob_kind(blob: bytes) -> str | None:
    """Point, Line or Polygon from a GeoPackage geometry blob (header 'GP', flags, envelope, then WKB)."""
    if len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((flags >> 1) & 0b111, 0)
    if flags & 0b10000:  # empty geometry
        return None
    wkb = blob[8 + envelope :]
    if len(wkb) < 5:
        return None
    code = int.from_bytes(wkb[1:5], "little" if wkb[0] == 1 else "big") % 1000
    return {1: "Point", 4: "Point", 2: "Line", 5: "Line", 3: "Polygon", 6: "Polygon"}.get(code)


def _layer_id(name: str) -> str:
    """A layer id as QGIS writes them (name and a uuid), reproducible from ``name``."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return f"{stem}_{uuid.uuid5(uuid.NAMESPACE_URL, f'residua-layer:{name}').hex}"


def _uuid(name: str) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"residua-item:{name}")) + "}"


def _project_crs(bounds: tuple[float, float, float, float]) -> pyproj.CRS:
    """WGS 84 / UTM of the inventory's centre (scale bar in km); Web Mercator for wider than 40 degrees."""
    minx, miny, maxx, maxy = bounds
    if maxx - minx > 40:
        return pyproj.CRS.from_epsg(3857)
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    zone = int((lon + 180) // 6) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


class _Project:
    """Builds one project document; the layer ids, tree and themes are derived from the inputs."""

    def __init__(self, vectors, rasters, title, synthetic, disclaimer, metadata, sample_breaks, run_note,
                 per_element) -> None:  # fmt: skip
        order = {
            "sampling_plan": -1,
            "hubs": 0,
            "hub_assignments": 0.5,
            "samples": 1,
            "sites_ranked": 3,
            "quarantine": 4,
        }
        self.vectors = sorted(vectors, key=lambda v: (order.get(v.table, 0.5 if v.table.startswith("hub") else 2),
                                                      v.table, v.geometry))  # fmt: skip
        self.rasters = list(rasters)
        self.title, self.synthetic, self.disclaimer, self.run_note = title, synthetic, disclaimer, run_note
        self.metadata = metadata
        self.breaks = dict(sample_breaks)
        self.elements = [e for e in ELEMENT_NAMES if e in self.breaks or any(r.element == e for r in self.rasters)]
        sites = next(v for v in vectors if v.table == "sites_ranked")
        all_bounds = [v.bounds for v in vectors if v.bounds is not None and v.table != "quarantine"]
        self.bounds = _union(all_bounds) if all_bounds else (sites.bounds or (-180.0, -85.0, 180.0, 85.0))
        self.crs = _project_crs(self.bounds)
        self.ids = {self._key(v): _layer_id(self._name(v)) for v in self.vectors}
        self.ids.update({r.path: _layer_id(r.path) for r in self.rasters})
        self.sites_point = any(v.table == "sites_ranked" and v.geometry == "Point" for v in self.vectors)
        self.per_element = per_element
        self._pipes: dict[str, ET.Element] = {}  # element -> its rasters' renderer pipe, built once

    @staticmethod
    def _key(vector: VectorSource) -> str:
        return f"{vector.table}:{vector.geometry}" if vector.split else vector.table

    @staticmethod
    def _name(vector: VectorSource) -> str:
        name = LAYER_TITLES.get(vector.table, vector.table)
        return f"{name} ({vector.geometry.lower()}s)" if vector.split else name

    def document(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        root = ET.Element("qgis", {"projectname": self.title, "version": QGIS_VERSION, "saveUser": "residua",
                                   "saveUserFull": "Residua", "saveDateTime": stamp})  # fmt: skip
        _sub(root, "homePath", path="")
        _sub(root, "title", self.title)
        _sub(root, "autotransaction", active="0")
        _sub(root, "evaluateDefaultValues", active="0")
        _sub(root, "trust", active="0")
        _sub(root, "projectCrs").append(spatialrefsys(self.crs))
        root.append(self._layer_tree())
        _sub(root, "relations")
        root.append(self._map_canvas())
        layers = _sub(root, "projectlayers")
        for vector in self.vectors:
            layers.append(self._vector_layer(vector))
        for raster in self.rasters:
            layers.append(self._raster_layer(raster))
        layers.append(self._countries_layer())
        order = _sub(root, "layerorder")
        for layer_id in self._tree_order():
            _sub(order, "layer", id=layer_id)
        root.append(self._properties())
        root.append(self._themes())
        root.append(self._project_metadata(stamp))
        _sub(root, "Annotations")
        layouts = _sub(root, "Layouts")
        layouts.append(self._layout())
        _sub(root, "Bookmarks")
        view = _sub(root, "ProjectViewSettings", UseProjectScales="0", rotation="0")
        extent = self._view_extent()
        default = _sub(view, "DefaultViewExtent", xmin=repr(extent[0]), ymin=repr(extent[1]), xmax=repr(extent[2]),
                       ymax=repr(extent[3]))  # fmt: skip
        default.append(spatialrefsys(self.crs))
        ET.indent(root)
        return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode")

    # --- layer tree and themes -------------------------------------------------------------

    def _vector_checked(self, vector: VectorSource) -> bool:
        return vector.table != "quarantine"

    def _tree(self) -> list[tuple[str, object]]:
        """Top-level entries in drawing order (top first): ('layer', vector) or ('group', element)."""
        entries: list[tuple[str, object]] = []
        for vector in self.vectors:
            if vector.table == "sites_ranked" and self.rasters and ("rasters", None) not in entries:
                entries.append(("rasters", None))
            entries.append(("layer", vector))
        if self.rasters and ("rasters", None) not in entries:
            entries.append(("rasters", None))
        return entries

    def _tree_order(self) -> list[str]:
        ids = []
        for kind, item in self._tree():
            if kind == "layer":
                ids.append(self.ids[self._key(item)])  # type: ignore[arg-type]
            else:
                ids += [self.ids[r.path] for e in self.elements for r in self.rasters if r.element == e]
        return [*ids, _layer_id("countries")]

    def _layer_tree(self) -> ET.Element:
        tree = ET.Element("layer-tree-group")
        _sub(tree, "customproperties")
        first = self.elements[0] if self.elements else None
        for kind, item in self._tree():
            if kind == "layer":
                vector: VectorSource = item  # type: ignore[assignment]
                self._tree_layer(tree, self.ids[self._key(vector)], self._name(vector), vector.source, "ogr",
                                 self._vector_checked(vector))  # fmt: skip
                continue
            group = _sub(tree, "layer-tree-group", name=RASTER_GROUP, checked="Qt::Checked", expanded="1")
            _sub(group, "customproperties")
            for element in self.elements:
                members = [r for r in self.rasters if r.element == element]
                if not members:
                    continue
                checked = "Qt::Checked" if element == first else "Qt::Unchecked"
                sub = _sub(group, "layer-tree-group", name=raster_group_name(element, self.per_element),
                           checked=checked, expanded="0")  # fmt: skip
                _sub(sub, "customproperties")
                for raster in members:
                    self._tree_layer(sub, self.ids[raster.path], self._raster_name(raster), f"./{raster.path}",
                                     "gdal", True)  # fmt: skip
        self._tree_layer(tree, _layer_id("countries"), "Country outlines (Natural Earth)", f"./{COUNTRIES_FILE}",
                         "ogr", True)  # fmt: skip
        custom = _sub(tree, "custom-order", enabled="0")
        for layer_id in self._tree_order():
            _sub(custom, "item", layer_id)
        return tree

    @staticmethod
    def _tree_layer(parent: ET.Element, layer_id: str, name: str, source: str, provider: str, checked: bool,
                    legend_title: str | None = None) -> None:  # fmt: skip
        node = _sub(parent, "layer-tree-layer", id=layer_id, name=name, source=source, providerKey=provider,
                    checked="Qt::Checked" if checked else "Qt::Unchecked", expanded="1" if provider == "ogr" else "0",
                    legend_exp="", patch_size="-1,-1", legend_split_behavior="0")  # fmt: skip
        properties = _sub(node, "customproperties")
        if legend_title is not None:  # the legend's own label of the layer (QGIS: "legend/title-label")
            options = _sub(properties, "Option", type="Map")
            _sub(options, "Option", name="legend/title-label", type="QString", value=legend_title)

    @staticmethod
    def _raster_name(raster: GradeRaster) -> str:
        return f"{raster.site_id} {ELEMENT_NAMES.get(raster.element, raster.element)} P50 (g/t)"

    def _themes(self) -> ET.Element:
        presets = ET.Element("visibility-presets")
        for element in self.elements:
            preset = _sub(presets, "visibility-preset", name=ELEMENT_NAMES[element], **{
                "has-checked-group-info": "1", "has-expanded-info": "1"})  # fmt: skip
            for vector in self.vectors:
                if not self._vector_checked(vector):
                    continue
                layer_id = self.ids[self._key(vector)]
                style = ELEMENT_NAMES[element] if vector.table == "samples" and element in self.breaks else "default"
                _sub(preset, "layer", id=layer_id, visible="1", style=style, expanded="1")
            for raster in self.rasters:
                if raster.element == element:
                    _sub(preset, "layer", id=self.ids[raster.path], visible="1", style="default", expanded="0")
            _sub(preset, "layer", id=_layer_id("countries"), visible="1", style="default", expanded="0")
            checked = _sub(preset, "checked-group-nodes")
            expanded = _sub(preset, "expanded-group-nodes")
            if any(r.element == element for r in self.rasters):
                for group in (RASTER_GROUP, f"{RASTER_GROUP}/{raster_group_name(element, self.per_element)}"):
                    _sub(checked, "checked-group-node", id=group)
                _sub(expanded, "expanded-group-node", id=RASTER_GROUP)
        return presets

    # --- layers ----------------------------------------------------------------------------

    def _common_layer(self, element: ET.Element, layer_id: str, source: str, name: str, crs: str,
                      metadata: LayerMetadata | None, keywords: Sequence[str]) -> None:  # fmt: skip
        _sub(element, "id", layer_id)
        _sub(element, "datasource", source)
        keyword_list = _sub(element, "keywordList")
        for word in keywords or ("",):
            _sub(keyword_list, "value", word)
        _sub(element, "layername", name)
        _sub(element, "srs").append(spatialrefsys(crs))
        if metadata is not None:
            element.append(metadata_element(replace(metadata, crs=crs), wkt=False))

    def _vector_layer(self, vector: VectorSource) -> ET.Element:
        scaled = vector.table == "samples"
        element = ET.Element("maplayer", {
            "type": "vector", "geometry": vector.geometry, "styleCategories": "AllStyleCategories",
            "hasScaleBasedVisibilityFlag": "1" if scaled else "0", "minScale": f"{SAMPLES_SCALE}" if scaled else "0",
            "maxScale": "0", "labelsEnabled": "1" if vector.table == "sites_ranked" else "0", "readOnly": "0",
            "simplifyDrawingHints": "1", "simplifyDrawingTol": "1", "simplifyLocal": "1", "simplifyMaxScale": "1",
            "simplifyAlgorithm": "0", "autoRefreshEnabled": "0", "autoRefreshTime": "0", "refreshOnNotifyEnabled": "0",
            "refreshOnNotifyMessage": "", "symbologyReferenceScale": "-1",
        })  # fmt: skip
        metadata = self.metadata.get(vector.table)
        keywords = [word for words in metadata.keywords.values() for word in words] if metadata else []
        self._common_layer(element, self.ids[self._key(vector)], vector.source, self._name(vector), "EPSG:4326",
                           metadata, keywords)  # fmt: skip
        _sub(element, "provider", "ogr", encoding="UTF-8")
        styles = _sub(element, "map-layer-style-manager")
        if vector.table == "samples" and self.breaks:
            first = next((e for e in self.elements if e in self.breaks), None)
            styles.set("current", ELEMENT_NAMES[first] if first else "default")
            for element_code in self.elements:
                if element_code not in self.breaks:
                    continue
                style = _sub(styles, "map-layer-style", name=ELEMENT_NAMES[element_code])
                if element_code != first:
                    named = _sub(style, "qgis", version=QGIS_VERSION, styleCategories="Symbology")
                    named.append(rule_renderer(grade_rules(f"{element_code}_gt", self.breaks[element_code])))
            plain = _sub(_sub(styles, "map-layer-style", name="default"), "qgis", version=QGIS_VERSION,
                         styleCategories="Symbology")  # fmt: skip
            plain.append(rule_renderer(samples_rules()))  # for themes of elements without assays
            renderer = rule_renderer(grade_rules(f"{first}_gt", self.breaks[first])) if first else None
        else:
            styles.set("current", "default")
            _sub(styles, "map-layer-style", name="default")
            renderer = None
        flags = _sub(element, "flags")
        for flag, value in (("Identifiable", "1"), ("Removable", "1"), ("Searchable", "1"), ("Private", "0")):
            _sub(flags, flag, value)
        if renderer is None:
            renderer = rule_renderer(self._rules(vector))
        element.append(renderer)
        if vector.table == "sites_ranked":
            element.append(_site_labels())
        _sub(element, "blendMode", "0")
        _sub(element, "featureBlendMode", "0")
        _sub(element, "layerOpacity", "1")
        display = {"sites_ranked": "site_id", "samples": "sample_id", "hubs": "name",
                   "hub_assignments": "site_id", "sampling_plan": "hole_id"}.get(vector.table)  # fmt: skip
        if display in vector.fields:
            _sub(element, "previewExpression", f'"{display}"')
        return element

    def _rules(self, vector: VectorSource) -> list[Rule]:
        if vector.table == "sites_ranked":
            rules = scaled_sites_rules(with_points=vector.geometry == "Point" or not vector.split)
            if vector.geometry == "Point":
                return [rule for rule in rules if rule.filter.geometry == "Point"]
            return rules
        if vector.table == "samples":
            return samples_rules()
        if vector.table == "quarantine":
            return [rule for rule in quarantine_rules() if rule.filter.geometry in (None, vector.geometry)]
        if vector.table == "hub_assignments" and vector.geometry == "Line":
            return hub_assignments_rules()
        if vector.table == "sampling_plan" and vector.geometry == "Point":
            return sampling_plan_rules()
        if vector.table.startswith("hub") and vector.geometry == "Point":
            return hubs_rules()
        return _default_rules(vector.geometry)

    def _countries_layer(self) -> ET.Element:
        element = ET.Element("maplayer", {"type": "vector", "geometry": "Polygon", "styleCategories":
                                          "AllStyleCategories", "hasScaleBasedVisibilityFlag": "0", "minScale": "0",
                                          "maxScale": "0", "labelsEnabled": "0", "readOnly": "1"})  # fmt: skip
        metadata = LayerMetadata("Country outlines", "Natural Earth 1:110m admin-0 countries (public domain), "
                                 "coordinates rounded to 0.01 degrees; for orientation only.",
                                 licence="Public domain (Natural Earth)")  # fmt: skip
        self._common_layer(element, _layer_id("countries"), f"./{COUNTRIES_FILE}", "Country outlines (Natural Earth)",
                           "EPSG:4326", metadata, ["basemap"])  # fmt: skip
        _sub(element, "provider", "ogr", encoding="UTF-8")
        styles = _sub(element, "map-layer-style-manager", current="default")
        _sub(styles, "map-layer-style", name="default")
        land = Symbol("fill", fill="#f4f1ea", stroke="#9e9e9e", stroke_width=0.2)
        element.append(rule_renderer([Rule("Country", land)]))
        _sub(element, "blendMode", "0")
        _sub(element, "featureBlendMode", "0")
        _sub(element, "layerOpacity", "1")
        return element

    def _raster_layer(self, raster: GradeRaster) -> ET.Element:
        element = ET.Element("maplayer", {
            "type": "raster", "styleCategories": "AllStyleCategories", "hasScaleBasedVisibilityFlag": "1",
            "minScale": f"{RASTER_SCALE}", "maxScale": "0", "autoRefreshEnabled": "0", "autoRefreshTime": "0",
            "refreshOnNotifyEnabled": "0", "refreshOnNotifyMessage": "",
        })  # fmt: skip
        keywords = ["grade", ELEMENT_NAMES.get(raster.element, raster.element), raster.site_id]
        self._common_layer(element, self.ids[raster.path], f"./{raster.path}", self._raster_name(raster), raster.crs,
                           self._raster_metadata(raster), keywords)  # fmt: skip
        _sub(element, "provider", "gdal")
        nodata = _sub(element, "noData")
        _sub(nodata, "noDataList", bandNo="1", useSrcNoData="1")
        styles = _sub(element, "map-layer-style-manager", current="default")
        _sub(styles, "map-layer-style", name="default")
        flags = _sub(element, "flags")
        for flag, value in (("Identifiable", "1"), ("Removable", "1"), ("Searchable", "1"), ("Private", "0")):
            _sub(flags, flag, value)
        if raster.element not in self._pipes:
            self._pipes[raster.element] = self._raster_pipe(raster.element)
        element.append(copy.deepcopy(self._pipes[raster.element]))
        _sub(element, "blendMode", "0")
        return element

    def _raster_metadata(self, raster: GradeRaster) -> LayerMetadata | None:
        """A short record per raster layer: its title, extent and the rasters' abstract; the full lineage (every
        input's checksum) is in the GeoPackage's layer metadata and would otherwise be repeated in every layer."""
        base = self.metadata.get(f"rasters/{raster.element}") or self.metadata.get("rasters")
        if base is None:
            return None
        name = ELEMENT_NAMES.get(raster.element, raster.element)
        return LayerMetadata(
            f"{raster.site_id} {name} block grade (g/t)", base.abstract, raster.crs, raster.bounds_wgs84,
            base.temporal, licence=base.licence, rights=base.rights, contact=base.contact,
            lineage=(base.lineage[0] if base.lineage else "Produced by Residua.",
                     "Full lineage: the layer metadata of inventory.gpkg; every grade raster: stac/catalog.json."),
            identifier=f"{base.identifier}:{raster.site_id}:{raster.element}",
        )  # fmt: skip

    def _raster_pipe(self, element: str) -> ET.Element:
        """The renderer pipe of an element's rasters: band 1 (P50) in the element's colour ramp."""
        pipe = ET.Element("pipe")
        _sub(_sub(pipe, "provider"), "resampling", enabled="false", maxOversampling="2",
             zoomedInResamplingMethod="nearestNeighbour", zoomedOutResamplingMethod="nearestNeighbour")  # fmt: skip
        stops = self._raster_stops(element)
        low, high = stops[0], stops[-1]
        renderer = _sub(pipe, "rasterrenderer", type="singlebandpseudocolor", band="1", opacity="0.9",
                        alphaBand="-1", classificationMin=repr(low), classificationMax=repr(high),
                        nodataColor="")  # fmt: skip
        _sub(renderer, "rasterTransparency")
        origin = _sub(renderer, "minMaxOrigin")
        for tag, text in (("limits", "None"), ("extent", "WholeRaster"), ("statAccuracy", "Estimated"),
                          ("cumulativeCutLower", "0.02"), ("cumulativeCutUpper", "0.98"),
                          ("stdDevFactor", "2")):  # fmt: skip
            _sub(origin, tag, text)
        shader = _sub(_sub(renderer, "rastershader"), "colorrampshader", colorRampType="INTERPOLATED",
                      classificationMode="2", clip="0", minimumValue=repr(low), maximumValue=repr(high),
                      labelPrecision="2")  # fmt: skip
        for value, colour in zip(stops, GRADE_COLOURS):
            _sub(shader, "item", value=repr(value), color=colour, alpha="255", label=f"{value:.3g}")
        legend = _sub(shader, "rampLegendSettings", useContinuousLegend="1", orientation="2", direction="0",
                      minimumLabel="", maximumLabel="", prefix="", suffix=" g/t")  # fmt: skip
        number = _sub(_sub(legend, "numericFormat", id="basic"), "Option", type="Map")
        for name, kind, value in (("decimals", "int", "3"), ("rounding_type", "int", "1"),
                                  ("show_trailing_zeros", "bool", "false"), ("show_thousand_separator", "bool", "true"),
                                  ("show_plus", "bool", "false")):  # significant figures  # fmt: skip
            _sub(number, "Option", name=name, type=kind, value=value)
        _sub(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
        _sub(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0", colorizeRed="255",
             colorizeGreen="128", colorizeBlue="128", colorizeStrength="100", invertColors="0")  # fmt: skip
        _sub(pipe, "rasterresampler", maxOversampling="2")
        _sub(pipe, "resamplingStage", "resamplingFilter")
        return pipe

    def _raster_stops(self, element: str) -> list[float]:
        """One ramp per element, so its rasters share a legend: its P50 cells' 2nd, 25th, 50th, 75th and 98th
        percentiles (pooled over its rasters, weighted by cells) take the ramp's five colours, values beyond
        the ends the end colours. Grades are skewed: evenly spaced stops would paint most sites one colour."""
        members = [r for r in self.rasters if r.element == element]
        # pooled over the rasters: each raster's percentiles, weighted by its cells
        values = np.concatenate([r.p50_quantiles for r in members])
        weights = np.concatenate([np.full(len(r.p50_quantiles), r.cells / len(r.p50_quantiles)) for r in members])
        order = np.argsort(values)
        cumulative = np.cumsum(weights[order]) / weights.sum()
        stops = [float(values[order][min(np.searchsorted(cumulative, q), len(values) - 1)]) for q in RAMP_QUANTILES]
        for index in range(1, len(stops)):  # strictly increasing, as QGIS's interpolation needs
            stops[index] = max(stops[index], stops[index - 1] * (1 + 1e-6) + 1e-9)
        return stops

    # --- project-wide parts -----------------------------------------------------------------

    def _view_extent(self) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = transform_bounds("EPSG:4326", self.crs, *self.bounds, densify_pts=21)
        pad_x, pad_y = max((maxx - minx) * 0.08, 2_000.0), max((maxy - miny) * 0.08, 2_000.0)
        return (minx - pad_x, miny - pad_y, maxx + pad_x, maxy + pad_y)

    def _map_canvas(self) -> ET.Element:
        canvas = ET.Element("mapcanvas", {"name": "theMapCanvas", "annotationsVisible": "1"})
        _sub(canvas, "units", "meters")
        extent = _sub(canvas, "extent")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), self._view_extent()):
            _sub(extent, tag, repr(value))
        _sub(canvas, "rotation", "0")
        _sub(canvas, "destinationsrs").append(spatialrefsys(self.crs))
        _sub(canvas, "rendermaptile", "0")
        return canvas

    def _properties(self) -> ET.Element:
        properties = ET.Element("properties")
        _sub(_sub(properties, "Paths"), "Absolute", "false", type="bool")
        _sub(_sub(properties, "Measure"), "Ellipsoid", "EPSG:7030", type="QString")
        # QGIS < 3.26 reads <projectCrs> only when ProjectionsEnabled is set.
        srs = _sub(properties, "SpatialRefSys")
        _sub(srs, "ProjectionsEnabled", "1", type="int")
        _sub(srs, "ProjectCrs", f"EPSG:{self.crs.to_epsg()}", type="QString")
        measurement = _sub(properties, "Measurement")
        _sub(measurement, "DistanceUnits", "km", type="QString")
        _sub(measurement, "AreaUnits", "ha", type="QString")
        return properties

    def _project_metadata(self, stamp: str) -> ET.Element:
        sites = self.metadata.get("sites_ranked")
        base = sites or LayerMetadata(self.title, self.disclaimer)
        element = metadata_element(LayerMetadata(
            self.title, f"{SYNTHETIC_BANNER} " * self.synthetic + base.abstract, base.crs, base.bounds, base.temporal,
            base.keywords, base.licence, base.rights, base.lineage, base.contact, "", base.language, "project",
        ), tag="projectMetadata")  # fmt: skip
        _sub(element, "author", base.contact.name)
        _sub(element, "creation", stamp)
        return element

    # --- print layout ----------------------------------------------------------------------

    def _layout(self) -> ET.Element:
        layout = ET.Element("Layout", {"name": "Residua inventory", "units": "mm", "printResolution": "300",
                                       "worldFileMap": ""})  # fmt: skip
        _sub(layout, "Snapper", tolerance="5", snapToItems="1", snapToGrid="0", snapToGuides="1")
        _sub(layout, "Grid", resolution="10", resUnits="mm", offsetX="0", offsetY="0", offsetUnits="mm")
        pages = _sub(layout, "PageCollection")
        page = _item(pages, "page", "page", (0, 0), (297, 210), z=0, background=True)
        _sub(page, "BackgroundColor", red="255", green="255", blue="255", alpha="255")
        _sub(pages, "GuideCollection", visible="1")
        map_size = (192.0, 160.0)
        map_item = _item(layout, "map", "map", (8, 30), map_size, z=1, frame=True, background=True,
                         drawCanvasItems="true", keepLayerSet="false", followPreset="false", followPresetName="",
                         mapRotation="0", mapFlags="0", labelMargin="0,mm", isTemporal="0")  # fmt: skip
        extent = _fit_extent(self._view_extent(), map_size)
        _sub(map_item, "Extent", xmin=repr(extent[0]), ymin=repr(extent[1]), xmax=repr(extent[2]),
             ymax=repr(extent[3]))  # fmt: skip
        _sub(map_item, "crs").append(spatialrefsys(self.crs))
        _sub(map_item, "LayerSet")
        _sub(map_item, "AtlasMap", atlasDriven="0", scalingMode="2", margin="0.1")
        _label(layout, "title", self.title, (8, 6), (281, 10), size=18, bold=True)
        if self.run_note:
            _label(layout, "run", self.run_note, (8, 17), (281, 6), size=8)
        if self.synthetic:
            _label(layout, "synthetic", SYNTHETIC_BANNER, (8, 23), (192, 6.5), size=10, bold=True,
                   colour="#ffffff", background="#c00000", centred=True)  # fmt: skip
        legend = _item(layout, "legend", "legend", (204, 30), (88, 160), z=2, frame=False, background=True,
                       map_uuid=_uuid("map"), title="Legend", legendFilterByMap="1", resizeToContents="0",
                       columnCount="1", symbolWidth="6", symbolHeight="3.5", wmsLegendWidth="50",
                       wmsLegendHeight="25", wrapChar="", fontColor="#000000", boxSpace="2", columnSpace="2",
                       lineSpacing="1", splitLayer="0", equalColumnWidth="0", rasterBorder="0",
                       rasterBorderWidth="0", rasterBorderColor="0,0,0,255", minSymbolSize="0", maxSymbolSize="0",
                       symbolAlignment="1", titleAlignment="1", legendFilterByAtlas="0")  # fmt: skip
        legend.append(self._legend_tree())
        styles = _sub(legend, "styles")
        for style, font, margin in (("title", "11,-1,5,75,0", "marginBottom"), ("group", "9,-1,5,75,0", "marginTop"),
                                    ("subgroup", "8.5,-1,5,50,1", "marginTop"), ("symbol", "8,-1,5,50,0", "marginTop"),
                                    ("symbolLabel", "8,-1,5,50,0", "marginTop")):  # fmt: skip
            entry = _sub(styles, "style", name=style, indent="0", alignment="1", **{margin: "1.5"})
            if style == "symbolLabel":
                entry.set("marginLeft", "2")
            _sub(entry, "styleFont", description=f"Sans Serif,{font},0,0,0,0,0", style="")
        scalebar = _item(layout, "scalebar", "scalebar", (10, 172), (70, 14), z=3, mapUuid=_uuid("map"),
                         style="Single Box", unitType="kilometers", unitLabel="km", numMapUnitsPerScaleBarUnit="1000",
                         numSegments="2", numSegmentsLeft="0", numSubdivisions="1", subdivisionsHeight="1.5",
                         segmentSizeMode="1", minBarWidth="30", maxBarWidth="60", numUnitsPerSegment="100",
                         height="2.5", outlineWidth="0.3", labelBarSpace="2", boxContentSpace="1", alignment="0",
                         lineJoinStyle="miter", lineCapStyle="square", labelVerticalPlacement="0",
                         labelHorizontalPlacement="0", background="true")  # fmt: skip
        _sub(scalebar, "fillColor", red="0", green="0", blue="0", alpha="255")
        _sub(scalebar, "fillColor2", red="255", green="255", blue="255", alpha="255")
        _sub(scalebar, "strokeColor", red="0", green="0", blue="0", alpha="255")
        _sub(scalebar, "scaleBarFont", description="Sans Serif,8,-1,5,50,0,0,0,0,0", style="")
        _sub(scalebar, "textColor", red="0", green="0", blue="0", alpha="255")
        _item(layout, "picture", "north_arrow", (185, 33), (12, 16), z=4, file=":/images/north_arrows/"
              "layout_default_north_arrow.svg", mode="0", mapUuid=_uuid("map"), northMode="0", northOffset="0",
              resizeMode="0", anchorPoint="0", pictureRotation="0", pictureWidth="12", pictureHeight="16",
              svgFillColor="0,0,0,255", svgBorderColor="255,255,255,255", svgBorderWidth="0.2")  # fmt: skip
        _label(layout, "disclaimer", self.disclaimer, (8, 194), (281, 10), size=8, italic=True)
        return layout

    def _legend_tree(self) -> ET.Element:
        """The legend's own layer tree: the vector layers and one grade raster per element (they share a ramp)."""
        tree = ET.Element("layer-tree-group")
        _sub(tree, "customproperties")
        for vector in self.vectors:
            if not self._vector_checked(vector):
                continue
            self._tree_layer(tree, self.ids[self._key(vector)], self._name(vector), vector.source, "ogr", True)
        for element in self.elements:
            raster = next((r for r in self.rasters if r.element == element), None)
            if raster is not None:
                name = f"{ELEMENT_NAMES[element]} block P50 grade (g/t)"
                self._tree_layer(tree, self.ids[raster.path], name, f"./{raster.path}", "gdal", True,
                                 legend_title=name)  # fmt: skip
        return tree


def _site_labels() -> ET.Element:
    """Site id and rank (``#3``; unranked sites: id only), from 1:250,000 in, with a white halo."""
    labeling = ET.Element("labeling", {"type": "simple"})
    settings = _sub(labeling, "settings", calloutType="simple")
    style = _sub(settings, "text-style", fieldName="\"site_id\" || coalesce(' #' || \"rank\", '')", isExpression="1",
                 fontFamily="Sans Serif", fontSize="8", fontSizeUnit="Point", fontWeight="63", fontItalic="0",
                 textColor="20,20,20,255", textOpacity="1", namedStyle="", blendMode="0", multilineHeight="1",
                 previewBkgrdColor="255,255,255,255", capitalization="0", allowHtml="0")  # fmt: skip
    _sub(style, "text-buffer", bufferDraw="1", bufferSize="0.8", bufferSizeUnits="MM", bufferColor="255,255,255,255",
         bufferOpacity="0.9", bufferNoFill="1", bufferJoinStyle="128", bufferBlendMode="0")  # fmt: skip
    _sub(settings, "text-format", wrapChar="", multilineAlign="0", formatNumbers="0", decimals="0", plussign="0")
    _sub(settings, "placement", placement="1", dist="1.5", distUnits="MM", offsetType="0", quadOffset="2",
         centroidWhole="0", centroidInside="1", priority="5", placementFlags="10", polygonPlacementFlags="2",
         fitInPolygonOnly="0", xOffset="0", yOffset="0", offsetUnits="MM", rotationAngle="0")  # fmt: skip
    _sub(settings, "rendering", scaleVisibility="1", scaleMin="1", scaleMax=f"{LABEL_SCALE}", drawLabels="1",
         obstacle="1", obstacleFactor="1", obstacleType="1", displayAll="0", upsidedownLabels="0", labelPerPart="0",
         mergeLines="0", minFeatureSize="0", limitNumLabels="0", maxNumLabels="2000", fontLimitPixelSize="0",
         fontMinPixelSize="3", fontMaxPixelSize="10000", zIndex="0", unplacedVisibility="0")  # fmt: skip
    return labeling


def _default_rules(geometry: str) -> list[Rule]:
    """A plain style for a spatial table Residua does not style (e.g. a layer added by a later version)."""
    if geometry == "Point":
        return [Rule("Feature", Symbol("marker", fill="#1f78b4", stroke="#ffffff", stroke_width=0.2, size=2.0))]
    if geometry == "Line":
        return [Rule("Feature", Symbol("line", fill=None, stroke="#1f78b4", stroke_width=0.4))]
    return [Rule("Feature", Symbol("fill", fill="#a6cee3", stroke="#1f78b4", stroke_width=0.4, opacity=0.5))]


def _item(parent: ET.Element, kind: str, name: str, position: tuple[float, float], size: tuple[float, float],
          z: int, frame: bool = False, background: bool = False, **attributes: str) -> ET.Element:  # fmt: skip
    identifier = _uuid(name)
    x, y = position
    width, height = size
    element = _sub(parent, "LayoutItem", type=str(_LAYOUT_ITEM[kind]), uuid=identifier, templateUuid=identifier,
                   id=name, position=f"{x:g},{y:g},mm", positionOnPage=f"{x:g},{y:g},mm",
                   size=f"{width:g},{height:g},mm",
                   referencePoint="0", zValue=str(z), frame="true" if frame else "false",
                   background="true" if background else "false", visibility="1", opacity="1", itemRotation="0",
                   positionLock="false", blendMode="0", excludeFromExports="0", outlineWidthM="0.3,mm",
                   frameJoinStyle="miter", groupUuid="", **attributes)  # fmt: skip
    _sub(element, "FrameColor", red="0", green="0", blue="0", alpha="255")
    if kind != "page":
        _sub(element, "BackgroundColor", red="255", green="255", blue="255", alpha="255")
    return element


def _label(parent: ET.Element, name: str, text: str, position: tuple[float, float], box: tuple[float, float], *,
           size: float = 10, bold: bool = False, italic: bool = False, colour: str = "#000000",
           background: str | None = None, centred: bool = False) -> ET.Element:  # fmt: skip
    """A layout label; Qt alignment flags: left 1, centre 4; top 32, vertical centre 128."""
    element = _item(parent, "label", name, position, box, z=6, background=background is not None, labelText=text,
                    htmlState="0", marginX="1" if background else "0", marginY="0.5" if background else "0",
                    halign="4" if centred else "1", valign="128" if background else "32")  # fmt: skip
    if background is not None:
        colour_element = element.find("BackgroundColor")
        red, green, blue = (str(int(background[i : i + 2], 16)) for i in (1, 3, 5))
        colour_element.attrib.update(red=red, green=green, blue=blue, alpha="255")  # type: ignore[union-attr]
    weight = 75 if bold else 50
    _sub(element, "LabelFont", description=f"Sans Serif,{size:g},-1,5,{weight},{int(italic)},0,0,0,0", style="")
    red, green, blue = (str(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    _sub(element, "FontColor", red=red, green=green, blue=blue, alpha="255")
    return element


def _fit_extent(extent: tuple[float, float, float, float], frame: tuple[float, float]) -> tuple[float, ...]:
    """Grow ``extent`` to the frame's aspect ratio, around its centre, so the map item shows all of it."""
    minx, miny, maxx, maxy = extent
    width, height = maxx - minx, maxy - miny
    ratio = frame[0] / frame[1]
    if width / height < ratio:
        grow = (height * ratio - width) / 2
        minx, maxx = minx - grow, maxx + grow
    else:
        grow = (width / ratio - height) / 2
        miny, maxy = miny - grow, maxy + grow
    return (minx, miny, maxx, maxy)


def _union(bounds: Sequence[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return (min(b[0] for b in bounds), min(b[1] for b in bounds), max(b[2] for b in bounds), max(b[3] for b in bounds))
