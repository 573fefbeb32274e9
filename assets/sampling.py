"""Decisions: the sampling plan, the holes that would change the top-N decision most."""

import dagster as dg
import geopandas as gpd
import numpy as np
import pandas as pd

from residua.assets.configs import SamplingPlanConfig
from residua.assets.grade_models import GradeModels
from residua.assets.resources import InventoryRules
from residua.assets.settings import config_metadata
from residua.geodata.reference_tables import ReferenceTables
from residua.geodata.validate import ValidationResult
from residua.models.sampling_plan import hole_log_sd, plan_campaigns, plan_holes, planned_depth
from residua.models.simulation import SimulationInputs


def decision_sites(site_rankings: pd.DataFrame, site_features: pd.DataFrame) -> pd.DataFrame:
    """The ranked sites (review exclusions and held tonnages take no part) with holes, volume method and class."""
    ranked = site_rankings.loc[site_rankings["rank"].notna(), ["site_id", "confidence"]]
    features = site_features.set_index("site_id")
    return ranked.assign(
        n_holes=ranked["site_id"].map(features["n_holes"]).fillna(0).astype(int).to_numpy(),
        dem_volume=(ranked["site_id"].map(features["volume_method"]) == "dem_difference").to_numpy(),
    ).reset_index(drop=True)


def hole_collars(samples: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per existing hole: ``site_id``, ``lon``, ``lat`` of its first sample."""
    if samples.empty:
        return pd.DataFrame({"site_id": pd.Series(dtype=object), "lon": [], "lat": []})
    first = samples.drop_duplicates(["site_id", "hole_id"])
    return pd.DataFrame({"site_id": first["site_id"].to_numpy(), "lon": first.geometry.x.to_numpy(),
                         "lat": first.geometry.y.to_numpy()})  # fmt: skip


@dg.asset(group_name="estimates")
def sampling_plan(
    context: dg.AssetExecutionContext,
    config: SamplingPlanConfig,
    rules: InventoryRules,
    sites: ValidationResult,
    samples: ValidationResult,
    site_features: pd.DataFrame,
    simulation_inputs: SimulationInputs,
    site_rankings: pd.DataFrame,
    grade_models: GradeModels,
    reference_tables: ReferenceTables,
) -> gpd.GeoDataFrame:
    """Planned holes where new assays would most reduce the expected error of the top-N-by-value decision.

    Value of information by pre-posterior simulation on the estimates' own draws, campaigns of
    ``plan_campaign_sizes`` holes chosen greedily within ``plan_holes`` (and ``plan_budget_usd``);
    holes placed inside the footprint away from existing holes (models/sampling_plan.py)."""
    options = config.options(rules.plan_top_n)
    decision = decision_sites(site_rankings, site_features)
    types = site_features[["site_id", "residue_type"]]
    hole_sd = hole_log_sd({element: fit.model for element, fit in grade_models.fits.items()}, types)
    campaigns = plan_campaigns(simulation_inputs, decision, hole_sd, options)
    footprints = sites.accepted.set_index("site_id").geometry
    depth = planned_depth(site_features, reference_tables.thickness_priors, config.plan_max_depth_m)
    area = site_features.set_index("site_id")["area_ha"] * 1e4
    holes = plan_holes(campaigns, footprints, hole_collars(samples.accepted), depth, area)
    cost = float(campaigns["campaign_cost_usd"].sum())
    wrong_now = float(campaigns["top_n_expected_wrong_now"].iloc[0]) if len(campaigns) else np.nan
    context.log.info("Sampling plan for the top %d of %d ranked sites: %d holes at %d sites (budget %d holes%s), "
                     "placeholder cost USD %.4g; expected wrong top-%d members now %.3f; campaigns %s",
                     options.top_n, len(decision), len(holes), len(campaigns), options.holes,
                     f", USD {options.budget_usd:.4g}" if options.budget_usd is not None else "", cost,
                     options.top_n, wrong_now,
                     dict(zip(campaigns["site_id"], campaigns["holes_in_campaign"].tolist())))  # fmt: skip
    context.add_output_metadata(
        {"holes": len(holes), "sites": len(campaigns), "cost_usd": cost,
         "campaigns": dg.MetadataValue.json(dict(zip(campaigns["site_id"], campaigns["holes_in_campaign"].tolist()))),
         "expected_gain": dg.MetadataValue.json(dict(zip(campaigns["site_id"],
                                                         campaigns["expected_gain"].round(4).tolist()))),
         **config_metadata(config)}
    )  # fmt: skip
    return holes
