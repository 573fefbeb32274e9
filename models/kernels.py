"""The within-site field's kernels and their closed-form likelihood.

``SiteField`` (``models.within_site``) fits, in transformed grade units,

    ConstantKernel(offset, fixed) + C * HorizontalMatern + CovariateDrift + White

on inputs whose first ``n_coords`` columns are scaled coordinates (x, y, depth) and whose
other columns are standardised covariates:

* ``HorizontalMatern``: a Matern with one range across the horizontal plane and one down
  the hole. Horizontal ranges along x and y separately would make the model depend on how
  the map grid happens to be oriented (an anisotropy that is not along x or y is not
  representable that way) and, with the few hundred composites of a site, add a range that
  the data rarely pin down.
* ``CovariateDrift``: ``sum_j v_j z_j(x) z_j(x')``, a linear effect of each covariate whose
  coefficient has a prior variance ``v_j`` fitted by maximum likelihood (kriging with an
  external drift whose coefficients are random): a covariate that carries no signal gets a
  variance near zero, so it costs little to offer.

``field_log_likelihood`` / ``field_optimizer`` give the log marginal likelihood and its
gradient in closed form for ``nu`` 0.5 and 1.5, several times faster than scikit-learn's
general path (the squared coordinate differences are computed once per fit).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_solve, cholesky, lapack
from scipy.optimize import minimize
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel, Matern


class HorizontalMatern(Matern):
    """Matern on the first ``n_coords`` columns: ``length_scale`` is (horizontal, vertical),
    or (horizontal,) when ``n_coords`` is 2; x and y share the horizontal range.

    >>> X = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 5.0], [9.0, 9.0, 9.0]])
    >>> kernel = HorizontalMatern((5.0, 1.0), nu=0.5)
    >>> np.round(kernel(X[:3, :], X[:1, :]).ravel(), 3).tolist()
    [1.0, 0.368, 0.007]
    """

    def __init__(self, length_scale=(1.0, 1.0), length_scale_bounds=(1e-2, 1e2), nu=1.5, n_coords=3):
        super().__init__(length_scale=length_scale, length_scale_bounds=length_scale_bounds, nu=nu)
        self.n_coords = n_coords

    def _per_column(self) -> Matern:
        horizontal, *vertical = np.atleast_1d(self.length_scale).astype(float)
        lengths = np.r_[horizontal, horizontal, np.repeat(vertical[:1], self.n_coords - 2)]
        return Matern(lengths, nu=self.nu)

    def __call__(self, X, Y=None, eval_gradient=False):
        X = np.atleast_2d(X)[:, : self.n_coords]
        Y = None if Y is None else np.atleast_2d(Y)[:, : self.n_coords]
        if not eval_gradient:
            return self._per_column()(X, Y)
        K, gradient = self._per_column()(X, Y, eval_gradient=True)
        if self.hyperparameter_length_scale.fixed:
            return K, np.empty((len(X), len(X), 0))
        grouped = [gradient[:, :, :2].sum(axis=2)] + ([gradient[:, :, 2:].sum(axis=2)] if self.n_coords > 2 else [])
        return K, np.stack(grouped, axis=2)

    def diag(self, X):
        return np.ones(np.atleast_2d(X).shape[0])


class CovariateDrift(Kernel):
    """``sum_j variances[j] * z_j(x) * z_j(x')`` over the columns after the first ``n_coords``.

    >>> X = np.array([[0.0, 0.0, 0.0, 1.0, -1.0], [5.0, 5.0, 0.0, 2.0, 0.0]])
    >>> CovariateDrift((0.5, 2.0))(X).tolist()
    [[2.5, 1.0], [1.0, 2.0]]
    """

    def __init__(self, variances=(1.0,), variances_bounds=(1e-6, 1e1), n_coords=3):
        self.variances = variances
        self.variances_bounds = variances_bounds
        self.n_coords = n_coords

    @property
    def hyperparameter_variances(self) -> Hyperparameter:
        return Hyperparameter("variances", "numeric", self.variances_bounds, len(np.atleast_1d(self.variances)))

    def __call__(self, X, Y=None, eval_gradient=False):
        Z = np.atleast_2d(X)[:, self.n_coords :]
        W = Z if Y is None else np.atleast_2d(Y)[:, self.n_coords :]
        variances = np.atleast_1d(self.variances).astype(float)
        K = (Z * variances) @ W.T
        if not eval_gradient:
            return K
        if Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        if self.hyperparameter_variances.fixed:
            return K, np.empty((len(Z), len(Z), 0))
        return K, Z[:, None, :] * Z[None, :, :] * variances

    def diag(self, X):
        Z = np.atleast_2d(X)[:, self.n_coords :]
        return (Z**2 * np.atleast_1d(self.variances)).sum(axis=1)

    def is_stationary(self) -> bool:
        return False


#: Matern smoothness values with a closed-form likelihood here.
NU_CLOSED_FORM = (0.5, 1.5)


def matern_unit_and_slope(r: np.ndarray, nu: float) -> tuple[np.ndarray, np.ndarray]:
    """The unit-sill Matern at scaled distances ``r``, and ``slope`` with
    d unit / d log l_k = slope * squared_k / l_k^2 (``squared_k`` the squared difference along k).

    >>> [round(float(v), 3) for v in matern_unit_and_slope(np.array([1.0]), 0.5)[0]]
    [0.368]
    """
    if nu == 0.5:
        unit = np.exp(-r)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(r > 0, unit / r, 0.0)
        return unit, slope
    if nu == 1.5:
        decay = np.exp(-np.sqrt(3.0) * r)
        return (1 + np.sqrt(3.0) * r) * decay, 3.0 * decay
    raise ValueError(f"closed form only for nu 0.5 or 1.5, got {nu}")


def coordinate_differences(X: np.ndarray, n_coords: int) -> np.ndarray:
    """(d, n, n) squared differences of every pair of rows: the horizontal one (x and y
    together), then one per further coordinate column."""
    X = np.asarray(X, dtype=float)
    squared = [(column[:, None] - column[None, :]) ** 2 for column in X[:, :n_coords].T]
    return np.stack([squared[0] + squared[1], *squared[2:]])


def field_log_likelihood(
    theta: np.ndarray,
    squared: np.ndarray,
    covariates: np.ndarray,
    y: np.ndarray,
    nu: float,
    alpha: float = 1e-10,
    fixed_constant: float = 0.0,
) -> tuple[float, np.ndarray]:
    """Log marginal likelihood and its gradient for the kernel of the module docstring.

    ``theta`` holds the log-hyperparameters in scikit-learn's order (C, the ranges of
    ``squared`` (from ``coordinate_differences``), one variance per column of
    ``covariates``, the noise); ``alpha`` is the jitter ``GaussianProcessRegressor`` adds.
    The same numbers as its ``log_marginal_likelihood(theta, eval_gradient=True)``.
    """
    n, d = len(y), len(squared)
    constant, lengths, noise = np.exp(theta[0]), np.exp(theta[1 : 1 + d]), np.exp(theta[-1])
    variances = np.exp(theta[1 + d : -1])
    r = np.sqrt(np.tensordot(1 / lengths**2, squared, axes=1))
    unit, slope = matern_unit_and_slope(r, nu)
    field = constant * unit
    K = field + (noise + alpha) * np.eye(n) + fixed_constant + (covariates * variances) @ covariates.T
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
    grad[1 : 1 + d] = 0.5 * constant * np.tensordot(squared, inner * slope, axes=([1, 2], [0, 1])) / lengths**2
    grad[1 + d : -1] = 0.5 * variances * np.sum((inner @ covariates) * covariates, axis=0)
    grad[-1] = 0.5 * noise * np.trace(inner)
    return float(value), grad


def field_optimizer(X: np.ndarray, y: np.ndarray, nu: float, n_coords: int, fixed_constant: float = 0.0):
    """A ``GaussianProcessRegressor`` optimizer: L-BFGS-B on ``field_log_likelihood`` for
    inputs ``X`` (``n_coords`` coordinate columns, then the covariates)."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    squared, covariates = coordinate_differences(X, n_coords), X[:, n_coords:]

    def negative(theta):
        value, grad = field_log_likelihood(theta, squared, covariates, y, nu, fixed_constant=fixed_constant)
        return (-value, -grad) if np.isfinite(value) else (np.inf, np.zeros_like(theta))

    def optimizer(obj_func, initial_theta, bounds):
        result = minimize(negative, initial_theta, jac=True, method="L-BFGS-B", bounds=bounds)
        return result.x, result.fun

    return optimizer
