"""Grade-tonnage curves per sampled site: tonnes and mean grade above a ladder of cut-offs.

Closed form, not the block grid: within a site, grades are lognormal with mean log-grade
m and log-sd sigma (the same model the simulation applies its cut-off with, see
:func:`residua.models.simulation.metal_share_above`). For a cut-off c,

* share of tonnes above c: Phi((m - ln c) / sigma)
* share of metal above c: Phi((m + sigma^2 - ln c) / sigma)
* mean grade above c: exp(m + sigma^2 / 2) x metal share / tonnes share.

Curves are drawn at P50 inputs: the site's median tonnage and its median mean log-grade.
Sigma is the spread of block grades where the site has a block model (block support, the
scale a selective operation would mine at), else the within-site spread of composites
(composite support, wider, so tonnes above a high cut-off are optimistic). The P50 band of
the block model is not used: a median of simulations is smoothed, and its curve would
overstate tonnes above low cut-offs and understate them above high ones.

Where the chosen block model has no spatial structure (``grade_method`` ``shrunk_mean``)
its blocks all carry the site mean, sigma is ~0 and the curve is a step at that grade: the
same all-or-nothing cut-off the simulation applies there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from residua.models.simulation import GRAMS_PER_TONNE

#: Cut-offs as multiples of each element's default cut-off grade.
DEFAULT_CUTOFF_MULTIPLES: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
#: Grade-estimate methods that are not block models.
NON_BLOCK_METHODS: frozenset[str] = frozenset({"hierarchical_site_mean", "residue_type_prior"})
GRADE_TONNAGE_COLUMNS: tuple[str, ...] = (
    "site_id", "element", "cutoff_multiple", "cutoff_basis", "cutoff_gt", "tonnes_above", "share_of_tonnes",
    "mean_grade_above_gt", "metal_above_t", "site_tonnes_p50", "grade_support", "grade_method", "sigma_w",
)  # fmt: skip


def lognormal_grade_tonnage(
    log_mean: float, sigma: float, tonnes: float, cutoffs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tonnes above each cut-off, their mean grade (g/t) and their metal (t).

    A cut-off of 0 keeps every tonne; with sigma = 0 the deposit is all above or all below.
    Mean grade is NaN where no tonne is above.

    Examples
    --------
    >>> tonnes, grade, metal = lognormal_grade_tonnage(np.log(2.0), 0.0, 1e6, np.array([0.0, 1.0, 3.0]))
    >>> tonnes.tolist(), grade.tolist(), metal.tolist()
    ([1000000.0, 1000000.0, 0.0], [2.0, 2.0, nan], [2.0, 2.0, 0.0])
    >>> tonnes, _, _ = lognormal_grade_tonnage(0.0, 1.0, 100.0, np.array([1.0]))  # the median splits tonnes
    >>> tonnes.tolist()
    [50.0]
    """
    cutoffs = np.asarray(cutoffs, dtype=float)
    mean_grade = float(np.exp(log_mean + sigma**2 / 2))
    positive = cutoffs > 0
    log_cut = np.log(np.where(positive, cutoffs, 1.0))
    if sigma > 0:
        tonnes_share = norm.cdf((log_mean - log_cut) / sigma)
        metal_share = norm.cdf((log_mean + sigma**2 - log_cut) / sigma)
    else:
        tonnes_share = metal_share = (log_mean > log_cut).astype(float)
    tonnes_share = np.where(positive, tonnes_share, 1.0)
    metal_share = np.where(positive, metal_share, 1.0)
    tonnes_above = tonnes * tonnes_share
    metal_above = tonnes * mean_grade * metal_share / GRAMS_PER_TONNE
    with np.errstate(divide="ignore", invalid="ignore"):
        grade_above = np.where(tonnes_above > 0, metal_above * GRAMS_PER_TONNE / tonnes_above, np.nan)
    return tonnes_above, grade_above, metal_above


def grade_tonnage_curves(
    grades: pd.DataFrame,
    tonnage: pd.DataFrame,
    cutoffs: dict[str, float],
    multiples: tuple[float, ...] = DEFAULT_CUTOFF_MULTIPLES,
) -> pd.DataFrame:
    """Grade-tonnage table of every sampled site and element at P50 inputs.

    Parameters
    ----------
    grades : DataFrame
        Site grade distributions (``models.grade_workflow.site_distributions``):
        ``site_id``, ``element``, ``log_mean``, ``sigma_w``, ``sampled``, ``method``.
        Unsampled rows (``sampled`` false) are skipped: their curve would be the
        residue-type prior's, not the site's.
    tonnage : DataFrame
        ``site_id`` and ``tonnes_p50``.
    cutoffs : dict
        Default cut-off grade (g/t) per element. Where it is missing or 0, the ladder is
        built on the site's mean grade instead (``cutoff_basis`` says which).
    multiples : tuple of float
        The ladder, as multiples of the basis.

    Returns
    -------
    DataFrame
        One row per site, element and cut-off: ``GRADE_TONNAGE_COLUMNS``.

    Examples
    --------
    >>> grades = pd.DataFrame({"site_id": ["s", "u"], "element": "ga", "log_mean": [np.log(60.0), 0.0],
    ...                        "sigma_w": 0.0, "sampled": [True, False], "method": "hierarchical_site_mean"})
    >>> curves = grade_tonnage_curves(grades, pd.DataFrame({"site_id": ["s", "u"], "tonnes_p50": 1e6}),
    ...                               {"ga": 30.0}, multiples=(1.0, 3.0))
    >>> curves[["site_id", "cutoff_gt", "tonnes_above", "metal_above_t"]].values.tolist()
    [['s', 30.0, 1000000.0, 60.0], ['s', 90.0, 0.0, 0.0]]
    """
    tonnes_p50 = tonnage.set_index("site_id")["tonnes_p50"]
    ladder = np.asarray(multiples, dtype=float)
    frames = []
    for row in grades[grades["sampled"].astype(bool)].itertuples(index=False):
        tonnes = float(tonnes_p50.get(row.site_id, np.nan))
        sigma = float(row.sigma_w)
        if not np.isfinite(tonnes) or not np.isfinite(row.log_mean):
            continue
        default = float(cutoffs.get(row.element, 0.0) or 0.0)
        basis = default if default > 0 else float(np.exp(row.log_mean + sigma**2 / 2))
        cut = ladder * basis
        tonnes_above, grade_above, metal_above = lognormal_grade_tonnage(float(row.log_mean), sigma, tonnes, cut)
        frames.append(
            pd.DataFrame(
                {
                    "site_id": row.site_id,
                    "element": row.element,
                    "cutoff_multiple": ladder,
                    "cutoff_basis": "default cut-off" if default > 0 else "site mean grade",
                    "cutoff_gt": cut,
                    "tonnes_above": tonnes_above,
                    "share_of_tonnes": tonnes_above / tonnes if tonnes > 0 else np.nan,
                    "mean_grade_above_gt": grade_above,
                    "metal_above_t": metal_above,
                    "site_tonnes_p50": tonnes,
                    "grade_support": "composites" if row.method in NON_BLOCK_METHODS else "blocks",
                    "grade_method": row.method,
                    "sigma_w": sigma,
                }
            )
        )
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in GRADE_TONNAGE_COLUMNS})
    return pd.concat(frames, ignore_index=True)[list(GRADE_TONNAGE_COLUMNS)]
