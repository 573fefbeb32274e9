"""Spatial baselines: the scikit-learn contract and known answers."""

import numpy as np
import numpy.testing as npt
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from residua.models.spatial import InverseDistance, OrdinaryKriging

# The checks' regression target is a linear function of 10 features. Models that read only the
# first two columns (as coordinates) cannot fit it, and a constant baseline fits nothing.
_COORDINATES_ONLY = (
    "models the first n_coords columns as coordinates only; the check's target is a linear "
    "function of all 10 features, so training R2 stays below the check's 0.5"
)
EXPECTED_FAILED = {"OrdinaryKriging": {"check_regressors_train": _COORDINATES_ONLY}}


def _expected_failed_checks(estimator) -> dict[str, str]:
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [InverseDistance(), OrdinaryKriging()],
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


def test_kriging_interpolates_a_smooth_field_far_better_than_the_mean():
    rng = np.random.default_rng(1)
    train, test = rng.uniform(0, 100, (120, 2)), rng.uniform(5, 95, (60, 2))
    y = _smooth_field(train) + rng.normal(0, 0.05, len(train))
    truth = _smooth_field(test)
    kriged = OrdinaryKriging().fit(train, y).predict(test)
    mean = np.full(len(test), y.mean())
    assert np.sqrt(np.mean((kriged - truth) ** 2)) < 0.3 * np.sqrt(np.mean((mean - truth) ** 2))


@pytest.mark.parametrize(
    "model",
    [InverseDistance(), OrdinaryKriging()],
    ids=lambda m: type(m).__name__,
)
def test_estimators_say_which_columns_must_be_coordinates(model):
    with pytest.raises(ValueError, match=r"n_coords=3 .* has 2 feature\(s\)"):
        model.set_params(n_coords=3).fit(np.zeros((5, 2)), np.arange(5.0))


def test_ordinary_kriging_needs_three_samples():
    with pytest.raises(ValueError, match="at least 3 samples .* got n_samples=2"):
        OrdinaryKriging().fit(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0.0, 1.0]))


@pytest.mark.parametrize("n_coords", [2, 3])
def test_kriging_held_out_equals_pykrige_refitted_per_fold(n_coords):
    from residua.models.selection import blocked_folds, cross_validate

    rng = np.random.default_rng(5)
    X = np.column_stack([rng.uniform(0, 300, 60), rng.uniform(0, 300, 60), rng.uniform(0.5, 6, 60)])[:, :n_coords]
    y = np.sin(X[:, 0] / 50) + rng.normal(0, 0.2, 60)
    folds = blocked_folds(X[:, :2], n_splits=5, n_blocks_per_side=3, seed=2)
    fitted = OrdinaryKriging(n_coords=n_coords).fit(X, y)
    mean, std = fitted.held_out(X, y, folds)
    reference = cross_validate(
        OrdinaryKriging(n_coords=n_coords, variogram_parameters=fitted.variogram_parameters_), X, y, folds
    )
    np.testing.assert_allclose(mean, reference["predicted"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(std, reference["std"], rtol=1e-6, atol=1e-9)
