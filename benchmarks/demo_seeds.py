"""Interval coverage against the synthetic truth over several demo drops (one per generator seed).

Usage: python benchmarks/demo_seeds.py [--seeds 20240611 1 2 3 4 5] [--workdir DIR] [--out FILE]

One demo drop has 64 sites and 8 residue types with 1-5 sampled sites each, so its coverage
figures move a lot with the draw of which sites were sampled (a type's few sampled sites can
agree more closely than the generator's between-site spread). Each seed here generates a
whole SYNTHETIC drop with ``geodata/demo/make_demo.py``, runs ``residua run`` on it and
compares the published P10-P90 intervals with the generator's truth (``demo_truth.compare``);
the table gives every seed's coverage and the mean over seeds. Nominal coverage is 0.80.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_truth import compare  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEEDS = (20240611, 1, 2, 3, 4, 5)


def run_seed(seed: int, workdir: Path) -> pd.DataFrame:
    """Generate the drop of ``seed``, run the job on it and compare with its truth."""
    data, out = workdir / f"demo_{seed}", workdir / f"out_{seed}"
    bin_dir = Path(sys.executable).parent
    subprocess.run([sys.executable, str(ROOT / "geodata" / "demo" / "make_demo.py"), "--seed", str(seed),
                    "--out", str(data)], check=True, capture_output=True)  # fmt: skip
    environment = {**os.environ, "RESIDUA_DAGSTER_DIR": str(workdir / f"dagster_{seed}")}
    subprocess.run([str(bin_dir / "residua"), "run", "--data", str(data), "--out", str(out)], check=True,
                   capture_output=True, env=environment)  # fmt: skip
    return compare(out, data).assign(seed=seed)


def render(results: pd.DataFrame, seeds: list[int]) -> str:
    """The results page: coverage per seed and the mean over seeds, per quantity and group."""
    table = results.pivot_table(index=["quantity", "sites"], columns="seed", values="coverage_p10_p90", sort=False)
    table = table[seeds]
    table["mean"] = table.mean(axis=1)
    sizes = results.groupby(["quantity", "sites"], sort=False)["n"].mean().round().astype(int)
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip() or "unknown"  # fmt: skip
    lines = [
        "# Demo truth over several generator seeds (SYNTHETIC data)",
        "",
        f"Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/demo_seeds.py --seeds "
        f"{' '.join(map(str, seeds))}` on code {commit}. Share of sites whose true value lies inside the published "
        "P10-P90 interval (nominally 0.80); `n` is the mean number of sites per drop in the group. Metals are split "
        "by sites that assayed them (grade from their own assays) and sites that did not (grade from the "
        "residue-type model and the cited reference priors alone).",
        "",
        "| quantity | sites | n | " + " | ".join(f"seed {seed}" for seed in seeds) + " | mean |",
        "|---|---|---:|" + "---:|" * (len(seeds) + 1),
    ]
    for (quantity, group), row in table.iterrows():
        cells = " | ".join(f"{value:.2f}" for value in row)
        lines.append(f"| {quantity} | {group} | {sizes.loc[(quantity, group)]} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "residua_demo_seeds")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "demo_seeds.md")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in args.seeds:
        results.append(run_seed(seed, args.workdir))
        print(f"seed {seed}: done", flush=True)
    page = render(pd.concat(results, ignore_index=True), args.seeds)
    args.out.write_text(page, encoding="utf-8")
    print(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
