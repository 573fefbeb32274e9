"""The review map page (geodata.review_page) and its asset, on small inventories published in tmp_path.

``write_inventory`` builds a four-site inventory through the real ``publish_inventory``; the
browser and server tests reuse it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from residua.assets.publish import release
from residua.assets.review_report import review_report
from residua.assets.settings import run_settings
from residua.geodata.publish import metal_columns
from residua.geodata.review_page import (
    SCREENING_NOTE,
    SERVED_SLOT,
    ReviewPageError,
    _feature_collection,
    build_review_page,
    grade_tonnage_payload,
    is_synthetic,
    mark_served,
    page_payload,
)
from residua.geodata.reviews import append_review
from tests.drops import bare_drop
from tests.publishing import publish_inventory

#: A name that would end the inline script if the page did not escape its data.
HOSTILE_NAME = 'Pond </script><script>window.pwned = 1</script> & "quoted" <b>'
#: site_id -> (lon, lat, confidence, residue type, holes); CS-004 has no footprint (a point), as the README allows
SITES: dict[str, tuple[float, float, str, str, int]] = {
    "RM-001": (80.00, 21.00, "G2", "bauxite_residue", 6),
    "FA-002": (80.60, 21.40, "G3", "coal_fly_ash", 3),
    "ZL-003": (81.30, 20.50, "G4", "zinc_leach_residue", 0),
    "CS-004": (79.40, 20.70, "G4", "copper_smelter_slag", 0),
}


def _sites(synthetic: bool) -> gpd.GeoDataFrame:
    rows = []
    for rank, (site_id, (lon, lat, confidence, residue, holes)) in enumerate(SITES.items(), start=1):
        row: dict[str, object] = {column: 10.0 / rank for column in metal_columns()}
        row.update(
            site_id=site_id, name=HOSTILE_NAME if site_id == "CS-004" else f"{site_id} pond", residue_type=residue,
            rank=rank, score=1e8 / rank, confidence=confidence, confidence_words="words",
            unfc_code=330 + int(confidence[1]),
            tonnes_p10=1e6 / rank, tonnes_p50=2e6 / rank, tonnes_p90=4e6 / rank, value_usd_p10=1e7, value_usd_p50=2e7,
            value_usd_p90=4e7, confidence_weight=0.6, n_holes=holes, n_samples=2 * holes, state="Odisha",
            volume_method="dem_difference", data_origin="SYNTHETIC demo data" if synthetic else "user data",
            geometry=shapely.Point(lon, lat) if site_id == "CS-004"
            else shapely.box(lon, lat, lon + 0.006, lat + 0.005),
        )  # fmt: skip
        rows.append(row)
    return gpd.GeoDataFrame(rows, crs=4326)


def _samples() -> gpd.GeoDataFrame:
    rows = []
    for site_id, (lon, lat, _, _, holes) in SITES.items():
        for hole in range(holes):
            for interval in range(2):
                rows.append({
                    "sample_id": f"{site_id}-{hole}-{interval}", "hole_id": f"{site_id}-H{hole}", "site_id": site_id,
                    "depth_from_m": 1.5 * interval, "depth_to_m": 1.5 * interval + 1.5, "ga_gt": 40.0 + 10 * hole,
                    "ga_bdl": False, "te_gt": 0.2 if hole else 0.05, "te_bdl": hole == 0,
                    "geometry": shapely.Point(lon + 0.001 + 0.0008 * hole, lat + 0.002),
                })  # fmt: skip
    return gpd.GeoDataFrame(rows, crs=4326)


def write_inventory(
    out: Path,
    data_dir: Path | None = None,
    synthetic: bool = True,
    grade_tonnage: pd.DataFrame | None = None,
    reviews_table: pd.DataFrame | None = None,
) -> Path:
    """Publish a four-site inventory.gpkg into ``out`` (optionally with grade_tonnage / reviews tables); return it."""
    quarantine = gpd.GeoDataFrame(
        {"source": ["sites.gpkg"], "source_row": [9], "record_id": ["X"], "reason": ["missing geometry"]},
        geometry=[None], crs=4326,
    )  # fmt: skip
    metadata: dict[str, object] = {"title": "Review test inventory", "synthetic": synthetic, "run_id": "r-1",
                                   "data_origin": "SYNTHETIC demo data" if synthetic else "user data"}  # fmt: skip
    if data_dir is not None:
        metadata["data_dir"] = str(data_dir)
    publish_inventory(out, _sites(synthetic), _samples(), quarantine, metadata, formats=["gpkg"])
    gpkg = out / "inventory.gpkg"
    for name, table in (("grade_tonnage", grade_tonnage), ("reviews", reviews_table)):
        if table is not None:
            pyogrio.write_dataframe(table, gpkg, driver="GPKG", layer=name, append=True)
    return gpkg


def grade_tonnage_table() -> pd.DataFrame:
    """A grade_tonnage table as models.grade_tonnage writes it: RM-001 Ga at three cut-offs."""
    return pd.DataFrame({
        "site_id": ["RM-001"] * 3, "element": ["ga"] * 3, "cutoff_multiple": [0.0, 1.0, 2.0],
        "cutoff_basis": ["cutoff_grades.csv"] * 3, "cutoff_gt": [0.0, 30.0, 60.0], "tonnes_above": [2e6, 1.2e6, 3e5],
        "share_of_tonnes": [1.0, 0.6, 0.15], "mean_grade_above_gt": [45.0, 55.0, 70.0],
        "metal_above_t": [90.0, 66.0, 21.0], "site_tonnes_p50": [2e6] * 3, "grade_support": ["block"] * 3,
        "grade_method": ["ordinary_kriging"] * 3, "sigma_w": [0.4] * 3,
    })  # fmt: skip


def _embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="residua-data">(.*?)</script>', page, re.DOTALL)
    assert match, "the page carries its data inline"
    return json.loads(match.group(1))


def test_page_is_self_contained_and_carries_every_site(tmp_path):
    gpkg = write_inventory(tmp_path / "out")
    page = build_review_page(gpkg)
    assert all("src=" not in tag for tag in re.findall(r"<script[^>]*>", page))
    markup = re.sub(r"(<script[^>]*>).*?</script>", r"\1", page, flags=re.DOTALL)  # HTML and CSS, without script bodies
    assert not re.search(r"\ssrc=|<link|url\((?!#default#VML)", markup, re.IGNORECASE)
    assert "default-src 'none'" in page  # the browser itself forbids any fetch
    assert "BSD-2-Clause" in page and "Leaflet 1.9.4" in page
    data = _embedded(page)
    assert [f["properties"]["site_id"] for f in data["sites"]["features"]] == list(SITES)
    assert len(data["samples"]["features"]) == 2 * sum(holes for *_, holes in SITES.values())
    assert {f["properties"]["iso_a3"] for f in data["countries"]["features"]} >= {"IND"}


def test_dates_missing_and_infinite_values_become_valid_json(tmp_path):
    sites = _sites(synthetic=True).assign(
        reviewed_at=pd.to_datetime(["2026-01-05T10:00:00Z", None, None, None], utc=True),
        tonnes_vs_reported=[float("inf"), None, 1.2, None],
    )  # fmt: skip
    props = _feature_collection(sites)["features"][0]["properties"]
    assert props["reviewed_at"] == "2026-01-05T10:00:00+00:00" and props["tonnes_vs_reported"] is None
    json.dumps(_feature_collection(sites), allow_nan=False)  # raises on NaN or Infinity


def test_data_cannot_break_out_of_the_inline_script(tmp_path):
    page = build_review_page(write_inventory(tmp_path / "out"))
    assert "<script>window.pwned" not in page
    names = {f["properties"]["site_id"]: f["properties"]["name"] for f in _embedded(page)["sites"]["features"]}
    assert names["CS-004"] == HOSTILE_NAME


@pytest.mark.parametrize(
    ("synthetic", "expected"),
    [(True, True), (False, False)],
)
def test_synthetic_flag_follows_run_metadata(tmp_path, synthetic, expected):
    payload = page_payload(write_inventory(tmp_path / "out", synthetic=synthetic))
    assert payload["synthetic"] is expected
    assert SCREENING_NOTE.split(",")[0] in str(payload["disclaimer"])  # every page says it is a screening estimate


@pytest.mark.parametrize(
    ("origin", "metadata", "expected"),
    [
        (["user data"], {"synthetic": "True"}, True),  # run_metadata alone
        (["SYNTHETIC demo data"], {}, True),  # data_origin alone, e.g. metadata stripped
        (["user data"], {"synthetic": "False"}, False),
    ],
)
def test_is_synthetic(origin, metadata, expected):
    assert is_synthetic(pd.DataFrame({"data_origin": origin}), metadata) is expected


def test_optional_inputs_absent_are_said_not_fatal(tmp_path):
    payload = page_payload(write_inventory(tmp_path / "out", data_dir=tmp_path / "drop"))
    assert payload["grade_tonnage"]["status"] == "absent"
    assert payload["fits"]["status"] == "absent" and payload["fits"]["pooled"] == []
    assert payload["reviews"]["rows"] == [] and payload["reviews"]["source"] is None


def test_grade_tonnage_curves_are_read_per_site_and_element(tmp_path):
    payload = page_payload(write_inventory(tmp_path / "out", grade_tonnage=grade_tonnage_table()))
    curves = payload["grade_tonnage"]
    assert [point["cutoff_gt"] for point in curves["curves"]["RM-001"]["ga"]] == [0.0, 30.0, 60.0]
    assert curves["curves"]["RM-001"]["ga"][1] == {"cutoff_gt": 30.0, "tonnes": 1.2e6, "grade_gt": 55.0}
    assert curves["notes"]["RM-001"]["ga"]["grade_support"] == "block"
    # no per-site report rows and no method columns in sites_ranked: the curve's grade_method stands in
    assert payload["fits"]["status"] == "chosen"
    assert payload["fits"]["by_site"]["RM-001"] == [{"element": "ga", "method": "ordinary_kriging"}]


def test_grade_tonnage_reads_a_p10_p90_band_when_given():
    table = pd.DataFrame({"site_id": ["a"] * 2, "element": ["Te"] * 2, "cutoff_gt": [0.0, 1.0],
                          "tonnes_above_p10": [1.0, 0.5], "tonnes_above": [2.0, 1.0],
                          "tonnes_above_p90": [3.0, 2.0]})  # fmt: skip
    curve = grade_tonnage_payload(table)["curves"]["a"]["te"]
    assert curve[1] == {"cutoff_gt": 1.0, "tonnes": 1.0, "tonnes_p10": 0.5, "tonnes_p90": 2.0}


def test_grade_tonnage_with_unknown_columns_says_what_it_needs():
    result = grade_tonnage_payload(pd.DataFrame({"site": ["a"], "cog": [1.0]}))
    assert result["status"] == "unrecognised" and "site, cog" in result["message"] and "cutoff_gt" in result["message"]


def test_model_fit_prefers_per_site_report_rows(tmp_path):
    gpkg = write_inventory(tmp_path / "out")
    pd.DataFrame({
        "element": ["ga", "ga", "ga"], "method": ["residua", "idw", "residua"], "site_id": [None, "RM-001", "RM-001"],
        "rmse": [0.5, 0.7, 0.4], "coverage80": [0.8, 0.6, 0.75], "level": ["within_site"] * 3,
    }).to_csv(tmp_path / "out" / "grade_model_report.csv", index=False)  # fmt: skip
    fits = page_payload(gpkg)["fits"]
    assert fits["status"] == "per_site"
    assert [row["method"] for row in fits["by_site"]["RM-001"]] == ["idw", "residua"]
    assert fits["pooled"] == [{"element": "ga", "rmse": 0.5, "coverage80": 0.8}]


def test_model_fit_falls_back_to_chosen_method_columns(tmp_path):
    out = tmp_path / "out"
    gpkg = write_inventory(out)
    sites = pyogrio.read_dataframe(gpkg, layer="sites_ranked")
    sites["ga_model"] = ["ordinary_kriging", "idw", None, None]
    pyogrio.write_dataframe(sites, gpkg, layer="sites_ranked")  # replaces only this layer
    fits = page_payload(gpkg)["fits"]
    assert fits["status"] == "chosen"
    assert fits["by_site"]["RM-001"] == [{"element": "ga", "method": "ordinary_kriging"}]
    assert fits["by_site"]["ZL-003"] == []


def test_review_history_from_the_data_dir_csv(tmp_path):
    drop = tmp_path / "drop"
    append_review(drop / "reviews.csv", "RM-001", "needs-data", "first look", "A. Rao")
    append_review(drop / "reviews.csv", "RM-001", "accept", "holes fine", "B. Sen")
    with (drop / "reviews.csv").open("a", encoding="utf-8") as handle:
        handle.write("FA-002,maybe,,C,2026-01-01T00:00:00+00:00\n")  # unknown decision: quarantined, counted
    reviews = page_payload(write_inventory(tmp_path / "out", data_dir=drop))["reviews"]
    assert [row["decision"] for row in reviews["rows"]] == ["needs-data", "accept"]
    assert reviews["latest"]["RM-001"]["reviewer"] == "B. Sen" and "FA-002" not in reviews["latest"]
    assert reviews["quarantined"] == 1 and reviews["source"] == str(drop / "reviews.csv")


def test_review_history_from_the_gpkg_table_when_no_csv(tmp_path):
    table = pd.DataFrame({"site_id": ["ZL-003"], "decision": ["exclude"], "note": ["capped"], "reviewer": ["R"],
                          "timestamp": ["2026-02-01T10:00:00+00:00"]})  # fmt: skip
    reviews = page_payload(write_inventory(tmp_path / "out", data_dir=tmp_path / "none", reviews_table=table))[
        "reviews"
    ]
    assert reviews["latest"]["ZL-003"]["decision"] == "exclude" and "reviews table" in reviews["source"]


def test_missing_inventory_or_layer_fails_clearly(tmp_path):
    with pytest.raises(ReviewPageError, match="does not exist; publish the inventory first"):
        build_review_page(tmp_path / "inventory.gpkg")
    other = tmp_path / "other.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=4326).to_file(other, layer="x")
    with pytest.raises(ReviewPageError, match="no sites_ranked layer"):
        build_review_page(other)


def test_mark_served_enables_the_form_once(tmp_path):
    page = build_review_page(write_inventory(tmp_path / "out"))
    served = mark_served(page, "/api/reviews")
    assert page.count(SERVED_SLOT) == 1 and "window.RESIDUA_SERVER =" not in page
    assert served.count('window.RESIDUA_SERVER = {"api": "/api/reviews"}') == 1 and SERVED_SLOT not in served
    with pytest.raises(ReviewPageError, match="rebuild it"):
        mark_served("<html>old</html>")


def test_review_report_asset_writes_report_html(tmp_path):
    out, drop = tmp_path / "out", tmp_path / "drop"
    write_inventory(out, data_dir=drop)
    append_review(drop / "reviews.csv", "FA-002", "exclude", "dup of FA-001", "A. Rao")
    publishing = run_settings(data_dir=str(drop), out_dir=str(out)).publishing_resources()
    result = review_report(context=dg.build_asset_context(), data_drop=bare_drop(drop), **publishing)
    assert not (out / "report.html").exists()  # staged: the release asset publishes it
    release(context=dg.build_asset_context(), **publishing)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert _embedded(page)["reviews"]["latest"]["FA-002"]["decision"] == "exclude"
    assert result.metadata["report"].value == str(out / "report.html")
    assert not [path.name for path in out.iterdir() if path.name.startswith(".staging") or path.suffix == ".xml"]


def test_review_report_asset_without_gpkg_removes_a_stale_report(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("from an earlier run")
    publishing = run_settings(data_dir=str(tmp_path), out_dir=str(out), formats=["csv"]).publishing_resources()
    result = review_report(context=dg.build_asset_context(), data_drop=bare_drop(tmp_path), **publishing)
    release(context=dg.build_asset_context(), **publishing)
    assert not (out / "report.html").exists() and "skipped" in result.metadata


def test_review_report_runs_after_publishing():
    spec = review_report.get_asset_spec()
    assert spec.group_name == "publish"
    # after the inventory and the grade report, and again when reviews.csv changes (the page shows the decisions)
    assert {dep.asset_key.to_user_string() for dep in spec.deps} == {"inventory", "grade_model_report", "reviews_file"}
