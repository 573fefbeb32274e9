"""Rank stability under joint price and recovery perturbations."""

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

from residua.geodata.schema import ELEMENTS
from residua.models.sensitivity import rank_stability, value_factors

MID = {"ga": 500.0, "te": 80.0, "pt": 30000.0, "pd": 30000.0, "rh": 150000.0}


def _prices(spread: dict[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """Price table at MID; ``spread`` gives (low, high) as multiples of mid per element."""
    spread = spread or {}
    rows = []
    for element in ELEMENTS:
        low, high = spread.get(element, (1.0, 1.0))
        rows.append((element, low * MID[element], MID[element], high * MID[element]))
    columns = ["element", "price_low_usd_per_kg", "price_mid_usd_per_kg", "price_high_usd_per_kg"]
    return pd.DataFrame(rows, columns=columns)


def _recovery(types: tuple[str, ...], spread: tuple[float, float, float] = (0.5, 0.5, 0.5)) -> pd.DataFrame:
    low, mode, high = spread
    return pd.DataFrame(
        [(kind, element, low, mode, high) for kind in types for element in ELEMENTS],
        columns=["residue_type", "element", "recovery_low", "recovery_mode", "recovery_high"],
    )


def _ranked(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """(site_id, residue_type, element holding all its value, score) -> a minimal ranking."""
    frame = pd.DataFrame(rows, columns=["site_id", "residue_type", "element", "score"])
    for element in ELEMENTS:
        # recoverable tonnes chosen so that the value at mid price equals the score
        tonnes = frame["score"] / 1000 / MID[element]
        frame[f"{element}_recoverable_t_p50"] = np.where(frame["element"] == element, tonnes, 0.0)
    frame = frame.sort_values("score", ascending=False, ignore_index=True)
    frame.insert(0, "rank", pd.array(np.arange(1, len(frame) + 1), dtype="Int64"))
    return frame


def test_certain_prices_and_recoveries_reproduce_the_published_ranking():
    ranked = _ranked([(f"s{i:02d}", "r", ELEMENTS[i % 5], 100.0 - i) for i in range(15)])
    out = rank_stability(ranked, _recovery(("r",)), _prices(), n_perturbations=20, seed=1)
    assert out["rank_p10"].tolist() == ranked["rank"].tolist()
    assert out["rank_p90"].tolist() == ranked["rank"].tolist()
    assert out["rank_stability_top10"].tolist() == [1.0] * 10 + [0.0] * 5


def test_factor_is_one_at_mid_price_and_median_recovery():
    ranked = _ranked([("a", "r", "ga", 10.0)])
    factors = value_factors(ranked, _recovery(("r",)), _prices(), n_perturbations=5, seed=0)
    npt.assert_allclose(factors, 1.0)


@pytest.mark.parametrize(
    ("distribution", "expected"),
    [
        ("uniform", 0.6),  # P(U(0.5, 1.5) > 0.9) = 0.6
        ("triangular", 1 - 0.4**2 / 0.5),  # triangular(0.5, 1, 1.5): P(X > 0.9) = 1 - 0.4^2 / (1 x 0.5) = 0.68
    ],
)
def test_share_in_the_top_matches_the_price_distribution(distribution, expected):
    # a (all Ga, score 100) stays ahead of b (all Te, score 90, certain price) iff the Ga price > 0.9 x mid
    ranked = _ranked([("a", "r", "ga", 100.0), ("b", "r", "te", 90.0)])
    prices = _prices({"ga": (0.5, 1.5)})
    out = rank_stability(ranked, _recovery(("r",)), prices, n_perturbations=4000, seed=3,
                         price_distribution=distribution, top_n=1).set_index("site_id")  # fmt: skip
    assert out.loc["a", "rank_stability_top1"] == pytest.approx(expected, abs=0.025)
    assert out.loc["b", "rank_stability_top1"] == pytest.approx(1 - expected, abs=0.025)
    assert (out.loc["a", "rank_p10"], out.loc["a", "rank_p90"]) == (1, 2)


def test_one_recovery_draw_per_residue_type_moves_its_sites_together():
    # a and c are the same type and element: a recovery draw scales both, so a always stays ahead of c
    ranked = _ranked([("a", "r", "ga", 100.0), ("b", "q", "ga", 80.0), ("c", "r", "ga", 60.0)])
    recovery = pd.concat([_recovery(("r",), (0.1, 0.5, 0.9)), _recovery(("q",))], ignore_index=True)
    out = rank_stability(ranked, recovery, _prices(), n_perturbations=500, seed=5, top_n=1).set_index("site_id")
    factors = value_factors(ranked, recovery, _prices(), n_perturbations=500, seed=5)
    npt.assert_allclose(factors[0], factors[2])  # same type and element mix: the same factor
    npt.assert_allclose(factors[1], 1.0)  # q has a certain recovery
    # a (100 x r / 0.5) beats b (80) iff r > 0.4: P = 1 - 0.3^2 / (0.8 x 0.4) for triangular(0.1, 0.5, 0.9)
    assert out.loc["a", "rank_stability_top1"] == pytest.approx(1 - 0.3**2 / 0.32, abs=0.05)
    assert out.loc["c", "rank_stability_top1"] == 0.0  # c never passes a
    assert out.loc["a", "rank_p90"] <= 2


def test_excluded_sites_take_no_place_in_any_re_ranking():
    ranked = _ranked([(f"s{i:02d}", "r", "ga", 100.0 - i) for i in range(12)])
    ranked["rank"] = pd.array([pd.NA, *range(1, 12)], dtype="Int64")  # s00 excluded by review
    out = rank_stability(ranked, _recovery(("r",)), _prices({"ga": (0.5, 1.5)}), n_perturbations=50, seed=2)
    assert np.isnan(out.loc[0, "rank_stability_top10"]) and pd.isna(out.loc[0, "rank_p50"])
    assert out.loc[10, "rank_stability_top10"] == 1.0  # s10 is 10th once s00 is out
    assert out["rank_p50"].iloc[1:].tolist() == list(range(1, 12))


def test_reproducible_by_seed():
    ranked = _ranked([(f"s{i:02d}", "r" if i % 2 else "q", ELEMENTS[i % 5], 100.0 - 3 * i) for i in range(20)])
    recovery = pd.concat([_recovery(("r",), (0.1, 0.5, 0.9)), _recovery(("q",), (0.2, 0.3, 0.8))], ignore_index=True)
    prices = _prices({element: (0.4, 2.0) for element in ELEMENTS})
    first = rank_stability(ranked, recovery, prices, n_perturbations=200, seed=11)
    again = rank_stability(ranked, recovery, prices, n_perturbations=200, seed=11)
    other = rank_stability(ranked, recovery, prices, n_perturbations=200, seed=12)
    pd.testing.assert_frame_equal(first, again)
    assert not first["rank_stability_top10"].equals(other["rank_stability_top10"])


def test_unknown_price_distribution_is_refused_with_the_choices():
    ranked = _ranked([("a", "r", "ga", 1.0)])
    with pytest.raises(ValueError, match="'lognormal' is not one of triangular, uniform"):
        rank_stability(ranked, _recovery(("r",)), _prices(), price_distribution="lognormal")
