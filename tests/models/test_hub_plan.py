"""Hub plan: the facility-location MILP against brute force, its limits, layers and the k-means fallback."""

import itertools
from dataclasses import replace
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from residua.models.hub_plan import (
    KMEANS,
    MILP,
    HubCosts,
    Scenarios,
    catchment_plan,
    conditional_value_at_risk,
    expected_net_value,
    plan_network,
    solve_plan,
)
from residua.models.hubs import HubsError, check_hubs, plan_hubs
from residua.models.simulation import ResourceDraws

FREE = HubCosts(haul_cost_usd_per_t_km=0.05, road_circuity=1.0, fixed_cost_usd=5e6, capacity_t_per_year=None,
                plan_years=1.0, min_feed_t=0.0)  # fmt: skip


def _draws(site_ids: list[str], tonnes: np.ndarray, value: np.ndarray) -> ResourceDraws:
    """Draws with given tonnes and value (n_sites, n_draws); Ga holds value / 1e6 t, Te and PGM nothing."""
    zeros = np.zeros_like(value)
    recoverable = {"ga": value / 1e6, "te": zeros, "pt": zeros, "pd": zeros, "rh": zeros, "pgm": zeros}
    return ResourceDraws(site_ids=np.array(site_ids), tonnes=tonnes, mean_grade={}, above={},
                         contained=recoverable, recoverable=recoverable, value=value)  # fmt: skip


def _east_of(lon0: float, lat0: float, km: list[float], prefix: str = "S") -> pd.DataFrame:
    geod = pyproj.Geod(ellps="WGS84")
    lons, lats, _ = geod.fwd([lon0] * len(km), [lat0] * len(km), [90.0] * len(km), [d * 1e3 for d in km])
    return pd.DataFrame({"site_id": [f"{prefix}{i}" for i in range(len(km))], "lon": lons, "lat": lats})


def _given(km: list[float], **columns: list) -> pd.DataFrame:
    hubs = _east_of(80.0, 20.0, km, prefix="H").rename(columns={"site_id": "hub_id"})
    table = hubs.assign(name=hubs["hub_id"], **columns).astype(str)
    return check_hubs(table)


def _brute_force(tonnes, value, road, reach, fixed, capacity, min_feed, rate) -> float:
    """The best expected net value over every assignment (each site to no hub or one hub)."""
    n_hubs, n_sites = reach.shape
    best = 0.0
    for choice in itertools.product(range(-1, n_hubs), repeat=n_sites):
        if any(h >= 0 and not reach[h, s] for s, h in enumerate(choice)):
            continue
        load = np.zeros(n_hubs)
        total = 0.0
        for s, h in enumerate(choice):
            if h >= 0:
                load[h] += tonnes[s]
                total += value[s] - tonnes[s] * road[h, s] * rate
        opened = sorted({h for h in choice if h >= 0})
        if any(load[h] > capacity[h] + 1e-9 or load[h] < min_feed - 1e-9 for h in opened):
            continue
        best = max(best, total - sum(fixed[h] for h in opened))
    return best


def test_three_sites_two_hubs_known_optimum():
    # S0 at hub A, S1 60 km from A (140 km from B), S2 at hub B; 150 km reach
    road = np.array([[0.0, 60.0, 200.0], [200.0, 140.0, 0.0]])
    tonnes, value = np.full(3, 1e5), np.full(3, 10e6)
    fixed = np.array([5e6, 5e6])
    args = dict(tonnes=tonnes, value=value, road_km=road, reach=road <= 150.0, fixed_cost=fixed, haul_cost=0.05)
    unlimited = solve_plan(capacity=np.array([np.inf, np.inf]), **args)
    assert unlimited.assigned.tolist() == [0, 0, 1] and unlimited.opened.tolist() == [True, True]
    assert expected_net_value(unlimited, tonnes, value, road, fixed, 0.05) == pytest.approx(19.7e6)
    tight = solve_plan(capacity=np.array([1.5e5, 1.5e5]), **args)  # one site per hub: S1 is left out
    assert tight.assigned.tolist() == [0, -1, 1] and tight.method == MILP
    assert expected_net_value(tight, tonnes, value, road, fixed, 0.05) == pytest.approx(10e6)


@pytest.mark.parametrize("seed", range(12))
def test_milp_matches_brute_force_on_small_random_cases(seed):
    rng = np.random.default_rng(seed)
    n_sites, n_hubs = rng.integers(3, 6), rng.integers(2, 4)
    road = rng.uniform(0.0, 250.0, (n_hubs, n_sites))
    tonnes = rng.uniform(1e4, 5e5, n_sites)
    value = rng.uniform(0.0, 20e6, n_sites)
    fixed = rng.uniform(0.0, 15e6, n_hubs)
    capacity = np.where(rng.random(n_hubs) < 0.3, np.inf, rng.uniform(1e5, 1e6, n_hubs))
    min_feed = float(rng.choice([0.0, 2e5]))
    reach = road <= 180.0
    solution = solve_plan(tonnes, value, road, reach, fixed, capacity, min_feed, 0.05)
    found = expected_net_value(solution, tonnes, value, road, fixed, 0.05)
    assert found == pytest.approx(_brute_force(tonnes, value, road, reach, fixed, capacity, min_feed, 0.05),
                                  rel=1e-6, abs=1.0)  # fmt: skip
    fed = solution.assigned >= 0
    assert reach[solution.assigned[fed], np.flatnonzero(fed)].all()
    for h in np.flatnonzero(solution.opened):
        load = tonnes[solution.assigned == h].sum()
        assert min_feed - 1e-6 <= load <= capacity[h] + 1e-6


def _plan(sites, tonnes, value, given, costs=FREE, **options):
    draws = _draws(list(sites["site_id"]), tonnes, value)
    return plan_network(sites, value.mean(axis=1), draws, given=given, haul_km=150.0, costs=costs, **options)


def test_the_cautious_plan_leaves_out_a_hub_that_loses_in_the_bad_draws():
    # H0 feeds S0 only (60 M USD, certain); H1 feeds S1 only: 0 or 140 M USD (mean 70 M); fixed costs 50 M each
    sites = _east_of(80.0, 20.0, [0.0, 400.0])
    value = np.array([[60e6] * 4, [0.0, 140e6, 0.0, 140e6]])
    given = _given([0.0, 400.0], fixed_cost_usd=["50e6", "50e6"])
    expected = _plan(sites, np.full((2, 4), 1e3), value, given)
    assert expected.hubs["opened"].tolist() == [True, True] and expected.objective == "expected net value"
    assert expected.net_value_usd["mean"] == pytest.approx(30e6)
    cautious = _plan(sites, np.full((2, 4), 1e3), value, given, cvar_level=0.5)
    assert cautious.hubs["opened"].tolist() == [True, False] and cautious.objective.startswith("CVaR 50%")
    assert cautious.net_value_usd["cvar"] == pytest.approx(10e6) and cautious.net_value_usd["mean"] == pytest.approx(
        10e6
    )
    assert (cautious.hubs["objective"] == cautious.objective).all()


@pytest.mark.parametrize("seed", range(4))
def test_the_cautious_plan_is_the_best_cvar_over_every_assignment(seed):
    rng = np.random.default_rng(seed)
    n_sites, n_hubs, n_draws, level = 4, 2, 6, 0.5
    road = rng.uniform(0.0, 200.0, (n_hubs, n_sites))
    reach, fixed, rate = road <= 150.0, rng.uniform(0.0, 20e6, n_hubs), 0.05
    tonnes = rng.uniform(1e4, 1e5, (n_sites, n_draws))
    value = rng.lognormal(np.log(10e6), 1.0, (n_sites, n_draws))
    best = -np.inf
    for choice in itertools.product(range(-1, n_hubs), repeat=n_sites):
        if any(h >= 0 and not reach[h, s] for s, h in enumerate(choice)):
            continue
        net = np.zeros(n_draws)
        for s, h in enumerate(choice):
            if h >= 0:
                net += value[s] - tonnes[s] * road[h, s] * rate
        net -= sum(fixed[h] for h in {h for h in choice if h >= 0})
        best = max(best, conditional_value_at_risk(net, level))
    solution = solve_plan(tonnes.mean(axis=1), value.mean(axis=1), road, reach, fixed, np.full(n_hubs, np.inf),
                          haul_cost=rate, scenarios=Scenarios(tonnes, value, level))  # fmt: skip
    fed = np.flatnonzero(solution.assigned >= 0)
    net = np.zeros(n_draws)
    for s in fed:
        net += value[s] - tonnes[s] * road[solution.assigned[s], s] * rate
    net -= fixed[solution.opened].sum()
    assert conditional_value_at_risk(net, level) == pytest.approx(best, rel=1e-6, abs=1.0)


def test_a_cvar_level_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="cvar_level must be in"):
        Scenarios(np.ones((1, 2)), np.ones((1, 2)), 1.5)


def test_capacity_of_zero_opens_no_hub():
    sites = _east_of(80.0, 20.0, [10.0, 20.0])
    plan = _plan(sites, np.full((2, 4), 1e5), np.full((2, 4), 50e6), _given([0.0], capacity_t_per_year=["0"]))
    assert not plan.hubs["opened"].any() and len(plan.assignments) == 0
    assert plan.net_value_usd["mean"] == 0.0 and plan.hubs.loc[0, "n_sites"] == 2  # in reach, but not fed
    default_zero = replace(FREE, capacity_t_per_year=0.0)
    assert not _plan(sites, np.full((2, 4), 1e5), np.full((2, 4), 50e6), _given([0.0]), default_zero).hubs[
        "opened"].any()  # fmt: skip


def test_a_fixed_cost_above_any_feed_value_opens_no_hub():
    sites = _east_of(80.0, 20.0, [10.0, 20.0, 30.0])
    value = np.full((3, 5), 10e6)  # 30 M USD in all, at most
    plan = _plan(sites, np.full((3, 5), 1e4), value, _given([0.0, 15.0], fixed_cost_usd=["31e6", "40e6"]))
    assert not plan.hubs["opened"].any() and plan.assignments.empty
    cheaper = _plan(sites, np.full((3, 5), 1e4), value, _given([0.0, 15.0], fixed_cost_usd=["29e6", "40e6"]))
    assert cheaper.hubs["opened"].tolist() == [True, False] and len(cheaper.assignments) == 3


def test_a_site_beyond_haul_reach_is_unassigned_however_valuable():
    sites = _east_of(80.0, 20.0, [10.0, 160.0])  # S1 is 160 km from the only hub
    plan = _plan(sites, np.full((2, 4), 1e3), np.array([[20e6] * 4, [900e6] * 4]), _given([0.0]))
    assert plan.assignments["site_id"].tolist() == ["S0"]
    hub = plan.hubs.iloc[0]
    assert hub["opened"] and hub["assigned_site_ids"] == "S0" and hub["n_sites"] == 1


def test_a_site_that_loses_money_on_the_haul_feeds_nothing():
    sites = _east_of(80.0, 20.0, [5.0, 140.0])
    # S1: 1 Mt worth 1 M USD, 140 km haul at 0.05 USD/t/km costs 7 M USD
    plan = _plan(sites, np.array([[1e4] * 4, [1e6] * 4]), np.array([[30e6] * 4, [1e6] * 4]), _given([0.0]))
    assert plan.assignments["site_id"].tolist() == ["S0"]


def test_feed_and_net_value_percentiles_are_taken_on_the_hub_total_per_draw():
    sites = _east_of(80.0, 20.0, [0.0, 0.0])  # at the hub: no haul cost
    up = np.linspace(0.0, 10e6, 101)
    value = np.vstack([10e6 + up, 30e6 - up])  # totals 40 M USD in every draw
    tonnes = np.vstack([np.linspace(1e4, 2e4, 101), np.full(101, 1e4)])
    plan = _plan(sites, tonnes, value, _given([0.0], fixed_cost_usd=["5e6"]))
    hub = plan.hubs.iloc[0]
    assert hub["opened"] and hub["n_assigned"] == 2 and hub["method"] == MILP
    assert hub["net_value_usd_p10"] == pytest.approx(35e6) and hub["net_value_usd_p90"] == pytest.approx(35e6)
    assert hub["feed_t_p50"] == pytest.approx(2.5e4) and hub["feed_t_p10"] == pytest.approx(2.1e4)
    assert hub["feed_ga_t_p50"] == pytest.approx(40.0)
    assert plan.net_value_usd["mean"] == pytest.approx(35e6)


def test_assignments_are_lines_from_site_centroid_to_hub_in_lon_lat():
    sites = _east_of(80.0, 20.0, [30.0])
    plan = _plan(sites, np.full((1, 3), 1e4), np.full((1, 3), 20e6), _given([0.0]),
                 replace(FREE, road_circuity=1.3))  # fmt: skip
    line = plan.assignments
    assert isinstance(line, gpd.GeoDataFrame) and line.crs.to_epsg() == 4326
    assert line.geometry.iloc[0].equals(shapely.LineString([(sites.lon[0], sites.lat[0]), (80.0, 20.0)]))
    row = line.iloc[0]
    assert row["geodesic_km"] == pytest.approx(30.0) and row["road_km"] == pytest.approx(39.0)
    assert row["haul_cost_usd_mean"] == pytest.approx(1e4 * 39.0 * 0.05)
    assert row["hub_id"] == "H0" and row["method"] == MILP


def _clusters_with_a_loser() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    rows = []
    for c, (lon, lat) in enumerate([(74.0, 25.0), (85.0, 21.0), (78.0, 10.0)]):
        rows += [(f"C{c}-{i}", lon + rng.normal(0, 0.3), lat + rng.normal(0, 0.3)) for i in range(6)]
    sites = pd.DataFrame(rows, columns=["site_id", "lon", "lat"])
    n = len(sites)
    value = rng.lognormal(np.log(20e6), 0.5, (n, 200))
    tonnes = rng.lognormal(np.log(2e5), 0.3, (n, 200))
    tonnes[0] *= 200.0  # a 40 Mt site that loses money on any haul
    value[0] = 1e5
    return sites, tonnes, value


def test_milp_plan_is_worth_at_least_the_kmeans_catchment_plan_on_the_same_draws():
    sites, tonnes, value = _clusters_with_a_loser()
    draws = _draws(list(sites["site_id"]), tonnes, value)
    common = dict(k=3, haul_km=150.0, seed=7, costs=FREE)
    optimised = plan_network(sites, value.mean(axis=1), draws, **common)
    kmeans = plan_network(sites, value.mean(axis=1), draws, optimise=False, **common)
    assert optimised.method == MILP and kmeans.method == KMEANS
    assert (kmeans.hubs["location"] == "proposed").all() and kmeans.hubs["opened"].sum() == 3
    assert optimised.net_value_usd["mean"] > kmeans.net_value_usd["mean"]
    assert "C0-0" in set(kmeans.assignments["site_id"]) and "C0-0" not in set(optimised.assignments["site_id"])
    assert set(optimised.hubs["location"]) == {"proposed", "site"}  # k-means centres and top sites are candidates


def test_no_solver_result_falls_back_to_kmeans_catchments(monkeypatch, caplog):
    sites, tonnes, value = _clusters_with_a_loser()
    monkeypatch.setattr("residua.models.hub_plan.milp", lambda *a, **k: SimpleNamespace(x=None, message="time limit"))
    plan = plan_hubs(sites, value.mean(axis=1), _draws(list(sites["site_id"]), tonnes, value), k=3, seed=7,
                     costs=FREE)  # fmt: skip
    assert plan.method == KMEANS and (plan.hubs["method"] == KMEANS).all()
    cautious = plan_hubs(sites, value.mean(axis=1), _draws(list(sites["site_id"]), tonnes, value), k=3, seed=7,
                         costs=FREE, cvar_level=0.2)  # fmt: skip
    assert cautious.objective.startswith("none: kmeans fallback") and "cvar" in cautious.net_value_usd
    assert plan.hubs.loc[plan.hubs["opened"], "location"].eq("proposed").all()
    assert "falling back to the k-means" in caplog.text


def test_catchment_plan_feeds_the_nearest_open_hub_in_reach():
    road = np.array([[10.0, 90.0, 500.0], [50.0, 20.0, 400.0]])
    solution = catchment_plan(road, road <= 150.0, np.array([True, True]))
    assert solution.assigned.tolist() == [0, 1, -1] and solution.method == KMEANS


def test_a_minimum_feed_keeps_a_small_hub_closed():
    sites = _east_of(80.0, 20.0, [5.0, 120.0])
    tonnes, value = np.full((2, 4), 5e4), np.full((2, 4), 20e6)
    costs = replace(FREE, min_feed_t=8e4)
    plan = _plan(sites, tonnes, value, _given([0.0, 125.0]), costs)
    # each hub alone at its own site would be fed 50 kt < 80 kt: one hub takes both sites
    assert plan.hubs["opened"].sum() == 1 and len(plan.assignments) == 2


def test_hubs_csv_optional_columns(tmp_path):
    table = pd.DataFrame({"hub_id": ["A", "B"], "name": ["a", "b"], "lon": ["80", "81"], "lat": ["20", "21"],
                          "capacity_t_per_year": ["1e6", ""], "fixed_cost_usd": ["", "2e7"]})  # fmt: skip
    given = check_hubs(table)
    assert given["capacity_t_per_year"].tolist()[0] == 1e6 and np.isnan(given["capacity_t_per_year"][1])
    assert np.isnan(given["fixed_cost_usd"][0]) and given["fixed_cost_usd"][1] == 2e7
    old = check_hubs(table[["hub_id", "name", "lon", "lat"]])  # the four-column file still reads
    assert old["capacity_t_per_year"].isna().all()
    with pytest.raises(HubsError, match="line 3: fixed_cost_usd '-5' is not a number >= 0"):
        check_hubs(table.assign(fixed_cost_usd=["1", "-5"]))


def test_costs_refuse_a_circuity_below_one():
    with pytest.raises(ValueError, match="road_circuity must be at least 1"):
        HubCosts(road_circuity=0.9)
