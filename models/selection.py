"""Blocked cross-validation folds, held-out scores and interval calibration.

Spatial data need blocked cross-validation: neighbouring samples are correlated, so a
random split scores a model on near-copies of its training data and rewards overfitting
(Roberts et al. 2017, Ecography 40:913; verde's BlockKFold). Samples are grouped into
square blocks and whole blocks are held out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GroupKFold

from residua.models.grade import Z80


def block_groups(coords: np.ndarray, n_blocks_per_side: int = 4) -> np.ndarray:
    """Block id of each point on a square grid spanning the points' x/y extent.

    >>> block_groups(np.array([[0.0, 0.0], [0.1, 0.1], [9.9, 9.9]]), 2).tolist()
    [0, 0, 3]
    """
    xy = np.asarray(coords, dtype=float)[:, :2]
    low, high = xy.min(axis=0), xy.max(axis=0)
    size = np.maximum((high - low).max() / n_blocks_per_side, 1e-9)
    cells = np.minimum(((xy - low) / size).astype(int), n_blocks_per_side - 1)
    return cells[:, 0] * n_blocks_per_side + cells[:, 1]


def blocked_folds(coords: np.ndarray, n_splits: int = 5, n_blocks_per_side: int = 4, seed: int = 0):
    """(train, test) index pairs holding out whole spatial blocks."""
    groups = block_groups(coords, n_blocks_per_side)
    n_splits = min(n_splits, len(np.unique(groups)))
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(coords, groups=groups))


def cross_validate(model: BaseEstimator, X: np.ndarray, y: np.ndarray, folds) -> pd.DataFrame:
    """Held-out mean and std of every sample, fitting a clone of ``model`` per fold."""
    mean = np.full(len(y), np.nan)
    std = np.full(len(y), np.nan)
    for train, test in folds:
        fitted = clone(model).fit(X[train], y[train])
        mean[test], std[test] = fitted.predict(X[test], return_std=True)
    return pd.DataFrame({"observed": y, "predicted": mean, "std": std})


def score(predictions: pd.DataFrame, interval_scale: float = 1.0) -> dict[str, float]:
    """RMSE, MAE, bias, R2 of log-grade and coverage of the 80 % interval."""
    error = predictions["predicted"] - predictions["observed"]
    total = float(((predictions["observed"] - predictions["observed"].mean()) ** 2).sum())
    inside = np.abs(error) <= Z80 * predictions["std"] * interval_scale
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "bias": float(np.mean(error)),
        "r2": 1 - float((error**2).sum()) / total if total > 0 else float("nan"),
        "coverage80": float(np.mean(inside)),
    }


def interval_scale_from(predictions: pd.DataFrame) -> float:
    """Factor that makes the 80 % interval cover 80 % of held-out errors (split-conformal)."""
    z = np.abs(predictions["predicted"] - predictions["observed"]) / np.maximum(predictions["std"], 1e-9)
    return float(np.quantile(z, 0.8) / Z80) if len(z) else 1.0
