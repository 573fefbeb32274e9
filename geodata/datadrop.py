"""A data drop: the folder of inputs a user hands to Residua, and its provenance."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from residua.geodata.errors import DataDropError

SITES_NAMES: tuple[str, ...] = ("sites.gpkg", "sites.geojson", "sites.json", "sites.shp", "sites.csv")
#: Processing-hub locations a drop may hold (read by ``models.hubs``).
HUBS_FILE = "hubs.csv"
SAMPLES_NAMES: tuple[str, ...] = ("samples.csv", "samples.xlsx", "samples.gpkg", "samples.geojson")
#: The table triple a drillhole database exports (read by ``geodata.drillholes`` when there is no samples file).
COLLAR_NAMES: tuple[str, ...] = ("collars.csv", "collars.xlsx", "collar.csv", "collar.xlsx")
SURVEY_NAMES: tuple[str, ...] = ("surveys.csv", "surveys.xlsx", "survey.csv", "survey.xlsx")
ASSAY_NAMES: tuple[str, ...] = ("assays.csv", "assays.xlsx", "assay.csv", "assay.xlsx")
DRILLHOLE_NAMES: tuple[str, ...] = (*COLLAR_NAMES, *SURVEY_NAMES, *ASSAY_NAMES)
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
    """Where a drop's files are, and what it says about itself in ``dataset.json``.

    With drillhole tables, ``samples_path`` is the assays table and ``collars_path`` /
    ``surveys_path`` (None without a surveys table) hold the holes it is desurveyed along.
    """

    root: Path
    sites_path: Path
    samples_path: Path | None
    title: str
    synthetic: bool
    description: str = ""
    input_hashes: dict[str, str] = field(default_factory=dict)
    collars_path: Path | None = None
    surveys_path: Path | None = None


@dataclass(frozen=True)
class DrillholeFiles:
    """A drop's drillhole tables: collars and assays, and surveys when there are any."""

    collars: Path
    assays: Path
    surveys: Path | None = None


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
    samples_path = _only_one(root, SAMPLES_NAMES, "samples")
    holes = find_drillhole_files(root)
    if samples_path is not None and holes is not None:
        tables = ", ".join(path.name for path in (holes.collars, holes.surveys, holes.assays) if path is not None)
        raise DataDropError(
            holes.assays, f"drillhole tables ({tables}) beside {samples_path.name}: two sources of samples",
            f"keep one: remove {samples_path.name} if the drillhole tables hold the same assays, or move the "
            "drillhole tables out of the drop (or merge them into the samples file)",
        )  # fmt: skip
    return DataDrop(
        root=root,
        sites_path=sites_path,
        samples_path=holes.assays if holes is not None else samples_path,
        title=str(meta.get("title", root.name)),
        synthetic=bool(meta.get("synthetic", False)),
        description=str(meta.get("description", "")),
        input_hashes=hash_inputs(root),
        collars_path=holes.collars if holes is not None else None,
        surveys_path=holes.surveys if holes is not None else None,
    )


def find_drillhole_files(root: Path) -> DrillholeFiles | None:
    """The drillhole tables in ``root`` (``collars``, ``assays``, optional ``surveys``; CSV or xlsx), or None.

    Raises DataDropError for two candidates of one table (``collars.csv`` and ``collar.csv``)
    and for an incomplete set: assays without collars, or collars or surveys without assays.
    """
    collars = _only_one(root, COLLAR_NAMES, "collars")
    surveys = _only_one(root, SURVEY_NAMES, "surveys")
    assays = _only_one(root, ASSAY_NAMES, "assays")
    found = [path for path in (collars, surveys, assays) if path is not None]
    if not found:
        return None
    if collars is None or assays is None:
        missing = " and ".join(name for name, path in (("collars", collars), ("assays", assays)) if path is None)
        raise DataDropError(
            found[0], f"a drillhole table without its {missing} table",
            "drillhole samples need collars.csv (hole_id, x, y, crs or lon, lat, max_depth_m) and assays.csv "
            "(hole_id, from, to, assay columns), surveys.csv optional; add the missing table, or rename a table of "
            "samples with their own locations to samples.csv",
        )  # fmt: skip
    return DrillholeFiles(collars=collars, assays=assays, surveys=surveys)


def _only_one(root: Path, names: tuple[str, ...], what: str) -> Path | None:
    """The one file of ``names`` in ``root``, matched whatever the case (None if none).

    Two candidates for one table are an error naming both; a file named like a version or copy
    of one (``samples_v2.csv``, ``Sites (old).gpkg``: a name of ``names`` with something between
    its stem and suffix) counts as a candidate, since which of them is current cannot be guessed.
    """
    wanted = [name.lower() for name in names]
    found = sorted(
        (path for path in root.iterdir() if path.is_file() and _candidate(path.name.lower(), wanted)),
        key=lambda path: (_rank(path.name.lower(), wanted), path.name),
    )
    if len(found) > 1:
        raise DataDropError(
            found[1], f"a second {what} file beside {found[0].name}",
            f"keep one {what} file (merge them, or move the other out of the drop)",
        )  # fmt: skip
    return found[0] if found else None


def _candidate(name: str, wanted: list[str]) -> bool:
    """Whether a lower-case file name is one of ``wanted`` or a version or copy of one (``samples_v2.csv``).

    >>> _candidate("samples_v2.csv", ["samples.csv"]), _candidate("samples.csv.bak", ["samples.csv"])
    (True, False)
    """
    if name in wanted:
        return True
    stem, _, suffix = name.rpartition(".")
    for want in wanted:
        want_stem, _, want_suffix = want.rpartition(".")
        if suffix == want_suffix and len(stem) > len(want_stem) and stem.startswith(want_stem):
            if stem[len(want_stem)] in "_- (.":
                return True
    return False


def _rank(name: str, wanted: list[str]) -> int:
    """Exact names first, in the order of ``wanted``; versions and copies after them."""
    return wanted.index(name) if name in wanted else len(wanted)


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
