#!/usr/bin/env bash
# Benchmark of issue 4: InfluxDB 1.x -> VictoriaMetrics, rangesync against
# vmctl (it ships in Debian's victoria-metrics package), side by side in one
# run, on the same data.
#
# Data: POINTS points (10,000,000 by default) in InfluxDB database
# rs_bench_ts, measurement rs_bench, field v (float), SERIES series (tag
# host=h000...), one point every 26 s per series from 2024-01-01 on (with
# the defaults: 100 series x 100,000 points, about 30 days).
#
# Measured (wall time, points per second):
#   1. full copy by vmctl influx (--influx-skip-database-label, its other
#      defaults), under `script -qec` since it wants a terminal;
#   2. full copy by rangesync copy (release build, defaults: 1h windows,
#      newest first);
#   1c/2c. both again with two InfluxDB queries at once (vmctl
#      --influx-concurrency 2, rangesync ?concurrency=2 on the source URL;
#      SKIP_PARALLEL=1 leaves them out);
#   3. repair: VictoriaMetrics is loaded (by /api/v1/import, untimed) with
#      every point but 1% of all points, dropped at random inside one day
#      (the span's third: day 10 of 30); then rangesync sync repairs it. Compared with a full
#      re-copy (run 2) in wall time and points written.
# After each step the VictoriaMetrics side is counted by VictoriaMetrics
# itself (count_over_time over the span) and must equal InfluxDB's count.
#
# Usage: benches/influx_vm_copy.sh            (POINTS=1000000 for a quick run)
# Needs scripts/services.sh's InfluxDB (127.0.0.1:18086) and
# VictoriaMetrics (127.0.0.1:18428), python3, curl, vmctl.
set -euo pipefail
cd "$(dirname "$0")/.."

POINTS=${POINTS:-10000000}
SERIES=${SERIES:-100}
INFLUX=${INFLUX:-http://127.0.0.1:18086}
VM=${VM:-http://127.0.0.1:18428}
DB=rs_bench_ts
BIN=target/release/rangesync
PER=$((POINTS / SERIES))
START=1704067200 # 2024-01-01T00:00:00Z
STEP=26
END=$((START + PER * STEP))

cargo build --release --quiet
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

vm_forget() {
  curl -sf -XPOST "$VM/api/v1/admin/tsdb/delete_series" --data-urlencode 'match[]={__name__=~"rs_bench_.*"}' >/dev/null
  curl -sf "$VM/internal/force_flush" >/dev/null
}

vm_count_once() {
  curl -sf "$VM/internal/force_flush" >/dev/null
  curl -sf "$VM/api/v1/query" --data-urlencode "query=sum(count_over_time({__name__=~\"rs_bench_.*\"}[$((END - START + 60))s]))" \
    -d time=$((END + 30)) -d nocache=1 | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)'
}

# The points VictoriaMetrics holds, once it has made them all searchable:
# under load (series deleted and written again by every step) it can lag
# by seconds. Asked until two answers a second apart agree (at most 60 s);
# not timed.
vm_count() {
  local last=-1 n
  for _ in $(seq 60); do
    n=$(vm_count_once)
    if [ "$n" = "$last" ] && [ "$n" != 0 ]; then break; fi
    last=$n
    sleep 1
  done
  echo "$n"
}

# Generation, skipped when the database already holds POINTS points.
have=$(curl -sf "$INFLUX/query" --data-urlencode "db=$DB" --data-urlencode 'q=SELECT count(v) FROM rs_bench' |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["results"][0].get("series"); print(s[0]["values"][0][1] if s else 0)' 2>/dev/null || echo 0)
if [ "$have" != "$POINTS" ]; then
  echo "generating $POINTS points in InfluxDB $DB ..."
  curl -sf -XPOST "$INFLUX/query" --data-urlencode "q=DROP DATABASE $DB" >/dev/null
  curl -sf -XPOST "$INFLUX/query" --data-urlencode "q=CREATE DATABASE $DB" >/dev/null
  python3 - "$SERIES" "$PER" "$START" "$STEP" "$INFLUX" "$DB" <<'EOF'
import sys, urllib.request, gzip
series, per, start, step, influx, db = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
batch = []
def flush():
    body = gzip.compress(("\n".join(batch) + "\n").encode(), 1)
    req = urllib.request.Request(f"{influx}/write?db={db}&precision=s", data=body, headers={"Content-Encoding": "gzip"})
    urllib.request.urlopen(req).read()
    batch.clear()
for i in range(per):
    t = start + i * step
    for s in range(series):
        batch.append(f"rs_bench,host=h{s:03d} v={(i * 7 + s) % 1000 / 8} {t}")
    if len(batch) >= 50000:
        flush()
if batch:
    flush()
EOF
fi
echo "InfluxDB $DB holds $POINTS points in $SERIES series, $(( (END - START) / 86400 )) days"

# ONLY_REPAIR=1 skips the two full copies (to try repair settings quickly);
# REPAIR_FLAGS adds flags to the repair's sync (e.g. "--zoom 1d,1h").
if [ "${ONLY_REPAIR:-0}" = 1 ]; then
  vmctl_s=1 vmctl_n=0 copy_s=1 copy_n=0
else
# A full copy into an emptied VictoriaMetrics, timed; sets took and got
# (the points VictoriaMetrics holds after it).
full_copy() {
  vm_forget
  local t0 t1
  t0=$(now)
  "$@"
  t1=$(now)
  took=$(secs "$t0" "$t1")
  got=$(vm_count)
}
vmctl_copy() { script -qec "vmctl influx --influx-addr $INFLUX --influx-database $DB --influx-skip-database-label $1 --vm-addr $VM -s --vm-disable-progress-bar" /dev/null >"$2" 2>&1; }
rs_copy() { $BIN copy "influxdb://${INFLUX#http://}/$DB$1" "victoriametrics://${VM#http://}" --format json ${3:-} >"$2"; }

# 1. vmctl, 2. rangesync copy
full_copy vmctl_copy "" /tmp/rs_bench_vmctl.log
vmctl_s=$took vmctl_n=$got
full_copy rs_copy "" /tmp/rs_bench_copy.json
copy_s=$took copy_n=$got

# 1c and 2c. Both again with two queries at once against InfluxDB
# (vmctl --influx-concurrency 2, rangesync ?concurrency=2 on the source
# URL); the defaults of both are one. SKIP_PARALLEL=1 leaves them out.
vmctl2_s=0 vmctl2_n=0 copy2_s=0 copy2_n=0
if [ "${SKIP_PARALLEL:-0}" != 1 ]; then
  full_copy vmctl_copy "--influx-concurrency 2" /tmp/rs_bench_vmctl2.log
  vmctl2_s=$took vmctl2_n=$got
  full_copy rs_copy "?concurrency=2" /tmp/rs_bench_copy2.json
  copy2_s=$took copy2_n=$got
fi

# 2b. optionally, rangesync copy again with other flags (ALT_COPY_FLAGS,
# e.g. "--max-rows 200000"), in the same run.
alt_s=0 alt_n=0
if [ -n "${ALT_COPY_FLAGS:-}" ]; then
  full_copy rs_copy "" /tmp/rs_bench_copy_alt.json "$ALT_COPY_FLAGS"
  alt_s=$took alt_n=$got
fi
fi

# 3. repair of a copy lacking 1% of all points inside day 10, with the
# default --verify sum, then again (loaded the same way) with --verify
# count (counts alone: no sums asked of either server).
load_drifted() {
vm_forget
python3 - "$SERIES" "$PER" "$START" "$STEP" "$VM" "$POINTS" <<'EOF'
import sys, urllib.request, gzip, json, random
series, per, start, step, vm, points = map(str, sys.argv[1:7])
series, per, start, step, points = int(series), int(per), int(start), int(step), int(points)
days = per * step // 86400
day = max(days // 3, 0)  # day 10 of 30 with the defaults
day0, day1 = start + day * 86400, start + (day + 1) * 86400
in_day = [(s, i) for s in range(series) for i in range(per) if day0 <= start + i * step < day1]
random.seed(4)
drop = set(random.sample(in_day, min(len(in_day), points // 100)))
print(f"dropping {len(drop)} of the {len(in_day)} points of day {day + 1}")
lines = []
def flush():
    req = urllib.request.Request(f"{vm}/api/v1/import", data=gzip.compress("".join(lines).encode(), 1), headers={"Content-Encoding": "gzip"})
    urllib.request.urlopen(req).read()
    lines.clear()
for s in range(series):
    ts, vs = [], []
    for i in range(per):
        if (s, i) in drop:
            continue
        ts.append((start + i * step) * 1000)
        vs.append((i * 7 + s) % 1000 / 8)
    lines.append(json.dumps({"metric": {"__name__": "rs_bench_v", "host": f"h{s:03d}"}, "values": vs, "timestamps": ts}) + "\n")
    if len(lines) >= 10:
        flush()
if lines:
    flush()
urllib.request.urlopen(f"{vm}/internal/force_flush").read()
EOF
}
load_drifted
before_n=$(vm_count)
t0=$(now)
$BIN sync "influxdb://${INFLUX#http://}/$DB" "victoriametrics://${VM#http://}" --format json ${REPAIR_FLAGS:-} >/tmp/rs_bench_repair.json
t1=$(now)
repair_s=$(secs "$t0" "$t1")
repair_n=$(vm_count)
written=$(python3 -c 'import json; d=json.load(open("/tmp/rs_bench_repair.json"))["datasets"][0]; print(d["inserted"], d["rows_fetched"], d["ranges_compared"])')
load_drifted
t0=$(now)
$BIN sync "influxdb://${INFLUX#http://}/$DB" "victoriametrics://${VM#http://}" --format json --verify count ${REPAIR_FLAGS:-} >/tmp/rs_bench_repair_count.json
t1=$(now)
repair_count_s=$(secs "$t0" "$t1")
repair_count_n=$(vm_count)

python3 - "$POINTS" "$vmctl_s" "$vmctl_n" "$copy_s" "$copy_n" "$repair_s" "$repair_n" "$before_n" $written "${alt_s:-0}" "${alt_n:-0}" "${ALT_COPY_FLAGS:-}" "${vmctl2_s:-0}" "${vmctl2_n:-0}" "${copy2_s:-0}" "${copy2_n:-0}" "$repair_count_s" "$repair_count_n" <<'EOF'
import sys
points = int(sys.argv[1])
vmctl2_s, vmctl2_n, copy2_s, copy2_n = float(sys.argv[15]), int(sys.argv[16]), float(sys.argv[17]), int(sys.argv[18])
alt_s, alt_n, alt_flags = float(sys.argv[12]), int(sys.argv[13]), sys.argv[14]
vmctl_s, vmctl_n, copy_s, copy_n, repair_s, repair_n, before_n = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
inserted, fetched, windows = map(int, sys.argv[9:12])
print(f"| | wall time | points/s | points in VictoriaMetrics after |")
print(f"|---|---|---|---|")
print(f"| vmctl influx (full copy) | {vmctl_s:.2f} s | {points / vmctl_s:,.0f} | {vmctl_n:,} |")
print(f"| rangesync copy (full copy) | {copy_s:.2f} s | {points / copy_s:,.0f} | {copy_n:,} |")
if vmctl2_s:
    print(f"| vmctl influx --influx-concurrency 2 (full copy) | {vmctl2_s:.2f} s | {points / vmctl2_s:,.0f} | {vmctl2_n:,} |")
    print(f"| rangesync copy, source ?concurrency=2 (full copy) | {copy2_s:.2f} s | {points / copy2_s:,.0f} | {copy2_n:,} |")
if alt_s:
    print(f"| rangesync copy {alt_flags} (full copy) | {alt_s:.2f} s | {points / alt_s:,.0f} | {alt_n:,} |")
repair_count_s, repair_count_n = float(sys.argv[19]), int(sys.argv[20])
print(f"| rangesync sync (repair of {points - before_n:,} missing) | {repair_s:.2f} s | | {repair_n:,} |")
print(f"| rangesync sync --verify count (the same repair) | {repair_count_s:.2f} s | | {repair_count_n:,} |")
print()
print(f"copy rate, rangesync vs vmctl: {vmctl_s / copy_s:.2f}x")
if vmctl2_s:
    print(f"copy rate at two queries at once, rangesync vs vmctl: {vmctl2_s / copy2_s:.2f}x; rangesync at 2 vs vmctl at its default: {vmctl_s / copy2_s:.2f}x")
if alt_s:
    print(f"copy rate with {alt_flags}, rangesync vs vmctl: {vmctl_s / alt_s:.2f}x")
print(f"repair vs full re-copy (rangesync copy): {copy_s / repair_s:.2f}x faster ({copy_s / repair_count_s:.2f}x with --verify count); vs vmctl's copy: {vmctl_s / repair_s:.2f}x ({vmctl_s / repair_count_s:.2f}x); points written {inserted:,} vs {points:,}; points read {fetched:,}; window counts compared {windows:,}")
checked = [("vmctl", vmctl_n), ("rangesync copy", copy_n), ("rangesync repair", repair_n), ("rangesync repair --verify count", repair_count_n)]
if vmctl2_s:
    checked += [("vmctl at concurrency 2", vmctl2_n), ("rangesync copy at concurrency 2", copy2_n)]
for name, n in checked:
    if n != points:
        print(f"WARNING: after {name} VictoriaMetrics holds {n} points, InfluxDB {points}")
EOF
