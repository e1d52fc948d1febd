#!/usr/bin/env bash
# Build the local Kubernetes control-plane binaries from source (pinned in
# versions.env, modules in hack/k8s/{kube,etcd,kwok,helm}) into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/universal-accounting/k8s-<key>/bin
# where <key> covers every pinned version (versions.env's pins, the go.mod and
# go.sum files, this script's build flags, the Go version). Does nothing if that
# directory is already complete.
# The LAST line printed on stdout is the bin directory.
#
# Usage: hack/k8s/build.sh [--force]
# Env:   K8S_BUILD_NICE (default 19), K8S_BUILD_JOBS (go build -p, default: go's)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${HERE}/versions.env"

log() { echo "build.sh: $*" >&2; }

# shellcheck source=lib.sh
source "${HERE}/lib.sh"
ua_require_go build.sh
go_version="$(go env GOVERSION)"

# The key covers what goes into the binaries: the pins (not KIND_VERSION, which
# kind.sh builds on its own), this script's flags, the modules, the Go release.
key_hash="$(cd "${HERE}" && {
  echo "${KUBE_VERSION} ${ETCD_VERSION} ${KWOK_VERSION} ${HELM_MODULE} ${HELM_VERSION}"
  cat build.sh
  for d in kube etcd kwok helm; do cat "${d}/go.mod" "${d}/go.sum"; done
  echo "${go_version} $(go env GOOS)/$(go env GOARCH)"
} | sha256sum | cut -c1-12)"
KEY="${KUBE_VERSION}-${key_hash}"
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME}/.cache}/universal-accounting"
OUT="${CACHE_ROOT}/k8s-${KEY}"
BIN="${OUT}/bin"
STAMP="${BIN}/.complete"

BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl helm)

complete() {
  [[ -f "${STAMP}" ]] || return 1
  local b
  for b in "${BINARIES[@]}"; do [[ -x "${BIN}/${b}" ]] || return 1; done
}

if [[ "${1:-}" != "--force" ]] && complete; then
  log "up to date (${OUT})"
  echo "${BIN}"
  exit 0
fi

mkdir -p "${BIN}"
# One build at a time per cache dir.
exec 9>"${OUT}/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [[ "${1:-}" != "--force" ]] && complete; then
  echo "${BIN}"
  exit 0
fi
rm -f "${STAMP}"

export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="-mod=readonly -buildvcs=false"
NICE=(nice -n "${K8S_BUILD_NICE:-19}")
JOBS=()
[[ -n "${K8S_BUILD_JOBS:-}" ]] && JOBS=(-p "${K8S_BUILD_JOBS}")

build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
kube_minor="$(echo "${KUBE_VERSION#v}" | cut -d. -f2)"
kube_ldflags=""
for kv in "gitVersion=${KUBE_VERSION}" "gitMajor=1" "gitMinor=${kube_minor}" \
  "gitTreeState=clean" "gitCommit=0000000000000000000000000000000000000000" \
  "buildDate=${build_date}"; do
  kube_ldflags+=" -X k8s.io/component-base/version.${kv} -X k8s.io/client-go/pkg/version.${kv}"
done
helm_ldflags="-X ${HELM_MODULE}/internal/version.version=${HELM_VERSION} -X ${HELM_MODULE}/internal/version.gitTreeState=clean"

TIMES="${OUT}/build-times.txt"
: >"${TIMES}"
total_start=$(date +%s)

# build NAME MODULE_DIR PACKAGE EXTRA_LDFLAGS
build() {
  local name="$1" dir="$2" pkg="$3" ldflags="$4"
  local start end
  start=$(date +%s)
  log "building ${name} (${pkg})"
  (cd "${HERE}/${dir}" &&
    "${NICE[@]}" go build "${JOBS[@]}" -trimpath -ldflags "-s -w ${ldflags}" \
      -o "${BIN}/.${name}.tmp" "${pkg}")
  mv -f "${BIN}/.${name}.tmp" "${BIN}/${name}"
  end=$(date +%s)
  printf '%-24s %5ss %6s MiB\n' "${name}" "$((end - start))" \
    "$(($(stat -c %s "${BIN}/${name}") / 1048576))" | tee -a "${TIMES}" >&2
}

build etcd etcd go.etcd.io/etcd/server/v3 "-X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}"
build kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver "${kube_ldflags}"
build kube-controller-manager kube k8s.io/kubernetes/cmd/kube-controller-manager "${kube_ldflags}"
build kube-scheduler kube k8s.io/kubernetes/cmd/kube-scheduler "${kube_ldflags}"
build kubectl kube k8s.io/kubernetes/cmd/kubectl "${kube_ldflags}"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok ""
build kwokctl kwok sigs.k8s.io/kwok/cmd/kwokctl ""
build helm helm "${HELM_MODULE}/cmd/helm" "${helm_ldflags}"

total_end=$(date +%s)
printf '%-24s %5ss\n' total "$((total_end - total_start))" | tee -a "${TIMES}" >&2
cp "${HERE}/versions.env" "${OUT}/versions.env"
echo "${KEY}" >"${STAMP}"
log "done: ${OUT}"
echo "${BIN}"
