#!/usr/bin/env bash
# Installs and runs the real servers the integration tests talk to:
# Prometheus and the Pushgateway, and an SMTP server that stores every mail
# it gets in a maildir (aiosmtpd) -- Debian packages, on free loopback ports,
# in a temporary folder, without systemd. Also installs Chromium and
# ChromeDriver, which render the status page and drive the console in tests, amtool (prometheus-alertmanager), which drives
# tocsin's Alertmanager API in tests, faketime (libfaketime steps the wall
# clock under the daemon in tests/clock_steps.rs), and makes a Python venv
# with the real Healthchecks client (`healthchecks-io` from PyPI) for the API test.
#
#   scripts/testenv.sh install                 install the packages if missing
#   scripts/testenv.sh start DIR [WATCH_PID]   start Pushgateway + Prometheus + SMTP; write DIR/env
#   scripts/testenv.sh smtp DIR [WATCH_PID]    start only the SMTP server; write DIR/env
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
# ~/.cache/tocsin-test-venv) and is made once. With WATCH_PID, the servers stop by themselves when that
# process exits.
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

install() {
  if ! { need prometheus && need prometheus-pushgateway && need amtool && need curl && need chromium \
    && need chromedriver && have_aiosmtpd && need faketime; }; then
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    echo "testenv: installing prometheus, prometheus-pushgateway, prometheus-alertmanager (amtool), python3-aiosmtpd, python3-venv, curl, chromium, chromium-driver, faketime (apt-get)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      prometheus prometheus-pushgateway prometheus-alertmanager python3-aiosmtpd python3-venv curl chromium chromium-driver faketime >/dev/null
  fi
  hc_venv
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
  {
    echo "TOCSIN_TEST_PROMETHEUS_URL=$prom_url"
    echo "TOCSIN_TEST_PUSHGATEWAY_URL=http://127.0.0.1:$pg_port"
    echo "$smtp_env"
    echo "TOCSIN_TEST_HC_PYTHON=$HC_PYTHON"
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
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

cmd=${1:-}
case "$cmd" in
  install) install ;;
  start) install; start "$2" "${3:-}" ;;
  smtp) install; smtp_only "$2" "${3:-}" ;;
  hcvenv) hcvenv_only "$2" ;;
  prometheus) start_prometheus "$2" "prometheus-$$-$RANDOM" "$3" "${4:-}" "${5:-}" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 install | start DIR [WATCH_PID] | smtp DIR [WATCH_PID] | hcvenv DIR | prometheus DIR PUSHGW_ADDR [ALERTMANAGER_ADDR RULE_FILE] | stop DIR" >&2; exit 2 ;;
esac
