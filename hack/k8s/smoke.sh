#!/usr/bin/env bash
# Smoke-test a cluster started by cluster-up.sh: nodes Ready, a 2-replica
# Deployment becomes Available, a CronJob creates a Job that completes (kwok's
# default pod-complete stage moves pods owned by a Job to Succeeded).
# Runs in a throw-away namespace. Usage: hack/k8s/smoke.sh [KUBECONFIG]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER="${UA_K8S_CLUSTER:-ua-dev}"
KWOK_WORKDIR="${UA_K8S_WORKDIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/universal-accounting/kwok}"
KCFG="${1:-${KWOK_WORKDIR}/${CLUSTER}.kubeconfig}"
BIN="${UA_K8S_BIN_DIR:-$("${HERE}/build.sh" | tail -n 1)}"
NS="ua-smoke-$$"

k() { "${BIN}/kubectl" --kubeconfig "${KCFG}" "$@"; }
passed=0
failed=0
check() {
  local what="$1"
  shift
  local t0 t1
  t0=$(date +%s.%N)
  if "$@" >/dev/null 2>&1; then
    passed=$((passed + 1))
    t1=$(date +%s.%N)
    echo "ok   ${what} ($(awk -v a="${t0}" -v b="${t1}" 'BEGIN{printf "%.1f", b-a}')s)"
  else
    failed=$((failed + 1))
    echo "FAIL ${what}"
  fi
}
cleanup() { k delete namespace "${NS}" --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

check "apiserver reachable" k get --raw /readyz
check "all nodes Ready" k wait --for=condition=Ready node --all --timeout=30s
check "namespace ${NS}" k create namespace "${NS}"
# Pods need the namespace's default ServiceAccount.
for _ in $(seq 1 50); do k -n "${NS}" get sa default >/dev/null 2>&1 && break; sleep 0.2; done
check "create deployment (2 replicas)" k -n "${NS}" create deployment web --image=registry.k8s.io/pause:3.10 --replicas=2
check "deployment Available" k -n "${NS}" wait --for=condition=Available deployment/web --timeout=60s
check "2 pods Ready" k -n "${NS}" wait --for=condition=Ready pod -l app=web --timeout=30s
check "create cronjob (every minute)" k -n "${NS}" create cronjob tick --image=busybox --schedule='* * * * *' -- true
# The CronJob controller fires at the next minute boundary: allow up to ~70s.
job_created() {
  local i
  for i in $(seq 1 75); do
    [[ -n "$(k -n "${NS}" get jobs -o name 2>/dev/null)" ]] && return 0
    sleep 1
  done
  return 1
}
check "cronjob created a job" job_created
check "job Complete" k -n "${NS}" wait --for=condition=Complete job --all --timeout=60s

echo "${passed} passed, ${failed} failed"
((failed == 0))
