"""The grade-model report as one self-contained HTML page (tables and inline PNG figures)."""

from __future__ import annotations

import html

import pandas as pd

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th{background:#f3f3f3}.banner{background:#b00020;color:#fff;padding:.6em 1em;font-weight:bold}"
    ".note{color:#555;font-size:14px}img{max-width:100%}"
)


def grade_model_html(
    title: str,
    synthetic: bool,
    site_level: pd.DataFrame,
    within_site: pd.DataFrame,
    figures: dict[str, str],
    notes: str,
    reproduction: pd.DataFrame | None = None,
) -> str:
    """Render the report page; ``figures`` maps a caption to a base64 PNG; ``reproduction``
    is the per-element summary of ``models.reproduction`` (no section when None)."""
    banner = (
        '<div class="banner">SYNTHETIC DEMO DATA: figures illustrate the method, not real sites.</div>'
        if synthetic
        else ""
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>",
        banner,
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>{html.escape(notes)}</p>",
        "<h2>Within-site models: blocked spatial cross-validation of the published block estimates "
        "(log g/t and g/t)</h2>",
        within_site.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0),
        *_reproduction_section(reproduction),
        "<h2>Site level: whole sites held out (site mean log g/t)</h2>",
        site_level.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0),
        "<h2>Diagnostics</h2>",
        *[
            f"<h3>{html.escape(name)}</h3><img alt='{html.escape(name)}' src='data:image/png;base64,{png}'>"
            for name, png in figures.items()
        ],
        "<p class='note'>Screening estimates, not a compliant mineral resource statement.</p></body></html>",
    ]
    return "\n".join(parts)


def _reproduction_section(summary: pd.DataFrame | None) -> list[str]:
    if summary is None or summary.empty:
        return []
    return [
        "<h2>Do the realisations reproduce the data?</h2>",
        "<p class='note'>Per element, over block-modelled sites: the share of sites whose declustered composite mean "
        "lies outside the simulated site mean's 90 % interval (warn above 0.2), the realised block P90 over the "
        "declustered composites' P90 (blocks average out sub-block variability, so at most about 1), and the median "
        "ratio of the realisations' semivariogram to the fitted model's (warn outside 0.5-2).</p>",
        summary.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0),
    ]
