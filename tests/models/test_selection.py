"""Blocked CV, stacking and interval calibration: the scikit-learn contract and known answers."""

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.grade import Z80
from models.selection import (
    SelectedSpatialModel,
    block_groups,
    blocked_folds,
    combine,
    cross_validate,
    interval_scale_from,
    score,
    stack_weights,
)
from models.spatial import ConstantMean, InverseDistance

# Cheap candidates keep the ~40 checks quick; "trend" lets the model fit the checks' target,
# which is a linear function of all the features.
QUICK = ("type_mean", "trend", "idw")


@parametrize_with_checks(
    [
        SelectedSpatialModel(candidates=QUICK, n_repeats=1),
        SelectedSpatialModel(candidates=QUICK, n_repeats=2, method="select"),
    ]
)
def test_scikit_learn_contract(estimator, check):
    check(estimator)


def _field(xy: np.ndarray) -> np.ndarray:
    return np.sin(xy[:, 0] / 20) + np.cos(xy[:, 1] / 25)


def test_block_groups_number_cells_column_by_column():
    corners = np.array([[0.0, 0.0], [0.0, 10.0], [10.0, 0.0], [10.0, 10.0], [4.9, 5.1]])
    assert block_groups(corners, 2).tolist() == [0, 1, 2, 3, 1]


@pytest.mark.parametrize("n_splits, per_side, seed", [(5, 4, 0), (5, 5, 1), (3, 7, 2), (10, 3, 3)])
def test_blocked_folds_never_put_a_block_in_both_train_and_test(n_splits, per_side, seed):
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0, 1000, (300, 2))
    groups = block_groups(coords, per_side)
    folds = blocked_folds(coords, n_splits, per_side, seed)
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert len(train) + len(test) == len(coords)
    tested = np.sort(np.concatenate([test for _, test in folds]))
    npt.assert_array_equal(tested, np.arange(len(coords)))  # every sample held out exactly once


def test_blocked_folds_shrink_to_the_number_of_blocks():
    coords = np.array([[0.0, 0.0], [0.1, 0.0], [9.9, 9.9], [9.8, 9.9]])
    assert len(blocked_folds(coords, n_splits=5, n_blocks_per_side=2)) == 2


def test_cross_validate_predicts_every_sample_from_other_blocks():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 100, (80, 2))
    y = rng.normal(size=80)
    predictions = cross_validate(InverseDistance(), X, y, blocked_folds(X, 5, 4, 0))
    assert list(predictions.columns) == ["observed", "predicted", "std"]
    assert predictions.notna().all().all()
    assert (predictions["predicted"] != y).all()  # never its own value: IDW is exact only at training samples


def test_stack_weights_recover_a_convex_combination():
    rng = np.random.default_rng(1)
    P = rng.normal(size=(200, 3))
    y = 0.3 * P[:, 0] + 0.7 * P[:, 1]
    npt.assert_allclose(stack_weights(P, y), [0.3, 0.7, 0.0], atol=1e-4)


def test_stack_weights_are_non_negative_and_sum_to_one():
    rng = np.random.default_rng(2)
    y = rng.normal(size=100)
    P = np.column_stack([y + rng.normal(0, s, 100) for s in (0.3, 0.5, 2.0)] + [y + 5.0])
    weights = stack_weights(P, y)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)
    assert weights[3] < 0.01  # a badly biased candidate gets (next to) nothing
    assert weights[0] > weights[1] > weights[2]


def test_combine_is_the_mixture_of_calibrated_candidates():
    means, stds = np.array([[0.0, 2.0]]), np.array([[1.0, 0.5]])
    mean, std = combine(means, stds, np.array([0.25, 0.75]), np.array([2.0, 1.0]))
    npt.assert_allclose(mean, [1.5])
    # 0.25 * ((2 * 1)^2 + 1.5^2) + 0.75 * (0.5^2 + 0.5^2)
    npt.assert_allclose(std, [np.sqrt(0.25 * (4 + 2.25) + 0.75 * 0.5)])


def test_calibration_scale_gives_80_percent_coverage_with_known_noise():
    rng = np.random.default_rng(3)
    truth = rng.normal(size=4000)

    def draws(n):  # predictions that know the mean but state a std twice the true noise of 0.5
        return pd.DataFrame({"observed": truth[:n] + rng.normal(0, 0.5, n), "predicted": truth[:n], "std": 1.0})

    calibration, fresh = draws(2000), draws(4000)
    scale = interval_scale_from(calibration)
    assert scale == pytest.approx(0.5, rel=0.05)
    assert score(fresh)["coverage80"] > 0.95  # uncalibrated: far too wide
    assert score(fresh, interval_scale=scale)["coverage80"] == pytest.approx(0.80, abs=0.02)


def test_score_known_answer():
    predictions = pd.DataFrame({"observed": [0.0, 1.0, 2.0, 3.0], "predicted": [0.0, 1.0, 2.0, 5.0], "std": 1.0})
    scores = score(predictions)
    assert scores["rmse"] == pytest.approx(1.0)
    assert scores["bias"] == pytest.approx(0.5)
    assert scores["r2"] == pytest.approx(1 - 4 / 5)
    assert scores["coverage80"] == pytest.approx(0.75)  # |2| > Z80 for the last row only
    assert Z80 == pytest.approx(1.2816, abs=1e-4)


@pytest.fixture(scope="module")
def field_samples():
    """A smooth log-grade field with known noise (sd 0.3) sampled at 200 places, and 600 new places."""
    rng = np.random.default_rng(4)
    train, test = rng.uniform(0, 200, (200, 2)), rng.uniform(0, 200, (600, 2))
    return train, _field(train) + rng.normal(0, 0.3, 200), test, _field(test) + rng.normal(0, 0.3, 600)


@pytest.fixture(scope="module")
def stacked(field_samples):
    X, y, _, _ = field_samples
    return SelectedSpatialModel(candidates=("type_mean", "idw", "gp"), n_repeats=2).fit(X, y)


def test_stack_weights_the_spatial_candidates_and_calibrates_to_80_percent(stacked, field_samples):
    _, _, X_new, y_new = field_samples
    assert stacked.weights_.sum() == pytest.approx(1.0)
    assert stacked.weights_.get("type_mean", 0.0) < 0.1  # a constant is useless on a smooth field
    assert stacked.chosen_ == stacked.weights_.idxmax()
    assert {"type_mean", "idw", "gp", "combined"} <= set(stacked.cv_scores_.index)
    mean, std = stacked.predict(X_new, return_std=True)
    held_out = pd.DataFrame({"observed": y_new, "predicted": mean, "std": std})
    assert score(held_out)["rmse"] < 0.45  # noise alone is 0.3; the field's own spread is ~1
    assert score(held_out)["coverage80"] == pytest.approx(0.80, abs=0.06)


def test_stack_is_never_worse_in_cv_than_its_best_candidate(stacked):
    scores = stacked.cv_scores_
    # weights are fitted to these same out-of-fold predictions, so this holds by construction
    assert scores.loc["combined", "rmse"] <= scores.drop(index="combined")["rmse"].min() + 1e-9


def test_trend_carries_a_field_made_of_classes():
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 100, (150, 2))
    one_hot = rng.integers(0, 2, 150).astype(float)  # classes scattered at random: no spatial pattern
    X, y = np.column_stack([xy, one_hot]), 2.0 * one_hot + rng.normal(0, 0.2, 150)
    model = SelectedSpatialModel(candidates=QUICK, n_repeats=2).fit(X, y)
    assert model.chosen_ == "trend" and model.weights_["trend"] > 0.8


def test_select_method_keeps_one_candidate(field_samples):
    X, y, _, _ = field_samples
    model = SelectedSpatialModel(candidates=("type_mean", "idw"), method="select", n_repeats=1).fit(X, y)
    assert list(model.weights_.index) == [model.chosen_] == ["idw"]
    assert model.weights_.iloc[0] == 1.0


def test_candidates_that_coincide_without_covariates_are_scored_once(field_samples):
    X, y, _, _ = field_samples
    model = SelectedSpatialModel(candidates=("type_mean", "trend", "idw"), n_repeats=1).fit(X[:80], y[:80])
    assert "trend" not in model.cv_scores_.index  # without covariates it is type_mean


def test_refitted_candidates_are_the_weighted_ones(field_samples):
    X, y, _, _ = field_samples
    model = SelectedSpatialModel(candidates=("type_mean", "idw"), n_repeats=1).fit(X, y)
    assert set(model.models_) == set(model.weights_.index)
    assert isinstance(model.model_, (ConstantMean, InverseDistance))


@pytest.mark.parametrize(
    "params, X, message",
    [
        ({"method": "vote"}, np.random.default_rng(0).uniform(size=(20, 2)), "method must be"),
        ({"n_repeats": 0}, np.random.default_rng(0).uniform(size=(20, 2)), "n_repeats must be"),
        ({}, np.zeros((20, 2)), "at least 2 of the 4x4 blocks"),  # every sample at one place
        ({"n_coords": 3}, np.random.default_rng(0).uniform(size=(20, 2)), "n_coords=3"),
    ],
)
def test_bad_settings_and_data_are_explained(params, X, message):
    with pytest.raises(ValueError, match=message):
        SelectedSpatialModel(**params).fit(X, np.arange(20.0))


def test_fitted_model_pickles_and_predicts_the_same(stacked, field_samples):
    import pickle

    _, _, X_new, _ = field_samples
    restored = pickle.loads(pickle.dumps(stacked))
    npt.assert_allclose(restored.predict(X_new[:20], return_std=True), stacked.predict(X_new[:20], return_std=True))
