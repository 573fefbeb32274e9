"""Processing hubs: where a plant could draw on several sites, and how much metal lies in reach.

Hubs are either given (``hubs.csv`` in the data drop: ``hub_id``, ``name``, ``lon``,
``lat``, optionally ``capacity_t_per_year`` and ``fixed_cost_usd``) or proposed by
weighted k-means: site centroids in a Lambert azimuthal equal-area projection centred on
the sites (metres, little distortion over a country), weighted by each site's P50
recoverable value, so centres are pulled toward valuable sites. A hub's catchment is every
site not excluded by review whose centroid lies within the haul distance (geodesic, WGS 84
ellipsoid); a site in reach of two hubs counts for both, so each hub's total is what it
could draw on, not a share of a partition. Totals are summed per Monte Carlo draw before
P10/P50/P90 are taken. Which hubs to open and which site feeds which is the hub plan
(:mod:`residua.models.hub_plan`, through :func:`plan_hubs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from sklearn.cluster import KMeans

from residua.geodata.datadrop import HUBS_FILE
from residua.geodata.schema import STORAGE_CRS
from residua.models.simulation import PERCENTILES, ResourceDraws

if TYPE_CHECKING:
    from residua.models.hub_plan import HubPlan

HUB_INPUT_COLUMNS: tuple[str, ...] = ("hub_id", "name", "lon", "lat")
#: Optional hubs.csv columns (an empty cell takes the run's default): numbers >= 0.
HUB_OPTIONAL_COLUMNS: tuple[str, ...] = ("capacity_t_per_year", "fixed_cost_usd")
#: Metals whose recoverable tonnes each hub reports.
HUB_METALS: tuple[str, ...] = ("ga", "te", "pgm")
_GEOD = pyproj.Geod(ellps="WGS84")


class HubsError(ValueError):
    """A hubs table that cannot be used as given."""


def read_hubs(path: Path) -> pd.DataFrame | None:
    """Read and check a given hubs table; None when the file does not exist.

    Raises
    ------
    HubsError
        If a column is missing, an id is empty or repeated, or a coordinate is not a
        number within range (the message names the file, the line and the fix).
    """
    if not path.is_file():
        return None
    return check_hubs(pd.read_csv(path, dtype=str, keep_default_na=False), path.name)


def check_hubs(table: pd.DataFrame, source: str = HUBS_FILE) -> pd.DataFrame:
    """Validate given hubs and return ``hub_id``, ``name``, ``lon``, ``lat`` (WGS 84 degrees) and the optional columns.

    ``capacity_t_per_year`` and ``fixed_cost_usd`` are returned as numbers, NaN where the
    file leaves them empty or has no such column (the hub plan then uses its defaults).

    >>> check_hubs(pd.DataFrame({"HUB_ID": ["A"], "name": ["Plant A"], "lon": ["80.5"], "lat": ["21"]}))["lon"].tolist()
    [80.5]
    >>> check_hubs(pd.DataFrame({"hub_id": ["A"], "name": [""], "lon": ["80"], "lat": ["95"]}))
    Traceback (most recent call last):
    ...
    residua.models.hubs.HubsError: hubs.csv line 2: lat 95 is outside -90..90; give WGS 84 degrees (lon -180..180,
    lat -90..90)
    """
    table = table.rename(columns=lambda column: str(column).strip().lower())
    missing = [column for column in HUB_INPUT_COLUMNS if column not in table.columns]
    if missing:
        header = ",".join(HUB_INPUT_COLUMNS)
        raise HubsError(f"{source}: missing column(s) {', '.join(missing)}; the header must be {header}")
    hubs = table[[*HUB_INPUT_COLUMNS, *(c for c in HUB_OPTIONAL_COLUMNS if c in table.columns)]].copy()
    hubs["hub_id"] = hubs["hub_id"].astype(str).str.strip()
    hubs["name"] = hubs["name"].astype(str).str.strip()
    for position, row in enumerate(hubs.itertuples(index=False), start=2):
        if not row.hub_id:
            raise HubsError(f"{source} line {position}: hub_id is empty; give every hub a unique id")
    duplicated = hubs["hub_id"].duplicated()
    if duplicated.any():
        line = int(np.flatnonzero(duplicated)[0]) + 2
        repeated = hubs["hub_id"][duplicated].iloc[0]
        raise HubsError(f"{source} line {line}: hub_id {repeated!r} repeats; ids must be unique")
    for column, limit in (("lon", 180.0), ("lat", 90.0)):
        values = pd.to_numeric(hubs[column], errors="coerce")
        for position, (raw, value) in enumerate(zip(hubs[column], values), start=2):
            if not np.isfinite(value):
                raise HubsError(f"{source} line {position}: {column} {raw!r} is not a number; give WGS 84 degrees")
            if abs(value) > limit:
                raise HubsError(
                    f"{source} line {position}: {column} {value:g} is outside -{limit:g}..{limit:g}; "
                    "give WGS 84 degrees (lon -180..180, lat -90..90)"
                )
        hubs[column] = values.astype(float)
    for column in HUB_OPTIONAL_COLUMNS:
        hubs[column] = _optional_numbers(hubs[column], column, source) if column in hubs else np.nan
    hubs["name"] = hubs["name"].where(hubs["name"] != "", hubs["hub_id"])
    return hubs.reset_index(drop=True)


def _optional_numbers(raw: pd.Series, column: str, source: str) -> pd.Series:
    """An optional non-negative number per hub; empty cells are NaN."""
    text = raw.astype(str).str.strip()
    values = pd.to_numeric(text.where(text != ""), errors="coerce").astype(float)
    for position, (cell, value) in enumerate(zip(text, values), start=2):
        if cell and not (np.isfinite(value) and value >= 0):
            raise HubsError(f"{source} line {position}: {column} {cell!r} is not a number >= 0; "
                            "give a number or leave the cell empty for the default")  # fmt: skip
    return values


def equal_area_crs(lon: np.ndarray, lat: np.ndarray) -> pyproj.CRS:
    """Lambert azimuthal equal-area CRS (metres) centred on the given points."""
    lon0 = float(np.degrees(np.arctan2(np.mean(np.sin(np.radians(lon))), np.mean(np.cos(np.radians(lon))))))
    lat0 = float(np.mean(lat))
    return pyproj.CRS.from_proj4(f"+proj=laea +lat_0={lat0:.6f} +lon_0={lon0:.6f} +datum=WGS84 +units=m +no_defs")


def site_centroids(footprints: gpd.GeoDataFrame) -> pd.DataFrame:
    """``site_id``, ``lon``, ``lat`` of each footprint's centroid, taken in an equal-area projection.

    Centroids of lon/lat polygons taken in degrees are biased; projecting first is not.
    """
    if len(footprints) == 0:
        return pd.DataFrame({"site_id": pd.Series(dtype=object), "lon": pd.Series(dtype=float),
                             "lat": pd.Series(dtype=float)})  # fmt: skip
    geographic = footprints.to_crs(STORAGE_CRS)
    bounds = geographic.geometry.bounds
    middle_lon = ((bounds["minx"] + bounds["maxx"]) / 2).to_numpy()
    crs = equal_area_crs(middle_lon, ((bounds["miny"] + bounds["maxy"]) / 2).to_numpy())
    centroids = geographic.to_crs(crs).geometry.centroid.to_crs(STORAGE_CRS)
    return pd.DataFrame({"site_id": geographic["site_id"].to_numpy(), "lon": centroids.x.to_numpy(),
                         "lat": centroids.y.to_numpy()})  # fmt: skip


def propose_hubs(sites: pd.DataFrame, weights: np.ndarray, k: int = 5, seed: int = 0) -> pd.DataFrame:
    """Hub locations by k-means on site centroids weighted by value (equal-area metres).

    Parameters
    ----------
    sites : DataFrame
        ``site_id``, ``lon``, ``lat`` of the sites that may feed a hub.
    weights : array
        Non-negative weight per site (P50 recoverable value); all zero means equal weights.
    k : int
        Number of hubs wanted; fewer when fewer sites (with weight) are at distinct places.
    seed : int
        Seed of the k-means initialisation: the same seed gives the same hubs.

    Returns
    -------
    DataFrame
        ``hub_id`` (H1 has the most weight), ``name``, ``lon``, ``lat``, ``method``
        ("proposed").

    Examples
    --------
    >>> sites = pd.DataFrame({"site_id": ["a", "b", "c"], "lon": [80.0, 80.1, 85.0], "lat": [20.0, 20.0, 25.0]})
    >>> hubs = propose_hubs(sites, np.array([1.0, 1.0, 5.0]), k=2)
    >>> hubs["hub_id"].tolist(), hubs["lon"].round(2).tolist()
    (['H1', 'H2'], [85.0, 80.05])
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}; set hubs_k to a positive number")
    weights = np.asarray(weights, dtype=float)
    weights = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    if len(sites) and weights.sum() == 0:
        weights = np.ones(len(sites))
    useful = weights > 0
    columns = ["hub_id", "name", "lon", "lat", "method"]
    if not useful.any():
        return pd.DataFrame(columns=columns).astype({"lon": float, "lat": float})
    crs = equal_area_crs(sites["lon"].to_numpy(), sites["lat"].to_numpy())
    to_metres = pyproj.Transformer.from_crs(STORAGE_CRS, crs, always_xy=True)
    x, y = to_metres.transform(sites["lon"].to_numpy(), sites["lat"].to_numpy())
    points = np.column_stack([x, y])
    distinct = len(np.unique(np.round(points[useful], 3), axis=0))
    n_hubs = min(k, distinct)
    model = KMeans(n_clusters=n_hubs, n_init=10, random_state=seed).fit(points[useful], sample_weight=weights[useful])
    labels = model.labels_
    cluster_weight = np.bincount(labels, weights=weights[useful], minlength=n_hubs)
    order = np.lexsort((np.arange(n_hubs), -cluster_weight))
    centres = model.cluster_centers_[order]
    lon, lat = to_metres.transform(centres[:, 0], centres[:, 1], direction="INVERSE")
    members = sites["site_id"].to_numpy()[useful]
    nearest = [members[np.argmin(np.hypot(*(points[useful] - model.cluster_centers_[c]).T))] for c in order]
    hub_ids = [f"H{i}" for i in range(1, n_hubs + 1)]
    return pd.DataFrame(
        {
            "hub_id": hub_ids,
            "name": [
                f"Proposed hub {hub} (value-weighted centre, nearest site {site})"
                for hub, site in zip(hub_ids, nearest)
            ],  # fmt: skip
            "lon": np.asarray(lon, dtype=float),
            "lat": np.asarray(lat, dtype=float),
            "method": "proposed",
        }
    )


def geodesic_km(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Geodesic distance on the WGS 84 ellipsoid, in km (inputs broadcast).

    >>> round(float(geodesic_km(0.0, 0.0, 1.0, 0.0)), 3)  # one degree of the equator
    111.319
    """
    a, b, c, d = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2)))
    _, _, metres = _GEOD.inv(a.ravel(), b.ravel(), c.ravel(), d.ravel())
    return np.asarray(metres, dtype=float).reshape(a.shape) / 1e3


def aggregate_hubs(
    hubs: pd.DataFrame, sites: pd.DataFrame, draws: ResourceDraws | Iterable[ResourceDraws], haul_km: float = 150.0
) -> gpd.GeoDataFrame:
    """Sum the recoverable metal and value of the sites in each hub's reach, per draw.

    Parameters
    ----------
    hubs : DataFrame
        ``hub_id``, ``name``, ``lon``, ``lat`` and ``method`` ("given" or "proposed").
    sites : DataFrame
        ``site_id``, ``lon``, ``lat`` of the sites that may feed a hub (excluded sites
        left out by the caller).
    draws : ResourceDraws or iterable of ResourceDraws
        The sites' Monte Carlo draws, in chunks (:func:`residua.models.simulation.iter_draws`) or
        one :class:`~residua.models.simulation.ResourceDraws`; every site of ``sites`` must be
        among them.
    haul_km : float
        Largest geodesic distance from a hub to a site centroid.

    Returns
    -------
    GeoDataFrame
        One point per hub (EPSG:4326): ``hub_id``, ``name``, ``method``, ``haul_km``,
        ``n_sites``, ``site_ids`` (comma-separated), ``<m>_recoverable_t_p10/p50/p90``
        for Ga, Te and PGM and ``value_usd_p10/p50/p90``.

    Raises
    ------
    ValueError
        If ``haul_km`` is not positive or a site has no draws.
    """
    if not haul_km > 0:
        raise ValueError(f"haul_km must be positive, got {haul_km}; set haul_km in km, e.g. 150")
    distance = geodesic_km(hubs["lon"].to_numpy()[:, None], hubs["lat"].to_numpy()[:, None],
                           sites["lon"].to_numpy()[None, :], sites["lat"].to_numpy()[None, :])  # fmt: skip
    reach = distance <= haul_km
    totals = _catchment_totals(reach, sites["site_id"], [draws] if isinstance(draws, ResourceDraws) else draws)
    records = []
    for position, (hub, in_reach) in enumerate(zip(hubs.itertuples(index=False), reach)):
        record = {"hub_id": hub.hub_id, "name": hub.name, "method": hub.method, "haul_km": float(haul_km),
                  "n_sites": int(in_reach.sum()),
                  "site_ids": ",".join(sorted(sites["site_id"].to_numpy()[in_reach]))}  # fmt: skip
        for metal in (*HUB_METALS, "value"):
            prefix = "value_usd" if metal == "value" else f"{metal}_recoverable_t"
            record.update(
                {f"{prefix}_{p}": float(np.percentile(totals[metal][position], q)) for p, q in PERCENTILES.items()}
            )
        records.append(record)
    columns = ["hub_id", "name", "method", "haul_km", "n_sites", "site_ids",
               *[f"{m}_recoverable_t_{p}" for m in HUB_METALS for p in PERCENTILES],
               *[f"value_usd_{p}" for p in PERCENTILES]]  # fmt: skip
    table = pd.DataFrame(records, columns=columns)
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(hubs["lon"], hubs["lat"]), crs=STORAGE_CRS)


def _catchment_totals(reach: np.ndarray, site_ids: pd.Series, chunks: Iterable[ResourceDraws]) -> dict[str, np.ndarray]:
    """Per metal and value: (hubs x draws) sums over the sites in each hub's reach."""
    position = pd.Series(np.arange(len(site_ids)), index=site_ids.to_numpy())
    totals: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    for chunk in chunks:
        wanted = np.flatnonzero(pd.Index(chunk.site_ids).isin(position.index))
        members = reach[:, position.loc[chunk.site_ids[wanted]].to_numpy()].astype(float)
        for metal in (*HUB_METALS, "value"):
            values = chunk.value if metal == "value" else chunk.recoverable[metal]
            totals[metal] = totals.get(metal, 0.0) + members @ values[wanted]
        seen.update(chunk.site_ids[wanted])
    unknown = sorted(set(site_ids) - seen)
    if unknown:
        raise ValueError(f"no simulated draws for site(s) {unknown[:5]}; pass the draws of every site")
    return {metal: totals.get(metal, np.zeros((len(reach), 1))) for metal in (*HUB_METALS, "value")}


def plan_hubs(
    sites: pd.DataFrame,
    weights: np.ndarray,
    draws: ResourceDraws | Iterable[ResourceDraws] | Callable[[], Iterable[ResourceDraws]],
    given: pd.DataFrame | None = None,
    k: int = 5,
    haul_km: float = 150.0,
    seed: int = 0,
    **plan: Any,
) -> HubPlan:
    """The hub plan: candidates (given, else proposed plus top sites), opened hubs and site -> hub assignments.

    ``sites`` (``site_id``, ``lon``, ``lat``) and ``weights`` (P50 recoverable value) are
    the sites that may feed a hub, i.e. those not excluded by review; ``plan`` goes to
    :func:`residua.models.hub_plan.plan_network` (``costs``, ``n_site_candidates``, ``optimise``, ...).
    """
    from residua.models.hub_plan import plan_network  # hub_plan builds on this module

    return plan_network(sites, weights, draws, given=given, k=k, haul_km=haul_km, seed=seed, **plan)
