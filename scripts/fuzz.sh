#!/usr/bin/env bash
# Runs the fuzz targets (cargo fuzz, libFuzzer) for what the gateway reads
# from the network and the topic, each for SECONDS (default 60):
#
#   record        any record another program writes to the topic: decoded
#                 within bounds, sent as a frame the dashboard parses back
#   client_input  order bodies and the live stream's resume parameter:
#                 an answer or a precise error, and a round trip unchanged
#   formats       the bytes after a schema id, decoded with Avro (one schema
#                 recursive), Protobuf and JSON Schema schemas: JSON within
#                 the depth bound, or an error, never a panic
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs a nightly toolchain (rustup toolchain install nightly), which the
# package registries this project's CI reaches do not serve, so it is not
# part of scripts/test.sh. A crash leaves its input in fuzz/artifacts/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$repo/fuzz"

CARGO_FUZZ_VERSION=0.13.2
seconds=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(record client_input formats)

rustup run nightly rustc --version >/dev/null 2>&1 || {
  echo "fuzz: a nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 1
}
if [[ $(cargo fuzz --version 2>/dev/null) != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
for target in "${targets[@]}"; do
  echo "==> fuzzing $target for $seconds s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds"
done
