#!/usr/bin/env bash
# Start what the integration tests need on this machine and print the environment they read.
# PostgreSQL 15 (installed, stopped on a new machine): start the cluster, give the test role a
# password and create the test database over the local socket as the postgres OS user.
set -euo pipefail

PG_ROLE=hpadvisor
PG_PASSWORD=hpadvisor
PG_DB=hpadvisor_test

# Only the environment goes to stdout (fd 3); everything the tools print goes to stderr, so
# that a chatty pg_ctlcluster ("Removed stale pid file") cannot break `env $(...)`.
exec 3>&1 1>&2

log() { echo "test-services: $*" >&2; }

start_postgres() {
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    log "PostgreSQL is not installed; PostgreSQL tests will be skipped"
    return 1
  fi
  local cluster
  cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2" "$4}')
  read -r version name status <<<"$cluster"
  if [ "$status" != "online" ]; then
    log "starting PostgreSQL $version/$name"
    pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start 3>&-  # the server must not hold our stdout
  fi
  local psql=(su postgres -c)
  "${psql[@]}" "psql -v ON_ERROR_STOP=1 -q -c \"DO \\\$\\\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
        CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
      ELSE ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD'; END IF; END \\\$\\\$;\"" >&2
  if ! "${psql[@]}" "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = '$PG_DB'\"" | grep -q 1; then
    "${psql[@]}" "createdb -O $PG_ROLE $PG_DB" >&2
  fi
  echo "HPADVISOR_TEST_POSTGRES_URL=postgresql+psycopg://$PG_ROLE:$PG_PASSWORD@127.0.0.1:5432/$PG_DB" >&3
}

start_postgres || true
