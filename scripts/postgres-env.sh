# Shared settings of the test PostgreSQL/PostGIS server (sourced by start/stop/with-postgres.sh).
#
#   RESIDUA_PG_PORT      TCP port on 127.0.0.1 (default 55432; the server opens no Unix socket)
#   RESIDUA_PG_DIR       cluster folder (default <repo>/build/postgres, git-ignored; when run as root from a
#                        checkout under a folder other accounts cannot enter, such as one from mktemp -d,
#                        /var/tmp/residua-postgres-<hash of the checkout path>, which the postgres account can reach)
#   RESIDUA_PG_USER      login role owning the databases (default residua)
#   RESIDUA_PG_PASSWORD  its password (default residua: the server only listens on 127.0.0.1)
#   RESIDUA_PG_DATABASE  PostGIS database (default residua); residua_dagster is created too
#                        for Dagster's instance storage (dagster-postgres).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_PORT="${RESIDUA_PG_PORT:-55432}"
# Whether other accounts (the server runs as postgres) can enter every folder down to $1.
searchable_by_others() {
  local dir="$1"
  while [ "$dir" != "/" ]; do
    [ -n "$(find "$dir" -maxdepth 0 -perm -o+x 2>/dev/null)" ] || return 1
    dir="$(dirname "$dir")"
  done
}
PG_DIR="${RESIDUA_PG_DIR:-$REPO_ROOT/build/postgres}"
if [ -z "${RESIDUA_PG_DIR:-}" ] && [ "$(id -u)" -eq 0 ] && ! searchable_by_others "$REPO_ROOT"; then
  PG_DIR="/var/tmp/residua-postgres-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
fi
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DIR/postgres.log"
PG_USER="${RESIDUA_PG_USER:-residua}"
PG_PASSWORD="${RESIDUA_PG_PASSWORD:-residua}"
PG_DATABASE="${RESIDUA_PG_DATABASE:-residua}"
PG_DAGSTER_DATABASE="${PG_DATABASE}_dagster"

log() { echo "postgres: $*" >&2; }
die() { echo "postgres: error: $*" >&2; exit 1; }

# Newest installed PostgreSQL server binaries (Debian keeps them out of PATH).
pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# Run a server program as the cluster's owner: the postgres account when we are root
# (PostgreSQL refuses to run as root), else ourselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

is_running() {
  local bin
  bin="$(pg_bin)" || return 1
  [ -f "$PG_DATA/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

url_for() {
  echo "postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$1"
}
