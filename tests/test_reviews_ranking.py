"""Reviewers' decisions reach the ranking and the inventory; a review change re-runs only the ranking and publish."""

from pathlib import Path

import dagster as dg
import geopandas as gpd
import pandas as pd
import pytest

from residua.assets.settings import run_settings
from residua.geodata.reviews import REVIEWS_FILE, append_review, read_reviews
from residua.pipelines.definitions import build_definitions
from tests.drops import write_prism_drop

MODEL_ASSETS = ("grade_models", "grade_estimates", "resource_estimates")
REVIEW_ASSETS = ("reviews", "site_rankings", "processing_hubs", "inventory", "release")


def _job(drop: Path, out: Path) -> dg.JobDefinition:
    settings = run_settings(data_dir=str(drop), out_dir=str(out), n_draws=200, sensitivity_draws=50,
                               formats=["gpkg", "csv"])  # fmt: skip
    return build_definitions(settings).resolve_job_def("refresh_job")


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


@pytest.fixture(scope="module")
def reviewed_run(tmp_path_factory):
    """The prism drop with a history of decisions and two malformed rows, run once end to end."""
    root = tmp_path_factory.mktemp("reviews")
    drop = write_prism_drop(root / "drop")
    path = drop / REVIEWS_FILE
    append_review(path, "P1", "accept", "looks good", "A. Rao")
    append_review(path, "P1", "exclude", "pond capped in 2019", "B. Singh")  # latest for P1
    append_review(path, "P3", "needs-data", "assay the lower bench", "A. Rao")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("P2,maybe,,A. Rao,2026-11-25T10:00:00+00:00\n")  # unknown decision (line 5)
        handle.write("P2,accept,,A. Rao,last tuesday\n")  # unreadable timestamp (line 6)
    instance = dg.DagsterInstance.ephemeral(tempdir=str(root / "dagster_home"))
    job = _job(drop, root / "out")
    result = job.execute_in_process(instance=instance)
    assert result.success
    return drop, root / "out", job, instance, result


def test_excluded_site_is_published_without_a_rank_and_with_its_reason(reviewed_run):
    _, out, _, _, _ = reviewed_run
    ranked = gpd.read_file(out / "inventory.gpkg", layer="sites_ranked").set_index("site_id")
    assert sorted(ranked.index) == ["P1", "P2", "P3"]  # nothing disappears
    assert pd.isna(ranked.loc["P1", "rank"])
    assert sorted(ranked["rank"].dropna().astype(int)) == [1, 2]
    assert ranked.loc["P1", "review_decision"] == "exclude"  # the latest decision wins over the earlier accept
    assert ranked.loc["P1", "excluded_reason"] == "pond capped in 2019"
    assert ranked.loc["P1", "reviewer"] == "B. Singh" and ranked.loc["P1", "review_count"] == 2
    assert ranked.loc["P3", "review_status"] == "needs data" and not pd.isna(ranked.loc["P3", "rank"])
    assert ranked.loc["P2", "review_status"] == "unreviewed"  # its two rows were both unusable
    assert pd.isna(ranked.loc["P1", "rank_stability_top10"]) and ranked.loc["P2", "rank_stability_top10"] == 1.0
    csv = pd.read_csv(out / "sites_ranked.csv").set_index("site_id")
    assert pd.isna(csv.loc["P1", "rank"]) and csv.loc["P1", "excluded_reason"] == "pond capped in 2019"


def test_history_is_kept_and_unusable_rows_are_quarantined_with_row_conservation(reviewed_run):
    drop, out, _, _, result = reviewed_run
    history = result.output_for_node("reviews").history
    assert history["decision"].tolist() == ["accept", "exclude", "needs-data"]
    quarantine = gpd.read_file(out / "inventory.gpkg", layer="quarantine")
    rejected = quarantine[quarantine["source"] == REVIEWS_FILE].sort_values("source_row")
    assert rejected["source_row"].tolist() == [5, 6]
    assert rejected["record_id"].tolist() == ["P2", "P2"]
    assert "decision is not one of accept, exclude, needs-data" in rejected["reason"].iloc[0]
    assert "timestamp is not ISO 8601" in rejected["reason"].iloc[1]
    rows_in = len(pd.read_csv(drop / REVIEWS_FILE))
    assert rows_in == len(history) + len(rejected) == 5


def test_excluded_sites_feed_no_hub(reviewed_run):
    _, out, _, _, _ = reviewed_run
    hubs = gpd.read_file(out / "inventory.gpkg", layer="hubs")
    assert len(hubs) >= 1 and hubs.crs.to_epsg() == 4326
    fed = {site for ids in hubs["site_ids"] for site in ids.split(",") if site}
    assert "P1" not in fed and fed <= {"P2", "P3"}


def test_nothing_upstream_of_the_ranking_depends_on_reviews():
    graph = build_definitions().resolve_asset_graph()
    downstream = {key.to_user_string() for key in dg.AssetSelection.assets("reviews").downstream().resolve(graph)}
    models = dg.AssetSelection.assets("resource_estimates", "grade_tonnage").upstream().resolve(graph)
    assert set(REVIEW_ASSETS) <= downstream
    assert not downstream & {key.to_user_string() for key in models}
    assert set(MODEL_ASSETS) <= {key.to_user_string() for key in models}  # the check above is not vacuous


def test_a_new_review_reruns_only_the_ranking_and_publish(reviewed_run):
    drop, out, job, instance, _ = reviewed_run
    append_review(drop / REVIEWS_FILE, "P1", "accept", "cap removed; re-surveyed", "B. Singh")
    selection = [dg.AssetKey(name) for name in REVIEW_ASSETS]
    result = job.execute_in_process(instance=instance, asset_selection=selection)
    assert result.success
    assert _materialized(result) == set(REVIEW_ASSETS)
    assert not _materialized(result) & set(MODEL_ASSETS)  # models were loaded, not refitted
    ranked = gpd.read_file(out / "inventory.gpkg", layer="sites_ranked").set_index("site_id")
    assert ranked["rank"].notna().all() and sorted(ranked["rank"].astype(int)) == [1, 2, 3]
    assert ranked.loc["P1", "review_status"] == "accepted" and ranked.loc["P1", "review_count"] == 3
    history, rejected = read_reviews(drop / REVIEWS_FILE)
    assert len(history) == 4 and len(rejected) == 2  # the file only grows: nothing was rewritten
