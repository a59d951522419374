#!/usr/bin/env bash
# Proves that `cargo insta` sees the top-level snapshots/ folder: make an
# accepted snapshot differ, run the test that owns it (it fails and writes
# a .snap.new), and check that `cargo insta pending-snapshots --workspace`
# lists it. Restores the tree either way. Needs no lightningd.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-insta >/dev/null 2>&1; then
  cargo install --locked cargo-insta >&2
fi
snap=snapshots/fixture-8269-alice__log.snap
backup=$(mktemp)
cp "$snap" "$backup"
restore() { cp "$backup" "$snap"; rm -f "$snap.new" "$backup"; }
trap restore EXIT

# An accepted snapshot that no longer matches what the test produces.
sed -i 's/"263 -> 267"/"263 -> 266"/' "$snap"
if INSTA_UPDATE=new cargo test -q -p cln-harness --test snapshot_review >/dev/null 2>&1; then
  echo "check-insta-review: the test passed against a changed snapshot" >&2
  exit 1
fi
[ -f "$snap.new" ] || { echo "check-insta-review: no $snap.new written" >&2; exit 1; }
pending=$(cargo insta pending-snapshots --workspace 2>&1)
if ! grep -q "$snap" <<<"$pending"; then
  echo "check-insta-review: cargo insta pending-snapshots does not list $snap:" >&2
  echo "$pending" >&2
  exit 1
fi
echo "check-insta-review: ok: cargo insta pending-snapshots lists $snap"
