"""Grade models: per element, a hierarchical site model and blocked-CV-chosen block models."""

from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from residua.assets.configs import GradeModelConfig
from residua.assets.resources import ModelStoreResource, MonteCarlo, RunFolders, Workers
from residua.assets.settings import config_metadata
from residua.geodata.datadrop import DataDrop
from residua.geodata.reference_tables import ReferenceTables
from residua.geodata.schema import ELEMENTS
from residua.geodata.validate import ValidationResult
from residua.geodata.zonal import find_covariates
from residua.models.grade_workflow import ElementFit, fit_element, site_covariate_columns
from residua.models.model_store import ModelStore, StoredModel, element_card
from residua.models.report import BASELINES, validation_tables, within_site_predictions
from residua.models.reproduction import reproduction_summary, reproduction_table


@dataclass(frozen=True)
class GradeModels:
    """Fitted models by element, each one's model card and id (as saved in the model store) and
    their validation: held-out predictions and the site-level and within-site score tables
    (``models.report``), computed once for the report, the checks and the cards. Stored and
    loaded by :class:`residua.assets.model_io.GradeModelsIOManager`."""

    fits: dict[str, ElementFit]
    cards: dict[str, dict] = field(default_factory=dict)
    model_ids: dict[str, str] = field(default_factory=dict)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    site_level: pd.DataFrame = field(default_factory=pd.DataFrame)
    within_site: pd.DataFrame = field(default_factory=pd.DataFrame)
    reproduction: pd.DataFrame = field(default_factory=pd.DataFrame)


@dg.asset(group_name="models", deps=["covariate_rasters"], io_manager_key="grade_models_io")
def grade_models(
    context: dg.AssetExecutionContext,
    config: GradeModelConfig,
    monte_carlo: MonteCarlo,
    workers: Workers,
    folders: RunFolders,
    model_store: ModelStoreResource,
    data_drop: dg.ResourceParam[DataDrop],
    samples: ValidationResult,
    sites: ValidationResult,
    site_features: pd.DataFrame,
    reference_tables: ReferenceTables,
) -> GradeModels:
    """Per-element grade models: residue-type priors from the cited table, site means, validated block models."""
    store = model_store.open(context.instance, folders)
    features = site_features.set_index("site_id")
    thickness = (features["tonnes_p50"] / features["density_t_m3"] / (features["area_ha"] * 1e4)).where(
        features["volume_method"] != "reported_tonnes"
    )
    options = {
        "site_covariates": features[site_covariate_columns(features)],
        "composite_length_m": config.composite_length_m,
        "top_cut_fence": config.top_cut_fence,
        "n_draws": config.block_draws,
        "seed": monte_carlo.seed,
        "covariate_rasters": find_covariates(data_drop.root),
        "block_size_m": config.block_size_m,
    }
    with workers.backend() as backend:
        context.log.info("Block models run on %s", backend)
        fits = {
            element: fit_element(
                element, samples.accepted, sites.accepted, thickness, reference_tables.grade_priors, **options
            )
            for element in ELEMENTS
        }
    for element, fit in fits.items():
        context.log.info(
            "Fitted %s: %d composites at %d sites, site model %s, %d block models",
            element, len(fit.composites), fit.composites["site_id"].nunique(),
            "with covariates " + ", ".join(fit.covariates) if fit.covariates else "by residue type", len(fit.blocks),
        )  # fmt: skip
    predictions = within_site_predictions(fits)
    site_level, within_site = validation_tables(fits, predictions)
    fit_options = {
        name: value for name, value in options.items() if name not in ("site_covariates", "covariate_rasters")
    }
    fit_options["covariate_rasters"] = sorted(options["covariate_rasters"])
    stored = _save_models(context, store, fits, fit_options, model_store.models_kept, (site_level, within_site))
    context.add_output_metadata(
        {
            **config_metadata(config),
            "site_level_validation": dg.MetadataValue.md(site_level.round(3).to_markdown(index=False)),
            "within_site_validation": dg.MetadataValue.md(within_site.round(3).to_markdown(index=False)),
            "model_store": dg.MetadataValue.path(str(store.root)),
            "model_ids": dg.MetadataValue.json({element: model.model_id for element, model in stored.items()}),
            "model_cards": dg.MetadataValue.json({element: str(model.card_path) for element, model in stored.items()}),
            "training_data_sha256": dg.MetadataValue.json(
                {element: model.card["training_data"]["sha256"] for element, model in stored.items()}
            ),
        }
    )
    cards = {element: model.card for element, model in stored.items()}
    model_ids = {element: model.model_id for element, model in stored.items()}
    reproduction = reproduction_summary({element: reproduction_table(fit.blocks) for element, fit in fits.items()})
    return GradeModels(fits, cards, model_ids, predictions, site_level, within_site, reproduction)


def _save_models(
    context: dg.AssetExecutionContext,
    store: ModelStore,
    fits: dict[str, ElementFit],
    fit_options: dict,
    keep: int,
    tables: tuple[pd.DataFrame, pd.DataFrame],
) -> dict[str, StoredModel]:
    """Save every element's fit with its model card, then prune each element to its ``keep`` newest."""
    stored = {
        element: store.save(fit, element_card(fit, fit_options, tuple(_rows_of(table, element) for table in tables)))
        for element, fit in fits.items()
    }
    pruned = [model_id for element in stored for model_id in store.prune(element, keep)]
    context.log.info("Saved %d models with cards to %s; pruned %d older ones", len(stored), store.root, len(pruned))
    return stored


@dg.asset_check(asset=grade_models, description="within-site RMSE at most 2 % above the best baseline per element")
def grade_models_beat_baselines(grade_models: GradeModels) -> dg.AssetCheckResult:
    """Warn, naming the elements, where a baseline predicts held-out composites better."""
    within_site = grade_models.within_site
    if within_site.empty:
        return dg.AssetCheckResult(
            passed=True, severity=dg.AssetCheckSeverity.WARN, metadata={"note": "no block models"}
        )
    rmse = within_site.pivot_table(index="element", columns="method", values="rmse")
    best_baseline = rmse[[method for method in BASELINES if method in rmse]].min(axis=1)
    ratio = (rmse["residua"] / best_baseline).round(3)
    return dg.AssetCheckResult(
        passed=bool((ratio <= 1.02).all()),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rmse_vs_best_baseline": dg.MetadataValue.json(ratio.to_dict())},
    )


def _rows_of(table: pd.DataFrame, element: str) -> pd.DataFrame:
    """One element's rows of a validation table (all of it when it has no element column)."""
    return table[table["element"] == element] if "element" in table else table


@dg.asset_check(asset=grade_models, description="block realisations reproduce the declustered means and the variogram")
def grade_models_reproduce_the_data(grade_models: GradeModels) -> dg.AssetCheckResult:
    """Warn, naming the elements, where simulated site means stray from the declustered composite
    means at more than a fifth of sites, or the realisations' variogram departs from the model's."""
    summary = grade_models.reproduction
    if summary.empty:
        return dg.AssetCheckResult(
            passed=True, severity=dg.AssetCheckSeverity.WARN, metadata={"note": "no block models"}
        )
    return dg.AssetCheckResult(
        passed=bool(summary["passed"].all()),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "failing_elements": dg.MetadataValue.json(summary.loc[~summary["passed"], "element"].tolist()),
            "summary": dg.MetadataValue.md(summary.round(3).to_markdown(index=False)),
        },
    )
