"""Block-grade rasters: valid Cloud-Optimized GeoTIFFs whatever the grid size."""

import numpy as np
import numpy.testing as npt
import pytest
import rasterio
from affine import Affine
from rasterio.io import MemoryFile

from residua.geodata.rasters import NODATA, cog_bytes


@pytest.mark.parametrize(("height", "width", "tile"), [(12, 14, 16), (40, 17, 48), (700, 30, 512)])
def test_cog_bytes_round_trips_with_one_tile_for_small_grids(height, width, tile):
    rng = np.random.default_rng(0)
    bands = {"p50_gt": rng.uniform(1, 90, (height, width)), "p10_gt": rng.uniform(0, 1, (height, width))}
    bands["p50_gt"][0, 0] = np.nan
    transform = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)
    content = cog_bytes(bands, transform, "EPSG:32643", {"unit": "g/t", "synthetic": "True"})
    with MemoryFile(content) as memory, memory.open() as dataset:
        assert dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert dataset.block_shapes[0] == (min(tile, 512), min(tile, 512))
        assert dataset.descriptions == ("p50_gt", "p10_gt")
        assert dataset.crs == rasterio.crs.CRS.from_epsg(32643) and dataset.transform == transform
        assert dataset.tags()["unit"] == "g/t" and dataset.nodata == NODATA
        p50 = dataset.read(1, masked=True)
    assert p50.mask[0, 0] and p50.mask.sum() == 1
    npt.assert_allclose(p50.filled(np.nan)[1:, :], bands["p50_gt"][1:, :].astype("float32"))
