"""From simulated metal and value to per-site resource estimates with confidence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from residua.models.ranking import classify_confidence
from residua.models.simulation import SimulationInputs, summarise

#: Smallest P50 recoverable value (USD) a relative interval width is measured against.
MIN_CENTRE_USD = 1.0


def estimate_resources(features: pd.DataFrame, inputs: SimulationInputs) -> pd.DataFrame:
    """Simulate every site's metal and value (:func:`~residua.models.simulation.summarise`), then attach its
    confidence class.

    ``features`` needs ``site_id``, ``n_holes`` and ``volume_method`` besides the tonnage
    columns ``inputs`` was built from. ``value_relative_width`` is (P90 - P10) / P50 of the
    recoverable value, infinite where the P50 is under ``MIN_CENTRE_USD`` (no centre to
    measure a width against; dividing by a P50 of 1e-90 USD gave widths no file format holds).
    """
    estimates = features.merge(summarise(inputs), on="site_id", how="left", validate="one_to_one")
    p50 = estimates["value_usd_p50"].where(estimates["value_usd_p50"] >= MIN_CENTRE_USD)
    estimates["value_relative_width"] = ((estimates["value_usd_p90"] - estimates["value_usd_p10"]) / p50).fillna(np.inf)
    estimates["confidence"] = classify_confidence(
        estimates["n_holes"], estimates["value_relative_width"], estimates["volume_method"] == "dem_difference"
    )
    return estimates
