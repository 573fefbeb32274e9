"""validate_samples: a site's grades orders of magnitude from its neighbours' are quarantined as a unit error."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from residua.geodata import validate
from residua.geodata.reference_tables import load_reference_tables
from residua.geodata.validate import validate_samples
from tests.geodata.helpers import E0, N0, UTM44, square, to_lonlat

CSV = Path("samples.csv")
PRIORS = load_reference_tables().grade_priors
TYPICAL = PRIORS.set_index(["residue_type", "element"])["grade_p50_gt"]


def _sites(types: dict[str, str], spacing_km: float = 10.0) -> gpd.GeoDataFrame:
    """Accepted sites in a row along UTM 44N, ``spacing_km`` apart, 200 m squares."""
    footprints = [to_lonlat(square(E0 + i * spacing_km * 1000, N0, 100), UTM44) for i in range(len(types))]
    return gpd.GeoDataFrame({"site_id": list(types), "residue_type": list(types.values())}, geometry=footprints,
                            crs="EPSG:4326")  # fmt: skip


def _rows(sites: gpd.GeoDataFrame, relative: dict[str, float], element: str = "ga") -> pd.DataFrame:
    """Three assays per site at ``relative`` x its type's typical grade, written in ``<element>_ppm``."""
    rows = []
    for site in sites.itertuples():
        grade, centre = relative[site.site_id] * TYPICAL[(site.residue_type, element)], site.geometry.centroid
        for i in range(3):
            rows.append({"sample_id": f"{site.site_id}-{i}", "site_id": site.site_id, "lon": centre.x, "lat": centre.y,
                         f"{element}_ppm": f"{grade * (1 + i / 10):.6g}"})  # fmt: skip
    frame = pd.DataFrame(rows, dtype=object)
    frame.insert(0, "source_row", range(2, len(rows) + 2))
    return frame


NEAR = {"N1": "bauxite_residue", "N2": "coal_fly_ash", "N3": "zinc_leach_residue", "N4": "chromite_pgm_tailings"}


def test_ppb_in_a_ppm_column_at_a_poor_site_is_caught_by_its_neighbours_not_its_type():
    sites = _sites({**NEAR, "X": "coal_fly_ash"})
    poor = {site: 0.03 for site in NEAR}  # a district 30x poorer than typical, each type alike
    rows = _rows(sites, {**poor, "X": 0.03 * 1000})  # X's ppb typed into ga_ppm: 30x typical
    result = validate_samples(rows, CSV, sites, PRIORS)
    assert sorted(result.quarantine["record_id"]) == ["X-0", "X-1", "X-2"] and result.balanced
    reason = result.quarantine["reason"].iloc[0]
    assert reason.startswith(
        "ga at site 'X': median 825 g/t (33x the typical 25 g/t of a coal_fly_ash site) is 1,000x the median of its "
        "4 nearest sampled sites within 100 km, each as a multiple of its own type's typical grade (N4 10 km: 0.033x, "
        "N3 20 km: 0.033x, N2 30 km: 0.033x, N1 40 km: 0.033x), a unit error rather than a grade (values look like "
        "ppb written as ppm: x0.001 gives 1x its neighbours); fix the unit"
    )  # 33x typical is inside the type check's 100x: only the neighbours catch it
    assert re.search("ga at site .* unit error", reason)  # what the blocking samples_units_plausible check counts


def test_percent_written_as_g_per_t_is_named_when_the_type_check_is_out_of_the_way(monkeypatch):
    monkeypatch.setattr(validate, "UNIT_ERROR_FACTOR", 1e9)
    sites = _sites({**NEAR, "X": "coal_fly_ash"})
    rows = _rows(sites, {**{site: 1.0 for site in NEAR}, "X": 1e-4})  # X's % read as g/t
    reason = validate_samples(rows, CSV, sites, PRIORS).quarantine["reason"].iloc[0]
    assert "is 0.0001x the median of its 4 nearest" in reason
    assert "% written as g/t: x10000 gives 1x its neighbours" in reason


def test_neighbours_of_other_types_are_compared_relative_to_their_types():
    # Te in anode slime (4,000 g/t typical) beside flotation tailings and slag (1.5 and 10 g/t): 2,700x raw, fine
    types = {"T1": "copper_flotation_tailings", "T2": "copper_smelter_slag", "T3": "copper_flotation_tailings",
             "AS": "copper_anode_slime"}  # fmt: skip
    sites = _sites(types)
    result = validate_samples(_rows(sites, dict.fromkeys(types, 1.0), "te"), CSV, sites, PRIORS)
    assert result.quarantine.empty and len(result.accepted) == 12


@pytest.mark.parametrize(
    "types, spacing_km",
    [
        ({"N1": "bauxite_residue", "N2": "coal_fly_ash", "X": "coal_fly_ash"}, 10.0),  # two neighbours: too few
        ({**NEAR, "X": "coal_fly_ash"}, 40.0),
    ],  # only N4 (40 km) and N3 (80 km) within 100 km of X
)
def test_fewer_than_three_neighbours_within_the_radius_check_nothing(types, spacing_km):
    sites = _sites(types, spacing_km)
    rows = _rows(sites, {**{site: 0.03 for site in types}, "X": 30.0})
    assert validate_samples(rows, CSV, sites, PRIORS).quarantine.empty


def test_one_wrong_neighbour_does_not_move_the_median_onto_a_good_site():
    sites = _sites({**NEAR, "X": "coal_fly_ash"})
    rows = _rows(sites, {"N1": 0.05, "N2": 0.05, "N3": 0.05, "N4": 50.0, "X": 0.05})  # N4 1,000x
    result = validate_samples(rows, CSV, sites, PRIORS)
    assert set(result.quarantine["record_id"].str[:2]) == {"N4"}
    assert "ppb written as ppm" in result.quarantine["reason"].iloc[0]
