"""Site tonnage: volume times dry bulk density, each a lognormal with a stated spread.

Volume and density are positive and their errors multiply, so both are carried as
lognormals (median, log-sd); their product, the tonnage, is then lognormal too, with the
median the product of medians and the log-sd the root sum of squares. A published range
(low, high) is read as the 5th and 95th percentiles.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from residua.geodata.volumes import plausible_max_thickness_m

#: z-score of the 95th percentile: a (low, high) range is taken as P5..P95.
Z95 = 1.6448536269514722
#: Relative (1-sigma) uncertainty assumed for a reported figure: an assumption, stated in the README.
REPORTED_TONNES_REL_SD = 0.20
REPORTED_VOLUME_REL_SD = 0.15
#: Relative uncertainty of a site's own measured dry density (assumption).
SITE_DENSITY_REL_SD = 0.05

VOLUME_METHODS: tuple[str, ...] = ("dem_difference", "reported_tonnes", "reported_volume", "thickness_prior")


def log_sd_from_range(low: float, high: float) -> float:
    """Log-sd of a lognormal whose 5th and 95th percentiles are ``low`` and ``high``.

    >>> round(log_sd_from_range(1.0, math.exp(2 * Z95)), 6)
    1.0
    """
    return math.log(high / low) / (2 * Z95) if high > low > 0 else 0.0


def estimate_tonnage(
    sites: pd.DataFrame,
    volumes: pd.DataFrame,
    density: pd.DataFrame,
    thickness_priors: pd.DataFrame,
    dem_vertical_sd_m: float = 0.3,
) -> pd.DataFrame:
    """Choose each site's volume method and combine volume with density into tonnes.

    Parameters
    ----------
    sites
        Accepted sites with ``site_id``, ``residue_type``, ``area_ha``, ``reported_tonnes``,
        ``reported_volume_m3`` and ``dry_density_t_m3``.
    volumes
        DEM measurements indexed by ``site_id`` (``volume_m3``, ``coverage``,
        ``footprint_area_m2``); sites absent here have no usable DEM pair.
    density, thickness_priors
        Reference tables by residue type (low / mode / high).
    dem_vertical_sd_m
        Systematic vertical error (1 sigma) of each DEM; two independent surfaces give a
        volume error of sqrt(2) * sd * area.

    Returns
    -------
    pandas.DataFrame
        One row per site: ``volume_method``, ``volume_m3``, ``volume_log_sd``,
        ``density_t_m3``, ``density_log_sd``, ``density_source``, ``tonnes_p50``,
        ``tonnes_log_sd``, ``tonnes_p10``, ``tonnes_p90``, ``tonnes_vs_reported`` and, for sites
        whose volume is a reported figure over a footprint, ``reported_thickness_m`` (the mean
        thickness that figure implies) beside ``thickness_limit_m`` (``plausible_max_thickness_m`` of
        the type's ``thickness_high_m``; NaN elsewhere).
    """
    density_by_type = density.set_index("residue_type")
    thickness_by_type = thickness_priors.set_index("residue_type")
    rows = []
    for site in sites.itertuples(index=False):
        volume_method, volume, volume_log_sd = _volume(site, volumes, thickness_by_type, dem_vertical_sd_m)
        rho, rho_log_sd, rho_source = _density(site, density_by_type)
        if volume_method == "reported_tonnes":
            tonnes, log_sd = float(site.reported_tonnes), REPORTED_TONNES_REL_SD
        else:
            tonnes, log_sd = volume * rho, math.hypot(volume_log_sd, rho_log_sd)
        rows.append(
            {
                "site_id": site.site_id,
                "volume_method": volume_method,
                "volume_m3": volume,
                "volume_log_sd": volume_log_sd,
                "density_t_m3": rho,
                "density_log_sd": rho_log_sd,
                "density_source": rho_source,
                "tonnes_p50": tonnes,
                "tonnes_log_sd": log_sd,
            }
        )
    table = pd.DataFrame(rows)
    z80 = 1.2815515655446004
    table["tonnes_p10"] = table["tonnes_p50"] * np.exp(-z80 * table["tonnes_log_sd"])
    table["tonnes_p90"] = table["tonnes_p50"] * np.exp(z80 * table["tonnes_log_sd"])
    reported = pd.to_numeric(sites["reported_tonnes"], errors="coerce").to_numpy()
    table["tonnes_vs_reported"] = table["tonnes_p50"].to_numpy() / reported
    table["reported_thickness_m"], table["thickness_limit_m"] = _reported_thickness(sites, table, thickness_by_type)
    return table


def _reported_thickness(
    sites: pd.DataFrame, table: pd.DataFrame, thickness_by_type: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Mean thickness a reported tonnage or volume implies over the footprint, and the type's plausible maximum.

    A reported figure has no DEM to check it against, so its implied thickness is the check: a
    figure in kilotonnes entered as tonnes, or a neighbouring dam's total, shows up as a pond
    hundreds of metres deep.
    """
    area_m2 = pd.to_numeric(sites["area_ha"], errors="coerce").to_numpy(dtype=float) * 1e4
    volume = np.where(
        table["volume_method"] == "reported_tonnes",
        table["tonnes_p50"] / table["density_t_m3"],
        table["volume_m3"],
    )
    reported = table["volume_method"].isin(["reported_tonnes", "reported_volume"]).to_numpy() & (area_m2 > 0)
    high = sites["residue_type"].map(thickness_by_type["thickness_high_m"]).to_numpy(dtype=float)
    thickness = np.where(reported, volume / np.where(reported, area_m2, 1.0), np.nan)
    return thickness, np.where(reported, plausible_max_thickness_m(high), np.nan)


def _volume(site, volumes: pd.DataFrame, thickness_by_type: pd.DataFrame, dem_sd: float) -> tuple[str, float, float]:
    if site.site_id in volumes.index:
        measured = volumes.loc[site.site_id]
        volume = float(measured["volume_m3"])
        error = math.sqrt(2) * dem_sd * float(measured["footprint_area_m2"])
        return "dem_difference", volume, error / volume if volume > 0 else 1.0
    if _given(site.reported_tonnes):
        return "reported_tonnes", float("nan"), float("nan")
    if _given(site.reported_volume_m3):
        return "reported_volume", float(site.reported_volume_m3), REPORTED_VOLUME_REL_SD
    prior = thickness_by_type.loc[site.residue_type]
    area_m2 = float(site.area_ha) * 1e4
    return (
        "thickness_prior",
        area_m2 * float(prior["thickness_mode_m"]),
        log_sd_from_range(float(prior["thickness_low_m"]), float(prior["thickness_high_m"])),
    )


def _density(site, density_by_type: pd.DataFrame) -> tuple[float, float, str]:
    if _given(site.dry_density_t_m3):
        return float(site.dry_density_t_m3), SITE_DENSITY_REL_SD, "site"
    row = density_by_type.loc[site.residue_type]
    return (
        float(row["density_mode_t_m3"]),
        log_sd_from_range(float(row["density_low_t_m3"]), float(row["density_high_t_m3"])),
        "reference table",
    )


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
