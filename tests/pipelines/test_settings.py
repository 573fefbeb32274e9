"""Settings: one flat set of overrides onto the shared resources and the per-asset run config."""

import dagster as dg
import pydantic
import pyogrio
import pytest

from residua.assets.configs import ASSET_CONFIGS, TonnageConfig
from residua.assets.resources import SHARED_RESOURCES
from residua.assets.settings import FIELD_OWNERS, config_metadata, materialized_config, run_settings
from residua.geodata.schema import ELEMENTS
from residua.pipelines.definitions import VALIDATION_ASSETS, build_definitions
from tests.drops import write_prism_drop


def test_every_setting_has_one_owner_and_an_override_reaches_only_it():
    declared = [field for cls in (*SHARED_RESOURCES.values(), *ASSET_CONFIGS.values()) for field in cls.model_fields]
    assert len(declared) == len(set(declared)) == len(FIELD_OWNERS)
    settings = run_settings(n_draws=7, block_size_m=25.0, plan_holes=3, dem_vertical_sd_m=0.0)
    assert settings.resources["monte_carlo"].n_draws == 7 and settings.value("n_draws") == 7
    assert settings.configs["grade_models"].block_size_m == 25.0
    assert settings.run_config(["sampling_plan"]) == {"ops": {"sampling_plan": {"config": {
        **ASSET_CONFIGS["sampling_plan"]().model_dump(), "plan_holes": 3}}}}  # fmt: skip
    defaults = run_settings()
    assert {name: defaults.value(name) for name in FIELD_OWNERS if name not in ("n_draws", "block_size_m",
            "plan_holes", "dem_vertical_sd_m")} == {name: settings.value(name) for name in FIELD_OWNERS if name not in
            ("n_draws", "block_size_m", "plan_holes", "dem_vertical_sd_m")}  # fmt: skip


def test_unknown_or_invalid_settings_are_refused():
    with pytest.raises(TypeError, match=r"unknown setting\(s\) \['draws'\]"):
        run_settings(draws=10)
    with pytest.raises(pydantic.ValidationError, match="plan_campaign_sizes must be numbers of holes >= 1"):
        run_settings(plan_campaign_sizes=[0, 2])
    with pytest.raises(pydantic.ValidationError):
        run_settings(min_dem_coverage=1.5)


def test_the_jobs_carry_the_asset_config_as_their_preset():
    defs = build_definitions(run_settings(block_size_m=25.0, min_dem_coverage=0.8))
    refresh = defs.resolve_job_def("refresh_job").run_config["ops"]
    assert set(refresh) == set(ASSET_CONFIGS) and refresh["grade_models"]["config"]["block_size_m"] == 25.0
    validate = defs.resolve_job_def("validate_job").run_config["ops"]
    assert set(validate) == set(ASSET_CONFIGS) & set(VALIDATION_ASSETS) == {"site_volumes"}
    assert validate["site_volumes"]["config"]["min_dem_coverage"] == 0.8


@dg.asset(name="site_tonnage")
def _tonnage_probe(context: dg.AssetExecutionContext, config: TonnageConfig) -> dict:
    context.add_output_metadata(config_metadata(config))
    return config.model_dump()


@pytest.mark.parametrize(
    ("run_config", "expected"),
    [
        ({}, 0.7),  # the job's preset
        ({"ops": {"site_tonnage": {"config": {"dem_vertical_sd_m": 0.1}}}}, 0.1),  # the launchpad's own
        ({"ops": {"site_tonnage": {"config": {}}}}, 0.3),  # the run gives the asset's config: class defaults
    ],
)
def test_release_settings_read_the_config_the_asset_ran_with(run_config, expected):
    job = dg.define_asset_job("probe", config={"ops": {"site_tonnage": {"config": {"dem_vertical_sd_m": 0.7}}}})
    instance = dg.DagsterInstance.ephemeral()
    assert materialized_config(instance, "site_tonnage") == TonnageConfig().model_dump()  # never materialized
    job_def = dg.Definitions(assets=[_tonnage_probe], jobs=[job]).resolve_job_def("probe")
    received = job_def.execute_in_process(run_config=run_config, instance=instance).output_for_node("site_tonnage")
    assert received == materialized_config(instance, "site_tonnage") == {"dem_vertical_sd_m": expected}


def test_a_launchpad_override_of_a_shared_resource_reaches_every_asset_and_the_model_store(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    preset, chosen, store = tmp_path / "preset_out", tmp_path / "launchpad_out", tmp_path / "launchpad_models"
    settings = run_settings(data_dir=str(drop), out_dir=str(preset), n_draws=100, sensitivity_draws=20,
                            block_draws=60, formats=["gpkg"])  # fmt: skip
    job = build_definitions(settings).resolve_job_def("refresh_job")
    overrides = {"folders": {"config": {"data_dir": str(drop), "out_dir": str(chosen), "formats": ["gpkg", "csv"]}},
                 "model_store": {"config": {"model_store_dir": str(store)}},
                 "monte_carlo": {"config": {"n_draws": 150}}}  # fmt: skip
    instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "home"))
    result = job.execute_in_process(run_config={"resources": overrides}, instance=instance)
    assert result.success
    assert not preset.exists()  # every publishing asset wrote where the launchpad said, in its formats
    assert {"inventory.gpkg", "sites_ranked.csv", "report.html", "grade_model_report.html"} <= {
        path.name for path in chosen.iterdir()
    }
    assert sorted(path.name for path in store.iterdir()) == sorted(ELEMENTS)  # saved and loaded back from there
    metadata = pyogrio.read_dataframe(chosen / "inventory.gpkg", layer="run_metadata", read_geometry=False)
    assert dict(zip(metadata["key"], metadata["value"]))["n_draws"] == "150"
