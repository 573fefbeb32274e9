"""Validation tables: baselines scored at a sample of sites are compared on those sites only."""

from pathlib import Path

import pandas as pd
import pytest

import residua.models.grade_workflow as grade_workflow
from residua.geodata.readers import read_samples, read_sites
from residua.geodata.reference_tables import load_reference_tables
from residua.geodata.validate import validate_samples, validate_sites
from residua.models.report import ALL_SITES, BASELINES, validation_tables, within_site_predictions
from tests.drops import write_prism_drop


def _fit_ga(drop: Path):
    sites = validate_sites(read_sites(drop / "sites.gpkg"), drop / "sites.gpkg", drop).accepted
    samples = validate_samples(read_samples(drop / "samples.csv"), drop / "samples.csv", sites).accepted
    thickness = pd.Series({"P1": 10.0, "P2": 4.0, "P3": 6.0})
    priors = load_reference_tables().grade_priors
    return grade_workflow.fit_element("ga", samples, sites, thickness, priors, n_draws=60, seed=3)


@pytest.fixture(scope="module")
def drop(tmp_path_factory) -> Path:
    return write_prism_drop(tmp_path_factory.mktemp("prism") / "drop")


def test_every_site_scores_the_baselines_up_to_the_limit(drop):
    fit = _fit_ga(drop)
    assert len(fit.blocks) >= 2
    assert all(set(BASELINES) <= set(block.cv["method"]) for block in fit.blocks.values())
    _, within = validation_tables({"ga": fit})
    assert ALL_SITES not in set(within["method"])
    assert set(within["sites"]) == {len(fit.blocks)}


def test_beyond_the_limit_methods_are_compared_on_the_same_sites(drop, monkeypatch):
    monkeypatch.setattr(grade_workflow, "BASELINE_SITES", 1)
    fit = _fit_ga(drop)
    with_baselines = [site for site, block in fit.blocks.items() if "idw" in set(block.cv["method"])]
    assert len(with_baselines) == 1
    without = [block for site, block in fit.blocks.items() if site not in with_baselines]
    candidates = {"shrunk_mean", "log_gp", "normal_score_gp"}
    assert without and all({"shrunk_mean", "log_gp"} <= set(block.cv["method"]) <= candidates for block in without)

    predictions = within_site_predictions({"ga": fit})
    assert set(predictions.loc[predictions["baseline_sites"], "site_id"]) == set(with_baselines)
    _, within = validation_tables({"ga": fit}, predictions)
    rows = within.set_index("method")
    compared = rows.drop(index=ALL_SITES)
    assert set(compared["sites"]) == {1}
    assert compared.loc["residua", "n"] == compared.loc["type_mean", "n"]
    assert rows.loc[ALL_SITES, "sites"] == len(fit.blocks)
    assert rows.loc[ALL_SITES, "n"] == (predictions["method"] == "residua").sum()
