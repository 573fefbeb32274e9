"""Publish: the ranked inventory in every selected GIS format (and PostGIS when configured), with provenance.

Every asset that writes into the output folder stages its files in the run's
:class:`~residua.geodata.transaction.Release` (:func:`staging`); the terminal ``release`` asset, which
depends on all of them (:data:`PUBLISHERS`), publishes what the run staged in one
transaction and records it in the release store (:mod:`residua.geodata.releases`). A run that fails
or is killed before it publishes nothing: Dagster does not run ``release`` after a failed
upstream step.
"""

import functools
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pandas as pd

from residua.assets.estimates import SiteReviews
from residua.assets.features import SiteVolumes
from residua.assets.resources import (
    InventoryRules,
    MonteCarlo,
    Postgis,
    Publishing,
    ReleaseHistory,
    RunFolders,
    Workers,
)
from residua.assets.settings import release_settings
from residua.geodata.datadrop import DataDrop
from residua.geodata.provenance import code_version
from residua.geodata.publish import INVENTORY_FILES, publish_staged_inventory, stage_inventory
from residua.geodata.reference_tables import ReferenceTables
from residua.geodata.releases import (
    CHANGE_COLUMNS,
    PreparedRelease,
    ReleaseStore,
    ReleaseStoreError,
    ReleaseView,
    diff_releases,
    diff_summary,
    gpkg_content_digest,
    load_view,
    model_ids,
    published_files,
    release_inputs,
    site_lineage,
)
from residua.geodata.schema import STORAGE_CRS
from residua.geodata.transaction import Release
from residua.geodata.validate import ValidationResult
from residua.models.hub_plan import HubPlan
from residua.models.ranking import review_history

#: Assets that stage files for the output folder: the ``release`` asset depends on each, so it
#: publishes after every one of them a run selected (an asset that stages files must be listed).
PUBLISHERS: tuple[str, ...] = ("grade_model_report", "grade_rasters", "inventory", "review_report")


def output_release(context: dg.AssetExecutionContext, publishing: Publishing) -> Release:
    """The run's release of output files (outside a run: this process's, shared by directly invoked assets)."""
    out_path = publishing.folders.out_path
    release = Release.open(out_path, key=_run_id(context) or _direct_key())
    for line in release.recovered:
        context.log.warning("Recovered a staging folder an interrupted run left in %s: %s", out_path, line)
    return release


@functools.cache
def _direct_key() -> str:
    """This process's release key outside a run: its pid and a random token (pids repeat across containers)."""
    return f"direct-{os.getpid()}-{uuid.uuid4().hex[:12]}"


@contextmanager
def staging(
    context: dg.AssetExecutionContext, publishing: Publishing, release: Release, stale: Iterable[str] = ()
) -> Iterator[Path]:
    """Stage this asset's files in ``release``, for the ``release`` asset to publish.

    ``stale``: patterns of the output files this asset owns (removed at publishing when not
    written again), see :meth:`residua.geodata.transaction.Release.part`. In a run that does not include
    the ``release`` asset (e.g. one asset materialized from the UI) the files are published at
    once, so that they are not lost when the run ends.
    """
    name = context.asset_key.to_user_string()
    if name not in PUBLISHERS:
        raise ValueError(f"asset {name!r} stages output files: add it to PUBLISHERS in {__name__}")
    with release.part(name, stale=stale) as folder:
        yield folder
    if _release_in_run(context):
        context.log.info("Staged %s; the release asset publishes it with the run's other files", name)
        return
    context.log.warning("This run does not include the release asset: publishing %s's files now", name)
    _publish(context, publishing, release)


@dg.asset(group_name="publish", deps=list(PUBLISHERS))
def release(
    context: dg.AssetExecutionContext, folders: RunFolders, postgis: Postgis, release_history: ReleaseHistory
) -> dg.MaterializeResult:
    """Publish every file this run staged in one transaction (PostGIS tables with them) and record the release."""
    publishing = Publishing(folders, postgis, release_history)
    staged = output_release(context, publishing)
    if not staged.done():
        staged.discard()
        parent = _parent_run_id(context)
        if parent is not None:  # the staged files of the run re-executed went with its process
            raise dg.Failure(f"Nothing to publish: the files run {parent} staged are gone with it. Re-execute from "
                             "the publishing assets (grade_model_report, grade_rasters, inventory, review_report) "
                             "or run the whole job.")  # fmt: skip
        context.log.warning(
            "Nothing staged in this run: the output folder %s is unchanged", publishing.folders.out_path
        )
        return dg.MaterializeResult(metadata={"published": dg.MetadataValue.json([])})
    return dg.MaterializeResult(metadata=_publish(context, publishing, staged))


def _publish(context: dg.AssetExecutionContext, publishing: Publishing, staged: Release) -> dict[str, object]:
    """Publish the staged parts in one transaction (PostGIS tables with them), record the release; its metadata."""
    parts = sorted(staged.done())
    postgis = publishing.postgis.target()
    store = publishing.store(context.instance)
    prepared: list[PreparedRelease] = []

    def before_publishing(folder: Path) -> None:
        prepared.append(_prepare_release(context, publishing, store, staged))  # hashed and stored, not yet recorded
        if postgis is not None and "inventory" in parts:
            publish_staged_inventory(postgis, folder)
            context.log.info("Published the layers to PostGIS schema %s at %s", postgis.schema, postgis.redacted_url)

    staged.commit(before=before_publishing)
    context.log.info("Published this run's files (%s) to %s", ", ".join(parts), staged.out_dir)
    return {"published": dg.MetadataValue.json(parts), **_record_release(context, publishing, store, prepared[0])}


def _release_in_run(context: dg.AssetExecutionContext) -> bool:
    """Whether this run executes the ``release`` asset (True outside a run: the caller invokes it)."""
    try:
        run = context.run
        selected = {key.to_user_string() for key in context.job_def.asset_layer.selected_asset_keys}
    except dg.DagsterError:
        return True
    if run.step_keys_to_execute is not None:  # e.g. re-executing some steps of an earlier run
        return "release" in run.step_keys_to_execute
    return "release" in selected


def _parent_run_id(context: dg.AssetExecutionContext) -> str | None:
    try:
        return context.run.parent_run_id
    except dg.DagsterError:
        return None


#: ``since_release`` in the run metadata of a folder's first release (nothing to compare with).
NO_EARLIER_RELEASE = "none"


def _changes_since_last_release(
    context: dg.AssetExecutionContext,
    publishing: Publishing,
    data_drop: DataDrop,
    reference_tables: ReferenceTables,
    ranked: pd.DataFrame,
    lineage: pd.DataFrame,
) -> pd.DataFrame:
    """The ``changes`` table: each site's changes since the last release of this output folder, with causes."""
    store = publishing.store(context.instance)
    empty = pd.DataFrame(columns=[*CHANGE_COLUMNS, "since_release"]).astype({"direct": bool})
    latest = store.latest(publishing.folders.out_path)
    if latest is None:
        return empty
    current = {"settings": release_settings(context, publishing), "inputs": data_drop.input_hashes,
               "code_version": code_version(), "reference_tables": reference_tables.origins}  # fmt: skip
    try:
        previous = load_view(store, latest["release_id"])
    except (OSError, ReleaseStoreError) as error:
        context.log.warning("No changes table: release %s cannot be read (%s)", latest["release_id"], error)
        return empty
    sites = pd.DataFrame(ranked.drop(columns="geometry"))
    changes = diff_releases(previous, ReleaseView(current, sites, lineage), publishing.release_history.diff_threshold)
    changes = changes.assign(since_release=latest["release_id"])
    changes.attrs["since_release"] = latest["release_id"]
    return changes


def _prepare_release(
    context: dg.AssetExecutionContext, publishing: Publishing, store: ReleaseStore, release: Release
) -> PreparedRelease:
    """Hash every file the release leaves in the output folder and store the GeoPackage, rasters and cards."""
    files = published_files(release)
    origin = release_inputs(files, publishing.folders.data_path)
    gpkg = files.get("inventory.gpkg")
    return store.prepare(
        files, run_id=_run_id(context), out_dir=publishing.folders.out_path, inputs=origin["inputs"],
        settings=release_settings(context, publishing), models=model_ids(files), code=origin["code"],
        content={"layers": gpkg_content_digest(gpkg)} if gpkg is not None else None, extra=origin["extra"],
    )  # fmt: skip


def _record_release(
    context: dg.AssetExecutionContext, publishing: Publishing, store: ReleaseStore, prepared: PreparedRelease
) -> dict[str, object]:
    """Record the published release (none when it equals the last one); its id and diff summary as metadata."""
    try:
        recorded = store.record(prepared)
    except (OSError, ReleaseStoreError) as error:  # the files are published: say so loudly, do not fail the run
        context.log.error("Published, but the release could not be recorded in %s: %s", store.root, error)
        return {"release": f"NOT RECORDED: {error}"}
    metadata: dict[str, object] = {"release": recorded.release_id, "release_new": recorded.new,
                                   "release_manifest_sha256": recorded.manifest_sha256,
                                   "release_store": dg.MetadataValue.path(str(store.root))}  # fmt: skip
    if not recorded.new:
        context.log.info("Published the same inventory as release %s (same inputs, settings, code, models and "
                         "tables): no new release recorded", recorded.release_id)  # fmt: skip
        return metadata
    earlier = [m["release_id"] for m in store.manifests() if m.get("out_dir") == recorded.manifest["out_dir"]][:-1]
    if earlier:  # compared with the last release of the same output folder
        try:
            changes = diff_releases(load_view(store, earlier[-1]), load_view(store, recorded.release_id),
                                    publishing.release_history.diff_threshold)  # fmt: skip
            summary = diff_summary(changes)
            metadata["diff_summary"] = dg.MetadataValue.json({"against": earlier[-1], **summary})
            context.log.info("Recorded release %s in %s; against %s: %d sites changed %s", recorded.release_id,
                             store.root, earlier[-1], summary["sites_changed"], summary["by_change"])  # fmt: skip
        except (OSError, ReleaseStoreError) as error:
            context.log.warning("Recorded release %s; not compared with %s: %s", recorded.release_id,
                                earlier[-1], error)  # fmt: skip
    else:
        context.log.info("Recorded release %s, the first of %s in %s", recorded.release_id, publishing.folders.out_path,
                         store.root)  # fmt: skip
    return metadata


def _grade_model_ids(context: dg.AssetExecutionContext) -> dict[str, str]:
    """Grade model id per element, from the latest ``grade_models`` materialization (the one whose
    estimates this inventory publishes: ``site_rankings`` descends from it)."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("grade_models"))
    materialization = event.asset_materialization if event is not None else None
    value = materialization.metadata.get("model_ids") if materialization is not None else None
    return {str(element): str(model_id) for element, model_id in (value.value if value is not None else {}).items()}


def _run_id(context: dg.AssetExecutionContext) -> str | None:
    try:
        return context.run.run_id
    except dg.DagsterError:  # invoked directly, outside a run
        return None


@dg.asset(group_name="publish", deps=["drop_description"])
def inventory(
    context: dg.AssetExecutionContext,
    folders: RunFolders,
    postgis: Postgis,
    release_history: ReleaseHistory,
    monte_carlo: MonteCarlo,
    rules: InventoryRules,
    workers: Workers,
    data_drop: dg.ResourceParam[DataDrop],
    reference_tables: ReferenceTables,
    sites: ValidationResult,
    samples: ValidationResult,
    site_volumes: SiteVolumes,
    site_rankings: pd.DataFrame,
    reviews: SiteReviews,
    processing_hubs: HubPlan,
    grade_tonnage: pd.DataFrame,
    sampling_plan: gpd.GeoDataFrame,
) -> dg.MaterializeResult:
    """Ranked inventory files (styled GeoPackage, GeoJSON, Shapefile, FlatGeobuf, GeoParquet, CSV), PostGIS if set."""
    publishing = Publishing(folders, postgis, release_history)
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
        "n_draws": monte_carlo.n_draws,
        "seed": monte_carlo.seed,
        "plan_top_n": rules.plan_top_n,
        **{f"input:{name}": digest for name, digest in data_drop.input_hashes.items()},
        **{f"reference:{name}": text for name, text in reference_tables.origins.items()},
    }
    lineage = site_lineage(sites.accepted, samples.accepted, data_drop.input_hashes, reference_tables,
                           sites_file=data_drop.sites_path.name, models=_grade_model_ids(context))  # fmt: skip
    changes = _changes_since_last_release(context, publishing, data_drop, reference_tables, ranked, lineage)
    metadata["since_release"] = changes.attrs.get("since_release") or NO_EARLIER_RELEASE
    target = postgis.target()
    with (
        staging(context, publishing, output_release(context, publishing), stale=INVENTORY_FILES) as folder,
        workers.local(),  # STAC items of the staged rasters: local processes see them
    ):
        staged = stage_inventory(
            folder, ranked, published_samples, quarantine, metadata, formats=folders.formats,
            hubs=processing_hubs.hubs.assign(data_origin=origin), postgis=target,
            hub_assignments=processing_hubs.assignments.assign(data_origin=origin),
            sampling_plan=sampling_plan.assign(data_origin=origin),
            tables={"reviews": review_history(reviews.history, site_rankings["site_id"]),
                    "grade_tonnage": grade_tonnage, "lineage": lineage, "changes": changes},
        )  # fmt: skip
    paths = {name: folders.out_path / path.relative_to(folder) for name, path in staged.items()}
    formats = ", ".join(folders.formats)
    context.log.info("Wrote %d ranked sites as %s for %s", len(ranked), formats, folders.out_path)
    if target is not None:
        context.log.info("Staged the layers in PostGIS (%s); they replace schema %s's tables with the files",
                         target.redacted_url, target.schema)  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "sites_ranked": len(ranked),
            "samples": len(published_samples),
            "quarantined_rows": len(quarantine),
            "synthetic": data_drop.synthetic,
            "formats": formats,
            "sites_changed_since_last_release": int(changes["site_id"].nunique()),
            **{name: dg.MetadataValue.path(str(path)) for name, path in paths.items()},
            **({"postgis": f"{target.redacted_url} schema {target.schema}"} if target is not None else {}),
        }
    )
