"""Grade models: one hierarchical log-grade model per element, validated site by site."""


from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd

from geodata.reference_tables import ReferenceTables
from geodata.schema import ELEMENTS
from geodata.validate import ValidationResult
from models.grade import Z80, HierarchicalLogGrade
from models.preparation import log_grade_table
from models.validation import leave_one_site_out


@dataclass(frozen=True)
class GradeModels:
    """Fitted models by element, and their leave-one-site-out scores."""

    models: dict[str, HierarchicalLogGrade]
    validation: pd.DataFrame


@dg.asset(group_name="models")
def grade_models(
    context: dg.AssetExecutionContext, samples: ValidationResult, sites: ValidationResult, reference_tables: ReferenceTables
) -> GradeModels:
    """Per-element log-grade models with priors from the cited grade table, scored by held-out site."""
    models, scores = {}, []
    for element in ELEMENTS:
        table = log_grade_table(samples.accepted, sites.accepted, element)
        model = HierarchicalLogGrade(*_priors(reference_tables.grade_priors, element))
        models[element] = model.fit(table[["site_id", "residue_type", "hole_id"]], table["log_grade"], table["weight"])
        validation = leave_one_site_out(model, table)
        validation.insert(0, "element", element)
        validation["bdl_share"] = float(table["bdl"].mean()) if len(table) else np.nan
        scores.append(validation)
        context.log.info("Fitted %s on %d intervals at %d sites", element, len(table), table["site_id"].nunique())
    report = pd.concat(scores, ignore_index=True)
    context.add_output_metadata({"validation": dg.MetadataValue.md(report.round(3).to_markdown(index=False))})
    return GradeModels(models, report)


def _priors(grade_priors: pd.DataFrame, element: str) -> tuple[dict[str, float], dict[str, float]]:
    rows = grade_priors[grade_priors["element"] == element].set_index("residue_type")
    log_mean = np.log(rows["grade_p50_gt"])
    log_sd = np.log(rows["grade_p90_gt"] / rows["grade_p10_gt"]) / (2 * Z80)
    return log_mean.to_dict(), log_sd.to_dict()
