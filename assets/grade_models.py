"""Grade models: per element, a hierarchical site model and blocked-CV-chosen block models."""

from dataclasses import dataclass

import dagster as dg
import pandas as pd

from assets.resources import ResiduaSettings
from geodata.reference_tables import ReferenceTables
from geodata.schema import ELEMENTS
from geodata.validate import ValidationResult
from models.grade_workflow import ElementFit, fit_element, site_covariate_columns
from models.report import validation_tables
from assets.parallel import parallel_backend


@dataclass(frozen=True)
class GradeModels:
    """Fitted models by element."""

    fits: dict[str, ElementFit]


@dg.asset(group_name="models")
def grade_models(
    context: dg.AssetExecutionContext,
    settings: ResiduaSettings,
    samples: ValidationResult,
    sites: ValidationResult,
    site_features: pd.DataFrame,
    reference_tables: ReferenceTables,
) -> GradeModels:
    """Per-element log-grade models: residue-type priors from the cited table, site means, block models."""
    features = site_features.set_index("site_id")
    thickness = (features["tonnes_p50"] / features["density_t_m3"] / (features["area_ha"] * 1e4)).where(
        features["volume_method"] != "reported_tonnes"
    )
    options = {
        "site_covariates": features[site_covariate_columns(features)],
        "composite_length_m": settings.composite_length_m,
        "top_cut_fence": settings.top_cut_fence,
        "n_draws": settings.block_draws,
        "seed": settings.seed,
    }
    with parallel_backend(settings.dask_address, settings.n_jobs) as backend:
        context.log.info("Block models run on %s", backend)
        fits = {
            element: fit_element(element, samples.accepted, sites.accepted, thickness, reference_tables.grade_priors, **options)
            for element in ELEMENTS
        }
    for element, fit in fits.items():
        context.log.info(
            "Fitted %s: %d composites at %d sites, site model %s, %d block models",
            element, len(fit.composites), fit.composites["site_id"].nunique(),
            "with covariates " + ", ".join(fit.covariates) if fit.covariates else "by residue type", len(fit.blocks),
        )  # fmt: skip
    site_level, within_site = validation_tables(fits)
    context.add_output_metadata(
        {
            "site_level_validation": dg.MetadataValue.md(site_level.round(3).to_markdown(index=False)),
            "within_site_validation": dg.MetadataValue.md(within_site.round(3).to_markdown(index=False)),
        }
    )
    return GradeModels(fits)


@dg.asset_check(asset=grade_models, description="within-site RMSE at most 2 % above the best baseline per element")
def grade_models_beat_baselines(grade_models: GradeModels) -> dg.AssetCheckResult:
    """Warn, naming the elements, where a baseline predicts held-out composites better."""
    _, within_site = validation_tables(grade_models.fits)
    if within_site.empty:
        return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN, metadata={"note": "no block models"})
    rmse = within_site.pivot_table(index="element", columns="method", values="rmse")
    best_baseline = rmse.drop(columns="residua").min(axis=1)
    ratio = (rmse["residua"] / best_baseline).round(3)
    return dg.AssetCheckResult(
        passed=bool((ratio <= 1.02).all()),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rmse_vs_best_baseline": dg.MetadataValue.json(ratio.to_dict())},
    )
