"""A failing blocking check stops publication and leaves the previous inventory in place."""

import dagster as dg
import pandas as pd

from residua.assets.settings import run_settings
from residua.pipelines.definitions import build_definitions
from tests.drops import write_prism_drop


def _run(drop, out):
    job = build_definitions(run_settings(data_dir=str(drop), out_dir=str(out), n_draws=100, formats=["gpkg", "csv"])
                            ).resolve_job_def("refresh_job")  # fmt: skip
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def test_unit_error_blocks_publication_and_keeps_the_last_good_inventory(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    out = tmp_path / "out"
    assert _run(drop, out).success
    before = (out / "inventory.gpkg").read_bytes()

    samples = pd.read_csv(drop / "samples.csv", dtype=str)
    samples["ga_ppm"] = (samples["ga_ppm"].astype(float) * 1e4).map(str)  # ppb typed into a ppm column, x1000 more
    samples.to_csv(drop / "samples.csv", index=False)
    result = _run(drop, out)

    checks = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
    assert checks["samples_units_plausible"] is False
    published = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert "inventory" not in published and "grade_models" not in published
    assert (out / "inventory.gpkg").read_bytes() == before
