"""Releases as an operator meets them: runs of the real pipeline, then ``residua releases`` and ``residua diff``."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from residua.assets.resources import EXECUTION_RESOURCES
from residua.assets.settings import FIELD_OWNERS
from residua.geodata.formats import write_geopackage
from residua.geodata.releases import ReleaseStore
from residua.geodata.reviews import append_review
from residua.pipelines.cli import main
from tests.drops import write_prism_drop


def _add_hole(drop: Path, site_id: str, factor: float) -> None:
    """Append a hole at ``site_id``: its first hole's intervals at the site's mean position, ``factor`` x Ga."""
    samples = pd.read_csv(drop / "samples.csv", dtype=str, keep_default_na=False)
    first = samples[samples["hole_id"] == f"{site_id}-0"].copy()
    at_site = samples[samples["hole_id"].str.startswith(f"{site_id}-")]
    first["longitude"] = f"{at_site['longitude'].astype(float).mean():.8f}"
    first["latitude"] = f"{at_site['latitude'].astype(float).mean():.8f}"
    first["hole_id"] = f"{site_id}-NEW"
    first["sample_id"] = [f"{site_id}-NEW-{i}" for i in range(len(first))]
    first["ga_ppm"] = [f"{float(value) * factor:.2f}" for value in first["ga_ppm"]]
    pd.concat([samples, first], ignore_index=True).to_csv(drop / "samples.csv", index=False)


def _run(drop: Path, out: Path) -> int:
    return main(["run", "--data", str(drop), "--out", str(out), "--draws", "100"])


def test_releases_are_recorded_compared_and_verified_across_runs(tmp_path, capsys, monkeypatch):
    drop, out, home = write_prism_drop(tmp_path / "drop"), tmp_path / "out", tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    store = ReleaseStore(home / "releases")

    assert _run(drop, out) == 0
    assert [m["release_id"] for m in store.manifests()] == ["r0001"]
    first = store.get("r0001")
    assert first["inputs"]["samples.csv"] and first["settings"]["n_draws"] == 100 and set(first["models"]) >= {"ga"}
    # every setting that shapes the results, from the resources and each asset's config, none of the execution ones
    assert set(first["settings"]) == {name for name, owner in FIELD_OWNERS.items() if owner not in EXECUTION_RESOURCES}
    assert first["files"]["inventory.gpkg"]["stored"] and not first["files"]["report.html"]["stored"]
    assert any(name.startswith("rasters/") and entry["stored"] for name, entry in first["files"].items())
    lineage = pyogrio.read_dataframe(out / "inventory.gpkg", layer="lineage", read_geometry=False)
    assert sorted(lineage["site_id"]) == ["P1", "P2", "P3"]

    assert _run(drop, out) == 0  # nothing changed: no new release
    assert len(store.manifests()) == 1

    _add_hole(drop, "P1", factor=3.0)
    append_review(drop / "reviews.csv", "P3", "exclude", "pond capped in 2019", "A. Rao")
    published = (out / "inventory.gpkg").read_bytes()

    def killed(*args, **kwargs):
        raise OSError("killed while moving the files")

    monkeypatch.setattr("residua.geodata.transaction._apply", killed)
    assert _run(drop, out) == 1  # fails mid-publish: nothing published, no release
    assert len(store.manifests()) == 1 and (out / "inventory.gpkg").read_bytes() == published
    monkeypatch.undo()
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    assert _run(drop, out) == 0
    assert [m["release_id"] for m in store.manifests()] == ["r0001", "r0002"]
    capsys.readouterr()
    assert main(["diff", "--csv", str(tmp_path / "changes.csv")]) == 0
    printed = capsys.readouterr().out
    assert "Release r0002" in printed and "against r0001" in printed and "samples.csv (changed)" in printed
    changes = pd.read_csv(tmp_path / "changes.csv", keep_default_na=False)
    direct = changes[changes["direct"]]
    assert set(direct["site_id"]) == {"P1", "P3"}
    new_samples = changes[changes["causes"].str.contains("new samples: 1 new hole")]
    assert set(new_samples["site_id"]) == {"P1"}
    p3 = changes[changes["site_id"] == "P3"]
    assert "excluded" in set(p3["change"])
    assert p3["causes"].iloc[0].startswith("review decision: exclude by A. Rao at 20")
    assert changes.loc[~changes["direct"], "causes"].str.startswith("only through other sites").all()

    run_id = store.get("r0002")["run_id"]  # the release asset's materialization names the release and the diff
    event = dg.DagsterInstance.get().get_latest_materialization_event(dg.AssetKey("release"))
    assert event is not None and event.run_id == run_id
    tagged = event.asset_materialization.metadata
    assert tagged["release"].value == "r0002"
    assert tagged["diff_summary"].value["against"] == "r0001" and tagged["diff_summary"].value["sites_changed"] >= 2

    published_changes = pyogrio.read_dataframe(out / "inventory.gpkg", layer="changes", read_geometry=False)
    assert set(published_changes["since_release"]) == {"r0001"}
    assert set(published_changes.loc[published_changes["direct"].astype(bool), "site_id"]) == {"P1", "P3"}

    assert main(["releases", "list"]) == 0
    listing = capsys.readouterr().out
    assert "r0001" in listing and "r0002" in listing and store.head()["manifest_sha256"] in listing
    assert main(["status", "--out", str(out)]) == 0
    status = capsys.readouterr().out
    assert "Last releases" in status and "r0002" in status and "last change (r0001 -> r0002)" in status

    assert main(["releases", "verify"]) == 0
    assert "OK: 2 releases" in capsys.readouterr().out
    stored = store.stored_file(store.get("r0002"), "inventory.gpkg")
    content = bytearray(stored.read_bytes())
    content[len(content) // 2] ^= 0x01  # one byte edited
    stored.write_bytes(bytes(content))
    assert main(["releases", "verify"]) == 1
    report = capsys.readouterr().out
    assert "FAILED" in report and "release r0002: inventory.gpkg: stored copy" in report
    assert json.loads((home / "releases" / "head.json").read_text())["release_id"] == "r0002"


def _write_release(store: ReleaseStore, out: Path, ranks: list[float], holes: list[dict], run_id: str) -> None:
    """Record a release whose inventory.gpkg holds two sites (ranks) and their lineage (hole hashes)."""
    sites = gpd.GeoDataFrame({"site_id": ["A", "B"], "rank": ranks, "tonnes_p50": [10.0, 20.0]},
                             geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)], crs=4326)  # fmt: skip
    lineage = pd.DataFrame({"site_id": ["A", "B"], "hole_sha256": [json.dumps(h) for h in holes],
                            "n_samples": [len(h) for h in holes]})  # fmt: skip
    out.mkdir(exist_ok=True)
    write_geopackage(out / "inventory.gpkg", {"sites_ranked": sites, "lineage": lineage})
    files = {"inventory.gpkg": out / "inventory.gpkg"}
    store.record(store.prepare(files, run_id=run_id, out_dir=out, content={"ranks": ranks, "holes": holes}))


def test_list_diff_show_restore_and_verify_read_a_given_store(tmp_path, capsys):
    store, out = ReleaseStore(tmp_path / "store"), tmp_path / "out"
    _write_release(store, out, [1.0, 2.0], [{"h1": "a"}, {}], "run-one")
    _write_release(store, out, [2.0, 1.0], [{"h1": "a"}, {"h7": "b"}], "run-two")
    assert main(["releases", "list", "--store", str(store.root)]) == 0
    listing = capsys.readouterr().out
    assert "r0001" in listing and "run run-one" in listing and "r0002" in listing
    assert main(["diff", "--store", str(store.root)]) == 0
    printed = capsys.readouterr().out
    assert "B  rank 2 -> 1 (up 1)\n   because: new samples: 1 new hole (0 -> 1 samples)" in printed
    assert "A  rank 1 -> 2 (down 1)\n   because: only through other sites (B)" in printed
    assert main(["diff", "r0002", "r0001", "--store", str(store.root), "--threshold", "0"]) == 1
    assert "positive share" in capsys.readouterr().err
    assert main(["releases", "show", "r0001", "--store", str(store.root)]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "run-one"
    assert main(["releases", "restore", "r0001", "--to", str(tmp_path / "back"), "--store", str(store.root)]) == 0
    assert (tmp_path / "back" / "inventory.gpkg").read_bytes() == store.stored_file(
        store.get("r0001"), "inventory.gpkg"
    ).read_bytes()
    assert main(["releases", "verify", "--store", str(store.root)]) == 0
    (store.root / "manifests" / "r0001.json").write_text("{}")
    assert main(["releases", "verify", "--store", str(store.root)]) == 1
    assert "release r0001: its manifest names itself None" in capsys.readouterr().out
    assert main(["diff", "r0009", "--store", str(tmp_path / "store")]) == 1
    assert "no release 'r0009'" in capsys.readouterr().err


def test_the_release_commands_without_a_store_explain_how_to_get_one(capsys):
    assert main(["releases", "list"]) == 1  # no DAGSTER_HOME (tests clear it), no --store
    assert "Set DAGSTER_HOME" in capsys.readouterr().err
