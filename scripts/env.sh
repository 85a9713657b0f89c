# Sourced by the scripts: puts the repository's build tools first on PATH and
# keeps Trunk offline (it would otherwise try to download its tools).
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$repo/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export TRUNK_OFFLINE=true
