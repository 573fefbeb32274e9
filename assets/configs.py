"""Per-asset tunables as Dagster run config: each asset that has knobs takes one of these as ``config``.

Defaults are defined here once; the CLI, the launchpad and :func:`residua.assets.settings.run_settings`
read them from these classes. Field names are unique across the classes and the shared
resources (:mod:`residua.assets.resources`), so one flat set of overrides maps onto them.
"""

from typing import Literal

import dagster as dg
from pydantic import Field, field_validator

from residua.geodata.volumes import MIN_DEM_COVERAGE
from residua.models.hub_plan import (
    CAPACITY_T_PER_YEAR,
    FIXED_COST_USD,
    HAUL_COST_USD_PER_T_KM,
    MIN_FEED_T,
    PLAN_YEARS,
    ROAD_CIRCUITY,
    SITE_CANDIDATES,
    HubCosts,
)
from residua.models.sampling_plan import (
    CAMPAIGN_SIZES,
    COST_PER_HOLE_USD,
    MIN_GAIN,
    MOBILISATION_USD,
    PLAN_HOLES,
    PlanOptions,
)


class VolumeConfig(dg.Config):
    """``site_volumes``: how much of a footprint the DEMs must cover."""

    min_dem_coverage: float = Field(
        default=MIN_DEM_COVERAGE, gt=0, le=1, description="Share of a footprint the DEMs must cover for a DEM volume."
    )


class TonnageConfig(dg.Config):
    """``site_tonnage``: the DEM's vertical uncertainty."""

    dem_vertical_sd_m: float = Field(default=0.3, ge=0, description="Vertical standard deviation of the DEMs, m.")


class GradeModelConfig(dg.Config):
    """``grade_models``: compositing, top cut, block draws and block size."""

    composite_length_m: float = Field(default=1.5, gt=0, description="Down-hole composite length, m.")
    top_cut_fence: float = Field(default=3.0, gt=0, description="Top cut at Q3 + fence x IQR of the log grades.")
    block_draws: int = Field(default=400, ge=1, description="Joint block realisations per site.")
    block_size_m: float | None = Field(
        default=None,
        gt=0,
        description="Block edge (m) of the within-site block models and grade rasters; none: half the median "
        "distance from a hole to its nearest other hole, per site (5-500 m, at most 10,000 blocks a site).",
    )


class RankingConfig(dg.Config):
    """``site_rankings``: the price and recovery perturbations behind rank stability."""

    sensitivity_draws: int = Field(
        default=200, ge=1, description="Joint price and recovery perturbations re-ranking the sites (rank stability)."
    )
    sensitivity_price_distribution: Literal["triangular", "uniform"] = Field(
        default="triangular",
        description="Price draw between the price table's low and high: triangular (mode at mid) or uniform.",
    )


class HubPlanConfig(dg.Config):
    """``processing_hubs``: candidate hubs, costs, capacity and the plan's objective."""

    hubs_k: int = Field(default=5, ge=1, description="Processing hubs proposed by weighted k-means when no hubs.csv.")
    haul_km: float = Field(default=150.0, gt=0, description="Largest geodesic haul from a site to a hub, km.")
    haul_cost_usd_per_t_km: float = Field(
        default=HAUL_COST_USD_PER_T_KM,
        ge=0,
        description="Hub plan haul cost, USD per tonne and road km. Screening assumption from Indian truck freight "
        "rates (Rs 2.8-6.4 per t-km, CMIE via Business Standard 2024; see models/hub_plan.py).",
    )
    road_circuity: float = Field(
        default=ROAD_CIRCUITY,
        ge=1,
        description="Road km per geodesic km of a haul (Ballou, Rahardja & Sakai 2002 country circuity factors).",
    )
    hub_fixed_cost_usd: float = Field(
        default=FIXED_COST_USD,
        ge=0,
        description="Fixed cost of opening a hub, USD, where hubs.csv gives no fixed_cost_usd. PLACEHOLDER "
        "assumption for screening, not a cost estimate.",
    )
    hub_capacity_t_per_year: float | None = Field(
        default=CAPACITY_T_PER_YEAR,
        ge=0,
        description="Residue a hub takes per year, tonnes, where hubs.csv gives no capacity_t_per_year; none: "
        "unlimited. PLACEHOLDER assumption for screening. A hub takes this x hub_plan_years in all.",
    )
    hub_plan_years: float = Field(
        default=PLAN_YEARS, ge=0, description="Years of the hub plan: a hub's capacity over the plan is "
        "capacity_t_per_year x hub_plan_years tonnes of residue (PLACEHOLDER assumption).",
    )  # fmt: skip
    hub_min_feed_t: float = Field(
        default=MIN_FEED_T,
        ge=0,
        description="Smallest expected feed (tonnes over the plan) of an opened hub. PLACEHOLDER assumption.",
    )
    hub_cvar_level: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Cautious hub plan: maximise the mean net value of the worst share of draws (CVaR), e.g. 0.2; "
        "none: the expected net value. Slower: one dense constraint per joint draw (at most 200).",
    )
    hub_site_candidates: int = Field(
        default=SITE_CANDIDATES,
        ge=0,
        description="Top-valued sites whose centroids are candidate hubs when there is no hubs.csv (more candidates: "
        "better plans, longer solves; 25 solves in ~10 s at 1,000 sites on 2 cores).",
    )

    def costs(self) -> HubCosts:
        """The plan's cost and capacity assumptions."""
        return HubCosts(
            haul_cost_usd_per_t_km=self.haul_cost_usd_per_t_km, road_circuity=self.road_circuity,
            fixed_cost_usd=self.hub_fixed_cost_usd, capacity_t_per_year=self.hub_capacity_t_per_year,
            plan_years=self.hub_plan_years, min_feed_t=self.hub_min_feed_t,
        )  # fmt: skip


class SamplingPlanConfig(dg.Config):
    """``sampling_plan``: the hole or money budget, campaign sizes and costs (the top N is a shared rule)."""

    plan_holes: int = Field(default=PLAN_HOLES, ge=0, description="Sampling plan: holes in the plan (hole budget).")
    plan_campaign_sizes: list[int] = Field(
        default=list(CAMPAIGN_SIZES), min_length=1, description="Sampling plan: holes a campaign at one site may have."
    )
    plan_budget_usd: float | None = Field(
        default=None,
        ge=0,
        description="Sampling plan money budget, USD (cost_per_hole per hole + mobilisation_cost per site visited); "
        "none: the hole budget alone.",
    )
    cost_per_hole: float = Field(
        default=COST_PER_HOLE_USD,
        ge=0,
        description="Sampling plan: USD per hole drilled, logged and assayed. PLACEHOLDER assumption for screening.",
    )
    mobilisation_cost: float = Field(
        default=MOBILISATION_USD,
        ge=0,
        description="Sampling plan: USD per site visited (crew, rig, permits). PLACEHOLDER assumption for screening.",
    )
    plan_exclude_sites: list[str] = Field(
        default_factory=list, description="Sampling plan: site ids that get no holes (they stay in the decision)."
    )
    plan_max_depth_m: float | None = Field(
        default=None,
        gt=0,
        description="Sampling plan: deepest hole the rig drills, m; a deeper planned hole stops there and its "
        "depth_source says so (it samples only the top of the residue); none: every hole to the base.",
    )
    plan_min_gain: float = Field(
        default=MIN_GAIN,
        ge=0,
        description="Sampling plan: smallest gain (expected wrong top-N members avoided) a campaign must bring.",
    )

    @field_validator("plan_campaign_sizes")
    @classmethod
    def _positive_sizes(cls, sizes: list[int]) -> list[int]:
        if any(size < 1 for size in sizes):
            raise ValueError(f"plan_campaign_sizes must be numbers of holes >= 1, got {sizes}")
        return sorted(set(sizes))

    def options(self, top_n: int) -> PlanOptions:
        """The plan's budget and costs, for the decision of which sites make the top ``top_n``."""
        return PlanOptions(
            top_n=top_n, holes=self.plan_holes, campaign_sizes=tuple(self.plan_campaign_sizes),
            budget_usd=self.plan_budget_usd, cost_per_hole_usd=self.cost_per_hole,
            mobilisation_usd=self.mobilisation_cost, exclude=tuple(self.plan_exclude_sites),
            min_gain=self.plan_min_gain,
        )  # fmt: skip


class GradeTonnageConfig(dg.Config):
    """``grade_tonnage``: the cut-off ladder of the curves."""

    grade_tonnage_multiples: list[float] = Field(
        default=[0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0],
        description="Cut-off ladder of the grade-tonnage curves, as multiples of each element's cut-off grade.",
    )


#: Asset name -> the config class it takes (each asset with tunables appears once).
ASSET_CONFIGS: dict[str, type[dg.Config]] = {
    "site_volumes": VolumeConfig,
    "site_tonnage": TonnageConfig,
    "grade_models": GradeModelConfig,
    "site_rankings": RankingConfig,
    "processing_hubs": HubPlanConfig,
    "sampling_plan": SamplingPlanConfig,
    "grade_tonnage": GradeTonnageConfig,
}
