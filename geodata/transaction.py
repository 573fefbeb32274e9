"""The transaction that publishes a run's output files: staged per producer, moved into place together.

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

The files themselves are written by :mod:`residua.geodata.formats`; :mod:`residua.geodata.publish` decides
what goes where.
"""

from __future__ import annotations

import atexit
import fnmatch
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

try:  # POSIX; without it (Windows) commits are not serialised and no leftover is recovered
    import fcntl
except ImportError:  # pragma: no cover - Residua runs on Linux
    fcntl = None  # type: ignore[assignment]

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
    them all with :meth:`commit`. Until then nothing in ``out_dir`` changes; a failed commit changes
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
        recorded and its files are not published.
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
