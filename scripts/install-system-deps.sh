#!/usr/bin/env bash
# Debian packages the test suite uses: GDAL's command-line tools (ogrinfo, gdalinfo) and
# GDAL's GeoPackage validator (python3-gdal's validate_gpkg.py), so exports are checked with
# the tools GIS users have; Chromium (with a font) for the browser tests of report.html, which
# Playwright drives as /usr/bin/chromium (no browser download, no chromedriver); QGIS's Python
# bindings and data providers (python3-qgis, qgis-providers: Debian 12's QGIS 3.22) for the tests
# that open residua.qgz in real QGIS with the system python3; SpatiaLite (libsqlite3-mod-spatialite)
# for pygeoapi's GeoPackage provider behind `residua features-api`. No-op when already present.
# PostgreSQL/PostGIS for the PostGIS tests are installed by scripts/start-postgres.sh.
set -euo pipefail
missing=()
command -v ogrinfo >/dev/null 2>&1 || missing+=(gdal-bin)
[ -f /usr/lib/python3/dist-packages/osgeo_utils/samples/validate_gpkg.py ] || missing+=(python3-gdal)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
[ -f /usr/lib/python3/dist-packages/qgis/core/__init__.py ] || missing+=(python3-qgis)
[ -f /usr/lib/qgis/plugins/libprovider_postgres.so ] || missing+=(qgis-providers)
compgen -G "/usr/lib/*/mod_spatialite.so*" >/dev/null || missing+=(libsqlite3-mod-spatialite)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
