"""Spatial log-grade estimators: the scikit-learn contract and known answers."""

import numpy as np
import numpy.testing as npt
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.spatial import (
    CANDIDATES,
    ConstantMean,
    CovariateTrend,
    InverseDistance,
    OrdinaryKriging,
    RegressionKriging,
    candidate,
)

# The checks' regression target is a linear function of 10 features. Models that read only the
# first two columns (as coordinates) cannot fit it, and a constant baseline fits nothing.
_COORDINATES_ONLY = (
    "models the first n_coords columns as coordinates only; the check's target is a linear "
    "function of all 10 features, so training R2 stays below the check's 0.5"
)
EXPECTED_FAILED = {
    "ConstantMean": {
        "check_regressors_train": "a baseline that predicts the training mean: training R2 is 0 by design"
    },
    "OrdinaryKriging": {"check_regressors_train": _COORDINATES_ONLY},
    "RegressionKriging(trend='none')": {"check_regressors_train": _COORDINATES_ONLY},
}


def _expected_failed_checks(estimator) -> dict[str, str]:
    name = type(estimator).__name__
    if name == "RegressionKriging" and estimator.trend == "none":
        name = "RegressionKriging(trend='none')"
    return EXPECTED_FAILED.get(name, {})


@parametrize_with_checks(
    [
        ConstantMean(),
        CovariateTrend(),
        InverseDistance(),
        OrdinaryKriging(),
        # One smoothness (no "auto") and a small forest keep the checks quick; "auto" is tested below.
        RegressionKriging(trend="none", nu=1.5),
        RegressionKriging(trend="ridge", nu=0.5),
        RegressionKriging(trend="forest", nu=1.5, n_trees=10),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_scikit_learn_contract(estimator, check):
    check(estimator)


def _smooth_field(xy: np.ndarray) -> np.ndarray:
    return np.sin(xy[:, 0] / 20) + np.cos(xy[:, 1] / 25)


def test_idw_is_exact_at_a_sample():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 100, (30, 2))
    y = rng.normal(size=30)
    mean, std = InverseDistance().fit(X, y).predict(X, return_std=True)
    npt.assert_allclose(mean, y, atol=1e-9)
    assert (std < 1e-3).all()  # the only neighbour that counts is the sample itself


def test_idw_weighs_by_inverse_squared_distance():
    X = np.array([[0.0, 0.0], [3.0, 0.0]])
    predicted = InverseDistance().fit(X, np.array([0.0, 4.0])).predict(np.array([[1.0, 0.0]]))
    # weights 1/1 and 1/4 -> (0 * 1 + 4 * 0.25) / 1.25
    npt.assert_allclose(predicted, [0.8])


@pytest.mark.parametrize(
    "model",
    [OrdinaryKriging(), RegressionKriging(trend="none", nu="auto")],
    ids=["ordinary_kriging", "gp"],
)
def test_kriging_interpolates_a_smooth_field_far_better_than_the_mean(model):
    rng = np.random.default_rng(1)
    train, test = rng.uniform(0, 100, (120, 2)), rng.uniform(5, 95, (60, 2))
    y = _smooth_field(train) + rng.normal(0, 0.05, len(train))
    truth = _smooth_field(test)
    kriged = model.fit(train, y).predict(test)
    mean = ConstantMean().fit(train, y).predict(test)
    assert np.sqrt(np.mean((kriged - truth) ** 2)) < 0.3 * np.sqrt(np.mean((mean - truth) ** 2))


def test_covariate_trend_recovers_class_means_and_ignores_coordinates():
    rng = np.random.default_rng(2)
    one_hot = rng.integers(0, 2, 200).astype(float)
    X = np.column_stack([rng.uniform(0, 100, (200, 2)), one_hot])
    y = np.where(one_hot == 1, 3.0, 1.0) + rng.normal(0, 0.1, 200)
    model = CovariateTrend().fit(X, y)
    npt.assert_allclose(model.predict(np.array([[0.0, 0.0, 0.0], [50.0, 50.0, 1.0]])), [1.0, 3.0], atol=0.05)
    _, std = model.predict(X[:3], return_std=True)
    npt.assert_allclose(std, 0.1, rtol=0.2)  # the leave-one-out residual spread, i.e. the noise


def test_covariate_trend_without_covariates_is_the_training_mean():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    npt.assert_allclose(CovariateTrend().fit(X, np.array([1.0, 2.0, 6.0])).predict(X), 3.0)


def test_regression_kriging_auto_smoothness_keeps_the_likelier_kernel():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 100, (80, 2))
    y = _smooth_field(X) + rng.normal(0, 0.1, 80)
    likelihood = {
        nu: RegressionKriging(trend="none", nu=nu).fit(X, y).gp_.log_marginal_likelihood_value_ for nu in (0.5, 1.5)
    }
    auto = RegressionKriging(trend="none", nu="auto").fit(X, y)
    assert auto.nu_ == max(likelihood, key=likelihood.get)
    npt.assert_allclose(auto.gp_.log_marginal_likelihood_value_, max(likelihood.values()))


def test_regression_kriging_adds_the_covariate_trend():
    rng = np.random.default_rng(4)
    one_hot = rng.integers(0, 2, 150).astype(float)
    xy = rng.uniform(0, 100, (150, 2))
    y = 2.0 * one_hot + 0.5 * _smooth_field(xy) + rng.normal(0, 0.05, 150)
    X = np.column_stack([xy, one_hot])
    train, test = np.arange(100), np.arange(100, 150)
    errors = {}
    for trend in ("ridge", "none"):
        predicted = RegressionKriging(trend=trend, nu=1.5).fit(X[train], y[train]).predict(X[test])
        errors[trend] = np.sqrt(np.mean((predicted - y[test]) ** 2))
    assert errors["ridge"] < 0.5 * errors["none"]


@pytest.mark.parametrize(
    "model",
    [CovariateTrend(), InverseDistance(), OrdinaryKriging(), RegressionKriging()],
    ids=lambda m: type(m).__name__,
)
def test_estimators_say_which_columns_must_be_coordinates(model):
    with pytest.raises(ValueError, match=r"n_coords=3 .* has 2 feature\(s\)"):
        model.set_params(n_coords=3).fit(np.zeros((5, 2)), np.arange(5.0))


def test_ordinary_kriging_needs_three_samples():
    with pytest.raises(ValueError, match="at least 3 samples .* got n_samples=2"):
        OrdinaryKriging().fit(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0.0, 1.0]))


def test_regression_kriging_rejects_an_unknown_trend_or_smoothness():
    X, y = np.random.default_rng(5).uniform(size=(10, 2)), np.arange(10.0)
    with pytest.raises(ValueError, match="trend must be"):
        RegressionKriging(trend="spline").fit(X, y)
    with pytest.raises(ValueError, match="nu must be"):
        RegressionKriging(nu="rough").fit(X, y)


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_candidate_is_a_fresh_estimator_with_the_coordinate_count(name):
    model = candidate(name, n_coords=3)
    assert model is not CANDIDATES[name]
    assert model.get_params().get("n_coords", 3) == 3
    assert CANDIDATES[name].get_params().get("n_coords", 2) == 2  # the template is untouched
