"""Every export opens in GDAL's own command-line tools (Debian's gdal-bin) without a warning.

Files are written with pyogrio's bundled GDAL and read back with the system ``ogrinfo``
(GDAL 3.6 on Debian 12, what many GIS users run): any ``Warning``/``ERROR`` line, a lost CRS
or a field name not in the documented Shapefile mapping fails. Debian 12's GDAL has no
(Geo)Parquet driver, so GeoParquet is checked through its ``geo`` metadata with pyarrow and
read back with geopandas; if the system GDAL can read Parquet, ogrinfo checks it too.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from residua.geodata import publish as publish_module
from residua.geodata.formats import DBF_FIELD_NAMES, dbf_field_names
from residua.geodata.publish import (
    ALL_FORMATS,
    DISCLAIMER,
    FORMAT_FILES,
    ExportFormatError,
    check_formats,
    metal_columns,
)
from residua.geodata.styles import LAYER_STYLES_COLUMNS
from tests.publishing import publish_inventory

VALIDATE_GPKG = Path("/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_gpkg.py")
LONG_TEXT = "x" * 300  # longer than a DBF text field (254)
METADATA = {
    "title": "Export test drop",
    "data_origin": "SYNTHETIC demo data",
    "synthetic": True,
    "code_version": "residua 0.1.0",
    "run_id": "run-123",
    "input:sites.gpkg": "ab" * 32,
    "reference:density": "bundled",
}


def _square(lon: float, lat: float, half: float = 0.002) -> shapely.Polygon:
    return shapely.box(lon - half, lat - half, lon + half, lat + half)


def ranked_sites(points: int = 0) -> gpd.GeoDataFrame:
    """Three footprint sites (plus ``points`` point-only sites) with every contract column."""
    n = 3 + points
    frame = pd.DataFrame({
        "site_id": [f"S{i}" for i in range(1, n + 1)],
        "name": ["Kōlār gold tailings", "Red mud pond", "Jarosite cell"] + [f"Point site {i}" for i in range(points)],
        "residue_type": "bauxite_residue",
        "rank": range(1, n + 1),
        "score": np.linspace(3e9, 1e6, n),
        "confidence": (["G1", "G2", "G4"] + ["G4"] * points),
        "confidence_words": "Measured-like",
        "unfc_code": 331,
        "tonnes_p10": 1e6, "tonnes_p50": 2e6, "tonnes_p90": 4e6,
    })  # fmt: skip
    for offset, column in enumerate(metal_columns()):
        frame[column] = 0.5 + offset
    frame["value_usd_p50"] = [1.2345678912345e10, np.nan, 3.5] + [1.0] * points
    frame["value_relative_width"] = [0.4, np.inf, 2.0] + [np.inf] * points  # inf: P50 value under 1 USD
    frame["tonnes_vs_reported"] = np.nan
    frame["residue_type_as_written"] = ["Red Mud", LONG_TEXT, "jarosite"] + ["fly ash"] * points
    frame["data_origin"] = "SYNTHETIC demo data"
    footprints = [_square(78.0, 21.0), _square(80.5, 22.5), _square(85.0, 24.0)]
    geometry = footprints + [shapely.Point(86.0 + i, 25.0) for i in range(points)]
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def samples() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"sample_id": ["a", "b"], "site_id": ["S1", "S1"], "ga_gt": [50.0, np.nan], "ga_bdl": [False, True]},
        geometry=[shapely.Point(78.0, 21.0), shapely.Point(78.001, 21.001)],
        crs="EPSG:4326",
    )


def quarantine() -> gpd.GeoDataFrame:
    """Mixed geometries and a row without one, as validation produces."""
    return gpd.GeoDataFrame(
        {"source": ["samples.csv", "sites.gpkg", "samples.csv"], "source_row": [2, 3, 9],
         "record_id": ["q1", "S9", None], "reason": ["zero assay", "unknown residue type", "no location"],
         "raw": ['{"ga_ppm": "0"}', "{}", "{}"]},
        geometry=[shapely.Point(79.0, 21.5), _square(81.0, 23.0), None],
        crs="EPSG:4326",
    )  # fmt: skip


def publish(out: Path, formats=ALL_FORMATS, sites: gpd.GeoDataFrame | None = None) -> dict[str, Path]:
    """publish_inventory, failing on any GDAL warning while writing.

    pyogrio reports GDAL warnings (e.g. a laundered field name) as RuntimeWarning from a C
    callback, where raising is swallowed: record them instead and assert there are none.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = publish_inventory(out, ranked_sites() if sites is None else sites, samples(), quarantine(), METADATA,
                                  formats=formats)  # fmt: skip
    gdal_warnings = [str(warning.message) for warning in caught if issubclass(warning.category, RuntimeWarning)]
    assert not gdal_warnings, gdal_warnings
    return paths


def ogrinfo(*args: str) -> str:
    """Run Debian's ogrinfo; fail on a non-zero exit or any warning/error line; return stdout."""
    result = subprocess.run(["ogrinfo", *args], capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    problems = [line for line in output.splitlines() if re.search(r"warning|error", line, re.IGNORECASE)]
    assert not problems, problems
    return result.stdout


def layer_blocks(info: str) -> dict[str, str]:
    """ogrinfo -so -al output split per layer."""
    parts = re.split(r"^Layer name: ", info, flags=re.MULTILINE)[1:]
    return {part.splitlines()[0].strip(): part for part in parts}


def field_names(block: str) -> list[str]:
    """Attribute field names listed in one layer's ogrinfo -so block."""
    return re.findall(r"^(\w+): (?:String|Integer|Integer64|Real|Date|DateTime)", block, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    publish(out)
    return out


def test_gdal_is_debian_gdal_bin():
    version = subprocess.run(["ogrinfo", "--version"], capture_output=True, text=True).stdout
    assert version.startswith("GDAL "), version


def test_every_selected_format_is_written(exports):
    expected = {name for names in FORMAT_FILES.values() for name in names} | {"sites_ranked.qml", "sites_ranked.sld"}
    assert {path.name for path in exports.iterdir()} == expected


@pytest.mark.parametrize(
    ("name", "layers"),
    [
        ("inventory.gpkg", {"sites_ranked": 3, "samples": 2, "quarantine": 3}),
        ("sites_ranked.geojson", {"sites_ranked": 3}),
        ("sites_ranked.fgb", {"sites_ranked": 3}),
        ("sites_ranked.shp.zip", {"sites_ranked": 3}),  # GDAL >= 3.1 opens .shp.zip directly
        ("/vsizip/{out}/sites_ranked.shp.zip", {"sites_ranked": 3}),
    ],
)
def test_export_opens_in_ogrinfo_with_crs_and_counts(exports, name, layers):
    path = name.format(out=exports) if name.startswith("/vsizip/") else str(exports / name)
    blocks = layer_blocks(ogrinfo("-so", "-al", path))
    for layer, count in layers.items():
        block = blocks[layer]
        assert f"Feature Count: {count}\n" in block
        assert 'ID["EPSG",4326]' in block, f"{layer} in {name} lost its CRS"
        assert "Data axis to CRS axis mapping: 2,1" in block  # lon/lat order in the file


def test_geopackage_has_every_layer_and_is_version_1_2(exports):
    path = exports / "inventory.gpkg"
    blocks = layer_blocks(ogrinfo("-so", "-al", str(path)))
    assert set(blocks) == {"sites_ranked", "samples", "quarantine", "run_metadata", "layer_styles"}
    assert "Geometry: Unknown (any)" in blocks["quarantine"]  # a point, a polygon and a missing geometry
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # 'GPKG'
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
    assert field_names(blocks["sites_ranked"])[:6] == ["site_id", "name", "residue_type", "rank", "score", "confidence"]


def test_geopackage_passes_gdal_validator(exports):
    result = subprocess.run(["/usr/bin/python3", str(VALIDATE_GPKG), str(exports / "inventory.gpkg")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_geopackage_metadata_tables_hold_provenance(exports):
    with sqlite3.connect(exports / "inventory.gpkg") as db:
        extensions = {row[0] for row in db.execute(
            "SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_metadata'")}  # fmt: skip
        references = db.execute(
            "SELECT r.reference_scope, r.table_name, m.md_scope, m.md_standard_uri, m.mime_type, m.metadata "
            "FROM gpkg_metadata_reference r JOIN gpkg_metadata m ON m.id = r.md_file_id"
        ).fetchall()  # fmt: skip
    assert extensions == {"gpkg_metadata", "gpkg_metadata_reference"}
    dataset = [row for row in references if row[0] == "geopackage"]
    assert len(dataset) == 1 and dataset[0][1] is None
    document = ET.fromstring(dataset[0][5])
    items = {item.get("key"): item.text for item in document.iter("MDI")}
    assert items["run_id"] == "run-123" and items["synthetic"] == "True"
    assert items["input/sites.gpkg"] == "ab" * 32 and items["code_version"] == "residua 0.1.0"
    assert items["disclaimer"] == DISCLAIMER
    per_table = {row[1]: row[5] for row in references if row[0] == "table"}
    assert {"sites_ranked", "samples", "quarantine"} <= set(per_table)
    assert all("not a compliant mineral resource statement" in text for text in per_table.values())
    # GDAL reports the dataset metadata too, so QGIS and ogrinfo users see it.
    assert "run_id=run-123" in ogrinfo("-so", str(exports / "inventory.gpkg"))


def test_run_metadata_table_keeps_exact_keys(exports):
    table = pd.read_sql("SELECT key, value FROM run_metadata", sqlite3.connect(exports / "inventory.gpkg"))
    values = dict(zip(table["key"], table["value"]))
    assert values["input:sites.gpkg"] == "ab" * 32 and values["disclaimer"] == DISCLAIMER


def test_layer_styles_table_is_qgis_layout_with_one_default_per_layer(exports):
    with sqlite3.connect(exports / "inventory.gpkg") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(layer_styles)")]
        rows = pd.read_sql("SELECT * FROM layer_styles", db)
        contents = db.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchone()
    assert columns == ["id", *LAYER_STYLES_COLUMNS]
    assert contents == ("attributes",)  # registered, so GDAL and QGIS see it as a table
    assert sorted(rows["f_table_name"]) == ["quarantine", "samples", "sites_ranked"]
    assert (rows["useAsDefault"] == 1).all() and (rows["f_geometry_column"] == "geom").all()
    assert (rows["f_table_schema"] == "").all() and (rows["f_table_catalog"] == "").all()


def _qml_rules(qml: str) -> tuple[list[ET.Element], dict[str, str]]:
    assert qml.startswith("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>")
    root = ET.fromstring(qml.split("\n", 1)[1])
    assert root.tag == "qgis"
    renderer = root.find("renderer-v2")
    assert renderer is not None and renderer.get("type") == "RuleRenderer"
    rules = renderer.findall("rules/rule")
    symbols = {symbol.get("name"): symbol.get("type") for symbol in renderer.findall("symbols/symbol")}
    return rules, symbols


def test_qml_styles_are_valid_rule_renderers_on_existing_columns(exports):
    with sqlite3.connect(exports / "inventory.gpkg") as db:
        styles = dict(db.execute("SELECT f_table_name, styleQML FROM layer_styles").fetchall())
    ranked_columns = set(ranked_sites().columns)
    rules, symbols = _qml_rules(styles["sites_ranked"])
    assert [rule.get("label") for rule in rules][:5] == ["Rank 1-10", "Rank 11-25", "Rank 26-50", "Rank 51-100",
                                                        "Rank over 100"]  # fmt: skip
    assert [rule.get("filter") for rule in rules][5:] == [f"\"confidence\" = 'G{i}'" for i in range(1, 5)]
    for rule in rules:
        assert symbols[rule.get("symbol")] == "fill"  # polygons need fill symbols
        assert set(re.findall(r'"(\w+)"', rule.get("filter", ""))) <= ranked_columns
    sample_rules, sample_symbols = _qml_rules(styles["samples"])
    assert [sample_symbols[rule.get("symbol")] for rule in sample_rules] == ["marker"]
    quarantine_rules, quarantine_symbols = _qml_rules(styles["quarantine"])
    assert {quarantine_symbols[r.get("symbol")]: r.get("filter") for r in quarantine_rules} == {
        "marker": "geometry_type($geometry) = 'Point'", "fill": "geometry_type($geometry) = 'Polygon'"}  # fmt: skip
    colours = [option.get("value") for option in ET.fromstring(styles["quarantine"].split("\n", 1)[1]).iter("Option")
               if option.get("name") == "color"]  # fmt: skip
    assert colours and all(colour.startswith("227,26,28") for colour in colours)  # red


def test_sld_styles_match_the_qml_rules(exports):
    with sqlite3.connect(exports / "inventory.gpkg") as db:
        styles = db.execute("SELECT f_table_name, styleQML, styleSLD FROM layer_styles").fetchall()
    ns = {"sld": "http://www.opengis.net/sld", "se": "http://www.opengis.net/se", "ogc": "http://www.opengis.net/ogc"}
    for layer, qml, sld in styles:
        root = ET.fromstring(sld.encode())
        assert root.tag == "{http://www.opengis.net/sld}StyledLayerDescriptor" and root.get("version") == "1.1.0"
        assert root.find("sld:NamedLayer/se:Name", ns).text == layer
        sld_rules = root.findall(".//se:Rule", ns)
        assert [rule.find("se:Name", ns).text for rule in sld_rules] == [r.get("label") for r in _qml_rules(qml)[0]]
    sites_sld = ET.fromstring(dict((row[0], row[2]) for row in styles)["sites_ranked"].encode())
    g1 = [rule for rule in sites_sld.findall(".//se:Rule", ns) if rule.find("se:Name", ns).text.startswith("G1")][0]
    assert g1.find(".//ogc:PropertyIsEqualTo/ogc:Literal", ns).text == "G1"
    assert g1.find(".//se:Stroke", ns) is not None and g1.find(".//se:Fill", ns) is None


def test_sidecar_qml_styles_single_layer_files(exports):
    rules, symbols = _qml_rules((exports / "sites_ranked.qml").read_text(encoding="utf-8"))
    assert len(rules) == 9 and set(symbols.values()) == {"fill"}
    with zipfile.ZipFile(exports / "sites_ranked.shp.zip") as archive:
        assert archive.read("sites_ranked.qml").decode() == (exports / "sites_ranked.qml").read_text(encoding="utf-8")


def test_geojson_is_rfc7946_lon_lat_without_crs_member(exports):
    text = (exports / "sites_ranked.geojson").read_text(encoding="utf-8")
    document = json.loads(text)
    assert "crs" not in document
    assert "not a compliant mineral resource statement" in document["description"]
    feature = document["features"][0]
    lon, lat = feature["geometry"]["coordinates"][0][0]
    minx, miny, maxx, maxy = _square(78.0, 21.0).bounds
    assert minx - 1e-7 <= lon <= maxx + 1e-7 and miny - 1e-7 <= lat <= maxy + 1e-7  # lon first
    decimals = [len(number.split(".")[1]) for number in re.findall(r"-?\d+\.\d+", json.dumps(
        [f["geometry"]["coordinates"] for f in document["features"]]))]  # fmt: skip
    assert max(decimals) <= 7
    assert document["features"][1]["properties"]["value_usd_p50"] is None  # NaN -> null, valid JSON
    assert document["features"][1]["properties"]["value_relative_width"] is None  # inf -> null, not left out
    assert len({tuple(f["properties"]) for f in document["features"]}) == 1  # every feature has every field
    assert feature["properties"]["name"] == "Kōlār gold tailings"


def test_shapefile_zip_holds_one_complete_shapefile_and_the_field_mapping(exports):
    with zipfile.ZipFile(exports / "sites_ranked.shp.zip") as archive:
        members = set(archive.namelist())
        inside = pd.read_csv(archive.open("sites_ranked_shapefile_fields.csv"))
        cpg = archive.read("sites_ranked.cpg").decode().strip()
    assert {f"sites_ranked.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg")} <= members
    assert members - {f"sites_ranked.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg")} == {
        "sites_ranked_shapefile_fields.csv", "sites_ranked_README.txt", "sites_ranked.qml"}  # fmt: skip
    assert cpg == "UTF-8"
    beside = pd.read_csv(exports / "sites_ranked_shapefile_fields.csv")
    pd.testing.assert_frame_equal(inside, beside)
    assert list(beside.columns) == ["column", "shapefile_field"]
    assert beside["column"].tolist() == [c for c in publish_module.order_columns(ranked_sites()) if c != "geometry"]


def test_shapefile_field_names_are_exactly_the_documented_mapping(exports):
    mapping = pd.read_csv(exports / "sites_ranked_shapefile_fields.csv")
    block = layer_blocks(ogrinfo("-so", "-al", f"/vsizip/{exports}/sites_ranked.shp.zip"))["sites_ranked"]
    assert field_names(block) == mapping["shapefile_field"].tolist()  # no truncation GDAL chose itself


def test_shapefile_values_survive_including_unicode_and_long_text(exports):
    back = gpd.read_file(f"/vsizip/{exports}/sites_ranked.shp.zip", engine="pyogrio")
    assert back.crs.to_epsg() == 4326
    assert back.loc[0, "name"] == "Kōlār gold tailings"
    assert back.loc[0, "usd_p50"] == pytest.approx(1.2345678912345e10, rel=1e-12)
    assert back.loc[1, "restype_in"] == LONG_TEXT[:254]
    # Shapefile rings run clockwise: same polygon, other vertex order.
    assert shapely.normalize(back.geometry.iloc[2]).equals_exact(shapely.normalize(_square(85.0, 24.0)), 1e-9)


def test_shapefile_puts_point_sites_in_their_own_layer(tmp_path):
    publish(tmp_path, formats=["shapefile"], sites=ranked_sites(points=2))
    blocks = layer_blocks(ogrinfo("-so", "-al", f"/vsizip/{tmp_path}/sites_ranked.shp.zip"))
    assert "Feature Count: 3\n" in blocks["sites_ranked"] and "Geometry: Polygon" in blocks["sites_ranked"]
    assert "Feature Count: 2\n" in blocks["sites_ranked_points"] and "Geometry: Point" in blocks["sites_ranked_points"]


def test_flatgeobuf_round_trips_values_and_carries_the_disclaimer(exports):
    # Rows come back in the spatial (Hilbert) order of FlatGeobuf's packed R-tree, not by rank.
    back = gpd.read_file(exports / "sites_ranked.fgb", engine="pyogrio").set_index("site_id").sort_index()
    expected = ranked_sites().set_index("site_id")
    assert back.index.tolist() == ["S1", "S2", "S3"]
    np.testing.assert_allclose(back["score"], expected["score"])
    assert back.geometry["S1"].equals_exact(expected.geometry["S1"], 0)
    import pyogrio

    assert "not a compliant mineral resource statement" in pyogrio.read_info(exports / "sites_ranked.fgb")[
        "layer_metadata"]["DESCRIPTION"]  # fmt: skip


def test_geoparquet_is_version_1_1_with_bbox_covering(exports):
    path = exports / "sites_ranked.parquet"
    file = pq.ParquetFile(path)
    geo = json.loads(file.schema_arrow.metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB" and column["geometry_types"] == ["Polygon"]
    assert column["covering"]["bbox"] == {key: ["bbox", key] for key in ("xmin", "ymin", "xmax", "ymax")}
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 4326}
    bbox = file.read(columns=["bbox"]).column("bbox").to_pylist()[0]
    assert bbox["xmin"] == pytest.approx(78.0 - 0.002) and bbox["ymax"] == pytest.approx(21.0 + 0.002)
    provenance = json.loads(file.schema_arrow.metadata[b"residua"])
    assert provenance["run_id"] == "run-123" and provenance["disclaimer"] == DISCLAIMER
    back = gpd.read_parquet(path)
    assert back.crs.to_epsg() == 4326 and back["site_id"].tolist() == ["S1", "S2", "S3"]
    assert back.geometry.iloc[1].equals_exact(_square(80.5, 22.5), 0)


def test_geoparquet_opens_in_ogrinfo_when_the_system_gdal_can_read_parquet(exports):
    formats = subprocess.run(["ogrinfo", "--formats"], capture_output=True, text=True).stdout
    if "Parquet" not in formats:
        # Debian 12's GDAL 3.6 has no Parquet driver: the pyarrow/geopandas test above covers it.
        assert subprocess.run(["ogrinfo", str(exports / "sites_ranked.parquet")], capture_output=True).returncode != 0
        return
    block = layer_blocks(ogrinfo("-so", "-al", str(exports / "sites_ranked.parquet")))["sites_ranked"]
    assert 'ID["EPSG",4326]' in block and "Feature Count: 3\n" in block


def test_csv_has_centroids_instead_of_geometry(exports):
    csv = pd.read_csv(exports / "sites_ranked.csv")
    assert list(csv.columns[3:5]) == ["centroid_lon", "centroid_lat"] and "geometry" not in csv.columns
    assert csv.loc[0, "centroid_lon"] == pytest.approx(78.0) and csv.loc[0, "centroid_lat"] == pytest.approx(21.0)
    assert csv["value_relative_width"].isna().tolist() == [False, True, False]  # inf is written as an empty cell


def test_selecting_formats_writes_only_those_and_removes_stale_exports(tmp_path):
    publish(tmp_path)
    (tmp_path / "report.html").write_text("someone else's output")
    publish(tmp_path, formats=["GPKG", "parquet"])
    assert {path.name for path in tmp_path.iterdir()} == {"inventory.gpkg", "sites_ranked.parquet", "sites_ranked.qml",
                                                          "sites_ranked.sld", "report.html"}  # fmt: skip


def test_a_failing_writer_publishes_nothing(tmp_path, monkeypatch):
    publish(tmp_path)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(publish_module, "write_csv", broken)  # the last writer: all others have run
    with pytest.raises(OSError, match="disk full"):
        publish(tmp_path)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before  # no staging folder left either


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["gpkg"], ["gpkg"]),
        ([" GeoJSON ", "json"], ["geojson"]),  # case, spaces and an alias of the same format
        (["shp", "fgb", "parquet", "geopackage"], ["shapefile", "flatgeobuf", "geoparquet", "gpkg"]),
        (list(ALL_FORMATS), list(ALL_FORMATS)),
    ],
)
def test_check_formats_normalises(given, expected):
    assert check_formats(given) == expected


@pytest.mark.parametrize(("given", "message"), [(["kml"], "unknown export format 'kml'; choose from gpkg, geojson"),
                                                ([], "no export format given")])  # fmt: skip
def test_check_formats_rejects_with_the_allowed_names(given, message):
    with pytest.raises(ExportFormatError, match=re.escape(message)):
        check_formats(given)


def test_dbf_names_of_every_published_column_fit_and_are_unique():
    columns = [c for c in publish_module.order_columns(ranked_sites()) if c != "geometry"]
    columns += [c for c in DBF_FIELD_NAMES if c not in columns]
    names = dbf_field_names(columns)
    assert all(len(name) <= 10 for name in names.values()), {c: n for c, n in names.items() if len(n) > 10}
    assert len({name.lower() for name in names.values()}) == len(columns)
    assert all(len(name) <= 10 for name in DBF_FIELD_NAMES.values())


@pytest.mark.parametrize(
    ("column", "field"),
    [
        ("site_id", "site_id"),  # 10 characters or fewer: unchanged
        ("tonnes_p10", "tonnes_p10"),
        ("ga_grade_gt_p50", "ga_gt_p50"),  # per-metal rule
        ("pgm_contained_t_p90", "pgm_ct_p90"),
        ("pgm_recoverable_t_p10", "pgm_rt_p10"),
        ("residue_type", "res_type"),  # documented table
        ("confidence_words", "conf_words"),
        ("value_usd_p50", "usd_p50"),
    ],
)
def test_dbf_names_follow_the_documented_mapping(column, field):
    assert dbf_field_names([column])[column] == field


def test_dbf_fallback_names_are_deterministic_and_never_take_a_documented_name():
    columns = ["res_type_code", "residue_type", "distance_to_hub_km", "distance_to_hub_kms"]
    first = dbf_field_names(columns)
    assert first == dbf_field_names(columns)
    assert first["residue_type"] == "res_type"
    assert len(set(first.values())) == 4 and all(len(name) <= 10 for name in first.values())
    assert first["distance_to_hub_kms"] == "dist_to_1"


def test_hubs_are_published_and_styled_when_given(tmp_path):
    hubs = gpd.GeoDataFrame({"hub": ["Jamnagar"]}, geometry=[shapely.Point(70.05, 22.47)], crs="EPSG:4326")
    publish_inventory(tmp_path, ranked_sites(), samples(), quarantine(), METADATA, formats=["gpkg"], hubs=hubs)
    blocks = layer_blocks(ogrinfo("-so", "-al", str(tmp_path / "inventory.gpkg")))
    assert "Geometry: Point" in blocks["hubs"] and 'ID["EPSG",4326]' in blocks["hubs"]
    with sqlite3.connect(tmp_path / "inventory.gpkg") as db:
        qml = db.execute("SELECT styleQML FROM layer_styles WHERE f_table_name = 'hubs'").fetchone()[0]
    rules, symbols = _qml_rules(qml)
    assert [symbols[rule.get("symbol")] for rule in rules] == ["marker"]
