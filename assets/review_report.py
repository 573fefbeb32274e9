"""The review map, report.html, built from the published inventory."""

import dagster as dg

from residua.assets.publish import output_release, staging
from residua.assets.resources import Postgis, Publishing, ReleaseHistory, RunFolders
from residua.geodata.datadrop import DataDrop
from residua.geodata.review_page import build_review_page
from residua.geodata.reviews import REVIEWS_FILE

REPORT_FILE = "report.html"


@dg.asset(group_name="publish", deps=["inventory", "grade_model_report", "reviews_file"])
def review_report(
    context: dg.AssetExecutionContext,
    folders: RunFolders,
    postgis: Postgis,
    release_history: ReleaseHistory,
    data_drop: dg.ResourceParam[DataDrop],
) -> dg.MaterializeResult:
    """Self-contained review map (report.html): sites, ranked table and per-site evidence, usable offline."""
    publishing = Publishing(folders, postgis, release_history)
    release = output_release(context, publishing)  # this run's inventory and grade report, staged or published
    gpkg = release.current("inventory.gpkg")
    if gpkg is None:
        with staging(context, publishing, release, stale=[REPORT_FILE]):
            pass  # removes a report of an earlier run, which would no longer match the published files
        context.log.warning(
            "No inventory.gpkg (gpkg is not among the formats %s): report.html not written", publishing.folders.formats
        )
        return dg.MaterializeResult(metadata={"skipped": "inventory.gpkg was not published"})
    page = build_review_page(gpkg, grade_report=release.current("grade_model_report.csv"),
                             reviews=data_drop.root / REVIEWS_FILE)  # fmt: skip
    with staging(context, publishing, release, stale=[REPORT_FILE]) as folder:
        (folder / REPORT_FILE).write_text(page, encoding="utf-8")
    report = publishing.folders.out_path / REPORT_FILE
    context.log.info("Wrote the review map to %s", report)
    return dg.MaterializeResult(metadata={"report": dg.MetadataValue.path(str(report)), "bytes": len(page.encode())})
