"""Normal-score and log transforms: round trips, tails, censored ranks, block means."""

import numpy as np
import numpy.testing as npt
import pytest

from residua.models.anamorphosis import LogTransform, NormalScore, expected_block_mean


def test_normal_scores_of_declustered_data_are_standard_normal():
    rng = np.random.default_rng(0)
    grades = np.exp(rng.normal(1.0, 1.2, 2000)) + rng.exponential(2.0, 2000)  # skewed, not lognormal
    ns = NormalScore().fit(grades)
    z = ns.forward(grades)
    assert abs(z.mean()) < 0.02 and z.std() == pytest.approx(1.0, abs=0.03)
    npt.assert_allclose(ns.backward(z), grades, rtol=1e-9)


def test_weights_move_the_scores():
    grades = np.array([1.0, 2.0, 3.0, 10.0])
    plain, weighted = NormalScore().fit(grades), NormalScore().fit(grades, np.array([1.0, 1.0, 1.0, 5.0]))
    assert weighted.forward(np.array([10.0]))[0] < plain.forward(np.array([10.0]))[0]


def test_values_far_below_the_rest_get_the_lowest_ranks_not_a_long_tail():
    detected = np.linspace(40, 60, 40)
    imputed = np.array([1e-4, 1e-3, 1e-2])  # censored values imputed far below the detected ones
    ns = NormalScore().fit(np.concatenate([imputed, detected]))
    z = ns.forward(np.concatenate([imputed, detected]))
    assert z.min() > -2.6  # their scores are ranks, however small the values
    assert ns.block_mean(np.array([0.0]), 0.3)[0] == pytest.approx(np.median(detected), rel=0.1)


def test_back_transform_tails_are_bounded():
    ns = NormalScore().fit(np.array([1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0]))
    assert ns.backward(np.array([50.0]))[0] < 21.0 * np.exp(3.0)
    assert ns.backward(np.array([-50.0]))[0] > 0
    assert np.all(np.diff(ns.backward(np.linspace(-6, 6, 200))) >= 0)


def test_block_mean_averages_the_nugget_out():
    log = LogTransform()
    assert log.block_mean(np.array([1.0]), 0.5)[0] == pytest.approx(np.exp(1.25))
    rng = np.random.default_rng(1)
    ns = NormalScore().fit(np.exp(rng.normal(0, 1, 500)))
    y, nugget = np.array([0.3]), 0.4
    monte_carlo = ns.backward(y[0] + np.sqrt(nugget) * rng.standard_normal(200_000)).mean()
    assert ns.block_mean(y, nugget)[0] == pytest.approx(monte_carlo, rel=0.01)
    expected = expected_block_mean(ns, y, np.array([0.5]), nugget)[0]
    assert expected == pytest.approx(ns.block_mean(y + 0.5 * rng.standard_normal(200_000), nugget).mean(), rel=0.01)
