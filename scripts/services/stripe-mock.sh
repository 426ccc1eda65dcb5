#!/usr/bin/env bash
# Official stripe-mock (github.com/stripe/stripe-mock) for tests and local development: a local
# HTTP server that validates every request against Stripe's OpenAPI spec and answers with
# Stripe's published fixture objects. Stateless: it stores nothing between requests.
#   stripe-mock.sh start <state-dir>   -> prints STRIPE_API_BASE=http://127.0.0.1:<port> on stdout once it answers HTTP
#   stripe-mock.sh stop  <state-dir>   -> stops it (TERM, then KILL; idempotent)
#   stripe-mock.sh install             -> only installs the binary into the cache, prints its path
# Everything else goes to stderr; the server logs to <state-dir>/stripe-mock.log (one line per request).
#
# Needs only Go (first run only: `go install` into the cache) and bash. No Docker, no node, no curl.
# Listens on 127.0.0.1 only: HTTP and HTTPS both get `-http(s)-addr 127.0.0.1:0`, so the kernel picks
# free ports at bind time (no pick-then-bind race) and the bound HTTP port is read from the log.
# (`-http-port N` would bind all interfaces, and `-http-addr` alone would leave HTTPS on :12112.)
# Environment:
#   STRIPE_MOCK_VERSION        default v0.203.0 (embedded OpenAPI spec 2026-08-26.dahlia)
#   SETTLE_CACHE_DIR           binary goes to $SETTLE_CACHE_DIR/stripe-mock-<version>/bin (default ~/.cache/settle)
#   STRIPE_MOCK_START_TIMEOUT  seconds, default 30
#   STRIPE_MOCK_STOP_TIMEOUT   seconds before SIGKILL, default 5
set -euo pipefail

cmd=${1:?usage: stripe-mock.sh start|stop <state-dir> | stripe-mock.sh install}
version=${STRIPE_MOCK_VERSION:-v0.203.0}
module=github.com/stripe/stripe-mock
cache=${SETTLE_CACHE_DIR:-${HOME:-/tmp}/.cache/settle}/stripe-mock-$version
bindir=$cache/bin
bin=$bindir/stripe-mock

log() { echo "stripe-mock.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Installs the pinned version once. `go install` writes into a scratch GOBIN that is renamed into
# place only on success, so an interrupted or failed install is redone, never half-used; a lock
# serialises parallel first starts. On failure go's own output is printed verbatim.
install() {
  if [ -x "$bin" ]; then return; fi
  command -v go >/dev/null || die "Go is needed once to install $module@$version into $bindir (no 'go' on PATH)"
  mkdir -p "$cache"
  local have_lock=0
  if command -v flock >/dev/null; then exec 9>"$cache/.lock"; flock 9; have_lock=1; fi
  if [ -x "$bin" ]; then [ "$have_lock" = 1 ] && exec 9>&-; return 0; fi
  local tmp="$cache/bin.tmp.$$" out="$cache/go-install.log" t0=$SECONDS rc=0
  rm -rf "$tmp"
  log "installing $module@$version with $(go version 2>/dev/null || echo go) into $bindir"
  # Run outside any module or workspace so the caller's go.mod/go.work cannot interfere.
  (cd "$cache" && GOWORK=off GOBIN="$tmp" go install -ldflags="-X main.version=$version" "$module@$version") >"$out" 2>&1 || rc=$?
  if [ "$rc" != 0 ] || [ ! -x "$tmp/stripe-mock" ]; then
    log "go install $module@$version failed (exit $rc):"
    cat "$out" >&2
    rm -rf "$tmp"
    exit $((rc == 0 ? 1 : rc))
  fi
  mkdir -p "$bindir"
  mv -f "$tmp/stripe-mock" "$bin"
  rm -rf "$tmp"
  log "installed in $((SECONDS - t0))s"
  [ "$have_lock" = 1 ] && exec 9>&-
  return 0
}

alive() { # pid: running and not a zombie
  [ -r "/proc/$1/stat" ] || { kill -0 "$1" 2>/dev/null; return; }
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

is_ours() { # pid: still the stripe-mock we started (guards against pid reuse)
  alive "$1" || return 1
  [ -r "/proc/$1/cmdline" ] || return 0
  local c
  c=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ "$c" == *stripe-mock* ]]
}

# One plain HTTP/1.0 request over bash's /dev/tcp: 200 on an authenticated list call means the
# spec is loaded and the router answers.
answers() { # port
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET /v1/customers HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nAuthorization: Bearer sk_test_123\r\nConnection: close\r\n\r\n' "$1" >&3
    IFS= read -r -t 5 status <&3 || exit 1
    [[ "$status" == HTTP/1.?\ 200* ]]
  ) 2>/dev/null
}

stop() {
  local state=$1 pidf="$1/stripe-mock.pid" pid i limit=$(( ${STRIPE_MOCK_STOP_TIMEOUT:-5} * 10 ))
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf" 2>/dev/null || true)
  if [ -n "$pid" ] && is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < limit; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      log "stripe-mock (pid $pid) still running after ${STRIPE_MOCK_STOP_TIMEOUT:-5}s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$pidf" "$state/port"
}

start() {
  local state=$1 t0=$SECONDS
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  install
  stop "$state"
  local logf="$state/stripe-mock.log" pidf="$state/stripe-mock.pid"
  local deadline=$((SECONDS + ${STRIPE_MOCK_START_TIMEOUT:-30})) pid='' port='' i
  rm -f "$logf"
  # setsid (when present): the server outlives this script and is not hit by the caller's Ctrl-C.
  # The inner shell writes its own pid and execs stripe-mock, so the pid file is the server's pid.
  local detach=()
  command -v setsid >/dev/null && detach=(setsid)
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  ${detach[@]+"${detach[@]}"} sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidf" \
    "$bin" -http-addr 127.0.0.1:0 -https-addr 127.0.0.1:0 </dev/null >"$logf" 2>&1 &
  for ((i = 0; i < 100; i++)); do [ -s "$pidf" ] && break; sleep 0.05; done
  pid=$(cat "$pidf" 2>/dev/null || true)
  [ -n "$pid" ] || { cat "$logf" >&2 2>/dev/null || true; die "stripe-mock did not start"; }
  while :; do
    if ! alive "$pid"; then
      log "stripe-mock exited during startup; $logf:"
      cat "$logf" >&2 || true
      echo >&2
      rm -f "$pidf"
      exit 1
    fi
    if [ -z "$port" ]; then
      port=$(sed -n 's/^Listening for HTTP at address: 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$logf" 2>/dev/null | head -n 1)
    fi
    if [ -n "$port" ] && answers "$port"; then break; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "stripe-mock not answering after ${STRIPE_MOCK_START_TIMEOUT:-30}s; $logf:"
      tail -n 40 "$logf" >&2 || true
      stop "$state"
      exit 1
    fi
    sleep 0.05
  done
  echo "$port" >"$state/port"
  log "stripe-mock $version (pid $pid) ready on 127.0.0.1:$port after $((SECONDS - t0))s, log $logf"
  echo "STRIPE_API_BASE=http://127.0.0.1:$port"
}

case "$cmd" in
start)
  start "${2:?usage: stripe-mock.sh start <state-dir>}"
  ;;
stop)
  state=${2:?usage: stripe-mock.sh stop <state-dir>}
  [ -d "$state" ] || exit 0
  stop "$state"
  ;;
install)
  install
  echo "$bin"
  ;;
*) echo "usage: stripe-mock.sh start|stop <state-dir> | stripe-mock.sh install" >&2; exit 2 ;;
esac
