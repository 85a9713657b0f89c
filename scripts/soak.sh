#!/usr/bin/env bash
# The soak: a release gateway on a fresh topic (demo services on), a steady
# order rate through it for 10 minutes with 5 live clients connected, and
# its resident memory sampled every 30 s. Fails if a client misses an
# acknowledged order, or if its memory at the end is more than 20% above
# the highest of the run's first half (after a minute of warm-up).
#
#   scripts/soak.sh [soak flags]   e.g. --rate 500 --seconds 120 (see: target/release/soak --help)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$repo"

scripts/kafka.sh start
cargo build --release --locked -p gateway -p bench
topic=soak-$(date +%s)
port=${SOAK_PORT:-8095}
target/release/gateway --listen "127.0.0.1:$port" --topic "$topic" \
  --service-group-prefix "$topic." --static-dir "$repo/dist" \
  --max-clients-per-address 4096 --max-connections-per-address 10000 &
gateway=$!
trap 'kill -TERM $gateway 2>/dev/null; wait $gateway 2>/dev/null || true' EXIT
# Ready once health says the topic is read.
for _ in $(seq 1 60); do
  healthy "http://127.0.0.1:$port/api/health" && break
  sleep 1
done
echo "soak: gateway pid $gateway on 127.0.0.1:$port, topic $topic"
target/release/soak --gateway "127.0.0.1:$port" --pid "$gateway" "$@"
