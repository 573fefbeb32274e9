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

    Raises AssayParseError for text that is not a number, for negative values and for
    infinities: such a row is quarantined by the caller.

    >>> parse_assay("<0.5")
    AssayValue(value=0.5, below_detection=True)
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
    if number < 0:
        raise AssayParseError(f"assay {cell!r} is negative (grades cannot be below zero)")
    if number == 0:
        raise AssayParseError(
            f"assay {cell!r} is zero; report a value below detection as '<DL' (e.g. '<0.5'), "
            "so it is not taken as absent"
        )
    return AssayValue(number, below_detection)


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
