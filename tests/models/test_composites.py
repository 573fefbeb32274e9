"""Vectorised compositing agrees with a plain per-hole, per-window loop."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from residua.models.preparation import composite_intervals

COLUMNS = ["site_id", "residue_type", "hole_id", "depth_from_m", "depth_to_m", "grade_gt", "bdl", "x_m", "y_m"]


def reference_composites(table: pd.DataFrame, length_m: float) -> pd.DataFrame:
    """The textbook loop: every window of every hole, grade weighted by overlap length."""
    rows = []
    has_depth = table["depth_from_m"].notna() & table["depth_to_m"].notna()
    for _, hole in table[has_depth].groupby(["site_id", "hole_id"], sort=False):
        top = np.floor(hole["depth_from_m"].min() / length_m) * length_m
        for start in np.arange(top, hole["depth_to_m"].max(), length_m):
            overlap = np.clip(
                np.minimum(hole["depth_to_m"], start + length_m) - np.maximum(hole["depth_from_m"], start), 0, None
            )
            if overlap.sum() <= 0:
                continue
            rows.append({
                **hole.iloc[0][["site_id", "residue_type", "hole_id", "x_m", "y_m"]].to_dict(),
                "depth_from_m": start, "depth_to_m": start + overlap.sum(),
                "grade_gt": np.average(hole["grade_gt"], weights=overlap),
                "bdl": np.average(hole["bdl"].astype(float), weights=overlap) > 0.5,
            })  # fmt: skip
    return pd.concat([pd.DataFrame(rows, columns=COLUMNS), table[~has_depth]], ignore_index=True)


interval = st.tuples(
    st.sampled_from(["s1", "s2"]),
    st.sampled_from(["h1", "h2", "h3"]),
    st.one_of(st.none(), st.integers(0, 40)),  # top in quarter metres (exact in binary)
    st.integers(1, 12),  # length in quarter metres
    st.floats(0.01, 100.0),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(interval, max_size=25), st.sampled_from([0.5, 1.0, 1.5, 2.0]))
def test_composites_match_the_per_hole_loop(intervals, length_m):
    table = pd.DataFrame(
        [
            {"site_id": site, "residue_type": "other", "hole_id": hole,
             "depth_from_m": np.nan if top is None else top / 4,
             "depth_to_m": np.nan if top is None else (top + size) / 4,
             "grade_gt": grade, "bdl": bdl, "x_m": 1.0, "y_m": 2.0}
            for site, hole, top, size, grade, bdl in intervals
        ],
        columns=COLUMNS,
    )  # fmt: skip
    expected = reference_composites(table, length_m)
    actual = composite_intervals(table, length_m)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-9)


def test_metal_is_conserved_by_compositing():
    table = pd.DataFrame({
        "site_id": "s", "residue_type": "other", "hole_id": ["a", "a", "a", "b"],
        "depth_from_m": [0.0, 0.4, 2.0, 0.0], "depth_to_m": [0.4, 2.0, 3.7, 5.0],
        "grade_gt": [5.0, 10.0, 1.0, 3.0], "bdl": [False, False, True, False], "x_m": 0.0, "y_m": 0.0,
    })  # fmt: skip
    composites = composite_intervals(table, 1.5)
    length = composites["depth_to_m"] - composites["depth_from_m"]
    intervals_length = table["depth_to_m"] - table["depth_from_m"]
    assert np.isclose((composites["grade_gt"] * length).sum(), (table["grade_gt"] * intervals_length).sum())
    assert np.isclose(length.sum(), intervals_length.sum())
