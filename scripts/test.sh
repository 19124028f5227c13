#!/usr/bin/env bash
# The whole test suite against real servers: installs what is missing,
# starts one Prometheus + Pushgateway + SMTP server + PostgreSQL for the
# run, runs `cargo test` (the store's tests run on SQLite and PostgreSQL
# both), then the daemon's integration tests that exercise the store once
# more with every daemon on PostgreSQL (TOCSIN_TEST_DATABASE=postgres),
# stops them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/testenv.sh install
dir=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-testenv.XXXXXX")
trap 'scripts/testenv.sh stop "$dir"; rm -rf "$dir"' EXIT
scripts/testenv.sh start "$dir" $$
set -a; . "$dir/env"; set +a
echo "test servers: Prometheus $TOCSIN_TEST_PROMETHEUS_URL, Pushgateway $TOCSIN_TEST_PUSHGATEWAY_URL, SMTP $TOCSIN_TEST_SMTP_ADDR, PostgreSQL $TOCSIN_TEST_POSTGRES_URL"

status=0
cargo test --all-targets --no-fail-fast "$@" || status=$?

# The second pass: the same tests, each daemon's state in a fresh
# PostgreSQL database (tests that read the SQLite file itself stay out).
if [ $# -eq 0 ]; then
  echo "second pass: the daemon's store-bound integration tests on PostgreSQL"
  pg_tests=(resilience heartbeats external repeat alertmanager_api grouping silences
            healthchecks_api reload inhibition routing job_events recording_rules
            severity_pairs kill9 storm)
  TOCSIN_TEST_DATABASE=postgres cargo test --no-fail-fast "${pg_tests[@]/#/--test=}" || status=$?
fi
exit $status
