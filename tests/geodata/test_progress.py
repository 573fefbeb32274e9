"""Progress bars for per-site work: drawn on request or on a terminal, silent otherwise, results unchanged."""

import pytest
from joblib import delayed, parallel_config

from residua.geodata.progress import progress_wanted, run_jobs


def _jobs():
    return [delayed(divmod)(n * 7, 3) for n in range(5)]


def test_a_bar_reports_done_over_total_and_keeps_the_results_in_order(capsys):
    with parallel_config(backend="loky", n_jobs=2):
        shown = run_jobs(_jobs(), "block models ga", show=True)
        silent = run_jobs(_jobs(), "block models ga", show=False)
    assert shown == silent == [divmod(n * 7, 3) for n in range(5)]
    err = capsys.readouterr().err
    assert "block models ga" in err and "5/5" in err and "site/s" in err


def test_nothing_is_printed_when_standard_error_is_not_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv("RESIDUA_PROGRESS", raising=False)
    assert not progress_wanted()  # pytest captures stderr: not a terminal
    assert run_jobs(_jobs(), "simulation") == [divmod(n * 7, 3) for n in range(5)]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("setting", "wanted"), [("1", True), ("0", False), ("", False)])
def test_residua_progress_overrides_the_terminal_test(monkeypatch, setting, wanted):
    monkeypatch.setenv("RESIDUA_PROGRESS", setting)
    assert progress_wanted() is wanted


def test_no_jobs_draw_no_bar(capsys):
    assert run_jobs([], "grade rasters", show=True) == []
    assert capsys.readouterr().err == ""
