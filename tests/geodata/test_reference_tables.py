"""Reference tables: bundled defaults, per-drop overrides and errors that name file and line."""

from __future__ import annotations

import pytest

from residua.geodata.errors import ReferenceTableError
from residua.geodata.reference_tables import TABLES, load_reference_tables
from residua.geodata.schema import ELEMENTS, RESIDUE_TYPES

HEADER = "residue_type,density_low_t_m3,density_mode_t_m3,density_high_t_m3,source\n"
#: One valid density row per residue type; line n of the file is GOOD[n - 2].
GOOD = [f"{code},1.0,1.5,2.0,test figure\n" for code in RESIDUE_TYPES]


def write_density(tmp_path, rows: list[str]):
    (tmp_path / "reference").mkdir(exist_ok=True)
    path = tmp_path / "reference" / "density.csv"
    path.write_text(HEADER + "".join(rows))
    return path


def test_bundled_tables_load_and_cover_every_type_and_element():
    tables = load_reference_tables()
    assert sorted(tables.density["residue_type"]) == sorted(RESIDUE_TYPES)
    assert sorted(tables.prices["element"]) == sorted(ELEMENTS)
    assert sorted(tables.cutoff_grades["element"]) == sorted(ELEMENTS)
    assert len(tables.recovery) == len(tables.grade_priors) == len(RESIDUE_TYPES) * len(ELEMENTS)
    assert set(tables.origins) == set(TABLES)
    assert all(origin.startswith("bundled: ") for origin in tables.origins.values())
    assert (tables.density["density_low_t_m3"] <= tables.density["density_high_t_m3"]).all()


def test_no_data_root_and_a_root_without_overrides_agree(tmp_path):
    assert load_reference_tables(tmp_path).origins == load_reference_tables(None).origins


def test_override_in_data_drop_is_used(tmp_path):
    rows = [*GOOD[1:], "Red Mud,0.5,0.6,0.7,our lab\n"]  # an alias spelling, in another order
    write_density(tmp_path, rows)
    tables = load_reference_tables(tmp_path)
    density = tables.density.set_index("residue_type")
    assert density.loc["bauxite_residue", "density_mode_t_m3"] == 0.6
    assert density.loc["coal_fly_ash", "density_mode_t_m3"] == 1.5
    assert tables.origins["density"].startswith("data drop: density.csv")
    assert tables.origins["prices"].startswith("bundled: ")  # other tables keep their defaults


@pytest.mark.parametrize(
    "rows, fragment",
    [
        (GOOD[:2] + ["copper_flotation_tailings,2.5,1.5,2.0,x\n"] + GOOD[3:], "line 4: density_low_t_m3 >"),
        (GOOD[:2] + ["copper_flotation_tailings,1.0,2.5,2.0,x\n"] + GOOD[3:], "line 4: density_mode_t_m3 >"),
        (GOOD[:3] + ["copper_smelter_slag,1.0,1.5,2.0,\n"] + GOOD[4:], "line 5: no source"),
        (GOOD[:3] + ["copper_smelter_slag,1.0,1.5,2.0,  \n"] + GOOD[4:], "line 5: no source"),  # blanks only
        (GOOD[:1] + ["zinc_leach_residue,heavy,1.5,2.0,x\n"] + GOOD[2:], "line 3: density_low_t_m3 is not a number"),
        (GOOD + ["granite,1.0,1.5,2.0,x\n"], "unknown residue_type 'granite'"),
        (GOOD[:4] + GOOD[5:], "no row for ('copper_anode_slime',)"),  # a residue type missing
        (GOOD + ["red mud,1.0,1.5,2.0,x\n"], "duplicate row for ('bauxite_residue',)"),
    ],
)
def test_malformed_override_raises_naming_file(tmp_path, rows, fragment):
    path = write_density(tmp_path, rows)
    with pytest.raises(ReferenceTableError) as caught:
        load_reference_tables(tmp_path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)


def test_override_missing_a_column(tmp_path):
    path = tmp_path / "reference" / "density.csv"
    path.parent.mkdir()
    path.write_text("residue_type,density_mode_t_m3,source\nother,1.5,x\n")
    with pytest.raises(ReferenceTableError, match="missing column"):
        load_reference_tables(tmp_path)


def test_prices_override_with_unknown_element(tmp_path):
    path = tmp_path / "reference" / "prices.csv"
    path.parent.mkdir()
    rows = "".join(f"{e},1,2,3,x\n" for e in (*ELEMENTS, "au"))
    path.write_text("element,price_low_usd_per_kg,price_mid_usd_per_kg,price_high_usd_per_kg,source\n" + rows)
    with pytest.raises(ReferenceTableError, match=r"unknown element\(s\) \['au'\]") as caught:
        load_reference_tables(tmp_path)
    assert caught.value.path == path


def test_unknown_residue_type_names_its_line(tmp_path):
    write_density(tmp_path, GOOD[:2] + ["granite,1.0,1.5,2.0,x\n"] + GOOD[2:])  # granite on line 4
    with pytest.raises(ReferenceTableError) as caught:
        load_reference_tables(tmp_path)
    assert "line 4" in str(caught.value)


def test_line_number_counts_blank_lines(tmp_path):
    write_density(tmp_path, GOOD[:1] + ["\n"] + ["zinc_leach_residue,2.5,1.5,2.0,x\n"] + GOOD[2:])  # bad row: line 4
    with pytest.raises(ReferenceTableError) as caught:
        load_reference_tables(tmp_path)
    assert "line 4:" in str(caught.value)


CEILING_HEADER = "residue_type,element,ceiling_ppm,source\n"


def test_bundled_assay_ceilings_are_cited_and_far_above_typical_grades():
    tables = load_reference_tables()
    priors = tables.grade_priors[["residue_type", "element", "grade_p90_gt"]]
    ceilings = tables.assay_ceilings.merge(priors, on=["residue_type", "element"], validate="one_to_one")
    assert 0 < len(ceilings) < len(RESIDUE_TYPES) * len(ELEMENTS)  # only pairs with a published figure
    assert (ceilings["source"].str.len() > 20).all()
    assert not ceilings["source"].str.contains("shared/").any()  # cites the publications themselves
    assert (ceilings["ceiling_ppm"] >= 2 * ceilings["highest_published_ppm"]).all()
    assert (ceilings["ceiling_ppm"] >= 10 * ceilings["grade_p90_gt"]).all()  # catches unit errors, not rich assays
    assert (ceilings["ceiling_ppm"] <= 1_000_000).all()


def test_a_partial_ceilings_override_is_fine(tmp_path):
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "assay_ceilings.csv").write_text(CEILING_HEADER + "fly ash,ga,300,our lab\n")
    tables = load_reference_tables(tmp_path)
    assert tables.assay_ceilings[["residue_type", "element", "ceiling_ppm"]].values.tolist() == [
        ["coal_fly_ash", "ga", 300]
    ]
    assert tables.origins["assay_ceilings"].startswith("data drop: assay_ceilings.csv")


@pytest.mark.parametrize(
    "rows, fragment",
    [
        ("red mud,ga,1000,x\nbauxite_residue,ga,900,y\n", "duplicate row for ('bauxite_residue', 'ga')"),
        ("red mud,ga,0,x\n", "line 2: ceiling_ppm 0 is not in (0, 1,000,000]"),
        ("red mud,ga,1000,x\nfly ash,te,2000000,y\n", "line 3: ceiling_ppm 2e+06 is not in (0, 1,000,000]"),
        ("red mud,ga,lots,x\n", "line 2: ceiling_ppm is not a number"),
        ("red mud,ga,1000,\n", "line 2: no source"),
        ("red mud,au,1000,x\n", "unknown element(s) ['au']"),
    ],
)
def test_malformed_ceilings_override_raises_naming_file_and_line(tmp_path, rows, fragment):
    (tmp_path / "reference").mkdir()
    path = tmp_path / "reference" / "assay_ceilings.csv"
    path.write_text(CEILING_HEADER + rows)
    with pytest.raises(ReferenceTableError) as caught:
        load_reference_tables(tmp_path)
    assert caught.value.path == path
    assert fragment in str(caught.value)
