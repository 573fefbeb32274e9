"""Markdown tables shared by the benchmark scripts' results pages (messy_drops.py, sampling_plan_benchmark.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table_section(
    heading: str, intro: str, columns: Sequence[str], rows: Iterable[Sequence[object]], align: str = ""
) -> list[str]:
    """The lines of a results-page section: ``## heading``, a blank line, ``intro``, a blank line, then a table.

    ``columns`` are the header cells and each of ``rows`` one row's cells, written with ``str`` as they are (no
    escaping: a cell that may hold a ``|`` is escaped by the caller). ``align`` has one letter per column, ``l``
    (``---``) or ``r`` (``---:``); missing letters are ``l``.
    """
    rule = "".join("---:|" if align[i : i + 1] == "r" else "---|" for i in range(len(columns)))
    lines = [f"## {heading}", "", intro, "", "| " + " | ".join(columns) + " |", "|" + rule]
    lines += ["| " + " | ".join(map(str, cells)) + " |" for cells in rows]
    return lines
