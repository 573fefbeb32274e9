"""Assay cells as laboratories write them, and their conversion to g/t."""

from __future__ import annotations

import math

import numpy.testing as npt
import pandas as pd
import pytest

from residua.geodata.assays import (
    AssayParseError,
    AssayValue,
    assay_columns,
    negative_limit_cells,
    negative_limit_note,
    normalise_row_assays,
    parse_assay,
)


@pytest.mark.parametrize(
    "cell, expected",
    [
        (12.5, AssayValue(12.5, False)),  # a float cell
        (3, AssayValue(3.0, False)),  # an int cell
        ("7.25", AssayValue(7.25, False)),  # a number written as text
        ("<0.5", AssayValue(0.5, True)),  # below detection: the detection limit is kept
        (" < 2 ", AssayValue(2.0, True)),  # spaces around and after '<'
        ("<1e-3", AssayValue(0.001, True)),  # a detection limit in scientific notation
        ("1,234", AssayValue(1234.0, False)),  # thousands separator
        ("1,234.5", AssayValue(1234.5, False)),  # thousands separator and decimals
        ("2e3", AssayValue(2000.0, False)),  # scientific notation
    ],
)
def test_parse_assay_reads_numbers_and_detection_limits(cell, expected):
    assert parse_assay(cell) == expected


@pytest.mark.parametrize(
    "cell",
    [
        "",  # blank: not assayed
        "   ",  # whitespace only
        "NaN",  # pandas' spelling of missing
        "n/a",  # a common 'not assayed'
        None,
        float("nan"),
        pd.NA,
    ],
)
def test_parse_assay_blank_is_none(cell):
    assert parse_assay(cell) is None


@pytest.mark.parametrize(
    "cell, fragment",
    [
        ("n.a.", "not a number"),  # text that is not a known blank
        ("0", "zero"),  # zero must be written '<DL'
        ("-999", "'not analysed' code"),  # a drillhole export's code, not a detection limit
        (-9999.0, "'not analysed' code"),
        ("-99", "'not analysed' code"),
        (0, "zero"),
        ("<0", "zero"),  # a zero detection limit is no limit
        ("inf", "'inf'"),  # infinity, named in the message
        (float("inf"), "not finite"),
        ("1e400", "not finite"),  # overflows to infinity
        ("12 ppm", "not a number"),  # a unit inside the cell
        ("1.2.3", "not a number"),
    ],
)
def test_parse_assay_rejects(cell, fragment):
    with pytest.raises(AssayParseError, match="assay") as caught:
        parse_assay(cell)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "cell",
    [
        "1,5",  # decimal comma (European/Indian lab sheets): 1.5, not 15
        "0,25",  # would become 25, a 100x error
        "12,34",  # not a thousands grouping (needs three digits after the comma)
    ],
)
def test_parse_assay_rejects_ambiguous_commas(cell):
    with pytest.raises(AssayParseError):
        parse_assay(cell)


def _normalise(cells: dict[str, object]) -> tuple[dict[str, float], list[str]]:
    row = pd.Series(cells, dtype=object)
    return normalise_row_assays(row, assay_columns(list(row.index)))


def test_assay_columns_groups_by_element_with_factor_to_gt():
    found = assay_columns(["sample_id", "ga_ppm", "ga_ppb", "Te_PCT", "pt_g/t", "depth_to_m"])
    assert found == {"ga": [("ga_ppm", 1.0), ("ga_ppb", 1e-3)], "te": [("Te_PCT", 1e4)], "pt": [("pt_g/t", 1.0)]}


@pytest.mark.parametrize(
    "column, cell, expected_gt",
    [
        ("ga_ppb", "2500", 2.5),  # ppb / 1000
        ("ga_ppm", "2.5", 2.5),  # ppm = g/t
        ("ga_pct", "0.0001", 1.0),  # % * 10 000
        ("ga_%", "0.0002", 2.0),  # '%' spelled as a symbol
        ("ga_g/t", "4", 4.0),
        ("ga_gt", "4", 4.0),
        ("ga_gpt", "4", 4.0),
        ("Ga (\u00b5g/kg)", "4000", 4.0),  # micro sign, as labs print it
        ("Ga ppm (ICP-MS)", "4", 4.0),  # bracketed method after the unit
        ("Ga ppb FA/ICP", "4000", 4.0),  # method with a slash
        ("Ga ug/g", "4", 4.0),
    ],
)
def test_normalise_converts_each_unit_to_gt(column, cell, expected_gt):
    values, problems = _normalise({column: cell})
    assert problems == []
    npt.assert_allclose(values["ga_gt"], expected_gt)
    assert values["ga_bdl"] is False


def test_normalise_keeps_detection_limit_in_gt_and_flags_it():
    values, problems = _normalise({"pt_ppb": "<2", "te_ppm": "0.3"})
    assert problems == []
    npt.assert_allclose(values["pt_gt"], 0.002)
    assert values["pt_bdl"] is True
    assert values["te_bdl"] is False


def test_normalise_element_without_value_is_nan_and_not_bdl():
    values, problems = _normalise({"ga_ppm": "5"})
    assert problems == []
    assert math.isnan(values["rh_gt"]) and values["rh_bdl"] is False
    assert set(values) == {f"{e}_{s}" for e in ("ga", "te", "pt", "pd", "rh") for s in ("gt", "bdl")}


@pytest.mark.parametrize(
    "ppm, ppb, expected_gt, expected_bdl",
    [
        ("12", "", 12.0, False),  # only the ppm column filled in this row
        ("", "12000", 12.0, False),  # only the ppb column filled in this row
        ("", "<50", 0.05, True),  # ppb below detection
        ("12", "12050", 12.0, False),  # both filled, agreeing within 1 %
    ],
)
def test_normalise_ppm_and_ppb_columns_side_by_side(ppm, ppb, expected_gt, expected_bdl):
    values, problems = _normalise({"ga_ppm": ppm, "ga_ppb": ppb})
    assert problems == []
    npt.assert_allclose(values["ga_gt"], expected_gt)
    assert values["ga_bdl"] is expected_bdl


def test_normalise_flags_disagreeing_duplicates():
    values, problems = _normalise({"ga_ppm": "12", "ga_ppb": "15000"})
    assert len(problems) == 1
    assert "ga_ppm and ga_ppb disagree" in problems[0]
    assert "12" in problems[0] and "15" in problems[0]


def test_normalise_reports_bad_cell_with_its_column():
    values, problems = _normalise({"ga_ppm": "n.a.", "te_ppm": "0"})
    assert len(problems) == 2
    assert problems[0].startswith("ga_ppm:") and "not a number" in problems[0]
    assert problems[1].startswith("te_ppm:") and "zero" in problems[1]


@pytest.mark.parametrize("cell", ["-0.05", -0.05, " -0.05 "])
def test_a_negative_assay_is_below_detection_at_its_absolute_value(cell):
    assert parse_assay(cell) == AssayValue(0.05, below_detection=True)
    values, problems = _normalise({"ga_ppm": "12", "rh_ppb": cell})
    assert problems == [] and values["ga_gt"] == 12.0 and values["ga_bdl"] is False  # the row's Ga is kept
    assert values["rh_gt"] == pytest.approx(0.05e-3) and values["rh_bdl"] is True


def test_negative_assays_are_counted_per_column_for_the_note():
    table = pd.DataFrame({"sample_id": ["a", "b", "c"], "te_ppm": ["-0.05", "1.2", "-0.05"], "rh_ppb": [-2.0, 3, None],
                          "ga_ppm": ["<5", "12", "30"]})  # fmt: skip
    assert negative_limit_cells(table) == {"te_ppm": 2, "rh_ppb": 1}
    note = negative_limit_note(table, "samples.csv")
    assert note.startswith("samples.csv: negative assays read as below detection") and "te_ppm (2), rh_ppb (1)" in note
    assert negative_limit_note(table.drop(columns=["te_ppm", "rh_ppb"]), "samples.csv") is None


@pytest.mark.parametrize("column, cell", [("ga_ppm", "2000000"), ("te_pct", "150"), ("pt_ppb", "2e12")])
def test_assays_above_the_whole_sample_are_refused_with_the_unit_hint(column, cell):
    values, problems = _normalise({column: cell, "pd_ppm": "3.0"})
    (problem,) = problems
    assert column in problem and "100 %" in problem and "unit" in problem
    element = column.split("_")[0]
    assert values[f"{element}_gt"] != values[f"{element}_gt"] and values["pd_gt"] == 3.0
    # 100 % exactly is physically possible and stays
    assert _normalise({"ga_pct": "100"})[1] == []
