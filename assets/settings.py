"""One run's settings: the shared resources and the per-asset run config, built from one flat set of overrides.

The CLI, the tests and the benchmarks name a setting by its field (``n_draws=200``,
``block_size_m=25``); :func:`run_settings` hands each to the resource or asset config that
declares it, so defaults live only in :mod:`residua.assets.resources` and :mod:`residua.assets.configs`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from residua.assets.configs import ASSET_CONFIGS
from residua.assets.resources import SHARED_RESOURCES, InventoryRules, MonteCarlo, Publishing, RunFolders

#: The resources every publishing asset takes, by key.
PUBLISHING_RESOURCES: tuple[str, ...] = ("folders", "postgis", "release_history")


def _field_owners() -> dict[str, str]:
    """Setting name -> the resource key or asset name that declares it (names are unique across them)."""
    owners: dict[str, str] = {}
    for owner, cls in {**SHARED_RESOURCES, **ASSET_CONFIGS}.items():
        for field in cls.model_fields:
            if field in owners:
                raise TypeError(f"setting {field!r} is declared by both {owners[field]} and {owner}")
            owners[field] = owner
    return owners


FIELD_OWNERS: dict[str, str] = _field_owners()
#: Materialization metadata holding the config an asset ran with.
CONFIG_METADATA_KEY = "config"


@dataclass(frozen=True)
class RunSettings:
    """The shared resources (by resource key) and every tunable asset's config (by asset name)."""

    resources: dict[str, dg.ConfigurableResource]
    configs: dict[str, dg.Config]

    @property
    def folders(self) -> RunFolders:
        """The data and output folders."""
        return self.resources["folders"]  # type: ignore[return-value]

    def publishing_resources(self) -> dict[str, dg.ConfigurableResource]:
        """The resources a publishing asset takes (``folders``, ``postgis``, ``release_history``), by key."""
        return {key: self.resources[key] for key in PUBLISHING_RESOURCES}

    @property
    def out_path(self) -> Path:
        """The output folder, absolute."""
        return self.folders.out_path

    def value(self, name: str) -> object:
        """The value of one setting, wherever it is declared."""
        owner = FIELD_OWNERS[name]
        return getattr(self.resources.get(owner) or self.configs[owner], name)

    def run_config(self, assets: Iterable[str] | None = None) -> dict[str, object]:
        """Dagster run config of the per-asset tunables (of ``assets`` only, when given)."""
        wanted = set(self.configs if assets is None else assets)
        names = [name for name in self.configs if name in wanted]
        return {"ops": {name: {"config": self.configs[name].model_dump()} for name in names}}


def run_settings(**overrides: object) -> RunSettings:
    """Settings with ``overrides`` (any field of a shared resource or asset config) and defaults elsewhere.

    >>> settings = run_settings(n_draws=200, block_size_m=25.0)
    >>> settings.value("n_draws"), settings.configs["grade_models"].block_size_m, settings.value("seed")
    (200, 25.0, 20261125)
    >>> run_settings(draws=1)
    Traceback (most recent call last):
    ...
    TypeError: unknown setting(s) ['draws']; see assets/resources.py and assets/configs.py for the settings
    """
    unknown = sorted(set(overrides) - set(FIELD_OWNERS))
    if unknown:
        raise TypeError(f"unknown setting(s) {unknown}; see assets/resources.py and assets/configs.py for the settings")

    def given(cls: type) -> dict[str, object]:
        return {name: value for name, value in overrides.items() if name in cls.model_fields}

    return RunSettings(
        resources={key: cls(**given(cls)) for key, cls in SHARED_RESOURCES.items()},
        configs={name: cls(**given(cls)) for name, cls in ASSET_CONFIGS.items()},
    )


#: Asset -> the settings classes whose values its materializations record (:func:`config_metadata`): each
#: asset with tunables its own config; ``simulation_inputs`` the shared draws, seed and inventory rules.
RECORDED_SETTINGS: dict[str, tuple[type, ...]] = {
    **{name: (cls,) for name, cls in ASSET_CONFIGS.items()},
    "simulation_inputs": (MonteCarlo, InventoryRules),
}


def config_metadata(*settings: dg.Config | dg.ConfigurableResource) -> dict[str, dg.MetadataValue]:
    """The settings an asset ran with, as its materialization metadata (release manifests read them back)."""
    values = {name: value for item in settings for name, value in item.model_dump().items()}
    return {CONFIG_METADATA_KEY: dg.MetadataValue.json(values)}


def materialized_config(instance: dg.DagsterInstance, asset: str) -> dict[str, object]:
    """The settings of ``asset``'s latest materialization, whose values a publication uses (defaults if none)."""
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    materialization = event.asset_materialization if event is not None else None
    recorded = materialization.metadata.get(CONFIG_METADATA_KEY) if materialization is not None else None
    given = recorded.value if recorded is not None else {}
    values: dict[str, object] = {}
    for cls in RECORDED_SETTINGS[asset]:
        values.update(cls(**{name: value for name, value in given.items() if name in cls.model_fields}).model_dump())
    return values


def release_settings(context: dg.AssetExecutionContext, publishing: Publishing) -> dict[str, object]:
    """The settings a release manifest records: the folders and formats published to, and the settings every
    other asset's latest materialization ran with (this run's where it ran them, an earlier run's for values
    it reused); the execution resources (:data:`~residua.assets.resources.EXECUTION_RESOURCES`) are left out."""
    values: dict[str, object] = dict(publishing.folders.model_dump())
    for asset in RECORDED_SETTINGS:
        values.update(materialized_config(context.instance, asset))
    return dict(sorted(values.items()))
