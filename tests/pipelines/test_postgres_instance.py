"""Dagster's instance storage on a real PostgreSQL server (dagster-postgres), as dagster.yaml documents."""

import os

import dagster as dg
import psycopg
import pytest

from residua.assets.settings import run_settings
from residua.pipelines.definitions import build_definitions
from tests.drops import write_prism_drop


def _dagster_database_url() -> str:
    """The test server's residua_dagster database (created by scripts/start-postgres.sh)."""
    url = os.environ.get("RESIDUA_TEST_POSTGIS_URL")
    if not url:
        message = "RESIDUA_TEST_POSTGIS_URL is not set: run `make test`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI must run the Postgres instance test)")
        pytest.skip(message)
    return url.rsplit("/", 1)[0] + "/residua_dagster"


def test_run_is_recorded_in_postgres_storage(tmp_path):
    url = _dagster_database_url()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_url:\n      env: RESIDUA_DAGSTER_PG_URL\n"
        f"local_artifact_storage:\n  module: dagster._core.storage.root\n  class: LocalArtifactStorage\n"
        f"  config:\n    base_dir: {home}\ntelemetry:\n  enabled: false\n"
    )
    # dagster-postgres drives psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3
    os.environ["RESIDUA_DAGSTER_PG_URL"] = url.replace("postgresql://", "postgresql+psycopg2://")
    try:
        drop = write_prism_drop(tmp_path / "drop")
        settings = run_settings(data_dir=str(drop), out_dir=str(tmp_path / "out"), n_draws=100, formats=["gpkg"])
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = build_definitions(settings).resolve_job_def("refresh_job").execute_in_process(instance=instance)
            assert result.success
            stored = instance.get_run_by_id(result.run_id)
            assert stored is not None and stored.is_success
            event = instance.get_latest_materialization_event(dg.AssetKey("inventory"))
            assert event is not None and event.run_id == result.run_id
    finally:
        os.environ.pop("RESIDUA_DAGSTER_PG_URL", None)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        count = connection.execute("select count(*) from runs where run_id = %s", (result.run_id,)).fetchone()[0]
    assert count == 1
