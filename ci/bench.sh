#!/usr/bin/env bash
# Benchmarks (never timed assertions in tests). Medians of N runs of the
# release binary, whole-process wall time:
#   up       cold `cln-harness up --no-wait`: bitcoind + alice/bob to CHANNELD_NORMAL
#   keysend  `cln-harness run scenarios/keysend.toml --no-setup-cache` (a cold
#            setup), with the median of each phase (from `--json`: resolve,
#            bitcoind, start_nodes, fund, open, confirm, channel_normal,
#            steps, stop)
#   second   `run scenarios/keysend.toml` again with the setup cache: the
#            set-up network resumed from its entry (target <= 1.0 s)
#   fixture  `run scenarios/examples/resume-from-fixture.toml` (keysend.toml's
#            steps from fixtures/keysend@v25.05) side by side with the cold
#            keysend runs: whole-process time, and resume time (process start
#            to the first step: bitcoind on the recorded chain, nodes started,
#            channels normal again, from `--json` phases)
#   pg       `run scenarios/keysend.toml --db postgres` side by side with the cold
#            keysend runs: the extra cost of a PostgreSQL run (target <= 1.5x),
#            and its `postgres` phase (template copy and server start, less
#            what overlaps bitcoind's start: the server boots meanwhile)
#   seeds    the six seed scenarios on both upgrade paths (12 runs, 2 at a time)
#   explore  `explore --base v25.05 --candidate LABEL --budget $EXPLORE_BUDGET`
#            (default 600 s; 0 skips it): runs/min (target >= 15 on 2 cores)
# Baselines, measured in the same run, alternating with the harness's runs:
#   fork     ci/baselines/forking_script.py: the keysend scenario as a script
#            that forks lightning-cli/bitcoin-cli for every call (always runs);
#   pyln     ci/baselines/test_pyln_keysend.py under pytest, when pyln-testing
#            is importable (`pip install pyln-testing`); skipped otherwise.
# Usage: ci/bench.sh [N] [LABEL]   (default 5 runs, on LABEL's lightningd;
#        default: the newest release install). Needs bitcoind and lightningd builds.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
cargo build -q --release -p cln-harness
BIN=target/release/cln-harness
CACHE=${CLN_HARNESS_CACHE:-$HOME/.cache/cln-harness}
L=$CACHE/lightningd
LABEL=${2:-$(ls "$L" | grep -E '^v[0-9.]+$' | sort -V | tail -1)}
LBIN=$L/$LABEL/bin
BBIN=$(dirname "$(ls -d "$CACHE"/bitcoin/*/bin/bitcoind | tail -1)")
echo "lightningd $LABEL ($LBIN), bitcoind $BBIN, $N runs each"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
timeit() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); awk -v d=$((e - s)) 'BEGIN {printf "%.2f\n", d / 1e9}'; }
have_pyln() { python3 -c 'import pyln.testing' >/dev/null 2>&1; }

echo "up (cold, to channel-normal):"
for _ in $(seq "$N"); do timeit "$BIN" up --no-wait --role "$LABEL"; done | tee "$T/up" | tr '\n' ' '; echo
echo "  median: $(median <"$T/up") s   (target: 2.5 s)"

echo "run scenarios/keysend.toml, alternating with the baselines:"
pyln() { PATH="$LBIN:$BBIN:$PATH" python3 -m pytest -q -p no:cacheprovider ci/baselines/test_pyln_keysend.py; }
pyln_ok=false
if have_pyln; then
  # pyln-testing needs a bitcoind with a wallet (it calls createwallet); the
  # harness's own build has none, so check once that the baseline can run.
  if pyln >"$T/pyln-check" 2>&1; then pyln_ok=true; else pyln_why=$(grep -m1 -oE "JSONRPCError: .*|Error: .*" "$T/pyln-check" || tail -n1 "$T/pyln-check"); fi
else
  pyln_why="pyln-testing not importable (pip install pyln-testing)"
fi
# One run to record the setup cache's entry, so every "second" run below hits it.
"$BIN" run scenarios/keysend.toml --lightningd "candidate=$LABEL" >/dev/null 2>&1 || true
for i in $(seq "$N"); do
  timeit "$BIN" run scenarios/keysend.toml --no-setup-cache --lightningd "candidate=$LABEL" --json "$T/ks-$i.json" >>"$T/ks"
  timeit "$BIN" run scenarios/keysend.toml --lightningd "candidate=$LABEL" --json "$T/hit-$i.json" >>"$T/hit"
  timeit "$BIN" run scenarios/examples/resume-from-fixture.toml --lightningd "candidate=$LABEL" --json "$T/fx-$i.json" >>"$T/fx"
  timeit "$BIN" run scenarios/keysend.toml --lightningd "candidate=$LABEL" --db postgres --json "$T/pg-$i.json" >>"$T/pg"
  timeit python3 ci/baselines/forking_script.py "$LBIN" "$BBIN" >>"$T/fork"
  if $pyln_ok; then timeit pyln >>"$T/pyln"; fi
done
ks=$(median <"$T/ks"); fork=$(median <"$T/fork")
echo "  harness: $(tr '\n' ' ' <"$T/ks")  median $ks s"
echo "  fork:    $(tr '\n' ' ' <"$T/fork")  median $fork s   ratio harness/fork $(awk -v a="$ks" -v b="$fork" 'BEGIN {printf "%.2f", a / b}') (target <= 0.7)"
if [ -s "$T/pyln" ]; then
  pyln=$(median <"$T/pyln")
  echo "  pyln:    $(tr '\n' ' ' <"$T/pyln")  median $pyln s   ratio harness/pyln $(awk -v a="$ks" -v b="$pyln" 'BEGIN {printf "%.2f", a / b}') (target <= 0.5)"
else
  echo "  pyln:    skipped: ${pyln_why:-}"
fi
hit=$(median <"$T/hit")
hits=$(cat "$T"/hit-*.json | grep -c '"use": "hit"' || true)
echo "  second:  $(tr '\n' ' ' <"$T/hit")  median $hit s   (setup cache hits: $hits of $N; target <= 1.0 s)"
fx=$(median <"$T/fx")
resume=$(python3 - "$T" <<'PY'
import glob, json, statistics, sys
runs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/fx-*.json"))]
before_steps = ("resolve", "restore", "bitcoind", "start_nodes", "channel_normal", "other")
print("%.2f" % (statistics.median(sum(p["ms"] for p in r.get("phases", []) if p["phase"] in before_steps) for r in runs) / 1000))
PY
)
echo "  fixture: $(tr '\n' ' ' <"$T/fx")  median $fx s   ratio fixture/cold $(awk -v a="$fx" -v b="$ks" 'BEGIN {printf "%.2f", a / b}') (target <= 0.3); resume to channel-normal median $resume s (target <= 1 s)"
pg=$(median <"$T/pg")
pg_phase=$(python3 - "$T" <<'PY'
import glob, json, statistics, sys
runs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/pg-*.json"))]
print("%.2f" % (statistics.median(sum(p["ms"] for p in r.get("phases", []) if p["phase"] == "postgres") for r in runs) / 1000))
PY
)
echo "  postgres: $(tr '\n' ' ' <"$T/pg")  median $pg s   ratio postgres/sqlite $(awk -v a="$pg" -v b="$ks" 'BEGIN {printf "%.2f", a / b}') (target <= 1.5); server start not hidden behind bitcoind's (template copy + postgres) median $pg_phase s"
echo "  phases (median over the harness runs):"
python3 - "$T" <<'PY'
import glob, json, statistics, sys
runs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/ks-*.json"))]
keys = []
for r in runs:
    for p in r.get("phases", []):
        if p["phase"] not in keys:
            keys.append(p["phase"])
for k in keys:
    ms = [next((p["ms"] for p in r["phases"] if p["phase"] == k), 0) for r in runs]
    print(f"    {k:<15} {statistics.median(ms) / 1000:.2f} s")
PY

if [ -x "$L/v25.02.1/bin/lightningd" ] && [ -x "$L/1cc64dd67/bin/lightningd" ] && [ -x "$L/v25.05/bin/lightningd" ]; then
  echo "six seed scenarios x two upgrade paths (12 runs, 2 in parallel):"
  s=$(date +%s%N)
  {
    for cand in 1cc64dd67 v25.05; do
      for sc in keysend pay-xpay-on pay-xpay-off upgrade-keysend upgrade-pay-xpay-on upgrade-pay-xpay-off; do
        echo "$BIN run scenarios/$sc.toml --lightningd base=v25.02.1 --lightningd candidate=$cand"
      done
    done
  } | xargs -P 2 -I{} sh -c '{} >/dev/null 2>&1 || true'
  e=$(date +%s%N)
  echo "  wall: $(awk -v d=$((e - s)) 'BEGIN {printf "%.1f", d / 1e9}') s   (target <= 60 s)"
fi

EXPLORE_BUDGET=${EXPLORE_BUDGET:-600}
if [ "$EXPLORE_BUDGET" != 0 ] && [ -x "$L/v25.05/bin/lightningd" ]; then
  echo "explore v25.05 -> $LABEL, --budget $EXPLORE_BUDGET (default --jobs):"
  "$BIN" explore --base v25.05 --candidate "$LABEL" --budget "$EXPLORE_BUDGET" --out "$T/explore" --json "$T/explore.json" 2>&1 | tail -n 2 | sed 's/^/  /'
  python3 - "$T/explore.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
# Over the runs, not the shrinking of what they found after them.
runs, secs = s.get("runs", 0), s.get("run_seconds") or s.get("seconds") or 0
print(f"  runs/min: {runs * 60 / secs if secs else 0:.1f} ({runs} runs in {secs:.0f} s, {s.get('errors', 0)} errors)   (target >= 15 on 2 cores)")
PY
fi
