#!/usr/bin/env bash
# Durable pings per second and latency of the ping API, on this machine.
#
# Builds the release binary, starts tocsin on a free loopback port with one
# check (data in a temporary folder, SQLite WAL, every commit synced), runs
# wrk against /ping/{key} for a bounded time (first on the fresh database,
# then again once it is warm), then asks the daemon how many pings it
# recorded: a ping is answered only after the transaction holding it is on
# disk, so every 2xx wrk counted must be there.
#
#   benches/pings.sh                      GET pings, 64 connections, 10 s + 10 s
#   DURATION=30s CONNECTIONS=128 benches/pings.sh
#   BODY_BYTES=1000 benches/pings.sh      POST a 1 kB body with every ping
#   CHECKS=10000 benches/pings.sh         10 000 checks, pinged round-robin
#   DATABASE=postgres://… benches/pings.sh  the state in that (empty) PostgreSQL
#                                         database instead of SQLite
#
# Needs wrk (Debian package `wrk`; installed with apt-get when missing) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
BODY_BYTES=${BODY_BYTES:-0}
CHECKS=${CHECKS:-1}

if ! command -v wrk >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi

# TOCSIN_BIN=path: measure another build instead (to compare two versions).
if [ -n "${TOCSIN_BIN:-}" ]; then
  bin=$TOCSIN_BIN
else
  cargo build --release --quiet
  bin=target/release/tocsin
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-bench.XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
[ -n "${KEEP_LOG:-}" ] && trap 'cp "$dir/log" "$KEEP_LOG"; cleanup' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
mkdir -p "$dir/rules"
{
  echo "heartbeats:"
  if [ "$CHECKS" = 1 ]; then
    echo "  - {name: bench, every: 1h, grace: 1h}"
  else
    for i in $(seq 0 $((CHECKS - 1))); do printf '  - {name: bench-%05d, every: 1h, grace: 1h}\n' "$i"; done
  fi
  cat <<YAML
groups:
  - name: bench
    interval: 1s
    rules:
      - alert: BenchMissing
        heartbeat: {checks: "*", condition: missing}
        severity: error
YAML
} > "$dir/rules/bench.yaml"
cat > "$dir/tocsin.yaml" <<YAML
listen: 127.0.0.1:$port
rules: [rules/]
data_dir: data
YAML
if [ -n "${DATABASE:-}" ]; then echo "database: \"$DATABASE\"" >>"$dir/tocsin.yaml"; fi
RUST_LOG=${RUST_LOG:-warn} "$bin" -c "$dir/tocsin.yaml" run >"$dir/log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
# Every check's key, one a line: wrk pings them round-robin.
curl -sf "$base/api/v1/heartbeats" | python3 -c 'import json,sys; print("\n".join(c["key"] for c in json.load(sys.stdin)))' >"$dir/keys"
[ "$(wc -l <"$dir/keys")" = "$CHECKS" ] || { echo "FAIL: expected $CHECKS checks, tocsin has $(wc -l <"$dir/keys")" >&2; exit 1; }
export KEYS_FILE=$dir/keys
total_pings() { curl -sf "$base/api/v1/heartbeats" | python3 -c 'import json,sys; print(sum(c["pings"] for c in json.load(sys.stdin)))'; }

# One wrk run: prints its figures; checks every answered ping was recorded.
recorded_before=0
measure() { # LABEL DURATION
  local label=$1 duration=$2 out summary stored cpu0 cpu1 wal
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency -s benches/pings.lua "$base")
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  summary=$(echo "$out" | grep '^SUMMARY')
  stored=$(total_pings)
  wal=$(stat -c %s "$dir/data/tocsin.db-wal" 2>/dev/null || echo 0)
  python3 - "$label" "$summary" "$((stored - recorded_before))" "$((cpu1 - cpu0))" "$(getconf CLK_TCK)" "$wal" <<'PY'
import sys
label = sys.argv[1]
f = dict(kv.split("=") for kv in sys.argv[2].split()[1:])
stored, ticks, hz, wal = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
req, secs = int(f["requests"]), int(f["duration_us"]) / 1e6
ok = req - int(f["non2xx"])
print(f"{label}: durable pings/s: {ok / secs:.0f}   p50 {int(f['p50_us'])/1000:.2f} ms   "
      f"p90 {int(f['p90_us'])/1000:.2f} ms   p99 {int(f['p99_us'])/1000:.2f} ms   max {int(f['max_us'])/1000:.1f} ms")
print(f"{label}: answered 2xx: {ok}, non-2xx: {f['non2xx']}, socket errors: {f['socket_errors']}; "
      f"recorded by tocsin: {stored}; tocsin CPU: {ticks / hz:.1f} s ({ticks / hz / secs:.2f} cores); "
      f"WAL file {wal / 2**20:.1f} MiB")
if stored < ok:
    sys.exit(f"FAIL: {ok - stored} answered pings are not recorded")
PY
  recorded_before=$stored
}

echo "wrk: $CONNECTIONS connections, $THREADS thread(s), $CHECKS check(s), body $BODY_BYTES bytes; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
# A fresh database grows its WAL file while it takes the load (each sync
# then also writes file metadata); a running daemon reuses the file.
measure "cold ($WARMUP, fresh database)" "$WARMUP"
measure "warm ($DURATION)" "$DURATION"
