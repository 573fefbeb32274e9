"""Schedule and inbox sensor: runs follow content changes, and only what the asset graph says they affect."""

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pandas as pd

from residua.assets.inputs import observations
from residua.assets.resources import Postgis, RunFolders
from residua.assets.settings import run_settings
from residua.geodata.review_store import ReviewStore
from residua.geodata.reviews import REVIEWS_FILE, append_review
from residua.pipelines.definitions import build_definitions
from tests.drops import write_prism_drop

NEW_SAMPLE = "NEW-1,P1-0,P1,0,1.5,55,300,<2,,,,,\n"


def _evaluate(defs, drop, cursor, instance=None):
    sensor = defs.resolve_sensor_def("inbox_sensor")
    resources = {"folders": RunFolders(data_dir=str(drop)), "postgis": Postgis()}
    instance = instance or dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(cursor=cursor, resources=resources, definitions=defs, instance=instance)
    return sensor(context)


def _selected(request: dg.RunRequest) -> set[str]:
    return {key.to_user_string() for key in request.asset_selection}


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def test_inbox_sensor_reacts_to_content_not_timestamps(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    defs = build_definitions()
    first = _evaluate(defs, drop, None)
    assert not first.run_requests and first.cursor  # the first look only records the state
    observed = {event.asset_key.to_user_string(): event.tags["dagster/data_version"] for event in first.asset_events}
    assert set(observed) == {*observations({}), "review_decisions"}  # every source asset gets a data version

    # unchanged file touched: no run
    stamp = time.time() + 100
    os.utime(drop / "samples.csv", (stamp, stamp))
    touched = _evaluate(defs, drop, first.cursor)
    assert not touched.run_requests

    # changed samples: refit from samples down, not the tonnage stages
    with (drop / "samples.csv").open("a") as handle:
        handle.write(NEW_SAMPLE)
    changed = _evaluate(defs, drop, touched.cursor)
    (request,) = changed.run_requests
    keys = _selected(request)
    assert {"samples", "grade_models", "site_rankings", "inventory"} <= keys
    assert "site_volumes" not in keys and "site_tonnage" not in keys and "samples_file" not in keys
    (event,) = changed.asset_events  # only the changed source is observed anew
    assert event.asset_key.to_user_string() == "samples_file"
    assert event.tags["dagster/data_version"] != observed["samples_file"]

    # a new reviews file re-ranks and republishes without refitting the models
    (drop / "reviews.csv").write_text(
        "site_id,decision,note,reviewer,timestamp\nP1,exclude,capped,A,2026-11-25T10:00:00+00:00\n"
    )
    reviewed = _evaluate(defs, drop, changed.cursor)
    (request,) = reviewed.run_requests
    keys = _selected(request)
    # the asset that reads reviews.csv reruns too (else the ranking would load the old decisions)
    assert {"reviews", "site_rankings", "inventory"} <= keys
    assert not keys & {"grade_models", "samples", "resource_estimates"}
    assert reviewed.cursor != changed.cursor


def test_sensor_runs_honour_a_new_review_and_leave_volumes_alone(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    out = tmp_path / "out"
    settings = run_settings(data_dir=str(drop), out_dir=str(out), n_draws=200, sensitivity_draws=50,
                               block_draws=60, formats=["gpkg"])  # fmt: skip
    defs = build_definitions(settings)
    job = defs.resolve_job_def("refresh_job")
    instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster_home"))
    assert job.execute_in_process(instance=instance).success
    cursor = _evaluate(defs, drop, None, instance).cursor

    append_review(drop / REVIEWS_FILE, "P1", "exclude", "pond capped in 2019", "B. Singh")
    tick = _evaluate(defs, drop, cursor, instance)
    (request,) = tick.run_requests
    result = job.execute_in_process(instance=instance, asset_selection=list(request.asset_selection))
    assert result.success
    assert "reviews" in _materialized(result) and not _materialized(result) & {"grade_models", "site_volumes"}
    ranked = gpd.read_file(out / "inventory.gpkg", layer="sites_ranked").set_index("site_id")
    assert pd.isna(ranked.loc["P1", "rank"]) and ranked.loc["P1", "review_decision"] == "exclude"

    with (drop / "samples.csv").open("a") as handle:
        handle.write(NEW_SAMPLE)
    sampled = _evaluate(defs, drop, tick.cursor, instance)
    (request,) = sampled.run_requests
    result = job.execute_in_process(instance=instance, asset_selection=list(request.asset_selection))
    assert result.success
    assert {"samples", "grade_models", "inventory"} <= _materialized(result)
    assert not _materialized(result) & {"site_volumes", "site_tonnage", "reviews"}
    ranked = gpd.read_file(out / "inventory.gpkg", layer="sites_ranked").set_index("site_id")
    assert pd.isna(ranked.loc["P1", "rank"])  # the decision in reviews.csv still holds

    # a decision recorded through `residua serve` (the review store in the instance folder) re-ranks too
    store = ReviewStore.sqlite(Path(instance.root_directory) / "reviews.sqlite").create()
    store.record_decision("P1", "accept", "cap removed", "b.singh", "run-2")
    (request,) = _evaluate(defs, drop, sampled.cursor, instance).run_requests
    assert "reviews" in _selected(request) and "grade_models" not in _selected(request)
    assert job.execute_in_process(instance=instance, asset_selection=list(request.asset_selection)).success
    ranked = gpd.read_file(out / "inventory.gpkg", layer="sites_ranked").set_index("site_id")
    assert not pd.isna(ranked.loc["P1", "rank"]) and ranked.loc["P1", "review_decision"] == "accept"


def test_weekly_schedule_cron_is_configurable():
    default = build_definitions().resolve_schedule_def("weekly_refresh")
    custom = build_definitions(refresh_cron="30 1 * * 0").resolve_schedule_def("weekly_refresh")
    assert default.cron_schedule == "0 3 * * 1" and custom.cron_schedule == "30 1 * * 0"
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    (request,) = default.evaluate_tick(context).run_requests  # one full refresh per tick
    assert default.job_name == "refresh_job" and request.asset_selection is None


def test_every_input_file_is_a_parent_of_the_assets_that_read_it():
    from residua.geodata.input_groups import input_group
    from residua.models.hubs import HUBS_FILE

    graph = build_definitions().resolve_asset_graph()
    readers = {
        REVIEWS_FILE: ["reviews", "review_report"],
        HUBS_FILE: ["processing_hubs"],
        "samples.xlsx": ["samples"],
        "sites.shp": ["sites"],
        "reference/densities.csv": ["reference_tables"],
        "rasters/covariates/ndvi.tif": ["site_features", "grade_models"],
        "rasters/P1_base.tif": ["sites", "site_volumes"],  # sites checks that a site's DEMs exist
        "dataset.json": ["inventory", "grade_model_report", "grade_rasters"],
    }
    for name, assets in readers.items():
        source = dg.AssetKey(input_group(name))
        for asset in assets:
            assert source in graph.get(dg.AssetKey(asset)).parent_keys, (name, asset)
