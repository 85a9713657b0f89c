# Sourced by the scripts: puts the repository's build tools first on PATH and
# keeps Trunk offline (it would otherwise try to download its tools).
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$repo/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export TRUNK_OFFLINE=true

# Whether a URL answers 200 (python3 rather than curl: it is on every
# machine these scripts run on).
healthy() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" >/dev/null 2>&1; }

# A long step: what it does and about how long it takes on a 2-core machine
# the first time, then how long it took, or that it failed (steps may run
# side by side, their compilers' lines interleaved, so each says which).
long_step() {
  local what=$1 about=$2 start=$SECONDS status=0
  shift 2
  echo "==> $what: $about…" >&2
  "$@" || status=$?
  local took=$((SECONDS - start))
  took="$((took / 60))m$(printf %02d $((took % 60)))s"
  if ((status == 0)); then
    echo "==> $what: done in $took" >&2
  else
    echo "==> $what: FAILED after $took (exit $status; its error is above)" >&2
  fi
  return "$status"
}

# Stops this script's background steps and what they started (best effort),
# for a script that ends early while they run: a trap on EXIT.
stop_background() {
  local pid
  for pid in $(jobs -p); do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
}
