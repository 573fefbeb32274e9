"""One in-process run of the whole graph, on a small drop and on the bundled demo."""

import sqlite3
import subprocess
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pandas as pd
import pytest

from residua.assets.settings import run_settings
from residua.geodata.publish import metal_columns
from residua.pipelines.definitions import build_definitions
from tests.drops import write_prism_drop

DEMO = Path(__file__).resolve().parents[1] / "geodata" / "demo"
CONTRACT_COLUMNS = ["site_id", "name", "residue_type", "rank", "score", "confidence", "tonnes_p10", "tonnes_p50",
                    "tonnes_p90", *metal_columns()]  # fmt: skip


def _run(data_dir: Path, out_dir: Path) -> dg.ExecuteInProcessResult:
    settings = run_settings(data_dir=str(data_dir), out_dir=str(out_dir), n_draws=400)
    job = build_definitions(settings).resolve_job_def("refresh_job")
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral())


def test_prism_drop_end_to_end(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    result = _run(drop, tmp_path / "out")
    assert result.success
    checks = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
    assert checks["sites_rows_conserved"] and checks["samples_rows_conserved"]
    ranked = gpd.read_file(tmp_path / "out" / "inventory.gpkg", layer="sites_ranked")
    assert sorted(ranked["site_id"]) == ["P1", "P2", "P3"]
    assert ranked.crs.to_epsg() == 4326
    assert set(CONTRACT_COLUMNS) <= set(ranked.columns)
    volumes = ranked.set_index("site_id")["volume_m3"]
    assert volumes["P1"] == pytest.approx(300 * 300 * 10.0, rel=0.005)
    assert (ranked["data_origin"] == "SYNTHETIC demo data").all()
    metadata = pd.read_sql("select key, value from run_metadata", sqlite3.connect(tmp_path / "out" / "inventory.gpkg"))
    values = dict(zip(metadata["key"], metadata["value"]))
    assert values["synthetic"] == "True"
    assert "not a compliant mineral resource statement" in values["disclaimer"]
    assert any(key.startswith("input:samples.csv") for key in values)


@pytest.mark.skipif(not (DEMO / "sites.gpkg").exists(), reason="demo data not generated")
def test_demo_end_to_end_ranks_every_site_and_opens_in_gdal(tmp_path):
    result = _run(DEMO, tmp_path / "out")
    assert result.success
    demo_sites = gpd.read_file(DEMO / "sites.gpkg")
    ranked = gpd.read_file(tmp_path / "out" / "inventory.gpkg", layer="sites_ranked")
    assert sorted(ranked["site_id"]) == sorted(demo_sites["site_id"])
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    samples = gpd.read_file(tmp_path / "out" / "inventory.gpkg", layer="samples")
    quarantine = gpd.read_file(tmp_path / "out" / "inventory.gpkg", layer="quarantine")
    rows_in = len(pd.read_csv(DEMO / "samples.csv"))
    assert len(samples) + (quarantine["source"] == "samples.csv").sum() == rows_in
    info = subprocess.run(
        ["ogrinfo", "-so", "-al", str(tmp_path / "out" / "inventory.gpkg")], capture_output=True, text=True
    )
    assert info.returncode == 0
    assert "Warning" not in info.stderr + info.stdout and "ERROR" not in info.stderr + info.stdout
    csv = pd.read_csv(tmp_path / "out" / "sites_ranked.csv")
    assert {"centroid_lon", "centroid_lat"} <= set(csv.columns) and "geometry" not in csv.columns
    report = (tmp_path / "out" / "grade_model_report.html").read_text()
    assert "SYNTHETIC" in report and "ordinary_kriging" in report and "data:image/png;base64," in report
    scores = pd.read_csv(tmp_path / "out" / "grade_model_report.csv")
    assert {"residua", "type_mean", "idw", "ordinary_kriging"} <= set(scores["method"])
    rasters = sorted((tmp_path / "out" / "rasters").glob("*_grade.tif"))
    assert rasters, "no block-grade rasters written"
    info = subprocess.run(["gdalinfo", str(rasters[0])], capture_output=True, text=True)
    assert info.returncode == 0 and "Warning" not in info.stderr
    assert "LAYOUT=COG" in info.stdout and "p50_gt" in info.stdout and "UTM zone" in info.stdout
