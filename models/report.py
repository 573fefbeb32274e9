"""Validation tables and diagnostic plots for the grade models (no Dagster)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from residua.models.block_model import grade_scores  # noqa: E402
from residua.models.grade import Z80  # noqa: E402
from residua.models.grade_workflow import ElementFit  # noqa: E402
from residua.models.selection import score  # noqa: E402
from residua.models.validation import MAX_FOLDS, site_folds  # noqa: E402

BASELINES: tuple[str, ...] = ("type_mean", "idw", "ordinary_kriging")
#: Residua scored at every modelled site, where the baselines were scored at a sample of them.
ALL_SITES = "residua_all_sites"


def within_site_predictions(fits: dict[str, ElementFit]) -> pd.DataFrame:
    """Held-out predictions of every method at every modelled site, with Residua's own rows.

    Residua's rows use each site's chosen model with its std scaled by a calibration
    factor estimated on the *other* sites' held-out errors, so the coverage reported is
    not calibrated on the data it is measured on (other sites: all but the site itself up
    to ``MAX_FOLDS`` sites per element, beyond that all but the site's seeded group of sites).
    ``baseline_sites`` marks the sites where the baselines were scored too.
    """
    frames = []
    for element, fit in fits.items():
        if not fit.blocks:
            continue
        cv = pd.concat({site_id: block.cv for site_id, block in fit.blocks.items()}, names=["site_id", None])
        cv = cv.reset_index(level="site_id").reset_index(drop=True)
        chosen = cv["site_id"].map({site_id: block.chosen for site_id, block in fit.blocks.items()})
        compared = cv.loc[cv["method"].isin(BASELINES), "site_id"].unique()
        own = cv[cv["method"] == chosen].assign(method="residua")
        own["std"] = own["std"] * _held_out_site_scales(own)
        frames.append(pd.concat([cv[cv["method"].isin(BASELINES)], own]).assign(
            element=element, baseline_sites=lambda rows, compared=compared: rows["site_id"].isin(compared)
        ))  # fmt: skip
    columns = [
        "element",
        "site_id",
        "method",
        "fold",
        "observed",
        "predicted",
        "std",
        "observed_gt",
        "predicted_gt",
        "baseline_sites",
    ]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _held_out_site_scales(rows: pd.DataFrame) -> np.ndarray:
    """Per row, the 80 % interval scale estimated on the other sites' (or site groups') errors."""
    z = ((rows["observed"] - rows["predicted"]).abs() / rows["std"].clip(lower=1e-9)).to_numpy()
    scales = np.ones(len(rows))
    for fold in site_folds(rows["site_id"].unique(), MAX_FOLDS, seed=0):
        held_out = rows["site_id"].isin(fold).to_numpy()
        if (~held_out).any():
            scales[held_out] = np.quantile(z[~held_out], 0.8) / Z80
    return scales


def validation_tables(
    fits: dict[str, ElementFit], predictions: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(site-level held-out-site scores, within-site blocked-CV scores) per element and method.

    Within-site scores are of what the rasters publish at each held-out composite: log-grade
    RMSE, MAE, bias, R2 and 80 % coverage of the block P50, and on grade (g/t) the RMSE,
    the RMSE relative to the mean observed grade and the relative bias of metal.

    Within-site rows compare every method on the same sites (those where the baselines
    were scored); where that is a sample of the modelled sites, a ``residua_all_sites``
    row scores Residua at all of them. ``predictions`` is ``within_site_predictions(fits)``
    when the caller already has it.
    """
    site_level = []
    for element, fit in fits.items():
        rows = fit.site_validation.assign(element=element)
        rows["bdl_share"] = fit.preparation["bdl_share"]
        rows["top_cut"] = fit.preparation["top_cut"]
        site_level.append(rows)
    site_table = pd.concat(site_level, ignore_index=True) if site_level else pd.DataFrame()
    predictions = within_site_predictions(fits) if predictions is None else predictions
    within = []
    for element, rows in predictions.groupby("element", sort=False):
        compared = rows[rows["baseline_sites"]]
        groups = list(compared.groupby("method", sort=False))
        if compared["site_id"].nunique() != rows["site_id"].nunique():
            groups.append((ALL_SITES, rows[rows["method"] == "residua"]))
        within += [
            {
                "element": element,
                "method": method,
                "n": len(group),
                "sites": group["site_id"].nunique(),
                **score(group),
                **grade_scores(group),
            }  # fmt: skip
            for method, group in groups
        ]
    return _first(site_table, "element"), pd.DataFrame(within)


def diagnostic_figures(fits: dict[str, ElementFit], predictions: pd.DataFrame | None = None) -> dict[str, str]:
    """PNG figures (base64) per element: predicted vs observed, residual map, variogram, coverage."""
    predictions = within_site_predictions(fits) if predictions is None else predictions
    residua = predictions[predictions["method"] == "residua"]
    figures = {}
    for element, group in residua.groupby("element"):
        composites = fits[element].composites
        located = _locate(group, composites)
        fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
        _observed_vs_predicted(axes[0], group)
        _residual_map(axes[1], located)
        _residual_variogram(axes[2], located)
        _coverage_curve(axes[3], group)
        fig.suptitle(f"{element.capitalize()}: within-site blocked cross-validation (log g/t), SYNTHETIC if demo data")
        fig.tight_layout()
        figures[element] = _png(fig)
    return figures


def _locate(group: pd.DataFrame, composites: pd.DataFrame) -> pd.DataFrame:
    """Attach each held-out composite's coordinates relative to its site's centre.

    A site's held-out rows are its composites in order (block models cross-validate the
    site's composites as ``prepare_grades`` left them), so they are matched by position.
    """
    coords = composites[["site_id", "x_m", "y_m"]].copy()
    coords[["x_m", "y_m"]] -= coords.groupby("site_id")[["x_m", "y_m"]].transform("mean")
    coords["position"] = coords.groupby("site_id").cumcount()
    located = group.assign(position=group.groupby("site_id").cumcount())
    return located.merge(coords, on=["site_id", "position"], how="left").drop(columns="position")


def _observed_vs_predicted(axis, group: pd.DataFrame) -> None:
    axis.scatter(group["observed"], group["predicted"], s=6, alpha=0.5)
    low, high = (
        np.nanmin(group[["observed", "predicted"]].to_numpy()),
        np.nanmax(group[["observed", "predicted"]].to_numpy()),
    )
    axis.plot([low, high], [low, high], color="black", linewidth=0.8)
    axis.set(xlabel="observed log-grade", ylabel="held-out prediction", title="Predicted vs observed")


def _residual_map(axis, located: pd.DataFrame) -> None:
    residual = located["observed"] - located["predicted"]
    limit = float(np.nanmax(np.abs(residual))) or 1.0
    points = axis.scatter(located["x_m"], located["y_m"], c=residual, cmap="coolwarm", vmin=-limit, vmax=limit, s=8)
    axis.figure.colorbar(points, ax=axis, label="residual")
    axis.set(xlabel="x from site centre (m)", ylabel="y (m)", title="Residuals (all sites overlaid)")


def _residual_variogram(axis, located: pd.DataFrame) -> None:
    located = located.sort_values("site_id", kind="stable")
    xy = located[["x_m", "y_m"]].to_numpy()
    residual = (located["observed"] - located["predicted"]).to_numpy()
    _, starts = np.unique(located["site_id"].to_numpy(), return_index=True)
    lags, gammas = [], []
    for start, stop in zip(starts, [*starts[1:], len(located)]):  # pairs within each site only
        i, j = np.triu_indices(stop - start, k=1)
        lags.append(np.hypot(*(xy[start + i] - xy[start + j]).T))
        gammas.append((residual[start + i] - residual[start + j]) ** 2 / 2)
    lag, gamma = np.concatenate(lags), np.concatenate(gammas)
    edges = np.quantile(lag[lag > 0], np.linspace(0, 1, 11)) if (lag > 0).any() else np.array([0, 1])
    centres = [lag[(lag >= a) & (lag < b)].mean() for a, b in zip(edges[:-1], edges[1:])]
    values = [gamma[(lag >= a) & (lag < b)].mean() for a, b in zip(edges[:-1], edges[1:])]
    axis.plot(centres, values, marker="o")
    axis.set(xlabel="lag (m)", ylabel="semivariance", title="Variogram of residuals", ylim=(0, None))


def _coverage_curve(axis, group: pd.DataFrame) -> None:
    from scipy.stats import norm

    levels = np.linspace(0.1, 0.95, 18)
    z = np.abs(group["observed"] - group["predicted"]) / group["std"].clip(lower=1e-9)
    empirical = [float(np.mean(z <= norm.ppf(0.5 + level / 2))) for level in levels]
    axis.plot(levels, empirical, marker="o", markersize=3)
    axis.plot([0, 1], [0, 1], color="black", linewidth=0.8)
    axis.set(xlabel="nominal coverage", ylabel="held-out coverage", title="Interval coverage")


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _first(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame[[column, *[c for c in frame.columns if c != column]]] if len(frame) else frame
