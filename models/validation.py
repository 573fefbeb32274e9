"""Site-grouped validation of site mean grades, against baselines on the same folds.

Samples from one site are spatially correlated, so holding out random samples would leak
a site's own data into its prediction and flatter the model. Each fold here holds out
whole sites: the question asked is the one an unsampled site poses. Up to ``MAX_FOLDS``
sampled sites this is leave-one-site-out; beyond, sites are dealt at random (seeded) into
``MAX_FOLDS`` groups (``FOLDS_MANY_SITES`` beyond ``MANY_SITES`` sites), so the cost grows
linearly with the number of sites, not as its square.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from residua.models.grade import Z80, HierarchicalLogGrade, summarise_sites

#: Most folds of the site-level validation (leave-one-site-out up to this many sites).
MAX_FOLDS = 50
#: Beyond this many sampled sites, ``FOLDS_MANY_SITES`` folds: each still holds out at most 5 %
#: of the sites, and every site is still predicted once, so the scores barely move while the
#: refits (one per fold and candidate, in the main process) cost less than half.
MANY_SITES, FOLDS_MANY_SITES = 1_000, 20


def leave_one_site_out(
    model: HierarchicalLogGrade, table: pd.DataFrame, max_folds: int | None = None, seed: int = 0
) -> pd.DataFrame:
    """Score the model and baselines on held-out sites' mean log-grades (sites held out in folds).

    Parameters
    ----------
    model
        An unfitted estimator with its priors set (it is cloned per fold).
    table
        Output of ``prepare_grades`` for one element, with the model's covariate columns.

    Returns
    -------
    pandas.DataFrame
        One row per method (``hierarchical``, ``type_mean`` (mean of the other sites of
        the same residue type, global where fewer than two), ``global_mean``,
        ``reference_prior``) with
        ``n_sites``, ``rmse``, ``mae``, ``bias``, ``r2`` of site mean log-grade and
        ``coverage80`` (share of held-out site means inside the 80 % interval), and
        ``interval_scale``: the factor that would make the 80 % interval cover 80 % of
        held-out sites (split-conformal), used to widen unsampled sites' intervals.
        Every site is held out exactly once; with more than ``max_folds`` sites, in one of
        ``max_folds`` random groups (``seed``). By default ``max_folds`` is ``MAX_FOLDS``, or
        ``FOLDS_MANY_SITES`` beyond ``MANY_SITES`` sites.
    """
    site_ids = table["site_id"].unique()
    if len(site_ids) < 3:
        return pd.DataFrame(columns=["method", "n_sites", "rmse", "mae", "bias", "r2", "coverage80", "interval_scale"])
    predictions: dict[str, list[tuple[float, float, float]]] = {
        "hierarchical": [],
        "type_mean": [],
        "global_mean": [],
        "reference_prior": [],
    }
    columns = ["site_id", "residue_type", *model.covariates]
    sites = table.groupby("site_id", sort=False).agg(
        mean_log=("log_grade", "mean"), residue_type=("residue_type", "first"), n_holes=("hole_id", "nunique")
    )
    weighted = table["log_grade"] * table["weight"]
    sites["observed"] = weighted.groupby(table["site_id"]).sum() / table.groupby("site_id")["weight"].sum()
    queries = table.drop_duplicates("site_id").set_index("site_id")[columns[1:]]
    summaries = summarise_sites(table[[*columns, "hole_id"]], table["log_grade"], table["weight"], model.covariates)
    if max_folds is None:
        max_folds = MAX_FOLDS if len(site_ids) <= MANY_SITES else FOLDS_MANY_SITES
    for fold in site_folds(site_ids, max_folds, seed):
        fitted = _clone(model).fit_sites(summaries.drop(index=fold))  # = a fit on the other sites' samples
        query = queries.loc[fold].reset_index()
        predicted = fitted.predict_distribution(query[columns])
        others = sites.drop(index=fold)
        type_stats = others.groupby("residue_type")["mean_log"].agg(["mean", "std", "size"])
        overall = (others["mean_log"].mean(), others["mean_log"].std(ddof=1))
        for held_out, (_, row) in zip(fold, predicted.iterrows()):
            site = sites.loc[held_out]
            observed = float(site["observed"])
            spread = np.hypot(row["log_sd"], row["sigma_w"] / np.sqrt(site["n_holes"]))
            predictions["hierarchical"].append((observed, row["log_mean"], spread))
            predictions["global_mean"].append((observed, *overall))
            same_type = type_stats.loc[site["residue_type"]] if site["residue_type"] in type_stats.index else None
            if same_type is not None and same_type["size"] >= 2:
                predictions["type_mean"].append((observed, same_type["mean"], same_type["std"]))
            else:  # fewer than two other sites of this type: the empirical type mean falls back to the global one
                predictions["type_mean"].append((observed, *overall))
            predictions["reference_prior"].append((observed, *fitted._reference_prior(site["residue_type"])))
    return pd.DataFrame([_scores(name, values) for name, values in predictions.items()])


def site_folds(site_ids: np.ndarray, max_folds: int, seed: int) -> list[np.ndarray]:
    """One site per fold up to ``max_folds`` sites, else a seeded random deal into ``max_folds`` folds."""
    if len(site_ids) <= max_folds:
        return [np.array([site_id]) for site_id in site_ids]
    shuffled = np.random.default_rng(seed).permutation(site_ids)
    return [fold for fold in np.array_split(shuffled, max_folds) if len(fold)]


def _interval_scale(observed: np.ndarray, predicted: np.ndarray, spread: np.ndarray) -> float:
    z = np.abs(predicted - observed) / np.maximum(spread, 1e-9)
    return float(np.quantile(z, 0.8) / Z80)


def _clone(model: HierarchicalLogGrade) -> HierarchicalLogGrade:
    return HierarchicalLogGrade(**model.get_params())


def _scores(method: str, values: list[tuple[float, float, float]]) -> dict[str, float | str | int]:
    observed, predicted, spread = (np.array(column, dtype=float) for column in zip(*values))
    error = predicted - observed
    total = float(np.sum((observed - observed.mean()) ** 2))
    return {
        "method": method,
        "n_sites": len(observed),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "bias": float(np.mean(error)),
        "r2": 1 - float(np.sum(error**2)) / total if total > 0 else float("nan"),
        "coverage80": float(np.mean(np.abs(error) <= Z80 * spread)),
        "interval_scale": _interval_scale(observed, predicted, spread),
    }
