-- Finish a rebuild: add the awards journaled since the rebuild read the database, then
-- replace the live board with the rebuilt one in the same atomic step.
--
-- KEYS[1] rebuilt board, KEYS[2] live board, KEYS[3] rebuild journal, KEYS[4] rebuild flag
-- ARGV[1] rebuild id, ARGV[2] index of the first journal entry not yet applied
--
-- Returns the number of journal entries applied here, or an error when the flag no
-- longer names this rebuild (it expired, or another rebuild took over).

if redis.call("GET", KEYS[4]) ~= ARGV[1] then
  return redis.error_reply("rebuild " .. ARGV[1] .. " is no longer active; run the rebuild again")
end

local function encode_member(user_id)
  local digits = {}
  while user_id > 0 do
    table.insert(digits, 1, string.char(user_id % 256))
    user_id = math.floor(user_id / 256)
  end
  return string.char(#digits) .. table.concat(digits)
end

local entries = redis.call("LRANGE", KEYS[3], tonumber(ARGV[2]), -1)
for _, entry in ipairs(entries) do
  -- Record layout: [transaction id, user id, points, source, created ms, idempotency key].
  local record = cjson.decode(entry)
  redis.call("ZINCRBY", KEYS[1], -record[3], encode_member(record[2]))
end

if redis.call("EXISTS", KEYS[1]) == 1 then
  redis.call("RENAME", KEYS[1], KEYS[2])
else
  redis.call("DEL", KEYS[2])
end
redis.call("DEL", KEYS[3], KEYS[4])
return #entries
