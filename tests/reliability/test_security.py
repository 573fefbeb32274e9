"""Security: paths from data files, raster names, pickles, and PostGIS identifiers.

- DEM paths written in a sites file may not leave the data directory (``..``, absolute
  paths, symlinks, VRTs pointing elsewhere): such a site is quarantined with a reason.
- Nothing Residua writes lands outside the output folder, whatever a site_id contains.
- No model or file from a data directory is ever unpickled.
- PostGIS schema and table names are checked against a strict alphabet before any SQL.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio.shutil
import shapely
from affine import Affine
from hypothesis import example, given, settings
from hypothesis import strategies as st

from residua.assets.grade_models import GradeModels
from residua.assets.grade_report import grade_rasters
from residua.assets.publish import release
from residua.assets.resources import Workers
from residua.assets.settings import run_settings
from residua.geodata.datadrop import DataDrop, resolve_inside
from residua.geodata.postgis import SCHEMA_NAME, TABLE_NAME, PostgisError, PostgisTarget, check_identifier
from residua.geodata.readers import read_sites
from residua.geodata.validate import ValidationResult, validate_sites
from residua.geodata.volumes import measure_site_volumes
from tests.drops import write_prism_drop
from tests.publishing import publish_layers
from tests.reliability.helpers import REPO, assert_clean_validate, files_under, plant_pickles

OUTSIDE = "points outside the data directory"


def _drop_with_dem_paths(root: Path, surface: str, base: str | None = None) -> Path:
    """The prism drop with P1's DEM paths replaced (base defaults to the same text)."""
    drop = write_prism_drop(root / "drop")
    sites = gpd.read_file(drop / "sites.gpkg")
    sites.loc[sites["site_id"] == "P1", ["surface_dem", "base_dem"]] = [surface, surface if base is None else base]
    sites.to_file(drop / "sites.gpkg", layer="sites")
    return drop


def _validated(drop: Path) -> ValidationResult:
    path = drop / "sites.gpkg"
    return validate_sites(read_sites(path), path, drop)


def _p1_reason(result: ValidationResult) -> str:
    rows = result.quarantine.loc[result.quarantine["record_id"] == "P1", "reason"]
    assert len(rows) == 1, f"P1 was not quarantined: {result.quarantine[['record_id', 'reason']]}"
    return rows.iloc[0]


# --------------------------------------------------------------------------------------------
# DEM paths written in data files


@pytest.mark.parametrize(
    "text",
    [
        "../../etc/passwd",  # climbing out
        "rasters/../../outside.tif",  # climbing out through a real folder
        "/etc/passwd",  # absolute
        "/vsicurl/http://169.254.169.254/latest/meta-data",  # a GDAL virtual file system (network)
        "/vsizip//etc/passwd.zip/a.tif",
        "//server/share/dem.tif",
    ],
)
def test_dem_paths_leaving_the_drop_are_quarantined(tmp_path, text):
    drop = _drop_with_dem_paths(tmp_path, text)
    result = _validated(drop)
    assert OUTSIDE in _p1_reason(result)
    assert "P1" not in set(result.accepted["site_id"])
    assert result.balanced
    printed = assert_clean_validate(drop)
    assert OUTSIDE in printed


def test_a_symlinked_dem_pointing_out_of_the_drop_is_quarantined(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.move(drop / "rasters" / "P1_surface.tif", outside / "P1_surface.tif")
    (drop / "rasters" / "P1_surface.tif").symlink_to(outside / "P1_surface.tif")
    assert OUTSIDE in _p1_reason(_validated(drop))


def test_a_symlinked_raster_folder_pointing_out_of_the_drop_is_quarantined(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    shutil.move(drop / "rasters", tmp_path / "real_rasters")
    (drop / "rasters").symlink_to(tmp_path / "real_rasters", target_is_directory=True)
    result = _validated(drop)
    assert len(result.accepted) == 0
    assert all(OUTSIDE in reason for reason in result.quarantine["reason"])


def test_a_symlink_inside_the_drop_stays_usable(tmp_path):
    """Refusing escapes must not refuse a link that stays inside the data directory."""
    drop = write_prism_drop(tmp_path / "drop")
    (drop / "rasters" / "alias.tif").symlink_to(drop / "rasters" / "P1_surface.tif")
    sites = gpd.read_file(drop / "sites.gpkg")
    sites.loc[sites["site_id"] == "P1", "surface_dem"] = "rasters/alias.tif"
    sites.to_file(drop / "sites.gpkg", layer="sites")
    assert "P1" in set(_validated(drop).accepted["site_id"])


@given(st.lists(st.sampled_from(["..", ".", "a", "rasters", "", "/", "é", "..a", "a..", "~", "%2e%2e"]), max_size=8))
@settings(max_examples=60, deadline=None, derandomize=True)
def test_resolve_inside_never_returns_a_path_outside_the_root(tmp_path_factory, parts):
    root = tmp_path_factory.getbasetemp() / "resolve_root"
    root.mkdir(exist_ok=True)
    text = "/".join(parts)
    resolved = resolve_inside(root, text)
    if resolved is not None:
        assert resolved.is_relative_to(root.resolve()), (text, resolved)


def test_a_vrt_whose_sources_lie_outside_the_drop_is_quarantined(tmp_path):
    drop = write_prism_drop(tmp_path / "drop")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for label in ("surface", "base"):
        shutil.move(drop / "rasters" / f"P1_{label}.tif", outside / f"P1_{label}.tif")
        rasterio.shutil.copy(str(outside / f"P1_{label}.tif"), str(drop / "rasters" / f"P1_{label}.vrt"), driver="VRT")
        assert str(outside) in (drop / "rasters" / f"P1_{label}.vrt").read_text()  # absolute source path
    sites = gpd.read_file(drop / "sites.gpkg")
    sites.loc[sites["site_id"] == "P1", ["surface_dem", "base_dem"]] = ["rasters/P1_surface.vrt", "rasters/P1_base.vrt"]
    sites.to_file(drop / "sites.gpkg", layer="sites")
    result = _validated(drop)
    measured, rejected = measure_site_volumes(result.accepted, drop, "sites.gpkg")
    assert "P1" not in measured.index, "the volume of P1 was measured from rasters outside the data directory"
    assert "P1" in set(result.quarantine["record_id"]) | set(rejected["record_id"])


@pytest.mark.parametrize("kind", ["symlink", "vrt"])
def test_a_covariate_raster_outside_the_drop_is_refused(tmp_path, kind):
    from residua.geodata.errors import DataDropError
    from residua.geodata.zonal import find_covariates

    drop = write_prism_drop(tmp_path / "drop")
    outside = tmp_path / "elsewhere" / "secret.tif"
    outside.parent.mkdir()
    shutil.copy(drop / "rasters" / "P1_surface.tif", outside)
    folder = drop / "rasters" / "covariates"
    folder.mkdir()
    if kind == "symlink":
        (folder / "regional.tif").symlink_to(outside)
    else:
        rasterio.shutil.copy(str(outside), str(folder / "regional.vrt"), driver="VRT")
    try:
        found = find_covariates(drop)
    except DataDropError:
        return
    assert found == {}, found


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("rasters/P1\x00_surface.tif", id="nul-byte"),
        pytest.param("rasters/" + "a" * 300 + ".tif", id="name-too-long"),
        pytest.param("rasters/" + "a/" * 3000 + "x.tif", id="path-too-long"),
    ],
)
def test_unusable_dem_path_text_is_quarantined_not_raised(tmp_path, text):
    (tmp_path / "rasters").mkdir()
    raw = gpd.GeoDataFrame(
        {"source_row": [1], "site_id": ["A"], "name": ["A"], "residue_type": ["red mud"], "surface_dem": [text],
         "base_dem": [text]},
        geometry=[shapely.box(80, 20, 80.01, 20.01)], crs="EPSG:4326",
    )  # fmt: skip
    result = validate_sites(raw, tmp_path / "sites.gpkg", tmp_path)
    assert len(result.quarantine) == 1 and "surface_dem" in result.quarantine["reason"].iloc[0]


# --------------------------------------------------------------------------------------------
# Raster names built from site_id (assets/grade_report.py: f"rasters/{site_id}_{element}_grade.tif")


def _invoke_grade_rasters(root: Path, site_ids: list[str]) -> Path:
    """Run the grade_rasters asset on literal block grids for ``site_ids``; return the output folder."""
    out = root / "work" / "out"
    accepted = gpd.GeoDataFrame({"site_id": site_ids}, geometry=[shapely.box(80, 20, 80.01, 20.01)] * len(site_ids),
                                crs="EPSG:4326")  # fmt: skip
    band = np.full((3, 3), 40.0)
    transform = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 2_212_000.0)
    blocks = {site_id: SimpleNamespace(chosen="site_mean", p50=band, p10=band / 2, p90=band * 2, p10_sample=band / 3,
                                       p90_sample=band * 3, transform=transform)
              for site_id in site_ids}  # fmt: skip
    drop = DataDrop(root=root, sites_path=root / "sites.gpkg", samples_path=None, title="t", synthetic=True)
    with dg.build_asset_context() as context:
        grade_rasters(
            context=context,
            **run_settings(out_dir=str(out)).publishing_resources(),
            workers=Workers(),
            data_drop=drop,
            sites=ValidationResult(accepted, accepted.iloc[0:0], len(site_ids)),
            grade_models=GradeModels({"ga": SimpleNamespace(blocks=blocks)}),
        )
        release(context=context, **run_settings(out_dir=str(out)).publishing_resources())
    return out


@pytest.mark.parametrize(
    "site_id",
    [
        pytest.param("/tmp_abs", id="absolute"),  # Path joining folds '//' : stays in rasters/
        pytest.param("../../../escape", id="out-of-out"),
        pytest.param("../../evil", id="into-out-unstaged"),
        pytest.param("../evil", id="out-of-rasters"),
        pytest.param("a/b", id="slash"),
    ],
)
def test_grade_rasters_stay_inside_out_rasters_whatever_the_site_id(tmp_path, site_id):
    before = files_under(tmp_path)
    out = _invoke_grade_rasters(tmp_path, ["P1", site_id])
    created = files_under(tmp_path) - before
    assert all(path.resolve().is_relative_to((out / "rasters").resolve()) for path in created), sorted(created)
    assert len(list((out / "rasters").glob("*.tif"))) == 2


def test_rasters_of_sites_no_longer_modelled_are_removed(tmp_path):
    out = _invoke_grade_rasters(tmp_path, ["P1", "P2"])
    _invoke_grade_rasters(tmp_path, ["P1"])
    assert sorted(path.name for path in (out / "rasters").iterdir()) == ["P1_ga_grade.tif"]


# --------------------------------------------------------------------------------------------
# Pickles

#: Calls that unpickle (or may unpickle) what they read.
UNPICKLING = re.compile(
    r"\b(pickle\.loads?|cPickle\.loads?|joblib\.load|read_pickle|cloudpickle\.loads?|dill\.loads?|torch\.load|"
    r"shelve\.open|allow_pickle\s*=\s*True|Unpickler)\b"
)


#: The one sanctioned unpickler: the project's model store, after its path, card and SHA-256 checks
#: (tests/models/test_model_store.py shows it refusing files from anywhere else).
VERIFIED_UNPICKLING = {("models/model_store.py", "return joblib.load(io.BytesIO(payload))")}


def test_no_code_path_unpickles_anything():
    """geodata/, models/, assets/ and pipelines/ never call a loader that unpickles, but the model store's
    verified load."""
    hits = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for folder in ("geodata", "models", "assets", "pipelines")
        for path in sorted((REPO / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if UNPICKLING.search(line) and (path.relative_to(REPO).as_posix(), line.strip()) not in VERIFIED_UNPICKLING
    ]
    assert hits == []


_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


def test_validate_never_opens_a_pickle_in_the_drop(tmp_path):
    global _OPENED
    drop = write_prism_drop(tmp_path / "drop")
    marker = tmp_path / "UNPICKLED"
    planted = {str(path) for path in plant_pickles(drop, marker)}
    if _audit not in getattr(sys, "_reliability_hooks", ()):
        sys.addaudithook(_audit)  # audit hooks cannot be removed: this one only records while armed
        sys._reliability_hooks = (*getattr(sys, "_reliability_hooks", ()), _audit)
    _OPENED = []
    try:
        assert_clean_validate(drop)
        opened = set(_OPENED)
    finally:
        _OPENED = None
    assert not marker.exists()
    assert not opened & planted, opened & planted
    assert any(name.endswith("sites.gpkg") for name in opened)  # the hook did see the drop being read
    pickle.loads((drop / "model.pkl").read_bytes())  # and the planted pickles are live: loading one fires
    assert marker.exists()


# --------------------------------------------------------------------------------------------
# PostGIS identifiers

INJECTIONS = [
    'residua"; DROP TABLE sites_ranked; --', "residua; DROP SCHEMA public CASCADE", "Robert'); DROP TABLE x;--",
    "residua--", "a b", "Residua", "résidua", "pg_catalog", "pg_temp", "1residua", "", "a" * 64, "sites-ranked",
    "public.sites", "residua\x00", "\nresidua", "residua\t", "ｒesidua", "$1", "*",
]  # fmt: skip


@pytest.mark.parametrize("name", INJECTIONS)
@pytest.mark.parametrize(("pattern", "kind", "length"), [(SCHEMA_NAME, "schema", 48), (TABLE_NAME, "table", 63)])
def test_check_identifier_refuses_injection_attempts(name, pattern, kind, length):
    with pytest.raises(PostgisError, match=f"{kind} name .* is not allowed"):
        check_identifier(name, pattern, kind, length)


@given(st.text(max_size=70).filter(lambda text: not text.endswith("\n")))
@example("sites_ranked")
@example("_")
@settings(max_examples=200, deadline=None, derandomize=True)
def test_check_identifier_accepts_only_plain_lowercase_names(name):
    for pattern, kind, length in ((SCHEMA_NAME, "schema", 48), (TABLE_NAME, "table", 63)):
        try:
            accepted = check_identifier(name, pattern, kind, length)
        except PostgisError as error:
            assert repr(name) in str(error)
            continue
        assert accepted == name
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", name) and len(name) <= length and not name.startswith("pg_")


@pytest.mark.parametrize("name", ["residua\n", "sites_ranked\n"])
def test_check_identifier_refuses_a_trailing_newline(name):
    with pytest.raises(PostgisError):
        check_identifier(name, SCHEMA_NAME, "schema", 48)
    with pytest.raises(PostgisError):
        check_identifier(name, TABLE_NAME, "table", 63)


def test_bad_schema_and_table_names_are_refused_before_connecting():
    unreachable = "postgresql://u:p@127.0.0.1:9/none"  # port 9 (discard): a connection would fail differently
    with pytest.raises(PostgisError, match="schema name"):
        PostgisTarget(unreachable, schema='x"; DROP SCHEMA public; --')
    frame = pd.DataFrame({"a": [1]})
    with pytest.raises(PostgisError, match="table name"):
        publish_layers(PostgisTarget(unreachable), {"sites; DROP TABLE t": frame})
