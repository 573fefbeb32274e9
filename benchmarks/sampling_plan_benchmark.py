"""Benchmark: does the sampling plan cut the top-N decision error more than other ways of spending its holes?

Issue 17. On SYNTHETIC demo drops whose truth is known (``geodata/demo/make_demo.py``), per generator seed:

1. ``residua run`` on the base drop; its ``sampling_plan.csv`` has H planned holes.
2. Three drilled drops, each a copy of the base drop with H new holes "drilled" from the generator's own grade
   field (its :func:`~make_demo.point_grades`, :func:`~make_demo.sample_row`: same columns, units, 1.5 m
   intervals, detection limits and the site's assay suite) and appended to ``samples.csv``:

   * ``plan``: the plan's holes, where and as deep as it put them;
   * ``even``: H holes spread evenly over the plan's candidates (ranked sites whose top-N membership
     probability is uncertain, ``CERTAIN < p < 1 - CERTAIN``), counts differing by at most one;
   * ``top``: the plan's campaign sizes, in its priority order, at the sites ranked highest by P50 value.

   ``even`` and ``top`` holes are placed by the plan's own maximin placement
   (:func:`residua.models.sampling_plan.plan_holes`) and drilled to the plan's depth rule (:func:`planned_depth`).
3. ``residua run`` on each drilled drop; the decision error of each run is the number of sites in its chosen top
   N that are not in the TRUE top N.

True value: the formula Residua ranks by (:func:`residua.models.simulation.SimulationInputs.chunk`), applied to the
generator's true tonnes and true mean grades: sum over elements of tonnes x grade x share of metal above the
run's cut-off x recovery x mid price, with the reference recovery's mode and the generator's within-site
log-sd sqrt(GRADE_SILL + GRADE_NUGGET) in the lognormal cut-off share. The generator draws no grade field for
unsampled sites (their truth.csv grades are an expectation); here each one's field is drawn by the generator's
own :func:`~make_demo.build_grade_model` (same random stream, so the same site mean log-grades), so that the
truth and the holes drilled there come from one realisation.

Chosen top N (all three reported): the plan's own decision, the N sites with the largest top-N membership
probability over the run's draws (``p``, headline); the N highest by P50 value (``p50``); the published rank
(score = P50 value x confidence weight, ``rank``). Every run uses Residua's default Monte Carlo seed, so arms
differ only by their data.

Usage (from the repository root)::

    .venv/bin/python benchmarks/sampling_plan_benchmark.py --seeds 20240611 1 2 3 4 5 6
    .venv/bin/python benchmarks/sampling_plan_benchmark.py --seeds 1 --out /tmp/smoke   # a smoke run

It writes ``<out>/sampling_plan_benchmark.md`` and ``.json`` (default ``benchmarks/results``). The data are
synthetic: this checks the plan's machinery against a known truth, not the real world.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import pickle
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
# These imports need the sys.path entries above (E402 on purpose): report_tables sits beside this script, and the
# project's packages must come from this checkout when the script is run as a file.
from report_tables import markdown_table_section  # noqa: E402

from residua.assets.sampling import hole_collars  # noqa: E402
from residua.geodata.demo import make_demo as demo  # noqa: E402
from residua.geodata.schema import ELEMENTS  # noqa: E402
from residua.models.sampling_plan import (  # noqa: E402
    CAMPAIGN_COLUMNS,
    CERTAIN,
    TOP_N,
    PlanOptions,
    best_choice,
    collect_draws,
    plan_holes,
    planned_depth,
    top_members,
)
from residua.models.simulation import GRAMS_PER_TONNE, KG_PER_TONNE, metal_share_above  # noqa: E402

DEFAULT_SEEDS = (20240611, 1, 2, 3, 4, 5, 6)
ARMS = ("plan", "even", "top")
#: Metrics compared between arms, and the (arm, other) pairs compared.
METRICS = ("error_p", "error_p50", "error_rank", "expected_wrong", "regret_p")
COMPARISONS = (("plan", "base"), ("plan", "even"), ("plan", "top"), ("even", "base"), ("top", "base"))
#: Random stream of each arm's nugget draws (make_demo streams are < 3000).
ARM_STREAM = {"plan": 7001, "even": 7002, "top": 7003}
#: The generator's within-site log-sd of a sample (lateral field sill + nugget), used in the true cut-off share.
TRUE_SIGMA_W = math.sqrt(demo.GRADE_SILL + demo.GRADE_NUGGET)
#: Other within-site log-sds the true top N is checked against (a block support, a wider spread).
SENSITIVITY_SIGMA_W = (0.3, 0.55)
#: Record a finished run leaves in its Dagster home (input hashes, wall time), so ``--reuse`` can skip it.
RUN_RECORD = "benchmark_run.json"
#: Change of top-N membership probability that counts as "moved" at a site no hole went to.
MOVED_P = 0.2
#: Stored asset values the benchmark reads (pickles of Dagster's filesystem IO manager).
STORED = ("site_rankings", "simulation_inputs", "sites", "samples", "site_features", "reference_tables")


# ------------------------------------------------------------------------------- truth


def reconstruct_sites(seed: int) -> list[demo.Site]:
    """The seed's sites with volumes and grade models, by the same calls :func:`make_demo.generate` makes.

    Unsampled sites then get a grade field too (:func:`realise_unsampled_fields`).
    """
    sites = demo.plan_sites(seed)
    demo.place_footprints(seed, sites)
    demo.set_regional_ga(sites, demo.regional_ga_field(seed))
    for site in sites:
        demo.build_volume(seed, site)
        demo.build_grade_model(seed, site)
        demo.true_mean_grades(site)
    return sites


def realise_unsampled_fields(seed: int, sites: list[demo.Site]) -> list[str]:
    """Draw the grade field of every unsampled site with the generator's own code; return their ids.

    :func:`make_demo.build_grade_model` draws the site mean log-grades first and the fields after them from the
    same stream, so with ``sampled`` set the means are unchanged and the field is the one the generator would
    have drawn had the site been sampled. Its true mean grades are then the field's (``grade_basis = field``).
    """
    realised = []
    for site in sites:
        if site.sampled:
            continue
        means = dict(site.log_mean)
        site.sampled = True
        demo.build_grade_model(seed, site)
        demo.true_mean_grades(site)
        site.sampled = False
        assert site.log_mean == means, site.site_id
        realised.append(site.site_id)
    return realised


def truth_table(sites: Sequence[demo.Site]) -> pd.DataFrame:
    """Per site: ``site_id``, ``residue_type``, ``sampled``, ``true_tonnes`` and ``grade_<element>`` (g/t)."""
    return pd.DataFrame(
        {
            "site_id": [s.site_id for s in sites],
            "residue_type": [s.residue for s in sites],
            "sampled": [s.sampled for s in sites],
            "true_tonnes": [s.truth["tonnes"] for s in sites],
            **{f"grade_{e}": [s.truth[f"grade_{e}"] for s in sites] for e in ELEMENTS},
        }
    ).set_index("site_id")


def check_truth(truth: pd.DataFrame, truth_csv: Path) -> None:
    """Fail unless the reconstruction gives the drop's truth.csv: true tonnes (written to the tonne) and mean
    grades (5 significant figures) of every site, before unsampled sites get their fields."""
    written = pd.read_csv(truth_csv).set_index("site_id").loc[truth.index]
    np.testing.assert_allclose(truth["true_tonnes"], written["true_tonnes"], rtol=0, atol=0.51)
    for element in ELEMENTS:
        np.testing.assert_allclose(truth[f"grade_{element}"], written[f"true_mean_grade_gt_{element}"], rtol=1e-4)


def true_values(
    truth: pd.DataFrame,
    prices: Mapping[str, float],
    cutoffs: Mapping[str, float],
    recovery: pd.DataFrame,
    sigma_w: float = TRUE_SIGMA_W,
) -> pd.Series:
    """True in-situ recoverable value (USD) per site: Residua's value formula on the true tonnes and grades.

    value = sum_e tonnes x G_e x share above cut-off x recovery mode x price, the share of a lognormal
    within-site grade of mean G and log-sd ``sigma_w`` (m = ln G - sigma_w^2 / 2) as in the simulation.
    ``recovery`` is the reference table (``residue_type``, ``element``, ``recovery_mode``).

    >>> truth = pd.DataFrame({"residue_type": ["r"], "true_tonnes": [1e6], **{f"grade_{e}": [1.0] for e in ELEMENTS}})
    >>> rec = pd.DataFrame({"residue_type": "r", "element": list(ELEMENTS), "recovery_mode": 0.5})
    >>> float(true_values(truth, dict.fromkeys(ELEMENTS, 2.0), {}, rec).iloc[0])  # 5 x 1 t x 0.5 x 2000 USD/t
    5000.0
    """
    modes = recovery.set_index(["residue_type", "element"])["recovery_mode"]
    total = pd.Series(0.0, index=truth.index)
    for element in ELEMENTS:
        grade = truth[f"grade_{element}"].to_numpy(dtype=float)
        m = np.log(np.maximum(grade, np.finfo(float).tiny)) - sigma_w**2 / 2
        share = metal_share_above(m, np.full(m.shape, sigma_w), float(cutoffs.get(element, 0.0)))
        rate = np.array([modes.get((t, element), 0.0) for t in truth["residue_type"]], dtype=float)
        price = float(prices[element]) * KG_PER_TONNE / GRAMS_PER_TONNE  # USD per g
        total += truth["true_tonnes"].to_numpy(dtype=float) * grade * share * rate * price
    return total


# ---------------------------------------------------------------------------- decision


def top_n_ids(score: pd.Series, n: int) -> list[str]:
    """The ``n`` ids with the highest score (ties: by id)."""
    frame = pd.DataFrame({"id": score.index.astype(str), "score": score.to_numpy(dtype=float)})
    return frame.sort_values(["score", "id"], ascending=[False, True], kind="mergesort")["id"].head(n).tolist()


def decision_error(chosen: Sequence[str], true_top: Sequence[str]) -> int:
    """Number of chosen sites that are not in the true top N.

    >>> decision_error(["a", "b", "c"], ["a", "c", "d"])
    1
    """
    return len(set(chosen) - set(true_top))


def value_regret(chosen: Sequence[str], true_top: Sequence[str], value: pd.Series) -> float:
    """Share of the true top N's true value the chosen sites miss: 1 - V(chosen) / V(true top N).

    >>> value_regret(["a", "c"], ["a", "b"], pd.Series({"a": 3.0, "b": 1.0, "c": 0.5}))
    0.125
    """
    best = float(value.loc[list(true_top)].sum())
    return 1 - float(value.loc[list(chosen)].sum()) / best if best > 0 else 0.0


def membership(inputs: object, site_ids: Sequence[str], n: int) -> tuple[pd.Series, float, list[str]]:
    """Top-N membership probability p per site over a run's draws, E = N - sum of the chosen p, and the choice.

    The decision :mod:`residua.models.sampling_plan` optimises: the N sites with the largest p.
    """
    draws = collect_draws(inputs, list(site_ids), set())
    top = top_members(draws.value, n)
    p = np.bincount(top[:n].ravel(), minlength=len(draws.site_ids)) / draws.value.shape[1]
    expected_wrong, chosen = best_choice(p, n)
    return pd.Series(p, index=draws.site_ids.astype(str)), expected_wrong, draws.site_ids[chosen].astype(str).tolist()


# ---------------------------------------------------------------------------- campaigns


def spread_evenly(sites: Sequence[str], holes: int) -> dict[str, int]:
    """``holes`` holes over ``sites`` (in order), counts differing by at most one, extras evenly spaced.

    >>> spread_evenly(["a", "b", "c", "d"], 6)
    {'a': 2, 'b': 1, 'c': 1, 'd': 2}
    >>> spread_evenly(["a", "b", "c", "d", "e"], 2)
    {'a': 1, 'e': 1}
    """
    if not sites or holes <= 0:
        return {}
    base, extra = divmod(holes, len(sites))
    counts = np.full(len(sites), base)
    if extra:
        counts[np.round(np.linspace(0, len(sites) - 1, extra)).astype(int)] += 1
    return {site: int(k) for site, k in zip(sites, counts) if k > 0}


def at_top_ranked(ranked_by_value: Sequence[str], sizes: Sequence[int]) -> dict[str, int]:
    """The plan's campaign sizes (in priority order) at the first sites of ``ranked_by_value``.

    >>> at_top_ranked(["x", "y", "z"], [6, 3])
    {'x': 6, 'y': 3}
    """
    return {site: int(k) for site, k in zip(ranked_by_value, sizes)}


def campaign_frame(counts: Mapping[str, int]) -> pd.DataFrame:
    """Campaign rows :func:`residua.models.sampling_plan.plan_holes` places holes for (costs and gains left empty)."""
    frame = pd.DataFrame({column: np.nan for column in CAMPAIGN_COLUMNS}, index=range(len(counts)))
    frame["priority"] = np.arange(1, len(counts) + 1)
    frame["site_id"] = list(counts)
    frame["holes_in_campaign"] = [int(k) for k in counts.values()]
    frame["confidence_now"] = ""
    return frame[list(CAMPAIGN_COLUMNS)]


def place_campaigns(counts: Mapping[str, int], stored: Mapping[str, object]) -> pd.DataFrame:
    """Holes (``hole_id``, ``site_id``, ``lon``, ``lat``, ``planned_depth_m``) by the plan's own placement."""
    features = stored["site_features"]
    holes = plan_holes(
        campaign_frame(counts),
        stored["sites"].accepted.set_index("site_id").geometry,
        hole_collars(stored["samples"].accepted),
        planned_depth(features, stored["reference_tables"].thickness_priors),
        features.set_index("site_id")["area_ha"] * 1e4,
    )
    return pd.DataFrame(holes[["hole_id", "site_id", "lon", "lat", "planned_depth_m"]])


# ------------------------------------------------------------------------------ drilling


def n_intervals(planned_depth_m: float, thickness_m: float) -> int:
    """1.5 m intervals a hole is sampled in: down to its planned depth (rounded up to a whole interval), but
    never below the residue's base nor past the generator's auger limit (MAX_INTERVALS).

    >>> n_intervals(6.6, 20.0), n_intervals(6.6, 4.0), n_intervals(30.0, 40.0), n_intervals(3.0, 1.0)
    (5, 2, 8, 0)
    """
    to_depth = math.ceil(round(planned_depth_m / demo.AUGER_INTERVAL_M, 9))
    return max(0, min(demo.MAX_INTERVALS, to_depth, int(thickness_m // demo.AUGER_INTERVAL_M)))


def counters(samples_csv: Path) -> tuple[int, int]:
    """The highest AH- hole number and S- sample number in a drop's samples.csv."""
    table = pd.read_csv(samples_csv, dtype=str)
    holes = table["hole_id"].str.extract(r"^AH-(\d+)$")[0].dropna().astype(int)
    samples = table["sample_id"].str.extract(r"^S-(\d+)$")[0].dropna().astype(int)
    return int(holes.max()), int(samples.max())


@dataclass
class Drilled:
    """What drilling one arm's holes gave: the new sample rows and per-hole notes."""

    rows: list[dict[str, str]]
    holes: list[dict[str, object]]


def drill(
    holes: pd.DataFrame, sites: Mapping[str, demo.Site], table: demo.SampleTable, rng: np.random.Generator
) -> Drilled:
    """Sample rows of ``holes`` (``hole_id``, ``site_id``, ``lon``, ``lat``, ``planned_depth_m``) from the truth.

    Each hole gets the generator's next AH- id and S- sample ids and is sampled like the generator's holes
    (:func:`make_demo.sample_row`: site mean + field + depth trend + nugget, the site's assay suite and units).
    """
    rows: list[dict[str, str]] = []
    notes: list[dict[str, object]] = []
    for hole in holes.itertuples(index=False):
        site = sites[hole.site_id]
        x, y = demo.transformer(4326, site.crs_epsg).transform(float(hole.lon), float(hole.lat))
        thickness = demo.thickness_at(site, x, y)
        count = n_intervals(float(hole.planned_depth_m), thickness)
        hole_id = table.new_hole_id()
        rows.extend(demo.sample_row(table, rng, site, hole_id, x, y, i) for i in range(count))
        notes.append({"planned_hole": hole.hole_id, "hole_id": hole_id, "site_id": hole.site_id,
                      "planned_depth_m": round(float(hole.planned_depth_m), 3), "thickness_m": round(thickness, 3),
                      "intervals": count})  # fmt: skip
    return Drilled(rows, notes)


def drilled_drop(base: Path, target: Path, rows: Sequence[Mapping[str, str]]) -> None:
    """A copy of drop ``base`` at ``target`` with ``rows`` appended to its samples.csv."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base, target)
    path = target / "samples.csv"
    text = path.read_text(encoding="utf-8")
    with path.open("a", newline="", encoding="utf-8") as handle:
        if text and not text.endswith("\n"):
            handle.write("\n")
        writer = csv.DictWriter(handle, fieldnames=list(demo.SAMPLE_COLUMNS), lineterminator="\n")
        writer.writerows(rows)


# ------------------------------------------------------------------------------ running


def drop_digest(data: Path) -> str:
    """SHA-256 of the drop's sites.gpkg and samples.csv (what the arms differ by)."""
    digest = hashlib.sha256()
    for name in ("sites.gpkg", "samples.csv"):
        digest.update((data / name).read_bytes())
    return digest.hexdigest()


def run_residua(data: Path, out: Path, home: Path, log: Path, reuse: bool = False) -> tuple[float, str]:
    """``residua run`` on ``data`` into ``out`` with a fresh Dagster home; returns its wall time (s) and the code
    it ran on, ``reused <commit>`` for an earlier run re-scored (``reuse``: its record in ``home`` names the same
    drop digest)."""
    record = home / RUN_RECORD
    if reuse and record.is_file() and (out / "sites_ranked.csv").is_file():
        earlier = json.loads(record.read_text())
        if earlier["drop_sha256"] == drop_digest(data):
            return float(earlier["wall_s"]), f"reused {earlier['commit']}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "RESIDUA_DAGSTER_DIR": str(home)}
    env.pop("RESIDUA_DASK_ADDRESS", None)
    env.pop("RESIDUA_POSTGIS_URL", None)
    start = time.perf_counter()
    with log.open("w") as handle:
        command = [str(Path(sys.executable).parent / "residua"), "run", "--data", str(data), "--out", str(out)]
        code = subprocess.run(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RuntimeError(f"residua run failed on {data} (exit {code}); see {log}")
    wall = time.perf_counter() - start
    record.write_text(json.dumps({"drop_sha256": drop_digest(data), "wall_s": wall, "commit": commit(),
                                  "finished_utc": f"{datetime.now(UTC):%Y-%m-%d %H:%M}"}))  # fmt: skip
    return wall, commit()


def load_stored(home: Path) -> dict[str, object]:
    """The stored asset values of a run (:data:`STORED`)."""
    stored = {}
    for name in STORED:
        with (home / "storage" / name).open("rb") as handle:
            stored[name] = pickle.load(handle)
    return stored


def evaluate(out: Path, stored: Mapping[str, object], truth_value: pd.Series, universe: Sequence[str], n: int) -> dict:
    """A run's three top-N choices, their errors and value regrets against the truth, and its own E."""
    ranked = pd.read_csv(out / "sites_ranked.csv", dtype={"site_id": str})
    ranked = ranked[ranked["rank"].notna()]
    true_top = top_n_ids(truth_value.loc[list(universe)], n)
    p, expected_wrong, by_p = membership(stored["simulation_inputs"], ranked["site_id"].tolist(), n)
    choices = {
        "p": by_p,
        "p50": top_n_ids(ranked.set_index("site_id")["value_usd_p50"], n),
        "rank": ranked.sort_values("rank")["site_id"].head(n).tolist(),
    }
    result = {"expected_wrong": expected_wrong, "ranked_sites": len(ranked), "true_top": true_top}
    for name, chosen in choices.items():
        result[f"chosen_{name}"] = chosen
        result[f"error_{name}"] = decision_error(chosen, true_top)
        result[f"regret_{name}"] = value_regret(chosen, true_top, truth_value)
    result["p_true_top"] = {site: float(p.get(site, 0.0)) for site in true_top}
    result["p"] = {site: round(float(v), 4) for site, v in p.items()}
    return result


def side_effects(result: Mapping, base: Mapping, drilled: set[str]) -> dict[str, list[str]]:
    """Where an arm's decision changed without holes: wrong chosen sites (membership choice) no hole went to, and
    sites no hole went to whose top-N membership probability moved by more than :data:`MOVED_P` from the base run.

    >>> side_effects({"chosen_p": ["a", "x"], "true_top": ["a", "b"], "p": {"a": 0.9, "x": 0.6, "b": 0.5}},
    ...              {"p": {"a": 0.8, "x": 0.2, "b": 0.6}}, {"b"})
    {'wrong_not_drilled': ['x'], 'moved_not_drilled': ['x']}
    """
    wrong = sorted(set(result["chosen_p"]) - set(result["true_top"]) - drilled)
    moved = sorted(site for site, p in result["p"].items()
                   if site not in drilled and abs(p - base["p"].get(site, 0.0)) > MOVED_P)  # fmt: skip
    return {"wrong_not_drilled": wrong, "moved_not_drilled": moved}


def truth_sensitivity(truth: pd.DataFrame, inputs: object, stored: Mapping[str, object], n: int) -> dict[str, int]:
    """How many true top-N members change when the true cut-off share uses another within-site log-sd (or none)."""
    recovery = stored["reference_tables"].recovery
    reference = top_n_ids(true_values(truth, inputs.prices, inputs.cutoffs, recovery), n)
    changed = {}
    for sigma in SENSITIVITY_SIGMA_W:
        other = top_n_ids(true_values(truth, inputs.prices, inputs.cutoffs, recovery, sigma), n)
        changed[f"{sigma:g}"] = decision_error(other, reference)
    changed["no cut-off"] = decision_error(top_n_ids(true_values(truth, inputs.prices, {}, recovery), n), reference)
    return changed


def seed_truth(seed: int, drop: Path) -> tuple[dict[str, demo.Site], pd.DataFrame, int]:
    """The seed's generator sites (checked against the drop's truth.csv, then unsampled fields drawn), their
    truth table and how many unsampled fields were drawn."""
    sites = reconstruct_sites(seed)
    check_truth(truth_table(sites), drop / "truth.csv")
    realised = realise_unsampled_fields(seed, sites)
    return {s.site_id: s for s in sites}, truth_table(sites), len(realised)


def arm_holes(out: Path, stored: Mapping[str, object], n: int) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Each arm's holes (same number as the plan's) and the plan's candidate sites, from a base run."""
    ranked = pd.read_csv(out / "sites_ranked.csv", dtype={"site_id": str})
    ranked = ranked[ranked["rank"].notna()].sort_values("rank")
    plan = pd.read_csv(out / "sampling_plan.csv", dtype={"site_id": str})
    sizes = plan.drop_duplicates("site_id").sort_values("priority")["holes_in_campaign"].astype(int).tolist()
    p, _, _ = membership(stored["simulation_inputs"], ranked["site_id"].tolist(), n)
    candidates = [site for site in ranked["site_id"] if CERTAIN < p[site] < 1 - CERTAIN]
    by_value = top_n_ids(ranked.set_index("site_id")["value_usd_p50"], len(ranked))
    holes = {
        "plan": plan[["hole_id", "site_id", "lon", "lat", "planned_depth_m"]],
        "even": place_campaigns(spread_evenly(candidates, len(plan)), stored),
        "top": place_campaigns(at_top_ranked(by_value, sizes), stored),
    }
    return holes, candidates


def plan_summary(out: Path) -> dict:
    """The base run's plan: holes, sites, campaigns, its E now, the sum of its campaigns' gains, holes at G4."""
    plan = pd.read_csv(out / "sampling_plan.csv", dtype={"site_id": str})
    campaigns = plan.drop_duplicates("site_id").sort_values("priority")
    return {
        "holes": len(plan),
        "sites": len(campaigns),
        "campaigns": dict(zip(campaigns["site_id"], campaigns["holes_in_campaign"].astype(int).tolist())),
        "expected_gain": dict(zip(campaigns["site_id"], campaigns["expected_gain"].round(4).tolist())),
        "p_top_n_now": dict(zip(campaigns["site_id"], campaigns["p_top_n_now"].round(4).tolist())),
        "expected_wrong_now": float(plan["top_n_expected_wrong_now"].iloc[0]) if len(plan) else float("nan"),
        "sum_expected_gain": float(campaigns["expected_gain"].sum()),
        "holes_at_G4_sites": int((plan["confidence_now"] == "G4").sum()),
    }


def arm_notes(holes: pd.DataFrame, drilled: Drilled, n_holes: pd.Series) -> dict:
    """Where an arm's holes went and how drilling them went (dry holes, holes short of their planned depth)."""
    per_site = holes.groupby("site_id").size()
    short = [h["intervals"] * demo.AUGER_INTERVAL_M < h["planned_depth_m"] - 1e-9 for h in drilled.holes]
    return {
        "holes": len(holes),
        "samples": len(drilled.rows),
        "sites": int(per_site.size),
        "campaigns": {site: int(k) for site, k in per_site.items()},
        "placeholder_cost_usd": float(sum(PlanOptions().cost(0, int(k)) for k in per_site)),
        "holes_at_unsampled_sites": int(sum(k for site, k in per_site.items() if n_holes.get(site, 0) == 0)),
        "dry_holes": sum(h["intervals"] == 0 for h in drilled.holes),
        "holes_short_of_planned_depth": int(sum(short)),
        "drilled": drilled.holes,
    }


def run_seed(seed: int, workdir: Path, n: int, reuse: bool = False) -> dict:
    """Base run, the three drilled drops and their runs for one generator seed."""
    root = workdir / f"seed_{seed}"
    root.mkdir(parents=True, exist_ok=True)
    base = root / "drop_base"
    shutil.rmtree(base, ignore_errors=True)
    make = [sys.executable, str(ROOT / "geodata" / "demo" / "make_demo.py"), "--seed", str(seed), "--out", str(base)]
    subprocess.run(make, check=True, capture_output=True)
    sites, truth, realised = seed_truth(seed, base)
    print(f"[seed {seed}] base run", flush=True)
    walls, code = {}, {}
    walls["base"], code["base"] = run_residua(base, root / "out_base", root / "home_base", root / "base.log", reuse)
    stored = load_stored(root / "home_base")
    inputs = stored["simulation_inputs"]
    value = true_values(truth, inputs.prices, inputs.cutoffs, stored["reference_tables"].recovery)
    ranked = pd.read_csv(root / "out_base" / "sites_ranked.csv", dtype={"site_id": str})
    ranked = ranked[ranked["rank"].notna()]
    universe = ranked["site_id"].tolist()
    holes, candidates = arm_holes(root / "out_base", stored, n)
    results = {"base": evaluate(root / "out_base", stored, value, universe, n)}
    notes = {}
    last_hole, last_sample = counters(base / "samples.csv")
    for arm in ARMS:
        table = demo.SampleTable(rows=[], n_holes=last_hole, n_samples=last_sample)
        drilled = drill(holes[arm], sites, table, np.random.default_rng([seed, ARM_STREAM[arm]]))
        drilled_drop(base, root / f"drop_{arm}", drilled.rows)
        print(f"[seed {seed}] {arm} run ({len(holes[arm])} holes, {len(drilled.rows)} samples)", flush=True)
        walls[arm], code[arm] = run_residua(root / f"drop_{arm}", root / f"out_{arm}", root / f"home_{arm}",
                                              root / f"{arm}.log", reuse)  # fmt: skip
        results[arm] = evaluate(root / f"out_{arm}", load_stored(root / f"home_{arm}"), value, universe, n)
        notes[arm] = arm_notes(holes[arm], drilled, ranked.set_index("site_id")["n_holes"])
        notes[arm].update(side_effects(results[arm], results["base"], set(holes[arm]["site_id"])))
    return {
        "seed": seed,
        "top_n": n,
        "ranked_sites": len(universe),
        "candidates": candidates,
        "unsampled_fields_realised": realised,
        "plan": plan_summary(root / "out_base"),
        "arms": notes,
        "results": results,
        "wall_s": {k: round(v, 1) for k, v in walls.items()},
        "run_code": code,
        "true_value_top": {s: float(value[s]) for s in top_n_ids(value.loc[universe], n)},
        "true_top_changed_with_sigma_w": truth_sensitivity(truth.loc[universe], inputs, stored, n),
    }


# ------------------------------------------------------------------------------ reporting


def machine() -> dict[str, str]:
    """CPU count and model, platform and Python."""
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))  # fmt: skip
    except (OSError, StopIteration):
        model = platform.processor()
    return {"cpus": str(os.cpu_count()), "cpu_model": model, "platform": platform.platform(),
            "python": platform.python_version()}  # fmt: skip


def commit() -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes)."""
    result = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def summary_table(seeds: Sequence[dict], metric: str, digits: int = 0) -> list[str]:
    """Markdown rows: per seed the ``metric`` of base and each arm, then the mean over seeds."""
    columns = ("base", *ARMS)
    lines = ["| seed | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for seed in seeds:
        values = [seed["results"][c][metric] for c in columns]
        lines.append(f"| {seed['seed']} | " + " | ".join(f"{v:.{digits}f}" for v in values) + " |")
    means = [float(np.mean([s["results"][c][metric] for s in seeds])) for c in columns]
    lines.append("| **mean** | " + " | ".join(f"**{v:.2f}**" for v in means) + " |")
    return lines


def paired(seeds: Sequence[dict], metric: str, arm: str, other: str) -> dict[str, float]:
    """Paired difference ``arm - other`` over seeds: mean, its standard error and wins / ties / losses."""
    diff = np.array([s["results"][arm][metric] - s["results"][other][metric] for s in seeds], dtype=float)
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    return {"mean": float(diff.mean()), "se": se, "better": int((diff < 0).sum()), "ties": int((diff == 0).sum()),
            "worse": int((diff > 0).sum())}  # fmt: skip


def render(report: dict) -> str:
    """The results page."""
    seeds = report["per_seed"]
    n = report["top_n"]
    lines = [
        "# Sampling plan benchmark: top-N decision error after drilling (SYNTHETIC data)",
        "",
        "**All data here are synthetic** (`geodata/demo/make_demo.py` drops with a known truth): this checks the "
        "plan's machinery against a known truth, not the real world.",
        "",
        f"- Command: `{report['command']}`",
        f"- Date: {report['date_utc']} UTC; code {report['commit']}; wall time {report['wall_s'] / 60:.1f} min; "
        f"{report['runs']} `residua run`s, median {report['median_run_s']:.0f} s each, "
        f"{report['run_wall_s_total'] / 60:.1f} min in all" + reused_note(report),
        f"- Machine: {report['machine']['cpus']} CPUs ({report['machine']['cpu_model']}), "
        f"{report['machine']['platform']}, Python {report['machine']['python']}; shared with other work",
        f"- Decision: the top {n} sites by value among the ranked sites; plan budget {report['plan_holes']} holes "
        "(Residua's default settings)",
        "",
        "Per seed: `residua run` on the base drop; its sampling plan's H holes are drilled from the generator's "
        "grade field three ways and each drilled drop is run again: **plan** (the plan's holes), **even** (H holes "
        "spread evenly over the plan's candidate sites, those with top-N membership probability between "
        f"{CERTAIN} and {1 - CERTAIN}), **top** (the plan's campaign sizes at the sites ranked highest by P50 value). "
        "Error = number of the run's chosen top-N sites not in the true top N (true value: Residua's value "
        "formula on the true tonnes and grades, recovery mode, mid prices, the run's cut-offs).",
        "",
        f"## Headline: chosen top {n} = the {n} largest top-N membership probabilities (the plan's own decision)",
        "",
        *summary_table(seeds, "error_p"),
        "",
        "Residua's own expected number of wrong members E (over its draws) for the same runs:",
        "",
        *summary_table(seeds, "expected_wrong", 2),
        "",
        f"## Chosen top {n} = the {n} highest P50 values",
        "",
        *summary_table(seeds, "error_p50"),
        "",
        f"## Chosen top {n} = the published rank (score = P50 value x confidence weight)",
        "",
        *summary_table(seeds, "error_rank"),
        "",
        f"## Value regret (share of the true top {n}'s true value missed, membership-probability choice)",
        "",
        *summary_table(seeds, "regret_p", 3),
        "",
        "## Paired differences over seeds (arm minus other; negative = fewer wrong members)",
        "",
        "| metric | comparison | mean | s.e. | better / tie / worse |",
        "|---|---|---:|---:|---|",
    ]
    for metric in METRICS:
        for arm, other in COMPARISONS:
            d = report["paired"][metric][f"{arm}-{other}"]
            lines.append(f"| {metric} | {arm} - {other} | {d['mean']:+.3f} | {d['se']:.3f} | "
                         f"{d['better']} / {d['ties']} / {d['worse']} |")  # fmt: skip
    lines += [
        "",
        "## The plans",
        "",
        "| seed | ranked | candidates | plan E now | plan sum of gains | plan sites x holes | holes at G4 | "
        "even sites | top sites | dry / short holes (plan, even, top) | placeholder cost kUSD (plan, even, top) |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for s in seeds:
        plan, arms = s["plan"], s["arms"]
        layout = ", ".join(f"{site} {k}" for site, k in plan["campaigns"].items())
        dry = ", ".join(f"{arms[a]['dry_holes']}/{arms[a]['holes_short_of_planned_depth']}" for a in ARMS)
        cost = ", ".join(f"{arms[a]['placeholder_cost_usd'] / 1e3:.0f}" for a in ARMS)
        lines.append(f"| {s['seed']} | {s['ranked_sites']} | {len(s['candidates'])} | "
                     f"{plan['expected_wrong_now']:.2f} | {plan['sum_expected_gain']:.2f} | {layout} | "
                     f"{plan['holes_at_G4_sites']}/{plan['holes']} | {arms['even']['sites']} | "
                     f"{arms['top']['sites']} | {dry} | {cost} |")  # fmt: skip
    lines += ["", *prediction_table(seeds), "", *side_effect_table(seeds), "", *report["notes"], ""]
    return "\n".join(lines)


def reused_note(report: Mapping) -> str:
    """The header's note on runs re-scored from the workdir (``--reuse``), if any."""
    if not report["reused_runs"]:
        return ""
    return (f" ({report['reused_runs']} of them re-scored from the workdir with `--reuse`: the same drops, checked by "
            f"SHA-256, run on code {', '.join(report['run_commits'])}; their wall times are those of the invocation "
            "that ran them)")  # fmt: skip


def prediction_table(seeds: Sequence[Mapping]) -> list[str]:
    """What the plan predicted (E now, E now minus the sum of its campaigns' gains) against what the re-run gave."""
    rows = []
    for s in seeds:
        plan, results = s["plan"], s["results"]
        rows.append([s["seed"], f"{plan['expected_wrong_now']:.2f}",
                     f"{plan['expected_wrong_now'] - plan['sum_expected_gain']:.2f}",
                     f"{results['plan']['expected_wrong']:.2f}",
                     f"{results['base']['error_p']} -> {results['plan']['error_p']}"])  # fmt: skip
    return markdown_table_section(
        "The plan's prediction against the re-run",
        "The plan's gains are each campaign's alone (models/sampling_plan.py), so E now minus their sum is only an "
        "additive approximation of E after the whole plan.",
        ["seed", "E now (plan)", "E after, additive prediction", "E after plan, re-run", "error base -> plan (p)"],
        rows,
        align="lrrrl",
    )


def side_effect_table(seeds: Sequence[Mapping]) -> list[str]:
    """Per arm, summed over seeds: holes at unsampled sites, wrong chosen sites and how many of them (and how many
    big moves of membership probability) were at sites the arm put no hole at."""
    rows = []
    for arm in ARMS:
        notes = [s["arms"][arm] for s in seeds]
        wrong = sum(s["results"][arm]["error_p"] for s in seeds)
        unsampled = sum(n["holes_at_unsampled_sites"] for n in notes)
        quiet_wrong = sum(len(n["wrong_not_drilled"]) for n in notes)
        moved = sum(len(n["moved_not_drilled"]) for n in notes)
        rows.append([arm, sum(n["holes"] for n in notes), unsampled, wrong, quiet_wrong, moved])
    return markdown_table_section(
        "Holes at unsampled sites, and changes at sites without new holes (sums over seeds)",
        "The plan values each campaign with the other sites' draws fixed; in the re-run the grade models are "
        "re-fitted, so holes at one site also move unsampled sites of its residue type (type mean, between-site "
        f"spread, covariate slopes, model choice). 'Moved' = top-N membership probability changed by more than "
        f"{MOVED_P}.",
        ["arm", "holes", "at unsampled sites", "wrong chosen (p)", "of which no new hole", "undrilled sites moved"],
        rows,
        align="lrrrrr",
    )


NOTES = [
    "## How to read this",
    "",
    "- Truth of unsampled sites: the generator never draws a grade field for them (truth.csv gives an "
    "expectation); the benchmark draws it with the generator's own `build_grade_model` (same stream, same site "
    "means) and uses the field's mean for every arm, so holes and truth come from one realisation. The true "
    "cut-off share uses the generator's within-site log-sd sqrt(0.15 + 0.05) = 0.447 and the reference "
    "recovery's mode; every element counts at its true grade, assayed or not.",
    "- Holes are sampled like the generator's own: 1.5 m intervals to the planned depth (rounded up), never "
    "below the residue's base nor past 8 intervals (12 m, the generator's auger limit); a hole where the "
    "residue is under 1.5 m thick gives no sample (dry). Ids continue the drop's AH-/S- numbering; site_id is "
    "filled; the site's own assay suite and Te unit apply.",
    "- Why these baselines: **even** uses the same knowledge of which sites are uncertain as the plan (its "
    "candidates) but no value of information, and spreads the holes like a surveyor without a model would (one or "
    "two per site; extra holes at evenly spaced ranks). **top** keeps the plan's number of sites and campaign sizes "
    "but puts them where the estimated value is highest. Both arms place holes with the plan's own maximin placement "
    "and depth rule, so only the choice of sites differs.",
    "- Every run uses Residua's default Monte Carlo seed (common random numbers): arms differ only by data.",
    "- The decision error is an integer out of N on one truth per seed, so a difference of a fraction of a "
    "site between arms over a handful of seeds is within noise; the paired table gives the standard error.",
]


def build_report(seeds: list[dict], args: argparse.Namespace, wall_s: float, command: str) -> dict:
    """The JSON report: settings, machine, per-seed results and paired differences."""
    paired_all = {metric: {f"{a}-{b}": paired(seeds, metric, a, b) for a, b in COMPARISONS} for metric in METRICS}
    runs = [v for s in seeds for v in s["wall_s"].values()]
    codes = [c for s in seeds for c in s["run_code"].values()]
    return {
        "synthetic": True, "command": command, "date_utc": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        "commit": commit(), "machine": machine(), "wall_s": round(wall_s, 1), "runs": len(runs),
        "reused_runs": sum(c.startswith("reused") for c in codes),
        "run_commits": sorted({c.removeprefix("reused ") for c in codes}), "run_wall_s_total": round(sum(runs), 1),
        "median_run_s": float(np.median(runs)), "seeds": list(args.seeds), "top_n": TOP_N,
        "plan_holes": seeds[0]["plan"]["holes"] if seeds else None, "paired": paired_all, "notes": NOTES,
        "per_seed": seeds,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS), help="generator seeds")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/residua_sampling_plan_benchmark"),
                        help="drops, outputs and Dagster homes (kept for inspection)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for .md and .json")
    parser.add_argument("--reuse", action="store_true",
                        help="re-score runs already in --workdir whose drop is unchanged (same SHA-256) instead of "
                        "running them again; the report counts them")  # fmt: skip
    args = parser.parse_args(argv)
    python = Path(sys.executable)
    python = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
    command = f"{python} benchmarks/sampling_plan_benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    seeds = [run_seed(seed, args.workdir, TOP_N, args.reuse) for seed in args.seeds]
    report = build_report(seeds, args, time.perf_counter() - start, command.strip())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sampling_plan_benchmark.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (args.out / "sampling_plan_benchmark.md").write_text(render(report))
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
