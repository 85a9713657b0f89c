#!/usr/bin/env bash
# The benchmark suite: the gateway side by side with Kafka's own tools
# (ProducerPerformance, EndToEndLatency) on the same broker, WebSocket
# fan-out, and the dashboard in headless Chromium. Builds the release
# gateway and dashboard, starts Kafka, runs `bench` and writes the results
# into BENCHMARKS.md. Not part of scripts/test.sh: it measures, it does not
# test. Takes about 7½ minutes once built.
#
#   scripts/bench.sh [bench flags]   e.g. --seconds 5 (see: target/release/bench --help)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$repo"

scripts/setup.sh --test
scripts/kafka.sh start
scripts/build.sh
cargo build --release --locked -p bench
# A thousand WebSocket clients: two descriptors each (client and gateway).
ulimit -n "$(ulimit -Hn)"
target/release/bench --broker-pid "$(cat "${KAFKA_STATE_DIR:-$repo/.kafka}/broker.pid")" "$@"
