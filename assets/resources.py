"""Run settings shared by every asset (where the data drop is, where outputs go, tunables) and the opened drop."""

from pathlib import Path
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field, field_validator

from geodata.datadrop import DataDrop, open_data_drop
from geodata.postgis import SCHEMA_NAME, check_identifier
from geodata.publish import ALL_FORMATS, check_formats
from geodata.volumes import MIN_DEM_COVERAGE
from models.hub_plan import (
    CAPACITY_T_PER_YEAR,
    FIXED_COST_USD,
    HAUL_COST_USD_PER_T_KM,
    MIN_FEED_T,
    PLAN_YEARS,
    ROAD_CIRCUITY,
    SITE_CANDIDATES,
)
from models.ranking import TONNAGE_BAND
from models.sampling_plan import CAMPAIGN_SIZES, COST_PER_HOLE_USD, MIN_GAIN, MOBILISATION_USD, PLAN_HOLES, TOP_N
from models.simulation import N_DRAWS, SEED


class ResiduaSettings(dg.ConfigurableResource):
    """Paths and tunables for one inventory run (set from the CLI or the Dagster launchpad)."""

    data_dir: str = "geodata/demo"
    out_dir: str = "out"
    n_draws: int = N_DRAWS
    seed: int = SEED
    dem_vertical_sd_m: float = 0.3
    min_dem_coverage: float = MIN_DEM_COVERAGE
    composite_length_m: float = 1.5
    top_cut_fence: float = 3.0
    block_draws: int = 400
    block_size_m: float | None = Field(
        default=None,
        gt=0,
        description="Block edge (m) of the within-site block models and grade rasters; none: half the median "
        "distance from a hole to its nearest other hole, per site (5-500 m, at most 10,000 blocks a site).",
    )
    n_jobs: int = 2
    dask_address: str | None = Field(
        default=None,
        description="Dask scheduler (e.g. tcp://host:8786) for per-site work; none: local processes. "
        "Set through RESIDUA_DASK_ADDRESS.",
    )
    cutoff_gt: dict[str, float] = Field(
        default_factory=dict,
        description="Cut-off grade (g/t) per element overriding the cited cutoff_grades table, e.g. {'ga': 30}.",
    )
    model_store_dir: str | None = Field(
        default=None,
        description="The project's model store (fitted models + JSON model cards); none: 'models' in the Dagster "
        "instance folder ($RESIDUA_DAGSTER_DIR, ./.dagster with the Makefile). Never inside data_dir or out_dir.",
    )
    models_kept: int = Field(default=5, ge=1, description="Fitted models kept per element in the model store.")
    releases_dir: str | None = Field(
        default=None,
        description="The project's release history (a manifest per published inventory, chained by SHA-256, and "
        "the stored GeoPackage, rasters and model cards); none: 'releases' in the Dagster instance folder "
        "($RESIDUA_DAGSTER_DIR, ./.dagster with the Makefile). Never inside data_dir or out_dir.",
    )
    releases_kept: int = Field(
        default=20, ge=1, description="Releases kept in the release history; older ones are pruned (chain kept)."
    )
    diff_threshold: float = Field(
        default=0.05,
        gt=0,
        description="Smallest relative change of a P50 or of a P10-P90 width that a release diff reports (0.05: 5 %).",
    )
    tonnage_ratio_low: float = Field(
        default=TONNAGE_BAND[0],
        gt=0,
        description="Lowest modelled / reported tonnes ranked without review: a site outside "
        "tonnage_ratio_low-tonnage_ratio_high is held for review (no rank) until reviews.csv accepts its tonnage.",
    )
    tonnage_ratio_high: float = Field(
        default=TONNAGE_BAND[1], gt=0, description="Highest modelled / reported tonnes ranked without review."
    )
    # A list default is safe on a pydantic model: every instance gets its own copy.
    formats: list[str] = Field(
        default=list(ALL_FORMATS),
        description=f"Export formats written to out_dir: any of {', '.join(ALL_FORMATS)}.",
    )
    postgis_url: str | None = Field(
        default=None,
        description="PostGIS database to publish the layers to as well, e.g. dg.EnvVar('RESIDUA_POSTGIS_URL'); "
        "none: files only.",
    )
    postgis_schema: str = Field(default="residua", description="PostGIS schema receiving the layers.")
    sensitivity_draws: int = Field(
        default=200, ge=1, description="Joint price and recovery perturbations re-ranking the sites (rank stability)."
    )
    sensitivity_price_distribution: Literal["triangular", "uniform"] = Field(
        default="triangular",
        description="Price draw between the price table's low and high: triangular (mode at mid) or uniform.",
    )
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
    plan_top_n: int = Field(
        default=TOP_N, ge=1, description="Sampling plan: the decision is which sites make the top N by value."
    )
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
    plan_min_gain: float = Field(
        default=MIN_GAIN,
        ge=0,
        description="Sampling plan: smallest gain (expected wrong top-N members avoided) a campaign must bring.",
    )
    grade_tonnage_multiples: list[float] = Field(
        default=[0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0],
        description="Cut-off ladder of the grade-tonnage curves, as multiples of each element's cut-off grade.",
    )

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, formats: list[str]) -> list[str]:
        return check_formats(formats)

    @field_validator("plan_campaign_sizes")
    @classmethod
    def _positive_sizes(cls, sizes: list[int]) -> list[int]:
        if any(size < 1 for size in sizes):
            raise ValueError(f"plan_campaign_sizes must be numbers of holes >= 1, got {sizes}")
        return sorted(set(sizes))

    @field_validator("postgis_schema")
    @classmethod
    def _valid_schema(cls, schema: str) -> str:
        return check_identifier(schema, SCHEMA_NAME, "schema", 48)

    def cutoffs(self, cutoff_table: pd.DataFrame) -> dict[str, float]:
        """Cut-off grade per element: the reference table, overridden by ``cutoff_gt``."""
        table = dict(zip(cutoff_table["element"], cutoff_table["cutoff_gt"].astype(float)))
        return {**table, **{element.lower(): float(value) for element, value in self.cutoff_gt.items()}}

    @property
    def data_path(self) -> Path:
        """The data drop folder, absolute."""
        return Path(self.data_dir).resolve()

    @property
    def out_path(self) -> Path:
        """The output folder, absolute."""
        return Path(self.out_dir).resolve()


@dg.resource(
    required_resource_keys={"settings"},
    description="The run's data drop: its files found, described and hashed once per run.",
)
def data_drop_resource(context: dg.InitResourceContext) -> DataDrop:
    """The data drop of ``settings.data_dir``, opened once per run (assets take it as ``data_drop``)."""
    drop = open_data_drop(context.resources.settings.data_path)
    synthetic = ", SYNTHETIC" if drop.synthetic else ""
    context.log.info("Reading %s (%d input files%s)", drop.root, len(drop.input_hashes), synthetic)
    return drop
