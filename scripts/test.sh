#!/usr/bin/env bash
# The whole test suite: unit tests, the connector conformance suite and the
# integration tests against real stores: SQLite files (embedded), and the
# PostgreSQL and MariaDB servers that scripts/services.sh installs and starts
# on loopback when they do not answer (it starts InfluxDB and
# VictoriaMetrics too, for the time-series work under way).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "scripts/test.sh: cargo is not installed (https://rustup.rs)" >&2
  exit 2
fi

scripts/services.sh

# Examples (the demo's loader, the benchmark's programs) must keep compiling.
cargo build --locked --quiet --examples

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --no-fail-fast --lib --bins --tests "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "rangesync: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
