#!/usr/bin/env bash
# Installs and runs the real servers the integration tests talk to:
# Prometheus and the Pushgateway, and an SMTP server that stores every mail
# it gets in a maildir (aiosmtpd) -- Debian packages, on free loopback ports,
# in a temporary folder, without systemd. Also installs Chromium and
# ChromeDriver, which render the status page and drive the console in tests, amtool (prometheus-alertmanager), which drives
# tocsin's Alertmanager API in tests, faketime (libfaketime steps the wall
# clock under the daemon in tests/clock_steps.rs), and makes a Python venv
# with the real Healthchecks client (`healthchecks-io` from PyPI) for the API test,
# and runs a PostgreSQL server (Debian's `postgresql`, 15 or later) for the
# store's PostgreSQL backend.
#
#   scripts/testenv.sh install                 install the packages if missing
#   scripts/testenv.sh start DIR [WATCH_PID]   start Pushgateway + Prometheus + SMTP + PostgreSQL; write DIR/env
#   scripts/testenv.sh smtp DIR [WATCH_PID]    start only the SMTP server; write DIR/env
#   scripts/testenv.sh postgres DIR [WATCH_PID]
#                                              start only PostgreSQL; write DIR/env
#   scripts/testenv.sh hcvenv DIR              make the Healthchecks client venv if missing; write DIR/env
#   scripts/testenv.sh prometheus DIR PUSHGW   start one more Prometheus scraping PUSHGW
#   scripts/testenv.sh prometheus DIR PUSHGW AM RULES
#                                              ... that evaluates RULES (a file or a glob) and
#                                              sends its alerts to the Alertmanager API at AM
#                                              (host:port; "" sends them nowhere)
#   scripts/testenv.sh stop DIR                stop what DIR/*.pid names
#
# DIR/env holds TOCSIN_TEST_PROMETHEUS_URL, TOCSIN_TEST_PUSHGATEWAY_URL,
# TOCSIN_TEST_SMTP_ADDR (host:port) and TOCSIN_TEST_MAILDIR (one file per
# mail under new/), and TOCSIN_TEST_HC_PYTHON (the venv's python, which
# imports healthchecks_io). The venv lives in $TOCSIN_TEST_VENV (default
# ~/.cache/tocsin-test-venv) and is made once.
#
# PostgreSQL: a fresh cluster in DIR/pg/data (initdb, superuser `tocsin`,
# trust for local and loopback connections), listening on 127.0.0.1 only, its
# socket in DIR/pg/sock, fsync on, max_connections 300, shared_buffers 32MB;
# its settings are in DIR/pg/data/postgresql.conf, so a pg_ctl restart keeps
# them. PostgreSQL does not run as root: run as root, the script runs it as
# Debian's `postgres` user (DIR must be reachable by it: DIR gets o+x). DIR/env
# then also holds
#   TOCSIN_TEST_POSTGRES_URL   postgres://tocsin@127.0.0.1:PORT/postgres (make a
#                              database per test with CREATE DATABASE through it)
#   TOCSIN_TEST_POSTGRES_BIN   the server's programs (/usr/lib/postgresql/VER/bin:
#                              pg_ctl, psql, ...)
#   TOCSIN_TEST_POSTGRES_DATA  its data folder (pg_ctl -D)
#   TOCSIN_TEST_POSTGRES_LOG   its log (pg_ctl -l, when starting it again)
#   TOCSIN_TEST_POSTGRES_USER  the user it runs as, whom pg_ctl must run as
#                              (`runuser -u postgres -- pg_ctl ...`): `postgres`
#                              when the script ran as root, empty otherwise
# `stop` shuts it down cleanly (fast shutdown: SIGINT to the postmaster named
# by DIR/pg/data/postmaster.pid, so also one that a test restarted).
#
# With WATCH_PID, the servers stop by themselves when that process exits.
set -euo pipefail

need() { command -v "$1" >/dev/null 2>&1; }

# Debian's python3-aiosmtpd is importable by the system python only (a pyenv
# python3 earlier on PATH does not see it).
SMTP_PYTHON=/usr/bin/python3

have_aiosmtpd() { [ -x "$SMTP_PYTHON" ] && "$SMTP_PYTHON" -c 'import aiosmtpd' >/dev/null 2>&1; }

# The Healthchecks client, pinned, in a venv of its own (made with the
# system python, which Debian's python3-venv equips with pip).
HC_VENV=${TOCSIN_TEST_VENV:-${HOME:-/tmp}/.cache/tocsin-test-venv}
HC_CLIENT="healthchecks-io==0.4.4"
HC_PYTHON="$HC_VENV/bin/python"

have_hc_venv() { [ -x "$HC_PYTHON" ] && "$HC_PYTHON" -c 'import healthchecks_io' >/dev/null 2>&1; }

hc_venv() {
  if have_hc_venv; then return 0; fi
  local base=python3
  if [ -x /usr/bin/python3 ]; then base=/usr/bin/python3; fi
  if ! "$base" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    echo "testenv: installing python3-venv (apt-get)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  echo "testenv: making $HC_VENV with $HC_CLIENT (pip)" >&2
  rm -rf "$HC_VENV"
  mkdir -p "$(dirname "$HC_VENV")"
  "$base" -m venv "$HC_VENV"
  "$HC_PYTHON" -m pip install -q --disable-pip-version-check "$HC_CLIENT"
  have_hc_venv || { echo "testenv: $HC_PYTHON cannot import healthchecks_io" >&2; return 1; }
}

# The newest PostgreSQL (15 or later) of Debian's layout,
# /usr/lib/postgresql/VER/bin: prints that folder, or fails.
pg_bin() {
  local d ver best="" best_ver=0
  for d in /usr/lib/postgresql/*/bin; do
    ver=${d#/usr/lib/postgresql/}; ver=${ver%/bin}
    case "$ver" in ''|*[!0-9]*) continue ;; esac
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/pg_ctl" ] || continue
    if [ "$ver" -ge 15 ] && [ "$ver" -gt "$best_ver" ]; then best=$d; best_ver=$ver; fi
  done
  [ -n "$best" ] && echo "$best"
}

apt_install() { # PACKAGE...
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "testenv: installing $* (apt-get)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_postgres() { pg_bin >/dev/null; }

check_postgres() {
  have_postgres || { echo "testenv: no PostgreSQL 15 or later in /usr/lib/postgresql/*/bin (Debian package postgresql)" >&2; return 1; }
}

install() {
  local pkgs=()
  if ! { need prometheus && need prometheus-pushgateway && need amtool && need curl && need chromium \
    && need chromedriver && have_aiosmtpd && need faketime; }; then
    pkgs+=(prometheus prometheus-pushgateway prometheus-alertmanager python3-aiosmtpd python3-venv curl chromium chromium-driver faketime)
  fi
  if ! have_postgres; then pkgs+=(postgresql); fi
  if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
  check_postgres
  hc_venv
}

install_postgres() {
  if ! have_postgres; then apt_install postgresql; fi
  check_postgres
}

wait_tcp() { # PORT SECONDS
  local deadline=$((SECONDS + $2))
  until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then echo "testenv: nothing listens on 127.0.0.1:$1 after $2 s" >&2; return 1; fi
    sleep 0.1
  done
}

# start_smtp DIR -> prints the env lines. The maildir must not exist beforehand
# (aiosmtpd creates it with cur/new/tmp; an empty folder makes every DATA fail).
start_smtp() {
  local dir=$1 port
  port=$(free_port)
  rm -rf "$dir/maildir"
  "$SMTP_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$dir/maildir" \
    >"$dir/smtp.log" 2>&1 &
  echo $! >"$dir/smtp.pid"
  wait_tcp "$port" 30
  echo "TOCSIN_TEST_SMTP_ADDR=127.0.0.1:$port"
  echo "TOCSIN_TEST_MAILDIR=$dir/maildir"
}

watch_owner() { # DIR PID
  local dir=$1 watch=$2
  if [ -n "$watch" ]; then
    # Stop the servers when the process that asked for them is gone.
    ( while kill -0 "$watch" 2>/dev/null; do sleep 1; done; stop "$dir" ) >/dev/null 2>&1 &
    disown || true
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # URL SECONDS
  local deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null "$1"; do
    if [ $SECONDS -ge $deadline ]; then echo "testenv: $1 did not answer within $2 s" >&2; return 1; fi
    sleep 0.1
  done
}

# start_prometheus DIR NAME PUSHGW_ADDR -> prints the URL
start_prometheus() {
  local dir=$1 name=$2 pushgw=$3 alertmanager=${4:-} rules=${5:-} port
  port=$(free_port)
  mkdir -p "$dir/$name"
  cat > "$dir/$name/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{targets: ["$pushgw"]}]
YAML
  # Optional: an Alertmanager (tocsin) to send the alerts of the rule files to.
  if [ -n "$alertmanager" ]; then
    cat >> "$dir/$name/prometheus.yml" <<YAML
alerting:
  alertmanagers:
    - api_version: v2
      static_configs: [{targets: ["$alertmanager"]}]
YAML
  fi
  # Optional: rule files to evaluate (a path or a glob).
  if [ -n "$rules" ]; then
    echo "rule_files: [\"$rules\"]" >> "$dir/$name/prometheus.yml"
  fi
  # Optional (environment): TESTENV_PROMETHEUS_EXTERNAL_PATH=/p makes its
  # external URL http://127.0.0.1:PORT/p (API still at /); without it
  # Prometheus's own default (http://HOSTNAME:PORT).
  local external=()
  if [ -n "${TESTENV_PROMETHEUS_EXTERNAL_PATH:-}" ]; then
    external=(--web.external-url="http://127.0.0.1:$port$TESTENV_PROMETHEUS_EXTERNAL_PATH" --web.route-prefix=/)
  fi
  prometheus --config.file="$dir/$name/prometheus.yml" --storage.tsdb.path="$dir/$name/data" \
    --web.listen-address="127.0.0.1:$port" --web.enable-lifecycle --web.enable-remote-write-receiver \
    "${external[@]}" >"$dir/$name/log" 2>&1 &
  echo $! >"$dir/$name.pid"
  wait_http "http://127.0.0.1:$port/-/ready" 30
  # The first scrape lands seconds after start: wait for it, so tests need not.
  local deadline=$((SECONDS + 30))
  until curl -s "http://127.0.0.1:$port/api/v1/query?query=up" | grep -q '"value"'; do
    if [ $SECONDS -ge $deadline ]; then echo "testenv: Prometheus never scraped the Pushgateway" >&2; return 1; fi
    sleep 0.2
  done
  echo "http://127.0.0.1:$port"
}

# PostgreSQL, run as PG_USER (empty: as whoever runs this script). Root may
# not run it, so root runs it as Debian's `postgres` user.
PG_USER=""
if [ "$(id -u)" = 0 ]; then PG_USER=postgres; fi

as_pg() { # COMMAND... (in DIR/pg: the caller's folder may be closed to PG_USER)
  if [ -n "$PG_USER" ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

pg_fail() { # DIR MESSAGE
  echo "testenv: PostgreSQL: $2" >&2
  local f
  for f in "$1/pg/initdb.log" "$1/pg/log"; do
    if [ -s "$f" ]; then echo "--- last lines of $f:" >&2; tail -n 30 "$f" >&2; fi
  done
  return 1
}

# start_postgres DIR -> prints the env lines. A fresh cluster in DIR/pg every
# time (one left running there is stopped first).
start_postgres() {
  local dir bin port pg
  dir=$(cd "$1" && pwd) || return 1
  pg=$dir/pg
  bin=$(pg_bin) || { check_postgres; return 1; }
  stop_postgres "$dir"
  rm -rf "$pg"
  mkdir -p "$pg/sock" || return 1
  if [ -n "$PG_USER" ]; then
    getent passwd "$PG_USER" >/dev/null \
      || { echo "testenv: PostgreSQL does not run as root, and there is no user $PG_USER to run it as" >&2; return 1; }
    chown -R "$PG_USER:" "$pg" || return 1
    # PG_USER must reach DIR/pg: mktemp -d makes DIR 0700.
    runuser -u "$PG_USER" -- test -w "$pg" 2>/dev/null || chmod o+x "$dir"
    runuser -u "$PG_USER" -- test -w "$pg" 2>/dev/null \
      || { echo "testenv: user $PG_USER cannot write $pg (a folder above it is closed to others); use a DIR under /tmp" >&2; return 1; }
  fi
  ( cd "$pg" && as_pg "$bin/initdb" -D "$pg/data" -U tocsin --auth=trust -E UTF8 --locale=C \
      --no-instructions ) >"$pg/initdb.log" 2>&1 \
    || { pg_fail "$dir" "initdb failed"; return 1; }
  port=$(free_port) || return 1
  # A socket path longer than the kernel's 107 bytes cannot be bound: then
  # no socket (pg_ctl and clients use TCP).
  local sock=$pg/sock
  if [ $(( ${#sock} + 18 )) -gt 107 ]; then sock=""; fi
  sock=${sock//\'/\'\'}
  cat >>"$pg/data/postgresql.conf" <<CONF

# scripts/testenv.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 300
shared_buffers = 32MB
# Durability is what the tests look at: commits are flushed to disk.
fsync = on
synchronous_commit = on
full_page_writes = on
CONF
  # pg_ctl waits (-w) until the server takes connections, at most -t seconds,
  # and gives up at once if the server exits.
  ( cd "$pg" && as_pg "$bin/pg_ctl" -D "$pg/data" -l "$pg/log" -w -t 60 -s start ) >>"$pg/initdb.log" 2>&1 \
    || { pg_fail "$dir" "the server on 127.0.0.1:$port did not come up (it exited, or was not ready within 60 s)"; stop_postgres "$dir"; return 1; }
  head -n 1 "$pg/data/postmaster.pid" >"$dir/postgres.pid" \
    || { pg_fail "$dir" "no $pg/data/postmaster.pid"; return 1; }
  wait_tcp "$port" 10 || { pg_fail "$dir" "started, but nothing listens on 127.0.0.1:$port"; stop_postgres "$dir"; return 1; }
  echo "TOCSIN_TEST_POSTGRES_URL=postgres://tocsin@127.0.0.1:$port/postgres"
  echo "TOCSIN_TEST_POSTGRES_BIN=$bin"
  echo "TOCSIN_TEST_POSTGRES_DATA=$pg/data"
  echo "TOCSIN_TEST_POSTGRES_LOG=$pg/log"
  echo "TOCSIN_TEST_POSTGRES_USER=$PG_USER"
}

# is_postgres PID: that process is a live postgres (not a pid used again by
# something else since, nor a zombie that init has yet to reap).
is_postgres() {
  [ -n "$1" ] || return 1
  local stat comm
  read -r stat comm < <(ps -o stat=,comm= -p "$1" 2>/dev/null) || return 1
  [ "$comm" = postgres ] && [ "${stat#Z}" = "$stat" ]
}

# stop_postgres DIR: a fast shutdown (SIGINT: open sessions are ended, the
# server checkpoints and exits) of the server in DIR/pg/data -- the one named
# by postmaster.pid, which is also the one a test restarted with pg_ctl -- or
# else the one DIR/postgres.pid names. Waits for it to exit; nothing to do if
# it is gone.
stop_postgres() {
  local dir=$1 pid="" f
  for f in "$dir/pg/data/postmaster.pid" "$dir/postgres.pid"; do
    if [ -r "$f" ]; then
      pid=$(head -n 1 "$f" 2>/dev/null || true)
      if is_postgres "$pid"; then break; fi
      pid=""
    fi
  done
  rm -f "$dir/postgres.pid"
  [ -n "$pid" ] || return 0
  kill -INT "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + 30))
  while is_postgres "$pid"; do
    if [ $SECONDS -ge $deadline ]; then
      echo "testenv: PostgreSQL $pid did not shut down within 30 s; immediate shutdown" >&2
      kill -QUIT "$pid" 2>/dev/null || true
      sleep 2
      kill -KILL "$pid" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
}

start() {
  local dir=$1 watch=${2:-}
  mkdir -p "$dir"
  local pg_port
  pg_port=$(free_port)
  # No persistence file: Debian's default would load groups pushed by earlier runs.
  prometheus-pushgateway --web.listen-address="127.0.0.1:$pg_port" --persistence.file="" >"$dir/pushgateway.log" 2>&1 &
  echo $! >"$dir/pushgateway.pid"
  wait_http "http://127.0.0.1:$pg_port/-/ready" 30
  local prom_url
  prom_url=$(start_prometheus "$dir" prometheus "127.0.0.1:$pg_port")
  local smtp_env
  smtp_env=$(start_smtp "$dir")
  local postgres_env
  postgres_env=$(start_postgres "$dir")
  {
    echo "TOCSIN_TEST_PROMETHEUS_URL=$prom_url"
    echo "TOCSIN_TEST_PUSHGATEWAY_URL=http://127.0.0.1:$pg_port"
    echo "$smtp_env"
    echo "TOCSIN_TEST_HC_PYTHON=$HC_PYTHON"
    echo "$postgres_env"
  } >"$dir/env.tmp"
  mv "$dir/env.tmp" "$dir/env"
  watch_owner "$dir" "$watch"
}

smtp_only() {
  local dir=$1 watch=${2:-}
  mkdir -p "$dir"
  start_smtp "$dir" >"$dir/env.tmp"
  mv "$dir/env.tmp" "$dir/env"
  watch_owner "$dir" "$watch"
}

postgres_only() {
  local dir=$1 watch=${2:-}
  mkdir -p "$dir"
  start_postgres "$dir" >"$dir/env.tmp"
  mv "$dir/env.tmp" "$dir/env"
  watch_owner "$dir" "$watch"
}

hcvenv_only() {
  local dir=$1
  mkdir -p "$dir"
  hc_venv
  echo "TOCSIN_TEST_HC_PYTHON=$HC_PYTHON" >"$dir/env.tmp"
  mv "$dir/env.tmp" "$dir/env"
}

stop() {
  local dir=$1 f
  for f in "$dir"/*.pid; do
    [ -e "$f" ] || continue
    # PostgreSQL takes SIGTERM as "wait for every session to end": see stop_postgres.
    if [ "$f" = "$dir/postgres.pid" ]; then stop_postgres "$dir"; continue; fi
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

cmd=${1:-}
case "$cmd" in
  install) install ;;
  start) install; start "$2" "${3:-}" ;;
  smtp) install; smtp_only "$2" "${3:-}" ;;
  postgres) install_postgres; postgres_only "$2" "${3:-}" ;;
  hcvenv) hcvenv_only "$2" ;;
  prometheus) start_prometheus "$2" "prometheus-$$-$RANDOM" "$3" "${4:-}" "${5:-}" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 install | start DIR [WATCH_PID] | smtp DIR [WATCH_PID] | postgres DIR [WATCH_PID] | hcvenv DIR | prometheus DIR PUSHGW_ADDR [ALERTMANAGER_ADDR RULE_FILE] | stop DIR" >&2; exit 2 ;;
esac
