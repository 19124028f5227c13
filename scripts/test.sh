#!/usr/bin/env bash
# The whole test suite against real servers: installs what is missing,
# starts one Prometheus + Pushgateway + SMTP server for the run, runs
# `cargo test`, stops them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/testenv.sh install
dir=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-testenv.XXXXXX")
trap 'scripts/testenv.sh stop "$dir"; rm -rf "$dir"' EXIT
scripts/testenv.sh start "$dir" $$
set -a; . "$dir/env"; set +a
echo "test servers: Prometheus $TOCSIN_TEST_PROMETHEUS_URL, Pushgateway $TOCSIN_TEST_PUSHGATEWAY_URL, SMTP $TOCSIN_TEST_SMTP_ADDR"

cargo test --all-targets --no-fail-fast "$@"
