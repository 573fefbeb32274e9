"""The review map: one self-contained ``report.html`` built from a published ``inventory.gpkg``.

The page needs no server and no internet: Leaflet (BSD-2-Clause, vendored in
``geodata/static``), the page's own script and style, country outlines and every datum are
inlined. It shows the sites on a map (fill by rank, outline by confidence class), a sortable
and filterable ranked table linked to the map, and per site its evidence: samples, tonnage
and grade P10/P50/P90, a grade-tonnage curve, the grade model's fit, the review history and
the lineage of its numbers and the hub it feeds; above the map, the sites changed since the
last release; below the table, the processing hubs the hub plan opens (on the map too, with a
line from each site to its hub) and the sampling plan's campaigns (their planned holes on the map
too). Served by ``residua review`` (see :func:`mark_served`) it also records decisions.

Optional inputs are read when present and the page says so when they are not: the
``grade_tonnage``, ``changes`` and ``lineage`` tables, the ``hubs``, ``hub_assignments`` and
``sampling_plan`` layers, ``grade_model_report.csv``, the model cards and the reviews
(``reviews.csv`` in the data directory, else a ``reviews`` table in the GeoPackage).
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from residua.geodata.formats import no_gdal_sidecars
from residua.geodata.releases import diff_summary, model_ids
from residua.geodata.reviews import REVIEWS_FILE, latest_decisions, read_reviews
from residua.geodata.vocabulary import page_vocabulary

STATIC_DIR = Path(__file__).with_name("static")
LEAFLET_JS = "leaflet-1.9.4.min.js"
LEAFLET_CSS = "leaflet-1.9.4.css"
COUNTRIES = "ne_110m_countries.geojson"
LEAFLET_NOTICE = (
    "<!-- Leaflet 1.9.4 (BSD-2-Clause licence, (c) 2010-2023 Volodymyr Agafonkin, (c) 2010-2011 CloudMade), "
    "vendored unmodified from the npm registry; see geodata/static/README.md and LICENSE-leaflet.txt -->"
)
#: The page may run only its own inline code and reach nothing but the server it came from (none as a file).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'"
)
#: Placeholder in the page's head that :func:`mark_served` replaces.
SERVED_SLOT = "<!--residua:served-->"
SCREENING_NOTE = "Screening estimates, not a compliant mineral resource statement."
ELEMENTS: tuple[str, ...] = ("ga", "te", "pt", "pd", "rh")
#: Curve keys the page's script reads -> the grade_tonnage columns (as :mod:`residua.models.grade_tonnage` writes
#: them; the P10/P90 tonnage band is optional).
GRADE_TONNAGE_COLUMNS: dict[str, str] = {
    "site_id": "site_id", "element": "element", "cutoff_gt": "cutoff_gt", "tonnes": "tonnes_above",
    "tonnes_p10": "tonnes_above_p10", "tonnes_p90": "tonnes_above_p90", "grade_gt": "mean_grade_above_gt",
}  # fmt: skip
#: Descriptive grade_tonnage columns shown beside each curve (and, for grade_method, as the site's model).
GRADE_TONNAGE_NOTES: tuple[str, ...] = ("grade_method", "grade_support", "cutoff_basis", "sigma_w")
#: What the changes section says when there is nothing to list.
NO_RELEASE = "No earlier release of this output folder to compare with."
NO_CHANGE = "No site changed beyond the threshold since release {release}."
#: An empty ``changes`` table does not say which release it was compared with, nor whether there was one.
NO_CHANGE_OR_RELEASE = "No site changed beyond the threshold since the last release, or there is no earlier release."
#: What the hubs section says for an inventory without a hub plan (runs before it had none).
NO_HUB_PLAN = "No hub plan in this inventory (no {layers} layer); re-run `residua run` to add one."
#: Columns the hubs section needs, per layer; the others are shown when present.
HUB_REQUIRED: dict[str, tuple[str, ...]] = {"hubs": ("hub_id", "opened"), "hub_assignments": ("site_id", "hub_id")}
#: Columns of the opened hubs the page shows (hub_plan's hubs layer), numbers as published.
HUB_COLUMNS: tuple[str, ...] = (
    "hub_id", "name", "location", "method", "n_assigned", "capacity_t", "fixed_cost_usd",
    "feed_t_p10", "feed_t_p50", "feed_t_p90", "feed_ga_t_p50", "feed_te_t_p50", "feed_pgm_t_p50",
    "feed_value_usd_p50", "haul_cost_usd_mean", "net_value_usd_mean", "net_value_usd_p10", "net_value_usd_p50",
    "net_value_usd_p90",
)  # fmt: skip
#: Columns of each site -> hub line the page shows.
ASSIGNMENT_COLUMNS: tuple[str, ...] = (
    "site_id", "hub_id", "geodesic_km", "road_km", "tonnes_mean", "value_usd_mean", "haul_cost_usd_mean",
    "net_value_usd_mean",
)  # fmt: skip
#: What the sampling plan section says for an inventory without a sampling plan (runs before it had none).
NO_SAMPLING_PLAN = "No sampling plan in this inventory (no sampling_plan layer); re-run `residua run` to add one."
#: What it says for a plan without holes (models.sampling_plan.plan_campaigns found no campaign worth drilling).
EMPTY_SAMPLING_PLAN = (
    "No holes planned: no campaign within the hole and money budgets would lower the expected number of wrong "
    "top-N sites by more than the minimum gain (plan_min_gain). The current estimates already settle which sites "
    "make the top N as well as new holes could (each site is almost surely in or out of it), or there are no more "
    "ranked sites than N."
)
#: Columns the sampling plan section needs; the others are shown when present.
PLAN_REQUIRED: tuple[str, ...] = ("hole_id", "site_id", "priority")
#: Columns of each campaign (one site's holes) the page shows; models.sampling_plan repeats them on every hole.
PLAN_CAMPAIGN_COLUMNS: tuple[str, ...] = (
    "priority", "site_id", "holes_in_campaign", "campaign_cost_usd", "expected_gain", "p_top_n_now",
    "misclassification_now", "misclassification_after", "top_n_expected_wrong_now", "top_n_expected_wrong_after",
    "value_p10_p90_width_now_usd", "value_p10_p90_width_after_usd", "confidence_now", "p_confidence_upgrade",
    "planned_depth_m", "depth_source",
)  # fmt: skip
#: Columns of each planned hole the page shows.
PLANNED_HOLE_COLUMNS: tuple[str, ...] = ("hole_id", "site_id", "priority", "planned_depth_m", "nearest_hole_m")
#: Lineage columns holding JSON objects, parsed for the page.
LINEAGE_JSON: tuple[str, ...] = ("hole_sha256", "covariates", "reference_rows", "grade_models")


class ReviewPageError(ValueError):
    """The inventory cannot be turned into a review page."""


@dataclass(frozen=True)
class Inventory:
    """What the page shows, read from a published inventory."""

    sites: gpd.GeoDataFrame
    samples: gpd.GeoDataFrame | None
    metadata: dict[str, str]
    grade_tonnage: pd.DataFrame | None
    changes: pd.DataFrame | None = None
    lineage: pd.DataFrame | None = None
    hubs: gpd.GeoDataFrame | None = None
    hub_assignments: gpd.GeoDataFrame | None = None
    sampling_plan: gpd.GeoDataFrame | None = None


def read_run_metadata(gpkg: Path) -> dict[str, str]:
    """The ``run_metadata`` table of a published inventory as a dict (empty if absent).

    Parameters
    ----------
    gpkg : Path
        A published ``inventory.gpkg``.

    Returns
    -------
    dict of str to str
    """
    if "run_metadata" not in _layers(gpkg):
        return {}
    table = _read_layer(gpkg, "run_metadata", geometry=False)
    return {str(key): "" if pd.isna(value) else str(value) for key, value in zip(table["key"], table["value"])}


def inventory_site_ids(gpkg: Path) -> list[str]:
    """Site ids of the ``sites_ranked`` layer, in rank order.

    Raises
    ------
    ReviewPageError
        If the file or its ``sites_ranked`` layer is missing.
    """
    sites = _read_sites(gpkg)
    return [str(site_id) for site_id in sites["site_id"]]


def default_reviews_path(metadata: dict[str, str]) -> Path | None:
    """``<data_dir>/reviews.csv`` from the run metadata, or None when no data directory is recorded.

    Examples
    --------
    >>> default_reviews_path({"data_dir": "/data/drop"}).as_posix()
    '/data/drop/reviews.csv'
    >>> default_reviews_path({}) is None
    True
    """
    data_dir = metadata.get("data_dir", "").strip()
    return Path(data_dir) / REVIEWS_FILE if data_dir else None


def read_inventory(gpkg: Path) -> Inventory:
    """Read the layers the page shows from a published ``inventory.gpkg``.

    Raises
    ------
    ReviewPageError
        If the file or its ``sites_ranked`` layer is missing.
    """
    layers = _layers(gpkg)
    samples = None
    if "samples" in layers:
        samples = _read_layer(gpkg, "samples")
        samples = samples.to_crs(4326) if samples.crs is not None else samples
    tables = {
        name: pd.DataFrame(_read_layer(gpkg, name, geometry=False)) if name in layers else None
        for name in ("grade_tonnage", "changes", "lineage")
    }
    plans = {name: _read_layer(gpkg, name) if name in layers else None
             for name in ("hubs", "hub_assignments", "sampling_plan")}  # fmt: skip
    return Inventory(_read_sites(gpkg), samples, read_run_metadata(gpkg), **tables, **plans)


def build_review_page(
    gpkg: Path, grade_report: Path | None = None, reviews: Path | None = None, title: str | None = None
) -> str:
    """Render the self-contained review page of a published inventory.

    Parameters
    ----------
    gpkg : Path
        The published ``inventory.gpkg`` (layers ``sites_ranked``, ``samples``,
        ``run_metadata``; optional ``grade_tonnage`` and ``reviews``).
    grade_report : Path, optional
        ``grade_model_report.csv``; per-site rows (a ``site_id`` column) give each site's
        model fit. Default: the file beside ``gpkg`` if it exists.
    reviews : Path, optional
        The reviews CSV. Default: ``reviews.csv`` in the data directory recorded in the
        run metadata; when that file is absent, the GeoPackage's ``reviews`` table if any.
    title : str, optional
        Page title; default the run's title.

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    ReviewPageError
        If the GeoPackage or its ``sites_ranked`` layer is missing.
    """
    payload = page_payload(gpkg, grade_report, reviews, title)
    return render_page(payload)


def page_payload(
    gpkg: Path, grade_report: Path | None = None, reviews: Path | None = None, title: str | None = None
) -> dict[str, object]:
    """Everything the page's script reads, as JSON-ready data (see :func:`build_review_page`)."""
    inventory = read_inventory(gpkg)
    metadata = inventory.metadata
    if grade_report is None and (gpkg.parent / "grade_model_report.csv").is_file():
        grade_report = gpkg.parent / "grade_model_report.csv"
    curves = grade_tonnage_payload(inventory.grade_tonnage)
    return {
        "title": title or metadata.get("title") or "Residua inventory",
        "synthetic": is_synthetic(inventory.sites, metadata),
        "data_origin": metadata.get("data_origin", ""),
        "disclaimer": metadata.get("disclaimer") or SCREENING_NOTE,
        "run": {key: metadata.get(key, "") for key in ("run_id", "run_time_utc", "code_version", "n_draws", "seed")},
        "sites": _feature_collection(inventory.sites),
        "samples": _samples_payload(inventory.samples),
        "countries": _countries_near(inventory.sites),
        "grade_tonnage": curves,
        "fits": fits_payload(inventory.sites, grade_report, curves),
        "reviews": reviews_payload(gpkg, reviews if reviews is not None else default_reviews_path(metadata)),
        "changes": changes_payload(inventory.changes, metadata),
        "lineage": lineage_payload(inventory.lineage, model_card_ids(gpkg.parent / "model_cards")),
        "hubs": hubs_payload(inventory.hubs, inventory.hub_assignments),
        "sampling_plan": {
            **sampling_plan_payload(inventory.sampling_plan),
            "top_n": _int_or_none(metadata.get("plan_top_n")),
        },
        "vocabulary": page_vocabulary(),
    }


def render_page(payload: dict[str, object]) -> str:
    """Assemble the HTML page: vendored Leaflet, the page's style and script, and ``payload`` inline."""
    title = html.escape(str(payload["title"]))
    data = json.dumps(payload, allow_nan=False, separators=(",", ":"))
    # '<' never appears raw inside the script element, so no '</script>' in the data can end it.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
            f"<title>{title}</title>",
            LEAFLET_NOTICE,
            f"<style>{_leaflet_css()}</style>",
            f"<style>{_static('review_page.css')}</style>",
            SERVED_SLOT,
            "</head><body>",
            f'<noscript><p class="disclaimer">{SCREENING_NOTE} This page needs JavaScript.</p></noscript>',
            '<div id="app"></div>',
            f'<script type="application/json" id="residua-data">{data}</script>',
            f"<script>{_static(LEAFLET_JS)}</script>",
            f"<script>{_static('review_page.js')}</script>",
            "</body></html>",
        ]
    )


def mark_served(page: str, api: str = "/api/reviews") -> str:
    """The page as ``residua review`` serves it: with the decision form enabled.

    Examples
    --------
    >>> "RESIDUA_SERVER" in mark_served(f"<head>{SERVED_SLOT}</head>")
    True
    """
    if SERVED_SLOT not in page:
        raise ReviewPageError("this report.html predates the review server; rebuild it with `residua run`")
    flag = json.dumps({"api": api}).replace("<", "\\u003c")
    return page.replace(SERVED_SLOT, f"<script>window.RESIDUA_SERVER = {flag};</script>", 1)


def is_synthetic(sites: pd.DataFrame, metadata: dict[str, str]) -> bool:
    """True when the run metadata says ``synthetic`` or any site's ``data_origin`` says SYNTHETIC.

    Examples
    --------
    >>> is_synthetic(pd.DataFrame({"data_origin": ["SYNTHETIC demo data"]}), {})
    True
    >>> is_synthetic(pd.DataFrame({"site_id": ["a"]}), {"synthetic": "False"})
    False
    """
    if metadata.get("synthetic", "").strip().lower() in {"true", "1", "yes"}:
        return True
    origin = sites["data_origin"] if "data_origin" in sites.columns else pd.Series(dtype=str)
    return bool(origin.astype(str).str.contains("synthetic", case=False).any())


def grade_tonnage_payload(table: pd.DataFrame | None) -> dict[str, object]:
    """Grade-tonnage curves per site and element, or why there are none.

    Parameters
    ----------
    table : DataFrame or None
        The ``grade_tonnage`` table (see :mod:`residua.models.grade_tonnage`): one row per site,
        element and cut-off with the columns of :data:`GRADE_TONNAGE_COLUMNS` (``site_id``,
        ``cutoff_gt`` and ``tonnes_above`` required).

    Returns
    -------
    dict
        ``status`` (``ok``, ``absent`` or ``unrecognised``), ``message``, ``columns`` used,
        ``curves`` (site -> element -> points sorted by cut-off) and ``notes`` (site ->
        element -> the :data:`GRADE_TONNAGE_NOTES` values of that curve).

    Examples
    --------
    >>> grade_tonnage_payload(None)["status"]
    'absent'
    >>> table = pd.DataFrame({"site_id": ["a", "a"], "element": ["ga", "ga"], "cutoff_gt": [20, 10],
    ...                       "tonnes_above": [5.0, 9.0]})
    >>> [p["cutoff_gt"] for p in grade_tonnage_payload(table)["curves"]["a"]["ga"]]
    [10, 20]
    """
    if table is None:
        return {"status": "absent", "message": "No grade_tonnage table in this inventory.", "curves": {}}
    found = {key: column for key, column in GRADE_TONNAGE_COLUMNS.items() if column in table.columns}
    missing = [key for key in ("site_id", "cutoff_gt", "tonnes") if key not in found]
    if missing:
        return {
            "status": "unrecognised",
            "message": f"grade_tonnage has columns {', '.join(map(str, table.columns))}; this page needs site_id, "
            f"a cut-off (cutoff_gt) and tonnes above it (tonnes_above).",
            "curves": {},
        }
    frame = pd.DataFrame({key: table[column] for key, column in found.items()})
    if "element" not in frame:
        frame["element"] = "all"
    frame["element"] = frame["element"].astype(str).str.lower()
    notes_columns = [name for name in GRADE_TONNAGE_NOTES if name in table.columns]
    numbers = frame.drop(columns=["site_id", "element"]).apply(pd.to_numeric, errors="coerce")
    numbers[["site_id", "element"]] = frame[["site_id", "element"]]
    numbers["first_row"] = np.arange(len(frame))  # the curve's first row in the table carries its notes
    numbers = numbers.sort_values(["site_id", "element", "cutoff_gt"], kind="stable")
    points = numbers.drop(columns=["site_id", "element", "first_row"]).to_dict("records")
    firsts = numbers.groupby(["site_id", "element"], sort=False)["first_row"].transform("min").to_numpy()
    note_rows = table[notes_columns].iloc[firsts].to_dict("records") if notes_columns else [{}] * len(points)
    curves: dict[str, dict[str, list[dict[str, object]]]] = {}
    notes: dict[str, dict[str, dict[str, object]]] = {}
    for site_id, element, point, note in zip(numbers["site_id"], numbers["element"], points, note_rows):
        site = str(site_id)
        if element not in curves.setdefault(site, {}):
            curves[site][element] = []
            notes.setdefault(site, {})[element] = _clean_record(note)
        curves[site][element].append(_clean_record(point))
    return {"status": "ok", "message": "", "columns": found, "curves": curves, "notes": notes}


def fits_payload(
    sites: pd.DataFrame, grade_report: Path | None, grade_tonnage: dict[str, object] | None = None
) -> dict[str, object]:
    """The grade model's fit per site, from the best source available.

    Per-site rows of ``grade_model_report.csv`` (a ``site_id`` column) come first; else the
    method chosen per element from ``sites_ranked`` columns ``<element>_model`` (``ga_model``); else
    the ``grade_method`` of each grade-tonnage curve (``grade_tonnage`` is the output of
    :func:`grade_tonnage_payload`); else none.
    The pooled within-site validation rows of the report (method ``residua``) are kept as
    context either way.

    Returns
    -------
    dict
        ``status`` (``per_site``, ``chosen``, ``absent``), ``message``, ``by_site`` (site ->
        list of row dicts) and ``pooled`` (list of row dicts).
    """
    report = pd.read_csv(grade_report) if grade_report is not None and grade_report.is_file() else None
    pooled: list[dict[str, object]] = []
    if report is not None and "method" in report.columns:
        rows = report[report["method"] == "residua"]
        if "site_id" in report.columns:
            rows = rows[rows["site_id"].isna()]
        keep = [c for c in ("element", "n", "sites", "rmse", "mae", "bias", "r2", "coverage80") if c in rows.columns]
        pooled = [_clean_record(row) for row in rows[keep].to_dict("records")]
    if report is not None and "site_id" in report.columns and report["site_id"].notna().any():
        per_site = report[report["site_id"].notna()].drop(columns=[c for c in ("level",) if c in report.columns])
        by_site = {
            str(site_id): [
                _clean_record(row) for row in rows.drop(columns="site_id").dropna(axis=1, how="all").to_dict("records")
            ]
            for site_id, rows in per_site.groupby("site_id", sort=True)
        }
        return {"status": "per_site", "message": "", "by_site": by_site, "pooled": pooled}
    chosen = [f"{element}_model" for element in ELEMENTS if f"{element}_model" in sites.columns]
    if chosen:
        by_site = {
            str(row["site_id"]): [{"element": c.split("_")[0], "method": row[c]} for c in chosen if _present(row[c])]
            for _, row in sites.iterrows()
        }
        return {"status": "chosen", "message": "", "by_site": by_site, "pooled": pooled}
    methods = {
        site_id: [{"element": element, "method": note["grade_method"]} for element, note in by_element.items()
                  if _present(note.get("grade_method"))]
        for site_id, by_element in (grade_tonnage or {}).get("notes", {}).items()  # type: ignore[union-attr]
    }  # fmt: skip
    if any(methods.values()):
        return {"status": "chosen", "message": "", "by_site": methods, "pooled": pooled}
    message = "No per-site model fit was published"
    message += "; the pooled validation below covers every sampled site." if pooled else "."
    return {"status": "absent", "message": message, "by_site": {}, "pooled": pooled}


def changes_payload(table: pd.DataFrame | None, metadata: dict[str, str] | None = None) -> dict[str, object]:
    """The sites changed since the last release, grouped by site, as the ``changes`` table states them.

    Parameters
    ----------
    table : DataFrame or None
        The ``changes`` table (:func:`residua.geodata.releases.diff_releases` plus ``since_release``).
    metadata : dict, optional
        Run metadata; its ``since_release`` names the release when the table has no row to say it.

    Returns
    -------
    dict
        ``status`` (``listed``, ``none``, ``absent`` or ``unrecognised``), ``since_release``,
        ``message`` (what to say instead of a list), ``summary`` (:func:`~residua.geodata.releases.diff_summary`)
        and ``sites``: per site in table order ``site_id``, ``direct``, ``changes`` (``change``,
        ``old``, ``new``, ``detail``) and ``causes`` (list of text).

    Examples
    --------
    >>> changes_payload(None)["message"]
    'No earlier release of this output folder to compare with.'
    >>> empty = pd.DataFrame(columns=["site_id", "change", "causes", "since_release"])
    >>> changes_payload(empty, {"since_release": "r0003"})["message"]
    'No site changed beyond the threshold since release r0003.'
    """
    if table is None:
        return {"status": "absent", "since_release": "", "message": NO_RELEASE, "summary": {}, "sites": []}
    releases = [str(v) for v in table.get("since_release", pd.Series(dtype=object)) if _present(v)]
    release = releases[0] if releases else (metadata or {}).get("since_release", "").strip()
    missing = [name for name in ("site_id", "change") if name not in table.columns]
    if missing:
        message = f"The changes table has columns {', '.join(map(str, table.columns))}; it needs site_id and change."
        return {"status": "unrecognised", "since_release": release, "message": message, "summary": {}, "sites": []}
    if len(table) == 0:
        message = NO_CHANGE.format(release=release) if release else NO_CHANGE_OR_RELEASE
        if release == "none":  # the run metadata of a first release: assets.publish.NO_EARLIER_RELEASE
            release, message = "", NO_RELEASE
        return {"status": "none", "since_release": release, "message": message, "summary": {}, "sites": []}
    frame = table.assign(site_id=table["site_id"].astype(str))
    frame["direct"] = frame["direct"].map(_truthy) if "direct" in frame.columns else True
    sites = [_changed_site(str(site_id), rows) for site_id, rows in frame.groupby("site_id", sort=False)]
    return {"status": "listed", "since_release": release, "message": "", "summary": diff_summary(frame),
            "sites": sites}  # fmt: skip


def _changed_site(site_id: str, rows: pd.DataFrame) -> dict[str, object]:
    """One site's changes and its causes (``; ``-separated in the table), each cause once."""
    changes = [
        {key: _text(row.get(key)) for key in ("change", "old", "new", "detail")} for row in rows.to_dict("records")
    ]
    causes = [part.strip() for text in rows.get("causes", pd.Series(dtype=object)) for part in _text(text).split("; ")]
    return {"site_id": site_id, "direct": bool(rows["direct"].all()), "changes": changes,
            "causes": list(dict.fromkeys(cause for cause in causes if cause))}  # fmt: skip


def lineage_payload(table: pd.DataFrame | None, models: dict[str, str] | None = None) -> dict[str, object]:
    """Each site's lineage row (the inputs its numbers came from), its JSON columns parsed.

    Parameters
    ----------
    table : DataFrame or None
        The ``lineage`` table (:func:`residua.geodata.releases.site_lineage`).
    models : dict, optional
        Grade model id per element of the whole release (:func:`model_card_ids`), used for a
        site whose ``grade_models`` is empty.

    Returns
    -------
    dict
        ``status`` (``ok`` or ``absent``), ``message`` and ``by_site`` (site -> row dict, with
        ``grade_models_source`` ``lineage``, ``model cards`` or ``""``).

    Examples
    --------
    >>> row = pd.DataFrame({"site_id": ["A"], "n_samples": [4], "grade_models": ["{}"]})
    >>> lineage_payload(row, {"ga": "ga-1"})["by_site"]["A"]["grade_models"]
    {'ga': 'ga-1'}
    """
    if table is None or "site_id" not in table.columns:
        return {"status": "absent", "message": "No lineage table in this inventory.", "by_site": {}}
    by_site: dict[str, dict[str, object]] = {}
    for row in table.to_dict("records"):
        record = _clean_record(row)
        record.update({name: _json_object(row[name]) for name in LINEAGE_JSON if name in row})
        own = record.get("grade_models") or {}
        record["grade_models"] = own or dict(models or {})
        record["grade_models_source"] = "lineage" if own else "model cards" if models else ""
        by_site[str(row["site_id"])] = record
    return {"status": "ok", "message": "", "by_site": by_site}


def hubs_payload(hubs: gpd.GeoDataFrame | None, assignments: gpd.GeoDataFrame | None) -> dict[str, object]:
    """The hub plan as the page shows it: opened hubs, closed candidates and each site's line to its hub.

    Parameters
    ----------
    hubs, assignments : GeoDataFrame or None
        The ``hubs`` and ``hub_assignments`` layers (:mod:`residua.models.hub_plan`); None when absent.

    Returns
    -------
    dict
        ``status`` (``ok``, ``absent`` or ``unrecognised``), ``message`` (one line, instead of the
        plan), ``methods``, ``n_candidates``, ``opened`` (per opened hub the :data:`HUB_COLUMNS`
        present, ``lon``, ``lat``; by net value P50, highest first), ``closed`` (``hub_id``,
        ``location``, ``lon``, ``lat``), ``assignments`` (the :data:`ASSIGNMENT_COLUMNS` present and
        the line's ``coordinates`` [[lon, lat], [lon, lat]]) and ``net_value_usd_mean`` (the plan's
        expected net value, the sum of the opened hubs' means).

    Examples
    --------
    >>> hubs_payload(None, None)["message"]
    'No hub plan in this inventory (no hubs or hub_assignments layer); re-run `residua run` to add one.'
    """
    empty: dict[str, object] = {"methods": [], "n_candidates": 0, "opened": [], "closed": [], "assignments": []}
    if hubs is None or assignments is None:
        absent = [name for name, frame in (("hubs", hubs), ("hub_assignments", assignments)) if frame is None]
        return {"status": "absent", "message": NO_HUB_PLAN.format(layers=" or ".join(absent)), **empty}
    missing = [f"{layer}.{column}" for layer, frame in (("hubs", hubs), ("hub_assignments", assignments))
               for column in HUB_REQUIRED[layer] if column not in frame.columns]  # fmt: skip
    if missing:
        message = f"The hub plan cannot be shown: the inventory lacks {', '.join(missing)} (an older run?)."
        return {"status": "unrecognised", "message": message, **empty}
    hubs = hubs.to_crs(4326) if hubs.crs is not None else hubs
    assignments = assignments.to_crs(4326) if assignments.crs is not None else assignments
    hubs = hubs.assign(hub_id=hubs["hub_id"].astype(str), opened=hubs["opened"].map(_truthy))
    points = [_lon_lat(geometry) for geometry in hubs.geometry]
    opened, closed = [], []
    for (_, row), point in zip(hubs.iterrows(), points):
        if row["opened"]:
            record = _clean_record({key: row[key] for key in HUB_COLUMNS if key in hubs.columns})
            opened.append({**record, "lon": point[0], "lat": point[1]})
        else:
            closed.append({"hub_id": row["hub_id"], "location": _text(row.get("location")), "lon": point[0],
                           "lat": point[1]})  # fmt: skip
    opened.sort(key=lambda hub: (hub.get("net_value_usd_p50") is None, -(hub.get("net_value_usd_p50") or 0.0)))
    lines = []
    for _, row in assignments.iterrows():
        record = _clean_record({key: row[key] for key in ASSIGNMENT_COLUMNS if key in assignments.columns})
        record.update(site_id=str(row["site_id"]), hub_id=str(row["hub_id"]))
        geometry = row.geometry
        coordinates = [] if geometry is None or geometry.is_empty else shapely.get_coordinates(geometry)
        record["coordinates"] = [[round(float(x), 6), round(float(y), 6)] for x, y in coordinates]
        lines.append(record)
    means = hubs.loc[hubs["opened"], "net_value_usd_mean"] if "net_value_usd_mean" in hubs.columns else None
    total = float(means.sum()) if means is not None and means.notna().any() else None
    methods = sorted({_text(value) for value in hubs.get("method", pd.Series(dtype=object)) if _present(value)})
    return {"status": "ok", "message": "", "methods": methods, "n_candidates": len(hubs), "opened": opened,
            "closed": closed, "assignments": lines, "net_value_usd_mean": total}  # fmt: skip


def sampling_plan_payload(plan: gpd.GeoDataFrame | None) -> dict[str, object]:
    """The sampling plan as the page shows it: one campaign per site, by priority, and its planned holes.

    Parameters
    ----------
    plan : GeoDataFrame or None
        The ``sampling_plan`` layer (:mod:`residua.models.sampling_plan`, one point per planned hole, the
        campaign's numbers repeated on each); None when absent.

    Returns
    -------
    dict
        ``status`` (``ok``, ``empty``, ``absent`` or ``unrecognised``), ``message`` (one line, instead
        of the plan), ``n_holes``, ``n_sites``, ``campaigns`` (per site, by priority, the
        :data:`PLAN_CAMPAIGN_COLUMNS` present and ``holes``, its planned holes), ``holes`` (per hole the
        :data:`PLANNED_HOLE_COLUMNS` present, ``lon``, ``lat``) and ``cost_usd`` (the campaigns' placeholder
        costs summed; None without ``campaign_cost_usd``).

    Examples
    --------
    >>> sampling_plan_payload(None)["message"]
    'No sampling plan in this inventory (no sampling_plan layer); re-run `residua run` to add one.'
    >>> empty = gpd.GeoDataFrame({"hole_id": [], "site_id": [], "priority": []}, geometry=gpd.points_from_xy([], []))
    >>> sampling_plan_payload(empty)["status"]
    'empty'
    """
    empty: dict[str, object] = {"n_holes": 0, "n_sites": 0, "campaigns": [], "holes": [], "cost_usd": None}
    if plan is None:
        return {"status": "absent", "message": NO_SAMPLING_PLAN, **empty}
    missing = [f"sampling_plan.{column}" for column in PLAN_REQUIRED if column not in plan.columns]
    if missing:
        message = f"The sampling plan cannot be shown: the inventory lacks {', '.join(missing)} (an older run?)."
        return {"status": "unrecognised", "message": message, **empty}
    if len(plan) == 0:
        return {"status": "empty", "message": EMPTY_SAMPLING_PLAN, **empty}
    plan = plan.to_crs(4326) if plan.crs is not None else plan
    plan = plan.assign(hole_id=plan["hole_id"].astype(str), site_id=plan["site_id"].astype(str))
    plan = plan.sort_values(["priority", "site_id", "hole_id"], kind="mergesort")
    holes = [{**_clean_record({key: row[key] for key in PLANNED_HOLE_COLUMNS if key in plan.columns}),
              **dict(zip(("lon", "lat"), _lon_lat(row.geometry)))} for _, row in plan.iterrows()]  # fmt: skip
    first = plan.drop_duplicates("site_id")
    counts = plan["site_id"].value_counts()
    campaigns = [
        {**_clean_record({key: row[key] for key in PLAN_CAMPAIGN_COLUMNS if key in plan.columns}),
         "holes": int(counts[row["site_id"]])}
        for _, row in first.iterrows()
    ]  # fmt: skip
    costs = first["campaign_cost_usd"] if "campaign_cost_usd" in first.columns else None
    cost = float(costs.sum()) if costs is not None and costs.notna().any() else None
    return {"status": "ok", "message": "", "n_holes": len(holes), "n_sites": len(campaigns), "campaigns": campaigns,
            "holes": holes, "cost_usd": cost}  # fmt: skip


def _int_or_none(text: str | None) -> int | None:
    """An integer from run metadata text; None when absent or not a number.

    >>> _int_or_none("10"), _int_or_none(None), _int_or_none("ten")
    (10, None, None)
    """
    try:
        return int(str(text))
    except ValueError:
        return None


def _lon_lat(geometry: object) -> tuple[float | None, float | None]:
    """A point's (lon, lat) rounded to 1e-6 degrees; (None, None) when missing or empty."""
    if geometry is None or getattr(geometry, "is_empty", True):
        return (None, None)
    point = geometry if geometry.geom_type == "Point" else geometry.representative_point()  # type: ignore[attr-defined]
    return (round(float(point.x), 6), round(float(point.y), 6))


def model_card_ids(folder: Path) -> dict[str, str]:
    """Grade model id per element from the model cards in ``folder`` (empty when absent or unreadable)."""
    cards = {f"model_cards/{path.name}": path for path in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    try:
        return model_ids(cards)
    except (OSError, ValueError):
        return {}


def reviews_payload(gpkg: Path, reviews: Path | None) -> dict[str, object]:
    """Review history and the decision in force per site, read with :mod:`residua.geodata.reviews`.

    ``reviews`` (a CSV) is used when it exists; else the GeoPackage's ``reviews`` table.

    Returns
    -------
    dict
        ``source`` (a description, or None), ``rows`` oldest first, ``latest`` (site -> row),
        ``quarantined`` (rows that could not be read).
    """
    if reviews is not None and reviews.is_file():
        return review_history(reviews, source=str(reviews))
    if "reviews" in _layers(gpkg):
        table = pd.DataFrame(_read_layer(gpkg, "reviews", geometry=False))
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / REVIEWS_FILE
            table.to_csv(copy, index=False)
            return review_history(copy, source=f"{gpkg.name} (reviews table)")
    return {"source": None, "path": str(reviews) if reviews else None, "rows": [], "latest": {}, "quarantined": 0}


def review_history(path: Path, source: str | None = None) -> dict[str, object]:
    """All valid decisions in a reviews CSV, the latest per site and the unreadable-row count.

    Examples
    --------
    >>> review_history(Path("/nonexistent/reviews.csv"))["rows"]
    []
    """
    accepted, quarantined = read_reviews(path)
    accepted = accepted.assign(timestamp=accepted["timestamp"].map(_iso))
    latest = latest_decisions(accepted) if len(accepted) else pd.DataFrame()
    return {
        "source": source or str(path),
        "path": str(path),
        "rows": [{key: str(value) for key, value in row.items()} for row in accepted.to_dict("records")],
        "latest": {str(site): {k: str(v) for k, v in row.items()} for site, row in latest.iterrows()},
        "quarantined": len(quarantined),
    }


def _layers(gpkg: Path) -> set[str]:
    if not gpkg.is_file():
        raise ReviewPageError(
            f"{gpkg} does not exist; publish the inventory first with `residua run --out {gpkg.parent}`"
        )
    with no_gdal_sidecars():
        return {str(name) for name, _ in pyogrio.list_layers(gpkg)}


def _read_layer(gpkg: Path, layer: str, geometry: bool = True) -> pd.DataFrame:
    with no_gdal_sidecars():
        return pyogrio.read_dataframe(gpkg, layer=layer, read_geometry=geometry)


def _read_sites(gpkg: Path) -> gpd.GeoDataFrame:
    if "sites_ranked" not in _layers(gpkg):
        raise ReviewPageError(f"{gpkg} has no sites_ranked layer; it is not a Residua inventory (re-run `residua run`)")
    sites = _read_layer(gpkg, "sites_ranked")
    sites = sites.to_crs(4326) if sites.crs is not None else sites
    return sites.sort_values("rank", kind="mergesort").reset_index(drop=True) if "rank" in sites else sites


def _feature_collection(frame: gpd.GeoDataFrame, decimals: int = 6) -> dict[str, object]:
    """A GeoJSON FeatureCollection of ``frame`` as Python objects, coordinates rounded to ``decimals``.

    Built column by column (no GeoJSON text round trip): 170,000 samples take about a second.

    >>> frame = gpd.GeoDataFrame({"a": [1.5, np.inf], "b": ["x", None]}, geometry=gpd.points_from_xy([1, 2], [3, 4]))
    >>> collection = _feature_collection(frame)
    >>> collection["features"][1]
    {'type': 'Feature', 'properties': {'a': None, 'b': None}, 'geometry': {'type': 'Point', 'coordinates': [2.0, 4.0]}}
    """
    attributes = [name for name in frame.columns if name != frame.geometry.name]
    names, columns = [str(name) for name in attributes], [_json_column(frame[name]) for name in attributes]
    geometries = _json_geometries(frame.geometry.values, decimals)
    features = [{"type": "Feature", "properties": dict(zip(names, row)), "geometry": geometry}
                for row, geometry in zip(zip(*columns) if columns else [()] * len(frame), geometries)]  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def _json_column(values: pd.Series) -> list[object]:
    """A column as JSON-ready Python values: missing and infinite as None, datetimes as ISO text, others as text."""
    missing = values.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(values):
        return [None if gone else value.isoformat() for value, gone in zip(values, missing)]
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
        return [None if gone else value for value, gone in zip(values.astype(object).tolist(), missing)]
    if pd.api.types.is_numeric_dtype(values):
        array = values.to_numpy(dtype=float, na_value=np.nan)
        return [value if finite else None for value, finite in zip(array.tolist(), np.isfinite(array))]
    native = (str, bool, int, float)
    return [None if gone else value if isinstance(value, native) else str(value)
            for value, gone in zip(values.astype(object).tolist(), missing)]  # fmt: skip


def _json_geometries(geometries: np.ndarray, decimals: int) -> list[dict[str, object] | None]:
    """GeoJSON geometry objects (2-D points straight from their coordinates); missing or empty ones as None.

    >>> _json_geometries(np.array([None, shapely.Point(), shapely.Point(1, 2, 3), shapely.box(0, 0, 1e-8, 1e-8)]), 6)
    [None, None, {'type': 'Point', 'coordinates': [1.0, 2.0, 3.0]}, None]
    """
    geometries = np.asarray(geometries, dtype=object)
    shapes: list[dict[str, object] | None] = [None] * len(geometries)
    present = np.flatnonzero(~(shapely.is_missing(geometries) | shapely.is_empty(geometries)))
    chosen = geometries[present]
    if (shapely.get_type_id(chosen) == 0).all() and not shapely.has_z(chosen).any():
        x, y = (np.round(axis(chosen), decimals).tolist() for axis in (shapely.get_x, shapely.get_y))
        for index, a, b in zip(present, x, y):
            shapes[index] = {"type": "Point", "coordinates": [a, b]}
        return shapes
    rounded = shapely.set_precision(chosen, 10.0**-decimals)  # a sliver can vanish at the published precision
    for index, geometry, text in zip(present, rounded, shapely.to_geojson(rounded)):
        shapes[index] = None if shapely.is_empty(geometry) else json.loads(text)
    return shapes


def _samples_payload(samples: gpd.GeoDataFrame | None) -> dict[str, object]:
    if samples is None or len(samples) == 0:
        return {"type": "FeatureCollection", "features": []}
    keep = ["sample_id", "hole_id", "site_id", "depth_from_m", "depth_to_m"]
    keep += [c for e in ELEMENTS for c in (f"{e}_gt", f"{e}_bdl") if c in samples.columns]
    return _feature_collection(samples[[c for c in keep if c in samples.columns] + ["geometry"]])


def _countries_near(sites: gpd.GeoDataFrame) -> dict[str, object]:
    """Country outlines within a margin of the sites, for orientation on a plain background."""
    countries = gpd.read_file(STATIC_DIR / COUNTRIES, engine="pyogrio")
    west, south, east, north = sites.total_bounds if len(sites) else (-180.0, -90.0, 180.0, 90.0)
    margin = max(5.0, 0.5 * max(east - west, north - south))
    window = shapely.box(west - margin, south - margin, east + margin, north + margin)
    return json.loads(countries[countries.intersects(window)].to_json(drop_id=True))


def _leaflet_css() -> str:
    """Leaflet's stylesheet without its image references (layer-switcher and marker icons, unused here)."""
    return re.sub(r"url\(images/[^)]*\)", "none", _static(LEAFLET_CSS))


def _static(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and str(value) != ""


def _clean_record(record: dict[str, object]) -> dict[str, object]:
    """JSON-safe values: NaN and infinities become None, numpy scalars Python ones."""
    clean: dict[str, object] = {}
    for key, value in record.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not np.isfinite(value):
            value = None
        clean[str(key)] = value
    return clean


def _text(value: object) -> str:
    """A cell as text; missing (None, NaN) as ''."""
    return str(value) if _present(value) else ""


def _truthy(value: object) -> bool:
    """A boolean cell as GeoPackage readers return it (bool, 0/1 or text)."""
    return _text(value).strip().lower() in {"true", "1", "yes"}


def _json_object(value: object) -> dict[str, object]:
    """A JSON object cell as a dict; anything else (missing, malformed, not an object) as {}."""
    try:
        loaded = json.loads(value) if isinstance(value, str) and value.strip() else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
