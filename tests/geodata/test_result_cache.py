"""Incremental refreshes: per-site raster results are reused until their inputs' bytes change."""

import numpy as np
import pandas as pd
import pytest
import rasterio

from residua.geodata.readers import read_sites
from residua.geodata.result_cache import ResultCache, cache_key
from residua.geodata.validate import validate_sites
from residua.geodata.volumes import measure_site_volumes
from residua.geodata.zonal import site_covariates
from tests.drops import write_prism_drop


@pytest.fixture()
def drop(tmp_path):
    root = write_prism_drop(tmp_path / "drop")
    covariates = root / "rasters" / "covariates"
    covariates.mkdir()
    (covariates / "dem_copy.tif").write_bytes((root / "rasters" / "P1_surface.tif").read_bytes())
    return root


def _sites(drop):
    return validate_sites(read_sites(drop / "sites.gpkg"), drop / "sites.gpkg", drop).accepted


def _raise_dem(path, metres):
    with rasterio.open(path, "r+") as dataset:
        dataset.write(dataset.read(1) + np.float32(metres), 1)


def test_volumes_are_reused_until_a_dem_changes(drop, tmp_path):
    sites = _sites(drop)
    first = ResultCache(tmp_path / "cache", "volumes")
    measured, _ = measure_site_volumes(sites, drop, "sites.gpkg", cache=first)
    assert (first.hits, first.misses) == (0, 3)

    again = ResultCache(tmp_path / "cache", "volumes")
    reused, _ = measure_site_volumes(sites, drop, "sites.gpkg", cache=again)
    assert (again.hits, again.misses) == (3, 0)
    pd.testing.assert_frame_equal(reused, measured)

    _raise_dem(drop / "rasters" / "P2_surface.tif", 1.0)  # one metre more over P2's whole window
    changed = ResultCache(tmp_path / "cache", "volumes")
    remeasured, _ = measure_site_volumes(sites, drop, "sites.gpkg", cache=changed)
    assert (changed.hits, changed.misses) == (2, 1)
    uncached, _ = measure_site_volumes(sites, drop, "sites.gpkg")
    pd.testing.assert_frame_equal(remeasured, uncached)
    assert remeasured.loc["P2", "volume_m3"] > measured.loc["P2", "volume_m3"]
    assert remeasured.loc["P1", "volume_m3"] == measured.loc["P1", "volume_m3"]


def test_covariate_statistics_are_reused_until_the_raster_or_footprint_changes(drop, tmp_path):
    sites = _sites(drop)
    uncached, _ = site_covariates(sites, drop)
    first = ResultCache(tmp_path / "cache", "covariates")
    cached, _ = site_covariates(sites, drop, cache=first)
    pd.testing.assert_frame_equal(cached, uncached)
    assert (first.hits, first.misses) == (0, 3)

    moved = sites.copy()
    moved.loc[moved["site_id"] == "P1", "geometry"] = moved.loc[moved["site_id"] == "P1"].geometry.translate(0.0005, 0)
    again = ResultCache(tmp_path / "cache", "covariates")
    site_covariates(moved, drop, cache=again)
    assert (again.hits, again.misses) == (2, 1)

    _raise_dem(drop / "rasters" / "covariates" / "dem_copy.tif", 2.0)
    changed = ResultCache(tmp_path / "cache", "covariates")
    recomputed, _ = site_covariates(sites, drop, cache=changed)
    assert changed.misses == 3
    assert recomputed.loc["P1", "cov_dem_copy_mean"] == pytest.approx(uncached.loc["P1", "cov_dem_copy_mean"] + 2.0)


def test_entries_not_used_by_a_run_are_removed(tmp_path):
    old = ResultCache(tmp_path, "x")
    keys = [cache_key("site", index) for index in range(3)]
    for key in keys:
        old.put(key, {"volume_m3": 1.0})
    run = ResultCache(tmp_path, "x")
    assert run.get(keys[0]) == {"volume_m3": 1.0}
    assert run.keep_only_used() == 2
    assert [path.stem for path in (tmp_path / "x").glob("*/*.json")] == [keys[0]]


def test_damaged_entries_are_misses_and_keys_must_be_digests(tmp_path):
    cache = ResultCache(tmp_path, "x")
    key = cache_key("a")
    cache.put(key, [1.0, float("nan")])
    value = ResultCache(tmp_path, "x").get(key)
    assert value[0] == 1.0 and np.isnan(value[1])
    path = next((tmp_path / "x").glob("*/*.json"))
    path.write_text("{truncated", encoding="utf-8")
    reader = ResultCache(tmp_path, "x")
    assert reader.get(key) is None and reader.misses == 1
    with pytest.raises(ValueError, match="SHA-256"):
        cache.get("../../etc/passwd")
