#!/usr/bin/env bash
# Benchmark of issue 2: a generated pair of 1,000,000-row SQLite tables with
# 0.1% drift spread evenly over the keyspace (a third missing, a third
# changed, a third extra). Measures, side by side in one run:
#   - rangesync diff at several zoom settings (default first),
#   - the baseline: both tables read row by row in key order and compared,
#   - rangesync sync --delete of a copy of the target, then a check diff.
# Wall time and peak RSS come from /usr/bin/time; counters from the JSON
# report. Each figure is the median of RUNS runs.
#
#   benches/sqlite_1m.sh            # ROWS=1000000 EVERY=1000 RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
EVERY=${EVERY:-1000}
RUNS=${RUNS:-3}
dir=${BENCH_DIR:-bench-data}
mkdir -p "$dir"
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null

cargo build --release --quiet --bin rangesync --example bench_sqlite_pair --example full_scan_compare
bin=target/release
drift=$("$bin/examples/bench_sqlite_pair" "$dir" "$ROWS" "$EVERY")
echo "pair: $ROWS rows, $drift differing rows (one every $EVERY), $(du -h "$dir/source.db" | cut -f1) per file"

results=$(mktemp)
# run NAME CMD...: appends "NAME wall_s rss_kb json" per run.
run() {
  local name=$1; shift
  for _ in $(seq "$RUNS"); do
    local t out
    t=$(mktemp); out=$(mktemp)
    set +e; /usr/bin/time -f "%e %M" -o "$t" "$@" >"$out"; set -e
    echo "$name $(tail -1 "$t") $(tr -d '\n ' <"$out")" >>"$results"
    rm -f "$t" "$out"
  done
}

src="sqlite://$dir/source.db"
tgt="sqlite://$dir/target.db"
for zoom in 10000,100,1 1000,10,1 100000,1000,1; do
  run "diff --zoom $zoom" "$bin/rangesync" diff "$src" "$tgt" --zoom "$zoom" --format json
done
run "baseline: read every row of both" "$bin/examples/full_scan_compare" "$dir/source.db" "$dir/target.db" events id
for _ in $(seq "$RUNS"); do
  cp "$dir/target.db" "$dir/target-sync.db"
  RUNS=1 run "sync --delete (default zoom)" "$bin/rangesync" sync "$src" "sqlite://$dir/target-sync.db" --delete --format json
  "$bin/rangesync" diff "$src" "sqlite://$dir/target-sync.db" -q || { echo "sync did not converge" >&2; exit 1; }
done

python3 - "$results" "$drift" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    parts = line.split(" ")
    # name has spaces: the last three fields are wall, rss, json
    name = " ".join(parts[:-3]); wall, rss, js = parts[-3:]
    rows.setdefault(name, []).append((float(wall), int(rss), json.loads(js)))
drift = int(sys.argv[2])
base = statistics.median(r[0] for r in rows["baseline: read every row of both"])
print(f"\n| run | wall (median) | vs. baseline | peak RSS | hashes_fetched | rows_fetched | differences found |")
print("|---|---|---|---|---|---|---|")
for name, runs in rows.items():
    wall = statistics.median(r[0] for r in runs)
    rss = max(r[1] for r in runs) / 1024
    j = runs[0][2]
    if "datasets" in j:
        d = j["datasets"][0]
        found = d["missing"] + d["extra"] + d["changed"]
        hashes, fetched = d["hashes_fetched"], d["rows_fetched"]
    else:
        found, hashes, fetched = j["differences"], j["rows_read"], j["rows_read"]
    print(f"| {name} | {wall:.2f} s | {wall / base:.2f}x | {rss:.0f} MB | {hashes} | {fetched} | {found} of {drift} |")
PY
rm -f "$results"
