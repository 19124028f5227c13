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

-- done(): the summary line, shared with the other wrk scripts.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")
