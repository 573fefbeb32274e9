"""Shared pieces of the reliability tests: fuzzed cells, drop writers, the CLI and subprocess runs.

Everything here writes under a directory the caller passes in (always a pytest tmp path).
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from hypothesis import strategies as st

from residua.pipelines.cli import main

REPO = Path(__file__).resolve().parents[2]

#: Examples per fuzzer. Modest by default so the folder runs in well under two minutes; set
#: RELIABILITY_FUZZ_EXAMPLES=1000 for a deep, randomised search (it then also varies per run).
FUZZ_EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "0")) or None


def fuzz_settings(default_examples: int):
    """Hypothesis settings: reproducible and modest, or deep and random when asked for."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=FUZZ_EXAMPLES or default_examples,
        deadline=None,
        derandomize=FUZZ_EXAMPLES is None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


AUDITED_CLI = Path(__file__).with_name("_audited_cli.py")

# --------------------------------------------------------------------------------------------
# The CLI, in-process


def run_validate(drop: Path) -> tuple[object, str]:
    """``residua validate --data drop``: (exit status or the exception raised, everything printed)."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            status: object = main(["validate", "--data", str(drop)])
    except BaseException as error:  # noqa: BLE001 - the point is to see anything that escapes
        status = error
    return status, buffer.getvalue()


def assert_clean_validate(drop: Path) -> str:
    """The CLI ends with 0 or 1, prints no traceback, and every whole-file error names a fix."""
    return check_validate_outcome(*run_validate(drop))


def check_validate_outcome(status: object, printed: str) -> str:
    """What :func:`assert_clean_validate` asserts, on an outcome of :func:`run_validate`."""
    assert not isinstance(status, BaseException), f"residua validate raised {status!r}\n{printed[-2000:]}"
    assert status in (0, 1), status
    assert "Traceback" not in printed, printed[-2000:]
    for line in printed.splitlines():
        if line.startswith("UNUSABLE  /"):  # a DataDropError: path: problem. Fix: fix
            assert ". Fix: " in line, line
        counts = re.fullmatch(r"\s*(\S+)\s+(\d+)\s+(\d+)\s+(\d+)", line)  # file, rows, accepted, quarantined
        if counts:
            rows, accepted, quarantined = map(int, counts.groups()[1:])
            assert rows == accepted + quarantined, line
    return printed


# --------------------------------------------------------------------------------------------
# Fuzzed cells and geometries

#: A 1 km square in central India (lon/lat), the usual footprint of a fuzzed site.
GOOD_BOX = shapely.box(80.0, 20.0, 80.01, 20.01)

GEOMETRIES: dict[str, shapely.Geometry | None] = {
    "box": GOOD_BOX,
    "other_box": shapely.box(80.02, 20.0, 80.03, 20.01),
    "multipolygon": shapely.MultiPolygon([GOOD_BOX, shapely.box(80.05, 20.0, 80.06, 20.01)]),
    "bowtie": shapely.Polygon([(80, 20), (80.01, 20.01), (80.01, 20), (80, 20.01), (80, 20)]),
    "empty_polygon": shapely.Polygon(),
    "linestring": shapely.LineString([(80, 20), (80.01, 20.01)]),
    "point": shapely.Point(80.0, 20.0),
    "multipoint": shapely.MultiPoint([(80, 20), (80.01, 20)]),
    "collection": shapely.GeometryCollection([GOOD_BOX, shapely.Point(80, 20)]),
    "polygon_z": shapely.Polygon([(80, 20, 1), (80.01, 20, 1), (80.01, 20.01, 1), (80, 20, 1)]),
    "sliver": shapely.box(80.0, 20.0, 80.0 + 1e-12, 20.0 + 1e-12),
    "spike": shapely.Polygon([(80, 20), (80.01, 20), (80.01, 20.01), (80.01, 20), (80, 20.01), (80, 20)]),
    "none": None,
}
#: Geometries whose coordinates are valid numbers but not lon/lat: huge, or past the poles.
HUGE_GEOMETRIES: dict[str, shapely.Geometry] = {
    "huge": shapely.box(1e300, 1e300, 1.0000001e300, 1.0000001e300),
    "big_lonlat": shapely.box(1e10, 1e10, 1.1e10, 1.1e10),
    "past_pole": shapely.box(80.0, 95.0, 80.01, 95.01),
}
WKT_TEXTS: tuple[str, ...] = (
    "", "   ", "POLYGON EMPTY", "POLYGON((80 20, 80.01 20, 80.01 20.01, 80 20))",
    "POLYGON((80 20, 80.01 20, 80.01 20.01))",  # unclosed ring
    "POLYGON((nan 20, 80.01 20, 80.01 20.01, nan 20))", "POLYGON((inf 20, 80.01 20, 80.01 20.01, inf 20))",
    "POINT(80 20)", "LINESTRING(80 20, 81 21)", "not a geometry", "POLYGON((80 20, 80.01 20", "🙂",
    "GEOMETRYCOLLECTION EMPTY", "MULTIPOLYGON(((80 20, 80.01 20, 80.01 20.01, 80 20)))",
)  # fmt: skip
NUMBER_TEXTS: tuple[str, ...] = (
    "", "1500000", "1,500,000", "1.5e6", "-5", "0", "abc", "1,5", "nan", "NaN", "inf", "-inf", "1e308",
    "1e-300", "١٢٣", "  42  ", "1e999", "-1e999", "0x10", "1_000", "２０００",
)  # fmt: skip
RESIDUE_TEXTS: tuple[str, ...] = (
    "red mud", "Red-Mud", "FLY ASH", "jarosite", "copper slag", "pgm tailings", "other", "granite", "", " ",
    "red mud 🙂",
)  # fmt: skip
ASSAY_TEXTS: tuple[str, ...] = (
    "", "12.5", "<0.5", "< 0.5", "<DL", "0", "-1", "1,5", "abc", "n/a", "NaN", "1e999", "<1e999", "1e300",
    "<0", "0.0001", "nan", "-", "1,234.5", "inf",
)  # fmt: skip

#: Text as users type it: unicode, empty, whitespace, quotes, separators, very long.
#: NUL is left out: pandas ends a CSV field at NUL, which is a separate question from validation.
user_text = st.one_of(
    st.sampled_from(["", " ", "A", "é", "日本語", "🙂", "a,b", 'say "hi"', "line\nbreak", "x" * 300, "Ω" * 40]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20),
)
ids = st.sampled_from(["S1", "S2", "S3", "s1", " S1 ", "", "é", "🙂", "1", "1.0", "x" * 200])


def geometries(include_huge: bool = True) -> st.SearchStrategy[shapely.Geometry | None]:
    """Site footprints: valid, invalid, empty, of the wrong type, missing and (optionally) huge."""
    pool = {**GEOMETRIES, **(HUGE_GEOMETRIES if include_huge else {})}
    return st.sampled_from(sorted(pool)).map(pool.__getitem__)


@st.composite
def site_rows(draw: Callable, n_max: int = 6, dem_paths: Iterable[str] = ()) -> list[dict[str, object]]:
    """Fuzzed site rows (contract columns as text, geometry as a shapely object or None)."""
    paths = ["", "rasters/missing.tif", "../outside.tif", "/etc/passwd", "rasters/ok.tif", *dem_paths]
    rows = []
    for _ in range(draw(st.integers(1, n_max))):
        rows.append(
            {
                "site_id": draw(ids),
                "name": draw(user_text),
                "residue_type": draw(st.sampled_from(RESIDUE_TEXTS)),
                "reported_tonnes": draw(st.sampled_from(NUMBER_TEXTS)),
                "dry_density_t_m3": draw(st.sampled_from(("", "1.2", "0", "-1", "7", "abc", "1e-300"))),
                "commissioned_year": draw(st.sampled_from(("", "1990", "2030", "-5", "1e999"))),
                "closed_year": draw(st.sampled_from(("", "1980", "2000", "x"))),
                "surface_dem": draw(st.sampled_from(paths)),
                "base_dem": draw(st.sampled_from(paths)),
                "geometry": draw(geometries()),
            }
        )
    return rows


@st.composite
def sample_rows(draw: Callable, n_max: int = 8) -> list[dict[str, str]]:
    """Fuzzed sample rows: ids, locations (lon/lat, x/y/crs or none) and assays as text."""
    lonlat = st.sampled_from(("80.005", "20.005", "80.025", "", "abc", "nan", "inf", "1e300", "-200", "95"))
    rows = []
    for _ in range(draw(st.integers(1, n_max))):
        row = {
            "sample_id": draw(ids),
            "hole_id": draw(st.sampled_from(("H1", "H2", ""))),
            "site_id": draw(st.sampled_from(("", "S1", "S2", "nope"))),
            "depth_from_m": draw(st.sampled_from(("", "0", "1.5", "-1", "abc", "1e999"))),
            "depth_to_m": draw(st.sampled_from(("", "1.5", "0", "3", "1e999"))),
            "ga_ppm": draw(st.sampled_from(ASSAY_TEXTS)),
            "ga_ppb": draw(st.sampled_from(ASSAY_TEXTS)),
            "te_pct": draw(st.sampled_from(ASSAY_TEXTS)),
            "pt_g/t": draw(st.sampled_from(ASSAY_TEXTS)),
        }
        location = draw(st.sampled_from(("lonlat", "xy", "none")))
        row["lon"] = draw(lonlat) if location == "lonlat" else ""
        row["lat"] = draw(lonlat) if location == "lonlat" else ""
        row["x"] = draw(st.sampled_from(("500000", "1e30", "abc", ""))) if location == "xy" else ""
        row["y"] = draw(st.sampled_from(("2212000", "-1e30", ""))) if location == "xy" else ""
        row["crs"] = (
            draw(st.sampled_from(("EPSG:32644", "EPSG:4326", "", "EPSG:999999", "nonsense")))
            if location == "xy"
            else ""
        )
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Writing drops


def write_sites(folder: Path, rows: list[dict[str, object]], fmt: str) -> Path:
    """Write site rows as sites.<fmt> (csv with a WKT column, gpkg or geojson); return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    geometry = [row.get("geometry") for row in rows]
    attributes = pd.DataFrame([{k: v for k, v in row.items() if k != "geometry"} for row in rows]).astype(str)
    if fmt == "csv":
        attributes["wkt"] = [g.wkt if g is not None else "" for g in geometry]
        path = folder / "sites.csv"
        attributes.to_csv(path, index=False)
        return path
    frame = gpd.GeoDataFrame(attributes, geometry=geometry, crs="EPSG:4326")
    path = folder / f"sites.{fmt}"
    kinds = set(frame.geom_type.dropna())
    options = {"geometry_type": "Unknown"} if len(kinds) != 1 or frame.geometry.isna().any() else {}
    pyogrio.write_dataframe(frame, path, driver="GPKG" if fmt == "gpkg" else "GeoJSON", **options)
    return path


def write_csv_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def non_blank_rows(rows: list[dict[str, object]]) -> int:
    """Rows with at least one non-blank cell: what a CSV reader must account for."""
    return sum(any(str(value).strip() for key, value in row.items()) for row in rows)


def write_dem(path: Path, array: np.ndarray, transform, crs: str = "EPSG:32644") -> Path:
    import rasterio

    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": array.shape[1], "height": array.shape[0], "count": 1,
               "dtype": "float32", "crs": crs, "transform": transform, "nodata": -9999.0}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(np.asarray(array, dtype="float32"), 1)
    return path


# --------------------------------------------------------------------------------------------
# Full runs in subprocesses


def subprocess_env() -> dict[str, str]:
    """The environment of a `residua` subprocess: this checkout, an ephemeral Dagster instance."""
    env = {key: value for key, value in os.environ.items() if key not in ("DAGSTER_HOME", "RESIDUA_POSTGIS_URL",
                                                                             "RESIDUA_DASK_ADDRESS")}  # fmt: skip
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_run(drop: Path, out: Path, log: Path, audit: Path | None = None, draws: int = 100) -> subprocess.Popen:
    """Start ``residua run --data drop --out out --draws N`` (through the audited wrapper)."""
    audit = audit or log.with_suffix(".audit")
    command = [sys.executable, str(AUDITED_CLI), str(audit), "run", "--data", str(drop), "--out", str(out),
               "--draws", str(draws)]  # fmt: skip
    handle = log.open("w")
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=log.parent, env=subprocess_env())


def wait(process: subprocess.Popen, timeout: float = 240) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def staging_dirs(out: Path) -> list[Path]:
    return sorted(path for path in out.glob(".staging-*") if path.is_dir())


def files_under(root: Path, exclude: Iterable[Path] = ()) -> set[Path]:
    """Every file below root, except those under the excluded folders."""
    excluded = [path.resolve() for path in exclude]
    return {
        path
        for path in root.rglob("*")
        if path.is_file() and not any(path.resolve().is_relative_to(folder) for folder in excluded)
    }


# --------------------------------------------------------------------------------------------
# Reading published outputs

#: Provenance items that legitimately change from run to run.
RUN_SPECIFIC_KEYS: frozenset[str] = frozenset({"run_id", "run_time_utc"})


def read_inventory(path: Path) -> dict[str, pd.DataFrame]:
    """Every layer of a GeoPackage, read completely (raises if the file is unreadable or partial)."""
    layers = {}
    for name, _ in pyogrio.list_layers(path):
        layers[name] = pyogrio.read_dataframe(path, layer=name)
    return layers


def ranked_values(path: Path) -> pd.DataFrame:
    """``sites_ranked`` of a GeoPackage: attributes sorted by site, geometry as WKB hex."""
    frame = pyogrio.read_dataframe(path, layer="sites_ranked")
    table = pd.DataFrame(frame.drop(columns="geometry"))
    table["geometry_wkb"] = shapely.to_wkb(frame.geometry.values.to_numpy(), hex=True)
    return table.sort_values("site_id").reset_index(drop=True)


def run_metadata(path: Path) -> dict[str, str]:
    table = pyogrio.read_dataframe(path, layer="run_metadata")
    return dict(zip(table["key"], table["value"]))


# --------------------------------------------------------------------------------------------
# Pickles planted in a drop


class _Bomb:
    """Unpickling this creates the folder ``marker``: proof that someone unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def plant_pickles(drop: Path, marker: Path) -> list[Path]:
    """Malicious pickles where a careless loader might look for models or tables."""
    paths = [drop / "model.pkl", drop / "grade_models.joblib", drop / "rasters" / "P1_surface.pkl",
             drop / "reference" / "prices.pkl", drop / "samples.pickle"]  # fmt: skip
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(_Bomb(marker)))
    return paths
