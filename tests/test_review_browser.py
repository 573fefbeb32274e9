"""report.html in a real browser: headless Chromium (Debian's) driven through Playwright.

Opened as a file, the page must show every site on the map and in the table, link the two
and fetch nothing; served by the review server, its form must record a decision in
reviews.csv. Screenshots go to tmp_path, and also to $RESIDUA_SCREENSHOT_DIR when set.
Without Chromium or Playwright the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyogrio
import pytest

from residua.assets.publish import release
from residua.assets.review_report import review_report
from residua.assets.settings import run_settings
from residua.geodata.review_page import EMPTY_SAMPLING_PLAN, NO_SAMPLING_PLAN, build_review_page
from residua.geodata.reviews import append_review, read_reviews
from residua.geodata.styles import PLANNED_HOLE_ORANGE
from residua.pipelines.review_server import ReviewSite, make_server, resolve_reviews_path
from tests.drops import bare_drop
from tests.geodata.test_review_page import (
    CAMPAIGNS,
    GA_MODEL,
    HOSTILE,
    changes_table,
    hub_plan,
    write_hub_inventory,
    write_plan_inventory,
    write_release_inventory,
)
from tests.test_review_page import HOSTILE_NAME, grade_tonnage_table, write_inventory

#: Flags for Chromium as root in a container with no network (see the project's notes).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
TIMEOUT_MS = 15_000


def chromium_path() -> str | None:
    """Chromium to drive: $RESIDUA_CHROMIUM, else chromium / chromium-browser on PATH, else /usr/bin/chromium."""
    for candidate in (os.environ.get("RESIDUA_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                      "/usr/bin/chromium"):  # fmt: skip
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"{reason} (CI=true: browser tests must run; bash scripts/install-system-deps.sh installs Chromium)"
        )
    pytest.skip(f"{reason}; install it with `bash scripts/install-system-deps.sh` and `pip install -e '.[dev]'`")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python package playwright is not installed")
    executable = chromium_path()
    if executable is None:
        _unavailable("Chromium was not found (looked for $RESIDUA_CHROMIUM, chromium, chromium-browser)")
    manager = sync_playwright().start()
    try:
        chromium = manager.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
    except Exception as error:  # noqa: BLE001 (any launch failure means no browser)
        manager.stop()
        _unavailable(f"Chromium at {executable} did not start: {str(error).splitlines()[0]}")
    yield chromium
    chromium.close()
    manager.stop()


def open_page(browser: object, url: str) -> tuple[object, list[str], list[str]]:
    """A page at ``url`` once its script has run, with the errors and requests it produced."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    return page, errors, requests


def save_screenshot(page: object, tmp_path: Path, name: str) -> Path:
    """Screenshot into tmp_path (and $RESIDUA_SCREENSHOT_DIR when set); return the tmp_path copy."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    if os.environ.get("RESIDUA_SCREENSHOT_DIR"):
        folder = Path(os.environ["RESIDUA_SCREENSHOT_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / name)
    return path


def _ids(page: object, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('data-site-id'))")  # type: ignore[attr-defined]


def publish_review_report(drop: Path, out: Path) -> None:
    """Build report.html from ``out``'s inventory and publish it, as a run's review_report and release assets do."""
    publishing = run_settings(data_dir=str(drop), out_dir=str(out)).publishing_resources()
    review_report(context=dg.build_asset_context(), data_drop=bare_drop(drop), **publishing)
    release(context=dg.build_asset_context(), **publishing)


def test_file_page_shows_every_site_and_links_map_and_table(browser, tmp_path):
    out, drop = tmp_path / "out", tmp_path / "drop"
    gpkg = write_inventory(out, data_dir=drop, grade_tonnage=grade_tonnage_table())
    append_review(drop / "reviews.csv", "RM-001", "accept", "holes cover the pond", "A. Rao")
    publish_review_report(drop, out)
    ranked = (
        pyogrio.read_dataframe(gpkg, layer="sites_ranked", read_geometry=False).sort_values("rank")["site_id"].tolist()
    )

    page, errors, requests = open_page(browser, (out / "report.html").as_uri())

    assert sorted(_ids(page, "#map path.site-footprint")) == sorted(ranked)  # one SVG footprint per site
    assert _ids(page, "#site-table tbody tr") == ranked  # every site, in rank order
    assert "SYNTHETIC DATA" in page.inner_text("#synthetic-banner")
    assert "not a compliant mineral resource statement" in page.inner_text("#disclaimer")
    assert page.inner_text("#site-table tr[data-site-id='CS-004'] td.name") == HOSTILE_NAME
    assert page.evaluate("window.pwned") is None

    page.click("#site-table tr[data-site-id='FA-002']")  # row -> map
    assert _ids(page, "#site-table tr.selected") == ["FA-002"]
    assert _ids(page, "#map path.site-footprint.selected") == ["FA-002"]
    assert page.locator("#map path.sample-point").count() == 3  # its three holes
    assert "FA-002" in page.inner_text("#evidence-title")
    assert page.locator("#review-form").count() == 0 and page.locator("#read-only-note").is_visible()

    page.click("#site-table tr[data-site-id='CS-004']")  # a site without a footprint: drawn as a dot
    assert _ids(page, "#map path.site-footprint.selected") == ["CS-004"]
    assert "No samples at this site" in page.inner_text("#evidence")

    page.evaluate("residuaReview.map.setView([21.0025, 80.003], 15, {animate: false})")
    page.click("#map path.site-footprint[data-site-id='RM-001']")  # map -> row
    assert _ids(page, "#site-table tr.selected") == ["RM-001"]
    assert page.locator("#grade-tonnage-svg path").count() >= 2  # tonnes and mean-grade lines
    assert "holes cover the pond" in page.inner_text("#evidence")

    page.click("#site-table th[data-key='tonnes_p50']")
    assert page.get_attribute("#site-table th[data-key='tonnes_p50']", "aria-sort") == "descending"
    assert _ids(page, "#site-table tbody tr")[0] == "RM-001"
    page.click("#site-table th[data-key='tonnes_p50']")
    assert _ids(page, "#site-table tbody tr")[0] == "CS-004"

    page.uncheck("input[data-conf='G4']")
    assert _ids(page, "#site-table tbody tr") == ["FA-002", "RM-001"]
    assert sorted(_ids(page, "#map path.site-footprint:not(.filtered-out)")) == ["FA-002", "RM-001"]
    page.fill("#filter-text", "fly ash")
    assert page.inner_text("#row-count") == "Showing 1 of 4 sites"
    page.fill("#filter-text", "")
    page.check("input[data-conf='G4']")

    shot = save_screenshot(page, tmp_path, "review_page_file.png")
    assert shot.stat().st_size > 20_000
    assert errors == []
    assert requests == [(out / "report.html").as_uri()]  # nothing else fetched: works offline
    page.close()


def test_changes_section_selects_sites_and_evidence_shows_their_lineage(browser, tmp_path):
    out = tmp_path / "out"
    gpkg = write_release_inventory(out, changes_table(cause=HOSTILE), models={"ga": GA_MODEL})
    (out / "report.html").write_text(build_review_page(gpkg), encoding="utf-8")

    page, errors, requests = open_page(browser, (out / "report.html").as_uri())

    assert page.locator("#changes").is_visible()
    assert page.inner_text("#changes h2") == "Changes since release r0007"
    assert _ids(page, "#changes-table tbody tr") == ["RM-001", "FA-002"]
    text = page.inner_text("#changes")
    assert "rank 3 \u2192 1 (up 2)" in text and "Ga recoverable t P50 4 \u2192 5 (+25%)" in text
    assert "new samples: 1 new hole (10 -> 12 samples)" in text and HOSTILE in text  # shown as text, not run
    assert page.evaluate("window.pwned") is None

    page.click("#changes-table tr[data-site-id='RM-001']")  # changes -> table, map and evidence
    assert _ids(page, "#site-table tr.selected") == ["RM-001"] == _ids(page, "#changes-table tr.selected")
    assert _ids(page, "#map path.site-footprint.selected") == ["RM-001"]
    assert page.locator("#lineage").is_visible()
    lineage = page.inner_text("#lineage")
    assert "12 samples in 6 holes" in lineage and GA_MODEL in lineage and "RM-001_surface.tif" in lineage
    assert page.get_attribute("#lineage code.hash >> nth=0", "title").startswith("SHA-256 ")

    save_screenshot(page, tmp_path, "review_page_changes.png")
    assert errors == []
    assert requests == [(out / "report.html").as_uri()]
    page.close()


def js_number(value: float) -> str:
    """A number as the page's fmt() shows it: 3 significant digits, thousands separated."""
    text = f"{float(f'{value:.3g}'):,.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def test_hubs_section_and_assignment_lines_are_drawn(browser, tmp_path):
    out = tmp_path / "out"
    plan = hub_plan()
    gpkg = write_hub_inventory(out, plan=plan)
    (out / "report.html").write_text(build_review_page(gpkg), encoding="utf-8")
    hubs = plan.hubs.set_index("hub_id")
    opened = hubs[hubs["opened"]].sort_values("net_value_usd_p50", ascending=False)

    page, errors, requests = open_page(browser, (out / "report.html").as_uri())

    assert page.locator("#hubs-table").is_visible()
    assert page.inner_text("#hubs h2") == "Processing hubs"
    rows = page.eval_on_selector_all("#hubs-table tbody tr", "els => els.map(e => e.getAttribute('data-hub-id'))")
    assert rows == list(opened.index) == ["H-WEST", "H-EAST"]
    west = page.inner_text("#hubs-table tr[data-hub-id='H-WEST']")
    row = hubs.loc["H-WEST"]
    assert "milp" in west and js_number(row["feed_t_p50"]) in west and js_number(row["feed_ga_t_p50"]) in west
    assert js_number(row["net_value_usd_p50"] / 1e6) in west and js_number(row["net_value_usd_p10"] / 1e6) in west
    assert HOSTILE in page.inner_text("#hubs-table tr[data-hub-id='H-EAST']")  # the name shown as text, not run
    assert page.evaluate("window.pwned") is None
    assert "screening assumptions" in page.inner_text("#hubs-costs")
    # on the map: one thin line per fed site, a triangle per opened hub, the closed candidate faint
    lines = page.eval_on_selector_all("#map path.hub-assignment", "els => els.map(e => e.getAttribute('data-site-id'))")
    assert sorted(lines) == sorted(plan.assignments["site_id"]) == ["FA-002", "RM-001", "ZL-003"]
    assert page.locator("#map .hub-icon").count() == 2 and page.locator("#map path.hub-closed").count() == 1

    page.click("#site-table tr[data-site-id='FA-002']")
    feed = page.inner_text("#hub-feed")
    road = plan.assignments.set_index("site_id").loc["FA-002", "road_km"]
    assert feed.startswith("Feeds hub H-WEST, West plant: ") and js_number(road) + " road km" in feed
    assert page.locator("#map path.hub-assignment.selected").count() == 1
    page.click("#site-table tr[data-site-id='CS-004']")
    assert page.inner_text("#hub-feed") == "Feeds no hub in this plan."

    save_screenshot(page, tmp_path, "review_page_hubs.png")
    page.uncheck("#hubs-on-map")  # the plan can be taken off the map
    assert page.locator("#map path.hub-assignment").count() == 0 and page.locator("#map .hub-icon").count() == 0
    assert errors == []
    assert requests == [(out / "report.html").as_uri()]
    page.close()


def test_page_without_a_hub_plan_says_so_in_one_line(browser, tmp_path):
    out = tmp_path / "out"
    gpkg = write_hub_inventory(out, assignments=False)  # hubs, but no hub_assignments (an older run)
    (out / "report.html").write_text(build_review_page(gpkg), encoding="utf-8")

    page, errors, _ = open_page(browser, (out / "report.html").as_uri())

    assert page.inner_text("#hubs-note") == (
        "No hub plan in this inventory (no hub_assignments layer); re-run `residua run` to add one."
    )
    assert page.locator("#hubs-table").count() == 0 and page.locator("#map path.hub-assignment").count() == 0
    page.click("#site-table tr[data-site-id='RM-001']")
    assert "No hub plan" in page.inner_text("#hub-feed")
    assert errors == []
    page.close()


def _hole_ids(page: object, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('data-hole-id'))")  # type: ignore[attr-defined]


def test_sampling_plan_section_and_planned_holes_are_drawn(browser, tmp_path):
    out = tmp_path / "out"
    gpkg = write_plan_inventory(out)
    (out / "report.html").write_text(build_review_page(gpkg), encoding="utf-8")
    holes = pyogrio.read_dataframe(gpkg, layer="sampling_plan", read_geometry=False)

    page, errors, requests = open_page(browser, (out / "report.html").as_uri())

    assert page.inner_text("#sampling-plan h2") == "Sampling plan"
    summary = page.inner_text("#sampling-summary")
    assert summary.startswith("9 planned holes at 2 sites, for the decision of which ranked sites make the top N")
    assert "wrong top-N members now 0.9; after the best single campaign (FA-002) 0.78" in summary
    cost = page.inner_text("#sampling-cost")
    assert cost.startswith("Placeholder cost: 52,500 USD for the 2 campaigns") and "not a quote" in cost
    assert _ids(page, "#sampling-table tbody tr") == ["FA-002", "ZL-003"]  # by priority
    fa = page.inner_text("#sampling-table tr[data-site-id='FA-002']")
    expected = ("FA-002 pond", "4.5", "site thickness", js_number(0.12), "55%", "45% \u2192 21%", "31 \u2192 17", "G3",
                "40%", "22,500")  # fmt: skip
    for text in expected:  # name, depth, gain, P(top N), wrong side and width now -> after, class, upgrade, cost
        assert text in fa, text
    # on the map: one orange star per planned hole, tagged with its hole and site
    assert sorted(_hole_ids(page, "#map .plan-hole-icon")) == sorted(holes["hole_id"])
    assert sorted(_ids(page, "#map .plan-hole-icon")) == sorted(holes["site_id"])
    assert page.get_attribute("#map .plan-hole-icon >> nth=0 >> path", "fill") == PLANNED_HOLE_ORANGE
    assert "planned hole" in page.inner_text("#legend")

    page.click("#sampling-table tr[data-site-id='ZL-003']")  # campaign -> site selected, map on its holes
    assert _ids(page, "#site-table tr.selected") == ["ZL-003"] == _ids(page, "#sampling-table tr.selected")
    box = page.locator("#map").bounding_box()
    for star in page.locator("#map .plan-hole-icon[data-site-id='ZL-003']").all():
        at = star.bounding_box()
        assert box["x"] <= at["x"] and at["x"] + at["width"] <= box["x"] + box["width"], "star off the map"
        assert box["y"] <= at["y"] and at["y"] + at["height"] <= box["y"] + box["height"], "star off the map"
    assert page.inner_text("#plan-site").startswith("Priority 2 of 2: 6 planned holes to 12 m")
    page.click("#map .plan-hole-icon[data-hole-id='PLAN-ZL-003-02']")
    popup = page.inner_text(".leaflet-popup-content").splitlines()
    assert popup[:4] == [
        "Planned hole PLAN-ZL-003-02",
        "Site ZL-003 \u2014 ZL-003 pond",
        "Priority 2 (campaign of 6 holes)",
        "Planned depth 12 m \u2014 residue type thickness prior (mode)",
    ]
    save_screenshot(page, tmp_path, "review_page_sampling_plan.png")

    page.uncheck("input[data-conf='G3']")  # FA-002 filtered out of the table: its holes leave the map too
    assert page.locator("#map .plan-hole-icon[data-site-id='FA-002']:not(.filtered-out)").count() == 0
    assert not page.locator("#map .plan-hole-icon[data-site-id='FA-002'] >> nth=0").is_visible()
    assert page.locator("#map .plan-hole-icon[data-site-id='ZL-003']:not(.filtered-out)").count() == 6
    page.check("input[data-conf='G3']")
    page.uncheck("#sampling-on-map")  # the plan can be taken off the map, and put back
    assert page.locator("#map .plan-hole-icon").count() == 0
    page.check("#sampling-on-map")
    assert sorted(_hole_ids(page, "#map .plan-hole-icon")) == sorted(holes["hole_id"])
    page.click("#site-table tr[data-site-id='RM-001']")
    assert page.inner_text("#plan-site") == "No holes planned at this site."
    assert errors == []
    assert requests == [(out / "report.html").as_uri()]
    page.close()


@pytest.mark.parametrize(
    ("plan", "campaigns", "message"),
    [(False, CAMPAIGNS, NO_SAMPLING_PLAN), (True, CAMPAIGNS.iloc[:0], EMPTY_SAMPLING_PLAN)],
    ids=["no-layer", "empty-plan"],
)
def test_page_without_planned_holes_says_why_in_one_line(browser, tmp_path, plan, campaigns, message):
    out = tmp_path / "out"
    gpkg = write_plan_inventory(out, plan=plan, campaigns=campaigns)
    (out / "report.html").write_text(build_review_page(gpkg), encoding="utf-8")

    page, errors, _ = open_page(browser, (out / "report.html").as_uri())

    assert page.inner_text("#sampling-note") == message
    assert page.locator("#sampling-table").count() == 0 and page.locator("#map .plan-hole-icon").count() == 0
    assert "planned hole" not in page.inner_text("#legend")
    page.click("#site-table tr[data-site-id='FA-002']")
    assert page.inner_text("#plan-site") == message
    assert errors == []
    page.close()


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, Path]]:
    out, drop = tmp_path / "out", tmp_path / "drop"
    drop.mkdir()
    write_inventory(out, data_dir=drop)
    publish_review_report(drop, out)
    httpd = make_server(ReviewSite(out, resolve_reviews_path(out, None), quiet=True), port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", drop / "reviews.csv"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_served_page_records_a_decision_through_the_form(browser, served, tmp_path):
    url, reviews = served
    page, errors, _ = open_page(browser, url)
    page.click("#site-table tr[data-site-id='ZL-003']")
    page.check("#review-form input[value='exclude']")
    page.fill("#review-form input[name='reviewer']", "B. Sen")
    page.fill("#review-form textarea[name='note']", "pond capped in 2019")
    page.click("#review-submit")
    page.wait_for_selector("#review-msg.ok")

    accepted, _ = read_reviews(reviews)
    assert accepted[["site_id", "decision", "note", "reviewer"]].values.tolist() == [
        ["ZL-003", "exclude", "pond capped in 2019", "B. Sen"]
    ]
    assert page.inner_text("#site-table tr[data-site-id='ZL-003'] td._review") == "exclude"
    assert "pond capped in 2019" in page.inner_text("#evidence table.history")
    save_screenshot(page, tmp_path, "review_page_served.png")
    assert errors == []
    page.close()
