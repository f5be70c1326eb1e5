#!/usr/bin/env bash
# Makes sure the servers the tests talk to answer on loopback, installing
# them from Debian's packages and starting them when they do not:
#   PostgreSQL on 127.0.0.1:${RANGESYNC_PG_PORT:-5432}, user postgres, trust auth
#   MariaDB    on 127.0.0.1:${RANGESYNC_MYSQL_PORT:-3306}, root without password
#   InfluxDB 1.x on 127.0.0.1:${RANGESYNC_INFLUX_PORT:-18086}, no auth
#   VictoriaMetrics on 127.0.0.1:${RANGESYNC_VM_PORT:-18428}, with its OpenTSDB
#     HTTP listener on 127.0.0.1:${RANGESYNC_VM_OPENTSDB_PORT:-14242}
# The time-series servers run from their Debian packages (influxdb,
# victoria-metrics) as the current user, with their data in
# ${RANGESYNC_SERVICES_DIR:-/tmp/rangesync-services}, never on their
# system-wide ports.
# Run by scripts/test.sh; safe to run again (it only acts on what is missing).
set -euo pipefail

pg_port=${RANGESYNC_PG_PORT:-5432}
my_port=${RANGESYNC_MYSQL_PORT:-3306}
influx_port=${RANGESYNC_INFLUX_PORT:-18086}
vm_port=${RANGESYNC_VM_PORT:-18428}
vm_otsdb_port=${RANGESYNC_VM_OPENTSDB_PORT:-14242}
services_dir=${RANGESYNC_SERVICES_DIR:-/tmp/rangesync-services}
apt_updated=0

say() { echo "services: $*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    say "need to install $* but not running as root; install it, or point RANGESYNC_PG_URL / RANGESYNC_MYSQL_URL at a server"
    return 1
  fi
  if [ $apt_updated = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for NAME SECONDS CMD...
  local name=$1 seconds=$2; shift 2
  for _ in $(seq "$((seconds * 5))"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  say "$name did not answer within ${seconds}s"
  return 1
}

pg_ready() { psql "host=127.0.0.1 port=$pg_port user=postgres dbname=postgres connect_timeout=2" -Atqc 'select 1' ; }

ensure_postgres() {
  if command -v psql >/dev/null && pg_ready >/dev/null 2>&1; then return 0; fi
  command -v pg_ctlcluster >/dev/null || { say "installing postgresql"; apt_install postgresql; }
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    pg_createcluster "$version" main >/dev/null
  fi
  local hba=/etc/postgresql/$version/main/pg_hba.conf
  # Tests connect over TCP as postgres without a password: trust loopback only.
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  wait_for PostgreSQL 30 pg_ready
}

# One role, rs_test_pw, must give its password even on a trust-all server:
# the wrong-password test needs a server that checks one. Its line goes
# first in pg_hba.conf; no other user's access changes.
ensure_postgres_password_role() {
  local hba
  hba=$(psql "host=127.0.0.1 port=$pg_port user=postgres dbname=postgres" -Atqc 'SHOW hba_file')
  if ! grep -qE '^host\s+all\s+rs_test_pw\s' "$hba"; then
    say "PostgreSQL: role rs_test_pw logs in with a password (for the wrong-password test)"
    sed -i '1i host all rs_test_pw 127.0.0.1/32 scram-sha-256' "$hba"
    psql "host=127.0.0.1 port=$pg_port user=postgres dbname=postgres" -Atqc 'SELECT pg_reload_conf()' >/dev/null
  fi
}

my_ready() { mariadb --protocol=tcp -h 127.0.0.1 -P "$my_port" -uroot -e 'select 1' ; }

ensure_mariadb() {
  if command -v mariadb >/dev/null && my_ready >/dev/null 2>&1; then return 0; fi
  command -v mariadbd >/dev/null || { say "installing mariadb-server"; apt_install mariadb-server; }
  if ! mariadb-admin ping >/dev/null 2>&1; then
    say "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    wait_for MariaDB 60 mariadb-admin ping
  fi
  # A fresh Debian install lets root in by unix socket only; the tests log in
  # over TCP on loopback without a password.
  if ! my_ready >/dev/null 2>&1; then
    mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''); \
      CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;"
  fi
  wait_for MariaDB 30 my_ready
}

http_ok() { curl -fsS --max-time 2 -o /dev/null "$1"; }

ensure_influxdb() {
  if http_ok "http://127.0.0.1:$influx_port/ping"; then return 0; fi
  command -v influxd >/dev/null || { say "installing influxdb"; apt_install influxdb; }
  local dir=$services_dir/influxdb
  mkdir -p "$dir"
  # The packaged defaults, with every directory and port moved: loopback,
  # no usage reporting, no self-monitoring database, no query log noise.
  cat >"$dir/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$((influx_port + 2))"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$influx_port"
  log-enabled = false
[continuous_queries]
  enabled = false
CONF
  say "starting InfluxDB $(influxd version 2>/dev/null | awk '{print $2}') on 127.0.0.1:$influx_port"
  nohup influxd -config "$dir/influxdb.conf" >"$dir/influxd.log" 2>&1 &
  wait_for InfluxDB 30 http_ok "http://127.0.0.1:$influx_port/ping"
}

ensure_victoriametrics() {
  if http_ok "http://127.0.0.1:$vm_port/health"; then
    # One started by an older script lacks deduplication: restarted.
    if curl -fsS "http://127.0.0.1:$vm_port/flags" | grep -q dedup.minScrapeInterval; then return 0; fi
    say "restarting VictoriaMetrics with -dedup.minScrapeInterval=1ms"
    pkill -f "httpListenAddr=127.0.0.1:$vm_port" || true
    sleep 1
  fi
  command -v victoria-metrics >/dev/null || { say "installing victoria-metrics"; apt_install victoria-metrics; }
  local dir=$services_dir/victoria-metrics
  mkdir -p "$dir"
  say "starting VictoriaMetrics on 127.0.0.1:$vm_port (OpenTSDB HTTP on 127.0.0.1:$vm_otsdb_port)"
  # -search.latencyOffset=0: points are queryable as soon as written (the
  # tests read back what they just wrote). -retentionPeriod=100y keeps
  # test points from the 1970s and 2000s. -dedup.minScrapeInterval=1ms
  # keeps one sample per series and millisecond, so a sample written twice
  # is one sample (docs/timeseries.md: what a VictoriaMetrics target needs).
  nohup victoria-metrics -storageDataPath="$dir/data" -httpListenAddr="127.0.0.1:$vm_port" \
    -opentsdbHTTPListenAddr="127.0.0.1:$vm_otsdb_port" -retentionPeriod=100y -dedup.minScrapeInterval=1ms \
    -search.latencyOffset=0 -search.disableCache -loggerLevel=ERROR >"$dir/victoria-metrics.log" 2>&1 &
  wait_for VictoriaMetrics 30 http_ok "http://127.0.0.1:$vm_port/health"
}

command -v curl >/dev/null || apt_install curl

if [ -z "${RANGESYNC_PG_URL:-}" ]; then ensure_postgres; ensure_postgres_password_role; fi
if [ -z "${RANGESYNC_MYSQL_URL:-}" ]; then ensure_mariadb; fi
if [ -z "${RANGESYNC_INFLUX_URL:-}" ]; then ensure_influxdb; fi
if [ -z "${RANGESYNC_VM_URL:-}" ]; then ensure_victoriametrics; fi
