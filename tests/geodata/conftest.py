"""Fixtures shared by the geodata tests: two accepted sites in two UTM zones and a data root."""

from __future__ import annotations

import geopandas as gpd
import pytest

from tests.geodata.helpers import E0, N0, UTM43, UTM44, square, to_lonlat


@pytest.fixture
def two_sites() -> gpd.GeoDataFrame:
    """Accepted sites as validate_sites returns them: A in UTM 44N, B in UTM 43N, 200 m squares."""
    return gpd.GeoDataFrame(
        {"site_id": ["A", "B"]},
        geometry=[to_lonlat(square(E0, N0, 100), UTM44), to_lonlat(square(700_000, 2_500_000, 100), UTM43)],
        crs="EPSG:4326",
    )


@pytest.fixture
def data_root(tmp_path):
    """A data folder holding one (dummy) raster file, rasters/ok.tif."""
    (tmp_path / "rasters").mkdir()
    (tmp_path / "rasters" / "ok.tif").write_bytes(b"not read by validate_sites")
    return tmp_path
