#!/usr/bin/env bash
# Local PostgreSQL, Redis and an S3 server (versitygw) for tests and the demo (install
# also adds hledger, which the tests run on the journal export): project-owned data
# directories, loopback only, non-default ports, never the system-wide instances.
#   hack/services.sh install|start|stop|status|env
# and the replica set of the failover tests (hack/replset.sh):
#   hack/services.sh replset-start|replset-stop|replset-reset|replset-env
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_PORT=${UA_PG_PORT:-55432}
REDIS_PORT=${UA_REDIS_PORT:-56379}
# A three-node Redis Cluster (no replicas) on this port and the two after, and their
# cluster bus 10000 higher: production may run Redis Cluster, whose rule of one hash slot
# per command the tests check. Both below Linux's ephemeral ports (32768 and up), where
# an outgoing connection may hold the port at any moment.
REDIS_CLUSTER_PORT=${UA_REDIS_CLUSTER_PORT:-16400}
# versitygw, an S3 server built from its pinned Go module and cached outside the
# repository (as hack/k8s does for Kubernetes), serving buckets from .run/s3.
S3_PORT=${UA_S3_PORT:-17070}
VERSITYGW_VERSION=v1.8.0
VERSITYGW_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/universal-accounting/versitygw-$VERSITYGW_VERSION/bin/versitygw"
S3_ACCESS_KEY=ua_s3_admin
S3_SECRET_KEY=ua_s3_admin_local_only
PG_BIN=${UA_PG_BIN:-}
PG_SUPERUSER=ua_admin
PG_SUPERPASS=ua_admin_local_only
APP_USER=ua_api
APP_PASS=ua_api_local_only
# The backup role: read-only, BYPASSRLS (pg_dump must see every tenant), never superuser.
BACKUP_USER=ua_backup
BACKUP_PASS=ua_backup_local_only

log() { printf '[services] %s\n' "$*" >&2; }

# shellcheck source=replset.sh
source "$ROOT/hack/replset.sh"

# PostgreSQL refuses to run as root, so its data lives where the `postgres` user can
# reach it: the repository's .run/ when every parent is traversable, else /tmp.
# UA_STATE_DIR names another directory (the tests' own, which collides with no one's).
state_dir() {
  local dir="${UA_STATE_DIR:-$ROOT/.run}"
  mkdir -p "$dir"
  if id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$dir"; then
    dir="/tmp/universal-accounting-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)"
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
  command -v openssl >/dev/null || need+=(openssl)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v runuser >/dev/null || need+=(util-linux)
  command -v ss >/dev/null || need+=(iproute2)
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
  s3_build
}

# About 2.5 minutes on two cores, once; `go install` checks the module against the
# Go checksum database.
s3_build() {
  [ -x "$VERSITYGW_BIN" ] && return 0
  # shellcheck source=k8s/versions.env
  source "$ROOT/hack/k8s/versions.env"
  # shellcheck source=k8s/lib.sh
  source "$ROOT/hack/k8s/lib.sh"
  ua_require_go services.sh
  log "building versitygw $VERSITYGW_VERSION (once, into $(dirname "$VERSITYGW_BIN"))"
  mkdir -p "$(dirname "$VERSITYGW_BIN")"
  (cd "$(dirname "$VERSITYGW_BIN")" && GOBIN="$PWD" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    GOTOOLCHAIN=local nice -n 19 go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION")
}

s3_start() {
  local dir; dir=$(state_dir)/s3; mkdir -p "$dir/data"
  if [ -f "$dir/s3.pid" ] && kill -0 "$(cat "$dir/s3.pid")" 2>/dev/null; then
    log "S3 (versitygw) already running on 127.0.0.1:$S3_PORT"; return
  fi
  ROOT_ACCESS_KEY_ID=$S3_ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$S3_SECRET_KEY \
    setsid "$VERSITYGW_BIN" --port "127.0.0.1:$S3_PORT" --quiet posix "$dir/data" \
    >"$dir/s3.log" 2>&1 </dev/null &
  echo $! >"$dir/s3.pid"
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null; then
      log "S3 (versitygw) started on 127.0.0.1:$S3_PORT"; return
    fi
    sleep 0.1
  done
  tail -n 5 "$dir/s3.log" >&2; log "S3 (versitygw) did not start"; exit 1
}

s3_stop() {
  local pidf; pidf=$(state_dir)/s3/s3.pid
  [ -f "$pidf" ] || return 0
  local pid; pid=$(cat "$pidf")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "S3 (versitygw) stopped"
  fi
  rm -f "$pidf"
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
  # A self-signed certificate, so that connections are encrypted as in production
  # (clients' default sslmode "prefer" takes TLS when the server offers it; the compliance
  # report's encryption control reads pg_stat_ssl).
  if [ ! -f "$data/server.crt" ]; then
    openssl req -new -x509 -days 3650 -nodes -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -keyout "$data/server.key" -out "$data/server.crt" >/dev/null 2>&1
    chown postgres:postgres "$data/server.key" "$data/server.crt"; chmod 600 "$data/server.key"
  fi
  if runuser -u postgres -- "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
  else
    runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start -o \
      "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $data -c max_connections=300 -c shared_buffers=256MB -c fsync=on -c ssl=on -c ssl_cert_file=$data/server.crt -c ssl_key_file=$data/server.key" >/dev/null
    log "PostgreSQL started on 127.0.0.1:$PG_PORT"
  fi
  PGPASSWORD=$PG_SUPERPASS "$bin/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres \
    -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT 'CREATE ROLE accounting_app NOLOGIN'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'accounting_app') \gexec
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE accounting_app', '$APP_USER', '$APP_PASS')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_USER') \gexec
SELECT 'CREATE ROLE accounting_backup NOLOGIN'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'accounting_backup') \gexec
SELECT format('CREATE ROLE %I LOGIN BYPASSRLS PASSWORD %L IN ROLE accounting_backup', '$BACKUP_USER', '$BACKUP_PASS')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$BACKUP_USER') \gexec
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

cluster_ports() { seq "$REDIS_CLUSTER_PORT" $((REDIS_CLUSTER_PORT + 2)); }

redis_cluster_start() {
  local base port nodes=()
  base=$(state_dir)/redis-cluster
  if redis-cli -p "$REDIS_CLUSTER_PORT" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
    log "Redis Cluster already running on 127.0.0.1:$REDIS_CLUSTER_PORT-$((REDIS_CLUSTER_PORT + 2))"
    return
  fi
  rm -rf "$base"
  for port in $(cluster_ports); do
    mkdir -p "$base/$port"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$base/$port" \
      --pidfile "$base/$port/redis.pid" --logfile "$base/$port/redis.log" --save '' \
      --appendonly no --cluster-enabled yes --cluster-config-file nodes.conf >/dev/null
    nodes+=("127.0.0.1:$port")
  done
  for port in $(cluster_ports); do
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || {
      tail -n 5 "$base/$port/redis.log" >&2; log "Redis Cluster node $port did not start"
      redis_cluster_stop; exit 1; }
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  for _ in $(seq 100); do
    redis-cli -p "$REDIS_CLUSTER_PORT" cluster info | grep -q 'cluster_state:ok' && break
    sleep 0.1
  done
  log "Redis Cluster started on 127.0.0.1:$REDIS_CLUSTER_PORT-$((REDIS_CLUSTER_PORT + 2))"
}

redis_cluster_stop() {
  local base pidf pid stopped=""
  base=$(state_dir)/redis-cluster
  for pidf in "$base"/*/redis.pid; do
    [ -f "$pidf" ] || continue
    pid=$(cat "$pidf")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      stopped=1
    fi
    rm -f "$pidf"
  done
  [ -z "$stopped" ] || log "Redis Cluster stopped"
}

# --- ports: before anything starts, each port a service about to start needs must be free;
# one held by that service's own running process (its pid file here) is not taken.

# The listening TCP sockets with their processes, once per check (ss -p reads every
# process's file descriptors: about half a second on a busy machine).
listeners() { LISTENING=$(ss -Hltnp 2>/dev/null || true); }

# "NAME (pid N)" of each process listening on 127.0.0.1:PORT (or on every address), one a line;
# "?" for a listener whose process ss does not show (another user's, when not root).
port_holders() {
  printf '%s\n' "$LISTENING" | awk -v port="$1" '
    $4 ~ "^(127[.]0[.]0[.]1|0[.]0[.]0[.]0|[*]|[[]::[]]|[[]::ffff:127[.]0[.]0[.]1[]]):" port "$" {
      if (match($0, /[(]"[^"]*",pid=[0-9]+/)) {
        split(substr($0, RSTART + 2, RLENGTH - 2), f, "\",pid=")
        print f[1] " (pid " f[2] ")"
      } else print "?"
    }' | sort -u
}

# Says, for each PORT PIDFILE pair (the pid file of the service's own process), who holds
# PORT unless it is free or held by that process; returns 1 when any is taken.
ports_free() {
  local what=$1 variable=$2 taken=0 port pidfile own holder
  shift 2
  while [ $# -gt 0 ]; do
    port=$1 pidfile=$2; shift 2
    own=$( { [ -f "$pidfile" ] && head -n 1 "$pidfile"; } 2>/dev/null || true)
    while IFS= read -r holder; do
      [ -n "$holder" ] || continue
      [ -n "$own" ] && [ "$holder" != "${holder%"(pid $own)"}" ] && continue
      [ "$holder" = "?" ] && holder="a process ss -ltnp does not show (another user's)"
      log "$what needs 127.0.0.1:$port, which is taken by $holder: stop it, or choose another port with $variable"
      taken=1
    done < <(port_holders "$port")
  done
  return "$taken"
}

check_ports() {
  local dir ok=0 port
  dir=$(state_dir); listeners
  ports_free PostgreSQL UA_PG_PORT "$PG_PORT" "$dir/pg/postmaster.pid" || ok=1
  ports_free Redis UA_REDIS_PORT "$REDIS_PORT" "$dir/redis/redis.pid" || ok=1
  for port in $(cluster_ports); do
    ports_free "Redis Cluster" UA_REDIS_CLUSTER_PORT "$port" "$dir/redis-cluster/$port/redis.pid" \
      $((port + 10000)) "$dir/redis-cluster/$port/redis.pid" || ok=1
  done
  ports_free "S3 (versitygw)" UA_S3_PORT "$S3_PORT" "$dir/s3/s3.pid" || ok=1
  [ "$ok" = 0 ] || exit 1
}

env_lines() {
  cat <<ENV
export DATABASE_URL=postgresql://$APP_USER:$APP_PASS@127.0.0.1:$PG_PORT/accounting
export MIGRATION_DATABASE_URL=postgresql://$PG_SUPERUSER:$PG_SUPERPASS@127.0.0.1:$PG_PORT/accounting
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export REDIS_CLUSTER_TEST_URL=redis://127.0.0.1:$REDIS_CLUSTER_PORT
export BACKUP_DATABASE_URL=postgresql://$BACKUP_USER:$BACKUP_PASS@127.0.0.1:$PG_PORT/accounting
export BACKUP_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export VERSITYGW_BIN=$VERSITYGW_BIN
export WEBHOOK_SECRET_KEYS=local-only:dWEtbG9jYWwtb25seS1ub3QtZm9yLXByb2R1Y3Rpb24=  # base64("ua-local-only-not-for-production")
ENV
}

case "${1:-}" in
  install) install ;;
  start) install; check_ports; pg_start; redis_start; redis_cluster_start; s3_start ;;
  stop) s3_stop; redis_cluster_stop; redis_stop; pg_stop; replset_stop ;;
  status) dir=$(state_dir); ls "$dir" ;;
  env) env_lines; replset_env_lines ;;
  replset-start) replset_start ;;
  replset-stop) replset_stop ;;
  replset-reset) replset_reset ;;
  replset-env) replset_env_lines ;;
  *) echo "usage: $0 install|start|stop|status|env|replset-start|replset-stop|replset-reset|replset-env" >&2
     exit 2 ;;
esac
