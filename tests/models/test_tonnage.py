"""Tonnage: method choice and lognormal combination of volume and density."""

import math

import numpy.testing as npt
import pandas as pd

from residua.models.tonnage import REPORTED_TONNES_REL_SD, estimate_tonnage, log_sd_from_range

DENSITY = pd.DataFrame(
    {"residue_type": ["bauxite_residue"], "density_low_t_m3": [1.0], "density_mode_t_m3": [1.2],
     "density_high_t_m3": [1.5], "source": ["test"]}
)  # fmt: skip
THICKNESS = pd.DataFrame(
    {"residue_type": ["bauxite_residue"], "thickness_low_m": [5.0], "thickness_mode_m": [10.0],
     "thickness_high_m": [20.0], "source": ["test"]}
)  # fmt: skip


def _site(site_id, **values):
    base = {"site_id": site_id, "residue_type": "bauxite_residue", "area_ha": 10.0, "reported_tonnes": float("nan"),
            "reported_volume_m3": float("nan"), "dry_density_t_m3": float("nan")}  # fmt: skip
    return {**base, **values}


def test_each_site_gets_the_best_available_volume_method():
    sites = pd.DataFrame(
        [
            _site("dem", reported_tonnes=2e6),  # DEMs beat reported figures
            _site("tonnes", reported_tonnes=5e5),
            _site("volume", reported_volume_m3=4e5, dry_density_t_m3=1.4),
            _site("prior"),
        ]
    )
    volumes = pd.DataFrame({"volume_m3": [1e6], "footprint_area_m2": [1e5]}, index=pd.Index(["dem"], name="site_id"))
    table = estimate_tonnage(sites, volumes, DENSITY, THICKNESS, dem_vertical_sd_m=0.5).set_index("site_id")
    assert table["volume_method"].to_dict() == {
        "dem": "dem_difference",
        "tonnes": "reported_tonnes",
        "volume": "reported_volume",
        "prior": "thickness_prior",
    }
    npt.assert_allclose(table.loc["dem", "tonnes_p50"], 1.2e6)
    npt.assert_allclose(table.loc["dem", "volume_log_sd"], math.sqrt(2) * 0.5 * 1e5 / 1e6)
    npt.assert_allclose(table.loc["dem", "tonnes_vs_reported"], 0.6)
    npt.assert_allclose(table.loc["tonnes", "tonnes_p50"], 5e5)
    npt.assert_allclose(table.loc["tonnes", "tonnes_log_sd"], REPORTED_TONNES_REL_SD)
    npt.assert_allclose(table.loc["volume", "tonnes_p50"], 4e5 * 1.4)
    assert table.loc["volume", "density_source"] == "site"
    npt.assert_allclose(table.loc["prior", "tonnes_p50"], 10.0 * 1e4 * 10.0 * 1.2)
    combined = math.hypot(log_sd_from_range(5.0, 20.0), log_sd_from_range(1.0, 1.5))
    npt.assert_allclose(table.loc["prior", "tonnes_log_sd"], combined)
    assert (table["tonnes_p10"] <= table["tonnes_p50"]).all() and (table["tonnes_p50"] <= table["tonnes_p90"]).all()


def test_a_reported_figure_carries_the_thickness_it_implies_beside_the_type_limit():
    sites = pd.DataFrame(
        [
            _site("tonnes", reported_tonnes=1.2e6),  # 1.2e6 t / 1.2 t/m3 / 10 ha = 10 m
            _site("kilotonnes_as_t", reported_tonnes=1.2e8),  # x100: 1,000 m
            _site("volume", reported_volume_m3=4e5),  # 4 m
            _site("dem", reported_tonnes=2e6),  # measured: no implied thickness
            _site("point", reported_tonnes=1e6, area_ha=float("nan")),  # no footprint area
        ]
    )
    volumes = pd.DataFrame({"volume_m3": [1e6], "footprint_area_m2": [1e5]}, index=pd.Index(["dem"], name="site_id"))
    table = estimate_tonnage(sites, volumes, DENSITY, THICKNESS).set_index("site_id")
    npt.assert_allclose(table["reported_thickness_m"].loc[["tonnes", "kilotonnes_as_t", "volume"]], [10.0, 1000.0, 4.0])
    npt.assert_allclose(table["thickness_limit_m"].loc[["tonnes", "volume"]], 3 * 20.0)
    assert table.loc[["dem", "point"], ["reported_thickness_m", "thickness_limit_m"]].isna().all(axis=None)
