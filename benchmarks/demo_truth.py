"""Compare a run's estimates on the demo with the generator's synthetic truth.

Usage: python benchmarks/demo_truth.py [OUT_DIR] [DATA_DIR]   (after `make run`; default out/ and
the bundled demo; DATA_DIR: a drop written by ``geodata/demo/make_demo.py --seed N --out DIR``)

Prints, per quantity, how often the truth falls inside the published P10-P90 interval
(nominally 80 %) and the median ratio estimate / truth. Tonnes are split by sampled and
unsampled sites; each metal by sites where it was assayed (grade from the site's own
assays) and sites where it was not (grade from the residue-type model alone: every
unsampled site, and sampled sites whose lab did not assay that element; PGM counts as
assayed where Pt, Pd and Rh all were). The demo is synthetic: this checks the machinery,
not the real world.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd

from residua.geodata.schema import PGM_ELEMENTS, REPORTED_METALS

DEMO = Path(__file__).resolve().parents[1] / "geodata" / "demo"


def compare(out_dir: Path, data_dir: Path = DEMO) -> pd.DataFrame:
    """Interval coverage and median ratio per quantity and group of sites."""
    ranked = pd.read_csv(out_dir / "sites_ranked.csv").set_index("site_id")
    truth = pd.read_csv(data_dir / "truth.csv").set_index("site_id").loc[ranked.index]
    samples = gpd.read_file(out_dir / "inventory.gpkg", layer="samples")
    sampled = ranked["n_samples"] > 0
    groups = {"tonnes": ("tonnes", truth["true_tonnes"], {"sampled": sampled, "unsampled": ~sampled})}
    for metal in REPORTED_METALS:
        elements = PGM_ELEMENTS if metal == "pgm" else (metal,)
        assayed = pd.Series(True, index=ranked.index)
        for element in elements:
            assayed &= ranked.index.isin(samples.loc[samples[f"{element}_gt"].notna(), "site_id"])
        contained = truth["true_tonnes"] * truth[f"true_mean_grade_gt_{metal}"] / 1e6
        masks = {"assayed": assayed, "not assayed": ~assayed}
        groups[f"{metal} contained"] = (f"{metal}_contained_t", contained, masks)
    rows = []
    for label, (prefix, true_value, masks) in groups.items():
        for group, mask in masks.items():
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
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else DEMO
    print(compare(out, data).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
