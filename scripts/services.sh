#!/usr/bin/env bash
# Local development services, the same ones the tests use: a throwaway PostgreSQL 15 cluster and a
# single-node Kafka broker (KRaft, official jars). Prints the environment to export, then waits;
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
state=${SETTLE_SERVICES_DIR:-$PWD/.services}
mkdir -p "$state"; chmod 755 "$state"
stop() {
  scripts/services/kafka.sh stop "$state/kafka" || true
  scripts/services/postgres.sh stop "$state/pg" || true
}
trap stop EXIT
trap 'exit 0' INT TERM
db=$(scripts/services/postgres.sh start "$state/pg" | grep '^DATABASE_URL=')
kafka=$(scripts/services/kafka.sh start "$state/kafka" | grep '^KAFKA_BROKERS=')
cat <<MSG

Services are up. In another shell:
  export $db
  export $kafka
  npm start
Ctrl-C here stops them.
MSG
while :; do sleep 3600 & wait $!; done
