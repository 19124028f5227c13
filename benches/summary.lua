-- The summary line benches/pings.sh and benches/suite.py parse from wrk:
-- requests, non-2xx answers, socket errors, latencies. Loaded by
-- pings.lua and checks.lua (from the folder they are in).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "SUMMARY requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
