"""Within-site models: shrinkage to the prior, joint block draws, blocked-CV choice, transforms."""

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest
import shapely
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import Matern, WhiteKernel

from residua.models.block_model import data_block_size, estimate_site_blocks
from residua.models.selection import blocked_folds
from residua.models.within_site import SiteField, block_grade_draws

#: The log-grade of a flat field in ``_holes``.
BASE_LOG_GRADE = np.log(50.0)


def _holes(
    n_holes: int, rng, field=lambda x, y: 0.0, depths=(0.75, 2.25, 3.75), noise=0.05, base=BASE_LOG_GRADE, size=400
):
    rows = []
    for hole in range(n_holes):
        x, y = rng.uniform(0, size, 2)
        for depth in depths:
            rows.append({"site_id": "s", "residue_type": "bauxite_residue", "hole_id": f"h{hole}", "x_m": x, "y_m": y,
                         "depth_m": depth, "depth_to_m": depth + 0.75,
                         "log_grade": base + field(x, y) + rng.normal(0, noise)})  # fmt: skip
    table = pd.DataFrame(rows)
    return table.assign(grade_gt=np.exp(table["log_grade"]), weight=1.0)


def test_log_field_returns_toward_the_prior_far_from_data():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0, 100, 30), rng.uniform(0, 100, 30), np.full(30, 1.0)])
    y = 3.0 + 0.5 * np.sin(X[:, 0] / 15) * np.cos(X[:, 1] / 15)
    model = SiteField("log", prior_mean=1.0, prior_var=0.1).fit(X, np.exp(y))
    (near, far), (near_sd, far_sd) = model.field_marginals(np.array([[50.0, 50.0, 1.0], [1e5, 1e5, 1.0]]))
    assert near == pytest.approx(3.0, abs=0.6)
    # far away only the site's random offset remains; the data (3.0) sit far from the prior (1.0), so
    # the offset's variance grows to their distance and the site's own mean dominates
    assert 2.5 < far < near + 0.3
    assert far_sd > near_sd


def test_held_out_log_field_equals_a_regressor_conditioned_per_fold_with_the_fitted_kernel():
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.uniform(0, 300, 45), rng.uniform(0, 300, 45), rng.uniform(0.5, 6, 45)])
    y = np.log(20) + 0.5 * np.sin(X[:, 0] / 40) + rng.normal(0, 0.1, 45)
    model = SiteField("log", prior_mean=np.log(15), prior_var=0.3).fit(X, np.exp(y))
    folds = blocked_folds(X[:, :2], n_splits=5, n_blocks_per_side=3, seed=1)
    held_out = model.held_out(X, np.exp(y), folds)

    coords = X / model.scale_
    for train, test in folds:
        fold_gp = GaussianProcessRegressor(model.gp_.kernel_, optimizer=None).fit(coords[train], y[train] - np.log(15))
        mean, std = fold_gp.predict(coords[test], return_std=True)
        # the published P50 of a block is its median field value raised by half the nugget (a lognormal block mean)
        npt.assert_allclose(held_out["predicted"].to_numpy()[test], mean + np.log(15) + model.nugget_ / 2, atol=1e-9)
        npt.assert_allclose(held_out["std"].to_numpy()[test], std, rtol=1e-7, atol=1e-9)
    npt.assert_allclose(held_out["observed"], y)
    assert (
        held_out["predicted_gt"].notna().all()
        and (held_out["predicted_gt"] > np.exp(held_out["predicted"]) * 0.999).all()
    )


def test_block_draws_average_is_less_uncertain_than_a_block():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(0, 200, 40), rng.uniform(0, 200, 40), np.ones(40)])
    y = np.log(50) + 0.4 * np.sin(X[:, 0] / 30) + rng.normal(0, 0.05, 40)
    model = SiteField("normal_score").fit(X, np.exp(y))
    blocks = np.column_stack(
        [np.repeat(np.arange(0, 1000, 100.0), 10), np.tile(np.arange(0, 1000, 100.0), 10), np.ones(100)]
    )
    draws = block_grade_draws(model, blocks, n_draws=2000, seed=3)
    site_spread = np.std(np.log(draws.mean(axis=1)))
    block_spread = np.median(np.std(np.log(draws), axis=0))
    assert site_spread < block_spread
    npt.assert_array_equal(draws, block_grade_draws(model, blocks, n_draws=2000, seed=3))
    # realisations honour the data's range: no block far above the richest sample
    assert draws.max() < np.exp(y).max() * 3


def test_spatially_structured_site_chooses_a_field_and_beats_the_baselines():
    # a field the holes resolve (about 60 m between holes, features some 300 m across): the regime where a
    # spatial model should beat the baselines
    rng = np.random.default_rng(2)
    table = _holes(40, rng, field=lambda x, y: 0.8 * np.sin(x / 100) * np.cos(y / 100))
    estimate = estimate_site_blocks(table, np.log(50.0), 0.3, shapely.box(0, 0, 400, 400), thickness_m=4.5, n_draws=200)
    assert estimate is not None and estimate.chosen in ("log_gp", "normal_score_gp")
    rmse = estimate.cv.groupby("method").apply(
        lambda g: np.sqrt(np.mean((g.predicted - g.observed) ** 2)), include_groups=False
    )
    assert rmse[estimate.chosen] < min(rmse["type_mean"], rmse["idw"], rmse["ordinary_kriging"])
    grade_rmse = estimate.cv.groupby("method").apply(
        lambda g: np.sqrt(np.mean((g.predicted_gt - g.observed_gt) ** 2)), include_groups=False
    )
    assert grade_rmse[estimate.chosen] < min(grade_rmse["type_mean"], grade_rmse["idw"])
    cell = estimate.transform.a  # square, north-up cells whose raster covers the footprint from its corner
    assert cell == -estimate.transform.e == estimate.cell_m > 0 and (estimate.transform.c, estimate.transform.f) == (
        0,
        400,
    )
    assert estimate.p50.shape == (int(np.ceil(400 / cell)), int(np.ceil(400 / cell)))
    inside = np.isfinite(estimate.p50)
    assert (estimate.p10[inside] <= estimate.p50[inside]).all() and (estimate.p50[inside] <= estimate.p90[inside]).all()
    # a new sample in a cell spreads wider than the cell's grade: it keeps the nugget the block averages out
    assert (estimate.p10_sample[inside] < estimate.p10[inside]).all()
    assert (estimate.p90_sample[inside] > estimate.p90[inside]).all()


def test_one_sampling_depth_still_gives_a_spatial_raster():
    # a topsoil survey: every composite at 0-0.25 m, the deposit 0.3 m thick. The raster must show the
    # field the holes resolve, not the site mean (blocks were once placed below the only sampled depth,
    # which a constant depth coordinate made infinitely far from every composite)
    rng = np.random.default_rng(8)
    table = _holes(60, rng, field=lambda x, y: 0.8 * np.sin(x / 100), depths=(0.125,), noise=0.05)
    table["depth_to_m"] = 0.25
    estimate = estimate_site_blocks(table, np.log(50.0), 0.3, shapely.box(0, 0, 400, 400), thickness_m=0.3, n_draws=100)
    rows, cols = np.indices(estimate.p50.shape)
    x = estimate.transform.c + (cols + 0.5) * estimate.transform.a
    inside = np.isfinite(estimate.p50)
    truth = np.log(50.0) + 0.8 * np.sin(x[inside] / 100)
    assert np.corrcoef(np.log(estimate.p50[inside]), truth)[0, 1] > 0.9
    assert np.ptp(np.log(estimate.p50[inside])) > 0.8  # the field spans 1.6 log units


def test_well_sampled_site_speaks_for_itself():
    # 100 holes whose grades are 20x the residue type's typical grade: the prior may not pull the site back
    rng = np.random.default_rng(5)
    table = _holes(100, rng, field=lambda x, y: 0.5 * np.sin(x / 80), noise=0.6, base=np.log(20 * 50.0), size=1000)
    estimate = estimate_site_blocks(
        table, np.log(50.0), 0.25, shapely.box(0, 0, 1000, 1000), thickness_m=4.5, n_draws=300
    )
    declustered = np.average(table["grade_gt"], weights=table["weight"])
    assert np.exp(estimate.log_mean) == pytest.approx(declustered, rel=0.10)
    assert estimate.reproduction["declustered_mean_gt"] == pytest.approx(declustered)
    assert abs(estimate.reproduction["mean_z"]) < 1.645 and 0.5 < estimate.reproduction["variogram_ratio"] < 2.0


def test_values_far_below_the_rest_do_not_inflate_the_site_mean():
    # a skewed site where a fifth of the composites were imputed far below detection (as a censored fit can):
    # the mean must stay near the composites' own mean, not exp(mu + sigma^2 / 2) of a stretched log-variance
    rng = np.random.default_rng(6)
    table = _holes(30, rng, noise=0.4, base=np.log(50.0))
    low = rng.choice(len(table), len(table) // 5, replace=False)
    table.loc[low, "grade_gt"] = rng.uniform(0.01, 0.1, len(low))
    table["log_grade"] = np.log(table["grade_gt"])
    estimate = estimate_site_blocks(table, np.log(50.0), 0.3, shapely.box(0, 0, 400, 400), thickness_m=4.5, n_draws=300)
    mean = table["grade_gt"].mean()
    lognormal_mean = np.exp(table["log_grade"].mean() + table["log_grade"].var() / 2)
    assert lognormal_mean > 2 * mean  # what a lognormal back-transform would have published
    assert np.exp(estimate.log_mean) == pytest.approx(mean, rel=0.25)


def test_blocks_are_sized_by_the_hole_spacing():
    grid = np.stack(np.meshgrid(np.arange(0, 400, 40.0), np.arange(0, 400, 40.0)), -1).reshape(-1, 2)
    assert data_block_size(grid, 400 * 400, 1) == pytest.approx(20.0)
    # a site too large for MAX_BLOCKS blocks of that size gets larger ones
    assert data_block_size(grid, 1e4 * 1e4, 4) == pytest.approx(np.sqrt(1e8 * 4 / 10_000))


def test_thin_data_give_no_block_model():
    rng = np.random.default_rng(3)
    table = _holes(2, rng)
    assert estimate_site_blocks(table, 0.0, 1.0, shapely.box(0, 0, 400, 400), thickness_m=3.0) is None


@pytest.mark.parametrize(("fixed_constant", "n_covariates"), [(0.0, 0), (0.7, 0), (0.7, 2)])
def test_closed_form_likelihood_equals_scikit_learns(fixed_constant, n_covariates):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel

    from residua.models.kernels import CovariateDrift, HorizontalMatern, coordinate_differences, field_log_likelihood

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3 + n_covariates)), rng.normal(size=40)
    kernel = ConstantKernel(0.5) * HorizontalMatern((1.0, 1.0), nu=1.5)
    if fixed_constant:
        kernel = ConstantKernel(fixed_constant, constant_value_bounds="fixed") + kernel
    if n_covariates:
        kernel += CovariateDrift(np.ones(n_covariates))
    kernel += WhiteKernel(0.3)
    theta = np.log([0.9, 0.5, 2.0, *[0.4, 1.7][:n_covariates], 0.2])
    expected, expected_gradient = (
        GaussianProcessRegressor(kernel, optimizer=None).fit(X, y).log_marginal_likelihood(theta, eval_gradient=True)
    )
    value, gradient = field_log_likelihood(
        theta, coordinate_differences(X, 3), X[:, 3:], y, 1.5, fixed_constant=fixed_constant
    )
    assert value == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-8)


def test_horizontal_range_is_the_same_in_every_direction():
    from residua.models.kernels import HorizontalMatern

    kernel = HorizontalMatern((100.0, 2.0), nu=0.5)
    origin = np.zeros((1, 3))
    along_x, along_diagonal = np.array([[60.0, 0.0, 0.0]]), np.array([[60.0 / np.sqrt(2), 60.0 / np.sqrt(2), 0.0]])
    assert kernel(along_x, origin) == pytest.approx(kernel(along_diagonal, origin))
    assert kernel(np.array([[0.0, 0.0, 2.0]]), origin) == pytest.approx(np.exp(-1.0))


def test_drift_learns_a_covariate_with_signal_and_ignores_one_without():
    # grades step up by 1 log unit on one rock type (a covariate) beyond a smooth field; a second covariate is noise
    rng = np.random.default_rng(5)
    X, field = _gaussian_field(Matern(150.0, nu=0.5) + WhiteKernel(0.02), 150, seed=5)
    rock, noise = (X[:, 0] > 250).astype(float), rng.normal(size=150)
    grades = np.exp(np.log(40) + 0.3 * field + 1.0 * rock)
    model = SiteField("log", prior_mean=np.log(60), prior_var=0.5, drift=True).fit(
        np.column_stack([X, rock, noise]), grades
    )
    signal_variance, noise_variance = model.gp_.kernel_.k1.k2.variances
    assert signal_variance > 100 * noise_variance
    # a block on the high rock type far from every composite is predicted with its step
    far = np.array([[5000.0, 5000.0, 1.0, 1.0, 0.0], [5000.0, 5000.0, 1.0, 0.0, 0.0]])
    high, low = model.field_marginals(far)[0]
    assert 0.6 < high - low < 1.4
    plain = SiteField("log", prior_mean=np.log(60), prior_var=0.5).fit(np.column_stack([X, rock, noise]), grades)
    assert np.ptp(plain.field_marginals(far)[0]) < 1e-9


def _gaussian_field(kernel, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n points over 0-500 m (flat depth) and one draw of a zero-mean field with ``kernel`` (metres)."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(0, 500, n), rng.uniform(0, 500, n), np.full(n, 1.0)])
    covariance = kernel(X[:, :2]) + 1e-8 * np.eye(n)
    return X, np.linalg.cholesky(covariance) @ rng.standard_normal(n)


@pytest.mark.parametrize(("nu", "expected"), [(0.5, 0.5), (2.5, 1.5)])
def test_field_smoothness_is_chosen_by_likelihood(nu, expected):

    # a rough (exponential) field and a smooth one, each with a small nugget
    X, field = _gaussian_field(Matern(120.0, nu=nu) + WhiteKernel(0.01), 250, seed=3)
    model = SiteField("log", prior_mean=np.log(30), prior_var=0.5).fit(X, np.exp(np.log(30) + 0.6 * field))
    assert model.nu_ == expected
    fixed = SiteField("log", prior_mean=np.log(30), prior_var=0.5, nu=expected).fit(X, np.exp(np.log(30) + 0.6 * field))
    other = SiteField("log", prior_mean=np.log(30), prior_var=0.5, nu=2.0 - expected).fit(
        X, np.exp(np.log(30) + 0.6 * field)
    )
    assert fixed.gp_.log_marginal_likelihood_value_ > other.gp_.log_marginal_likelihood_value_


def _held_out(errors_by_fold: list[np.ndarray], scale: float = 1.0) -> pd.DataFrame:
    """Held-out rows whose log error in fold f is ``errors_by_fold[f]`` (grades consistent with it)."""
    rows = []
    for fold, errors in enumerate(errors_by_fold):
        observed = np.log(np.full(len(errors), 20.0))
        rows.append(pd.DataFrame({"observed": observed, "predicted": observed + scale * errors, "std": 0.4,
                                  "fold": fold, "observed_gt": np.exp(observed),
                                  "predicted_gt": np.exp(observed + scale * errors)}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_choice_keeps_the_default_field_unless_another_is_clearly_better():
    from residua.models.block_model import choose

    rng = np.random.default_rng(0)
    errors = [rng.normal(0, 0.4, 40) for _ in range(5)]
    default = _held_out(errors)
    # 3 % lower errors in four folds and 10 % higher in one: better on average, but not clearly
    noisy = _held_out([e * (1.10 if i == 0 else 0.97) for i, e in enumerate(errors)])
    assert choose({"shrunk_mean": noisy, "log_gp": default}) == "log_gp"
    # 30 % lower errors in every fold: clearly better
    clearly = _held_out([e * 0.7 for e in errors])
    assert choose({"log_gp": default, "log_gp_trend": clearly}) == "log_gp_trend"
    # without a log-grade field, the normal-score one is the default
    assert choose({"shrunk_mean": noisy, "normal_score_gp": default}) == "normal_score_gp"
