"""Confidence classes and the site ranking.

Confidence follows data density and the width of the simulated interval, not kriging
variance alone. Classes map to the UNFC geological axis used by India's Minerals (Evidence
of Mineral Contents) Rules 2015 (G1..G4, codes 331..334) and to Measured / Indicated /
Inferred-like words. These are screening estimates, not a compliant resource statement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: class -> (UNFC code, words, weight in the ranking score)
CONFIDENCE_CLASSES: dict[str, tuple[int, str, float]] = {
    "G1": (331, "Measured-like", 1.0),
    "G2": (332, "Indicated-like", 0.85),
    "G3": (333, "Inferred-like", 0.6),
    "G4": (334, "Reconnaissance (unsampled)", 0.35),
}

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
    classes = pd.Series("G4", index=n_holes.index, dtype=object)
    for name, min_holes, max_width, needs_dem in reversed(CONFIDENCE_RULES):
        meets = (n_holes >= min_holes) & (relative_width <= max_width) & (dem_volume | (not needs_dem))
        classes[meets] = name
    return classes


def rank_sites(estimates: pd.DataFrame) -> pd.DataFrame:
    """Score = P50 recoverable value (USD) x confidence weight; rank 1 is the highest score.

    Ties are broken by ``site_id`` so the order is deterministic. Every component of the
    score is a column: ``value_usd_p50``, ``confidence_weight``, ``score``.
    """
    ranked = estimates.copy()
    ranked["confidence_weight"] = ranked["confidence"].map(lambda c: CONFIDENCE_CLASSES[c][2])
    ranked["unfc_code"] = ranked["confidence"].map(lambda c: CONFIDENCE_CLASSES[c][0])
    ranked["confidence_words"] = ranked["confidence"].map(lambda c: CONFIDENCE_CLASSES[c][1])
    ranked["score"] = ranked["value_usd_p50"] * ranked["confidence_weight"]
    ranked = ranked.sort_values(["score", "site_id"], ascending=[False, True], kind="mergesort")
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked.reset_index(drop=True)
