"""The one Definitions object: every asset, check, resource and job of Residua."""

from __future__ import annotations

import os

import dagster as dg

from residua.assets import (
    estimates,
    features,
    grade_models,
    grade_report,
    ingest,
    inputs,
    publish,
    review_report,
    sampling,
)
from residua.assets.model_io import grade_models_io_manager
from residua.assets.resources import data_drop_resource
from residua.assets.settings import RunSettings, run_settings
from residua.pipelines.automation import build_inbox_sensor, build_refresh_schedule

ASSET_MODULES = (inputs, ingest, features, grade_models, estimates, sampling, grade_report, publish, review_report)

all_assets = dg.load_assets_from_modules(ASSET_MODULES)
all_checks = dg.load_asset_checks_from_modules(ASSET_MODULES)

REFRESH_SELECTION = dg.AssetSelection.all() - dg.AssetSelection.groups("inputs")
#: What ``residua validate`` runs: the ingest assets and the DEM volumes, with their asset checks.
VALIDATION_ASSETS: tuple[str, ...] = ("reference_tables", "sites", "samples", "site_volumes")


def default_settings(**overrides: object) -> RunSettings:
    """Settings for the bundled demo into ./out; PostGIS and Dask when their variables are set."""
    optional = {
        field: dg.EnvVar(variable)
        for field, variable in (("postgis_url", "RESIDUA_POSTGIS_URL"), ("dask_address", "RESIDUA_DASK_ADDRESS"))
        if os.environ.get(variable)
    }
    return run_settings(**{**optional, **overrides})


def pipeline_resources(settings: RunSettings) -> dict[str, object]:
    """The resources every run needs: the shared ones, the data drop they point at (opened once per run), and
    the IO manager that loads grade models from the model store, checked."""
    return {**settings.resources, "data_drop": data_drop_resource, "grade_models_io": grade_models_io_manager}


def build_jobs(settings: RunSettings) -> tuple[dg.UnresolvedAssetJobDefinition, dg.UnresolvedAssetJobDefinition]:
    """The refresh and validation jobs, each with the settings' per-asset config as its preset run config."""
    refresh = dg.define_asset_job(
        "refresh_job",
        selection=REFRESH_SELECTION,
        config=settings.run_config(),
        description="Ingest the data drop, estimate every site and publish the ranked inventory.",
    )
    validate = dg.define_asset_job(
        "validate_job",
        selection=dg.AssetSelection.assets(*VALIDATION_ASSETS),
        config=settings.run_config(VALIDATION_ASSETS),
        description="Read and check the data drop (rows accepted and quarantined, DEM volumes) without estimating.",
    )
    return refresh, validate


DEFAULT_REFRESH_CRON = "0 3 * * 1"


def build_definitions(settings: RunSettings | None = None, refresh_cron: str | None = None) -> dg.Definitions:
    """Definitions with the given settings (defaults: ``default_settings()``).

    The weekly schedule's cron comes from ``refresh_cron``, else RESIDUA_REFRESH_CRON,
    else Mondays 03:00 UTC.
    """
    settings = settings or default_settings()
    cron = refresh_cron or os.environ.get("RESIDUA_REFRESH_CRON") or DEFAULT_REFRESH_CRON
    refresh, validate = build_jobs(settings)
    return dg.Definitions(
        assets=all_assets,
        asset_checks=all_checks,
        jobs=[refresh, validate],
        schedules=[build_refresh_schedule(refresh, cron)],
        sensors=[build_inbox_sensor(refresh, all_assets)],
        resources=pipeline_resources(settings),
        executor=dg.in_process_executor,
    )


defs = build_definitions()
