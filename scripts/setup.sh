#!/usr/bin/env bash
# Installs what building and testing need, each at a pinned version, skipping
# whatever is already there. Safe to run again and again.
#
#   scripts/setup.sh --build  the build tools: wasm target, trunk, wasm-bindgen, wasm-opt (the Dockerfile uses this)
#   scripts/setup.sh          those, plus the Kafka broker's jars
#   scripts/setup.sh --test   all of that, plus Debian's chromium, the browser tests' npm packages,
#                             schemathesis (PyPI) in tools/venv for the API's property tests,
#                             Confluent's Python client with its Schema Registry serializers in
#                             tools/venv and Apicurio Registry (Maven Central) for the format tests
#
# Assumes Debian 12 with rustup, Java 17+, Maven and Node 20+ (installed with
# apt when missing).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# Steps run side by side; one failing ends the setup, and stops the others.
trap stop_background EXIT
TRUNK_VERSION=0.21.14
SCHEMATHESIS_VERSION=4.32.5
# Confluent's Python client and its Avro, Protobuf and JSON Schema serializers.
CONFLUENT_KAFKA_VERSION=2.16.2
# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$repo/Cargo.lock")

say() { echo "setup: $*" >&2; }
# The tools are built to be built quickly: Trunk's fat LTO over one codegen
# unit was most of its 11 minutes, and neither tool is where a build spends
# its time (cargo and wasm-opt are). Trunk, which only runs those and copies
# files, is not optimised at all; wasm-bindgen, which rewrites the whole
# .wasm on every build, a little.
tool_build() {
  local opt=$1
  shift
  env CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" CARGO_PROFILE_RELEASE_DEBUG=false "$@"
}
sudo_if_needed() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
  if [[ -z $apt_updated ]]; then
    sudo_if_needed apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install $*"
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

mode=${1:-}
command -v cargo >/dev/null || { say "Rust is missing: install it with rustup (https://rustup.rs)"; exit 1; }
# librdkafka is built with the system's OpenSSL, for TLS to Kafka.
dpkg -s libssl-dev >/dev/null 2>&1 && command -v pkg-config >/dev/null || apt_install libssl-dev pkg-config
command -v npm >/dev/null || apt_install nodejs npm

# The jars download while the tools compile: the one waits on the network,
# the other on the CPU.
fetching=()
if [[ $mode != --build ]]; then
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  # One after the other: two Mavens writing one local repository at once
  # can corrupt it.
  {
    "$repo/scripts/kafka.sh" install
    if [[ $mode == --test ]]; then "$repo/scripts/registry.sh" install; fi
  } &
  fetching+=($!)
fi
# Waits for those downloads; a failed one fails the setup.
fetched() {
  local pid
  for pid in "${fetching[@]}"; do wait "$pid"; done
  fetching=()
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

# The two tools compile side by side (each one's linking and last crates
# leave a core free for the other); their compiler lines interleave.
compiling=()
if [[ $(trunk --version 2>/dev/null) != "trunk $TRUNK_VERSION" ]]; then
  # No default features: no update check (it asks crates.io at every
  # start) and no TLS (Trunk would only use it to download tools, which it
  # must not here, or to serve over HTTPS, which the dev loop does not).
  long_step "installing trunk $TRUNK_VERSION" "about 4½ minutes, once per version" \
    tool_build 0 cargo install trunk --version "$TRUNK_VERSION" --locked --no-default-features &
  compiling+=($!)
fi
if [[ $(wasm-bindgen --version 2>/dev/null) != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
  # Not --locked: its lockfile pins a crate version the registry no longer serves.
  long_step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION" "about 4 minutes beside Trunk, 2 alone; once per wasm-bindgen version" \
    tool_build 1 cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force &
  compiling+=($!)
fi
for pid in "${compiling[@]}"; do wait "$pid"; done

# npm packages from lockfiles, reinstalled only when the lockfile changed.
npm_ci() {
  local dir=$1
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed" 2>/dev/null; then
    say "npm ci in ${dir#"$repo"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed"
  fi
}
# wasm-opt from npm's binaryen: Debian's (version 108) breaks the bundle.
npm_ci "$repo/tools"

[[ $mode == --build ]] && exit 0
fetched

if [[ $mode == --test ]]; then
  command -v chromium >/dev/null || apt_install chromium
  npm_ci "$repo/end2end"
  if [[ $("$repo/tools/venv/bin/st" --version 2>/dev/null) != *"$SCHEMATHESIS_VERSION"* ]]; then
    say "installing schemathesis $SCHEMATHESIS_VERSION into tools/venv"
    python3 -m venv "$repo/tools/venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$repo/tools/venv"; }
    "$repo/tools/venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  if [[ $("$repo/tools/venv/bin/python" -c 'import confluent_kafka, fastavro, jsonschema, google.protobuf; print(confluent_kafka.__version__)' 2>/dev/null) != "$CONFLUENT_KAFKA_VERSION" ]]; then
    say "installing confluent-kafka $CONFLUENT_KAFKA_VERSION with its Schema Registry serializers into tools/venv"
    "$repo/tools/venv/bin/pip" install -q --disable-pip-version-check \
      "confluent-kafka[avro,json,protobuf,schemaregistry]==$CONFLUENT_KAFKA_VERSION"
  fi
fi
