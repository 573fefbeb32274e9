"""Release history: every published inventory recorded, comparable and verifiable.

Each time a run publishes its output folder, a *release* is recorded in the project's
release store (a folder outside the output folder, by default ``releases`` in the Dagster
instance folder)::

    <store>/manifests/r0007.json   the manifest: id, UTC time, run id, SHA-256 of every
                                   published file and every input file, code version,
                                   model ids, settings, and the previous manifest's SHA-256
    <store>/blobs/ab/ab12...       stored files by content (the GeoPackage, the rasters and
                                   the model cards): a file published twice is stored once
    <store>/head.json              the newest release and its manifest's SHA-256
    <store>/pruned.jsonl           releases removed by retention, with their manifest SHA-256

Each manifest holds the SHA-256 of the one before it, so the history is a hash chain:
:meth:`ReleaseStore.verify` recomputes it, and every stored file's hash, and names the first
release or file that does not match. Retention keeps the newest ``keep`` releases; the oldest
kept manifest still records its predecessor's hash (also written to ``pruned.jsonl``), and
verification starts from it. A publish whose content equals the newest release of the same
output folder (same inputs, settings, code, models and published tables) records nothing.

A release is recorded only after its files are published (:meth:`ReleaseStore.record` runs
after :meth:`residua.geodata.transaction.Release.commit`); manifests and blobs are written to temporary
files and renamed into place, so a run killed at any moment leaves no partial release.

:func:`site_lineage` builds the per-site ``lineage`` table published in ``inventory.gpkg``;
:func:`diff_releases` compares two releases site by site and attributes each change to its
causes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyogrio
import shapely

from residua.geodata.datadrop import hash_inputs, sha256_file
from residua.geodata.formats import no_gdal_sidecars
from residua.geodata.provenance import code_version
from residua.geodata.reference_tables import ReferenceTables
from residua.geodata.schema import REPORTED_METALS
from residua.geodata.transaction import STAGING_PREFIX, Release, fsync_path

try:
    import fcntl
except ImportError:  # pragma: no cover - Residua runs on Linux
    fcntl = None  # type: ignore[assignment]

MANIFEST_FORMAT = "residua.release/1"
#: Published files whose bytes the store keeps (glob patterns); every other file is recorded by hash only.
STORED_FILES: tuple[str, ...] = ("inventory.gpkg", "rasters/*", "model_cards/*.json")
#: Layers of inventory.gpkg that describe the run rather than the inventory: left out of the content fingerprint.
RUN_SPECIFIC_LAYERS: frozenset[str] = frozenset({"run_metadata", "layer_styles", "changes"})
#: Relative change of a P50 or of the P10-P90 width that :func:`diff_releases` reports by default.
DEFAULT_THRESHOLD = 0.05
#: Smallest absolute change (tonnes) :func:`diff_releases` reports: less than a kilogram of metal is noise.
MIN_CHANGE_T = 1e-3
#: Site attributes (sites table columns) whose change :func:`diff_releases` names.
SITE_INPUT_COLUMNS: tuple[str, ...] = (
    "name", "residue_type", "operator", "state", "source_process", "commissioned_year", "closed_year",
    "reported_tonnes", "reported_volume_m3", "dry_density_t_m3",
)  # fmt: skip
#: Reference tables and the lineage keys of the rows a site's numbers use.
REFERENCE_KEYS: dict[str, tuple[str, ...]] = {
    "density": ("residue_type",),
    "thickness_priors": ("residue_type",),
    "recovery": ("residue_type", "element"),
    "grade_priors": ("residue_type", "element"),
    "assay_ceilings": ("residue_type", "element"),
    "prices": ("element",),
    "cutoff_grades": ("element",),
}
_RELEASE_ID = re.compile(r"r(\d{4,})")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_LOCK = "lock"


class ReleaseStoreError(ValueError):
    """The release store cannot be used as asked (a misplaced folder, an unknown release, a damaged manifest)."""


# --------------------------------------------------------------------------------------------
# Hashing


def canonical_json(value: object) -> bytes:
    """Bytes of ``value`` as sorted, indented JSON: the form manifests are written and hashed in.

    >>> canonical_json({"b": 1, "a": [1.5, None]}).decode().split()
    ['{', '"a":', '[', '1.5,', 'null', '],', '"b":', '1', '}']
    """
    return (json.dumps(value, indent=2, sort_keys=True, allow_nan=False, default=str) + "\n").encode("utf-8")


def digest(value: object) -> str:
    """SHA-256 of ``value``'s canonical JSON.

    >>> digest({"a": 1}) == digest({"a": 1}) != digest({"a": 2})
    True
    """
    return hashlib.sha256(canonical_json(value)).hexdigest()


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's values (rows sorted, geometry as WKB hex), independent of the file it was read from.

    >>> a = pd.DataFrame({"x": [1.0, 2.0], "y": ["u", "v"]})
    >>> frame_digest(a) == frame_digest(a.iloc[::-1]) != frame_digest(a.assign(x=[1.0, 2.5]))
    True
    """
    table = pd.DataFrame(frame).copy()
    for column in table.columns:
        if str(table[column].dtype) == "geometry":
            table[column] = shapely.to_wkb(np.asarray(table[column]), hex=True)
    text = table.astype(str).sort_values(list(table.columns)).to_csv(index=False) if len(table.columns) else ""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def gpkg_content_digest(path: Path) -> dict[str, str]:
    """:func:`frame_digest` of every layer of a GeoPackage except :data:`RUN_SPECIFIC_LAYERS`, by layer name."""
    digests = {}
    with no_gdal_sidecars():  # the GeoPackage hashed may be the published one: leave out/ as it is
        for name, _ in pyogrio.list_layers(path):
            if name in RUN_SPECIFIC_LAYERS:
                continue
            frame = pyogrio.read_dataframe(path, layer=name, read_geometry=True, fid_as_index=False)
            digests[str(name)] = frame_digest(frame)
    return digests


# --------------------------------------------------------------------------------------------
# Lineage


def site_lineage(
    sites: pd.DataFrame,
    samples: pd.DataFrame,
    input_hashes: Mapping[str, str],
    reference_tables: ReferenceTables | None = None,
    sites_file: str = "",
    models: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The inputs each site's numbers come from, one row per site: the ``lineage`` table of the inventory.

    Parameters
    ----------
    sites : DataFrame
        Accepted sites (``site_id``, attributes, ``source_row``, ``surface_dem``/``base_dem``, geometry).
    samples : DataFrame
        Accepted samples with ``site_id``, ``sample_id`` and optionally ``hole_id``.
    input_hashes : mapping of str to str
        SHA-256 of each input file by its path relative to the data drop
        (:func:`residua.geodata.datadrop.hash_inputs`).
    reference_tables : ReferenceTables, optional
        The tables used; each site gets the SHA-256 of the rows its numbers use.
    sites_file : str
        Name of the sites file, recorded on every row.
    models : mapping of str to str, optional
        Grade model id per element, recorded on every row when given.

    Returns
    -------
    DataFrame
        ``site_id``, ``sites_file``, ``sites_row``, ``sites_row_sha256`` (the site's attributes and
        footprint), ``footprint_sha256``, ``n_samples``, ``n_holes``, ``samples_sha256``,
        ``hole_sha256`` (JSON: hole id -> hash of its rows), ``surface_dem``, ``surface_dem_sha256``,
        ``base_dem``, ``base_dem_sha256``, ``covariates`` (JSON: file -> SHA-256),
        ``reference_rows`` (JSON: ``table:key`` -> hash of the row), ``grade_models`` (JSON).

    Examples
    --------
    >>> sites = pd.DataFrame({"site_id": ["A", "B"], "residue_type": ["other", "other"], "source_row": [1, 2]})
    >>> samples = pd.DataFrame({"site_id": ["A", "A"], "sample_id": ["s1", "s2"], "hole_id": ["h1", "h2"],
    ...                         "ga_gt": [10.0, 12.0]})
    >>> lineage = site_lineage(sites, samples, {})
    >>> lineage[["site_id", "n_samples", "n_holes"]].values.tolist()
    [['A', 2, 2], ['B', 0, 0]]
    """
    if "site_id" not in sites.columns:
        raise ValueError(f"sites need a site_id column to build the lineage; got columns {list(sites.columns)}")
    covariates = {
        name: sha
        for name, sha in sorted(input_hashes.items())
        if name.startswith("rasters/covariates/") and name.count("/") == 2
    }
    by_site = _sample_hashes(samples)
    geometry = sites.geometry.name if hasattr(sites, "geometry") and "geometry" in sites.columns else None
    rows, reference_rows = [], {}  # the reference rows depend on the residue type alone: hashed once per type
    for site in sites.to_dict("records"):
        site_id = str(site["site_id"])
        footprint = site.get(geometry) if geometry else None
        footprint_sha = (
            hashlib.sha256(shapely.to_wkb(footprint)).hexdigest() if isinstance(footprint, shapely.Geometry) else ""
        )
        attributes = {key: _plain(value) for key, value in site.items() if key not in (geometry, "source_row")}
        holes = by_site.get(site_id, {})
        dems = {label: _relative(site.get(f"{label}_dem")) for label in ("surface", "base")}
        kind = str(site.get("residue_type"))
        if kind not in reference_rows:
            reference_rows[kind] = json.dumps(_reference_rows(reference_tables, site.get("residue_type")))
        rows.append(
            {
                "site_id": site_id,
                "sites_file": sites_file,
                "sites_row": _plain(site.get("source_row")),
                "sites_row_sha256": digest({"attributes": attributes, "footprint": footprint_sha}),
                "footprint_sha256": footprint_sha,
                "n_samples": int(sum(count for count, _ in holes.values())),
                "n_holes": len(holes),
                "samples_sha256": digest({hole: sha for hole, (_, sha) in sorted(holes.items())}) if holes else "",
                "hole_sha256": json.dumps({hole: sha[:16] for hole, (_, sha) in sorted(holes.items())}),
                "surface_dem": dems["surface"],
                "surface_dem_sha256": input_hashes.get(dems["surface"], ""),
                "base_dem": dems["base"],
                "base_dem_sha256": input_hashes.get(dems["base"], ""),
                "covariates": json.dumps(covariates),
                "reference_rows": reference_rows[kind],
                "grade_models": json.dumps(dict(sorted((models or {}).items()))),
            }
        )
    return pd.DataFrame(rows, columns=LINEAGE_COLUMNS)


LINEAGE_COLUMNS: tuple[str, ...] = (
    "site_id", "sites_file", "sites_row", "sites_row_sha256", "footprint_sha256", "n_samples", "n_holes",
    "samples_sha256", "hole_sha256", "surface_dem", "surface_dem_sha256", "base_dem", "base_dem_sha256",
    "covariates", "reference_rows", "grade_models",
)  # fmt: skip


def _sample_hashes(samples: pd.DataFrame) -> dict[str, dict[str, tuple[int, str]]]:
    """site -> hole -> (rows, SHA-256 of its rows' values); a sample without a hole id is a hole of its own."""
    if samples is None or len(samples) == 0 or "site_id" not in samples.columns:
        return {}
    table = pd.DataFrame(samples).drop(columns=["source_row", "data_origin"], errors="ignore")
    geometry = getattr(samples, "_geometry_column_name", None)
    if geometry in table.columns:
        table[geometry] = [
            shapely.to_wkb(value, hex=True) if isinstance(value, shapely.Geometry) else "" for value in table[geometry]
        ]
    holes = table["hole_id"] if "hole_id" in table.columns else pd.Series(np.nan, index=table.index)
    blank = holes.isna() | (holes.astype(str).str.strip() == "")
    table["_hole"] = np.where(blank, "sample " + table["sample_id"].astype(str), holes.astype(str))
    table = table.sort_values(["site_id", "_hole", "sample_id"], kind="stable")
    values = table.drop(columns=["site_id", "_hole"]).astype(object)
    values = values.where(values.notna(), "").astype(str).astype(object)  # missing as '', every cell a str
    text = (
        values.apply(lambda row: "\x1f".join(row), axis=1) if len(values.columns) else pd.Series("", index=table.index)
    )
    result: dict[str, dict[str, tuple[int, str]]] = {}
    for (site_id, hole), lines in text.groupby([table["site_id"].astype(str), table["_hole"]], sort=True):
        sha = hashlib.sha256("\n".join([",".join(values.columns), *lines]).encode("utf-8")).hexdigest()
        result.setdefault(site_id, {})[hole] = (len(lines), sha)
    return result


def _reference_rows(tables: ReferenceTables | None, residue_type: object) -> dict[str, str]:
    """``table:key`` -> 16-hex hash of each reference row a site of ``residue_type`` uses."""
    if tables is None:
        return {}
    rows: dict[str, str] = {}
    for name, keys in REFERENCE_KEYS.items():
        table = getattr(tables, name)
        if "residue_type" in keys:
            table = table[table["residue_type"] == residue_type]
        for row in table.to_dict("records"):
            key = "/".join(str(row[column]) for column in keys)
            rows[f"{name}:{key}"] = digest({column: _plain(value) for column, value in row.items()})[:16]
    return rows


def _relative(path: object) -> str:
    if not isinstance(path, str) or not path.strip():
        return ""
    return PurePosixPath(path.strip().replace("\\", "/")).as_posix().removeprefix("./")


def _plain(value: object) -> object:
    """A JSON-able scalar: numpy numbers as Python ones, missing as None."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


# --------------------------------------------------------------------------------------------
# The store


@dataclass(frozen=True)
class PreparedRelease:
    """A release hashed (and its files stored) before its files are published, not yet recorded."""

    manifest: dict
    sources: dict[str, Path]
    stored: bool


@dataclass(frozen=True)
class Recorded:
    """The outcome of :meth:`ReleaseStore.record`: the release in force and whether it is new."""

    release_id: str
    manifest: dict
    manifest_sha256: str
    new: bool
    previous: str | None = None


@dataclass
class Verification:
    """What :meth:`ReleaseStore.verify` checked and every problem found, first problem first."""

    releases: list[str] = field(default_factory=list)
    files: int = 0
    problems: list[str] = field(default_factory=list)
    anchor: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


class ReleaseStore:
    """The release history in ``root``: manifests chained by hash, files stored by content.

    Parameters
    ----------
    root : path
        The store's folder (created when a release is first recorded).
    keep : int
        Releases kept; older ones are pruned after each new release (at least 1).
    forbidden : iterable of path
        Folders the store may neither lie in nor contain (the data drop and the output folder).
    blob_grace_s : float
        Stored files no kept release refers to are deleted once they are this old (seconds),
        so a file stored by a run still publishing is never deleted under it.

    Raises
    ------
    ReleaseStoreError
        If ``root`` overlaps a forbidden folder or ``keep`` is below 1.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "out").mkdir()
    >>> _ = (folder / "out" / "inventory.gpkg").write_bytes(b"layers")
    >>> store = ReleaseStore(folder / "releases")
    >>> files = {"inventory.gpkg": folder / "out" / "inventory.gpkg"}
    >>> first = store.record(store.prepare(files, run_id="run-1", out_dir=folder / "out", content={"x": 1}))
    >>> again = store.record(store.prepare(files, run_id="run-2", out_dir=folder / "out", content={"x": 1}))
    >>> first.release_id, first.new, again.release_id, again.new
    ('r0001', True, 'r0001', False)
    >>> store.verify().ok
    True
    >>> shutil.rmtree(folder)
    """

    def __init__(
        self,
        root: str | os.PathLike,
        keep: int = 20,
        forbidden: Iterable[str | os.PathLike] = (),
        blob_grace_s: float = 86_400.0,
    ) -> None:
        self.root = Path(root).resolve()
        if keep < 1:
            raise ReleaseStoreError(f"releases kept is {keep}; keep at least 1 release")
        for folder in forbidden:
            other = Path(folder).resolve()
            if self.root.is_relative_to(other) or other.is_relative_to(self.root):
                raise ReleaseStoreError(
                    f"release store {self.root} overlaps {other}; the store must be a folder of its own, outside "
                    "the data drop and the output folder: set releases_dir elsewhere (default: 'releases' in the "
                    "Dagster instance folder)"
                )
        self.keep = keep
        self.blob_grace_s = blob_grace_s

    # ---- reading

    def manifests(self) -> list[dict]:
        """Every kept release's manifest, oldest first."""
        return [manifest for _, _, manifest in self._read_all(strict=True)]

    def get(self, ref: str) -> dict:
        """The manifest of release ``ref``: an id (``r0007``), ``latest`` or ``previous`` (the one before latest).

        Raises
        ------
        ReleaseStoreError
            If there is no such release.
        """
        manifests = self.manifests()
        if not manifests:
            raise ReleaseStoreError(f"no releases in {self.root} yet: a run that publishes records one")
        ids = [manifest.get("release_id") for manifest in manifests]
        if ref == "latest":
            return manifests[-1]
        if ref == "previous":
            if len(manifests) < 2:
                raise ReleaseStoreError(f"only one release ({ids[0]}) in {self.root}: nothing before it to compare")
            return manifests[-2]
        if ref in ids:
            return manifests[ids.index(ref)]
        raise ReleaseStoreError(
            f"no release {ref!r} in {self.root}; kept releases are {', '.join(map(str, ids))} "
            "(or say latest / previous)"
        )

    def stored_file(self, manifest: Mapping, name: str) -> Path:
        """The stored copy of the published file ``name`` of a release.

        Raises
        ------
        ReleaseStoreError
            If the release did not publish ``name`` or the store keeps only its hash.
        """
        entry = manifest.get("files", {}).get(name)
        if entry is None:
            raise ReleaseStoreError(f"release {manifest.get('release_id')} published no file {name!r}")
        if not entry.get("stored"):
            raise ReleaseStoreError(
                f"release {manifest.get('release_id')} keeps only the SHA-256 of {name!r}; stored are {STORED_FILES}"
            )
        return self._blob(entry["sha256"], name)

    def restore(self, ref: str, target: str | os.PathLike) -> list[Path]:
        """Copy a release's stored files (GeoPackage, rasters, model cards) into ``target``; return the paths.

        Each copy is checked against the manifest's SHA-256 first.

        Raises
        ------
        ReleaseStoreError
            If the release is unknown, ``target`` is not empty, or a stored file does not match its manifest.
        """
        manifest = self.get(ref)
        target = Path(target)
        if target.exists() and any(target.iterdir()):
            raise ReleaseStoreError(f"{target} is not empty; restore into a new or empty folder")
        written = []
        for name, entry in sorted(manifest.get("files", {}).items()):
            if not entry.get("stored"):
                continue
            blob = self._blob(entry["sha256"], name)
            if not blob.is_file() or sha256_file(blob) != entry["sha256"]:
                raise ReleaseStoreError(
                    f"release {manifest['release_id']}: the stored copy of {name} is missing or changed; "
                    "run `residua releases verify`"
                )
            path = target / name
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(blob, path)
            written.append(path)
        return written

    def latest(self, out_dir: str | os.PathLike | None = None) -> dict | None:
        """The newest release's manifest (of the output folder ``out_dir`` when given), or None."""
        wanted = str(Path(out_dir).resolve()) if out_dir is not None else None
        for manifest in reversed(self.manifests()):
            if wanted is None or manifest.get("out_dir") == wanted:
                return manifest
        return None

    def head(self) -> dict | None:
        """``head.json``: the newest release's id and manifest SHA-256, or None."""
        path = self.root / "head.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    # ---- recording

    def prepare(
        self,
        files: Mapping[str, Path],
        *,
        run_id: str | None,
        out_dir: Path,
        inputs: Mapping[str, str] | None = None,
        settings: Mapping[str, object] | None = None,
        models: Mapping[str, str] | None = None,
        code: str | None = None,
        content: Mapping[str, object] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> PreparedRelease:
        """Hash the files about to be published and store those in :data:`STORED_FILES` (call before publishing).

        Parameters
        ----------
        files : mapping of str to Path
            Every file the output folder will hold, by its relative path (:func:`published_files`).
        run_id : str or None
            The run publishing them.
        out_dir : Path
            The output folder.
        inputs, settings, models, code : optional
            Input file SHA-256 by path, the settings, the model id per element, the code version.
        content : mapping, optional
            What the published data consists of, independent of the run (e.g. per-layer
            digests, :func:`gpkg_content_digest`); by default the files' own hashes. Together
            with inputs, settings, models and code it decides whether a publish is new.
        extra : mapping, optional
            Further items for the manifest (e.g. the data folder and title).

        Files are stored only when the publish differs from the newest release of ``out_dir``
        (:meth:`record` stores them then if that changed in between).
        """
        entries = {}
        for name in sorted(files):
            path = Path(files[name])
            entries[name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size, "stored": _is_stored(name)}
        fingerprint_content = dict(content) if content is not None else {n: e["sha256"] for n, e in entries.items()}
        manifest = {
            "format": MANIFEST_FORMAT,
            "run_id": run_id,
            "out_dir": str(Path(out_dir).resolve()),
            "code_version": code if code is not None else code_version(),
            "settings": dict(settings or {}),
            "inputs": dict(sorted((inputs or {}).items())),
            "models": dict(sorted((models or {}).items())),
            "content": fingerprint_content,
            "files": entries,
            **dict(extra or {}),
        }
        manifest["content_sha256"] = _fingerprint(manifest)
        latest = self.latest(manifest["out_dir"])
        unchanged = latest is not None and latest.get("content_sha256") == manifest["content_sha256"]
        sources = {name: Path(path) for name, path in files.items()}
        if not unchanged:
            self._store_files(manifest, sources)
        return PreparedRelease(manifest, sources, stored=not unchanged)

    def record(self, prepared: PreparedRelease) -> Recorded:
        """Record a prepared release once its files are published (call after publishing).

        Nothing is recorded when its content equals the newest release of the same output
        folder; the returned :class:`Recorded` then names that release with ``new=False``.
        Retention prunes the oldest releases beyond ``keep``.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            history = self._read_all(strict=True)
            manifest = dict(prepared.manifest)
            for _, raw, existing in reversed(history):
                if existing.get("out_dir") == manifest["out_dir"]:
                    if existing.get("content_sha256") == manifest["content_sha256"]:
                        return Recorded(existing["release_id"], existing, _sha(raw), new=False)
                    break
            if not prepared.stored:  # another publish was recorded since this one was prepared
                self._store_files(manifest, prepared.sources)
            sequence = history[-1][2]["sequence"] + 1 if history else self._next_sequence()
            previous = None
            if history:
                previous = {"release_id": history[-1][2]["release_id"], "manifest_sha256": _sha(history[-1][1])}
            elif (pruned := self._pruned()) and pruned[-1].get("sequence") == sequence - 1:
                previous = {"release_id": pruned[-1]["release_id"], "manifest_sha256": pruned[-1]["manifest_sha256"]}
            release_id = f"r{sequence:04d}"
            manifest = {
                "release_id": release_id,
                "sequence": sequence,
                "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                "previous": previous,
                **manifest,
            }
            raw = canonical_json(manifest)
            _write_atomic(self.root / "manifests" / f"{release_id}.json", raw)
            _write_atomic(
                self.root / "head.json",
                canonical_json({"release_id": release_id, "sequence": sequence, "manifest_sha256": _sha(raw)}),
            )
            self._prune()
        return Recorded(
            release_id, manifest, _sha(raw), new=True, previous=previous["release_id"] if previous else None
        )

    # ---- verifying

    def verify(self) -> Verification:
        """Recompute the hash chain and every stored file's SHA-256; list what does not match, first problem first.

        The chain starts at the oldest kept release: its predecessor's hash is checked against
        ``pruned.jsonl`` when retention removed it.
        """
        result = Verification()
        try:
            history = self._read_all(strict=False)
        except ReleaseStoreError as error:
            result.problems.append(str(error))
            return result
        hashed: dict[str, str] = {}
        pruned = {entry["release_id"]: entry for entry in self._pruned()}
        before: tuple[str, str] | None = None
        for path, raw, manifest in history:
            release_id = path.stem
            result.releases.append(release_id)
            if manifest is None:
                result.problems.append(f"release {release_id}: manifest {path} is not a valid manifest (edited?)")
                before = (release_id, _sha(raw))
                continue
            if manifest.get("release_id") != release_id:
                result.problems.append(
                    f"release {release_id}: its manifest names itself {manifest.get('release_id')!r} "
                    "(renamed or edited)"
                )
            link = manifest.get("previous") or {}
            if before is not None:
                if link.get("release_id") != before[0] or link.get("manifest_sha256") != before[1]:
                    result.problems.append(
                        f"release {before[0]}: its manifest hashes to {before[1][:16]}, but release {release_id} "
                        f"records {link.get('release_id')} as {str(link.get('manifest_sha256'))[:16]}: "
                        f"{before[0]}'s manifest was changed (or a release between them removed)"
                    )
            elif link:
                entry = pruned.get(link.get("release_id"))
                result.anchor = f"{link.get('release_id')} {str(link.get('manifest_sha256'))[:16]} (pruned)"
                if entry is not None and entry.get("manifest_sha256") != link.get("manifest_sha256"):
                    result.problems.append(
                        f"release {release_id}: records its pruned predecessor {link.get('release_id')} as "
                        f"{str(link.get('manifest_sha256'))[:16]}, pruned.jsonl as {entry['manifest_sha256'][:16]}"
                    )
            for name, entry in sorted(manifest.get("files", {}).items()):
                if not entry.get("stored"):
                    continue
                result.files += 1
                sha = str(entry.get("sha256", ""))
                blob = self._blob(sha, name) if _SHA256.fullmatch(sha) else None
                if blob is None or not blob.is_file():
                    result.problems.append(f"release {release_id}: {name}: stored copy missing ({blob})")
                    continue
                if sha not in hashed:
                    hashed[sha] = sha256_file(blob)
                if hashed[sha] != sha:
                    result.problems.append(
                        f"release {release_id}: {name}: stored copy {blob} hashes to {hashed[sha][:16]}, "
                        f"the manifest says {sha[:16]} (the file was changed after it was recorded)"
                    )
            before = (release_id, _sha(raw))
        head = self.head()
        if history and head is not None and before is not None:
            if head.get("release_id") != before[0] or head.get("manifest_sha256") != before[1]:
                result.problems.append(
                    f"release {before[0]}: head.json records the newest release as {head.get('release_id')} "
                    f"{str(head.get('manifest_sha256'))[:16]}, the newest manifest is {before[0]} {before[1][:16]} "
                    "(the newest manifest was changed or removed)"
                )
        elif history and head is None:
            result.problems.append(f"release {history[-1][0].stem}: head.json is missing")
        return result

    # ---- internals

    def _read_all(self, strict: bool) -> list[tuple[Path, bytes, dict | None]]:
        """(path, raw bytes, manifest) of every manifest, by sequence; ``strict``: raise on an unreadable one."""
        folder = self.root / "manifests"
        found = []
        for path in folder.glob("r*.json") if folder.is_dir() else ():
            match = _RELEASE_ID.fullmatch(path.stem)
            if match is None:
                continue
            raw = path.read_bytes()
            try:
                manifest = json.loads(raw)
            except ValueError as error:
                manifest = f"not valid JSON ({error})"
            if not isinstance(manifest, dict):
                if strict:
                    raise ReleaseStoreError(f"manifest {path} is {manifest or 'not a JSON object'}; run "
                                            "`residua releases verify`")  # fmt: skip
                manifest = None
            found.append((int(match[1]), path, raw, manifest))
        return [(path, raw, manifest) for _, path, raw, manifest in sorted(found, key=lambda item: item[0])]

    def _next_sequence(self) -> int:
        pruned = self._pruned()
        return int(pruned[-1]["sequence"]) + 1 if pruned else 1

    def _pruned(self) -> list[dict]:
        path = self.root / "pruned.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def _blob(self, sha: str, name: str) -> Path:
        """Where the stored copy of content ``sha`` published as ``name`` is: ``blobs/<sha[:2]>/<sha><suffix>``.

        The suffix of the published name is kept so that GDAL and QGIS open the copy as they open the file.
        """
        if not _SHA256.fullmatch(str(sha)):
            raise ReleaseStoreError(f"{sha!r} is not a SHA-256 hex digest")
        return self.root / "blobs" / sha[:2] / f"{sha}{_suffix(name)}"

    def _store_files(self, manifest: Mapping, sources: Mapping[str, Path]) -> None:
        """Copy every stored file into blobs/ unless there already (then only touched: kept from pruning)."""
        for name, entry in manifest["files"].items():
            if not entry["stored"]:
                continue
            blob = self._blob(entry["sha256"], name)
            if blob.is_file():
                os.utime(blob)
                continue
            blob.parent.mkdir(parents=True, exist_ok=True)
            temporary = blob.with_name(f".{blob.name}.{os.getpid()}.tmp")
            shutil.copyfile(sources[name], temporary)
            if sha256_file(temporary) != entry["sha256"]:
                temporary.unlink()
                raise ReleaseStoreError(
                    f"{sources[name]} changed while its release was recorded (SHA-256 differs from the hash taken "
                    "before publishing); run again"
                )
            fsync_path(temporary)
            os.replace(temporary, blob)

    def _prune(self) -> None:
        """Drop releases beyond ``keep`` (oldest first; logged in pruned.jsonl), then unreferenced old blobs."""
        history = self._read_all(strict=True)
        drop, kept = history[: max(0, len(history) - self.keep)], history[len(history) - min(len(history), self.keep) :]
        if drop:
            lines = [
                json.dumps({"release_id": m["release_id"], "sequence": m["sequence"], "manifest_sha256": _sha(raw),
                            "created_utc": m.get("created_utc")}, sort_keys=True)
                for _, raw, m in drop
            ]  # fmt: skip
            with (self.root / "pruned.jsonl").open("a", encoding="utf-8") as handle:
                handle.write("".join(line + "\n" for line in lines))
                handle.flush()
                os.fsync(handle.fileno())
            for path, _, _ in drop:
                path.unlink()
        referenced = {
            f"{e['sha256']}{_suffix(n)}" for _, _, m in kept for n, e in m.get("files", {}).items() if e.get("stored")
        }
        now = time.time()
        leftovers = list((self.root / "manifests").glob(".*.tmp"))  # of a process killed while writing one
        for blob in [*leftovers, *((self.root / "blobs").glob("*/*") if (self.root / "blobs").is_dir() else ())]:
            if blob.name in referenced:
                continue
            try:
                if now - blob.stat().st_mtime >= self.blob_grace_s:
                    blob.unlink()
            except FileNotFoundError:
                pass

    @contextmanager
    def _lock(self) -> Iterator[None]:
        if fcntl is None:  # pragma: no cover
            yield
            return
        descriptor = os.open(self.root / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


def published_files(release: Release) -> dict[str, Path]:
    """Every file ``release`` leaves in its output folder once committed, by relative path -> where it is now.

    Files staged by the release, and files already published that it neither replaces nor
    removes; hidden names (staging folders) and GDAL's ``.aux.xml`` sidecars are left out.
    """
    names = set()
    for folder in (release.staging, release.out_dir):
        for root, folders, files in os.walk(folder):
            folders[:] = [name for name in folders if not name.startswith(".") and not name.startswith(STAGING_PREFIX)]
            relative = Path(root).relative_to(folder)
            names |= {(relative / name).as_posix() for name in files if not name.startswith(".")}
    final = {}
    for name in sorted(names):
        if name.endswith(".aux.xml"):
            continue
        path = release.current(name)
        if path is not None:
            final[name] = path
    return final


def release_inputs(files: Mapping[str, Path], data_dir: Path) -> dict[str, object]:
    """What the published inventory says it came from (its ``run_metadata``), for the manifest.

    Input SHA-256 by file, reference table origins, code version, data folder, title and the
    inventory's run id; from ``inventory.gpkg`` when it is among ``files``, else hashed from
    ``data_dir`` now.
    """
    gpkg = files.get("inventory.gpkg")
    if gpkg is None:
        return {"inputs": hash_inputs(data_dir) if data_dir.is_dir() else {}, "code": code_version(),
                "extra": {"data_dir": str(data_dir)}}  # fmt: skip
    with no_gdal_sidecars():
        table = pyogrio.read_dataframe(gpkg, layer="run_metadata", read_geometry=False)
    meta = dict(zip(table["key"].astype(str), table["value"].astype(str)))
    return {
        "inputs": {key.removeprefix("input:"): value for key, value in meta.items() if key.startswith("input:")},
        "code": meta.get("code_version", code_version()),
        "extra": {
            "data_dir": meta.get("data_dir", str(data_dir)),
            "title": meta.get("title", ""),
            "synthetic": meta.get("synthetic") == "True",
            "inventory_run_id": meta.get("run_id"),
            "reference_tables": {
                k.removeprefix("reference:"): v for k, v in meta.items() if k.startswith("reference:")
            },
        },
    }


def model_ids(files: Mapping[str, Path]) -> dict[str, str]:
    """Grade model id per element from the published model cards (``model_cards/<element>.json``)."""
    ids = {}
    for name, path in files.items():
        if re.fullmatch(r"model_cards/[a-z]+\.json", name):
            card = json.loads(Path(path).read_text(encoding="utf-8"))
            ids[PurePosixPath(name).stem] = str(card.get("model_id", ""))
    return ids


def _fingerprint(manifest: Mapping) -> str:
    keys = ("out_dir", "code_version", "settings", "inputs", "models", "content", "reference_tables")
    return digest({key: manifest.get(key) for key in keys})


def _is_stored(name: str) -> bool:
    parts = name.split("/")
    for pattern in STORED_FILES:
        patterns = pattern.split("/")
        if len(parts) == len(patterns) and all(PurePosixPath(p).match(q) for p, q in zip(parts, patterns)):
            return True
    return False


def _suffix(name: str) -> str:
    """The last suffix of a published name, if it is a plain one (``.gpkg``, ``.tif``, ``.json``)."""
    suffix = PurePosixPath(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _write_atomic(path: Path, content: bytes) -> None:
    """Write durably and atomically: temporary file, fsync, rename, fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_path(path.parent)


# --------------------------------------------------------------------------------------------
# Comparing releases


@dataclass(frozen=True)
class ReleaseView:
    """What :func:`diff_releases` compares: a manifest, the ranked sites and the lineage table (may be empty)."""

    manifest: Mapping
    sites: pd.DataFrame
    lineage: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_view(store: ReleaseStore, ref: str) -> ReleaseView:
    """The :class:`ReleaseView` of a stored release, read from its stored GeoPackage.

    Raises
    ------
    ReleaseStoreError
        If the release is unknown or published no GeoPackage.
    """
    manifest = store.get(ref)
    gpkg = store.stored_file(manifest, "inventory.gpkg")
    with no_gdal_sidecars():
        layers = {str(name) for name, _ in pyogrio.list_layers(gpkg)}
        sites = pyogrio.read_dataframe(gpkg, layer="sites_ranked", read_geometry=False)
        lineage = pyogrio.read_dataframe(gpkg, layer="lineage", read_geometry=False) if "lineage" in layers else None
    return ReleaseView(manifest, pd.DataFrame(sites), pd.DataFrame(lineage) if lineage is not None else pd.DataFrame())


CHANGE_COLUMNS: tuple[str, ...] = ("site_id", "change", "old", "new", "detail", "causes", "direct")


def diff_releases(old: ReleaseView, new: ReleaseView, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Every site change between two releases, each with its causes.

    Parameters
    ----------
    old, new : ReleaseView
    threshold : float
        Smallest relative change of a P50, or of a P10-P90 width, that is reported (0.05: 5 %);
        changes under :data:`MIN_CHANGE_T` (a kilogram) are never reported.

    Returns
    -------
    DataFrame
        One row per site and change: ``site_id``; ``change`` (``added``, ``removed``,
        ``excluded``, ``re-included``, ``held``, ``hold released``, ``rank``, ``confidence``,
        ``<quantity> P50`` or ``<quantity> P10-P90`` for ``tonnes`` and each metal's
        recoverable tonnes, or ``inputs`` when only a site's inputs changed); ``old`` and
        ``new`` (text); ``detail``; ``causes`` (``; ``-separated, each ``kind: detail``, e.g.
        ``new samples: 1 new hole (36 -> 42 samples)``); ``direct`` (False when the site's own
        inputs did not change: its numbers moved only through other sites or global changes).

    Examples
    --------
    >>> sites = pd.DataFrame({"site_id": ["A", "B"], "rank": [1.0, 2.0], "tonnes_p50": [100.0, 50.0]})
    >>> lineage = pd.DataFrame({"site_id": ["A", "B"], "hole_sha256": ['{"h1": "x"}', '{}'],
    ...                         "n_samples": [3, 0]})
    >>> later = sites.assign(rank=[2.0, 1.0], tonnes_p50=[100.0, 500.0])
    >>> later_lineage = lineage.assign(hole_sha256=['{"h1": "x"}', '{"h9": "y"}'], n_samples=[3, 4])
    >>> changes = diff_releases(ReleaseView({}, sites, lineage), ReleaseView({}, later, later_lineage))
    >>> changes[["site_id", "change", "old", "new"]].values.tolist()
    [['A', 'rank', '1', '2'], ['B', 'rank', '2', '1'], ['B', 'tonnes P50', '50', '500']]
    >>> changes["causes"].tolist()[1]
    'new samples: 1 new hole (0 -> 4 samples)'
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be a positive share, e.g. 0.05 for 5 %; got {threshold}")
    global_causes = _global_causes(old.manifest, new.manifest)
    elsewhere = _changed_inputs(old.manifest, new.manifest)
    old_sites, new_sites = _by_site(old.sites), _by_site(new.sites)
    old_lineage, new_lineage = _by_site(old.lineage), _by_site(new.lineage)
    found = []
    for site_id in sorted(set(old_sites.index) | set(new_sites.index)):
        before = old_sites.loc[site_id] if site_id in old_sites.index else None
        after = new_sites.loc[site_id] if site_id in new_sites.index else None
        changes = _site_changes(before, after, threshold)
        lineages = [table.loc[site_id] if site_id in table.index else None for table in (old_lineage, new_lineage)]
        if before is None:
            own = ["site added: in this release's sites, not in the earlier one"]
        elif after is None:
            own = ["site removed: no longer in the sites file, or quarantined (see the quarantine layer)"]
        else:
            own = _site_causes(before, after, *lineages)
        if not changes and own:
            changes = [("inputs", "", "", "inputs changed; numbers within the threshold")]
        if changes:
            found.append(
                (site_id, changes, own, before is not None and after is not None and any(x is None for x in lineages))
            )
    direct_sites = [site_id for site_id, _, own, _ in found if own]
    rows = []
    for site_id, changes, own, unknown in found:
        others = [site for site in direct_sites if site != site_id]
        if own:
            causes = own + global_causes
        elif unknown:
            causes = ["unknown: a release has no lineage for this site, so its own inputs cannot be compared",
                      *global_causes]  # fmt: skip
        elif global_causes or elsewhere or others:
            named = f" ({', '.join(others[:5])}{', ...' if len(others) > 5 else ''})" if others else ""
            causes = [f"only through other sites{named}: no input of this site changed", *global_causes]
            if elsewhere:
                causes.append(f"inputs changed elsewhere: {', '.join(elsewhere)}")
        else:
            causes = ["no recorded cause: no input, setting, model or code changed"]
        for change, before_text, after_text, detail in changes:
            rows.append({"site_id": site_id, "change": change, "old": before_text, "new": after_text,
                         "detail": detail, "causes": "; ".join(causes), "direct": bool(own)})  # fmt: skip
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)


def release_changes(old: Mapping, new: Mapping) -> list[str]:
    """Release-wide differences between two manifests: settings, code, models, reference tables, input files."""
    return _global_causes(old, new, all_inputs=True)


def diff_summary(changes: pd.DataFrame) -> dict[str, object]:
    """Counts of a diff for logs and metadata: sites changed, by change kind, and sites moved only through others.

    >>> diff_summary(pd.DataFrame(columns=CHANGE_COLUMNS))
    {'sites_changed': 0, 'by_change': {}, 'sites_through_others': 0}
    """
    kinds = changes["change"].str.replace(r" (P50|P10-P90)$", "", regex=True).value_counts().sort_index()
    return {
        "sites_changed": int(changes["site_id"].nunique()),
        "by_change": {str(kind): int(count) for kind, count in kinds.items()},
        "sites_through_others": int(changes.loc[~changes["direct"].astype(bool), "site_id"].nunique()),
    }


def _by_site(frame: pd.DataFrame) -> pd.DataFrame:
    if frame is None or "site_id" not in frame.columns:
        return pd.DataFrame()
    return frame.assign(site_id=frame["site_id"].astype(str)).drop_duplicates("site_id").set_index("site_id")


def _status(row: pd.Series | None) -> str:
    if row is None:
        return ""
    status = _str(row.get("review_status"))
    return {"excluded": "excluded", "held for review": "held"}.get(status, "ranked")


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) or np.isinf(number) else number


def _str(value: object) -> str:
    """Text of a cell; missing (None, NaN) as ''."""
    return "" if _plain(value) is None else str(value)


def _text(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _site_changes(
    before: pd.Series | None, after: pd.Series | None, threshold: float
) -> list[tuple[str, str, str, str]]:
    """(change, old, new, detail) of one site."""
    if before is None:
        return [("added", "", _text(_number(after.get("rank"))), "new site in this release")]
    if after is None:
        return [("removed", _text(_number(before.get("rank"))), "", "site no longer in the inventory")]
    changes = []
    old_status, new_status = _status(before), _status(after)
    if old_status != new_status:
        for status, entering, leaving in (("excluded", "excluded", "re-included"), ("held", "held", "hold released")):
            if new_status == status:
                reason = _str(after.get("excluded_reason")) or _str(after.get("held_reason"))
                changes.append((entering, old_status, new_status, reason))
            elif old_status == status:
                changes.append((leaving, old_status, new_status, ""))
    old_rank, new_rank = _number(before.get("rank")), _number(after.get("rank"))
    if old_rank is not None and new_rank is not None and old_rank != new_rank:
        moved = old_rank - new_rank
        changes.append(("rank", _text(old_rank), _text(new_rank), f"{'up' if moved > 0 else 'down'} {abs(moved):g}"))
    for quantity, label in [("tonnes", "tonnes"), *((f"{m}_recoverable_t", f"{m} recoverable t") for m in
                                                     REPORTED_METALS)]:  # fmt: skip
        p10, p50, p90 = (f"{quantity}_{p}" for p in ("p10", "p50", "p90"))
        old_p50, new_p50 = _number(before.get(p50)), _number(after.get(p50))
        if old_p50 is not None and new_p50 is not None and _moved(old_p50, new_p50, threshold):
            changes.append((f"{label} P50", _text(old_p50), _text(new_p50), _percent(old_p50, new_p50)))
        widths = [
            (_number(row.get(p90)) - _number(row.get(p10)))
            if _number(row.get(p90)) is not None and _number(row.get(p10)) is not None
            else None
            for row in (before, after)
        ]
        if widths[0] is not None and widths[1] is not None and _moved(widths[0], widths[1], threshold):
            changes.append((f"{label} P10-P90", _text(widths[0]), _text(widths[1]), _percent(*widths)))
    old_class, new_class = _str(before.get("confidence")), _str(after.get("confidence"))
    if old_class != new_class:
        changes.append(("confidence", old_class, new_class, ""))
    return changes


def _moved(old: float, new: float, threshold: float) -> bool:
    """True if ``new`` differs from ``old`` by more than ``threshold`` of ``old`` and by at least MIN_CHANGE_T.

    >>> _moved(0.0, 1e-45, 0.05), _moved(100.0, 104.0, 0.05), _moved(100.0, 106.0, 0.05)
    (False, False, True)
    """
    scale = max(abs(old), abs(new))
    return abs(new - old) >= MIN_CHANGE_T and abs(new - old) > threshold * (abs(old) if old else scale)


def _percent(old: float, new: float) -> str:
    return f"{(new - old) / abs(old):+.0%}" if old else "from 0"


def _json(value: object) -> dict:
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(str(value)) if value not in (None, "") else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _site_causes(
    before: pd.Series | None, after: pd.Series | None, old: pd.Series | None, new: pd.Series | None
) -> list[str]:
    """This site's own inputs that changed: samples, footprint, attributes, DEMs, covariates, reference rows, review."""
    causes = []
    if old is not None and new is not None:
        old_holes, new_holes = _json(old.get("hole_sha256")), _json(new.get("hole_sha256"))
        added = sorted(set(new_holes) - set(old_holes))
        removed = sorted(set(old_holes) - set(new_holes))
        changed = sorted(hole for hole in set(old_holes) & set(new_holes) if old_holes[hole] != new_holes[hole])
        counts = f"({_int(old.get('n_samples'))} -> {_int(new.get('n_samples'))} samples)"
        if added or (changed and _int(new.get("n_samples")) > _int(old.get("n_samples"))):
            parts = [_holes(len(added), "new")] + ([_holes(len(changed), "changed")] if changed else [])
            causes.append(f"new samples: {', '.join(parts)} {counts}")
        elif changed:
            causes.append(f"changed samples: {_holes(len(changed), 'changed')} {counts}")
        if removed:
            causes.append(f"removed samples: {_holes(len(removed), 'removed')} {counts}")
        if str(old.get("footprint_sha256", "")) != str(new.get("footprint_sha256", "")):
            causes.append(f"changed footprint (sites row {new.get('sites_row')})")
        elif str(old.get("sites_row_sha256", "")) != str(new.get("sites_row_sha256", "")):
            names = [c for c in SITE_INPUT_COLUMNS if before is not None and after is not None
                     and str(before.get(c)) != str(after.get(c))]  # fmt: skip
            causes.append(f"changed site attributes{': ' + ', '.join(names) if names else ''} "
                          f"(sites row {new.get('sites_row')})")  # fmt: skip
        for label in ("surface", "base"):
            path, sha = f"{label}_dem", f"{label}_dem_sha256"
            if (str(old.get(path, "")), str(old.get(sha, ""))) != (str(new.get(path, "")), str(new.get(sha, ""))):
                causes.append(f"changed DEM: {label} {new.get(path) or '(none)'}")
        old_cov, new_cov = _json(old.get("covariates")), _json(new.get("covariates"))
        if old_cov != new_cov:
            names = sorted(n for n in set(old_cov) | set(new_cov) if old_cov.get(n) != new_cov.get(n))
            causes.append(f"changed covariates: {', '.join(names)}")
        old_ref, new_ref = _json(old.get("reference_rows")), _json(new.get("reference_rows"))
        rows = sorted(key for key in set(old_ref) | set(new_ref) if old_ref.get(key) != new_ref.get(key))
        if rows:
            causes.append(f"reference table change: {', '.join(key.replace(':', ' row ', 1) for key in rows)}")
    if before is not None and after is not None:
        old_review = tuple(_str(before.get(c)) for c in ("review_decision", "reviewer", "reviewed_at"))
        new_review = tuple(_str(after.get(c)) for c in ("review_decision", "reviewer", "reviewed_at"))
        if old_review != new_review:
            decision, reviewer, when = new_review
            note = _str(after.get("review_note"))
            if decision:
                causes.append(f"review decision: {decision} by {reviewer or '?'} at {when or '?'}"
                              + (f" ({note})" if note else ""))  # fmt: skip
            else:
                causes.append(f"review decision withdrawn (was {old_review[0]} by {old_review[1]})")
    return causes


def _holes(count: int, what: str) -> str:
    return f"{count} {what} hole{'' if count == 1 else 's'}"


def _int(value: object) -> int:
    number = _number(value)
    return int(number) if number is not None else 0


def _global_causes(old: Mapping, new: Mapping, all_inputs: bool = False) -> list[str]:
    """Changes that reach every site: grade models, settings, code version, reference tables (and input files)."""
    causes = []
    old_models, new_models = old.get("models") or {}, new.get("models") or {}
    changed = [e for e in sorted(set(old_models) | set(new_models)) if old_models.get(e) != new_models.get(e)]
    if changed and old_models and new_models:  # a side without models (not yet known) compares nothing
        causes.append("model change: " + ", ".join(f"{e} {old_models.get(e, '(none)')} -> {new_models.get(e, '(none)')}"
                                                   for e in changed))  # fmt: skip
    old_settings, new_settings = old.get("settings") or {}, new.get("settings") or {}
    keys = [k for k in sorted(set(old_settings) | set(new_settings)) if old_settings.get(k) != new_settings.get(k)]
    if keys:
        causes.append("settings: " + ", ".join(f"{k} {old_settings.get(k)!r} -> {new_settings.get(k)!r}" for k in keys))
    if old.get("code_version") and old.get("code_version") != new.get("code_version"):
        causes.append(f"code: {old.get('code_version')} -> {new.get('code_version')}")
    old_refs, new_refs = old.get("reference_tables") or {}, new.get("reference_tables") or {}
    tables = [t for t in sorted(set(old_refs) | set(new_refs)) if old_refs.get(t) != new_refs.get(t)]
    if tables and all_inputs:
        causes.append("reference tables: " + ", ".join(f"{t} ({new_refs.get(t, 'removed')})" for t in tables))
    if all_inputs:
        causes += [f"input {name}" for name in _changed_inputs(old, new)]
    return causes


def _changed_inputs(old: Mapping, new: Mapping) -> list[str]:
    """Input files added, removed or changed between two manifests, e.g. ``samples.csv (changed)``."""
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    changed = []
    for name in sorted(set(old_inputs) | set(new_inputs)):
        if old_inputs.get(name) != new_inputs.get(name):
            state = "added" if name not in old_inputs else "removed" if name not in new_inputs else "changed"
            changed.append(f"{name} ({state})")
    return changed


def format_changes(changes: pd.DataFrame) -> str:
    """A diff for reading: one block per site, its changes, then ``because:`` its causes.

    >>> frame = pd.DataFrame([{"site_id": "A", "change": "rank", "old": "3", "new": "1", "detail": "up 2",
    ...                        "causes": "new samples: 1 new hole (4 -> 6 samples)", "direct": True}])
    >>> print(format_changes(frame))
    A  rank 3 -> 1 (up 2)
       because: new samples: 1 new hole (4 -> 6 samples)
    """
    if changes.empty:
        return "No site changed beyond the threshold."
    blocks = []
    for site_id, rows in changes.groupby("site_id", sort=True):
        parts = []
        for row in rows.itertuples(index=False):
            if row.change in ("added", "removed", "inputs"):
                parts.append(f"{row.change}" + (f" ({row.detail})" if row.detail else ""))
            else:
                arrow = f" {row.old} -> {row.new}" if (row.old or row.new) else ""
                parts.append(f"{row.change}{arrow}" + (f" ({row.detail})" if row.detail else ""))
        causes = rows["causes"].iloc[0].split("; ")
        blocks.append(f"{site_id}  " + "; ".join(parts) + "\n" + "\n".join(
            f"   {'because:' if i == 0 else '        '} {cause}" for i, cause in enumerate(causes)))  # fmt: skip
    return "\n".join(blocks)
