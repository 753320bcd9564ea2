-- wrk script for scripts/bench-bridge.sh: POST pre-generated, pre-signed, unique X deliveries.
-- Usage: wrk ... -s scripts/bench-bridge.lua URL -- BODIES_FILE THREADS [DELAY_MS]
-- DELAY_MS > 0: each connection pauses that long before each request (paced load instead of flat out).
-- BODIES_FILE: one delivery per line, "<x-twitter-webhooks-signature>\t<JSON body>"; thread i takes lines i, i+n, ...
local threads_made = 0

function setup(thread)
  thread:set("id", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  items = {}
  next_item = 0
  local nthreads = tonumber(args[2])
  pause = tonumber(args[3] or "0")
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local tab = line:find("\t", 1, true)
      items[#items + 1] = wrk.format("POST", nil,
        {["Content-Type"] = "application/json", ["x-twitter-webhooks-signature"] = line:sub(1, tab - 1)},
        line:sub(tab + 1))
    end
    i = i + 1
  end
end

function delay()
  return pause
end

function request()
  next_item = next_item + 1
  if next_item > #items then
    next_item = 1  -- wrapped: repeats are duplicates, which the bridge acknowledges and drops
  end
  return items[next_item]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
