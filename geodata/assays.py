"""Assay values as laboratories report them: numbers, units, and below-detection strings."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from residua.geodata.numbers import parse_decimal
from residua.geodata.schema import ELEMENTS, UNIT_TO_GT, parse_assay_column

_BELOW_DETECTION = re.compile(r"^<\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)$")
#: |value| of negative "not analysed" codes in drillhole exports (-99, -999, -9999, ...), refused, not read as a limit.
_NOT_ANALYSED = re.compile(r"9{2,}")
_MISSING_STRINGS = {"", "nan", "na", "n/a", "-", "not assayed", "none", "null"}


@dataclass(frozen=True)
class AssayValue:
    """One parsed assay: the value in the column's unit, and whether it is below detection.

    For a below-detection value (``"<0.5"``) ``value`` is the detection limit itself;
    the substitution used for modelling is decided later and recorded separately.
    """

    value: float
    below_detection: bool


class AssayParseError(ValueError):
    """An assay cell that is neither a number, a below-detection string nor blank."""


def parse_assay(cell: object) -> AssayValue | None:
    """Parse one assay cell; return None for a blank (not assayed) cell.

    A negative number is below detection at its absolute value (``-0.05`` is ``<0.05``), the
    convention of survey databases such as the USGS National Geochemical Database (Smith 2006,
    USGS Open-File Report 97-492: "a value of -2 was recorded" for below 2 ppm); see
    :func:`negative_limit_cells` to say so to the user. Raises AssayParseError for text that
    is not a number, for zero, for negative "not analysed" codes (-99, -999, -9999) and for
    infinities: such a row is quarantined by the caller.

    >>> parse_assay("<0.5")
    AssayValue(value=0.5, below_detection=True)
    >>> parse_assay("-0.05")
    AssayValue(value=0.05, below_detection=True)
    >>> parse_assay(12.0)
    AssayValue(value=12.0, below_detection=False)
    >>> parse_assay("") is None
    True
    """
    if cell is None or cell is pd.NA:
        return None
    if isinstance(cell, (int, float, np.integer, np.floating)) and not isinstance(cell, bool):
        number = float(cell)
        if math.isnan(number):
            return None
        return _checked(number, cell, below_detection=False)
    text = str(cell).strip()
    if text.lower() in _MISSING_STRINGS:
        return None
    match = _BELOW_DETECTION.match(text)
    if match:
        return _checked(float(match.group(1)), cell, below_detection=True)
    number = parse_decimal(text)
    if number is None and re.fullmatch(r"[-+]?[0-9.]+[eE][-+]?[0-9]+", text):
        raise AssayParseError(f"assay {cell!r} is not finite (too large)")
    if number is None:
        hint = " (a decimal comma? write 1.5, not 1,5)" if re.fullmatch(r"[-+]?\d+,\d+", text) else ""
        raise AssayParseError(
            f"assay {cell!r} is not a number{hint}; use a number, '<DL' for below detection, or leave blank"
        )
    return _checked(number, cell, below_detection=False)


#: 100 % of the sample in g/t: no assay of anything can exceed it.
WHOLE_SAMPLE_GT = 1_000_000.0


def _checked(number: float, cell: object, below_detection: bool) -> AssayValue:
    if not math.isfinite(number):
        raise AssayParseError(f"assay {cell!r} is not finite")
    if number < 0 and _NOT_ANALYSED.fullmatch(f"{-number:g}"):
        raise AssayParseError(
            f"assay {cell!r} looks like a 'not analysed' code; leave the cell blank when not assayed, "
            "or write '<DL' for below detection"
        )
    if number < 0:  # the survey databases' way of writing '<DL' (see parse_assay)
        return AssayValue(-number, below_detection=True)
    if number == 0:
        raise AssayParseError(
            f"assay {cell!r} is zero; report a value below detection as '<DL' (e.g. '<0.5'), "
            "so it is not taken as absent"
        )
    return AssayValue(number, below_detection)


def negative_limit_cells(table: pd.DataFrame) -> dict[str, int]:
    """Assay cells written as negative numbers, per column: each is read as below detection at its absolute value.

    >>> negative_limit_cells(pd.DataFrame({"te_ppm": ["-0.05", "3.1", "-999"], "ga_ppm": [12.0, -2.0, None]}))
    {'te_ppm': 1, 'ga_ppm': 1}
    """
    counts: dict[str, int] = {}
    for columns in assay_columns(list(table.columns)).values():
        for column, _ in columns:
            negative = int(table[column].map(_is_negative_number).sum())
            if negative:
                counts[column] = negative
    return counts


def _is_negative_number(cell: object) -> bool:
    """Whether ``cell`` is read as a negative detection limit (not a 'not analysed' code such as -999)."""
    if isinstance(cell, (int, float, np.integer, np.floating)) and not isinstance(cell, bool):
        number: float | None = float(cell)
    else:
        number = parse_decimal(str(cell).strip()) if isinstance(cell, str) else None
    return number is not None and number < 0 and not _NOT_ANALYSED.fullmatch(f"{-number:g}")


def negative_limit_note(table: pd.DataFrame, file_name: str) -> str | None:
    """The run's note on negative assays read as below detection (None when there are none)."""
    counts = negative_limit_cells(table)
    if not counts:
        return None
    columns = ", ".join(f"{column} ({count:,})" for column, count in counts.items())
    return (f"{file_name}: negative assays read as below detection at their absolute value ('-0.05' as '<0.05'), "
            f"in {columns}; write '<0.05' to say so, or fix the sign if a value was detected")  # fmt: skip


def assay_columns(columns: list[str]) -> dict[str, list[tuple[str, float]]]:
    """Group assay columns by element: ``{"ga": [("ga_ppm", 1.0)], ...}`` (factor to g/t)."""
    found: dict[str, list[tuple[str, float]]] = {}
    for column in columns:
        parsed = parse_assay_column(column)
        if parsed:
            element, unit = parsed
            found.setdefault(element, []).append((column, UNIT_TO_GT[unit]))
    return found


def normalise_row_assays(
    row: Mapping[str, object], columns_by_element: dict[str, list[tuple[str, float]]]
) -> tuple[dict[str, float], list[str]]:
    """Convert one row's assays to g/t columns, returning (values, problems).

    Output keys per element ``e``: ``e_gt`` (value, or the detection limit when below
    detection), ``e_bdl`` (bool). Two unit columns for one element may both be filled
    only if they agree within 1 %.
    """
    values: dict[str, float] = {}
    problems: list[str] = []
    for element in ELEMENTS:
        readings: list[tuple[str, float, bool]] = []
        for column, factor in columns_by_element.get(element, []):
            try:
                parsed = parse_assay(row[column])
            except AssayParseError as error:
                problems.append(f"{column}: {error}")
                continue
            if parsed is not None:
                if not math.isfinite(parsed.value * factor):
                    problems.append(f"{column}: assay {row[column]!r} is too large once converted to g/t")
                    continue
                readings.append((column, parsed.value * factor, parsed.below_detection))
        for column, value, _ in readings:
            if value > WHOLE_SAMPLE_GT:
                problems.append(
                    f"{column}: {row[column]!r} is {value:,.0f} g/t, above 100 % of the sample "
                    f"({WHOLE_SAMPLE_GT:,.0f} g/t); check the unit (ppb written in a _ppm column?) and fix the value"
                )
        readings = [reading for reading in readings if reading[1] <= WHOLE_SAMPLE_GT]
        if not readings:
            values[f"{element}_gt"] = float("nan")
            values[f"{element}_bdl"] = False
            continue
        first_value = readings[0][1]
        for column, value, _ in readings[1:]:
            if not math.isclose(value, first_value, rel_tol=0.01):
                problems.append(
                    f"{readings[0][0]} and {column} disagree ({first_value:g} vs {value:g} g/t); keep one of them"
                )
        values[f"{element}_gt"] = first_value
        values[f"{element}_bdl"] = readings[0][2]
    return values, problems
