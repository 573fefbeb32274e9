"""Hub plan: which candidate hubs to open and which sites feed which hub, as a facility-location MILP.

Candidates are the hubs of ``hubs.csv`` when given, else the value-weighted k-means
proposals (:func:`residua.models.hubs.propose_hubs`) plus the centroids of the top-valued sites.
The plan maximises the expected net value over the Monte Carlo draws,

    sum_s,h x_sh * (E[value_s] - E[tonnes_s] * road_km_sh * haul_cost) - sum_h y_h * fixed_cost_h,

with binary y_h (hub h opened) and binary x_sh (site s feeds hub h), subject to

* each site feeds at most one hub (sum_h x_sh <= 1), and none at all when hauling loses money;
* a site feeds only an opened hub (x_sh <= y_h) within reach: geodesic distance <= ``haul_km``
  (no x_sh variable exists beyond it);
* capacity: sum_s E[tonnes_s] x_sh <= capacity_h y_h, and a minimum feed:
  sum_s E[tonnes_s] x_sh >= min_feed y_h.

The draws are linear in x, so the expected value of a plan is the plan's value at the
sites' mean tonnes and values: the objective averaged over the draws is exact. Tonnes
against capacity and minimum feed are the sites' expected tonnes too; the hubs layer
reports each opened hub's feed P10/P50/P90 over the draws, so a P90 feed above capacity
shows. ``capacity_t_per_year`` is read as what a plant takes in a year and the plan runs
``plan_years``: a hub can take ``capacity_t_per_year * plan_years`` tonnes of residue in
all (the draws are whole-site tonnes, not annual rates).

Haul distance is the geodesic distance times a road-circuity factor (road km / straight-line
km). :data:`ROAD_CIRCUITY` = 1.3 is the screening value of Ballou, Rahardja & Sakai (2002),
"Selected country circuity factors for road travel distance estimation", Transportation
Research Part A 36(9), 843-848, whose country factors run from about 1.1 to 1.6 with most
near 1.2-1.4. :data:`HAUL_COST_USD_PER_T_KM` = 0.05 is a screening assumption from Indian
truck freight rates: Rs 42-96 per km for a 15 t truck out of Delhi in April 2024 (CMIE data,
Business Standard, 5 May 2024), i.e. Rs 2.8-6.4 per t-km, USD 0.034-0.077 at Rs 83 per USD.
The fixed cost and capacity defaults are placeholders for screening, not cost estimates.

**Cautious plan** (``cvar_level`` alpha, e.g. 0.2): instead of the expected net value the plan
maximises its conditional value at risk, the mean net value of the worst alpha share of draws,
by the linear form of Rockafellar & Uryasev (2000), "Optimization of conditional value-at-risk",
Journal of Risk 2(3), 21-41:

    max  eta - 1 / (alpha S) sum_d u_d,   u_d >= eta - net_d(x, y),   u_d >= 0,

over S joint draws d (the same draw index at every site, so what draws share, such as a residue
type's grade, stays shared). A hub whose feed is uncertain (unsampled sites) then has to pay its
fixed cost in the bad draws too. S is at most :data:`CVAR_SCENARIOS` draws, evenly spaced; each
adds a dense row over the site -> hub pairs, so the cautious plan is the slower one. A chosen
quantile of net value itself (value at risk) is not a linear objective; CVaR is its standard
convex stand-in, and the layer reports the plan's P10/P50/P90 either way.

The problem is solved by HiGHS through :func:`scipy.optimize.milp`. When the solver returns
no solution (e.g. a time limit before any feasible point), the plan falls back to the
k-means / given hubs, all opened, each site feeding the nearest one within reach (the
150 km catchments of :mod:`residua.models.hubs`, made a partition); ``method`` says which was used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from residua.geodata.schema import STORAGE_CRS
from residua.models.hubs import HUB_METALS, geodesic_km, propose_hubs
from residua.models.simulation import PERCENTILES, ResourceDraws

LOG = logging.getLogger(__name__)
#: Relative optimality gap at which the pipeline's plan stops: 0.5 % of the net value, far inside the
#: P10-P90 spread of the values it is computed from. Proving a 10,000-site plan optimal to 1e-6 ran into
#: the 30 s time limit (0.28 % gap after 30 s).
PLAN_MIP_GAP = 5e-3

#: Road km per geodesic km (Ballou, Rahardja & Sakai 2002; see the module docstring).
ROAD_CIRCUITY = 1.3
#: USD per tonne and road km, from Indian truck freight rates (screening assumption; module docstring).
HAUL_COST_USD_PER_T_KM = 0.05
#: Fixed cost of opening a hub, USD: a placeholder for screening, not a cost estimate.
FIXED_COST_USD = 50e6
#: Residue a hub takes per year, tonnes: a placeholder for screening.
CAPACITY_T_PER_YEAR = 2e6
#: Years of the plan: a hub takes capacity_t_per_year x plan_years tonnes in all.
PLAN_YEARS = 20.0
#: Smallest expected feed of an opened hub over the plan, tonnes: a placeholder for screening.
MIN_FEED_T = 1e5
#: Top-valued sites whose centroids are candidate hubs (no hubs.csv): 25 solves in ~10 s at 1,000 sites on 2 cores.
SITE_CANDIDATES = 25
#: Joint draws the cautious (CVaR) plan optimises over, at most: a dense row each over the site -> hub pairs.
CVAR_SCENARIOS = 200
#: Plan methods: the MILP, or the k-means / given hubs with nearest-hub catchments (fallback).
MILP, KMEANS = "milp", "kmeans"
#: Draws as one ResourceDraws, a sequence of chunks, or a function returning a fresh iterable of chunks.
DrawSource = ResourceDraws | Sequence[ResourceDraws] | Callable[[], Iterable[ResourceDraws]]
_FIELDS: tuple[str, ...] = ("tonnes", "value", *HUB_METALS)
_SCALE = 1e6  # tonnes and USD enter the solver in millions, for conditioning


@dataclass(frozen=True)
class HubCosts:
    """Costs and limits of the hub plan (defaults: the module's screening assumptions).

    ``capacity_t_per_year`` None means unlimited; hubs.csv columns ``capacity_t_per_year``
    and ``fixed_cost_usd`` override the defaults hub by hub.
    """

    haul_cost_usd_per_t_km: float = HAUL_COST_USD_PER_T_KM
    road_circuity: float = ROAD_CIRCUITY
    fixed_cost_usd: float = FIXED_COST_USD
    capacity_t_per_year: float | None = CAPACITY_T_PER_YEAR
    plan_years: float = PLAN_YEARS
    min_feed_t: float = MIN_FEED_T

    def __post_init__(self) -> None:
        if self.road_circuity < 1:
            raise ValueError(f"road_circuity must be at least 1 (road km per straight km), got {self.road_circuity}")
        for name in ("haul_cost_usd_per_t_km", "fixed_cost_usd", "plan_years", "min_feed_t"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be a non-negative number, got {getattr(self, name)}")
        if self.capacity_t_per_year is not None and not self.capacity_t_per_year >= 0:
            raise ValueError(f"capacity_t_per_year must be non-negative or None, got {self.capacity_t_per_year}")


@dataclass(frozen=True)
class Solution:
    """A plan on arrays: ``assigned[s]`` is the hub index site s feeds (-1: none), ``opened[h]`` the hubs opened."""

    assigned: np.ndarray
    opened: np.ndarray
    method: str
    status: str
    seconds: float = 0.0
    mip_gap: float = 0.0


@dataclass(frozen=True)
class HubPlan:
    """The hub plan: the candidates' layer, the site -> hub lines, and how it was found.

    ``net_value_usd`` holds the plan's total net value P10/P50/P90 and ``mean`` (the
    expected value the MILP maximises) over the draws.
    """

    hubs: gpd.GeoDataFrame
    assignments: gpd.GeoDataFrame
    method: str
    status: str
    seconds: float
    net_value_usd: dict[str, float]
    objective: str = "expected net value"


@dataclass(frozen=True)
class Scenarios:
    """Joint draws for the cautious plan: tonnes and value (USD) per site (rows) and draw (columns), and alpha."""

    tonnes: np.ndarray
    value: np.ndarray
    level: float

    def __post_init__(self) -> None:
        if not 0 < self.level <= 1:
            raise ValueError(f"cvar_level must be in (0, 1] (the share of worst draws), got {self.level}")


def hub_candidates(
    sites: pd.DataFrame,
    weights: np.ndarray,
    given: pd.DataFrame | None = None,
    k: int = 5,
    n_site_candidates: int = SITE_CANDIDATES,
    seed: int = 0,
    costs: HubCosts | None = None,
) -> pd.DataFrame:
    """Candidate hubs: given ones, else k-means proposals plus the centroids of the top-valued sites.

    Returns
    -------
    DataFrame
        ``hub_id``, ``name``, ``lon``, ``lat``, ``location`` ("given", "proposed" or
        "site"), ``capacity_t_per_year`` (NaN: unlimited), ``capacity_t`` (over the plan,
        inf: unlimited) and ``fixed_cost_usd``.
    """
    costs = costs or HubCosts()
    if given is not None:
        table = given.assign(location="given")
    else:
        proposed = propose_hubs(sites, weights, k=k, seed=seed).drop(columns="method").assign(location="proposed")
        order = np.argsort(-np.nan_to_num(np.asarray(weights, dtype=float)), kind="stable")[:n_site_candidates]
        top = sites.iloc[order]
        at_sites = pd.DataFrame({"hub_id": [f"site:{s}" for s in top["site_id"]],
                                 "name": [f"Candidate hub at site {s}" for s in top["site_id"]],
                                 "lon": top["lon"].to_numpy(dtype=float), "lat": top["lat"].to_numpy(dtype=float),
                                 "location": "site"})  # fmt: skip
        table = pd.concat([proposed, at_sites], ignore_index=True)
    default_capacity = np.nan if costs.capacity_t_per_year is None else float(costs.capacity_t_per_year)
    per_year = _column(table, "capacity_t_per_year", default_capacity)
    table = table.assign(
        capacity_t_per_year=per_year,
        capacity_t=np.where(np.isnan(per_year), np.inf, per_year * costs.plan_years),
        fixed_cost_usd=_column(table, "fixed_cost_usd", costs.fixed_cost_usd),
    )
    columns = ["hub_id", "name", "lon", "lat", "location", "capacity_t_per_year", "capacity_t", "fixed_cost_usd"]
    return table[columns].reset_index(drop=True)


def _column(table: pd.DataFrame, name: str, default: float) -> np.ndarray:
    """A numeric column of ``table``, missing cells (or a missing column) as ``default``."""
    if name not in table.columns:
        return np.full(len(table), default, dtype=float)
    values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(values), default, values)


def replayable(draws: DrawSource) -> Callable[[], Iterable[ResourceDraws]]:
    """A function returning the draws afresh each call (a one-shot iterator is kept in memory once)."""
    if isinstance(draws, ResourceDraws):
        return lambda: [draws]
    if callable(draws):
        return draws
    if not isinstance(draws, Sequence):
        draws = list(draws)
    return lambda: draws


def site_means(site_ids: Sequence[str], chunks: Iterable[ResourceDraws]) -> pd.DataFrame:
    """Mean tonnes and value (USD) over the draws per site, in the order of ``site_ids``.

    Raises
    ------
    ValueError
        If a site has no draws.
    """
    parts = []
    for chunk in chunks:
        parts.append(pd.DataFrame({"tonnes": chunk.tonnes.mean(axis=1), "value": chunk.value.mean(axis=1)},
                                  index=pd.Index(chunk.site_ids, name="site_id")))  # fmt: skip
    means = pd.concat(parts) if parts else pd.DataFrame(columns=["tonnes", "value"], dtype=float)
    missing = sorted(set(site_ids) - set(means.index))
    if missing:
        raise ValueError(f"no simulated draws for site(s) {missing[:5]}; pass the draws of every site")
    return means.loc[list(site_ids)]


def joint_scenarios(site_ids: Sequence[str], chunks: Iterable[ResourceDraws], level: float,
                    n_scenarios: int = CVAR_SCENARIOS) -> Scenarios:  # fmt: skip
    """At most ``n_scenarios`` evenly spaced draws of every site (same draw indices at each), for a CVaR plan."""
    tonnes, value, index = [], [], []
    for chunk in chunks:
        n_draws = chunk.tonnes.shape[1]
        columns = np.unique(np.linspace(0, n_draws - 1, min(n_scenarios, n_draws)).round().astype(int))
        tonnes.append(chunk.tonnes[:, columns])
        value.append(chunk.value[:, columns])
        index.extend(chunk.site_ids)
    order = pd.Index(index).get_indexer(list(site_ids))
    if (order < 0).any():
        raise ValueError("no simulated draws for some site(s); pass the draws of every site")
    return Scenarios(np.concatenate(tonnes)[order], np.concatenate(value)[order], level)


def conditional_value_at_risk(net: np.ndarray, level: float) -> float:
    """Mean of the worst ``level`` share of ``net`` (at least one draw).

    >>> conditional_value_at_risk(np.array([5.0, 1.0, 3.0, 2.0, 4.0]), 0.4)
    1.5
    """
    worst = max(1, int(np.floor(level * len(net) + 1e-9)))
    return float(np.sort(net)[:worst].mean())


def solve_plan(
    tonnes: np.ndarray,
    value: np.ndarray,
    road_km: np.ndarray,
    reach: np.ndarray,
    fixed_cost: np.ndarray,
    capacity: np.ndarray,
    min_feed: float = 0.0,
    haul_cost: float = HAUL_COST_USD_PER_T_KM,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 1e-6,
    scenarios: Scenarios | None = None,
) -> Solution | None:
    """Solve the capacitated facility-location MILP with HiGHS; None when the solver gives no solution.

    Parameters
    ----------
    tonnes, value : array (n_sites,)
        Expected tonnes and value (USD) per site.
    road_km, reach : array (n_hubs, n_sites)
        Road distance, and whether the site is within haul reach of the hub.
    fixed_cost, capacity : array (n_hubs,)
        Fixed cost (USD) and capacity (tonnes over the plan; inf: unlimited) per hub.
    min_feed : float
        Smallest expected feed (tonnes) of an opened hub.
    haul_cost : float
        USD per tonne and road km.
    time_limit_s, mip_rel_gap : float
        HiGHS time limit and relative optimality gap.
    scenarios : Scenarios, optional
        Joint draws: maximise their CVaR at ``scenarios.level`` instead of the expected net value.
    """
    n_hubs, n_sites = reach.shape
    hub_of, site_of = np.nonzero(reach)
    n_pairs = len(hub_of)
    if n_hubs == 0 or n_pairs == 0:
        return Solution(np.full(n_sites, -1), np.zeros(n_hubs, bool), MILP, "nothing in reach")
    gain = (value[site_of] - tonnes[site_of] * road_km[hub_of, site_of] * haul_cost) / _SCALE
    cost = np.concatenate([fixed_cost / _SCALE, -gain])
    feed = tonnes[site_of] / _SCALE
    n_vars, pair_vars = n_hubs + n_pairs, n_hubs + np.arange(n_pairs)
    n_scenarios = 0 if scenarios is None else scenarios.tonnes.shape[1]
    if scenarios is not None:  # variables eta (free) and u_d >= 0 after the hubs and pairs
        n_vars += 1 + n_scenarios
        cost = np.r_[np.zeros(n_hubs + n_pairs), -1.0, np.full(n_scenarios, 1.0 / (scenarios.level * n_scenarios))]
    one_hub = sparse.csr_array((np.ones(n_pairs), (site_of, pair_vars)), shape=(n_sites, n_vars))
    link = sparse.csr_array((np.r_[np.ones(n_pairs), -np.ones(n_pairs)],
                             (np.r_[np.arange(n_pairs), np.arange(n_pairs)], np.r_[pair_vars, hub_of])),
                            shape=(n_pairs, n_vars))  # fmt: skip
    constraints = [LinearConstraint(one_hub, -np.inf, 1.0), LinearConstraint(link, -np.inf, 0.0)]
    limited = np.flatnonzero(np.isfinite(capacity))
    if len(limited):
        constraints.append(LinearConstraint(_feed_rows(feed, hub_of, pair_vars, capacity, n_vars)[limited], -np.inf, 0))
    if min_feed > 0:
        constraints.append(LinearConstraint(_feed_rows(feed, hub_of, pair_vars, np.full(n_hubs, min_feed), n_vars),
                                            0.0, np.inf))  # fmt: skip
    upper = np.r_[np.where((capacity > 0) & (capacity >= min_feed), 1.0, 0.0), np.ones(n_pairs)]
    lower, integrality = np.zeros(n_hubs + n_pairs), np.ones(n_vars)
    if scenarios is not None:
        constraints.append(_shortfall_rows(scenarios, fixed_cost, hub_of, site_of, road_km, haul_cost))
        upper, lower = np.r_[upper, np.full(1 + n_scenarios, np.inf)], np.r_[lower, -np.inf, np.zeros(n_scenarios)]
        integrality[n_hubs + n_pairs :] = 0
    started = time.perf_counter()
    result = milp(cost, integrality=integrality, bounds=Bounds(lower, upper), constraints=constraints,
                  options={"time_limit": float(time_limit_s), "mip_rel_gap": float(mip_rel_gap)})  # fmt: skip
    seconds = time.perf_counter() - started
    if result.x is None:
        LOG.warning("HiGHS found no hub plan (%s)", result.message)
        return None
    chosen = np.round(result.x[: n_hubs + n_pairs]).astype(bool)
    assigned = np.full(n_sites, -1)
    assigned[site_of[chosen[n_hubs:]]] = hub_of[chosen[n_hubs:]]
    opened = chosen[:n_hubs] & np.isin(np.arange(n_hubs), assigned)
    gap = float(getattr(result, "mip_gap", 0.0) or 0.0)
    status = str(result.message) + (f"; best plan found, MIP gap {gap:.2%}" if result.status != 0 else "")
    return Solution(assigned, opened, MILP, status, seconds, gap)


def _shortfall_rows(
    scenarios: Scenarios, fixed_cost: np.ndarray, hub_of: np.ndarray, site_of: np.ndarray, road_km: np.ndarray,
    haul_cost: float,
) -> LinearConstraint:  # fmt: skip
    """Rows ``net_d(x, y) - eta + u_d >= 0``: one per joint draw d, dense over the hubs and site -> hub pairs."""
    haul = scenarios.tonnes[site_of] * (road_km[hub_of, site_of] * haul_cost)[:, None]
    gain = (scenarios.value[site_of] - haul).T / _SCALE
    n_scenarios = gain.shape[0]
    fixed = np.broadcast_to(-fixed_cost / _SCALE, (n_scenarios, len(fixed_cost)))
    rows = np.hstack([fixed, gain, -np.ones((n_scenarios, 1)), np.eye(n_scenarios)])
    return LinearConstraint(sparse.csr_array(rows), 0.0, np.inf)


def _feed_rows(feed: np.ndarray, hub_of: np.ndarray, pair_vars: np.ndarray, limit: np.ndarray, n_vars: int):
    """Rows ``sum_s feed_s x_sh - limit_h y_h`` per hub (limits in tonnes, scaled like the feed)."""
    n_hubs = len(limit)
    rows, columns = np.r_[hub_of, np.arange(n_hubs)], np.r_[pair_vars, np.arange(n_hubs)]
    data = np.r_[feed, -np.where(np.isfinite(limit), limit, 0.0) / _SCALE]
    return sparse.csr_array((data, (rows, columns)), shape=(n_hubs, n_vars))


def catchment_plan(road_km: np.ndarray, reach: np.ndarray, opened: np.ndarray) -> Solution:
    """The k-means plan: each site feeds the nearest hub of ``opened`` in reach; hubs fed by no site stay closed."""
    if len(reach) == 0:
        return Solution(np.full(reach.shape[1], -1), np.zeros(0, bool), KMEANS, "no hubs")
    distance = np.where(reach & opened[:, None], road_km, np.inf)
    assigned = np.where(np.isfinite(distance.min(axis=0)), np.argmin(distance, axis=0), -1)
    used = opened.astype(bool) & np.isin(np.arange(len(reach)), assigned)
    return Solution(assigned, used, KMEANS, "k-means / given hubs, each site to the nearest in reach")


def expected_net_value(
    solution: Solution, tonnes: np.ndarray, value: np.ndarray, road_km: np.ndarray, fixed_cost: np.ndarray,
    haul_cost: float = HAUL_COST_USD_PER_T_KM,
) -> float:  # fmt: skip
    """Expected net value (USD) of a plan: value minus haul of the assigned sites, minus opened hubs' fixed costs."""
    fed = np.flatnonzero(solution.assigned >= 0)
    hub = solution.assigned[fed]
    haul = tonnes[fed] * road_km[hub, fed] * haul_cost
    return float(np.sum(value[fed] - haul) - np.sum(fixed_cost[solution.opened]))


def plan_network(
    sites: pd.DataFrame,
    weights: np.ndarray,
    draws: DrawSource,
    given: pd.DataFrame | None = None,
    k: int = 5,
    haul_km: float = 150.0,
    seed: int = 0,
    costs: HubCosts | None = None,
    n_site_candidates: int = SITE_CANDIDATES,
    optimise: bool = True,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = PLAN_MIP_GAP,
    cvar_level: float | None = None,
) -> HubPlan:
    """The hub plan of the sites that may feed a hub (those not excluded by review).

    Parameters
    ----------
    sites : DataFrame
        ``site_id``, ``lon``, ``lat`` of the sites that may feed a hub.
    weights : array
        P50 recoverable value per site: it weights the k-means proposals and picks the site candidates.
    draws : ResourceDraws, sequence of them, or a function returning the chunks afresh
        The sites' Monte Carlo draws (:func:`residua.models.simulation.iter_draws`); read twice.
    given : DataFrame, optional
        Checked hubs.csv rows (:func:`residua.models.hubs.check_hubs`): then the only candidates.
    k, seed : int
        k-means proposals and their seed.
    haul_km : float
        Largest geodesic distance from a site centroid to the hub it feeds.
    costs : HubCosts, optional
        Haul cost, circuity, default fixed cost and capacity, plan years, minimum feed.
    n_site_candidates : int
        Top-valued sites whose centroids are candidates too (no hubs.csv).
    optimise : bool
        False gives the k-means plan (given / proposed hubs all opened, nearest in reach) without the solver.
    time_limit_s, mip_rel_gap : float
        HiGHS limits.
    cvar_level : float, optional
        The cautious plan: maximise the mean net value of the worst ``cvar_level`` share of the
        draws (CVaR, e.g. 0.2) instead of the expected net value; draws are read a third time.
    """
    if not haul_km > 0:
        raise ValueError(f"haul_km must be positive, got {haul_km}; set haul_km in km, e.g. 150")
    costs = costs or HubCosts()
    candidates = hub_candidates(sites, weights, given, k, n_site_candidates if optimise else 0, seed, costs)
    source = replayable(draws)
    means = site_means(sites["site_id"].tolist(), source())
    tonnes, value = means["tonnes"].to_numpy(), means["value"].to_numpy()
    geodesic = geodesic_km(candidates["lon"].to_numpy()[:, None], candidates["lat"].to_numpy()[:, None],
                           sites["lon"].to_numpy()[None, :], sites["lat"].to_numpy()[None, :])  # fmt: skip
    reach, road = geodesic <= haul_km, geodesic * costs.road_circuity
    fixed, capacity = candidates["fixed_cost_usd"].to_numpy(), candidates["capacity_t"].to_numpy()
    solution, scenarios = None, None
    if optimise and cvar_level is not None:
        scenarios = joint_scenarios(sites["site_id"].tolist(), source(), cvar_level)
    if optimise:
        solution = solve_plan(tonnes, value, road, reach, fixed, capacity, costs.min_feed_t,
                              costs.haul_cost_usd_per_t_km, time_limit_s, mip_rel_gap, scenarios)  # fmt: skip
        if solution is None:
            LOG.warning("Hub plan: no solver result; falling back to the k-means / given hubs with catchments")
    if solution is None:
        solution = catchment_plan(road, reach, candidates["location"].isin(["given", "proposed"]).to_numpy())
    totals = _plan_totals(solution, reach, road * costs.haul_cost_usd_per_t_km, fixed, sites["site_id"], source())
    hubs = _hub_layer(candidates, sites, solution, reach, totals, haul_km)
    assignments = _assignment_layer(candidates, sites, solution, geodesic, road, tonnes, value, costs)
    per_draw = totals["net"].sum(axis=0)
    net = {"mean": float(per_draw.mean()), **{p: float(np.percentile(per_draw, q)) for p, q in PERCENTILES.items()}}
    objective = "expected net value"
    if cvar_level is not None:
        net["cvar"] = conditional_value_at_risk(per_draw, cvar_level)
        objective = f"CVaR {cvar_level:.0%} of net value (mean of the worst {cvar_level:.0%} of draws)"
        if solution.method != MILP:
            objective = f"none: {KMEANS} fallback (CVaR {cvar_level:.0%} requested)"
    LOG.info("Hub plan by %s (%s; objective %s): %d of %d candidates opened, expected net value USD %.4g, %.2f s",
             solution.method, solution.status, objective, int(solution.opened.sum()), len(candidates), net["mean"],
             solution.seconds)  # fmt: skip
    hubs = hubs.assign(objective=objective)
    return HubPlan(hubs, assignments, solution.method, solution.status, solution.seconds, net, objective)


def _plan_totals(
    solution: Solution, reach: np.ndarray, haul_usd_per_t: np.ndarray, fixed_cost: np.ndarray, site_ids: pd.Series,
    chunks: Iterable[ResourceDraws],
) -> dict[str, np.ndarray]:  # fmt: skip
    """Per draw (hubs x draws): catchment sums ``reach_<f>``, assigned feed ``feed_<f>``, ``haul`` and ``net`` (USD)."""
    n_hubs, n_sites = reach.shape
    assign = np.zeros((n_hubs, n_sites))
    fed = np.flatnonzero(solution.assigned >= 0)
    assign[solution.assigned[fed], fed] = 1.0
    weights = {"reach": reach.astype(float), "feed": assign}
    position = pd.Series(np.arange(n_sites), index=site_ids.to_numpy())
    sums: dict[str, np.ndarray] = {}
    for chunk in chunks:
        wanted = np.flatnonzero(pd.Index(chunk.site_ids).isin(position.index))
        columns = position.loc[chunk.site_ids[wanted]].to_numpy()
        fields = {"tonnes": chunk.tonnes, "value": chunk.value, **{m: chunk.recoverable[m] for m in HUB_METALS}}
        for kind, matrix in weights.items():
            for name, values in fields.items():
                sums[f"{kind}_{name}"] = sums.get(f"{kind}_{name}", 0.0) + matrix[:, columns] @ values[wanted]
        sums["haul"] = sums.get("haul", 0.0) + (assign * haul_usd_per_t)[:, columns] @ chunk.tonnes[wanted]
    for name in [*(f"{kind}_{f}" for kind in weights for f in _FIELDS), "haul"]:
        sums[name] = np.asarray(sums.get(name, np.zeros((n_hubs, 1))), dtype=float)
    sums["net"] = sums["feed_value"] - sums["haul"] - np.where(solution.opened, fixed_cost, 0.0)[:, None]
    return sums


def _percentiles(prefix: str, rows: np.ndarray) -> dict[str, np.ndarray]:
    """``<prefix>_p10/p50/p90`` per row of a (hubs x draws) array."""
    return {f"{prefix}_{p}": np.percentile(rows, q, axis=1) for p, q in PERCENTILES.items()}


def _hub_layer(
    candidates: pd.DataFrame, sites: pd.DataFrame, solution: Solution, reach: np.ndarray,
    totals: dict[str, np.ndarray], haul_km: float,
) -> gpd.GeoDataFrame:  # fmt: skip
    """One point per candidate: opened, catchment (in reach) and feed (assigned) P10/P50/P90, net value."""
    site_ids = sites["site_id"].to_numpy()
    assigned = [sorted(site_ids[solution.assigned == h]) for h in range(len(candidates))]
    table = pd.DataFrame({
        "hub_id": candidates["hub_id"], "name": candidates["name"], "location": candidates["location"],
        "method": solution.method, "opened": solution.opened.astype(bool), "haul_km": float(haul_km),
        "n_sites": reach.sum(axis=1).astype(int),
        "site_ids": [",".join(sorted(site_ids[row])) for row in reach],
    })  # fmt: skip
    for metal in HUB_METALS:
        table = table.assign(**_percentiles(f"{metal}_recoverable_t", totals[f"reach_{metal}"]))
    table = table.assign(**_percentiles("value_usd", totals["reach_value"]))
    table = table.assign(
        capacity_t_per_year=candidates["capacity_t_per_year"].to_numpy(),
        capacity_t=candidates["capacity_t"].to_numpy(),
        fixed_cost_usd=candidates["fixed_cost_usd"].to_numpy(), n_assigned=[len(ids) for ids in assigned],
        assigned_site_ids=[",".join(ids) for ids in assigned],
        **_percentiles("feed_t", totals["feed_tonnes"]),
        **{k: v for m in HUB_METALS for k, v in _percentiles(f"feed_{m}_t", totals[f"feed_{m}"]).items()},
        **_percentiles("feed_value_usd", totals["feed_value"]), haul_cost_usd_mean=totals["haul"].mean(axis=1),
        net_value_usd_mean=totals["net"].mean(axis=1), **_percentiles("net_value_usd", totals["net"]),
    )  # fmt: skip
    points = gpd.points_from_xy(candidates["lon"], candidates["lat"])
    return gpd.GeoDataFrame(table, geometry=points, crs=STORAGE_CRS)


def _assignment_layer(
    candidates: pd.DataFrame, sites: pd.DataFrame, solution: Solution, geodesic: np.ndarray, road: np.ndarray,
    tonnes: np.ndarray, value: np.ndarray, costs: HubCosts,
) -> gpd.GeoDataFrame:  # fmt: skip
    """One line per fed site, from its centroid to its hub (EPSG:4326), with distances and expected haul cost."""
    fed = np.flatnonzero(solution.assigned >= 0)
    hub = solution.assigned[fed]
    haul = tonnes[fed] * road[hub, fed] * costs.haul_cost_usd_per_t_km
    lines = shapely.linestrings(
        np.stack([np.column_stack([sites["lon"].to_numpy()[fed], sites["lat"].to_numpy()[fed]]),
                  np.column_stack([candidates["lon"].to_numpy()[hub], candidates["lat"].to_numpy()[hub]])], axis=1)
    ) if len(fed) else []  # fmt: skip
    table = pd.DataFrame({
        "site_id": sites["site_id"].to_numpy()[fed], "hub_id": candidates["hub_id"].to_numpy()[hub],
        "method": solution.method, "geodesic_km": geodesic[hub, fed], "road_km": road[hub, fed],
        "tonnes_mean": tonnes[fed], "value_usd_mean": value[fed], "haul_cost_usd_mean": haul,
        "net_value_usd_mean": value[fed] - haul,
    })  # fmt: skip
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(lines, crs=STORAGE_CRS), crs=STORAGE_CRS)
