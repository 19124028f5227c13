#!/usr/bin/env python3
"""How fast the operator console renders with 10 000 alerts firing.

Starts the release build on a free loopback port in WORK (no Prometheus
needed: the alerts are posted to /api/v2/alerts, with an endsAt an hour
away), posts ALERTS alerts with realistic labels and messages, acknowledges
and silences a few, then times each page TRIALS times from a client on the
same machine (wall time of the whole request, keep-alive off) and writes
the medians and maxima to OUT (markdown). Fails (exit 1) if a page is not
200 or lacks what it must show.

    scripts/bench-console.sh            (builds, then runs this)
    console.py WORK TOCSIN_BIN OUT.md
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone

WORK, BIN, OUT = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
ALERTS = int(os.environ.get("ALERTS", "10000"))
TRIALS = int(os.environ.get("TRIALS", "20"))
TOKEN = "bench-token"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def request(url, body=None, method=None):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read()


def main():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    os.makedirs(os.path.join(WORK, "rules"), exist_ok=True)
    with open(os.path.join(WORK, "rules", "none.yaml"), "w") as f:
        f.write("heartbeats:\n" + "".join(
            f"  - {{name: backup-{i:03}, every: 1h, grace: 10m, labels: {{vault: v-{i % 20}}}}}\n" for i in range(200)
        ) + "groups: []\n")
    with open(os.path.join(WORK, "tocsin.yaml"), "w") as f:
        f.write(f"""listen: 127.0.0.1:{port}
rules: [rules/]
data_dir: data
api_token: {TOKEN}
limits: {{list_items: 200000, external_alerts: 200000}}
targets:
  - {{name: hook, type: webhook, url: "http://127.0.0.1:9/x", enabled: false}}
routing:
  default: [hook]
""")
    log = open(os.path.join(WORK, "tocsin.log"), "w")
    p = subprocess.Popen([BIN, "-c", "tocsin.yaml", "run"], cwd=WORK, stdout=log, stderr=subprocess.STDOUT,
                         env={**os.environ, "RUST_LOG": "warn"})
    try:
        deadline = time.time() + 30
        while True:
            try:
                request(base + "/healthz")
                break
            except OSError:
                if time.time() > deadline or p.poll() is not None:
                    raise SystemExit("tocsin did not start; see " + log.name)
                time.sleep(0.1)
        ends = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
        batch = []
        for i in range(ALERTS):
            batch.append({
                "labels": {"alertname": ["ConnectionCountHigh", "TrafficHigh", "CertExpiring", "AuthFailures"][i % 4],
                           "deployment": f"d{i:05}", "region": f"r{i % 7}",
                           "severity": "critical" if i % 10 == 0 else "warning"},
                "annotations": {"summary": f"Connection count too high on d{i:05}: 9000 connections (limit 8000)",
                                "description": "Upgrade the deployment's plan."},
                "endsAt": ends,
            })
            if len(batch) == 1000:
                request(base + "/api/v2/alerts", json.dumps(batch).encode())
                batch = []
        if batch:
            request(base + "/api/v2/alerts", json.dumps(batch).encode())
        deadline = time.time() + 60
        while True:
            _, body = request(base + "/api/v1/alerts?limit=1")
            n = len(json.loads(request(base + "/api/v1/alerts?state=firing&limit=100000")[1]))
            if n >= ALERTS:
                break
            if time.time() > deadline:
                raise SystemExit(f"only {n} of {ALERTS} alerts firing")
            time.sleep(0.5)
        views = json.loads(request(base + "/api/v1/alerts?limit=100000")[1])
        fp = views[len(views) // 2]["fingerprint"]
        request(base + "/api/v1/silences", json.dumps(
            {"matchers": ["region=r3"], "duration": "1h", "createdBy": "bench", "comment": "bench"}).encode())

        pages = [
            ("status page `/`", "/", b"tocsin"),
            ("alerts, first page", "/alerts", b"ConnectionCountHigh"),
            ("alerts, page 100", "/alerts?page=100", b"ConnectionCountHigh"),
            ("alerts, matcher filter", "/alerts?filter=region%3D%22r3%22", b"silenced by"),
            ("alerts, free text", "/alerts?q=d0999", b"d09990"),
            ("alerts, grouped by region", "/alerts?group=region", b"<h2>region=\"r0\""),
            ("one alert", f"/alert/{fp}", b"History"),
            ("heartbeats (200 checks)", "/checks", b"backup-000"),
            ("targets", "/targets", b"hook"),
            ("explain", "/explain?labels=alertname%3DX%0Aregion%3Dr3", b"explain-recipients"),
        ]
        rows = []
        worst = 0.0
        for name, path, want in pages:
            times = []
            size = 0
            for _ in range(TRIALS):
                t = time.perf_counter()
                status, body = request(base + path)
                times.append((time.perf_counter() - t) * 1000)
                size = len(body)
                if status != 200 or want not in body:
                    raise SystemExit(f"{path}: status {status}, {want!r} not in the page")
            med, mx = statistics.median(times), max(times)
            worst = max(worst, med)
            rows.append(f"| {name} | `{path[:40]}` | {med:.1f} | {mx:.1f} | {size // 1024} |")
            print(f"{name}: median {med:.1f} ms, max {mx:.1f} ms, {size} bytes", flush=True)
        rss = 0
        with open(f"/proc/{p.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) // 1024
        target = "PASS" if worst < 100 else "MISS"
        with open(OUT, "w") as f:
            f.write(f"""# Console rendering with {ALERTS} firing alerts

Measured by `scripts/bench-console.sh` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}, {os.cpu_count()} cores:
the release build with {ALERTS} alerts posted to `/api/v2/alerts`, 200
heartbeat checks, a silence over a seventh of the alerts; each page fetched
{TRIALS} times from a client on the same machine (whole request, new
connection each time). The daemon's RSS afterwards: {rss} MB.

| page | path | median ms | max ms | KiB |
|---|---|---|---|---|
""" + "\n".join(rows) + f"""

Target (issue 17): every page < 100 ms to render with 10 000 alerts —
**{target}** (slowest median {worst:.1f} ms).
""")
    finally:
        p.terminate()
        p.wait(timeout=10)


if __name__ == "__main__":
    main()
