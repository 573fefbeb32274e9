"""The published contract: the inventory in every selected GIS format, written atomically.

``inventory.gpkg`` holds every layer, QGIS styles and provenance; the ranked sites are also
written as GeoJSON, a zipped Shapefile, FlatGeobuf, GeoParquet and CSV.
:func:`stage_inventory` writes them into a staging folder (a run's :class:`~residua.geodata.transaction.Release`
publishes them with the run's other files). With a PostGIS target, the layers are staged in the database after the files
are written and replace the live tables in one transaction just before the files move into
place: a failure before then publishes neither, and PostGIS and the files change together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from residua.geodata.formats import (
    write_csv,
    write_flatgeobuf,
    write_geojson,
    write_geopackage,
    write_geoparquet,
    write_shapefile_zip,
)
from residua.geodata.postgis import PostgisTarget, publish_staged, stage_layers
from residua.geodata.qgis_project import COUNTRIES_FILE, PROJECT_FILE, write_qgis_project
from residua.geodata.schema import REPORTED_METALS
from residua.geodata.stac import STAC_FILES, write_stac_catalog
from residua.geodata.styles import inventory_styles, layer_styles_table, sites_rules, to_qml, to_sld
from residua.geodata.vocabulary import DECISIONS

DISCLAIMER = (
    "Screening estimates for prioritising sites, not a compliant mineral resource statement "
    "(JORC, NI 43-101, UNFC or India's MEMC Rules 2015)."
)

LEADING_COLUMNS: tuple[str, ...] = (
    "site_id", "name", "residue_type", "rank", "score", "confidence", "confidence_words", "unfc_code",
    "tonnes_p10", "tonnes_p50", "tonnes_p90",
)  # fmt: skip

#: Export formats and the files each writes into the output folder.
FORMAT_FILES: dict[str, tuple[str, ...]] = {
    "gpkg": ("inventory.gpkg",),
    "geojson": ("sites_ranked.geojson",),
    "shapefile": ("sites_ranked.shp.zip", "sites_ranked_shapefile_fields.csv"),
    "flatgeobuf": ("sites_ranked.fgb",),
    "geoparquet": ("sites_ranked.parquet",),
    "csv": ("sites_ranked.csv",),
}
ALL_FORMATS: tuple[str, ...] = tuple(FORMAT_FILES)
#: Other spellings accepted in settings.
FORMAT_ALIASES: dict[str, str] = {
    "geopackage": "gpkg", "json": "geojson", "shp": "shapefile", "fgb": "flatgeobuf", "parquet": "geoparquet",
}  # fmt: skip
#: QGIS sidecar style (and its SLD) written beside single-layer exports of the ranked sites.
SIDECAR_STYLE: tuple[str, ...] = ("sites_ranked.qml", "sites_ranked.sld")
_SIDECAR_FORMATS = frozenset({"geojson", "shapefile", "flatgeobuf", "geoparquet"})

#: Provenance items repeated in every GeoPackage layer's own metadata.
LAYER_PROVENANCE: tuple[str, ...] = ("title", "data_origin", "synthetic", "code_version", "run_id", "run_time_utc",
                                     "disclaimer")  # fmt: skip

LAYER_DESCRIPTIONS: dict[str, str] = {
    "sites_ranked": "Ranked sites with P10/P50/P90 tonnage, grade, contained and recoverable metal, score and "
    "confidence class. " + DISCLAIMER,
    "samples": "Accepted assay intervals, grades in g/t; <element>_bdl flags below-detection values.",
    "quarantine": "Input rows quarantined with source file, row, id and reason.",
    "hubs": "Candidate processing hubs (given, proposed or at top sites): opened by the hub plan (method milp, or "
    "kmeans as fallback), the P10/P50/P90 recoverable Ga, Te, PGM and value of the sites within haul distance, and "
    "of the sites assigned (feed), and the net value after haul and fixed costs, summed per simulation draw.",
    "hub_assignments": "Hub plan: one line per site feeding a hub (site centroid to hub), with geodesic and road km, "
    "expected tonnes, value, haul cost and net value. Costs are screening assumptions.",
    "sampling_plan": "Sampling plan: planned holes where new assays would most reduce the expected error of the top-N "
    "by value decision (value of information by pre-posterior simulation), with site, planned depth, priority and "
    "expected effect. Costs are placeholder assumptions.",
    "reviews": f"Every review decision ({' / '.join(DECISIONS)}), oldest first; in_force marks the decision the "
    "ranking honours.",
    "grade_tonnage": "Grade-tonnage curves of sampled sites at P50 inputs (lognormal closed form): tonnes, mean grade "
    "and metal above each cut-off. " + DISCLAIMER,
    "run_metadata": "Provenance of this run: inputs (SHA-256), reference tables, code version, run id.",
    "lineage": "Per site, the inputs its numbers came from: sites row and its hash, sample rows (count, holes, "
    "hashes), DEM and covariate files (SHA-256), the reference rows used (hashes).",
    "changes": "Each site's changes since the previous release of this output folder (added, removed, excluded, "
    "re-included, rank, P50 and P10-P90 beyond the threshold, confidence class) with their causes.",
}


#: Files describing the whole output folder, written with the GeoPackage (:func:`stage_catalogue`): the QGIS
#: project (and the country outlines it draws) and the STAC catalog.
CATALOGUE_FILES: tuple[str, ...] = (PROJECT_FILE, COUNTRIES_FILE, *STAC_FILES)

#: Attribute tables that the csv format also writes as their own CSV file (when given).
CSV_TABLES: tuple[str, ...] = ("grade_tonnage",)

#: The sampling plan's own exports, written whenever a plan is given (field crews load the GPX into handheld GPS units).
PLAN_FILES: tuple[str, ...] = ("sampling_plan.csv", "sampling_plan.gpx")
#: Sampling plan columns written into the GPX waypoints' extensions (beside name = hole id and a description).
GPX_FIELDS: tuple[str, ...] = ("site_id", "priority", "holes_in_campaign", "planned_depth_m")

#: Every file the inventory may write into the output folder. Publishing the inventory removes
#: those it did not write this time (e.g. the exports of a format no longer selected).
INVENTORY_FILES: tuple[str, ...] = (
    *(name for names in FORMAT_FILES.values() for name in names),
    *SIDECAR_STYLE,
    *(f"{name}.csv" for name in CSV_TABLES),
    *PLAN_FILES,
    *CATALOGUE_FILES,
)

#: Layers being published (name -> rows) and the run's provenance, as the format writers receive them.
Layers = dict[str, pd.DataFrame]
Provenance = Mapping[str, object]


class ExportFormatError(ValueError):
    """An export format name is not one Residua writes."""


def metal_columns() -> list[str]:
    """Per-metal columns of ``sites_ranked``, in published order."""
    columns = []
    for metal in REPORTED_METALS:
        columns += [f"{metal}_grade_gt_{p}" for p in ("p10", "p50", "p90")]
        columns += [f"{metal}_contained_t_{p}" for p in ("p10", "p50", "p90")]
        columns += [f"{metal}_recoverable_t_{p}" for p in ("p10", "p50", "p90")]
    return columns


def order_columns(frame: pd.DataFrame) -> list[str]:
    """The contract's columns first, then every other column in its current order."""
    leading = [*LEADING_COLUMNS, *metal_columns()]
    return [*leading, *[column for column in frame.columns if column not in leading]]


def check_formats(formats: Iterable[str]) -> list[str]:
    """Validate export format names; return them canonical, lower-case and without repeats.

    Parameters
    ----------
    formats : iterable of str
        Names from :data:`ALL_FORMATS` or :data:`FORMAT_ALIASES`, any case.

    Returns
    -------
    list of str

    Raises
    ------
    ExportFormatError
        If a name is unknown or no format is given.

    Examples
    --------
    >>> check_formats(["GPKG", "shp", "gpkg"])
    ['gpkg', 'shapefile']
    >>> check_formats(["kml"])
    Traceback (most recent call last):
    ...
    residua.geodata.publish.ExportFormatError: unknown export format 'kml'; choose from gpkg, geojson, shapefile,
    flatgeobuf, geoparquet, csv (aliases: geopackage, json, shp, fgb, parquet)
    """
    canonical: list[str] = []
    for name in formats:
        key = str(name).strip().lower()
        key = FORMAT_ALIASES.get(key, key)
        if key not in FORMAT_FILES:
            raise ExportFormatError(
                f"unknown export format {name!r}; choose from {', '.join(ALL_FORMATS)} "
                f"(aliases: {', '.join(FORMAT_ALIASES)})"
            )
        if key not in canonical:
            canonical.append(key)
    if not canonical:
        raise ExportFormatError(f"no export format given; choose one or more of {', '.join(ALL_FORMATS)}")
    return canonical


def stage_inventory(
    staging: Path,
    sites_ranked: gpd.GeoDataFrame,
    samples: gpd.GeoDataFrame,
    quarantine: gpd.GeoDataFrame,
    metadata: Mapping[str, object],
    formats: Iterable[str] = ALL_FORMATS,
    hubs: gpd.GeoDataFrame | None = None,
    postgis: PostgisTarget | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    catalogue: bool = True,
    hub_assignments: gpd.GeoDataFrame | None = None,
    sampling_plan: gpd.GeoDataFrame | None = None,
) -> dict[str, Path]:
    """Write the inventory in each selected format into ``staging``, then to PostGIS; return the files written.

    Parameters
    ----------
    staging : Path
        A staging folder (:meth:`residua.geodata.transaction.Release.part`); nothing is published here.
    sites_ranked, samples, quarantine : GeoDataFrame
        The published layers, in EPSG:4326.
    metadata : mapping
        Provenance (title, synthetic flag, code version, run id, input hashes, ...). It
        becomes the ``run_metadata`` table and the GeoPackage metadata; the screening
        disclaimer is always added.
    formats : iterable of str
        Export formats, see :func:`check_formats`; all by default.
    hubs : GeoDataFrame, optional
        Processing hubs, published as a further layer when given.
    hub_assignments : GeoDataFrame, optional
        The hub plan's site -> hub lines, published as layer ``hub_assignments`` when given.
    sampling_plan : GeoDataFrame, optional
        Planned holes (points), published as layer ``sampling_plan`` (with the GeoPackage) and, whatever
        the formats, as ``sampling_plan.csv`` (``lon``/``lat``, no geometry) and ``sampling_plan.gpx``
        (waypoints) when given.
    tables : mapping of str to DataFrame, optional
        Attribute tables (no geometry) published beside the layers, e.g. ``reviews`` and
        ``grade_tonnage``; those in :data:`CSV_TABLES` are also written as ``<name>.csv``.
    postgis : PostgisTarget, optional
        Also stage the layers in this PostGIS database, once every file is written; they
        replace the live tables when the files publish (:func:`publish_staged_inventory`).
    catalogue : bool
        With the GeoPackage, also stage the QGIS project, the layers' metadata and the STAC
        catalog of the run's output (:func:`stage_catalogue`, :data:`CATALOGUE_FILES`).

    Returns
    -------
    dict of str to Path
        Output name -> staged path, e.g. ``inventory``, ``sites_ranked_csv``.
    """
    selected = check_formats(formats)
    ranked = sites_ranked[order_columns(sites_ranked)]
    provenance = {**metadata, "disclaimer": DISCLAIMER}
    layers: dict[str, pd.DataFrame] = {"sites_ranked": ranked, "samples": samples, "quarantine": quarantine}
    if hubs is not None:
        layers["hubs"] = hubs
    if hub_assignments is not None:
        layers["hub_assignments"] = hub_assignments
    if sampling_plan is not None:
        layers["sampling_plan"] = sampling_plan
    for name, table in (tables or {}).items():
        if name in layers or name == "run_metadata":
            raise ValueError(f"table name {name!r} is taken by a layer; choose another name")
        layers[name] = pd.DataFrame(table)
    layers = {name: _infinities_as_missing(table) for name, table in layers.items()}
    layers["run_metadata"] = pd.DataFrame([{"key": str(k), "value": str(v)} for k, v in provenance.items()])
    written: dict[str, Path] = {}
    for name in selected:
        written.update(_WRITERS[name](staging, layers, provenance))
    if _SIDECAR_FORMATS & set(selected):
        written.update(_write_sidecar_style(staging, ranked))
    if sampling_plan is not None:
        written.update(_write_sampling_plan(staging, layers["sampling_plan"]))
    if catalogue and "gpkg" in selected:
        written.update(stage_catalogue(staging))
    if postgis is not None:
        stage_layers(postgis, layers, postgis_key(staging), geometry_types={"quarantine": "GEOMETRY"})
    return written


def stage_catalogue(staging: Path, out_dir: Path | None = None) -> dict[str, Path]:
    """Write the QGIS project, the layers' metadata and the STAC catalog of the staged inventory; return the files.

    ``residua.qgz`` (also stored in ``inventory.gpkg``) and ``stac/`` describe the staged
    inventory and the run's grade rasters: those staged in ``staging/rasters/`` when this run
    writes rasters, else those published in ``out_dir`` (default: the staging folder's parent,
    the output folder). Safe to call again once every part of the release is staged, e.g.
    just before it is published, to describe exactly what is published. Nothing is written
    when ``staging`` holds no ``inventory.gpkg``.
    """
    if not (staging / "inventory.gpkg").is_file():  # the project shows the GeoPackage's layers
        return {}
    out_dir = staging.parent if out_dir is None else out_dir
    rasters_root = staging if (staging / "rasters").is_dir() else out_dir
    written = write_qgis_project(staging, rasters_root=rasters_root)
    written.update(write_stac_catalog(staging, rasters_root=rasters_root))
    return written


def postgis_key(staging: Path) -> str:
    """The key the layers of the release staged in ``staging`` wait under in PostGIS."""
    return hashlib.sha256(str(Path(staging).resolve()).encode()).hexdigest()[:12]


def publish_staged_inventory(postgis: PostgisTarget, staging: Path) -> None:
    """Replace the PostGIS layers with those :func:`stage_inventory` staged for ``staging``, in one transaction."""
    publish_staged(postgis, postgis_key(staging))


def _infinities_as_missing(table: pd.DataFrame) -> pd.DataFrame:
    """Infinite numbers as missing values: JSON, DBF and most GIS tools have no infinity.

    Residua uses infinity for "not measurable", e.g. the relative width of a value whose
    P50 is under 1 USD; published, that is an empty cell (GeoJSON ``null``) in every format.
    """
    floats = table.select_dtypes("floating").columns
    if not np.isinf(table[floats].to_numpy(dtype=float)).any():
        return table
    table = table.copy()
    table[floats] = table[floats].replace([np.inf, -np.inf], np.nan)
    return table


def _has_points(frame: gpd.GeoDataFrame) -> bool:
    return bool(frame.geom_type.fillna("").str.endswith("Point").any())


def _summary(provenance: Mapping[str, object]) -> str:
    title = provenance.get("title", "Residua inventory")
    origin = provenance.get("data_origin", "")
    run = f"run {provenance['run_id']}" if "run_id" in provenance else ""
    parts = [f"{title} ({origin})" if origin else str(title), run, str(provenance.get("code_version", ""))]
    return "; ".join(part for part in parts if part) + ". " + DISCLAIMER


def _write_gpkg(staging: Path, layers: Layers, provenance: Provenance) -> dict[str, Path]:
    path = staging / "inventory.gpkg"
    styles = layer_styles_table(inventory_styles(layers, sites_with_points=_has_points(layers["sites_ranked"])))
    per_layer = {key: provenance[key] for key in LAYER_PROVENANCE if key in provenance}
    write_geopackage(path, layers, metadata=provenance, layer_metadata=per_layer, descriptions=LAYER_DESCRIPTIONS,
                     styles=styles)  # fmt: skip
    return {"inventory": path}


def _write_geojson(staging: Path, layers: Layers, provenance: Provenance) -> dict[str, Path]:
    path = staging / "sites_ranked.geojson"
    write_geojson(path, layers["sites_ranked"], description=_summary(provenance))
    return {"sites_ranked_geojson": path}


def _write_shapefile(staging: Path, layers: Layers, provenance: Provenance) -> dict[str, Path]:
    path = staging / "sites_ranked.shp.zip"
    ranked = layers["sites_ranked"]
    readme = (
        f"{_summary(provenance)}\n\nShapefile field names are at most 10 characters: "
        "sites_ranked_shapefile_fields.csv maps each to its full column name in inventory.gpkg.\n"
    )
    extra = {"sites_ranked_README.txt": readme, "sites_ranked.qml": to_qml(sites_rules(_has_points(ranked)))}
    mapping = write_shapefile_zip(path, ranked, "sites_ranked", extra_files=extra)
    fields = staging / "sites_ranked_shapefile_fields.csv"
    write_csv(fields, mapping)
    return {"sites_ranked_shapefile": path, "shapefile_fields": fields}


def _write_flatgeobuf(staging: Path, layers: Layers, provenance: Provenance) -> dict[str, Path]:
    path = staging / "sites_ranked.fgb"
    title = str(provenance.get("title", "Residua ranked sites"))
    write_flatgeobuf(path, layers["sites_ranked"], title=title, description=_summary(provenance))
    return {"sites_ranked_flatgeobuf": path}


def _write_geoparquet(staging: Path, layers: Layers, provenance: Provenance) -> dict[str, Path]:
    path = staging / "sites_ranked.parquet"
    write_geoparquet(path, layers["sites_ranked"], metadata=provenance)
    return {"sites_ranked_geoparquet": path}


def _write_csv(staging: Path, layers: Layers, provenance: Provenance) -> dict[str, Path]:
    ranked = layers["sites_ranked"]
    csv = pd.DataFrame(ranked.drop(columns="geometry"))
    centroids = [shapely.centroid(geometry) for geometry in ranked.geometry]
    csv.insert(3, "centroid_lon", [point.x for point in centroids])
    csv.insert(4, "centroid_lat", [point.y for point in centroids])
    path = staging / "sites_ranked.csv"
    write_csv(path, csv)
    written = {"sites_ranked_csv": path}
    for name in CSV_TABLES:
        if name in layers:
            written[f"{name}_csv"] = staging / f"{name}.csv"
            write_csv(written[f"{name}_csv"], layers[name])
    return written


def _write_sidecar_style(staging: Path, ranked: gpd.GeoDataFrame) -> dict[str, Path]:
    rules = sites_rules(_has_points(ranked))
    qml, sld = staging / "sites_ranked.qml", staging / "sites_ranked.sld"
    qml.write_text(to_qml(rules), encoding="utf-8")
    sld.write_text(to_sld("sites_ranked", "residua_sites_ranked", rules), encoding="utf-8")
    return {"sites_ranked_style": qml, "sites_ranked_sld": sld}


def _write_sampling_plan(staging: Path, plan: gpd.GeoDataFrame) -> dict[str, Path]:
    """``sampling_plan.csv`` (attributes, lon/lat) and ``sampling_plan.gpx`` (one waypoint per planned hole)."""
    csv, gpx = staging / "sampling_plan.csv", staging / "sampling_plan.gpx"
    write_csv(csv, pd.DataFrame(plan.drop(columns=plan.geometry.name)))
    write_gpx_waypoints(gpx, plan)
    return {"sampling_plan_csv": csv, "sampling_plan_gpx": gpx}


def write_gpx_waypoints(path: Path, plan: gpd.GeoDataFrame) -> None:
    """GPX 1.1 waypoints (GDAL's GPX driver): name = ``hole_id``, a description, :data:`GPX_FIELDS` as extensions.

    A plan without holes is a valid GPX file without waypoints.
    """
    if plan.empty:
        path.write_text('<?xml version="1.0"?>\n<gpx version="1.1" creator="Residua" '
                        'xmlns="http://www.topografix.com/GPX/1/1"></gpx>\n', encoding="utf-8")  # fmt: skip
        return
    points = plan.to_crs("EPSG:4326")
    description = [
        f"site {row.site_id}, priority {row.priority}, {row.holes_in_campaign} holes, depth {row.planned_depth_m:.1f} m"
        for row in points.itertuples()
    ]
    waypoints = gpd.GeoDataFrame(
        {"name": points["hole_id"].astype(str).to_numpy(), "desc": description,
         **{field: points[field].to_numpy() for field in GPX_FIELDS if field in points}},
        geometry=points.geometry.to_numpy(), crs="EPSG:4326",
    )  # fmt: skip
    pyogrio.write_dataframe(waypoints, path, driver="GPX", layer="waypoints",
                            dataset_options={"GPX_USE_EXTENSIONS": "YES"})  # fmt: skip


_WRITERS: dict[str, Callable[[Path, Layers, Provenance], dict[str, Path]]] = {
    "gpkg": _write_gpkg,
    "geojson": _write_geojson,
    "shapefile": _write_shapefile,
    "flatgeobuf": _write_flatgeobuf,
    "geoparquet": _write_geoparquet,
    "csv": _write_csv,
}
