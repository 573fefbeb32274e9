"""The ``grade_models`` IO manager: downstream assets get the fitted models from the model store, checked.

``grade_models`` saves every element's fit with its model card in the project's model store
(:class:`residua.models.model_store.ModelStore`). This IO manager records which models a
materialization made (their ids) and its validation tables (Parquet), and loads the fits back
through :meth:`ModelStore.load`, which refuses an artifact whose hash or card does not match.
Nothing downstream unpickles an unchecked file.
"""

import json
import os
import shutil
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd

from residua.assets.grade_models import GradeModels
from residua.assets.resources import ModelStoreResource, RunFolders
from residua.models.model_store import ModelStore

MANIFEST = "models.json"
TABLES = ("predictions", "site_level", "within_site", "reproduction")


class GradeModelsIOManager(dg.IOManager):
    """Keeps ``grade_models`` as model ids into the model store plus Parquet validation tables."""

    def __init__(self, model_store: ModelStoreResource, folders: RunFolders) -> None:
        self.model_store = model_store
        self.folders = folders

    def handle_output(self, context: dg.OutputContext, obj: GradeModels) -> None:
        """Write the model ids and tables to ``<instance storage>/grade_models`` (all or nothing)."""
        folder = self._folder(context.step_context.instance)
        staging = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}")
        staging.mkdir(parents=True)
        for name in TABLES:
            getattr(obj, name).to_parquet(staging / f"{name}.parquet")
        manifest = {"model_ids": obj.model_ids, "model_store": str(self._store(context.step_context.instance).root)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        previous = folder.with_name(f".{folder.name}.old.{uuid.uuid4().hex}")
        if folder.exists():
            os.replace(folder, previous)
        os.replace(staging, folder)
        shutil.rmtree(previous, ignore_errors=True)

    def load_input(self, context: dg.InputContext) -> GradeModels:
        """Every element's fit and card from the model store (checked), and the stored tables."""
        folder = self._folder(context.instance)
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        store = self._store(context.instance)
        loaded = {element: store.load(model_id) for element, model_id in manifest["model_ids"].items()}
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}
        return GradeModels(
            fits={element: fit for element, (fit, _) in loaded.items()},
            cards={element: card for element, (_, card) in loaded.items()},
            model_ids=dict(manifest["model_ids"]),
            **tables,
        )

    def _store(self, instance: dg.DagsterInstance) -> ModelStore:
        return self.model_store.open(instance, self.folders)

    @staticmethod
    def _folder(instance: dg.DagsterInstance) -> Path:
        return Path(instance.storage_directory()) / "grade_models"


@dg.io_manager(
    required_resource_keys={"model_store", "folders"},
    description="grade_models through the model store: saved with their cards, loaded back checked.",
)
def grade_models_io_manager(context: dg.InitResourceContext) -> GradeModelsIOManager:
    """The IO manager over the run's own ``model_store`` and ``folders`` (a launchpad override of either reaches it)."""
    return GradeModelsIOManager(context.resources.model_store, context.resources.folders)
