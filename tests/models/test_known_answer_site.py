"""Known answers: a flat prism site with certain inputs, grade-tonnage closed forms, narrowing intervals."""

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
from scipy.stats import norm

from residua.geodata.readers import read_sites
from residua.geodata.reference_tables import load_reference_tables
from residua.geodata.schema import ELEMENTS, RESIDUE_TYPES
from residua.geodata.validate import validate_sites
from residua.geodata.volumes import measure_site_volumes
from residua.models.estimates import MIN_CENTRE_USD
from residua.models.grade import HierarchicalLogGrade
from residua.models.grade_tonnage import grade_tonnage_curves, lognormal_grade_tonnage
from residua.models.tonnage import estimate_tonnage
from tests.drops import write_prism_drop
from tests.models.simulation_helpers import draws_of, estimates_of

DENSITY = 1.5  # t/m3, certain
RECOVERY = 0.4  # certain
GRADES_GT = {"ga": 60.0, "te": 2.0, "pt": 0.5, "pd": 0.2, "rh": 0.05}  # uniform within the site
CUTOFFS = {"ga": 30.0, "te": 1.0, "pt": 0.1, "pd": 0.1, "rh": 0.01}  # every grade above its cut-off
PRICES = pd.DataFrame({"element": list(ELEMENTS), "price_mid_usd_per_kg": [540.0, 74.5, 30865.0, 33115.0, 152716.0]})


def _certain_tables(reference) -> tuple[pd.DataFrame, pd.DataFrame]:
    density = pd.DataFrame({"residue_type": list(RESIDUE_TYPES), "density_low_t_m3": DENSITY,
                            "density_mode_t_m3": DENSITY, "density_high_t_m3": DENSITY})  # fmt: skip
    recovery = reference.recovery.assign(recovery_low=RECOVERY, recovery_mode=RECOVERY, recovery_high=RECOVERY)
    return density, recovery


def _grades(site_ids, log_sd: float = 0.0, sigma_w: float = 0.0) -> pd.DataFrame:
    rows = [(site, element, np.log(GRADES_GT[element]), log_sd, sigma_w, True, "hierarchical_site_mean")
            for site in site_ids for element in ELEMENTS]  # fmt: skip
    return pd.DataFrame(rows, columns=["site_id", "element", "log_mean", "log_sd", "sigma_w", "sampled", "method"])


@pytest.fixture(scope="module")
def prism_features(tmp_path_factory) -> pd.DataFrame:
    """Tonnage of the prism drop's sites from their DEMs, with a certain density and no DEM error."""
    root = write_prism_drop(tmp_path_factory.mktemp("prism"))
    sites = validate_sites(read_sites(root / "sites.gpkg"), root / "sites.gpkg", root).accepted
    volumes, rejected = measure_site_volumes(sites, root, "sites.gpkg")
    assert rejected.empty
    reference = load_reference_tables()
    density, _ = _certain_tables(reference)
    tonnage = estimate_tonnage(sites, volumes, density, reference.thickness_priors, dem_vertical_sd_m=0.0)
    return tonnage.merge(sites[["site_id", "residue_type"]], on="site_id").assign(n_holes=0)


def test_prism_site_contained_and_recoverable_metal_are_known_exactly(prism_features):
    reference = load_reference_tables()
    _, recovery = _certain_tables(reference)
    estimates = estimates_of(prism_features, _grades(prism_features["site_id"]), recovery, PRICES, CUTOFFS,
                                   n_draws=300, seed=4).set_index("site_id")  # fmt: skip
    p1 = estimates.loc["P1"]  # 300 m x 300 m x 10 m prism
    tonnes = 300 * 300 * 10.0 * DENSITY  # 1.35 Mt
    assert p1["volume_m3"] == pytest.approx(900_000.0, rel=0.01)
    assert p1["tonnes_p50"] == pytest.approx(tonnes, rel=0.01)
    assert p1["tonnes_log_sd"] == 0.0
    expected_value = 0.0
    for element, grade in GRADES_GT.items():
        contained = tonnes * grade / 1e6  # e.g. Ga: 1.35 Mt x 60 g/t = 81 t
        assert p1[f"{element}_contained_t_p50"] == pytest.approx(contained, rel=0.01)
        assert p1[f"{element}_recoverable_t_p50"] == pytest.approx(contained * RECOVERY, rel=0.01)
        for kind in ("contained", "recoverable"):
            assert p1[f"{element}_{kind}_t_p10"] == pytest.approx(p1[f"{element}_{kind}_t_p90"], rel=1e-12)
        expected_value += contained * RECOVERY * 1000 * PRICES.set_index("element").loc[element, "price_mid_usd_per_kg"]
    assert p1["ga_contained_t_p50"] == pytest.approx(81.0, rel=0.01)
    assert p1["ga_recoverable_t_p50"] == pytest.approx(32.4, rel=0.01)
    assert p1["pgm_recoverable_t_p50"] == pytest.approx(tonnes * 0.75 / 1e6 * RECOVERY, rel=0.01)
    assert p1["value_usd_p50"] == pytest.approx(expected_value, rel=0.01)
    assert p1["value_usd_p10"] == pytest.approx(p1["value_usd_p90"], rel=1e-12)
    assert p1["value_relative_width"] == pytest.approx(0.0, abs=1e-12)
    # the other prisms too: P2 is 200 m x 200 m x 4 m, P3 400 m x 400 m x 6 m
    assert estimates.loc["P2", "ga_contained_t_p50"] == pytest.approx(200 * 200 * 4 * DENSITY * 60 / 1e6, rel=0.01)
    assert estimates.loc["P3", "ga_contained_t_p50"] == pytest.approx(400 * 400 * 6 * DENSITY * 60 / 1e6, rel=0.01)


def test_cutoff_above_a_uniform_grade_leaves_nothing_recoverable(prism_features):
    _, recovery = _certain_tables(load_reference_tables())
    estimates = estimates_of(prism_features, _grades(prism_features["site_id"]), recovery, PRICES,
                                   {**CUTOFFS, "ga": 61.0}, n_draws=50, seed=4).set_index("site_id")  # fmt: skip
    assert estimates.loc["P1", "ga_recoverable_t_p50"] == 0.0
    assert estimates.loc["P1", "ga_contained_t_p50"] == pytest.approx(81.0, rel=0.01)


def test_a_site_worth_almost_nothing_has_an_infinite_relative_width():
    """Cut-offs far above a lognormal grade leave a P50 of ~1e-90 USD: no centre to divide by."""
    features = pd.DataFrame({"site_id": ["t"], "residue_type": ["bauxite_residue"], "tonnes_p50": [1e6],
                             "tonnes_log_sd": [0.1], "n_holes": [40], "volume_method": ["dem_difference"]})  # fmt: skip
    grades = pd.DataFrame({"site_id": "t", "element": list(ELEMENTS), "log_mean": 0.0, "log_sd": 0.05, "sigma_w": 0.3})
    _, recovery = _certain_tables(load_reference_tables())
    estimate = estimates_of(features, grades, recovery, PRICES, dict.fromkeys(ELEMENTS, 40.0), n_draws=500,
                                  seed=2).iloc[0]  # fmt: skip
    assert 0 < estimate["value_usd_p50"] < MIN_CENTRE_USD
    assert estimate["value_relative_width"] == np.inf
    assert estimate["confidence"] == "G3"  # sampled: G3 needs no width, G1/G2 need a finite one


def test_prism_grade_tonnage_curve_is_a_step_at_the_uniform_grade(prism_features):
    curves = grade_tonnage_curves(_grades(prism_features["site_id"]), prism_features, CUTOFFS,
                                  multiples=(0.0, 1.0, 2.0, 3.0))  # fmt: skip
    ga = curves[(curves["site_id"] == "P1") & (curves["element"] == "ga")].set_index("cutoff_gt")
    assert ga.index.tolist() == [0.0, 30.0, 60.0, 90.0]
    npt.assert_allclose(ga["metal_above_t"], [81.0, 81.0, 0.0, 0.0], rtol=0.01)  # 60 g/t is not above 60
    npt.assert_allclose(ga["tonnes_above"], [1.35e6, 1.35e6, 0.0, 0.0], rtol=0.01)
    assert ga.loc[30.0, "mean_grade_above_gt"] == pytest.approx(60.0)
    assert np.isnan(ga.loc[90.0, "mean_grade_above_gt"])


def test_lognormal_grade_tonnage_closed_form():
    m, sigma, tonnes = np.log(50.0), 0.6, 2e6
    cut = np.array([0.0, 25.0, 50.0, 100.0])
    above, grade, metal = lognormal_grade_tonnage(m, sigma, tonnes, cut)
    npt.assert_allclose(above[2], tonnes / 2)  # the median grade splits the tonnes
    npt.assert_allclose(above[0], tonnes)
    npt.assert_allclose(metal[0], tonnes * np.exp(m + sigma**2 / 2) / 1e6)
    share_above_100 = norm.cdf((m + sigma**2 - np.log(100)) / sigma)  # lognormal partial expectation
    npt.assert_allclose(metal[3], tonnes * np.exp(m + sigma**2 / 2) * share_above_100 / 1e6)
    npt.assert_allclose(grade, metal * 1e6 / above)
    assert np.all(np.diff(above) < 0) and np.all(np.diff(grade) > 0)  # fewer tonnes, richer, as the cut-off rises


def test_grade_tonnage_agrees_with_the_simulated_cutoff(prism_features):
    """With certain site-mean grade and tonnage, metal above the cut-off = simulated recoverable / recovery."""
    _, recovery = _certain_tables(load_reference_tables())
    grades = _grades(prism_features["site_id"], sigma_w=0.7)
    cutoffs = {**CUTOFFS, "ga": 80.0}
    estimates = estimates_of(prism_features, grades, recovery, PRICES, cutoffs, n_draws=50, seed=1)
    curves = grade_tonnage_curves(grades, prism_features, cutoffs, multiples=(0.0, 1.0))
    ga = curves[(curves["site_id"] == "P1") & (curves["element"] == "ga")].set_index("cutoff_multiple")
    p1 = estimates.set_index("site_id").loc["P1"]
    assert ga.loc[0.0, "metal_above_t"] == pytest.approx(p1["ga_contained_t_p50"], rel=1e-9)
    assert ga.loc[1.0, "metal_above_t"] * RECOVERY == pytest.approx(p1["ga_recoverable_t_p50"], rel=1e-9)
    assert ga.loc[1.0, "grade_support"] == "composites"


def test_unsampled_sites_get_no_grade_tonnage_curve(prism_features):
    grades = _grades(prism_features["site_id"])
    grades.loc[grades["site_id"] == "P2", "sampled"] = False
    curves = grade_tonnage_curves(grades, prism_features, CUTOFFS)
    assert set(curves["site_id"]) == {"P1", "P3"}
    assert len(curves) == 2 * len(ELEMENTS) * 7  # two sites x five elements x the default seven cut-offs


def test_hub_draws_are_the_draws_behind_the_estimates(prism_features):
    _, recovery = _certain_tables(load_reference_tables())
    features = prism_features.assign(tonnes_log_sd=0.2)
    grades = _grades(features["site_id"], log_sd=0.3, sigma_w=0.5)
    estimates = estimates_of(features, grades, recovery, PRICES, CUTOFFS, n_draws=400, seed=9)
    (draws,) = list(draws_of(features, grades, recovery, PRICES, CUTOFFS, n_draws=400, seed=9))
    npt.assert_array_equal(np.percentile(draws.recoverable["ga"], 90, axis=1), estimates["ga_recoverable_t_p90"])
    npt.assert_array_equal(np.percentile(draws.value, 10, axis=1), estimates["value_usd_p10"])


def _site_with_holes(n_holes: int, rng: np.random.Generator) -> pd.DataFrame:
    """Four neighbour sites with 10 holes each, and the site 't' with ``n_holes`` holes (3 intervals each)."""
    rows = []
    for site, mean, holes in [("a", 50.0, 10), ("b", 70.0, 10), ("c", 60.0, 10), ("d", 90.0, 10), ("t", 65.0, n_holes)]:
        for hole in range(holes):
            for _ in range(3):
                rows.append((site, "bauxite_residue", f"{site}-{hole}", rng.normal(np.log(mean), 0.4)))
    return pd.DataFrame(rows, columns=["site_id", "residue_type", "hole_id", "log_grade"])


def test_interval_narrows_as_holes_are_added():
    prior = ({"bauxite_residue": np.log(60.0)}, {"bauxite_residue": 0.4})
    query = pd.DataFrame({"site_id": ["t"], "residue_type": ["bauxite_residue"]})
    log_sd, widths = [], []
    for n_holes in (2, 8, 32):
        table = _site_with_holes(n_holes, np.random.default_rng(12))
        model = HierarchicalLogGrade(*prior).fit(table[["site_id", "residue_type", "hole_id"]], table["log_grade"])
        predicted = model.predict_distribution(query).iloc[0]
        log_sd.append(float(predicted["log_sd"]))
        features = pd.DataFrame({"site_id": ["t"], "residue_type": ["bauxite_residue"], "tonnes_p50": [1e6],
                                 "tonnes_log_sd": [0.0], "n_holes": [n_holes],
                                 "volume_method": ["dem_difference"]})  # fmt: skip
        grades = pd.DataFrame({"site_id": "t", "element": list(ELEMENTS), "log_mean": float(predicted["log_mean"]),
                               "log_sd": float(predicted["log_sd"]),
                               "sigma_w": float(predicted["sigma_w"])})  # fmt: skip
        _, recovery = _certain_tables(load_reference_tables())
        estimate = estimates_of(features, grades, recovery, PRICES, {}, n_draws=4000, seed=3).iloc[0]
        widths.append(float(estimate["value_relative_width"]))
    assert log_sd[0] > log_sd[1] > log_sd[2]
    # the sampling error of a mean shrinks like 1/sqrt(holes) once data dominate the prior
    assert log_sd[1] / log_sd[2] == pytest.approx(2.0, rel=0.35)
    assert widths[0] > widths[1] > widths[2]
