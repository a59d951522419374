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
