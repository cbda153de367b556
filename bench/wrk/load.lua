-- wrk script for every load of the benchmark, configured through environment variables.
--
-- BENCH_MODE       award: POST /api/leaderboard/award with {"user_id", "points": 1, "source"}
--                  rank:  GET /api/leaderboard/user/<user id>
--                  top:   GET /api/leaderboard?limit=100
-- BENCH_USERS      user ids are drawn uniformly from 1..BENCH_USERS (award and rank)
-- BENCH_THREAD_RATE  optional: requests per second per wrk thread. When set, each thread
--                  sends on a fixed schedule (one slot every 1/rate seconds) instead of
--                  sending the next request when the response arrives (see delay() below).
--
-- done() prints one line "BENCH_RESULT {json}" that bench/load.py parses.

local mode = os.getenv("BENCH_MODE") or "award"
local users = tonumber(os.getenv("BENCH_USERS") or "10000")
local thread_rate = tonumber(os.getenv("BENCH_THREAD_RATE") or "")

local requests = {}
local threads_created = 0

function setup(thread)
  threads_created = threads_created + 1
  thread:set("thread_number", threads_created)
end

function init(args)
  -- Seed per thread, so that the threads do not send the same user ids in the same order.
  math.randomseed(os.time() * 100 + thread_number)
  if mode == "top" then
    requests[1] = wrk.format("GET", "/api/leaderboard?limit=100")
    return
  end
  -- Format up to 10,000 distinct requests once; formatting per request would make the
  -- load generator, not the server, the limit.
  local count = math.min(users, 10000)
  for i = 1, count do
    local user_id = math.random(1, users)
    if mode == "rank" then
      requests[i] = wrk.format("GET", "/api/leaderboard/user/" .. user_id)
    else
      local body = string.format('{"user_id": %d, "points": 1, "source": "bench"}', user_id)
      requests[i] = wrk.format("POST", "/api/leaderboard/award", {["Content-Type"] = "application/json"}, body)
    end
  end
end

function request()
  return requests[math.random(1, #requests)]
end

if thread_rate then
  -- Open-loop pacing: every call takes the next send slot of this thread, and the
  -- connection waits until that slot. A slot that is already past is sent at once, so
  -- a stalled server meets a burst of late requests as it would in production. wrk
  -- measures latency from the actual send, so run enough connections that one is
  -- always free at its slot (connections > rate x p99 latency).
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clock_id, bench_timespec *tp);
  ]]
  local CLOCK_MONOTONIC = 1
  local now_spec = ffi.new("bench_timespec")
  local interval_ms = 1000 / thread_rate
  local next_slot_ms = nil

  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, now_spec)
    return tonumber(now_spec.tv_sec) * 1000 + tonumber(now_spec.tv_nsec) / 1e6
  end

  function delay()
    local now = now_ms()
    if next_slot_ms == nil then
      next_slot_ms = now
    end
    local slot = next_slot_ms
    next_slot_ms = slot + interval_ms
    -- wrk takes whole milliseconds and truncates, so a send may leave up to 1 ms early.
    return math.max(0, slot - now)
  end
end

function done(summary, latency, requests_stats)
  local errors = summary.errors
  local fields = {
    string.format('"requests": %d', summary.requests),
    string.format('"duration_us": %d', summary.duration),
    string.format('"errors_connect": %d', errors.connect),
    string.format('"errors_read": %d', errors.read),
    string.format('"errors_write": %d', errors.write),
    string.format('"errors_status": %d', errors.status),
    string.format('"errors_timeout": %d', errors.timeout),
    string.format('"latency_mean_us": %.1f', latency.mean),
    string.format('"latency_max_us": %d', latency.max),
  }
  for _, p in ipairs({50, 90, 99, 99.9}) do
    table.insert(fields, string.format('"latency_p%s_us": %d', tostring(p), latency:percentile(p)))
  end
  io.write("BENCH_RESULT {" .. table.concat(fields, ", ") .. "}\n")
end
