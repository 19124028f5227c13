-- wrk script for benches/pings.sh: pings the checks whose keys KEYS_FILE
-- lists, round-robin; optional POST body; and a summary line the script
-- parses (requests, non-2xx answers, socket errors, latencies).
local keys = {}
for line in io.lines(os.getenv("KEYS_FILE")) do
  if line ~= "" then keys[#keys + 1] = "/ping/" .. line end
end
local next_key = math.random(#keys)
function request()
  next_key = next_key % #keys + 1
  return wrk.format(nil, keys[next_key])
end

local body_bytes = tonumber(os.getenv("BODY_BYTES") or "0")
if body_bytes > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("x", body_bytes)
  wrk.headers["Content-Type"] = "text/plain"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "SUMMARY requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
