#!/usr/bin/env bash
# Build bitcoind + bitcoin-cli from the Bitcoin Core source vendored in the
# crates.io package `libbitcoinkernel-sys`, and install them into a cache
# outside the repository. Idempotent: a present cache is reused as-is.
#
# Why this crate: no registry this project can reach ships Bitcoin Core
# binaries, but this package carries the full source tree (wallet sources
# excluded, which the harness never needs: it mines straight to lightningd).
#
# Output: prints the bin dir on the last line of stdout.
set -euo pipefail

CRATE=libbitcoinkernel-sys
CRATE_VERSION=0.4.1
CACHE_ROOT="${CLN_HARNESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cln-harness}"
PREFIX="$CACHE_ROOT/bitcoin/$CRATE_VERSION"
BIN="$PREFIX/bin"

if [ -x "$BIN/bitcoind" ] && [ -x "$BIN/bitcoin-cli" ]; then
  echo "bitcoind cache present: $BIN" >&2
  echo "$BIN"
  exit 0
fi

need_pkgs=()
for p in cmake libboost-dev libevent-dev pkg-config g++ make; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "installing: ${need_pkgs[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

# Fetch the exact crate version through cargo (a throwaway manifest).
WORK="$CACHE_ROOT/bitcoin/work-$CRATE_VERSION"
mkdir -p "$WORK/fetch/src"
cat >"$WORK/fetch/Cargo.toml" <<TOML
[package]
name = "fetch-bitcoin-source"
version = "0.0.0"
edition = "2021"
[dependencies]
$CRATE = "=$CRATE_VERSION"
[workspace]
TOML
: >"$WORK/fetch/src/lib.rs"
(cd "$WORK/fetch" && cargo fetch -q >&2)
CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
SRC=$(ls -d "$CARGO_HOME_DIR"/registry/src/*/"$CRATE-$CRATE_VERSION" | head -n1)
CORE_SRC=$(dirname "$(ls "$SRC"/*/CMakeLists.txt | head -n1)")
echo "Bitcoin Core source: $CORE_SRC" >&2

BUILD="$WORK/build"
cmake -S "$CORE_SRC" -B "$BUILD" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$PREFIX.partial" \
  -DENABLE_WALLET=OFF -DWITH_EMBEDDED_ASMAP=OFF -DBUILD_TESTS=OFF \
  -DBUILD_GUI=OFF -DENABLE_IPC=OFF -DWITH_ZMQ=OFF -DBUILD_BITCOIN_BIN=OFF \
  -DBUILD_DAEMON=ON -DBUILD_CLI=ON -DBUILD_TX=OFF -DBUILD_UTIL=OFF \
  -DBUILD_BENCH=OFF -DBUILD_FUZZ_BINARY=OFF -DBUILD_KERNEL_LIB=OFF >&2
cmake --build "$BUILD" -j"$(nproc)" --target bitcoind bitcoin-cli >&2
mkdir -p "$PREFIX.partial/bin"
cp "$BUILD/bin/bitcoind" "$BUILD/bin/bitcoin-cli" "$PREFIX.partial/bin/"
# Publish atomically so a half-built cache is never mistaken for a good one.
rm -rf "$PREFIX"
mv "$PREFIX.partial" "$PREFIX"
rm -rf "$WORK"
echo "$BIN"
