#!/usr/bin/env bash
# Run a command with RESIDUA_TEST_POSTGIS_URL set to the local test server; `make test` uses it.
#
# An already set RESIDUA_TEST_POSTGIS_URL (e.g. a CI service container) is used as is.
# Otherwise the server is started with scripts/start-postgres.sh and, if this script started
# it, stopped again afterwards; the command's exit status is returned.
# Usage: scripts/with-postgres.sh COMMAND [ARGS...]
set -euo pipefail
here="$(dirname "$0")"
source "$here/postgres-env.sh"
if [ -n "${RESIDUA_TEST_POSTGIS_URL:-}" ]; then
  exec "$@"
fi
was_running=0
is_running && was_running=1
RESIDUA_TEST_POSTGIS_URL="$(bash "$here/start-postgres.sh")"
export RESIDUA_TEST_POSTGIS_URL
status=0
"$@" || status=$?
if [ "$was_running" -eq 0 ]; then
  bash "$here/stop-postgres.sh"
fi
exit "$status"
