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
from residua.assets.resources import EXECUTION_RESOURCES, SHARED_RESOURCES, Publishing, RunFolders


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

    @property
    def publishing(self) -> Publishing:
        """What the publishing assets take (the folders, PostGIS, release history and recorded settings)."""
        return self.resources["publishing"]  # type: ignore[return-value]

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
        names = list(self.configs) if assets is None else [name for name in self.configs if name in set(assets)]
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

    shared = {key: cls(**given(cls)) for key, cls in SHARED_RESOURCES.items()}
    publishing = Publishing(**{key: shared[key] for key in Publishing.model_fields})
    return RunSettings(
        resources={**shared, "publishing": publishing},
        configs={name: cls(**given(cls)) for name, cls in ASSET_CONFIGS.items()},
    )


def config_metadata(config: dg.Config) -> dict[str, dg.MetadataValue]:
    """The config an asset ran with, as its materialization metadata (release manifests read it back)."""
    return {CONFIG_METADATA_KEY: dg.MetadataValue.json(config.model_dump())}


def materialized_config(instance: dg.DagsterInstance, asset: str) -> dg.Config:
    """The config of ``asset``'s latest materialization, whose values a publication uses (defaults if none)."""
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    materialization = event.asset_materialization if event is not None else None
    recorded = materialization.metadata.get(CONFIG_METADATA_KEY) if materialization is not None else None
    return ASSET_CONFIGS[asset](**(recorded.value if recorded is not None else {}))


def release_settings(context: dg.AssetExecutionContext, publishing: Publishing) -> dict[str, object]:
    """The settings a release manifest records: those of the shared resources that change what is
    published (not :data:`~residua.assets.resources.EXECUTION_RESOURCES`) and the config of every asset's latest
    materialization (this run's where it ran them, an earlier run's for the values it reused)."""
    values: dict[str, object] = {}
    for key in Publishing.model_fields:
        if key not in EXECUTION_RESOURCES:
            values.update(getattr(publishing, key).model_dump())
    for asset in ASSET_CONFIGS:
        values.update(materialized_config(context.instance, asset).model_dump())
    return dict(sorted(values.items()))
