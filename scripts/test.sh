#!/usr/bin/env bash
# The whole test suite: unit tests, the connector conformance suite and the
# integration tests against real SQLite files. SQLite is embedded (bundled
# by sqlx), so nothing needs installing or starting yet; connectors that
# need servers will start them from here.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "scripts/test.sh: cargo is not installed (https://rustup.rs)" >&2
  exit 2
fi

cargo test --locked --all-targets "$@"
