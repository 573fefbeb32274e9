"""Reviewers' decisions per site: an append-only CSV that the next ranking honours.

``reviews.csv`` lives in the data directory. Each row is one decision: ``site_id``,
``decision`` (accept / exclude / needs-data / accept-tonnage), ``note``, ``reviewer``, ``timestamp``
(ISO 8601, UTC). Nothing is ever rewritten: the latest row per site is the decision in
force, and the whole history is kept. Appends take an exclusive lock on the file, so two
reviewers deciding at once lose nothing.
"""

from __future__ import annotations

import csv
import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from residua.geodata.vocabulary import DECISIONS

REVIEWS_FILE = "reviews.csv"
REVIEW_COLUMNS: tuple[str, ...] = ("site_id", "decision", "note", "reviewer", "timestamp")


class ReviewError(ValueError):
    """A decision that cannot be recorded as given."""


def append_review(path: Path, site_id: str, decision: str, note: str, reviewer: str) -> dict[str, str]:
    """Append one decision under an exclusive file lock; return the row written.

    Raises
    ------
    ReviewError
        If the decision is unknown or the site or reviewer is empty.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "reviews.csv"
    >>> append_review(path, "RM-001", "exclude", "pond capped in 2019", "A. Rao")["decision"]
    'exclude'
    """
    decision = decision.strip().lower()
    if decision not in DECISIONS:
        raise ReviewError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
    if not site_id.strip() or not reviewer.strip():
        raise ReviewError("site_id and reviewer must not be empty")
    row = {
        "site_id": site_id.strip(),
        "decision": decision,
        "note": note.strip(),
        "reviewer": reviewer.strip(),
        "timestamp": datetime.now(UTC).isoformat(timespec="microseconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0, os.SEEK_END)
            writer = csv.DictWriter(handle, fieldnames=REVIEW_COLUMNS)
            if handle.tell() == 0:
                writer.writeheader()
            writer.writerow(row)
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return row


def read_reviews(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All valid decisions (oldest first) and the rows that are not, with a ``reason``.

    A missing or empty file means no decisions. Rows with an unknown decision, an empty
    site or reviewer, or an unreadable timestamp are quarantined, never silently used.

    Raises
    ------
    ReviewError
        If the file is not UTF-8 CSV or lacks a column.
    """
    no_decisions = (
        pd.DataFrame(columns=list(REVIEW_COLUMNS)),
        pd.DataFrame(columns=[*REVIEW_COLUMNS, "source_row", "reason"]),
    )
    if not path.is_file():
        return no_decisions
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False)
    except pd.errors.EmptyDataError:
        return no_decisions
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ReviewError(
            f"{path}: cannot be read as UTF-8 CSV ({error}); save it as UTF-8 comma-separated text"
        ) from error
    missing = [column for column in REVIEW_COLUMNS if column not in table.columns]
    if missing:
        raise ReviewError(
            f"{path}: missing column(s) {', '.join(missing)}; the header must be {','.join(REVIEW_COLUMNS)}"
        )
    table["source_row"] = range(2, len(table) + 2)
    table["decision"] = table["decision"].str.strip().str.lower()
    parsed = pd.to_datetime(table["timestamp"], utc=True, errors="coerce", format="ISO8601")
    reasons = pd.Series("", index=table.index)
    reasons[~table["decision"].isin(DECISIONS)] = f"decision is not one of {', '.join(DECISIONS)}"
    reasons[table["site_id"].str.strip() == ""] = "site_id is empty"
    reasons[table["reviewer"].str.strip() == ""] = "reviewer is empty"
    reasons[parsed.isna()] = "timestamp is not ISO 8601 (e.g. 2026-11-25T12:00:00+00:00)"
    bad = reasons != ""
    accepted = table.loc[~bad, list(REVIEW_COLUMNS)].assign(timestamp=parsed[~bad])
    accepted = accepted.sort_values("timestamp", kind="mergesort").reset_index(drop=True)
    return accepted, table.loc[bad].assign(reason=reasons[bad]).reset_index(drop=True)


def latest_decisions(reviews: pd.DataFrame) -> pd.DataFrame:
    """The decision in force per site (its latest row), indexed by site_id."""
    return reviews.groupby("site_id").tail(1).set_index("site_id")
