#!/usr/bin/env bash
# Benchmark of issue 14: filling an empty table, rangesync against each
# engine's dump pipe, side by side in one run, on the source table `events`
# of benches/servers_10m.sh (run that first: it generates rs_bench_src on
# PostgreSQL and MariaDB; ROWS=1000000 RUNS=1 RANGESYNC_BIN=/bin/true
# benches/servers_10m.sh generates 1,000,000 rows and measures nothing).
#
# Measured once each, in this order, into a fresh database rs_fill_tgt:
#   - PostgreSQL -> PostgreSQL: `rangesync sync --create-tables`, then
#     `pg_dump -t events rs_bench_src | psql rs_fill_tgt` (schema, COPY,
#     primary key);
#   - MariaDB -> MariaDB: `rangesync sync --create-tables`, then
#     `mariadb-dump --single-transaction rs_bench_src events | mariadb`;
#   - the same two by `rangesync copy` (no comparison at all);
#   - PostgreSQL -> MariaDB and MariaDB -> PostgreSQL: `rangesync sync
#     --create-tables` (no dump pipe crosses engines): rows per second;
#   - PostgreSQL -> a new SQLite file, then that file -> PostgreSQL, by
#     `rangesync copy`: rows per second;
#   - a 10% drift of the PostgreSQL copy (every 10th row deleted, every
#     20th changed, 5% extra keys), repaired by `rangesync sync --delete`:
#     the ratio to the first fill.
# Each rangesync run is followed by `rangesync diff` (exit 0 checked) and a
# count of the target.
#
#   benches/first_fill.sh        # RANGESYNC_BIN to skip the cargo build
set -euo pipefail
cd "$(dirname "$0")/.."
PG_BASE=postgres://postgres@127.0.0.1:5432
MY_BASE=mysql://root@127.0.0.1:3306
if [ -n "${RANGESYNC_BIN:-}" ]; then
  bin=$RANGESYNC_BIN
else
  cargo build --release --quiet --bin rangesync
  bin=target/release/rangesync
fi
pg() { PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -p 5432 -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
my() { mariadb -h 127.0.0.1 -P 3306 -u root --batch --skip-column-names "$@"; }
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
fresh_pg() { pg -d postgres -c "DROP DATABASE IF EXISTS rs_fill_tgt" -c "CREATE DATABASE rs_fill_tgt"; }
fresh_my() { my -e "DROP DATABASE IF EXISTS rs_fill_tgt; CREATE DATABASE rs_fill_tgt"; }
# timed CMD... -> seconds on stdout
timed() { local t0 t1; t0=$(now); "$@" >/dev/null; t1=$(now); secs "$t0" "$t1"; }
rs_fill() { "$bin" sync "$1" "$2" --table events --create-tables -q; }
rs_copy() { "$bin" copy "$1" "$2" --table events -q; }
check() { # SRC TGT what
  "$bin" diff "$1" "$2" --table events -q || { echo "first_fill: $3 left differences" >&2; exit 1; }
}

rows=$(pg -d rs_bench_src -Atc "SELECT count(*) FROM events")
echo "commit $(git rev-parse --short HEAD), $rows rows, $(nproc) cores"
echo
echo "| fill | rangesync sync | rangesync copy | dump pipe | sync / dump | copy / dump | rows/s (sync) |"
echo "|---|---|---|---|---|---|---|"
ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }

fresh_pg
t_rs=$(timed rs_fill "$PG_BASE/rs_bench_src" "$PG_BASE/rs_fill_tgt")
check "$PG_BASE/rs_bench_src" "$PG_BASE/rs_fill_tgt" "PG->PG"
pg_fill=$t_rs
fresh_pg
t_copy=$(timed rs_copy "$PG_BASE/rs_bench_src" "$PG_BASE/rs_fill_tgt")
check "$PG_BASE/rs_bench_src" "$PG_BASE/rs_fill_tgt" "PG->PG copy"
fresh_pg
t_dump=$(timed bash -c "pg_dump -h 127.0.0.1 -U postgres -t events rs_bench_src | psql -h 127.0.0.1 -U postgres -X -q rs_fill_tgt")
echo "| PostgreSQL -> PostgreSQL | ${t_rs} s | ${t_copy} s | ${t_dump} s | $(ratio $t_rs $t_dump) | $(ratio $t_copy $t_dump) | $(python3 -c "print(f'{$rows/$t_rs:,.0f}')") |"

fresh_my
t_rs=$(timed rs_fill "$MY_BASE/rs_bench_src" "$MY_BASE/rs_fill_tgt")
check "$MY_BASE/rs_bench_src" "$MY_BASE/rs_fill_tgt" "MariaDB->MariaDB"
fresh_my
t_copy=$(timed rs_copy "$MY_BASE/rs_bench_src" "$MY_BASE/rs_fill_tgt")
check "$MY_BASE/rs_bench_src" "$MY_BASE/rs_fill_tgt" "MariaDB->MariaDB copy"
fresh_my
t_dump=$(timed bash -c "mariadb-dump -h 127.0.0.1 -u root --single-transaction rs_bench_src events | mariadb -h 127.0.0.1 -u root rs_fill_tgt")
echo "| MariaDB -> MariaDB | ${t_rs} s | ${t_copy} s | ${t_dump} s | $(ratio $t_rs $t_dump) | $(ratio $t_copy $t_dump) | $(python3 -c "print(f'{$rows/$t_rs:,.0f}')") |"

fresh_my
t_rs=$(timed rs_fill "$PG_BASE/rs_bench_src" "$MY_BASE/rs_fill_tgt")
check "$PG_BASE/rs_bench_src" "$MY_BASE/rs_fill_tgt" "PG->MariaDB"
echo "| PostgreSQL -> MariaDB | ${t_rs} s | - | - | - | - | $(python3 -c "print(f'{$rows/$t_rs:,.0f}')") |"

fresh_pg
t_rs=$(timed rs_fill "$MY_BASE/rs_bench_src" "$PG_BASE/rs_fill_tgt")
check "$MY_BASE/rs_bench_src" "$PG_BASE/rs_fill_tgt" "MariaDB->PG"
echo "| MariaDB -> PostgreSQL | ${t_rs} s | - | - | - | - | $(python3 -c "print(f'{$rows/$t_rs:,.0f}')") |"

# Through a SQLite file, by copy.
lite_dir=$(mktemp -d)
lite="sqlite://$lite_dir/events.db"
t_copy=$(timed rs_copy "$PG_BASE/rs_bench_src" "$lite")
check "$PG_BASE/rs_bench_src" "$lite" "PG->SQLite"
echo "| PostgreSQL -> SQLite (new file) | - | ${t_copy} s | - | - | - | $(python3 -c "print(f'{$rows/$t_copy:,.0f}')") (copy) |"
fresh_pg
t_copy=$(timed rs_copy "$lite" "$PG_BASE/rs_fill_tgt")
check "$lite" "$PG_BASE/rs_fill_tgt" "SQLite->PG"
echo "| SQLite -> PostgreSQL | - | ${t_copy} s | - | - | - | $(python3 -c "print(f'{$rows/$t_copy:,.0f}')") (copy) |"
rm -rf "$lite_dir"

# 10% drift of a PostgreSQL copy, repaired.
fresh_pg
rs_fill "$PG_BASE/rs_bench_src" "$PG_BASE/rs_fill_tgt"
pg -d rs_fill_tgt -c "DELETE FROM events WHERE id % 100 = 0" \
  -c "UPDATE events SET qty = qty + 1 WHERE id % 200 = 50" \
  -c "INSERT INTO events (id, account) SELECT id + 5, 'extra' FROM events WHERE id % 200 = 10"
t_rs=$(timed "$bin" sync "$PG_BASE/rs_bench_src" "$PG_BASE/rs_fill_tgt" --table events --delete -q)
check "$PG_BASE/rs_bench_src" "$PG_BASE/rs_fill_tgt" "the 10% drift"
echo
echo "10% drift (PostgreSQL, 10% missing, 5% changed, 5% extra) repaired by sync --delete: ${t_rs} s, $(python3 -c "print(f'{$t_rs/$pg_fill:.2f}x')") the first fill"
pg -d postgres -c "DROP DATABASE IF EXISTS rs_fill_tgt"
my -e "DROP DATABASE IF EXISTS rs_fill_tgt"
