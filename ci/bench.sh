#!/usr/bin/env bash
# Benchmarks (never timed assertions in tests). Medians of N runs of the
# release binary, whole-process wall time:
#   up       cold `cln-harness up --no-wait`: bitcoind + alice/bob to CHANNELD_NORMAL
#   keysend  `cln-harness run scenarios/keysend.toml`
#   seeds    the six seed scenarios on both upgrade paths (12 runs, 2 at a time)
# Usage: ci/bench.sh [N]   (default 5; needs bitcoind and lightningd builds)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
cargo build -q --release -p cln-harness
BIN=target/release/cln-harness
L=${CLN_HARNESS_CACHE:-$HOME/.cache/cln-harness}/lightningd

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
timeit() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); awk -v d=$((e - s)) 'BEGIN {printf "%.2f\n", d / 1e9}'; }

echo "up (cold, to channel-normal):"
for _ in $(seq "$N"); do timeit "$BIN" up --no-wait; done | tee /tmp/bench-up | tr '\n' ' '; echo
echo "  median: $(median </tmp/bench-up) s"

echo "run scenarios/keysend.toml:"
for _ in $(seq "$N"); do timeit "$BIN" run scenarios/keysend.toml; done | tee /tmp/bench-ks | tr '\n' ' '; echo
echo "  median: $(median </tmp/bench-ks) s"

if [ -x "$L/v25.02.1/bin/lightningd" ] && [ -x "$L/1cc64dd67/bin/lightningd" ] && [ -x "$L/v25.05/bin/lightningd" ]; then
  echo "six seed scenarios x two upgrade paths (12 runs, 2 in parallel):"
  s=$(date +%s%N)
  {
    for cand in 1cc64dd67 v25.05; do
      for sc in keysend pay-xpay-on pay-xpay-off upgrade-keysend upgrade-pay-xpay-on upgrade-pay-xpay-off; do
        echo "$BIN run scenarios/$sc.toml --lightningd base=$L/v25.02.1/bin/lightningd --lightningd candidate=$L/$cand/bin/lightningd"
      done
    done
  } | xargs -P 2 -I{} sh -c '{} >/dev/null 2>&1 || true'
  e=$(date +%s%N)
  echo "  wall: $(awk -v d=$((e - s)) 'BEGIN {printf "%.1f", d / 1e9}') s"
fi
