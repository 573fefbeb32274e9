"""Exceptions for whole-file problems in a data drop.

Row-level problems never raise: they go to the quarantine table with a reason. These
exceptions are for problems that make a whole file unusable, and their messages name the
file, the problem and the fix.
"""

from __future__ import annotations

from pathlib import Path


class DataDropError(ValueError):
    """A file in a data drop cannot be used as it is."""

    def __init__(self, path: Path | str, problem: str, fix: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.path}: {problem}. Fix: {fix}")


class MissingColumnError(DataDropError):
    """A required column is absent."""


class CRSError(DataDropError):
    """A layer or raster has no coordinate reference system, or an unusable one."""


class ReferenceTableError(DataDropError):
    """A reference table (density, recovery, prices, ...) is malformed."""
