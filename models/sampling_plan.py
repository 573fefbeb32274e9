"""Sampling plan: where the next holes change the top-N decision most (value of information).

**Decision.** Which N sites (``top_n``) make the top N by in-situ recoverable value. Over the
Monte Carlo draws d of every ranked site (:func:`residua.models.simulation.iter_draws`), T_d is the set of
the N highest-valued sites and p_s = P(s in T) a site's top-N membership probability. The choice
that minimises the expected number of wrong members is the N sites with the largest p_s (A), and

    E = N - sum_{s in A} p_s

is the expected number of chosen sites that are not in the true top N; a site's misclassification
probability is 1 - p_s when chosen, p_s when not.

**Campaign.** k new holes at site j, k from ``campaign_sizes``. Per element, the grade model's
site update (:class:`residua.models.grade.HierarchicalLogGrade`: posterior precision = 1 / prior_var +
n_holes / sigma_w^2, a hole weighing as one sample of the within-site log-sd sigma_w) is applied
with the site's current distribution of its mean log-grade as the prior:

    1 / s1^2 = 1 / s0^2 + k / sigma_w^2,    r = 1 - s1^2 / s0^2   (share of variance resolved)

s0 is the log-sd the draws use, sigma_w the within-site log-sd the model weighs a hole with (the
site's own blended spread when sampled, its residue type's pooled spread when not,
:func:`hole_log_sd`).

**Pre-posterior.** Before the holes, the site's future posterior mean is mu' = mu + sqrt(r) s0 z,
z ~ N(0, 1) (its variance is what the holes resolve), and given mu' the site mean is mu' + s1 e.
The plan takes ``n_outcomes`` outcomes z_q: the site's own (correlated) element deviations at
evenly spaced ranks of their effect on its value. For each it recomputes the site's value draws
with m = mu' + s1 e_d (e_d each draw's own deviation; the draws' tonnes and recoveries kept, so
holes resolve grade uncertainty only), the other sites keeping their draws. With site j's draws
replaced, membership has a closed form per draw (j enters iff its value beats the N-th of the
other sites), so each outcome gives p'(q), the best choice A'(q) and E'(q) on the same draws, and
the campaign's expected value of sample information for this loss is

    EVSI_jk = E - mean_q E'(q)   (expected wrong top-N members avoided, >= 0).

With r = 0 (no information) E'(q) = E exactly, so gains carry no Monte Carlo selection bias. A
site whose membership is certain (p_s within :data:`CERTAIN` of 0 or 1) cannot change the decision
whatever its grade: it is not a candidate.

**Choice.** Greedy: repeatedly take the campaign (a new site at a ladder size, or a larger size at
a site already chosen) with the largest gain per hole (per USD when a money budget is set) that
fits the hole budget (``holes``) and the money budget (``budget_usd``: ``cost_per_hole_usd`` per
hole plus ``mobilisation_usd`` per site visited), until no campaign gains more than ``min_gain``.
Gains are each site's alone against the current draws: two campaigns' information is not
combined (a limit; it favours campaigns at sites competing for the same places).

**Holes.** Placed inside the footprint in the site's UTM zone, farthest from existing and already
planned holes, the footprint's edge counting as a hole at half the distance (a maximin design, so
holes spread like a centred grid where the model knows least: far from data). Planned depth: the
site's mean thickness (P50 tonnes / density / area) unless its tonnage is a reported figure, else
its residue type's thickness prior (mode).

Costs are **placeholder assumptions** for screening (:data:`COST_PER_HOLE_USD`,
:data:`MOBILISATION_USD`), not quotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from residua.geodata.crs import local_utm_crs
from residua.geodata.schema import ELEMENTS, STORAGE_CRS
from residua.models.estimates import MIN_CENTRE_USD
from residua.models.grade import HierarchicalLogGrade
from residua.models.ranking import classify_confidence
from residua.models.simulation import GRAMS_PER_TONNE, KG_PER_TONNE, SimulationInputs, iter_draws, metal_share_above

#: Sites in the decision: which make the top N by value.
TOP_N = 10
#: Holes in the plan (the hole budget).
PLAN_HOLES = 30
#: Holes a campaign at one site may have: from one reconnaissance hole up (the first hole at an unsampled site
#: resolves the most; with a money budget, mobilisation per site visited weighs against many small campaigns).
CAMPAIGN_SIZES: tuple[int, ...] = (1, 3, 6, 10)
#: USD per hole, drilled, logged and assayed for Ga, Te and PGM: a PLACEHOLDER assumption for screening.
COST_PER_HOLE_USD = 2_500.0
#: USD per site visited (crew, rig and permits to and from the site): a PLACEHOLDER assumption.
MOBILISATION_USD = 15_000.0
#: A site whose top-N membership probability is within this of 0 or 1 gets no holes.
CERTAIN = 0.01
#: Smallest gain (expected wrong top-N members avoided) a campaign must bring.
MIN_GAIN = 0.005
#: Pre-posterior outcomes per campaign.
N_OUTCOMES = 25
#: Candidate points per footprint for placing holes.
GRID_POINTS = 400
#: Radius (m) of the disc holes are placed in at a point site without an area.
POINT_SITE_RADIUS_M = 50.0
#: Confidence classes, best first.
CLASS_ORDER: dict[str, int] = {"G1": 1, "G2": 2, "G3": 3, "G4": 4}

CAMPAIGN_COLUMNS: tuple[str, ...] = (
    "priority", "site_id", "holes_in_campaign", "campaign_cost_usd", "expected_gain", "p_top_n_now",
    "misclassification_now", "misclassification_after", "top_n_expected_wrong_now", "top_n_expected_wrong_after",
    "value_p10_p90_width_now_usd", "value_p10_p90_width_after_usd", "confidence_now", "p_confidence_upgrade",
)  # fmt: skip
HOLE_COLUMNS: tuple[str, ...] = (
    "hole_id", "site_id", "priority", "holes_in_campaign", "planned_depth_m", "depth_source", "lon", "lat",
    "nearest_hole_m", *CAMPAIGN_COLUMNS[3:],
)  # fmt: skip


@dataclass(frozen=True)
class PlanOptions:
    """The decision, the budget and the costs of a sampling plan (defaults: the module's constants)."""

    top_n: int = TOP_N
    holes: int = PLAN_HOLES
    campaign_sizes: tuple[int, ...] = CAMPAIGN_SIZES
    budget_usd: float | None = None
    cost_per_hole_usd: float = COST_PER_HOLE_USD
    mobilisation_usd: float = MOBILISATION_USD
    exclude: tuple[str, ...] = ()
    min_gain: float = MIN_GAIN
    n_outcomes: int = N_OUTCOMES

    def cost(self, holes_before: int, holes_after: int) -> float:
        """USD of going from ``holes_before`` to ``holes_after`` holes at a site (mobilisation on the first)."""
        mobilisation = self.mobilisation_usd if holes_before == 0 and holes_after > 0 else 0.0
        return (holes_after - holes_before) * self.cost_per_hole_usd + mobilisation


@dataclass(frozen=True)
class DecisionDraws:
    """Value draws of the decision's sites (S x D, rows in ``site_ids`` order) and, for the sites that may
    get holes, the draws' tonnes and mean log-grade per element (``log_grade[site][element]``)."""

    site_ids: np.ndarray
    value: np.ndarray
    tonnes: dict[str, np.ndarray]
    log_grade: dict[str, dict[str, np.ndarray]]


@dataclass(frozen=True)
class CampaignEffect:
    """What k holes at one site are expected to do (see :data:`CAMPAIGN_COLUMNS`)."""

    gain: float
    wrong_after: float
    miss_after: float
    width_after: float
    p_upgrade: float


def posterior_log_sd(prior_sd: np.ndarray, hole_sd: np.ndarray, holes: int | np.ndarray) -> np.ndarray:
    """The grade model's site update: sd of a site mean log-grade after ``holes`` holes.

    1 / s1^2 = 1 / s0^2 + n / sigma_w^2, as :class:`residua.models.grade.HierarchicalLogGrade` combines
    a site's prior with its holes (a zero prior sd stays zero).

    >>> float(posterior_log_sd(np.array(1.0), np.array(1.0), 3))
    0.5
    """
    prior_sd, hole_sd = np.asarray(prior_sd, dtype=float), np.asarray(hole_sd, dtype=float)
    precision = 1 / np.where(prior_sd > 0, prior_sd, 1.0) ** 2 + np.asarray(holes) / hole_sd**2
    return np.where(prior_sd > 0, 1 / np.sqrt(precision), 0.0)


def hole_log_sd(models: Mapping[str, HierarchicalLogGrade], sites: pd.DataFrame) -> pd.Series:
    """Per site and element, the within-site log-sd the grade model weighs one hole with.

    A sampled site's own spread blended with its type's (``site_summary_['site_sigma_w']``),
    else its residue type's pooled spread (``sigma_w_``, ``__all__`` for a type without data).
    ``sites`` has ``site_id`` and ``residue_type``; the index is (site_id, element).
    """
    parts = []
    for element, model in models.items():
        pooled = sites["residue_type"].map(model.sigma_w_).fillna(model.sigma_w_.get("__all__", 0.5))
        own = sites["site_id"].map(model.site_summary_["site_sigma_w"])
        sd = own.fillna(pooled).to_numpy(dtype=float)
        parts.append(pd.Series(sd, index=pd.MultiIndex.from_arrays([sites["site_id"], [element] * len(sites)])))
    series = pd.concat(parts)
    series.index.names = ["site_id", "element"]
    return series.rename("hole_log_sd")


def collect_draws(inputs: SimulationInputs, site_ids: list[str], pool: set[str]) -> DecisionDraws:
    """The draws of ``site_ids`` (sorted) from the simulation, with tonnes and log-grades for ``pool``."""
    order = np.array(sorted(site_ids), dtype=object)
    position = {site: row for row, site in enumerate(order)}
    value = np.zeros((len(order), inputs.n_draws))
    tonnes: dict[str, np.ndarray] = {}
    log_grade: dict[str, dict[str, np.ndarray]] = {}
    sigma_w = inputs.grades["sigma_w"].to_dict()  # (site_id, element) -> within-site log-sd, looked up once
    for chunk in iter_draws(inputs):
        for row, site in enumerate(chunk.site_ids):
            if site in position:
                value[position[site]] = chunk.value[row]
            if site in pool and site in position:
                tonnes[site] = chunk.tonnes[row].copy()
                log_grade[site] = {e: _log_grade(chunk.mean_grade[e][row], sigma_w[site, e]) for e in ELEMENTS}
    return DecisionDraws(order, value, tonnes, log_grade)


def _log_grade(mean_grade: np.ndarray, sigma_w: float) -> np.ndarray:
    """The draws' site mean log-grade m, from mean grade exp(m + sigma_w^2 / 2)."""
    sigma = float(sigma_w)
    return np.log(np.maximum(mean_grade, np.finfo(float).tiny)) - sigma**2 / 2


def site_value(
    inputs: SimulationInputs, site: str, tonnes: np.ndarray, log_grade: Mapping[str, np.ndarray]
) -> np.ndarray:
    """A site's recoverable value (USD) for mean log-grades ``log_grade`` (element -> array, ... x D).

    The simulation's formula (:meth:`residua.models.simulation.SimulationInputs.chunk`) with the draws'
    tonnes and the site's residue-type recovery draws: value = sum_e tonnes x exp(m_e + sigma_w^2 / 2)
    x share above cut-off x recovery x price.
    """
    return sum(element_values(inputs, site, tonnes, log_grade).values())


def element_values(
    inputs: SimulationInputs, site: str, tonnes: np.ndarray, log_grade: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each element's part of :func:`site_value`."""
    residue_type = inputs.sites.loc[inputs.sites["site_id"].to_numpy() == site, "residue_type"].iloc[0]
    sigma_w = inputs.grades.xs(site, level="site_id")["sigma_w"]
    parts = {}
    for element in ELEMENTS:
        sigma = float(sigma_w[element])
        recovery = inputs.recovery[element].loc[residue_type].to_numpy(dtype=float)
        base = tonnes * recovery * KG_PER_TONNE * float(inputs.prices[element]) / GRAMS_PER_TONNE
        m = np.asarray(log_grade[element], dtype=float)
        share = metal_share_above(m, np.full(m.shape, sigma), inputs.cutoffs.get(element, 0.0))
        parts[element] = base * np.exp(m + sigma**2 / 2) * share
    return parts


def top_members(value: np.ndarray, n: int) -> np.ndarray:
    """Row indices of the n + 1 highest values in each column, highest first: shape (n + 1, D)."""
    k = min(n + 1, value.shape[0])
    part = np.argpartition(-value, k - 1, axis=0)[:k]
    order = np.argsort(-np.take_along_axis(value, part, axis=0), axis=0, kind="stable")
    return np.take_along_axis(part, order, axis=0)


def best_choice(p: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    """The N sites with the largest membership probability (ties: first row) and E = N - their sum."""
    chosen = np.zeros(len(p), dtype=bool)
    chosen[np.argsort(-p, kind="stable")[:n]] = True
    return float(n - p[chosen].sum()), chosen


def _others(top: np.ndarray, value: np.ndarray, j: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """With site j left out, per draw: P(s in the others' top N - 1), the others' N-th site and its value."""
    passed = np.cumsum(top == j, axis=0)[:n] > 0
    others = np.take_along_axis(top, np.arange(n)[:, None] + passed, axis=0)
    n_draws = value.shape[1]
    base = np.bincount(others[: n - 1].ravel(), minlength=value.shape[0]) / n_draws
    marginal = others[n - 1]
    return base, marginal, value[marginal, np.arange(n_draws)]


def _outcome_values(
    inputs: SimulationInputs, draws: DecisionDraws, site: str, hole_sd: pd.Series, holes: int, n_outcomes: int
) -> np.ndarray:
    """Site values (n_outcomes x D): per outcome q, the posterior draws m = mu + sqrt(r) s0 z_q + s1 e_d."""
    grades = inputs.grades.xs(site, level="site_id")
    mu = grades["log_mean"].reindex(list(ELEMENTS)).to_numpy(dtype=float)
    s0 = grades["log_sd"].reindex(list(ELEMENTS)).to_numpy(dtype=float)
    m = np.stack([draws.log_grade[site][e] for e in ELEMENTS])  # elements x D
    deviation = np.where(s0[:, None] > 0, (m - mu[:, None]) / np.where(s0 > 0, s0, 1.0)[:, None], 0.0)
    s1 = posterior_log_sd(s0, hole_sd.loc[site].reindex(list(ELEMENTS)).to_numpy(dtype=float), holes)
    resolved = np.sqrt(np.clip(s0**2 - s1**2, 0.0, None))  # sqrt(r) s0
    # outcomes: the draws' deviations at evenly spaced ranks of their effect on the site's value
    parts = element_values(inputs, site, draws.tonnes[site], dict(zip(ELEMENTS, m)))
    weights = np.array([parts[e].mean() for e in ELEMENTS]) * s0
    index = weights @ deviation if weights.sum() > 0 else deviation.sum(axis=0)
    ranks = np.argsort(index, kind="stable")
    picks = ranks[((np.arange(n_outcomes) + 0.5) / n_outcomes * len(index)).astype(int)]
    mean = mu[:, None] + resolved[:, None] * deviation[:, picks]  # elements x outcomes: the posterior means
    posterior = mean[:, :, None] + s1[:, None, None] * deviation[:, None, :]  # elements x outcomes x D
    return site_value(inputs, site, draws.tonnes[site], dict(zip(ELEMENTS, posterior)))


def campaign_effect(
    inputs: SimulationInputs,
    draws: DecisionDraws,
    top: np.ndarray,
    site: str,
    hole_sd: pd.Series,
    holes: int,
    context: Mapping[str, object],
    n_outcomes: int = N_OUTCOMES,
) -> CampaignEffect:
    """Pre-posterior effect of ``holes`` holes at ``site`` on the top-N decision (module docstring).

    ``context`` holds ``top_n``, ``wrong_now`` (E before), ``n_holes`` (holes so far), ``dem_volume``
    and ``confidence`` (the site's class now).
    """
    n = int(context["top_n"])
    j = int(np.flatnonzero(draws.site_ids == site)[0])
    base, marginal, threshold = _others(top, draws.value, j, n)
    values = _outcome_values(inputs, draws, site, hole_sd, holes, n_outcomes)
    n_draws = draws.value.shape[1]
    wrong, miss = np.empty(n_outcomes), np.empty(n_outcomes)
    for q, outcome in enumerate(values):
        enter = outcome > threshold
        p = base + np.bincount(marginal, weights=(~enter).astype(float), minlength=len(base)) / n_draws
        p[j] = enter.mean()
        wrong[q], chosen = best_choice(p, n)
        miss[q] = 1 - p[j] if chosen[j] else p[j]
    p10, p50, p90 = np.percentile(values, [10.0, 50.0, 90.0], axis=1)
    relative = np.where(p50 >= MIN_CENTRE_USD, (p90 - p10) / np.maximum(p50, MIN_CENTRE_USD), np.inf)
    after = classify_confidence(
        pd.Series(int(context["n_holes"]) + holes, index=range(n_outcomes)),
        pd.Series(relative),
        pd.Series(bool(context["dem_volume"]), index=range(n_outcomes)),
    )
    upgrade = after.map(CLASS_ORDER).to_numpy() < CLASS_ORDER[str(context["confidence"])]
    gain = max(float(context["wrong_now"]) - float(wrong.mean()), 0.0)
    return CampaignEffect(gain, float(wrong.mean()), float(miss.mean()), float((p90 - p10).mean()),
                          float(upgrade.mean()))  # fmt: skip


def plan_campaigns(
    inputs: SimulationInputs, sites: pd.DataFrame, hole_sd: pd.Series, options: PlanOptions = PlanOptions()
) -> pd.DataFrame:
    """The campaigns of the plan, in priority order (:data:`CAMPAIGN_COLUMNS`; empty when no hole helps).

    Parameters
    ----------
    inputs
        The simulation the estimates were drawn from.
    sites
        The decision's sites (e.g. the ranked ones): ``site_id``, ``n_holes``, ``dem_volume`` (bool,
        volume from DEMs) and ``confidence`` (G1..G4).
    hole_sd
        Within-site log-sd of one hole per (site_id, element), :func:`hole_log_sd`.
    options
        Decision, budget and costs.
    """
    n = options.top_n
    if len(sites) <= n or options.holes <= 0:  # every site is in the top N, or nothing to drill
        return _empty_campaigns()
    pool = set(sites["site_id"]) - set(options.exclude)
    draws = collect_draws(inputs, list(sites["site_id"]), pool)
    top = top_members(draws.value, n)
    p = np.bincount(top[:n].ravel(), minlength=len(draws.site_ids)) / draws.value.shape[1]
    wrong_now, chosen = best_choice(p, n)
    info = sites.set_index("site_id").reindex(draws.site_ids)
    candidates = [site for row, site in enumerate(draws.site_ids) if site in pool and CERTAIN < p[row] < 1 - CERTAIN]
    effects: dict[tuple[str, int], CampaignEffect] = {}
    for site in candidates:
        context = {"top_n": n, "wrong_now": wrong_now, "n_holes": info.loc[site, "n_holes"],
                   "dem_volume": info.loc[site, "dem_volume"], "confidence": info.loc[site, "confidence"]}  # fmt: skip
        for holes in sorted(set(options.campaign_sizes)):
            effects[site, holes] = campaign_effect(inputs, draws, top, site, hole_sd, holes, context,
                                                   options.n_outcomes)  # fmt: skip
    chosen_holes, priority = choose_campaigns({key: e.gain for key, e in effects.items()}, options)
    rows = []
    for site in priority:
        row, holes = int(np.flatnonzero(draws.site_ids == site)[0]), chosen_holes[site]
        effect = effects[site, holes]
        widths = np.percentile(draws.value[row], [10.0, 90.0])
        rows.append({
            "priority": len(rows) + 1, "site_id": site, "holes_in_campaign": holes,
            "campaign_cost_usd": options.cost(0, holes), "expected_gain": effect.gain, "p_top_n_now": p[row],
            "misclassification_now": 1 - p[row] if chosen[row] else p[row],
            "misclassification_after": effect.miss_after, "top_n_expected_wrong_now": wrong_now,
            "top_n_expected_wrong_after": effect.wrong_after,
            "value_p10_p90_width_now_usd": float(widths[1] - widths[0]),
            "value_p10_p90_width_after_usd": effect.width_after, "confidence_now": info.loc[site, "confidence"],
            "p_confidence_upgrade": effect.p_upgrade,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(CAMPAIGN_COLUMNS)) if rows else _empty_campaigns()


def choose_campaigns(gains: Mapping[tuple[str, int], float], options: PlanOptions) -> tuple[dict[str, int], list[str]]:
    """Greedy choice within the budgets: holes per site and the sites in the order first chosen.

    Each step takes, over every site and every larger ladder size, the step with the largest
    gain increment per hole (per USD with a money budget) that fits both budgets and gains more
    than ``options.min_gain``; ties go to the first site (by id), then the smaller size.
    """
    holes: dict[str, int] = {}
    order: list[str] = []
    used_holes, used_usd = 0, 0.0
    sizes = sorted({k for _, k in gains})
    while True:
        best: tuple[float, str, int] | None = None
        for site in sorted({s for s, _ in gains}):
            now = holes.get(site, 0)
            for size in (k for k in sizes if k > now):
                step = _step(gains, options, site, now, size, used_holes, used_usd)
                if step is not None and (best is None or step > best[0]):
                    best = (step, site, size)
        if best is None:
            return holes, order
        _, site, size = best
        used_holes += size - holes.get(site, 0)
        used_usd += options.cost(holes.get(site, 0), size)
        if site not in holes:
            order.append(site)
        holes[site] = size


def _step(
    gains: Mapping[tuple[str, int], float],
    options: PlanOptions,
    site: str,
    now: int,
    size: int,
    used_holes: int,
    used_usd: float,
) -> float | None:
    """Gain per hole (per USD with a money budget) of going from ``now`` to ``size`` holes; None if not allowed."""
    extra = size - now
    cost = options.cost(now, size)
    if used_holes + extra > options.holes:
        return None
    if options.budget_usd is not None and used_usd + cost > options.budget_usd:
        return None
    gain = gains[site, size] - (gains[site, now] if now else 0.0)
    if gain <= options.min_gain:
        return None
    return gain / (cost if options.budget_usd is not None and cost > 0 else extra)


def _empty_campaigns() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=_dtype(column)) for column in CAMPAIGN_COLUMNS})


def _dtype(column: str) -> str:
    if column in ("site_id", "confidence_now", "hole_id", "depth_source"):
        return "object"
    return "int64" if column in ("priority", "holes_in_campaign") else "float64"


def planned_depth(
    features: pd.DataFrame, thickness_priors: pd.DataFrame, max_depth_m: float | None = None
) -> pd.DataFrame:
    """Per site: ``planned_depth_m`` and ``depth_source``.

    The site's mean thickness, P50 tonnes / density / area (as the grade models take it), unless its
    tonnage is a reported figure or the thickness is not positive; else its residue type's thickness
    prior (mode). With ``max_depth_m`` (the rig's reach) a deeper hole stops there, and its
    ``depth_source`` says so with the full thickness: it samples only the top of the residue.

    >>> features = pd.DataFrame({"site_id": ["A", "B"], "tonnes_p50": [2e6, 2e5], "density_t_m3": [1.0, 1.0],
    ...                          "area_ha": [10.0, 10.0], "volume_method": ["dem_difference"] * 2,
    ...                          "residue_type": ["r", "r"]})
    >>> depth = planned_depth(features, pd.DataFrame({"residue_type": ["r"], "thickness_mode_m": [5.0]}), 12.0)
    >>> depth["planned_depth_m"].tolist(), depth["depth_source"].iloc[0]
    ([12.0, 2.0], "site thickness (P50 tonnes / density / area) of 20.0 m, capped at the rig's reach (12 m)")
    """
    thickness = features["tonnes_p50"] / features["density_t_m3"] / (features["area_ha"] * 1e4)
    measured = (features["volume_method"] != "reported_tonnes") & np.isfinite(thickness) & (thickness > 0)
    prior = features["residue_type"].map(thickness_priors.set_index("residue_type")["thickness_mode_m"])
    depth = np.where(measured, thickness, prior).astype(float)
    source = np.where(measured, "site thickness (P50 tonnes / density / area)", "residue type thickness prior (mode)")
    if max_depth_m is not None:
        deeper = depth > max_depth_m
        source = np.where(deeper, [f"{text} of {full:.1f} m, capped at the rig's reach ({max_depth_m:g} m)"
                                   for text, full in zip(source, depth)], source)  # fmt: skip
        depth = np.minimum(depth, max_depth_m)
    return pd.DataFrame({"site_id": features["site_id"].to_numpy(), "planned_depth_m": depth, "depth_source": source})


def place_holes(
    footprint: shapely.Geometry, existing: np.ndarray, k: int, area_m2: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` new holes (lon, lat) inside a lon/lat footprint, away from ``existing`` (n x 2 lon/lat).

    Maximin over a grid of candidate points in the site's UTM zone: each hole is the candidate
    farthest from the existing and already placed holes, the footprint's edge counting as a hole at
    half the distance. A point or line site gets a disc of its area (else 50 m radius).
    Returns the holes (k x 2 lon/lat) and each one's distance (m) to the nearest other hole.
    """
    crs = local_utm_crs(footprint)
    forward = pyproj.Transformer.from_crs(STORAGE_CRS, crs, always_xy=True)
    back = pyproj.Transformer.from_crs(crs, STORAGE_CRS, always_xy=True)
    polygon = shapely.transform(footprint, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1])))
    if polygon.area <= 0:
        radius = np.sqrt(area_m2 / np.pi) if area_m2 and area_m2 > 0 else POINT_SITE_RADIUS_M
        polygon = polygon.centroid.buffer(radius)
    grid = _grid(polygon, max(GRID_POINTS, 4 * k))
    holes = np.column_stack(forward.transform(existing[:, 0], existing[:, 1])) if len(existing) else np.empty((0, 2))
    reach = _nearest(grid, holes)
    edge = 2 * shapely.distance(polygon.boundary, shapely.points(grid))
    placed = []
    for _ in range(k):
        best = int(np.argmax(np.minimum(reach, edge)))
        placed.append(grid[best])
        reach = np.minimum(reach, np.hypot(*(grid - grid[best]).T))
    placed = np.array(placed).reshape(-1, 2)
    spacing = np.array([_nearest(placed[i : i + 1], np.vstack([holes, np.delete(placed, i, 0)]))[0]
                        for i in range(len(placed))])  # fmt: skip
    lon, lat = back.transform(placed[:, 0], placed[:, 1])
    return np.column_stack([lon, lat]), spacing


def _grid(polygon: shapely.Geometry, n_points: int) -> np.ndarray:
    """At least ``n_points`` points of a square grid inside ``polygon`` where the shape allows (x, y)."""
    minx, miny, maxx, maxy = polygon.bounds
    spacing = np.sqrt(polygon.area / n_points)
    for _ in range(8):
        xs, ys = np.meshgrid(np.arange(minx + spacing / 2, maxx, spacing), np.arange(miny + spacing / 2, maxy, spacing))
        inside = shapely.contains_xy(polygon, xs.ravel(), ys.ravel())
        if inside.sum() >= n_points / 4:
            return np.column_stack([xs.ravel()[inside], ys.ravel()[inside]])
        spacing /= 2
    point = polygon.representative_point()
    return np.array([[point.x, point.y]])


def _nearest(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest of ``others`` (infinite when there are none)."""
    if len(others) == 0:
        return np.full(len(points), np.inf)
    return np.sqrt(((points[:, None, :] - others[None, :, :]) ** 2).sum(axis=2)).min(axis=1)


def plan_holes(
    campaigns: pd.DataFrame,
    footprints: gpd.GeoSeries,
    collars: pd.DataFrame,
    depth: pd.DataFrame,
    area_m2: pd.Series | None = None,
) -> gpd.GeoDataFrame:
    """The planned holes of ``campaigns`` (:func:`plan_campaigns`), one point each (EPSG:4326).

    ``footprints`` (lon/lat) and ``area_m2`` are indexed by site_id; ``collars`` has ``site_id``,
    ``lon``, ``lat`` of the existing holes; ``depth`` is :func:`planned_depth`. Columns:
    :data:`HOLE_COLUMNS` and ``geometry``; hole ids are ``PLAN-<site>-<nn>``.
    """
    depth = depth.set_index("site_id")
    rows = []
    for campaign in campaigns.itertuples(index=False):
        site = campaign.site_id
        existing = collars.loc[collars["site_id"] == site, ["lon", "lat"]].to_numpy(dtype=float)
        area = None if area_m2 is None else float(area_m2.get(site, np.nan))
        points, spacing = place_holes(footprints.loc[site], existing, int(campaign.holes_in_campaign), area)
        for number, ((lon, lat), nearest) in enumerate(zip(points, spacing), start=1):
            rows.append({
                **campaign._asdict(), "hole_id": f"PLAN-{site}-{number:02d}", "lon": lon, "lat": lat,
                "nearest_hole_m": float(nearest) if np.isfinite(nearest) else np.nan,
                "planned_depth_m": float(depth.loc[site, "planned_depth_m"]),
                "depth_source": depth.loc[site, "depth_source"],
            })  # fmt: skip
    if not rows:
        empty = pd.DataFrame({column: pd.Series(dtype=_dtype(column)) for column in HOLE_COLUMNS})
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=STORAGE_CRS), crs=STORAGE_CRS)
    table = pd.DataFrame(rows)[list(HOLE_COLUMNS)]
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=STORAGE_CRS)
