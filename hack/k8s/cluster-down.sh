#!/usr/bin/env bash
# Stop and delete the local kwok cluster started by cluster-up.sh, then check
# by pid that none of its processes (etcd, kube-apiserver, ...) is left.
# Exits non-zero if one survives. Safe to run when no cluster exists.
#
# Env: UA_K8S_CLUSTER, UA_K8S_WORKDIR, UA_K8S_BIN_DIR (as cluster-up.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "cluster-down.sh: $*" >&2; }

CLUSTER="${UA_K8S_CLUSTER:-ua-dev}"
export KWOK_WORKDIR="${UA_K8S_WORKDIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/universal-accounting/kwok}"
KUBECONFIG_OUT="${KWOK_WORKDIR}/${CLUSTER}.kubeconfig"
CLUSTER_DIR="${KWOK_WORKDIR}/clusters/${CLUSTER}"

if [[ ! -d "${CLUSTER_DIR}" ]]; then
  log "no cluster ${CLUSTER} in ${KWOK_WORKDIR}"
  rm -f "${KUBECONFIG_OUT}"
  exit 0
fi

# Remember the pids kwokctl recorded before it deletes the pid files.
declare -A PIDS=()
for f in "${CLUSTER_DIR}"/pids/*.pid; do
  [[ -f "${f}" ]] || continue
  PIDS["$(basename "${f}" .pid)"]="$(cat "${f}")"
done

KWOKCTL=""
if [[ -n "${UA_K8S_BIN_DIR:-}" && -x "${UA_K8S_BIN_DIR}/kwokctl" ]]; then
  KWOKCTL="${UA_K8S_BIN_DIR}/kwokctl"
elif [[ -L "${CLUSTER_DIR}/bin/kube-apiserver" ]]; then
  # The cluster's bin/ holds symlinks into the build cache; kwokctl is beside them.
  cand="$(dirname "$(readlink "${CLUSTER_DIR}/bin/kube-apiserver")")/kwokctl"
  [[ -x "${cand}" ]] && KWOKCTL="${cand}"
fi
[[ -n "${KWOKCTL}" ]] || KWOKCTL="$("${HERE}/build.sh" | tail -n 1)/kwokctl"

if ! "${KWOKCTL}" delete cluster --name "${CLUSTER}" --kubeconfig "${KUBECONFIG_OUT}" >&2; then
  log "kwokctl delete cluster failed; stopping recorded processes directly"
fi

# Is PID still the process kwokctl started (not a recycled pid)?
alive() {
  local pid="$1" name="$2"
  [[ -d "/proc/${pid}" ]] || return 1
  [[ "$(cat "/proc/${pid}/stat" 2>/dev/null | awk '{print $3}')" != "Z" ]] || return 1
  tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q -- "${name}"
}

left=()
for name in "${!PIDS[@]}"; do
  pid="${PIDS[${name}]}"
  for _ in $(seq 1 50); do alive "${pid}" "${name}" || break; sleep 0.2; done
  if alive "${pid}" "${name}"; then
    log "${name} (pid ${pid}) still running after delete; sending SIGTERM"
    kill -TERM "${pid}" 2>/dev/null || true
    for _ in $(seq 1 25); do alive "${pid}" "${name}" || break; sleep 0.2; done
    if alive "${pid}" "${name}"; then
      kill -KILL "${pid}" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  if alive "${pid}" "${name}"; then
    left+=("${name}:${pid}")
  fi
done

rm -f "${KUBECONFIG_OUT}"
if ((${#left[@]})); then
  log "FAILED: processes still running: ${left[*]}"
  exit 1
fi
log "cluster ${CLUSTER} deleted; all ${#PIDS[@]} recorded processes (${!PIDS[*]}) are gone"
