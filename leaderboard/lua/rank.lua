-- Read one user's username, total and rank in one round trip.
--
-- KEYS[1] board sorted set, KEYS[2] username hash bucket of the user
-- ARGV[1] member, ARGV[2] field of the user in the bucket
--
-- Returns {} for an unregistered user, {username} for a user with no points yet,
-- or {username, total, rank}.

local username = redis.call("HGET", KEYS[2], ARGV[2])
if not username then
  return {}
end
local stored_score = redis.call("ZSCORE", KEYS[1], ARGV[1])
if not stored_score then
  return {username}
end
local rank = redis.call("ZCOUNT", KEYS[1], "-inf", "(" .. stored_score) + 1
return {username, string.format("%.0f", -tonumber(stored_score)), rank}
