"""Shared test setup: tests write only to tmp_path, never to the checkout's Dagster home."""

import pytest


@pytest.fixture(autouse=True)
def _ephemeral_dagster_instance(monkeypatch):
    """The CLI uses DAGSTER_HOME when set; tests use an ephemeral instance instead."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
