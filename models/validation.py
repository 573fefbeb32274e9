"""Leave-one-site-out validation of site mean grades, against baselines on the same folds.

Samples from one site are spatially correlated, so holding out random samples would leak
a site's own data into its prediction and flatter the model. Each fold here holds out a
whole site: the question asked is the one an unsampled site poses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.grade import Z80, HierarchicalLogGrade


def leave_one_site_out(model: HierarchicalLogGrade, table: pd.DataFrame) -> pd.DataFrame:
    """Score the model and two baselines on held-out sites' mean log-grades.

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
    for held_out in site_ids:
        train = table[table["site_id"] != held_out]
        test = table[table["site_id"] == held_out]
        observed = float(np.average(test["log_grade"], weights=test["weight"]))
        columns = ["site_id", "residue_type", *model.covariates]
        fitted = _clone(model).fit(train[[*columns, "hole_id"]], train["log_grade"], train["weight"])
        query = test[columns].iloc[[0]]
        predicted = fitted.predict_distribution(query).iloc[0]
        spread = np.hypot(predicted["log_sd"], predicted["sigma_w"] / np.sqrt(test["hole_id"].nunique()))
        predictions["hierarchical"].append((observed, predicted["log_mean"], spread))
        site_means = train.groupby("site_id")["log_grade"].mean()
        predictions["global_mean"].append((observed, site_means.mean(), site_means.std(ddof=1)))
        same_type = train.loc[train["residue_type"] == query["residue_type"].iloc[0]].groupby("site_id")["log_grade"].mean()
        if len(same_type) >= 2:
            predictions["type_mean"].append((observed, same_type.mean(), same_type.std(ddof=1)))
        else:  # fewer than two other sites of this type: the empirical type mean falls back to the global one
            predictions["type_mean"].append((observed, site_means.mean(), site_means.std(ddof=1)))
        prior_mean, prior_sd = fitted._reference_prior(query["residue_type"].iloc[0])
        predictions["reference_prior"].append((observed, prior_mean, prior_sd))
    return pd.DataFrame([_scores(name, values) for name, values in predictions.items()])


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
