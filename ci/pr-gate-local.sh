#!/usr/bin/env bash
# What ci/github-actions-cln-fork.yml does, on this machine, against a local
# Core Lightning checkout: build the candidate (the checkout at REF) with
# `cln-harness build`, install the base release, run the suite's shards
# over base → candidate, then the release gate; all with
# CLN_HARNESS_REQUIRE_BINARIES=1, as in CI.
# Usage: ci/pr-gate-local.sh CLN_CHECKOUT [REF] [BASE] [K/N]
#   REF defaults to HEAD, BASE to v26.06.6; K/N runs only shard K of N
#   (default: every shard of $SHARDS, 4). $CLN_HARNESS_BIN: a cln-harness
#   binary to use instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
CLN=${1:?usage: ci/pr-gate-local.sh CLN_CHECKOUT [REF] [BASE] [K/N]}
REF=${2:-HEAD}
BASE=${3:-v26.06.6}
ONLY=${4:-}
SHARDS=${SHARDS:-4}
if [ -n "$ONLY" ]; then SHARDS=${ONLY#*/}; fi
export CLN_HARNESS_REQUIRE_BINARIES=1
H=${CLN_HARNESS_BIN:-}
if [ -z "$H" ]; then
  cargo build --release -p cln-harness
  H=target/release/cln-harness
fi
LABEL=$(git -C "$CLN" describe --tags --always "$REF")
echo "== build $REF ($LABEL)"
"$H" build --repo "$CLN" "$REF"
echo "== install $BASE"
# Offline, a base already in the cache (installed or built) will do.
if ! "$H" install "$BASE"; then
  have="${XDG_CACHE_HOME:-$HOME/.cache}/cln-harness/lightningd/$BASE/bin/lightningd"
  [ -x "$have" ] || exit 125
  echo "install failed; using $have"
fi
export CLN_HARNESS_LIGHTNINGD_BASE=$BASE CLN_HARNESS_LIGHTNINGD_CANDIDATE=$LABEL
status=0
cargo nextest archive --workspace --profile ci --archive-file target/nextest.tar.zst
for shard in $(seq 1 "$SHARDS"); do
  if [ -n "$ONLY" ] && [ "$shard/$SHARDS" != "$ONLY" ]; then continue; fi
  echo "== shard $shard/$SHARDS"
  cargo nextest run --archive-file target/nextest.tar.zst --workspace-remap . --profile ci --partition "hash:$shard/$SHARDS" || status=1
done
echo "== gate $BASE → $LABEL"
"$H" matrix --versions "$BASE" "$LABEL" --jobs 2 --junit target/gate.xml --markdown target/gate.md || status=1
cat target/gate.md
exit $status
