"""Compare a run's estimates on the demo with the generator's synthetic truth.

Usage: python benchmarks/demo_truth.py [OUT_DIR]   (after `make run`; default out/)

Prints, per quantity, how often the truth falls inside the published P10-P90 interval
(nominally 80 %) and the median ratio estimate / truth, split by sampled and unsampled
sites. The demo is synthetic: this checks the machinery, not the real world.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from geodata.schema import REPORTED_METALS

DEMO = Path(__file__).resolve().parents[1] / "geodata" / "demo"


def compare(out_dir: Path) -> pd.DataFrame:
    """Interval coverage and median ratio per quantity, for sampled and unsampled sites."""
    ranked = pd.read_csv(out_dir / "sites_ranked.csv").set_index("site_id")
    truth = pd.read_csv(DEMO / "truth.csv").set_index("site_id").loc[ranked.index]
    quantities = {"tonnes": ("tonnes", truth["true_tonnes"])}
    for metal in REPORTED_METALS:
        contained = truth["true_tonnes"] * truth[f"true_mean_grade_gt_{metal}"] / 1e6
        quantities[f"{metal} contained"] = (f"{metal}_contained_t", contained)
    rows = []
    sampled = ranked["n_samples"] > 0
    for label, (prefix, true_value) in quantities.items():
        for group, mask in (("sampled", sampled), ("unsampled", ~sampled)):
            low, mid, high = (ranked.loc[mask, f"{prefix}_{p}"] for p in ("p10", "p50", "p90"))
            value = true_value[mask]
            rows.append(
                {
                    "quantity": label,
                    "sites": group,
                    "n": int(mask.sum()),
                    "coverage_p10_p90": float(((value >= low) & (value <= high)).mean()),
                    "median_ratio_p50_to_truth": float((mid / value).median()),
                }
            )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out")
    print(compare(out).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
