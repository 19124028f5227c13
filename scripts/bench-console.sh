#!/usr/bin/env bash
# How fast the operator console renders with 10 000 firing alerts: builds
# the release binary and runs benches/console.py, which writes
# bench/console.md (medians and maxima per page).
#
#   scripts/bench-console.sh
#   ALERTS=100000 TRIALS=5 OUT=/tmp/c.md scripts/bench-console.sh
#   TOCSIN_BIN=path scripts/bench-console.sh   measure another build
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${TOCSIN_BIN:-}" ]; then
  bin=$TOCSIN_BIN
else
  cargo build --release --quiet
  bin=${CARGO_TARGET_DIR:-target}/release/tocsin
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-bench-console.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 benches/console.py "$work" "$bin" "${OUT:-bench/console.md}"
