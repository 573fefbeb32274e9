"""The one Definitions object: every asset, check, resource and job of Residua."""

from __future__ import annotations

import os

import dagster as dg

from assets import estimates, features, grade_models, grade_report, ingest, inputs, publish, review_report, sampling
from assets.model_io import GradeModelsIOManager
from assets.resources import ResiduaSettings, data_drop_resource
from pipelines.automation import build_inbox_sensor, build_refresh_schedule

ASSET_MODULES = (inputs, ingest, features, grade_models, estimates, sampling, grade_report, publish, review_report)

all_assets = dg.load_assets_from_modules(ASSET_MODULES)
all_checks = dg.load_asset_checks_from_modules(ASSET_MODULES)

refresh_job = dg.define_asset_job(
    "refresh_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("inputs"),
    description="Ingest the data drop, estimate every site and publish the ranked inventory.",
)

#: What ``residua validate`` runs: the ingest assets and the DEM volumes, with their asset checks.
VALIDATION_ASSETS: tuple[str, ...] = ("reference_tables", "sites", "samples", "site_volumes")
validate_job = dg.define_asset_job(
    "validate_job",
    selection=dg.AssetSelection.assets(*VALIDATION_ASSETS),
    description="Read and check the data drop (rows accepted and quarantined, DEM volumes) without estimating.",
)


def default_settings(**overrides: object) -> ResiduaSettings:
    """Settings for the bundled demo into ./out; PostGIS and Dask when their variables are set."""
    optional = {
        field: dg.EnvVar(variable)
        for field, variable in (("postgis_url", "RESIDUA_POSTGIS_URL"), ("dask_address", "RESIDUA_DASK_ADDRESS"))
        if os.environ.get(variable)
    }
    return ResiduaSettings(**{**optional, **overrides})


def pipeline_resources(settings: ResiduaSettings) -> dict[str, object]:
    """The resources every run needs: the settings, the data drop they point at (opened once per run), and
    the IO manager that loads grade models from the model store, checked."""
    return {
        "settings": settings,
        "data_drop": data_drop_resource,
        "grade_models_io": GradeModelsIOManager(settings=settings),
    }


DEFAULT_REFRESH_CRON = "0 3 * * 1"


def build_definitions(settings: ResiduaSettings | None = None, refresh_cron: str | None = None) -> dg.Definitions:
    """Definitions with the given settings (defaults: ``default_settings()``).

    The weekly schedule's cron comes from ``refresh_cron``, else RESIDUA_REFRESH_CRON,
    else Mondays 03:00 UTC.
    """
    cron = refresh_cron or os.environ.get("RESIDUA_REFRESH_CRON") or DEFAULT_REFRESH_CRON
    return dg.Definitions(
        assets=all_assets,
        asset_checks=all_checks,
        jobs=[refresh_job, validate_job],
        schedules=[build_refresh_schedule(refresh_job, cron)],
        sensors=[build_inbox_sensor(refresh_job, all_assets)],
        resources=pipeline_resources(settings or default_settings()),
        executor=dg.in_process_executor,
    )


defs = build_definitions()
