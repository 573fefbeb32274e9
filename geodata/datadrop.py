"""A data drop: the folder of inputs a user hands to Residua, and its provenance."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from geodata.errors import DataDropError

SITES_NAMES: tuple[str, ...] = ("sites.gpkg", "sites.geojson", "sites.json", "sites.shp", "sites.csv")
#: Processing-hub locations a drop may hold (read by ``models.hubs``).
HUBS_FILE = "hubs.csv"
SAMPLES_NAMES: tuple[str, ...] = ("samples.csv", "samples.xlsx", "samples.gpkg", "samples.geojson")
INPUT_SUFFIXES: tuple[str, ...] = (
    ".gpkg",
    ".geojson",
    ".json",
    ".shp",
    ".dbf",
    ".prj",
    ".csv",
    ".xlsx",
    ".tif",
    ".tiff",
    ".vrt",
)


@dataclass(frozen=True)
class DataDrop:
    """Where a drop's files are, and what it says about itself in ``dataset.json``."""

    root: Path
    sites_path: Path
    samples_path: Path | None
    title: str
    synthetic: bool
    description: str = ""
    input_hashes: dict[str, str] = field(default_factory=dict)


def open_data_drop(root: Path | str) -> DataDrop:
    """Find the sites and samples files in ``root`` and hash every input file.

    Raises DataDropError when the folder or its sites file is missing.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise DataDropError(
            root, "data directory does not exist", "pass --data pointing at a folder holding sites.gpkg"
        )
    sites_path = _only_one(root, SITES_NAMES, "sites")
    if sites_path is None:
        raise DataDropError(
            root, "no sites file found", f"add one of {', '.join(SITES_NAMES)} with one footprint polygon per site"
        )
    meta = _read_dataset_json(root)
    return DataDrop(
        root=root,
        sites_path=sites_path,
        samples_path=_only_one(root, SAMPLES_NAMES, "samples"),
        title=str(meta.get("title", root.name)),
        synthetic=bool(meta.get("synthetic", False)),
        description=str(meta.get("description", "")),
        input_hashes=hash_inputs(root),
    )


def _only_one(root: Path, names: tuple[str, ...], what: str) -> Path | None:
    """The one file of ``names`` in ``root`` (None if none); two candidates for one table are an error."""
    found = [root / name for name in names if (root / name).is_file()]
    if len(found) > 1:
        raise DataDropError(
            found[1], f"a second {what} file beside {found[0].name}",
            f"keep one {what} file (merge them, or move the other out of the drop)",
        )  # fmt: skip
    return found[0] if found else None


def _read_dataset_json(root: Path) -> dict:
    path = root / "dataset.json"
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataDropError(path, f"not valid JSON ({error})", "fix the JSON or delete the optional file") from error
    if not isinstance(meta, dict):
        raise DataDropError(path, "must hold a JSON object", 'write e.g. {"title": "...", "synthetic": false}')
    return meta


def sha256_file(path: Path) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_inputs(root: Path) -> dict[str, str]:
    """SHA-256 of every input file under ``root``, keyed by its path relative to root."""
    return {
        path.relative_to(root).as_posix(): sha256_file(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix.lower() in INPUT_SUFFIXES
    }


def resolve_inside(root: Path, relative: str) -> Path | None:
    """Resolve a path written in a data file, refusing any that escapes ``root``.

    >>> resolve_inside(Path("/data"), "../etc/passwd") is None
    True
    """
    candidate = (root / relative).resolve()
    try:
        candidate.relative_to(root.resolve())
    except ValueError:
        return None
    return candidate
