"""A tonnage far from the reported tonnes holds the site out of the ranking until a reviewer accepts it."""

import json
import re

import dagster as dg
import geopandas as gpd
import pandas as pd
import pytest

from residua.assets.settings import run_settings
from residua.geodata.reviews import REVIEWS_FILE, append_review
from residua.pipelines.definitions import build_definitions
from tests.drops import write_prism_drop

REVIEW_ASSETS = ("reviews", "site_rankings", "processing_hubs", "inventory", "review_report", "release")


@pytest.fixture(scope="module")
def held_run(tmp_path_factory):
    """The prism drop with P2 reported at a tenth of its DEM tonnage and P1 at its own, run once end to end."""
    root = tmp_path_factory.mktemp("tonnage_hold")
    drop = write_prism_drop(root / "drop")
    sites = gpd.read_file(drop / "sites.gpkg")
    sites["dry_density_t_m3"] = 1.0  # P2: 200 m x 200 m x 4 m = 160,000 t
    sites["reported_tonnes"] = sites["site_id"].map({"P1": 900_000.0, "P2": 16_000.0})  # P1: 300 x 300 x 10
    sites.to_file(drop / "sites.gpkg", layer="sites", engine="pyogrio")
    settings = run_settings(data_dir=str(drop), out_dir=str(root / "out"), n_draws=200, sensitivity_draws=50,
                               formats=["gpkg", "csv"])  # fmt: skip
    job = build_definitions(settings).resolve_job_def("refresh_job")
    instance = dg.DagsterInstance.ephemeral(tempdir=str(root / "dagster_home"))
    assert job.execute_in_process(instance=instance).success
    return drop, root / "out", job, instance


def _page_sites(out) -> dict[str, dict]:
    page = (out / "report.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="residua-data">(.*?)</script>', page, re.S).group(1))
    return {f["properties"]["site_id"]: f["properties"] for f in data["sites"]["features"]}


def test_the_far_site_is_published_unranked_with_both_tonnages_the_ratio_and_the_fix(held_run):
    _, out, _, _ = held_run
    ranked = gpd.read_file(out / "inventory.gpkg", layer="sites_ranked").set_index("site_id")
    assert sorted(ranked.index) == ["P1", "P2", "P3"]  # nothing disappears
    assert pd.isna(ranked.loc["P2", "rank"]) and sorted(ranked["rank"].dropna().astype(int)) == [1, 2]
    assert ranked.loc["P2", "review_status"] == "held for review"
    assert ranked.loc["P2", "tonnes_vs_reported"] == pytest.approx(10.0, rel=0.01)
    reason = ranked.loc["P2", "held_reason"]
    assert re.search(r"modelled 1[56]\d,\d{3} t \(P50, dem_difference\) is 10\.\d\dx the reported 16,000 t", reason)
    assert "outside 0.5-2x" in reason and "record 'accept-tonnage'" in reason
    assert ranked.loc["P1", "held_reason"] == "" and ranked.loc["P1", "review_status"] == "unreviewed"
    csv = pd.read_csv(out / "sites_ranked.csv", keep_default_na=False).set_index("site_id")
    assert csv.loc["P2", "rank"] == "" and csv.loc["P2", "held_reason"] == reason
    page = _page_sites(out)
    assert page["P2"]["rank"] is None and page["P2"]["review_status"] == "held for review"
    assert page["P2"]["held_reason"] == reason
    fed = {site for ids in gpd.read_file(out / "inventory.gpkg", layer="hubs")["site_ids"] for site in ids.split(",")}
    assert "P2" not in fed  # no hub counts a tonnage nobody has accepted


def test_accept_tonnage_ranks_the_site_on_the_next_run(held_run):
    drop, out, job, instance = held_run
    append_review(drop / REVIEWS_FILE, "P2", "accept", "grades fine", "A. Rao")
    assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(a) for a in REVIEW_ASSETS]).success
    ranked = gpd.read_file(out / "inventory.gpkg", layer="sites_ranked").set_index("site_id")
    assert pd.isna(ranked.loc["P2", "rank"]) and "only 'accept-tonnage' does" in ranked.loc["P2", "held_reason"]

    append_review(drop / REVIEWS_FILE, "P2", "accept-tonnage", "reported figure predates the raise", "A. Rao")
    assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(a) for a in REVIEW_ASSETS]).success
    ranked = gpd.read_file(out / "inventory.gpkg", layer="sites_ranked").set_index("site_id")
    assert ranked["rank"].notna().all() and ranked.loc["P2", "review_status"] == "tonnage accepted"
    assert ranked.loc["P2", "held_reason"] == ""
    assert _page_sites(out)["P2"]["review_status"] == "tonnage accepted"
