-- Read one page of the board with ranks and usernames in one round trip.
--
-- KEYS[1] board sorted set
-- ARGV[1] offset, ARGV[2] limit, ARGV[3] prefix of the username bucket keys,
-- ARGV[4] users per bucket
--
-- Returns {members on the board, rank of the first entry, then for each entry:
-- user id, stored score, username}. The stored score is minus the total, as Redis
-- prints it; the caller parses it, which costs less there than formatting it here.
-- NOTE: the bucket keys are derived here, not passed in KEYS, so this script
-- runs on a single Redis server but not on Redis Cluster.

local offset = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local bucket_size = tonumber(ARGV[4])
local result = {redis.call("ZCARD", KEYS[1]), 0}
local page = redis.call("ZRANGE", KEYS[1], offset, offset + limit - 1, "WITHSCORES")
if #page == 0 then
  return result
end
-- Standard competition ranking: a tie shares the rank of the first member with that total.
result[2] = redis.call("ZCOUNT", KEYS[1], "-inf", "(" .. page[2]) + 1

for i = 1, #page, 2 do
  local member = page[i]
  local user_id = 0
  for position = 2, string.byte(member, 1) + 1 do
    user_id = user_id * 256 + string.byte(member, position)
  end
  local bucket = string.format("%.0f", math.floor(user_id / bucket_size))
  local field = string.format("%.0f", user_id % bucket_size)
  local username = redis.call("HGET", ARGV[3] .. bucket, field) or ""
  -- An integer reply is exact: user ids stay below 2^53.
  table.insert(result, user_id)
  table.insert(result, page[i + 1])
  table.insert(result, username)
end
return result
