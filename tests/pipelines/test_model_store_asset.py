"""grade_models saves every element's model and card to the project's store, never to data or outputs."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from residua.assets.settings import run_settings
from residua.geodata.schema import ELEMENTS
from residua.models.grade_workflow import ElementFit
from residua.models.model_store import ModelStore, training_data_sha256
from residua.pipelines.cli import main
from residua.pipelines.definitions import all_assets, pipeline_resources
from tests.drops import write_prism_drop


def _materialize(drop: Path, out: Path, instance: dg.DagsterInstance, **settings) -> dg.ExecuteInProcessResult:
    chosen = run_settings(data_dir=str(drop), out_dir=str(out), block_draws=60, **settings)
    selection = dg.AssetSelection.assets("grade_models").upstream() - dg.AssetSelection.groups("inputs")
    config = chosen.run_config(key.to_user_string() for key in selection.resolve(all_assets))
    return dg.materialize(all_assets, selection=selection, resources=pipeline_resources(chosen), instance=instance,
                          run_config=config, raise_on_error=False)  # fmt: skip


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    materialization = result.asset_materializations_for_node("grade_models")[0]
    return {key: value.value for key, value in materialization.metadata.items()}


@pytest.fixture(scope="module")
def prism_run(tmp_path_factory):
    """grade_models on the prism drop, with the default store (in the Dagster instance folder)."""
    root = tmp_path_factory.mktemp("store_asset")
    drop = write_prism_drop(root / "drop")
    result = _materialize(drop, root / "out", dg.DagsterInstance.ephemeral(tempdir=str(root / "dagster_home")))
    assert result.success
    return root, drop, result


def test_every_element_is_saved_with_a_card_in_the_instance_folder(prism_run):
    root, _, result = prism_run
    metadata = _metadata(result)
    store = ModelStore(root / "dagster_home" / "models")
    assert Path(metadata["model_store"]) == store.root
    assert set(metadata["model_ids"]) == set(metadata["model_cards"]) == set(ELEMENTS)
    grade_models = result.output_for_node("grade_models")
    for element, model_id in metadata["model_ids"].items():
        card_path = Path(metadata["model_cards"][element])
        assert card_path == store.root / element / model_id / "card.json"
        card = json.loads(card_path.read_text())
        assert card == grade_models.cards[element]  # what the publish step can write out as JSON
        assert card["training_data"]["sha256"] == metadata["training_data_sha256"][element]
        assert card["training_data"]["sha256"] == training_data_sha256(grade_models.fits[element].composites)
        assert store.verify(model_id) == card


def test_stored_models_load_back_as_the_fits(prism_run):
    root, _, result = prism_run
    store = ModelStore(root / "dagster_home" / "models")
    fits = result.output_for_node("grade_models").fits
    model, card = store.load(_metadata(result)["model_ids"]["ga"])
    assert isinstance(model, ElementFit) and card["element"] == "ga"
    pd.testing.assert_frame_equal(model.composites, fits["ga"].composites)
    assert set(model.blocks) == set(fits["ga"].blocks)


def test_nothing_is_pickled_into_the_data_or_output_folders(prism_run):
    root, drop, _ = prism_run
    for folder in (drop, root / "out"):
        written = [path for path in folder.rglob("*") if path.suffix in {".joblib", ".pkl", ".pickle"}]
        assert written == [], written


def test_a_refit_on_new_data_replaces_old_models_beyond_the_kept_number(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "home"))
    store_dir = tmp_path / "store"
    first = _materialize(drop, tmp_path / "out", instance, model_store_dir=str(store_dir), models_kept=1)
    same = _materialize(drop, tmp_path / "out", instance, model_store_dir=str(store_dir), models_kept=1)
    assert _metadata(same)["model_ids"] == _metadata(first)["model_ids"]  # same data and code: same content ids
    samples = pd.read_csv(drop / "samples.csv", dtype=str, keep_default_na=False)
    samples.loc[0, "ga_ppm"] = str(float(samples.loc[0, "ga_ppm"]) + 1.0)
    samples.to_csv(drop / "samples.csv", index=False)
    second = _materialize(drop, tmp_path / "out", instance, model_store_dir=str(store_dir), models_kept=1)
    assert first.success and second.success
    before, after = _metadata(first), _metadata(second)
    assert before["training_data_sha256"]["ga"] != after["training_data_sha256"]["ga"]
    assert before["training_data_sha256"]["te"] == after["training_data_sha256"]["te"]  # Te assays untouched
    store = ModelStore(store_dir)
    for element in ELEMENTS:
        assert [card["model_id"] for card in store.cards(element)] == [after["model_ids"][element]]


def test_a_store_inside_the_data_folder_stops_the_run_before_fitting(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    result = _materialize(drop, tmp_path / "out", dg.DagsterInstance.ephemeral(),
                          model_store_dir=str(drop / "models"))  # fmt: skip
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "overlaps" in failure.step_failure_data.error.cause.message
    assert not (drop / "models").exists()


def test_residua_models_lists_the_cards_and_flags_a_tampered_artifact(prism_run, capsys):
    root, _, result = prism_run
    store_dir = root / "dagster_home" / "models"
    ids = _metadata(result)["model_ids"]
    assert main(["models", "--store", str(store_dir)]) == 0
    out = capsys.readouterr().out
    assert all(model_id in out for model_id in ids.values()) and "REFUSED" not in out
    assert main(["models", "--store", str(store_dir), "--element", "te"]) == 0
    assert ids["ga"] not in capsys.readouterr().out


def test_residua_models_refuses_a_changed_artifact(tmp_path, prism_run, capsys):
    root, _, result = prism_run
    ids = _metadata(result)["model_ids"]
    copy = tmp_path / "models"
    for path in (root / "dagster_home" / "models").rglob("*"):
        if path.is_file():
            (copy / path.relative_to(root / "dagster_home" / "models")).parent.mkdir(parents=True, exist_ok=True)
            (copy / path.relative_to(root / "dagster_home" / "models")).write_bytes(path.read_bytes())
    with (copy / "pt" / ids["pt"] / "model.joblib").open("ab") as handle:
        handle.write(b"\0")
    assert main(["models", "--store", str(copy)]) == 1
    assert "REFUSED" in capsys.readouterr().out


def test_residua_models_without_a_dagster_home_says_how_to_find_the_store(capsys):
    assert main(["models"]) == 1
    assert "DAGSTER_HOME" in capsys.readouterr().out


def test_downstream_assets_get_the_models_through_the_store_checks(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "home"))
    first = _materialize(drop, tmp_path / "out", instance)
    resources = pipeline_resources(run_settings(data_dir=str(drop), out_dir=str(tmp_path / "out"), block_draws=60))

    def estimate_grades() -> dg.ExecuteInProcessResult:
        return dg.materialize(all_assets, selection=["grade_estimates"], resources=resources, instance=instance,
                              raise_on_error=False)  # fmt: skip

    assert first.success and estimate_grades().success  # grade_models loaded from the store, not refitted
    ga = _metadata(first)["model_ids"]["ga"]
    with (tmp_path / "home" / "models" / "ga" / ga / "model.joblib").open("ab") as handle:
        handle.write(b"\0")
    refused = estimate_grades()
    assert not refused.success
    failure = next(event for event in refused.all_events if event.is_failure)
    assert "changed after it was saved and will not be loaded" in str(failure.event_specific_data.error)
