"""Writers for published outputs, and the transaction that publishes them.

A run never writes into the output folder directly. Each producer writes its files
completely into the run's staging folder ``<out>/.staging-<key>/`` (a dot-folder: hidden,
and read by nothing), and :class:`Release` moves them all into place in one transaction:

1. A journal listing every file to move in and every stale file to remove is written into
   the staging folder (``.residua/journal.json``, fsynced).
2. Each file that will be replaced is first hard-linked into a backup folder, then the new
   file is renamed over it with ``os.replace``: a reader always finds a whole file, old or
   new, never a missing or partial one. Stale files (e.g. rasters of sites no longer
   modelled) are renamed into the backup folder.
3. The journal is marked ``committed``, then the staging folder (backup included) is
   deleted.

If a move fails, the moves already made are undone from the journal and backups, so the
output folder holds exactly the previous files. If the process dies midway (SIGKILL, power
cut), the next publish into the same folder finds the journal of the abandoned staging
folder and rolls it back (or, when it was already marked committed, only deletes it);
abandoned staging folders without a journal (a run killed while writing) are deleted.
A staging folder is abandoned when no process holds its lock (``flock``; released by the
kernel when its process dies). Commits into one folder are serialised by a lock on the
folder itself, so two runs at once publish one after the other. The output folder stays a
plain folder of plain files that QGIS, GDAL and a file browser open directly.

The writers below know formats (GeoPackage, GeoJSON, zipped Shapefile, FlatGeobuf,
GeoParquet, CSV), not the inventory: :mod:`geodata.publish` decides what goes where.
"""

from __future__ import annotations

import atexit
import fnmatch
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pyogrio

try:  # POSIX; without it (Windows) commits are not serialised and no leftover is recovered
    import fcntl
except ImportError:  # pragma: no cover - Residua runs on Linux
    fcntl = None  # type: ignore[assignment]

#: GeoPackage version written: 1.2 opens without warnings in older GDAL builds (Debian 12's 3.6), QGIS and ArcGIS.
GPKG_VERSION = "1.2"
#: Decimal places of GeoJSON coordinates: 7 places of a degree are about 1 cm.
GEOJSON_PRECISION = 7
#: Longest text a DBF (Shapefile attribute) field holds.
DBF_TEXT_LIMIT = 254

#: Shapefile (DBF) field names for published columns longer than 10 characters. Per-metal
#: columns follow a rule instead: ``<m>_grade_gt_<p>`` -> ``<m>_gt_<p>``,
#: ``<m>_contained_t_<p>`` -> ``<m>_ct_<p>``, ``<m>_recoverable_t_<p>`` -> ``<m>_rt_<p>``.
DBF_FIELD_NAMES: dict[str, str] = {
    "residue_type": "res_type",
    "confidence_words": "conf_words",
    "volume_method": "vol_method",
    "volume_log_sd": "vol_log_sd",
    "density_t_m3": "dens_t_m3",
    "density_log_sd": "dens_logsd",
    "density_source": "dens_src",
    "tonnes_log_sd": "t_log_sd",
    "tonnes_vs_reported": "t_vs_rep",
    "commissioned_year": "comm_year",
    "closed_year": "close_year",
    "reported_tonnes": "rep_tonnes",
    "reported_volume_m3": "rep_vol_m3",
    "dry_density_t_m3": "dry_dens",
    "source_process": "src_proc",
    "surface_dem": "surf_dem",
    "residue_type_as_written": "restype_in",
    "value_usd_p10": "usd_p10",
    "value_usd_p50": "usd_p50",
    "value_usd_p90": "usd_p90",
    "value_relative_width": "val_relwid",
    "confidence_weight": "conf_wt",
    "data_origin": "data_orig",
    "held_reason": "held_rsn",
}
_METAL_COLUMN = re.compile(r"^([a-z]+)_(grade_gt|contained_t|recoverable_t)_(p\d+)$")
_METAL_SHORT = {"grade_gt": "gt", "contained_t": "ct", "recoverable_t": "rt"}
#: Word abbreviations for columns not in DBF_FIELD_NAMES, applied longest word first until the name fits.
_WORD_ABBREVIATIONS: dict[str, str] = {
    "confidence": "conf", "recoverable": "rec", "contained": "cont", "commissioned": "comm", "density": "dens",
    "distance": "dist", "reported": "rep", "relative": "rel", "residue": "res", "samples": "smp", "source": "src",
    "process": "proc", "volume": "vol", "tonnes": "t", "weight": "wt", "value": "val", "method": "meth",
    "number": "n", "grade": "gr", "width": "wid", "origin": "orig", "surface": "surf", "year": "yr",
}  # fmt: skip

#: Staging folders in an output folder start with this: dot-folders, hidden and never read back.
STAGING_PREFIX = ".staging-"
_CONTROL = ".residua"  # inside a staging folder: lock, finished parts, journal, backups
_RELEASE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
#: Releases this process has open (staging folder -> release); discarded at exit if never published.
_HELD: dict[Path, Release] = {}


class Release:
    """The output files of one run, staged in ``<out_dir>/.staging-<key>/`` and published together.

    Open one with :meth:`open`, write each producer's files in a :meth:`part`, then publish
    them all with :meth:`commit` (or :meth:`commit_if_complete`, once every producer the run
    selected is done). Until then nothing in ``out_dir`` changes; a failed commit changes
    nothing either (see the module docstring for the transaction and its recovery).

    Examples
    --------
    >>> out = Path(tempfile.mkdtemp())
    >>> release = Release.open(out)
    >>> with release.part("report", stale=["report.*"]) as staging:
    ...     _ = (staging / "report.csv").write_text("a\\n1\\n")
    >>> [path.name for path in out.iterdir() if not path.name.startswith(".")]
    []
    >>> release.commit()
    >>> [path.name for path in out.iterdir()]
    ['report.csv']
    >>> shutil.rmtree(out)
    """

    def __init__(self, out_dir: Path, staging: Path, lock: int | None, recovered: list[str]) -> None:
        self.out_dir = out_dir
        self.staging = staging
        #: Abandoned staging folders this release's opening cleaned up, with what was done to each.
        self.recovered = recovered
        self._lock = lock
        self._pid = os.getpid()

    @classmethod
    def open(cls, out_dir: Path, key: str | None = None) -> Release:
        """Open the release ``key`` in ``out_dir`` (created if missing), or a new private one.

        Parameters
        ----------
        out_dir : Path
            The output folder.
        key : str, optional
            Names the staging folder, e.g. a run id: every producer of one run opens the
            same release. Letters, digits, ``_`` and ``-`` only. Default: a new unique key.

        Abandoned staging folders of killed runs in ``out_dir`` are rolled back and deleted
        first (:attr:`recovered` lists them).
        """
        if key is not None and not _RELEASE_KEY.fullmatch(key):
            raise ValueError(f"release key {key!r} is not allowed; use letters, digits, '_' and '-' (at most 100)")
        out_dir = Path(os.path.abspath(out_dir))
        if key is not None and (held := _HELD.get(out_dir / f"{STAGING_PREFIX}{key}")) is not None:
            return held
        out_dir.mkdir(parents=True, exist_ok=True)
        with _folder_lock(out_dir):
            keep = {f"{STAGING_PREFIX}{key}"} if key is not None else set()
            recovered = _recover(out_dir, keep=keep)
            if key is None:
                staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))
            else:
                staging = out_dir / f"{STAGING_PREFIX}{key}"
                staging.mkdir(exist_ok=True)
            (staging / _CONTROL / "parts").mkdir(parents=True, exist_ok=True)
            lock = _try_lock(staging)
            try:  # the folder of this run (key) may hold a commit a killed process of the run began
                if lock is not None and _roll_back(out_dir, staging) == "committed":
                    shutil.rmtree(staging / _CONTROL / "backup", ignore_errors=True)  # published already
                    (staging / _CONTROL / "journal.json").unlink()
            except BaseException:
                if lock is not None:
                    os.close(lock)
                raise
        release = cls(out_dir, staging, lock, recovered)
        _HELD[staging] = release
        return release

    @contextmanager
    def part(self, name: str, stale: Iterable[str] = ()) -> Iterator[Path]:
        """Yield the staging folder for one producer's files; record the producer as done on success.

        Parameters
        ----------
        name : str
            The producer, e.g. an asset name (letters, digits, ``_`` and ``-``).
        stale : iterable of str
            Glob patterns, relative to ``out_dir`` (``*`` stays within one folder), of the
            files this producer owns: at commit, those matching files that this release does
            not hold are removed (e.g. ``rasters/*`` drops rasters of sites no longer modelled).

        Files are written at their final relative paths inside the folder; names starting
        with ``.`` are scratch and never published. If the block raises, the producer is not
        recorded, so :meth:`commit_if_complete` never publishes the release.
        """
        if not _PART_NAME.fullmatch(name):
            raise ValueError(f"part name {name!r} is not allowed; use letters, digits, '_' and '-' (at most 100)")
        patterns = [_check_pattern(pattern) for pattern in stale]
        self._require_open()
        yield self.staging
        _write_json(self.staging / _CONTROL / "parts" / f"{name}.json", {"stale": patterns})

    def current(self, name: str) -> Path | None:
        """The file ``name`` as a later producer of this run should read it, or None.

        This release's staged copy if there is one; else the published file in ``out_dir``,
        unless a finished part of this release owns the name (it will be removed at commit).
        """
        relative = _check_pattern(name)
        staged = self.staging / relative
        if staged.is_file():
            return staged
        owned = [pattern for part in self._parts().values() for pattern in part]
        if any(_matches(relative, pattern) for pattern in owned):
            return None
        published = self.out_dir / relative
        return published if published.is_file() else None

    def done(self) -> set[str]:
        """Names of the parts finished so far."""
        return set(self._parts())

    def commit_if_complete(self, parts: Iterable[str], before: Callable[[Path], None] | None = None) -> bool:
        """Publish if every part in ``parts`` is done (checked under the folder lock); True if published.

        ``before`` as for :meth:`commit`.
        """
        expected = set(parts)
        self._require_open()
        with _folder_lock(self.out_dir):
            if not expected <= self.done():
                return False
            self._commit(before=before)
        return True

    def commit(self, stale: Iterable[str] = (), before: Callable[[Path], None] | None = None) -> None:
        """Publish every staged file and remove the stale ones, in one transaction.

        ``stale`` adds patterns to those of the finished parts (see :meth:`part`).
        ``before(staging)``, if given, runs under the folder lock just before the first file
        moves, e.g. to publish database tables with the files; if it raises, nothing is
        published. On failure, ``out_dir`` is left as it was and the error is raised.
        """
        extra = [_check_pattern(pattern) for pattern in stale]
        self._require_open()
        with _folder_lock(self.out_dir):
            self._commit(extra, before)

    def discard(self) -> None:
        """Delete the staging folder unless published already; ``out_dir`` is untouched. Idempotent."""
        if _HELD.get(self.staging) is not self:
            return
        if self._lock is not None and (self.staging / _CONTROL / "journal.json").exists():
            try:  # a commit whose roll-back failed: try again, else leave it to the next publish
                with _folder_lock(self.out_dir):
                    _roll_back(self.out_dir, self.staging)
            except OSError:
                self._close(remove=False)
                return
        self._close(remove=True)

    def _close(self, remove: bool) -> None:
        """Forget this release; delete its staging folder (if ours and ``remove``) and free its lock."""
        del _HELD[self.staging]
        if self._lock is None:  # joined the folder of another process of the same run: it cleans up
            return
        if remove:
            shutil.rmtree(self.staging, ignore_errors=True)
        os.close(self._lock)
        self._lock = None

    def _require_open(self) -> None:
        if _HELD.get(self.staging) is not self:
            raise RuntimeError(f"the release in {self.staging} was already published or discarded")

    def _parts(self) -> dict[str, list[str]]:
        folder = self.staging / _CONTROL / "parts"
        return {path.stem: json.loads(path.read_text())["stale"] for path in sorted(folder.glob("*.json"))}

    def _commit(self, extra_stale: Sequence[str] = (), before: Callable[[Path], None] | None = None) -> None:
        """The transaction; the caller holds the folder lock."""
        self.recovered += _recover(self.out_dir, keep={self.staging.name})
        if before is not None:
            before(self.staging)
        files = _staged_files(self.staging)
        patterns = [*(pattern for part in self._parts().values() for pattern in part), *extra_stale]
        held = set(files)
        remove = sorted({name for pattern in patterns for name in _published_matches(self.out_dir, pattern)} - held)
        for name in files:
            fsync_path(self.staging / name)
        new_dirs = sorted({parent for name in files for parent in _parents(name)
                           if not (self.out_dir / parent).is_dir()}, key=lambda p: p.count("/"))  # fmt: skip
        journal = {
            "state": "committing",
            "files": [{"path": name, "existed": os.path.lexists(self.out_dir / name)} for name in files],
            "remove": remove,
            "new_dirs": new_dirs,
        }
        journal_path = self.staging / _CONTROL / "journal.json"
        _write_json(journal_path, journal)
        try:
            _apply(self.out_dir, self.staging, journal)
            _write_json(journal_path, {**journal, "state": "committed"})
        except BaseException:
            try:
                _roll_back(self.out_dir, self.staging)
            except OSError:
                pass  # the journal stays: the next publish into out_dir finishes the roll-back
            raise
        self._close(remove=True)
        for parent in sorted(_parents_of(remove) - _parents_of(files), key=lambda p: -p.count("/")):
            _remove_empty_dir(self.out_dir / parent)  # e.g. rasters/ when no site has rasters any more


def recover_outputs(out_dir: Path) -> list[str]:
    """Roll back and delete the staging folders that killed runs left in ``out_dir``.

    Every :meth:`Release.open` and commit does this too; call it to repair an output folder
    before reading it, e.g. after a crash. Returns what was done, one line per folder.
    """
    out_dir = Path(os.path.abspath(out_dir))
    if not out_dir.is_dir():
        return []
    with _folder_lock(out_dir):
        return _recover(out_dir)


@contextmanager
def staged_outputs(
    out_dir: Path, stale: Iterable[str] = (), before: Callable[[Path], None] | None = None
) -> Iterator[Path]:
    """Yield a staging folder; on success publish every file in it into ``out_dir`` in one transaction.

    Parameters
    ----------
    out_dir : Path
        Destination folder, created if missing.
    stale : iterable of str
        Names (or glob patterns) in ``out_dir`` to remove when this publish does not write
        them (e.g. the exports of a format no longer selected).
    before : callable, optional
        Called with the staging folder just before the files move (see :meth:`Release.commit`).

    If the block raises, or a move fails, the staging folder is deleted and ``out_dir`` is
    left as it was. This is a :class:`Release` with a single part.
    """
    release = Release.open(out_dir)
    try:
        with release.part("outputs", stale=stale) as staging:
            yield staging
        release.commit(before=before)
    finally:
        release.discard()


def _apply(out_dir: Path, staging: Path, journal: Mapping) -> None:
    """Make the journal's moves: back up and replace files, move stale ones out."""
    backup = staging / _CONTROL / "backup"
    for name in journal["new_dirs"]:
        (out_dir / name).mkdir(exist_ok=True)
    for entry in journal["files"]:
        name = entry["path"]
        if entry["existed"]:
            _keep_old(out_dir / name, backup / name)
        os.replace(staging / name, out_dir / name)
    for name in journal["remove"]:
        (backup / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(out_dir / name, backup / name)
    for folder in {out_dir, *(out_dir / parent for entry in journal["files"] for parent in _parents(entry["path"]))}:
        fsync_path(folder)


def _keep_old(published: Path, backup: Path) -> None:
    """Keep the published file in the backup folder without ever removing it from ``out_dir``."""
    backup.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(published, backup, follow_symlinks=False)
    except OSError:  # no hard links on this filesystem: move it (it is missing until its successor arrives)
        os.replace(published, backup)


def _roll_back(out_dir: Path, staging: Path) -> str:
    """Undo an interrupted commit from its journal; staged files go back into the staging folder.

    Returns ``'rolled back'``, or ``'committed'`` when the journal says the commit was complete
    (nothing to undo). The journal is deleted once the undo is complete.
    """
    journal_path = staging / _CONTROL / "journal.json"
    try:
        journal = json.loads(journal_path.read_text())
    except (OSError, ValueError):  # no journal, or killed while writing it: nothing was moved
        journal_path.unlink(missing_ok=True)
        return "rolled back"
    if journal.get("state") == "committed":
        return "committed"
    backup = staging / _CONTROL / "backup"
    for name in reversed(journal["remove"]):
        if os.path.lexists(backup / name):
            os.replace(backup / name, out_dir / name)
    for entry in reversed(journal["files"]):
        name = entry["path"]
        if not os.path.lexists(staging / name) and os.path.lexists(out_dir / name):
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(out_dir / name, staging / name)  # the new file had been moved in
        if os.path.lexists(backup / name):
            os.replace(backup / name, out_dir / name)
    for name in reversed(journal["new_dirs"]):
        _remove_empty_dir(out_dir / name)
    fsync_path(out_dir)
    shutil.rmtree(backup, ignore_errors=True)
    journal_path.unlink()
    return "rolled back"


def _recover(out_dir: Path, keep: Iterable[str] = ()) -> list[str]:
    """Roll back and delete abandoned staging folders (no live process holds their lock)."""
    if fcntl is None:  # pragma: no cover - without locks a live run's folder cannot be told from a leftover
        return []
    done = []
    for staging in sorted(out_dir.glob(f"{STAGING_PREFIX}*")):
        if staging.name in set(keep) or staging in _HELD or not staging.is_dir() or staging.is_symlink():
            continue
        if (staging / _CONTROL).is_dir():
            lock = _try_lock(staging)
            if lock is None:
                continue  # a live run is writing or publishing it
        else:
            lock = None  # no lock file: a staging folder of an older Residua
        try:
            outcome = _roll_back(out_dir, staging)
            shutil.rmtree(staging)
            done.append(f"{staging.name}: {'finished' if outcome == 'committed' else 'not published'}, removed")
        finally:
            if lock is not None:
                os.close(lock)
    return done


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Exclusive lock on the output folder itself (no lock file in it) while publishing."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _try_lock(staging: Path) -> int | None:
    """Take a staging folder's lock (held until closed or the process dies); None if someone holds it."""
    descriptor = os.open(staging / _CONTROL / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is None:  # pragma: no cover - no lock, but the folder is still this process's to clean up
        return descriptor
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        return None
    return descriptor


def _staged_files(staging: Path) -> list[str]:
    """Files (and symlinks) under the staging folder as relative POSIX paths; dot-names are skipped."""
    found = []
    for root, folders, names in os.walk(staging):
        folders[:] = sorted(folder for folder in folders if not folder.startswith("."))
        relative = Path(root).relative_to(staging)
        found += [(relative / name).as_posix() for name in sorted(names) if not name.startswith(".")]
    return found


def _published_matches(out_dir: Path, pattern: str) -> list[str]:
    """Published files (not folders, not staging folders) matching a stale pattern."""
    matches, inside = [], out_dir.resolve()
    for path in out_dir.glob(pattern):
        name = path.relative_to(out_dir).as_posix()
        if any(part.startswith(".") for part in name.split("/")) or not (path.is_file() or path.is_symlink()):
            continue
        if path.parent.resolve().is_relative_to(inside):  # never through a symlinked folder out of out_dir
            matches.append(name)
    return matches


def _check_pattern(pattern: str) -> str:
    """A relative POSIX path or glob inside the output folder."""
    path = PurePosixPath(str(pattern))
    if not str(pattern) or path.is_absolute() or ".." in path.parts or "\\" in str(pattern) or str(path) == ".":
        raise ValueError(f"output name {pattern!r} must be a relative path inside the output folder, without '..'")
    return str(path)


def _matches(name: str, pattern: str) -> bool:
    names, patterns = name.split("/"), pattern.split("/")
    return len(names) == len(patterns) and all(fnmatch.fnmatchcase(n, p) for n, p in zip(names, patterns))


def _parents(name: str) -> list[str]:
    """Folders above a relative path, outermost first: ``a/b/c.tif`` -> ``['a', 'a/b']``."""
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _parents_of(names: Iterable[str]) -> set[str]:
    return {parent for name in names for parent in _parents(name)}


def _remove_empty_dir(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (or gone): keep it


def _write_json(path: Path, content: object) -> None:
    """Write JSON durably and atomically (temporary file, fsync, rename)."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(content, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """Flush a file or folder to disk (best effort: some filesystems refuse it for folders)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@atexit.register
def _discard_unpublished() -> None:
    """At exit, delete the staging folders of releases this process opened and never published."""
    for release in list(_HELD.values()):
        if release._pid == os.getpid():
            release.discard()


@contextmanager
def no_gdal_sidecars() -> Iterator[None]:
    """Read with GDAL without it writing an ``.aux.xml`` sidecar (e.g. ``inventory.gpkg.aux.xml``) beside the file.

    GDAL's PAM keeps GeoPackage metadata it cannot store on a read-only open in such a
    sidecar; reading must leave ``out/`` as published.
    """
    before = pyogrio.get_gdal_config_option("GDAL_PAM_ENABLED")
    pyogrio.set_gdal_config_options({"GDAL_PAM_ENABLED": "NO"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"GDAL_PAM_ENABLED": before})


def write_geopackage(
    path: Path,
    layers: Mapping[str, pd.DataFrame],
    metadata: Mapping[str, object] | None = None,
    layer_metadata: Mapping[str, object] | None = None,
    descriptions: Mapping[str, str] | None = None,
    styles: pd.DataFrame | None = None,
) -> None:
    """Write several layers (spatial or attribute-only) into one new GeoPackage 1.2.

    Parameters
    ----------
    path : Path
        The GeoPackage to create (replaced if it exists).
    layers : mapping of str to DataFrame
        GeoDataFrames become spatial layers (``Unknown`` geometry type when they mix
        types); plain DataFrames become attribute tables.
    metadata : mapping, optional
        Dataset provenance, written by GDAL into ``gpkg_metadata`` with a
        ``gpkg_metadata_reference`` of scope ``geopackage``.
    layer_metadata : mapping, optional
        Items written for every layer too (reference scope ``table``), so a layer opened
        alone still says e.g. that it is synthetic and a screening estimate.
    descriptions : mapping of str to str, optional
        Per-layer text for ``gpkg_contents.description``.
    styles : DataFrame, optional
        Rows for QGIS's ``layer_styles`` table (see :func:`geodata.styles.layer_styles_table`).
    """
    if path.exists():
        path.unlink()
    items, layer_items = _gdal_metadata(metadata or {}), _gdal_metadata(layer_metadata or {})
    for name, frame in layers.items():
        table = _plain_columns(frame)
        options: dict = {"driver": "GPKG", "layer": name, "append": path.exists()}
        if not path.exists():
            options["dataset_options"] = {"VERSION": GPKG_VERSION}
            options["dataset_metadata"] = items
        if isinstance(table, gpd.GeoDataFrame) and _mixed_geometry(table):
            options["geometry_type"] = "Unknown"
        description = (descriptions or {}).get(name)
        options["layer_metadata"] = {**layer_items, **({"DESCRIPTION": description} if description else {})}
        pyogrio.write_dataframe(table, path, **options)
    if styles is not None and len(styles):
        # QGIS's own table layout; FID "id" as QGIS creates it.
        description = {"DESCRIPTION": "QGIS layer styles (default style per layer)"}
        pyogrio.write_dataframe(styles, path, driver="GPKG", layer="layer_styles", append=True,
                                layer_options={"FID": "id"}, layer_metadata=description)  # fmt: skip


def write_geojson(path: Path, frame: gpd.GeoDataFrame, description: str = "") -> None:
    """Write an RFC 7946 GeoJSON: EPSG:4326 lon/lat, no ``crs`` member, 7 decimals.

    ``description`` becomes the top-level ``description`` member (a foreign member,
    which RFC 7946 allows). NaN values are written as null.
    """
    options = {"RFC7946": "YES", "COORDINATE_PRECISION": str(GEOJSON_PRECISION), "WRITE_NAME": "NO"}
    if description:
        options["DESCRIPTION"] = description
    pyogrio.write_dataframe(_plain_columns(frame.to_crs("EPSG:4326")), path, driver="GeoJSON", layer_options=options)


def write_flatgeobuf(path: Path, frame: gpd.GeoDataFrame, title: str = "", description: str = "") -> None:
    """Write a FlatGeobuf with a packed R-tree spatial index, title and description in its header."""
    table = _plain_columns(frame)
    options: dict[str, str] = {"SPATIAL_INDEX": "YES"}
    if title:
        options["TITLE"] = title
    if description:
        options["DESCRIPTION"] = description
    geometry_type = "Unknown" if _mixed_geometry(table) else None
    pyogrio.write_dataframe(table, path, driver="FlatGeobuf", layer_options=options, geometry_type=geometry_type)


def write_geoparquet(path: Path, frame: gpd.GeoDataFrame, metadata: Mapping[str, object] | None = None) -> None:
    """Write GeoParquet 1.1 (WKB geometry) with a ``bbox`` covering column for row-group pruning.

    ``metadata`` is stored as JSON under the file's key-value metadata key ``residua``,
    beside the ``geo`` key.
    """
    frame.to_parquet(path, index=False, schema_version="1.1.0", write_covering_bbox=True)
    if metadata:
        table = pq.read_table(path)
        extra = {b"residua": json.dumps({key: str(value) for key, value in metadata.items()}).encode()}
        pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **extra}), path)


def dbf_field_names(columns: Sequence[str]) -> dict[str, str]:
    """Map column names to unique Shapefile (DBF) field names of at most 10 characters.

    Names of 10 characters or fewer are kept; others come from :data:`DBF_FIELD_NAMES`,
    the per-metal rule, or (for columns unknown to Residua) word abbreviations, then
    truncation; a clash gets a numeric suffix. The mapping is deterministic: the same
    columns in the same order always map to the same names.

    Parameters
    ----------
    columns : sequence of str
        Attribute columns in published order (no geometry).

    Returns
    -------
    dict
        Column -> field name, in ``columns`` order.

    Examples
    --------
    >>> dbf_field_names(["site_id", "pgm_recoverable_t_p50", "residue_type"])
    {'site_id': 'site_id', 'pgm_recoverable_t_p50': 'pgm_rt_p50', 'residue_type': 'res_type'}
    >>> dbf_field_names(["distance_to_hub_km", "distance_to_hub_kms"])
    {'distance_to_hub_km': 'dist_to_hu', 'distance_to_hub_kms': 'dist_to_1'}
    """
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    # Names that need no change or have a documented short form are claimed first, so a
    # fallback name can never take them.
    for column in columns:
        preferred = _preferred_dbf_name(column)
        if preferred is not None and preferred.lower() not in taken:
            mapping[column] = preferred
            taken.add(preferred.lower())
    for column in columns:
        if column in mapping:
            continue
        base = candidate = _abbreviate(column)
        suffix = 0
        while candidate.lower() in taken:
            suffix += 1
            candidate = f"{base[: 10 - len(str(suffix)) - 1].rstrip('_')}_{suffix}"
        mapping[column] = candidate
        taken.add(candidate.lower())
    return {column: mapping[column] for column in columns}


def write_shapefile_zip(
    path: Path,
    frame: gpd.GeoDataFrame,
    layer: str,
    extra_files: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Write ``frame`` as a zipped ESRI Shapefile (``.shp .shx .dbf .prj .cpg``, UTF-8).

    Long column names are renamed with :func:`dbf_field_names`; the mapping is written into
    the zip as ``<layer>_shapefile_fields.csv`` and returned. Text longer than 254
    characters (the DBF limit) is cut there. Points and polygons cannot share a Shapefile:
    if ``frame`` holds both, the points go to a second layer ``<layer>_points`` in the zip.

    Parameters
    ----------
    path : Path
        The zip to write, conventionally ``<layer>.shp.zip`` (GDAL and QGIS open it as is).
    frame : GeoDataFrame
    layer : str
        Base name of the Shapefile inside the zip.
    extra_files : mapping of str to str, optional
        Further text files to store in the zip (name -> content).

    Returns
    -------
    pandas.DataFrame
        The field mapping: columns ``column`` and ``shapefile_field``.
    """
    names = dbf_field_names([column for column in frame.columns if column != frame.geometry.name])
    mapping = pd.DataFrame({"column": list(names), "shapefile_field": list(names.values())})
    table = _plain_columns(frame).rename(columns=names)
    for column in table.columns:
        if column != table.geometry.name and _is_text(table[column]):
            table[column] = table[column].str.slice(0, DBF_TEXT_LIMIT)
    files = {f"{layer}_shapefile_fields.csv": mapping.to_csv(index=False), **(extra_files or {})}
    with tempfile.TemporaryDirectory(prefix=".shp-", dir=path.parent) as parts:
        folder = Path(parts)
        for suffix, part in _split_points(table).items():
            pyogrio.write_dataframe(part, folder / f"{layer}{suffix}.shp", driver="ESRI Shapefile",
                                    layer_options={"ENCODING": "UTF-8"})  # fmt: skip
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member in sorted(folder.iterdir()):
                archive.write(member, member.name)
            for name, text in files.items():
                archive.writestr(name, text)
    return mapping


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a UTF-8 CSV without the index."""
    frame.to_csv(path, index=False, encoding="utf-8")


def _preferred_dbf_name(column: str) -> str | None:
    if len(column) <= 10:
        return column
    if column in DBF_FIELD_NAMES:
        return DBF_FIELD_NAMES[column]
    match = _METAL_COLUMN.match(column)
    if match and len(short := f"{match[1]}_{_METAL_SHORT[match[2]]}_{match[3]}") <= 10:
        return short
    return None


def _abbreviate(column: str) -> str:
    words = [word for word in re.sub(r"[^a-z0-9]+", "_", column.lower()).split("_") if word]
    for word in sorted(set(words), key=lambda w: (-len(w), w)):
        if len("_".join(words)) <= 10:
            break
        words = [_WORD_ABBREVIATIONS.get(w, w) if w == word else w for w in words]
    name = "_".join(words)[:10].rstrip("_") or "field"
    return f"f{name}"[:10] if name[0].isdigit() else name


def _split_points(table: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """The frame itself, or polygons ('' suffix) and points ('_points') when it holds both."""
    kinds = table.geom_type.fillna("")
    points = kinds.str.endswith("Point")
    if points.all() or not points.any():
        return {"": table}
    return {"": table[~points], "_points": table[points]}


def _gdal_metadata(metadata: Mapping[str, object]) -> dict[str, str]:
    """GDAL metadata items. GDAL splits ``key=value`` at the first ``:`` or ``=``, so ``:`` in
    a key becomes ``/`` (``input:samples.csv`` -> ``input/samples.csv``) and any other
    character but letters, digits and ``_ . - /`` becomes ``_``."""
    return {re.sub(r"[^A-Za-z0-9_./-]", "_", str(key).replace(":", "/")): str(value) for key, value in metadata.items()}


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def _mixed_geometry(frame: gpd.GeoDataFrame) -> bool:
    return len(set(frame.geom_type.dropna())) != 1 or bool(frame.geometry.isna().any())


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast object columns that GDAL cannot type (mixed values) to strings."""
    table = frame.copy()
    for column in table.columns:
        if column == getattr(table, "_geometry_column_name", None):
            continue
        if table[column].dtype == object:
            table[column] = table[column].map(lambda value: "" if value is None else str(value))
    return table
