"""Schedule and inbox sensor: runs follow content changes, and only what they affect."""

import os
import time
from datetime import UTC, datetime

import dagster as dg

from assets.resources import ResiduaSettings
from pipelines.automation import affected_roots
from pipelines.definitions import build_definitions
from tests.drops import write_prism_drop


def _evaluate(defs, drop, cursor):
    sensor = defs.resolve_sensor_def("inbox_sensor")
    context = dg.build_sensor_context(cursor=cursor, resources={"settings": ResiduaSettings(data_dir=str(drop))},
                                      definitions=defs)  # fmt: skip
    return sensor(context)


def test_inbox_sensor_reacts_to_content_not_timestamps(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    defs = build_definitions()
    first = _evaluate(defs, drop, None)
    assert not first.run_requests and first.cursor  # the first look only records the state

    # unchanged file touched: no run
    stamp = time.time() + 100
    os.utime(drop / "samples.csv", (stamp, stamp))
    touched = _evaluate(defs, drop, first.cursor)
    assert not touched.run_requests

    # changed samples: refit from samples down, not the tonnage stages
    with (drop / "samples.csv").open("a") as handle:
        handle.write("NEW-1,P1-0,P1,0,1.5,55,300,<2,,,,,\n")
    changed = _evaluate(defs, drop, touched.cursor)
    (request,) = changed.run_requests
    keys = {key.to_user_string() for key in request.asset_selection}
    assert {"samples", "grade_models", "site_rankings", "inventory", "data_drop"} <= keys
    assert "site_volumes" not in keys and "site_tonnage" not in keys

    # a new reviews file re-ranks and republishes without refitting the models
    (drop / "reviews.csv").write_text(
        "site_id,decision,note,reviewer,timestamp\nP1,exclude,capped,A,2026-11-25T10:00:00+00:00\n"
    )
    reviewed = _evaluate(defs, drop, changed.cursor)
    (request,) = reviewed.run_requests
    keys = {key.to_user_string() for key in request.asset_selection}
    # the asset that reads reviews.csv reruns too (else the ranking would load the old decisions)
    assert {"reviews", "site_rankings", "inventory"} <= keys
    assert not keys & {"grade_models", "samples", "resource_estimates"}
    assert reviewed.cursor != changed.cursor


def test_unknown_and_site_files_rerun_everything():
    assert affected_roots(["sites.gpkg"]) == {"data_drop"}
    assert affected_roots(["notes/readme.txt", "reviews.csv"]) == {"data_drop"}
    assert affected_roots(["rasters/P1_surface.tif"]) == {"site_volumes"}
    assert affected_roots(["rasters/covariates/ndvi.tif"]) == {"site_features"}


def test_weekly_schedule_cron_is_configurable():
    default = build_definitions().resolve_schedule_def("weekly_refresh")
    custom = build_definitions(refresh_cron="30 1 * * 0").resolve_schedule_def("weekly_refresh")
    assert default.cron_schedule == "0 3 * * 1" and custom.cron_schedule == "30 1 * * 0"
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    (request,) = default.evaluate_tick(context).run_requests  # one full refresh per tick
    assert default.job_name == "refresh_job" and request.asset_selection is None


def test_every_file_root_is_the_asset_that_reads_the_file():
    from geodata.reviews import REVIEWS_FILE
    from models.hubs import HUBS_FILE
    from pipelines.automation import FILE_ROOTS

    defs = build_definitions()
    names = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {asset for _, asset in FILE_ROOTS} <= names
    roots = dict(FILE_ROOTS)
    assert roots[REVIEWS_FILE] == "reviews" and roots[HUBS_FILE] == "processing_hubs"
