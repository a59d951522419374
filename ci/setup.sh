#!/usr/bin/env bash
# Install what the harness and its tests need, idempotently:
#   - Debian packages for building Bitcoin Core;
#   - bitcoind + bitcoin-cli, built once into ~/.cache/cln-harness/bitcoin;
#   - cargo-nextest.
# lightningd is not built here (see README: "Pointing the harness at lightningd").
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
ci/build-bitcoind.sh >/dev/null

# A lightningd for the README's main command: the default candidate's
# official release. Without internet this says so in one line and goes on;
# `run` then ends in `error` (125) naming `install`.
CANDIDATE_RELEASE=${CLN_HARNESS_CANDIDATE_RELEASE:-v26.06.6}
if ! cargo run -q --release -p cln-harness -- install "$CANDIDATE_RELEASE" >/dev/null 2>/tmp/cln-harness-install.err; then
  echo "setup: could not install lightningd $CANDIDATE_RELEASE ($(tail -n1 /tmp/cln-harness-install.err)); continuing" >&2
fi
