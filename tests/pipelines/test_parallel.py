"""Per-site work gives identical results on local processes and on a Dask cluster."""

import numpy.testing as npt
import pandas as pd
from distributed import LocalCluster

from residua.assets.parallel import parallel_backend
from residua.geodata.readers import read_samples, read_sites
from residua.geodata.reference_tables import load_reference_tables
from residua.geodata.validate import validate_samples, validate_sites
from residua.models.grade_workflow import fit_element, site_distributions
from tests.drops import write_prism_drop


def _fit(drop, address):
    sites = validate_sites(read_sites(drop / "sites.gpkg"), drop / "sites.gpkg", drop).accepted
    samples = validate_samples(read_samples(drop / "samples.csv"), drop / "samples.csv", sites).accepted
    priors = load_reference_tables().grade_priors
    thickness = pd.Series({"P1": 10.0, "P2": 4.0, "P3": 6.0})
    with parallel_backend(address, n_jobs=2) as backend:
        fit = fit_element("ga", samples, sites, thickness, priors, n_draws=100, seed=3)
    return backend, fit, site_distributions(fit, sites)


def test_dask_local_cluster_matches_local_processes(tmp_path, monkeypatch):
    drop = write_prism_drop(tmp_path / "drop")
    local_backend, local_fit, local = _fit(drop, None)
    monkeypatch.setenv("RESIDUA_PROGRESS", "1")  # results collected as they arrive, behind a bar
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask_backend, dask_fit, remote = _fit(drop, cluster.scheduler_address)
    assert (local_backend, dask_backend) == ("loky", "dask")
    assert set(local_fit.blocks) == set(dask_fit.blocks) == {"P1", "P3"}
    pd.testing.assert_frame_equal(local, remote)
    for site_id, block in local_fit.blocks.items():
        npt.assert_array_equal(block.p50, dask_fit.blocks[site_id].p50)


def test_volumes_and_covariates_match_on_processes_and_dask(tmp_path):
    from residua.geodata import zonal
    from residua.geodata.volumes import measure_site_volumes
    from residua.geodata.zonal import zonal_statistics

    drop = write_prism_drop(tmp_path / "drop")
    sites = validate_sites(read_sites(drop / "sites.gpkg"), drop / "sites.gpkg", drop).accepted
    covariate = min((drop / "rasters").glob("*.tif"))
    many = pd.concat([sites] * 200, ignore_index=True)  # 600 footprints -> two chunks of >= 256

    def run(address):
        with parallel_backend(address, n_jobs=2):
            volumes, quarantine = measure_site_volumes(sites, drop, "sites.gpkg")
            stats = zonal_statistics(many, covariate, "dem")
        return volumes, quarantine, stats

    sequential_stats = zonal_statistics(many, covariate, "dem")
    assert len(zonal.spatial_chunks(many.geometry, 2)) == 2
    local = run(None)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = run(cluster.scheduler_address)
    pd.testing.assert_frame_equal(local[0], remote[0])
    assert len(local[0]) == 3 and local[1].empty and remote[1].empty
    pd.testing.assert_frame_equal(local[2], remote[2])
    pd.testing.assert_frame_equal(local[2], sequential_stats)
    assert local[2]["cov_dem_coverage"].gt(0).any()
