"""Residue-type spellings and assay column names."""

from __future__ import annotations

import pytest

from residua.geodata.schema import RESIDUE_TYPES, canonical_residue_type, normalize_key, parse_assay_column


@pytest.mark.parametrize(
    "written, code",
    [
        ("Red mud", "bauxite_residue"),
        ("RED-MUD", "bauxite_residue"),  # upper case and a hyphen
        ("  red_mud ", "bauxite_residue"),  # underscore and padding
        ("jarosite", "zinc_leach_residue"),
        ("Fly Ash", "coal_fly_ash"),
        ("pond ash", "coal_fly_ash"),
        ("anode slime", "copper_anode_slime"),
        ("Copper flotation tailings", "copper_flotation_tailings"),
        ("chromite_pgm_tailings", "chromite_pgm_tailings"),  # the canonical code itself
        ("Other", "other"),
    ],
)
def test_canonical_residue_type_aliases(written, code):
    assert canonical_residue_type(written) == code


@pytest.mark.parametrize(
    "written",
    [
        "granite",  # not a residue type
        "",  # blank
        None,
        float("nan"),  # a blank cell read by pandas
        "red",  # a fragment of an alias
    ],
)
def test_canonical_residue_type_unknown_is_none(written):
    assert canonical_residue_type(written) is None


def test_every_canonical_code_maps_to_itself():
    assert {code: canonical_residue_type(code) for code in RESIDUE_TYPES} == {code: code for code in RESIDUE_TYPES}


@pytest.mark.parametrize(
    "column, expected",
    [
        ("ga_ppm", ("ga", "ppm")),
        ("Ga_PPM", ("ga", "ppm")),  # case-insensitive, returned lower-case
        (" te_ppb ", ("te", "ppb")),  # padding
        ("pt_g/t", ("pt", "g/t")),
        ("pd_pct", ("pd", "pct")),
        ("rh_%", ("rh", "%")),
        ("ga_gpt", ("ga", "gpt")),
        ("au_ppm", None),  # not an element Residua estimates
        ("ga_mg", None),  # unknown unit
        ("ga", None),  # no unit
        ("depth_to_m", None),
        ("xga_ppm", None),  # anchored at the start
    ],
)
def test_parse_assay_column(column, expected):
    assert parse_assay_column(column) == expected


def test_normalize_key_folds_punctuation():
    assert normalize_key("  Copper--Anode_Slime!! ") == "copper anode slime"
