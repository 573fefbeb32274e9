"""Per-site results keyed by the SHA-256 of everything they depend on, so refreshes are incremental.

A scheduled refresh usually changes a few files of a national data drop. DEM volumes and
covariate zonal statistics cost far more than the rest of a run on large rasters, and each
depends only on one site's footprint and the raster files it reads; keyed by those bytes
(and by the code and library versions that compute them), a result is recomputed only when
one of them changes, so a new DEM for one site re-measures one site.

Entries are small JSON files under a folder the project owns (never the data drop, never
``out/``); nothing is unpickled. A run keeps the entries it used and removes the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import exactextract
import rasterio

_KEY_LENGTH = 64


class ResultCache:
    """JSON results by key in ``root/<namespace>/``; ``hits``/``misses`` count this instance's lookups."""

    def __init__(self, root: Path, namespace: str) -> None:
        self.folder = Path(root) / namespace
        self.hits = 0
        self.misses = 0
        self._used: set[str] = set()

    def get(self, key: str) -> object | None:
        """The stored value for ``key``, or None (a missing or unreadable entry is a miss)."""
        self._used.add(_checked(key))
        try:
            value = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key: str, value: object) -> None:
        """Store ``value`` (JSON-serialisable) atomically: a reader sees the old entry or the new one."""
        self._used.add(_checked(key))
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(value, stream)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def keep_only_used(self) -> int:
        """Delete entries this instance neither read nor wrote; return how many were deleted."""
        removed = 0
        for path in self.folder.glob("*/*.json") if self.folder.is_dir() else ():
            if path.stem not in self._used:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"


def cache_key(*parts: object) -> str:
    """SHA-256 of the parts (bytes as they are, anything else by its ``repr``)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else repr(part).encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def raster_digest(path: Path) -> str:
    """SHA-256 over the bytes of every file a raster reads (a VRT's sources too)."""
    with rasterio.open(path) as dataset:
        files = sorted({str(Path(file).resolve()) for file in dataset.files})
    return cache_key(*(file_digest(Path(file)) for file in files))


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, remembered per (path, size, modification time) in this process."""
    stat = path.stat()
    return _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def code_version(*modules: object) -> str:
    """A digest of the given modules' source and of the raster libraries that compute results."""
    sources = [Path(module.__file__).read_bytes() for module in modules]  # type: ignore[attr-defined]
    versions = (rasterio.__version__, rasterio.__gdal_version__, getattr(exactextract, "__version__", ""))
    return cache_key(*sources, versions)


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(key: str) -> str:
    if len(key) != _KEY_LENGTH or any(character not in "0123456789abcdef" for character in key):
        raise ValueError(f"cache keys are SHA-256 hex digests, got {key!r}")
    return key
