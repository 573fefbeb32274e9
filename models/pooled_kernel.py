"""One kernel shape for the thinly sampled sites of a residue type, fitted to all of them at once.

A site with a handful of holes cannot pin down its own variogram: Webster and Oliver
(1992, J. Soil Sci. 43: 177-192) found variograms from fewer than 100 points unreliable,
and most residue sites are sampled with 5 to 20 holes. Geostatistical practice borrows the
variogram of a domain (here: the sites of one residue type) instead. ``fit_pooled_kernel``
maximises the sum of the sites' log marginal likelihoods over one shape, in metres:

    K_site = offset_site + s_site^2 * (C * Matern(h / range_h, dz / range_v) + noise * I)

with each site's residuals first divided by their own standard deviation, so a site's
spread weighs on its scale ``s_site`` and not on the shared ranges and nugget share.
``SiteField`` then fits only ``s_site^2`` (``fit_site_scale``: one Cholesky, then a
one-dimensional search in closed form), so a site keeps its own sill: the literature prior
does not decide how variable a site is, its own composites do.

The sites are stacked (padded to the largest) and their likelihoods evaluated as one
batch of matrix operations: fitting a type's shape costs about as much as fitting one
site's kernel did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from residua.models.kernels import NU_CLOSED_FORM, coordinate_differences, matern_unit_and_slope

#: Fewest thin sites of a residue type for a pooled shape (else the element's thin sites pool across types).
MIN_POOLED_SITES = 5
#: At most this many sites (a seeded sample) enter a pooled fit: a thousand or more composites pin four parameters.
MAX_POOLED_SITES = 30
#: Range bounds (m): horizontal, vertical.
HORIZONTAL_RANGE_BOUNDS_M = (1.0, 1e5)
VERTICAL_RANGE_BOUNDS_M = (0.01, 1e3)
#: Bounds of the site scale s^2 relative to its residual variance.
SCALE_BOUNDS = (1e-3, 1e3)


@dataclass(frozen=True)
class PooledKernel:
    """A kernel shape shared by sites: Matern smoothness, ranges (m), sill share ``C`` and
    nugget share ``noise`` of standardised residuals, and how many sites it was fitted to."""

    nu: float
    range_h_m: float
    range_v_m: float
    sill: float
    noise: float
    n_sites: int


@dataclass(frozen=True)
class SiteResiduals:
    """What a site contributes to a pooled fit: composite coordinates (m), residuals in
    transformed units about the site's centre, and its fixed offset variance."""

    coords_m: np.ndarray
    residual: np.ndarray
    offset_var: float


def fit_pooled_kernel(sites: list[SiteResiduals]) -> PooledKernel:
    """The shape of largest summed likelihood over ``sites`` for each Matern smoothness in
    ``NU_CLOSED_FORM``, the likelier kept."""
    batch = _Batch(sites)
    start = np.log([0.5, batch.typical_range_h, batch.typical_range_v, 0.5])
    bounds = [(np.log(1e-3), np.log(1e2)), tuple(np.log(HORIZONTAL_RANGE_BOUNDS_M)),
              tuple(np.log(VERTICAL_RANGE_BOUNDS_M)), (np.log(1e-3), np.log(1e2))]  # fmt: skip
    best = None
    for nu in NU_CLOSED_FORM:
        result = minimize(batch.negative, start, args=(nu,), jac=True, method="L-BFGS-B", bounds=bounds)
        if best is None or result.fun < best[1].fun:
            best = (nu, result)
        start = result.x
    nu, result = best
    sill, range_h, range_v, noise = np.exp(result.x)
    return PooledKernel(float(nu), float(range_h), float(range_v), float(sill), float(noise), len(sites))


class _Batch:
    """Sites stacked for batched likelihoods: residuals standardised, padded rows inert."""

    def __init__(self, sites: list[SiteResiduals]) -> None:
        size = max(len(site.residual) for site in sites)
        self.valid = np.zeros((len(sites), size), dtype=bool)
        self.y = np.zeros((len(sites), size))
        self.squared = np.zeros((len(sites), 2, size, size))
        self.offset = np.empty(len(sites))
        spans_h, spans_v = [], []
        for index, site in enumerate(sites):
            n, sd = len(site.residual), max(float(np.std(site.residual)), 1e-6)
            self.valid[index, :n] = True
            self.y[index, :n] = site.residual / sd
            self.offset[index] = site.offset_var / sd**2
            xyz = np.asarray(site.coords_m, dtype=float)
            self.squared[index, :, :n, :n] = coordinate_differences(xyz, 3)
            spans_h.append(float(np.sqrt(np.mean(np.var(xyz[:, :2], axis=0)))))
            spans_v.append(float(np.std(xyz[:, 2])))
        self.pairs = self.valid[:, :, None] & self.valid[:, None, :]
        self.eye = np.eye(size)[None]
        self.n_valid = self.valid.sum()
        self.typical_range_h = float(np.clip(np.median(spans_h), *HORIZONTAL_RANGE_BOUNDS_M))
        self.typical_range_v = float(np.clip(np.median(spans_v) or 1.0, *VERTICAL_RANGE_BOUNDS_M))

    def negative(self, theta: np.ndarray, nu: float) -> tuple[float, np.ndarray]:
        """Minus the summed log marginal likelihood of the sites and its gradient in ``theta``
        (logs of sill, horizontal range, vertical range, noise)."""
        sill, range_h, range_v, noise = np.exp(theta)
        lengths = np.array([range_h, range_v])
        r = np.sqrt(self.squared[:, 0] / range_h**2 + self.squared[:, 1] / range_v**2)
        unit, slope = matern_unit_and_slope(r, nu)
        field = np.where(self.pairs, sill * unit, 0.0)
        diagonal = np.where(self.valid, noise + 1e-10, 1.0)
        K = field + self.offset[:, None, None] * self.pairs + self.eye * diagonal[:, :, None]
        try:
            L = np.linalg.cholesky(K)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        inverse = np.linalg.inv(K)
        a = np.einsum("sij,sj->si", inverse, self.y)
        log_det = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum()
        value = -0.5 * np.einsum("si,si->", self.y, a) - 0.5 * log_det - self.n_valid / 2 * np.log(2 * np.pi)
        inner = np.where(self.pairs, a[:, :, None] * a[:, None, :] - inverse, 0.0)
        grad = np.empty(4)
        grad[0] = 0.5 * np.sum(inner * field)
        weighted = inner * np.where(self.pairs, slope, 0.0)
        grad[1:3] = 0.5 * sill * np.einsum("skij,sij->k", self.squared, weighted) / lengths**2
        grad[3] = 0.5 * noise * np.einsum("sii->", inner)
        return -float(value), -grad


def fit_site_scale(correlation: np.ndarray, residual: np.ndarray, offset_var: float) -> float:
    """The site's scale ``s^2`` of maximum likelihood for K = offset + s^2 * correlation.

    One Cholesky of ``correlation`` (the pooled shape at the site's composites, nugget
    included); the offset (a constant, rank one) enters through the matrix determinant
    lemma and Sherman-Morrison, so each trial ``s^2`` costs a few scalar operations.

    >>> rng = np.random.default_rng(0)
    >>> round(fit_site_scale(np.eye(4000), rng.normal(0, 2.0, 4000), 0.0), 1)
    4.0
    """
    n = len(residual)
    L = np.linalg.cholesky(correlation)
    solved_y = np.linalg.solve(L, residual)
    solved_1 = np.linalg.solve(L, np.ones(n))
    yy, y1, ones = solved_y @ solved_y, solved_y @ solved_1, solved_1 @ solved_1
    log_det = 2 * np.log(np.diag(L)).sum()
    variance = max(float(np.var(residual)), 1e-12)

    def negative(log_scale: float) -> float:
        scale = np.exp(log_scale)
        ratio = offset_var / scale
        quadratic = (yy - ratio * y1**2 / (1 + ratio * ones)) / scale
        return 0.5 * (quadratic + n * log_scale + log_det + np.log1p(ratio * ones))

    bounds = np.log(variance * np.array(SCALE_BOUNDS))
    return float(np.exp(minimize_scalar(negative, bounds=tuple(bounds), method="bounded").x))
