#!/usr/bin/env bash
# Throwaway single-node Apache Kafka broker (KRaft, combined broker+controller) for tests and
# local development, run from the official jars on Maven Central (no Docker, no tarball).
#   kafka.sh start <state-dir>   -> prints KAFKA_BROKERS=127.0.0.1:<port> on stdout once the broker is usable
#   kafka.sh stop  <state-dir>   -> stops it (TERM, then KILL; idempotent)
#   kafka.sh restart <state-dir> -> stops the broker if running, then starts it again on the SAME data,
#                                   cluster id and ports (server.properties of the last start); prints
#                                   KAFKA_BROKERS=127.0.0.1:<port> once usable
#   kafka.sh fetch               -> only downloads the jars into the cache
# Everything else goes to stderr; the broker logs to <state-dir>/kafka.log. Each start is a new,
# empty cluster (the state dir's data is wiped).
#
# Needs Java 17+, Maven (first run only, to fetch ~45 MB of jars) and Node (port picking, readiness).
# Environment:
#   KAFKA_VERSION        default 4.4.0
#   SETTLE_CACHE_DIR     jars go to $SETTLE_CACHE_DIR/kafka-<version>/libs (default ~/.cache/settle)
#   KAFKA_HEAP_OPTS      default "-Xms256m -Xmx512m"
#   KAFKA_START_TIMEOUT  seconds, default 90
#   KAFKA_STOP_TIMEOUT   seconds before SIGKILL, default 10
#   KAFKA_SECURE         1: also open authenticated and encrypted listeners (tests of Settle's
#                        KAFKA_SSL / KAFKA_SASL_* settings) next to the PLAINTEXT one:
#                          SASL_PLAINTEXT  mechanisms PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#                          SASL_SSL        the same over TLS
#                          SSL             TLS with a required client certificate (mTLS)
#                        A throwaway CA, broker certificate (SAN 127.0.0.1, localhost) and client
#                        certificate are made with openssl in <state-dir>/tls; SCRAM credentials are
#                        added at format time. start then also prints KAFKA_SASL_PLAINTEXT_BROKERS,
#                        KAFKA_SASL_SSL_BROKERS, KAFKA_SSL_BROKERS, KAFKA_SASL_USERNAME,
#                        KAFKA_SASL_PASSWORD, KAFKA_SSL_CA, KAFKA_SSL_CERT, KAFKA_SSL_KEY.
#   KAFKA_SASL_USER / KAFKA_SASL_PASS  the user of the secure listeners (default settle / random)
#
# kafkajs 2.2.4 compatibility (verified with scripts/services/kafka-smoke.cjs against 4.4.0):
# Kafka 4.0 removed old protocol versions (KIP-896), but kafkajs negotiates through ApiVersions
# and uses the highest version both sides know, and those are all still served by 4.x.
# kafkajs only speaks the classic consumer group protocol (JoinGroup/SyncGroup), which 4.x brokers
# keep serving next to the new KIP-848 protocol, so no broker setting is needed.
set -euo pipefail

cmd=${1:?usage: kafka.sh start|stop <state-dir> | kafka.sh fetch}
version=${KAFKA_VERSION:-4.4.0}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${SETTLE_CACHE_DIR:-${HOME:-/tmp}/.cache/settle}/kafka-$version
libs=$cache/libs
marker=$cache/.complete

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; return; fi
  command -v java >/dev/null || die "no java on PATH (Kafka $version needs Java 17+)"
  command -v java
}

check_java() {
  local v major
  v=$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1) || true
  major=${v%%.*}
  [ "$major" = 1 ] && major=$(echo "$v" | cut -d. -f2)
  case "$major" in '' | *[!0-9]*) log "cannot tell the Java version ($v), trying anyway"; return ;; esac
  [ "$major" -ge 17 ] || die "Kafka $version needs Java 17+, found $v at $JAVA"
}

# Downloads the broker's jars once per version. Guarded by a lock (parallel starts) and a marker
# written last, so an interrupted download is redone rather than half-used.
fetch() {
  if [ -f "$marker" ] && [ -f "$libs/kafka_2.13-$version.jar" ]; then return; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed once to fetch the Kafka $version jars into $libs"
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9
  if [ -f "$marker" ] && [ -f "$libs/kafka_2.13-$version.jar" ]; then exec 9>&-; return; fi
  log "fetching Kafka $version jars from Maven Central into $libs"
  local tmp="$cache/libs.tmp" out="$cache/mvn.log" t0=$SECONDS
  rm -rf "$tmp" "$marker"
  if ! mvn -B -q -U -Dstyle.color=never -f "$here/kafka/pom.xml" \
    dependency:copy-dependencies -Dkafka.version="$version" -DoutputDirectory="$tmp" >"$out" 2>&1; then
    log "mvn failed to fetch org.apache.kafka:kafka_2.13:$version:"
    sed 's/\x1b\[[0-9;]*m//g' "$out" >&2
    rm -rf "$tmp"
    exit 1
  fi
  [ -f "$tmp/kafka_2.13-$version.jar" ] || { sed 's/\x1b\[[0-9;]*m//g' "$out" >&2; die "mvn succeeded but $tmp/kafka_2.13-$version.jar is missing"; }
  rm -rf "$libs"
  mv "$tmp" "$libs"
  echo "kafka_2.13 $version, $(ls "$libs" | wc -l) jars, $(date -u +%FT%TZ)" >"$marker"
  log "fetched $(ls "$libs" | wc -l) jars in $((SECONDS - t0))s"
  exec 9>&-
}

# N distinct free ports on 127.0.0.1 (all held open while picking): broker, controller[, secure listeners].
free_ports() {
  node -e '
    const net = require("net"); const n = Number(process.argv[1] || 2);
    const servers = Array.from({ length: n }, () => net.createServer());
    const next = (i) => i === n ? (console.log(servers.map((s) => s.address().port).join(" ")), servers.forEach((s) => s.close()))
      : servers[i].listen(0, "127.0.0.1", () => next(i + 1));
    next(0);' "${1:-2}"
}

# A throwaway CA, a broker certificate for 127.0.0.1/localhost (PKCS12 keystore) and a client
# certificate signed by the same CA, in <state>/tls.
make_tls() {
  local dir=$1/tls pass=$2
  command -v openssl >/dev/null || die "openssl is needed for KAFKA_SECURE=1"
  rm -rf "$dir" && mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=settle-test-ca" -keyout ca.key -out ca.pem \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >broker.ext
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 -extfile broker.ext -out broker.pem
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker -out broker.p12 -passout "pass:$pass"
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=settle" -keyout client.key -out client.csr
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 -extfile client.ext -out client.pem
  ) >"$1/tls.log" 2>&1 || { cat "$1/tls.log" >&2; die "openssl could not make the test certificates"; }
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

alive() { # pid: running and not a zombie
  [ -r "/proc/$1/stat" ] || { kill -0 "$1" 2>/dev/null; return; }
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

is_our_broker() { # pid: still the broker we started (guards against pid reuse)
  alive "$1" || return 1
  [ -r "/proc/$1/cmdline" ] || return 0
  local c
  c=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ "$c" == *kafka.Kafka* ]]
}

# Usable = kafkajs (the client Settle uses) can list topics, reach the group coordinator (which also
# creates __consumer_offsets now rather than in the first test) and init an idempotent producer. Skipped, leaving the
# log line and open port as the check, when kafkajs is not installed (e.g. before npm ci).
kafkajs_ready() {
  timeout 30 node -e '
    let kafkajs;
    try { kafkajs = require(require.resolve("kafkajs", { paths: [process.argv[1]] })); } catch { process.exit(3); }
    const { Kafka, logLevel } = kafkajs;
    const kafka = new Kafka({ clientId: "settle-kafka-sh", brokers: [process.argv[2]], logLevel: logLevel.NOTHING,
      connectionTimeout: 2000, requestTimeout: 10000, retry: { retries: 2, initialRetryTime: 200 } });
    const admin = kafka.admin();
    (async () => {
      await admin.connect();
      await admin.listTopics();
      await admin.describeGroups(["settle-kafka-sh-probe"]);
      await admin.disconnect();
      // An idempotent producer gets its producer id on connect; the first one after boot can
      // meet COORDINATOR_LOAD_IN_PROGRESS (kafkajs retries, but logs it as an ERROR).
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.disconnect();
    })().then(() => process.exit(0), (e) => { console.error(String(e && e.message || e)); process.exit(1); });
  ' "$root" "$1"
}

stop() {
  local state=$1 pidf="$1/kafka.pid" pid i limit=$(( ${KAFKA_STOP_TIMEOUT:-10} * 10 ))
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf" 2>/dev/null || true)
  if [ -n "$pid" ] && is_our_broker "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < limit; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      log "broker (pid $pid) still running after ${KAFKA_STOP_TIMEOUT:-10}s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$pidf" "$state/port"
}

write_config() { # state port cport [sport ssport tport]
  local state=$1 port=$2 cport=$3 sport=${4:-} ssport=${5:-} tport=${6:-}
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ -n "$sport" ]; then
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$sport,SASL_SSL://127.0.0.1:$ssport,SSL://127.0.0.1:$tport"
    advertised="$advertised,SASL_PLAINTEXT://127.0.0.1:$sport,SASL_SSL://127.0.0.1:$ssport,SSL://127.0.0.1:$tport"
    protocols="$protocols,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL"
  fi
  cat >"$state/server.properties" <<PROPS
# Generated by scripts/services/kafka.sh: single-node KRaft (combined broker+controller).
process.roles=broker,controller
node.id=1
# Static quorum: the cluster is formatted anew on every start, so the 4.x dynamic quorum
# (controller.quorum.bootstrap.servers + format --standalone) would buy nothing.
controller.quorum.voters=1@127.0.0.1:$cport
controller.listener.names=CONTROLLER
listeners=$listeners
advertised.listeners=$advertised
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$state/data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=3
num.io.threads=4
PROPS
  if [ -n "$sport" ]; then
    local l jaas_plain="org.apache.kafka.common.security.plain.PlainLoginModule required user_${SASL_USER}=\"${SASL_PASS}\";"
    {
      echo "# KAFKA_SECURE=1: authenticated and encrypted listeners (test CA in $state/tls)"
      echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
      for l in sasl_plaintext sasl_ssl; do
        echo "listener.name.$l.plain.sasl.jaas.config=$jaas_plain"
        echo "listener.name.$l.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
        echo "listener.name.$l.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
      done
      echo "ssl.keystore.type=PKCS12"
      echo "ssl.keystore.location=$state/tls/broker.p12"
      echo "ssl.keystore.password=$TLS_PASS"
      echo "ssl.key.password=$TLS_PASS"
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$state/tls/ca.pem"
      echo "listener.name.ssl.ssl.client.auth=required"
    } >>"$state/server.properties"
  fi
  cat >"$state/log4j2.properties" <<'L4J'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
# As in the release's config: per-request and state-change chatter stays out of the log.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.kafkaclients.name = org.apache.kafka.clients
logger.kafkaclients.level = WARN
L4J
  cat >"$state/log4j2-tools.properties" <<'L4J'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
L4J
}

start() {
  local state=$1
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  fetch
  stop "$state"
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90})) attempt port cport sport ssport tport cid pid kjs=1 out rc
  local secure=${KAFKA_SECURE:-0} scram=()
  SASL_USER=${KAFKA_SASL_USER:-settle}
  SASL_PASS=${KAFKA_SASL_PASS:-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')}
  TLS_PASS=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  if [ "$secure" = 1 ]; then
    [[ "$SASL_USER" =~ ^[A-Za-z0-9_-]+$ && "$SASL_PASS" =~ ^[A-Za-z0-9_-]+$ ]] || die "KAFKA_SASL_USER / KAFKA_SASL_PASS: letters, digits, _ and - only"
    make_tls "$state" "$TLS_PASS"
    scram=(--add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASS]" --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASS]")
  fi
  for attempt in 1 2 3; do
    rm -rf "$state/data" "$state/kafka.log" "$state/format.log"
    mkdir -p "$state/data"
    port='' cport='' sport='' ssport='' tport=''
    if [ "$secure" = 1 ]; then
      read -r port cport sport ssport tport < <(free_ports 5) || true
      [ -n "$tport" ] || die "could not pick free ports (is node on PATH?)"
    else
      read -r port cport < <(free_ports) || true
    fi
    [ -n "$port" ] && [ -n "$cport" ] || die "could not pick free ports (is node on PATH?)"
    write_config "$state" "$port" "$cport" "$sport" "$ssport" "$tport"
    local jvm=(-Dlog4j2.configurationFile="$state/log4j2.properties" -Djava.awt.headless=true)
    # The tools log to stderr (log4j2-tools.properties): random-uuid's stdout must be the id alone.
    local tools=(-Dlog4j2.configurationFile="$state/log4j2-tools.properties" -Djava.awt.headless=true -cp "$libs/*" kafka.tools.StorageTool)
    cid=$("$JAVA" "${tools[@]}" random-uuid 2>"$state/format.log" | tail -n 1) || true
    [[ "$cid" =~ ^[A-Za-z0-9_-]{22}$ ]] || { cat "$state/format.log" >&2; die "StorageTool random-uuid gave no cluster id (got '$cid')"; }
    "$JAVA" "${tools[@]}" format -t "$cid" -c "$state/server.properties" "${scram[@]}" >>"$state/format.log" 2>&1 \
      || { cat "$state/format.log" >&2; die "StorageTool format failed"; }
    # setsid: the broker outlives this script and is not hit by the caller's Ctrl-C; the inner
    # shell writes its own pid and execs java, so kafka.pid is the JVM's pid.
    # shellcheck disable=SC2086
    setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$state/kafka.pid" \
      "$JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
      "${jvm[@]}" -cp "$libs/*" kafka.Kafka "$state/server.properties" \
      </dev/null >"$state/kafka.log" 2>&1 &
    for _ in $(seq 50); do [ -s "$state/kafka.pid" ] && break; sleep 0.05; done
    pid=$(cat "$state/kafka.pid" 2>/dev/null || true)
    [ -n "$pid" ] || { tail -n 60 "$state/kafka.log" >&2; die "the broker did not start"; }
    log "broker pid $pid starting on 127.0.0.1:$port (controller :$cport), log $state/kafka.log"
    while :; do
      if ! alive "$pid"; then
        if grep -q 'Address already in use' "$state/kafka.log" && [ "$attempt" -lt 3 ]; then
          log "port taken meanwhile, retrying with other ports"
          rm -f "$state/kafka.pid"
          continue 2
        fi
        log "broker exited during startup; last lines of $state/kafka.log:"
        tail -n 60 "$state/kafka.log" >&2
        rm -f "$state/kafka.pid"
        exit 1
      fi
      if [ $SECONDS -ge "$deadline" ]; then
        log "broker not ready after ${KAFKA_START_TIMEOUT:-90}s; last lines of $state/kafka.log:"
        tail -n 60 "$state/kafka.log" >&2
        stop "$state"
        exit 1
      fi
      if grep -q 'Kafka Server started' "$state/kafka.log" && port_open "$port"; then
        if [ "$kjs" = 1 ]; then
          out=$(kafkajs_ready "127.0.0.1:$port" 2>&1) && rc=0 || rc=$?
          [ "$rc" = 0 ] && break 2
          if [ "$rc" = 3 ]; then kjs=0; log "kafkajs not installed under $root: readiness = log line + open port"; break 2; fi
          log "not usable yet: $out"
        else
          break 2
        fi
      fi
      sleep 0.25
    done
  done
  echo "$port" >"$state/port"
  log "ready after ${SECONDS}s"
  echo "KAFKA_BROKERS=127.0.0.1:$port"
  if [ "$secure" = 1 ]; then
    echo "KAFKA_SASL_PLAINTEXT_BROKERS=127.0.0.1:$sport"
    echo "KAFKA_SASL_SSL_BROKERS=127.0.0.1:$ssport"
    echo "KAFKA_SSL_BROKERS=127.0.0.1:$tport"
    echo "KAFKA_SASL_USERNAME=$SASL_USER"
    echo "KAFKA_SASL_PASSWORD=$SASL_PASS"
    echo "KAFKA_SSL_CA=$state/tls/ca.pem"
    echo "KAFKA_SSL_CERT=$state/tls/client.pem"
    echo "KAFKA_SSL_KEY=$state/tls/client.key"
  fi
}

# Restart keeps everything start wrote: server.properties (ports, log.dirs), the formatted data
# (cluster id, topics, committed offsets). Only the process is new.
restart() {
  local state=$1
  [ -d "$state" ] || die "no broker state in $state (use start first)"
  state=$(cd "$state" && pwd)
  [ -f "$state/server.properties" ] && [ -d "$state/data" ] || die "no broker state in $state (use start first)"
  fetch
  stop "$state"
  local port pid out rc kjs=1 deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
  port=$(sed -n 's/^listeners=PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$state/server.properties")
  [ -n "$port" ] || die "cannot read the broker port from $state/server.properties"
  local jvm=(-Dlog4j2.configurationFile="$state/log4j2.properties" -Djava.awt.headless=true)
  # shellcheck disable=SC2086
  setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$state/kafka.pid" \
    "$JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    "${jvm[@]}" -cp "$libs/*" kafka.Kafka "$state/server.properties" \
    </dev/null >>"$state/kafka.log" 2>&1 &
  for _ in $(seq 50); do [ -s "$state/kafka.pid" ] && break; sleep 0.05; done
  pid=$(cat "$state/kafka.pid" 2>/dev/null || true)
  [ -n "$pid" ] || { tail -n 60 "$state/kafka.log" >&2; die "the broker did not restart"; }
  log "broker pid $pid restarting on 127.0.0.1:$port, log $state/kafka.log"
  local started_before
  started_before=$(grep -c 'Kafka Server started' "$state/kafka.log" || true)
  while :; do
    if ! alive "$pid"; then
      log "broker exited during restart; last lines of $state/kafka.log:"
      tail -n 60 "$state/kafka.log" >&2
      rm -f "$state/kafka.pid"
      exit 1
    fi
    if [ $SECONDS -ge "$deadline" ]; then
      log "broker not ready after ${KAFKA_START_TIMEOUT:-90}s; last lines of $state/kafka.log:"
      tail -n 60 "$state/kafka.log" >&2
      stop "$state"
      exit 1
    fi
    if [ "$(grep -c 'Kafka Server started' "$state/kafka.log" || true)" -gt "$started_before" ] && port_open "$port"; then
      if [ "$kjs" = 1 ]; then
        out=$(kafkajs_ready "127.0.0.1:$port" 2>&1) && rc=0 || rc=$?
        [ "$rc" = 0 ] && break
        if [ "$rc" = 3 ]; then kjs=0; break; fi
        log "not usable yet: $out"
      else
        break
      fi
    fi
    sleep 0.25
  done
  echo "$port" >"$state/port"
  log "ready after ${SECONDS}s"
  echo "KAFKA_BROKERS=127.0.0.1:$port"
}

case "$cmd" in
start)
  state=${2:?usage: kafka.sh start <state-dir>}
  JAVA=$(java_bin); check_java
  start "$state"
  ;;
stop)
  state=${2:?usage: kafka.sh stop <state-dir>}
  [ -d "$state" ] || exit 0
  stop "$state"
  ;;
restart)
  state=${2:?usage: kafka.sh restart <state-dir>}
  JAVA=$(java_bin); check_java
  restart "$state"
  ;;
fetch)
  fetch
  echo "$libs"
  ;;
*) echo "usage: kafka.sh start|stop|restart <state-dir> | kafka.sh fetch" >&2; exit 2 ;;
esac
