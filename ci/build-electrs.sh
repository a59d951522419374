#!/usr/bin/env bash
# Build the `electrs` binary from the crates.io package `electrs`, pinned to
# 0.10.6 (what electrsd 0.43.2's default feature `electrs_0_10_6` expects),
# and install it into a cache outside the repository:
#   ${CLN_HARNESS_CACHE:-~/.cache/cln-harness}/electrs/0.10.6/bin/electrs
# Idempotent: a present cache whose binary answers `--version` is reused as-is.
#
# Why system RocksDB: electrs links RocksDB through librocksdb-sys, whose
# bundled build compiles the whole RocksDB C++ tree and dominates the build.
# Debian bookworm's librocksdb-dev (7.8.3) links dynamically and is much
# faster, so it is preferred (installed with apt when missing and we are root);
# if that build or link fails we fall back to the bundled RocksDB.
#
# Built into a staging dir beside the final one and published with one rename,
# so a half-built cache is never mistaken for a good one. Uses at most 2 jobs
# and a private CARGO_TARGET_DIR under the cache (incremental rebuilds).
#
# On this machine (2 cores, -j 2, cold target dir, system rocksdb 7.8.3):
# 422 s for the cargo build (plus the one-off apt installs, not timed); a cached
# rerun exits in ~0.02 s.
#
# Output: progress on stderr; the last line of stdout is
#   electrs 0.10.6 at <path> (built in N s, system rocksdb|bundled rocksdb)
set -euo pipefail
cd "$(dirname "$0")/.."

CRATE=electrs
CRATE_VERSION=0.10.6
JOBS=2
CACHE_ROOT="${CLN_HARNESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cln-harness}"
ROOT="$CACHE_ROOT/electrs"
PREFIX="$ROOT/$CRATE_VERSION"
BIN="$PREFIX/bin/electrs"

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if works "$BIN"; then
  echo "electrs cache present: $BIN ($("$BIN" --version 2>&1 | head -n1))" >&2
  echo "electrs $CRATE_VERSION at $BIN (cached)"
  exit 0
fi

# System packages: librocksdb-dev for the fast path; clang/libclang-dev for
# librocksdb-sys's bindgen (needed in both modes); g++/make for the C++ bits.
need_pkgs=()
for p in librocksdb-dev clang libclang-dev g++ make pkg-config; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need_pkgs[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2
  else
    echo "warning: missing ${need_pkgs[*]} and cannot apt-get install (not root or no apt-get)" >&2
  fi
fi

# Where the system librocksdb.so really lives (multiarch dir on Debian).
ROCKSDB_LIB=""
if dpkg -s librocksdb-dev >/dev/null 2>&1; then
  so=$(dpkg -L librocksdb-dev | grep -E '/librocksdb\.so$' | head -n1 || true)
  [ -n "$so" ] && ROCKSDB_LIB=$(dirname "$so")
fi

mkdir -p "$ROOT"
STAGE="$ROOT/$CRATE_VERSION.tmp-$$"
LOG="$ROOT/build-$$.log"
trap 'rm -rf "$STAGE" "$LOG"' EXIT
export CARGO_TARGET_DIR="$ROOT/target"

# install MODE LOCKED: one `cargo install` attempt into a fresh staging dir.
install() {
  local mode=$1 locked=$2 flags=() envs=()
  [ "$locked" = yes ] && flags+=(--locked)
  if [ "$mode" = system ]; then
    envs=(ROCKSDB_INCLUDE_DIR=/usr/include ROCKSDB_LIB_DIR="$ROCKSDB_LIB")
  else
    # Make sure a leftover value from the caller cannot sneak the system lib in.
    envs=(-u ROCKSDB_INCLUDE_DIR -u ROCKSDB_LIB_DIR -u ROCKSDB_STATIC)
  fi
  rm -rf "$STAGE"
  echo "== cargo install $CRATE $CRATE_VERSION (${mode} rocksdb${flags:+, ${flags[*]}})" >&2
  if env "${envs[@]}" cargo install "${flags[@]}" "$CRATE" --version "$CRATE_VERSION" \
      --root "$STAGE" -j "$JOBS" 2>&1 | tee "$LOG" >&2 \
     && works "$STAGE/bin/electrs"; then
    return 0
  fi
  echo "-- attempt failed (${mode} rocksdb${flags:+, ${flags[*]}}); last errors:" >&2
  grep -E '^(error|warning: unused manifest)|undefined reference|cannot find' "$LOG" | tail -n 8 >&2 || true
  return 1
}

# try MODE: --locked first (reproducible, the crate ships its Cargo.lock);
# without it only if the locked set fails (e.g. a pinned dep no longer builds
# with this rustc, or the shipped lock file is stale).
try() {
  install "$1" yes && return 0
  echo "-- --locked failed for $1 rocksdb: see errors above; retrying without --locked" >&2
  install "$1" no
}

start=$(date +%s)
MODE=""
if [ -n "$ROCKSDB_LIB" ] && [ -f /usr/include/rocksdb/c.h ]; then
  if try system; then
    MODE=system
  else
    echo "-- dynamic linking against system rocksdb $(dpkg-query -W -f='${Version}' librocksdb-dev) failed; falling back to the bundled rocksdb (slow)" >&2
  fi
else
  echo "-- no system librocksdb-dev; using the bundled rocksdb (slow)" >&2
fi
if [ -z "$MODE" ]; then
  try bundled
  MODE=bundled
fi
elapsed=$(( $(date +%s) - start ))

# Publish with one rename. If another run published meanwhile, keep theirs.
rm -f "$STAGE/.crates.toml" "$STAGE/.crates2.json"
if works "$BIN"; then
  echo "electrs already published by a concurrent run; discarding ours" >&2
else
  rm -rf "$PREFIX"
  mv "$STAGE" "$PREFIX"
fi
echo "$("$BIN" --version 2>&1 | head -n1)" >&2
echo "electrs $CRATE_VERSION at $BIN (built in $elapsed s, $MODE rocksdb)"
