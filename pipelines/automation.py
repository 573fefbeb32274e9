"""Unattended refreshes: a weekly schedule, and a sensor on the data drop acting as an inbox.

Each tick the sensor observes the source assets (``assets/inputs.py``): every group of input
files gets a data version, the SHA-256 of its files' contents, and the review store one from
its decisions, each recorded as an asset observation. A source whose version changed requests
a run of the assets downstream of it in the asset graph, and only those: new samples refit the
grade models but leave the volumes; a new reviews.csv, or a decision recorded through
``residua serve``, re-ranks and republishes without refitting anything.
"""

from __future__ import annotations

import json

import dagster as dg

from residua.assets.inputs import REVIEW_DECISIONS, observations, review_store_version
from residua.assets.resources import Postgis, RunFolders
from residua.geodata.datadrop import hash_inputs

DATA_VERSION_TAG = "dagster/data_version"


def changed_groups(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    """Source assets whose data version differs between two observations (new ones included).

    >>> changed_groups({"samples_file": "a", "reviews_file": "b"}, {"samples_file": "a", "reviews_file": "c"})
    ['reviews_file']
    """
    return sorted(name for name in current if previous.get(name) != current[name])


def build_inbox_sensor(job: dg.UnresolvedAssetJobDefinition, assets: list[dg.AssetsDefinition]) -> dg.SensorDefinition:
    """A sensor that observes the input files and requests runs of ``job``'s assets a change makes stale."""

    @dg.sensor(job=job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
    def inbox_sensor(context: dg.SensorEvaluationContext, folders: RunFolders, postgis: Postgis) -> dg.SensorResult:
        """Refresh what a new or changed input file affects (content hashes, not timestamps)."""
        observed = observations(hash_inputs(folders.data_path))
        observed[REVIEW_DECISIONS] = (review_store_version(postgis, context.instance), [])
        current = {name: version for name, (version, _) in observed.items()}
        previous = json.loads(context.cursor) if context.cursor else None
        changed = changed_groups(previous or {}, current)
        events = [
            dg.AssetObservation(
                asset_key=name, tags={DATA_VERSION_TAG: current[name]}, metadata={"files": observed[name][1]}
            )
            for name in changed
        ]
        if previous is None:
            return dg.SensorResult(
                skip_reason="first look at the data drop: state recorded", cursor=json.dumps(current),
                asset_events=events,
            )  # fmt: skip
        if not changed:
            return dg.SensorResult(skip_reason="no input file changed", cursor=context.cursor)
        stale = dg.AssetSelection.assets(*changed).downstream(include_self=False)
        keys = sorted(stale.resolve(assets), key=lambda key: key.to_user_string())
        run_key = "inbox:" + "|".join(f"{name}={current[name]}" for name in changed)
        request = dg.RunRequest(run_key=run_key, asset_selection=keys, tags={"residua/changed": ",".join(changed)})
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(current), asset_events=events)

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
