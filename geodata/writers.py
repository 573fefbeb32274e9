"""Atomic writers for published outputs: a failed run never leaves a half-written file.

Every output is first written completely into a staging folder beside its destination,
then moved into place with ``os.replace`` (atomic on one filesystem).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio


@contextmanager
def staged_outputs(out_dir: Path) -> Iterator[Path]:
    """Yield a staging folder; on success move each file in it into ``out_dir``.

    If the block raises, the staging folder is deleted and ``out_dir`` is untouched.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        yield staging
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                target = out_dir / path.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_geopackage(path: Path, layers: dict[str, pd.DataFrame]) -> None:
    """Write several layers (spatial or attribute-only) into one new GeoPackage.

    GeoDataFrames become spatial layers (``Unknown`` geometry type when they mix types);
    plain DataFrames become attribute tables.
    """
    if path.exists():
        path.unlink()
    for name, frame in layers.items():
        table = _plain_columns(frame)
        options = {"driver": "GPKG", "layer": name, "append": path.exists()}
        if not path.exists():
            # GeoPackage 1.2 opens without warnings in older GDAL builds (Debian 12's 3.6), QGIS and ArcGIS.
            options["dataset_options"] = {"VERSION": "1.2"}
        if isinstance(table, gpd.GeoDataFrame) and _mixed_geometry(table):
            options["geometry_type"] = "Unknown"
        pyogrio.write_dataframe(table, path, **options)


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a UTF-8 CSV without the index."""
    frame.to_csv(path, index=False, encoding="utf-8")


def _mixed_geometry(frame: gpd.GeoDataFrame) -> bool:
    return len(set(frame.geom_type.dropna())) != 1 or bool(frame.geometry.isna().any())


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast object columns that GDAL cannot type (mixed values) to strings."""
    table = frame.copy()
    for column in table.columns:
        if column == getattr(table, "_geometry_column_name", None):
            continue
        if table[column].dtype == object:
            table[column] = table[column].map(lambda value: "" if value is None else str(value))
    return table
