# A PostgreSQL primary with two streaming replicas on loopback, for the failover tests:
# apart from the main test database (own data directories, own ports). Sourced by
# hack/services.sh, whose state_dir, find_pg_bin, log and role names it uses.
#
#   pgN listens on 127.0.0.1:$((REPLSET_PORT + N)), its unix socket in its data directory;
#   pg0 starts as the primary, pg1 and pg2 as its replicas (`pg_basebackup -R`), with
#   application_name ua_rN (the name synchronous_standby_names uses: ua_r0 is what pg0
#   would be called if it rejoined as a replica).
#
# The first start runs initdb and two base backups, then keeps a pristine copy of the three
# data directories; a reset (tests promote and kill servers) copies it back.
# shellcheck shell=bash

# Below Linux's ephemeral ports (32768 and up): the replica set is created and reset while
# the tests' control plane holds many outgoing connections, any of which may take a port there.
REPLSET_PORT=${UA_PG_REPLSET_PORT:-15440}
REPL_USER=ua_replicator
REPL_PASS=ua_replicator_local_only
# The operator's role for failover: least privilege, never superuser (docs/database-servers.md).
FAILOVER_USER=ua_failover
FAILOVER_PASS=ua_failover_local_only

# The pristine copy is made by this very script: a change to it (roles, settings) makes a new one.
replset_pristine() {
  printf '%s/pristine-%s-%s' "$(replset_dir)" "$REPLSET_PORT" "$(cksum <"$ROOT/hack/replset.sh" | cut -d' ' -f1)"
}

replset_dir() { printf '%s/replset' "$(state_dir)"; }
replset_pg() { runuser -u postgres -- "$(find_pg_bin)/$1" "${@:2}"; }

replset_running() { replset_pg pg_ctl -D "$1" status >/dev/null 2>&1; }

# Settings every server of the set shares (pg_basebackup copies postgresql.conf), then
# each server's own port and socket directory, appended last so they win.
replset_conf_common() {
  cat <<CONF

# universal-accounting replica set (hack/replset.sh)
listen_addresses = '127.0.0.1'
max_connections = 100
shared_buffers = 64MB
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 256MB
hot_standby = on
wal_log_hints = on
wal_retrieve_retry_interval = 1s
synchronous_commit = on
synchronous_standby_names = 'ANY 1 (ua_r1, ua_r2)'
CONF
}

# Sockets outside the data directories: pg_rewind copies a source's whole data directory
# and cannot read a socket file.
replset_conf_own() {
  local sockets; sockets="$(replset_dir)/sockets"
  mkdir -p "$sockets"; chown postgres:postgres "$sockets"
  printf "port = %s\nunix_socket_directories = '%s'\n" "$2" "$sockets" >>"$1/postgresql.conf"
}

replset_start_server() {
  local data=$1 n=$2
  mkdir -p "$(replset_dir)/sockets"; chown postgres:postgres "$(replset_dir)/sockets"
  replset_running "$data" && return 0
  replset_pg pg_ctl -D "$data" -l "$(replset_dir)/pg$n.log" -w -t 60 start >/dev/null && return 0
  tail -n 5 "$(replset_dir)/pg$n.log" >&2
  return 1
}

replset_roles_sql() {
  # No replica yet to acknowledge these commits synchronously.
  cat <<SQL
SET synchronous_commit = local;
CREATE ROLE accounting_app NOLOGIN;
CREATE ROLE $APP_USER LOGIN PASSWORD '$APP_PASS' IN ROLE accounting_app;
CREATE ROLE accounting_backup NOLOGIN;
CREATE ROLE $BACKUP_USER LOGIN BYPASSRLS PASSWORD '$BACKUP_PASS' IN ROLE accounting_backup;
CREATE ROLE $REPL_USER LOGIN REPLICATION PASSWORD '$REPL_PASS';
CREATE DATABASE accounting;
SQL
  replset_failover_role_sql
}

# The failover role's grants, as docs/database-servers.md gives them to a DBA (run in the
# database the operator connects to, here postgres). Not CREATEROLE: on PostgreSQL 15 that
# lets a role grant itself pg_execute_server_program, i.e. a shell as the server's user.
replset_failover_role_sql() {
  cat <<SQL
CREATE ROLE $FAILOVER_USER LOGIN PASSWORD '$FAILOVER_PASS' IN ROLE pg_monitor, pg_signal_backend, pg_checkpoint;
GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO $FAILOVER_USER;
GRANT EXECUTE ON FUNCTION pg_reload_conf() TO $FAILOVER_USER;
GRANT ALTER SYSTEM ON PARAMETER primary_conninfo, synchronous_standby_names TO $FAILOVER_USER;
CREATE SCHEMA accounting_failover;
REVOKE ALL ON SCHEMA accounting_failover FROM PUBLIC;
GRANT USAGE ON SCHEMA accounting_failover TO $FAILOVER_USER;
-- LOGIN on or off for every login role of the application's group (the fence), and nothing else.
CREATE FUNCTION accounting_failover.set_application_login(enabled boolean) RETURNS SETOF name
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS \$fn\$
DECLARE
  member name;
BEGIN
  FOR member IN
    SELECT r.rolname FROM pg_auth_members m
      JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
     WHERE g.rolname = 'accounting_app' AND NOT r.rolsuper ORDER BY r.rolname
  LOOP
    EXECUTE format('ALTER ROLE %I %s', member, CASE WHEN enabled THEN 'LOGIN' ELSE 'NOLOGIN' END);
    RETURN NEXT member;
  END LOOP;
END
\$fn\$;
REVOKE ALL ON FUNCTION accounting_failover.set_application_login(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION accounting_failover.set_application_login(boolean) TO $FAILOVER_USER;
SQL
}

# initdb, roles, two base backups, all three running; then a pristine copy of the three.
replset_create() {
  local root bin pw n
  root=$(replset_dir); bin=$(find_pg_bin)
  [ -n "$bin" ] || { log "PostgreSQL is not installed: run 'make install'"; exit 1; }
  log "creating the replica set in $root (initdb and two base backups, once)"
  replset_stop immediate; rm -rf "$root"; mkdir -p "$root/pg0"; chown postgres:postgres "$root" "$root/pg0"
  chmod 700 "$root/pg0"
  pw=$(mktemp); printf '%s\n' "$PG_SUPERPASS" >"$pw"; chown postgres "$pw"
  replset_pg initdb -D "$root/pg0" -U "$PG_SUPERUSER" --pwfile="$pw" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pw"
  replset_conf_common >>"$root/pg0/postgresql.conf"
  replset_conf_own "$root/pg0" "$REPLSET_PORT"
  replset_start_server "$root/pg0" 0
  replset_roles_sql | PGPASSWORD=$PG_SUPERPASS "$bin/psql" -q -h 127.0.0.1 -p "$REPLSET_PORT" \
    -U "$PG_SUPERUSER" -d postgres -v ON_ERROR_STOP=1 >/dev/null
  for n in 1 2; do
    PGPASSWORD=$REPL_PASS replset_pg pg_basebackup -D "$root/pg$n" -R -X stream -c fast \
      -d "host=127.0.0.1 port=$REPLSET_PORT user=$REPL_USER application_name=ua_r$n" \
      2> >(grep -v 'skipping special file' >&2)
    replset_conf_own "$root/pg$n" $((REPLSET_PORT + n))
  done
  for n in 1 2; do replset_start_server "$root/pg$n" "$n"; done
  replset_await_streaming
  # The primary first, so that its shutdown checkpoint reaches both replicas.
  for n in 0 1 2; do replset_pg pg_ctl -D "$root/pg$n" -m fast -w stop >/dev/null; done
  mkdir -p "$(replset_pristine)"
  for n in 0 1 2; do cp -a "$root/pg$n" "$(replset_pristine)/"; done
}

replset_await_streaming() {
  local bin; bin=$(find_pg_bin)
  for _ in $(seq 300); do
    [ "$(PGPASSWORD=$PG_SUPERPASS "$bin/psql" -qAt -h 127.0.0.1 -p "$REPLSET_PORT" \
      -U "$PG_SUPERUSER" -d postgres -c \
      "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null)" = 2 ] && return 0
    sleep 0.05
  done
  log "the replicas of the replica set do not stream from pg0 (after a failover test?):" \
    "'hack/services.sh replset-reset' brings back a fresh set"
  exit 1
}

replset_start() {
  local root n ok=0
  root=$(replset_dir); listeners
  for n in 0 1 2; do
    ports_free "replica set pg$n" UA_PG_REPLSET_PORT $((REPLSET_PORT + n)) "$root/pg$n/postmaster.pid" || ok=1
  done
  [ "$ok" = 0 ] || exit 1
  if [ ! -d "$(replset_pristine)" ]; then
    replset_create; replset_copy_pristine
  elif [ ! -d "$root/pg0" ]; then
    replset_copy_pristine
  fi
  # The primary first: a replica that finds no primary retries only a second later.
  replset_start_server "$root/pg0" 0 || true
  for n in 1 2; do replset_start_server "$root/pg$n" "$n" & done
  wait
  for n in 0 1 2; do
    replset_running "$root/pg$n" && continue
    tail -n 5 "$root/pg$n.log" >&2; log "replica set: pg$n did not start"; exit 1
  done
  replset_await_streaming
  log "replica set started: primary 127.0.0.1:$REPLSET_PORT, replicas" \
    "127.0.0.1:$((REPLSET_PORT + 1)) and 127.0.0.1:$((REPLSET_PORT + 2))"
}

replset_copy_pristine() {
  local root n; root=$(replset_dir)
  for n in 0 1 2; do cp -a "$(replset_pristine)/pg$n" "$root/" & done
  wait
}

# mode: fast (a clean stop) or immediate (the data is about to be thrown away).
replset_stop() {
  local root n mode=${1:-fast} running=()
  root=$(replset_dir)
  [ -n "$(find_pg_bin)" ] || return 0
  for n in 0 1 2; do [ -f "$root/pg$n/postmaster.pid" ] && running+=("$root/pg$n"); done
  [ ${#running[@]} -gt 0 ] || return 0
  for data in "${running[@]}"; do replset_pg pg_ctl -D "$data" -m "$mode" -w stop >/dev/null 2>&1 & done
  wait
  [ "$mode" != fast ] || log "replica set stopped"
}

# Back to a fresh primary and two streaming replicas, whatever the tests did to them.
replset_reset() {
  local root n; root=$(replset_dir)
  replset_stop immediate
  for n in 0 1 2; do rm -rf "${root:?}/pg$n"; done
  replset_start
}

replset_env_lines() {
  local root host=127.0.0.1 p0=$REPLSET_PORT p1=$((REPLSET_PORT + 1)) p2=$((REPLSET_PORT + 2))
  root=$(replset_dir)
  local hosts="$host:$p0,$host:$p1,$host:$p2"
  cat <<ENV
export REPLSET_PRIMARY=$host:$p0
export REPLSET_REPLICAS=$host:$p1,$host:$p2
export REPLSET_DATABASE_URL='postgresql://$APP_USER:$APP_PASS@$hosts/accounting?target_session_attrs=read-write'
export REPLSET_MIGRATION_URL='postgresql://$PG_SUPERUSER:$PG_SUPERPASS@$hosts/accounting?target_session_attrs=read-write'
export REPLSET_FAILOVER_URL=postgresql://$FAILOVER_USER:$FAILOVER_PASS@$host:$p0/postgres
export REPLSET_REPLICATION_USER=$REPL_USER
export REPLSET_REPLICATION_PASSWORD=$REPL_PASS
export REPLSET_PG_BIN=$(find_pg_bin)
export REPLSET_DIR=$root
ENV
}
