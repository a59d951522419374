#!/usr/bin/env bash
# Install what the harness and its tests need, idempotently:
#   - Debian packages for building Bitcoin Core;
#   - bitcoind + bitcoin-cli, built once into ~/.cache/cln-harness/bitcoin;
#   - cargo-nextest;
#   - PostgreSQL (Debian's `postgresql`) for `--db postgres` runs, when missing;
#   - elfutils (eu-stack), for the stacks of a hung node's busy process;
#   - with CLN_HARNESS_WITH_ELECTRS=1, electrs for the chain witness
#     (ci/build-electrs.sh: ~7 min once, then cached).
# lightningd is not built here (see README: "Pointing the harness at lightningd").
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
ci/build-bitcoind.sh >/dev/null

# PostgreSQL for the `--db postgres` tests (they skip, with the reason, without it).
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && ! command -v pg_config >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
      || echo "setup: could not install postgresql; the PostgreSQL tests will be skipped" >&2
  else
    echo "setup: PostgreSQL is not installed (apt-get install postgresql); the PostgreSQL tests will be skipped" >&2
  fi
fi

# eu-stack (elfutils) names what a hung node's busy process was doing; gdb
# is the fallback. Without either a hang's headline has no frames.
if ! command -v eu-stack >/dev/null 2>&1 && ! command -v gdb >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq elfutils >/dev/null) \
      || echo "setup: could not install elfutils; hangs will be reported without stacks" >&2
  else
    echo "setup: neither eu-stack (elfutils) nor gdb is installed; hangs will be reported without stacks" >&2
  fi
fi

# The chain witness (scenarios with `witness = true`; they skip without it).
if [ "${CLN_HARNESS_WITH_ELECTRS:-0}" = 1 ]; then
  ci/build-electrs.sh >/dev/null || echo "setup: could not build electrs; the witness tests will be skipped" >&2
fi

# A lightningd for the README's main command: the default candidate's
# official release. Without internet this says so in one line and goes on;
# `run` then ends in `error` (125) naming `install`.
CANDIDATE_RELEASE=${CLN_HARNESS_CANDIDATE_RELEASE:-v26.06.6}
# The error goes to a private temp file: a fixed name in /tmp is another
# user's after their setup ran (mode 644: this redirect would fail), or a
# symlink someone planted.
install_err=$(mktemp)
trap 'rm -f "$install_err"' EXIT
# The debug build, as the README's next command (`cargo run`) and the tests
# use: a `--release` here would build the crate a second time.
if ! cargo run -q -p cln-harness -- install "$CANDIDATE_RELEASE" >/dev/null 2>"$install_err"; then
  echo "setup: could not install lightningd $CANDIDATE_RELEASE ($(tail -n1 "$install_err")); continuing" >&2
fi
