"""Confidence classes and a deterministic ranking."""

import pandas as pd

from models.ranking import classify_confidence, rank_sites


def test_confidence_rules():
    n_holes = pd.Series([0, 3, 10, 10, 20, 20])
    width = pd.Series([0.1, 5.0, 0.9, 0.9, 0.4, 0.4])
    dem = pd.Series([True, True, True, False, True, False])
    assert classify_confidence(n_holes, width, dem).tolist() == ["G4", "G3", "G2", "G3", "G1", "G3"]


def test_rank_is_by_weighted_value_with_ties_broken_by_site_id():
    estimates = pd.DataFrame(
        {"site_id": ["b", "a", "c", "d"], "value_usd_p50": [100.0, 100.0, 1000.0, 500.0],
         "confidence": ["G1", "G1", "G4", "G2"]}
    )  # fmt: skip
    ranked = rank_sites(estimates)
    assert ranked["site_id"].tolist() == ["d", "c", "a", "b"]  # 425, 350, 100, 100
    assert ranked["rank"].tolist() == [1, 2, 3, 4]
    assert ranked.loc[0, "score"] == 500.0 * 0.85
    assert ranked.loc[0, "unfc_code"] == 332
