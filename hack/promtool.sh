#!/usr/bin/env bash
# promtool (Prometheus's rule checker and rule unit-test runner) from Debian's `prometheus`
# package, unpacked with `dpkg -x` (nothing installed, no service started) into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/universal-accounting/prometheus-<package version>/
# Does nothing when that directory is already complete. The tests find promtool there
# (or on PATH). The LAST line printed on stdout is the promtool path.
#
# Usage: hack/promtool.sh
set -euo pipefail

log() { echo "promtool.sh: $*" >&2; }

CACHE_ROOT="${XDG_CACHE_HOME:-${HOME}/.cache}/universal-accounting"

cached() {
  local found
  found="$(find "${CACHE_ROOT}" -maxdepth 1 -name 'prometheus-*' -type d 2>/dev/null | sort | tail -n 1)"
  [[ -n "${found}" && -f "${found}/.complete" && -x "${found}/usr/bin/promtool" ]] || return 1
  echo "${found}/usr/bin/promtool"
}

if promtool="$(cached)"; then
  log "up to date (${promtool})"
  echo "${promtool}"
  exit 0
fi

candidate() { apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}'; }
version="$(candidate)"
if [[ -z "${version}" || "${version}" == "(none)" ]]; then
  log "no candidate for the prometheus package yet: apt-get update"
  apt-get update -qq >&2
  version="$(candidate)"
fi
if [[ -z "${version}" || "${version}" == "(none)" ]]; then
  log "Debian's archive has no prometheus package for this machine"
  exit 1
fi

OUT="${CACHE_ROOT}/prometheus-${version//[^A-Za-z0-9.+~-]/_}"
mkdir -p "${OUT}"
exec 9>"${OUT}.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
# apt-get download writes into the current directory, as the invoking user (no root
# needed); the package's dependencies are not needed: promtool is a static Go binary.
(cd "${work}" && apt-get download -qq "prometheus=${version}" >&2)
dpkg -x "${work}"/prometheus_*.deb "${work}/root"
rm -rf "${OUT:?}/usr"
mkdir -p "${OUT}/usr/bin"
cp "${work}/root/usr/bin/promtool" "${OUT}/usr/bin/promtool"
"${OUT}/usr/bin/promtool" --version >&2
touch "${OUT}/.complete"
log "promtool ${version} in ${OUT}"
echo "${OUT}/usr/bin/promtool"
