"""Publish: the ranked inventory in every selected GIS format (and PostGIS when configured), with provenance.

Every asset that writes into the output folder (:data:`PUBLISHING_ASSETS`) stages its files
in the run's :class:`~geodata.writers.Release`; the last of them to finish in a run publishes
all of them in one transaction. A run that fails or is killed publishes nothing.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pandas as pd

from assets.estimates import SiteReviews
from assets.features import SiteVolumes
from assets.resources import ResiduaSettings
from geodata.datadrop import DataDrop
from geodata.postgis import PostgisTarget
from geodata.provenance import code_version
from geodata.publish import INVENTORY_FILES, publish_staged_inventory, stage_inventory
from geodata.reference_tables import ReferenceTables
from geodata.schema import STORAGE_CRS
from geodata.validate import ValidationResult
from geodata.writers import Release
from models.ranking import review_history

#: Assets whose files go to the output folder: a run publishes their files together, once the
#: last of them the run selected is done. An asset writing files must be listed here.
PUBLISHING_ASSETS: frozenset[str] = frozenset({"grade_model_report", "grade_rasters", "inventory", "review_report"})


def output_release(context: dg.AssetExecutionContext, settings: ResiduaSettings) -> Release:
    """The run's release of output files (a release of its own when the asset is invoked directly)."""
    release = Release.open(settings.out_path, key=_run_id(context))
    for line in release.recovered:
        context.log.warning("Recovered a staging folder an interrupted run left in %s: %s", settings.out_path, line)
    return release


@contextmanager
def publishing(
    context: dg.AssetExecutionContext, settings: ResiduaSettings, release: Release, stale: Iterable[str] = ()
) -> Iterator[Path]:
    """Stage this asset's files in ``release``; publish the release if no other publishing asset of the run is pending.

    ``stale``: patterns of the output files this asset owns (removed at publishing when not
    written again), see :meth:`geodata.writers.Release.part`. When this run's ``inventory``
    staged layers in PostGIS, they replace the live tables just before the files move.
    """
    name = context.asset_key.to_user_string()
    if name not in PUBLISHING_ASSETS:
        raise ValueError(f"asset {name!r} writes output files: add it to PUBLISHING_ASSETS in {__name__}")
    with release.part(name, stale=stale) as staging:
        yield staging
    postgis = _postgis_target(settings)

    def publish_postgis_layers(staging: Path) -> None:
        if postgis is not None and "inventory" in release.done():
            publish_staged_inventory(postgis, staging)
            context.log.info("Published the layers to PostGIS schema %s at %s", postgis.schema, postgis.redacted_url)

    if release.commit_if_complete(_publishers_in_run(context), before=publish_postgis_layers):
        context.log.info("Published this run's files to %s", release.out_dir)
    else:
        context.log.info("Staged %s; the run's last publishing asset publishes it with the others", name)


def _postgis_target(settings: ResiduaSettings) -> PostgisTarget | None:
    return PostgisTarget(settings.postgis_url, settings.postgis_schema) if settings.postgis_url else None


def _run_id(context: dg.AssetExecutionContext) -> str | None:
    try:
        return context.run.run_id
    except dg.DagsterError:  # invoked directly, outside a run
        return None


def _publishers_in_run(context: dg.AssetExecutionContext) -> set[str]:
    """The publishing assets this run executes (this asset alone when invoked directly)."""
    name = context.asset_key.to_user_string()
    try:
        run = context.run
        selected = {key.to_user_string() for key in context.job_def.asset_layer.selected_asset_keys}
    except dg.DagsterError:
        return {name}
    publishers = selected & PUBLISHING_ASSETS
    if run.step_keys_to_execute is not None:  # e.g. re-executing the failed steps of an earlier run
        publishers &= set(run.step_keys_to_execute)
    return publishers | {name}


@dg.asset(group_name="publish", deps=["drop_description"])
def inventory(
    context: dg.AssetExecutionContext,
    settings: ResiduaSettings,
    data_drop: dg.ResourceParam[DataDrop],
    reference_tables: ReferenceTables,
    sites: ValidationResult,
    samples: ValidationResult,
    site_volumes: SiteVolumes,
    site_rankings: pd.DataFrame,
    reviews: SiteReviews,
    processing_hubs: gpd.GeoDataFrame,
    grade_tonnage: pd.DataFrame,
) -> dg.MaterializeResult:
    """Ranked inventory files (styled GeoPackage, GeoJSON, Shapefile, FlatGeobuf, GeoParquet, CSV), PostGIS if set."""
    origin = "SYNTHETIC demo data" if data_drop.synthetic else "user data"
    footprints = sites.accepted[["site_id", "geometry"]]
    ranked = gpd.GeoDataFrame(site_rankings.merge(footprints, on="site_id"), crs=STORAGE_CRS)
    ranked["data_origin"] = origin
    published_samples = samples.accepted.assign(data_origin=origin)
    quarantine = pd.concat(
        [sites.quarantine, site_volumes.quarantine, samples.quarantine, reviews.quarantine], ignore_index=True
    )
    quarantine = gpd.GeoDataFrame(quarantine.assign(data_origin=origin), geometry="geometry", crs=STORAGE_CRS)
    metadata = {
        "title": data_drop.title,
        "data_dir": str(data_drop.root),
        "data_origin": origin,
        "synthetic": data_drop.synthetic,
        "code_version": code_version(),
        "run_id": context.run.run_id,
        "run_time_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "n_draws": settings.n_draws,
        "seed": settings.seed,
        **{f"input:{name}": digest for name, digest in data_drop.input_hashes.items()},
        **{f"reference:{name}": text for name, text in reference_tables.origins.items()},
    }
    postgis = _postgis_target(settings)
    with publishing(context, settings, output_release(context, settings), stale=INVENTORY_FILES) as staging:
        staged = stage_inventory(
            staging, ranked, published_samples, quarantine, metadata, formats=settings.formats,
            hubs=processing_hubs.assign(data_origin=origin), postgis=postgis,
            tables={"reviews": review_history(reviews.history, site_rankings["site_id"]), "grade_tonnage": grade_tonnage},
        )  # fmt: skip
    paths = {name: settings.out_path / path.relative_to(staging) for name, path in staged.items()}
    formats = ", ".join(settings.formats)
    context.log.info("Wrote %d ranked sites as %s for %s", len(ranked), formats, settings.out_path)
    if postgis is not None:
        context.log.info("Staged the layers in PostGIS (%s); they replace schema %s's tables with the files",
                         postgis.redacted_url, postgis.schema)  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "sites_ranked": len(ranked),
            "samples": len(published_samples),
            "quarantined_rows": len(quarantine),
            "synthetic": data_drop.synthetic,
            "formats": formats,
            **{name: dg.MetadataValue.path(str(path)) for name, path in paths.items()},
            **({"postgis": f"{postgis.redacted_url} schema {postgis.schema}"} if postgis is not None else {}),
        }
    )
