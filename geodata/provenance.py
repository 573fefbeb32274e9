"""Which code produced an output: package version and, in a git checkout, the commit."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def code_version() -> str:
    """``residua <version>``, plus ``git <commit>[+dirty]`` when run from a checkout."""
    try:
        text = f"residua {version('residua')}"
    except PackageNotFoundError:
        text = "residua (not installed)"
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return f"{text}, git {commit}" if commit else text
