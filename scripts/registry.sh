#!/usr/bin/env bash
# A Schema Registry for the tests that decode Avro, Protobuf and JSON Schema
# records: Apicurio Registry, from Maven Central (a Quarkus app, run by Java
# with in-memory storage), which serves Confluent's Schema Registry API
# under /apis/ccompat/v7. State lives in .registry/ (ignored by git).
#
#   scripts/registry.sh install   fetch the app (about 159 MB, once)
#   scripts/registry.sh start     install and start; returns once it answers
#   scripts/registry.sh stop      stop the registry started by this script
#   scripts/registry.sh url       print the Confluent-compatible API's URL
#
# Environment:
#   REGISTRY_PORT       the registry's HTTP port (default 8085)
#   REGISTRY_STATE_DIR  where the app and its log go (default <repo>/.registry)
#   REGISTRY_JAVA       a java of version 21 or newer (default: the newest in /usr/lib/jvm)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

APICURIO_VERSION=3.3.3
state=${REGISTRY_STATE_DIR:-$repo/.registry}
port=${REGISTRY_PORT:-8085}
app=$state/apicurio-registry-$APICURIO_VERSION
pidfile=$state/registry.pid
log=$state/registry.log
url=http://127.0.0.1:$port/apis/ccompat/v7

say() { echo "registry: $*" >&2; }

# Apicurio 3 needs Java 21 or newer: $REGISTRY_JAVA, else the newest such
# JDK in /usr/lib/jvm (Temurin 25 on these machines), else java on PATH.
java_21() {
  local candidate major
  for candidate in ${REGISTRY_JAVA:-} $(ls -d /usr/lib/jvm/*/bin/java 2>/dev/null | sort -rV) java; do
    major=$("$candidate" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
    if [[ -n $major && $major -ge 21 ]]; then
      echo "$candidate"
      return 0
    fi
  done
  say "Apicurio Registry $APICURIO_VERSION needs Java 21 or newer; none found (set REGISTRY_JAVA)"
  return 1
}

install() {
  [[ -f $app/quarkus-app/quarkus-run.jar ]] && return 0
  mkdir -p "$state"
  # One fetch at a time (see kafka.sh's install); the second finds it done.
  local lock
  exec {lock}>"$state/.install.lock"
  flock "$lock"
  if [[ -f $app/quarkus-app/quarkus-run.jar ]]; then
    exec {lock}>&-
    return 0
  fi
  local name=apicurio-registry-app-$APICURIO_VERSION-all.tar.gz
  say "fetching Apicurio Registry $APICURIO_VERSION from Maven Central (about 159 MB)"
  # mvn rather than curl: it honours the machine's Maven mirror and proxy.
  mvn -q -B -Dstyle.color=never dependency:copy \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    -DoutputDirectory="$state" -Dmdep.stripVersion=false
  # The archive is the contents of Quarkus's quarkus-app/ folder.
  rm -rf "$app"
  mkdir -p "$app.partial/quarkus-app"
  tar -xzf "$state/$name" -C "$app.partial/quarkus-app"
  [[ -f $app.partial/quarkus-app/quarkus-run.jar ]] || { say "no quarkus-run.jar in $name"; return 1; }
  mv "$app.partial" "$app"
  rm -f "$state/$name"
  # Not inherited by the registry this script may start next.
  exec {lock}>&-
}

running_pid() {
  [[ -f $pidfile ]] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  if healthy "$url/subjects"; then
    say "a registry already answers at $url; using it"
    return 0
  fi
  install
  local java
  java=$(java_21)
  say "starting Apicurio Registry $APICURIO_VERSION at $url (log in $log)"
  # setsid: it outlives this script. In-memory storage: every start is empty.
  setsid "$java" -Xms128M -Xmx512M \
    -Dquarkus.http.port="$port" -Dquarkus.http.host=127.0.0.1 \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -jar "$app/quarkus-app/quarkus-run.jar" >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + 120))
  until healthy "$url/subjects"; do
    if ! running_pid >/dev/null; then
      say "the registry exited; last lines of $log:"
      tail -n 30 "$log" >&2 || true
      return 1
    fi
    if ((SECONDS > deadline)); then
      say "no answer at $url after 120 s"
      return 1
    fi
    sleep 0.5
  done
  say "ready at $url"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pidfile"
    return 0
  fi
  say "stopping pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$pidfile"
}

cmd=${1:-}
case $cmd in
install) install ;;
start) start ;;
stop) stop ;;
url) echo "$url" ;;
*)
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  [[ -z $cmd || $cmd == help || $cmd == --help || $cmd == -h ]]
  ;;
esac
