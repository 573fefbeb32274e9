"""A refresh re-measures only the sites whose footprint or rasters changed."""

import dagster as dg
import numpy as np
import rasterio

from residua.assets.settings import run_settings
from residua.pipelines.definitions import all_assets, pipeline_resources
from tests.drops import write_prism_drop


def _features(drop, out, instance) -> dict:
    settings = run_settings(data_dir=str(drop), out_dir=str(out))
    selection = dg.AssetSelection.assets("site_features").upstream() - dg.AssetSelection.groups("inputs")
    config = settings.run_config(key.to_user_string() for key in selection.resolve(all_assets))
    result = dg.materialize(all_assets, selection=selection, resources=pipeline_resources(settings),
                            instance=instance, run_config=config)  # fmt: skip
    metadata = {}
    for asset in ("site_volumes", "site_features"):
        materialization = result.asset_materializations_for_node(asset)[0]
        metadata |= {key: value.value for key, value in materialization.metadata.items()}
    return metadata


def test_second_refresh_reuses_unchanged_sites(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    (drop / "rasters" / "covariates").mkdir()
    (drop / "rasters" / "covariates" / "relief.tif").write_bytes((drop / "rasters" / "P3_surface.tif").read_bytes())
    instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "home"))

    first = _features(drop, tmp_path / "out", instance)
    assert (
        first["sites_measured"],
        first["sites_reused_from_cache"],
        first["covariate_statistics_reused_from_cache"],
    ) == (3, 0, 0)

    again = _features(drop, tmp_path / "out", instance)
    assert (again["sites_reused_from_cache"], again["covariate_statistics_reused_from_cache"]) == (3, 3)

    with rasterio.open(drop / "rasters" / "P1_base.tif", "r+") as dataset:
        dataset.write(dataset.read(1) - np.float32(0.5), 1)
    changed = _features(drop, tmp_path / "out", instance)
    assert changed["sites_reused_from_cache"] == 2
    assert (tmp_path / "home" / "cache" / "volumes").is_dir()
    assert not any(len(path.stem) == 64 for path in drop.rglob("*.json")), "the cache never writes into the data drop"
