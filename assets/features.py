"""Features: DEM volumes, tonnages and the per-site table the grade models use."""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pandas as pd

from residua.assets.configs import TonnageConfig, VolumeConfig
from residua.assets.resources import InventoryRules, Workers
from residua.assets.settings import config_metadata
from residua.geodata.datadrop import DataDrop
from residua.geodata.reference_tables import ReferenceTables
from residua.geodata.result_cache import ResultCache
from residua.geodata.validate import ValidationResult
from residua.geodata.volumes import measure_site_volumes
from residua.geodata.zonal import site_covariates
from residua.models.tonnage import estimate_tonnage


@dataclass(frozen=True)
class SiteVolumes:
    """DEM measurements by site_id, and sites whose DEMs could not be used."""

    measurements: pd.DataFrame
    quarantine: gpd.GeoDataFrame


def result_cache(context: dg.AssetExecutionContext, namespace: str) -> ResultCache:
    """Per-site results of earlier runs, in ``cache/<namespace>`` of the Dagster instance folder."""
    return ResultCache(Path(context.instance.root_directory) / "cache", namespace)


@dg.asset(group_name="features", deps=["dem_rasters"])
def site_volumes(
    context: dg.AssetExecutionContext,
    config: VolumeConfig,
    workers: Workers,
    data_drop: dg.ResourceParam[DataDrop],
    sites: ValidationResult,
) -> SiteVolumes:
    """Volumes between surface and base DEMs, with exact pixel coverage of each footprint."""
    cache = result_cache(context, "volumes")
    with workers.backend():
        measurements, quarantine = measure_site_volumes(
            sites.accepted, data_drop.root, data_drop.sites_path.name, config.min_dem_coverage, cache=cache
        )
    cache.keep_only_used()
    context.log.info("Measured DEM volumes at %d sites (%d quarantined; %d reused unchanged from earlier runs)",
                     len(measurements), len(quarantine), cache.hits)  # fmt: skip
    voids = measurements.loc[measurements["implausible_cells"] > 0, "implausible_cells"]
    if len(voids):
        context.log.warning(
            "DEM cells with impossible elevations (undeclared nodata such as SRTM's -32768) were read as nodata at "
            "%d site(s): %s; declare the DEMs' nodata value or fill the voids",
            len(voids), ", ".join(f"{site} ({count:,} cells)" for site, count in voids.head(10).items()),
        )  # fmt: skip
    context.add_output_metadata(
        {
            "sites_measured": len(measurements),
            "sites_reused_from_cache": cache.hits,
            "sites_quarantined": len(quarantine),
            "negative_volume_m3_total": float(measurements["negative_volume_m3"].sum()),
            "base_resampled_sites": int(measurements["base_resampled"].sum()),
            "surface_warped_from_lonlat_sites": int(measurements["surface_warped"].sum()),
            "sites_with_implausible_dem_cells": len(voids),
            **config_metadata(config),
        }
    )
    return SiteVolumes(measurements, quarantine)


@dg.asset(group_name="features")
def site_tonnage(
    context: dg.AssetExecutionContext,
    config: TonnageConfig,
    sites: ValidationResult,
    site_volumes: SiteVolumes,
    reference_tables: ReferenceTables,
) -> pd.DataFrame:
    """Tonnes per site (median and log-sd) from DEM volumes, reported figures or priors."""
    usable = sites.accepted[~sites.accepted["site_id"].isin(site_volumes.quarantine["record_id"])]
    tonnage = estimate_tonnage(
        usable,
        site_volumes.measurements,
        reference_tables.density,
        reference_tables.thickness_priors,
        dem_vertical_sd_m=config.dem_vertical_sd_m,
    )
    methods = tonnage["volume_method"].value_counts().to_dict()
    context.log.info("Tonnage for %d sites by method %s", len(tonnage), methods)
    context.add_output_metadata(
        {"sites": len(tonnage), "volume_methods": dg.MetadataValue.json(methods), **config_metadata(config)}
    )
    return tonnage


@dg.asset_check(asset=site_tonnage, description="estimated / reported tonnes inside the configured band")
def tonnage_agrees_with_reported(rules: InventoryRules, site_tonnage: pd.DataFrame) -> dg.AssetCheckResult:
    """Warn, naming the sites, where the estimate and the reported tonnage disagree."""
    ratio = site_tonnage.set_index("site_id")["tonnes_vs_reported"].dropna()
    low, high = rules.tonnage_band
    outside = ratio[(ratio < low) | (ratio > high)]
    return dg.AssetCheckResult(
        passed=outside.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "band": f"{low:g}-{high:g}",
            "sites_compared": len(ratio),
            "sites_outside": dg.MetadataValue.json(outside.round(2).to_dict()),
        },
    )


@dg.asset(group_name="features", deps=["covariate_rasters"])
def site_features(
    context: dg.AssetExecutionContext,
    workers: Workers,
    data_drop: dg.ResourceParam[DataDrop],
    sites: ValidationResult,
    samples: ValidationResult,
    site_tonnage: pd.DataFrame,
) -> pd.DataFrame:
    """One row per estimable site: attributes, tonnage, sampling density and covariate zonal statistics."""
    attributes = pd.DataFrame(sites.accepted.drop(columns="geometry"))
    counts = samples.accepted.groupby("site_id").agg(n_samples=("sample_id", "size"), n_holes=("hole_id", "nunique"))
    features = site_tonnage.merge(attributes, on="site_id", how="left", validate="one_to_one")
    features = features.merge(counts, left_on="site_id", right_index=True, how="left")
    features[["n_samples", "n_holes"]] = features[["n_samples", "n_holes"]].fillna(0).astype(int)
    cache = result_cache(context, "covariates")
    with workers.backend():
        covariates, found = site_covariates(sites.accepted, data_drop.root, cache=cache)
    cache.keep_only_used()
    features = features.merge(covariates, left_on="site_id", right_index=True, how="left", validate="one_to_one")
    files = {name: path.relative_to(data_drop.root).as_posix() for name, path in found.items()}
    coverage = {name: round(float(features[f"cov_{name}_coverage"].mean()), 4) for name in found}
    context.log.info("Covariates %s, mean footprint coverage %s", list(found), coverage)
    context.add_output_metadata(
        {
            "sites": len(features),
            "covariates": dg.MetadataValue.json(files),
            "covariate_mean_coverage": dg.MetadataValue.json(coverage),
            "covariate_statistics_reused_from_cache": cache.hits,
        }
    )
    return features
