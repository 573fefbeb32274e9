"""Rank stability: how often a site stays near the top when prices and recoveries move.

The ranking uses mid prices and simulated recoveries; both are uncertain in ways that
move every site of a kind together (one gallium price for all sites, one recovery route
per residue type). Each perturbation draws one joint set of element prices (uniform or
triangular between the price table's low and high, mode at mid) and one recovery per
residue type and element (triangular low / mode / high), then re-ranks the sites.

Approximation (no re-simulation): value is linear in each element's price and recovery,
so a site's perturbed score is its published score times

    sum_e s_e * (price_e / price_mid_e) * (recovery_te / median recovery_te)

where ``s_e`` is element e's share of the site's value at P50 (``<e>_recoverable_t_p50``
x mid price, normalised to sum to one). The median of the triangular recovery stands in
for the recovery inside the simulated P50 (the P50 of a product is close to the product
of medians). At mid prices and median recoveries the factor is exactly 1, so the
unperturbed ranking is the published one. What it leaves out: tonnage and grade
uncertainty (already in the confidence weight and intervals), and cut-off effects of a
price change (cut-offs stay fixed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from residua.geodata.schema import ELEMENTS

PRICE_DISTRIBUTIONS: tuple[str, ...] = ("triangular", "uniform")
KG_PER_TONNE = 1e3


def rank_stability(
    ranked: pd.DataFrame,
    recovery: pd.DataFrame,
    prices: pd.DataFrame,
    n_perturbations: int = 200,
    seed: int = 0,
    price_distribution: str = "triangular",
    top_n: int = 10,
) -> pd.DataFrame:
    """Ranks of every ranked site under joint price and recovery perturbations.

    Parameters
    ----------
    ranked : DataFrame
        The ranking (:func:`residua.models.ranking.rank_sites`): ``site_id``, ``residue_type``,
        ``rank`` (missing for excluded sites, which stay out of every re-ranking),
        ``score`` and ``<e>_recoverable_t_p50`` for every element.
    recovery : DataFrame
        Reference recovery table: ``residue_type``, ``element``, ``recovery_low``,
        ``recovery_mode``, ``recovery_high``.
    prices : DataFrame
        Reference price table: ``element``, ``price_low_usd_per_kg``,
        ``price_mid_usd_per_kg``, ``price_high_usd_per_kg``.
    n_perturbations : int
        Number of joint perturbations (re-rankings).
    seed : int
        Seed of the perturbations: the same seed gives the same table.
    price_distribution : {"triangular", "uniform"}
        Price draw between low and high; triangular has its mode at the mid price.
    top_n : int
        The ``rank_stability_top<top_n>`` column is the share of perturbations in which
        the site ranks ``top_n`` or better.

    Returns
    -------
    DataFrame
        One row per site of ``ranked`` (same order): ``site_id``, ``rank_p10``,
        ``rank_p50``, ``rank_p90`` (nullable integers; P10 is the better rank) and
        ``rank_stability_top<top_n>`` (missing for excluded sites).

    Raises
    ------
    ValueError
        If ``price_distribution`` is unknown or ``n_perturbations`` < 1.

    Examples
    --------
    >>> ranked = pd.DataFrame({"site_id": ["a", "b"], "residue_type": "r", "rank": [1, 2], "score": [2.0, 1.0],
    ...                        **{f"{e}_recoverable_t_p50": [1.0, 0.5] for e in ELEMENTS}})
    >>> recovery = pd.DataFrame({"residue_type": "r", "element": list(ELEMENTS), "recovery_low": 0.2,
    ...                          "recovery_mode": 0.5, "recovery_high": 0.8})
    >>> prices = pd.DataFrame({"element": list(ELEMENTS), "price_low_usd_per_kg": 1.0,
    ...                        "price_mid_usd_per_kg": 2.0, "price_high_usd_per_kg": 3.0})
    >>> rank_stability(ranked, recovery, prices, n_perturbations=50, top_n=1)["rank_stability_top1"].tolist()
    [1.0, 0.0]
    """
    if price_distribution not in PRICE_DISTRIBUTIONS:
        raise ValueError(
            f"price_distribution {price_distribution!r} is not one of {', '.join(PRICE_DISTRIBUTIONS)}; "
            "set sensitivity_price_distribution to one of them"
        )
    if n_perturbations < 1:
        raise ValueError(f"n_perturbations must be at least 1, got {n_perturbations}")
    factors = value_factors(ranked, recovery, prices, n_perturbations, seed, price_distribution)
    return _rerank(ranked, factors, top_n)


def value_factors(
    ranked: pd.DataFrame,
    recovery: pd.DataFrame,
    prices: pd.DataFrame,
    n_perturbations: int,
    seed: int,
    price_distribution: str = "triangular",
) -> np.ndarray:
    """Per site and perturbation, the factor on the published score (n_sites, n_perturbations).

    >>> ranked = pd.DataFrame({"site_id": ["a"], "residue_type": "r", **{f"{e}_recoverable_t_p50": [1.0]
    ...                        for e in ELEMENTS}})
    >>> recovery = pd.DataFrame({"residue_type": "r", "element": list(ELEMENTS), "recovery_low": 0.5,
    ...                          "recovery_mode": 0.5, "recovery_high": 0.5})
    >>> prices = pd.DataFrame({"element": list(ELEMENTS), "price_low_usd_per_kg": 2.0,
    ...                        "price_mid_usd_per_kg": 2.0, "price_high_usd_per_kg": 2.0})
    >>> value_factors(ranked, recovery, prices, 3, seed=0).tolist()  # nothing uncertain: factor 1
    [[1.0, 1.0, 1.0]]
    """
    rng = np.random.default_rng(seed)
    price = prices.set_index("element").reindex(list(ELEMENTS))
    low, mid, high = (price[f"price_{k}_usd_per_kg"].to_numpy(dtype=float) for k in ("low", "mid", "high"))
    u = rng.random((n_perturbations, len(ELEMENTS)))
    if price_distribution == "uniform":
        drawn_price = low + u * (high - low)
    else:
        drawn_price = _triangular_ppf(u, low, mid, high)
    price_ratio = np.where(mid > 0, drawn_price / np.where(mid > 0, mid, 1.0), 1.0)  # (n_perturbations, n_elements)

    types = sorted(ranked["residue_type"].astype(str).unique())
    rates = recovery.set_index(["residue_type", "element"])
    index = pd.MultiIndex.from_product([types, list(ELEMENTS)])
    r_low, r_mode, r_high = (
        rates[f"recovery_{k}"].reindex(index).to_numpy(dtype=float).reshape(len(types), len(ELEMENTS))
        for k in ("low", "mode", "high")
    )
    u = rng.random((n_perturbations, len(types), len(ELEMENTS)))
    drawn_recovery = _triangular_ppf(u, r_low, r_mode, r_high)
    median = _triangular_ppf(np.full_like(r_low, 0.5), r_low, r_mode, r_high)
    recovery_ratio = np.where(median > 0, drawn_recovery / np.where(median > 0, median, 1.0), 1.0)

    metal = ranked[[f"{element}_recoverable_t_p50" for element in ELEMENTS]].to_numpy(dtype=float)
    value = metal * KG_PER_TONNE * mid[None, :]
    total = value.sum(axis=1, keepdims=True)
    shares = np.where(total > 0, value / np.where(total > 0, total, 1.0), 1.0 / len(ELEMENTS))
    type_row = np.searchsorted(np.array(types), ranked["residue_type"].astype(str).to_numpy())
    # factor[s, k] = sum_e shares[s, e] * price_ratio[k, e] * recovery_ratio[k, type(s), e]
    return np.einsum("se,ke,kse->sk", shares, price_ratio, recovery_ratio[:, type_row, :])


def _rerank(ranked: pd.DataFrame, factors: np.ndarray, top_n: int) -> pd.DataFrame:
    """Rank the eligible sites in every perturbation; ties broken by site_id as in the ranking."""
    eligible = ranked["rank"].notna().to_numpy()
    site_ids = ranked["site_id"].astype(str).to_numpy()
    rows = np.flatnonzero(eligible)
    rows = rows[np.argsort(site_ids[rows], kind="mergesort")]
    scores = ranked["score"].to_numpy(dtype=float)[rows, None] * factors[rows]
    order = np.argsort(-scores, axis=0, kind="stable")  # stable: equal scores keep site_id order
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, len(rows) + 1)[:, None], axis=0)
    out = pd.DataFrame({"site_id": ranked["site_id"].to_numpy()})
    for name, q in (("rank_p10", 10.0), ("rank_p50", 50.0), ("rank_p90", 90.0)):
        column = pd.array([pd.NA] * len(ranked), dtype="Int64")
        if len(rows):
            column[rows] = np.percentile(ranks, q, axis=1, method="nearest").astype("int64")
        out[name] = column
    stability = np.full(len(ranked), np.nan)
    stability[rows] = (ranks <= top_n).mean(axis=1)
    out[f"rank_stability_top{top_n}"] = stability
    return out


def _triangular_ppf(u: np.ndarray, low: np.ndarray, mode: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Inverse CDF of the triangular distribution; a point mass where low == high.

    >>> float(_triangular_ppf(np.array(0.5), np.array(0.0), np.array(0.5), np.array(1.0)))
    0.5
    """
    span = np.where(high > low, high - low, 1.0)
    cut = np.where(high > low, (mode - low) / span, 0.0)
    left = low + np.sqrt(u * span * np.maximum(mode - low, 0.0))
    right = high - np.sqrt((1 - u) * span * np.maximum(high - mode, 0.0))
    return np.where(high > low, np.where(u < cut, left, right), low)
