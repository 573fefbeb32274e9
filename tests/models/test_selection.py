"""Blocked CV, held-out scores and interval calibration: known answers."""

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

from residua.models.grade import Z80
from residua.models.selection import block_groups, blocked_folds, cross_validate, interval_scale_from, score
from residua.models.spatial import InverseDistance


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
