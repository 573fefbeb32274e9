"""Assays made ready for modelling: below-detection values, composites, top-cut, weights."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.spatial import cKDTree
from scipy.special import log_ndtr, ndtr, ndtri

from residua.geodata.crs import to_local_metres

#: Fewest detected assays a censored lognormal fit needs (a site's own, else its residue type's).
MIN_DETECTED_FOR_FIT = 5
#: Fraction of the detection limit used where no censored fit is possible (half-limit substitution).
BDL_SUBSTITUTION_FRACTION = 0.5


def log_grade_table(samples: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, element: str) -> pd.DataFrame:
    """One row per assayed interval of ``element``, with below-detection values substituted.

    Parameters
    ----------
    samples
        Accepted samples (lon/lat points) with ``site_id``, ``hole_id``, depths,
        ``<element>_gt`` and ``<element>_bdl``.
    sites
        Accepted sites with ``site_id``, ``residue_type`` and footprint geometry.

    Returns
    -------
    pandas.DataFrame
        ``site_id``, ``residue_type``, ``hole_id``, ``x_m``, ``y_m`` (metres in the
        site's UTM zone), ``depth_from_m``, ``depth_to_m``, ``grade_gt`` (below-detection
        values imputed by :func:`impute_below_detection`), ``bdl``, ``log_grade`` and
        ``weight`` (interval length, 1 where depths are missing).
    """
    value_column, flag_column = f"{element}_gt", f"{element}_bdl"
    assayed = samples[samples[value_column].notna()]
    bdl = assayed[flag_column].astype(bool).to_numpy()
    residue_types = assayed["site_id"].map(sites.set_index("site_id")["residue_type"]).to_numpy()
    grade = impute_below_detection(
        assayed[value_column].to_numpy(dtype=float), bdl, assayed["site_id"].to_numpy(), residue_types
    )
    footprints = sites.set_index("site_id").geometry
    xy = to_local_metres(assayed.geometry, assayed["site_id"], footprints) if len(assayed) else np.empty((0, 2))
    table = pd.DataFrame(
        {
            "site_id": assayed["site_id"].to_numpy(),
            "residue_type": residue_types,
            "hole_id": assayed["hole_id"].fillna("").astype(str).to_numpy(),
            "x_m": xy[:, 0],
            "y_m": xy[:, 1],
            "depth_from_m": assayed["depth_from_m"].to_numpy(dtype=float),
            "depth_to_m": assayed["depth_to_m"].to_numpy(dtype=float),
            "grade_gt": grade,
            "bdl": bdl,
        }
    )
    blank_hole = table["hole_id"] == ""
    table.loc[blank_hole, "hole_id"] = [f"_sample{i}" for i in range(int(blank_hole.sum()))]
    return _with_logs(table)


def impute_below_detection(
    values: np.ndarray, bdl: np.ndarray, site_ids: np.ndarray, residue_types: np.ndarray
) -> np.ndarray:
    """Grades with below-detection values imputed from a censored lognormal fit.

    Values reported below a detection limit L (``bdl``; ``values`` holds L there) are
    spread over the quantiles below L of the lognormal fitted by maximum likelihood to the
    site's assays, detected values and censored ones both counting (as robust regression on
    order statistics does with its fitted line; Helsel, *Statistics for Censored
    Environmental Data*, 2nd ed., 2012: substituting a fixed fraction of L biases means and
    spreads, the more so the more values are censored). Imputed values serve the summary
    statistics and the models; no single one is a measurement. A site with fewer than
    MIN_DETECTED_FOR_FIT detected values borrows the fit of all its residue type's assays;
    where that is too thin as well, half the limit is used. Imputed values always lie
    below their limit.

    Examples
    --------
    >>> values = np.array([0.2, 0.2, 1.0, 1.5, 2.0, 3.0, 4.0])
    >>> imputed = impute_below_detection(values, values < 0.5, np.array(["s"] * 7), np.array(["t"] * 7))
    >>> bool((imputed[:2] < 0.2).all() and (imputed[2:] == values[2:]).all())
    True
    """
    values = np.asarray(values, dtype=float)
    bdl = np.asarray(bdl, dtype=bool)
    imputed = np.where(bdl, values * BDL_SUBSTITUTION_FRACTION, values)
    if not bdl.any():
        return imputed
    type_fits = {kind: _censored_lognormal_fit(values[rows], bdl[rows])
                 for kind, rows in pd.Series(range(len(values))).groupby(residue_types).groups.items()
                 if bdl[rows].any()}  # fmt: skip
    for rows in pd.Series(range(len(values))).groupby(site_ids).groups.values():
        rows = np.asarray(rows)
        censored = rows[bdl[rows]]
        if not len(censored):
            continue
        fit = _censored_lognormal_fit(values[rows], bdl[rows]) or type_fits.get(residue_types[rows[0]])
        if fit is not None:
            imputed[censored] = _quantiles_below(values[censored], *fit)
    return imputed


def _censored_lognormal_fit(values: np.ndarray, bdl: np.ndarray) -> tuple[float, float] | None:
    """(mu, sigma) of log-values by maximum likelihood with left-censoring; None if too few detected."""
    detected, limits = np.log(values[~bdl]), np.log(values[bdl])
    if len(detected) < MIN_DETECTED_FOR_FIT or np.ptp(detected) == 0:
        return None

    def negative_log_likelihood(params: np.ndarray) -> tuple[float, np.ndarray]:
        """The censored normal likelihood of (mu, log sigma) and its gradient."""
        mu, sigma = params[0], np.exp(params[1])
        z_detected, z_censored = (detected - mu) / sigma, (limits - mu) / sigma
        log_cdf = log_ndtr(z_censored)
        ratio = np.exp(-0.5 * z_censored**2 - 0.5 * np.log(2 * np.pi) - log_cdf)  # phi / Phi
        value = 0.5 * np.sum(z_detected**2) + len(detected) * params[1] - np.sum(log_cdf)
        gradient = np.array([(np.sum(ratio) - np.sum(z_detected)) / sigma,
                             len(detected) - np.sum(z_detected**2) + np.sum(ratio * z_censored)])  # fmt: skip
        return float(value), gradient

    start = np.array([np.mean(detected), np.log(max(np.std(detected), 1e-3))])
    result = minimize(negative_log_likelihood, start, jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(np.exp(result.x[1]))


def _quantiles_below(limits: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """The k values censored at one limit L, spread over the fitted lognormal below L.

    They take the quantiles at Phi(z) (i - 1/2) / k, i = 1..k, z = (ln L - mu) / sigma, in
    the order given, so the imputed values keep the fitted spread (one value for all would
    shrink it) and their mean is close to E[X | X < L].
    """
    imputed = np.empty(len(limits))
    for limit in np.unique(limits):
        rows = np.flatnonzero(limits == limit)
        below = ndtr((np.log(limit) - mu) / sigma)
        imputed[rows] = np.exp(mu + sigma * ndtri(below * (np.arange(len(rows)) + 0.5) / len(rows)))
    return imputed


def prepare_grades(
    samples: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    element: str,
    composite_length_m: float = 1.5,
    top_cut_fence: float = 3.0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Intervals -> composites -> top-cut -> declustering weights, with counts of each step.

    Returns the modelling table (as ``log_grade_table``, plus ``depth_m``, the composite
    mid-depth, and ``weight`` = length x declustering weight) and a dict with
    ``intervals``, ``composites``, ``bdl_share`` and ``top_cut``.
    """
    intervals = log_grade_table(samples, sites, element)
    table = composite_intervals(intervals.drop(columns=["log_grade", "weight"]), composite_length_m)
    table["grade_gt"], cut = top_cut(table["grade_gt"], table["residue_type"], top_cut_fence)
    table = _with_logs(table)
    table["depth_m"] = ((table["depth_from_m"] + table["depth_to_m"]) / 2).fillna(0.0)
    xy, weight = table[["x_m", "y_m"]].to_numpy(dtype=float), table["weight"].to_numpy(dtype=float, copy=True)
    for rows in table.groupby("site_id").indices.values():
        cell = max(_median_spacing(np.unique(xy[rows], axis=0)) * 2, 1.0)
        weight[rows] *= declustering_weights(xy[rows, 0], xy[rows, 1], cell)
    table["weight"] = weight
    stats = {
        "intervals": len(intervals),
        "composites": len(table),
        "bdl_share": float(intervals["bdl"].mean()) if len(intervals) else float("nan"),
        "top_cut": int(cut.sum()),
    }
    return table, stats


def _with_logs(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table["log_grade"] = np.log(table["grade_gt"].astype(float))
    length = (table["depth_to_m"] - table["depth_from_m"]).to_numpy(dtype=float)
    table["weight"] = np.where(np.isfinite(length) & (length > 0), length, 1.0)
    return table


def _median_spacing(xy: np.ndarray) -> float:
    """Median nearest-neighbour distance between distinct hole collars (0 for one hole)."""
    if len(xy) < 2:
        return 0.0
    distance, _ = cKDTree(xy).query(xy, k=2)
    return float(np.median(distance[:, 1]))


def composite_intervals(table: pd.DataFrame, length_m: float = 1.5) -> pd.DataFrame:
    """Length-weighted composites of each hole's intervals over fixed depth windows.

    Grades are averaged in grade space (metal is additive, logs are not), weighted by the
    overlap of each interval with the window. Intervals without depths are kept as they
    are. A composite is flagged ``bdl`` when over half its length was below detection.

    Parameters
    ----------
    table
        Rows with ``site_id``, ``residue_type``, ``hole_id``, ``depth_from_m``,
        ``depth_to_m``, ``grade_gt``, ``bdl`` and any extra per-hole columns
        (``x_m``, ``y_m``) that are carried along.
    length_m
        Composite length (default 1.5 m, the usual auger increment in tailings drilling).

    Examples
    --------
    >>> table = pd.DataFrame({"site_id": "s", "residue_type": "other", "hole_id": "h", "depth_from_m": [0.0, 1.0],
    ...     "depth_to_m": [1.0, 3.0], "grade_gt": [10.0, 40.0], "bdl": False, "x_m": 0.0, "y_m": 0.0})
    >>> composite_intervals(table, 1.5)[["depth_from_m", "grade_gt"]].round(1).values.tolist()
    [[0.0, 20.0], [1.5, 40.0]]
    """
    has_depth = (table["depth_from_m"].notna() & table["depth_to_m"].notna()).to_numpy()
    intervals = table[has_depth]
    carried = [column for column in table.columns if column not in ("depth_from_m", "depth_to_m", "grade_gt", "bdl")]
    hole = intervals.groupby(["site_id", "hole_id"], sort=False).ngroup().to_numpy()
    top_of_hole = np.floor(intervals.groupby(hole)["depth_from_m"].min().to_numpy() / length_m) * length_m
    windows_in_hole = np.ceil((intervals.groupby(hole)["depth_to_m"].max().to_numpy() - top_of_hole) / length_m)
    windows_in_hole = np.maximum(windows_in_hole, 0).astype(int)
    depth_from, depth_to = intervals["depth_from_m"].to_numpy(float), intervals["depth_to_m"].to_numpy(float)
    top = top_of_hole[hole]
    # Each interval against every window it may touch (one spare on either side for rounding).
    first = np.maximum(np.floor((depth_from - top) / length_m).astype(int) - 1, 0)
    last = np.minimum(np.ceil((depth_to - top) / length_m).astype(int), windows_in_hole[hole] - 1)
    count = np.maximum(last - first + 1, 0)
    pair = np.repeat(np.arange(len(intervals)), count)
    window = first[pair] + np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count)
    start = top[pair] + window * length_m
    overlap = np.clip(np.minimum(depth_to[pair], start + length_m) - np.maximum(depth_from[pair], start), 0, None)
    sums = (
        pd.DataFrame(
            {
                "hole": hole[pair],
                "window": window,
                "start": start,
                "overlap": overlap,
                "metal": overlap * intervals["grade_gt"].to_numpy(float)[pair],
                "bdl_length": overlap * intervals["bdl"].to_numpy(bool)[pair],
            }
        )
        .groupby(["hole", "window"], sort=True)
        .agg(
            start=("start", "first"),
            overlap=("overlap", "sum"),
            metal=("metal", "sum"),
            bdl_length=("bdl_length", "sum"),
        )
    )
    sums = sums[sums["overlap"] > 1e-9 * length_m]  # windows touched only by rounding error hold no length
    hole_index = sums.index.get_level_values("hole").to_numpy()
    first_row = intervals[carried].groupby(hole, sort=True).nth(0).reset_index(drop=True)
    composites = first_row.iloc[hole_index].reset_index(drop=True)
    composites["depth_from_m"] = sums["start"].to_numpy()
    composites["depth_to_m"] = sums["start"].to_numpy() + sums["overlap"].to_numpy()
    composites["grade_gt"] = sums["metal"].to_numpy() / sums["overlap"].to_numpy()
    composites["bdl"] = sums["bdl_length"].to_numpy() / sums["overlap"].to_numpy() > 0.5
    composites = composites[list(table.columns)]
    return pd.concat([composites, table[~has_depth]], ignore_index=True)


def top_cut(grades: pd.Series, groups: pd.Series, fence: float = 3.0) -> tuple[pd.Series, pd.Series]:
    """Cap outliers at Tukey's far-out fence of log-grade within each group.

    The cap for a group is exp(Q3 + fence x IQR) of its log-grades (fence 3 = "far out"),
    computed only for groups of at least 10 values. Returns the capped grades and a
    boolean Series marking the values that were cut.

    >>> capped, cut = top_cut(pd.Series([1.0] * 5 + [2.0] * 5 + [1000.0]), pd.Series(["a"] * 11))
    >>> int(cut.sum()), bool(capped.max() < 1000)
    (1, True)
    """
    log = np.log(grades)
    caps = pd.Series(np.inf, index=grades.index)
    for _, index in groups.groupby(groups).groups.items():
        values = log.loc[index]
        if len(values) >= 10:
            q1, q3 = np.percentile(values, [25, 75])
            caps.loc[index] = np.exp(q3 + fence * (q3 - q1))
    cut = grades > caps
    return grades.where(~cut, caps), cut


def declustering_weights(x: np.ndarray, y: np.ndarray, cell_m: float) -> np.ndarray:
    """Cell-declustering weights: each occupied cell shares a total weight of one.

    Normalised to a mean of one, so clustered holes count less toward a site's mean. The grid
    is anchored at the samples' own south-west corner, not at the CRS origin hundreds of km
    away, so the same holes get the same weights whatever the projection's false easting and
    however their coordinates were rounded (lon/lat converted to UTM moves them by under 1 mm).

    >>> declustering_weights(np.array([0.0, 1.0, 100.0]), np.array([0.0, 1.0, 0.0]), 10.0).round(2).tolist()
    [0.75, 0.75, 1.5]
    """
    cells = np.column_stack([np.floor((x - x.min()) / cell_m), np.floor((y - y.min()) / cell_m)])
    _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[inverse.ravel()]
    return weights * len(weights) / weights.sum()
