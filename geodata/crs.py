"""Coordinate-system helpers shared by validation and raster measurement."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
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


def local_utm_crs(geometry: shapely.Geometry) -> pyproj.CRS:
    """The WGS 84 / UTM zone CRS containing a lon/lat geometry's centroid.

    >>> local_utm_crs(shapely.Point(82.9, 18.8)).to_epsg()
    32644
    """
    point = geometry.centroid
    zone = int((point.x + 180) // 6) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if point.y >= 0 else 32700) + zone)


def utm_epsg_codes(geometries: gpd.GeoSeries) -> np.ndarray:
    """EPSG code of the WGS 84 / UTM zone containing each lon/lat geometry's centroid."""
    centres = shapely.centroid(geometries.to_numpy())
    zone = ((shapely.get_x(centres) + 180) // 6).astype(int) % 60 + 1
    return np.where(shapely.get_y(centres) >= 0, 32600, 32700) + zone


def to_local_utm(geometries: gpd.GeoSeries) -> gpd.GeoSeries:
    """Each lon/lat geometry in its own UTM zone (one reprojection per zone), as a plain GeoSeries."""
    codes = utm_epsg_codes(geometries)
    local = np.empty(len(geometries), dtype=object)
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        local[rows] = geometries.iloc[rows].to_crs(code).to_numpy()
    return gpd.GeoSeries(local, index=geometries.index)


def to_local_metres(points: gpd.GeoSeries, site_ids: pd.Series, footprints: gpd.GeoSeries) -> np.ndarray:
    """x/y in metres of each lon/lat point, in the UTM zone of its site (keyed by site_id).

    ``footprints`` is indexed by site_id. Returns an (n, 2) array.
    """
    xy = np.full((len(points), 2), np.nan)
    codes = pd.Series(utm_epsg_codes(footprints), index=footprints.index).reindex(site_ids.to_numpy()).to_numpy()
    for code in np.unique(codes[~pd.isna(codes)]):
        rows = np.flatnonzero(codes == code)
        projected = points.iloc[rows].to_crs(int(code))
        xy[rows] = np.column_stack([projected.x, projected.y])
    return xy
