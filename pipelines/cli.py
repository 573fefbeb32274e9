"""The ``residua`` command: run the inventory job, validate a data drop, serve the review map, list models."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
import pydantic
import rasterio

from residua.geodata.assays import negative_limit_note
from residua.geodata.datadrop import DataDrop, open_data_drop
from residua.geodata.drillholes import unused_survey_rows
from residua.geodata.drop_files import describe_files, not_read
from residua.geodata.errors import DataDropError
from residua.geodata.readers import CSV_DIALECT, read_samples, read_sites
from residua.geodata.reference_tables import load_reference_tables
from residua.geodata.schema import ELEMENTS, unread_assay_columns
from residua.geodata.validate import ValidationResult
from residua.geodata.volumes import MIN_DEM_COVERAGE
from residua.geodata.zonal import find_covariates
from residua.models.simulation import N_DRAWS, SEED
from residua.pipelines import cli_features, cli_releases, cli_serve

#: ``residua run`` options (argparse names) -> the settings they set.
RUN_OPTIONS: dict[str, str] = {"draws": "n_draws", "seed": "seed", "min_dem_coverage": "min_dem_coverage",
                               "block_size": "block_size_m"}  # fmt: skip
SUMMARY_COLUMNS: dict[str, str] = {
    "rank": "rank",
    "site_id": "site",
    "residue_type": "residue type",
    "ga_recoverable_t_p50": "Ga t (P50)",
    "te_recoverable_t_p50": "Te t (P50)",
    "pgm_recoverable_t_p50": "PGM t (P50)",
    "confidence": "confidence",
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``residua`` console script; returns the exit status."""
    parser = argparse.ArgumentParser(prog="residua", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="estimate and rank every site of a data drop, and publish the inventory")
    run.add_argument("--data", type=Path, default=Path("geodata/demo"), help="data drop folder (default: the demo)")
    run.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: ./out)")
    run.add_argument("--draws", type=int, help=f"Monte Carlo draws per site (default {N_DRAWS})")
    run.add_argument("--seed", type=int, help=f"random seed (default {SEED})")
    run.add_argument("--min-dem-coverage", type=float,
                     help=f"share of a footprint DEMs must cover (default {MIN_DEM_COVERAGE})")  # fmt: skip
    run.add_argument(
        "--block-size",
        type=float,
        metavar="M",
        help="block edge (m) of grade models and rasters; default: half the median distance between nearest holes",
    )
    validate = commands.add_parser("validate", help="check a data drop without running the models")
    validate.add_argument("--data", type=Path, required=True, help="data drop folder")
    review = commands.add_parser("review", help="serve report.html on 127.0.0.1 and record reviewers' decisions")
    review.add_argument("--out", type=Path, default=Path("out"), help="output folder of a run (default: ./out)")
    review.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0 picks a free one)")
    review.add_argument(
        "--reviews",
        type=Path,
        default=None,
        help="reviews CSV to append to (default: reviews.csv in the run's data dir)",
    )
    status = commands.add_parser("status", help="what was last published, when, from which inputs, which checks passed")
    status.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: ./out)")
    models = commands.add_parser("models", help="list the fitted models in the project's model store, with their cards")
    models.add_argument(
        "--store",
        type=Path,
        default=None,
        help="model store folder (default: 'models' in the Dagster instance folder, which needs DAGSTER_HOME)",
    )
    models.add_argument("--element", default=None, help="only this element, e.g. ga")
    cli_releases.add_commands(commands)
    cli_serve.add_commands(commands)
    cli_features.add_commands(commands)
    args = parser.parse_args(argv)
    if (status := cli_releases.run(args)) is not None:
        return status
    if (status := cli_serve.run(args)) is not None:
        return status
    if (status := cli_features.run(args)) is not None:
        return status
    if args.command == "models":
        return models_command(args.store, args.element)
    if args.command == "status":
        return status_command(args.out)
    if args.command == "validate":
        return validate_command(args.data)
    if args.command == "review":
        from residua.pipelines.review_server import serve

        return serve(args.out, args.port, args.reviews)
    return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    """Materialize every asset in-process and print the ten top-ranked sites."""
    import dagster as dg

    from residua.pipelines.definitions import build_definitions, default_settings

    try:  # whole-file problems stop here with one clear message, before any Dagster output
        drop = open_data_drop(args.data)
        load_reference_tables(drop.root)
        sites = read_sites(drop.sites_path)
        samples = read_samples(drop.samples_path) if drop.samples_path is not None else None
    except DataDropError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    given = {setting: getattr(args, option) for option, setting in RUN_OPTIONS.items()}
    try:
        settings = default_settings(
            data_dir=str(drop.root),
            out_dir=str(args.out.resolve()),
            **{name: value for name, value in given.items() if value is not None},
        )
    except pydantic.ValidationError as error:
        options = {setting: "--" + option.replace("_", "-") for option, setting in RUN_OPTIONS.items()}
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else ""
            print(f"error: {options.get(field, field)} {problem['input']!r}: {problem['msg']}", file=sys.stderr)
        return 1
    banner = " [SYNTHETIC DATA]" if drop.synthetic else ""
    print(f"Residua: estimating {drop.title}{banner}\n  data: {drop.root}\n  out:  {settings.out_path}", flush=True)
    print_drop_notes(drop, sites, samples)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    job = build_definitions(settings).resolve_job_def("refresh_job")
    result = job.execute_in_process(
        instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        raise_on_error=False,
    )
    if not result.success:
        print(f"error: the run failed; nothing new was published.\n{_failure_message(result)}", file=sys.stderr)
        return 1
    _print_summary(settings.out_path, drop.synthetic)
    return 0


def print_drop_notes(drop: DataDrop, sites: pd.DataFrame, samples: pd.DataFrame | None) -> None:
    """Print what in the drop is not read: files, survey rows of holes without a collar, assay columns."""
    for row in not_read(describe_files(drop, _dem_paths(sites))).itertuples(index=False):
        print(f"  not read: {row.file} ({row.read_as.removeprefix('NOT READ: ')})")
    if drop.collars_path is not None and drop.surveys_path is not None:
        for note in unused_survey_rows(drop.collars_path, drop.surveys_path):
            print(f"  not used: {note}")
    unread_columns = unread_assay_columns(list(samples.columns)) if samples is not None else []
    if unread_columns:
        print(f"  not read: {drop.samples_path.name} {_unread_columns_message(unread_columns)}")
    if samples is not None and (note := negative_limit_note(samples, drop.samples_path.name)):
        print(f"  note: {note}")


def status_command(out_dir: Path) -> int:
    """Print the last published inventory's provenance and its latest data-quality checks."""
    import dagster as dg
    import pyogrio

    inventory = out_dir / "inventory.gpkg"
    if not inventory.is_file():
        print(f"Nothing published in {out_dir.resolve()} yet: run `residua run --out {out_dir}`.")
        return 1
    table = pyogrio.read_dataframe(inventory, layer="run_metadata", read_geometry=False)
    meta = dict(zip(table["key"], table["value"]))
    inputs = {key.removeprefix("input:"): value for key, value in meta.items() if key.startswith("input:")}
    ranked = pyogrio.read_info(inventory, layer="sites_ranked")["features"]
    print(f"Published: {inventory.resolve()}")
    print(f"  title:     {meta.get('title', '?')}{' [SYNTHETIC DATA]' if meta.get('synthetic') == 'True' else ''}")
    print(f"  when:      {meta.get('run_time_utc', '?')} (run {meta.get('run_id', '?')})")
    print(f"  code:      {meta.get('code_version', '?')}")
    print(f"  data:      {meta.get('data_dir', '?')} ({len(inputs)} input files hashed)")
    print(f"  sites:     {ranked} ranked")
    for name, digest in sorted(inputs.items())[:12]:
        print(f"    {digest[:12]}  {name}")
    if len(inputs) > 12:
        print(f"    ... and {len(inputs) - 12} more (all in run_metadata)")
    for line in cli_releases.release_status_lines(out_dir):
        print(line)
    if not os.environ.get("DAGSTER_HOME"):
        print("Checks: set DAGSTER_HOME (the Makefile does) to read them from the Dagster instance.")
        return 0
    instance = dg.DagsterInstance.get()
    from residua.pipelines.definitions import defs

    print("Latest data-quality checks:")
    for key in sorted(
        defs.resolve_asset_graph().asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name)
    ):
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(key)
        evaluation = record.event.asset_check_evaluation if record and record.event else None
        state = (
            "not run"
            if evaluation is None
            else ("passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})")
        )
        print(f"  {key.asset_key.to_user_string()}.{key.name}: {state}")
    return 0


def models_command(store_dir: Path | None, element: str | None = None) -> int:
    """Print every stored model's card summary and whether its artifact still matches the card."""
    from residua.models.model_store import ModelStore, ModelStoreError

    if store_dir is None:
        if not os.environ.get("DAGSTER_HOME"):
            print("No model store: runs without DAGSTER_HOME keep their models in a temporary Dagster instance. "
                  "Set DAGSTER_HOME (the Makefile does) or pass --store.")  # fmt: skip
            return 1
        import dagster as dg

        from residua.assets.resources import ModelStoreResource

        store_dir = ModelStoreResource().root(dg.DagsterInstance.get())
    store = ModelStore(store_dir)
    cards = store.cards(element.lower() if element else None)
    if not cards:
        print(f"No models in {store.root} yet: `residua run` (with DAGSTER_HOME set) fits and saves them.")
        return 1
    rows, refused = [], 0
    for card in cards:
        try:
            store.verify(card["model_id"])
            state = "ok"
        except ModelStoreError as error:
            state, refused = f"REFUSED: {error}", refused + 1
        rows.append({"model": card["model_id"], "created (UTC)": str(card.get("created_utc", ""))[:19],
                     "site model": card.get("model_form", {}).get("site_model", "?"),
                     "rows": card.get("training_data", {}).get("rows", "?"),
                     "training sha256": str(card.get("training_data", {}).get("sha256", ""))[:12],
                     "within-site RMSE": _rmse_against_baselines(card), "artifact": state})  # fmt: skip
    print(f"Model store: {store.root} (cards: <element>/<model>/card.json)")
    print(pd.DataFrame(rows).to_string(index=False))
    return 1 if refused else 0


def _rmse_against_baselines(card: dict) -> str:
    """Residua's within-site RMSE and the best baseline's, from a card's metrics."""
    from residua.models.report import BASELINES

    rmse = {row.get("method"): row.get("rmse") for row in card.get("metrics", {}).get("within_site", [])}
    own = rmse.pop("residua", None)
    baselines = {method: value for method, value in rmse.items() if method in BASELINES and value is not None}
    if own is None:
        return "no block models"
    best = min(baselines, key=baselines.get) if baselines else None
    return f"{own:.3f}" + (f" ({best} {baselines[best]:.3f})" if best else "")


def validate_command(data: Path) -> int:
    """Run the ingest assets and their checks (``validate_job``) and print accepted / quarantined rows per file with
    reasons, what each file is read as, the covariates and the checks; 1 if the drop or a file is unusable."""
    try:  # whole-file problems of the drop itself stop here (a run would stop on them too)
        drop = open_data_drop(data)
        raw_sites = read_sites(drop.sites_path)
    except DataDropError as error:
        print(f"UNUSABLE  {error}")
        return 1
    outputs, failures, evaluations = _run_validation(drop)
    stopping = [f"{e.asset_key.to_user_string()}.{e.check_name}" for e in evaluations
                if not e.passed and e.blocking and e.severity == dg_severity_error()]  # fmt: skip
    unusable = bool(failures or stopping)
    for message in failures.values():
        print(f"UNUSABLE  {message}")
    for name in _skipped(outputs, failures, drop):
        print(f"NOT CHECKED  {name}: a step it needs failed or a blocking check stopped it"
              + (f" ({', '.join(stopping)})" if stopping else ""))  # fmt: skip
    if "sites" not in outputs:
        return 1
    sites: ValidationResult = outputs["sites"]
    rows, quarantined = [_validation_row(drop.sites_path.name, sites)], [sites.quarantine]
    if "site_volumes" in outputs:
        volumes = outputs["site_volumes"]
        rows.append({"file": "rasters (DEM pairs)", "rows": len(volumes.measurements) + len(volumes.quarantine),
                     "accepted": len(volumes.measurements), "quarantined": len(volumes.quarantine)})  # fmt: skip
        quarantined.append(volumes.quarantine)
    dialects = {drop.sites_path: raw_sites.attrs.get(CSV_DIALECT)}
    unread_columns: list[str] = []
    negative_note = None
    if drop.samples_path is not None and "samples" in outputs:
        raw_samples = read_samples(drop.samples_path)
        dialects[drop.samples_path] = raw_samples.attrs.get(CSV_DIALECT)
        unread_columns = unread_assay_columns(list(raw_samples.columns))
        negative_note = negative_limit_note(raw_samples, drop.samples_path.name)
        rows.append(_validation_row(drop.samples_path.name, outputs["samples"]))
        quarantined.append(outputs["samples"].quarantine)
    try:
        covariates = _covariate_rows(drop.root)
    except DataDropError as error:
        print(f"UNUSABLE  {error}")
        covariates, unusable = [], True
    print(f"Data drop {drop.root}{' [SYNTHETIC]' if drop.synthetic else ''}")
    print(pd.DataFrame(rows).to_string(index=False))
    files = describe_files(drop, _dem_paths(sites.accepted), dialects)
    print(f"\nFiles in the drop ({len(files)}), by what Residua reads them as:")
    for role, count in files.loc[~files.index.isin(not_read(files).index), "read_as"].value_counts().items():
        print(f"  {count:5d}  {role}")
    for row in not_read(files).itertuples(index=False):
        print(f"  {row.file}: {row.read_as}")
    if unread_columns:
        print(f"  {drop.samples_path.name}: {_unread_columns_message(unread_columns)}")
    if negative_note:
        print(f"  {negative_note}")
    if covariates:
        print("\nCovariate rasters (each becomes cov_<name>_mean/_std/_p10/_p90/_coverage per site):")
        print(pd.DataFrame(covariates).to_string(index=False))
    reasons = pd.concat(quarantined, ignore_index=True)
    if len(reasons):
        print("\nQuarantined rows (file, line or feature number, id: reason):")
        for row in reasons.itertuples(index=False):
            print(f"  {row.source} {_locator(row.source)} {row.source_row}, {row.record_id or '(no id)'}: {row.reason}")
    if evaluations:
        print("\nChecks (the run's own asset checks on these inputs; a failed ERROR check would stop a run):")
        for evaluation in evaluations:
            print(f"  {_check_line(evaluation)}")
    if len(sites.accepted) == 0:
        print("UNUSABLE  no site was accepted")
        unusable = True
    return 1 if unusable else 0


def dg_severity_error() -> object:
    """Dagster's ERROR check severity (imported late: the CLI starts without Dagster)."""
    import dagster as dg

    return dg.AssetCheckSeverity.ERROR


def _skipped(outputs: dict[str, object], failures: dict[str, str], drop: DataDrop) -> list[str]:
    """The inputs ``validate_job`` did not get to check (their asset neither succeeded nor failed)."""
    from residua.pipelines.definitions import VALIDATION_ASSETS

    names = {"reference_tables": "reference tables", "sites": drop.sites_path.name, "site_volumes": "DEM pairs",
             "samples": drop.samples_path.name if drop.samples_path is not None else "samples"}  # fmt: skip
    return [names[name] for name in VALIDATION_ASSETS if name not in outputs and name not in failures]


def _run_validation(drop: DataDrop) -> tuple[dict[str, object], dict[str, str], list[object]]:
    """Run ``validate_job`` in a throw-away Dagster instance: the outputs of the steps that succeeded, per failed
    step its message (a DataDropError's own text: file, row and fix; failed checks are reported as checks) and the
    asset check evaluations."""
    import tempfile

    import dagster as dg

    from residua.pipelines.definitions import VALIDATION_ASSETS, build_definitions, default_settings

    job = build_definitions(default_settings(data_dir=str(drop.root))).resolve_job_def("validate_job")
    with tempfile.TemporaryDirectory(prefix="residua-validate-") as home:
        result = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(tempdir=home), raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )  # fmt: skip
        done = {event.step_key for event in result.get_step_success_events()}
        outputs = {name: result.output_for_node(name) for name in VALIDATION_ASSETS if name in done}
    failures = {event.step_key: _step_error(event) for event in result.all_events
                if event.is_step_failure and not _is_check_failure(event)}  # fmt: skip
    return outputs, failures, result.get_asset_check_evaluations()


def _is_check_failure(event: object) -> bool:
    """A step that failed because a blocking asset check failed (the check's own line reports it)."""
    error = event.step_failure_data.error  # type: ignore[attr-defined]
    while error is not None:
        if error.cls_name == "DagsterAssetCheckFailedError":
            return True
        error = error.cause
    return False


def _step_error(event: object) -> str:
    """A failed step's error: a DataDropError's own message (file, row, fix), else the step and the exception."""
    error = _user_error(event.step_failure_data.error)  # type: ignore[attr-defined]
    if error is None:
        return f"step {event.step_key} failed"  # type: ignore[attr-defined]
    kind, _, text = error.message.strip().partition(": ")
    if error.cls_name in _drop_error_names():
        return text
    return f"step {event.step_key}: {error.cls_name}: {text or kind} (unexpected: please report it)"  # type: ignore[attr-defined]


def _user_error(error: object) -> object:
    """In a Dagster error chain, the first DataDropError (it names file, row and fix), else the innermost error."""
    while error is not None and error.cls_name not in _drop_error_names() and error.cause is not None:  # type: ignore[attr-defined]
        error = error.cause  # type: ignore[attr-defined]
    return error


def _drop_error_names() -> set[str]:
    """Class names of DataDropError and its subclasses (e.g. ReferenceTableError), as Dagster's error chain has them."""
    names, pending = set(), [DataDropError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


def _check_line(evaluation: object) -> str:
    """``asset.check: passed``, or ``FAILED (severity)`` with the check's description or metadata (shortened)."""
    name = f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}"  # type: ignore[attr-defined]
    if evaluation.passed:  # type: ignore[attr-defined]
        return f"{name}: passed"
    detail = evaluation.description or ", ".join(  # type: ignore[attr-defined]
        f"{key} {getattr(value, 'value', value)}"
        for key, value in evaluation.metadata.items()  # type: ignore[attr-defined]
    )
    detail = detail if len(detail) <= 300 else detail[:297] + "..."
    return f"{name}: FAILED ({evaluation.severity.value})" + (f": {detail}" if detail else "")  # type: ignore[attr-defined]


def _unread_columns_message(columns: list[str]) -> str:
    """What to do about assay-like columns Residua does not read."""
    return (f"assay-like columns {', '.join(repr(c) for c in columns)} are NOT READ: Residua estimates "
            f"{', '.join(e.capitalize() for e in ELEMENTS)} from columns such as ga_ppm, 'Te (ppm)' or Pt_ppb_FA; "
            "rename a column if it holds one of those")  # fmt: skip


def _dem_paths(sites: pd.DataFrame) -> list[str]:
    """The DEM paths the sites name (as written, relative to the drop)."""
    return [str(value) for column in ("surface_dem", "base_dem") if column in sites
            for value in sites[column] if isinstance(value, str) and value]  # fmt: skip


def _covariate_rows(root: Path) -> list[dict[str, object]]:
    """Name, file, CRS, pixel size and grid of each covariate raster the drop holds."""
    rows = []
    for name, path in find_covariates(root).items():
        with rasterio.open(path) as dataset:
            rows.append({"covariate": name, "file": path.relative_to(root).as_posix(), "crs": dataset.crs.to_string(),
                         "pixel": f"{abs(dataset.res[0]):g} x {abs(dataset.res[1]):g}",
                         "size": f"{dataset.width} x {dataset.height}"})  # fmt: skip
    return rows


def _locator(source: str) -> str:
    suffix = source.lower().rsplit(".", 1)[-1]
    return {"csv": "line", "xlsx": "row"}.get(suffix, "feature")


def _validation_row(name: str, result: ValidationResult) -> dict[str, object]:
    return {
        "file": name,
        "rows": result.rows_in,
        "accepted": len(result.accepted),
        "quarantined": len(result.quarantine),
    }


def _print_summary(out_dir: Path, synthetic: bool) -> None:
    ranked = pd.read_csv(out_dir / "sites_ranked.csv")
    top = ranked.nsmallest(10, "rank")[list(SUMMARY_COLUMNS)].rename(columns=SUMMARY_COLUMNS)
    title = "Top 10 sites by confidence-weighted P50 recoverable value"
    print(f"\n{title}{' (SYNTHETIC DATA)' if synthetic else ''}; tonnes of metal recoverable above cut-off:")
    print(top.to_string(index=False, float_format=_tonnes))
    print("\nScreening estimates, not a compliant resource statement.")
    print(f"Wrote {out_dir / 'inventory.gpkg'}\n      {out_dir / 'sites_ranked.csv'}")
    if (out_dir / "report.html").is_file():
        print(f"      {out_dir / 'report.html'}  (review map; `residua review --out {out_dir}` to record decisions)")


def _tonnes(value: float) -> str:
    """Metal tonnes for reading: three significant figures, '<0.001' for traces."""
    return "<0.001" if 0 <= value < 0.001 else f"{value:,.3g}"


def _failure_message(result: object) -> str:
    messages = []
    for event in result.all_events:  # type: ignore[attr-defined]
        if event.is_step_failure and event.step_failure_data is not None:
            error = _user_error(event.step_failure_data.error)
            messages.append(f"  step {event.step_key}: {error.message.strip() if error else 'unknown error'}")
    return "\n".join(messages) or "  see the Dagster run log above"


if __name__ == "__main__":
    sys.exit(main())
