"""Covariate raster values at points: the band-1 value of the pixel containing each point.

The points are reprojected to each raster's CRS (the raster is never resampled, so a
geographic EPSG:4326 raster works as well as a projected one). Each raster is read only
over the window of pixels the points fall in, split into tiles when that window would
exceed the memory budget; points off the raster or on nodata / masked pixels get NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import isqrt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import rasterio
import rasterio.windows

from residua.geodata.errors import CRSError
from residua.geodata.zonal import DEFAULT_MAX_CELLS_IN_MEMORY, _open_raster


def sample_covariates(
    paths: Mapping[str, Path],
    xy: np.ndarray,
    crs: Any,
    *,
    max_cells_in_memory: int = DEFAULT_MAX_CELLS_IN_MEMORY,
) -> pd.DataFrame:
    """The value of every covariate raster at each point, nearest pixel, NaN off it or on nodata.

    Parameters
    ----------
    paths
        Covariate name -> one-band raster (GeoTIFF or VRT) in any CRS, as ``find_covariates``
        returns them.
    xy
        ``(n, 2)`` point coordinates (x, y) in ``crs``; rows with a NaN coordinate get NaN.
    crs
        CRS of ``xy``, anything ``pyproj.CRS.from_user_input`` accepts (``"EPSG:32644"``, a
        ``pyproj.CRS``, a GeoDataFrame's ``.crs``).
    max_cells_in_memory
        Most pixels read at once; a wider spread of points is read tile by tile.

    Returns
    -------
    pandas.DataFrame
        One float column per name of ``paths`` (in its order), one row per point (index
        ``0..n-1``): the pixel value with the band's scale and offset applied. A point on a
        pixel edge takes the pixel to its east / south; NaN off the raster, on a nodata or
        masked pixel.

    Raises
    ------
    CRSError
        If ``crs`` is None or a raster has no CRS.
    DataDropError
        If a raster cannot be opened, has more than one band or a rotated grid.
    ValueError
        If ``xy`` is not ``(n, 2)``.

    Examples
    --------
    A 2 x 2 raster of 1 m pixels valued 1, 2 / 3, 4; the second point is off the raster:

    >>> import tempfile
    >>> from rasterio.transform import from_origin
    >>> path = Path(tempfile.mkdtemp()) / "demo.tif"
    >>> with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32",
    ...                    crs="EPSG:32644", transform=from_origin(0, 2, 1, 1)) as dataset:
    ...     dataset.write(np.array([[1, 2], [3, 4]], dtype="float32"), 1)
    >>> sample_covariates({"demo": path}, np.array([[1.5, 0.5], [5.0, 0.5]]), "EPSG:32644")
       demo
    0   4.0
    1   NaN
    """
    if crs is None:
        raise CRSError("points", "points have no CRS", "pass the CRS their coordinates are in, e.g. 'EPSG:32644'")
    xy = np.asarray(xy, dtype="float64")
    if xy.size == 0:
        xy = xy.reshape(0, 2)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy must be an (n, 2) array of x, y; got shape {xy.shape}")
    source = pyproj.CRS.from_user_input(crs)
    reprojected: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # per raster CRS (WKT), done once
    columns = {}
    for name, path in paths.items():
        with _open_raster(Path(path)) as dataset:
            wkt = dataset.crs.to_wkt()
            if wkt not in reprojected:
                transformer = pyproj.Transformer.from_crs(source, pyproj.CRS.from_wkt(wkt), always_xy=True)
                reprojected[wkt] = transformer.transform(xy[:, 0], xy[:, 1])
            columns[name] = _sample(dataset, *reprojected[wkt], max_cells_in_memory)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(xy)), columns=list(paths), dtype="float64")


def _sample(dataset: rasterio.DatasetReader, x: np.ndarray, y: np.ndarray, max_cells: int) -> np.ndarray:
    """Band 1 (scaled) at points in the raster's CRS; NaN off it, on nodata or masked pixels."""
    values = np.full(len(x), np.nan)
    cols, rows = ~dataset.transform @ (np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64"))
    with np.errstate(invalid="ignore"):
        cols, rows = np.floor(cols), np.floor(rows)
        inside = (0 <= rows) & (rows < dataset.height) & (0 <= cols) & (cols < dataset.width)
    if inside.any():
        read = _read_pixels(dataset, rows[inside].astype("int64"), cols[inside].astype("int64"), max_cells)
        values[inside] = read * dataset.scales[0] + dataset.offsets[0]
    return values


def _read_pixels(dataset: rasterio.DatasetReader, rows: np.ndarray, cols: np.ndarray, max_cells: int) -> np.ndarray:
    """Band 1 at pixel (row, col) pairs inside the raster, NaN where masked.

    One read of the window spanning the pixels if it fits ``max_cells``; otherwise one
    such read per occupied tile of ``isqrt(max_cells)`` pixels square.
    """
    top, left = rows.min(), cols.min()
    height, width = rows.max() - top + 1, cols.max() - left + 1
    if height * width <= max_cells:
        window = rasterio.windows.Window(int(left), int(top), int(width), int(height))
        band = dataset.read(1, window=window, masked=True)
        return np.ma.filled(band[rows - top, cols - left].astype("float64"), np.nan)
    side = max(1, isqrt(max_cells))
    tiles = (rows // side) * (dataset.width // side + 1) + cols // side
    order = np.argsort(tiles, kind="stable")
    values = np.empty(len(rows))
    for group in np.split(order, np.flatnonzero(np.diff(tiles[order])) + 1):
        values[group] = _read_pixels(dataset, rows[group], cols[group], max_cells)
    return values
