"""Combine spatial models per metal and site by blocked cross-validation, and calibrate them.

Spatial data need blocked cross-validation: neighbouring samples are correlated, so a
random split scores a model on near-copies of its training data and rewards overfitting
(Roberts et al. 2017, Ecography 40:913; verde's BlockKFold). Samples are grouped into
square blocks and whole blocks are held out.

Picking the single candidate with the lowest CV error is noisy on a few hundred samples
(the winner's curse: the winner's CV score is optimistic and the choice flips between
folds). ``SelectedSpatialModel`` therefore stacks by default (Breiman 1996, "Stacked
regressions", Machine Learning 24:49): non-negative weights summing to one, fitted to the
candidates' out-of-fold predictions from repeated blocked CV. The weights themselves are
noisy on a few hundred samples, so they are bagged: averaged over bootstrap resamples of
whole blocks, which spreads weight over candidates the data cannot tell apart instead of
betting on one. Its 80 % intervals are calibrated on the same out-of-fold predictions of
the combined model (split-conformal scaling of a locally varying std: the mixture of the
candidates' calibrated predictive distributions, wider where they disagree).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted, validate_data

from models.grade import Z80
from models.spatial import candidate

DEFAULT_CANDIDATES: tuple[str, ...] = ("type_mean", "trend", "idw", "ordinary_kriging", "gp", "rk_ridge", "rk_forest")
#: Without covariates (and with only x, y), these candidates are the same model as another.
_SAME_WITHOUT_COVARIATES = {"trend": "type_mean", "rk_ridge": "gp", "rk_forest": "gp"}
#: Stacking weights below this are dropped (and the rest renormalised) before the refit.
_MIN_WEIGHT = 0.01


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


def stack_weights(predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one that minimise the squared error of ``predictions @ w``.

    Parameters
    ----------
    predictions : ndarray of shape (n_samples, n_candidates)
        Out-of-fold predictions, one column per candidate.
    y : ndarray of shape (n_samples,)
        The observed values.

    Returns
    -------
    ndarray of shape (n_candidates,)

    >>> P = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])
    >>> stack_weights(P, np.array([0.0, 1.0, 2.0])).round(3).tolist()
    [1.0, 0.0]
    """
    P, y = np.asarray(predictions, dtype=float), np.asarray(y, dtype=float)
    k = P.shape[1]
    if k == 1:
        return np.ones(1)
    gram, cross = P.T @ P / len(y), P.T @ y / len(y)
    result = minimize(
        lambda w: w @ gram @ w - 2 * cross @ w,
        np.full(k, 1 / k),
        jac=lambda w: 2 * (gram @ w - cross),
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1, "jac": lambda w: np.ones(k)}],
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 500},
    )
    weights = np.clip(result.x, 0.0, None)
    return weights / weights.sum()


def bagged_stack_weights(
    predictions: np.ndarray, y: np.ndarray, groups: np.ndarray, n_bootstrap: int = 100, seed: int = 0
) -> np.ndarray:
    """``stack_weights`` averaged over bootstrap resamples of whole groups (spatial blocks).

    Resampling blocks, not rows, keeps neighbouring samples together, as the blocked CV
    that produced the predictions did. With ``n_bootstrap=0`` this is ``stack_weights``.

    >>> P = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0], [3.0, 7.0]])
    >>> bagged_stack_weights(P, np.arange(4.0), np.array([0, 0, 1, 1]), 20).round(3).tolist()
    [1.0, 0.0]
    """
    P, y, groups = np.asarray(predictions, dtype=float), np.asarray(y, dtype=float), np.asarray(groups)
    if n_bootstrap <= 0:
        return stack_weights(P, y)
    rng = np.random.default_rng(seed)
    blocks = np.unique(groups)
    members = [np.flatnonzero(groups == block) for block in blocks]
    draws = []
    for _ in range(n_bootstrap):
        rows = np.concatenate([members[i] for i in rng.integers(0, len(blocks), len(blocks))])
        draws.append(stack_weights(P[rows], y[rows]))
    weights = np.mean(draws, axis=0)
    return weights / weights.sum()


def combine(
    means: np.ndarray, stds: np.ndarray, weights: np.ndarray, scales: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean of the candidates and the std of their mixture.

    The variance is that of a mixture of the candidates' calibrated predictive
    distributions, ``sum_k w_k * ((s_k * std_k)**2 + (mean_k - mean)**2)``: it grows where
    the candidates disagree (far from samples, across class boundaries), which makes the
    interval locally adaptive before the final conformal scaling.

    >>> m, s = combine(np.array([[0.0, 2.0]]), np.array([[1.0, 1.0]]), np.array([0.5, 0.5]), np.ones(2))
    >>> m.tolist(), s.round(3).tolist()
    ([1.0], [1.414])
    """
    mean = means @ weights
    variance = ((scales * stds) ** 2 + (means - mean[:, None]) ** 2) @ weights
    return mean, np.sqrt(variance)


class SelectedSpatialModel(RegressorMixin, BaseEstimator):
    """A stack (or the best) of spatial candidates by repeated blocked CV, with calibrated intervals.

    Parameters
    ----------
    n_coords : int
        Leading coordinate columns of ``X`` (2 or 3); the rest are numeric covariates.
    candidates : tuple of str
        Names from ``models.spatial.CANDIDATES``. Without covariate columns (and with
        ``n_coords=2``) candidates that reduce to another one are scored once.
    n_splits, n_blocks_per_side, random_state
        Blocked cross-validation layout and seed.
    method : {"stack", "select"}
        ``"stack"``: non-negative weights summing to one on the candidates' out-of-fold
        predictions (the combination can be a single candidate). ``"select"``: the one
        candidate with the lowest CV RMSE.
    n_repeats : int
        Blocked CV repeats, each with another random assignment of blocks to folds; the
        out-of-fold predictions of all repeats are pooled, which steadies the weights and
        the calibration.
    n_bootstrap : int
        Bootstrap resamples of blocks over which the stacking weights are averaged
        (bagging); 0 fits them once on all out-of-fold predictions.

    Attributes
    ----------
    chosen_ : str
        The candidate with the largest weight (the only one for ``method="select"``).
    weights_ : pandas.Series
        Weight of each candidate kept in the combination (summing to one).
    cv_scores_ : pandas.DataFrame
        Blocked-CV scores of every candidate, with its weight and its own interval
        scale, and a ``"combined"`` row for the combination (``coverage80`` is before
        the final calibration).
    interval_scale_ : float
        Multiplier on the combined std so 80 % intervals cover 80 % of the pooled
        out-of-fold errors.
    models_ : dict
        Each kept candidate refitted on all data.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(0, 100, (60, 2))
    >>> y = np.sin(X[:, 0] / 20) + rng.normal(0, 0.1, 60)
    >>> model = SelectedSpatialModel(candidates=("type_mean", "idw"), n_repeats=1).fit(X, y)
    >>> model.chosen_
    'idw'
    """

    def __init__(
        self,
        n_coords: int = 2,
        candidates: tuple[str, ...] = DEFAULT_CANDIDATES,
        n_splits: int = 5,
        n_blocks_per_side: int = 4,
        random_state: int = 0,
        method: str = "stack",
        n_repeats: int = 3,
        n_bootstrap: int = 100,
    ) -> None:
        self.n_coords = n_coords
        self.candidates = candidates
        self.n_splits = n_splits
        self.n_blocks_per_side = n_blocks_per_side
        self.random_state = random_state
        self.method = method
        self.n_repeats = n_repeats
        self.n_bootstrap = n_bootstrap

    def fit(self, X: np.ndarray, y: np.ndarray) -> SelectedSpatialModel:
        """Cross-validate every candidate, weight them, calibrate, refit the kept ones on all data."""
        X, y = validate_data(self, X, y, y_numeric=True)
        if self.method not in ("stack", "select"):
            raise ValueError(f"method must be 'stack' or 'select', got {self.method!r}")
        if self.n_repeats < 1 or self.n_bootstrap < 0:
            raise ValueError(
                f"n_repeats must be at least 1 and n_bootstrap at least 0, got {self.n_repeats} and {self.n_bootstrap}"
            )
        if X.shape[1] < self.n_coords:
            raise ValueError(
                f"SelectedSpatialModel reads the first n_coords={self.n_coords} columns of X as coordinates, "
                f"but X has {X.shape[1]} feature(s); put x, y (and depth) first or set n_coords"
            )
        coords = X[:, : self.n_coords]
        blocks = block_groups(coords, self.n_blocks_per_side)
        if len(np.unique(blocks)) < 2:
            raise ValueError(
                f"blocked CV needs samples in at least 2 of the {self.n_blocks_per_side}x{self.n_blocks_per_side} "
                f"blocks, got n_samples={len(y)} in 1 block; add samples or use a single model such as ConstantMean"
            )
        repeats = [
            blocked_folds(coords, self.n_splits, self.n_blocks_per_side, self.random_state + repeat)
            for repeat in range(self.n_repeats)
        ]
        held_out = self._cross_validate_candidates(X, y, repeats)
        names = list(held_out)
        means = np.column_stack([held_out[name]["predicted"] for name in names])
        stds = np.column_stack([held_out[name]["std"] for name in names])
        observed = held_out[names[0]]["observed"].to_numpy()
        scales = np.array([interval_scale_from(held_out[name]) for name in names])
        rmse = np.sqrt(np.mean((means - observed[:, None]) ** 2, axis=0))
        if self.method == "select":
            weights = (np.arange(len(names)) == np.argmin(rmse)).astype(float)
        else:
            pooled_blocks = np.tile(blocks, self.n_repeats)
            weights = bagged_stack_weights(means, observed, pooled_blocks, self.n_bootstrap, self.random_state)
        weights = np.where(weights >= _MIN_WEIGHT, weights, 0.0)
        weights /= weights.sum()
        mean, std = combine(means, stds, weights, scales)
        combined = pd.DataFrame({"observed": observed, "predicted": mean, "std": std})
        self.interval_scale_ = interval_scale_from(combined)
        rows = [
            {"candidate": n, **score(held_out[n]), "weight": w, "interval_scale": s}
            for n, w, s in zip(names, weights, scales)
        ]
        rows.append({"candidate": "combined", **score(combined), "weight": 1.0, "interval_scale": self.interval_scale_})
        self.cv_scores_ = pd.DataFrame(rows).set_index("candidate")
        keep = weights > 0
        self.weights_ = pd.Series(weights[keep], index=np.array(names)[keep], name="weight")
        self.component_scales_ = pd.Series(scales[keep], index=self.weights_.index, name="interval_scale")
        self.chosen_ = str(self.weights_.idxmax())
        self.models_ = {name: candidate(name, self.n_coords).fit(X, y) for name in self.weights_.index}
        self.model_ = self.models_[self.chosen_]
        return self

    def predict(self, X: np.ndarray, return_std: bool = False):
        """The combined prediction (and its calibrated std when ``return_std``)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        predictions = [self.models_[name].predict(X, return_std=True) for name in self.weights_.index]
        means = np.column_stack([mean for mean, _ in predictions])
        stds = np.column_stack([std for _, std in predictions])
        mean, std = combine(means, stds, self.weights_.to_numpy(), self.component_scales_.to_numpy())
        return (mean, std * self.interval_scale_) if return_std else mean

    def _cross_validate_candidates(self, X: np.ndarray, y: np.ndarray, repeats: list) -> dict[str, pd.DataFrame]:
        """Pooled out-of-fold predictions of every eligible candidate over all repeats."""
        names = list(dict.fromkeys(self.candidates))
        if X.shape[1] == self.n_coords == 2:
            names = list(dict.fromkeys(_SAME_WITHOUT_COVARIATES.get(name, name) for name in names))
        held_out = {}
        for name in names:
            try:
                frames = [cross_validate(candidate(name, self.n_coords), X, y, folds) for folds in repeats]
            except (ValueError, np.linalg.LinAlgError):
                continue  # e.g. kriging with too few samples in a fold: the candidate is not eligible
            pooled = pd.concat(frames, ignore_index=True)
            if np.isfinite(pooled[["predicted", "std"]].to_numpy()).all():
                held_out[name] = pooled
        if not held_out:
            raise ValueError(f"none of the candidates {self.candidates} could be cross-validated on {len(y)} samples")
        return held_out
