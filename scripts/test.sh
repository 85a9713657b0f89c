#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit tests, the gateway's
# integration tests against a real Kafka broker, a build check of the fuzz
# targets, the API's property tests
# from its OpenAPI document, and the browser tests in headless Chromium.
# The format tests start a schema registry (scripts/registry.sh) when they
# run. Installs what it needs first (first time only) and starts Kafka unless
# KAFKA_BROKERS points at one; a broker this script started is stopped at
# the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$repo"

step() { echo; echo "==> $*"; }

step "setup"
scripts/setup.sh --test

step "kafka"
started_kafka=
if [[ -z ${KAFKA_BROKERS:-} ]] && ! scripts/kafka.sh status >/dev/null 2>&1; then
  started_kafka=1
fi
# The format tests start the schema registry when they run; it stops here.
trap 'scripts/registry.sh stop; if [[ -n $started_kafka ]]; then scripts/kafka.sh stop; fi' EXIT
scripts/kafka.sh start

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit and integration, real broker)"
cargo test --workspace --locked

step "fuzz targets still build against the gateway (cargo check; fuzzing itself needs nightly: scripts/fuzz.sh)"
cargo check --manifest-path fuzz/Cargo.toml --bins --locked --target-dir target/fuzz-check

step "release build (the dashboard and the gateway, as scripts/run.sh and the Dockerfile build them)"
scripts/build.sh

step "API property tests (schemathesis, from the gateway's OpenAPI document)"
GATEWAY_BIN="$repo/target/release/gateway" scripts/api-fuzz.sh

step "browser tests (headless Chromium)"
(cd end2end && GATEWAY_BIN="$repo/target/release/gateway" DIST_DIR="$repo/dist" npm test)

if [[ -n $started_kafka ]]; then
  echo "(stopping the Kafka broker this run started)"
fi
