-- Take an award's points back from the board, once per transaction id. The job calls
-- it for an award that the log rejected because its Idempotency-Key is already there.
--
-- KEYS[1] board sorted set, KEYS[2] reversal marker of this transaction
-- ARGV[1] member, ARGV[2] points, ARGV[3] marker TTL in seconds
--
-- Returns 1 when the points were taken back, 0 when an earlier run already did.

if redis.call("SET", KEYS[2], "1", "NX", "EX", tonumber(ARGV[3])) == false then
  return 0
end
-- Scores are stored negated, so adding the points subtracts them from the total.
redis.call("ZINCRBY", KEYS[1], ARGV[2], ARGV[1])
return 1
