"""Sampling plan: value of information for the top-N decision, the greedy budget, hole placement, GPX."""

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely

from residua.geodata.publish import write_gpx_waypoints
from residua.geodata.schema import ELEMENTS
from residua.models.grade import HierarchicalLogGrade
from residua.models.sampling_plan import (
    PlanOptions,
    campaign_effect,
    choose_campaigns,
    collect_draws,
    place_holes,
    plan_campaigns,
    plan_holes,
    planned_depth,
    posterior_log_sd,
    site_value,
    top_members,
)
from residua.models.simulation import SimulationInputs

#: site -> (tonnes, Ga mean log-grade, its log-sd, holes so far). Top 2: BIG is certainly in, SMALL certainly out;
#: the second place is contested by A (well sampled), U (unsampled, wide) and C (thinly sampled).
SITES = {
    "BIG": (1e7, np.log(100.0), 0.02, 20),
    "A": (1e6, np.log(100.0), 0.05, 20),
    "U": (1e6, np.log(100.0), 0.8, 0),
    "C": (1e6, np.log(80.0), 0.3, 3),
    "SMALL": (1e3, 0.0, 0.3, 5),
}
OPTIONS = PlanOptions(top_n=2, holes=30, campaign_sizes=(3, 6, 10), n_outcomes=15)


def _inputs(sites: dict = SITES, n_draws: int = 600, seed: int = 7) -> SimulationInputs:
    tonnage = pd.DataFrame({"site_id": list(sites), "residue_type": "r",
                            "tonnes_p50": [v[0] for v in sites.values()], "tonnes_log_sd": 0.05})  # fmt: skip
    rows = []
    for site, (_, log_mean, log_sd, _) in sites.items():
        for element in ELEMENTS:
            ga = element == "ga"
            rows.append({"site_id": site, "element": element, "log_mean": log_mean if ga else 0.0,
                         "log_sd": log_sd if ga else 0.0, "sigma_w": 0.5})  # fmt: skip
    recovery = pd.DataFrame({"residue_type": "r", "element": list(ELEMENTS), "recovery_low": 0.5,
                             "recovery_mode": 0.5, "recovery_high": 0.5})  # fmt: skip
    prices = pd.DataFrame({"element": list(ELEMENTS), "price_mid_usd_per_kg": [1000.0 if e == "ga" else 0.0
                                                                                for e in ELEMENTS]})  # fmt: skip
    return SimulationInputs.build(tonnage, pd.DataFrame(rows), recovery, prices, n_draws=n_draws, seed=seed)


def _sites(sites: dict = SITES) -> pd.DataFrame:
    holes = [v[3] for v in sites.values()]
    return pd.DataFrame({"site_id": list(sites), "n_holes": holes, "dem_volume": True,
                         "confidence": ["G3" if n else "G4" for n in holes]})  # fmt: skip


def _hole_sd(sites: dict = SITES) -> pd.Series:
    index = pd.MultiIndex.from_product([list(sites), list(ELEMENTS)], names=["site_id", "element"])
    return pd.Series(0.5, index=index)


def _plan(options: PlanOptions = OPTIONS, sites: dict = SITES, **kwargs) -> pd.DataFrame:
    return plan_campaigns(_inputs(sites, **kwargs), _sites(sites), _hole_sd(sites), options)


def test_sites_whose_membership_is_certain_get_no_holes():
    plan = _plan(replace(OPTIONS, holes=100))
    assert len(plan) > 0
    assert not {"BIG", "SMALL"} & set(plan["site_id"])
    draws = collect_draws(_inputs(), list(SITES), set(SITES))
    top = top_members(draws.value, 2)
    membership = dict(zip(draws.site_ids, np.bincount(top[:2].ravel(), minlength=len(SITES)) / 600))
    assert membership["BIG"] == 1.0 and membership["SMALL"] == 0.0  # the premise: both are certain


def test_a_certain_site_has_no_value_of_information_even_when_evaluated():
    inputs = _inputs()
    draws = collect_draws(inputs, list(SITES), set(SITES))
    top = top_members(draws.value, 2)
    p = np.bincount(top[:2].ravel(), minlength=len(SITES)) / 600
    wrong_now = 2 - np.sort(p)[-2:].sum()
    context = {"top_n": 2, "wrong_now": wrong_now, "n_holes": 20, "dem_volume": True, "confidence": "G3"}
    big = campaign_effect(inputs, draws, top, "BIG", _hole_sd(), 10, context, 15)
    unsampled = campaign_effect(inputs, draws, top, "U", _hole_sd(), 10, {**context, "n_holes": 0,
                                                                          "confidence": "G4"}, 15)  # fmt: skip
    assert big.gain == pytest.approx(0.0, abs=1e-12)
    assert unsampled.gain > 0.05
    assert unsampled.p_upgrade == 1.0  # any hole makes a G4 site G3 by the class rule
    assert unsampled.width_after < np.subtract(*np.percentile(draws.value[list(draws.site_ids).index("U")], [90, 10]))


def test_no_information_means_no_gain():
    inputs = _inputs()
    draws = collect_draws(inputs, list(SITES), set(SITES))
    top = top_members(draws.value, 2)
    p = np.bincount(top[:2].ravel(), minlength=len(SITES)) / 600
    wrong_now = float(2 - np.sort(p)[-2:].sum())
    context = {"top_n": 2, "wrong_now": wrong_now, "n_holes": 0, "dem_volume": True, "confidence": "G4"}
    effect = campaign_effect(inputs, draws, top, "U", _hole_sd(), 0, context, 15)
    assert effect.wrong_after == pytest.approx(wrong_now, abs=1e-9)


def test_an_unsampled_site_at_the_boundary_wins_over_a_well_sampled_certain_one():
    plan = _plan(replace(OPTIONS, holes=3, campaign_sizes=(3,)))
    assert plan["site_id"].tolist() == ["U"]
    assert plan["confidence_now"].tolist() == ["G4"]
    row = plan.iloc[0]
    assert 0.1 < row["p_top_n_now"] < 0.9
    assert row["top_n_expected_wrong_after"] < row["top_n_expected_wrong_now"]
    assert row["value_p10_p90_width_after_usd"] < row["value_p10_p90_width_now_usd"]
    assert row["expected_gain"] == pytest.approx(row["top_n_expected_wrong_now"] - row["top_n_expected_wrong_after"])


@pytest.mark.parametrize("holes", [3, 7, 10, 16])
def test_the_hole_budget_is_respected(holes):
    plan = _plan(replace(OPTIONS, holes=holes))
    assert plan["holes_in_campaign"].sum() <= holes
    assert set(plan["holes_in_campaign"]) <= {3, 6, 10}
    assert plan["priority"].tolist() == list(range(1, len(plan) + 1))


def test_the_money_budget_is_respected_with_mobilisation_per_site():
    options = replace(OPTIONS, holes=100, cost_per_hole_usd=1000.0, mobilisation_usd=10_000.0)
    budget = 10_000.0 + 6 * 1000.0 + 1.0  # one site visited with six holes, not two sites with three
    plan = _plan(replace(options, budget_usd=budget))
    assert plan["campaign_cost_usd"].sum() <= budget
    assert len(plan) == 1
    assert plan["campaign_cost_usd"].iloc[0] == 10_000.0 + plan["holes_in_campaign"].iloc[0] * 1000.0
    assert len(_plan(replace(options, budget_usd=9_999.0))) == 0  # not even the mobilisation fits


def test_greedy_prefers_gain_per_hole_and_stops_at_min_gain():
    gains = {("a", 3): 0.30, ("a", 6): 0.33, ("b", 3): 0.20, ("b", 6): 0.40, ("c", 3): 0.001, ("c", 6): 0.002}
    holes, order = choose_campaigns(gains, PlanOptions(holes=9, campaign_sizes=(3, 6)))
    assert order == ["a", "b"] and holes == {"a": 3, "b": 6}  # c never gains more than min_gain
    holes, order = choose_campaigns(gains, PlanOptions(holes=100, campaign_sizes=(3, 6)))
    assert holes == {"a": 6, "b": 6}


def test_excluded_sites_get_nothing():
    plan = _plan(replace(OPTIONS, holes=100, exclude=("U",)))
    assert "U" not in set(plan["site_id"])
    assert len(plan) > 0  # the others still compete


def test_deterministic_with_the_seed():
    first, second = _plan(seed=11), _plan(seed=11)
    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(_plan(seed=12))


def test_site_value_reproduces_the_simulated_value():
    inputs = _inputs()
    draws = collect_draws(inputs, list(SITES), set(SITES))
    for row, site in enumerate(draws.site_ids):
        np.testing.assert_allclose(site_value(inputs, site, draws.tonnes[site], draws.log_grade[site]),
                                   draws.value[row], rtol=1e-9)  # fmt: skip


def test_the_update_is_the_grade_models_own():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"site_id": np.repeat(["a", "b", "c", "d"], [2, 5, 9, 4]), "residue_type": "r"})
    X["hole_id"] = X["site_id"] + "-" + X.groupby("site_id").cumcount().astype(str)
    model = HierarchicalLogGrade({"r": 0.0}, {"r": 1.0}).fit(X, rng.normal(0.0, 0.7, len(X)))
    summary = model.site_summary_
    prior_sd = np.sqrt(model.tau_**2 + model.type_mean_sd_["r"] ** 2)
    expected = posterior_log_sd(np.full(len(summary), prior_sd), summary["site_sigma_w"].to_numpy(),
                                summary["n_eff"].to_numpy())  # fmt: skip
    np.testing.assert_allclose(model.site_sd_.to_numpy(), expected)


def _square(lon: float = 83.0, lat: float = 19.0, side_m: float = 1000.0) -> shapely.Polygon:
    geod = pyproj.Geod(ellps="WGS84")
    east, _, _ = geod.fwd(lon, lat, 90.0, side_m)
    _, north, _ = geod.fwd(lon, lat, 0.0, side_m)
    return shapely.box(lon, lat, east, north)


def test_holes_lie_inside_the_footprint_and_apart_from_existing_holes():
    square = _square()
    minx, miny, maxx, maxy = square.bounds
    existing = np.array([[minx + (maxx - minx) * fx, miny + (maxy - miny) * fy] for fx in (0.25, 0.75)
                         for fy in (0.25, 0.75)])  # fmt: skip
    points, spacing = place_holes(square, existing, 6)
    assert all(square.contains(shapely.Point(p)) for p in points)
    geod = pyproj.Geod(ellps="WGS84")
    everything = np.vstack([existing, points])
    for index, (lon, lat) in enumerate(points):
        others = np.delete(everything, len(existing) + index, axis=0)
        _, _, distance = geod.inv(np.full(len(others), lon), np.full(len(others), lat), others[:, 0], others[:, 1])
        assert distance.min() > 150.0  # a 1 km square with 10 holes: a regular grid would be ~320 m apart
        assert distance.min() == pytest.approx(spacing[index], rel=0.01)


def test_plan_holes_gives_points_with_depth_and_ids():
    campaigns = _plan(replace(OPTIONS, holes=6, campaign_sizes=(3,)))
    footprints = gpd.GeoSeries({site: _square(83.0 + 0.05 * i) for i, site in enumerate(SITES)}, crs="EPSG:4326")
    collars = pd.DataFrame({"site_id": ["U"], "lon": [footprints["U"].centroid.x], "lat": [footprints["U"].centroid.y]})
    methods = ["reported_tonnes"] + ["dem_difference"] * 4
    features = pd.DataFrame({"site_id": list(SITES), "residue_type": "r", "tonnes_p50": 2e6, "density_t_m3": 2.0,
                             "area_ha": 100.0, "volume_method": methods})  # fmt: skip
    depth = planned_depth(features, pd.DataFrame({"residue_type": ["r"], "thickness_mode_m": [7.0]}))
    assert depth["planned_depth_m"].tolist() == [7.0, 1.0, 1.0, 1.0, 1.0]
    holes = plan_holes(campaigns, footprints, collars, depth)
    assert len(holes) == campaigns["holes_in_campaign"].sum()
    assert holes.crs.to_epsg() == 4326 and (holes.geom_type == "Point").all()
    assert holes["hole_id"].is_unique and holes["hole_id"].str.startswith("PLAN-").all()
    assert all(footprints[s].contains(g) for s, g in zip(holes["site_id"], holes.geometry))
    assert (holes["planned_depth_m"] == 1.0).all()


def test_gpx_waypoints_open_with_gdal(tmp_path):
    campaigns = _plan(replace(OPTIONS, holes=3, campaign_sizes=(3,)))
    footprints = gpd.GeoSeries({site: _square() for site in SITES}, crs="EPSG:4326")
    depth = pd.DataFrame({"site_id": list(SITES), "planned_depth_m": 5.0, "depth_source": "prior"})
    holes = plan_holes(campaigns, footprints, pd.DataFrame({"site_id": [], "lon": [], "lat": []}), depth)
    write_gpx_waypoints(tmp_path / "plan.gpx", holes)
    waypoints = pyogrio.read_dataframe(tmp_path / "plan.gpx", layer="waypoints")
    assert waypoints["name"].tolist() == holes["hole_id"].tolist()
    np.testing.assert_allclose(waypoints.geometry.x, holes.geometry.x, atol=1e-7)
    write_gpx_waypoints(tmp_path / "empty.gpx", holes.iloc[:0])
    assert "gpx" in (tmp_path / "empty.gpx").read_text()
