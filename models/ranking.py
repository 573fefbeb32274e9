"""Confidence classes and the site ranking.

Confidence follows data density and the width of the simulated interval, not kriging
variance alone. Classes map to the UNFC geological axis used by India's Minerals (Evidence
of Mineral Contents) Rules 2015 (G1..G4, codes 331..334) and to Measured / Indicated /
Inferred-like words (codes, words and weights in :data:`residua.geodata.vocabulary.CONFIDENCE_CLASSES`).
These are screening estimates, not a compliant resource statement.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from residua.geodata.vocabulary import (
    ACCEPT_TONNAGE,
    CONFIDENCE,
    HELD_STATUS,
    REVIEW_STATUS,
    UNREVIEWED,
    UNSAMPLED_CLASS,
)

#: Rules, strongest first: (class, min holes, max relative P10-P90 width, needs DEM volume).
CONFIDENCE_RULES: tuple[tuple[str, int, float, bool], ...] = (
    ("G1", 15, 0.5, True),
    ("G2", 8, 1.0, True),
    ("G3", 1, float("inf"), False),
)


def classify_confidence(n_holes: pd.Series, relative_width: pd.Series, dem_volume: pd.Series) -> pd.Series:
    """Confidence class per site (G1..G4) from holes, interval width and volume method.

    ``relative_width`` is (P90 - P10) / P50 of the site's recoverable value; a site with
    no holes is G4 whatever its width.

    >>> classify_confidence(pd.Series([0, 20]), pd.Series([3.0, 0.4]), pd.Series([False, True])).tolist()
    ['G4', 'G1']
    """
    classes = pd.Series(UNSAMPLED_CLASS, index=n_holes.index, dtype=object)
    for name, min_holes, max_width, needs_dem in reversed(CONFIDENCE_RULES):
        meets = (n_holes >= min_holes) & (relative_width <= max_width) & (dem_volume | (not needs_dem))
        classes[meets] = name
    return classes


#: Columns the reviews add to the ranking.
REVIEW_COLUMNS: tuple[str, ...] = (
    "review_status", "review_decision", "review_note", "reviewer", "reviewed_at", "review_count", "excluded_reason",
    "held_reason",
)  # fmt: skip
#: Default band of modelled / reported tonnes (the ``tonnage_ratio_low`` / ``_high`` settings): a
#: factor of 2 is far beyond both figures' stated errors (a reported figure +-20 %, a DEM volume
#: sqrt(2) x 0.3 m over the footprint), so it means a wrong footprint, DEM, datum or density, or a
#: stale reported figure.
TONNAGE_BAND: tuple[float, float] = (0.5, 2.0)


def rank_sites(
    estimates: pd.DataFrame, reviews: pd.DataFrame | None = None, tonnage_band: tuple[float, float] = TONNAGE_BAND
) -> pd.DataFrame:
    """Score = P50 recoverable value (USD) x confidence weight; rank 1 is the highest score.

    Ties are broken by ``site_id`` so the order is deterministic. Every component of the
    score is a column: ``value_usd_p50``, ``confidence_weight``, ``score``. A site whose
    ``tonnes_vs_reported`` (modelled P50 / reported tonnes) lies outside ``tonnage_band`` is
    held for review: no rank, ``review_status`` ``held for review`` and a ``held_reason``
    with both tonnages and the ratio, until the decision in force for it is ``accept-tonnage``.

    Parameters
    ----------
    estimates : DataFrame
        One row per site with ``site_id``, ``value_usd_p50`` and ``confidence`` (G1..G4);
        optionally ``tonnes_vs_reported`` with ``tonnes_p50``, ``reported_tonnes`` and
        ``volume_method`` (without it no site is held).
    reviews : DataFrame, optional
        Reviewers' decisions, as :func:`residua.geodata.reviews.read_reviews` returns them
        (``site_id``, ``decision``, ``note``, ``reviewer``, ``timestamp``; oldest first).
        The latest decision per site is in force: ``exclude`` keeps the site in the table
        with an empty ``rank`` and its ``excluded_reason``; ``needs-data``, ``accept`` and
        ``accept-tonnage`` rank the site (unless held) and say so in ``review_status``.
        Decisions for sites not in ``estimates`` change nothing here.
    tonnage_band : (float, float)
        Lowest and highest modelled / reported tonnes ranked without a review.

    Returns
    -------
    DataFrame
        Every site of ``estimates``: ranked sites first, by rank (a nullable ``Int64``),
        then held sites, then excluded sites, each by score; plus the review columns (see
        ``REVIEW_COLUMNS``).

    Examples
    --------
    >>> estimates = pd.DataFrame({"site_id": ["a", "b"], "value_usd_p50": [10.0, 5.0], "confidence": ["G1", "G1"]})
    >>> reviews = pd.DataFrame({"site_id": ["a"], "decision": ["exclude"], "note": ["capped"], "reviewer": ["R"],
    ...                         "timestamp": [pd.Timestamp("2026-11-25", tz="UTC")]})
    >>> ranked = rank_sites(estimates, reviews)
    >>> ranked["site_id"].tolist(), ranked["rank"].tolist(), ranked["excluded_reason"].tolist()
    (['b', 'a'], [1, <NA>], ['', 'capped'])
    """
    ranked = estimates.copy()
    ranked["confidence_weight"] = ranked["confidence"].map(lambda c: CONFIDENCE[c].weight)
    ranked["unfc_code"] = ranked["confidence"].map(lambda c: CONFIDENCE[c].unfc_code)
    ranked["confidence_words"] = ranked["confidence"].map(lambda c: CONFIDENCE[c].words)
    ranked["score"] = ranked["value_usd_p50"] * ranked["confidence_weight"]
    ranked = _hold_far_tonnages(_attach_reviews(ranked, reviews), tonnage_band)
    ranked = ranked.sort_values(["score", "site_id"], ascending=[False, True], kind="mergesort")
    standing = ranked["review_status"].map({HELD_STATUS: 1, REVIEW_STATUS["exclude"]: 2}).fillna(0)
    ranked = ranked.iloc[np.argsort(standing.to_numpy(), kind="stable")]
    rank = pd.array([pd.NA] * len(ranked), dtype="Int64")
    n_ranked = int((standing == 0).sum())
    rank[:n_ranked] = np.arange(1, n_ranked + 1)
    ranked.insert(0, "rank", rank)
    return ranked.reset_index(drop=True)


def _attach_reviews(ranked: pd.DataFrame, reviews: pd.DataFrame | None) -> pd.DataFrame:
    """The decision in force per site (latest row) and how many decisions the site has had."""
    columns = ["decision", "note", "reviewer", "timestamp"]
    if reviews is None or len(reviews) == 0:
        reviews = pd.DataFrame({"site_id": pd.Series(dtype=object), **{c: pd.Series(dtype=object) for c in columns}})
    history = reviews.sort_values("timestamp", kind="mergesort")
    latest = history.groupby("site_id").tail(1).set_index("site_id")[columns].astype(object)
    latest = latest.reindex(ranked["site_id"]).where(lambda frame: frame.notna(), "")
    counts = history.groupby("site_id").size().reindex(ranked["site_id"]).fillna(0)
    decision = latest["decision"].astype(str).to_numpy()
    note = latest["note"].astype(str).to_numpy()
    timestamps = pd.to_datetime(latest["timestamp"].replace("", None), utc=True)
    ranked["review_status"] = pd.Series(decision, index=ranked.index).map(REVIEW_STATUS).fillna(UNREVIEWED)
    ranked["review_decision"] = decision
    ranked["review_note"] = note
    ranked["reviewer"] = latest["reviewer"].astype(str).to_numpy()
    ranked["reviewed_at"] = [t.isoformat(timespec="seconds") if pd.notna(t) else "" for t in timestamps]
    ranked["review_count"] = counts.astype("int64").to_numpy()
    reason = np.where(note != "", note, "excluded by review (no note given)")
    ranked["excluded_reason"] = np.where(decision == "exclude", reason, "")
    return ranked


#: Added to a hold's reason when the decision in force is a plain 'accept'.
ACCEPT_DOES_NOT_RELEASE = f" ('accept' does not release a tonnage hold: only '{ACCEPT_TONNAGE}' does)"


def _hold_far_tonnages(ranked: pd.DataFrame, band: tuple[float, float]) -> pd.DataFrame:
    """Hold every site whose modelled / reported tonnes lies outside ``band`` and whose decision in force
    is neither ``exclude`` nor ``accept-tonnage``; say why in ``held_reason``."""
    ratio = _numeric(ranked, "tonnes_vs_reported")
    low, high = band
    far = (ratio < low) | (ratio > high)  # NaN (no reported tonnes): never far
    too_thick = _numeric(ranked, "reported_thickness_m") > _numeric(ranked, "thickness_limit_m")
    held = (far | too_thick) & ~ranked["review_decision"].isin(["exclude", ACCEPT_TONNAGE])
    ranked["held_reason"] = ""
    ranked.loc[held, "held_reason"] = [
        (_held_reason(site, band) if is_far else _too_thick_reason(site))
        + (ACCEPT_DOES_NOT_RELEASE if site["review_decision"] == "accept" else "")
        for is_far, (_, site) in zip(far[held], ranked[held].iterrows(), strict=True)
    ]
    ranked.loc[held, "review_status"] = HELD_STATUS
    return ranked


def _held_reason(site: pd.Series, band: tuple[float, float]) -> str:
    """Both tonnages, the ratio, the band and the fix."""
    return (
        f"held for review: modelled {site['tonnes_p50']:,.0f} t (P50, {site['volume_method']}) is "
        f"{site['tonnes_vs_reported']:.2f}x the reported {site['reported_tonnes']:,.0f} t, outside "
        f"{band[0]:g}-{band[1]:g}x; check the footprint, DEMs and density against the reported figure, then record "
        f"'{ACCEPT_TONNAGE}' (or 'exclude') for site {site['site_id']} in reviews.csv"
    )


def _numeric(ranked: pd.DataFrame, column: str) -> pd.Series:
    """A column as floats, all NaN when the table lacks it."""
    return pd.to_numeric(ranked.get(column, pd.Series(np.nan, index=ranked.index)), errors="coerce")


def _too_thick_reason(site: pd.Series) -> str:
    """The implied thickness, the limit and the fix, for a reported figure no DEM can check."""
    return (
        f"held for review: the {str(site['volume_method']).replace('_', ' ')} figure ({site['tonnes_p50']:,.0f} t at "
        f"P50) over this footprint "
        f"implies a mean thickness of {site['reported_thickness_m']:,.1f} m, above the plausible maximum "
        f"{site['thickness_limit_m']:,.0f} m for its residue type; check the figure's units (t or kt), the footprint "
        f"and the residue type, then record '{ACCEPT_TONNAGE}' (or 'exclude') for site {site['site_id']} in reviews.csv"
    )


def review_history(reviews: pd.DataFrame, site_ids: pd.Series) -> pd.DataFrame:
    """Every valid decision, oldest first, with ``in_force`` and ``site_in_inventory`` flags.

    The columns of the reviews contract come first (``site_id``, ``decision``, ``note``,
    ``reviewer``, ``timestamp``), so the published table can be read back with
    :func:`residua.geodata.reviews.read_reviews`; ``timestamp`` is ISO 8601 (UTC) text, so the
    table reads the same in every format.

    >>> reviews = pd.DataFrame({"site_id": ["a", "a", "z"], "decision": ["exclude", "accept", "accept"],
    ...     "note": ["", "re-surveyed", ""], "reviewer": ["R", "S", "R"],
    ...     "timestamp": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-01-05"], utc=True)})
    >>> history = review_history(reviews, pd.Series(["a"]))
    >>> history[["site_id", "decision", "in_force", "site_in_inventory"]].values.tolist()
    [['a', 'exclude', False, True], ['z', 'accept', True, False], ['a', 'accept', True, True]]
    """
    history = reviews.sort_values("timestamp", kind="mergesort").reset_index(drop=True)
    latest = history.groupby("site_id").tail(1).index
    timestamps = pd.to_datetime(history["timestamp"], utc=True)
    return pd.DataFrame(
        {
            "site_id": history["site_id"].astype(str),
            "decision": history["decision"].astype(str),
            "note": history["note"].astype(str),
            "reviewer": history["reviewer"].astype(str),
            "timestamp": [t.isoformat(timespec="microseconds") for t in timestamps],
            "in_force": history.index.isin(latest),
            "site_in_inventory": history["site_id"].isin(set(site_ids)).to_numpy(),
        }
    )


def review_quarantine(rejects: pd.DataFrame, source: str) -> pd.DataFrame:
    """Review rows that could not be used, in the quarantine layer's columns (no geometry).

    ``rejects`` is the second table :func:`residua.geodata.reviews.read_reviews` returns
    (``source_row``, ``reason`` and the raw columns).
    """
    raw_columns = [column for column in rejects.columns if column not in ("source_row", "reason")]
    return pd.DataFrame(
        {
            "source": source,
            "source_row": rejects["source_row"].astype("int64").to_numpy(),
            "record_id": rejects["site_id"].astype(str).str.strip().to_numpy() if "site_id" in rejects else "",
            "reason": rejects["reason"].astype(str).to_numpy(),
            "raw": [json.dumps({c: str(row[c]) for c in raw_columns}) for _, row in rejects.iterrows()],
        }
    )
