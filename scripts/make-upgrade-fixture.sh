#!/usr/bin/env bash
# Writes tests/fixtures/upgrade/tocsin-<commit>.db: the database a previous
# release of tocsin leaves behind, for tests/upgrade.rs. It builds that
# release from git (default: the last commit before the fingerprint change),
# runs it against the test Prometheus with tests/fixtures/upgrade/rules/,
# lets its alerts fire and notify a local webhook, posts an external alert,
# stops it cleanly and keeps a checkpointed copy of its database.
#
#   scripts/make-upgrade-fixture.sh [COMMIT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
commit=${1:-1410f7b}
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; "$root/scripts/testenv.sh" stop "$work/env" >/dev/null 2>&1 || true; git -C "$root" worktree remove --force "$work/src" >/dev/null 2>&1 || true' EXIT

git -C "$root" worktree add -q --detach "$work/src" "$commit"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/upgrade-fixture}" \
  cargo build -q --manifest-path "$work/src/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target/upgrade-fixture}/debug/tocsin"

"$root/scripts/testenv.sh" start "$work/env" >/dev/null
set -a; . "$work/env/env"; set +a

cat > "$work/hook.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hook_port=$(port); api_port=$(port)
python3 "$work/hook.py" "$hook_port" & echo $! >"$work/hook.pid"

curl -fsS -X PUT --data-binary @- "$TOCSIN_TEST_PUSHGATEWAY_URL/metrics/job/t_upgrade" <<'M'
upgrade_fixture_value{kind="native"} 25
upgrade_fixture_value{kind="pending"} 15
upgrade_fixture_value{kind="prom"} 15
M

mkdir -p "$work/run/data"
cp -r "$root/tests/fixtures/upgrade/rules" "$work/run/rules"
cat > "$work/run/tocsin.yaml" <<YAML
listen: 127.0.0.1:$api_port
rules: [rules/]
data_dir: data
prometheus: {url: "$TOCSIN_TEST_PROMETHEUS_URL", timeout: 2s}
targets:
  - {name: hook, type: webhook, url: "http://127.0.0.1:$hook_port/"}
YAML
(cd "$work/run" && "$bin" run --config tocsin.yaml >"$work/tocsin.log" 2>&1) & echo $! >"$work/tocsin.pid"

api="http://127.0.0.1:$api_port"
for _ in $(seq 150); do curl -fsS "$api/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS -X POST -H 'content-type: application/json' "$api/api/v2/alerts" --data \
  '[{"labels":{"alertname":"UpgradePosted","severity":"critical","job":"etl"},"annotations":{"summary":"posted"},"endsAt":"2099-01-01T00:00:00Z","generatorURL":"http://scheduler/jobs/etl"}]' >/dev/null

# Three firing alerts notified (native, Prometheus-format, posted), one pending.
ready() {
  python3 - "$work/run/data/tocsin.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
firing = c.execute("SELECT count(*) FROM alerts WHERE state='firing'").fetchone()[0]
pending = c.execute("SELECT count(*) FROM alerts WHERE state='pending'").fetchone()[0]
sent = c.execute("SELECT count(DISTINCT fingerprint) FROM notifications WHERE status='sent'").fetchone()[0]
sys.exit(0 if (firing, pending, sent) == (3, 1, 3) else 1)
PY
}
for _ in $(seq 300); do ready && break; sleep 0.2; done
ready || { echo "make-upgrade-fixture: the old release never reached 3 firing, 1 pending, 3 notified" >&2; cat "$work/tocsin.log" >&2; exit 1; }

kill -TERM "$(cat "$work/tocsin.pid")"; wait "$(cat "$work/tocsin.pid")" 2>/dev/null || true
rm "$work/tocsin.pid"
out="$root/tests/fixtures/upgrade/tocsin-$commit.db"
rm -f "$out"
python3 - "$work/run/data/tocsin.db" "$out" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.execute("VACUUM INTO ?", (sys.argv[2],))
PY
echo "wrote $out (release $(git -C "$root" rev-parse --short "$commit"))"
