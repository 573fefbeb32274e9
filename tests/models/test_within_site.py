"""Within-site models: shrinkage to the prior, joint block draws, blocked-CV choice."""

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import shapely

from sklearn.gaussian_process import GaussianProcessRegressor

from models.block_model import estimate_site_blocks
from models.selection import blocked_folds
from models.within_site import HierarchicalGP, ShrunkMean, block_grade_draws


def _holes(n_holes: int, rng, field=lambda x, y: 0.0, depths=(0.75, 2.25, 3.75), noise=0.05, base=np.log(50.0)):
    rows = []
    for hole in range(n_holes):
        x, y = rng.uniform(0, 400, 2)
        for depth in depths:
            rows.append({"site_id": "s", "residue_type": "bauxite_residue", "hole_id": f"h{hole}", "x_m": x, "y_m": y,
                         "depth_m": depth, "depth_to_m": depth + 0.75,
                         "log_grade": base + field(x, y) + rng.normal(0, noise)})  # fmt: skip
    return pd.DataFrame(rows)


def test_shrunk_mean_counts_holes_not_intervals():
    X = np.array([[0.0, 0.0, d] for d in range(10)])  # ten intervals down one hole
    model = ShrunkMean(prior_mean=0.0, prior_var=1.0).fit(X, np.full(10, 2.0) + np.linspace(-0.1, 0.1, 10))
    one_hole_weight = 1 / (1 / 1.0 + 1 / model.nugget_)
    assert model.mean_var_ == pytest.approx(one_hole_weight)


def test_gp_returns_toward_the_prior_far_from_data():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0, 100, 30), rng.uniform(0, 100, 30), np.full(30, 1.0)])
    y = 3.0 + 0.5 * np.sin(X[:, 0] / 15)
    model = HierarchicalGP(prior_mean=1.0, prior_var=0.1).fit(X, y)
    (near, far), (near_std, far_std) = model.predict(np.array([[50.0, 50.0, 1.0], [1e5, 1e5, 1.0]]), return_std=True)
    assert near == pytest.approx(3.0, abs=0.6)
    # far away only the site's random offset remains: shrunk from the data (3.0) toward the prior (1.0)
    assert 1.0 < far < near
    assert far_std > near_std


def test_gp_held_out_equals_a_regressor_conditioned_per_fold_with_the_fitted_kernel():
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.uniform(0, 300, 45), rng.uniform(0, 300, 45), rng.uniform(0.5, 6, 45)])
    y = np.log(20) + 0.5 * np.sin(X[:, 0] / 40) + rng.normal(0, 0.1, 45)
    model = HierarchicalGP(prior_mean=np.log(15), prior_var=0.3).fit(X, y)
    folds = blocked_folds(X[:, :2], n_splits=5, n_blocks_per_side=3, seed=1)
    held_out = model.held_out(X, y, folds)

    coords = X / model.scale_
    for train, test in folds:
        fold_gp = GaussianProcessRegressor(model.gp_.kernel_, optimizer=None).fit(coords[train], y[train] - np.log(15))
        mean, std = fold_gp.predict(coords[test], return_std=True)
        npt.assert_allclose(held_out["predicted"].to_numpy()[test], mean + np.log(15), rtol=1e-9, atol=1e-9)
        npt.assert_allclose(held_out["std"].to_numpy()[test], std, rtol=1e-7, atol=1e-9)
    npt.assert_array_equal(held_out["observed"], y)
    assert held_out["predicted"].notna().all()


def test_block_draws_average_is_less_uncertain_than_a_block():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(0, 200, 40), rng.uniform(0, 200, 40), np.ones(40)])
    y = np.log(50) + 0.4 * np.sin(X[:, 0] / 30) + rng.normal(0, 0.05, 40)
    model = HierarchicalGP(prior_mean=np.log(50), prior_var=0.2).fit(X, y)
    blocks = np.column_stack([np.repeat(np.arange(0, 1000, 100.0), 10), np.tile(np.arange(0, 1000, 100.0), 10), np.ones(100)])
    draws = block_grade_draws(model, blocks, n_draws=2000, seed=3)
    site_spread = np.std(np.log(draws.mean(axis=1)))
    block_spread = np.median(np.std(np.log(draws), axis=0))
    assert site_spread < block_spread
    again = block_grade_draws(model, blocks, n_draws=2000, seed=3)
    npt.assert_array_equal(draws, again)


def test_spatially_structured_site_chooses_the_gp_and_beats_the_baselines():
    # a field the holes resolve (about 60 m between holes, features some 300 m across): the regime where a
    # spatial model should beat the baselines (with 25 holes and features half that size it does in half the seeds)
    rng = np.random.default_rng(2)
    table = _holes(40, rng, field=lambda x, y: 0.8 * np.sin(x / 100) * np.cos(y / 100))
    estimate = estimate_site_blocks(table, np.log(50.0), 0.3, shapely.box(0, 0, 400, 400), thickness_m=4.5, n_draws=200)
    assert estimate is not None and estimate.chosen == "hierarchical_gp"
    rmse = estimate.cv.groupby("method").apply(lambda g: np.sqrt(np.mean((g.predicted - g.observed) ** 2)), include_groups=False)
    assert rmse["hierarchical_gp"] < min(rmse["type_mean"], rmse["idw"], rmse["ordinary_kriging"])
    cell = estimate.transform.a  # square, north-up cells whose raster covers the footprint from its corner
    assert cell == -estimate.transform.e > 0 and (estimate.transform.c, estimate.transform.f) == (0, 400)
    assert estimate.p50.shape == (round(400 / cell), round(400 / cell))
    inside = np.isfinite(estimate.p50)
    assert (estimate.p10[inside] <= estimate.p50[inside]).all() and (estimate.p50[inside] <= estimate.p90[inside]).all()


def test_thin_data_give_no_block_model():
    rng = np.random.default_rng(3)
    table = _holes(2, rng)
    assert estimate_site_blocks(table, 0.0, 1.0, shapely.box(0, 0, 400, 400), thickness_m=3.0) is None


@pytest.mark.parametrize("fixed_constant", [0.0, 0.7])
def test_closed_form_likelihood_equals_scikit_learns(fixed_constant):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    from models.spatial import _matern_log_likelihood, _squared_differences

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    kernel = ConstantKernel(0.5) * Matern(np.ones(3), nu=1.5) + WhiteKernel(0.3)
    if fixed_constant:
        kernel = ConstantKernel(fixed_constant, constant_value_bounds="fixed") + kernel
    theta = np.log([0.9, 0.5, 2.0, 1.3, 0.2])
    expected, expected_gradient = GaussianProcessRegressor(kernel, optimizer=None).fit(X, y).log_marginal_likelihood(
        theta, eval_gradient=True
    )
    value, gradient = _matern_log_likelihood(theta, _squared_differences(X), y, 1.5, fixed_constant=fixed_constant)
    assert value == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-8)
