#!/usr/bin/env bash
# Local PostgreSQL and Redis for tests and the demo (install also adds hledger, which the
# tests run on the journal export): project-owned data directories,
# loopback only, non-default ports, never the system-wide instances.
#   hack/services.sh install|start|stop|status|env
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_PORT=${UA_PG_PORT:-55432}
REDIS_PORT=${UA_REDIS_PORT:-56379}
PG_BIN=${UA_PG_BIN:-}
PG_SUPERUSER=ua_admin
PG_SUPERPASS=ua_admin_local_only
APP_USER=ua_api
APP_PASS=ua_api_local_only

log() { printf '[services] %s\n' "$*" >&2; }

# PostgreSQL refuses to run as root, so its data lives where the `postgres` user can
# reach it: the repository's .run/ when every parent is traversable, else /tmp.
state_dir() {
  local dir="$ROOT/.run"
  mkdir -p "$dir"
  if id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$dir"; then
    dir="/tmp/universal-accounting-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
    mkdir -p "$dir"
  fi
  printf '%s' "$dir"
}

find_pg_bin() {
  [ -n "$PG_BIN" ] && { printf '%s' "$PG_BIN"; return; }
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  printf '%s' "$d"
}

install() {
  local need=()
  [ -n "$(find_pg_bin)" ] || need+=(postgresql postgresql-contrib)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v runuser >/dev/null || need+=(util-linux)
  # The integration tests cross-check the journal export with the real hledger.
  command -v hledger >/dev/null || need+=(hledger)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Keep the packages' own system-wide servers from starting: we run our own.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  fi
}

pg_start() {
  local bin dir data
  bin=$(find_pg_bin); dir=$(state_dir); data="$dir/pg"
  [ -n "$bin" ] || { log "PostgreSQL is not installed: run 'make install' (apt-get install postgresql)"; exit 1; }
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $data"
    mkdir -p "$data"; chown postgres:postgres "$dir" "$data"; chmod 700 "$data"
    local pw; pw=$(mktemp); printf '%s\n' "$PG_SUPERPASS" >"$pw"; chown postgres "$pw"
    runuser -u postgres -- "$bin/initdb" -D "$data" -U "$PG_SUPERUSER" --pwfile="$pw" \
      --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pw"
  fi
  if runuser -u postgres -- "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
  else
    runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start -o \
      "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $data -c max_connections=300 -c shared_buffers=256MB -c fsync=on" >/dev/null
    log "PostgreSQL started on 127.0.0.1:$PG_PORT"
  fi
  PGPASSWORD=$PG_SUPERPASS "$bin/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres \
    -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT 'CREATE ROLE accounting_app NOLOGIN'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'accounting_app') \gexec
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE accounting_app', '$APP_USER', '$APP_PASS')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_USER') \gexec
SELECT 'CREATE DATABASE accounting'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'accounting') \gexec
SQL
}

pg_stop() {
  local bin dir data
  bin=$(find_pg_bin); dir=$(state_dir); data="$dir/pg"
  [ -n "$bin" ] && [ -f "$data/postmaster.pid" ] || return 0
  runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null && log "PostgreSQL stopped"
}

redis_start() {
  local dir; dir=$(state_dir)/redis; mkdir -p "$dir"
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    log "Redis already running on 127.0.0.1:$REDIS_PORT"; return
  fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save '' --appendonly no >/dev/null
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  log "Redis started on 127.0.0.1:$REDIS_PORT"
}

redis_stop() {
  local pidf; pidf=$(state_dir)/redis/redis.pid
  [ -f "$pidf" ] || return 0
  local pid; pid=$(cat "$pidf")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "Redis stopped"
  fi
  rm -f "$pidf"
}

env_lines() {
  cat <<ENV
export DATABASE_URL=postgresql://$APP_USER:$APP_PASS@127.0.0.1:$PG_PORT/accounting
export MIGRATION_DATABASE_URL=postgresql://$PG_SUPERUSER:$PG_SUPERPASS@127.0.0.1:$PG_PORT/accounting
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
ENV
}

case "${1:-}" in
  install) install ;;
  start) install; pg_start; redis_start ;;
  stop) redis_stop; pg_stop ;;
  status) dir=$(state_dir); ls "$dir" ;;
  env) env_lines ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
