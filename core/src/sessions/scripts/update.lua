-- update(): merge top-level keys into a live session (a null value deletes its key), atomically.
-- KEYS[1] ALL, KEYS[2] session. ARGV: BASE, handle, touch ('1'|'0'), n_del, n_del field names,
-- then field/value pairs to set.
-- Reply: 1 updated, 0 no live session.
local K, H = KEYS[2], ARGV[2]
if not live(K) then
  redis.call('ZREM', ALL, H)
  return 0
end
local ndel = tonumber(ARGV[4])
if ndel > 0 then
  local del = {}
  for i = 5, 4 + ndel do del[#del + 1] = ARGV[i] end
  redis.call('HDEL', K, unpack(del))
end
local set = {}
for i = 5 + ndel, #ARGV do set[#set + 1] = ARGV[i] end
if #set > 0 then redis.call('HSET', K, unpack(set)) end
if ARGV[3] == '1' then refresh(K, H, nil) end
return 1
