#!/usr/bin/env bash
# Schemathesis (PyPI) for the OpenAPI fuzz test (http/openapi.schemathesis.postgres.test.ts): a
# property-based API tester that reads /openapi.json, generates requests from it and checks that
# the answers conform to it.
#   schemathesis.sh install   -> installs the pinned version into a cached venv once, prints the `st` path
# Everything else goes to stderr.
#
# Needs only python3 (with the venv module) and PyPI. The venv is built in a scratch folder and
# renamed into place only once pip succeeded, so an interrupted install is redone, never half-used;
# a lock serialises parallel first runs.
# Environment:
#   SCHEMATHESIS_VERSION  default 4.32.5
#   SETTLE_CACHE_DIR      the venv goes to $SETTLE_CACHE_DIR/schemathesis-<version> (default ~/.cache/settle)
set -euo pipefail

cmd=${1:?usage: schemathesis.sh install}
version=${SCHEMATHESIS_VERSION:-4.32.5}
cache=${SETTLE_CACHE_DIR:-${HOME:-/tmp}/.cache/settle}
venv=$cache/schemathesis-$version
st=$venv/bin/st

log() { echo "schemathesis.sh: $*" >&2; }
die() { log "$*"; exit 1; }

install() {
  if [ -x "$st" ]; then return; fi
  command -v python3 >/dev/null || die "python3 is needed once to install schemathesis==$version into $venv"
  mkdir -p "$cache"
  local have_lock=0
  if command -v flock >/dev/null; then exec 9>"$cache/.schemathesis.lock"; flock 9; have_lock=1; fi
  if [ -x "$st" ]; then [ "$have_lock" = 1 ] && exec 9>&-; return 0; fi
  local tmp="$venv.tmp.$$" out="$cache/schemathesis-install.log" t0=$SECONDS rc=0
  rm -rf "$tmp"
  log "installing schemathesis==$version with $(python3 --version 2>&1) into $venv"
  { python3 -m venv "$tmp" && "$tmp/bin/python" -m pip install --disable-pip-version-check --quiet "schemathesis==$version"; } >"$out" 2>&1 || rc=$?
  if [ "$rc" != 0 ] || [ ! -x "$tmp/bin/st" ]; then
    log "pip install schemathesis==$version failed (exit $rc):"
    cat "$out" >&2
    rm -rf "$tmp"
    exit $((rc == 0 ? 1 : rc))
  fi
  rm -rf "$venv"
  mv "$tmp" "$venv"
  # console scripts name the interpreter by absolute path: point them at the moved venv
  sed -i "1s|^#!.*$|#!$venv/bin/python|" "$venv"/bin/st "$venv"/bin/schemathesis
  log "installed in $((SECONDS - t0))s"
  [ "$have_lock" = 1 ] && exec 9>&-
  return 0
}

case "$cmd" in
install)
  install
  echo "$st"
  ;;
*) echo "usage: schemathesis.sh install" >&2; exit 2 ;;
esac
