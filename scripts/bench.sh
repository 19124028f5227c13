#!/usr/bin/env bash
# tocsin's benchmark suite, side by side with Prometheus and Alertmanager, in
# one command. Installs what it needs with apt-get when missing (prometheus,
# prometheus-alertmanager, wrk, curl), builds the release binary, starts
# everything on free loopback ports in a temporary folder, runs the six
# measurements (rules at scale, pings, alert storm, footprint, detection
# latency; several runs each, medians; and the scaling curve: 100 000 rules,
# 1 000 000 heartbeat checks) and writes bench/results.md.
#
#   scripts/bench.sh              the full suite (about 23 minutes on 2 cores)
#   QUICK=1 scripts/bench.sh      fewer runs and cycles (about 8 minutes)
#   OUT=/tmp/r.md scripts/bench.sh    write the table elsewhere
#   TOCSIN_BIN=path scripts/bench.sh  measure another build
#
# Fails (exit 1) when a part is missing or anything was lost: an answered ping
# not recorded, an alert not delivered, or batched evaluation firing other
# alerts than per-rule evaluation and Prometheus itself.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need prometheus || ! need prometheus-alertmanager || ! need prometheus-node-exporter || ! need wrk || ! need curl || ! need python3 || ! python3 -c 'import yaml' 2>/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "bench: installing prometheus, prometheus-alertmanager, prometheus-node-exporter, wrk, curl, python3-yaml (apt-get)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    prometheus prometheus-alertmanager prometheus-node-exporter wrk curl python3 python3-yaml >/dev/null
fi

if [ -n "${TOCSIN_BIN:-}" ]; then
  bin=$TOCSIN_BIN
else
  cargo build --release --quiet
  bin=${CARGO_TARGET_DIR:-target}/release/tocsin
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-bench.XXXXXX")
cleanup() { [ -n "${KEEP:-}" ] && echo "bench: kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
out=${OUT:-bench/results.md}
mkdir -p "$(dirname "$out")"
python3 benches/suite.py "$work" "$bin" "$out"
