#!/usr/bin/env bash
# Runs the dashboard: installs the tools (first time only), starts Kafka
# (unless KAFKA_BROKERS points at one), builds the frontend and the gateway,
# and serves everything at http://127.0.0.1:8080 until Ctrl-C.
# Arguments are passed to the gateway (see `gateway --help`); Kafka keeps
# running afterwards (scripts/kafka.sh stop).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$repo"

scripts/setup.sh
scripts/kafka.sh start
scripts/build.sh
exec target/release/gateway --static-dir "$repo/dist" "$@"
