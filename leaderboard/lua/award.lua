-- Apply one award atomically: range check, score update, outbox record, rebuild journal
-- and idempotency key, so that either all of them happen or none does.
--
-- KEYS[1] board sorted set (member: encoded user id, score: minus the total)
-- KEYS[2] username hash bucket of this user
-- KEYS[3] outbox list of award records waiting for the worker
-- KEYS[4] rebuild flag (while it exists, each record is also appended to KEYS[5])
-- KEYS[5] rebuild journal list
-- KEYS[6] idempotency key (only when the request carried one)
-- ARGV[1] member, ARGV[2] field of the user in the bucket, ARGV[3] points,
-- ARGV[4] largest allowed absolute total, ARGV[5] award record (JSON),
-- ARGV[6] idempotency TTL in seconds, ARGV[7] request fingerprint, ARGV[8] transaction id
--
-- Returns {"ok", total, rank}, {"not_found"}, {"out_of_range", current total},
-- {"replay", fingerprint, transaction id, total, rank} or {"conflict"}.

if #KEYS == 6 then
  local stored = redis.call("GET", KEYS[6])
  if stored then
    local fingerprint, txn, total, rank = string.match(stored, "^(.-)\n(.-)\n(.-)\n(.-)$")
    if fingerprint ~= ARGV[7] then
      return {"conflict"}
    end
    return {"replay", fingerprint, txn, total, rank}
  end
end

if redis.call("HEXISTS", KEYS[2], ARGV[2]) == 0 then
  return {"not_found"}
end

local stored_score = redis.call("ZSCORE", KEYS[1], ARGV[1])
local total = 0
if stored_score then
  total = -tonumber(stored_score)
end
local new_total = total + tonumber(ARGV[3])
if math.abs(new_total) > tonumber(ARGV[4]) then
  return {"out_of_range", string.format("%.0f", total)}
end

-- "%.0f" prints every integer below 2^53 exactly, where tostring() would round to 14 digits.
local new_score = string.format("%.0f", -new_total)
redis.call("ZADD", KEYS[1], new_score, ARGV[1])
redis.call("RPUSH", KEYS[3], ARGV[5])
if redis.call("EXISTS", KEYS[4]) == 1 then
  redis.call("RPUSH", KEYS[5], ARGV[5])
end

local rank = redis.call("ZCOUNT", KEYS[1], "-inf", "(" .. new_score) + 1
local total_text = string.format("%.0f", new_total)
if #KEYS == 6 then
  local first_response = table.concat({ARGV[7], ARGV[8], total_text, rank}, "\n")
  redis.call("SET", KEYS[6], first_response, "EX", tonumber(ARGV[6]))
end
return {"ok", total_text, rank}
