"""Monte Carlo propagation: exact answers when inputs are certain, reproducibility by seed."""

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

from residua.geodata.schema import ELEMENTS
from tests.models.simulation_helpers import simulate_draws, simulate_resources

PRICES = pd.DataFrame({"element": list(ELEMENTS), "price_mid_usd_per_kg": [500.0, 80.0, 30000.0, 40000.0, 150000.0]})


def _inputs(tonnes_log_sd: float, grade_log_sd: float, recovery=(0.5, 0.5, 0.5)):
    tonnage = pd.DataFrame(
        {"site_id": ["prism"], "residue_type": ["bauxite_residue"], "tonnes_p50": [1_000_000.0],
         "tonnes_log_sd": [tonnes_log_sd]}
    )  # fmt: skip
    grades = pd.DataFrame(
        {"site_id": "prism", "element": list(ELEMENTS), "log_mean": np.log([60.0, 1.0, 0.5, 0.2, 0.05]),
         "log_sd": grade_log_sd, "sigma_w": 0.0}
    )  # fmt: skip
    low, mode, high = recovery
    recovery_table = pd.DataFrame(
        {"residue_type": "bauxite_residue", "element": list(ELEMENTS), "recovery_low": low, "recovery_mode": mode,
         "recovery_high": high}
    )  # fmt: skip
    return tonnage, grades, recovery_table


def test_certain_inputs_give_exact_metal_and_no_spread():
    # 1 Mt at 60 g/t Ga holds 60 t Ga; half of it is recoverable.
    out = simulate_resources(*_inputs(0.0, 0.0), PRICES, n_draws=500, seed=1).iloc[0]
    npt.assert_allclose(out["ga_contained_t_p50"], 60.0, rtol=1e-9)
    npt.assert_allclose(out["ga_recoverable_t_p50"], 30.0, rtol=1e-9)
    assert out["ga_recoverable_t_p10"] == pytest.approx(out["ga_recoverable_t_p90"])
    npt.assert_allclose(out["pgm_contained_t_p50"], (0.5 + 0.2 + 0.05), rtol=1e-9)
    npt.assert_allclose(out["pgm_grade_gt_p50"], 0.75, rtol=1e-9)
    expected_value = sum(
        rec * 1000 * price for rec, price in zip([30.0, 0.5, 0.25, 0.1, 0.025], PRICES["price_mid_usd_per_kg"])
    )
    npt.assert_allclose(out["value_usd_p50"], expected_value, rtol=1e-9)


def test_within_site_spread_raises_the_mean_grade_by_the_lognormal_correction():
    tonnage, grades, recovery = _inputs(0.0, 0.0)
    grades["sigma_w"] = 0.5
    out = simulate_resources(tonnage, grades, recovery, PRICES, n_draws=10, seed=1).iloc[0]
    npt.assert_allclose(out["ga_grade_gt_p50"], 60.0 * np.exp(0.5**2 / 2), rtol=1e-9)


def test_uncertain_inputs_widen_the_interval_and_are_reproducible_by_seed():
    inputs = _inputs(0.2, 0.3, recovery=(0.3, 0.5, 0.7))
    first = simulate_resources(*inputs, PRICES, n_draws=2000, seed=42)
    again = simulate_resources(*inputs, PRICES, n_draws=2000, seed=42)
    other = simulate_resources(*inputs, PRICES, n_draws=2000, seed=43)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    row = first.iloc[0]
    assert row["ga_recoverable_t_p10"] < row["ga_recoverable_t_p50"] < row["ga_recoverable_t_p90"]
    # the PGM total is summed per draw, so its P90 is below the sum of the elements' P90s
    assert row["pgm_recoverable_t_p90"] < sum(row[f"{e}_recoverable_t_p90"] for e in ("pt", "pd", "rh"))


def test_cutoff_removes_metal_below_it_from_recoverable_only():
    tonnage, grades, recovery = _inputs(0.0, 0.0)
    below = simulate_resources(tonnage, grades, recovery, PRICES, {"ga": 100.0}, n_draws=50, seed=1).iloc[0]
    above = simulate_resources(tonnage, grades, recovery, PRICES, {"ga": 10.0}, n_draws=50, seed=1).iloc[0]
    assert below["ga_recoverable_t_p50"] == 0.0 and below["ga_contained_t_p50"] == pytest.approx(60.0)
    assert above["ga_recoverable_t_p50"] == pytest.approx(30.0)


def test_cutoff_on_a_lognormal_deposit_keeps_the_partial_expectation():
    tonnage, grades, recovery = _inputs(0.0, 0.0)
    grades["sigma_w"] = 1.0
    grades.loc[grades["element"] == "ga", "log_mean"] = 0.0  # median grade 1 g/t
    out = simulate_resources(tonnage, grades, recovery, PRICES, {"ga": 1.0}, n_draws=10, seed=1).iloc[0]
    contained = 1e6 * np.exp(0.5) / 1e6
    npt.assert_allclose(out["ga_contained_t_p50"], contained, rtol=1e-9)
    npt.assert_allclose(out["ga_recoverable_t_p50"], contained * 0.5 * 0.8413447460685429, rtol=1e-6)


def _many_sites(n: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    tonnage, grades, recovery = _inputs(0.3, 0.4, recovery=(0.2, 0.5, 0.8))
    ids = [f"s{i}" for i in range(n)]
    tonnage = pd.concat([tonnage.assign(site_id=site_id) for site_id in ids], ignore_index=True)
    grades = pd.concat([grades.assign(site_id=site_id) for site_id in ids], ignore_index=True)
    return tonnage, grades, recovery


def test_results_do_not_depend_on_the_number_of_workers(monkeypatch):
    import joblib

    from residua.models import simulation

    monkeypatch.setattr(simulation, "SITES_PER_CHUNK", 3)  # 10 sites -> 4 chunks
    tonnage, grades, recovery = _many_sites(10)
    one = simulate_resources(tonnage, grades, recovery, PRICES, n_draws=200, seed=5)
    with joblib.parallel_config(backend="loky", n_jobs=2):
        two = simulate_resources(tonnage, grades, recovery, PRICES, n_draws=200, seed=5)
    pd.testing.assert_frame_equal(one, two)
    drawn = simulate_draws(tonnage, grades, recovery, PRICES, n_draws=200, seed=5)
    npt.assert_array_equal(np.percentile(drawn.value, 90, axis=1), one["value_usd_p90"])
    assert one["ga_contained_t_p50"].nunique() == 10  # each chunk and site draws its own tonnes and grades


def test_recovery_is_shared_by_sites_of_one_residue_type():
    tonnage, grades, recovery = _many_sites(4)
    tonnage = tonnage.assign(tonnes_log_sd=0.0)
    grades = grades.assign(log_sd=0.0)
    draws = simulate_draws(tonnage, grades, recovery, PRICES, n_draws=300, seed=2)
    # Tonnes and grades are certain, so the only spread is recovery: identical across the sites.
    npt.assert_array_equal(draws.recoverable["ga"][0], draws.recoverable["ga"][3])
    total = draws.recoverable["ga"].sum(axis=0)
    single = draws.recoverable["ga"][0]
    assert np.percentile(total, 90) / np.percentile(total, 10) == pytest.approx(
        np.percentile(single, 90) / np.percentile(single, 10)
    )


def test_correlated_elements_widen_the_pgm_total_to_the_sum_of_its_parts():
    """Pt, Pd and Rh rich together: perfectly correlated site grades make the PGM total's interval the parts' sum."""
    tonnage, grades, recovery = _inputs(0.0, 0.4)
    independent = simulate_resources(tonnage, grades, recovery, PRICES, n_draws=4000, seed=3).iloc[0]
    correlation = pd.DataFrame(np.eye(len(ELEMENTS)), index=list(ELEMENTS), columns=list(ELEMENTS))
    correlation.loc[["pt", "pd", "rh"], ["pt", "pd", "rh"]] = 1.0
    together = simulate_resources(tonnage, grades, recovery, PRICES, n_draws=4000, seed=3,
                                  element_correlation=correlation).iloc[0]  # fmt: skip

    def width(row, metal):
        return row[f"{metal}_contained_t_p90"] - row[f"{metal}_contained_t_p10"]

    parts = sum(width(together, element) for element in ("pt", "pd", "rh"))
    assert width(together, "pgm") == pytest.approx(parts, rel=0.02)  # comonotone: quantiles add up
    assert width(independent, "pgm") < 0.8 * parts  # independent errors partly cancel
    assert together["ga_contained_t_p50"] == pytest.approx(independent["ga_contained_t_p50"], rel=0.05)
