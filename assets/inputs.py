"""The data drop's files as observable source assets, versioned by content (SHA-256).

One source asset per group of :data:`geodata.input_groups.INPUT_GROUPS`; the asset that
reads a group's files depends on it, so a changed file makes stale, and reruns, exactly the
assets downstream of its group in the asset graph (see ``pipelines/automation.py``).
"""

import warnings

import dagster as dg

from assets.resources import ResiduaSettings
from geodata.datadrop import hash_inputs
from geodata.input_groups import INPUT_GROUPS, group_versions, input_group

INPUT_SPECS = [
    dg.AssetSpec(name, description=description, group_name="inputs") for name, description in INPUT_GROUPS.items()
]


def observations(hashes: dict[str, str]) -> dict[str, tuple[str, list[str]]]:
    """Source asset name -> (data version, its files) for the drop's file digests."""
    versions = group_versions(hashes)
    files: dict[str, list[str]] = {name: [] for name in INPUT_GROUPS}
    for name in sorted(hashes):
        files[input_group(name)].append(name)
    return {name: (versions[name], files[name]) for name in INPUT_GROUPS}


def _observe_drop_files(context: dg.AssetExecutionContext):
    """Hash every input file of the drop and record each group's content version."""
    settings: ResiduaSettings = context.resources.settings
    for name, (version, files) in observations(hash_inputs(settings.data_path)).items():
        yield dg.ObserveResult(
            asset_key=name, data_version=dg.DataVersion(version), metadata={"files": dg.MetadataValue.json(files)}
        )


with warnings.catch_warnings():  # the decorator is marked beta; users of `residua run` need not hear it
    warnings.simplefilter("ignore", dg.BetaWarning)
    data_drop_files = dg.multi_observable_source_asset(
        specs=INPUT_SPECS, name="data_drop_files", required_resource_keys={"settings"}
    )(_observe_drop_files)
