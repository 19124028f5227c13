-- wrk script for the scaling part of benches/suite.py: pings CHECKS checks
-- by slug, /ping/{PING_KEY}/{PREFIX}{i} with i zero-padded to 7 digits.
--   CREATE=1: i runs once through FIRST .. CHECKS-1 with ?create=1, so each
--             request creates its check (201); once all are asked for, the
--             remaining requests go to /healthz (nothing recorded) until wrk
--             is stopped (SIGINT) or its duration ends.
--   otherwise: round-robin over 0 .. CHECKS-1 from a random start.
-- One thread (-t1) keeps the order. Prints the summary line pings.lua prints.
local key = os.getenv("PING_KEY")
local prefix = os.getenv("PREFIX") or "bk-"
local checks = tonumber(os.getenv("CHECKS"))
local create = os.getenv("CREATE") == "1"
local i = tonumber(os.getenv("FIRST") or "0")
if not create then
  math.randomseed(os.time())
  i = math.random(checks) - 1
end

-- wrk calls request() once before the run to look at what it returns, and
-- never sends that one: it must not use up a check's number.
local looked_at = false

function request()
  if not looked_at then
    looked_at = true
    return wrk.format(nil, "/healthz")
  end
  if create then
    if i >= checks then
      return wrk.format(nil, "/healthz")
    end
    i = i + 1
    return wrk.format(nil, string.format("/ping/%s/%s%07d?create=1", key, prefix, i - 1))
  end
  i = (i + 1) % checks
  return wrk.format(nil, string.format("/ping/%s/%s%07d", key, prefix, i))
end

-- done(): the summary line, shared with the other wrk scripts.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")
