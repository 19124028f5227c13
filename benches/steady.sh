#!/usr/bin/env bash
# Steady state: the CPU one evaluation of one rule costs while 10 000 of
# its alerts keep firing and nothing changes (issue 18's "steady state").
# Starts a Prometheus + Pushgateway with scripts/testenv.sh in a temporary
# folder, pushes 10 000 series, runs the release build with one rule every
# second whose message shows the value, waits until every alert fires, then
# reads the process's CPU (utime+stime) over 20 s (WINDOW) of evaluations.
#
#   benches/steady.sh                  (builds the release binary first)
#   TOCSIN_BIN=path benches/steady.sh  measure another build
#   SERIES=100000 benches/steady.sh
#   REPEAT=4h WINDOW=120 benches/steady.sh   with `routing: {repeat_interval: 4h}`,
#                                      measured over 120 s (repeats are looked for once a minute)
#   PERF_OUT=/tmp/steady.perf benches/steady.sh   profile the 20 s (perf, dwarf call graphs)
set -euo pipefail
cd "$(dirname "$0")/.."
series=${SERIES:-10000}
window=${WINDOW:-20}
if [ -n "${TOCSIN_BIN:-}" ]; then bin=$TOCSIN_BIN; else cargo build --release --quiet; bin=target/release/tocsin; fi
bin=$(realpath "$bin")
work=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-steady.XXXXXX")
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; scripts/testenv.sh stop "$work/env" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/env" "$work/tocsin/rules"
scripts/testenv.sh start "$work/env" >/dev/null
set -a; . "$work/env/env"; set +a
python3 - "$series" <<'PY'
import os, sys, urllib.request
n = int(sys.argv[1])
body = "# TYPE steady_value gauge\n" + "".join(f'steady_value{{i="{i}"}} {1 + i % 5}\n' for i in range(n))
req = urllib.request.Request(os.environ["TOCSIN_TEST_PUSHGATEWAY_URL"] + "/metrics/job/steady", data=body.encode(), method="PUT")
urllib.request.urlopen(req)
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/tocsin/tocsin.yaml" <<YAML
listen: 127.0.0.1:$port
data_dir: data
rules: [rules/]
prometheus: {url: '$TOCSIN_TEST_PROMETHEUS_URL'}
limits: {list_items: 1000000}
YAML
[ -n "${REPEAT:-}" ] && echo "routing: {repeat_interval: $REPEAT}" >> "$work/tocsin/tocsin.yaml"
cat > "$work/tocsin/rules/steady.yaml" <<'YAML'
groups:
  - name: steady
    interval: 1s
    rules:
      - alert: Steady
        query: steady_value
        when: '> 0'
        severity: warning
        message: "Connection count too high on {{ labels.i }}: {{ value }} connections"
        resolution: "Upgrade the plan"
YAML
(cd "$work/tocsin" && RUST_LOG=warn exec "$bin" -c tocsin.yaml run > tocsin.log 2>&1) &
pid=$!
firing() { curl -s "127.0.0.1:$port/api/v1/alerts?state=firing&limit=1000000" | python3 -c "import json,sys; print(len(json.load(sys.stdin)))" 2>/dev/null || echo 0; }
deadline=$((SECONDS + 120))
until [ "$(firing)" = "$series" ]; do
  [ $SECONDS -lt $deadline ] || { echo "steady: not every alert fires after 120 s" >&2; exit 1; }
  sleep 0.5
done
sleep 3
evals() { curl -s "127.0.0.1:$port/metrics" | awk '/^tocsin_rule_group_evaluations_total\{group="steady"\}/ {print $2}'; }
hz=$(getconf CLK_TCK)
e0=$(evals); t0=$(awk '{print $14+$15}' /proc/$pid/stat)
if [ -n "${PERF_OUT:-}" ]; then
  perf record -q -F 999 --call-graph dwarf -p "$pid" -o "$PERF_OUT" -- sleep "$window" >/dev/null 2>&1
else
  sleep "$window"
fi
e1=$(evals); t1=$(awk '{print $14+$15}' /proc/$pid/stat)
rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)
n=$((e1 - e0))
echo "steady: $series firing alerts, $n evaluations in $window s, $(( (t1 - t0) * 1000 / hz / n )) ms CPU per evaluation, RSS $rss MB"
