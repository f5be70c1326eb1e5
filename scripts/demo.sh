#!/usr/bin/env bash
# A real diff and repair between two SQLite databases built from
# test-fixtures/: no server needed. Usage: scripts/demo.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"

cargo build --quiet --bin rangesync --example load_sql
bin=target/debug/rangesync
load=target/debug/examples/load_sql

"$load" "$work/source.db" test-fixtures/shop_source.sql
"$load" "$work/target.db" test-fixtures/shop_source.sql test-fixtures/shop_target_drift.sql
echo "Built $work/source.db and a drifted copy $work/target.db."

step() { echo; echo "\$ rangesync $*"; "$bin" "$@"; }

set +e
step diff "sqlite://$work/source.db" "sqlite://$work/target.db"
echo "(exit code $?: 1 means differences were found)"
set -e
step sync "sqlite://$work/source.db" "sqlite://$work/target.db" --delete
step diff "sqlite://$work/source.db" "sqlite://$work/target.db"
echo "(exit code $?: the two databases now hold the same rows)"
