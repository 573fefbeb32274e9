"""Estimates: site grade distributions, simulated resources, and the ranking."""

import dagster as dg
import pandas as pd

from assets.grade_models import GradeModels
from assets.resources import ResiduaSettings
from geodata.reference_tables import ReferenceTables
from models.estimates import estimate_resources
from models.grade_workflow import site_distributions
from models.ranking import rank_sites


@dg.asset(group_name="estimates")
def grade_estimates(site_features: pd.DataFrame, grade_models: GradeModels) -> pd.DataFrame:
    """Each site's mean-grade distribution per element: block model, shrunk site mean or residue-type prior."""
    frames = [site_distributions(fit, site_features) for fit in grade_models.fits.values()]
    estimates = pd.concat(frames, ignore_index=True)
    return estimates


@dg.asset(group_name="estimates")
def resource_estimates(
    context: dg.AssetExecutionContext,
    settings: ResiduaSettings,
    site_features: pd.DataFrame,
    grade_estimates: pd.DataFrame,
    reference_tables: ReferenceTables,
) -> pd.DataFrame:
    """P10/P50/P90 contained and recoverable Ga, Te and PGM per site, with a confidence class."""
    estimates = estimate_resources(
        site_features,
        grade_estimates,
        reference_tables.recovery,
        reference_tables.prices,
        settings.cutoffs(reference_tables.cutoff_grades),
        n_draws=settings.n_draws,
        seed=settings.seed,
    )
    context.log.info("Simulated %d sites x %d draws (seed %d)", len(estimates), settings.n_draws, settings.seed)
    context.add_output_metadata({"confidence": dg.MetadataValue.json(estimates["confidence"].value_counts().to_dict())})
    return estimates


@dg.asset(group_name="estimates")
def site_rankings(resource_estimates: pd.DataFrame) -> pd.DataFrame:
    """Sites ranked by P50 recoverable value weighted by confidence."""
    return rank_sites(resource_estimates)
