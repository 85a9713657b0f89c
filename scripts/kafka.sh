#!/usr/bin/env bash
# A single-node Apache Kafka 4.x broker (KRaft, broker + controller in one
# process) assembled from the jars on Maven Central, for machines without a
# Docker engine. State lives in .kafka/ (ignored by git).
#
#   scripts/kafka.sh install        fetch the broker's jars (idempotent)
#   scripts/kafka.sh start          install, format storage, start; returns once the broker answers
#   scripts/kafka.sh stop           stop the broker started by this script
#   scripts/kafka.sh status         say whether a broker answers, and which
#   scripts/kafka.sh tool CLASS ARGS...
#                                   run one of Kafka's command-line tools, e.g.
#                                   tool org.apache.kafka.tools.TopicCommand --list
#   scripts/kafka.sh topics ARGS... shorthand for kafka-topics (--bootstrap-server added)
#
# Environment:
#   KAFKA_BROKERS          when set and reachable, that broker is used: start does nothing
#   KAFKA_PORT             client port of the local broker (default 9092)
#   KAFKA_CONTROLLER_PORT  controller port of the local broker (default 9093)
#   KAFKA_STATE_DIR        where jars, data and logs go (default <repo>/.kafka)
#   KAFKA_EXTRA_PROPERTIES a file of broker properties added to the generated
#                          configuration (a key given again wins)
#   KAFKA_CLUSTER_ID       the cluster id to format storage with (default: a new
#                          one); the nodes of a multi-node cluster share it
#   KAFKA_HEAP_OPTS        the broker JVM's heap (default -Xms512M -Xmx1G)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${KAFKA_STATE_DIR:-$repo/.kafka}
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-9093}
lib=$state/lib
data=$state/data
logs=$state/logs
pidfile=$state/broker.pid
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$repo/kafka/pom.xml")

say() { echo "kafka: $*" >&2; }

# The broker the caller asked for, or the local one.
brokers() { echo "${KAFKA_BROKERS:-127.0.0.1:$port}"; }

install() {
  local stamp=$lib/.installed-$kafka_version lock
  if [[ -f $stamp ]]; then return 0; fi
  # One fetch at a time: a second one (a setup run again while an earlier
  # one's fetch still runs) waits for the first, then finds the jars there.
  mkdir -p "$state"
  exec {lock}>"$state/.install.lock"
  flock "$lock"
  if [[ ! -f $stamp ]]; then
    say "fetching Apache Kafka $kafka_version jars from Maven Central into $lib (about a minute)"
    rm -rf "$lib"
    mkdir -p "$lib"
    (cd "$repo/kafka" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$lib")
    touch "$stamp"
    say "Apache Kafka $kafka_version jars fetched"
  fi
  exec {lock}>&-
}

tool() {
  install
  local class=$1
  shift
  ${tool_exec:-} java -Xmx256M -cp "$lib/*" \
    -Dlog4j2.configurationFile="$repo/kafka/tools-log4j2.yaml" \
    "$class" "$@"
}

# A TCP connect to each host:port of a broker list; cheap, no JVM.
port_open() {
  local hostport host p
  IFS=, read -ra hostports <<<"$1"
  for hostport in "${hostports[@]}"; do
    host=${hostport%:*}
    p=${hostport##*:}
    if (exec 3<>"/dev/tcp/$host/$p") 2>/dev/null; then return 0; fi
  done
  return 1
}

# A broker "answers" when a metadata request (listing topics) succeeds.
answers() {
  port_open "$1" && tool org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$1" --list >/dev/null 2>&1
}

running_pid() {
  [[ -f $pidfile ]] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  if [[ -n ${KAFKA_BROKERS:-} ]]; then
    if answers "$KAFKA_BROKERS"; then
      say "using the broker at $KAFKA_BROKERS (KAFKA_BROKERS); nothing started"
      return 0
    fi
    say "KAFKA_BROKERS=$KAFKA_BROKERS does not answer"
    return 1
  fi
  if running_pid >/dev/null; then
    wait_ready
    say "already running at 127.0.0.1:$port (pid $(cat "$pidfile"))"
    return 0
  fi
  if port_open "127.0.0.1:$port"; then
    if answers "127.0.0.1:$port"; then
      say "a broker this script did not start already answers at 127.0.0.1:$port; using it"
      return 0
    fi
    say "port $port is taken by something that is not a Kafka broker"
    return 1
  fi
  install
  mkdir -p "$data" "$logs"
  local config=$state/server.properties
  sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
    -e "s|@DATA_DIR@|$data|g" "$repo/kafka/server.properties" >"$config"
  # More settings, e.g. a SASL listener; a key given again wins.
  if [[ -n ${KAFKA_EXTRA_PROPERTIES:-} ]]; then
    cat "$KAFKA_EXTRA_PROPERTIES" >>"$config"
  fi
  if [[ ! -f $data/meta.properties ]]; then
    local cluster_id
    cluster_id=${KAFKA_CLUSTER_ID:-$(tool kafka.tools.StorageTool random-uuid)}
    say "formatting storage in $data (cluster $cluster_id)"
    tool kafka.tools.StorageTool format -t "$cluster_id" -c "$config" >/dev/null
  fi
  say "starting Apache Kafka $kafka_version at 127.0.0.1:$port (logs in $logs)"
  # setsid: the broker outlives this script and the terminal that ran it.
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is several words
  setsid java ${KAFKA_HEAP_OPTS:--Xms512M -Xmx1G} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true \
    -Dkafka.logs.dir="$logs" \
    -Dlog4j2.configurationFile="$repo/kafka/log4j2.yaml" \
    -cp "$lib/*" kafka.Kafka "$config" \
    >"$logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_ready
  say "ready at 127.0.0.1:$port"
}

# Waits until the local broker answers a metadata request, at most 120 s.
wait_ready() {
  local deadline=$((SECONDS + 120))
  until port_open "127.0.0.1:$port"; do
    if ! running_pid >/dev/null; then
      say "the broker exited; last lines of $logs/stdout.log:"
      tail -n 30 "$logs/stdout.log" >&2 || true
      return 1
    fi
    if ((SECONDS > deadline)); then
      say "no answer on port $port after 120 s"
      return 1
    fi
    sleep 0.5
  done
  until answers "127.0.0.1:$port"; do
    if ((SECONDS > deadline)); then
      say "port $port is open but the broker does not answer after 120 s"
      return 1
    fi
    sleep 1
  done
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    say "not running"
    rm -f "$pidfile"
    return 0
  fi
  say "stopping pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after 30 s; killing"
    kill -KILL "$pid"
  fi
  rm -f "$pidfile"
}

status() {
  local b
  b=$(brokers)
  if answers "$b"; then
    echo "kafka: a broker answers at $b"
  else
    echo "kafka: no broker answers at $b"
    return 1
  fi
}

cmd=${1:-}
shift || true
case $cmd in
install) install ;;
start) start ;;
stop) stop ;;
status) status ;;
# exec: the tool is this process, so stopping it (a test's background
# consumer) stops the JVM too.
tool) tool_exec=exec tool "$@" ;;
topics) tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(brokers)" "$@" ;;
*)
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
  [[ -z $cmd || $cmd == help || $cmd == --help || $cmd == -h ]]
  ;;
esac
