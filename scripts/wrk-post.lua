-- wrk script for `scripts/serve-load.sh`: POSTs the JSON body in $WRK_BODY with the bearer key
-- in $WRK_KEY, counts responses by status in every thread, and reports latency percentiles,
-- throughput and every status other than 200 at the end.

local body_file = assert(os.getenv("WRK_BODY"), "WRK_BODY: the request body file")
local f = assert(io.open(body_file, "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("WRK_KEY"), "WRK_KEY: an API key")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local by_status = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("requests %d in %.1f s: %.0f per second\n", summary.requests, seconds, summary.requests / seconds))
  io.write(string.format("latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  local socket_errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("socket errors %d\n", socket_errors))
  for status, n in pairs(by_status) do
    io.write(string.format("status %d: %d\n", status, n))
  end
end
