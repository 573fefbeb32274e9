"""Grade-model report and block-grade rasters, published with the inventory (staged until the run's last publisher)."""

import json

import dagster as dg
import pandas as pd
from joblib import delayed

from residua.assets.grade_models import GradeModels
from residua.assets.publish import output_release, staging
from residua.assets.resources import Postgis, Publishing, ReleaseHistory, RunFolders, Workers
from residua.geodata.crs import local_utm_crs
from residua.geodata.datadrop import DataDrop
from residua.geodata.html_report import grade_model_html
from residua.geodata.progress import run_jobs
from residua.geodata.provenance import code_version
from residua.geodata.rasters import cog_bytes, safe_file_stem
from residua.geodata.validate import ValidationResult
from residua.models.report import diagnostic_figures

REPORT_NOTES = (
    "Within-site rows pool held-out composites of every modelled site: 'residua' is the model each site chose by "
    "blocked cross-validation, scored on exactly what its grade rasters publish at the held-out places (the block "
    "P50, refitted without the held-out holes, in the same transform and with the same prior and covariates; "
    "intervals calibrated on the other sites' held-out errors). rmse/mae/bias/r2 are of log-grade; rmse_gt, "
    "relative_rmse_gt and metal_bias are of grade in g/t, where the baselines are fitted to grades; block_metal_error "
    "is the RMS of ln(predicted / observed metal) over held-out blocks of holes. type_mean, idw and "
    "ordinary_kriging are baselines on the same folds, scored at up to 300 seeded sites per element and compared "
    "with residua on those sites only; residua_all_sites (when shown) scores residua at every modelled site. "
    "Site-level rows hold out whole sites: one at a time up to 50 sampled sites, in 50 seeded groups of sites beyond."
)
#: Files grade_model_report writes into the output folder (model cards: JSON only, never a model file).
REPORT_FILES: tuple[str, ...] = ("grade_model_report.html", "grade_model_report.csv", "model_cards/*.json")


@dg.asset(group_name="publish", deps=["drop_description"])
def grade_model_report(
    context: dg.AssetExecutionContext,
    folders: RunFolders,
    postgis: Postgis,
    release_history: ReleaseHistory,
    data_drop: dg.ResourceParam[DataDrop],
    grade_models: GradeModels,
) -> dg.MaterializeResult:
    """Validation of every grade model against baselines: grade_model_report.html and .csv in the output folder."""
    publishing = Publishing(folders, postgis, release_history)
    site_level, within_site = grade_models.site_level, grade_models.within_site
    figures = diagnostic_figures(grade_models.fits, grade_models.predictions)
    title = f"Residua grade models: {data_drop.title}"
    page = grade_model_html(
        title, data_drop.synthetic, site_level, within_site, figures, REPORT_NOTES, grade_models.reproduction
    )
    table = pd.concat([within_site.assign(level="within_site"), site_level.assign(level="site")], ignore_index=True)
    with staging(context, publishing, output_release(context, publishing), stale=REPORT_FILES) as folder:
        (folder / "grade_model_report.html").write_text(page, encoding="utf-8")
        table.to_csv(folder / "grade_model_report.csv", index=False)
        (folder / "model_cards").mkdir(exist_ok=True)
        for element, card in grade_models.cards.items():
            text = json.dumps(card, indent=2, allow_nan=False, default=str)
            (folder / "model_cards" / f"{element}.json").write_text(text + "\n", encoding="utf-8")
    report = publishing.folders.out_path / "grade_model_report.html"
    context.log.info("Wrote grade model report for %s", report)
    return dg.MaterializeResult(
        metadata={
            "within_site": dg.MetadataValue.md(within_site.round(3).to_markdown(index=False)),
            "site_level": dg.MetadataValue.md(site_level.round(3).to_markdown(index=False)),
            "report": dg.MetadataValue.path(str(report)),
            "model_ids": dg.MetadataValue.json(
                {element: card.get("model_id") for element, card in grade_models.cards.items()}
            ),
            **{
                f"figure_{name}": dg.MetadataValue.md(f"![{name}](data:image/png;base64,{png})")
                for name, png in figures.items()
            },
        }
    )


@dg.asset(group_name="publish", deps=["drop_description"])
def grade_rasters(
    context: dg.AssetExecutionContext,
    folders: RunFolders,
    postgis: Postgis,
    release_history: ReleaseHistory,
    workers: Workers,
    data_drop: dg.ResourceParam[DataDrop],
    sites: ValidationResult,
    grade_models: GradeModels,
) -> dg.MaterializeResult:
    """Block grades per metal and sampled site as Cloud-Optimized GeoTIFFs in rasters/: bands P50, P10, P90 of
    the block grade and P10, P90 of what one new sample in the cell would assay (g/t)."""
    publishing = Publishing(folders, postgis, release_history)
    footprints = sites.accepted.set_index("site_id").geometry
    names, jobs, version = [], [], code_version()
    for element, fit in grade_models.fits.items():
        for site_id, block in fit.blocks.items():
            tags = {
                "element": element, "unit": "g/t", "site_id": site_id, "model": block.chosen,
                "synthetic": str(data_drop.synthetic), "code_version": version,
                "note": "depth-averaged block grade; screening estimate, not a resource statement",
            }  # fmt: skip
            bands = {"p50_gt": block.p50, "p10_gt": block.p10, "p90_gt": block.p90,
                     "p10_sample_gt": block.p10_sample, "p90_sample_gt": block.p90_sample}  # fmt: skip
            names.append(f"rasters/{safe_file_stem(site_id)}_{element}_grade.tif")
            jobs.append(delayed(cog_bytes)(bands, block.transform, local_utm_crs(footprints.loc[site_id]), tags))
    with workers.backend():
        # encoded by the workers, written here into the run's staging folder
        rasters = run_jobs(jobs, "grade rasters", unit="raster")
    # rasters/ holds the rasters of one run: those of sites no longer modelled are removed
    with staging(context, publishing, output_release(context, publishing), stale=["rasters/*"]) as folder:
        (folder / "rasters").mkdir(exist_ok=True)
        for name, content in zip(names, rasters):
            (folder / name).write_bytes(content)
    published = publishing.folders.out_path / "rasters"
    context.log.info("Wrote %d block-grade rasters for %s", len(names), published)
    return dg.MaterializeResult(metadata={"rasters": len(names), "folder": dg.MetadataValue.path(str(published))})
