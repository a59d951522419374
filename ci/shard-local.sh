#!/usr/bin/env bash
# What ci/github-actions.yml does, on this machine: build the tests once
# into an archive, then run it as N shards, one after the other (each shard
# is what one CI job runs). Usage: ci/shard-local.sh [N]   (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARDS=${1:-4}
cargo nextest archive --workspace --profile ci --archive-file target/nextest.tar.zst
status=0
for shard in $(seq 1 "$SHARDS"); do
  echo "== shard $shard/$SHARDS"
  cargo nextest run --archive-file target/nextest.tar.zst --workspace-remap . --profile ci --partition "hash:$shard/$SHARDS" || status=1
done
exit $status
