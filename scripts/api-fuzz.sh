#!/usr/bin/env bash
# Property tests of the REST API from its own OpenAPI document, with
# schemathesis: every operation, requests generated from the schemas, valid
# and invalid. It fails on a 5xx the document does not list, a status it
# does not list, a body not in the documented shape (every error an
# ErrorBody, but for a batch's per-order results), or an invalid request
# accepted.
#
# The gateway runs on a Kafka broker of this run's own: the generated
# requests create topics (up to 1,000 partitions each) that must not weigh
# on the shared broker. Checked out: positive_data_acceptance, because some
# valid-looking requests are refused for reasons outside the schema (a
# partition the topic does not have, an Idempotency-Key reused for another
# order, a replication factor above the broker count).
#
#   scripts/api-fuzz.sh            uses target/release/gateway (GATEWAY_BIN to override)
#   API_FUZZ_EXAMPLES=200 scripts/api-fuzz.sh   more examples per operation (default 50)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$repo"

gateway_bin=${GATEWAY_BIN:-$repo/target/release/gateway}
st=$repo/tools/venv/bin/st
[[ -x $st ]] || scripts/setup.sh --test

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
state=$(mktemp -d)
broker_env=(env -u KAFKA_BROKERS KAFKA_STATE_DIR="$state" KAFKA_PORT="$(free_port)"
  KAFKA_CONTROLLER_PORT="$(free_port)" KAFKA_HEAP_OPTS="-Xms256M -Xmx512M")
gateway=
cleanup() {
  [[ -n $gateway ]] && kill -TERM "$gateway" 2>/dev/null && wait "$gateway" 2>/dev/null
  "${broker_env[@]}" scripts/kafka.sh stop >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT

# The shared broker's jars, when installed: no second download.
[[ -d $repo/.kafka/lib ]] && ln -s "$repo/.kafka/lib" "$state/lib"
"${broker_env[@]}" scripts/kafka.sh start
brokers=$("${broker_env[@]}" bash -c 'echo "127.0.0.1:$KAFKA_PORT"')

port=$(free_port)
RUST_LOG=${RUST_LOG:-error} "$gateway_bin" --brokers "$brokers" --listen "127.0.0.1:$port" \
  --topic api-fuzz --static-dir /nonexistent &
gateway=$!
for _ in $(seq 1 60); do
  healthy "http://127.0.0.1:$port/api/health" && break
  sleep 1
done

"$st" --config-file "$repo/tools/schemathesis.toml" run "http://127.0.0.1:$port/api/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance \
  --max-examples "${API_FUZZ_EXAMPLES:-50}" --request-timeout 30 --warnings off
