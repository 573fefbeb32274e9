"""The one Definitions object: every asset, check, resource and job of Residua."""

from __future__ import annotations

import os

import dagster as dg

from assets import estimates, features, grade_models, grade_report, ingest, publish
from assets.resources import ResiduaSettings

ASSET_MODULES = (ingest, features, grade_models, estimates, grade_report, publish)

all_assets = dg.load_assets_from_modules(ASSET_MODULES)
all_checks = dg.load_asset_checks_from_modules(ASSET_MODULES)

refresh_job = dg.define_asset_job(
    "refresh_job",
    selection=dg.AssetSelection.all(),
    description="Ingest the data drop, estimate every site and publish the ranked inventory.",
)


def default_settings(**overrides: object) -> ResiduaSettings:
    """Settings for the bundled demo into ./out, publishing to PostGIS when RESIDUA_POSTGIS_URL is set."""
    postgis = dg.EnvVar("RESIDUA_POSTGIS_URL") if os.environ.get("RESIDUA_POSTGIS_URL") else None
    return ResiduaSettings(**{"postgis_url": postgis, **overrides})


def build_definitions(settings: ResiduaSettings | None = None) -> dg.Definitions:
    """Definitions with the given settings (defaults: ``default_settings()``)."""
    return dg.Definitions(
        assets=all_assets,
        asset_checks=all_checks,
        jobs=[refresh_job],
        resources={"settings": settings or default_settings()},
        executor=dg.in_process_executor,
    )


defs = build_definitions()
