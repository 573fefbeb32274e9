"""The release store (hash chain, stored files, retention, idempotence), site lineage and release diffs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from residua.geodata.reference_tables import load_reference_tables
from residua.geodata.releases import (
    ReleaseStore,
    ReleaseStoreError,
    ReleaseView,
    diff_releases,
    published_files,
    site_lineage,
)
from residua.geodata.transaction import Release


def _publish(out: Path, files: dict[str, bytes]) -> dict[str, Path]:
    """Write ``files`` (relative path -> bytes) into ``out`` as a publish would leave them; return their paths."""
    paths = {}
    for name, content in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        paths[name] = path
    return paths


def _record(store: ReleaseStore, out: Path, files: dict[str, bytes], content: object, run_id: str = "run"):
    paths = _publish(out, files)
    return store.record(store.prepare(paths, run_id=run_id, out_dir=out, content={"c": content}, code="test"))


def _stored(store: ReleaseStore, release_id: str, name: str) -> Path:
    return store.stored_file(store.get(release_id), name)


def test_verify_passes_a_chain_and_names_the_release_and_file_whose_stored_bytes_changed(tmp_path):
    store, out = ReleaseStore(tmp_path / "releases"), tmp_path / "out"
    _record(store, out, {"inventory.gpkg": b"first", "rasters/P1_ga_grade.tif": b"raster", "report.html": b"a"}, 1)
    _record(store, out, {"inventory.gpkg": b"second", "rasters/P1_ga_grade.tif": b"raster", "report.html": b"b"}, 2)
    assert store.verify().ok, store.verify().problems
    assert [m["release_id"] for m in store.manifests()] == ["r0001", "r0002"]
    assert store.get("r0002")["files"]["report.html"]["stored"] is False  # hash only
    stored = _stored(store, "r0001", "inventory.gpkg")
    stored.write_bytes(b"firsT")  # one byte edited
    result = store.verify()
    assert not result.ok
    assert result.problems[0].startswith("release r0001: inventory.gpkg: stored copy")
    assert len(result.problems) == 1  # r0002's files and the chain still match
    restored = store.restore("r0002", tmp_path / "restored")
    assert {path.relative_to(tmp_path / "restored").as_posix(): path.read_bytes() for path in restored} == {
        "inventory.gpkg": b"second", "rasters/P1_ga_grade.tif": b"raster"}  # fmt: skip
    with pytest.raises(ReleaseStoreError, match="stored copy of inventory.gpkg is missing or changed"):
        store.restore("r0001", tmp_path / "restored-r0001")


def test_verify_names_a_release_whose_manifest_was_edited(tmp_path):
    store, out = ReleaseStore(tmp_path / "releases"), tmp_path / "out"
    for content in (1, 2, 3):
        _record(store, out, {"inventory.gpkg": f"v{content}".encode()}, content)
    manifest = store.root / "manifests" / "r0002.json"
    manifest.write_text(manifest.read_text().replace('"run_id": "run"', '"run_id": "rewritten"'))
    problems = store.verify().problems
    assert len(problems) == 1 and problems[0].startswith("release r0002: its manifest hashes to")
    newest = store.root / "manifests" / "r0003.json"
    newest.write_text(newest.read_text().replace('"run_id": "run"', '"run_id": "rewritten"'))
    assert any(p.startswith("release r0003: head.json records") for p in store.verify().problems)


def test_an_identical_publish_records_no_release_and_shared_rasters_are_stored_once(tmp_path):
    store, out = ReleaseStore(tmp_path / "releases"), tmp_path / "out"
    files = {"inventory.gpkg": b"v1", "rasters/P1_ga_grade.tif": b"same raster"}
    first = _record(store, out, files, "content", run_id="run-1")
    again = _record(store, out, {**files, "inventory.gpkg": b"v1 with another run id"}, "content", run_id="run-2")
    assert (first.new, again.new, again.release_id) == (True, False, "r0001")
    assert len(store.manifests()) == 1
    changed = _record(store, out, {**files, "inventory.gpkg": b"v2"}, "other content", run_id="run-3")
    assert (changed.new, changed.release_id, changed.previous) == (True, "r0002", "r0001")
    blobs = [path for path in (store.root / "blobs").rglob("*") if path.is_file()]
    assert len(blobs) == 3  # two GeoPackages and the raster, once
    elsewhere = _record(store, tmp_path / "other-out", files, "content", run_id="run-4")
    assert elsewhere.new  # same content, another output folder: a release of its own


def test_retention_keeps_the_chain_verifiable_from_the_oldest_kept_release(tmp_path):
    store, out = ReleaseStore(tmp_path / "releases", keep=2, blob_grace_s=0), tmp_path / "out"
    for content in range(4):
        _record(store, out, {"inventory.gpkg": f"inventory {content}".encode()}, content)
    assert [m["release_id"] for m in store.manifests()] == ["r0003", "r0004"]
    result = store.verify()
    assert result.ok, result.problems
    assert result.anchor.startswith("r0002 ")
    pruned = [json.loads(line) for line in (store.root / "pruned.jsonl").read_text().splitlines()]
    assert [entry["release_id"] for entry in pruned] == ["r0001", "r0002"]
    assert store.get("r0003")["previous"]["manifest_sha256"] == pruned[1]["manifest_sha256"]
    blobs = {path.name for path in (store.root / "blobs").rglob("*") if path.is_file()}
    kept = {f"{entry['sha256']}.gpkg" for m in store.manifests() for entry in m["files"].values()}
    assert blobs == kept  # those of pruned releases are gone
    (store.root / "pruned.jsonl").write_text("\n".join(json.dumps({**e, "manifest_sha256": "0" * 64}) for e in pruned))
    assert store.verify().problems[0].startswith("release r0003: records its pruned predecessor r0002")


def test_a_publish_that_fails_while_moving_its_files_records_no_release(tmp_path, monkeypatch):
    store, out = ReleaseStore(tmp_path / "releases"), tmp_path / "out"
    release = Release.open(out)
    with release.part("inventory") as staging:
        (staging / "inventory.gpkg").write_bytes(b"layers")
    prepared = []

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("residua.geodata.transaction._apply", failing)
    with pytest.raises(OSError, match="disk full"):
        release.commit(before=lambda _: prepared.append(store.prepare(published_files(release), run_id="r",
                                                                      out_dir=out)))  # fmt: skip
    assert len(prepared) == 1  # hashed before the moves; recording comes only after a commit
    assert store.manifests() == [] and not (out / "inventory.gpkg").exists()
    release.discard()


def test_published_files_are_the_staged_ones_plus_those_kept_from_earlier_publishes(tmp_path):
    out = tmp_path / "out"
    _publish(out, {"report.html": b"old", "rasters/GONE_ga_grade.tif": b"old", "inventory.gpkg.aux.xml": b"gdal"})
    release = Release.open(out)
    with release.part("rasters", stale=["rasters/*"]) as staging:
        (staging / "rasters").mkdir()
        (staging / "rasters" / "P1_ga_grade.tif").write_bytes(b"new")
    files = published_files(release)
    assert sorted(files) == ["rasters/P1_ga_grade.tif", "report.html"]
    assert files["rasters/P1_ga_grade.tif"].is_relative_to(release.staging)
    release.discard()


def test_a_store_inside_the_output_folder_or_an_unknown_release_is_refused(tmp_path):
    with pytest.raises(ReleaseStoreError, match="overlaps"):
        ReleaseStore(tmp_path / "out" / "releases", forbidden=[tmp_path / "out"])
    store = ReleaseStore(tmp_path / "releases")
    with pytest.raises(ReleaseStoreError, match="no releases"):
        store.get("latest")
    _record(store, tmp_path / "out", {"inventory.gpkg": b"x"}, 1)
    with pytest.raises(ReleaseStoreError, match="kept releases are r0001"):
        store.get("r0042")


# ---- lineage and diffs


def _sites() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"site_id": ["A", "B", "C"], "residue_type": ["bauxite_residue", "coal_fly_ash", "coal_fly_ash"],
         "reported_tonnes": [1e6, 2e6, 3e6], "source_row": [1, 2, 3],
         "surface_dem": ["rasters/A_surface.tif", "", ""]},
        geometry=[shapely.box(lon, 20, lon + 0.01, 20.01) for lon in (80, 81, 82)],
        crs="EPSG:4326",
    )  # fmt: skip


def _samples(extra_hole: bool = False) -> pd.DataFrame:
    rows = [{"sample_id": f"{site}-{hole}-{depth}", "hole_id": f"{site}-{hole}", "site_id": site, "ga_gt": 50.0 + depth,
             "source_row": 0} for site in ("A", "B") for hole in range(2) for depth in range(3)]  # fmt: skip
    if extra_hole:
        rows += [{"sample_id": f"A-9-{d}", "hole_id": "A-9", "site_id": "A", "ga_gt": 200.0, "source_row": 0}
                 for d in range(3)]  # fmt: skip
    return pd.DataFrame(rows).assign(source_row=lambda frame: range(2, len(frame) + 2))


def _ranked(**changes: list) -> pd.DataFrame:
    frame = pd.DataFrame({"site_id": ["A", "B", "C"], "rank": [1.0, 2.0, 3.0], "tonnes_p10": [8.0, 8.0, 8.0],
                          "tonnes_p50": [10.0, 10.0, 10.0], "tonnes_p90": [12.0, 12.0, 12.0],
                          "ga_recoverable_t_p10": [1.0, 1.0, 1.0], "ga_recoverable_t_p50": [2.0, 2.0, 2.0],
                          "ga_recoverable_t_p90": [3.0, 3.0, 3.0], "confidence": ["G2", "G3", "G4"],
                          "review_status": ["unreviewed"] * 3, "review_decision": [""] * 3, "reviewer": [""] * 3,
                          "reviewed_at": [""] * 3, "review_note": [""] * 3, "excluded_reason": [""] * 3})  # fmt: skip
    return frame.assign(**changes)


def _lineage(samples: pd.DataFrame, inputs: dict | None = None, sites: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    return site_lineage(sites if sites is not None else _sites(), samples, inputs or {}, load_reference_tables(),
                        sites_file="sites.gpkg")  # fmt: skip


def test_new_samples_at_one_site_are_its_cause_and_the_others_moved_only_through_it():
    old = ReleaseView({"models": {"ga": "ga-1"}}, _ranked(), _lineage(_samples()))
    new_sites = _ranked(rank=[1.0, 3.0, 2.0], ga_recoverable_t_p50=[3.0, 2.02, 2.0])  # A up 50 %, B within 5 %
    new = ReleaseView({"models": {"ga": "ga-2"}}, new_sites, _lineage(_samples(extra_hole=True)))
    changes = diff_releases(old, new)
    direct = changes[changes["direct"]]
    assert set(direct["site_id"]) == {"A"}
    assert (
        direct["causes"].iloc[0].startswith("new samples: 1 new hole (6 -> 9 samples); model change: ga ga-1 -> ga-2")
    )
    assert set(changes.loc[changes["site_id"] == "A", "change"]) == {"ga recoverable t P50"}
    through = changes[~changes["direct"]]
    assert set(through["site_id"]) == {"B", "C"}  # rank moves only
    assert through["causes"].str.startswith("only through other sites").all()
    assert set(through["change"]) == {"rank"}


def test_a_review_decision_is_attributed_to_its_reviewer_and_time():
    old = ReleaseView({}, _ranked(), _lineage(_samples()))
    reviewed = _ranked(rank=[None, 1.0, 2.0], review_status=["excluded", "unreviewed", "unreviewed"],
                       review_decision=["exclude", "", ""], reviewer=["A. Rao", "", ""],
                       reviewed_at=["2026-12-01T09:30:00+00:00", "", ""], review_note=["pond capped", "", ""],
                       excluded_reason=["exclude by A. Rao: pond capped", "", ""])  # fmt: skip
    changes = diff_releases(old, ReleaseView({}, reviewed, _lineage(_samples())))
    site_a = changes[changes["site_id"] == "A"]
    assert site_a["change"].tolist() == ["excluded"]
    assert site_a["causes"].iloc[0] == "review decision: exclude by A. Rao at 2026-12-01T09:30:00+00:00 (pond capped)"
    assert not changes.loc[changes["site_id"] != "A", "direct"].any()


@pytest.mark.parametrize(
    ("edit", "cause"),
    [
        # a footprint redrawn: its own cause, not "changed site attributes"
        (
            lambda s, i: (s.assign(geometry=[shapely.box(80, 20, 80.02, 20.01), *s.geometry[1:]]), i),
            "changed footprint",
        ),
        (lambda s, i: (s.assign(reported_tonnes=[5e6, 2e6, 3e6]), i), "changed site attributes"),
        # the DEM file's bytes changed, the path did not
        (lambda s, i: (s, {"rasters/A_surface.tif": "f" * 64}), "changed DEM: surface rasters/A_surface.tif"),
    ],
)
def test_site_inputs_changed_are_named_even_when_the_numbers_stay(edit, cause):
    inputs = {"rasters/A_surface.tif": "e" * 64}
    sites, new_inputs = edit(_sites(), inputs)
    old = ReleaseView({}, _ranked(), _lineage(_samples(), inputs))
    new = ReleaseView({}, _ranked(), _lineage(_samples(), new_inputs, sites))
    changes = diff_releases(old, new)
    assert changes[["site_id", "change"]].values.tolist() == [["A", "inputs"]]
    assert changes["causes"].iloc[0].startswith(cause)


def test_a_reference_row_change_names_the_table_and_row_and_only_the_sites_using_it():
    tables = load_reference_tables()
    density = tables.density.copy()
    density.loc[density["residue_type"] == "coal_fly_ash", "density_mode_t_m3"] += 0.1
    changed = tables.__class__(**{**tables.__dict__, "density": density})
    old = ReleaseView({}, _ranked(), _lineage(_samples()))
    new_lineage = site_lineage(_sites(), _samples(), {}, changed)
    changes = diff_releases(old, ReleaseView({}, _ranked(), new_lineage))
    assert changes["site_id"].tolist() == ["B", "C"]  # the coal ash sites
    assert (changes["causes"] == "reference table change: density row coal_fly_ash").all()


def test_lineage_counts_holes_and_hashes_each_site_apart():
    lineage = _lineage(_samples(extra_hole=True), {"rasters/A_surface.tif": "e" * 64}).set_index("site_id")
    assert lineage.loc["A", ["n_samples", "n_holes", "surface_dem_sha256"]].tolist() == [9, 3, "e" * 64]
    assert lineage.loc["C", ["n_samples", "n_holes", "samples_sha256"]].tolist() == [0, 0, ""]
    assert set(json.loads(lineage.loc["A", "hole_sha256"])) == {"A-0", "A-1", "A-9"}
    assert lineage["sites_row_sha256"].nunique() == 3
    moved = _samples().assign(source_row=lambda frame: frame["source_row"] + 10)  # rows shifted in the file only
    assert _lineage(moved)["samples_sha256"].tolist() == _lineage(_samples())["samples_sha256"].tolist()


def test_a_site_added_or_removed_is_reported():
    old = ReleaseView({}, _ranked().iloc[:2], _lineage(_samples()).iloc[:2])
    new = ReleaseView({}, _ranked().iloc[[0, 2]], _lineage(_samples()).iloc[[0, 2]])
    changes = diff_releases(old, new)
    assert changes[["site_id", "change"]].values.tolist() == [["B", "removed"], ["C", "added"]]


def test_blobs_of_a_run_still_publishing_survive_pruning(tmp_path):
    store, out = ReleaseStore(tmp_path / "releases", keep=1), tmp_path / "out"  # default grace: a day
    _record(store, out, {"inventory.gpkg": b"one"}, 1)
    pending = store.prepare(_publish(out, {"inventory.gpkg": b"two"}), run_id="slow", out_dir=out, content={"c": 2})
    _record(store, tmp_path / "other", {"inventory.gpkg": b"three"}, 3)  # prunes r0001 meanwhile
    recorded = store.record(pending)
    assert recorded.release_id == "r0003" and store.verify().ok
    assert os.path.isfile(_stored(store, "r0003", "inventory.gpkg"))
