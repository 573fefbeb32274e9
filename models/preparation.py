"""Assays made ready for modelling: below-detection substitution, length weights, logs."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Below-detection assays are modelled at this fraction of their detection limit (the
#: common half-limit substitution; the share of such values is reported per element).
BDL_SUBSTITUTION_FRACTION = 0.5


def log_grade_table(samples: pd.DataFrame, sites: pd.DataFrame, element: str) -> pd.DataFrame:
    """One row per assayed interval of ``element``: site, type, hole, log-grade and weight.

    Parameters
    ----------
    samples
        Accepted samples with ``site_id``, ``hole_id``, depths, ``<element>_gt`` and
        ``<element>_bdl``.
    sites
        Accepted sites with ``site_id`` and ``residue_type``.

    Returns
    -------
    pandas.DataFrame
        Columns ``site_id``, ``residue_type``, ``hole_id``, ``grade_gt`` (after
        substitution), ``log_grade``, ``weight`` (interval length, 1 when unknown) and
        ``bdl``.

    Examples
    --------
    >>> samples = pd.DataFrame({"site_id": ["s"], "hole_id": ["h"], "depth_from_m": [0.0],
    ...     "depth_to_m": [1.5], "ga_gt": [1.0], "ga_bdl": [True]})
    >>> sites = pd.DataFrame({"site_id": ["s"], "residue_type": ["other"]})
    >>> float(log_grade_table(samples, sites, "ga")["grade_gt"].iloc[0])
    0.5
    """
    value_column, flag_column = f"{element}_gt", f"{element}_bdl"
    assayed = samples[samples[value_column].notna()]
    bdl = assayed[flag_column].astype(bool).to_numpy()
    grade = assayed[value_column].to_numpy(dtype=float) * np.where(bdl, BDL_SUBSTITUTION_FRACTION, 1.0)
    length = (assayed["depth_to_m"] - assayed["depth_from_m"]).to_numpy(dtype=float)
    table = pd.DataFrame(
        {
            "site_id": assayed["site_id"].to_numpy(),
            "hole_id": assayed["hole_id"].fillna("").astype(str).to_numpy(),
            "grade_gt": grade,
            "log_grade": np.log(grade),
            "weight": np.where(np.isfinite(length) & (length > 0), length, 1.0),
            "bdl": bdl,
        }
    )
    types = sites.set_index("site_id")["residue_type"]
    table.insert(1, "residue_type", table["site_id"].map(types).to_numpy())
    return table
