#!/usr/bin/env bash
# Start (or reuse) a local PostgreSQL server with PostGIS for the tests and print its URL.
#
# Idempotent: installs Debian's postgresql and postgresql-<version>-postgis-3 when missing
# (as root; otherwise prints the apt-get command), creates a cluster under build/postgres
# (git-ignored) listening only on 127.0.0.1:$RESIDUA_PG_PORT, a password login role, the
# database "residua" with the postgis extension and "residua_dagster" for Dagster's
# instance storage. Settings: see scripts/postgres-env.sh.
#
# Usage: scripts/start-postgres.sh [DATABASE]   prints postgresql://...@127.0.0.1:PORT/DATABASE
#        (DATABASE defaults to the PostGIS database; give residua_dagster for Dagster's URL)
set -euo pipefail
source "$(dirname "$0")/postgres-env.sh"
print_db="${1:-$PG_DATABASE}"

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: $*. Install them with: sudo apt-get install $*"
  fi
  log "installing $* (apt-get)"
  if ! apt-cache show "$@" >/dev/null 2>&1; then
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. Packages.
if ! pg_bin >/dev/null; then
  apt_install postgresql
fi
bin="$(pg_bin)" || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
version="$(basename "$(dirname "$bin")")"
if [ ! -f "/usr/share/postgresql/$version/extension/postgis.control" ]; then
  apt_install "postgresql-$version-postgis-3"
fi

# 2. Cluster.
if [ ! -f "$PG_DATA/PG_VERSION" ]; then
  log "creating cluster in $PG_DATA (PostgreSQL $version)"
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$PG_DIR"
    runuser -u postgres -- test -w "$PG_DIR" ||
      die "the postgres account cannot write $PG_DIR (a parent folder is not searchable?); set RESIDUA_PG_DIR"
  fi
  chmod 700 "$PG_DIR"
  as_owner sh -c "umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > '$PG_DIR/superuser.pw'"
  as_owner "$bin/initdb" -D "$PG_DATA" -U postgres --pwfile="$PG_DIR/superuser.pw" -E UTF8 --locale=C \
    --auth-host=scram-sha-256 --auth-local=scram-sha-256 >/dev/null
  as_owner sh -c "cat >> '$PG_DATA/postgresql.conf'" <<'CONF'
# Residua test server: TCP on 127.0.0.1 only (port given at start), no Unix socket.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
CONF
fi

# 3. Server.
if is_running; then
  running_port="$(sed -n 4p "$PG_DATA/postmaster.pid")"
  [ "$running_port" = "$PG_PORT" ] ||
    die "the server in $PG_DATA already runs on port $running_port; use RESIDUA_PG_PORT=$running_port or stop it with scripts/stop-postgres.sh"
  log "already running on 127.0.0.1:$PG_PORT"
else
  log "starting on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
  if ! as_owner "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -o "-p $PG_PORT" -w -t 60 start >/dev/null; then
    tail -n 5 "$PG_LOG" >&2 || true
    die "the server did not start; if port $PG_PORT is in use, set RESIDUA_PG_PORT to a free port"
  fi
fi

# 4. Role, databases, extension (idempotent).
export PGPASSWORD
PGPASSWORD="$(as_owner cat "$PG_DIR/superuser.pw")"
psql_super() {
  "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -v user="$PG_USER" -v pw="$PG_PASSWORD" -v db="$PG_DATABASE" -v dagster_db="$PG_DAGSTER_DATABASE" "$@"
}
psql_super -d postgres >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'user', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'dagster_db', :'user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dagster_db') \gexec
SQL
psql_super -d "$PG_DATABASE" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
log "ready: databases $PG_DATABASE (PostGIS $("$bin/psql" -X -tA -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$PG_DATABASE" -c 'SELECT postgis_lib_version()')) and $PG_DAGSTER_DATABASE"
url_for "$print_db"
