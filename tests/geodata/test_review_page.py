"""The review page's release sections: changes since the last release and each site's lineage.

The inventories are the four-site ones of :mod:`tests.test_review_page`, with ``changes`` and
``lineage`` tables as the inventory asset writes them (:func:`geodata.releases.diff_releases`,
:func:`geodata.releases.site_lineage`). The browser test of these sections is in
:mod:`tests.test_review_browser`.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from geodata.releases import CHANGE_COLUMNS, site_lineage
from geodata.review_page import (
    NO_CHANGE_OR_RELEASE,
    NO_RELEASE,
    build_review_page,
    changes_payload,
    lineage_payload,
    page_payload,
)
from tests.test_review_page import _embedded, write_inventory

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
