"""Coordinate-system helpers shared by validation and raster measurement."""

from __future__ import annotations

import pyproj
import shapely

_GEOD = pyproj.Geod(ellps="WGS84")


def geodesic_area_m2(geometry: shapely.Geometry) -> float:
    """Area on the WGS 84 ellipsoid of a lon/lat geometry, in square metres (0 for points).

    Projected areas are distorted by the projection's scale factor (about 3-4 % in a
    Lambert conformal CRS over India); the ellipsoidal area is not.

    >>> round(geodesic_area_m2(shapely.box(0, 0, 0.01, 0.01)) / 1e6, 3)
    1.231
    """
    if geometry.geom_type in ("Point", "MultiPoint"):
        return 0.0
    area, _ = _GEOD.geometry_area_perimeter(geometry)
    return abs(area)
