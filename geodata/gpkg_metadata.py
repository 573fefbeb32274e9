"""Per-layer metadata that QGIS's metadata panel and catalogues read: QGIS metadata XML in the GeoPackage.

QGIS (3.8 and later) reads a layer's metadata from the GeoPackage metadata extension: a row
of ``gpkg_metadata`` with ``md_standard_uri`` ``http://mrcc.com/qgis.dtd`` and a QGIS
metadata document, referenced from ``gpkg_metadata_reference`` with scope ``table`` and the
layer's table name. That is what QGIS itself writes when a user saves a layer's metadata to
the data source, and what its Properties > Metadata page, the Browser's metadata view and its
metadata search show: title, abstract, keywords, licence, history (lineage), contact,
spatial and temporal extent and CRS. GDAL's own provenance items (``http://gdal.org``) stay
beside these rows.
"""

from __future__ import annotations

import sqlite3
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyproj

from residua.geodata.styles import QGIS_VERSION

#: The metadata standard QGIS writes and reads in a GeoPackage.
QGIS_METADATA_URI = "http://mrcc.com/qgis.dtd"
#: Contact written when the settings name none (see :class:`Contact`).
DEFAULT_CONTACT_NAME = "Residua maintainers"
DEFAULT_CONTACT_ROLE = "pointOfContact"

#: The GeoPackage 1.2 metadata extension tables, as the specification (and GDAL) create them.
_METADATA_DDL = (
    (
        "CREATE TABLE IF NOT EXISTS gpkg_metadata (id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL, "
        "md_scope TEXT NOT NULL DEFAULT 'dataset', md_standard_uri TEXT NOT NULL, mime_type TEXT NOT NULL "
        "DEFAULT 'text/xml', metadata TEXT NOT NULL DEFAULT '')"
    ),
    (
        "CREATE TABLE IF NOT EXISTS gpkg_metadata_reference (reference_scope TEXT NOT NULL, table_name TEXT, "
        "column_name TEXT, row_id_value INTEGER, timestamp DATETIME NOT NULL DEFAULT "
        "(strftime('%Y-%m-%dT%H:%M:%fZ','now')), md_file_id INTEGER NOT NULL, md_parent_id INTEGER, "
        "CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id), "
        "CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id))"
    ),
)
_EXTENSIONS = (
    ("gpkg_metadata", None, "gpkg_metadata", "http://www.geopackage.org/spec120/#extension_metadata", "read-write"),
    ("gpkg_metadata_reference", None, "gpkg_metadata", "http://www.geopackage.org/spec120/#extension_metadata",
     "read-write"),
)  # fmt: skip


@dataclass(frozen=True)
class Contact:
    """Who answers questions about the data (ISO 19115 role ``pointOfContact`` by default)."""

    name: str = DEFAULT_CONTACT_NAME
    organization: str = ""
    email: str = ""
    role: str = DEFAULT_CONTACT_ROLE


@dataclass(frozen=True)
class LayerMetadata:
    """One layer's metadata as QGIS shows it.

    ``crs`` is the layer's CRS (an authority code such as ``EPSG:4326``, or WKT); ``bounds``
    are its (minx, miny, maxx, maxy) in lon/lat (EPSG:4326) whatever ``crs``; ``temporal`` is
    a (start, end) pair of ISO 8601 UTC times; ``keywords`` maps a vocabulary (e.g.
    ``gmd:topicCategory``) to its words; ``lineage`` lines become QGIS's history entries.
    """

    title: str
    abstract: str
    crs: str = "EPSG:4326"
    bounds: tuple[float, float, float, float] | None = None
    temporal: tuple[str, str] | None = None
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    licence: str = ""
    rights: str = ""
    lineage: tuple[str, ...] = ()
    contact: Contact = field(default_factory=Contact)
    identifier: str = ""
    language: str = "en"
    type: str = "dataset"


def qgis_metadata_xml(metadata: LayerMetadata) -> str:
    """The QGIS metadata document (``<qgis>`` root, qgis.dtd) of one layer.

    Examples
    --------
    >>> xml = qgis_metadata_xml(LayerMetadata("Sites", "Ranked sites", bounds=(70.0, 8.0, 90.0, 30.0)))
    >>> "<title>Sites</title>" in xml and 'crs="EPSG:4326"' in xml
    True
    """
    root = metadata_element(metadata, tag="qgis")
    root.set("version", QGIS_VERSION)
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"


def metadata_element(metadata: LayerMetadata, tag: str = "resourceMetadata", wkt: bool = True) -> ET.Element:
    """The metadata as QGIS's XML element: ``<qgis>`` in a GeoPackage, ``<resourceMetadata>`` in a project.

    ``wkt=False`` leaves the CRS's WKT out (QGIS resolves the CRS by its ``authid``): a project
    repeats the layer's CRS in its ``<srs>`` already.
    """
    root = ET.Element(tag)
    for name, text in (("identifier", metadata.identifier), ("parentidentifier", ""),
                       ("language", metadata.language), ("type", metadata.type), ("title", metadata.title),
                       ("abstract", metadata.abstract)):  # fmt: skip
        ET.SubElement(root, name).text = text
    for vocabulary, words in metadata.keywords.items():
        element = ET.SubElement(root, "keywords", {"vocabulary": vocabulary})
        for word in words:
            ET.SubElement(element, "keyword").text = word
    contact = ET.SubElement(root, "contact")
    for name, text in (("name", metadata.contact.name), ("organization", metadata.contact.organization),
                       ("position", ""), ("voice", ""), ("fax", ""), ("email", metadata.contact.email),
                       ("role", metadata.contact.role)):  # fmt: skip
        ET.SubElement(contact, name).text = text
    ET.SubElement(root, "links")
    for line in metadata.lineage:
        ET.SubElement(root, "history").text = line
    ET.SubElement(root, "fees").text = ""
    if metadata.rights:
        ET.SubElement(root, "rights").text = metadata.rights
    if metadata.licence:
        ET.SubElement(root, "license").text = metadata.licence
    ET.SubElement(root, "encoding").text = "UTF-8"
    crs = ET.SubElement(root, "crs")
    crs.append(spatialrefsys(metadata.crs, wkt=wkt))
    extent = ET.SubElement(root, "extent")
    if metadata.bounds is not None:
        minx, miny, maxx, maxy = (float(value) for value in metadata.bounds)
        ET.SubElement(extent, "spatial", {
            "dimensions": "2", "crs": "EPSG:4326", "minx": repr(minx), "miny": repr(miny), "maxx": repr(maxx),
            "maxy": repr(maxy), "minz": "0", "maxz": "0",
        })  # fmt: skip
    if metadata.temporal is not None:
        period = ET.SubElement(ET.SubElement(extent, "temporal"), "period")
        ET.SubElement(period, "start").text = metadata.temporal[0]
        ET.SubElement(period, "end").text = metadata.temporal[1]
    return root


def spatialrefsys(crs: str | pyproj.CRS, wkt: bool = True) -> ET.Element:
    """QGIS's ``<spatialrefsys>`` for a CRS; QGIS resolves it by ``authid``, the WKT is kept for other readers."""
    crs = pyproj.CRS.from_user_input(crs)
    with warnings.catch_warnings():  # pyproj warns that a PROJ string loses information: QGIS does not read it
        warnings.simplefilter("ignore", UserWarning)
        proj4 = crs.to_proj4() or ""
    authority = crs.to_authority()
    authid = f"{authority[0]}:{authority[1]}" if authority else ""
    element = ET.Element("spatialrefsys")
    values = {
        "wkt": crs.to_wkt() if wkt else "", "proj4": proj4, "srsid": "0",
        "srid": authority[1] if authority else "0", "authid": authid, "description": crs.name,
        "projectionacronym": "longlat" if crs.is_geographic else "", "ellipsoidacronym": "EPSG:7030",
        "geographicflag": "true" if crs.is_geographic else "false",
    }  # fmt: skip
    for name, text in values.items():
        ET.SubElement(element, name).text = text
    return element


def write_layer_metadata(gpkg: Path, metadata: Mapping[str, LayerMetadata]) -> None:
    """Write each layer's QGIS metadata into ``gpkg``'s metadata tables (replacing earlier QGIS rows).

    Parameters
    ----------
    gpkg : Path
        An existing GeoPackage; the metadata extension tables are created and registered if
        missing.
    metadata : mapping of str to LayerMetadata
        Table name -> its metadata; every table must be in ``gpkg_contents``.

    Raises
    ------
    ValueError
        If a table is not in the GeoPackage.
    """
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    with sqlite3.connect(gpkg) as db:
        tables = {row[0] for row in db.execute("SELECT table_name FROM gpkg_contents")}
        missing = sorted(set(metadata) - tables)
        if missing:
            raise ValueError(f"tables {missing} are not in {gpkg.name} (it has {sorted(tables)}); write them first")
        for statement in _METADATA_DDL:
            db.execute(statement)
        db.execute("CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, extension_name "
                   "TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE "
                   "(table_name, column_name, extension_name))")  # fmt: skip
        for table_name, column, extension, definition, scope in _EXTENSIONS:
            if not db.execute("SELECT 1 FROM gpkg_extensions WHERE table_name = ? AND extension_name = ?",
                              (table_name, extension)).fetchone():  # fmt: skip
                db.execute("INSERT INTO gpkg_extensions VALUES (?, ?, ?, ?, ?)",
                           (table_name, column, extension, definition, scope))  # fmt: skip
        for table, layer in metadata.items():
            old = [row[0] for row in db.execute(
                "SELECT m.id FROM gpkg_metadata m JOIN gpkg_metadata_reference r ON r.md_file_id = m.id "
                "WHERE m.md_standard_uri = ? AND r.reference_scope = 'table' AND r.table_name = ?",
                (QGIS_METADATA_URI, table))]  # fmt: skip
            for md_id in old:
                db.execute("DELETE FROM gpkg_metadata_reference WHERE md_file_id = ?", (md_id,))
                db.execute("DELETE FROM gpkg_metadata WHERE id = ?", (md_id,))
            cursor = db.execute(
                "INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) VALUES (?, ?, ?, ?)",
                ("dataset", QGIS_METADATA_URI, "text/xml", qgis_metadata_xml(layer)),
            )
            db.execute(
                "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, row_id_value, "
                "timestamp, md_file_id, md_parent_id) VALUES ('table', ?, NULL, NULL, ?, ?, NULL)",
                (table, stamp, cursor.lastrowid),
            )


def read_run_metadata(gpkg: Path) -> dict[str, str]:
    """The ``run_metadata`` table of a published GeoPackage as a dict (empty if there is none)."""
    with sqlite3.connect(gpkg) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'run_metadata'").fetchone():
            return {}
        return {str(key): str(value) for key, value in db.execute("SELECT key, value FROM run_metadata")}


def is_synthetic_run(provenance: Mapping[str, object]) -> bool:
    """Whether a run's data are synthetic, as the review page decides it: the ``synthetic`` flag or the data origin.

    Examples
    --------
    >>> is_synthetic_run({"synthetic": "True"}), is_synthetic_run({"data_origin": "user data"})
    (True, False)
    """
    if str(provenance.get("synthetic", "")).strip().lower() in {"true", "1", "yes"}:
        return True
    return "synthetic" in str(provenance.get("data_origin", "")).lower()


def contact_from(provenance: Mapping[str, object]) -> Contact:
    """The contact the run's settings name (``contact_name``, ``contact_email``, ``contact_organization``).

    Without them: :data:`DEFAULT_CONTACT_NAME`, role point of contact, no e-mail.
    """
    return Contact(
        name=str(provenance.get("contact_name") or DEFAULT_CONTACT_NAME),
        organization=str(provenance.get("contact_organization") or ""),
        email=str(provenance.get("contact_email") or ""),
    )


def inventory_metadata(
    gpkg: Path, layer_titles: Mapping[str, str] | None = None, raster_note: str = ""
) -> dict[str, LayerMetadata]:
    """Metadata of every table of a published ``inventory.gpkg`` (and ``"rasters"``, the grade rasters).

    Everything comes from the GeoPackage itself, so the metadata can be rebuilt from the file:
    the run's provenance (``run_metadata``), each table's description and extent
    (``gpkg_contents``). Per layer: title, abstract (with the SYNTHETIC note when the data are
    synthetic and the screening disclaimer), keywords, licence, lineage (code version, run id
    and time, data drop, SHA-256 of every input file, reference tables, draws and seed),
    contact (:func:`contact_from`), lon/lat extent, the run time as temporal extent, CRS.

    Parameters
    ----------
    gpkg : Path
        The GeoPackage.
    layer_titles : mapping of str to str, optional
        Readable layer names by table (default: the table name).
    raster_note : str
        Abstract of the grade rasters.

    Returns
    -------
    dict of str to LayerMetadata
    """
    provenance = read_run_metadata(gpkg)
    synthetic = is_synthetic_run(provenance)
    run_title = provenance.get("title", "Residua inventory")
    disclaimer = provenance.get("disclaimer", "")
    run_time = provenance.get("run_time_utc", "")
    temporal = (_utc(run_time), _utc(run_time)) if run_time else None
    lineage = _lineage(provenance)
    keywords = {
        "gmd:topicCategory": ("geoscientificInformation", "economy", "environment"),
        "residua": ("critical minerals", "gallium", "tellurium", "platinum-group metals", "mine residues",
                    "tailings", "screening estimate", *(("SYNTHETIC",) if synthetic else ())),
    }  # fmt: skip
    licence = str(provenance.get("licence") or (
        "SYNTHETIC demo data generated by Residua: Apache-2.0, as the code" if synthetic
        else "The terms of the input data apply; none were recorded with this data drop"))  # fmt: skip
    contact = contact_from(provenance)
    with sqlite3.connect(gpkg) as db:
        contents = db.execute(
            "SELECT table_name, data_type, description, min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents"
        ).fetchall()
    metadata = {}
    for table, data_type, description, min_x, min_y, max_x, max_y, srs_id in contents:
        if table == "layer_styles":
            continue
        bounds = (min_x, min_y, max_x, max_y) if None not in (min_x, min_y, max_x, max_y) else None
        if bounds is not None and srs_id != 4326:
            bounds = None  # the published layers are lon/lat; an extent in another CRS is not one QGIS shows as such
        name = (layer_titles or {}).get(table, table)
        metadata[table] = LayerMetadata(
            title=f"{name}: {run_title}",
            abstract=_abstract(description or "", synthetic, disclaimer),
            bounds=bounds, temporal=temporal, keywords=keywords, licence=licence, lineage=lineage, contact=contact,
            identifier=f"residua:{provenance.get('run_id', 'run')}:{table}",
            type="dataset" if data_type == "features" else "nonGeographicDataset",
        )  # fmt: skip
    if raster_note:
        metadata["rasters"] = LayerMetadata(
            title=f"Block grade rasters: {run_title}", abstract=_abstract(raster_note, synthetic, disclaimer),
            temporal=temporal, keywords=keywords, licence=licence, lineage=lineage, contact=contact,
            identifier=f"residua:{provenance.get('run_id', 'run')}:rasters",
        )  # fmt: skip
    return metadata


def _abstract(description: str, synthetic: bool, disclaimer: str) -> str:
    parts = ["SYNTHETIC demo data: figures illustrate the method, not real sites."] if synthetic else []
    parts.append(description.strip())
    if disclaimer and disclaimer not in description:
        parts.append(disclaimer)
    return " ".join(part for part in parts if part)


def _lineage(provenance: Mapping[str, str]) -> tuple[str, ...]:
    when = f" at {provenance['run_time_utc']}" if provenance.get("run_time_utc") else ""
    lines = [
        f"Produced by {provenance.get('code_version', 'Residua')}, run {provenance.get('run_id', '(unknown)')}{when}."
    ]
    drop = " ".join(
        part
        for part in (
            provenance.get("data_dir", ""),
            f"({provenance['data_origin']})" if provenance.get("data_origin") else "",
        )
        if part
    )
    if drop:
        lines.append(f"Data drop: {drop}.")
    lines += [f"Input {key.split(':', 1)[1]}: SHA-256 {value}." for key, value in provenance.items()
              if key.startswith("input:")]  # fmt: skip
    lines += [f"Reference table {key.split(':', 1)[1]}: {value}." for key, value in provenance.items()
              if key.startswith("reference:")]  # fmt: skip
    if "n_draws" in provenance:
        lines.append(f"Monte Carlo: {provenance['n_draws']} draws, seed {provenance.get('seed', '')}.")
    return tuple(lines)


def _utc(text: str) -> str:
    """An ISO 8601 time as QGIS writes it (``...Z``); unparseable text is kept."""
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return text
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
