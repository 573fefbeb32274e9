"""Confidence classes and a deterministic ranking."""

import pandas as pd

from residua.geodata.reviews import read_reviews
from residua.models.ranking import classify_confidence, rank_sites, review_history, review_quarantine


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


def _estimates() -> pd.DataFrame:
    return pd.DataFrame(
        {"site_id": ["a", "b", "c", "d"], "value_usd_p50": [400.0, 300.0, 200.0, 100.0], "confidence": ["G1"] * 4}
    )


def _reviews(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """(site_id, decision, note, ISO timestamp) rows, as geodata.reviews.read_reviews returns them."""
    frame = pd.DataFrame(rows, columns=["site_id", "decision", "note", "timestamp"]).assign(reviewer="A. Rao")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame[["site_id", "decision", "note", "reviewer", "timestamp"]]


def test_without_reviews_every_site_is_ranked_and_unreviewed():
    ranked = rank_sites(_estimates())
    assert str(ranked["rank"].dtype) == "Int64"
    assert ranked["rank"].tolist() == [1, 2, 3, 4]
    assert (ranked["review_status"] == "unreviewed").all()
    assert (ranked["review_count"] == 0).all() and (ranked["excluded_reason"] == "").all()


def test_excluded_site_stays_in_the_output_without_a_rank_and_the_others_close_up():
    reviews = _reviews(("b", "exclude", "pond capped in 2019", "2026-11-01T10:00:00+00:00"))
    ranked = rank_sites(_estimates(), reviews).set_index("site_id")
    assert sorted(ranked.index) == ["a", "b", "c", "d"]  # nothing disappears
    assert ranked.loc[["a", "b", "c", "d"], "rank"].isna().tolist() == [False, True, False, False]
    assert ranked["rank"].dropna().tolist() == [1, 2, 3]  # a, c, d close up
    assert ranked.loc["c", "rank"] == 2
    assert ranked.loc["b", "excluded_reason"] == "pond capped in 2019"
    assert ranked.loc["b", "review_status"] == "excluded" and ranked.loc["b", "reviewer"] == "A. Rao"
    assert ranked.loc["b", "reviewed_at"] == "2026-11-01T10:00:00+00:00"
    assert ranked.loc["b", "score"] == 300.0  # its score is still shown
    assert rank_sites(_estimates(), reviews)["site_id"].iloc[-1] == "b"  # excluded sites come last


def test_latest_decision_wins_whatever_the_row_order():
    reviews = _reviews(
        ("a", "accept", "", "2026-11-03T00:00:00+00:00"),  # latest for a: accept
        ("a", "exclude", "duplicate footprint", "2026-11-01T00:00:00+00:00"),
        ("c", "accept", "", "2026-11-01T00:00:00+00:00"),
        ("c", "exclude", "", "2026-11-02T00:00:00+00:00"),  # latest for c: exclude, without a note
        ("d", "needs-data", "assay the deeper layer", "2026-11-02T00:00:00+00:00"),
    )
    ranked = rank_sites(_estimates(), reviews).set_index("site_id")
    assert ranked.loc["a", "rank"] == 1 and ranked.loc["a", "review_status"] == "accepted"
    assert ranked.loc["a", "review_count"] == 2 and ranked.loc["a", "excluded_reason"] == ""
    assert pd.isna(ranked.loc["c", "rank"])
    assert ranked.loc["c", "excluded_reason"] == "excluded by review (no note given)"
    assert ranked.loc["d", "rank"] == 3 and ranked.loc["d", "review_status"] == "needs data"
    assert ranked.loc["d", "review_note"] == "assay the deeper layer"
    assert ranked.loc["b", "review_status"] == "unreviewed" and ranked.loc["b", "review_decision"] == ""


def test_a_decision_for_an_unknown_site_changes_nothing():
    reviews = _reviews(("zz", "exclude", "", "2026-11-01T00:00:00+00:00"))
    ranked = rank_sites(_estimates(), reviews)
    assert ranked["rank"].tolist() == [1, 2, 3, 4]
    assert "zz" not in set(ranked["site_id"])


def test_review_history_keeps_every_decision_and_marks_the_one_in_force():
    reviews = _reviews(
        ("a", "exclude", "x", "2026-11-01T00:00:00+00:00"),
        ("a", "accept", "y", "2026-11-02T00:00:00+00:00"),
        ("zz", "accept", "", "2026-11-01T12:00:00+00:00"),
    )
    history = review_history(reviews, pd.Series(["a", "b"]))
    assert history["decision"].tolist() == ["exclude", "accept", "accept"]  # oldest first
    assert history["site_id"].tolist() == ["a", "zz", "a"]
    assert history["in_force"].tolist() == [False, True, True]
    assert history["site_in_inventory"].tolist() == [True, False, True]
    assert history["timestamp"].iloc[0].startswith("2026-11-01T00:00:00")


def test_published_history_reads_back_through_the_reviews_contract(tmp_path):
    reviews = _reviews(
        ("a", "exclude", "x", "2026-11-01T00:00:00+00:00"), ("a", "accept", "y", "2026-11-02T00:00:00+00:00")
    )
    review_history(reviews, pd.Series(["a"])).to_csv(tmp_path / "reviews.csv", index=False)
    again, rejected = read_reviews(tmp_path / "reviews.csv")
    assert rejected.empty
    pd.testing.assert_frame_equal(again, reviews)


def test_review_quarantine_keeps_the_row_number_reason_and_raw_values():
    rejects = pd.DataFrame({"site_id": ["a"], "decision": ["maybe"], "note": [""], "reviewer": ["R"],
                            "timestamp": ["yesterday"], "source_row": [3],
                            "reason": ["decision is not one of ..."]})  # fmt: skip
    rows = review_quarantine(rejects, "reviews.csv")
    assert rows.loc[0, ["source", "source_row", "record_id"]].tolist() == ["reviews.csv", 3, "a"]
    assert '"decision": "maybe"' in rows.loc[0, "raw"] and rows.loc[0, "reason"].startswith("decision")


def _tonnage_estimates() -> pd.DataFrame:
    """Four sites; b's DEM tonnage is 3x its reported tonnes, c's 0.4x, d has no reported figure."""
    return _estimates().assign(
        tonnes_p50=[1.0e6, 3.0e6, 0.4e6, 2.0e6],
        reported_tonnes=[1.1e6, 1.0e6, 1.0e6, float("nan")],
        tonnes_vs_reported=[1.0 / 1.1, 3.0, 0.4, float("nan")],
        volume_method="dem_difference",
    )


def test_a_tonnage_far_from_reported_is_held_unranked_with_both_tonnages_and_the_ratio():
    ranked = rank_sites(_tonnage_estimates()).set_index("site_id")
    assert sorted(ranked.index) == ["a", "b", "c", "d"]  # nothing disappears
    assert ranked.loc[["a", "d"], "rank"].tolist() == [1, 2]  # d has no reported tonnes: never held
    assert ranked.loc[["b", "c"], "rank"].isna().all()
    assert (ranked.loc[["b", "c"], "review_status"] == "held for review").all()
    reason = ranked.loc["b", "held_reason"]
    assert "modelled 3,000,000 t (P50, dem_difference) is 3.00x the reported 1,000,000 t, outside 0.5-2x" in reason
    assert "record 'accept-tonnage' (or 'exclude') for site b in reviews.csv" in reason
    assert "0.40x the reported 1,000,000 t" in ranked.loc["c", "held_reason"]
    assert (ranked.loc[["a", "d"], "held_reason"] == "").all() and ranked.loc["b", "score"] == 300.0
    assert rank_sites(_tonnage_estimates())["site_id"].tolist() == ["a", "d", "b", "c"]  # held after ranked


def test_a_reported_tonnage_implying_an_implausible_thickness_is_held_until_accepted():
    estimates = _estimates().assign(
        tonnes_p50=[1.0e6, 2.0e7, 1.0e6, 1.0e6],
        tonnes_vs_reported=1.0,  # no DEM: the model can only repeat the reported figure
        volume_method="reported_tonnes",
        reported_thickness_m=[4.7, 94.0, float("nan"), 60.0],
        thickness_limit_m=[90.0, 90.0, 90.0, 60.0],
    )
    ranked = rank_sites(estimates).set_index("site_id")
    assert ranked.loc[list("abcd"), "rank"].isna().tolist() == [False, True, False, False]  # 60 m at 60 m: ranked
    reason = ranked.loc["b", "held_reason"]
    assert "implies a mean thickness of 94.0 m, above the plausible maximum 90 m" in reason
    assert "units (t or kt)" in reason and "'accept-tonnage' (or 'exclude') for site b" in reason
    accepted = rank_sites(estimates, _reviews(("b", "accept-tonnage", "", "2026-11-01T00:00:00+00:00")))
    assert accepted.set_index("site_id").loc["b", "rank"] == 2
    accepted_grades = rank_sites(estimates, _reviews(("b", "accept", "", "2026-11-01T00:00:00+00:00")))
    reason = accepted_grades.set_index("site_id").loc["b", "held_reason"]
    assert reason.endswith("('accept' does not release a tonnage hold: only 'accept-tonnage' does)")


def test_the_tonnage_band_is_a_parameter():
    ranked = rank_sites(_tonnage_estimates(), tonnage_band=(0.3, 2.5)).set_index("site_id")
    assert ranked["rank"].isna().tolist() == [False, False, False, True]  # a, c (0.4x), d ranked; b (3x) held
    assert "outside 0.3-2.5x" in ranked.loc["b", "held_reason"] and ranked.loc["c", "held_reason"] == ""


def test_only_accept_tonnage_in_force_releases_a_hold_and_exclude_still_wins():
    reviews = _reviews(
        ("b", "accept-tonnage", "reported figure predates the 2021 raise", "2026-11-01T00:00:00+00:00"),
        ("c", "accept-tonnage", "", "2026-11-01T00:00:00+00:00"),
        ("c", "accept", "grades fine", "2026-11-02T00:00:00+00:00"),  # latest for c: accept, not the tonnage
        ("a", "exclude", "capped", "2026-11-01T00:00:00+00:00"),
    )
    ranked = rank_sites(_tonnage_estimates(), reviews).set_index("site_id")
    assert ranked.loc["b", "rank"] == 1 and ranked.loc["b", "review_status"] == "tonnage accepted"
    assert ranked.loc["b", "held_reason"] == ""
    assert pd.isna(ranked.loc["c", "rank"]) and ranked.loc["c", "review_status"] == "held for review"
    assert "'accept' does not release a tonnage hold: only 'accept-tonnage' does" in ranked.loc["c", "held_reason"]
    assert ranked.loc["a", "review_status"] == "excluded" and ranked.loc["a", "held_reason"] == ""
    assert rank_sites(_tonnage_estimates(), reviews)["site_id"].tolist() == ["b", "d", "c", "a"]


def test_needs_data_keeps_a_far_tonnage_held():
    reviews = _reviews(("b", "needs-data", "resurvey the base", "2026-11-01T00:00:00+00:00"))
    ranked = rank_sites(_tonnage_estimates(), reviews).set_index("site_id")
    assert pd.isna(ranked.loc["b", "rank"]) and ranked.loc["b", "review_status"] == "held for review"
    assert ranked.loc["b", "review_decision"] == "needs-data"
