"""``residua features-api``: the published inventory as OGC API - Features (pygeoapi) for web GIS clients.

Serves the collections ``sites``, ``samples`` and ``hubs`` of ``<out>/inventory.gpkg``, or of
the PostGIS tables when ``--postgis-url`` or ``RESIDUA_POSTGIS_URL`` is set. The generated
pygeoapi configuration and OpenAPI document go to ``<out>/features_api/`` (or ``--config-dir``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from residua.geodata.features_api import FeaturesApiError, serve_features_api, write_pygeoapi_config

COMMAND = "features-api"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``features-api`` on the ``residua`` command's subparsers."""
    parser = subparsers.add_parser(COMMAND, help="serve the inventory as OGC API - Features (pygeoapi)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder of a run (default: ./out)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    parser.add_argument("--postgis-url", default=None, metavar="URL",
                        help="serve the PostGIS tables, not the GeoPackage (default: RESIDUA_POSTGIS_URL)")  # fmt: skip
    parser.add_argument("--schema", default="residua", help="PostgreSQL schema of the published tables")
    parser.add_argument("--config-dir", type=Path, default=None,
                        help="where to write the pygeoapi configuration (default: <out>/features_api)")  # fmt: skip


def run(args: argparse.Namespace) -> int | None:
    """Run ``features-api``; None when ``args.command`` is another command."""
    if args.command != COMMAND:
        return None
    folder = args.config_dir or args.out / "features_api"
    postgis_url = args.postgis_url or os.environ.get("RESIDUA_POSTGIS_URL") or None
    try:
        config = write_pygeoapi_config(args.out, folder / "pygeoapi-config.yml", args.host, args.port,
                                       postgis_url=postgis_url, schema=args.schema)  # fmt: skip
        if args.host not in LOOPBACK:
            print(f"warning: serving on {args.host} to anyone who can reach it, read-only and without sign-in; "
                  "put a TLS proxy in front (README, 'Reviewing as a team')", file=sys.stderr)  # fmt: skip
        source = f"PostGIS schema {args.schema}" if postgis_url else str(args.out / "inventory.gpkg")
        print(f"Residua OGC API - Features: http://{args.host}:{args.port}/  (data: {source}; Ctrl+C stops)",
              flush=True)  # fmt: skip
        serve_features_api(config, folder / "openapi.yml", args.host, args.port)
    except FeaturesApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
