"""The QGIS project opens in real QGIS (Debian's python3-qgis 3.22) with every layer valid, styled and printable.

The published folder is made as the ``exports`` fixture of ``test_exports.py`` makes it
(``publish_inventory`` on literal layers, no pipeline run), plus three grade rasters (two
sites, two elements, written by :func:`residua.geodata.rasters.cog_bytes` as the pipeline writes them),
assays for two elements, two hub candidates (one opened) and a site -> hub line. A script run
with the system ``/usr/bin/python3`` (where Debian installs QGIS's bindings) opens it with
``QgsProject`` under ``QT_QPA_PLATFORM=offscreen`` and reports as JSON what the assertions
check; the QGIS tests are skipped (with the reason) only when that interpreter cannot import
``qgis``. The renders are kept in pytest's tmp folder (``QGIS render: ...`` lines in ``-rA``
output) to be looked at.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine

from residua.geodata.crs import local_utm_crs
from residua.geodata.gpkg_metadata import QGIS_METADATA_URI
from residua.geodata.publish import CATALOGUE_FILES
from residua.geodata.qgis_project import (
    PROJECT_FILE,
    PROJECT_NAME,
    RASTER_GROUP,
    RASTERS_PER_ELEMENT,
    SYNTHETIC_BANNER,
    VectorSource,
    project_document,
    raster_group_name,
    read_project_from_geopackage,
    write_qgis_project,
)
from residua.geodata.rasters import cog_bytes
from residua.geodata.styles import RANK_CLASSES
from residua.geodata.transaction import Release
from tests.geodata.test_exports import DISCLAIMER, METADATA, quarantine, ranked_sites
from tests.publishing import publish_inventory

SYSTEM_PYTHON = "/usr/bin/python3"
RANK_1_COLOUR = RANK_CLASSES[0][3]  # sites ranked 1-10: their fill and their centroid symbol
LAND = "#f4f1ea"  # the country outlines' fill, the background of a render over land


def _system_qgis() -> str | None:
    """Why QGIS cannot be used from the system Python, or None when it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    result = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, text=True, timeout=120,
                            check=False,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    if result.returncode != 0:
        return (f"{SYSTEM_PYTHON} cannot import qgis (install Debian's python3-qgis qgis-providers, as "
                f"scripts/install-system-deps.sh does): {result.stderr.strip().splitlines()[-1:]}")  # fmt: skip
    return None


QGIS_MISSING = _system_qgis()
needs_qgis = pytest.mark.skipif(QGIS_MISSING is not None, reason=str(QGIS_MISSING))

#: Run by /usr/bin/python3: open the project (file or GeoPackage), report layers, themes, layout, metadata
#: and renders as JSON. argv: project URI, GeoPackage path, output folder for the images.
QGIS_SCRIPT = r"""
import json, sys
from qgis.core import (QgsApplication, QgsCoordinateTransform, QgsExpressionContextUtils, QgsFeatureRequest,
                       QgsLayoutExporter, QgsLayoutItemLabel, QgsLayoutItemLegend, QgsLayoutItemMap,
                       QgsLayoutItemPicture, QgsLayoutItemScaleBar, QgsLayerTreeModel, QgsMapRendererParallelJob,
                       QgsMapSettings, QgsProject, QgsRenderContext, QgsVectorLayer, QgsWkbTypes)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

app = QgsApplication([], False)
app.initQgis()
uri, gpkg, out = sys.argv[1], sys.argv[2], sys.argv[3]
project = QgsProject.instance()
report = {"read": project.read(uri)}
layers = list(project.mapLayers().values())

def rule_info(rule):
    return {"label": rule.label(), "filter": rule.filterExpression(),
            "symbol": type(rule.symbol()).__name__ if rule.symbol() else None,
            "children": [rule_info(child) for child in rule.children()]}

def rules_of(layer):
    renderer = layer.renderer() if hasattr(layer, "renderer") else None
    if renderer is None or renderer.type() != "RuleRenderer":
        return []
    return [rule_info(rule) for rule in renderer.rootRule().children()]

report["layers"] = {layer.name(): {"valid": layer.isValid(), "source": layer.source(),
                                   "renderer": (layer.renderer().type() if hasattr(layer, "renderer")
                                                and layer.renderer() else None),
                                   "geometry": (QgsWkbTypes.displayString(layer.wkbType())
                                                if isinstance(layer, QgsVectorLayer) else None),
                                   "rules": rules_of(layer)} for layer in layers}
# the symbols each hub is drawn with (the rule-based renderer evaluating its filters on the feature)
report["hub_symbols"] = {}
for layer in layers:
    if layer.source().endswith("layername=hubs"):
        context = QgsRenderContext()
        context.expressionContext().appendScopes(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
        renderer = layer.renderer().clone()
        renderer.startRender(context, layer.fields())
        for feature in layer.getFeatures():
            context.expressionContext().setFeature(feature)
            report["hub_symbols"][str(feature["hub_id"])] = [symbol.color().name() for symbol in
                                                             renderer.symbolsForFeature(feature, context)]
        renderer.stopRender(context)
report["crs"] = project.crs().authid()
report["themes"] = project.mapThemeCollection().mapThemes()
report["theme_styles"] = {
    theme: {record.layer().name(): record.currentStyle for record in
            project.mapThemeCollection().mapThemeState(theme).layerRecords() if record.layer()}
    for theme in report["themes"]}
layouts = project.layoutManager().layouts()
report["layouts"] = [layout.name() for layout in layouts]
if layouts:
    layout = layouts[0]
    items = layout.items()
    report["layout_items"] = sorted({type(item).__name__ for item in items if hasattr(item, "uuid")})
    report["labels"] = [item.text() for item in items if isinstance(item, QgsLayoutItemLabel)]
    report["north_arrow"] = [item.picturePath() for item in items if isinstance(item, QgsLayoutItemPicture)]
    legend = [item for item in items if isinstance(item, QgsLayoutItemLegend)]
    report["legend_layers"] = [node.name() for node in legend[0].model().rootGroup().findLayers()] if legend else []
    report["scalebars"] = [item.unitLabel() for item in items if isinstance(item, QgsLayoutItemScaleBar)]
    exporter = QgsLayoutExporter(layout)
    report["pdf"] = exporter.exportToPdf(out + "/layout.pdf", QgsLayoutExporter.PdfExportSettings())
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 96
    report["png"] = exporter.exportToImage(out + "/layout.png", settings)

sites = [layer for layer in layers if layer.source().endswith("layername=sites_ranked")][0]
to_project = QgsCoordinateTransform(sites.crs(), project.crs(), project)
visible = project.layerTreeRoot().checkedLayers()

def render(extent, name, size=600):
    settings = QgsMapSettings()
    settings.setLayers(visible)
    settings.setDestinationCrs(project.crs())
    settings.setTransformContext(project.transformContext())
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(QColor("white"))
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(out + "/" + name + ".png")
    colours = {}
    for x in range(image.width()):
        for y in range(image.height()):
            colour = image.pixelColor(x, y).name()
            colours[colour] = colours.get(colour, 0) + 1
    return {"scale": settings.scale(), "colours": colours, "errors": [e.message for e in job.errors()]}

national = to_project.transformBoundingBox(sites.extent())
national.grow(max(national.width(), national.height()) * 0.1)
report["national"] = render(national, "national")
top = next(sites.getFeatures(QgsFeatureRequest().setFilterExpression('"rank" = 1')))
site = to_project.transformBoundingBox(top.geometry().boundingBox())
site.grow(max(site.width(), site.height()) * 0.4)
report["site"] = render(site, "site")

samples = [layer for layer in layers if layer.source().endswith("layername=samples")][0]
themes = project.mapThemeCollection()
report["applied"] = {}
for theme in report["themes"]:
    themes.applyTheme(theme, project.layerTreeRoot(), QgsLayerTreeModel(project.layerTreeRoot()))
    rules = samples.renderer().rootRule().children()
    report["applied"][theme] = {"style": samples.styleManager().currentStyle(), "filter": rules[0].filterExpression(),
                                "visible": [layer.name() for layer in project.layerTreeRoot().checkedLayers()]}

direct = QgsVectorLayer(gpkg + "|layername=sites_ranked", "direct", "ogr")
metadata = direct.metadata()
report["metadata"] = {"title": metadata.title(), "abstract": metadata.abstract(), "licenses": metadata.licenses(),
                      "keywords": metadata.keywords(), "history": metadata.history(),
                      "contacts": [contact.name for contact in metadata.contacts()], "crs": metadata.crs().authid(),
                      "spatial": [extent.bounds.toRectangle().toString(4) for extent in
                                  metadata.extent().spatialExtents()],
                      "temporal": [extent.begin().toString("yyyy-MM-ddThh:mm:ss") for extent in
                                   metadata.extent().temporalExtents()]}
print("RESULT " + json.dumps(report))
"""


def _cog(path: Path, footprint: shapely.Polygon, element: str, site_id: str, level: float, cell: float = 40.0):
    """A grade raster over the centre of a footprint, as the pipeline writes one (bands p50..p90_sample)."""
    crs = local_utm_crs(footprint)
    utm = gpd.GeoSeries([footprint], crs="EPSG:4326").to_crs(crs).iloc[0]
    minx, miny, maxx, maxy = utm.buffer(-(utm.bounds[2] - utm.bounds[0]) / 4).bounds
    width, height = max(2, int((maxx - minx) // cell)), max(2, int((maxy - miny) // cell))
    grid = level * np.exp(np.linspace(-0.5, 0.5, width * height)).reshape(height, width)
    grid[0, 0] = np.nan  # one nodata cell, drawn transparent
    bands = {"p50_gt": grid, "p10_gt": grid * 0.7, "p90_gt": grid * 1.4, "p10_sample_gt": grid * 0.5,
             "p90_sample_gt": grid * 2.0}  # fmt: skip
    tags = {"element": element, "unit": "g/t", "site_id": site_id, "synthetic": "True"}
    path.write_bytes(cog_bytes(bands, Affine(cell, 0, minx, 0, -cell, maxy), crs, tags))


def _samples(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Twelve assay intervals in each of the first two sites, Ga and Te in g/t."""
    rng = np.random.default_rng(0)
    rows, points = [], []
    for site_id, footprint in zip(sites["site_id"][:2], sites.geometry[:2]):
        centre = footprint.centroid
        for index in range(12):
            rows.append({"sample_id": f"{site_id}-{index}", "site_id": site_id,
                         "ga_gt": float(rng.lognormal(3.5, 0.6)), "te_gt": float(rng.lognormal(0.5, 0.8)),
                         "ga_bdl": False, "te_bdl": False, "data_origin": "SYNTHETIC demo data"})  # fmt: skip
            points.append(shapely.Point(centre.x + rng.uniform(-0.001, 0.001), centre.y + rng.uniform(-0.001, 0.001)))
    return gpd.GeoDataFrame(rows, geometry=points, crs="EPSG:4326")


def publish_folder(out: Path) -> Path:
    """A published output folder: the inventory (with hubs) in every format, three grade rasters beside it."""
    sites = ranked_sites()
    (out / "rasters").mkdir(parents=True)
    _cog(out / "rasters" / "S1_ga_grade.tif", sites.geometry[0], "ga", "S1", 40.0)
    _cog(out / "rasters" / "S1_te_grade.tif", sites.geometry[0], "te", "S1", 2.0)
    _cog(out / "rasters" / "S2_ga_grade.tif", sites.geometry[1], "ga", "S2", 90.0)
    hubs = gpd.GeoDataFrame({"hub_id": ["H1", "H2"], "name": ["Jamnagar", "Closed candidate"],
                             "opened": [True, False], "method": "milp", "data_origin": "SYNTHETIC demo data"},
                            geometry=[shapely.Point(79.0, 22.0), shapely.Point(78.5, 21.5)],
                            crs="EPSG:4326")  # fmt: skip
    start = sites.geometry[0].centroid
    assignments = gpd.GeoDataFrame({"site_id": ["S1"], "hub_id": ["H1"], "method": ["milp"], "road_km": [160.0],
                                    "data_origin": ["SYNTHETIC demo data"]},
                                   geometry=[shapely.LineString([(start.x, start.y), (79.0, 22.0)])],
                                   crs="EPSG:4326")  # fmt: skip
    publish_inventory(out, sites, _samples(sites), quarantine(), METADATA, hubs=hubs, hub_assignments=assignments,
                      catalogue=True)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    return publish_folder(tmp_path_factory.mktemp("published"))


def run_qgis(uri: str, gpkg: Path, images: Path) -> dict:
    """Open ``uri`` in QGIS (system Python) and return the script's report."""
    images.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([SYSTEM_PYTHON, "-c", QGIS_SCRIPT, uri, str(gpkg), str(images)], capture_output=True,
                            check=False,
                            text=True, timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"QGIS render: {images}")
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.fixture(scope="module")
def opened(published, tmp_path_factory) -> dict:
    if QGIS_MISSING is not None:
        pytest.skip(QGIS_MISSING)
    return run_qgis(str(published / PROJECT_FILE), published / "inventory.gpkg", tmp_path_factory.mktemp("renders"))


def _near(colours: dict[str, int], target: str, tolerance: int = 40) -> int:
    """Pixels within ``tolerance`` (per channel) of the colour ``target``."""
    red, green, blue = (int(target[i : i + 2], 16) for i in (1, 3, 5))
    count = 0
    for name, pixels in colours.items():
        r, g, b = (int(name[i : i + 2], 16) for i in (1, 3, 5))
        if abs(r - red) <= tolerance and abs(g - green) <= tolerance and abs(b - blue) <= tolerance:
            count += pixels
    return count


# --- without QGIS: what is written ---------------------------------------------------------------


def test_catalogue_files_are_published_beside_the_inventory(published):
    assert (published / PROJECT_FILE).is_file() and (published / "stac" / "catalog.json").is_file()
    assert (published / "basemap" / "ne_110m_countries.geojson").is_file()
    assert not list(published.glob("*.aux.xml")), "reading the GeoPackage must not leave GDAL side files"
    with zipfile.ZipFile(published / PROJECT_FILE) as archive:
        assert archive.namelist() == [f"{PROJECT_NAME}.qgs"]


def test_project_paths_are_relative_to_the_output_folder(published):
    with zipfile.ZipFile(published / PROJECT_FILE) as archive:
        root = ET.fromstring(archive.read(f"{PROJECT_NAME}.qgs").decode("utf-8").split("\n", 1)[1])
    sources = [element.text for element in root.iter("datasource")]
    assert sources and all(source.startswith("./") for source in sources), sources
    assert {"./rasters/S1_ga_grade.tif", "./rasters/S1_te_grade.tif", "./rasters/S2_ga_grade.tif"} <= set(sources)
    assert root.find("properties/Paths/Absolute").text == "false"
    assert str(published) not in ET.tostring(root, encoding="unicode")  # nothing absolute anywhere


def _raster_groups(qgs: str) -> dict[str, list[str]]:
    """Element group name -> the sources of its raster layers, in the project's layer tree."""
    root = ET.fromstring(qgs.split("\n", 1)[1])
    group = next(g for g in root.find("layer-tree-group").findall("layer-tree-group") if g.get("name") == RASTER_GROUP)
    return {sub.get("name"): [layer.get("source") for layer in sub.findall("layer-tree-layer")]
            for sub in group.findall("layer-tree-group")}  # fmt: skip


def test_raster_groups_are_named_by_the_top_n_rule(published):
    groups = _raster_groups(read_project_from_geopackage(published / "inventory.gpkg"))
    assert RASTERS_PER_ELEMENT == 25 and raster_group_name("ga") == "Ga grade (top 25 sites)"
    # fewer rasters than the bound: every one is shown, the best-ranked site first (S1 is rank 1)
    assert groups == {"Ga grade (top 25 sites)": ["./rasters/S1_ga_grade.tif", "./rasters/S2_ga_grade.tif"],
                      "Te grade (top 25 sites)": ["./rasters/S1_te_grade.tif"]}  # fmt: skip


def test_project_over_more_than_n_sites_holds_the_n_best_ranked_per_element(tmp_path):
    out = tmp_path / "out"
    (out / "rasters").mkdir(parents=True)
    sites = ranked_sites()
    sites["rank"] = [2, 3, 1]  # S3 is the best site, S2 the worst: the rank decides, not the site id
    for index, site_id in enumerate(sites["site_id"]):
        _cog(out / "rasters" / f"{site_id}_ga_grade.tif", sites.geometry[index], "ga", site_id, 10.0 * (index + 1))
    for index, site_id in enumerate(sites["site_id"][:2]):
        _cog(out / "rasters" / f"{site_id}_te_grade.tif", sites.geometry[index], "te", site_id, 1.0 + index)
    publish_inventory(out, sites, _samples(sites), quarantine(), METADATA, formats=["gpkg"])
    write_qgis_project(out, rasters_per_element=2)
    qgs = read_project_from_geopackage(out / "inventory.gpkg")
    groups = _raster_groups(qgs)
    assert groups == {"Ga grade (top 2 sites)": ["./rasters/S3_ga_grade.tif", "./rasters/S1_ga_grade.tif"],
                      "Te grade (top 2 sites)": ["./rasters/S1_te_grade.tif", "./rasters/S2_te_grade.tif"]}  # fmt: skip
    root = ET.fromstring(qgs.split("\n", 1)[1])
    layers = [layer.findtext("datasource") for layer in root.iter("maplayer") if layer.get("type") == "raster"]
    assert sorted(layers) == sorted(source for sources in groups.values() for source in sources)
    assert "S2_ga_grade" not in qgs  # left out of the project (the STAC catalog lists it)
    # each raster layer is small: a short metadata record, not the run's whole lineage
    raster = next(layer for layer in root.iter("maplayer") if layer.get("type") == "raster")
    assert len(ET.tostring(raster)) < 12_000 and len(raster.findall("resourceMetadata/history")) == 2


def test_the_geopackage_holds_the_same_project(published):
    with sqlite3.connect(published / "inventory.gpkg") as db:
        assert [row[1] for row in db.execute("PRAGMA table_info(qgis_projects)")] == ["name", "metadata", "content"]
        name, metadata = db.execute("SELECT name, metadata FROM qgis_projects").fetchone()
    assert name == PROJECT_NAME and {"last_modified_time", "last_modified_user"} <= set(json.loads(metadata))
    with zipfile.ZipFile(published / PROJECT_FILE) as archive:
        in_file = archive.read(f"{PROJECT_NAME}.qgs").decode("utf-8")
    assert read_project_from_geopackage(published / "inventory.gpkg") == in_file


def test_layer_metadata_is_qgis_metadata_per_table(published):
    with sqlite3.connect(published / "inventory.gpkg") as db:
        rows = db.execute("SELECT r.table_name, m.metadata FROM gpkg_metadata m JOIN gpkg_metadata_reference r ON "
                          "r.md_file_id = m.id WHERE m.md_standard_uri = ? AND r.reference_scope = 'table'",
                          (QGIS_METADATA_URI,)).fetchall()  # fmt: skip
    documents = {table: ET.fromstring(text.split("\n", 1)[1]) for table, text in rows}
    assert {"sites_ranked", "samples", "quarantine", "hubs", "run_metadata"} <= set(documents)
    sites = documents["sites_ranked"]
    assert sites.findtext("title") == "Sites (ranked): Export test drop"
    assert "SYNTHETIC" in sites.findtext("abstract") and DISCLAIMER in sites.findtext("abstract")
    history = [element.text for element in sites.findall("history")]
    assert any("run run-123" in line for line in history)
    assert any("sites.gpkg: SHA-256 " + "ab" * 32 in line for line in history)
    assert sites.findtext("contact/name") and sites.findtext("license")
    assert sites.find("crs/spatialrefsys/authid").text == "EPSG:4326"
    spatial = sites.find("extent/spatial")
    assert float(spatial.get("minx")) == pytest.approx(78.0 - 0.002) and spatial.get("crs") == "EPSG:4326"


def test_project_carries_no_synthetic_banner_for_user_data():
    sites = VectorSource("sites_ranked", "Polygon", (78.0, 20.0, 80.0, 22.0), ("site_id", "rank"))
    assert SYNTHETIC_BANNER not in project_document([sites], [], "User drop", False, "Screening only.")
    with pytest.raises(ValueError, match="needs a sites_ranked layer"):
        project_document([], [], "No sites", False, "")


def test_project_lists_the_rasters_staged_by_the_run_not_the_published_ones(tmp_path):
    out = publish_folder(tmp_path / "out")  # rasters S1 (ga, te) and S2 (ga) published
    release = Release.open(out, key="run-2")
    with release.part("grade_rasters", stale=["rasters/*"]) as staging:  # this run models only S2
        (staging / "rasters").mkdir()
        shutil.copy(out / "rasters" / "S2_ga_grade.tif", staging / "rasters" / "S2_ga_grade.tif")
    with release.part("inventory", stale=CATALOGUE_FILES) as staging:
        sites = ranked_sites()
        from residua.geodata.publish import stage_inventory

        stage_inventory(staging, sites, _samples(sites), quarantine(), METADATA, formats=["gpkg"])
    release.commit()
    with zipfile.ZipFile(out / PROJECT_FILE) as archive:
        qgs = archive.read(f"{PROJECT_NAME}.qgs").decode("utf-8")
    assert "./rasters/S2_ga_grade.tif" in qgs and "S1_ga_grade" not in qgs
    assert sorted(path.name for path in (out / "rasters").iterdir()) == ["S2_ga_grade.tif"]


# --- in QGIS ---------------------------------------------------------------------------------------


@needs_qgis
def test_every_layer_opens_valid_and_styled(opened):
    assert opened["read"] is True
    invalid = {name: layer["source"] for name, layer in opened["layers"].items() if not layer["valid"]}
    assert not invalid, invalid
    names = set(opened["layers"])
    assert {"Sites (ranked)", "Samples", "Processing hubs", "Country outlines (Natural Earth)"} <= names
    assert {"S1 Ga P50 (g/t)", "S1 Te P50 (g/t)", "S2 Ga P50 (g/t)"} <= names
    assert opened["layers"]["Sites (ranked)"]["renderer"] == "RuleRenderer"
    assert opened["layers"]["S1 Ga P50 (g/t)"]["renderer"] == "singlebandpseudocolor"
    assert opened["crs"].startswith("EPSG:326")  # a UTM zone: the scale bar measures kilometres


@needs_qgis
def test_hub_assignments_are_thin_lines_below_the_hubs_and_opened_hubs_stand_out(opened):
    lines = opened["layers"]["Hub assignments (site to hub)"]
    assert lines["valid"] and lines["geometry"] == "LineString" and lines["renderer"] == "RuleRenderer"
    assert [(rule["label"], rule["symbol"]) for rule in lines["rules"]] == [("Site to hub", "QgsLineSymbol")]
    hubs = opened["layers"]["Processing hubs"]["rules"]
    assert [(rule["label"], rule["symbol"]) for rule in hubs] == [("Hub candidate", "QgsMarkerSymbol")]
    assert [(child["label"], child["filter"]) for child in hubs[0]["children"]] == [
        ("Hub opened by the plan", '"opened" = TRUE')
    ]
    # QGIS evaluates the rule on the GeoPackage's boolean: the opened hub gets the purple triangle over the dot
    assert opened["hub_symbols"] == {"H1": ["#c4c7cc", "#6a3d9a"], "H2": ["#c4c7cc"]}
    legend = opened["legend_layers"]
    order = [legend.index(name) for name in ("Processing hubs", "Hub assignments (site to hub)", "Sites (ranked)")]
    assert order == sorted(order)  # drawn under the hubs, over the sites


@needs_qgis
def test_one_map_theme_per_element_selects_its_sample_style(opened):
    assert opened["themes"] == ["Ga", "Te"]
    assert opened["theme_styles"]["Te"]["Samples"] == "Te" and opened["theme_styles"]["Ga"]["Samples"] == "Ga"
    assert "S1 Te P50 (g/t)" in opened["theme_styles"]["Te"] and "S1 Te P50 (g/t)" not in opened["theme_styles"]["Ga"]
    # applied as a user picks it: the samples are coloured by that element, only its rasters are shown
    te = opened["applied"]["Te"]
    assert te["style"] == "Te" and '"te_gt"' in te["filter"]
    assert "S1 Te P50 (g/t)" in te["visible"] and "S1 Ga P50 (g/t)" not in te["visible"]
    assert '"ga_gt"' in opened["applied"]["Ga"]["filter"]


@needs_qgis
def test_print_layout_has_title_legend_scale_bar_north_arrow_banner_and_disclaimer(opened):
    assert opened["layouts"] == ["Residua inventory"]
    assert {"QgsLayoutItemMap", "QgsLayoutItemLegend", "QgsLayoutItemScaleBar", "QgsLayoutItemPicture",
            "QgsLayoutItemLabel"} <= set(opened["layout_items"])  # fmt: skip
    assert METADATA["title"] in opened["labels"] and SYNTHETIC_BANNER in opened["labels"]
    assert DISCLAIMER in opened["labels"]
    assert opened["north_arrow"] and opened["north_arrow"][0].endswith("north_arrow.svg")
    assert "Sites (ranked)" in opened["legend_layers"]
    assert opened["pdf"] == 0 and opened["png"] == 0  # QgsLayoutExporter.Success


@needs_qgis
def test_national_render_shows_each_sub_pixel_footprint_as_a_symbol(opened):
    national = opened["national"]
    assert national["scale"] > 1_000_000 and not national["errors"]
    colours = national["colours"]
    drawn = sum(count for colour, count in colours.items() if colour not in (LAND, "#ffffff"))
    assert drawn >= 300 and len(colours) > 10, "the render is blank: land and sea only"
    # three 400 m footprints, each far below a pixel at this scale: the rank 1-10 centroid circles
    # (2.6 mm, about 10 px across at 96 dpi) must show in the top rank colour
    assert _near(colours, RANK_1_COLOUR) >= 3 * 30, _near(colours, RANK_1_COLOUR)


@needs_qgis
def test_site_render_shows_the_footprint_the_grade_raster_and_the_samples(opened):
    site = opened["site"]
    assert site["scale"] < 100_000 and not site["errors"]
    colours = site["colours"]
    total = sum(colours.values())
    assert _near(colours, RANK_1_COLOUR, tolerance=50) > 0.02 * total  # the footprint, filled by rank
    viridis = sum(_near(colours, colour, tolerance=30) for colour in ("#440154", "#3b528b", "#21918c", "#5ec962",
                                                                      "#fde725"))  # fmt: skip
    assert viridis > 0.005 * total  # the grade raster (and the samples) in the grade ramp


@needs_qgis
def test_layer_metadata_shows_in_qgis(opened):
    metadata = opened["metadata"]
    assert metadata["title"] == "Sites (ranked): Export test drop"
    assert "SYNTHETIC" in metadata["abstract"] and "not a compliant mineral resource statement" in metadata["abstract"]
    assert metadata["licenses"] and metadata["contacts"] and metadata["crs"] == "EPSG:4326"
    assert "gmd:topicCategory" in metadata["keywords"]
    assert any("run run-123" in line for line in metadata["history"])
    assert metadata["spatial"] and metadata["temporal"] == []  # the test metadata has no run time


@needs_qgis
def test_project_stored_in_the_geopackage_opens_too(published, tmp_path):
    gpkg = published / "inventory.gpkg"
    report = run_qgis(f"geopackage:{gpkg}?projectName={PROJECT_NAME}", gpkg, tmp_path)
    assert report["read"] is True and report["layers"]
    assert all(layer["valid"] for layer in report["layers"].values()), report["layers"]
    assert report["themes"] == ["Ga", "Te"]


@needs_qgis
def test_a_moved_zipped_copy_still_opens_with_valid_layers(published, tmp_path):
    archive = shutil.make_archive(str(tmp_path / "residua-out"), "zip", published)
    moved = tmp_path / "somewhere else" / "unzipped"
    shutil.unpack_archive(archive, moved)
    report = run_qgis(str(moved / PROJECT_FILE), moved / "inventory.gpkg", tmp_path / "images")
    assert report["read"] is True
    assert all(layer["valid"] and str(moved) in layer["source"] for layer in report["layers"].values()), {
        name: layer["source"] for name, layer in report["layers"].items()}  # fmt: skip


def test_a_stray_file_in_rasters_is_left_out_not_fatal(tmp_path):
    out = tmp_path / "out"
    (out / "rasters").mkdir(parents=True)
    (out / "rasters" / "GONE_ga_grade.tif").write_bytes(b"a site no longer modelled")
    sites = ranked_sites()
    _cog(out / "rasters" / "S1_ga_grade.tif", sites.geometry[0], "ga", "S1", 40.0)
    publish_inventory(out, sites, _samples(sites), quarantine(), METADATA, formats=["gpkg"], catalogue=True)
    qgs = read_project_from_geopackage(out / "inventory.gpkg")
    assert "./rasters/S1_ga_grade.tif" in qgs and "GONE_ga_grade" not in qgs
