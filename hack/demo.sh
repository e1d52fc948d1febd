#!/usr/bin/env bash
# `make demo`: the whole product on this machine.
#   1. The API (hack/demo-api.sh): migrate, seed a demo organization, serve on loopback,
#      post a few entries through it, print what to try next.
#   2. The operator (hack/demo-operator.sh): a local Kubernetes control plane (`ua-demo`,
#      kwok-simulated nodes), the CRD, `accounting-operator run`, and examples/minimal.yaml
#      in a namespace that enforces the restricted pod security profile, until Ready.
# Everything keeps running until Ctrl-C; DEMO_EXIT=1 stops right after the walkthrough
# (used to check the demo itself). On exit the operator, the API and the demo cluster are
# stopped and checked gone by pid. PostgreSQL and Redis stay up ('make services-down').
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
mkdir -p .run
# shellcheck source=demo-api.sh
source hack/demo-api.sh
# shellcheck source=demo-operator.sh
source hack/demo-operator.sh

say() { printf '\n== %s\n' "$*"; }
log() { printf 'demo: %s\n' "$*" >&2; }

# Wait until "$@" succeeds, up to $1 seconds (polled every 0.2 s).
wait_until() {
  local seconds=$1; shift
  for _ in $(seq $((seconds * 5))); do "$@" && return 0; sleep 0.2; done
  "$@"
}

# Stop a background process we started: SIGTERM, SIGKILL after 20 s; fail if it survives.
stop_pid() {
  local pid=$1 name=$2
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if kill -0 "$pid" 2>/dev/null; then log "FAILED: $name (pid $pid) is still running"; return 1; fi
  log "$name stopped (pid $pid)"
}

cleanup() {
  local status=$?
  trap '' INT TERM   # a second Ctrl-C must not cut the cleanup short
  log "stopping the operator, the API and the demo cluster"
  operator_stop || status=1
  cluster_stop || status=1
  api_stop || status=1
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

api_demo
operator_demo
[ "${DEMO_EXIT:-0}" = 1 ] && exit 0
printf '\nCtrl-C stops the operator, the API and the demo cluster; '
printf "'make services-down' stops PostgreSQL and Redis.\n"
wait -n "$API_PID" "$OPERATOR_PID" || true   # until Ctrl-C, or one of them stops
log "a demo process stopped by itself: see .run/demo-api.log and .run/demo-operator.log"
exit 1
