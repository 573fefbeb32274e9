"""The spatial baselines Residua's within-site models must beat.

Each estimator takes ``X`` as a 2-D array whose first ``n_coords`` columns are
coordinates (x, y and optionally depth, in metres) and ``y`` as the value to estimate
(log-grade or grade). ``predict(X, return_std=True)`` returns the predictive mean and
standard deviation at each row.

* ``InverseDistance``: inverse-distance weighting (power 2, nearest neighbours).
* ``OrdinaryKriging``: ordinary kriging with a fitted variogram (PyKrige).
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
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

#: Below this many samples one BLAS thread is faster than several (and on a busy machine much
#: faster: threads of a small Cholesky spin-wait for each other).
_SMALL = 2000


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

    def held_out(self, X: np.ndarray, y: np.ndarray, folds) -> tuple[np.ndarray, np.ndarray]:
        """Kriged mean and std of each fold's held-out rows from its training rows, with this fitted variogram.

        The same kriging system PyKrige solves (variogram matrix with a zero diagonal,
        bordered by the unbiasedness row), built from one matrix of variogram values
        instead of a new PyKrige object per fold: ``cross_validate`` of an
        ``OrdinaryKriging(variogram_parameters=self.variogram_parameters_)`` gives the
        same numbers several times slower.
        """
        check_is_fitted(self)
        coords, y = self._coords(np.asarray(X, dtype=float)), np.asarray(y, dtype=float)
        gamma = self.kriging_.variogram_function(self.kriging_.variogram_model_parameters, cdist(coords, coords))
        mean, std = np.full(len(y), np.nan), np.full(len(y), np.nan)
        for train, test in folds:
            n = len(train)
            system = np.ones((n + 1, n + 1))
            system[:n, :n] = -gamma[np.ix_(train, train)]
            system[np.arange(n), np.arange(n)] = 0.0
            system[n, n] = 0.0
            right = np.ones((n + 1, len(test)))
            right[:n] = -gamma[np.ix_(train, test)]
            weights = np.linalg.solve(system, right)
            mean[test] = weights[:n].T @ y[train]
            std[test] = np.sqrt(np.clip(np.sum(weights * -right, axis=0), 0.0, None))
        return mean, std

    def _coords(self, X: np.ndarray) -> np.ndarray:
        coords = np.array(X[:, : self.n_coords], dtype=float)
        if coords.shape[1] == 3:
            coords[:, 2] *= self.vertical_scale
        return coords
