#!/usr/bin/env bash
# Builds the release dashboard (dist/) and gateway (target/release/gateway).
# Needs the tools of `scripts/setup.sh --build`. The Dockerfile runs this too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$repo"
# --dist: Trunk.toml's own dist is the dev server's (target/trunk-dev).
trunk build --release --offline --dist dist
cargo build --release --locked -p gateway
