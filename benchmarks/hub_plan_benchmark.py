"""Benchmark: the hub plan (MILP, HiGHS) against k-means hubs with 150 km catchments, on the same draws.

Run from the repository root once a pipeline run has stored its asset values (``make run`` for
the demo; ``residua run`` with DAGSTER_HOME / RESIDUA_DAGSTER_DIR for a scale drop)::

    .venv/bin/python benchmarks/hub_plan_benchmark.py                       # the demo and the 1,000-site drop
    .venv/bin/python benchmarks/hub_plan_benchmark.py --case demo .dagster/storage geodata/demo
    .venv/bin/python benchmarks/hub_plan_benchmark.py --site-candidates 25 50   # solver time vs candidates
    .venv/bin/python benchmarks/hub_plan_benchmark.py --cvar 0.2                # and the cautious plan

Each case reads the stored ``simulation_inputs``, ``site_rankings`` and ``sites`` values (the
pickles Dagster's filesystem IO manager wrote under ``<RESIDUA_DAGSTER_DIR>/storage``) and the
drop's ``hubs.csv`` if any, builds the feeding sites exactly as the ``processing_hubs`` asset does
(ranked sites only), draws every site once (kept in memory, so both plans see the same draws),
then plans twice with the run's default settings (:class:`residua.assets.configs.HubPlanConfig`):

* ``milp``: :func:`residua.models.hub_plan.plan_network`, candidates = k-means proposals + top sites;
* ``kmeans``: the same k-means (or given) hubs, every hub with a site in reach opened, each site
  feeding the nearest hub within ``haul_km`` (capacity and minimum feed not enforced).

With ``--cvar ALPHA`` a third plan is the cautious one (``hub_cvar_level`` ALPHA: the MILP
maximising the mean net value of the worst ALPHA share of draws). All are scored on the same
draws: expected net value (metal value minus haul minus fixed costs), its P10/P50/P90 and its
CVaR at ALPHA (0.2 when not given). It writes ``benchmarks/results/hub_plan_benchmark.md`` and ``.json``.
The cost settings are screening assumptions (see models/hub_plan.py): the figures compare
methods, they are not an economic assessment.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from residua.assets.configs import HubPlanConfig  # noqa: E402
from residua.models.hub_plan import HubPlan, conditional_value_at_risk, plan_network  # noqa: E402
from residua.models.hubs import HUB_METALS, HUBS_FILE, read_hubs, site_centroids  # noqa: E402
from residua.models.simulation import SEED, ResourceDraws, iter_draws  # noqa: E402

SCALE_HOME = Path("/tmp/residua_scale_benchmark")
DEFAULT_CASES = (
    ("demo", ROOT / ".dagster" / "storage", ROOT / "geodata" / "demo"),
    ("1000 sites", SCALE_HOME / "dagster_home_1000" / "storage" / "storage", SCALE_HOME / "drop_1000_seed8"),
)
TARGET_SOLVER_S = 30.0


def _load(storage: Path, name: str):
    with open(storage / name, "rb") as handle:
        return pickle.load(handle)


def _slim(chunk: ResourceDraws) -> ResourceDraws:
    """The fields the hub plan reads (tonnes, value, recoverable Ga, Te, PGM): a fifth of the memory."""
    return ResourceDraws(site_ids=chunk.site_ids, tonnes=chunk.tonnes, mean_grade={}, above={}, contained={},
                         recoverable={m: chunk.recoverable[m] for m in HUB_METALS}, value=chunk.value)  # fmt: skip


def net_per_draw(plan: HubPlan, draws: list[ResourceDraws], haul_usd_per_t_km: float) -> np.ndarray:
    """The plan's net value (USD) in every draw: fed sites' value minus haul, minus opened hubs' fixed costs."""
    road = plan.assignments.set_index("site_id")["road_km"]
    net = 0.0
    for chunk in draws:
        fed = pd.Index(chunk.site_ids).isin(road.index)
        haul = chunk.tonnes[fed] * (road.loc[chunk.site_ids[fed]].to_numpy() * haul_usd_per_t_km)[:, None]
        net = net + (chunk.value[fed] - haul).sum(axis=0)
    return net - plan.hubs.loc[plan.hubs["opened"], "fixed_cost_usd"].sum()


def _summary(plan: HubPlan, wall_s: float, net: np.ndarray, level: float) -> dict:
    opened = plan.hubs[plan.hubs["opened"]]
    over = int((opened["feed_t_p50"] > opened["capacity_t"]).sum())
    return {
        "method": plan.method, "objective": plan.objective, "status": plan.status, "solver_s": round(plan.seconds, 3),
        "wall_s": round(wall_s, 3), "hubs_opened": len(opened), "candidates": len(plan.hubs),
        "sites_fed": len(plan.assignments), "expected_net_value_musd": plan.net_value_usd["mean"] / 1e6,
        **{f"net_value_{p}_musd": plan.net_value_usd[p] / 1e6 for p in ("p10", "p50", "p90")},
        "cvar_musd": conditional_value_at_risk(net, level) / 1e6, "hubs_over_capacity_at_p50": over,
    }  # fmt: skip


def run_case(
    label: str, storage: Path, drop: Path, settings: HubPlanConfig, more: tuple[int, ...] = (),
    cvar: float | None = None,
) -> dict:  # fmt: skip
    """The plans of one stored run, on the same draws; ``more``: MILP runs with other numbers of site candidates;
    ``cvar``: also the cautious plan at that level."""
    inputs, rankings, sites = (_load(storage, name) for name in ("simulation_inputs", "site_rankings", "sites"))
    feeding = rankings[rankings["rank"].notna()].set_index("site_id")
    locations = site_centroids(sites.accepted[sites.accepted["site_id"].isin(feeding.index)])
    weights = locations["site_id"].map(feeding["value_usd_p50"]).to_numpy(dtype=float)
    given = read_hubs(drop / HUBS_FILE)
    started = time.perf_counter()
    draws = [_slim(chunk) for chunk in iter_draws(inputs)]
    draw_s = time.perf_counter() - started
    common = dict(given=given, k=settings.hubs_k, haul_km=settings.haul_km, seed=SEED,
                  costs=settings.costs(), n_site_candidates=settings.hub_site_candidates)  # fmt: skip
    results = {}
    runs = [("milp", True, settings.hub_site_candidates, None), ("kmeans", False, 0, None)]
    runs += [(f"milp, {n} site candidates", True, n, None) for n in more]
    runs += [(f"milp, CVaR {cvar:.0%}", True, settings.hub_site_candidates, cvar)] if cvar is not None else []
    level = cvar if cvar is not None else 0.2
    for name, optimise, n_sites, cvar_level in runs:
        started = time.perf_counter()
        plan = plan_network(locations, weights, draws, optimise=optimise, cvar_level=cvar_level,
                            **{**common, "n_site_candidates": n_sites})  # fmt: skip
        wall_s = time.perf_counter() - started
        results[name] = _summary(plan, wall_s, net_per_draw(plan, draws, settings.haul_cost_usd_per_t_km), level)
    gain = results["milp"]["expected_net_value_musd"] - results["kmeans"]["expected_net_value_musd"]
    return {"case": label, "sites_ranked": len(locations), "n_draws": inputs.n_draws, "draw_s": round(draw_s, 2),
            "candidates": "given" if given is not None else "proposed", **results, "gain_musd": gain,
            "plans": list(results), "cvar_level": level}  # fmt: skip


def _markdown(cases: list[dict], settings: HubPlanConfig, command: str) -> str:
    lines = [
        "# Hub plan benchmark: MILP against k-means with 150 km catchments",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}  ",
        f"Settings: haul {settings.haul_cost_usd_per_t_km} USD/t/km, circuity {settings.road_circuity}, fixed "
        f"{settings.hub_fixed_cost_usd:.3g} USD, capacity {settings.hub_capacity_t_per_year} t/yr x "
        f"{settings.hub_plan_years} yr, min feed {settings.hub_min_feed_t:.3g} t, haul reach {settings.haul_km} km, "
        f"k = {settings.hubs_k}, {settings.hub_site_candidates} site candidates (screening assumptions).",
        "",
        "| case | sites | draws | plan | opened / candidates | sites fed | E[net] M USD | net P10 / P50 / P90 M USD "
        "| net CVaR M USD | over capacity | solver s | plan s | solver status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        for name in case["plans"]:
            r = case[name]
            lines.append(
                f"| {case['case']} | {case['sites_ranked']} | {case['n_draws']} | {name} | "
                f"{r['hubs_opened']} / {r['candidates']} | {r['sites_fed']} | {r['expected_net_value_musd']:,.1f} | "
                f"{r['net_value_p10_musd']:,.1f} / {r['net_value_p50_musd']:,.1f} / {r['net_value_p90_musd']:,.1f} | "
                f"{r['cvar_musd']:,.1f} | {r['hubs_over_capacity_at_p50']} | {r['solver_s']:.2f} | "
                f"{r['wall_s']:.2f} | {r['status']} |"
            )
    lines += [""]
    for c in cases:
        lines.append(f"- {c['case']}: the MILP plan is worth {c['gain_musd']:+,.1f} M USD more in expectation; "
                     f"solver {c['milp']['solver_s']:.2f} s (target < {TARGET_SOLVER_S:g} s).")  # fmt: skip
    lines += [
        "",
        f'"net CVaR": the mean net value of the worst {cases[0]["cvar_level"]:.0%} of draws, for every plan.'
        if cases
        else "",
        '"over capacity": opened hubs whose P50 feed exceeds their capacity (the k-means plan does not '
        'enforce capacity). "plan s" includes the two passes over the draws and building the layers. HiGHS stops '
        "at 30 s and returns its best plan so far (status: time limit, with the MIP gap).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=3, action="append", metavar=("LABEL", "STORAGE", "DROP"),
                        help="a stored run: label, its storage folder and its data drop (repeatable)")  # fmt: skip
    parser.add_argument("--site-candidates", type=int, nargs="*", default=[], metavar="N",
                        help="also run the MILP with N site candidates (solver-time scaling)")  # fmt: skip
    parser.add_argument("--cvar", type=float, default=None, metavar="ALPHA",
                        help="also the cautious plan maximising the CVaR at ALPHA (e.g. 0.2)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hub_plan_benchmark.md")
    args = parser.parse_args(argv)
    cases = [(label, Path(s), Path(d)) for label, s, d in args.case] if args.case else DEFAULT_CASES
    settings = HubPlanConfig()
    results = []
    for label, storage, drop in cases:
        if not (storage / "simulation_inputs").is_file():
            print(f"skipping {label}: no stored simulation_inputs in {storage} (run the pipeline first)")
            continue
        results.append(run_case(label, storage, drop, settings, tuple(args.site_candidates), args.cvar))
        print(json.dumps(results[-1], indent=1))
    command = "python benchmarks/hub_plan_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_markdown(results, settings, command.strip()))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
