"""A static STAC catalog of a published output folder: ``stac/`` beside the files it describes.

``stac/catalog.json`` holds two collections:

- ``grade-rasters``: one item per ``rasters/<site>_<element>_grade.tif``, every one published
  (the QGIS project shows only the top-ranked sites' rasters, this collection lists them all),
  with the projection extension (``proj:code``, ``proj:shape``, ``proj:transform``,
  ``proj:bbox``, from rio-stac) and the raster extension (``raster:bands``: data type, nodata,
  unit, band name, spatial resolution and statistics per band), its asset role ``data``, and
  the element and site as ``residua:element`` / ``residua:site_id``;
- ``inventory``: one item whose assets are the vector exports and their companions
  (``inventory.gpkg``, GeoJSON, FlatGeobuf, GeoParquet, zipped Shapefile, CSV; styles, the
  QGIS project, the reports), each with its media type and roles.

``raster:bands`` are built from each file's metadata, not by rio-stac's histograms (which fail
on a constant raster and read every cell): the statistics (minimum, maximum, mean, standard
deviation, valid percentage) come from one masked read of at most :data:`STATISTICS_MAX_SIZE`
cells across (an overview of a larger COG); a band without a valid cell gets
``valid_percent`` 0 and no other statistic. A raster that cannot be read is left out, so a
publish never fails because of its catalog.

Every link and asset href is relative (a self-contained catalog): the folder can be zipped,
moved or served as it is. :func:`validate_catalog` checks it with pystac's JSON-schema
validation; extension schemas pystac cannot fetch (an offline machine) are checked
structurally instead.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import rasterio
import rasterio.errors
from joblib import delayed
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
from rio_stac import create_stac_item

from residua.geodata.gpkg_metadata import is_synthetic_run, read_run_metadata
from residua.geodata.progress import run_jobs
from residua.geodata.qgis_project import RASTER_GLOB

STAC_DIR = "stac"
CATALOG_ID = "residua"
RASTERS_COLLECTION = "grade-rasters"
INVENTORY_COLLECTION = "inventory"
#: Every file the catalog may write, as stale patterns relative to the output folder.
STAC_FILES: tuple[str, ...] = (f"{STAC_DIR}/*.json", f"{STAC_DIR}/*/*.json", f"{STAC_DIR}/*/*/*.json")
#: Files of the output folder the inventory item lists (when present): name -> (media type, roles, title).
INVENTORY_ASSETS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "inventory.gpkg": ("application/geopackage+sqlite3", ("data",),
                       "Inventory GeoPackage (every layer, styles, QGIS project, metadata)"),
    "sites_ranked.geojson": ("application/geo+json", ("data",), "Ranked sites, GeoJSON (RFC 7946)"),
    "sites_ranked.fgb": ("application/vnd.flatgeobuf", ("data",), "Ranked sites, FlatGeobuf"),
    "sites_ranked.parquet": ("application/vnd.apache.parquet", ("data",), "Ranked sites, GeoParquet 1.1"),
    "sites_ranked.shp.zip": ("application/zip", ("data",), "Ranked sites, zipped Shapefile"),
    "sites_ranked.csv": ("text/csv", ("data",), "Ranked sites, CSV with centroids"),
    "sites_ranked_shapefile_fields.csv": ("text/csv", ("metadata",), "Shapefile field names"),
    "grade_tonnage.csv": ("text/csv", ("data",), "Grade-tonnage curves"),
    "sites_ranked.qml": ("application/xml", ("style",), "QGIS style of the ranked sites"),
    "sites_ranked.sld": ("application/vnd.ogc.sld+xml", ("style",), "SLD style of the ranked sites"),
    "residua.qgz": ("application/x-qgis-project", ("visual",), "QGIS project (layers, themes, print layout)"),
    "report.html": ("text/html", ("overview",), "Review map"),
    "grade_model_report.html": ("text/html", ("metadata",), "Grade model validation report"),
}  # fmt: skip
_RASTER_MEDIA_TYPE = pystac.MediaType.COG
#: The band statistics of a grade raster are computed from a read at most this many cells across (an overview).
STATISTICS_MAX_SIZE = 1024


#: Grade rasters described per job: a batch of items is built in one worker (joblib's configured backend).
RASTERS_PER_JOB = 500
#: Files other steps of a run publish beside the inventory: listed when staged or already published.
COMPANION_FILES: tuple[str, ...] = ("report.html", "grade_model_report.html")


def write_stac_catalog(root: Path, rasters_root: Path | None = None) -> dict[str, Path]:
    """Write the STAC catalog of ``root`` into ``root/stac/`` (replacing one there).

    Parameters
    ----------
    root : Path
        The output (or staging) folder; the catalog describes the files in it. The run's
        provenance (title, run id and time, synthetic flag) comes from ``root/inventory.gpkg``
        when present.
    rasters_root : Path, optional
        Where the grade rasters are read (default ``root``); their assets point at
        ``root/rasters/`` all the same, where they are published. :data:`COMPANION_FILES`
        found there (and not in ``root``) are listed too.

    Returns
    -------
    dict of str to Path
        ``stac_catalog`` -> ``stac/catalog.json``.
    """
    provenance = read_run_metadata(root / "inventory.gpkg") if (root / "inventory.gpkg").is_file() else {}
    when = _run_time(provenance)
    synthetic = is_synthetic_run(provenance)
    title = provenance.get("title", "Residua inventory")
    catalog = pystac.Catalog(
        id=CATALOG_ID, title=title,
        description=(("SYNTHETIC demo data. " if synthetic else "") + f"Residua outputs of run "
                     f"{provenance.get('run_id', '(unknown)')}: block-grade rasters and the ranked inventory. "
                     + provenance.get("disclaimer", "")).strip(),
    )  # fmt: skip
    folder = root / STAC_DIR
    # with the catalog's href set first, pystac places each child and item as it is added (its best-practice
    # layout, as normalize_hrefs would), and each node's self link lands ahead of its 10,000 item links
    catalog.set_self_href(str(folder / "catalog.json"))
    source = rasters_root or root
    names = sorted(path.relative_to(source).as_posix() for path in source.glob(RASTER_GLOB))
    pairs = [(source / name, root / name) for name in names]
    batches = [pairs[start : start + RASTERS_PER_JOB] for start in range(0, len(pairs), RASTERS_PER_JOB)]
    jobs = [delayed(_raster_items)(batch, when, synthetic) for batch in batches]
    items = [item for batch in run_jobs(jobs, "STAC raster items", unit="batch") for item in batch]
    if items:
        _collection(catalog, RASTERS_COLLECTION, "Block-grade rasters",
                    "Block grades per sampled site and element (g/t), Cloud-Optimized GeoTIFFs in the "
                    "site's UTM zone: bands p50_gt, p10_gt, p90_gt, p10_sample_gt, p90_sample_gt.",
                    items, when)  # fmt: skip
    inventory_item = _inventory_item(root, source, provenance, when, synthetic)
    if inventory_item is not None:
        _collection(catalog, INVENTORY_COLLECTION, "Ranked inventory", "The ranked sites and their layers in "
                    "every published vector format.", [inventory_item], when)  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)  # items of rasters no longer published must not stay behind
    catalog.make_all_asset_hrefs_relative()
    for node in (catalog, *catalog.get_children()):
        # pystac finds a node's self, root and parent links by a scan of its links: with them ahead of
        # 10,000 item links, saving the catalog takes seconds, not minutes
        node.links.sort(key=lambda link: link.rel in (pystac.RelType.ITEM, pystac.RelType.CHILD))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return {"stac_catalog": folder / "catalog.json"}


def validate_catalog(catalog_path: Path) -> dict[str, str]:
    """Validate every object of a catalog; return how each extension was checked.

    Core objects (catalog, collections, items) are validated with pystac against the STAC
    JSON schemas it bundles. Each extension schema is validated by pystac too when it can be
    fetched (on an offline machine it cannot); the projection and raster fields are also
    checked structurally (:func:`_check_extension_fields`), e.g. that ``proj:code`` is
    ``AUTHORITY:CODE``.

    Parameters
    ----------
    catalog_path : Path
        ``stac/catalog.json``.

    Returns
    -------
    dict of str to str
        Extension schema URI -> ``"jsonschema"`` or ``"structural"``.

    Raises
    ------
    pystac.errors.STACValidationError
        If an object breaks a schema.
    ValueError
        If an extension field is malformed (structural check).
    """
    import logging

    from pystac.validation import JsonSchemaSTACValidator
    from pystac.validation.stac_validator import GetSchemaError

    validator = JsonSchemaSTACValidator()
    modes: dict[str, str] = {}
    catalog = pystac.Catalog.from_file(str(catalog_path))
    objects: list[pystac.STACObject] = [catalog, *catalog.get_all_collections(), *catalog.get_items(recursive=True)]
    for stac_object in objects:
        document = stac_object.to_dict(include_self_link=False, transform_hrefs=False)
        kind = stac_object.STAC_OBJECT_TYPE
        validator.validate_core(document, kind, document["stac_version"], href=stac_object.get_self_href())
        for uri in document.get("stac_extensions", []):
            _check_extension_fields(document, uri)
            if modes.get(uri) == "structural":
                continue
            quiet = logging.getLogger("pystac.validation.stac_validator")
            level, quiet.level = quiet.level, logging.CRITICAL  # it logs a traceback for an unreachable schema
            try:
                validator.validate_extension(document, kind, document["stac_version"], uri)
                modes[uri] = "jsonschema"
            except GetSchemaError:
                modes[uri] = "structural"
            finally:
                quiet.level = level
    return modes


def _raster_items(pairs: Sequence[tuple[Path, Path]], when: datetime, synthetic: bool) -> list[pystac.Item]:
    """The items of a batch of grade rasters, (file read, href published) each; stray files left out."""
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):  # no sidecar search in a folder of 10,000 files
        return [item for path, href in pairs if (item := _raster_item(path, href, when, synthetic)) is not None]


def _raster_item(path: Path, href: Path, when: datetime, synthetic: bool) -> pystac.Item | None:
    """The item of one grade raster; None for a file that is not a georeferenced raster (a stray file)."""
    try:
        dataset = rasterio.open(path)
    except rasterio.errors.RasterioIOError:
        return None
    with dataset:
        if dataset.crs is None:
            return None
        tags = dataset.tags()
        names = [description or f"band_{index}" for index, description in enumerate(dataset.descriptions, 1)]
        element, site_id = tags.get("element", ""), tags.get("site_id", "")
        unit = tags.get("unit", "g/t")
        item = create_stac_item(
            dataset, input_datetime=when, id=path.stem, collection=RASTERS_COLLECTION, asset_name="grade",
            asset_roles=["data"], asset_media_type=_RASTER_MEDIA_TYPE, asset_href=str(href), with_proj=True,
            with_raster=False, geom_precision=7,
            properties={"residua:element": element, "residua:site_id": site_id, "residua:synthetic": synthetic,
                        "residua:unit": unit, "title": f"{site_id} {element} block grade"},
        )  # fmt: skip
        bands = raster_bands(dataset, names, unit)
    _projection_v2(item)
    asset = item.assets["grade"]
    asset.title = f"{site_id} {element} block grade ({unit}), bands {', '.join(names)}"
    asset.extra_fields["raster:bands"] = bands
    RasterExtension.add_to(item)
    return item


def raster_bands(dataset: rasterio.io.DatasetReader, names: Sequence[str], unit: str) -> list[dict]:
    """``raster:bands`` of an open raster: its metadata per band and cheap statistics.

    Parameters
    ----------
    dataset : rasterio.io.DatasetReader
        The open raster.
    names : sequence of str
        One name per band.
    unit : str
        Unit of every band (bands with a unit of their own keep it).

    Returns
    -------
    list of dict
        Per band: ``name``, ``data_type``, ``nodata``, ``unit``, ``spatial_resolution`` and
        ``statistics`` (``minimum``, ``maximum``, ``mean``, ``stddev``, ``valid_percent``; only
        ``valid_percent`` 0 when no cell is valid). Computed from one read of at most
        :data:`STATISTICS_MAX_SIZE` cells across, which GDAL serves from an overview.

    Examples
    --------
    >>> from affine import Affine
    >>> from rasterio.io import MemoryFile
    >>> with MemoryFile() as memory, memory.open(driver="GTiff", width=2, height=2, count=1, dtype="float32",
    ...                                          nodata=-9999.0, crs="EPSG:32644",
    ...                                          transform=Affine(40, 0, 3e5, 0, -40, 2.3e6)) as raster:
    ...     raster.write(np.full((1, 2, 2), 3.0, dtype="float32"))
    ...     [band] = raster_bands(raster, ["p50_gt"], "g/t")
    >>> band["statistics"]["minimum"], band["statistics"]["maximum"], band["statistics"]["valid_percent"]
    (3.0, 3.0, 100.0)
    """
    scale = max(dataset.width, dataset.height) / STATISTICS_MAX_SIZE
    shape = (dataset.count, max(1, round(dataset.height / scale)), max(1, round(dataset.width / scale)))
    try:
        values = dataset.read(masked=True, out_shape=shape if scale > 1 else None)
    except rasterio.errors.RasterioIOError:  # unreadable cells (a damaged file): the metadata is still listed
        values = None
    resolution = float(abs(dataset.res[0]))
    bands = []
    for index, name in enumerate(names):
        nodata = dataset.nodatavals[index]
        band: dict[str, object] = {"name": name, "data_type": dataset.dtypes[index],
                                   "unit": dataset.units[index] or unit, "spatial_resolution": resolution}  # fmt: skip
        if nodata is not None:  # the raster extension spells non-finite nodata as strings
            band["nodata"] = float(nodata) if np.isfinite(nodata) else str(nodata).lower()
        if values is not None:
            band["statistics"] = _statistics(values[index])
        bands.append(band)
    return bands


def _statistics(values: np.ma.MaskedArray) -> dict[str, float]:
    """Minimum, maximum, mean, standard deviation and valid percentage of a band's unmasked finite cells."""
    valid = values.compressed().astype("float64")
    valid = valid[np.isfinite(valid)]
    statistics = {"valid_percent": round(100.0 * valid.size / max(values.size, 1), 3)}
    if valid.size:  # none valid: no minimum to speak of (rio-stac's histogram failed here and on constant bands)
        statistics.update(minimum=float(valid.min()), maximum=float(valid.max()), mean=float(valid.mean()),
                          stddev=float(valid.std()))  # fmt: skip
    return statistics


def _projection_v2(item: pystac.Item) -> None:
    """Projection extension 2.0 (``proj:code``, ``AUTHORITY:CODE``) where rio-stac wrote 1.x (``proj:epsg``)."""
    old = [uri for uri in item.stac_extensions if "/projection/v1" in uri]
    if not old:
        return
    item.stac_extensions = [uri for uri in item.stac_extensions if uri not in old]
    for scope in (item.properties, *(asset.extra_fields for asset in item.assets.values())):
        if "proj:epsg" in scope:
            epsg = scope.pop("proj:epsg")
            if epsg is not None:
                scope["proj:code"] = f"EPSG:{epsg}"
    ProjectionExtension.add_to(item)


def _inventory_item(root: Path, published: Path, provenance: Mapping[str, str], when: datetime,
                    synthetic: bool) -> pystac.Item | None:  # fmt: skip
    present = {name: spec for name, spec in INVENTORY_ASSETS.items() if (root / name).is_file()
               or (name in COMPANION_FILES and (published / name).is_file())}  # fmt: skip
    if not present:
        return None
    bbox = _inventory_bbox(root)
    west, south, east, north = bbox
    geometry = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                    [west, south]]]}  # fmt: skip
    item = pystac.Item(
        id="inventory", geometry=geometry, bbox=list(bbox), datetime=when, collection=INVENTORY_COLLECTION,
        properties={"title": provenance.get("title", "Residua inventory"), "residua:synthetic": synthetic,
                    "residua:run_id": provenance.get("run_id", ""),
                    "residua:code_version": provenance.get("code_version", ""),
                    "description": provenance.get("disclaimer", "")},
    )  # fmt: skip
    for name, (media_type, roles, title) in present.items():
        key = name.replace(".", "_")
        item.add_asset(key, pystac.Asset(href=str(root / name), media_type=media_type, roles=list(roles), title=title))
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    projection.code = "EPSG:4326"
    projection.bbox = list(bbox)
    return item


def _inventory_bbox(root: Path) -> tuple[float, float, float, float]:
    """The ranked sites' lon/lat extent, from ``gpkg_contents`` (SQLite: GDAL would leave an ``.aux.xml``)."""
    import sqlite3

    gpkg = root / "inventory.gpkg"
    if gpkg.is_file():
        with sqlite3.connect(gpkg) as db:
            row = db.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = "
                             "'sites_ranked'").fetchone()  # fmt: skip
        if row is not None and None not in row:
            return tuple(round(float(value), 7) for value in row)  # type: ignore[return-value]
    return (-180.0, -90.0, 180.0, 90.0)


def _collection(catalog: pystac.Catalog, identifier: str, title: str, description: str,
                items: Sequence[pystac.Item], when: datetime) -> pystac.Collection:  # fmt: skip
    """A collection of ``items`` under ``catalog``; it joins the catalog before its items, so that its root
    and parent links come ahead of the item links (pystac finds them by a scan of the links)."""
    boxes = [item.bbox for item in items if item.bbox]
    bbox = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
    extent = pystac.Extent(pystac.SpatialExtent([bbox]), pystac.TemporalExtent([[when, when]]))
    collection = pystac.Collection(id=identifier, title=title, description=description, extent=extent,
                                   license="other")  # fmt: skip
    catalog.add_child(collection)
    collection.add_items(items)
    return collection


def _run_time(provenance: Mapping[str, str]) -> datetime:
    try:
        stamp = datetime.fromisoformat(provenance["run_time_utc"])
    except (KeyError, ValueError):
        return datetime.now(UTC).replace(microsecond=0)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


_AUTHORITY_CODE = re.compile(r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+$")


def _check_extension_fields(document: Mapping, uri: str) -> None:
    """The fields of the projection and raster extensions, checked without their JSON schemas."""
    scopes = [document.get("properties", {}), *document.get("assets", {}).values()]
    if "/projection/" in uri:
        found = False
        for scope in scopes:
            if "proj:code" in scope or "proj:epsg" in scope:
                found = True
                code = scope.get("proj:code") or f"EPSG:{scope.get('proj:epsg')}"
                if not _AUTHORITY_CODE.match(str(code)):
                    raise ValueError(f"{document.get('id')}: proj:code {code!r} is not AUTHORITY:CODE, e.g. EPSG:32644")
            shape, transform = scope.get("proj:shape"), scope.get("proj:transform")
            if shape is not None and (len(shape) != 2 or not all(isinstance(v, int) and v > 0 for v in shape)):
                raise ValueError(f"{document.get('id')}: proj:shape {shape!r} must be [rows, columns]")
            if transform is not None and len(transform) not in (6, 9):
                raise ValueError(f"{document.get('id')}: proj:transform {transform!r} must hold 6 or 9 numbers")
        if not found:
            raise ValueError(f"{document.get('id')} declares {uri} but has no proj:code")
    if "/raster/" in uri:
        bands = [scope["raster:bands"] for scope in scopes if "raster:bands" in scope]
        if not bands or not all(isinstance(b, list) and b and all(isinstance(x, dict) for x in b) for b in bands):
            raise ValueError(f"{document.get('id')} declares {uri} but has no list of raster:bands")
