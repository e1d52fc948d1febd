#!/usr/bin/env bash
# A kind cluster, for users who have Docker (or Podman): the same e2e suite runs
# on it through the existing-cluster switch. kind itself is built from the Go
# module proxy (pinned in versions.env, module in hack/k8s/kind) into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/universal-accounting/kind-<version>-<key>/bin/kind
# and the node image is kind's default for that release (Kubernetes 1.36,
# digest-pinned); KIND_NODE_IMAGE overrides it.
#
# Usage: hack/k8s/kind.sh build|up|down
#   build  print the kind binary's path (builds it once)
#   up     create (or reuse) the cluster; the LAST line is the kubeconfig path:
#            export KUBECONFIG=$(hack/k8s/kind.sh up | tail -n 1)
#            E2E_USE_EXISTING_CLUSTER=1 make test-e2e
#   down   delete the cluster and its kubeconfig
# Env: UA_KIND_CLUSTER (default ua-kind), KIND_NODE_IMAGE,
#      KIND_EXPERIMENTAL_PROVIDER (podman|nerdctl: kind's own switch; skips the Docker check)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${HERE}/versions.env"
# shellcheck source=lib.sh
source "${HERE}/lib.sh"

log() { echo "kind.sh: $*" >&2; }

CLUSTER="${UA_KIND_CLUSTER:-ua-kind}"
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME}/.cache}/universal-accounting"
KUBECONFIG_OUT="${CACHE_ROOT}/kind/${CLUSTER}.kubeconfig"

build_kind() {
  ua_require_go kind.sh
  local key out
  key="$(cd "${HERE}" && {
    echo "${KIND_VERSION}"
    cat kind/go.mod kind/go.sum
    echo "$(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"
  } | sha256sum | cut -c1-12)"
  out="${CACHE_ROOT}/kind-${KIND_VERSION}-${key}/bin"
  if [[ ! -x "${out}/kind" ]]; then
    log "building kind ${KIND_VERSION} into ${out}"
    mkdir -p "${out}"
    (cd "${HERE}/kind" &&
      CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOFLAGS="-mod=readonly -buildvcs=false" \
        nice -n "${K8S_BUILD_NICE:-19}" go build -trimpath -ldflags "-s -w" \
        -o "${out}/.kind.tmp" sigs.k8s.io/kind)
    mv -f "${out}/.kind.tmp" "${out}/kind"
  fi
  echo "${out}/kind"
}

# A container engine kind can use, or a message saying what is missing.
engine_ready() {
  [[ -n "${KIND_EXPERIMENTAL_PROVIDER:-}" ]] && return 0
  if ! command -v docker >/dev/null 2>&1; then
    log "kind runs Kubernetes nodes as Docker containers, and 'docker' is not installed."
    log "Install Docker Engine (Debian: https://docs.docker.com/engine/install/debian/),"
    log "or use 'make cluster-up' (no Docker needed: kwok, binaries built from source)."
    return 1
  fi
  local err
  if ! err="$(docker info 2>&1 >/dev/null)"; then
    log "kind needs a running Docker engine, and 'docker info' failed: ${err##*$'\n'}"
    log "Start it (e.g. 'systemctl start docker') or use 'make cluster-up' (no Docker needed)."
    return 1
  fi
}

cmd_up() {
  local kind
  kind="$(build_kind)"
  engine_ready || exit 1
  mkdir -p "$(dirname "${KUBECONFIG_OUT}")"
  if "${kind}" get clusters 2>/dev/null | grep -qx "${CLUSTER}"; then
    log "reusing kind cluster ${CLUSTER}"
    "${kind}" export kubeconfig --name "${CLUSTER}" --kubeconfig "${KUBECONFIG_OUT}" >&2
  else
    local image=()
    [[ -n "${KIND_NODE_IMAGE:-}" ]] && image=(--image "${KIND_NODE_IMAGE}")
    "${kind}" create cluster --name "${CLUSTER}" "${image[@]}" \
      --kubeconfig "${KUBECONFIG_OUT}" --wait 180s >&2
  fi
  log "use: export KUBECONFIG=${KUBECONFIG_OUT}; E2E_USE_EXISTING_CLUSTER=1 make test-e2e"
  echo "${KUBECONFIG_OUT}"
}

cmd_down() {
  local kind
  kind="$(build_kind)"
  if ! engine_ready 2>/dev/null; then
    log "no container engine, so no kind cluster to delete"
  else
    "${kind}" delete cluster --name "${CLUSTER}" --kubeconfig "${KUBECONFIG_OUT}" >&2
  fi
  rm -f "${KUBECONFIG_OUT}"
}

case "${1:-}" in
build) build_kind ;;
up) cmd_up ;;
down) cmd_down ;;
*)
  echo "usage: $0 build|up|down" >&2
  exit 2
  ;;
esac
