"""The coal-ash real-data drop and its scoring (benchmarks/realdata_drops.py, benchmarks/realdata_run.py).

No ``residua run`` here: the drop is built from ../shared/realdata and scored against a hand-made raster.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


drops_module = _load("realdata_drops")
run_module = _load("realdata_run")
needs_data = pytest.mark.skipif(not (drops_module.REALDATA / "coalash" / "coalash.csv").exists(),
                                reason="shared/realdata/coalash not present")  # fmt: skip


def test_run_keys_only_selects_by_prefix():
    keys = run_module.run_keys([0, 1])
    assert keys == ["jura_seed0/jura_a", "jura_seed0/jura_b", "jura_seed1/jura_a", "jura_seed1/jura_b",
                    "coalash_seed0/coalash", "coalash_seed1/coalash", "gslib_cluster", "gslib_cluster_bdl"]  # fmt: skip
    assert run_module.run_keys([0, 1], ("coalash",)) == ["coalash_seed0/coalash", "coalash_seed1/coalash"]
    assert run_module.run_keys([0, 1], ("gslib", "jura_seed1/")) == [
        "jura_seed1/jura_a", "jura_seed1/jura_b", "gslib_cluster", "gslib_cluster_bdl"]  # fmt: skip
    assert run_module.run_keys([0], ("nothing",)) == []


@needs_data
def test_build_coalash_writes_a_valid_drop_and_a_disjoint_holdout(tmp_path):
    manifest = drops_module.build_coalash(tmp_path, seed=1)
    drop = tmp_path / "coalash"
    sites = gpd.read_file(drop / "sites.gpkg")
    assert sites.crs.to_epsg() == 32617 and list(sites["site_id"]) == ["coalash"]
    assert sites["residue_type"].iloc[0] == "coal_fly_ash"
    samples, heldout = pd.read_csv(drop / "samples.csv"), pd.read_csv(tmp_path / "coalash_heldout.csv")
    assert {"sample_id", "site_id", "x", "y", "crs", "depth_from_m", "depth_to_m", "ga_ppm"} <= set(samples.columns)
    assert (samples["crs"] == "EPSG:32617").all() and (samples["depth_to_m"] == 1.0).all()
    assert not set(samples["sample_id"]) & set(heldout["sample_id"])
    assert len(samples) + len(heldout) == 208 and 0.20 <= len(heldout) / 208 <= 0.25
    assert manifest["n_heldout"] == len(heldout)
    # 1 grid unit = 100 m from the documented origin, every sample inside the footprint
    east0, north0 = drops_module.COALASH_ORIGIN
    assert np.allclose(heldout["east"], east0 + 100.0 * heldout["x"])
    assert np.allclose(heldout["north"], north0 + 100.0 * heldout["y"])
    footprint = sites.geometry.iloc[0]
    assert gpd.points_from_xy(samples["x"], samples["y"]).within(footprint).all()
    assert manifest["reported_tonnes"] == round(footprint.area * 1.0 * 1.0, -3)
    description = json.loads((drop / "dataset.json").read_text())
    assert description["synthetic"] is False
    assert "REAL" in description["description"] and "not gallium" in description["description"]
    assert "not a tailings site" in description["description"]
    # the seed moves the hold-out only
    other = tmp_path / "seed2"
    other.mkdir()
    assert drops_module.build_coalash(other, seed=2)["heldout_blocks_5x5"] != manifest["heldout_blocks_5x5"]


@needs_data
def test_score_coalash_samples_the_published_raster_at_projected_points(tmp_path):
    drops, outs = tmp_path / "drops", tmp_path / "out"
    drops.mkdir()
    drops_module.build_coalash(drops, seed=0)
    out = outs / "coalash"
    (out / "rasters").mkdir(parents=True)
    pd.DataFrame({"site_id": ["coalash"], "element": ["ga"], "grade_method": ["log_gp"]}).to_csv(
        out / "grade_tonnage.csv", index=False)  # fmt: skip
    east0, north0 = drops_module.COALASH_ORIGIN
    height, width, cell = 60, 40, 50.0
    transform = from_origin(east0 - 200.0, north0 + 2_600.0, cell, cell)
    bands = np.stack([np.full((height, width), value, "float32") for value in (10.0, 9.0, 11.0, 7.0, 13.0)])
    bands[:, :, :4] = -9999.0  # a nodata strip west of every sample
    with rasterio.open(
        out / "rasters" / "coalash_ga_grade.tif",
        "w",
        driver="GTiff",
        height=height,
        width=width,
        count=5,
        dtype="float32",
        crs="EPSG:32617",
        transform=transform,
        nodata=-9999.0,
    ) as raster:
        raster.write(bands)
        raster.descriptions = ("p50_gt", "p10_gt", "p90_gt", "p10_sample_gt", "p90_sample_gt")  # fmt: skip
    rows = pd.DataFrame(run_module.score_coalash(drops, outs, 0))
    heldout = pd.read_csv(drops / "coalash_heldout.csv")
    assert set(rows["method"]) == {"residua", "residua_sample", "ordinary_kriging", "idw", "global_mean"}
    residua = rows.set_index("method").loc["residua"]
    assert residua["n"] == len(heldout) and residua["n_off_raster"] == 0 and residua["raster_cell_m"] == cell
    assert residua["grade_model"] == "log_gp" and residua["metal"] == "coalash" and residua["element"] == "ga"
    observed = heldout["coalash"].to_numpy()
    assert residua["log_rmse"] == pytest.approx(np.sqrt(np.mean(np.log(10.0 / observed) ** 2)))
    assert residua["coverage80"] == pytest.approx(np.mean((observed >= 9.0) & (observed <= 11.0)))
    sample = rows.set_index("method").loc["residua_sample"]
    assert sample["coverage80"] == pytest.approx(np.mean((observed >= 7.0) & (observed <= 13.0)))
    # the coal-ash section renders with the Jura's tables and says the unit and the stand-in are assumptions
    result = {"seeds": [0], "jura": [], "gslib": [], "coalash": rows.to_dict("records"),
              "manifest": {"coalash": {"0": drops_module.build_coalash(tmp_path, 0)}}}  # fmt: skip
    text = run_module.coalash_section(result) + run_module.coalash_summary(result)
    assert "1 grid unit = 100 m is an assumption" in " ".join(text.split())
    assert "not Ga" in text and "| coalash | ga | coalash | 0 | log_gp |" in text


def test_render_without_coalash_keeps_the_jura_and_gslib_page():
    committed = BENCHMARKS / "results" / "realdata_run.json"
    if not committed.exists():
        pytest.skip("no committed real-data results")
    result = json.loads(committed.read_text())
    result.pop("coalash", None)
    page = run_module.render(result)
    assert "## Jura topsoil" in page and "## GSLIB cluster" in page
    assert "Coal ash" not in page and "coal-ash" not in page and "Partial run" not in page
    result["only"], result["gslib"] = ["jura"], []
    partial = run_module.render(result)
    assert "**Partial run** (`--only jura`)" in partial and "## GSLIB cluster" not in partial
