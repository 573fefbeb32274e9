"""Writers of the GIS formats Residua publishes: GeoPackage, GeoJSON, zipped Shapefile, FlatGeobuf, GeoParquet, CSV.

They know formats, not the inventory (:mod:`residua.geodata.publish` decides what goes where) and
write into a staging folder (:mod:`residua.geodata.transaction` publishes it).
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pyogrio

#: GeoPackage version written: 1.2 opens without warnings in older GDAL builds (Debian 12's 3.6), QGIS and ArcGIS.
GPKG_VERSION = "1.2"
#: Decimal places of GeoJSON coordinates: 7 places of a degree are about 1 cm.
GEOJSON_PRECISION = 7
#: Longest text a DBF (Shapefile attribute) field holds.
DBF_TEXT_LIMIT = 254

#: Shapefile (DBF) field names for published columns longer than 10 characters. Per-metal
#: columns follow a rule instead: ``<m>_grade_gt_<p>`` -> ``<m>_gt_<p>``,
#: ``<m>_contained_t_<p>`` -> ``<m>_ct_<p>``, ``<m>_recoverable_t_<p>`` -> ``<m>_rt_<p>``.
DBF_FIELD_NAMES: dict[str, str] = {
    "residue_type": "res_type",
    "confidence_words": "conf_words",
    "volume_method": "vol_method",
    "volume_log_sd": "vol_log_sd",
    "density_t_m3": "dens_t_m3",
    "density_log_sd": "dens_logsd",
    "density_source": "dens_src",
    "tonnes_log_sd": "t_log_sd",
    "tonnes_vs_reported": "t_vs_rep",
    "commissioned_year": "comm_year",
    "closed_year": "close_year",
    "reported_tonnes": "rep_tonnes",
    "reported_volume_m3": "rep_vol_m3",
    "dry_density_t_m3": "dry_dens",
    "source_process": "src_proc",
    "surface_dem": "surf_dem",
    "residue_type_as_written": "restype_in",
    "value_usd_p10": "usd_p10",
    "value_usd_p50": "usd_p50",
    "value_usd_p90": "usd_p90",
    "value_relative_width": "val_relwid",
    "confidence_weight": "conf_wt",
    "data_origin": "data_orig",
    "held_reason": "held_rsn",
}
_METAL_COLUMN = re.compile(r"^([a-z]+)_(grade_gt|contained_t|recoverable_t)_(p\d+)$")
_METAL_SHORT = {"grade_gt": "gt", "contained_t": "ct", "recoverable_t": "rt"}
#: Word abbreviations for columns not in DBF_FIELD_NAMES, applied longest word first until the name fits.
_WORD_ABBREVIATIONS: dict[str, str] = {
    "confidence": "conf", "recoverable": "rec", "contained": "cont", "commissioned": "comm", "density": "dens",
    "distance": "dist", "reported": "rep", "relative": "rel", "residue": "res", "samples": "smp", "source": "src",
    "process": "proc", "volume": "vol", "tonnes": "t", "weight": "wt", "value": "val", "method": "meth",
    "number": "n", "grade": "gr", "width": "wid", "origin": "orig", "surface": "surf", "year": "yr",
}  # fmt: skip


@contextmanager
def no_gdal_sidecars() -> Iterator[None]:
    """Read with GDAL without it writing an ``.aux.xml`` sidecar (e.g. ``inventory.gpkg.aux.xml``) beside the file.

    GDAL's PAM keeps GeoPackage metadata it cannot store on a read-only open in such a
    sidecar; reading must leave ``out/`` as published.
    """
    before = pyogrio.get_gdal_config_option("GDAL_PAM_ENABLED")
    pyogrio.set_gdal_config_options({"GDAL_PAM_ENABLED": "NO"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"GDAL_PAM_ENABLED": before})


def write_geopackage(
    path: Path,
    layers: Mapping[str, pd.DataFrame],
    metadata: Mapping[str, object] | None = None,
    layer_metadata: Mapping[str, object] | None = None,
    descriptions: Mapping[str, str] | None = None,
    styles: pd.DataFrame | None = None,
) -> None:
    """Write several layers (spatial or attribute-only) into one new GeoPackage 1.2.

    Parameters
    ----------
    path : Path
        The GeoPackage to create (replaced if it exists).
    layers : mapping of str to DataFrame
        GeoDataFrames become spatial layers (``Unknown`` geometry type when they mix
        types); plain DataFrames become attribute tables.
    metadata : mapping, optional
        Dataset provenance, written by GDAL into ``gpkg_metadata`` with a
        ``gpkg_metadata_reference`` of scope ``geopackage``.
    layer_metadata : mapping, optional
        Items written for every layer too (reference scope ``table``), so a layer opened
        alone still says e.g. that it is synthetic and a screening estimate.
    descriptions : mapping of str to str, optional
        Per-layer text for ``gpkg_contents.description``.
    styles : DataFrame, optional
        Rows for QGIS's ``layer_styles`` table (see :func:`residua.geodata.styles.layer_styles_table`).
    """
    if path.exists():
        path.unlink()
    items, layer_items = _gdal_metadata(metadata or {}), _gdal_metadata(layer_metadata or {})
    for name, frame in layers.items():
        table = _plain_columns(frame)
        options: dict = {"driver": "GPKG", "layer": name, "append": path.exists()}
        if not path.exists():
            options["dataset_options"] = {"VERSION": GPKG_VERSION}
            options["dataset_metadata"] = items
        if isinstance(table, gpd.GeoDataFrame) and _mixed_geometry(table):
            options["geometry_type"] = "Unknown"
        description = (descriptions or {}).get(name)
        options["layer_metadata"] = {**layer_items, **({"DESCRIPTION": description} if description else {})}
        pyogrio.write_dataframe(table, path, **options)
    if styles is not None and len(styles):
        # QGIS's own table layout; FID "id" as QGIS creates it.
        description = {"DESCRIPTION": "QGIS layer styles (default style per layer)"}
        pyogrio.write_dataframe(styles, path, driver="GPKG", layer="layer_styles", append=True,
                                layer_options={"FID": "id"}, layer_metadata=description)  # fmt: skip


def write_geojson(path: Path, frame: gpd.GeoDataFrame, description: str = "") -> None:
    """Write an RFC 7946 GeoJSON: EPSG:4326 lon/lat, no ``crs`` member, 7 decimals.

    ``description`` becomes the top-level ``description`` member (a foreign member,
    which RFC 7946 allows). NaN values are written as null.
    """
    options = {"RFC7946": "YES", "COORDINATE_PRECISION": str(GEOJSON_PRECISION), "WRITE_NAME": "NO"}
    if description:
        options["DESCRIPTION"] = description
    pyogrio.write_dataframe(_plain_columns(frame.to_crs("EPSG:4326")), path, driver="GeoJSON", layer_options=options)


def write_flatgeobuf(path: Path, frame: gpd.GeoDataFrame, title: str = "", description: str = "") -> None:
    """Write a FlatGeobuf with a packed R-tree spatial index, title and description in its header."""
    table = _plain_columns(frame)
    options: dict[str, str] = {"SPATIAL_INDEX": "YES"}
    if title:
        options["TITLE"] = title
    if description:
        options["DESCRIPTION"] = description
    geometry_type = "Unknown" if _mixed_geometry(table) else None
    pyogrio.write_dataframe(table, path, driver="FlatGeobuf", layer_options=options, geometry_type=geometry_type)


def write_geoparquet(path: Path, frame: gpd.GeoDataFrame, metadata: Mapping[str, object] | None = None) -> None:
    """Write GeoParquet 1.1 (WKB geometry) with a ``bbox`` covering column for row-group pruning.

    ``metadata`` is stored as JSON under the file's key-value metadata key ``residua``,
    beside the ``geo`` key.
    """
    frame.to_parquet(path, index=False, schema_version="1.1.0", write_covering_bbox=True)
    if metadata:
        table = pq.read_table(path)
        extra = {b"residua": json.dumps({key: str(value) for key, value in metadata.items()}).encode()}
        pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **extra}), path)


def dbf_field_names(columns: Sequence[str]) -> dict[str, str]:
    """Map column names to unique Shapefile (DBF) field names of at most 10 characters.

    Names of 10 characters or fewer are kept; others come from :data:`DBF_FIELD_NAMES`,
    the per-metal rule, or (for columns unknown to Residua) word abbreviations, then
    truncation; a clash gets a numeric suffix. The mapping is deterministic: the same
    columns in the same order always map to the same names.

    Parameters
    ----------
    columns : sequence of str
        Attribute columns in published order (no geometry).

    Returns
    -------
    dict
        Column -> field name, in ``columns`` order.

    Examples
    --------
    >>> dbf_field_names(["site_id", "pgm_recoverable_t_p50", "residue_type"])
    {'site_id': 'site_id', 'pgm_recoverable_t_p50': 'pgm_rt_p50', 'residue_type': 'res_type'}
    >>> dbf_field_names(["distance_to_hub_km", "distance_to_hub_kms"])
    {'distance_to_hub_km': 'dist_to_hu', 'distance_to_hub_kms': 'dist_to_1'}
    """
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    # Names that need no change or have a documented short form are claimed first, so a
    # fallback name can never take them.
    for column in columns:
        preferred = _preferred_dbf_name(column)
        if preferred is not None and preferred.lower() not in taken:
            mapping[column] = preferred
            taken.add(preferred.lower())
    for column in columns:
        if column in mapping:
            continue
        base = candidate = _abbreviate(column)
        suffix = 0
        while candidate.lower() in taken:
            suffix += 1
            candidate = f"{base[: 10 - len(str(suffix)) - 1].rstrip('_')}_{suffix}"
        mapping[column] = candidate
        taken.add(candidate.lower())
    return {column: mapping[column] for column in columns}


def write_shapefile_zip(
    path: Path,
    frame: gpd.GeoDataFrame,
    layer: str,
    extra_files: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Write ``frame`` as a zipped ESRI Shapefile (``.shp .shx .dbf .prj .cpg``, UTF-8).

    Long column names are renamed with :func:`dbf_field_names`; the mapping is written into
    the zip as ``<layer>_shapefile_fields.csv`` and returned. Text longer than 254
    characters (the DBF limit) is cut there. Points and polygons cannot share a Shapefile:
    if ``frame`` holds both, the points go to a second layer ``<layer>_points`` in the zip.

    Parameters
    ----------
    path : Path
        The zip to write, conventionally ``<layer>.shp.zip`` (GDAL and QGIS open it as is).
    frame : GeoDataFrame
    layer : str
        Base name of the Shapefile inside the zip.
    extra_files : mapping of str to str, optional
        Further text files to store in the zip (name -> content).

    Returns
    -------
    pandas.DataFrame
        The field mapping: columns ``column`` and ``shapefile_field``.
    """
    names = dbf_field_names([column for column in frame.columns if column != frame.geometry.name])
    mapping = pd.DataFrame({"column": list(names), "shapefile_field": list(names.values())})
    table = _plain_columns(frame).rename(columns=names)
    for column in table.columns:
        if column != table.geometry.name and _is_text(table[column]):
            table[column] = table[column].str.slice(0, DBF_TEXT_LIMIT)
    files = {f"{layer}_shapefile_fields.csv": mapping.to_csv(index=False), **(extra_files or {})}
    with tempfile.TemporaryDirectory(prefix=".shp-", dir=path.parent) as parts:
        folder = Path(parts)
        for suffix, part in _split_points(table).items():
            pyogrio.write_dataframe(part, folder / f"{layer}{suffix}.shp", driver="ESRI Shapefile",
                                    layer_options={"ENCODING": "UTF-8"})  # fmt: skip
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member in sorted(folder.iterdir()):
                archive.write(member, member.name)
            for name, text in files.items():
                archive.writestr(name, text)
    return mapping


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a UTF-8 CSV without the index."""
    frame.to_csv(path, index=False, encoding="utf-8")


def _preferred_dbf_name(column: str) -> str | None:
    if len(column) <= 10:
        return column
    if column in DBF_FIELD_NAMES:
        return DBF_FIELD_NAMES[column]
    match = _METAL_COLUMN.match(column)
    if match and len(short := f"{match[1]}_{_METAL_SHORT[match[2]]}_{match[3]}") <= 10:
        return short
    return None


def _abbreviate(column: str) -> str:
    words = [word for word in re.sub(r"[^a-z0-9]+", "_", column.lower()).split("_") if word]
    for word in sorted(set(words), key=lambda w: (-len(w), w)):
        if len("_".join(words)) <= 10:
            break
        words = [_WORD_ABBREVIATIONS.get(w, w) if w == word else w for w in words]
    name = "_".join(words)[:10].rstrip("_") or "field"
    return f"f{name}"[:10] if name[0].isdigit() else name


def _split_points(table: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """The frame itself, or polygons ('' suffix) and points ('_points') when it holds both."""
    kinds = table.geom_type.fillna("")
    points = kinds.str.endswith("Point")
    if points.all() or not points.any():
        return {"": table}
    return {"": table[~points], "_points": table[points]}


def _gdal_metadata(metadata: Mapping[str, object]) -> dict[str, str]:
    """GDAL metadata items. GDAL splits ``key=value`` at the first ``:`` or ``=``, so ``:`` in
    a key becomes ``/`` (``input:samples.csv`` -> ``input/samples.csv``) and any other
    character but letters, digits and ``_ . - /`` becomes ``_``."""
    return {re.sub(r"[^A-Za-z0-9_./-]", "_", str(key).replace(":", "/")): str(value) for key, value in metadata.items()}


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def _mixed_geometry(frame: gpd.GeoDataFrame) -> bool:
    return len(set(frame.geom_type.dropna())) != 1 or bool(frame.geometry.isna().any())


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast object columns that GDAL cannot type (mixed values) to strings."""
    table = frame.copy()
    for column in table.columns:
        if column == getattr(table, "_geometry_column_name", None):
            continue
        if table[column].dtype == object:
            table[column] = table[column].map(lambda value: "" if value is None else str(value))
    return table
