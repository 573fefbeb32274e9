"""Processing hubs: given or proposed locations, catchments by geodesic haul, totals per draw."""

import geopandas as gpd
import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import shapely

from residua.models.hubs import (
    HubsError,
    aggregate_hubs,
    check_hubs,
    geodesic_km,
    plan_hubs,
    propose_hubs,
    read_hubs,
    site_centroids,
)
from residua.models.simulation import ResourceDraws


def _draws(site_ids: list[str], ga: np.ndarray, value: np.ndarray | None = None) -> ResourceDraws:
    """Draws in which only Ga is recovered; ``ga`` is (n_sites, n_draws) tonnes."""
    zeros = np.zeros_like(ga)
    recoverable = {"ga": ga, "te": zeros, "pt": zeros, "pd": zeros, "rh": zeros, "pgm": zeros}
    return ResourceDraws(
        site_ids=np.array(site_ids), tonnes=np.ones_like(ga), mean_grade={}, above={}, contained=recoverable,
        recoverable=recoverable, value=ga * 1000 * 500 if value is None else value,
    )  # fmt: skip


def _sites_east_of(lon0: float, lat0: float, km: list[float]) -> pd.DataFrame:
    """Sites due east of (lon0, lat0) at the given geodesic distances (km)."""
    import pyproj

    geod = pyproj.Geod(ellps="WGS84")
    lons, lats, _ = geod.fwd([lon0] * len(km), [lat0] * len(km), [90.0] * len(km), [d * 1e3 for d in km])
    return pd.DataFrame({"site_id": [f"S{i}" for i in range(len(km))], "lon": lons, "lat": lats})


def test_geodesic_distance_known_answers():
    # one degree of latitude at the equator, and a quarter meridian, on the WGS 84 ellipsoid
    assert geodesic_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(110.574, abs=0.001)
    assert geodesic_km(0.0, 0.0, 0.0, 90.0) == pytest.approx(10001.966, abs=0.001)


def test_hub_totals_count_the_sites_in_reach_only_known_answer():
    sites = _sites_east_of(80.0, 20.0, [50.0, 140.0, 160.0])  # S0, S1 in reach of 150 km, S2 just outside
    ga = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 10.0, 10.0], [100.0, 100.0, 100.0, 100.0]])
    hubs = pd.DataFrame({"hub_id": ["A"], "name": ["Plant A"], "lon": [80.0], "lat": [20.0], "method": ["given"]})
    out = aggregate_hubs(hubs, sites, _draws(list(sites["site_id"]), ga), haul_km=150.0).iloc[0]
    assert out["n_sites"] == 2 and out["site_ids"] == "S0,S1"
    npt.assert_allclose(out["ga_recoverable_t_p50"], np.percentile([11.0, 12.0, 13.0, 14.0], 50))  # 12.5
    npt.assert_allclose(out["value_usd_p50"], 12.5 * 1000 * 500)
    assert out["te_recoverable_t_p50"] == 0.0 and out["pgm_recoverable_t_p90"] == 0.0
    assert out["haul_km"] == 150.0 and out["method"] == "given"
    wider = aggregate_hubs(hubs, sites, _draws(list(sites["site_id"]), ga), haul_km=170.0).iloc[0]
    assert wider["n_sites"] == 3 and wider["ga_recoverable_t_p50"] == pytest.approx(112.5)


def test_hub_intervals_are_taken_on_the_total_per_draw():
    # two sites whose draws move in opposite directions: their total is certain
    sites = _sites_east_of(80.0, 20.0, [10.0, 20.0])
    up = np.linspace(0.0, 10.0, 101)
    draws = _draws(["S0", "S1"], np.vstack([up, 10.0 - up]))
    hubs = pd.DataFrame({"hub_id": ["A"], "name": ["A"], "lon": [80.0], "lat": [20.0], "method": ["given"]})
    out = aggregate_hubs(hubs, sites, draws).iloc[0]
    assert out["ga_recoverable_t_p10"] == pytest.approx(10.0) and out["ga_recoverable_t_p90"] == pytest.approx(10.0)
    assert np.percentile(up, 90) + np.percentile(10.0 - up, 90) == pytest.approx(18.0)  # not the sum of P90s


def test_hub_layer_is_points_in_lon_lat():
    sites = _sites_east_of(80.0, 20.0, [10.0])
    hubs = pd.DataFrame({"hub_id": ["A", "B"], "name": ["A", "B"], "lon": [80.0, 70.0], "lat": [20.0, 10.0],
                         "method": "given"})  # fmt: skip
    out = aggregate_hubs(hubs, sites, _draws(["S0"], np.ones((1, 5))))
    assert isinstance(out, gpd.GeoDataFrame) and out.crs.to_epsg() == 4326
    assert out.geometry.iloc[1].equals(shapely.Point(70.0, 10.0))
    assert out["n_sites"].tolist() == [1, 0] and out.loc[1, "ga_recoverable_t_p50"] == 0.0


def test_a_site_without_draws_is_refused():
    sites = _sites_east_of(80.0, 20.0, [10.0])
    hubs = pd.DataFrame({"hub_id": ["A"], "name": ["A"], "lon": [80.0], "lat": [20.0], "method": "given"})
    with pytest.raises(ValueError, match=r"no simulated draws for site\(s\) \['S0'\]"):
        aggregate_hubs(hubs, sites, _draws(["other"], np.ones((1, 3))))


def _clustered_sites() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = [(74.0, 25.0), (85.0, 21.0), (78.0, 10.0)]
    rows = []
    for c, (lon, lat) in enumerate(centres):
        for i in range(6):
            rows.append((f"C{c}-{i}", lon + rng.normal(0, 0.3), lat + rng.normal(0, 0.3)))
    sites = pd.DataFrame(rows, columns=["site_id", "lon", "lat"])
    return sites, rng.uniform(1.0, 10.0, len(sites))


def test_proposed_hubs_sit_at_the_clusters_and_are_reproducible_by_seed():
    sites, weights = _clustered_sites()
    first = propose_hubs(sites, weights, k=3, seed=7)
    again = propose_hubs(sites, weights, k=3, seed=7)
    pd.testing.assert_frame_equal(first, again)
    assert first["hub_id"].tolist() == ["H1", "H2", "H3"] and (first["method"] == "proposed").all()
    for lon, lat in [(74.0, 25.0), (85.0, 21.0), (78.0, 10.0)]:
        assert geodesic_km(first["lon"], first["lat"], lon, lat).min() < 60.0
    sites_draws = _draws(list(sites["site_id"]), np.ones((len(sites), 10)))
    planned = plan_hubs(sites, weights, sites_draws, k=3, haul_km=150.0, seed=7).hubs
    assert planned.loc[planned["location"] == "proposed", "n_sites"].tolist() == [6, 6, 6]


def test_value_weights_pull_a_hub_toward_valuable_sites():
    sites = _sites_east_of(80.0, 20.0, [0.0, 100.0])
    hub = propose_hubs(sites, np.array([3.0, 1.0]), k=1).iloc[0]
    # weighted mean of the two positions: 25 km from the heavier site (equal-area metres, close to geodesic here)
    assert geodesic_km(hub["lon"], hub["lat"], 80.0, 20.0) == pytest.approx(25.0, abs=0.5)


def test_fewer_hubs_than_asked_when_fewer_sites():
    sites = _sites_east_of(80.0, 20.0, [0.0, 300.0])
    assert len(propose_hubs(sites, np.array([1.0, 1.0]), k=5)) == 2
    assert len(propose_hubs(sites, np.array([1.0, 0.0]), k=5)) == 1  # a site without value does not pull a hub
    assert len(propose_hubs(sites.iloc[:0], np.array([]), k=5)) == 0


def test_given_hubs_are_used_as_given(tmp_path):
    path = tmp_path / "hubs.csv"
    path.write_text("hub_id,name,lon,lat\nJ1,Jamnagar plant,70.05,22.47\nJ2,,75.0,20.0\n")
    given = read_hubs(path)
    assert given["name"].tolist() == ["Jamnagar plant", "J2"]  # an empty name falls back to the id
    sites = _sites_east_of(70.05, 22.47, [30.0])
    planned = plan_hubs(sites, np.array([1.0]), _draws(["S0"], np.ones((1, 4))), given=given, k=1).hubs
    assert planned["hub_id"].tolist() == ["J1", "J2"] and (planned["location"] == "given").all()
    assert planned["n_sites"].tolist() == [1, 0]
    assert read_hubs(tmp_path / "absent.csv") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,name,lon,lat\nA,a,1,2\n", "missing column\\(s\\) hub_id; the header must be hub_id,name,lon,lat"),
        ("hub_id,name,lon,lat\nA,a,1,2\nA,b,3,4\n", "line 3: hub_id 'A' repeats"),
        ("hub_id,name,lon,lat\nA,a,east,2\n", "line 2: lon 'east' is not a number"),
        ("hub_id,name,lon,lat\nA,a,200,2\n", "line 2: lon 200 is outside -180..180"),
        ("hub_id,name,lon,lat\n,a,1,2\n", "line 2: hub_id is empty"),
    ],
)
def test_bad_hubs_files_are_refused_naming_the_line_and_the_fix(tmp_path, text, message):
    path = tmp_path / "hubs.csv"
    path.write_text(text)
    with pytest.raises(HubsError, match=message):
        read_hubs(path)


def test_site_centroids_of_a_square_footprint():
    square = shapely.box(80.0, 20.0, 80.2, 20.2)
    centroids = site_centroids(gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[square], crs=4326))
    assert centroids.loc[0, "lon"] == pytest.approx(80.1, abs=1e-6)
    assert centroids.loc[0, "lat"] == pytest.approx(20.1, abs=1e-3)  # equal-area centroid, a hair off 20.1


def test_check_hubs_is_case_insensitive_on_headers():
    given = check_hubs(pd.DataFrame({"Hub_ID": ["A"], "Name": ["a"], "LON": ["1.5"], "Lat": ["-2"]}))
    assert given[["lon", "lat"]].values.tolist() == [[1.5, -2.0]]
