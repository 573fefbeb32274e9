"""The published contract: ``inventory.gpkg`` and ``sites_ranked.csv``, written atomically."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from geodata.schema import REPORTED_METALS
from geodata.writers import staged_outputs, write_csv, write_geopackage

DISCLAIMER = (
    "Screening estimates for prioritising sites, not a compliant mineral resource statement "
    "(JORC, NI 43-101, UNFC or India's MEMC Rules 2015)."
)

LEADING_COLUMNS: tuple[str, ...] = (
    "site_id", "name", "residue_type", "rank", "score", "confidence", "confidence_words", "unfc_code",
    "tonnes_p10", "tonnes_p50", "tonnes_p90",
)  # fmt: skip


def metal_columns() -> list[str]:
    """Per-metal columns of ``sites_ranked``, in published order."""
    columns = []
    for metal in REPORTED_METALS:
        columns.append(f"{metal}_grade_gt_p50")
        columns += [f"{metal}_contained_t_{p}" for p in ("p10", "p50", "p90")]
        columns += [f"{metal}_recoverable_t_{p}" for p in ("p10", "p50", "p90")]
    return columns


def order_columns(frame: pd.DataFrame) -> list[str]:
    """The contract's columns first, then every other column in its current order."""
    leading = [*LEADING_COLUMNS, *metal_columns()]
    return [*leading, *[column for column in frame.columns if column not in leading]]


def publish_inventory(
    out_dir: Path,
    sites_ranked: gpd.GeoDataFrame,
    samples: gpd.GeoDataFrame,
    quarantine: gpd.GeoDataFrame,
    metadata: dict[str, str],
) -> dict[str, Path]:
    """Write the inventory GeoPackage and the ranked CSV; return their final paths.

    ``metadata`` becomes the attribute table ``run_metadata`` (key, value); the
    screening disclaimer is always added to it.
    """
    ranked = sites_ranked[order_columns(sites_ranked)]
    table = pd.DataFrame(
        [{"key": key, "value": str(value)} for key, value in {**metadata, "disclaimer": DISCLAIMER}.items()]
    )
    csv = pd.DataFrame(ranked.drop(columns="geometry"))
    centroids = [shapely.centroid(geometry) for geometry in ranked.geometry]
    csv.insert(3, "centroid_lon", [point.x for point in centroids])
    csv.insert(4, "centroid_lat", [point.y for point in centroids])
    with staged_outputs(out_dir) as staging:
        write_geopackage(
            staging / "inventory.gpkg",
            {"sites_ranked": ranked, "samples": samples, "quarantine": quarantine, "run_metadata": table},
        )
        write_csv(staging / "sites_ranked.csv", csv)
    return {"inventory": out_dir / "inventory.gpkg", "sites_ranked_csv": out_dir / "sites_ranked.csv"}
