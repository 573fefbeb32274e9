"""Unattended refreshes: a weekly schedule, and a sensor on the data drop acting as an inbox.

The sensor hashes every input file (content, not timestamps). A new or changed file
requests a run of only the assets it affects: new samples refit the grade models, a new
reviews.csv re-ranks and republishes without refitting anything.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import dagster as dg

from assets.resources import ResiduaSettings
from geodata.datadrop import hash_inputs

#: First matching pattern decides which asset reads a changed file (it and all its downstream
#: assets rerun). Files matching nothing rerun everything. ``tests/pipelines/test_automation.py``
#: checks every root here against the asset that reads the file.
FILE_ROOTS: tuple[tuple[str, str], ...] = (
    ("reviews.csv", "reviews"),
    ("hubs.csv", "processing_hubs"),
    ("samples.*", "samples"),
    ("reference/*", "reference_tables"),
    ("rasters/covariates/*", "site_features"),
    ("rasters/*", "site_volumes"),
)


def affected_roots(changed: list[str]) -> set[str]:
    """Asset names whose downstream must rerun for these changed files (``data_drop`` = all).

    >>> sorted(affected_roots(["reviews.csv"])), sorted(affected_roots(["sites.gpkg"]))
    (['reviews'], ['data_drop'])
    """
    roots = set()
    for name in changed:
        path = PurePosixPath(name)
        root = next((asset for pattern, asset in FILE_ROOTS if path.match(pattern)), "data_drop")
        roots.add(root)
    return {"data_drop"} if "data_drop" in roots else roots


def changed_files(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    """Files added, changed (by SHA-256) or removed between two snapshots."""
    return sorted(name for name in set(previous) | set(current) if previous.get(name) != current.get(name))


def build_inbox_sensor(job: dg.UnresolvedAssetJobDefinition, assets: list[dg.AssetsDefinition]) -> dg.SensorDefinition:
    """A sensor requesting runs of ``job``'s affected subset when the data drop changes."""

    @dg.sensor(job=job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
    def inbox_sensor(context: dg.SensorEvaluationContext, settings: ResiduaSettings) -> dg.SensorResult:
        """Refresh what a new or changed input file affects (content hashes, not timestamps)."""
        current = hash_inputs(settings.data_path)
        if context.cursor is None:
            return dg.SensorResult(
                skip_reason="first look at the data drop: state recorded", cursor=json.dumps(current)
            )
        changed = changed_files(json.loads(context.cursor), current)
        if not changed:
            return dg.SensorResult(skip_reason="no input file changed", cursor=context.cursor)
        roots = affected_roots(changed)
        selection = dg.AssetSelection.assets(*roots).downstream() | dg.AssetSelection.assets("data_drop")
        keys = sorted(selection.resolve(assets), key=lambda key: key.to_user_string())
        run_key = (
            dg.AssetKey(["inbox"]).to_user_string() + ":" + "|".join(f"{n}={current.get(n, '-')}" for n in changed)
        )
        request = dg.RunRequest(
            run_key=run_key, asset_selection=keys, tags={"residua/changed": ",".join(changed)[:200]}
        )
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(current))

    return inbox_sensor


def build_refresh_schedule(job: dg.UnresolvedAssetJobDefinition, cron: str) -> dg.ScheduleDefinition:
    """The full refresh on a cron schedule (default: Mondays 03:00 UTC)."""
    return dg.ScheduleDefinition(
        name="weekly_refresh",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Rebuild the whole inventory from the data drop.",
    )
