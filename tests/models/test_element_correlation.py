"""Correlation of sites' grade deviations between elements, for joint draws."""

import numpy as np
import pandas as pd
import pytest

from residua.models.element_correlation import MIN_SITES, element_correlation

ELEMENTS = ("ga", "pt", "pd")


def _grades(n_sites: int, pt_pd_correlation: float, seed: int = 0, types: int = 4) -> tuple[pd.DataFrame, pd.Series]:
    """Sites of a few residue types whose Pt and Pd deviations correlate; Ga independent of both."""
    rng = np.random.default_rng(seed)
    site_ids = [f"s{i}" for i in range(n_sites)]
    residue_types = pd.Series([f"type_{i % types}" for i in range(n_sites)], index=site_ids)
    type_means = {kind: rng.normal(0.0, 2.0, 3) for kind in residue_types.unique()}
    covariance = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, pt_pd_correlation], [0.0, pt_pd_correlation, 1.0]])
    deviations = rng.multivariate_normal(np.zeros(3), 0.16 * covariance, n_sites)
    rows = [
        {"site_id": site, "element": element, "log_mean": type_means[residue_types[site]][k] + deviations[i, k],
         "sampled": True}
        for i, site in enumerate(site_ids) for k, element in enumerate(ELEMENTS)
    ]  # fmt: skip
    return pd.DataFrame(rows), residue_types


def test_strongly_correlated_elements_are_found_and_independent_ones_stay_near_zero():
    grades, residue_types = _grades(80, 0.9)
    correlation = element_correlation(grades, residue_types, ELEMENTS)
    assert correlation.loc["pt", "pd"] > 0.7  # 0.9, shrunk by 80 / 85 and by the type means' lost dof
    assert abs(correlation.loc["ga", "pt"]) < 0.3 and abs(correlation.loc["ga", "pd"]) < 0.3
    assert np.allclose(np.diag(correlation), 1.0) and np.allclose(correlation, correlation.T)
    assert np.linalg.eigvalsh(correlation.to_numpy()).min() > -1e-9


def test_too_few_sites_give_independence():
    grades, residue_types = _grades(MIN_SITES - 1, 0.99, types=1)
    assert element_correlation(grades, residue_types, ELEMENTS).equals(
        pd.DataFrame(np.eye(3), index=list(ELEMENTS), columns=list(ELEMENTS))
    )


def test_unsampled_sites_and_lone_sites_of_a_type_do_not_enter():
    grades, residue_types = _grades(30, 0.9, seed=2)
    noise = grades.assign(site_id=grades["site_id"] + "_u", sampled=False,
                          log_mean=np.random.default_rng(9).normal(0, 5, len(grades)))  # fmt: skip
    lone = pd.DataFrame({"site_id": "lone", "element": list(ELEMENTS), "log_mean": [9.0, -9.0, 9.0], "sampled": True})
    types = pd.concat([residue_types, residue_types.set_axis(residue_types.index + "_u"), pd.Series({"lone": "own"})])
    with_extras = element_correlation(pd.concat([grades, noise, lone]), types, ELEMENTS)
    assert with_extras.equals(element_correlation(grades, residue_types, ELEMENTS))


def test_pairwise_estimates_are_made_a_valid_correlation_matrix():
    """Pairs seen at different sites can disagree: Ga~Pt and Pt~Pd strongly positive, Ga~Pd strongly negative."""
    rng = np.random.default_rng(4)
    rows = []
    for block, (first, second, sign) in enumerate((("ga", "pt", 1), ("pt", "pd", 1), ("ga", "pd", -1))):
        for i in range(40):
            site, value = f"s{block}_{i}", rng.normal()
            rows.append({"site_id": site, "element": first, "log_mean": value, "sampled": True})
            rows.append({"site_id": site, "element": second, "log_mean": sign * value + 0.1 * rng.normal(),
                         "sampled": True})  # fmt: skip
    grades = pd.DataFrame(rows)
    residue_types = pd.Series("one", index=grades["site_id"].unique())
    correlation = element_correlation(grades, residue_types, ELEMENTS).to_numpy()
    assert np.linalg.eigvalsh(correlation).min() >= -1e-9  # the raw pairwise matrix has a negative eigenvalue
    assert np.allclose(np.diag(correlation), 1.0)
    assert correlation[0, 1] > 0.3 and correlation[1, 2] > 0.3 and correlation[0, 2] < -0.3


@pytest.mark.parametrize("constant", ["pt", "ga"])
def test_an_element_without_spread_is_uncorrelated(constant):
    grades, residue_types = _grades(40, 0.9, seed=5)
    grades.loc[grades["element"] == constant, "log_mean"] = 1.0
    correlation = element_correlation(grades, residue_types, ELEMENTS)
    others = [element for element in ELEMENTS if element != constant]
    assert (correlation.loc[constant, others] == 0).all()
