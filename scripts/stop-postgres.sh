#!/usr/bin/env bash
# Stop the local test server started by scripts/start-postgres.sh (no-op if it is not running).
# Usage: scripts/stop-postgres.sh [--remove]   (--remove also deletes the cluster folder)
set -euo pipefail
source "$(dirname "$0")/postgres-env.sh"
if is_running; then
  as_owner "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
  log "stopped the server in $PG_DATA"
else
  log "not running ($PG_DATA)"
fi
if [ "${1:-}" = "--remove" ]; then
  rm -rf "$PG_DIR"
  log "removed $PG_DIR"
fi
