#!/usr/bin/env bash
# Builds the release dashboard (dist/) and gateway (target/release/gateway).
# Needs the tools of `scripts/setup.sh --build`. The Dockerfile runs this too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$repo"
# The two build side by side: the dashboard's last step (optimising the
# whole .wasm at once) runs on one core, and the gateway's crates fill the
# other. Their compiler lines interleave; each says when it is done.
long_step "building the gateway, librdkafka (C) included" "about 6 minutes the first time, seconds after" \
  cargo build --release --locked -p gateway &
gateway=$!
trap stop_background EXIT
# --dist: Trunk.toml's own dist is the dev server's (target/trunk-dev).
long_step "building the dashboard (WebAssembly, optimised for size)" "about 4 minutes the first time, seconds after" \
  trunk build --release --offline --dist dist
wait "$gateway"
trap - EXIT
