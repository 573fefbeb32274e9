"""``residua releases list / show / restore / verify`` and ``residua diff``: the release history on the command line.

The logic lives in :mod:`residua.geodata.releases`; this module parses arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from residua.geodata.releases import (
    DEFAULT_THRESHOLD,
    ReleaseStore,
    ReleaseStoreError,
    diff_releases,
    diff_summary,
    format_changes,
    load_view,
    release_changes,
)

#: Releases ``residua status`` shows.
STATUS_RELEASES = 5
_STORE_HELP = "release store folder (default: 'releases' in the Dagster instance folder, which needs DAGSTER_HOME)"


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``releases`` (list, show, restore, verify) and ``diff`` to the ``residua`` subcommands."""
    releases = commands.add_parser(
        "releases", help="the published releases: list, show or restore one, verify the hash chain"
    )
    actions = releases.add_subparsers(dest="releases_command", required=True)
    listing = actions.add_parser("list", help="every kept release, oldest first")
    listing.add_argument("--store", type=Path, default=None, help=_STORE_HELP)
    show = actions.add_parser("show", help="one release's manifest (JSON)")
    show.add_argument("release", nargs="?", default="latest", help="release id, latest (default) or previous")
    show.add_argument("--store", type=Path, default=None, help=_STORE_HELP)
    restore = actions.add_parser("restore", help="copy a release's stored GeoPackage, rasters and model cards out")
    restore.add_argument("release", help="release id, latest or previous")
    restore.add_argument("--to", type=Path, required=True, help="a new or empty folder to copy them into")
    restore.add_argument("--store", type=Path, default=None, help=_STORE_HELP)
    verify = actions.add_parser(
        "verify", help="recompute the hash chain and every stored file's SHA-256; exit 1 on a mismatch"
    )
    verify.add_argument("--store", type=Path, default=None, help=_STORE_HELP)
    diff = commands.add_parser("diff", help="what changed between two releases, site by site, and why")
    diff.add_argument("old", nargs="?", default="previous", help="the earlier release (default: previous)")
    diff.add_argument("new", nargs="?", default="latest", help="the later release (default: latest)")
    diff.add_argument("--store", type=Path, default=None, help=_STORE_HELP)
    diff.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                      help=f"smallest relative change of a P50 or P10-P90 width shown "
                           f"(default {DEFAULT_THRESHOLD})")  # fmt: skip
    diff.add_argument("--csv", type=Path, default=None, help="also write the changes, one row per site and change")


def run(args: argparse.Namespace) -> int | None:
    """Run a command added by :func:`add_commands`; None if ``args`` is another command's."""
    if args.command not in ("releases", "diff"):
        return None
    store = open_store(args.store)
    if store is None:
        return 1
    try:
        if args.command == "diff":
            return diff_command(store, args.old, args.new, args.threshold, args.csv)
        if args.releases_command == "verify":
            return verify_command(store)
        if args.releases_command == "restore":
            written = store.restore(args.release, args.to)
            print(f"Restored {len(written)} stored files of release {store.get(args.release)['release_id']} into "
                  f"{args.to} (the other exports are recorded by SHA-256 only)")  # fmt: skip
            return 0
        if args.releases_command == "show":
            print(json.dumps(store.get(args.release), indent=2, sort_keys=True))
            return 0
        return list_command(store)
    except ValueError as error:  # ReleaseStoreError, or a threshold that is not a positive share
        print(f"error: {error}", file=sys.stderr)
        return 1


def open_store(path: Path | None) -> ReleaseStore | None:
    """The store at ``path``, else the default in the Dagster instance folder; None (and a hint) without one."""
    if path is None:
        if not os.environ.get("DAGSTER_HOME"):
            print("No release store: runs without DAGSTER_HOME record their releases in a temporary Dagster "
                  "instance. Set DAGSTER_HOME (the Makefile does) or pass --store.", file=sys.stderr)  # fmt: skip
            return None
        import dagster as dg

        from residua.assets.resources import ReleaseHistory

        path = ReleaseHistory().root(dg.DagsterInstance.get())
    return ReleaseStore(path)


def list_command(store: ReleaseStore) -> int:
    """Print every kept release: id, time, run, output folder, files (stored), and the chain's head."""
    manifests = store.manifests()
    if not manifests:
        print(f"No releases in {store.root} yet: a run that publishes records one.")
        return 1
    print(f"Releases in {store.root} (oldest first; manifests/<id>.json):")
    for manifest in manifests:
        files = manifest.get("files", {})
        stored = sum(1 for entry in files.values() if entry.get("stored"))
        print(f"  {manifest['release_id']}  {manifest.get('created_utc', '?')}  run {str(manifest.get('run_id'))[:8]}"
              f"  {len(files)} files ({stored} stored)  {len(manifest.get('inputs', {}))} inputs"
              f"  {manifest.get('out_dir', '?')}")  # fmt: skip
    head = store.head() or {}
    print(f"Head: {head.get('release_id', '?')} manifest sha256 {head.get('manifest_sha256', '?')}")
    return 0


def verify_command(store: ReleaseStore) -> int:
    """Print what was verified, or every mismatch (the first one first); 1 on a mismatch."""
    result = store.verify()
    if not result.releases and result.ok:
        print(f"No releases in {store.root} yet: nothing to verify.")
        return 0
    span = f"{result.releases[0]}..{result.releases[-1]}" if result.releases else "none"
    anchor = f"; the chain starts at {result.releases[0]}, whose predecessor {result.anchor}" if result.anchor else ""
    if result.ok:
        print(f"OK: {len(result.releases)} releases ({span}), hash chain intact, {result.files} stored files match "
              f"their manifests{anchor}.")  # fmt: skip
        return 0
    print(f"FAILED: {len(result.problems)} mismatch(es) in {store.root} ({span}); the first:")
    for problem in result.problems:
        print(f"  {problem}")
    return 1


def diff_command(store: ReleaseStore, old: str, new: str, threshold: float, csv: Path | None) -> int:
    """Print the release-wide changes and each site's changes with their causes."""
    before, after = load_view(store, old), load_view(store, new)
    changes = diff_releases(before, after, threshold)
    ids = (before.manifest["release_id"], after.manifest["release_id"])
    print(f"Release {ids[1]} ({after.manifest.get('created_utc')}) against {ids[0]} "
          f"({before.manifest.get('created_utc')}), changes beyond {threshold:.0%}:")  # fmt: skip
    wide = release_changes(before.manifest, after.manifest)
    print("Release-wide: " + ("none" if not wide else ""))
    for line in wide:
        print(f"  {line}")
    summary = diff_summary(changes)
    print(f"Sites: {summary['sites_changed']} changed ({summary['sites_through_others']} only through other sites)")
    print(format_changes(changes))
    if csv is not None:
        changes.assign(old_release=ids[0], new_release=ids[1]).to_csv(csv, index=False)
        print(f"Wrote {csv}")
    return 0


def release_status_lines(out_dir: Path) -> list[str]:
    """Lines for ``residua status``: the last releases of ``out_dir`` and the size of the last change."""
    if not os.environ.get("DAGSTER_HOME"):
        return ["Releases: set DAGSTER_HOME (the Makefile does) to list them, or `residua releases list --store DIR`."]
    store = open_store(None)
    if store is None:  # pragma: no cover - DAGSTER_HOME is set
        return []
    try:
        wanted = str(out_dir.resolve())
        mine = [manifest for manifest in store.manifests() if manifest.get("out_dir") == wanted]
    except ReleaseStoreError as error:
        return [f"Releases: {error}"]
    if not mine:
        return [f"Releases: none recorded for {wanted} in {store.root}."]
    lines = [f"Last releases ({len(mine)} kept for this folder in {store.root}):"]
    for manifest in mine[-STATUS_RELEASES:][::-1]:
        lines.append(f"  {manifest['release_id']}  {manifest.get('created_utc', '?')}  run {manifest.get('run_id')}")
    if len(mine) >= 2:
        try:
            changes = diff_releases(load_view(store, mine[-2]["release_id"]), load_view(store, mine[-1]["release_id"]))
            summary = diff_summary(changes)
            kinds = ", ".join(f"{count} {kind}" for kind, count in summary["by_change"].items()) or "no change"
            lines.append(f"  last change ({mine[-2]['release_id']} -> {mine[-1]['release_id']}): "
                         f"{summary['sites_changed']} sites ({kinds}); `residua diff` says why")  # fmt: skip
        except (OSError, ReleaseStoreError) as error:
            lines.append(f"  last change: not compared ({error})")
    return lines
