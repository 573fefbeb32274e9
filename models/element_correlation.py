"""How sites' grades of different elements move together, for joint Monte Carlo draws.

Pt, Pd and Rh come from the same mineralisation, so a site rich in one tends to be rich in
the others; drawing each element's site mean independently makes a PGM total (or a site's
value) look far more certain than it is. Here the correlation of sites' deviations from
their residue type, between elements, is estimated from the sampled sites.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Fewest sites sampled for both elements of a pair before their correlation is used at all.
MIN_SITES = 5
#: Shrinkage toward independence: an estimate from n sites is weighted n / (n + SHRINKAGE_SITES).
SHRINKAGE_SITES = 5


def element_correlation(grades: pd.DataFrame, residue_types: pd.Series, elements: tuple[str, ...]) -> pd.DataFrame:
    """Correlation between elements of sites' mean log-grade deviations from their residue type.

    Parameters
    ----------
    grades
        Per site and element: ``site_id``, ``element``, ``log_mean`` (the site's mean
        log-grade) and ``sampled`` (the site's own assays of that element entered it).
    residue_types
        Residue type per site, indexed by ``site_id``.
    elements
        The elements, in the order of the returned matrix.

    Returns
    -------
    pandas.DataFrame
        A valid correlation matrix (symmetric, unit diagonal, positive semi-definite)
        indexed and labelled by ``elements``. A site's deviation is its ``log_mean`` less
        the mean over the sampled sites of its residue type (types with at least two);
        each pair's Pearson correlation over the sites sampled for both is shrunk by
        n / (n + SHRINKAGE_SITES) toward 0, and is 0 below MIN_SITES sites; the matrix is
        then made positive semi-definite by clipping negative eigenvalues.

    Examples
    --------
    >>> grades = pd.DataFrame({"site_id": ["a", "a"], "element": ["pt", "pd"], "log_mean": [0.0, 0.0],
    ...                        "sampled": [True, True]})
    >>> element_correlation(grades, pd.Series({"a": "r"}), ("pt", "pd")).to_numpy().tolist()  # too few sites
    [[1.0, 0.0], [0.0, 1.0]]
    """
    sampled = grades[grades["sampled"]].copy()
    sampled["residue_type"] = sampled["site_id"].map(residue_types)
    by_type = sampled.groupby(["element", "residue_type"])["log_mean"]
    sampled["deviation"] = sampled["log_mean"] - by_type.transform("mean")
    sampled = sampled[by_type.transform("size") >= 2]
    deviations = sampled.pivot(index="site_id", columns="element", values="deviation").reindex(columns=list(elements))
    correlation = np.eye(len(elements))
    for i, first in enumerate(elements):
        for j in range(i):
            pair = deviations[[first, elements[j]]].dropna()
            if len(pair) < MIN_SITES or (pair.std() == 0).any():
                continue
            estimate = float(np.corrcoef(pair.to_numpy().T)[0, 1]) * len(pair) / (len(pair) + SHRINKAGE_SITES)
            correlation[i, j] = correlation[j, i] = estimate
    return pd.DataFrame(_nearest_correlation(correlation), index=list(elements), columns=list(elements))


def _nearest_correlation(matrix: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues (pairwise estimates need not be jointly valid), restore the unit diagonal."""
    values, vectors = np.linalg.eigh(matrix)
    clipped = (vectors * np.clip(values, 1e-9, None)) @ vectors.T
    scale = np.sqrt(np.diag(clipped))
    return clipped / np.outer(scale, scale)
