"""Resources for what several assets share: folders, Monte Carlo, inventory rules, workers, PostGIS and stores.

Each is a :class:`dagster.ConfigurableResource` with its defaults defined here once; per-asset
tunables are run config (:mod:`residua.assets.configs`). :func:`residua.assets.settings.run_settings` builds
both from one flat set of overrides.
"""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field, field_validator

from residua.assets.parallel import parallel_backend
from residua.geodata.datadrop import DataDrop, open_data_drop
from residua.geodata.postgis import SCHEMA_NAME, PostgisTarget, check_identifier
from residua.geodata.publish import ALL_FORMATS, check_formats
from residua.geodata.releases import ReleaseStore
from residua.models.model_store import ModelStore
from residua.models.ranking import TONNAGE_BAND
from residua.models.sampling_plan import TOP_N
from residua.models.simulation import N_DRAWS, SEED


class RunFolders(dg.ConfigurableResource):
    """Where the data drop is, where the outputs go, and in which formats."""

    data_dir: str = Field(default="geodata/demo", description="The data drop folder.")
    out_dir: str = Field(default="out", description="The output folder the inventory is published to.")
    # A list default is safe on a pydantic model: every instance gets its own copy.
    formats: list[str] = Field(
        default=list(ALL_FORMATS),
        description=f"Export formats written to out_dir: any of {', '.join(ALL_FORMATS)}.",
    )

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, formats: list[str]) -> list[str]:
        return check_formats(formats)

    @property
    def data_path(self) -> Path:
        """The data drop folder, absolute."""
        return Path(self.data_dir).resolve()

    @property
    def out_path(self) -> Path:
        """The output folder, absolute."""
        return Path(self.out_dir).resolve()


class MonteCarlo(dg.ConfigurableResource):
    """The draws and seed every simulating asset uses, so that estimates, hubs and plans share their draws."""

    n_draws: int = Field(default=N_DRAWS, ge=1, description="Monte Carlo draws per site.")
    seed: int = Field(default=SEED, description="Random seed of every simulation and perturbation.")


class InventoryRules(dg.ConfigurableResource):
    """Rules several assets apply alike: cut-off grades, the tonnage review band and the top-N decision."""

    cutoff_gt: dict[str, float] = Field(
        default_factory=dict,
        description="Cut-off grade (g/t) per element overriding the cited cutoff_grades table, e.g. {'ga': 30}.",
    )
    tonnage_ratio_low: float = Field(
        default=TONNAGE_BAND[0],
        gt=0,
        description="Lowest modelled / reported tonnes ranked without review: a site outside "
        "tonnage_ratio_low-tonnage_ratio_high is held for review (no rank) until reviews.csv accepts its tonnage.",
    )
    tonnage_ratio_high: float = Field(
        default=TONNAGE_BAND[1], gt=0, description="Highest modelled / reported tonnes ranked without review."
    )
    plan_top_n: int = Field(
        default=TOP_N, ge=1, description="The decision the sampling plan serves: which sites make the top N by value."
    )

    @property
    def tonnage_band(self) -> tuple[float, float]:
        """(low, high) modelled / reported tonnes ranked without review."""
        return self.tonnage_ratio_low, self.tonnage_ratio_high

    def cutoffs(self, cutoff_table: pd.DataFrame) -> dict[str, float]:
        """Cut-off grade per element: the reference table, overridden by ``cutoff_gt``."""
        table = dict(zip(cutoff_table["element"], cutoff_table["cutoff_gt"].astype(float)))
        return {**table, **{element.lower(): float(value) for element, value in self.cutoff_gt.items()}}


class Workers(dg.ConfigurableResource):
    """Where per-site work runs: local processes, or a Dask cluster."""

    n_jobs: int = Field(default=2, description="Local worker processes (joblib's -1: one per core).")
    dask_address: str | None = Field(
        default=None,
        description="Dask scheduler (e.g. tcp://host:8786) for per-site work; none: local processes. "
        "Set through RESIDUA_DASK_ADDRESS.",
    )

    def backend(self) -> AbstractContextManager[str]:
        """The configured backend for a block of per-site work (yields its name)."""
        return parallel_backend(self.dask_address, self.n_jobs)

    def local(self) -> AbstractContextManager[str]:
        """Local processes, for work on files only this machine sees."""
        return parallel_backend(None, self.n_jobs)


class Postgis(dg.ConfigurableResource):
    """The PostGIS database the layers are published to as well (and the review store lives in), if any."""

    postgis_url: str | None = Field(
        default=None,
        description="PostGIS database to publish the layers to as well, e.g. dg.EnvVar('RESIDUA_POSTGIS_URL'); "
        "none: files only.",
    )
    postgis_schema: str = Field(default="residua", description="PostGIS schema receiving the layers.")

    @field_validator("postgis_schema")
    @classmethod
    def _valid_schema(cls, schema: str) -> str:
        return check_identifier(schema, SCHEMA_NAME, "schema", 48)

    def target(self) -> PostgisTarget | None:
        """Where to publish, or None when no database is configured."""
        return PostgisTarget(self.postgis_url, self.postgis_schema) if self.postgis_url else None


def _instance_folder(configured: str | None, instance: dg.DagsterInstance, name: str) -> Path:
    return Path(configured or Path(instance.root_directory) / name).resolve()


class ModelStoreResource(dg.ConfigurableResource):
    """The project's model store: fitted models with their JSON model cards."""

    model_store_dir: str | None = Field(
        default=None,
        description="The project's model store (fitted models + JSON model cards); none: 'models' in the Dagster "
        "instance folder ($RESIDUA_DAGSTER_DIR, ./.dagster with the Makefile). Never inside data_dir or out_dir.",
    )
    models_kept: int = Field(default=5, ge=1, description="Fitted models kept per element in the model store.")

    def root(self, instance: dg.DagsterInstance) -> Path:
        """``model_store_dir``, else ``models`` in the Dagster instance folder."""
        return _instance_folder(self.model_store_dir, instance, "models")

    def open(self, instance: dg.DagsterInstance, folders: RunFolders) -> ModelStore:
        """The store, which may lie neither in the data drop nor in the output folder."""
        return ModelStore(self.root(instance), forbidden=(folders.data_path, folders.out_path))


class ReleaseHistory(dg.ConfigurableResource):
    """The project's release history: a manifest per published inventory, chained by SHA-256."""

    releases_dir: str | None = Field(
        default=None,
        description="The project's release history (a manifest per published inventory, chained by SHA-256, and "
        "the stored GeoPackage, rasters and model cards); none: 'releases' in the Dagster instance folder "
        "($RESIDUA_DAGSTER_DIR, ./.dagster with the Makefile). Never inside data_dir or out_dir.",
    )
    releases_kept: int = Field(
        default=20, ge=1, description="Releases kept in the release history; older ones are pruned (chain kept)."
    )
    diff_threshold: float = Field(
        default=0.05,
        gt=0,
        description="Smallest relative change of a P50 or of a P10-P90 width that a release diff reports (0.05: 5 %).",
    )

    def root(self, instance: dg.DagsterInstance) -> Path:
        """``releases_dir``, else ``releases`` in the Dagster instance folder."""
        return _instance_folder(self.releases_dir, instance, "releases")


@dataclass(frozen=True)
class Publishing:
    """What publishing to the output folder needs: the folders, PostGIS and the release history.

    A publishing asset takes the three resources by key (so a launchpad override of any of them
    reaches it) and bundles them here for :mod:`residua.assets.publish`.
    """

    folders: RunFolders
    postgis: Postgis
    release_history: ReleaseHistory

    def store(self, instance: dg.DagsterInstance) -> ReleaseStore:
        """The release store, which may lie neither in the data drop nor in the output folder."""
        return ReleaseStore(self.release_history.root(instance), keep=self.release_history.releases_kept,
                            forbidden=(self.folders.data_path, self.folders.out_path))  # fmt: skip


#: Resource key -> its class; the keys are the names assets take them by.
SHARED_RESOURCES: dict[str, type[dg.ConfigurableResource]] = {
    "folders": RunFolders,
    "monte_carlo": MonteCarlo,
    "rules": InventoryRules,
    "workers": Workers,
    "postgis": Postgis,
    "model_store": ModelStoreResource,
    "release_history": ReleaseHistory,
}
#: Resources that change how or where a run works, not what it publishes: left out of release manifests.
EXECUTION_RESOURCES: frozenset[str] = frozenset({"workers", "postgis", "model_store", "release_history"})


@dg.resource(
    required_resource_keys={"folders"},
    description="The run's data drop: its files found, described and hashed once per run.",
)
def data_drop_resource(context: dg.InitResourceContext) -> DataDrop:
    """The data drop of ``folders.data_dir``, opened once per run (assets take it as ``data_drop``)."""
    drop = open_data_drop(context.resources.folders.data_path)
    synthetic = ", SYNTHETIC" if drop.synthetic else ""
    context.log.info("Reading %s (%d input files%s)", drop.root, len(drop.input_hashes), synthetic)
    return drop
