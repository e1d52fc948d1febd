# shellcheck shell=bash
# Shared by build.sh and kind.sh (sourced, after versions.env).

# ua_require_go WHO: put Go on PATH (also when it is installed in /usr/local/go
# but PATH lacks it) and check its version, or say exactly what to install.
ua_require_go() {
  local who="$1" need_minor have have_minor arch
  need_minor="$(echo "${GO_MIN_VERSION}" | cut -d. -f2)"
  if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:${PATH}"
  fi
  if command -v go >/dev/null 2>&1; then
    have="$(go env GOVERSION)" # e.g. go1.26.8
    have_minor="$(echo "${have#go}" | cut -d. -f2)"
    [[ "${have}" == go1.* && "${have_minor}" -ge "${need_minor}" ]] && return 0
    echo "${who}: found ${have} at $(command -v go), but building Kubernetes ${KUBE_VERSION} needs Go >= ${GO_MIN_VERSION}." >&2
  else
    echo "${who}: 'go' was not found (PATH, /usr/local/go/bin); building Kubernetes ${KUBE_VERSION} from source needs Go >= ${GO_MIN_VERSION}." >&2
  fi
  case "$(uname -m)" in
  aarch64 | arm64) arch=arm64 ;;
  *) arch=amd64 ;;
  esac
  cat >&2 <<MSG
${who}: install Go ${GO_TESTED_VERSION} (tested) from https://go.dev/dl/ into /usr/local/go
  (Debian 12's golang-go package is Go 1.19, too old), e.g. as root:
    curl -fsSLO https://go.dev/dl/go${GO_TESTED_VERSION}.linux-${arch}.tar.gz
    rm -rf /usr/local/go && tar -C /usr/local -xzf go${GO_TESTED_VERSION}.linux-${arch}.tar.gz
  then run make again (/usr/local/go/bin is found without changing PATH).
MSG
  exit 1
}
