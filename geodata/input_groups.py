"""The data drop's inputs as groups, one per asset that reads them, each with a content version.

A group's version is the SHA-256 of its files' names and SHA-256 digests, so it changes when
a file of the group is added, removed or edited, and never when a file is only touched. The
pipeline observes one source asset per group (``assets/inputs.py``); which assets a changed
group reruns follows from the asset graph.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import PurePosixPath

from residua.geodata.datadrop import DRILLHOLE_NAMES, HUBS_FILE, SAMPLES_NAMES, SITES_NAMES
from residua.geodata.reviews import REVIEWS_FILE

#: Source asset name -> what it holds (shown as the asset's description).
INPUT_GROUPS: dict[str, str] = {
    "sites_file": "The footprints file (sites.gpkg, .geojson, .shp with its parts, or .csv).",
    "samples_file": "The assays: samples.csv / .xlsx / .gpkg / .geojson, or the collars, surveys and assays tables.",
    "reviews_file": f"Reviewers' decisions: {REVIEWS_FILE}.",
    "hubs_file": f"Processing-hub locations: {HUBS_FILE}.",
    "reference_files": "Reference tables replacing the bundled ones: reference/*.csv.",
    "dem_rasters": "Surface and base DEMs: rasters/ outside rasters/covariates/.",
    "covariate_rasters": "Covariate rasters: rasters/covariates/*.",
    "drop_description": "dataset.json (title, synthetic flag) and any other file in the drop.",
}


def input_group(relative: str) -> str:
    """The group of a file, given its path relative to the drop.

    >>> [input_group(name) for name in ("samples.csv", "rasters/covariates/ndvi.tif", "rasters/P1_base.tif")]
    ['samples_file', 'covariate_rasters', 'dem_rasters']
    >>> input_group("sites.dbf"), input_group("surveys.csv"), input_group("notes.txt")
    ('sites_file', 'samples_file', 'drop_description')
    """
    path = PurePosixPath(relative)
    if len(path.parts) == 1:
        name = path.name.lower()
        if name in SITES_NAMES or (path.stem.lower() == "sites" and name.endswith((".dbf", ".shx", ".prj", ".cpg"))):
            return "sites_file"
        if name in SAMPLES_NAMES or name in DRILLHOLE_NAMES:
            return "samples_file"
        if name == REVIEWS_FILE:
            return "reviews_file"
        if name == HUBS_FILE:
            return "hubs_file"
    top = path.parts[0]
    if top == "reference":
        return "reference_files"
    if top == "rasters":
        return "covariate_rasters" if path.parts[1:2] == ("covariates",) else "dem_rasters"
    return "drop_description"


def group_versions(hashes: Mapping[str, str]) -> dict[str, str]:
    """Every group's version from the drop's file digests (relative path -> SHA-256).

    A group without files has the version of nothing, so a file's removal is a change too.

    >>> versions = group_versions({"samples.csv": "ab", "sites.gpkg": "cd"})
    >>> versions["samples_file"] != versions["reviews_file"] == group_versions({})["reviews_file"]
    True
    """
    digests = {group: hashlib.sha256() for group in INPUT_GROUPS}
    for name in sorted(hashes):
        digests[input_group(name)].update(f"{name}\0{hashes[name]}\n".encode())
    return {group: digest.hexdigest() for group, digest in digests.items()}
