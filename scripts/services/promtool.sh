#!/usr/bin/env bash
# Prometheus' own promtool (github.com/prometheus/prometheus/cmd/promtool), used by ops/ops.test.ts
# to check ops/prometheus/alerts.yml (`promtool check rules`) and run its unit tests
# (`promtool test rules`).
#   promtool.sh install   -> installs the binary into the cache once, prints its path on stdout
# Everything else goes to stderr.
#
# Needs only Go (first run only: `go install` through the Go module proxy) and bash.
# Environment:
#   PROMTOOL_VERSION   default v0.316.0 (the Go module version of Prometheus 3.16)
#   SETTLE_CACHE_DIR   binary goes to $SETTLE_CACHE_DIR/promtool-<version>/bin (default ~/.cache/settle)
set -euo pipefail

cmd=${1:?usage: promtool.sh install}
version=${PROMTOOL_VERSION:-v0.316.0}
module=github.com/prometheus/prometheus/cmd/promtool
cache=${SETTLE_CACHE_DIR:-${HOME:-/tmp}/.cache/settle}/promtool-$version-nosd
bindir=$cache/bin
bin=$bindir/promtool

log() { echo "promtool.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Installs the pinned version once, as stripe-mock.sh does: `go install` into a scratch GOBIN
# renamed into place only on success (an interrupted install is redone, never half-used); a lock
# serialises parallel first runs; on failure go's own output is printed verbatim.
install() {
  if [ -x "$bin" ]; then return; fi
  command -v go >/dev/null || die "Go is needed once to install $module@$version into $bindir (no 'go' on PATH)"
  mkdir -p "$cache"
  local have_lock=0
  if command -v flock >/dev/null; then exec 9>"$cache/.lock"; flock 9; have_lock=1; fi
  if [ -x "$bin" ]; then [ "$have_lock" = 1 ] && exec 9>&-; return 0; fi
  local tmp="$cache/bin.tmp.$$" out="$cache/go-install.log" t0=$SECONDS rc=0
  rm -rf "$tmp"
  log "installing $module@$version with $(go version 2>/dev/null || echo go) into $bindir (first run only; a few minutes)"
  # outside any module or workspace so a caller's go.mod/go.work cannot interfere
  # -tags remove_all_sd: Prometheus' own build tag that leaves out the service-discovery plugins
  # (cloud SDKs: most of the build); `check rules` and `test rules` do not use them. About 4 min
  # instead of tens on two cores.
  (cd "$cache" && GOWORK=off GOFLAGS=-mod=mod GOBIN="$tmp" go install -tags remove_all_sd "$module@$version") >"$out" 2>&1 || rc=$?
  if [ "$rc" != 0 ] || [ ! -x "$tmp/promtool" ]; then
    log "go install $module@$version failed (exit $rc):"
    cat "$out" >&2
    rm -rf "$tmp"
    exit $((rc == 0 ? 1 : rc))
  fi
  mkdir -p "$bindir"
  mv -f "$tmp/promtool" "$bin"
  rm -rf "$tmp"
  log "installed in $((SECONDS - t0))s"
  [ "$have_lock" = 1 ] && exec 9>&-
  return 0
}

case "$cmd" in
install)
  install
  echo "$bin"
  ;;
*) echo "usage: promtool.sh install" >&2; exit 2 ;;
esac
