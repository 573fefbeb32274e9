"""Within-site grade models that shrink to the site-level prior where data are thin.

Both models work on log-grade residuals from the residue-type mean ``mu_t`` and treat the
site's own offset as a random effect with the prior variance the site-level model gives
(``tau^2`` plus the type mean's own uncertainty):

* ``ShrunkMean``: no spatial structure; the site mean is a precision-weighted blend of
  the prior and the samples (the hierarchical model of ``models.grade`` for one site).
* ``HierarchicalGP``: a Gaussian process whose kernel is that random-effect constant
  (fixed) plus an anisotropic Matern field and a nugget (both fitted). Near samples it
  follows the data; far from them it returns to the site-level mean (the prior shifted
  by the site's shrunk offset), with wider intervals.

``block_grade_draws`` turns either into correlated draws of block grades over a grid.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.linalg import cho_solve, cholesky, solve_triangular
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.utils.validation import check_is_fitted, validate_data

from models.spatial import matern_optimizer


class ShrunkMean(RegressorMixin, BaseEstimator):
    """Posterior site mean of log-grade under a normal prior; no spatial structure.

    >>> model = ShrunkMean(prior_mean=0.0, prior_var=1.0).fit(np.zeros((4, 3)), np.full(4, 2.0))
    >>> bool(0.0 < model.predict(np.zeros((1, 3)))[0] < 2.0)
    True
    """

    def __init__(self, prior_mean: float = 0.0, prior_var: float = 1.0, n_coords: int = 3) -> None:
        self.prior_mean = prior_mean
        self.prior_var = prior_var
        self.n_coords = n_coords

    def fit(self, X: np.ndarray, y: np.ndarray) -> ShrunkMean:
        """Blend the prior with the sample mean by their precisions.

        The sample mean's weight counts distinct collar locations (x, y), not intervals:
        intervals down one hole are strongly correlated.
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        self.nugget_ = max(float(np.var(y, ddof=1)) if len(y) > 1 else self.prior_var, 1e-4)
        n_eff = len(np.unique(np.round(X[:, :2], 3), axis=0))
        precision = 1 / self.prior_var + n_eff / self.nugget_
        self.mean_ = (self.prior_mean / self.prior_var + n_eff * float(np.mean(y)) / self.nugget_) / precision
        self.mean_var_ = 1 / precision
        return self

    def predict(self, X: np.ndarray, return_std: bool = False):
        """The posterior mean everywhere; std includes the point-scale spread."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        mean = np.full(len(X), self.mean_)
        return (mean, np.full(len(X), np.sqrt(self.mean_var_ + self.nugget_))) if return_std else mean

    def field(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Mean and covariance of the smooth log-grade field at X, and the nugget variance."""
        check_is_fitted(self)
        n = len(X)
        return np.full(n, self.mean_), np.full((n, n), self.mean_var_), self.nugget_


class HierarchicalGP(RegressorMixin, BaseEstimator):
    """Gaussian-process log-grade model around a prior mean, with a fixed random-effect term.

    Parameters
    ----------
    prior_mean, prior_var : float
        The residue-type mean log-grade and the variance of a site's offset from it.
    n_coords : int
        Coordinate columns (x, y, depth in metres); further columns are ignored.
    """

    def __init__(self, prior_mean: float = 0.0, prior_var: float = 1.0, n_coords: int = 3, random_state: int = 0) -> None:
        self.prior_mean = prior_mean
        self.prior_var = prior_var
        self.n_coords = n_coords
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> HierarchicalGP:
        """Fit the field's sill, ranges and nugget by maximum likelihood."""
        X, y = validate_data(self, X, y, y_numeric=True)
        coords = np.asarray(X[:, : self.n_coords], dtype=float)
        self.scale_ = np.maximum(np.std(coords, axis=0), 1e-3)
        spread = max(float(np.var(y)), 1e-3)
        kernel = (
            ConstantKernel(self.prior_var, constant_value_bounds="fixed")
            + ConstantKernel(spread / 2, (1e-4, 1e2)) * Matern(np.ones(coords.shape[1]), (1e-2, 1e2), nu=1.5)
            + WhiteKernel(spread / 2, (1e-5, 1e2))
        )
        residual = y - self.prior_mean
        optimizer = matern_optimizer(coords / self.scale_, residual, nu=1.5, fixed_constant=self.prior_var)
        self.gp_ = GaussianProcessRegressor(kernel, optimizer=optimizer, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp_.fit(coords / self.scale_, residual)
        self.nugget_ = float(self.gp_.kernel_.k2.noise_level)
        return self

    def predict(self, X: np.ndarray, return_std: bool = False):
        """Log-grade at X (point support); std includes the nugget."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        coords = np.asarray(X[:, : self.n_coords], dtype=float) / self.scale_
        if return_std:
            mean, std = self.gp_.predict(coords, return_std=True)
            return mean + self.prior_mean, std
        return self.gp_.predict(coords) + self.prior_mean

    def held_out(self, X: np.ndarray, y: np.ndarray, folds) -> pd.DataFrame:
        """Held-out mean and std of every sample, conditioning per fold with this fit's kernel.

        Cross-validation keeps the kernel fitted on all composites (as kriging CV keeps one
        fitted variogram) and re-conditions the field on each fold's training samples:
        the numbers of a ``GaussianProcessRegressor`` with ``kernel=gp_.kernel_`` and no
        optimizer fitted per fold, in closed form from one kernel matrix. The std includes
        the nugget, as ``predict``'s does.
        """
        check_is_fitted(self)
        X, y = validate_data(self, X, y, y_numeric=True, reset=False)
        coords = np.asarray(X[:, : self.n_coords], dtype=float) / self.scale_
        residual = y - self.prior_mean
        covariance = self.gp_.kernel_(coords) + self.gp_.alpha * np.eye(len(y))
        point_variance = self.gp_.kernel_.diag(coords)
        mean, std = np.full(len(y), np.nan), np.full(len(y), np.nan)
        for train, test in folds:
            factor = cholesky(covariance[np.ix_(train, train)], lower=True)
            cross = covariance[np.ix_(test, train)]
            mean[test] = cross @ cho_solve((factor, True), residual[train]) + self.prior_mean
            reduction = solve_triangular(factor, cross.T, lower=True)
            std[test] = np.sqrt(np.clip(point_variance[test] - np.einsum("ij,ij->j", reduction, reduction), 0.0, None))
        return pd.DataFrame({"observed": y, "predicted": mean, "std": std})

    def field(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Mean and covariance of the smooth field (nugget removed) at X, and the nugget."""
        check_is_fitted(self)
        coords = np.asarray(X[:, : self.n_coords], dtype=float) / self.scale_
        mean, covariance = self.gp_.predict(coords, return_cov=True)
        covariance = covariance - self.nugget_ * np.eye(len(X))
        return mean + self.prior_mean, covariance, self.nugget_


def block_grade_draws(
    model: ShrunkMean | HierarchicalGP, blocks: np.ndarray, n_draws: int, seed: int, interval_scale: float = 1.0
) -> np.ndarray:
    """Joint draws (n_draws x n_blocks) of block mean grades (g/t) from the fitted field.

    Each block's grade is exp(field + nugget / 2): the nugget is variability below block
    size, which raises a lognormal's mean without adding risk at block scale. The field's
    uncertainty is widened by ``interval_scale`` (the blocked-CV calibration). Averaging a
    draw over blocks gives a draw of the site's mean grade, so a site's P90 is not the sum
    of its blocks' P90s.
    """
    mean, covariance, nugget = model.field(blocks)
    covariance = (covariance + covariance.T) / 2 * interval_scale**2
    root = _covariance_root(covariance)
    rng = np.random.default_rng(seed)
    fields = mean[None, :] + rng.standard_normal((n_draws, len(mean))) @ root.T
    return np.exp(fields + nugget / 2)


def _covariance_root(covariance: np.ndarray) -> np.ndarray:
    """A matrix L with L @ L.T = covariance: Cholesky with a tiny jitter, else eigenvalues.

    The jitter (1e-9 of the mean variance) is far below any grade variance that matters;
    smooth fields on dense block grids can still be numerically rank-deficient, and the
    clipped eigendecomposition (five to ten times slower) handles those.
    """
    jitter = 1e-9 * max(float(np.mean(np.diag(covariance))), 1e-12)
    try:
        return np.linalg.cholesky(covariance + jitter * np.eye(len(covariance)))
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(covariance)
        return vectors * np.sqrt(np.clip(values, 0.0, None))
