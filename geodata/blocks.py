"""Regular block grids inside a site footprint, for block grade estimates and rasters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine


@dataclass(frozen=True)
class BlockGrid:
    """Block centres (x, y, depth) inside a footprint, and the raster grid they sit on.

    ``rows``/``cols`` locate each block's column in a raster of ``shape`` with
    ``transform`` (north-up, in the footprint's metric CRS).
    """

    centres: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    transform: Affine
    shape: tuple[int, int]
    cell_m: float


def block_grid(footprint: shapely.Geometry, depths: np.ndarray, cell_m: float) -> BlockGrid:
    """Square cells of ``cell_m`` whose centres fall inside ``footprint``, one block per depth per cell.

    >>> grid = block_grid(shapely.box(0, 0, 100, 100), np.array([0.75, 2.25]), cell_m=10.0)
    >>> grid.centres.shape, grid.shape
    ((200, 3), (10, 10))
    """
    cell = float(cell_m)
    minx, miny, maxx, maxy = footprint.bounds
    width = max(int(np.ceil((maxx - minx) / cell)), 1)
    height = max(int(np.ceil((maxy - miny) / cell)), 1)
    transform = Affine(cell, 0.0, minx, 0.0, -cell, maxy)
    rows, cols = np.mgrid[0:height, 0:width]
    x = minx + (cols.ravel() + 0.5) * cell
    y = maxy - (rows.ravel() + 0.5) * cell
    inside = shapely.contains_xy(footprint, x, y)
    if not inside.any():  # a footprint thinner than one cell: use its representative point
        point = footprint.representative_point()
        x, y = np.array([point.x]), np.array([point.y])
        rows, cols, inside = (
            np.array([int((maxy - point.y) // cell)]),
            np.array([int((point.x - minx) // cell)]),
            np.array([True]),
        )
    x, y = x[inside], y[inside]
    row, col = rows.ravel()[inside], cols.ravel()[inside]
    n_depths = len(depths)
    centres = np.column_stack([np.repeat(x, n_depths), np.repeat(y, n_depths), np.tile(depths, len(x))])
    return BlockGrid(centres, np.repeat(row, n_depths), np.repeat(col, n_depths), transform, (height, width), cell)
