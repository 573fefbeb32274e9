"""OGC API - Features over the published inventory, served by pygeoapi.

:func:`write_pygeoapi_config` writes a pygeoapi configuration with three collections,
``sites`` (the ``sites_ranked`` layer), ``samples`` and ``hubs``, read from
``inventory.gpkg`` or, given a PostGIS URL, from the tables :mod:`residua.geodata.postgis`
publishes. Titles, descriptions and extents come from the GeoPackage itself
(:func:`residua.geodata.gpkg_metadata.inventory_metadata`), so every description carries the
SYNTHETIC note when the run's data are synthetic and the screening disclaimer.
:func:`serve_features_api` generates the OpenAPI document with ``pygeoapi openapi generate``
and runs pygeoapi's Starlette app under uvicorn.

The GeoPackage is read by pygeoapi's SQLite/GPKG provider, which needs SQLite's loadable
extensions and SpatiaLite (``mod_spatialite``, Debian's ``libsqlite3-mod-spatialite``). A
Python built without loadable extensions (pyenv's default) gets them from
``pysqlite3-binary``: the configuration names :class:`GeoPackageProvider`, pygeoapi's own
provider with that SQLite module. pygeoapi's OGR provider is not used: it needs GDAL's
Python bindings, which the project's environment does not have (pyogrio bundles GDAL).
"""

from __future__ import annotations

import functools
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from residua.geodata.gpkg_metadata import inventory_metadata, is_synthetic_run, read_run_metadata

#: Collection id -> (GeoPackage layer / PostGIS table, readable title).
COLLECTIONS: dict[str, tuple[str, str]] = {
    "sites": ("sites_ranked", "Sites (ranked)"),
    "samples": ("samples", "Samples"),
    "hubs": ("hubs", "Processing hubs"),
}
#: The published inventory, in the output folder.
INVENTORY = "inventory.gpkg"
#: Key column of every published layer (GeoPackage ``fid``; :data:`residua.geodata.postgis.FID` in PostGIS).
ID_FIELD = "fid"
#: Geometry column of the GeoPackage layers and of the PostGIS tables.
GPKG_GEOMETRY, POSTGIS_GEOMETRY = "geom", "geometry"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
APACHE = "https://www.apache.org/licenses/LICENSE-2.0"
WORLD = (-180.0, -90.0, 180.0, 90.0)
#: Largest page a client may ask for (``limit``); pages default to 100 features.
MAX_ITEMS = 10_000


class FeaturesApiError(ValueError):
    """The OGC API - Features service cannot be configured or started as asked."""


def write_pygeoapi_config(
    out_dir: Path,
    config_path: Path,
    host: str,
    port: int,
    postgis_url: str | None = None,
    schema: str = "residua",
) -> Path:
    """Write a pygeoapi configuration serving the published inventory; return its path.

    Parameters
    ----------
    out_dir : Path
        Output folder of a run; its ``inventory.gpkg`` gives the titles, descriptions and
        extents, and the data unless ``postgis_url`` is given.
    config_path : Path
        The YAML file to write (its folder is created). With a PostGIS URL it holds the
        database password, so it is readable by its owner only.
    host, port : str, int
        Address and port the server binds and the clients reach (the URL in every link).
    postgis_url : str, optional
        ``postgresql://user:password@host:port/database`` of the PostGIS publish: serve its
        tables (in ``schema``) instead of the GeoPackage.
    schema : str
        PostgreSQL schema of the published tables.

    Returns
    -------
    Path
        ``config_path``.

    Raises
    ------
    FeaturesApiError
        When ``out_dir`` holds no published inventory, or it has none of the layers served,
        or the port is not one a client can reach.

    Examples
    --------
    >>> write_pygeoapi_config(Path("nowhere"), Path("c.yml"), "127.0.0.1", 5000)
    Traceback (most recent call last):
    ...
    residua.geodata.features_api.FeaturesApiError: nowhere/inventory.gpkg does not exist; publish an inventory first
    with `residua run --out nowhere`
    """
    gpkg = Path(out_dir) / INVENTORY
    if not gpkg.is_file():
        raise FeaturesApiError(f"{gpkg} does not exist; publish an inventory first with `residua run --out {out_dir}`")
    if not 0 < int(port) < 65536:
        raise FeaturesApiError(f"port {port} is not one clients can be sent to; give 1-65535, e.g. 5000")
    return _write_pygeoapi_config(gpkg.resolve(), Path(config_path), host, int(port), postgis_url, schema)


def _write_pygeoapi_config(
    gpkg: Path, config_path: Path, host: str, port: int, postgis_url: str | None, schema: str
) -> Path:
    provenance = read_run_metadata(gpkg)
    layers = inventory_metadata(gpkg, {layer: title for layer, title in COLLECTIONS.values()})
    resources = {}
    for collection, (layer, _title) in COLLECTIONS.items():
        if layer not in layers:
            continue
        metadata = layers[layer]
        extents: dict[str, object] = {"spatial": {"bbox": list(metadata.bounds or WORLD), "crs": CRS84}}
        if metadata.temporal is not None:
            extents["temporal"] = {"begin": metadata.temporal[0], "end": metadata.temporal[1]}
        keywords = [word for words in metadata.keywords.values() for word in words]
        provider = _postgis_provider(postgis_url, schema, layer) if postgis_url else _gpkg_provider(gpkg, layer)
        resources[collection] = {
            "type": "collection",
            "title": metadata.title,
            "description": metadata.abstract,
            "keywords": keywords,
            "links": [],
            "extents": extents,
            "providers": [provider],
        }
    if not resources:
        raise FeaturesApiError(f"{gpkg} has none of the layers {sorted(layer for layer, _ in COLLECTIONS.values())}")
    synthetic = is_synthetic_run(provenance)
    title = provenance.get("title", "Residua inventory") + (" [SYNTHETIC DATA]" if synthetic else "")
    description = " ".join(
        part
        for part in (
            "SYNTHETIC demo data: figures illustrate the method, not real sites." if synthetic else "",
            "Screening estimates of recoverable Ga, Te and PGM in tailings and industrial residues, ranked.",
            provenance.get("disclaimer", ""),
        )
        if part
    )
    url = f"http://{_url_host(host)}:{port}"
    licence = provenance.get("licence") or (
        "SYNTHETIC demo data generated by Residua: Apache-2.0" if synthetic else "The terms of the input data apply"
    )
    config = {
        "server": {
            "bind": {"host": host, "port": port},
            "url": url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "cors": True,
            "pretty_print": False,
            "limits": {"default_items": 100, "max_items": MAX_ITEMS},
            "map": {
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attribution": "&copy; <a href='https://openstreetmap.org/copyright'>OpenStreetMap contributors</a>",
            },
        },
        "logging": {"level": "WARNING"},
        "metadata": {
            "identification": {
                "title": title,
                "description": description,
                "keywords": ["critical minerals", "mine residues", "screening estimate"]
                + (["SYNTHETIC"] if synthetic else []),
                "keywords_type": "theme",
                "terms_of_service": licence,
                "url": url,
            },
            "license": {"name": licence, "url": provenance.get("licence_url") or (APACHE if synthetic else url)},
            "provider": {"name": provenance.get("contact_organization") or "Residua", "url": url},
            "contact": {
                "name": provenance.get("contact_name") or "Residua",
                **({"email": provenance["contact_email"]} if provenance.get("contact_email") else {}),
                "role": "pointOfContact",
            },
        },
        "resources": resources,
    }
    config_path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    descriptor = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if postgis_url else 0o644)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    return config_path


def _gpkg_provider(gpkg: Path, layer: str) -> dict[str, object]:
    return {"type": "feature", "name": f"{__name__}.GeoPackageProvider", "data": str(gpkg), "id_field": ID_FIELD,
            "table": layer, "title_field": _title_field(layer)}  # fmt: skip


def _postgis_provider(postgis_url: str, schema: str, table: str) -> dict[str, object]:
    url = make_url(postgis_url)
    data = {"host": url.host or "localhost", "port": url.port or 5432, "dbname": url.database,
            "user": url.username, "password": url.password, "search_path": [schema, "public"]}  # fmt: skip
    return {"type": "feature", "name": "PostgreSQL", "data": {k: v for k, v in data.items() if v is not None},
            "id_field": ID_FIELD, "table": table, "geom_field": POSTGIS_GEOMETRY}  # fmt: skip


def _title_field(layer: str) -> str:
    return {"sites_ranked": "site_id", "samples": "sample_id", "hubs": "hub_id"}[layer]


def _url_host(host: str) -> str:
    """The host clients are sent to: the loopback for a wildcard bind, IPv6 in brackets."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def generate_openapi(config_path: Path, openapi_path: Path) -> Path:
    """Write the server's OpenAPI document with ``pygeoapi openapi generate``; return its path.

    Raises
    ------
    FeaturesApiError
        When pygeoapi rejects the configuration or cannot open a collection's data.
    """
    command = [*_pygeoapi_command(), "openapi", "generate", str(config_path), "--output-file", str(openapi_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300,
                            env={**os.environ, "PYGEOAPI_CONFIG": str(config_path)})  # fmt: skip
    if result.returncode != 0:
        raise FeaturesApiError(f"`pygeoapi openapi generate {config_path}` failed (exit {result.returncode}): "
                               f"{' / '.join(result.stderr.strip().splitlines()[-3:])}")  # fmt: skip
    return openapi_path


def serve_features_api(config_path: Path, openapi_path: Path, host: str, port: int) -> None:
    """Generate the OpenAPI document and run pygeoapi's Starlette app under uvicorn until interrupted."""
    import uvicorn

    generate_openapi(config_path, openapi_path)
    os.environ["PYGEOAPI_CONFIG"] = str(Path(config_path).resolve())
    os.environ["PYGEOAPI_OPENAPI"] = str(Path(openapi_path).resolve())
    uvicorn.run("pygeoapi.starlette_app:APP", host=host, port=port, log_level="warning", server_header=False)


def _pygeoapi_command() -> list[str]:
    """pygeoapi's command-line tool of this environment."""
    script = Path(sys.executable).with_name("pygeoapi")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from pygeoapi import cli; sys.exit(cli())"]


@functools.cache
def _geopackage_provider_class() -> type:
    """pygeoapi's SQLite/GPKG provider, on an SQLite module that can load SpatiaLite."""
    from pygeoapi.provider import sqlite as sqlite_provider

    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        try:
            from pysqlite3 import dbapi2
        except ImportError as error:
            raise FeaturesApiError("this Python's sqlite3 cannot load extensions (SpatiaLite), which pygeoapi's "
                                   "GeoPackage provider needs; install pysqlite3-binary") from error  # fmt: skip
        sqlite_provider.sqlite3 = dbapi2

    class GeoPackageProvider(sqlite_provider.SQLiteGPKGProvider):
        """pygeoapi's SQLite/GPKG provider (SpatiaLite on loadable-extension SQLite), with ``numberMatched``.

        Clients such as QGIS take the feature count of a collection from ``numberMatched``,
        which pygeoapi's provider leaves out of its pages: it is added with a count query
        (and ``numberReturned``, the page's length).
        """

        def query(self, offset=0, limit=10, resulttype="results", bbox=None, properties=None, **kwargs):
            bbox, properties = list(bbox or []), list(properties or [])
            page = super().query(offset=offset, limit=limit, resulttype=resulttype, bbox=bbox,
                                 properties=properties, **kwargs)  # fmt: skip
            if resulttype == "results" and "numberMatched" not in page:
                hits = super().query(resulttype="hits", bbox=bbox, properties=properties)
                page["numberMatched"] = hits["numberMatched"]
            if resulttype == "results":
                page.setdefault("numberReturned", len(page["features"]))
            return page

    GeoPackageProvider.__module__ = __name__
    return GeoPackageProvider


def __getattr__(name: str) -> type:
    # pygeoapi loads ``geodata.features_api.GeoPackageProvider`` by name; it is built on first use
    # so importing this module does not import pygeoapi.
    if name == "GeoPackageProvider":
        return _geopackage_provider_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
