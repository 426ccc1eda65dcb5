#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (console/*.chromium.test.ts) when it is not
# there yet. Idempotent and quiet: does nothing when /usr/bin/chromium exists. Needs root (or
# sudo) and apt; prints where chromium is.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "[settle] chromium is missing and apt-get is not available: install Chromium at /usr/bin/chromium" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "[settle] installing Debian's chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
test -x /usr/bin/chromium
