#!/usr/bin/env bash
# The whole test suite against real services. Starts what is not given:
#   - PostgreSQL 15 (throwaway cluster) unless DATABASE_URL is set
#   - Apache Kafka (KRaft, official jars) unless KAFKA_BROKERS is set
#   - stripe-mock (official Stripe API mock, go install) unless STRIPE_API_BASE is set
# and stops what it started on exit, also when tests fail or the run is interrupted.
# Extra arguments go to jest (e.g. scripts/test.sh infrastructure/eventstore).
set -euo pipefail
cd "$(dirname "$0")/.."

state=$(mktemp -d "${TMPDIR:-/tmp}/settle-test.XXXXXX")
chmod 755 "$state"
started_pg=0
started_kafka=0
started_stripe=0
cleanup() {
  status=$?
  [ "$started_stripe" = 1 ] && scripts/services/stripe-mock.sh stop "$state/stripe-mock" || true
  [ "$started_kafka" = 1 ] && scripts/services/kafka.sh stop "$state/kafka" || true
  [ "$started_pg" = 1 ] && scripts/services/postgres.sh stop "$state/pg" || true
  rm -rf "$state" 2>/dev/null || true
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  echo "[settle] starting a throwaway PostgreSQL cluster" >&2
  started_pg=1
  export "$(scripts/services/postgres.sh start "$state/pg" | grep '^DATABASE_URL=')"
fi
if [ -z "${KAFKA_BROKERS:-}" ]; then
  echo "[settle] starting a single-node Kafka broker (KRaft)" >&2
  started_kafka=1
  export "$(scripts/services/kafka.sh start "$state/kafka" | grep '^KAFKA_BROKERS=')"
fi
if [ -z "${STRIPE_API_BASE:-}" ]; then
  echo "[settle] starting stripe-mock (the official Stripe API mock)" >&2
  started_stripe=1
  export "$(scripts/services/stripe-mock.sh start "$state/stripe-mock" | grep '^STRIPE_API_BASE=')"
fi
echo "[settle] DATABASE_URL=$DATABASE_URL KAFKA_BROKERS=$KAFKA_BROKERS STRIPE_API_BASE=$STRIPE_API_BASE" >&2

# production dependencies: fails on a high or critical advisory (reports NOT CHECKED when the
# advisory service cannot be reached, e.g. offline; SETTLE_AUDIT_REQUIRED=1 makes that fatal too)
node scripts/audit.cjs
# the browser tests (http/console/*.chromium.test.ts) drive Debian's chromium; installed once, quietly
scripts/chromium.sh
# ops/ops.embedded.test.ts checks the alert rules with Prometheus' promtool: go install once, cached
scripts/services/promtool.sh install >/dev/null

echo "[settle] type-checking" >&2
npx tsc --noEmit -p tsconfig.json
# typescript-eslint strict-type-checked (eslint.config.mjs): any finding, or an unused
# eslint-disable comment, fails the run (about 2 minutes of one core)
echo "[settle] linting" >&2
npm run lint --silent
# the production build (no test types) must compile too: it is what `npm start` runs, and the
# multi-instance tests start it as real child processes
npm run build --silent

# PGlite loads its WebAssembly through dynamic import, which Jest's VM needs this flag for.
NODE_OPTIONS="${NODE_OPTIONS:-} --experimental-vm-modules --no-warnings=ExperimentalWarning" npx jest --ci "$@"
