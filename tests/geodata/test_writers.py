"""Atomic outputs, GeoPackage layers, and the published inventory as GDAL's CLI sees it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from residua.geodata.formats import write_geopackage
from residua.geodata.publish import DISCLAIMER, LEADING_COLUMNS, metal_columns
from residua.geodata.transaction import STAGING_PREFIX, Release, recover_outputs
from tests.publishing import publish_inventory, staged_outputs

OGRINFO = Path("/usr/bin/ogrinfo")


def _quarantine() -> gpd.GeoDataFrame:
    """Quarantined rows from both files: a polygon, a point and a row without geometry."""
    return gpd.GeoDataFrame(
        {"source": ["sites.gpkg", "samples.csv", "sites.csv"], "source_row": [2, 3, 4],
         "record_id": ["S9", "X1", "S10"], "reason": ["bad type", "zero assay", "no geometry"],
         "raw": ['{"a": "1"}', "{}", "{}"]},
        geometry=[shapely.box(81, 20, 81.01, 20.01), shapely.Point(81.5, 20.5), None],
        crs="EPSG:4326",
    )  # fmt: skip


def test_staged_outputs_moves_files_on_success(tmp_path):
    out = tmp_path / "out"
    with staged_outputs(out) as staging:
        (staging / "a.csv").write_text("x\n1\n")
        (staging / "sub").mkdir()
        (staging / "sub" / "b.txt").write_text("b")
        assert not (out / "a.csv").exists()  # nothing visible before the block ends
    assert (out / "a.csv").read_text() == "x\n1\n"
    assert (out / "sub" / "b.txt").read_text() == "b"
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "sub"]  # staging folder removed


def test_staged_outputs_leaves_out_dir_untouched_when_block_raises(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "inventory.gpkg").write_bytes(b"previous run")
    with pytest.raises(RuntimeError, match="boom"):
        with staged_outputs(out) as staging:
            (staging / "inventory.gpkg").write_bytes(b"half written")
            (staging / "sites_ranked.csv").write_text("new")
            raise RuntimeError("boom")
    assert (out / "inventory.gpkg").read_bytes() == b"previous run"
    assert sorted(p.name for p in out.iterdir()) == ["inventory.gpkg"]  # no .staging-* folder, no new file


def _files(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (relative POSIX path -> text), staging folders included."""
    return {
        path.relative_to(folder).as_posix(): path.read_text() for path in sorted(folder.rglob("*")) if path.is_file()
    }


def test_a_release_publishes_nothing_until_it_is_committed(tmp_path):
    out = tmp_path / "out"
    release = Release.open(out, key="run-1")
    with release.part("report") as staging:
        (staging / "report.csv").write_text("new")
    assert release.done() == {"report"}
    assert [path.name for path in out.iterdir()] == [f"{STAGING_PREFIX}run-1"]  # staged, hidden, nothing published
    assert Release.open(out, key="run-1") is release  # every producer of a run joins the same release
    with release.part("rasters") as staging:
        (staging / "rasters").mkdir()
        (staging / "rasters" / "P1_ga_grade.tif").write_text("P1")
    release.commit()
    assert _files(out) == {"report.csv": "new", "rasters/P1_ga_grade.tif": "P1"}
    with pytest.raises(RuntimeError, match="already published"):
        release.commit()


def test_a_failed_part_is_never_published(tmp_path):
    out = tmp_path / "out"
    release = Release.open(out, key="run-1")
    with pytest.raises(RuntimeError, match="boom"), release.part("rasters") as staging:
        (staging / "half.tif").write_text("half")
        raise RuntimeError("boom")
    assert release.done() == set()
    release.discard()
    assert list(out.iterdir()) == []


def test_stale_patterns_remove_what_the_previous_release_held(tmp_path):
    out = tmp_path / "out"
    with staged_outputs(out) as staging:
        (staging / "rasters").mkdir()
        for name in ("P1", "P2"):
            (staging / "rasters" / f"{name}_ga_grade.tif").write_text("old")
        (staging / "inventory.gpkg").write_text("old")
        (staging / "notes.txt").write_text("not ours")
    with staged_outputs(out, stale=["rasters/*", "inventory.gpkg"]) as staging:
        (staging / "rasters").mkdir()
        (staging / "rasters" / "P1_ga_grade.tif").write_text("new")
    assert _files(out) == {"rasters/P1_ga_grade.tif": "new", "notes.txt": "not ours"}
    with staged_outputs(out, stale=["rasters/*"]):
        pass  # no rasters at all any more: the emptied folder goes too
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt"]


def test_current_is_the_staged_file_else_the_published_one_unless_a_part_removes_it(tmp_path):
    out = tmp_path / "out"
    with staged_outputs(out) as staging:
        (staging / "inventory.gpkg").write_text("published")
        (staging / "grade_model_report.csv").write_text("published")
    release = Release.open(out, key="run-2")
    assert release.current("inventory.gpkg") == out / "inventory.gpkg"
    with release.part("inventory", stale=["inventory.gpkg"]):
        pass  # e.g. gpkg no longer among the formats: the published one goes at commit
    assert release.current("inventory.gpkg") is None
    assert release.current("grade_model_report.csv") == out / "grade_model_report.csv"
    with release.part("grade_model_report", stale=["grade_model_report.*"]) as staging:
        (staging / "grade_model_report.csv").write_text("staged")
    assert release.current("grade_model_report.csv").read_text() == "staged"
    assert release.current("missing.csv") is None
    release.discard()


def test_recovery_removes_abandoned_staging_folders_and_keeps_live_ones(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old_style = out / f"{STAGING_PREFIX}abc123"  # an older Residua's leftover: no lock, no journal
    old_style.mkdir()
    (old_style / "inventory.gpkg").write_text("partial")
    live = Release.open(out, key="live")
    assert live.recovered == [f"{STAGING_PREFIX}abc123: not published, removed"]
    with live.part("inventory") as staging:
        (staging / "inventory.gpkg").write_text("staged")
    assert recover_outputs(out) == []  # the live release is locked: never touched
    live.commit()
    assert _files(out) == {"inventory.gpkg": "staged"}


@pytest.mark.parametrize("key", ["../x", "a/b", "", ".hidden", "x" * 101])
def test_release_keys_cannot_leave_the_output_folder(tmp_path, key):
    with pytest.raises(ValueError, match="release key"):
        Release.open(tmp_path, key=key)


@pytest.mark.parametrize("pattern", ["../inventory.gpkg", "/etc/passwd", "", "a\\b"])
def test_stale_patterns_stay_inside_the_output_folder(tmp_path, pattern):
    with (
        pytest.raises(ValueError, match="relative path inside the output folder"),
        staged_outputs(tmp_path, stale=[pattern]),
    ):
        pass
    assert list(tmp_path.iterdir()) == []


def test_write_geopackage_mixed_geometry_and_attribute_table(tmp_path):
    path = tmp_path / "out.gpkg"
    table = pd.DataFrame({"key": ["run", "crs"], "value": ["1", "EPSG:4326"]})
    write_geopackage(path, {"quarantine": _quarantine(), "run_metadata": table})
    layers = dict(pyogrio.list_layers(path))
    assert layers == {"quarantine": "Unknown", "run_metadata": None}
    quarantine = gpd.read_file(path, layer="quarantine")
    assert quarantine["record_id"].tolist() == ["S9", "X1", "S10"]
    assert quarantine.geom_type.iloc[:2].tolist() == ["Polygon", "Point"]
    assert quarantine.geometry.iloc[2] is None
    assert quarantine.crs == "EPSG:4326"
    metadata = pyogrio.read_dataframe(path, layer="run_metadata", read_geometry=False)
    assert metadata.to_dict("list") == {"key": ["run", "crs"], "value": ["1", "EPSG:4326"]}


def test_write_geopackage_single_type_layer_keeps_its_type(tmp_path):
    path = tmp_path / "out.gpkg"
    points = gpd.GeoDataFrame({"sample_id": ["S1"]}, geometry=[shapely.Point(81, 20)], crs="EPSG:4326")
    write_geopackage(path, {"samples": points})
    assert dict(pyogrio.list_layers(path)) == {"samples": "Point"}


def test_write_geopackage_replaces_an_existing_file(tmp_path):
    path = tmp_path / "out.gpkg"
    old = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs="EPSG:4326")
    write_geopackage(path, {"old_layer": old})
    write_geopackage(path, {"new_layer": old})
    assert [name for name, _ in pyogrio.list_layers(path)] == ["new_layer"]


def test_write_geopackage_mixed_value_object_column_is_written_as_text(tmp_path):
    path = tmp_path / "out.gpkg"
    frame = pd.DataFrame({"key": ["a", "b", "c"], "value": [1, "two", None]})  # GDAL cannot type this
    write_geopackage(path, {"t": frame})
    read = pyogrio.read_dataframe(path, layer="t", read_geometry=False)
    assert read["value"].tolist() == ["1", "two", ""]


def _ranked() -> gpd.GeoDataFrame:
    row = {column: 1.0 for column in (*LEADING_COLUMNS, *metal_columns())}
    row.update(name="Pond", residue_type="bauxite_residue", confidence_words="low", unfc_code="334")
    return gpd.GeoDataFrame(
        [{**row, "site_id": "A", "rank": 1, "extra": "kept"}, {**row, "site_id": "B", "rank": 2, "extra": "too"}],
        geometry=[shapely.box(81, 20, 81.02, 20.02), shapely.box(82, 21, 82.02, 21.02)],
        crs="EPSG:4326",
    )


def _samples() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"sample_id": ["S1"], "site_id": ["A"], "ga_gt": [0.5], "ga_bdl": [True]},
                            geometry=[shapely.Point(81.01, 20.01)], crs="EPSG:4326")  # fmt: skip


def test_publish_inventory_writes_layers_and_csv(tmp_path):
    paths = publish_inventory(
        tmp_path / "out", _ranked(), _samples(), _quarantine(), {"run_id": "r1"}, formats=["gpkg", "csv"]
    )
    assert paths == {"inventory": tmp_path / "out" / "inventory.gpkg",
                     "sites_ranked_csv": tmp_path / "out" / "sites_ranked.csv"}  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["inventory.gpkg", "sites_ranked.csv"]
    layers = dict(pyogrio.list_layers(paths["inventory"]))
    assert layers == {"sites_ranked": "Polygon", "samples": "Point", "quarantine": "Unknown", "run_metadata": None,
                      "layer_styles": None}  # fmt: skip
    metadata = pyogrio.read_dataframe(paths["inventory"], layer="run_metadata", read_geometry=False)
    assert dict(zip(metadata["key"], metadata["value"])) == {"run_id": "r1", "disclaimer": DISCLAIMER}
    csv = pd.read_csv(paths["sites_ranked_csv"])
    assert csv.columns[:5].tolist() == ["site_id", "name", "residue_type", "centroid_lon", "centroid_lat"]
    assert csv.columns[-1] == "extra"  # columns outside the contract come last
    assert csv["centroid_lon"].tolist() == pytest.approx([81.01, 82.01])
    assert "geometry" not in csv.columns


@pytest.mark.skipif(not OGRINFO.exists(), reason="GDAL's ogrinfo is not installed")
def test_ogrinfo_reads_published_inventory_without_warnings(tmp_path):
    paths = publish_inventory(
        tmp_path / "out", _ranked(), _samples(), _quarantine(), {"run_id": "r1"}, formats=["gpkg", "csv"]
    )
    run = subprocess.run([str(OGRINFO), "-so", "-al", str(paths["inventory"])], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Warning" not in output and "ERROR" not in output, output
    for layer in ("sites_ranked", "samples", "quarantine", "run_metadata"):
        assert f"Layer name: {layer}\n" in output
