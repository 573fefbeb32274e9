"""Writing Cloud-Optimized GeoTIFFs of block estimates."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.io import MemoryFile

NODATA = -9999.0


def safe_file_stem(text: str) -> str:
    """A file-name stem made from user text that cannot leave its folder.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_`` and
    leading dots are dropped; if anything changed, a short hash of the original keeps
    different ids apart.

    >>> safe_file_stem("RM-001"), safe_file_stem("../../evil")
    ('RM-001', 'evil-1361ca8c')
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip("._") or "site"
    if stem == text:
        return stem
    return f"{stem}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]}"


def cog_bytes(bands: dict[str, np.ndarray], transform: Affine, crs: object, tags: dict[str, str]) -> bytes:
    """Named float32 bands as the bytes of a Cloud-Optimized GeoTIFF (DEFLATE, internal overviews).

    Built in memory (so a worker process can encode it); NaN becomes the nodata value, band
    names become band descriptions, ``tags`` are written as dataset metadata (e.g. units,
    the synthetic flag). Tiles are GDAL's default 512 pixels, or one tile (a multiple of 16
    pixels) for a smaller raster: a site's block grid is tens of cells across, and padding it
    to 512 x 512 made encoding four times slower and files twice as large.
    """
    stack = np.stack([np.where(np.isfinite(band), band, NODATA).astype("float32") for band in bands.values()])
    profile = {
        "driver": "GTiff", "width": stack.shape[2], "height": stack.shape[1], "count": len(bands),
        "dtype": "float32", "crs": crs, "transform": transform, "nodata": NODATA,
    }  # fmt: skip
    with MemoryFile() as memory, MemoryFile() as cog:
        with memory.open(**profile) as dataset:
            dataset.write(stack)
            for index, name in enumerate(bands, start=1):
                dataset.set_band_description(index, name)
            dataset.update_tags(**tags)
        with memory.open() as source:
            rasterio.shutil.copy(
                source,
                cog.name,
                driver="COG",
                compress="DEFLATE",
                predictor=3,
                overview_resampling="average",
                blocksize=min(512, 16 * math.ceil(max(stack.shape[1:]) / 16)),
            )
        return cog.read()
