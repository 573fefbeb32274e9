"""Estimates: site grade distributions, simulated resources, reviews, the ranking, hubs, grade-tonnage."""

from dataclasses import dataclass

import dagster as dg
import geopandas as gpd
import pandas as pd

from residua.assets.configs import GradeTonnageConfig, HubPlanConfig, RankingConfig
from residua.assets.grade_models import GradeModels
from residua.assets.resources import InventoryRules, MonteCarlo, Postgis, Workers
from residua.assets.settings import config_metadata
from residua.geodata.datadrop import DataDrop
from residua.geodata.reference_tables import ReferenceTables
from residua.geodata.review_store import read_site_reviews
from residua.geodata.reviews import REVIEWS_FILE
from residua.geodata.schema import ELEMENTS, STORAGE_CRS
from residua.geodata.validate import ValidationResult
from residua.geodata.vocabulary import ACCEPT_TONNAGE, HELD_STATUS, REVIEW_STATUS
from residua.models.element_correlation import element_correlation
from residua.models.estimates import estimate_resources
from residua.models.grade_tonnage import grade_tonnage_curves
from residua.models.grade_workflow import site_distributions
from residua.models.hub_plan import HubPlan
from residua.models.hubs import HUBS_FILE, plan_hubs, read_hubs, site_centroids
from residua.models.ranking import rank_sites, review_quarantine
from residua.models.sensitivity import rank_stability
from residua.models.simulation import SimulationInputs, iter_draws


@dataclass(frozen=True)
class SiteReviews:
    """Reviewers' decisions: every valid row (oldest first) and the rows quarantined with a reason."""

    history: pd.DataFrame
    quarantine: gpd.GeoDataFrame


@dg.asset(group_name="estimates")
def grade_estimates(site_features: pd.DataFrame, grade_models: GradeModels) -> pd.DataFrame:
    """Each site's mean-grade distribution per element: block model, shrunk site mean or residue-type prior."""
    frames = [site_distributions(fit, site_features) for fit in grade_models.fits.values()]
    estimates = pd.concat(frames, ignore_index=True)
    return estimates


@dg.asset(group_name="estimates")
def simulation_inputs(
    context: dg.AssetExecutionContext,
    monte_carlo: MonteCarlo,
    rules: InventoryRules,
    site_features: pd.DataFrame,
    grade_estimates: pd.DataFrame,
    reference_tables: ReferenceTables,
) -> SimulationInputs:
    """Everything the Monte Carlo draws come from (tonnage, grades, recovery, prices, cut-offs, seed), built once."""
    residue_types = site_features.set_index("site_id")["residue_type"]
    correlation = element_correlation(grade_estimates, residue_types, ELEMENTS)
    inputs = SimulationInputs.build(
        site_features, grade_estimates, reference_tables.recovery, reference_tables.prices,
        rules.cutoffs(reference_tables.cutoff_grades), n_draws=monte_carlo.n_draws, seed=monte_carlo.seed,
        element_correlation=correlation,
    )  # fmt: skip
    context.log.info("Elements' site grades correlated as\n%s", correlation.round(2).to_string())
    context.add_output_metadata({"element_correlation": dg.MetadataValue.md(correlation.round(2).to_markdown()),
                                 **config_metadata(monte_carlo, rules)})  # fmt: skip
    return inputs


@dg.asset(group_name="estimates")
def resource_estimates(
    context: dg.AssetExecutionContext,
    workers: Workers,
    site_features: pd.DataFrame,
    simulation_inputs: SimulationInputs,
) -> pd.DataFrame:
    """P10/P50/P90 contained and recoverable Ga, Te and PGM per site, with a confidence class."""
    with workers.backend():
        estimates = estimate_resources(site_features, simulation_inputs)
    context.log.info("Simulated %d sites x %d draws (seed %d)", len(estimates), simulation_inputs.n_draws,
                     simulation_inputs.seed)  # fmt: skip
    context.add_output_metadata({"confidence": dg.MetadataValue.json(estimates["confidence"].value_counts().to_dict())})
    return estimates


@dg.asset(group_name="review", deps=["reviews_file", "review_decisions"])
def reviews(context: dg.AssetExecutionContext, postgis: Postgis, data_drop: dg.ResourceParam[DataDrop]) -> SiteReviews:
    """Geologists' decisions per site (accept / exclude / needs-data / accept-tonnage): review store and reviews.csv."""
    instance_dir = context.instance.root_directory
    history, rejects = read_site_reviews(
        data_drop.root / REVIEWS_FILE, postgis.postgis_url, postgis.postgis_schema, instance_dir
    )
    quarantine = gpd.GeoDataFrame(
        review_quarantine(rejects, REVIEWS_FILE), geometry=[None] * len(rejects), crs=STORAGE_CRS
    )
    context.log.info("Read %d review decisions (%d rows quarantined)", len(history), len(quarantine))
    context.add_output_metadata(
        {"decisions": len(history), "quarantined_rows": len(quarantine),
         "by_decision": dg.MetadataValue.json(history["decision"].value_counts().to_dict())}
    )  # fmt: skip
    return SiteReviews(history, quarantine)


@dg.asset(group_name="estimates")
def site_rankings(
    context: dg.AssetExecutionContext,
    config: RankingConfig,
    monte_carlo: MonteCarlo,
    rules: InventoryRules,
    resource_estimates: pd.DataFrame,
    reviews: SiteReviews,
    reference_tables: ReferenceTables,
) -> pd.DataFrame:
    """Sites ranked by confidence-weighted P50 recoverable value, honouring reviews, with rank stability.

    Sites whose modelled tonnage is outside the ``tonnage_ratio_low``-``tonnage_ratio_high`` band of their
    reported tonnes are held out of the ranking (listed, unranked) until a reviewer accepts the tonnage."""
    ranked = rank_sites(resource_estimates, reviews.history, rules.tonnage_band)
    held = ranked.loc[ranked["review_status"] == HELD_STATUS]
    if len(held):
        context.log.warning("Held %d site(s) out of the ranking until a reviewer records %s for them:\n  %s",
                            len(held), ACCEPT_TONNAGE, "\n  ".join(held["held_reason"]))  # fmt: skip
    stability = rank_stability(
        ranked,
        reference_tables.recovery,
        reference_tables.prices,
        n_perturbations=config.sensitivity_draws,
        seed=monte_carlo.seed,
        price_distribution=config.sensitivity_price_distribution,
    )
    ranked = ranked.merge(stability, on="site_id", how="left", validate="one_to_one")
    stable = int((ranked["rank_stability_top10"] >= 0.8).sum())
    context.log.info("Ranked %d of %d sites; %d stay in the top 10 in >= 80 %% of %d price/recovery perturbations",
                     int(ranked["rank"].notna().sum()), len(ranked), stable, config.sensitivity_draws)  # fmt: skip
    context.add_output_metadata(
        {"ranked": int(ranked["rank"].notna().sum()),
         "held_for_review": dg.MetadataValue.json(held["site_id"].tolist()),
         "excluded_by_review": int((ranked["review_status"] == REVIEW_STATUS["exclude"]).sum()),
         "review_status": dg.MetadataValue.json(ranked["review_status"].value_counts().to_dict()),
         "top10_in_80pct_of_perturbations": stable, **config_metadata(config)}
    )  # fmt: skip
    return ranked


@dg.asset(group_name="estimates", deps=["hubs_file"])
def processing_hubs(
    context: dg.AssetExecutionContext,
    config: HubPlanConfig,
    monte_carlo: MonteCarlo,
    data_drop: dg.ResourceParam[DataDrop],
    sites: ValidationResult,
    simulation_inputs: SimulationInputs,
    site_rankings: pd.DataFrame,
) -> HubPlan:
    """The hub plan: which candidate hubs (hubs.csv, else k-means and top sites) open, fed by which ranked sites.

    A facility-location MILP (HiGHS) maximising expected net value over the draws (metal value minus haul minus
    fixed costs, within capacity and minimum feed); k-means hubs with nearest-hub catchments when it gives no
    result. Only ranked sites feed a hub (review exclusions and held tonnages feed nothing)."""
    feeding = site_rankings[site_rankings["rank"].notna()].set_index("site_id")
    locations = site_centroids(sites.accepted[sites.accepted["site_id"].isin(feeding.index)])
    weights = locations["site_id"].map(feeding["value_usd_p50"]).to_numpy(dtype=float)
    given = read_hubs(data_drop.root / HUBS_FILE)
    # the estimates' own draws, regenerated from the same seeds (read twice: means for the solver, then totals)
    plan = plan_hubs(locations, weights, lambda: iter_draws(simulation_inputs), given=given, k=config.hubs_k,
                     haul_km=config.haul_km, seed=monte_carlo.seed, costs=config.costs(),
                     n_site_candidates=config.hub_site_candidates, cvar_level=config.hub_cvar_level)  # fmt: skip
    hubs = plan.hubs
    opened = hubs.loc[hubs["opened"]]
    fed = dict(zip(opened["hub_id"], opened["n_assigned"].tolist()))
    context.log.info("Hub plan by %s (%s candidates; %s; objective %s): opened %d of %d, sites fed %s, expected "
                     "net value USD %.4g (P10 %.4g, P90 %.4g), solver %.2f s", plan.method,
                     "given" if given is not None else "proposed", plan.status, plan.objective, len(opened),
                     len(hubs), fed, plan.net_value_usd["mean"], plan.net_value_usd["p10"],
                     plan.net_value_usd["p90"], plan.seconds)  # fmt: skip
    context.add_output_metadata(
        {"hubs": len(hubs), "opened": len(opened), "method": plan.method,
         "candidates": "given" if given is not None else "proposed", "solver_status": plan.status,
         "solver_seconds": round(plan.seconds, 3), "sites_fed": dg.MetadataValue.json(fed), "objective": plan.objective,
         "expected_net_value_usd": plan.net_value_usd["mean"], **config_metadata(config)}
    )  # fmt: skip
    return plan


@dg.asset(group_name="estimates")
def grade_tonnage(
    context: dg.AssetExecutionContext,
    config: GradeTonnageConfig,
    rules: InventoryRules,
    site_features: pd.DataFrame,
    grade_estimates: pd.DataFrame,
    reference_tables: ReferenceTables,
) -> pd.DataFrame:
    """Grade-tonnage curves of sampled sites: tonnes, mean grade and metal above a ladder of cut-offs, at P50."""
    context.add_output_metadata(config_metadata(config))
    return grade_tonnage_curves(
        grade_estimates,
        site_features,
        rules.cutoffs(reference_tables.cutoff_grades),
        multiples=tuple(config.grade_tonnage_multiples),
    )
