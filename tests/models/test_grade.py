"""Hierarchical log-grade model: shrinkage, honest width for unsampled sites, CV."""

import geopandas as gpd
import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import shapely

from residua.models.grade import HierarchicalLogGrade, summarise_sites
from residua.models.preparation import declustering_weights, impute_below_detection, log_grade_table, prepare_grades
from residua.models.validation import leave_one_site_out


def _samples(site_means: dict[str, float], holes: int, rng, residue_type="bauxite_residue", sd=0.3):
    rows = []
    for site_id, mean in site_means.items():
        for hole in range(holes):
            for _depth in range(3):
                rows.append((site_id, residue_type, f"{site_id}-{hole}", rng.normal(np.log(mean), sd)))
    return pd.DataFrame(rows, columns=["site_id", "residue_type", "hole_id", "log_grade"])


PRIOR = ({"bauxite_residue": np.log(60.0)}, {"bauxite_residue": 0.4})


def test_well_sampled_site_keeps_its_own_mean_and_unsampled_site_gets_a_wider_interval():
    rng = np.random.default_rng(0)
    table = _samples({"a": 40.0, "b": 80.0, "c": 60.0, "d": 120.0}, holes=20, rng=rng)
    model = HierarchicalLogGrade(*PRIOR).fit(table[["site_id", "residue_type", "hole_id"]], table["log_grade"])
    query = pd.DataFrame({"site_id": ["a", "new"], "residue_type": ["bauxite_residue"] * 2})
    predicted = model.predict_distribution(query)
    assert predicted.loc[0, "log_mean"] == pytest.approx(np.log(40.0), abs=0.1)
    assert predicted.loc[0, "sampled"] and not predicted.loc[1, "sampled"]
    assert predicted.loc[1, "log_sd"] > 3 * predicted.loc[0, "log_sd"]
    assert model.tau_ > 0.2  # the four site means really differ
    npt.assert_allclose(model.sigma_w_["bauxite_residue"], 0.3, rtol=0.15)


def test_fitting_site_summaries_without_some_sites_equals_fitting_the_other_sites_samples():
    """What site-grouped validation relies on: it summarises once and drops held-out sites."""
    rng = np.random.default_rng(5)
    means = {f"s{i}": m for i, m in enumerate(rng.uniform(20, 150, 9))}
    table = _samples(means, holes=4, rng=rng)
    table.loc[table["site_id"].isin(["s1", "s2", "s3", "s4", "s5"]), "residue_type"] = "coal_fly_ash"
    table["era"] = table["site_id"].str[1:].astype(float) * 3.0 + 1950
    table["weight"] = rng.uniform(0.5, 2.0, len(table))
    priors = (
        {"bauxite_residue": np.log(60.0), "coal_fly_ash": np.log(40.0)},
        {"bauxite_residue": 0.4, "coal_fly_ash": 0.5},
    )
    columns = ["site_id", "residue_type", "hole_id", "era"]
    held_out = ["s2", "s7"]
    train = table[~table["site_id"].isin(held_out)]
    on_rows = HierarchicalLogGrade(*priors, covariates=("era",)).fit(
        train[columns], train["log_grade"], train["weight"]
    )
    summaries = summarise_sites(table[columns], table["log_grade"], table["weight"], ("era",))
    on_summaries = HierarchicalLogGrade(*priors, covariates=("era",)).fit_sites(summaries.drop(index=held_out))
    assert list(summaries.index) == sorted(means) and summaries.loc["s0", "n_eff"] == 4
    query = table.drop_duplicates("site_id")[["site_id", "residue_type", "era"]]
    pd.testing.assert_frame_equal(
        on_rows.predict_distribution(query), on_summaries.predict_distribution(query), rtol=1e-12
    )
    assert on_rows.tau_ == pytest.approx(on_summaries.tau_, rel=1e-12)
    assert on_rows.coef_.keys() == on_summaries.coef_.keys() and on_rows.coef_  # the trend was fitted


def test_thin_data_shrink_toward_the_type_mean():
    rng = np.random.default_rng(1)
    table = _samples({"a": 60.0, "b": 60.0, "c": 60.0}, holes=10, rng=rng)
    outlier = _samples({"thin": 600.0}, holes=1, rng=rng).iloc[:1]
    table = pd.concat([table, outlier], ignore_index=True)
    model = HierarchicalLogGrade(*PRIOR).fit(table[["site_id", "residue_type", "hole_id"]], table["log_grade"])
    thin = model.predict(pd.DataFrame({"site_id": ["thin"], "residue_type": ["bauxite_residue"]}))[0]
    assert np.log(60.0) < thin < outlier["log_grade"].iloc[0]


def test_type_without_samples_falls_back_to_the_cited_prior():
    rng = np.random.default_rng(2)
    table = _samples({"a": 60.0, "b": 70.0}, holes=5, rng=rng)
    priors = ({**PRIOR[0], "coal_fly_ash": np.log(25.0)}, {**PRIOR[1], "coal_fly_ash": 0.6})
    model = HierarchicalLogGrade(*priors).fit(table[["site_id", "residue_type", "hole_id"]], table["log_grade"])
    predicted = model.predict_distribution(pd.DataFrame({"site_id": ["x"], "residue_type": ["coal_fly_ash"]}))
    assert predicted["log_mean"].iloc[0] == pytest.approx(np.log(25.0))
    assert predicted["log_sd"].iloc[0] >= 0.6


def test_unknown_residue_type_without_prior_is_a_clear_error():
    model = HierarchicalLogGrade(*PRIOR).fit(
        pd.DataFrame({"site_id": ["a"], "residue_type": ["bauxite_residue"], "hole_id": ["h"]}), np.array([1.0])
    )
    with pytest.raises(ValueError, match="grade_priors.csv"):
        model.predict(pd.DataFrame({"site_id": ["z"], "residue_type": ["other"]}))


def test_leave_one_site_out_scores_and_coverage():
    rng = np.random.default_rng(3)
    means = dict(zip("abcdefghij", np.exp(rng.normal(np.log(60.0), 0.4, 10))))
    table = _samples(means, holes=8, rng=rng)
    table["weight"] = 1.0
    scores = leave_one_site_out(HierarchicalLogGrade(*PRIOR), table).set_index("method")
    assert set(scores.index) == {"hierarchical", "type_mean", "global_mean", "reference_prior"}
    assert (scores["n_sites"] == 10).all()
    assert scores.loc["hierarchical", "rmse"] < 0.8
    assert 0.5 <= scores.loc["hierarchical", "coverage80"] <= 1.0


def test_many_sites_are_held_out_in_groups_each_exactly_once():
    rng = np.random.default_rng(4)
    means = {f"s{i:02d}": float(np.exp(rng.normal(np.log(60.0), 0.4))) for i in range(30)}
    table = _samples(means, holes=4, rng=rng).assign(weight=1.0)
    one_by_one = leave_one_site_out(HierarchicalLogGrade(*PRIOR), table).set_index("method")
    grouped = leave_one_site_out(HierarchicalLogGrade(*PRIOR), table, max_folds=6).set_index("method")
    assert (grouped["n_sites"] == 30).all()
    # Holding out five sites at a time leaves less to learn from, never a leak: not better than LOSO by much.
    assert grouped.loc["hierarchical", "rmse"] >= one_by_one.loc["hierarchical", "rmse"] * 0.9
    assert grouped.loc["hierarchical", "rmse"] != one_by_one.loc["hierarchical", "rmse"]
    assert grouped.loc["hierarchical", "rmse"] < grouped.loc["reference_prior", "rmse"] * 1.5


def test_a_national_drop_is_validated_in_fewer_larger_folds_every_site_still_once(monkeypatch):
    import residua.models.validation as validation

    monkeypatch.setattr(validation, "MANY_SITES", 40)  # stands for 1,000: the rule, on a small table
    rng = np.random.default_rng(5)
    means = {f"s{i:02d}": float(np.exp(rng.normal(np.log(60.0), 0.4))) for i in range(60)}
    table = _samples(means, holes=4, rng=rng).assign(weight=1.0)
    dealt, deal = [], validation.site_folds

    def recorded(site_ids, max_folds, seed):
        dealt.append(max_folds)
        return deal(site_ids, max_folds, seed)

    monkeypatch.setattr(validation, "site_folds", recorded)
    scores = leave_one_site_out(HierarchicalLogGrade(*PRIOR), table).set_index("method")
    assert dealt == [validation.FOLDS_MANY_SITES]
    assert (scores["n_sites"] == 60).all()


def test_log_grade_table_substitutes_half_the_detection_limit_and_weights_by_length():
    samples = gpd.GeoDataFrame(
        {"site_id": ["s", "s"], "hole_id": ["h", "h"], "depth_from_m": [0.0, 1.5], "depth_to_m": [1.5, 4.5],
         "ga_gt": [1.0, 40.0], "ga_bdl": [True, False]},
        geometry=[shapely.Point(82.0, 20.0)] * 2, crs=4326,
    )  # fmt: skip
    sites = gpd.GeoDataFrame(
        {"site_id": ["s"], "residue_type": ["coal_fly_ash"]}, geometry=[shapely.Point(82, 20).buffer(0.01)], crs=4326
    )
    table = log_grade_table(samples, sites, "ga")
    npt.assert_allclose(table["grade_gt"], [0.5, 40.0])
    npt.assert_allclose(table["weight"], [1.5, 3.0])
    assert table["bdl"].tolist() == [True, False]
    assert table["residue_type"].tolist() == ["coal_fly_ash"] * 2
    # x/y in metres in the site's UTM zone (44N at 82 E)
    assert 300_000 < table["x_m"].iloc[0] < 700_000 and table["y_m"].iloc[0] > 2_000_000


def test_composites_top_cut_and_declustering_are_counted():
    rng = np.random.default_rng(5)
    rows = []
    for hole in range(12):
        lon, lat = 82.0 + rng.uniform(0, 0.005), 20.0 + rng.uniform(0, 0.005)
        for depth in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5):
            rows.append({"site_id": "s", "hole_id": f"h{hole}", "depth_from_m": depth, "depth_to_m": depth + 0.5,
                         "ga_gt": float(np.exp(rng.normal(np.log(50), 0.2))), "ga_bdl": False,
                         "lon": lon, "lat": lat})  # fmt: skip
    rows[0]["ga_gt"] = 1e6  # a wild outlier
    frame = pd.DataFrame(rows)
    samples = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat), crs=4326)
    sites = gpd.GeoDataFrame(
        {"site_id": ["s"], "residue_type": ["bauxite_residue"]},
        geometry=[shapely.box(81.9, 19.9, 82.1, 20.1)],
        crs=4326,
    )
    table, stats = prepare_grades(samples, sites, "ga", composite_length_m=1.5)
    assert stats["intervals"] == 72 and stats["composites"] == 24  # 3 m per hole in 1.5 m composites
    assert stats["top_cut"] == 1
    assert table["grade_gt"].max() < 1e5
    npt.assert_allclose(table["weight"].mean(), 1.5, rtol=1e-9)  # declustering weights average one


def test_site_prior_carries_the_covariate_trend_a_within_site_model_shrinks_to():
    rng = np.random.default_rng(5)
    regional = dict(zip([f"s{i}" for i in range(12)], np.linspace(-1.5, 1.5, 12)))
    means = {site: float(np.exp(np.log(60.0) + 0.8 * z)) for site, z in regional.items()}
    table = _samples(means, holes=6, rng=rng, sd=0.2)
    table["regional"] = table["site_id"].map(regional)
    model = HierarchicalLogGrade(*PRIOR, covariates=("regional",)).fit(
        table[["site_id", "residue_type", "hole_id", "regional"]], table["log_grade"]
    )
    query = pd.DataFrame({"site_id": ["s0", "s11"], "residue_type": "bauxite_residue", "regional": [-1.5, 1.5]})
    prior = model.site_prior(query)
    # The trend separates a low-regional site from a high one by about 0.8 x 3 log units ...
    assert prior.loc[1, "log_mean"] - prior.loc[0, "log_mean"] == pytest.approx(2.4, abs=0.5)
    # ... and the prior is what an unsampled site with those covariates would get, before the interval widening.
    unsampled = model.predict_distribution(query.assign(site_id=["new0", "new11"]))
    npt.assert_allclose(prior["log_mean"], unsampled["log_mean"])
    assert (prior["log_var"] <= unsampled["log_sd"] ** 2 + 1e-12).all()


def test_covariates_carrying_no_signal_do_not_shrink_the_between_site_spread():
    """A trend fitted to five sites absorbs part of their spread; the spread's degrees of freedom must say so.

    Six residue types of six sites each, site means drawn with tau = 0.5 and three covariates of
    pure noise: counting the trend's effective degrees of freedom, tau stays near its value
    without covariates (reading the absorbed spread as agreement gave 0.57 of it).
    """
    rng = np.random.default_rng(11)
    types = [f"type_{k}" for k in range(6)]
    rows = []
    for kind in types:
        for site in range(6):
            rows.append({"site_id": f"{kind}-{site}", "residue_type": kind, "mean": rng.normal(3.0, 0.5), "var": 0.09,
                         "n": 30, "n_eff": 10, "a": rng.normal(), "b": rng.normal(), "c": rng.normal()})  # fmt: skip
    sites = pd.DataFrame(rows).set_index("site_id")
    priors = (dict.fromkeys(types, 3.0), dict.fromkeys(types, 1.0))
    plain = HierarchicalLogGrade(*priors).fit_sites(sites)
    with_noise = HierarchicalLogGrade(*priors, covariates=("a", "b", "c")).fit_sites(sites)
    assert set(with_noise.coef_) == set(types)  # every type fitted its own slopes
    assert 2.0 < with_noise.trend_dof_["type_0"] < 3.0  # ridge: fewer than the three slopes' full dof
    assert with_noise.tau_ / plain.tau_ > 0.85
    assert plain.tau_ == pytest.approx(0.5, rel=0.25)


def test_censored_fit_recovers_the_lognormal_mean_that_half_limit_substitution_biases():
    """Half the assays below a 1 g/t limit: the censored fit's imputation keeps mean and spread, half-limit does not."""
    rng = np.random.default_rng(21)
    truth = np.exp(rng.normal(0.0, 0.8, 400))
    bdl = truth < 1.0
    reported = np.where(bdl, 1.0, truth)
    imputed = impute_below_detection(reported, bdl, np.full(400, "s"), np.full(400, "t"))
    half = np.where(bdl, 0.5, reported)

    def lognormal_mean(values):
        return np.exp(np.log(values).mean() + np.log(values).var() / 2)

    assert 0.4 < bdl.mean() < 0.6
    assert abs(np.log(lognormal_mean(imputed) / lognormal_mean(truth))) < 0.02
    assert np.log(lognormal_mean(half) / lognormal_mean(truth)) < -0.05  # the bias the fit removes
    assert abs(np.log(imputed).std() - np.log(truth).std()) < 0.05
    assert (imputed[bdl] < 1.0).all() and (imputed[~bdl] == reported[~bdl]).all()


def test_below_detection_values_borrow_the_residue_types_fit_when_their_site_has_few_detections():
    rng = np.random.default_rng(3)
    rich = np.exp(rng.normal(0.0, 0.5, 40))  # a well-assayed site of the same type
    thin = np.array([0.5, 0.5, 0.5, 1.2, 2.0])  # three below a 0.5 limit, two detected
    values = np.r_[rich, thin, thin]
    bdl = np.r_[np.zeros(40, bool), [True, True, True, False, False], [True, True, True, False, False]]
    sites = np.r_[np.full(40, "rich"), np.full(5, "thin"), np.full(5, "alone")]
    types = np.r_[np.full(45, "red mud"), np.full(5, "slag")]  # "alone" has no type-mate to borrow from
    imputed = impute_below_detection(values, bdl, sites, types)
    borrowed, fallback = imputed[40:43], imputed[45:48]
    assert (borrowed < 0.5).all() and len(np.unique(borrowed)) == 3 and not np.allclose(borrowed, 0.25)
    npt.assert_allclose(fallback, 0.25)  # too few detections anywhere: half the limit
    npt.assert_allclose(imputed[~bdl], values[~bdl])


def test_each_detection_limit_keeps_its_own_ceiling():
    rng = np.random.default_rng(8)
    detected = np.exp(rng.normal(0.0, 0.6, 30))
    values = np.r_[detected, [0.3, 0.3, 0.8, 0.8, 0.8]]
    bdl = np.r_[np.zeros(30, bool), np.ones(5, bool)]
    imputed = impute_below_detection(values, bdl, np.full(35, "s"), np.full(35, "t"))
    assert (imputed[30:32] < 0.3).all() and (imputed[32:] < 0.8).all()
    assert imputed[32:].max() > 0.3  # values under the higher limit are not squeezed under the lower one


def test_declustering_weights_do_not_depend_on_where_the_crs_puts_its_origin():
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 600, 40), rng.uniform(0, 400, 40)
    here = declustering_weights(x, y, 69.0)
    assert len(np.unique(here.round(9))) > 1  # clustered: the weights differ
    # the same holes 500 km east, 3,000 km north (a UTM zone), and with a 0.5 mm jitter of the cell size
    npt.assert_allclose(declustering_weights(x + 500_000.0, y + 3_000_000.0, 69.0), here, rtol=1e-12)
    npt.assert_allclose(declustering_weights(x + 500_000.0, y + 3_000_000.0, 69.0005), here, rtol=1e-12)
