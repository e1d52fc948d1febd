#!/usr/bin/env bash
# Start a local Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok-controller) as plain processes
# with `kwokctl --runtime binary`, using ONLY the binaries built by build.sh
# (nothing is downloaded), then register N simulated kwok nodes.
#
# Idempotent: a running cluster is reused, a stopped one is restarted.
# The LAST line printed on stdout is the kubeconfig path.
#
# Env:
#   UA_K8S_CLUSTER   cluster name                   (default ua-dev)
#   UA_K8S_NODES     number of simulated nodes      (default 3)
#   UA_K8S_WORKDIR   kwok workdir (clusters, logs, pki, kubeconfigs)
#                    (default ${XDG_CACHE_HOME:-$HOME/.cache}/universal-accounting/kwok)
#   UA_K8S_BIN_DIR   use these binaries instead of running build.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${HERE}/versions.env"

log() { echo "cluster-up.sh: $*" >&2; }

CLUSTER="${UA_K8S_CLUSTER:-ua-dev}"
NODES="${UA_K8S_NODES:-3}"
export KWOK_WORKDIR="${UA_K8S_WORKDIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/universal-accounting/kwok}"
KUBECONFIG_OUT="${KWOK_WORKDIR}/${CLUSTER}.kubeconfig"

start=$(date +%s.%N)

if [[ -n "${UA_K8S_BIN_DIR:-}" ]]; then
  BIN="${UA_K8S_BIN_DIR}"
else
  BIN="$("${HERE}/build.sh" | tail -n 1)"
fi
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl; do
  [[ -x "${BIN}/${b}" ]] || { log "missing ${BIN}/${b}; run hack/k8s/build.sh"; exit 1; }
done
# kwokctl looks kubectl up on PATH first; make sure it finds ours.
export PATH="${BIN}:${PATH}"

mkdir -p "${KWOK_WORKDIR}"
# kwokctl reads ${KWOK_WORKDIR}/kwok.yaml by default. Every binary it could
# fetch points at a local file, so a missing one fails instead of downloading.
# (etcdctl/etcdutl/kectl are only used by `kwokctl etcdctl|snapshot|kectl`,
# which are not built here.)
# Written aside and renamed: clusters of other names may be starting from it now.
config_tmp="${KWOK_WORKDIR}/.kwok.yaml.$$"
cat >"${config_tmp}" <<EOF
kind: KwokctlConfiguration
apiVersion: config.kwok.x-k8s.io/v1alpha1
options:
  runtime: binary
  # Listen on loopback only (kwok's default is 0.0.0.0).
  bindAddress: 127.0.0.1
  kubeVersion: ${KUBE_VERSION}
  kwokVersion: ${KWOK_VERSION}
  etcdVersion: ${ETCD_VERSION#v}
  kubeBinaryPrefix: ${BIN}
  kubeApiserverBinary: ${BIN}/kube-apiserver
  kubeControllerManagerBinary: ${BIN}/kube-controller-manager
  kubeSchedulerBinary: ${BIN}/kube-scheduler
  kubectlBinary: ${BIN}/kubectl
  kwokBinaryPrefix: ${BIN}
  kwokControllerBinary: ${BIN}/kwok
  etcdBinaryPrefix: ${BIN}
  etcdBinary: ${BIN}/etcd
  etcdctlBinary: ${BIN}/etcdctl
  etcdutlBinary: ${BIN}/etcdutl
  kectlBinary: ${BIN}/kectl
  cacheDir: ${KWOK_WORKDIR}/cache
  quietPull: true
---
EOF
# Pod outcomes keyed by an annotation (fail, never-ready) plus kwok's defaults.
cat "${HERE}/stages.yaml" >>"${config_tmp}"
config_sha="$(sha256sum <"${config_tmp}" | cut -c1-16)"
mv -f "${config_tmp}" "${KWOK_WORKDIR}/kwok.yaml"

# A cluster created from another config (binaries, stages) is recreated: kwokctl
# would reuse it as it is.
CLUSTER_DIR="${KWOK_WORKDIR}/clusters/${CLUSTER}"
if [[ -d "${CLUSTER_DIR}" && "$(cat "${CLUSTER_DIR}/.ua-config-sha" 2>/dev/null)" != "${config_sha}" ]]; then
  log "cluster ${CLUSTER} was created from another config; recreating it"
  UA_K8S_BIN_DIR="${BIN}" "${HERE}/cluster-down.sh"
fi

# kwokctl gives each cluster free ports (counting down from 32767) and its processes bind
# them while it waits: clusters of different names (the lead's ua-e2e, a worktree's
# E2E_CLUSTER) created at the same moment could pick the same ones, so creations queue
# (--close: the cluster processes kwokctl starts must not inherit, and keep, the lock).
flock --close "${KWOK_WORKDIR}/.create.lock" "${BIN}/kwokctl" create cluster \
  --name "${CLUSTER}" \
  --runtime binary \
  --kube-apiserver-binary "${BIN}/kube-apiserver" \
  --kube-controller-manager-binary "${BIN}/kube-controller-manager" \
  --kube-scheduler-binary "${BIN}/kube-scheduler" \
  --kwok-controller-binary "${BIN}/kwok" \
  --etcd-binary "${BIN}/etcd" \
  --kubeconfig "${KUBECONFIG_OUT}" \
  --timeout 120s \
  --wait 60s >&2
echo "${config_sha}" >"${CLUSTER_DIR}/.ua-config-sha"

# Processes started by kwokctl must be our binaries (symlinks in the cluster's
# bin dir) and nothing may have landed in the download cache.
if [[ -d "${KWOK_WORKDIR}/cache" ]] && [[ -n "$(ls -A "${KWOK_WORKDIR}/cache")" ]]; then
  log "WARNING: kwokctl downloaded something into ${KWOK_WORKDIR}/cache"
fi

kubectl() { "${BIN}/kubectl" --kubeconfig "${KUBECONFIG_OUT}" "$@"; }

# Simulated nodes: kwok-controller runs with --manage-all-nodes, so any Node
# object is taken over (status Ready, heartbeats via Leases; pods bound to it go
# Running/Ready through the default pod-ready stage, Job pods then Succeeded
# through pod-complete). No taint, so ordinary workloads schedule onto them.
nodes_yaml=""
for ((i = 0; i < NODES; i++)); do
  nodes_yaml+="---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-${i}
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-${i}
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: \"\"
    topology.kubernetes.io/zone: zone-$((i % 3))
status:
  allocatable:
    cpu: \"16\"
    memory: 64Gi
    pods: \"110\"
  capacity:
    cpu: \"16\"
    memory: 64Gi
    pods: \"110\"
"
done
if ((NODES > 0)); then
  printf '%s' "${nodes_yaml}" | kubectl apply -f - >&2
  kubectl wait --for=condition=Ready node --all --timeout=60s >&2
fi
# The default ServiceAccount is needed before pods can be created in a namespace.
for _ in $(seq 1 60); do
  kubectl get serviceaccount default -n default >/dev/null 2>&1 && break
  sleep 0.5
done

end=$(date +%s.%N)
log "cluster ${CLUSTER} up in $(awk -v a="${start}" -v b="${end}" 'BEGIN{printf "%.1f", b-a}')s (kubernetes ${KUBE_VERSION}, ${NODES} kwok nodes)"
log "workdir: ${KWOK_WORKDIR}/clusters/${CLUSTER}; use: export KUBECONFIG=${KUBECONFIG_OUT}"
echo "${KUBECONFIG_OUT}"
