"""Checks a geostatistician makes on simulated grades: do the realisations reproduce the data?

Per site, from the block draws of the chosen within-site model:

* ``mean_z``: the simulated site mean against the declustered composite mean, as the
  distance of ln(declustered mean) from the mean log of the simulated site means in
  units of their sd (large where shrinkage or the model moved the site far from its data);
* ``p90_ratio``: the realised block grades' P90 over the declustered composites' P90
  (histogram reproduction: blocks average out sub-block variability, so expect <= 1,
  but not far below it where the field carries the variance);
* ``variogram_ratio``: median over lag classes of the realisations' experimental
  semivariogram (transformed units, smooth field) over the fitted model's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Sites whose declustered mean lies further than this (in sd of the simulated site mean) are flagged.
MEAN_Z_LIMIT = 1.645
#: Share of flagged sites above which the element's check warns.
MAX_FLAGGED_SHARE = 0.2
#: Realisations' variogram within this factor of the model's (median over lags).
VARIOGRAM_RATIO_RANGE = (0.5, 2.0)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-quantile of values under weights (mid-point plotting positions).

    >>> weighted_quantile(np.array([1.0, 2.0, 3.0]), np.ones(3), 0.5)
    2.0
    """
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) - weights[order] / 2
    return float(np.interp(q * weights.sum(), cumulative, values[order]))


def variogram_ratio(
    fields: np.ndarray, coords: np.ndarray, model_covariance, n_lags: int = 6, max_points: int = 150
) -> float:
    """Median over lag classes of experimental / model semivariance of simulated fields.

    ``fields`` (draws x points) in transformed units, ``coords`` (points x d) in metres,
    ``model_covariance(coords)`` the model's covariance matrix of the smooth field at
    those points. Lags up to half the largest distance, in classes of equal pair count.
    """
    rng = np.random.default_rng(0)
    keep = np.sort(rng.permutation(len(coords))[:max_points])
    coords, fields = coords[keep], fields[:, keep]
    i, j = np.triu_indices(len(coords), k=1)
    if not len(i):
        return float("nan")
    lag = np.linalg.norm(coords[i, :2] - coords[j, :2], axis=1)
    near = lag <= lag.max() / 2
    i, j, lag = i[near], j[near], lag[near]
    if len(lag) < n_lags:
        return float("nan")
    experimental = np.mean((fields[:, i] - fields[:, j]) ** 2, axis=0) / 2
    covariance = model_covariance(coords)
    model = (covariance[i, i] + covariance[j, j]) / 2 - covariance[i, j]
    classes = np.array_split(np.argsort(lag), n_lags)
    ratios = [experimental[c].mean() / model[c].mean() for c in classes if model[c].mean() > 1e-9]
    return float(np.median(ratios)) if ratios else float("nan")


def reproduction_table(blocks: dict) -> pd.DataFrame:
    """One row per block-modelled site: ``chosen``, the three checks and whether the mean is flagged."""
    rows = [{"site_id": site_id, "chosen": block.chosen, **block.reproduction} for site_id, block in blocks.items()]
    table = pd.DataFrame(rows, columns=["site_id", "chosen", "declustered_mean_gt", "simulated_mean_gt", "mean_z",
                                        "p90_ratio", "variogram_ratio"])  # fmt: skip
    table["mean_flagged"] = table["mean_z"].abs() > MEAN_Z_LIMIT
    return table


def reproduction_summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per element: sites, share whose declustered mean is flagged, median p90 and variogram ratios, verdict."""
    rows = []
    for element, table in tables.items():
        if table.empty:
            continue
        ratio = float(table["variogram_ratio"].median())
        flagged = float(table["mean_flagged"].mean())
        low, high = VARIOGRAM_RATIO_RANGE
        rows.append({
            "element": element, "sites": len(table), "mean_flagged_share": flagged,
            "median_p90_ratio": float(table["p90_ratio"].median()), "median_variogram_ratio": ratio,
            "passed": bool(flagged <= MAX_FLAGGED_SHARE and (np.isnan(ratio) or low <= ratio <= high)),
        })  # fmt: skip
    return pd.DataFrame(rows)
