"""Within-site grade model: a Gaussian field in a chosen transform, with an optional trend.

``SiteField`` models one site's composites of one element. Grades are transformed (log or
normal score, ``models.anamorphosis``); in that space the values are

    y = m0 + trend(covariates) + offset + field(x, y, depth) + nugget

* ``m0``: for log, the site-level model's prior for the site (residue-type mean plus its
  covariate trend); for normal scores, 0 (the declustered mean, by construction).
* ``offset``: the site's constant departure from ``m0``, a random effect of fixed
  variance. For log it is the site-level prior variance, but never less than the squared
  distance between the site's own declustered mean and ``m0``: a site whose data sit far
  from its residue type is not pulled back by a spread that other sites set, so the
  literature prior weighs only where the data are thin. For normal scores it is the
  sampling variance of a mean of ``n_holes`` independent scores.
* ``field``: a Matern of fitted sill, one horizontal and one vertical range
  (``models.kernels.HorizontalMatern``; ``spatial``, without it only the offset and the
  nugget remain: the site's mean, shrunk). Its smoothness ``nu`` is 0.5 (exponential:
  rough, as soil and residue grades usually are, close to the spherical variogram of
  kriging practice) or 1.5 (smooth), whichever has the higher maximised likelihood (the
  two have the same number of parameters), unless given. With ``drift``, the field also
  holds a linear effect of each standardised covariate whose coefficient's variance is
  fitted by likelihood (``models.kernels.CovariateDrift``: kriging with an external drift
  that a covariate without signal leaves near zero).
* ``trend``: a random forest on the covariate columns (``trend``), whose out-of-bag
  predictions give the residuals the field is fitted to.

Every published number comes from ``field`` and ``transform_.block_mean``: held-out
predictions (``held_out``), block draws (``block_grade_draws``) and so site totals.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.linalg import cho_solve, cholesky, solve_triangular
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel
from sklearn.utils.validation import check_is_fitted

from residua.models.anamorphosis import expected_block_mean, make_transform
from residua.models.grade import Z80
from residua.models.kernels import NU_CLOSED_FORM, CovariateDrift, HorizontalMatern, field_optimizer
from residua.models.pooled_kernel import PooledKernel, SiteResiduals, fit_site_scale

#: Below this spread (m) of the composites along a coordinate, the field is taken as constant along it.
MIN_COORDINATE_SPREAD_M = 1e-3


class SiteField(RegressorMixin, BaseEstimator):
    """Transformed-Gaussian model of one site's grades (g/t) for one element.

    Parameters
    ----------
    transform : {"log", "normal_score"}
    prior_mean, prior_var : float
        The site-level model's prior mean log-grade for the site and its variance (log only).
    spatial : bool
        Fit a Matern field; else the model is the site's (shrunk) mean plus a nugget.
    trend : bool
        Fit a random-forest trend on ``X[:, n_coords:]`` (the covariates).
    drift : bool
        Give the field a linear effect of each covariate in ``X[:, n_coords:]`` (one that
        varies among the composites), each with a variance fitted by likelihood.
    n_coords : int
        Coordinate columns of ``X`` (x, y, depth in metres).
    nu : float or None
        The Matern smoothness (0.5 or 1.5); None chooses it by likelihood (``nu_``).
    pooled_kernel : PooledKernel or None
        A kernel shape fitted to the thin sites of the residue type
        (``models.pooled_kernel``): the field takes its smoothness, ranges and nugget share
        and fits only its own scale. None fits every hyperparameter to this site.

    Notes
    -----
    ``fit(X, grades, sample_weight)`` takes grades in g/t (not logs) and declustering
    weights, with which the normal-score transform and the site mean are weighted.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.uniform(0, 100, 30), rng.uniform(0, 100, 30), np.zeros(30)])
    >>> model = SiteField("normal_score").fit(X, np.exp(rng.normal(2.0, 0.5, 30)))
    >>> bool(model.predict(X[:2]).shape == (2,))
    True
    """

    def __init__(
        self,
        transform: str = "log",
        prior_mean: float = 0.0,
        prior_var: float = 1.0,
        spatial: bool = True,
        trend: bool = False,
        n_coords: int = 3,
        random_state: int = 0,
        nu: float | None = None,
        drift: bool = False,
        pooled_kernel: PooledKernel | None = None,
    ) -> None:
        self.transform = transform
        self.prior_mean = prior_mean
        self.prior_var = prior_var
        self.spatial = spatial
        self.trend = trend
        self.n_coords = n_coords
        self.random_state = random_state
        self.nu = nu
        self.drift = drift
        self.pooled_kernel = pooled_kernel

    def fit(self, X: np.ndarray, grades: np.ndarray, sample_weight: np.ndarray | None = None) -> SiteField:
        """Fit the transform, the trend, then the field's sill, ranges and nugget by maximum likelihood."""
        X, grades = np.asarray(X, dtype=float), np.asarray(grades, dtype=float)
        weights = np.ones(len(grades)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.scale_ = _coordinate_scale(X[:, : self.n_coords])
        residual, offset_var = self._residuals(X, grades, weights)
        covariates = X[:, self.n_coords :]
        varying = (
            np.nanstd(covariates, axis=0) > 0 if self.drift and self.spatial else np.zeros(covariates.shape[1], bool)
        )
        self.drift_columns_ = np.flatnonzero(varying)
        self.drift_mean_ = np.nanmean(covariates[:, varying], axis=0)
        self.drift_scale_ = np.nanstd(covariates[:, varying], axis=0)
        inputs = self._gp_inputs(X)
        if self.spatial and self.pooled_kernel is not None:
            self.gp_ = self._condition_on_pooled(inputs, residual, offset_var)
            self.nu_ = self.pooled_kernel.nu
        elif self.spatial:
            fits = {}
            for nu in NU_CLOSED_FORM if self.nu is None else (self.nu,):  # each after the first starts at its optimum
                start = next(iter(fits.values()), None)
                fits[nu] = self._fit_field(inputs, residual, offset_var, nu, start)
            self.nu_ = max(fits, key=lambda nu: fits[nu].log_marginal_likelihood_value_)
            self.gp_ = fits[self.nu_]
        else:
            # no field: the nugget is the residuals' spread about their mean, in closed form
            nugget = max(float(np.var(residual, ddof=1)) if len(residual) > 1 else 1e-3, 1e-5)
            kernel = ConstantKernel(offset_var, "fixed") + WhiteKernel(nugget, noise_level_bounds="fixed")
            self.gp_ = GaussianProcessRegressor(kernel, optimizer=None).fit(inputs, residual)
            self.nu_ = None
        self.nugget_ = float(self.gp_.kernel_.k2.noise_level)
        self.offset_var_ = offset_var
        return self

    def residuals(self, X: np.ndarray, grades: np.ndarray, sample_weight: np.ndarray | None = None) -> SiteResiduals:
        """What this site contributes to a pooled kernel fit (``models.pooled_kernel``): the
        composites' coordinates, residuals about the centre (as ``fit`` computes them) and offset variance."""
        X, grades = np.asarray(X, dtype=float), np.asarray(grades, dtype=float)
        weights = np.ones(len(grades)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        residual, offset_var = self._residuals(X, grades, weights)
        coords = X[:, : self.n_coords]
        return SiteResiduals(np.column_stack([coords, np.zeros((len(X), 3 - coords.shape[1]))]), residual, offset_var)

    def _residuals(self, X: np.ndarray, grades: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, float]:
        """Fit the transform, centre and trend; the residuals the field models and the offset variance."""
        self.transform_, self.mean0_, offset_var = self._centre(X[:, : self.n_coords], grades, weights)
        centred = self.transform_.forward(grades) - self.mean0_
        self.forest_, trend = _fit_trend(X, centred, self) if self.trend else (None, np.zeros(len(grades)))
        return centred - trend, offset_var

    def _condition_on_pooled(self, inputs: np.ndarray, residual: np.ndarray, offset_var: float):
        """The GP with the pooled shape, scaled to this site by maximum likelihood (``fit_site_scale``)."""
        pooled = self.pooled_kernel
        metres = np.r_[pooled.range_h_m, pooled.range_v_m][: 1 + (self.n_coords > 2)]
        scale = self.scale_[[0, 2][: len(metres)]]
        lengths = np.where(np.isfinite(scale), metres / scale, 1.0)
        shape = HorizontalMatern(lengths, "fixed", nu=pooled.nu, n_coords=self.n_coords)
        correlation = pooled.sill * shape(inputs) + pooled.noise * np.eye(len(residual))
        site_scale = fit_site_scale(correlation, residual, offset_var)
        kernel = ConstantKernel(offset_var, "fixed") + ConstantKernel(site_scale * pooled.sill, "fixed") * shape
        kernel += WhiteKernel(site_scale * pooled.noise, noise_level_bounds="fixed")
        return GaussianProcessRegressor(kernel, optimizer=None).fit(inputs, residual)

    def _fit_field(self, inputs: np.ndarray, residual: np.ndarray, offset_var: float, nu: float, start=None):
        """The GP of offset + sill * Matern(nu) (+ covariate drift) + nugget, its hyperparameters at
        maximum likelihood (searched from those of ``start``, a fitted GP, when given)."""
        spread = max(float(np.var(residual)), 1e-3)
        n_ranges = 1 + (self.n_coords > 2)
        field = ConstantKernel(spread / 2, (1e-4, 1e2)) * HorizontalMatern(
            np.ones(n_ranges), (1e-2, 1e2), nu=nu, n_coords=self.n_coords
        )
        kernel = ConstantKernel(offset_var, constant_value_bounds="fixed") + field
        if len(self.drift_columns_):
            kernel += CovariateDrift(np.full(len(self.drift_columns_), spread / 20), (1e-6, 1e1), self.n_coords)
        kernel += WhiteKernel(spread / 2, (1e-5, 1e2))
        if start is not None:
            kernel = kernel.clone_with_theta(np.clip(start.kernel_.theta, *kernel.bounds.T))
        optimizer = field_optimizer(inputs, residual, nu, self.n_coords, fixed_constant=offset_var)
        gp = GaussianProcessRegressor(kernel, optimizer=optimizer, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return gp.fit(inputs, residual)

    def _gp_inputs(self, X: np.ndarray) -> np.ndarray:
        """The GP's inputs at X: scaled coordinates, then the drift's standardised covariates (a gap
        counts as the composites' mean)."""
        X = np.asarray(X, dtype=float)
        covariates = (X[:, self.n_coords + self.drift_columns_] - self.drift_mean_) / self.drift_scale_
        return np.column_stack([X[:, : self.n_coords] / self.scale_, np.nan_to_num(covariates)])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Median grade (g/t) of the block whose centre is each row of X."""
        mean, _ = self.field_marginals(X)
        return self.transform_.block_mean(mean, self.nugget_)

    def field_marginals(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of the smooth field (transformed units, trend and m0 included) at X."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        mean, std = self.gp_.predict(self._gp_inputs(X), return_std=True)
        variance = np.clip(std**2 - self.nugget_, 0.0, None)
        return mean + self.mean0_ + self.trend_at(X), np.sqrt(variance)

    def field(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the smooth field at X (nugget removed)."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        mean, covariance = self.gp_.predict(self._gp_inputs(X), return_cov=True)
        return mean + self.mean0_ + self.trend_at(X), covariance - self.nugget_ * np.eye(len(X))

    def held_out(
        self, X: np.ndarray, grades: np.ndarray, folds, sample_weight: np.ndarray | None = None
    ) -> pd.DataFrame:
        """Held-out predictions of every composite through the published path.

        Per fold the transform, the centre ``m0`` and the trend are refitted on the fold's
        training composites; the kernel stays the one fitted to all of them (as kriging
        keeps one variogram) and the field is re-conditioned in closed form. Each held-out
        composite gets what the rasters publish at its place: the P50 of the block mean
        (``predicted``, as log) and its expected block grade (``predicted_gt``), plus the
        point-scale ``std`` of log-grade used to calibrate and score the 80 % interval.
        """
        check_is_fitted(self)
        X, grades = np.asarray(X, dtype=float), np.asarray(grades, dtype=float)
        weights = np.ones(len(grades)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        inputs = self._gp_inputs(X)
        covariance = self.gp_.kernel_(inputs) + self.gp_.alpha * np.eye(len(grades))
        point_variance = self.gp_.kernel_.diag(inputs)
        predicted, std, predicted_gt = (np.full(len(grades), np.nan) for _ in range(3))
        for train, test in folds:
            fold = _FoldCentre(self, X[train], grades[train], weights[train])
            factor = cholesky(covariance[np.ix_(train, train)], lower=True)
            cross = covariance[np.ix_(test, train)]
            mean = cross @ cho_solve((factor, True), fold.residual) + fold.centre(X[test])
            reduction = solve_triangular(factor, cross.T, lower=True)
            variance = np.clip(point_variance[test] - np.einsum("ij,ij->j", reduction, reduction), 0.0, None)
            field_sd = np.sqrt(np.clip(variance - self.nugget_, 0.0, None))
            transform = fold.transform
            point_sd = np.sqrt(variance)
            low, high = transform.backward(mean - Z80 * point_sd), transform.backward(mean + Z80 * point_sd)
            predicted[test] = np.log(transform.block_mean(mean, self.nugget_))
            std[test] = np.log(high / low) / (2 * Z80)
            predicted_gt[test] = expected_block_mean(transform, mean, field_sd, self.nugget_)
        return pd.DataFrame({"observed": np.log(grades), "predicted": predicted, "std": std,
                             "observed_gt": grades, "predicted_gt": predicted_gt})  # fmt: skip

    def _centre(self, coords: np.ndarray, grades: np.ndarray, weights: np.ndarray):
        """The fitted transform, the centre m0 and the offset variance (see the module docstring)."""
        transform = make_transform(self.transform).fit(grades, weights)
        if self.transform == "log":
            own_mean = float(np.average(np.log(grades), weights=weights))
            return transform, float(self.prior_mean), max(float(self.prior_var), (own_mean - self.prior_mean) ** 2)
        n_holes = max(len(np.unique(np.round(coords[:, :2], 3), axis=0)), 1)
        return transform, 0.0, max(1.0 / n_holes, 1e-3)

    def trend_at(self, X: np.ndarray) -> np.ndarray:
        """The covariate trend at X (0 without a trend)."""
        return self.forest_.predict(X[:, self.n_coords :]) if self.forest_ is not None else np.zeros(len(X))


class _FoldCentre:
    """A fold's own transform, centre and trend, fitted on its training composites only."""

    def __init__(self, model: SiteField, X: np.ndarray, grades: np.ndarray, weights: np.ndarray) -> None:
        coords = X[:, : model.n_coords]
        self.transform, self.mean0, _ = model._centre(coords, grades, weights)
        target = self.transform.forward(grades) - self.mean0
        self.forest, trend = _fit_trend(X, target, model) if model.trend else (None, np.zeros(len(grades)))
        self.residual = target - trend
        self.n_coords = model.n_coords

    def centre(self, X: np.ndarray) -> np.ndarray:
        trend = self.forest.predict(X[:, self.n_coords :]) if self.forest is not None else 0.0
        return self.mean0 + trend


def _coordinate_scale(coords: np.ndarray) -> np.ndarray:
    """Per coordinate column, the spread the field's ranges are measured in: x and y share one
    (the horizontal range is the same in every direction), depth has its own.

    A coordinate the composites do not vary along (one sampling depth) says nothing about the
    field along it: its scale is infinite, so blocks at other depths are not "far" from the data.

    >>> _coordinate_scale(np.array([[0.0, 0.0, 1.0], [30.0, 40.0, 1.0]])).tolist()
    [17.67766952966369, 17.67766952966369, inf]
    """
    spread = np.std(coords, axis=0)
    spread[:2] = np.sqrt(np.mean(spread[:2] ** 2))
    return np.where(spread > MIN_COORDINATE_SPREAD_M, spread, np.inf)


def _fit_trend(X: np.ndarray, target: np.ndarray, model: SiteField) -> tuple[RandomForestRegressor, np.ndarray]:
    """A random forest of ``target`` on the covariate columns, and its out-of-bag predictions at the rows."""
    forest = RandomForestRegressor(
        n_estimators=100,
        min_samples_leaf=3,
        max_features=0.5,
        oob_score=True,
        random_state=model.random_state,
        n_jobs=1,
    ).fit(X[:, model.n_coords :], target)
    return forest, np.nan_to_num(forest.oob_prediction_)


def block_grade_draws(
    model: SiteField, blocks: np.ndarray, n_draws: int, seed: int, interval_scale: float = 1.0
) -> np.ndarray:
    """Joint draws (n_draws x n_blocks) of block mean grades (g/t) from the fitted field.

    Each draw of the smooth field (``block_field_draws``) is back-transformed block by
    block with the nugget averaged out (``block_mean``). Averaging a draw over blocks gives
    a draw of the site's mean grade, so a site's P90 is not the sum of its blocks' P90s.
    """
    return model.transform_.block_mean(block_field_draws(model, blocks, n_draws, seed, interval_scale), model.nugget_)


def block_field_draws(
    model: SiteField, blocks: np.ndarray, n_draws: int, seed: int, interval_scale: float = 1.0
) -> np.ndarray:
    """Joint draws of the smooth field (transformed units) at block centres, conditioned on
    the composites, its uncertainty widened by ``interval_scale`` (the blocked-CV calibration)."""
    mean, covariance = model.field(blocks)
    covariance = (covariance + covariance.T) / 2 * interval_scale**2
    root = _covariance_root(covariance)
    rng = np.random.default_rng(seed)
    return mean[None, :] + rng.standard_normal((n_draws, len(mean))) @ root.T


def field_covariance(model: SiteField, X: np.ndarray) -> np.ndarray:
    """The fitted (prior) covariance of the smooth field at X: the kernel without its nugget."""
    check_is_fitted(model)
    return model.gp_.kernel_.k1(model._gp_inputs(X))


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
