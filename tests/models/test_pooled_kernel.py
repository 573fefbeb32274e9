"""Kernel shapes pooled over the thin sites of a residue type, and each site's own scale."""

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
from sklearn.gaussian_process.kernels import Matern

from residua.models.block_model import MIN_HOLES_OWN_KERNEL, pooled_site_kernels
from residua.models.kernels import coordinate_differences, field_log_likelihood
from residua.models.pooled_kernel import PooledKernel, SiteResiduals, _Batch, fit_pooled_kernel, fit_site_scale
from residua.models.within_site import SiteField


def _site(rng, n_holes=10, range_m=60.0, sill=1.0, noise=0.25, size=300.0, depths=(0.75, 2.25)):
    """Composites of one site drawn from an exponential field (range ``range_m``) plus a nugget."""
    xy = rng.uniform(0, size, (n_holes, 2))
    coords = np.array([[x, y, depth] for x, y in xy for depth in depths])
    covariance = sill * Matern(range_m, nu=0.5)(coords[:, :2]) + noise * np.eye(len(coords))
    residual = rng.multivariate_normal(np.zeros(len(coords)), covariance)
    return coords, residual


def test_batched_likelihood_is_the_sum_of_the_sites_likelihoods():
    rng = np.random.default_rng(0)
    sites = [SiteResiduals(*_site(rng, n_holes=n), offset_var=0.2) for n in (5, 8, 12)]
    batch = _Batch(sites)
    theta = np.log([0.6, 40.0, 3.0, 0.3])
    value, grad = batch.negative(theta, 1.5)
    expected_value, expected_grad = 0.0, np.zeros(4)
    for site in sites:  # each site standardised, as the batch does
        sd = np.std(site.residual)
        squared = coordinate_differences(site.coords_m, 3)
        v, g = field_log_likelihood(theta, squared, np.empty((len(site.residual), 0)), site.residual / sd, 1.5,
                                    fixed_constant=site.offset_var / sd**2)  # fmt: skip
        expected_value += v
        expected_grad += g
    assert -value == pytest.approx(expected_value, rel=1e-9)
    npt.assert_allclose(-grad, expected_grad, rtol=1e-6, atol=1e-8)


def test_pooled_fit_recovers_the_range_and_nugget_share_no_single_thin_site_pins_down():
    rng = np.random.default_rng(1)
    sites = [SiteResiduals(*_site(rng, range_m=60.0, sill=1.0, noise=0.25), offset_var=0.0) for _ in range(30)]
    shape = fit_pooled_kernel(sites)
    assert shape.nu == 0.5  # the field was exponential
    assert 35.0 < shape.range_h_m < 100.0
    assert shape.noise / (shape.noise + shape.sill) == pytest.approx(0.2, abs=0.1)
    assert shape.n_sites == 30


def test_site_scale_is_the_sites_own_spread_even_with_an_offset():
    rng = np.random.default_rng(2)
    correlation = np.eye(3000)
    assert fit_site_scale(correlation, rng.normal(0.0, 3.0, 3000), 0.0) == pytest.approx(9.0, rel=0.05)
    # a constant offset of large variance absorbs the residuals' mean, not their spread
    assert fit_site_scale(correlation, rng.normal(5.0, 3.0, 3000), 25.0) == pytest.approx(9.0, rel=0.05)


def test_a_thin_site_field_takes_the_pooled_shape_in_metres_and_its_own_scale():
    rng = np.random.default_rng(3)
    coords, residual = _site(rng, n_holes=12, range_m=60.0, sill=4.0, noise=1.0)
    shape = PooledKernel(nu=0.5, range_h_m=60.0, range_v_m=5.0, sill=0.8, noise=0.2, n_sites=30)
    grades = np.exp(3.0 + residual)
    model = SiteField("log", prior_mean=3.0, prior_var=0.1, pooled_kernel=shape).fit(coords, grades)
    field = model.gp_.kernel_.k1.k2
    npt.assert_allclose(field.k2.length_scale, [60.0 / model.scale_[0], 5.0 / model.scale_[2]])
    assert model.nu_ == 0.5
    # the site's own spread (about 5 in log units squared) sets its sill and nugget, not the shape's 1.0
    assert field.k1.constant_value + model.nugget_ == pytest.approx(5.0, rel=0.5)
    assert model.nugget_ / (field.k1.constant_value + model.nugget_) == pytest.approx(0.2)


def _table(site_id, residue_type, n_holes, rng):
    coords, residual = _site(rng, n_holes=n_holes)
    holes = np.repeat([f"{site_id}-h{i}" for i in range(n_holes)], 2)
    return pd.DataFrame({"site_id": site_id, "residue_type": residue_type, "hole_id": holes, "x_m": coords[:, 0],
                         "y_m": coords[:, 1], "depth_m": coords[:, 2], "grade_gt": np.exp(3.0 + residual),
                         "log_grade": 3.0 + residual, "weight": 1.0})  # fmt: skip


def test_thin_sites_share_their_types_shape_and_a_rare_type_takes_the_elements():
    rng = np.random.default_rng(4)
    tables = {f"r{i}": _table(f"r{i}", "bauxite_residue", 8, rng) for i in range(6)}
    tables |= {f"f{i}": _table(f"f{i}", "coal_fly_ash", 8, rng) for i in range(2)}
    tables["big"] = _table("big", "coal_fly_ash", MIN_HOLES_OWN_KERNEL, rng)
    priors = pd.DataFrame({"log_mean": 3.0, "log_var": 0.2}, index=list(tables))
    kernels = pooled_site_kernels(tables, priors)
    assert set(kernels) == {"bauxite_residue", "coal_fly_ash"}
    assert kernels["bauxite_residue"]["log"].n_sites == 6
    assert kernels["coal_fly_ash"]["log"].n_sites == 8  # two of its own are too few: all eight thin sites
    assert set(kernels["bauxite_residue"]) == {"log", "normal_score"}


def test_too_few_thin_sites_pool_nothing():
    rng = np.random.default_rng(5)
    tables = {f"r{i}": _table(f"r{i}", "bauxite_residue", 8, rng) for i in range(4)}
    assert pooled_site_kernels(tables, pd.DataFrame({"log_mean": 3.0, "log_var": 0.2}, index=list(tables))) == {}
