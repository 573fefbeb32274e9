"""Publish: the ranked inventory in every selected GIS format (and PostGIS when configured), with provenance."""


from datetime import UTC, datetime

import dagster as dg
import geopandas as gpd
import pandas as pd

from assets.estimates import SiteReviews
from assets.features import SiteVolumes
from assets.resources import ResiduaSettings
from geodata.datadrop import DataDrop
from geodata.postgis import PostgisTarget
from geodata.publish import publish_inventory
from geodata.reference_tables import ReferenceTables
from geodata.schema import STORAGE_CRS
from geodata.validate import ValidationResult
from geodata.provenance import code_version
from models.ranking import review_history


@dg.asset(group_name="publish")
def inventory(
    context: dg.AssetExecutionContext,
    settings: ResiduaSettings,
    data_drop: DataDrop,
    reference_tables: ReferenceTables,
    sites: ValidationResult,
    samples: ValidationResult,
    site_volumes: SiteVolumes,
    site_rankings: pd.DataFrame,
    reviews: SiteReviews,
    processing_hubs: gpd.GeoDataFrame,
    grade_tonnage: pd.DataFrame,
) -> dg.MaterializeResult:
    """Ranked inventory files (styled GeoPackage, GeoJSON, Shapefile, FlatGeobuf, GeoParquet, CSV), PostGIS if set."""
    origin = "SYNTHETIC demo data" if data_drop.synthetic else "user data"
    footprints = sites.accepted[["site_id", "geometry"]]
    ranked = gpd.GeoDataFrame(site_rankings.merge(footprints, on="site_id"), crs=STORAGE_CRS)
    ranked["data_origin"] = origin
    published_samples = samples.accepted.assign(data_origin=origin)
    quarantine = pd.concat(
        [sites.quarantine, site_volumes.quarantine, samples.quarantine, reviews.quarantine], ignore_index=True
    )
    quarantine = gpd.GeoDataFrame(quarantine.assign(data_origin=origin), geometry="geometry", crs=STORAGE_CRS)
    metadata = {
        "title": data_drop.title,
        "data_dir": str(data_drop.root),
        "data_origin": origin,
        "synthetic": data_drop.synthetic,
        "code_version": code_version(),
        "run_id": context.run.run_id,
        "run_time_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "n_draws": settings.n_draws,
        "seed": settings.seed,
        **{f"input:{name}": digest for name, digest in data_drop.input_hashes.items()},
        **{f"reference:{name}": text for name, text in reference_tables.origins.items()},
    }
    postgis = PostgisTarget(settings.postgis_url, settings.postgis_schema) if settings.postgis_url else None
    paths = publish_inventory(
        settings.out_path, ranked, published_samples, quarantine, metadata, formats=settings.formats,
        hubs=processing_hubs.assign(data_origin=origin), postgis=postgis,
        tables={"reviews": review_history(reviews.history, site_rankings["site_id"]), "grade_tonnage": grade_tonnage},
    )
    formats = ", ".join(settings.formats)
    context.log.info("Published %d ranked sites as %s to %s", len(ranked), formats, settings.out_path)
    if postgis is not None:
        context.log.info("Published the layers to PostGIS schema %s at %s", postgis.schema, postgis.redacted_url)
    return dg.MaterializeResult(
        metadata={
            "sites_ranked": len(ranked),
            "samples": len(published_samples),
            "quarantined_rows": len(quarantine),
            "synthetic": data_drop.synthetic,
            "formats": formats,
            **{name: dg.MetadataValue.path(str(path)) for name, path in paths.items()},
            **({"postgis": f"{postgis.redacted_url} schema {postgis.schema}"} if postgis is not None else {}),
        }
    )
