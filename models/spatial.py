"""Spatial log-grade estimators with the scikit-learn API, and the baselines they must beat.

Every estimator takes ``X`` as a 2-D array whose first ``n_coords`` columns are
coordinates (x, y and optionally depth, in metres) and whose remaining columns are
covariates (already numeric: one-hot encode categories first), and ``y`` as log-grade.
``predict(X, return_std=True)`` returns the predictive mean and standard deviation of
log-grade at each row.

* ``ConstantMean``: the training mean (the residue-type-mean baseline within a site).
* ``CovariateTrend``: a ridge regression on the covariates alone, no spatial term; with
  one-hot class covariates it is a (shrunk) class-mean model.
* ``InverseDistance``: inverse-distance weighting (power 2, nearest neighbours).
* ``OrdinaryKriging``: ordinary kriging with a fitted variogram (PyKrige).
* ``RegressionKriging``: a trend on covariates (ridge or random forest) plus a Gaussian
  process on its residuals (Matern + nugget, anisotropic length scales): the
  kriging-equivalent model of the issue, which reduces to simple kriging when the
  covariates carry nothing.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np
import pykrige.ok
import pykrige.ok3d
from pykrige.ok import OrdinaryKriging as _PyKrigeOK
from pykrige.ok3d import OrdinaryKriging3D as _PyKrigeOK3D
from scipy.linalg import cho_solve, cholesky, lapack
from scipy.optimize import minimize
from scipy.spatial import cKDTree
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.linear_model import RidgeCV
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

#: Below this many samples one BLAS thread is faster than several (and on a busy machine much
#: faster: threads of a small Cholesky spin-wait for each other).
_SMALL = 2000


class ConstantMean(RegressorMixin, BaseEstimator):
    """Predict the training mean everywhere, with the training spread as its std.

    >>> ConstantMean().fit(np.zeros((3, 2)), np.array([1.0, 2.0, 3.0])).predict(np.zeros((1, 2)))
    array([2.])
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> ConstantMean:
        """Store the mean and standard deviation of ``y``."""
        X, y = validate_data(self, X, y, y_numeric=True)
        self.mean_ = float(np.mean(y))
        self.std_ = float(np.std(y, ddof=1)) if len(y) > 1 else 0.0
        self.n_train_ = len(y)
        return self

    def predict(self, X: np.ndarray, return_std: bool = False):
        """The training mean for every row (and its spread when ``return_std``)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        mean = np.full(len(X), self.mean_)
        if not return_std:
            return mean
        return mean, np.full(len(X), self.std_ * np.sqrt(1 + 1 / self.n_train_))


class CovariateTrend(RegressorMixin, BaseEstimator):
    """A ridge trend on the covariate columns alone, with no spatial term.

    With one-hot class covariates (residue type, rock type, land use) this is a class-mean
    model shrunk toward the overall mean; without covariates it is the training mean. Its
    std is the leave-one-out residual spread of the ridge fit (constant everywhere).

    Parameters
    ----------
    n_coords : int
        Leading coordinate columns of ``X``; they are ignored, except depth (the third
        coordinate when ``n_coords`` is 3), which enters the trend as ``RegressionKriging``'s
        does.

    >>> X = np.array([[0.0, 0, 1], [1, 0, 1], [0, 1, 0], [1, 1, 0]])
    >>> model = CovariateTrend(n_coords=2).fit(X, np.array([2.0, 2.0, 0.0, 0.0]))
    >>> bool(model.predict(X[:1])[0] > model.predict(X[2:3])[0])
    True
    """

    def __init__(self, n_coords: int = 2) -> None:
        self.n_coords = n_coords

    def fit(self, X: np.ndarray, y: np.ndarray) -> CovariateTrend:
        """Fit the ridge trend (penalty chosen by efficient leave-one-out CV)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        _check_coords(self, X)
        covariates = _trend_columns(X, self.n_coords)
        self.y_mean_ = float(np.mean(y))
        if covariates.shape[1] and len(y) > 2:
            self.trend_ = RidgeCV(alphas=np.logspace(-3, 3, 13), store_cv_results=True).fit(covariates, y)
            loo = self.trend_.cv_results_[:, list(self.trend_.alphas).index(self.trend_.alpha_)]
            self.std_ = float(np.sqrt(np.mean(loo)))
        else:
            self.trend_ = None
            n = len(y)
            self.std_ = float(np.std(y, ddof=1) * np.sqrt(1 + 1 / n)) if n > 1 else 0.0
        return self

    def predict(self, X: np.ndarray, return_std: bool = False):
        """The trend at every row (and the constant LOO spread when ``return_std``)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        if self.trend_ is None:
            mean = np.full(len(X), self.y_mean_)
        else:
            mean = self.trend_.predict(_trend_columns(X, self.n_coords))
        return (mean, np.full(len(X), self.std_)) if return_std else mean


def _trend_columns(X: np.ndarray, n_coords: int) -> np.ndarray:
    """Covariate columns of ``X``, with depth first when ``n_coords`` is 3."""
    covariates = np.asarray(X[:, n_coords:], dtype=float)
    if n_coords == 3:
        covariates = np.column_stack([np.asarray(X[:, 2], dtype=float), covariates])
    return covariates


def _blas_threads(n_samples: int):
    """One BLAS thread for small kriging systems, the library's default for large ones."""
    return _threadpools().limit(limits=1, user_api="blas") if n_samples <= _SMALL else contextlib.nullcontext()


@functools.cache
def _threadpools() -> ThreadpoolController:
    """This process's BLAS/OpenMP libraries, found once (a search per call cost 7 % of block-model time)."""
    return ThreadpoolController()


def _pykrige_parameters(model: str, fitted: list[float]) -> list[float] | dict[str, float]:
    """PyKrige's input form of its own fitted parameters (it stores the partial sill, reads a list as the sill)."""
    if model in ("gaussian", "spherical", "exponential", "hole-effect"):
        psill, range_, nugget = fitted
        return {"psill": psill, "range": range_, "nugget": nugget}
    return list(fitted)


@contextlib.contextmanager
def _without_pykrige_statistics():
    """Skip PyKrige's leave-one-out fit statistics (Q1, Q2, cR) while a kriging object is built.

    PyKrige computes them in every constructor, by kriging each sample from the ones before
    it: more work than fitting the variogram and kriging together on a site's composites.
    Residua never reads them (it scores kriging by blocked cross-validation instead), so the
    statistics function is swapped for one returning empty arrays, then restored.
    """

    def nothing(*args, **kwargs):
        return np.empty(0), np.empty(0), np.empty(0)

    modules = (pykrige.ok, pykrige.ok3d)
    saved = [module._find_statistics for module in modules]
    for module in modules:
        module._find_statistics = nothing
    try:
        yield
    finally:
        for module, original in zip(modules, saved):
            module._find_statistics = original


def matern_log_likelihood(theta: np.ndarray, X: np.ndarray, y: np.ndarray, nu: float, alpha: float = 1e-10):
    """Log marginal likelihood and its gradient for ``C * Matern(anisotropic) + White``.

    ``theta`` is the kernel's log-hyperparameters in scikit-learn's order (constant, one
    length scale per column of ``X``, noise); ``alpha`` is the jitter scikit-learn's
    ``GaussianProcessRegressor`` adds. The same numbers as
    ``GaussianProcessRegressor.log_marginal_likelihood(theta, eval_gradient=True)``, in
    closed form for ``nu`` 0.5 and 1.5 and several times faster (the squared coordinate
    differences are computed once per fit, and no (n, n, d) gradient array is built).
    """
    return _matern_log_likelihood(theta, _squared_differences(X), np.asarray(y, dtype=float), nu, alpha)


def _squared_differences(X: np.ndarray) -> np.ndarray:
    """(d, n, n) squared differences of every pair of rows, one slab per column."""
    X = np.asarray(X, dtype=float)
    return np.stack([(column[:, None] - column[None, :]) ** 2 for column in X.T])


def _matern_log_likelihood(
    theta: np.ndarray, squared: np.ndarray, y: np.ndarray, nu: float, alpha: float = 1e-10, fixed_constant: float = 0.0
):
    """As ``matern_log_likelihood``; ``fixed_constant`` adds a constant kernel term that is not fitted."""
    n = len(y)
    constant, lengths, noise = np.exp(theta[0]), np.exp(theta[1:-1]), np.exp(theta[-1])
    r = np.sqrt(np.tensordot(1 / lengths**2, squared, axes=1))
    if nu == 0.5:
        unit = np.exp(-r)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(r > 0, unit / r, 0.0)  # d unit / d log l_k = slope * squared_k / l_k^2
    elif nu == 1.5:
        decay = np.exp(-np.sqrt(3.0) * r)
        unit = (1 + np.sqrt(3.0) * r) * decay
        slope = 3.0 * decay
    else:
        raise ValueError(f"closed form only for nu 0.5 or 1.5, got {nu}")
    field = constant * unit
    K = field + (noise + alpha) * np.eye(n) + fixed_constant
    try:
        L = cholesky(K, lower=True)
    except np.linalg.LinAlgError:
        return -np.inf, np.zeros_like(theta)
    a = cho_solve((L, True), y)
    value = -0.5 * y @ a - np.log(np.diag(L)).sum() - n / 2 * np.log(2 * np.pi)
    inverse, info = lapack.dpotri(L, lower=1)
    if info:
        return -np.inf, np.zeros_like(theta)
    inverse = np.tril(inverse) + np.tril(inverse, -1).T
    inner = np.outer(a, a) - inverse
    grad = np.empty(len(theta))
    grad[0] = 0.5 * np.sum(inner * field)
    grad[1:-1] = 0.5 * constant * np.tensordot(squared, inner * slope, axes=([1, 2], [0, 1])) / lengths**2
    grad[-1] = 0.5 * noise * np.trace(inner)
    return float(value), grad


def matern_optimizer(X: np.ndarray, y: np.ndarray, nu: float, fixed_constant: float = 0.0):
    """A ``GaussianProcessRegressor`` optimizer: L-BFGS-B on ``matern_log_likelihood``.

    For the kernel ``C * Matern(anisotropic) + White``, or with ``fixed_constant`` > 0 for
    ``ConstantKernel(fixed_constant, "fixed") + C * Matern + White`` (whose fitted
    hyperparameters are the same three groups, in the same order).
    """
    squared, y = _squared_differences(X), np.asarray(y, dtype=float)

    def negative(theta):
        value, grad = _matern_log_likelihood(theta, squared, y, nu, fixed_constant=fixed_constant)
        return (-value, -grad) if np.isfinite(value) else (np.inf, np.zeros_like(theta))

    def optimizer(obj_func, initial_theta, bounds):
        result = minimize(negative, initial_theta, jac=True, method="L-BFGS-B", bounds=bounds)
        return result.x, result.fun

    return optimizer


def _check_coords(estimator: BaseEstimator, X: np.ndarray) -> None:
    """Raise if ``X`` has fewer columns than the estimator's coordinate columns."""
    if X.shape[1] < estimator.n_coords:
        raise ValueError(
            f"{type(estimator).__name__} reads the first n_coords={estimator.n_coords} columns of X as coordinates, "
            f"but X has {X.shape[1]} feature(s); put x, y (and depth) first or set n_coords"
        )


class InverseDistance(RegressorMixin, BaseEstimator):
    """Inverse-distance weighting of the ``n_neighbors`` nearest samples.

    Its std is the weighted spread of the neighbours' values (IDW has no error model; this
    gives the baseline an interval to be scored on, no more).

    >>> model = InverseDistance(n_coords=2).fit(np.array([[0.0, 0], [2, 0]]), np.array([0.0, 2.0]))
    >>> model.predict(np.array([[1.0, 0]]))
    array([1.])
    """

    def __init__(self, n_coords: int = 2, power: float = 2.0, n_neighbors: int = 12) -> None:
        self.n_coords = n_coords
        self.power = power
        self.n_neighbors = n_neighbors

    def fit(self, X: np.ndarray, y: np.ndarray) -> InverseDistance:
        """Index the sample coordinates."""
        X, y = validate_data(self, X, y, y_numeric=True)
        _check_coords(self, X)
        self.tree_ = cKDTree(X[:, : self.n_coords])
        self.y_ = np.asarray(y, dtype=float)
        return self

    def predict(self, X: np.ndarray, return_std: bool = False):
        """Weighted mean of the nearest samples (exact at a sample's own location)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        k = min(self.n_neighbors, len(self.y_))
        distance, index = self.tree_.query(X[:, : self.n_coords], k=k)
        distance, index = distance.reshape(len(X), k), index.reshape(len(X), k)
        weights = 1.0 / np.maximum(distance, 1e-9) ** self.power
        weights /= weights.sum(axis=1, keepdims=True)
        values = self.y_[index]
        mean = (weights * values).sum(axis=1)
        if not return_std:
            return mean
        spread = np.sqrt((weights * (values - mean[:, None]) ** 2).sum(axis=1) + 1e-12)
        return mean, spread


class OrdinaryKriging(RegressorMixin, BaseEstimator):
    """Ordinary kriging (PyKrige) on the coordinate columns, with a fitted variogram.

    With ``n_coords=3`` the third coordinate (depth) is scaled by ``vertical_scale``
    before kriging (geometric anisotropy: auger intervals are metres apart vertically,
    holes tens of metres apart horizontally). ``variogram_parameters`` (a fitted model's
    ``variogram_parameters_``) reuses a variogram instead of fitting one, as kriging
    cross-validation keeps the variogram fitted on all the data.
    """

    def __init__(
        self,
        n_coords: int = 2,
        variogram_model: str = "spherical",
        nlags: int = 10,
        vertical_scale: float = 10.0,
        variogram_parameters: list[float] | None = None,
    ) -> None:
        self.n_coords = n_coords
        self.variogram_model = variogram_model
        self.nlags = nlags
        self.vertical_scale = vertical_scale
        self.variogram_parameters = variogram_parameters

    def fit(self, X: np.ndarray, y: np.ndarray) -> OrdinaryKriging:
        """Fit the variogram and keep the kriging system."""
        X, y = validate_data(self, X, y, y_numeric=True)
        _check_coords(self, X)
        if len(y) < 3:
            raise ValueError(f"OrdinaryKriging needs at least 3 samples to fit a variogram, got n_samples={len(y)}")
        coords = self._coords(X)
        options = {"variogram_model": self.variogram_model, "nlags": self.nlags, "exact_values": False}
        if self.variogram_parameters is not None:
            options["variogram_parameters"] = _pykrige_parameters(self.variogram_model, self.variogram_parameters)
        with warnings.catch_warnings(), _blas_threads(len(y)), _without_pykrige_statistics():
            warnings.simplefilter("ignore")
            if coords.shape[1] == 3:
                self.kriging_ = _PyKrigeOK3D(coords[:, 0], coords[:, 1], coords[:, 2], y, **options)
            else:
                self.kriging_ = _PyKrigeOK(coords[:, 0], coords[:, 1], y, **options)
        self.variogram_parameters_ = list(self.kriging_.variogram_model_parameters)
        self.n_train_ = len(y)
        return self

    def predict(self, X: np.ndarray, return_std: bool = False):
        """Kriged log-grade (and kriging std when ``return_std``)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        coords = self._coords(X)
        with warnings.catch_warnings(), _blas_threads(self.n_train_):
            warnings.simplefilter("ignore")
            if coords.shape[1] == 3:
                mean, variance = self.kriging_.execute("points", coords[:, 0], coords[:, 1], coords[:, 2])
            else:
                mean, variance = self.kriging_.execute("points", coords[:, 0], coords[:, 1])
        mean = np.asarray(mean, dtype=float)
        std = np.sqrt(np.maximum(np.asarray(variance, dtype=float), 0.0))
        return (mean, std) if return_std else mean

    def _coords(self, X: np.ndarray) -> np.ndarray:
        coords = np.array(X[:, : self.n_coords], dtype=float)
        if coords.shape[1] == 3:
            coords[:, 2] *= self.vertical_scale
        return coords


class RegressionKriging(RegressorMixin, BaseEstimator):
    """A covariate trend plus a Gaussian process on its residuals (regression kriging).

    Parameters
    ----------
    n_coords : int
        Leading coordinate columns of ``X``; the rest are covariates.
    trend : {"ridge", "forest", "none"}
        Trend model on the covariates (and depth when ``n_coords`` is 3).
    random_state : int
        Seed for the forest trend.
    nu : float or "auto"
        Smoothness of the Matern kernel: 0.5 is the exponential variogram (rough fields),
        1.5 (default) once-differentiable fields; ``"auto"`` fits both and keeps the one
        with the higher log marginal likelihood (a choice made on the training data alone;
        the kept value is ``nu_``).
    n_trees : int
        Trees in the forest trend.

    Notes
    -----
    The GP kernel is ``C * Matern(nu, anisotropic) + White`` on coordinates scaled to unit
    spread; its hyperparameters are fitted by maximum likelihood from unit length scales
    (random optimiser restarts never raised the likelihood on 14 subsets of the Jura
    survey, so there are none), so the nugget and range are learnt, not assumed. The
    predictive std is the GP's (field plus nugget); the trend's own uncertainty enters
    only through the GP's noise term, so calibrate intervals by cross-validation
    (``models.selection``).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(0, 10, (40, 2))
    >>> model = RegressionKriging(trend="none").fit(X, np.sin(X[:, 0]))
    >>> bool(abs(model.predict(np.array([[5.0, 5.0]]))[0] - np.sin(5.0)) < 0.2)
    True
    """

    def __init__(
        self,
        n_coords: int = 2,
        trend: str = "ridge",
        random_state: int = 0,
        nu: float | str = 1.5,
        n_trees: int = 100,
    ) -> None:
        self.n_coords = n_coords
        self.trend = trend
        self.random_state = random_state
        self.nu = nu
        self.n_trees = n_trees

    def fit(self, X: np.ndarray, y: np.ndarray) -> RegressionKriging:
        """Fit the trend, then the GP on the trend's residuals."""
        X, y = validate_data(self, X, y, y_numeric=True)
        if self.trend not in ("ridge", "forest", "none"):
            raise ValueError(f"trend must be 'ridge', 'forest' or 'none', got {self.trend!r}")
        if not (self.nu == "auto" or isinstance(self.nu, (int, float)) and self.nu > 0):
            raise ValueError(f"nu must be a positive number (0.5, 1.5, 2.5 are fastest) or 'auto', got {self.nu!r}")
        _check_coords(self, X)
        coords, covariates = self._split(X)
        self.trend_ = self._make_trend().fit(covariates, y) if covariates.shape[1] else None
        residual = y - self._trend(covariates, len(y), y_mean=float(np.mean(y)))
        self.offset_ = float(np.mean(residual))
        self.scale_ = np.maximum(np.std(coords, axis=0), 1e-6)
        smoothness = (0.5, 1.5) if self.nu == "auto" else (float(self.nu),)
        with warnings.catch_warnings(), _blas_threads(len(y)):
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits = [self._fit_gp(coords / self.scale_, residual - self.offset_, nu) for nu in smoothness]
        self.gp_ = max(fits, key=lambda gp: gp.log_marginal_likelihood_value_)
        self.nu_ = self.gp_.kernel_.k1.k2.nu
        self.y_mean_ = float(np.mean(y))
        return self

    def predict(self, X: np.ndarray, return_std: bool = False, return_cov: bool = False):
        """Trend plus kriged residual; optionally the predictive std or full covariance."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        coords, covariates = self._split(X)
        trend = self._trend(covariates, len(X), y_mean=self.y_mean_) + self.offset_
        with _blas_threads(len(self.gp_.X_train_)):
            if return_cov:
                residual, covariance = self.gp_.predict(coords / self.scale_, return_cov=True)
                return trend + residual, covariance
            if return_std:
                residual, std = self.gp_.predict(coords / self.scale_, return_std=True)
                return trend + residual, std
            return trend + self.gp_.predict(coords / self.scale_)

    def _fit_gp(self, coords: np.ndarray, residual: np.ndarray, nu: float) -> GaussianProcessRegressor:
        spread = float(np.var(residual)) or 1e-6
        kernel = ConstantKernel(spread, (1e-4, 1e2)) * Matern(
            length_scale=np.ones(coords.shape[1]), length_scale_bounds=(1e-3, 1e3), nu=nu
        ) + WhiteKernel(spread / 2, (1e-6, 1e2))
        fast = nu in (0.5, 1.5) and len(residual) <= _SMALL
        optimizer = matern_optimizer(coords, residual, nu) if fast else "fmin_l_bfgs_b"
        gp = GaussianProcessRegressor(kernel, optimizer=optimizer, normalize_y=False, random_state=self.random_state)
        gp.fit(coords, residual)
        gp.optimizer = "fmin_l_bfgs_b"  # the same search, by name: a fitted model must pickle (joblib IO manager)
        return gp

    def _split(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        coords = np.asarray(X[:, : self.n_coords], dtype=float)
        covariates = _trend_columns(X, self.n_coords)
        return coords, covariates if self.trend != "none" else covariates[:, :0]

    def _make_trend(self):
        if self.trend == "forest":
            return RandomForestRegressor(n_estimators=self.n_trees, min_samples_leaf=5, random_state=self.random_state)
        return RidgeCV(alphas=np.logspace(-3, 3, 13))

    def _trend(self, covariates: np.ndarray, n: int, y_mean: float) -> np.ndarray:
        if self.trend_ is None:
            return np.full(n, y_mean)
        return self.trend_.predict(covariates)


CANDIDATES: dict[str, BaseEstimator] = {
    "type_mean": ConstantMean(),
    "trend": CovariateTrend(),
    "idw": InverseDistance(),
    "ordinary_kriging": OrdinaryKriging(),
    "gp": RegressionKriging(trend="none", nu="auto"),
    "rk_ridge": RegressionKriging(trend="ridge", nu="auto"),
    "rk_forest": RegressionKriging(trend="forest", nu="auto"),
}


def candidate(name: str, n_coords: int) -> BaseEstimator:
    """A fresh, unfitted candidate estimator configured for ``n_coords`` coordinates."""
    model = clone(CANDIDATES[name])
    if "n_coords" in model.get_params():
        model.set_params(n_coords=n_coords)
    return model
