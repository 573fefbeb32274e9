"""From grade distributions and tonnages to per-site resource estimates with confidence."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from models.ranking import classify_confidence
from models.simulation import ResourceDraws, iter_draws, simulate_resources

#: Smallest P50 recoverable value (USD) a relative interval width is measured against.
MIN_CENTRE_USD = 1.0


def estimate_resources(
    features: pd.DataFrame,
    grades: pd.DataFrame,
    recovery: pd.DataFrame,
    prices: pd.DataFrame,
    cutoffs: dict[str, float],
    n_draws: int,
    seed: int,
    element_correlation: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Simulate every site's metal and value, then attach its confidence class.

    ``features`` needs ``site_id``, ``residue_type``, ``tonnes_p50``, ``tonnes_log_sd``,
    ``n_holes`` and ``volume_method``; ``element_correlation`` as for
    :func:`models.simulation.simulate_resources`. ``value_relative_width`` is (P90 - P10) / P50 of the
    recoverable value, infinite where the P50 is under ``MIN_CENTRE_USD`` (no centre to
    measure a width against; dividing by a P50 of 1e-90 USD gave widths no file format holds).
    """
    simulated = simulate_resources(features, grades, recovery, prices, cutoffs, n_draws=n_draws, seed=seed,
                                   element_correlation=element_correlation)  # fmt: skip
    estimates = features.merge(simulated, on="site_id", how="left", validate="one_to_one")
    p50 = estimates["value_usd_p50"].where(estimates["value_usd_p50"] >= MIN_CENTRE_USD)
    estimates["value_relative_width"] = ((estimates["value_usd_p90"] - estimates["value_usd_p10"]) / p50).fillna(np.inf)
    estimates["confidence"] = classify_confidence(
        estimates["n_holes"], estimates["value_relative_width"], estimates["volume_method"] == "dem_difference"
    )
    return estimates


def resource_draws(
    features: pd.DataFrame,
    grades: pd.DataFrame,
    recovery: pd.DataFrame,
    prices: pd.DataFrame,
    cutoffs: dict[str, float],
    n_draws: int,
    seed: int,
    element_correlation: pd.DataFrame | None = None,
) -> Iterator[ResourceDraws]:
    """The per-draw metal and value behind :func:`estimate_resources` (same arguments, same draws).

    Yields chunks of sites (bounded memory at any number of sites). Used to total groups
    of sites (e.g. a processing hub's catchment) per draw, so a group's P10/P90 is taken on
    its own total. Re-drawing is cheap and keeps the estimates table a table.
    """
    return iter_draws(features, grades, recovery, prices, cutoffs, n_draws=n_draws, seed=seed,
                      element_correlation=element_correlation)  # fmt: skip
