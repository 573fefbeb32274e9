"""Ingest: the reference tables, and validated sites and samples of the data drop."""

import dagster as dg
import pandas as pd

from residua.geodata.assays import negative_limit_cells, negative_limit_note
from residua.geodata.datadrop import DataDrop
from residua.geodata.readers import read_samples, read_sites
from residua.geodata.reference_tables import ReferenceTables, load_reference_tables
from residua.geodata.validate import ValidationResult, no_samples, validate_samples, validate_sites


@dg.asset(group_name="ingest", deps=["reference_files"])
def reference_tables(context: dg.AssetExecutionContext, data_drop: dg.ResourceParam[DataDrop]) -> ReferenceTables:
    """Cited density, thickness, recovery, price, grade-prior and cut-off tables."""
    tables = load_reference_tables(data_drop.root)
    context.add_output_metadata({name: origin for name, origin in tables.origins.items()})
    return tables


@dg.asset(group_name="ingest", deps=["sites_file", "dem_rasters"])  # DEM paths are checked to exist
def sites(context: dg.AssetExecutionContext, data_drop: dg.ResourceParam[DataDrop]) -> ValidationResult:
    """Site footprints, accepted or quarantined row by row, in lon/lat."""
    result = validate_sites(read_sites(data_drop.sites_path), data_drop.sites_path, data_drop.root)
    context.log.info(
        "Sites: %d read, %d accepted, %d quarantined", result.rows_in, len(result.accepted), len(result.quarantine)
    )
    context.add_output_metadata(_counts(result))
    return result


@dg.asset(group_name="ingest", deps=["samples_file"])
def samples(
    context: dg.AssetExecutionContext,
    data_drop: dg.ResourceParam[DataDrop],
    sites: ValidationResult,
    reference_tables: ReferenceTables,
) -> ValidationResult:
    """Assay intervals in g/t with below-detection flags, each tied to a site (unit errors quarantined)."""
    negative: dict[str, int] = {}
    if data_drop.samples_path is None:
        context.log.info("No samples file: every site is estimated from its residue type")
        result = no_samples(sites.accepted)
    else:
        raw = read_samples(data_drop.samples_path)
        if note := negative_limit_note(raw, data_drop.samples_path.name):
            context.log.warning(note)
            negative = negative_limit_cells(raw)
        result = validate_samples(raw, data_drop.samples_path, sites.accepted, reference_tables.grade_priors)
    context.log.info(
        "Samples: %d read, %d accepted, %d quarantined", result.rows_in, len(result.accepted), len(result.quarantine)
    )
    context.add_output_metadata(
        {**_counts(result), "negative_assays_read_as_below_detection": dg.MetadataValue.json(negative)}
    )
    return result


def _counts(result: ValidationResult) -> dict[str, dg.MetadataValue | int]:
    reasons = result.quarantine["reason"].value_counts().head(20) if len(result.quarantine) else {}
    return {
        "rows_in": result.rows_in,
        "rows_accepted": len(result.accepted),
        "rows_quarantined": len(result.quarantine),
        "quarantine_reasons": dg.MetadataValue.json({str(k): int(v) for k, v in dict(reasons).items()}),
    }


@dg.asset_check(asset=sites, blocking=True, description="rows in = rows accepted + rows quarantined")
def sites_rows_conserved(sites: ValidationResult) -> dg.AssetCheckResult:
    """Every site row is either accepted or quarantined."""
    return _conservation(sites)


@dg.asset_check(asset=samples, blocking=True, description="rows in = rows accepted + rows quarantined")
def samples_rows_conserved(samples: ValidationResult) -> dg.AssetCheckResult:
    """Every sample row is either accepted or quarantined."""
    return _conservation(samples)


@dg.asset_check(asset=sites, blocking=True, description="at least one site is usable")
def sites_not_empty(sites: ValidationResult) -> dg.AssetCheckResult:
    """A run with no accepted site has nothing to estimate."""
    return dg.AssetCheckResult(passed=len(sites.accepted) > 0, metadata={"accepted": len(sites.accepted)})


def _conservation(result: ValidationResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=result.balanced,
        metadata={"rows_in": result.rows_in, "accepted": len(result.accepted), "quarantined": len(result.quarantine)},
    )


#: Highest plausible median grade (g/t) of an element in any residue: above it a whole
#: column was almost surely entered in the wrong unit (e.g. ppb labelled ppm). Te reaches
#: ~25 % in Indian high-Te anode slime (CSIR-IMMT 2023), hence its higher bound.
PLAUSIBLE_MEDIAN_GT: dict[str, float] = {"ga": 10_000.0, "te": 300_000.0, "pt": 1_000.0, "pd": 1_000.0, "rh": 500.0}


@dg.asset_check(asset=sites, blocking=True, description="accepted footprints valid and in EPSG:4326")
def sites_geometry_valid(sites: ValidationResult) -> dg.AssetCheckResult:
    """Every accepted footprint is a valid geometry in the storage CRS."""
    accepted = sites.accepted
    invalid = accepted.loc[~accepted.geometry.is_valid, "site_id"].tolist()
    crs_ok = accepted.crs is not None and accepted.crs.to_epsg() == 4326
    return dg.AssetCheckResult(passed=not invalid and crs_ok, metadata={"invalid": invalid, "crs": str(accepted.crs)})


@dg.asset_check(asset=samples, blocking=True, description="median grade per element below a plausible maximum")
def samples_units_plausible(samples: ValidationResult) -> dg.AssetCheckResult:
    """Stop when an element's median grade is implausible, or most of its assays were quarantined as a
    site's unit error: a unit error across the file, not a rich site (one site's is quarantined alone)."""
    medians = {
        element: float(samples.accepted[f"{element}_gt"].median())
        for element in PLAUSIBLE_MEDIAN_GT
        if samples.accepted[f"{element}_gt"].notna().any()
    }
    implausible = {e: round(m, 3) for e, m in medians.items() if m > PLAUSIBLE_MEDIAN_GT[e]}
    reasons = samples.quarantine["reason"].astype(str) if len(samples.quarantine) else pd.Series(dtype=str)
    for element in PLAUSIBLE_MEDIAN_GT:
        unit_errors = int(reasons.str.contains(f"{element} at site .* unit error", regex=True).sum())
        if unit_errors > samples.accepted[f"{element}_gt"].notna().sum():
            implausible[element] = f"{unit_errors} assay rows quarantined as unit errors"
    return dg.AssetCheckResult(
        passed=not implausible,
        metadata={
            "median_gt": dg.MetadataValue.json(medians),
            "implausible": dg.MetadataValue.json(implausible),
            "fix": "check the unit suffix of these assay columns (ppm, ppb, g/t, pct)",
        },  # fmt: skip
    )


@dg.asset_check(asset=samples, description="share of below-detection assays per element at most 50 %")
def samples_bdl_share(samples: ValidationResult) -> dg.AssetCheckResult:
    """Warn when most assays of an element are below detection: its grades rest on substitutions."""
    shares = {
        element: float(samples.accepted.loc[samples.accepted[f"{element}_gt"].notna(), f"{element}_bdl"].mean())
        for element in PLAUSIBLE_MEDIAN_GT
        if samples.accepted[f"{element}_gt"].notna().any()
    }
    high = {element: round(share, 3) for element, share in shares.items() if share > 0.5}
    return dg.AssetCheckResult(
        passed=not high, severity=dg.AssetCheckSeverity.WARN, metadata={"bdl_share": dg.MetadataValue.json(shares)}
    )
