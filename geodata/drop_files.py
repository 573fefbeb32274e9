"""Every file of a data drop and what Residua reads it as, so nothing is silently ignored.

``describe_files`` lists each file under the drop (hidden files and folders, such as
``.DS_Store`` or ``.git``, excepted) with its role, or ``NOT READ`` and why, for
``residua validate`` and the ``data_drop`` asset's log.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import pandas as pd
import rasterio
import rasterio.errors

from residua.geodata.datadrop import HUBS_FILE, DataDrop
from residua.geodata.drillholes import unused_survey_rows
from residua.geodata.errors import CRSError, DataDropError
from residua.geodata.readers import CsvDialect
from residua.geodata.reference_tables import TABLES
from residua.geodata.reviews import REVIEWS_FILE
from residua.geodata.zonal import find_covariates

#: Files of a shapefile besides the ``.shp`` itself.
SHAPEFILE_PARTS = (".dbf", ".shx", ".prj", ".cpg", ".qix", ".sbn", ".sbx")
NOT_READ = "NOT READ"
#: Files taken for the drop's documentation (listed as not read, without a fix to make).
DOCUMENT_SUFFIXES = (".md", ".txt", ".pdf", ".html", ".htm", ".docx", ".rst")
#: Files GDAL keeps beside a raster (statistics, overviews, masks).
RASTER_SIDECARS = (".aux.xml", ".ovr", ".msk")


def describe_files(
    drop: DataDrop, dem_paths: list[str], dialects: Mapping[Path, CsvDialect | None] | None = None
) -> pd.DataFrame:
    """One row per file in the drop: ``file`` (relative path) and ``read_as`` (or ``NOT READ: why``).

    ``dem_paths`` are the sites' ``surface_dem`` / ``base_dem`` values (relative to the
    drop); a VRT's source files count as part of it. ``dialects`` (file -> the
    :class:`~residua.geodata.readers.CsvDialect` its reader found, ``frame.attrs["csv_dialect"]``)
    add the separator and decimal mark of CSV tables already read.
    """
    dialects = dialects or {}
    roles = {drop.sites_path: _with_dialect("sites (footprints)", dialects.get(drop.sites_path)),
             drop.root / "dataset.json": "drop description"}  # fmt: skip
    if drop.collars_path is not None and drop.samples_path is not None:
        roles.update(_drillhole_roles(drop, dialects.get(drop.samples_path)))
    elif drop.samples_path is not None:
        roles[drop.samples_path] = _with_dialect("samples (assays)", dialects.get(drop.samples_path))
    if drop.sites_path.suffix.lower() == ".shp":
        for suffix in SHAPEFILE_PARTS:
            roles[drop.sites_path.with_suffix(suffix)] = "sites (part of the shapefile)"
    roles[drop.root / REVIEWS_FILE] = "review decisions"
    roles[drop.root / HUBS_FILE] = "processing hubs"
    for name in TABLES:
        roles[drop.root / "reference" / f"{name}.csv"] = f"reference table {name} (replaces the bundled one)"
    for name, path in _covariates(drop.root).items():
        for part in _raster_files(path):
            roles.setdefault(part, f"covariate raster {name}")
    for dem in dict.fromkeys(path for path in dem_paths if isinstance(path, str) and path):
        for part in _raster_files(drop.root / dem):
            roles.setdefault(part, "DEM of a site")
    rows = []
    for path in sorted(drop.root.rglob("*")):
        relative = path.relative_to(drop.root)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        role = roles.get(path.resolve()) or roles.get(path) or _why_not(relative)
        rows.append({"file": relative.as_posix(), "read_as": role})
    return pd.DataFrame(rows, columns=["file", "read_as"])


def _drillhole_roles(drop: DataDrop, dialect: CsvDialect | None) -> dict[Path, str]:
    """Roles of the collar, survey and assay tables; survey rows of holes without a collar are named."""
    roles = {drop.samples_path: _with_dialect("samples (drillhole assay intervals)", dialect),
             drop.collars_path: "samples (drillhole collars)"}  # fmt: skip
    if drop.surveys_path is not None:
        notes = unused_survey_rows(drop.collars_path, drop.surveys_path)
        roles[drop.surveys_path] = "samples (downhole surveys" + "".join(f"; {note}" for note in notes) + ")"
    return roles


def _with_dialect(role: str, dialect: CsvDialect | None) -> str:
    """``role``, with the separator and decimal mark detected in a CSV file when they are not plain
    commas and points: ``samples (assays; ';'-separated, decimal commas (...))``."""
    detected = dialect.describe() if dialect is not None else ""
    return f"{role[:-1]}; {detected})" if detected else role


def not_read(files: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``describe_files`` that Residua does not read."""
    return files[files["read_as"].str.startswith(NOT_READ)]


def _covariates(root: Path) -> dict[str, Path]:
    """The drop's covariate rasters; none when they are unusable (``find_covariates`` says why elsewhere)."""
    try:
        return find_covariates(root)
    except (DataDropError, CRSError):
        return {}


def _raster_files(path: Path) -> list[Path]:
    """The files GDAL reads for a raster, resolved: a VRT's sources (the VRT is opened; [] if it
    cannot be), else the file and its sidecars (``.aux.xml``, ``.ovr``, ``.msk``), without opening it."""
    if path.suffix.lower() != ".vrt":
        return [path.resolve(), *(path.with_name(path.name + suffix).resolve() for suffix in RASTER_SIDECARS)]
    try:
        with rasterio.open(path) as dataset:
            return [Path(name).resolve() for name in dataset.files]
    except (rasterio.errors.RasterioIOError, OSError):
        return []


def _why_not(relative: Path) -> str:
    """Why a file is not read, with the fix."""
    posix = PurePosixPath(relative.as_posix())
    if posix.suffix.lower() in DOCUMENT_SUFFIXES:
        return f"{NOT_READ}: documentation"
    if posix.parts[0] == "reference":
        return f"{NOT_READ}: not a reference table Residua knows ({', '.join(f'{name}.csv' for name in TABLES)})"
    if posix.parts[0] == "rasters":
        return (f"{NOT_READ}: no site names it as surface_dem or base_dem, and covariates must lie directly in "
                "rasters/covariates/")  # fmt: skip
    if posix.stem.lower().startswith(("collar", "survey", "assay")):
        return (f"{NOT_READ}: another drillhole table? Residua reads collars, surveys and assays (.csv or .xlsx) "
                "only; merge or remove it")  # fmt: skip
    if posix.stem.lower().startswith(("site", "sample")):
        return f"{NOT_READ}: another sites or samples file? Residua reads only the one listed above; merge or remove it"
    tables = "sites, samples or collars/surveys/assays, rasters/, reference/"
    contract = f"{tables}, {REVIEWS_FILE}, {HUBS_FILE}, dataset.json"
    return f"{NOT_READ}: not part of the input contract ({contract}); move it out of the drop or rename it"
