"""The model store: round trips, cards, and everything it refuses to load."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from residua.geodata.readers import read_samples, read_sites
from residua.geodata.reference_tables import load_reference_tables
from residua.geodata.validate import validate_samples, validate_sites
from residua.models.grade import HierarchicalLogGrade
from residua.models.grade_workflow import fit_element, site_distributions
from residua.models.model_store import (
    CARD_FILE,
    MODEL_FILE,
    ModelStore,
    ModelStoreError,
    element_card,
    training_data_sha256,
)
from tests.drops import write_prism_drop

CARD_KEYS = {"model_id", "created_utc", "schema", "element", "model_form", "training_data", "features", "parameters",
             "metrics", "library_versions", "artifact"}  # fmt: skip


class _Bomb:
    """Unpickling this creates ``marker``: proof that a file was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _plant_pickle(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(_Bomb(marker)))
    return path


def _small_model() -> HierarchicalLogGrade:
    X = pd.DataFrame({"site_id": ["a", "a", "b", "b"], "residue_type": ["r"] * 4})
    return HierarchicalLogGrade({"r": 0.0}, {"r": 1.0}).fit(X, np.log([2.0, 2.5, 1.0, 1.2]))


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "store")


@pytest.fixture
def saved(store):
    return store.save(_small_model(), {"element": "ga", "note": "tiny"})


def _fit(drop: Path, n_draws: int = 60):
    sites = validate_sites(read_sites(drop / "sites.gpkg"), drop / "sites.gpkg", drop).accepted
    samples = validate_samples(read_samples(drop / "samples.csv"), drop / "samples.csv", sites).accepted
    thickness = pd.Series({"P1": 10.0, "P2": 4.0, "P3": 6.0})
    fit = fit_element("ga", samples, sites, thickness, load_reference_tables().grade_priors, n_draws=n_draws, seed=3)
    return fit, sites


@pytest.fixture(scope="module")
def prism(tmp_path_factory):
    """The prism drop, and its Ga fit done twice on identical data."""
    drop = write_prism_drop(tmp_path_factory.mktemp("prism") / "drop")
    first, sites = _fit(drop)
    second, _ = _fit(drop)
    return drop, first, second, sites


# --------------------------------------------------------------------------------------------
# Round trips


def test_round_trip_returns_the_same_model_and_card(store, saved):
    model, card = store.load(saved.model_id)
    query = pd.DataFrame({"site_id": ["a", "new"], "residue_type": ["r", "r"]})
    pd.testing.assert_frame_equal(model.predict_distribution(query), _small_model().predict_distribution(query))
    assert card == saved.card == json.loads(saved.card_path.read_text())
    assert set(card) == {"model_id", "created_utc", "schema", "element", "note", "artifact"}
    assert saved.directory == store.root / "ga" / saved.model_id
    assert card["artifact"]["bytes"] == saved.artifact_path.stat().st_size


def test_load_by_path_accepts_the_artifact_its_folder_and_a_path_relative_to_the_root(store, saved):
    for path in (saved.artifact_path, saved.directory, Path("ga") / saved.model_id / MODEL_FILE):
        model, card = store.load_path(path)
        assert isinstance(model, HierarchicalLogGrade) and card["model_id"] == saved.model_id


def test_saving_the_same_content_again_keeps_one_model_and_refreshes_its_time(store, saved):
    again = store.save(_small_model(), {"element": "ga", "note": "tiny"})
    assert again.model_id == saved.model_id
    assert again.card["created_utc"] >= saved.card["created_utc"]
    assert [card["model_id"] for card in store.cards()] == [saved.model_id]
    store.verify(saved.model_id)  # the refreshed time is outside the hashed content


def test_real_element_fit_round_trips(tmp_path, prism):
    _, fit, _, sites = prism
    store = ModelStore(tmp_path / "store")
    saved = store.save(fit, element_card(fit, {"n_draws": 60, "seed": 3}))
    loaded, card = store.load(saved.model_id)
    pd.testing.assert_frame_equal(site_distributions(loaded, sites), site_distributions(fit, sites))
    assert set(card) == CARD_KEYS


# --------------------------------------------------------------------------------------------
# Model cards


def test_card_records_data_hash_features_parameters_metrics_and_versions(prism):
    _, fit, _, _ = prism
    card = element_card(fit, {"composite_length_m": 1.5, "seed": 3})
    json.dumps(card, allow_nan=False)  # strict JSON: no NaN, no numpy types
    assert card["element"] == "ga"
    assert card["training_data"]["sha256"] == training_data_sha256(fit.composites)
    assert card["training_data"]["rows"] == len(fit.composites) and card["training_data"]["sites"] == 2
    assert card["model_form"]["site_model"] == "hierarchical"
    block_models = card["model_form"]["block_models"]  # P1 and P3 have block models
    assert sum(block_models.values()) == 2 and set(block_models) <= {"shrunk_mean", "log_gp", "normal_score_gp"}
    assert card["features"]["site_model"] == ["residue_type"]
    assert card["features"]["block_model"] == ["x_m", "y_m", "depth_m"]
    assert "bauxite_residue" in card["parameters"]["site_model"]["prior_log_mean"]
    assert card["parameters"]["fit_options"] == {"composite_length_m": 1.5, "seed": 3}
    assert set(card["parameters"]["block_models"]) == {"P1", "P3"}
    within = {row["method"]: row for row in card["metrics"]["within_site"]}
    assert {"residua", "type_mean", "idw", "ordinary_kriging"} <= set(within)
    assert {"rmse", "mae", "bias", "r2", "coverage80"} <= set(within["residua"])
    assert {"python", "numpy", "scikit-learn", "pykrige", "residua"} <= set(card["library_versions"])
    assert card["library_versions"]["residua"].startswith("residua")


def test_training_hash_is_identical_for_the_same_data_and_changes_with_it(tmp_path, prism):
    _, first, second, _ = prism
    assert element_card(first)["training_data"]["sha256"] == element_card(second)["training_data"]["sha256"]
    changed_drop = write_prism_drop(tmp_path / "changed")
    samples = pd.read_csv(changed_drop / "samples.csv", dtype=str, keep_default_na=False)
    samples.loc[0, "ga_ppm"] = str(float(samples.loc[0, "ga_ppm"]) + 1.0)  # one assay, 1 ppm higher
    samples.to_csv(changed_drop / "samples.csv", index=False)
    changed, _ = _fit(changed_drop)
    assert element_card(changed)["training_data"]["sha256"] != element_card(first)["training_data"]["sha256"]


@pytest.mark.parametrize(
    "variant",
    [
        lambda t: t.iloc[::-1],  # row order
        lambda t: t[t.columns[::-1]],  # column order
        lambda t: t.set_axis(range(100, 100 + len(t))),  # index
    ],
    ids=["rows", "columns", "index"],
)
def test_training_hash_ignores_order_and_index(variant):
    table = pd.DataFrame({"site_id": ["a", "b", "c"], "log_grade": [0.1, np.nan, 2.0], "bdl": [False, True, False]})
    assert training_data_sha256(variant(table)) == training_data_sha256(table)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.assign(log_grade=[0.1, np.nan, 2.0000000001]),  # a last-digit change
        lambda t: t.assign(log_grade=[0.1, 0.0, 2.0]),  # missing -> 0 is a change
        lambda t: t.rename(columns={"log_grade": "grade"}),  # a renamed column
        lambda t: t.iloc[:2],  # a dropped row
    ],
    ids=["value", "missing", "column", "row"],
)
def test_training_hash_changes_with_content(change):
    table = pd.DataFrame({"site_id": ["a", "b", "c"], "log_grade": [0.1, np.nan, 2.0], "bdl": [False, True, False]})
    assert training_data_sha256(change(table)) != training_data_sha256(table)


# --------------------------------------------------------------------------------------------
# Refusals


def test_tampered_artifact_is_refused_and_not_unpickled(tmp_path, store, saved):
    marker = tmp_path / "UNPICKLED"
    _plant_pickle(saved.artifact_path, marker)  # a different pickle in place of the saved one
    with pytest.raises(ModelStoreError, match="SHA-256 .* but its card records"):
        store.load(saved.model_id)
    with pytest.raises(ModelStoreError, match="SHA-256"):
        store.verify(saved.model_id)
    assert not marker.exists()


def test_a_card_edited_to_match_a_new_artifact_is_refused(tmp_path, store, saved):
    import hashlib

    marker = tmp_path / "UNPICKLED"
    _plant_pickle(saved.artifact_path, marker)
    card = json.loads(saved.card_path.read_text())
    card["artifact"]["sha256"] = hashlib.sha256(saved.artifact_path.read_bytes()).hexdigest()
    saved.card_path.write_text(json.dumps(card))
    with pytest.raises(ModelStoreError, match="no longer hashes to its id"):
        store.load(saved.model_id)
    assert not marker.exists()


def test_missing_card_is_refused(store, saved):
    saved.card_path.unlink()
    with pytest.raises(ModelStoreError, match="has no card.json"):
        store.load(saved.model_id)


def test_a_pickle_outside_the_store_is_refused(tmp_path, store, saved):
    marker = tmp_path / "UNPICKLED"
    outside = _plant_pickle(tmp_path / "drop" / "model.joblib", marker)
    with pytest.raises(ModelStoreError, match="outside the model store"):
        store.load_path(outside)
    with pytest.raises(ModelStoreError, match="outside the model store"):
        store.load_path(Path("..") / "drop" / "model.joblib")  # relative to the root, climbing out
    assert not marker.exists()


def test_a_valid_model_copied_out_of_the_store_is_refused(tmp_path, store, saved):
    """Card and hash agree, but the copy lies in a data folder: never loaded from there."""
    copy = tmp_path / "drop" / "ga" / saved.model_id
    copy.mkdir(parents=True)
    for name in (MODEL_FILE, CARD_FILE):
        (copy / name).write_bytes((saved.directory / name).read_bytes())
    with pytest.raises(ModelStoreError, match="outside the model store"):
        store.load_path(copy / MODEL_FILE)


def test_a_symlink_escaping_the_store_is_refused(tmp_path, store, saved):
    marker = tmp_path / "UNPICKLED"
    outside = _plant_pickle(tmp_path / "drop" / "evil.pkl", marker)
    saved.artifact_path.unlink()
    saved.artifact_path.symlink_to(outside)
    with pytest.raises(ModelStoreError, match="outside the model store"):
        store.load(saved.model_id)
    with pytest.raises(ModelStoreError, match="outside the model store"):
        store.load_path(saved.artifact_path)
    assert not marker.exists()


def test_a_symlinked_element_folder_leading_out_is_refused(tmp_path, store, saved):
    elsewhere = tmp_path / "elsewhere"
    (store.root / "ga").rename(elsewhere)
    (store.root / "ga").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ModelStoreError, match="outside the model store"):
        store.load(saved.model_id)
    assert store.cards() == []  # listing does not follow it either


def test_a_symlink_inside_the_store_is_refused(store, saved):
    alias = store.root / "ga" / ("ga-" + "0" * 16)
    alias.symlink_to(saved.directory, target_is_directory=True)
    with pytest.raises(ModelStoreError, match="symlink"):
        store.load_path(alias / MODEL_FILE)


@pytest.mark.parametrize(
    "model_id",
    ["../ga-0123456789abcdef", "ga-0123456789abcdef/../../x", "GA-0123456789ABCDEF", "ga", "", "ga-01234567\x00"],
)
def test_malformed_model_ids_are_refused(store, model_id):
    with pytest.raises(ModelStoreError, match="is not of the form"):
        store.load(model_id)


def test_paths_outside_the_layout_are_refused(store, saved):
    with pytest.raises(ModelStoreError, match="is not a stored model"):
        store.load_path(saved.card_path)
    with pytest.raises(ModelStoreError, match="is not a stored model"):
        store.load_path(store.root / "ga")
    with pytest.raises(ModelStoreError, match="no model at"):
        store.load_path(store.root / "ga" / ("ga-" + "f" * 16) / MODEL_FILE)


@pytest.mark.parametrize("where", ["root inside data", "data inside root", "root inside out"])
def test_a_store_overlapping_data_or_outputs_is_refused(tmp_path, where):
    data, out = tmp_path / "drop", tmp_path / "out"
    root = {"root inside data": data / "models", "data inside root": tmp_path, "root inside out": out / "models"}[where]
    with pytest.raises(ModelStoreError, match="overlaps"):
        ModelStore(root, forbidden=(data, out))


@pytest.mark.parametrize("element", ["../ga", "GA", "", None, "ga/../te"])
def test_invalid_element_is_refused(store, saved, element):
    with pytest.raises(ModelStoreError, match="not 1-8 lowercase letters"):
        store.save(_small_model(), {"element": element})
    with pytest.raises(ModelStoreError, match="not 1-8 lowercase letters"):
        store.prune(element, keep=1)
    assert [card["model_id"] for card in store.cards()] == [saved.model_id]


# --------------------------------------------------------------------------------------------
# Listing and retention


def test_prune_keeps_the_newest_per_element_only(store):
    ids = [store.save(_small_model(), {"element": "ga", "run": run}).model_id for run in range(4)]
    te = store.save(_small_model(), {"element": "te"}).model_id
    (store.root / "ga" / ".tmp-leftover").mkdir()
    assert sorted(store.prune("ga", keep=2)) == sorted(ids[:2])
    assert [card["model_id"] for card in store.cards("ga")] == ids[:1:-1]  # newest first
    assert [card["model_id"] for card in store.cards("te")] == [te]
    assert not (store.root / "ga" / ".tmp-leftover").exists()
    with pytest.raises(ModelStoreError, match="keep at least 1"):
        store.prune("ga", keep=0)


def test_cards_of_an_empty_or_missing_store(tmp_path):
    assert ModelStore(tmp_path / "nowhere").cards() == []
    assert not (tmp_path / "nowhere").exists()


def test_store_files_are_only_json_and_joblib(store, saved):
    names = {path.name for path in store.root.rglob("*") if path.is_file()}
    assert names == {MODEL_FILE, CARD_FILE}
    assert not any(os.path.islink(path) for path in store.root.rglob("*"))
