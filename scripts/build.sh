#!/usr/bin/env bash
# Builds the release dashboard (dist/) and gateway (target/release/gateway).
# Needs the tools of `scripts/setup.sh --build`. The Dockerfile runs this too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$repo"
# --dist: Trunk.toml's own dist is the dev server's (target/trunk-dev).
long_step "building the dashboard (WebAssembly, optimised for size)" "about 2 minutes the first time, seconds after" \
  trunk build --release --offline --dist dist
long_step "building the gateway (with librdkafka, from C)" "about 4 minutes the first time, seconds after" \
  cargo build --release --locked -p gateway
