"""The review page's release and plan sections: changes since the last release, each site's lineage, the hub
plan and the sampling plan.

The inventories are the four-site ones of :mod:`tests.test_review_page`, with ``changes`` and
``lineage`` tables as the inventory asset writes them (:func:`residua.geodata.releases.diff_releases`,
:func:`residua.geodata.releases.site_lineage`), ``hubs`` / ``hub_assignments`` layers from
:func:`residua.models.hub_plan.plan_network` and a ``sampling_plan`` layer from
:func:`residua.models.sampling_plan.plan_holes`. The browser test of these sections is in
:mod:`tests.test_review_browser`.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

from residua.geodata.releases import CHANGE_COLUMNS, site_lineage
from residua.geodata.review_page import (
    EMPTY_SAMPLING_PLAN,
    NO_CHANGE_OR_RELEASE,
    NO_RELEASE,
    NO_SAMPLING_PLAN,
    build_review_page,
    changes_payload,
    hubs_payload,
    lineage_payload,
    page_payload,
    sampling_plan_payload,
)
from residua.models.hub_plan import HubCosts, HubPlan, plan_network
from residua.models.sampling_plan import CAMPAIGN_COLUMNS, plan_holes
from residua.models.simulation import ResourceDraws
from tests.test_review_page import SITES, _embedded, write_inventory

SURFACE_DEM = "rasters/RM-001_surface.tif"
#: SHA-256 of the inputs by path in the data drop, as geodata.datadrop.hash_inputs gives them.
INPUT_HASHES = {SURFACE_DEM: "a1" * 32, "rasters/covariates/wetness.tif": "c3" * 32}
GA_MODEL = "ga-0123456789abcdef"
#: Text that would run as script if the page put it into HTML unescaped.
HOSTILE = "</script><script>window.pwned = 1</script><img src=x onerror=alert(1)>"


def changes_table(
    since: str = "r0007", site: str = "FA-002", cause: str = "model change: ga ga-1 -> ga-2"
) -> pd.DataFrame:
    """A ``changes`` table of two sites: RM-001 moved up with new samples, ``site`` only through others."""
    rows = [
        ("RM-001", "rank", "3", "1", "up 2", "new samples: 1 new hole (10 -> 12 samples)", True),
        ("RM-001", "tonnes P50", "1.5e+06", "2e+06", "+33%", "new samples: 1 new hole (10 -> 12 samples)", True),
        (site, "ga recoverable t P50", "4", "5", "+25%",
         f"only through other sites (RM-001): no input of this site changed; {cause}", False),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=list(CHANGE_COLUMNS)).assign(since_release=since)


def lineage_table(gpkg: Path, models: dict[str, str] | None = None) -> pd.DataFrame:
    """The ``lineage`` table of the published sites and samples, as site_lineage writes it."""
    sites = gpd.read_file(gpkg, layer="sites_ranked", engine="pyogrio")
    sites = sites.assign(source_row=range(1, len(sites) + 1), surface_dem=sites["site_id"].map({"RM-001": SURFACE_DEM}))
    samples = gpd.read_file(gpkg, layer="samples", engine="pyogrio")
    return site_lineage(sites, samples, INPUT_HASHES, sites_file="sites.gpkg", models=models)


def write_release_inventory(
    out: Path, changes: pd.DataFrame | None = None, lineage: bool = True, models: dict[str, str] | None = None
) -> Path:
    """The four-site inventory with a ``changes`` table (when given) and a ``lineage`` table (when asked)."""
    gpkg = write_inventory(out)
    tables = {"changes": changes, "lineage": lineage_table(gpkg, models) if lineage else None}
    for name, table in tables.items():
        if table is not None:
            pyogrio.write_dataframe(table, gpkg, driver="GPKG", layer=name, append=True)
    return gpkg


def test_changes_section_names_each_changed_site_and_its_causes(tmp_path):
    gpkg = write_release_inventory(tmp_path / "out", changes_table())

    changes = _embedded(build_review_page(gpkg))["changes"]

    assert changes["status"] == "listed" and changes["since_release"] == "r0007"
    assert [site["site_id"] for site in changes["sites"]] == ["RM-001", "FA-002"]
    rm, fa = changes["sites"]
    assert [c["change"] for c in rm["changes"]] == ["rank", "tonnes P50"]
    assert rm["changes"][0] == {"change": "rank", "old": "3", "new": "1", "detail": "up 2"}
    assert rm["causes"] == ["new samples: 1 new hole (10 -> 12 samples)"]  # once, though on two rows
    assert rm["direct"] and not fa["direct"]
    assert fa["causes"] == ["only through other sites (RM-001): no input of this site changed",
                            "model change: ga ga-1 -> ga-2"]  # fmt: skip
    assert changes["summary"]["sites_changed"] == 2 and changes["summary"]["sites_through_others"] == 1


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (None, NO_RELEASE),  # an inventory without a changes table
        (changes_table().iloc[:0], NO_CHANGE_OR_RELEASE),  # empty: it does not say against which release
    ],
    ids=["missing", "empty"],
)
def test_without_changes_the_section_says_why_in_one_line(tmp_path, changes, expected):
    gpkg = write_release_inventory(tmp_path / "out", changes)

    section = page_payload(gpkg)["changes"]

    assert section["status"] == ("absent" if changes is None else "none")
    assert section["sites"] == [] and section["message"] == expected
    assert section["message"].strip() and "\n" not in section["message"]


def test_no_change_names_the_release_compared_with_when_known():
    empty = changes_table().iloc[:0]
    assert changes_payload(empty, {"since_release": "r0012"})["message"] == (
        "No site changed beyond the threshold since release r0012."
    )
    assert changes_payload(empty)["since_release"] == ""


def test_a_first_release_says_there_is_nothing_to_compare_with():
    empty = changes_table().iloc[:0]
    first = changes_payload(empty, {"since_release": "none"})  # as assets.publish writes it for a first release
    assert first["message"] == "No earlier release of this output folder to compare with."
    assert first["since_release"] == ""


def test_lineage_block_has_the_sample_count_hashes_and_model_ids(tmp_path):
    gpkg = write_release_inventory(tmp_path / "out", models={"ga": GA_MODEL})

    lineage = page_payload(gpkg)["lineage"]

    assert lineage["status"] == "ok" and set(lineage["by_site"]) == {"RM-001", "FA-002", "ZL-003", "CS-004"}
    site = lineage["by_site"]["RM-001"]
    assert (site["n_samples"], site["n_holes"]) == (12, 6)  # six holes of two intervals each
    assert site["grade_models"] == {"ga": GA_MODEL} and site["grade_models_source"] == "lineage"
    assert site["surface_dem"] == SURFACE_DEM and site["surface_dem_sha256"] == INPUT_HASHES[SURFACE_DEM]
    assert site["covariates"] == {"rasters/covariates/wetness.tif": "c3" * 32}  # parsed from its JSON text
    assert len(site["samples_sha256"]) == 64 and len(site["hole_sha256"]) == 6
    assert lineage["by_site"]["ZL-003"]["n_samples"] == 0


def test_lineage_names_the_model_cards_when_the_table_records_no_model(tmp_path):
    gpkg = write_release_inventory(tmp_path / "out")  # the pipeline's lineage records no grade model
    (tmp_path / "out" / "model_cards").mkdir()
    (tmp_path / "out" / "model_cards" / "ga.json").write_text(json.dumps({"model_id": GA_MODEL, "element": "ga"}))

    site = page_payload(gpkg)["lineage"]["by_site"]["FA-002"]

    assert site["grade_models"] == {"ga": GA_MODEL} and site["grade_models_source"] == "model cards"


def test_without_lineage_table_the_block_says_so(tmp_path):
    gpkg = write_release_inventory(tmp_path / "out", lineage=False)
    assert page_payload(gpkg)["lineage"] == {"status": "absent", "message": "No lineage table in this inventory.",
                                             "by_site": {}}  # fmt: skip
    assert (
        lineage_payload(pd.DataFrame({"site_id": ["A"], "covariates": ["not json"]}))["by_site"]["A"]["covariates"]
        == {}
    )


def test_hostile_site_ids_and_causes_are_escaped(tmp_path):
    hostile_site = f"<script>alert('{HOSTILE}')</script>"
    gpkg = write_release_inventory(tmp_path / "out", changes_table(site=hostile_site, cause=HOSTILE))
    plain = build_review_page(write_release_inventory(tmp_path / "plain", changes_table()))

    page = build_review_page(gpkg)

    assert page.count("<script") == plain.count("<script") and page.count("</script") == plain.count("</script")
    assert "<script>window.pwned" not in page and "\\u003cscript\\u003ewindow.pwned" in page
    assert page.count("<img") == plain.count("<img")
    changes = _embedded(page)["changes"]
    assert changes["sites"][1]["site_id"] == hostile_site  # the text itself survives, as data
    assert changes["sites"][1]["causes"][-1] == HOSTILE


# --- the hub plan ---------------------------------------------------------------------------------

#: Given hubs: H-WEST in reach of RM-001, FA-002 and CS-004, H-EAST of ZL-003, H-FAR of none (left closed).
GIVEN_HUBS = pd.DataFrame({"hub_id": ["H-WEST", "H-EAST", "H-FAR"], "name": ["West plant", HOSTILE, "Far away"],
                           "lon": [79.9, 81.2, 75.0], "lat": [21.0, 20.6, 15.0]})  # fmt: skip
#: Mean tonnes and value per site: CS-004's value does not pay its haul, so it feeds no hub.
SITE_MEANS = {"RM-001": (2e6, 50e6), "FA-002": (1e6, 30e6), "ZL-003": (5e5, 20e6), "CS-004": (1e6, 1e5)}
HUB_COSTS = HubCosts(fixed_cost_usd=5e6, capacity_t_per_year=None, min_feed_t=0.0)
#: Numbers of an opened hub the page shows, as the hubs layer holds them.
HUB_NUMBERS = ("feed_t_p10", "feed_t_p50", "feed_t_p90", "feed_ga_t_p50", "feed_te_t_p50", "feed_pgm_t_p50",
               "net_value_usd_p10", "net_value_usd_p50", "net_value_usd_p90", "net_value_usd_mean")  # fmt: skip


def hub_plan(n_draws: int = 40) -> HubPlan:
    """The hub plan of the four test sites on lognormal draws around :data:`SITE_MEANS`."""
    rng = np.random.default_rng(7)
    ids = list(SITE_MEANS)
    spread = rng.lognormal(0.0, 0.3, (len(ids), n_draws))
    tonnes = np.array([SITE_MEANS[s][0] for s in ids])[:, None] * spread
    value = np.array([SITE_MEANS[s][1] for s in ids])[:, None] * spread
    metal = {"ga": value / 1e6, "te": value / 2e7, "pgm": value / 5e7}
    draws = ResourceDraws(site_ids=np.array(ids), tonnes=tonnes, mean_grade={}, above={}, contained=metal,
                          recoverable=metal, value=value)  # fmt: skip
    sites = pd.DataFrame({"site_id": ids, "lon": [SITES[s][0] for s in ids], "lat": [SITES[s][1] for s in ids]})
    return plan_network(sites, value.mean(axis=1), draws, given=GIVEN_HUBS, costs=HUB_COSTS)


def write_hub_inventory(out: Path, hubs: bool = True, assignments: bool = True, plan: HubPlan | None = None) -> Path:
    """The four-site inventory with the hub plan's layers (those asked for), infinities as missing as published."""
    gpkg = write_inventory(out)
    plan = plan or hub_plan()
    layers = {"hubs": plan.hubs if hubs else None, "hub_assignments": plan.assignments if assignments else None}
    for name, layer in layers.items():
        if layer is not None:
            numbers = layer.select_dtypes("number").columns
            layer = layer.assign(**{c: layer[c].replace([np.inf, -np.inf], np.nan) for c in numbers})
            pyogrio.write_dataframe(layer, gpkg, driver="GPKG", layer=name, append=True)
    return gpkg


def test_hubs_section_lists_the_opened_hubs_with_their_numbers(tmp_path):
    plan = hub_plan()
    gpkg = write_hub_inventory(tmp_path / "out", plan=plan)

    section = _embedded(build_review_page(gpkg))["hubs"]

    assert section["status"] == "ok" and section["methods"] == ["milp"] and section["n_candidates"] == 3
    layer = plan.hubs.set_index("hub_id")
    assert set(layer.index[layer["opened"]]) == {"H-WEST", "H-EAST"}  # the fixture's plan, as designed
    opened = section["opened"]
    by_value = layer.loc[["H-WEST", "H-EAST"]].sort_values("net_value_usd_p50", ascending=False)
    assert [hub["hub_id"] for hub in opened] == list(by_value.index)  # highest net value P50 first
    for hub in opened:
        row = layer.loc[hub["hub_id"]]
        assert hub["n_assigned"] == row["n_assigned"] and hub["method"] == "milp"
        for column in HUB_NUMBERS:
            assert hub[column] == pytest.approx(row[column], rel=1e-12), column
        assert (hub["lon"], hub["lat"]) == pytest.approx((row.geometry.x, row.geometry.y))
    assert [hub["hub_id"] for hub in section["closed"]] == ["H-FAR"]
    assert section["net_value_usd_mean"] == pytest.approx(layer.loc[layer["opened"], "net_value_usd_mean"].sum())
    lines = {line["site_id"]: line for line in section["assignments"]}
    feeds = {"RM-001": "H-WEST", "FA-002": "H-WEST", "ZL-003": "H-EAST"}  # CS-004 feeds none
    assert {site: line["hub_id"] for site, line in lines.items()} == feeds
    fa = lines["FA-002"]
    assert fa["coordinates"] == [[SITES["FA-002"][0], SITES["FA-002"][1]], [79.9, 21.0]]  # site -> hub
    row = plan.assignments.set_index("site_id").loc["FA-002"]
    assert fa["road_km"] == pytest.approx(row["road_km"]) and fa["road_km"] == pytest.approx(1.3 * fa["geodesic_km"])
    assert fa["net_value_usd_mean"] == pytest.approx(row["net_value_usd_mean"])


@pytest.mark.parametrize(
    ("hubs", "assignments", "absent"),
    [(False, False, "hubs or hub_assignments"), (True, False, "hub_assignments")],
    ids=["no-hub-layers", "hubs-without-assignments"],
)
def test_without_hub_assignments_the_hubs_section_says_so_in_one_line(tmp_path, hubs, assignments, absent):
    gpkg = write_hub_inventory(tmp_path / "out", hubs=hubs, assignments=assignments)

    section = page_payload(gpkg)["hubs"]

    assert section["status"] == "absent" and section["opened"] == [] and section["assignments"] == []
    assert section["message"] == f"No hub plan in this inventory (no {absent} layer); re-run `residua run` to add one."
    assert "\n" not in section["message"]


def test_a_hubs_layer_from_before_the_hub_plan_is_stated_not_fatal(tmp_path):
    plan = hub_plan()
    old = HubPlan(plan.hubs[["hub_id", "name", "n_sites", "geometry"]], plan.assignments, plan.method, plan.status,
                  plan.seconds, plan.net_value_usd)  # fmt: skip
    section = page_payload(write_hub_inventory(tmp_path / "out", plan=old))["hubs"]
    assert section["status"] == "unrecognised" and "hubs.opened" in section["message"]
    assert "\n" not in section["message"] and section["opened"] == []
    assert hubs_payload(None, plan.assignments)["status"] == "absent"


def test_hostile_hub_text_is_escaped(tmp_path):
    plan = hub_plan()
    hubs = plan.hubs.assign(hub_id=plan.hubs["hub_id"].replace({"H-WEST": HOSTILE}), method=HOSTILE)
    assignments = plan.assignments.assign(hub_id=plan.assignments["hub_id"].replace({"H-WEST": HOSTILE}))
    hostile = HubPlan(hubs, assignments, plan.method, plan.status, plan.seconds, plan.net_value_usd)
    plain = build_review_page(write_hub_inventory(tmp_path / "plain", plan=plan))

    page = build_review_page(write_hub_inventory(tmp_path / "out", plan=hostile))

    assert page.count("<script") == plain.count("<script") and page.count("</script") == plain.count("</script")
    assert page.count("<img") == plain.count("<img") and "<script>window.pwned" not in page
    section = _embedded(page)["hubs"]
    assert {hub["hub_id"] for hub in section["opened"]} == {HOSTILE, "H-EAST"}  # the text itself survives, as data
    assert {hub["name"] for hub in section["opened"]} == {"West plant", HOSTILE} and section["methods"] == [HOSTILE]
    assert {line["hub_id"] for line in section["assignments"]} == {HOSTILE, "H-EAST"}


# --- the sampling plan ----------------------------------------------------------------------------

#: The plan's campaigns as models.sampling_plan.plan_campaigns returns them: 3 holes at FA-002 first, then 6 at
#: ZL-003 (costs 3 x 2,500 + 15,000 and 6 x 2,500 + 15,000 USD, the placeholder defaults).
CAMPAIGNS = pd.DataFrame(
    [(1, "FA-002", 3, 22_500.0, 0.12, 0.55, 0.45, 0.21, 0.9, 0.78, 3.1e7, 1.7e7, "G3", 0.4),
     (2, "ZL-003", 6, 30_000.0, 0.05, 0.3, 0.3, 0.22, 0.9, 0.85, 2.4e7, 1.5e7, "G4", 1.0)],
    columns=list(CAMPAIGN_COLUMNS),
)  # fmt: skip
#: Planned depth per site, as models.sampling_plan.planned_depth gives it.
PLAN_DEPTH = pd.DataFrame({"site_id": ["FA-002", "ZL-003"], "planned_depth_m": [4.5, 12.0],
                           "depth_source": ["site thickness (P50 tonnes / density / area)",
                                            "residue type thickness prior (mode)"]})  # fmt: skip


def sampling_plan(gpkg: Path, campaigns: pd.DataFrame = CAMPAIGNS) -> gpd.GeoDataFrame:
    """The planned holes of ``campaigns`` in the published footprints, away from the published samples."""
    footprints = gpd.read_file(gpkg, layer="sites_ranked", engine="pyogrio").set_index("site_id").geometry
    samples = gpd.read_file(gpkg, layer="samples", engine="pyogrio").drop_duplicates(["site_id", "hole_id"])
    collars = pd.DataFrame({"site_id": samples["site_id"], "lon": samples.geometry.x, "lat": samples.geometry.y})
    return plan_holes(campaigns, footprints, collars, PLAN_DEPTH)


def write_plan_inventory(out: Path, plan: bool = True, campaigns: pd.DataFrame = CAMPAIGNS) -> Path:
    """The four-site inventory with a ``sampling_plan`` layer (when asked), its rows last campaign first."""
    gpkg = write_inventory(out)
    if plan:
        holes = sampling_plan(gpkg, campaigns)
        pyogrio.write_dataframe(holes.iloc[::-1], gpkg, driver="GPKG", layer="sampling_plan", append=True)
    return gpkg


def test_sampling_plan_section_lists_the_campaigns_by_priority_with_their_holes(tmp_path):
    gpkg = write_plan_inventory(tmp_path / "out")
    layer = gpd.read_file(gpkg, layer="sampling_plan", engine="pyogrio")

    section = _embedded(build_review_page(gpkg))["sampling_plan"]

    assert section["status"] == "ok" and section["message"] == ""
    assert (section["n_holes"], section["n_sites"]) == (9, 2)
    assert [c["site_id"] for c in section["campaigns"]] == ["FA-002", "ZL-003"]  # by priority, not layer order
    for campaign, expected in zip(section["campaigns"], CAMPAIGNS.to_dict("records")):
        assert campaign["holes"] == expected["holes_in_campaign"]
        assert {key: campaign[key] for key in expected} == pytest.approx(expected)
    fa = section["campaigns"][0]
    assert (fa["planned_depth_m"], fa["depth_source"]) == (4.5, "site thickness (P50 tonnes / density / area)")
    assert section["cost_usd"] == 52_500.0  # once per campaign, not once per hole
    holes = section["holes"]
    assert [hole["hole_id"] for hole in holes[:4]] == ["PLAN-FA-002-01", "PLAN-FA-002-02", "PLAN-FA-002-03",
                                                       "PLAN-ZL-003-01"]  # fmt: skip
    by_id = layer.set_index("hole_id")
    for hole in holes:
        row = by_id.loc[hole["hole_id"]]
        assert (hole["site_id"], hole["priority"], hole["planned_depth_m"]) == (row["site_id"], row["priority"],
                                                                              row["planned_depth_m"])  # fmt: skip
        assert (hole["lon"], hole["lat"]) == pytest.approx((row.geometry.x, row.geometry.y), abs=1e-6)
        assert hole["nearest_hole_m"] == pytest.approx(row["nearest_hole_m"])


def test_without_a_sampling_plan_layer_the_section_says_so_in_one_line(tmp_path):
    gpkg = write_plan_inventory(tmp_path / "out", plan=False)  # an inventory from before the sampling plan

    section = page_payload(gpkg)["sampling_plan"]

    assert section["status"] == "absent" and section["campaigns"] == [] and section["holes"] == []
    assert section["message"] == NO_SAMPLING_PLAN and "(no sampling_plan layer)" in section["message"]
    assert "\n" not in section["message"]


def test_an_empty_sampling_plan_says_that_no_campaign_gains_enough(tmp_path):
    gpkg = write_plan_inventory(tmp_path / "out", campaigns=CAMPAIGNS.iloc[:0])

    section = page_payload(gpkg)["sampling_plan"]

    assert "sampling_plan" in {name for name, _ in pyogrio.list_layers(gpkg)}  # the layer is there, without rows
    assert section["status"] == "empty" and section["message"] == EMPTY_SAMPLING_PLAN
    assert (section["n_holes"], section["campaigns"], section["holes"], section["cost_usd"]) == (0, [], [], None)
    assert "\n" not in section["message"] and "minimum gain" in section["message"]


def test_a_sampling_plan_without_priorities_is_stated_not_fatal(tmp_path):
    plan = sampling_plan(write_inventory(tmp_path / "out")).drop(columns="priority")

    section = sampling_plan_payload(plan)

    assert section["status"] == "unrecognised" and "sampling_plan.priority" in section["message"]
    assert "\n" not in section["message"] and section["holes"] == []


def test_hostile_planned_hole_text_is_escaped(tmp_path):
    plain = build_review_page(write_plan_inventory(tmp_path / "plain"))
    gpkg = write_plan_inventory(tmp_path / "out")
    holes = gpd.read_file(gpkg, layer="sampling_plan", engine="pyogrio")
    hostile = holes.assign(hole_id=holes["hole_id"].replace({"PLAN-FA-002-01": HOSTILE}), depth_source=HOSTILE)
    pyogrio.write_dataframe(hostile, gpkg, driver="GPKG", layer="sampling_plan")

    page = build_review_page(gpkg)

    assert page.count("<script") == plain.count("<script") and page.count("</script") == plain.count("</script")
    assert page.count("<img") == plain.count("<img") and "<script>window.pwned" not in page
    section = _embedded(page)["sampling_plan"]
    assert HOSTILE in {hole["hole_id"] for hole in section["holes"]}  # the text itself survives, as data
    assert {campaign["depth_source"] for campaign in section["campaigns"]} == {HOSTILE}
