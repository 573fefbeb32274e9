"""The pipeline's inputs as observable source assets, versioned by content (SHA-256).

One source asset per group of the data drop's files (:data:`residua.geodata.input_groups.INPUT_GROUPS`)
and one for the decisions recorded through ``residua serve`` (``review_decisions``). The asset
that reads an input depends on it, so a changed input makes stale, and reruns, exactly the
assets downstream of it in the asset graph (see ``pipelines/automation.py``).
"""

import warnings

import dagster as dg

from residua.assets.resources import Postgis, RunFolders
from residua.geodata.datadrop import hash_inputs
from residua.geodata.input_groups import INPUT_GROUPS, group_versions, input_group
from residua.geodata.review_store import decisions_version

#: The source asset of the review store's decisions (PostgreSQL, else SQLite in the instance folder).
REVIEW_DECISIONS = "review_decisions"

INPUT_SPECS = [
    *(dg.AssetSpec(name, description=description, group_name="inputs") for name, description in INPUT_GROUPS.items()),
    dg.AssetSpec(REVIEW_DECISIONS, description="Decisions recorded in the review store (residua serve).",
                 group_name="inputs"),
]  # fmt: skip


def observations(hashes: dict[str, str]) -> dict[str, tuple[str, list[str]]]:
    """Source asset name -> (data version, its files) for the drop's file digests."""
    versions = group_versions(hashes)
    files: dict[str, list[str]] = {name: [] for name in INPUT_GROUPS}
    for name in sorted(hashes):
        files[input_group(name)].append(name)
    return {name: (versions[name], files[name]) for name in INPUT_GROUPS}


def review_store_version(postgis: Postgis, instance: dg.DagsterInstance) -> str:
    """The data version of ``review_decisions``: the SHA-256 of the stored decisions' ids."""
    return decisions_version(postgis.postgis_url, postgis.postgis_schema, instance.root_directory)


def _observe_inputs(context: dg.AssetExecutionContext):
    """Hash every input file of the drop and the review store; record each source's content version."""
    folders: RunFolders = context.resources.folders
    for name, (version, files) in observations(hash_inputs(folders.data_path)).items():
        yield dg.ObserveResult(
            asset_key=name, data_version=dg.DataVersion(version), metadata={"files": dg.MetadataValue.json(files)}
        )
    version = review_store_version(context.resources.postgis, context.instance)
    yield dg.ObserveResult(asset_key=REVIEW_DECISIONS, data_version=dg.DataVersion(version))


with warnings.catch_warnings():  # the decorator is marked beta; users of `residua run` need not hear it
    warnings.simplefilter("ignore", dg.BetaWarning)
    data_drop_files = dg.multi_observable_source_asset(
        specs=INPUT_SPECS, name="data_drop_files", required_resource_keys={"folders", "postgis"}
    )(_observe_inputs)
