"""Reference tables (density, thickness, recovery, prices, grade priors, cut-offs, assay ceilings).

Bundled defaults live in ``geodata/reference/``, every row citing its source. A data drop
may override any table by placing a file of the same name in its ``reference/`` folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from residua.geodata.datadrop import sha256_file
from residua.geodata.errors import ReferenceTableError
from residua.geodata.schema import ELEMENTS, RESIDUE_TYPES, canonical_residue_type

BUNDLED_DIR = Path(__file__).parent / "reference"

#: table name -> (required columns, ordered range columns)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "density": (
        ("residue_type", "density_low_t_m3", "density_mode_t_m3", "density_high_t_m3", "source"),
        ("density_low_t_m3", "density_mode_t_m3", "density_high_t_m3"),
    ),
    "thickness_priors": (
        ("residue_type", "thickness_low_m", "thickness_mode_m", "thickness_high_m", "source"),
        ("thickness_low_m", "thickness_mode_m", "thickness_high_m"),
    ),
    "recovery": (
        ("residue_type", "element", "process_route", "recovery_low", "recovery_mode", "recovery_high", "source"),
        ("recovery_low", "recovery_mode", "recovery_high"),
    ),
    "prices": (
        ("element", "price_low_usd_per_kg", "price_mid_usd_per_kg", "price_high_usd_per_kg", "source"),
        ("price_low_usd_per_kg", "price_mid_usd_per_kg", "price_high_usd_per_kg"),
    ),
    "grade_priors": (
        ("residue_type", "element", "grade_p10_gt", "grade_p50_gt", "grade_p90_gt", "source"),
        ("grade_p10_gt", "grade_p50_gt", "grade_p90_gt"),
    ),
    "cutoff_grades": (("element", "cutoff_gt", "source"), ("cutoff_gt",)),
    "assay_ceilings": (("residue_type", "element", "ceiling_ppm", "source"), ("ceiling_ppm",)),
}
#: Tables that may leave residue type x element combinations out (no row: no such check).
PARTIAL_TABLES: frozenset[str] = frozenset({"assay_ceilings"})
#: Columns that must lie in (0, upper] (an assay ceiling above 100 % of the sample means nothing).
BOUNDED_COLUMNS: dict[str, tuple[str, float]] = {"assay_ceilings": ("ceiling_ppm", 1_000_000.0)}


@dataclass(frozen=True)
class ReferenceTables:
    """The loaded tables, indexed by residue type and/or element, and where each came from."""

    density: pd.DataFrame
    thickness_priors: pd.DataFrame
    recovery: pd.DataFrame
    prices: pd.DataFrame
    grade_priors: pd.DataFrame
    cutoff_grades: pd.DataFrame
    assay_ceilings: pd.DataFrame
    origins: dict[str, str]


def load_reference_tables(data_root: Path | None = None) -> ReferenceTables:
    """Load every table, preferring ``data_root/reference/<name>.csv`` over the bundled one.

    Raises
    ------
    ReferenceTableError
        If a table lacks a column, has a non-numeric or misordered range, an uncited row,
        an unknown residue type or element, or misses a residue type / element it must cover.
    """
    tables: dict[str, pd.DataFrame] = {}
    origins: dict[str, str] = {}
    for name in TABLES:
        tables[name], origins[name] = load_reference_table(name, data_root)
    return ReferenceTables(**tables, origins=origins)


def load_reference_table(name: str, data_root: Path | None = None) -> tuple[pd.DataFrame, str]:
    """One table, ``data_root/reference/<name>.csv`` if present else the bundled one, and its origin.

    The origin reads e.g. ``bundled: assay_ceilings.csv sha256=1a2b3c4d5e6f``.

    Raises
    ------
    KeyError
        If ``name`` is not one of ``TABLES``.
    ReferenceTableError
        As :func:`load_reference_tables`.

    >>> table, origin = load_reference_table("cutoff_grades")
    >>> origin.startswith("bundled: cutoff_grades.csv"), sorted(table["element"])[:2]
    (True, ['ga', 'pd'])
    """
    if name not in TABLES:
        raise KeyError(f"unknown reference table {name!r}; known: {', '.join(TABLES)}")
    override = data_root / "reference" / f"{name}.csv" if data_root is not None else None
    path = override if override is not None and override.is_file() else BUNDLED_DIR / f"{name}.csv"
    origin = f"{'data drop' if path == override else 'bundled'}: {path.name} sha256={sha256_file(path)[:12]}"
    return _read_table(path, name), origin


def _read_table(path: Path, name: str) -> pd.DataFrame:
    required, ranges = TABLES[name]
    try:
        table = pd.read_csv(path, dtype={"residue_type": str, "element": str, "source": str}, skip_blank_lines=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ReferenceTableError(path, f"cannot be read ({error})", "save it as comma-separated UTF-8") from error
    except UnicodeDecodeError as error:
        raise ReferenceTableError(
            path, f"is not UTF-8 text (byte {error.start}: {error.reason})", "save it as UTF-8 (Excel: CSV UTF-8)"
        ) from error
    table.columns = [column.strip().lower() for column in table.columns]
    table.index = table.index + 2  # line numbers in the file (header = line 1)
    table = table.dropna(how="all")
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise ReferenceTableError(
            path, f"missing column(s) {', '.join(missing)}", f"use the header {','.join(required)}"
        )
    for column in ranges:
        table[column] = pd.to_numeric(table[column], errors="coerce")
        if table[column].isna().any():
            row = _first_line(table[column].isna())
            raise ReferenceTableError(path, f"line {row}: {column} is not a number", "fill in a numeric value")
    for low, high in zip(ranges, ranges[1:]):
        bad = table[low] > table[high]
        if bad.any():
            row = _first_line(bad)
            raise ReferenceTableError(path, f"line {row}: {low} > {high}", f"order the range so {low} <= {high}")
    if name in BOUNDED_COLUMNS:
        column, upper = BOUNDED_COLUMNS[name]
        outside = (table[column] <= 0) | (table[column] > upper)
        if outside.any():
            row = _first_line(outside)
            raise ReferenceTableError(
                path, f"line {row}: {column} {table.loc[row, column]:g} is not in (0, {upper:,.0f}]",
                f"give a positive {column} of at most {upper:,.0f}",
            )  # fmt: skip
    uncited = table["source"].isna() | (table["source"].astype(str).str.strip() == "")
    if uncited.any():
        row = _first_line(uncited)
        raise ReferenceTableError(
            path, f"line {row}: no source", "cite where the figure comes from, or say 'assumption'"
        )
    if "residue_type" in table.columns:
        table["residue_type"] = _canonical_types(table["residue_type"], path)
    if "element" in table.columns:
        table["element"] = table["element"].fillna("").str.strip().str.lower()
        known = table["element"].isin(ELEMENTS)
        if not known.all():
            unknown = sorted(set(table.loc[~known, "element"]))  # '' stands for a blank cell
            line = _first_line(~known)
            raise ReferenceTableError(path, f"line {line}: unknown element(s) {unknown}", f"use {', '.join(ELEMENTS)}")
    _require_coverage(table, path, complete=name not in PARTIAL_TABLES)
    return table.reset_index(drop=True)


def _first_line(mask: pd.Series) -> int:
    """The file line number of the first row where ``mask`` is true."""
    return int(mask[mask].index[0])


def _canonical_types(values: pd.Series, path: Path) -> pd.Series:
    canonical = values.map(canonical_residue_type)
    if canonical.isna().any():
        line = _first_line(canonical.isna())
        raise ReferenceTableError(
            path, f"line {line}: unknown residue_type {values[line]!r}", f"use one of {', '.join(RESIDUE_TYPES)}"
        )
    return canonical


def _require_coverage(table: pd.DataFrame, path: Path, complete: bool = True) -> None:
    """One row per residue type and/or element: every combination if ``complete``, none twice."""
    expected = {"residue_type": tuple(RESIDUE_TYPES), "element": ELEMENTS}
    keys = [column for column in expected if column in table.columns]
    present = list(table[keys].itertuples(index=False, name=None))
    wanted = pd.MultiIndex.from_product([expected[key] for key in keys]).tolist()
    absent = [key for key in wanted if key not in set(present)]
    if absent and complete:
        raise ReferenceTableError(path, f"no row for {absent[0]} ({len(absent)} combinations missing)", "add the rows")
    duplicated = pd.Series(present).duplicated()
    if duplicated.any():
        raise ReferenceTableError(path, f"duplicate row for {present[int(duplicated.argmax())]}", "keep one row each")
