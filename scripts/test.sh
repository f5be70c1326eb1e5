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
# The SQL suites once more with the exact checksum (rangesync's canonical
# encoding under md5/blake3), the mode audits use; the run above took the
# default, each engine's fast hashing.
if [ "$#" -eq 0 ]; then
  echo "== the SQL suites again with RANGESYNC_CHECKSUM=exact =="
  RANGESYNC_CHECKSUM=exact cargo test --locked --no-fail-fast \
    --test conformance --test sqlite_sync --test postgres_sync --test mysql_sync \
    --test cross_engine --test consistent_reads --test bulk --test jobs --test checksums --test key_spread --test dead_server 2>&1 | tee -a "$log"
  exact=${PIPESTATUS[0]}
  [ "$status" -eq 0 ] && status=$exact
fi
set -e
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "rangesync: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
