"""The scale benchmark's SYNTHETIC drop generator (benchmarks/scale_data.py) writes valid drops."""

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from residua.geodata.datadrop import open_data_drop
from residua.geodata.readers import read_samples, read_sites
from residua.geodata.validate import validate_samples, validate_sites
from residua.geodata.volumes import measure_site_volumes
from residua.pipelines.cli import main

N_SITES = 8
SEED = 3


def _load_generator():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "scale_data.py"
    spec = importlib.util.spec_from_file_location("scale_data", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("scale_data", module)
    spec.loader.exec_module(module)
    return module


scale_data = _load_generator()


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    """An 8-site drop and its summary."""
    out = tmp_path_factory.mktemp("scale") / "drop"
    return out, scale_data.generate(out, N_SITES, seed=SEED)


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_drop_has_the_requested_sites_and_says_it_is_synthetic(drop):
    folder, summary = drop
    sites = gpd.read_file(folder / "sites.gpkg")
    assert len(sites) == summary.n_sites == N_SITES
    assert sites["site_id"].is_unique
    assert sites.crs.to_epsg() == 4326
    assert sites["name"].str.endswith("(synthetic)").all() and (sites["data_origin"] == "synthetic").all()
    assert open_data_drop(folder).synthetic
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["counts"]["n_sites"] == N_SITES and meta["seed"] == SEED
    assert sorted(p.name for p in (folder / "rasters" / "covariates").iterdir()) == [
        "pond_wetness_index.tif",
        "regional_ga_ppm.tif",
    ]
    # Footprints never overlap: each sits inside its own cell.
    pairs = gpd.sjoin(sites[["site_id", "geometry"]], sites[["site_id", "geometry"]], predicate="intersects")
    assert (pairs["site_id_left"] == pairs["site_id_right"]).all()


def test_every_row_is_accepted_except_the_planted_bad_ones(drop):
    folder, summary = drop
    data = open_data_drop(folder)
    sites = validate_sites(read_sites(data.sites_path), data.sites_path, data.root)
    assert len(sites.accepted) == N_SITES and len(sites.quarantine) == 0
    measurements, dem_rejects = measure_site_volumes(sites.accepted, data.root, data.sites_path.name)
    assert len(dem_rejects) == 0 and len(measurements) == summary.n_base_dems
    samples = validate_samples(read_samples(data.samples_path), data.samples_path, sites.accepted)
    assert samples.rows_in == summary.n_sample_rows
    assert summary.n_bad_rows == 6  # six defects per 1,000 sites, at least six
    assert len(samples.quarantine) == summary.n_bad_rows
    assert len(samples.accepted) == summary.n_valid_rows
    # The quarantined rows are exactly the last ones, the planted defects, in order.
    last_lines = list(range(summary.n_sample_rows + 2 - summary.n_bad_rows, summary.n_sample_rows + 2))
    assert sorted(samples.quarantine["source_row"].astype(int)) == last_lines
    # Blank site_ids were resolved from the footprints; no accepted row lacks a site.
    assert (samples.accepted["site_id"] != "").all()


def test_residua_validate_accepts_the_drop(drop, capsys):
    folder, summary = drop
    assert main(["validate", "--data", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "[SYNTHETIC]" in out
    assert out.count("samples.csv line") == summary.n_bad_rows


def test_samples_hold_about_50_intervals_per_sampled_site_in_several_forms(drop):
    folder, summary = drop
    raw = pd.read_csv(folder / "samples.csv", dtype=str, keep_default_na=False).iloc[: summary.n_valid_rows]
    truth = pd.read_csv(folder / "truth.csv")
    assert summary.n_sampled == int(truth["sampled"].sum()) >= 1
    assert 40 <= summary.n_valid_rows / summary.n_sampled <= 60
    located = (raw["lon"] != "") | (raw["crs"] != "")
    assert located.all()
    assert set(raw["crs"]) - {""} <= {f"EPSG:{zone}" for zone in range(32642, 32646)}
    assert raw["ga_ppm"].ne("").all()  # every residue type assays Ga


def test_sites_spread_over_several_utm_zones():
    plan = scale_data.plan_sites(2000, seed=SEED)
    assert plan["utm_epsg"].nunique() >= 3
    assert plan["cell"].is_unique
    assert plan["site_id"].is_unique
    assert 0.3 < plan["sampled"].mean() < 0.4


def test_same_seed_same_bytes_for_any_number_of_workers(drop, tmp_path):
    folder, _ = drop
    again = tmp_path / "again"
    scale_data.generate(again, N_SITES, seed=SEED, jobs=2)
    assert _digests(again) == _digests(folder)
    other = tmp_path / "other"
    scale_data.generate(other, N_SITES, seed=SEED + 1)
    assert (other / "samples.csv").read_bytes() != (folder / "samples.csv").read_bytes()
