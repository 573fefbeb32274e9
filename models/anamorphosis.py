"""Transforms in which within-site grades are modelled: log, and normal score.

Real grades are skewed and rarely lognormal, so the within-site model offers two spaces
and lets blocked validation choose (``models.block_model``):

* ``LogTransform``: log-grade; the back-transform of a Gaussian field with a nugget is
  ``exp(y + nugget / 2)``, which only holds if grades really are lognormal.
* ``NormalScore``: Gaussian anamorphosis (Journel and Huijbregts 1978; Deutsch and
  Journel 1998, GSLIB, ``nscore``/``backtr``), fitted to the declustered distribution of
  the site's composites. Values below detection take the lowest ranks, so however far
  below the rest they were imputed, their normal scores cannot spread the distribution.

Both expose ``block_mean(y, nugget)``: the mean grade of a block whose smooth field value
is ``y`` in transformed units, averaged over the nugget (variability below block size),
i.e. E[backward(y + e)], e ~ N(0, nugget). Block and site means are averages of these
back-transformed values, never ``exp(mu + sigma^2 / 2)`` of a fitted variance.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

#: Gauss-Hermite nodes for the average over the nugget.
_HERMITE = np.polynomial.hermite.hermgauss(24)
#: How far (in normal-score units) the back-transform extrapolates beyond the extreme data.
TAIL_Z = 1.0
#: Transformed values where ``NormalScore.block_mean`` is tabulated (then interpolated).
_GRID = np.linspace(-8.0, 8.0, 1601)


class LogTransform:
    """Log-grade: ``forward = log``, ``backward = exp``.

    >>> LogTransform().fit(np.array([1.0, np.e])).block_mean(np.array([0.0]), 0.0).tolist()
    [1.0]
    """

    name = "log"

    def fit(self, grades: np.ndarray, weights: np.ndarray | None = None) -> LogTransform:
        """Nothing to learn; returns self."""
        return self

    def forward(self, grades: np.ndarray) -> np.ndarray:
        """Log of grades (g/t)."""
        return np.log(np.asarray(grades, dtype=float))

    def backward(self, y: np.ndarray) -> np.ndarray:
        """Grades from log-grades."""
        return np.exp(np.asarray(y, dtype=float))

    def block_mean(self, y: np.ndarray, nugget: float) -> np.ndarray:
        """Mean grade over the nugget: ``exp(y + nugget / 2)``."""
        return np.exp(np.asarray(y, dtype=float) + nugget / 2)


class NormalScore:
    """Gaussian anamorphosis fitted to weighted (declustered) grades.

    ``forward`` maps a grade to the standard normal quantile of its weighted mid-rank in
    the fitted distribution; ``backward`` interpolates log-grade linearly between the
    fitted nodes and extrapolates the tails log-linearly with the slope of the outer tenth
    of the nodes, for at most ``TAIL_Z`` normal-score units beyond the data (so no
    realisation exceeds the largest sample by more than that slope allows).

    >>> ns = NormalScore().fit(np.array([1.0, 2.0, 4.0, 100.0]))
    >>> bool(abs(float(ns.forward(np.array([3.0]))[0])) < 0.5), round(
    ...     float(ns.backward(ns.forward(np.array([4.0])))[0]), 6
    ... )
    (True, 4.0)
    """

    name = "normal_score"

    def fit(self, grades: np.ndarray, weights: np.ndarray | None = None) -> NormalScore:
        """Fit the anamorphosis table: one node (normal score, log-grade) per distinct grade."""
        grades = np.asarray(grades, dtype=float)
        weights = np.ones(len(grades)) if weights is None else np.asarray(weights, dtype=float)
        values, inverse = np.unique(grades, return_inverse=True)
        mass = np.bincount(inverse, weights)
        if len(values) < 2:
            raise ValueError(f"a normal-score transform needs at least 2 distinct grades, got {len(values)}")
        share = mass / mass.sum()
        self.z_ = ndtri(np.cumsum(share) - share / 2)
        self.log_grade_ = np.log(values)
        tail = max(2, int(np.ceil(len(values) / 10)))
        self.low_slope_ = _slope(self.z_[:tail], self.log_grade_[:tail])
        self.high_slope_ = _slope(self.z_[-tail:], self.log_grade_[-tail:])
        self._curves: dict[float, np.ndarray] = {}
        return self

    def forward(self, grades: np.ndarray) -> np.ndarray:
        """Normal scores of grades (linear in log-grade beyond the fitted range, as ``backward``)."""
        log_grade = np.log(np.asarray(grades, dtype=float))
        z = np.interp(log_grade, self.log_grade_, self.z_)
        z = np.where(
            log_grade > self.log_grade_[-1], self.z_[-1] + (log_grade - self.log_grade_[-1]) / self.high_slope_, z
        )
        return np.where(
            log_grade < self.log_grade_[0], self.z_[0] + (log_grade - self.log_grade_[0]) / self.low_slope_, z
        )

    def backward(self, y: np.ndarray) -> np.ndarray:
        """Grades (g/t) of normal scores."""
        y = np.asarray(y, dtype=float)
        top, bottom = self.z_[-1], self.z_[0]
        log_grade = np.interp(y, self.z_, self.log_grade_)
        above = self.log_grade_[-1] + self.high_slope_ * (np.minimum(y, top + TAIL_Z) - top)
        below = self.log_grade_[0] + self.low_slope_ * (np.maximum(y, bottom - TAIL_Z) - bottom)
        return np.exp(np.where(y > top, above, np.where(y < bottom, below, log_grade)))

    def block_mean(self, y: np.ndarray, nugget: float) -> np.ndarray:
        """E[backward(y + e)], e ~ N(0, nugget), by Gauss-Hermite quadrature, tabulated per nugget."""
        key = round(float(nugget), 12)
        if key not in self._curves:
            nodes, weights = _HERMITE
            spread = np.sqrt(2 * max(nugget, 0.0)) * nodes
            self._curves[key] = self.backward(_GRID[:, None] + spread[None, :]) @ weights / np.sqrt(np.pi)
        return np.interp(np.asarray(y, dtype=float), _GRID, self._curves[key])


def _slope(z: np.ndarray, log_grade: np.ndarray) -> float:
    """Least-squares slope of log-grade on normal score, kept within [0.05, 3]."""
    slope = np.polyfit(z, log_grade, 1)[0] if np.ptp(z) > 0 else 1.0
    return float(np.clip(slope, 0.05, 3.0))


def make_transform(name: str) -> LogTransform | NormalScore:
    """A new, unfitted transform by name (``log`` or ``normal_score``)."""
    if name == "log":
        return LogTransform()
    if name == "normal_score":
        return NormalScore()
    raise ValueError(f"unknown transform {name!r}; use 'log' or 'normal_score'")


def expected_block_mean(
    transform: LogTransform | NormalScore, mean: np.ndarray, sd: np.ndarray, nugget: float
) -> np.ndarray:
    """E[block_mean(Y)] for Y ~ N(mean, sd^2) per element: a block's expected grade given the data."""
    nodes, weights = _HERMITE
    values = transform.block_mean(
        np.asarray(mean)[:, None] + np.sqrt(2) * np.asarray(sd)[:, None] * nodes[None, :], nugget
    )
    return values @ weights / np.sqrt(np.pi)
