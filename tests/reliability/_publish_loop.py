"""Publish a small inventory into OUT again and again, until killed or COUNT publishes are done.

Usage: python _publish_loop.py OUT READY_FILE COUNT TAG [PUBLISH:RENAME]

Publish number i carries the marker ``TAG-i`` in ``run_id`` (provenance), in every row's
``data_origin`` and in the ranked sites' names, so a reader can tell which publish each output
file comes from. READY_FILE is created after the first complete publish.

With PUBLISH:RENAME the process SIGKILLs itself right after the RENAME-th ``os.replace`` of
publish number PUBLISH (negative RENAME: counted from the end, as publish 0 counted them).
Every step of a commit that changes a folder is an ``os.replace`` (the journal, each move,
the commit record), so this stops a publish at an exact point of its transaction.
"""

import os
import signal
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from residua.geodata.publish import metal_columns
from tests.publishing import publish_inventory


def layers(marker: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    boxes = [shapely.box(78 + i, 21, 78.004 + i, 21.004) for i in range(3)]
    ranked = pd.DataFrame({
        "site_id": ["S1", "S2", "S3"], "name": [f"{marker} site {i}" for i in range(3)],
        "residue_type": "bauxite_residue", "rank": [1, 2, 3], "score": [3e9, 2e6, 1e3],
        "confidence": ["G1", "G2", "G4"], "confidence_words": "Measured-like", "unfc_code": 331,
        "tonnes_p10": 1e6, "tonnes_p50": 2e6, "tonnes_p90": 4e6,
    })  # fmt: skip
    for offset, column in enumerate(metal_columns()):
        ranked[column] = 0.5 + offset
    ranked["data_origin"] = marker
    ranked = gpd.GeoDataFrame(ranked, geometry=boxes, crs="EPSG:4326")
    samples = gpd.GeoDataFrame(
        {"sample_id": ["a", "b"], "site_id": ["S1", "S1"], "ga_gt": [50.0, np.nan], "ga_bdl": [False, True],
         "data_origin": marker},
        geometry=[shapely.Point(78.001, 21.001), shapely.Point(78.002, 21.002)], crs="EPSG:4326",
    )  # fmt: skip
    quarantine = gpd.GeoDataFrame(
        {"source": ["samples.csv"], "source_row": [2], "record_id": ["q1"], "reason": ["zero assay"],
         "raw": ['{"ga_ppm": "0"}'], "data_origin": marker},
        geometry=[shapely.Point(79.0, 21.5)], crs="EPSG:4326",
    )  # fmt: skip
    return ranked, samples, quarantine


def kill_at_rename(publish: int, rename: int) -> list[int]:
    """Count each publish's renames; SIGKILL this process after rename ``rename`` of publish ``publish``."""
    counts: list[int] = []
    real_replace = os.replace

    def counting_replace(source, target):
        real_replace(source, target)
        counts[-1] += 1
        at = rename if rename > 0 else counts[0] + rename + 1
        if len(counts) - 1 == publish and counts[-1] == at:
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = counting_replace
    return counts


def main() -> int:
    out, ready, count, tag = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    counts = kill_at_rename(*map(int, sys.argv[5].split(":"))) if len(sys.argv) > 5 else []
    for i in range(count):
        counts.append(0)
        marker = f"{tag}-{i}"
        ranked, samples, quarantine = layers(marker)
        metadata = {"title": "reliability publish loop", "synthetic": True, "run_id": marker}
        publish_inventory(out, ranked, samples, quarantine, metadata)
        if i == 0:
            ready.touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
