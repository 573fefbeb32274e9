"""The sampling-plan benchmark's pure helpers (benchmarks/sampling_plan_benchmark.py): no ``residua run`` here.

Drilling from the generator's truth, the true-value formula, the decision-error metric and the campaign layouts of
the two baselines.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from residua.geodata.schema import ELEMENTS
from residua.models.simulation import metal_share_above

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bench = _load("sampling_plan_benchmark")
demo = bench.demo


def test_decision_error_counts_chosen_sites_outside_the_true_top_n():
    assert bench.decision_error(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert bench.decision_error(["a", "b", "x"], ["a", "b", "c"]) == 1
    assert bench.decision_error(["x", "y", "z"], ["a", "b", "c"]) == 3
    # order does not matter, only membership
    assert bench.decision_error(["c", "a", "b"], ["a", "b", "c"]) == 0


def test_top_n_ids_breaks_ties_by_id_and_regret_is_a_share():
    score = pd.Series({"b": 2.0, "a": 2.0, "c": 1.0, "d": 5.0})
    assert bench.top_n_ids(score, 3) == ["d", "a", "b"]
    assert bench.value_regret(["d", "c"], ["d", "a"], score) == pytest.approx(1 - 6 / 7)
    assert bench.value_regret(["d", "a"], ["d", "a"], score) == 0.0


def test_true_values_apply_the_simulation_formula_with_cut_off_share():
    truth = pd.DataFrame(
        {"residue_type": ["r", "s"], "true_tonnes": [2e6, 1e6], **{f"grade_{e}": [0.0, 0.0] for e in ELEMENTS}},
        index=["A", "B"],
    )
    truth["grade_ga"] = [100.0, 50.0]
    recovery = pd.DataFrame({"residue_type": ["r", "s"] * len(ELEMENTS),
                             "element": [e for e in ELEMENTS for _ in "rs"], "recovery_mode": 0.5})  # fmt: skip
    prices = dict.fromkeys(ELEMENTS, 0.0) | {"ga": 500.0}
    values = bench.true_values(truth, prices, {"ga": 60.0}, recovery, sigma_w=0.4)
    for site, tonnes, grade in (("A", 2e6, 100.0), ("B", 1e6, 50.0)):
        m = math.log(grade) - 0.4**2 / 2
        share = float(metal_share_above(np.array([m]), np.array([0.4]), 60.0)[0])
        expected = tonnes * grade / 1e6 * share * 0.5 * 500.0 * 1e3  # t metal x share x recovery x USD/t
        assert values[site] == pytest.approx(expected)
    assert 0 < values["B"] < values["A"] / 2  # below the cut-off, B keeps only its upper tail
    no_cutoff = bench.true_values(truth, prices, {}, recovery, sigma_w=0.4)
    assert no_cutoff["A"] == pytest.approx(2e6 * 100 / 1e6 * 0.5 * 500e3)


def test_spread_evenly_and_top_ranked_keep_the_hole_count():
    sites = [f"s{i}" for i in range(7)]
    for holes in (0, 3, 7, 30):
        counts = bench.spread_evenly(sites, holes)
        assert sum(counts.values()) == holes
        assert not counts or max(counts.values()) - min(counts.values()) <= 1
    assert bench.spread_evenly(sites, 3) == {"s0": 1, "s3": 1, "s6": 1}
    assert bench.spread_evenly([], 5) == {}
    assert bench.at_top_ranked(["x", "y", "z", "w"], [10, 6, 3]) == {"x": 10, "y": 6, "z": 3}


def test_n_intervals_reach_the_planned_depth_but_not_below_the_base():
    assert bench.n_intervals(6.6, 20.0) == 5  # 7.5 m covers 6.6 m
    assert bench.n_intervals(6.0, 20.0) == 4  # exactly 4 intervals
    assert bench.n_intervals(6.6, 4.0) == 2  # the residue is only 4 m thick
    assert bench.n_intervals(40.0, 40.0) == demo.MAX_INTERVALS  # the auger limit
    assert bench.n_intervals(3.0, 1.2) == 0  # a dry hole: under one interval of residue


@pytest.fixture(scope="module")
def seed_sites():
    """The demo generator's sites of one seed, rebuilt as the benchmark does (a few seconds)."""
    sites = bench.reconstruct_sites(3)
    before = bench.truth_table(sites)
    realised = bench.realise_unsampled_fields(3, sites)
    return sites, before, realised


def test_reconstruction_keeps_means_and_gives_unsampled_sites_a_field(seed_sites):
    sites, before, realised = seed_sites
    after = bench.truth_table(sites)
    unsampled = [s for s in sites if not s.sampled]
    assert realised == [s.site_id for s in unsampled] and unsampled
    assert all(set(s.grade_fields) == set(ELEMENTS) for s in sites)
    # sampled sites' truth is untouched; unsampled ones move from the expectation to their field's mean
    sampled = after["sampled"]
    pd.testing.assert_frame_equal(after[sampled], before[sampled])
    ratio = after.loc[~sampled, "grade_ga"] / before.loc[~sampled, "grade_ga"]
    assert ratio.between(0.4, 2.5).all() and not np.allclose(ratio, 1.0)


def test_drilling_from_truth_gives_generator_like_rows(seed_sites, tmp_path):
    sites, _, _ = seed_sites
    by_id = {s.site_id: s for s in sites}
    site = next(s for s in sites if not s.sampled and s.residue == "zinc_leach_residue")
    centre = site.footprint_wgs84.representative_point()
    holes = pd.DataFrame({"hole_id": ["PLAN-1", "PLAN-2", "PLAN-3"], "site_id": site.site_id,
                          "lon": [centre.x, centre.x, 0.0], "lat": [centre.y, centre.y, 0.0],
                          "planned_depth_m": [4.0, 40.0, 4.0]})  # fmt: skip
    table = demo.SampleTable(rows=[], n_holes=262, n_samples=1527)
    drilled = bench.drill(holes, by_id, table, np.random.default_rng(0))
    x, y = demo.transformer(4326, site.crs_epsg).transform(centre.x, centre.y)
    thickness = demo.thickness_at(site, x, y)
    expected = [bench.n_intervals(4.0, thickness), bench.n_intervals(40.0, thickness), 0]  # the third is off site
    assert [h["intervals"] for h in drilled.holes] == expected
    rows = drilled.rows
    assert len(rows) == sum(expected) > 0
    assert [h["hole_id"] for h in drilled.holes] == ["AH-0263", "AH-0264", "AH-0265"]
    assert len({r["sample_id"] for r in rows}) == len(rows) and rows[0]["sample_id"] == "S-01528"
    assert set(rows[0]) == set(demo.SAMPLE_COLUMNS)
    assert {r["site_id"] for r in rows} == {site.site_id} and rows[0]["crs"] == f"EPSG:{site.utm_epsg}"
    assert [(r["depth_from_m"], r["depth_to_m"]) for r in rows[:2]] == [("0.0", "1.5"), ("1.5", "3.0")]
    # the lab's suite for this residue type (Ga and Te in ppm), nothing else
    assayed = {c for c in demo.ASSAY_COLUMNS if rows[0][c] != ""}
    assert assayed == {"ga_ppm", "te_ppm"}
    # grades follow the truth: the site's Ga samples centre on its true field near the hole
    ga = np.array([float(r["ga_ppm"]) for r in rows if not r["ga_ppm"].startswith("<")])
    near = math.exp(site.log_mean["ga"] + site.grid.bilinear(site.grade_fields["ga"], x, y))
    assert 0.4 < np.exp(np.log(ga).mean()) / near < 2.5

    # appended to a copy of the drop, after the existing rows
    base = tmp_path / "base"
    base.mkdir()
    (base / "samples.csv").write_text(",".join(demo.SAMPLE_COLUMNS) + "\n" + "S-00001,AH-0001" + "," * 12)
    bench.drilled_drop(base, tmp_path / "drilled", rows)
    with (tmp_path / "drilled" / "samples.csv").open() as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == 1 + len(rows) and written[1]["sample_id"] == "S-01528"
    assert bench.counters(tmp_path / "drilled" / "samples.csv") == (264, 1527 + len(rows))
