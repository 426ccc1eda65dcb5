#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests and local development.
#   postgres.sh start <state-dir>   -> prints DATABASE_URL=... on stdout once the server accepts connections
#   postgres.sh stop  <state-dir>   -> stops it (idempotent)
#   postgres.sh restart <state-dir> -> stops it if running, then starts the SAME cluster again (same
#                                      data dir, same port); prints DATABASE_URL=... once it accepts connections
# initdb refuses to run as root, so as root the cluster is owned by and run as the `postgres` user.
set -euo pipefail

cmd=${1:?usage: postgres.sh start|stop <state-dir>}
state=${2:?usage: postgres.sh start|stop <state-dir>}

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bindir=$d; done
  if [ -z "$bindir" ] && command -v initdb >/dev/null; then bindir=$(dirname "$(command -v initdb)"); fi
fi
[ -n "$bindir" ] || { echo "postgres.sh: no PostgreSQL server binaries found (set PG_BINDIR)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

case "$cmd" in
start)
  mkdir -p "$state"
  data="$state/pgdata"
  rm -rf "$data"
  mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$state"
  as_owner "$bindir/initdb" -D "$data" --auth=trust --username=postgres --encoding=UTF8 --no-locale >"$state/initdb.log" 2>&1 \
    || { cat "$state/initdb.log" >&2; exit 1; }
  port=$(free_port)
  # Tuned for throwaway test clusters: durability settings stay at their defaults so
  # tests exercise real commits (fsync stays on).
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$state'
max_connections = 300
shared_buffers = 128MB
idle_in_transaction_session_timeout = '60s'
CONF
  as_owner "$bindir/pg_ctl" -D "$data" -l "$state/postgres.log" -w -t 60 start >&2 \
    || { tail -50 "$state/postgres.log" >&2; exit 1; }
  echo "$port" >"$state/port"
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  data="$state/pgdata"
  if [ -f "$data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >&2 || true
  fi
  ;;
restart)
  data="$state/pgdata"
  [ -f "$data/PG_VERSION" ] && [ -f "$state/port" ] || { echo "postgres.sh: no cluster in $state (use start first)" >&2; exit 1; }
  if [ -f "$data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >&2 || true
  fi
  as_owner "$bindir/pg_ctl" -D "$data" -l "$state/postgres.log" -w -t 60 start >&2 \
    || { tail -50 "$state/postgres.log" >&2; exit 1; }
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$(cat "$state/port")/postgres"
  ;;
*) echo "usage: postgres.sh start|stop|restart <state-dir>" >&2; exit 2 ;;
esac
