"""Confidence classes and the site ranking.

Confidence follows data density and the width of the simulated interval, not kriging
variance alone. Classes map to the UNFC geological axis used by India's Minerals (Evidence
of Mineral Contents) Rules 2015 (G1..G4, codes 331..334) and to Measured / Indicated /
Inferred-like words (codes, words and weights in :data:`geodata.vocabulary.CONFIDENCE_CLASSES`).
These are screening estimates, not a compliant resource statement.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from geodata.vocabulary import CONFIDENCE, REVIEW_STATUS, UNREVIEWED, UNSAMPLED_CLASS

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
)  # fmt: skip


def rank_sites(estimates: pd.DataFrame, reviews: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score = P50 recoverable value (USD) x confidence weight; rank 1 is the highest score.

    Ties are broken by ``site_id`` so the order is deterministic. Every component of the
    score is a column: ``value_usd_p50``, ``confidence_weight``, ``score``.

    Parameters
    ----------
    estimates : DataFrame
        One row per site with ``site_id``, ``value_usd_p50`` and ``confidence`` (G1..G4).
    reviews : DataFrame, optional
        Reviewers' decisions, as :func:`geodata.reviews.read_reviews` returns them
        (``site_id``, ``decision``, ``note``, ``reviewer``, ``timestamp``; oldest first).
        The latest decision per site is in force: ``exclude`` keeps the site in the table
        with an empty ``rank`` and its ``excluded_reason``; ``needs-data`` and ``accept``
        rank the site and say so in ``review_status``. Decisions for sites not in
        ``estimates`` change nothing here.

    Returns
    -------
    DataFrame
        Every site of ``estimates``: ranked sites first, by rank (a nullable ``Int64``),
        then excluded sites by score; plus the review columns (see ``REVIEW_COLUMNS``).

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
    ranked = _attach_reviews(ranked, reviews)
    excluded = ranked["review_status"] == REVIEW_STATUS["exclude"]
    ranked = ranked.sort_values(["score", "site_id"], ascending=[False, True], kind="mergesort")
    ranked = pd.concat([ranked[~excluded.loc[ranked.index]], ranked[excluded.loc[ranked.index]]])
    rank = pd.array([pd.NA] * len(ranked), dtype="Int64")
    n_ranked = int((~excluded).sum())
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


def review_history(reviews: pd.DataFrame, site_ids: pd.Series) -> pd.DataFrame:
    """Every valid decision, oldest first, with ``in_force`` and ``site_in_inventory`` flags.

    The columns of the reviews contract come first (``site_id``, ``decision``, ``note``,
    ``reviewer``, ``timestamp``), so the published table can be read back with
    :func:`geodata.reviews.read_reviews`; ``timestamp`` is ISO 8601 (UTC) text, so the
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

    ``rejects`` is the second table :func:`geodata.reviews.read_reviews` returns
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
