"""Grade-model validation on real public surveys (../shared/realdata), against baselines.

Usage: .venv/bin/python benchmarks/realdata_grade.py [--out benchmarks/results/realdata_grade.md]
       [--seed 0] [--method stack|select] [--n-jobs 2]

For every dataset and metal: nested blocked cross-validation. The outer folds (5 folds,
5x5 blocks, whole blocks held out) are fixed by ``--seed``; on each outer training set
Residua's ``SelectedSpatialModel`` weights its candidates (and calibrates its intervals)
by a repeated inner blocked CV on that training set alone, which never sees the held-out
blocks. The inner CV uses the outer layout (5x5 blocks over the training set's extent), so
it imitates the task it is scored on. The three baselines are scored on the same outer folds: the class mean
(Jura: mean log-grade of the sample's rock type, the analogue of a residue-type mean;
coal ash: the global mean), inverse-distance weighting, and ordinary kriging (PyKrige).
Metals stand in for Ga, Te or PGM (no public georeferenced assays of those in tailings exist).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from models.selection import SelectedSpatialModel, blocked_folds, cross_validate, score
from models.spatial import InverseDistance, OrdinaryKriging

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
JURA_METALS = ("Cd", "Co", "Cr", "Cu", "Ni", "Pb", "Zn")
#: The outer CV of issue 4: 5 folds of whole blocks on a 5x5 grid. Do not loosen.
OUTER_SPLITS, OUTER_BLOCKS = 5, 5


def load_jura() -> tuple[np.ndarray, pd.DataFrame, pd.Series]:
    """Coordinates (m), samples table, and one-hot covariates (land use, rock type) for Jura."""
    samples = pd.read_csv(REALDATA / "jura" / "jura_samples.csv")
    coords = samples[["Xloc", "Yloc"]].to_numpy() * 1000.0
    return coords, samples, samples["Rock"]


def one_hot(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Numeric one-hot encoding (drop-first) of categorical columns."""
    return pd.get_dummies(frame[columns].astype(str), drop_first=True).to_numpy(dtype=float)


def class_mean_cv(y: np.ndarray, classes: pd.Series, folds) -> pd.DataFrame:
    """Held-out class-mean predictions (global mean for a class unseen in training)."""
    predicted, std = np.full(len(y), np.nan), np.full(len(y), np.nan)
    for train, test in folds:
        train_frame = pd.DataFrame({"y": y[train], "c": classes.to_numpy()[train]})
        means, spreads = train_frame.groupby("c")["y"].mean(), train_frame.groupby("c")["y"].std()
        test_classes = classes.to_numpy()[test]
        predicted[test] = pd.Series(test_classes).map(means).fillna(y[train].mean()).to_numpy()
        std[test] = pd.Series(test_classes).map(spreads).fillna(y[train].std()).to_numpy()
    return pd.DataFrame({"observed": y, "predicted": predicted, "std": std})


def selected_cv(
    X: np.ndarray, y: np.ndarray, folds, seed: int, method: str = "stack"
) -> tuple[pd.DataFrame, pd.Series]:
    """Outer-fold predictions of the self-weighting model, and its mean weights over the folds."""
    predicted, std, weights = np.full(len(y), np.nan), np.full(len(y), np.nan), []
    for train, test in folds:
        model = SelectedSpatialModel(n_coords=2, n_blocks_per_side=OUTER_BLOCKS, random_state=seed, method=method)
        model.fit(X[train], y[train])
        predicted[test], std[test] = model.predict(X[test], return_std=True)
        weights.append(model.weights_)
    mean_weights = pd.concat(weights, axis=1).fillna(0.0).mean(axis=1).sort_values(ascending=False)
    return pd.DataFrame({"observed": y, "predicted": predicted, "std": std}), mean_weights


def evaluate(
    dataset: str, metal: str, coords, covariates, y, classes, seed: int = 0, method: str = "stack"
) -> list[dict]:
    """Score the model and the three baselines on the same outer blocked folds."""
    X = np.column_stack([coords, covariates]) if covariates.size else coords
    folds = blocked_folds(coords, n_splits=OUTER_SPLITS, n_blocks_per_side=OUTER_BLOCKS, seed=seed)
    start, cpu = time.perf_counter(), time.process_time()
    model_predictions, weights = selected_cv(X, y, folds, seed, method)
    seconds = time.perf_counter() - start
    chosen = ", ".join(f"{name} {weight:.2f}" for name, weight in weights.items() if weight >= 0.05)
    rows = [{"dataset": dataset, "metal": metal, "method": "residua", **score(model_predictions),
             "chosen": chosen, "seconds": round(seconds, 1)}]  # fmt: skip
    baselines = {
        "class_mean": class_mean_cv(y, classes, folds),
        "idw": cross_validate(InverseDistance(n_coords=2), coords, y, folds),
        "ordinary_kriging": cross_validate(OrdinaryKriging(n_coords=2), coords, y, folds),
    }
    rows += [{"dataset": dataset, "metal": metal, "method": name, **score(p)} for name, p in baselines.items()]
    rows[0]["cpu_seconds"] = time.process_time() - cpu  # the whole metal, baselines included
    return rows


def tasks() -> list[tuple]:
    """(dataset, metal, coords, covariates, log-grade, classes) for every dataset and metal."""
    out = []
    coords, samples, rock = load_jura()
    covariates = one_hot(samples, ["Landuse", "Rock"])
    for metal in JURA_METALS:
        out.append(("jura", metal, coords, covariates, np.log(samples[metal].to_numpy()), rock))
    coal = pd.read_csv(REALDATA / "coalash" / "coalash.csv")
    out.append(("coalash", "ash", coal[["x", "y"]].to_numpy(dtype=float), np.empty((len(coal), 0)),
                np.log(coal["coalash"].to_numpy()), pd.Series(["all"] * len(coal))))  # fmt: skip
    return out


def run(seed: int = 0, method: str = "stack", n_jobs: int = 2) -> pd.DataFrame:
    """Every dataset and metal, in parallel over metals (joblib processes)."""
    results = Parallel(n_jobs=n_jobs, verbose=0)(delayed(evaluate)(*task, seed=seed, method=method) for task in tasks())
    return pd.DataFrame([row for rows in results for row in rows])


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and metal: Residua's RMSE against the best baseline and OK, and the issue's targets.

    Covariates "carry signal" for a metal when the class-mean baseline alone explains at
    least 10 % of the held-out variance (outer-CV R2 >= 0.10); only there is the
    10 %-below-OK target applied.
    """
    out = []
    for (dataset, metal), group in table.groupby(["dataset", "metal"], sort=False):
        by = group.set_index("method")
        residua, ok = by.loc["residua", "rmse"], by.loc["ordinary_kriging", "rmse"]
        best = by.drop(index="residua")["rmse"].min()
        signal = dataset != "coalash" and by.loc["class_mean", "r2"] >= 0.10
        coverage = by.loc["residua", "coverage80"]
        out.append({"dataset": dataset, "metal": metal, "residua_rmse": residua, "best_baseline_rmse": best,
                    "vs_best_pct": 100 * (residua / best - 1), "within_2pct": _verdict(residua <= 1.02 * best),
                    "class_mean_r2": by.loc["class_mean", "r2"], "covariate_signal": "yes" if signal else "no",
                    "vs_ok_pct": 100 * (residua / ok - 1),
                    "ok_minus_10pct": _verdict(residua <= 0.9 * ok) if signal else "n/a",
                    "coverage80": coverage, "coverage_78_82": _verdict(0.78 <= round(coverage, 3) <= 0.82),
                    "weights": by.loc["residua", "chosen"], "seconds": by.loc["residua", "seconds"]})  # fmt: skip
    return pd.DataFrame(out)


def _verdict(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def report(table: pd.DataFrame, summary: pd.DataFrame, seed: int, method: str, wall: float, cpu: float) -> str:
    """The results page: targets per metal, then every method's scores."""
    fmt = {"floatfmt": ".3f", "index": False}
    targets = summary[["dataset", "metal", "residua_rmse", "best_baseline_rmse", "vs_best_pct", "within_2pct",
                       "class_mean_r2", "covariate_signal", "vs_ok_pct", "ok_minus_10pct", "coverage80",
                       "coverage_78_82"]]  # fmt: skip
    command = (
        "`.venv/bin/python benchmarks/realdata_grade.py"
        + (f" --seed {seed}" if seed else "")
        + (f" --method {method}`" if method != "stack" else "`")
    )
    return (
        "# Grade models on real data: nested blocked CV (log-grade)\n\n"
        f"Command: {command}. Machine: 2 cores (shared with other jobs), 24 GiB. "
        f"Wall time {wall / 60:.1f} min, CPU time {cpu / 60:.1f} min (2 joblib processes over metals).\n\n"
        f"Outer CV: {OUTER_SPLITS} folds of whole blocks on a {OUTER_BLOCKS}x{OUTER_BLOCKS} grid, seed {seed}; the "
        "baselines and Residua are scored on the same folds. Residua "
        f"(`SelectedSpatialModel`, method `{method}`) is fitted on each outer training set alone: 3 repeats of "
        "5-fold blocked CV (5x5 blocks) of 7 candidates (4 without covariates), bagged non-negative stacking weights, intervals "
        "calibrated on the pooled out-of-fold predictions. Covariates (Jura): one-hot land use and rock type; "
        "the class-mean baseline uses rock type alone, as before. Other outer-fold seeds and a "
        "select-instead-of-stack ablation: `realdata_grade_sensitivity.md`.\n\n"
        "Targets (issue 4): `within_2pct` Residua's RMSE at most 2 % above the best of the three baselines "
        "(picked with hindsight on these very folds, so a demanding bar); `ok_minus_10pct` at least 10 % "
        "below ordinary kriging, applied where covariates carry signal (class-mean baseline's held-out "
        "R2 >= 0.10); `coverage_78_82` the 80 % intervals cover 78-82 % of held-out values. With about "
        "250 held-out values a perfectly calibrated interval's coverage has a standard error of 0.025, so "
        "the 78-82 % window is narrower than +-1 standard error.\n\n"
        "## Targets per metal\n\n" + targets.to_markdown(**fmt) + "\n\n"
        "## Mean stacking weights over the outer folds, and time per metal\n\n"
        + summary[["dataset", "metal", "weights", "seconds"]].to_markdown(index=False)
        + "\n\n"
        "## All methods\n\n" + table.drop(columns=["chosen", "seconds", "cpu_seconds"]).to_markdown(**fmt) + "\n"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "realdata_grade.md")
    parser.add_argument("--seed", type=int, default=0, help="outer-fold seed (issue 4 uses 0)")
    parser.add_argument("--method", choices=("stack", "select"), default="stack")
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib processes over metals")
    args = parser.parse_args()
    wall = time.perf_counter()
    table = run(seed=args.seed, method=args.method, n_jobs=args.n_jobs)
    text = report(
        table, summarise(table), args.seed, args.method, time.perf_counter() - wall, table["cpu_seconds"].sum()
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
