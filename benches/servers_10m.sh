#!/usr/bin/env bash
# Benchmark of issue 3: rangesync against reladiff on server pairs, side by
# side in one run, on the same data.
#
# Two pairs, each of two databases on one server (rs_bench_src, rs_bench_tgt):
#   - PostgreSQL (127.0.0.1:5432, user postgres, trust auth): ROWS rows of
#     events(id bigint primary key, account text, amount numeric(12,2),
#     qty integer, created_at timestamptz, payload text);
#   - MariaDB/MySQL (127.0.0.1:3306, root without password): MY_ROWS rows of
#     the same table in MySQL types (bigint, varchar(64), decimal(12,2), int,
#     datetime(6), text).
# Keys are 10, 20, 30, ... (gaps, as in a real table). The target is a copy of
# the source drifted at one row every EVERY rows (0.01% by default), evenly
# over the keyspace (with a small jitter), in turn: deleted (missing), changed
# (one column in turn: qty, amount + 0.01, created_at + 1 microsecond,
# payload, account), and followed by an extra key (id + 5). A few values are
# NULL (amount every 97th row, payload every 101st), and some changes turn a
# NULL into a value.
#
# Measured for each pair, RUNS times (the median is shown, peak RSS is the max):
#   - rangesync diff SRC TGT --table events --format json (release build);
#   - reladiff SRC events TGT events -k id -c <every other column> --json, the
#     cross-database form of its README (it picks its hashdiff algorithm: the
#     two tables are in two databases), with its defaults (--threads 1,
#     --bisection-factor 32, --bisection-threshold 16384) but for
#     --skip-sort-results: reladiff 0.6.0 sorts each segment's differences by
#     the whole row and fails ("'<' not supported between instances of
#     'NoneType' and 'str'") when a changed row has a NULL on one side; the
#     differences are counted per key here, so their order does not matter;
#   - the floors: SELECT count(*) FROM events on the source, then the target
#     (two psql/mariadb calls), the cost of one scan of each side. On
#     PostgreSQL that is an index-only scan of the primary key after the
#     VACUUM (the plan is printed), cheaper than reading every column.
# Before the timed runs each side is read once (untimed), so every tool starts
# from the same warm cache. After the timed runs reladiff runs once more with
# --stats, untimed, for its rows_downloaded counter.
#
# Generation is server-side (generate_series on PostgreSQL, the SEQUENCE engine
# on MariaDB) and skipped when the target already holds a marker table
# (rs_bench_marker) for the same ROWS/EVERY, so reruns only measure. The
# PostgreSQL target is CREATE DATABASE ... TEMPLATE of the source; the MariaDB
# one an INSERT ... SELECT. MY_ROWS defaults to ROWS: on the development
# machine MariaDB generated 1,000,000 rows in 6 s and copied and drifted them
# in 5 s more (PostgreSQL: 5 s and 2 s), so a 10,000,000-row pair costs a few
# minutes, once. Set MY_ROWS lower to shorten a first run. The measuring is
# longer: at 10,000,000 rows one rangesync diff took 31 s (PostgreSQL) and
# 61 s (MariaDB), reladiff 73 s and 254 s, so count on 40 minutes or more at
# the default scale with RUNS=3 (docs/benchmarks.md).
#
#   benches/servers_10m.sh       # ROWS=10000000 MY_ROWS=$ROWS EVERY=10000 RUNS=3
#   ROWS=200000 MY_ROWS=100000 RUNS=1 DROP=1 benches/servers_10m.sh   # quick check
#
# Other knobs: PAIRS="pg mysql" (which pairs), BENCH_DIR (bench-data: reladiff's
# venv and the outputs of the last run), RANGESYNC_BIN (skip the cargo build),
# RELADIFF_VERSION (0.6.0), DROP=1 (drop the four databases at the end),
# REGEN=1 (regenerate even when the marker matches), JOBS=2 (a second
# rangesync run with --jobs JOBS; 1 to skip it).
#
# Besides count(*), a second floor: the fast hash rangesync's default
# checksum computes (PostgreSQL: two seeded hash_record_extended lanes mixed
# by hashint8extended; MariaDB: CRC32 and CRC32C of the row's text) summed
# over each whole table, source then target: the hashing a comparison cannot
# do without.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-10000000}
MY_ROWS=${MY_ROWS:-$ROWS}
EVERY=${EVERY:-10000}
RUNS=${RUNS:-3}
PAIRS=${PAIRS:-pg mysql}
export JOBS=${JOBS:-2}
RELADIFF_VERSION=${RELADIFF_VERSION:-0.6.0}
dir=${BENCH_DIR:-bench-data}
SRC=rs_bench_src
TGT=rs_bench_tgt
PG_BASE=postgres://postgres@127.0.0.1:5432
MY_BASE=mysql://root@127.0.0.1:3306
mkdir -p "$dir/servers"
out="$dir/servers"
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null

if [ -n "${RANGESYNC_BIN:-}" ]; then
  bin=$RANGESYNC_BIN
else
  cargo build --release --quiet --bin rangesync
  bin=target/release/rangesync
fi

# reladiff in its own venv (pinned), with the drivers of both servers.
venv="$dir/reladiff-venv"
if ! "$venv/bin/reladiff" --version 2>/dev/null | grep -qx "v$RELADIFF_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "reladiff[postgresql,mysql]==$RELADIFF_VERSION"
fi
# reladiff prints through rich, which wraps lines at the console width (80
# columns when stdout is not a terminal): one line per row needs a wide one.
export COLUMNS=100000

pg() { PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -p 5432 -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
my() { mariadb -h 127.0.0.1 -P 3306 -u root --batch --skip-column-names "$@"; }

# Drift points k = 0 .. n-1 at generated row g = k*EVERY + EVERY/2 + k%97 (key
# 10*g; the k%97 keeps the drifted rows from sharing values): k%3 == 0
# deleted, 1 changed (column (k/3)%5), 2 extra key 10*g + 5.
[ "$EVERY" -ge 200 ] || { echo "EVERY must be at least 200" >&2; exit 2; }
drift_counts() { # ROWS -> "n missing extra changed"
  local n=$(($1 / EVERY))
  echo "$n $(((n + 2) / 3)) $((n / 3)) $(((n + 1) / 3))"
}

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

gen_pg() {
  local rows=$1 n=$(($1 / EVERY)) spec="rows=$1 every=$EVERY v2"
  if [ -z "${REGEN:-}" ] && [ "$(pg -d "$TGT" -Atc 'SELECT spec FROM rs_bench_marker' 2>/dev/null || true)" = "$spec" ] &&
     [ "$(pg -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$SRC'")" = 1 ]; then
    echo "postgres: $SRC/$TGT already hold $spec, not regenerated"
    return
  fi
  local t0 t
  t0=$(now)
  pg -d postgres -c "DROP DATABASE IF EXISTS $TGT" -c "DROP DATABASE IF EXISTS $SRC" -c "CREATE DATABASE $SRC"
  pg -d "$SRC" <<SQL
CREATE TABLE events (
  id bigint PRIMARY KEY,
  account text NOT NULL,
  amount numeric(12,2),
  qty integer,
  created_at timestamptz,
  payload text
);
INSERT INTO events
SELECT 10 * g,
       'acct-' || lpad(((g * 7919) % 100003)::text, 6, '0'),
       CASE WHEN g % 97 = 0 THEN NULL ELSE ((g * 104729) % 100000000) / 100.0 - 250000 END,
       (g % 1000)::int - 100,
       timestamptz '2024-01-01 00:00:00+00' + (g * 2718281) * interval '1 microsecond',
       CASE WHEN g % 101 = 0 THEN NULL
            ELSE md5(g::text) || ' ' || repeat(substr('abcdefghijklmnopqrstuvwxyz', 1 + (g % 26)::int, 1), (g % 40)::int) END
FROM generate_series(1::bigint, $rows) g;
VACUUM ANALYZE events;
SQL
  t=$(elapsed "$t0")
  local strategy=""
  [ "$(pg -d postgres -Atc 'SHOW server_version_num')" -ge 150000 ] && strategy="STRATEGY = FILE_COPY"
  pg -d postgres -c "CREATE DATABASE $TGT TEMPLATE $SRC $strategy"
  pg -d "$TGT" <<SQL
CREATE TEMP TABLE drift AS
  SELECT k, 10 * (k * $EVERY + $EVERY / 2 + k % 97) AS id, (k / 3) % 5 AS c
  FROM generate_series(0::bigint, $n - 1) k;
DELETE FROM events e USING drift d WHERE e.id = d.id AND d.k % 3 = 0;
UPDATE events e SET
  qty        = CASE WHEN d.c = 0 THEN e.qty + 1 ELSE e.qty END,
  amount     = CASE WHEN d.c = 1 THEN coalesce(e.amount, 0) + 0.01 ELSE e.amount END,
  created_at = CASE WHEN d.c = 2 THEN e.created_at + interval '1 microsecond' ELSE e.created_at END,
  payload    = CASE WHEN d.c = 3 THEN coalesce(e.payload, '') || 'x' ELSE e.payload END,
  account    = CASE WHEN d.c = 4 THEN e.account || 'x' ELSE e.account END
FROM drift d WHERE e.id = d.id AND d.k % 3 = 1;
INSERT INTO events
  SELECT id + 5, 'acct-extra', 1.00, 1, timestamptz '2025-06-01 12:00:00.5+00', 'extra row'
  FROM drift WHERE k % 3 = 2;
VACUUM ANALYZE events;
CREATE TABLE rs_bench_marker (spec text);
INSERT INTO rs_bench_marker VALUES ('$spec');
SQL
  echo "postgres: generated $rows rows in ${t} s, copied and drifted in $(elapsed "$t0") s in all" \
       "($(pg -d postgres -Atc "SELECT pg_size_pretty(pg_database_size('$SRC'))") per database)"
}

gen_my() {
  local rows=$1 n=$(($1 / EVERY)) spec="rows=$1 every=$EVERY v2"
  if [ -z "${REGEN:-}" ] && [ "$(my -e "SELECT spec FROM $TGT.rs_bench_marker" 2>/dev/null || true)" = "$spec" ] &&
     [ "$(my -e "SELECT count(*) FROM information_schema.tables WHERE table_schema = '$SRC' AND table_name = 'events'")" = 1 ]; then
    echo "mysql: $SRC/$TGT already hold $spec, not regenerated"
    return
  fi
  local t0 t
  t0=$(now)
  # The SEQUENCE engine's seq_1_to_N tables (MariaDB) instead of a recursive
  # CTE: max_recursive_iterations defaults to 1000.
  my <<SQL
DROP DATABASE IF EXISTS $TGT;
DROP DATABASE IF EXISTS $SRC;
CREATE DATABASE $SRC;
USE $SRC;
CREATE TABLE events (
  id bigint PRIMARY KEY,
  account varchar(64) NOT NULL,
  amount decimal(12,2),
  qty int,
  created_at datetime(6),
  payload text
) ENGINE=InnoDB;
SET SESSION unique_checks = 0, foreign_key_checks = 0;
INSERT INTO events
SELECT 10 * g,
       concat('acct-', lpad((g * 7919) % 100003, 6, '0')),
       IF(g % 97 = 0, NULL, ((g * 104729) % 100000000) / 100 - 250000),
       g % 1000 - 100,
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (g * 2718281) MICROSECOND,
       IF(g % 101 = 0, NULL,
          concat(md5(g), ' ', repeat(substr('abcdefghijklmnopqrstuvwxyz', 1 + g % 26, 1), g % 40)))
FROM (SELECT CAST(seq AS SIGNED) AS g FROM seq_1_to_$rows) s;
SQL
  t=$(elapsed "$t0")
  my >/dev/null <<SQL
CREATE DATABASE $TGT;
USE $TGT;
CREATE TABLE events LIKE $SRC.events;
SET SESSION unique_checks = 0, foreign_key_checks = 0;
INSERT INTO events SELECT * FROM $SRC.events ORDER BY id;
CREATE TEMPORARY TABLE drift AS
  SELECT k, 10 * (k * $EVERY + $EVERY DIV 2 + k % 97) AS id, (k DIV 3) % 5 AS c
  FROM (SELECT CAST(seq AS SIGNED) AS k FROM seq_0_to_$((n - 1))) s;
DELETE e FROM events e JOIN drift d ON e.id = d.id WHERE d.k % 3 = 0;
UPDATE events e JOIN drift d ON e.id = d.id AND d.k % 3 = 1 SET
  e.qty        = IF(d.c = 0, e.qty + 1, e.qty),
  e.amount     = IF(d.c = 1, coalesce(e.amount, 0) + 0.01, e.amount),
  e.created_at = IF(d.c = 2, e.created_at + INTERVAL 1 MICROSECOND, e.created_at),
  e.payload    = IF(d.c = 3, concat(coalesce(e.payload, ''), 'x'), e.payload),
  e.account    = IF(d.c = 4, concat(e.account, 'x'), e.account);
INSERT INTO events
  SELECT id + 5, 'acct-extra', 1.00, 1, TIMESTAMP '2025-06-01 12:00:00.5', 'extra row'
  FROM drift WHERE k % 3 = 2;
ANALYZE TABLE $SRC.events, $TGT.events;
CREATE TABLE rs_bench_marker (spec varchar(200));
INSERT INTO rs_bench_marker VALUES ('$spec');
SQL
  echo "mysql: generated $rows rows in ${t} s, copied and drifted in $(elapsed "$t0") s in all" \
       "($(my -e "SELECT round(sum(data_length + index_length) / 1048576) FROM information_schema.tables WHERE table_schema = '$SRC'") MB per database)"
}

results="$out/results.tsv"
: >"$results"
: >"$out/expected.tsv.new"
# run PAIR TOOL CMD...: RUNS timed runs; appends "pair tool run wall rss rc stdout stderr".
run() {
  local pair=$1 tool=$2; shift 2
  local i
  for i in $(seq "$RUNS"); do
    local t o e rc
    t=$(mktemp); o="$out/$pair-${tool// /_}-$i.out"; e="$out/$pair-${tool// /_}-$i.err"
    set +e; /usr/bin/time -f "%e %M" -o "$t" "$@" >"$o" 2>"$e"; rc=$?; set -e
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pair" "$tool" "$i" "$(tail -1 "$t" | tr ' ' '\t')" "$rc" "$o" "$e" >>"$results"
    rm -f "$t"
  done
}

for pair in $PAIRS; do
  case $pair in
    pg)
      rows=$ROWS; gen_pg "$rows"
      src=$PG_BASE/$SRC; tgt=$PG_BASE/$TGT
      rsrc=postgresql://postgres@127.0.0.1:5432/$SRC; rtgt=postgresql://postgres@127.0.0.1:5432/$TGT
      count() { pg -d "$1" -Atc 'SELECT count(*) FROM events'; }
      hashsum() {
        local row='ROW(id, account COLLATE "C", amount, qty, created_at, payload COLLATE "C")'
        pg -d "$1" -Atc "SELECT sum(hashint8extended(hash_record_extended($row, 1), 2)::numeric), sum(hashint8extended(hash_record_extended($row, 3), 4)::numeric) FROM events"
      }
      warm() { pg -d "$1" -Atc 'SELECT count(payload), sum(qty) FROM events' >/dev/null; }
      echo "postgres: plan of the floor: $(pg -d "$SRC" -Atc 'EXPLAIN SELECT count(*) FROM events' | grep -o -m1 -E '(Parallel )?(Index Only|Seq) Scan' | head -1)"
      ;;
    mysql)
      rows=$MY_ROWS; gen_my "$rows"
      src=$MY_BASE/$SRC; tgt=$MY_BASE/$TGT
      rsrc=$src; rtgt=$tgt
      count() { my -D "$1" -e 'SELECT count(*) FROM events'; }
      hashsum() {
        local row='CONCAT_WS(0x1f, id, account, amount, qty, created_at, payload)'
        my -D "$1" -e "SELECT sum(CRC32($row) * CRC32C($row)), sum((CRC32($row) << 32) | CRC32C($row)) FROM events"
      }
      warm() { my -D "$1" -e 'SELECT count(payload), sum(qty) FROM events' >/dev/null; }
      ;;
    *) echo "unknown pair $pair (pg, mysql)" >&2; exit 2 ;;
  esac
  read -r n missing extra changed < <(drift_counts "$rows")
  echo "$pair: $(count "$SRC") source rows, $(count "$TGT") target rows, $n differing rows" \
       "($missing missing, $extra extra, $changed changed)"
  warm "$SRC"; warm "$TGT"
  run "$pair" "floor" bash -c "set -e; $(declare -f pg my count); count $SRC >/dev/null; count $TGT >/dev/null"
  run "$pair" "hashfloor" bash -c "set -e; $(declare -f pg my hashsum); hashsum $SRC >/dev/null; hashsum $TGT >/dev/null"
  run "$pair" "rangesync" "$bin" diff "$src" "$tgt" --table events --format json
  if [ "$JOBS" -gt 1 ]; then
    run "$pair" "rangesync jobs" "$bin" diff "$src" "$tgt" --table events --format json --jobs "$JOBS"
  fi
  run "$pair" "reladiff" "$venv/bin/reladiff" "$rsrc" events "$rtgt" events \
    -k id -c account -c amount -c qty -c created_at -c payload --skip-sort-results --json
  # Untimed: its counters (rows_downloaded) are printed only with --stats.
  "$venv/bin/reladiff" "$rsrc" events "$rtgt" events \
    -k id -c account -c amount -c qty -c created_at -c payload --skip-sort-results --stats --json >"$out/$pair-reladiff-stats.out" 2>"$out/$pair-reladiff-stats.err" || true
  printf '%s\t%s\t%s\t%s\t%s\n' "$pair" "$rows" "$missing" "$extra" "$changed" >>"$out/expected.tsv.new"
done
mv "$out/expected.tsv.new" "$out/expected.tsv"

status=0
python3 - "$results" "$out/expected.tsv" "$out" <<'PY' || status=$?
import json, os, statistics, sys
from collections import defaultdict

results, expected_path, outdir = sys.argv[1:4]
runs = defaultdict(list)
for line in open(results):
    pair, tool, i, wall, rss, rc, o, e = line.rstrip("\n").split("\t")
    runs[(pair, tool)].append(dict(wall=float(wall), rss=int(rss), rc=int(rc), out=o, err=e))

def rangesync_counts(r):
    if r["rc"] not in (0, 1):
        raise SystemExit(f"rangesync failed (exit {r['rc']}): {open(r['err']).read()[-2000:]}")
    d = json.load(open(r["out"]))["datasets"][0]
    return d["missing"], d["extra"], d["changed"], d["hashes_fetched"], d["rows_fetched"]

def reladiff_counts(r):
    err = open(r["err"]).read()
    if "ERROR" in err or r["rc"] != 0:
        raise SystemExit(f"reladiff failed (exit {r['rc']}): {err[-2000:]}")
    signs = defaultdict(set)
    lines = 0
    for line in open(r["out"]):
        if not line.strip():
            continue
        op, values = json.loads(line)
        signs[values[0]].add(op)  # the key column comes first
        lines += 1
    missing = sum(1 for s in signs.values() if s == {"-"})
    extra = sum(1 for s in signs.values() if s == {"+"})
    changed = sum(1 for s in signs.values() if s == {"-", "+"})
    # A changed row is printed twice: a "-" line (source) and a "+" line (target).
    assert lines == missing + extra + 2 * changed, (lines, missing, extra, changed)
    return missing, extra, changed, lines

ok = True
for line in open(expected_path):
    pair, rows, em, ee, ec = line.split("\t")
    rows, em, ee, ec = int(rows), int(em), int(ee), int(ec)
    exp = em + ee + ec
    name = {"pg": "PostgreSQL", "mysql": "MariaDB"}[pair]
    bad = [r["err"] for r in runs[(pair, "floor")] if r["rc"] != 0]
    if bad:
        raise SystemExit(f"the count(*) floor failed: {open(bad[0]).read()[-2000:]}")
    tools = [t for t in ("floor", "hashfloor", "rangesync", "rangesync jobs", "reladiff") if runs[(pair, t)]]
    med = {t: statistics.median(r["wall"] for r in runs[(pair, t)]) for t in tools}
    rss = {t: max(r["rss"] for r in runs[(pair, t)]) / 1024 for t in ("rangesync", "reladiff")}
    rs = [rangesync_counts(r) for r in runs[(pair, "rangesync")]]
    rl = [reladiff_counts(r) for r in runs[(pair, "reladiff")]]
    try:
        st = json.load(open(f"{outdir}/{pair}-reladiff-stats.out"))
        downloaded = st["stats"].get("rows_downloaded", 0)
        st_counts = (st["exclusive_A"], st["exclusive_B"], st["updated"])
    except Exception as e:  # noqa: BLE001
        downloaded, st_counts = None, None
    print(f"\n**{name}: {rows:,} rows, {exp} differing rows ({em} missing, {ee} extra, {ec} changed)**\n")
    print("| tool | wall (median) | vs. rangesync | vs. count(*) floor | vs. fast-hash floor | peak RSS | hashes_fetched | rows_fetched | differences found (missing/extra/changed) |")
    print("|---|---|---|---|---|---|---|---|---|")
    def row(tool, wall, rss_s, hashes, fetched, found):
        print(f"| {tool} | {wall:.2f} s | {wall / med['rangesync']:.2f}x | {wall / med['floor']:.2f}x | {wall / med['hashfloor']:.2f}x | {rss_s} | {hashes} | {fetched} | {found} |")
    m, x, c, h, f = rs[0]
    row("rangesync diff", med["rangesync"], f"{rss['rangesync']:.0f} MB", h, f, f"{m + x + c} of {exp} ({m}/{x}/{c})")
    ok &= all((r[0], r[1], r[2]) == (em, ee, ec) for r in rs)
    if "rangesync jobs" in med:
        rj = [rangesync_counts(r) for r in runs[(pair, "rangesync jobs")]]
        m, x, c, h, f = rj[0]
        jrss = max(r["rss"] for r in runs[(pair, "rangesync jobs")]) / 1024
        row(f"rangesync diff --jobs {os.environ.get('JOBS')}", med["rangesync jobs"], f"{jrss:.0f} MB", h, f, f"{m + x + c} of {exp} ({m}/{x}/{c})")
        ok &= all((r[0], r[1], r[2]) == (em, ee, ec) for r in rj)
    m, x, c, lines = rl[0]
    fetched = f"~{2 * downloaded} (2 x {downloaded} downloaded)" if downloaded is not None else "?"
    row("reladiff (hashdiff, -j 1)", med["reladiff"], f"{rss['reladiff']:.0f} MB", "-", fetched,
        f"{m + x + c} of {exp} ({m}/{x}/{c}; {lines} lines)")
    ok &= all((r[0], r[1], r[2]) == (em, ee, ec) for r in rl)
    if st_counts is not None and st_counts != (em, ee, ec):
        print(f"\nreladiff --stats counted {st_counts} (missing/extra/changed)")
        ok = False
    row("floor: count(*) source, then target", med["floor"], "-", "-", "-", "-")
    row("floor: fast hash (two lanes) summed over source, then target", med["hashfloor"], "-", "-", "-", "-")
if not ok:
    print("\nA tool did not find the expected differences (see above).", file=sys.stderr)
    sys.exit(1)
PY

if [ -n "${DROP:-}" ]; then
  pg -d postgres -c "DROP DATABASE IF EXISTS $TGT" -c "DROP DATABASE IF EXISTS $SRC"
  my -e "DROP DATABASE IF EXISTS $TGT; DROP DATABASE IF EXISTS $SRC"
  echo "dropped $SRC and $TGT on both servers"
fi
exit "$status"
