#!/usr/bin/env bash
# What ci/explore-nightly.yml does, on this machine: N explore shards of one
# seed (one after the other; each is what one CI job runs), then one merge.
# Usage: ci/explore-local.sh BASE CANDIDATE [N] [explore flags...]
#   e.g. ci/explore-local.sh v25.05 v26.06.6 2 --runs 3 --seed 7
# Findings land in target/explore-local/shard-K, the merged report in
# target/explore-local/merged (summary.md). Exit code: the merge's.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?usage: ci/explore-local.sh BASE CANDIDATE [N] [explore flags...]}
CANDIDATE=${2:?usage: ci/explore-local.sh BASE CANDIDATE [N] [explore flags...]}
SHARDS=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
cargo build -q -p cln-harness
bin=target/debug/cln-harness
out=target/explore-local
rm -rf "$out"
dirs=()
for shard in $(seq 1 "$SHARDS"); do
  echo "== explore shard $shard/$SHARDS"
  # A shard that finds something exits 1: the merge decides the verdict.
  "$bin" explore --base "$BASE" --candidate "$CANDIDATE" --shard "$shard/$SHARDS" --out "$out/shard-$shard" "$@" || [ $? = 1 ]
  dirs+=("$out/shard-$shard")
done
echo "== explore merge"
exec "$bin" explore merge "${dirs[@]}" --out "$out/merged"
