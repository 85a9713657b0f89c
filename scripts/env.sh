# Sourced by the scripts: puts the repository's build tools first on PATH and
# keeps Trunk offline (it would otherwise try to download its tools).
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$repo/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export TRUNK_OFFLINE=true

# Whether a URL answers 200 (python3 rather than curl: it is on every
# machine these scripts run on).
healthy() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" >/dev/null 2>&1; }
