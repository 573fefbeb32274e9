"""Parsing numbers as people type them into spreadsheets, without guessing."""

from __future__ import annotations

import math
import re

_PLAIN = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")


def parse_decimal(text: str) -> float | None:
    """A number written with a decimal point, optionally with comma thousands separators.

    Returns None for anything else, including a decimal comma (``"1,5"``), which would
    otherwise be misread as 15, and numbers too large to be finite.

    >>> parse_decimal("1,234.5"), parse_decimal("2e3"), parse_decimal("1,5")
    (1234.5, 2000.0, None)
    """
    text = text.strip()
    if _PLAIN.fullmatch(text):
        value = float(text)
    elif _THOUSANDS.fullmatch(text):
        value = float(text.replace(",", ""))
    else:
        return None
    return value if math.isfinite(value) else None  # "1e999" overflows to infinity


def is_decimal_text(text: str) -> bool:
    """True when ``text`` is written as :func:`parse_decimal` reads it, even if too large to be finite.

    >>> is_decimal_text("1e999"), is_decimal_text("1,5")
    (True, False)
    """
    text = text.strip()
    return bool(_PLAIN.fullmatch(text) or _THOUSANDS.fullmatch(text))
