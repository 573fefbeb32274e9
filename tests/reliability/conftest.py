"""Start the full-job runs early and run their tests last: the other tests use the time they take."""

from __future__ import annotations

import pytest

from tests.reliability.runs import FullRuns

FULL_RUN_MODULE = "test_full_runs.py"


def _is_full_run_test(item: pytest.Item) -> bool:
    return item.path.name == FULL_RUN_MODULE and isinstance(item, pytest.Function)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    here = [item for item in items if _is_full_run_test(item)]
    items[:] = [item for item in items if not _is_full_run_test(item)] + here


@pytest.fixture(scope="session")
def full_runs(tmp_path_factory):
    """The seven background runs (see tests/reliability/runs.py), started on first use."""
    runs = FullRuns(tmp_path_factory.mktemp("full_runs")).start()
    yield runs
    runs.stop()


@pytest.fixture(scope="session", autouse=True)
def _start_full_runs_early(request):
    """If any full-run test is selected, start the runs before the first test of this folder."""
    if any(_is_full_run_test(item) for item in request.session.items):
        request.getfixturevalue("full_runs")
