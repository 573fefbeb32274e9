"""OGC API - Features: pygeoapi serves the published inventory to HTTP clients and to QGIS.

The inventory is published as the ``exports`` fixture of ``test_exports.py`` publishes it
(``publish_inventory`` on literal layers: three sites, two samples) plus one hub. The server
is the real one, ``residua features-api`` in a subprocess on a free port (pygeoapi's Starlette
app under uvicorn); requests go through urllib. QGIS's own OGC API - Features provider
(``OAPIF``) is run by the system ``/usr/bin/python3`` under ``QT_QPA_PLATFORM=offscreen``, and
skipped only when that interpreter cannot import ``qgis``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy.testing as npt
import pytest
import shapely
import shapely.geometry
import yaml

from residua.geodata.features_api import FeaturesApiError, write_pygeoapi_config
from residua.geodata.publish import DISCLAIMER
from tests.geodata.test_exports import METADATA, quarantine, ranked_sites, samples
from tests.geodata.test_qgis_project import QGIS_MISSING, SYSTEM_PYTHON
from tests.publishing import publish_inventory

REPO = Path(__file__).resolve().parents[2]
#: Sites S1 (78.0, 21.0) and S2 (80.5, 22.5) are inside, S3 (85.0, 24.0) is not.
WEST_BBOX = "77,20,81,23"

#: Run by /usr/bin/python3: open the ``sites`` collection with QGIS's OAPIF provider; argv: port.
QGIS_SCRIPT = r"""
import json, os, sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorLayer(f"url='http://127.0.0.1:{sys.argv[1]}' typename='sites'", "sites", "OAPIF")
report = {"valid": layer.isValid(), "count": layer.featureCount(), "crs": layer.crs().authid(),
          "fields": [field.name() for field in layer.fields()],
          "site_ids": sorted(str(feature["site_id"]) for feature in layer.getFeatures())}
print(json.dumps(report), flush=True)
os._exit(0)  # QGIS 3.22 can crash in exitQgis() after network requests; the report is out
"""


def _hubs() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"hub_id": ["H1"], "name": ["Jamnagar"], "data_origin": ["SYNTHETIC demo data"]},
                            geometry=[shapely.Point(79.0, 22.0)], crs="EPSG:4326")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, url
        return json.load(response)


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("out")
    publish_inventory(folder, ranked_sites(), samples(), quarantine(), METADATA, formats=("gpkg",), hubs=_hubs())
    return folder


@contextlib.contextmanager
def _serve(out: Path, config_dir: Path, *options: str) -> Iterator[str]:
    """``residua features-api`` on ``out`` on a free port, until the block ends; its base URL."""
    port = _free_port()
    log_path = config_dir / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "residua.pipelines.cli", "features-api", "--out", str(out), "--port", str(port),
             "--config-dir", str(config_dir), *options],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    pytest.fail(f"features-api exited with {process.returncode}: {log_path.read_text()}")
                try:
                    _get(f"{base}/?f=json")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"features-api did not answer in 120 s: {log_path.read_text()}")
                    time.sleep(0.3)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def server(out, tmp_path_factory) -> Iterator[str]:
    """The server on the published GeoPackage, shared by the tests of this module; its base URL."""
    with _serve(out, tmp_path_factory.mktemp("features_api")) as base:
        yield base


def test_config_has_the_three_collections_with_titles_extents_and_disclaimer(out, tmp_path):
    path = write_pygeoapi_config(out, tmp_path / "config" / "pygeoapi.yml", "127.0.0.1", 5123)
    config = yaml.safe_load(path.read_text())
    resources = config["resources"]
    assert list(resources) == ["sites", "samples", "hubs"]
    assert config["server"]["url"] == "http://127.0.0.1:5123"
    assert "SYNTHETIC" in config["metadata"]["identification"]["title"]
    assert DISCLAIMER in config["metadata"]["identification"]["description"]
    sites = resources["sites"]
    assert sites["title"] == "Sites (ranked): Export test drop"
    assert sites["description"].startswith("SYNTHETIC demo data")
    assert DISCLAIMER in sites["description"]
    npt.assert_allclose(sites["extents"]["spatial"]["bbox"], ranked_sites().total_bounds)
    npt.assert_allclose(resources["hubs"]["extents"]["spatial"]["bbox"], [79.0, 22.0, 79.0, 22.0])
    providers = {name: resource["providers"][0] for name, resource in resources.items()}
    assert {name: p["table"] for name, p in providers.items()} == {"sites": "sites_ranked", "samples": "samples",
                                                                   "hubs": "hubs"}  # fmt: skip
    assert {p["data"] for p in providers.values()} == {str((out / "inventory.gpkg").resolve())}


def test_config_for_postgis_names_the_schema_and_is_private(out, tmp_path):
    url = "postgresql://gis:s3cret@db.example:5433/inventory"
    path = write_pygeoapi_config(out, tmp_path / "pg.yml", "127.0.0.1", 5123, postgis_url=url, schema="team")
    provider = yaml.safe_load(path.read_text())["resources"]["sites"]["providers"][0]
    assert provider["name"] == "PostgreSQL"
    assert provider["table"] == "sites_ranked"
    assert provider["data"] == {"host": "db.example", "port": 5433, "dbname": "inventory", "user": "gis",
                                "password": "s3cret", "search_path": ["team", "public"]}  # fmt: skip
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the password


@pytest.mark.parametrize(
    ("out_dir", "port", "message"),
    [
        ("missing", 5000, "inventory.gpkg does not exist"),  # nothing published there
        (None, 0, "port 0 is not one clients can be sent to"),  # a URL in every link needs the real port
    ],
)
def test_config_refuses_what_cannot_be_served(out, tmp_path, out_dir, port, message):
    folder = tmp_path / out_dir if out_dir else out
    with pytest.raises(FeaturesApiError, match=message):
        write_pygeoapi_config(folder, tmp_path / "c.yml", "127.0.0.1", port)


def test_cli_without_an_inventory_fails_with_the_fix(tmp_path):
    result = subprocess.run([sys.executable, "-m", "residua.pipelines.cli", "features-api", "--out", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 1
    assert "publish an inventory first with `residua run" in result.stderr


def test_landing_page_and_conformance(server):
    landing = _get(f"{server}/?f=json")
    assert landing["title"] == "Export test drop [SYNTHETIC DATA]"
    assert {"service-desc", "conformance", "data"} <= {link["rel"] for link in landing["links"]}
    conformance = _get(f"{server}/conformance?f=json")["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance
    openapi = _get(f"{server}/openapi?f=json")
    assert "/collections/sites/items" in openapi["paths"]


def test_collections_list_sites_samples_hubs_with_their_extents(server):
    collections = {c["id"]: c for c in _get(f"{server}/collections?f=json")["collections"]}
    assert set(collections) == {"sites", "samples", "hubs"}
    assert collections["samples"]["title"] == "Samples: Export test drop"
    assert DISCLAIMER in collections["sites"]["description"]
    npt.assert_allclose(collections["sites"]["extent"]["spatial"]["bbox"][0], ranked_sites().total_bounds)


def test_items_are_geojson_with_every_feature_and_its_values(server):
    page = _get(f"{server}/collections/sites/items?f=json")
    assert page["type"] == "FeatureCollection"
    assert page["numberMatched"] == 3
    expected = ranked_sites()
    assert [f["properties"]["site_id"] for f in page["features"]] == list(expected["site_id"])
    assert [f["properties"]["rank"] for f in page["features"]] == list(expected["rank"])
    assert page["features"][0]["properties"]["name"] == "Kōlār gold tailings"
    for feature, geometry in zip(page["features"], expected.geometry):
        assert shapely.geometry.shape(feature["geometry"]).equals_exact(geometry, 1e-9)
    assert len(_get(f"{server}/collections/samples/items?f=json")["features"]) == 2
    hubs = _get(f"{server}/collections/hubs/items?f=json")["features"]
    assert [h["properties"]["hub_id"] for h in hubs] == ["H1"]


def test_bbox_filter_returns_the_sites_inside(server):
    page = _get(f"{server}/collections/sites/items?f=json&bbox={WEST_BBOX}")
    assert sorted(f["properties"]["site_id"] for f in page["features"]) == ["S1", "S2"]
    assert page["numberMatched"] == 2
    empty = _get(f"{server}/collections/sites/items?f=json&bbox=0,0,1,1")
    assert empty["features"] == []


def test_limit_and_offset_page_through_every_site_once(server):
    page = _get(f"{server}/collections/sites/items?f=json&limit=1&offset=1")
    assert [f["properties"]["site_id"] for f in page["features"]] == ["S2"]
    assert page["numberReturned"] == 1
    seen, url = [], f"{server}/collections/sites/items?f=json&limit=2"
    for _ in range(5):  # two full pages and pygeoapi's empty third one at most
        page = _get(url)
        seen += [f["properties"]["site_id"] for f in page["features"]]
        following = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not page["features"] or not following:
            break
        url = following[0]
    assert seen == ["S1", "S2", "S3"]


@pytest.mark.skipif(QGIS_MISSING is not None, reason=str(QGIS_MISSING))
def test_qgis_oapif_provider_reads_the_sites_collection(server):
    port = server.rsplit(":", 1)[1]
    result = subprocess.run([SYSTEM_PYTHON, "-c", QGIS_SCRIPT, port], capture_output=True, text=True, timeout=300,
                            check=False, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["valid"], result.stderr
    assert report["count"] == 3
    assert report["crs"] == "EPSG:4326"
    assert {"site_id", "rank", "confidence"} <= set(report["fields"])
    assert report["site_ids"] == ["S1", "S2", "S3"]


@pytest.fixture
def postgis_schema(tmp_path):
    """The inventory published to a folder and a fresh PostGIS schema (dropped afterwards); folder, URL, schema."""
    import sqlalchemy as sa

    from residua.geodata.postgis import PostgisTarget
    from tests.geodata.test_postgis import require_postgis_url

    url = require_postgis_url()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    out = tmp_path / "out"
    publish_inventory(out, ranked_sites(), samples(), quarantine(), METADATA, formats=("gpkg",), hubs=_hubs(),
                      postgis=PostgisTarget(url, schema))  # fmt: skip
    yield out, url, schema
    engine = sa.create_engine(PostgisTarget(url).sqlalchemy_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def test_postgis_tables_are_served_with_bbox_and_paging(postgis_schema, tmp_path):
    out, url, schema = postgis_schema
    with _serve(out, tmp_path, "--postgis-url", url, "--schema", schema) as base:
        page = _get(f"{base}/collections/sites/items?f=json")
        assert sorted(f["properties"]["site_id"] for f in page["features"]) == ["S1", "S2", "S3"]
        inside = _get(f"{base}/collections/sites/items?f=json&bbox={WEST_BBOX}")
        assert sorted(f["properties"]["site_id"] for f in inside["features"]) == ["S1", "S2"]
        second = _get(f"{base}/collections/sites/items?f=json&limit=1&offset=1&sortby=rank")
        assert [f["properties"]["site_id"] for f in second["features"]] == ["S2"]
        assert [h["properties"]["hub_id"] for h in _get(f"{base}/collections/hubs/items?f=json")["features"]] == ["H1"]
